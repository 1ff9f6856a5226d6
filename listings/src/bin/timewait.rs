//! timewait: leaves a server's end of a connection in TIME_WAIT, then tries
//! to listen on the server's port with `SO_REUSEADDR` on or off.
//!
//! The side of a connection that closes first is the one that waits in
//! TIME_WAIT. With the book's programs that is a race: the server closes
//! right after writing its reply, the client right after reading it. This
//! tool's client takes the race away: it reads the reply and then waits
//! for end of file, so the server always closes first. Its `listen` then
//! builds a listening socket as step 5 does, reports whether it got the
//! port, and closes it again.
//!
//! ```text
//! timewait client [HOST] [-p PORT]                  # the server closes first
//! timewait listen [HOST] [-p PORT] [--no-reuseaddr] # can the port be had?
//! ```

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use listings::protocol::{REQUEST, repr};
use socket2::{Domain, Protocol, Socket, Type};

/// Leaves a server's end of a connection in TIME_WAIT, and tries to listen
/// on its port again, with or without SO_REUSEADDR.
#[derive(Parser)]
// With no role given, say so in one line instead of printing the help.
#[command(disable_version_flag = true, arg_required_else_help = false)]
struct Cli {
    #[command(subcommand)]
    role: Role,
}

#[derive(Subcommand)]
enum Role {
    /// Connect to HOST:PORT, send one message, read the reply, then wait for
    /// the server to close before closing
    Client {
        #[command(flatten)]
        endpoint: Endpoint,
    },
    /// Bind and listen on HOST:PORT as step 5 does, say whether the port
    /// could be had, and close the socket again
    Listen {
        #[command(flatten)]
        endpoint: Endpoint,
        /// Leave SO_REUSEADDR off, as every new socket starts
        #[arg(long)]
        no_reuseaddr: bool,
    },
}

#[derive(Args)]
struct Endpoint {
    /// Interface to listen on, or host to connect to
    #[arg(default_value = "127.0.0.1")]
    host: String,
    /// TCP port
    #[arg(short, long, default_value_t = 1060)]
    port: u16,
}

/// How long the client waits for the server to close before it gives up:
/// every server in the book closes right after its reply.
const CLOSE_LIMIT: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    let cli: Cli = match listings::parse_args() {
        Ok(cli) => cli,
        Err(exit) => return exit,
    };
    let outcome = match &cli.role {
        Role::Client { endpoint } => endpoint.addresses().and_then(|addresses| {
            client(&addresses).map_err(|e| say("client talking to", &addresses, e))
        }),
        Role::Listen {
            endpoint,
            no_reuseaddr,
        } => {
            let reuse = !no_reuseaddr;
            let what = format!("cannot listen with SO_REUSEADDR {} on", on_off(reuse));
            endpoint.addresses().and_then(|addresses| {
                listen(addresses[0], reuse).map_err(|e| say(&what, &addresses, e))
            })
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(line) => {
            eprintln!("error: {line}");
            ExitCode::FAILURE
        }
    }
}

impl Endpoint {
    /// Every address HOST resolves to, in the resolver's order: never empty.
    fn addresses(&self) -> Result<Vec<SocketAddr>, String> {
        listings::resolve(&self.host, self.port)
    }
}

fn say(what: &str, addresses: &[SocketAddr], error: io::Error) -> String {
    format!("{what} {}: {error}", addresses[0])
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

/// One exchange, in which the server is made to close first.
fn client(addresses: &[SocketAddr]) -> io::Result<()> {
    // Tries each address in turn, as a client should.
    let mut sock = TcpStream::connect(addresses)?;
    println!(
        "Client has been assigned socket name {}",
        sock.local_addr()?
    );
    sock.write_all(REQUEST)?;
    let mut reply = [0; 16];
    sock.read_exact(&mut reply)?;
    println!("The server said {}", repr(&reply));
    // ANCHOR: close_last
    // The server's FIN comes after its reply. Closing only once it has
    // arrived makes the server the side that closed first: its end of the
    // connection is the one left in TIME_WAIT.
    sock.set_read_timeout(Some(CLOSE_LIMIT))?;
    let mut more = [0; 1];
    loop {
        match sock.read(&mut more) {
            Ok(0) => break,
            Ok(_) => return Err(io::Error::other("the server sent more than 16 bytes")),
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            // A read timeout: WouldBlock on Linux, TimedOut on Windows.
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(io::Error::other(format!(
                    "the server did not close the connection within {CLOSE_LIMIT:?}"
                )));
            }
            Err(error) => return Err(error),
        }
    }
    println!("End of file: the server closed first, so its end waits in TIME_WAIT");
    Ok(()) // `sock` is dropped: the client's FIN goes out now
    // ANCHOR_END: close_last
}

/// A listening socket built as step 5 builds it, `SO_REUSEADDR` on or off;
/// closed again as soon as it is made.
fn listen(address: SocketAddr, reuse: bool) -> io::Result<()> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_reuse_address(reuse)?;
    socket.bind(&address.into())?;
    socket.listen(1)?;
    let listener: TcpListener = socket.into();
    println!(
        "Listening at {} with SO_REUSEADDR {}; closing again",
        listener.local_addr()?,
        on_off(reuse)
    );
    Ok(())
}
