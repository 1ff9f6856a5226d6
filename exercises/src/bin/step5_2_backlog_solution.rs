//! Exercise: step 5 with a backlog of your choice, and a client that
//! measures how many connections the server's queue takes.
//!
//! `server --backlog N` listens with `listen(N)` instead of step 5's
//! `listen(1)`. `client --probe` opens connections one after another and
//! sends nothing on them, until one gets no answer to its SYN within
//! `PROBE_WAIT`; it prints a line for each, then, last:
//!
//! ```text
//! The server's queue took N connections
//! ```
//!
//! Run the probe against a server that is busy with a client that says
//! nothing, so that it accepts no one else meanwhile. Without `--probe`
//! the client is step 5's.
//!
//! A solution: `listen` passes the backlog on; `probe` keeps every
//! connection that completes its handshake, and stops at the first that
//! times out.

use socket2::{Domain, Protocol, Socket, Type};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

/// The server's options, beyond HOST and -p.
#[derive(Args)]
struct ServerOptions {
    /// How many finished handshakes may wait for `accept` (tcp.py's is 1)
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(i32).range(0..=65535))]
    backlog: i32,
}

/// The client's options, beyond HOST and -p.
#[derive(Args)]
struct ClientOptions {
    /// Instead of the exchange, open silent connections until the server's
    /// kernel stops answering, and say how many it took
    #[arg(long)]
    probe: bool,
}

/// How long the probe waits for each handshake. On loopback one finishes in
/// well under a millisecond; a SYN that the server's kernel dropped is sent
/// again only a second later, and dropped again while the queue is full.
const PROBE_WAIT: Duration = Duration::from_secs(1);

fn main() -> ExitCode {
    // The command line (server or client, HOST, -p PORT, and the options
    // above) and the demo: scaffolding from the book's `listings` crate.
    listings::run_with(server, client)
}

/// Reads exactly `length` bytes, however many calls to `read` that takes.
fn recvall(sock: &mut impl Read, length: usize) -> io::Result<Vec<u8>> {
    let mut data = vec![0; length];
    let mut received = 0;
    while received < length {
        match sock.read(&mut data[received..]) {
            Ok(0) => {
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    format!(
                        "was expecting {length} bytes but only received \
                         {received} bytes before the socket closed"
                    ),
                ));
            }
            Ok(more) => received += more,
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(data)
}

// ANCHOR: solution
/// A listening socket made one system call at a time, as in step 5, with
/// the backlog the command line asked for.
fn listen(address: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    // Linux lets `backlog` + 1 finished handshakes wait, and caps any
    // backlog at net.core.somaxconn.
    socket.listen(backlog)?;
    Ok(socket.into())
}

/// Opens connections to the server one after another, sending nothing on
/// them and keeping them open, until one gets no answer within
/// `PROBE_WAIT`; then says how many got in.
fn probe(addresses: &[SocketAddr]) -> io::Result<()> {
    // `connect_timeout` takes one address: the first HOST stands for, the
    // one the server listens on when given the same HOST.
    let address = addresses[0];
    // Kept open: each one holds its place in the server's queue until the
    // server accepts it (a closed one would too, but only until then).
    let mut waiting = Vec::new();
    loop {
        let number = waiting.len() + 1;
        match TcpStream::connect_timeout(&address, PROBE_WAIT) {
            // The handshake is done: the server's kernel answered the SYN,
            // without the server program, which is busy elsewhere.
            Ok(conn) => {
                println!("Connection {number} completed its handshake");
                waiting.push(conn);
            }
            // No SYN-ACK: the queue was full, and the kernel dropped the
            // SYN without a word. A refusal would have been a reset.
            Err(error) if error.kind() == ErrorKind::TimedOut => {
                println!("Connection {number}: no answer to its SYN within {PROBE_WAIT:?}");
                break;
            }
            Err(error) => return Err(error),
        }
    }
    println!("The server's queue took {} connections", waiting.len());
    Ok(())
}
// ANCHOR_END: solution

fn server(address: SocketAddr, options: &ServerOptions) -> io::Result<()> {
    let listener = listen(address, options.backlog)?;
    println!("Listening at {}", listener.local_addr()?);
    loop {
        println!("Waiting for a new connection");
        let (conn, peer) = listener.accept()?;
        println!("Connection from {peer}");
        if let Err(error) = converse(conn, peer) {
            eprintln!("error: connection from {peer}: {error}");
        }
    }
}

fn converse(mut conn: TcpStream, peer: SocketAddr) -> io::Result<()> {
    println!("  Socket name: {}", conn.local_addr()?);
    println!("  Socket peer: {peer}");
    let message = recvall(&mut conn, 16)?;
    println!("  message from client: b'{}'", message.escape_ascii());
    conn.write_all(b"Goodbye, client!")?;
    drop(conn);
    println!("  Closing socket");
    Ok(())
}

fn client(addresses: &[SocketAddr], options: &ClientOptions) -> io::Result<()> {
    if options.probe {
        return probe(addresses);
    }
    let mut sock = TcpStream::connect(addresses)?;
    println!(
        "Client has been assigned socket name {}",
        sock.local_addr()?
    );
    sock.write_all(b"Hi there, server")?;
    let reply = recvall(&mut sock, 16)?;
    println!("The server said b'{}'", reply.escape_ascii());
    Ok(())
}
