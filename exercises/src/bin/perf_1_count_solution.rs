//! A solution: step 5's client with `--count N`, a load client that
//! measures how many exchanges per second a server answers.
//!
//! `client --count N` makes N exchanges one after another, each on a new
//! connection, as the bench's load client does, prints nothing while it
//! works, and then one line:
//!
//! ```text
//! N exchanges in S s: R per second
//! ```
//!
//! Without `--count` the client is step 5's, and so is the server: run
//! this client against step 5's server and step 6's, side by side.

use socket2::{Domain, Protocol, Socket, Type};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::num::NonZeroU32;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use listings::NoOptions;

/// The client's options, beyond HOST and -p.
#[derive(Args)]
struct ClientOptions {
    /// Make N exchanges, each on a new connection, one after another, and
    /// print only how long they took
    #[arg(long, value_name = "N")]
    count: Option<NonZeroU32>,
}

fn main() -> ExitCode {
    // The command line (server or client, HOST, -p PORT, and the option
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
/// One exchange on a connection of its own, as step 5's client makes it,
/// but silent: a line printed per exchange would be measured too.
fn exchange(addresses: &[SocketAddr]) -> io::Result<()> {
    let mut sock = TcpStream::connect(addresses)?;
    sock.write_all(b"Hi there, server")?;
    let reply = recvall(&mut sock, 16)?;
    if reply != b"Goodbye, client!" {
        return Err(io::Error::new(
            ErrorKind::InvalidData,
            format!("the server said b'{}'", reply.escape_ascii()),
        ));
    }
    // `sock` is dropped here: closed before the next connection opens.
    Ok(())
}

/// `count` exchanges, one after another, then how long they took.
fn exchanges(addresses: &[SocketAddr], count: NonZeroU32) -> io::Result<()> {
    let count = count.get();
    let start = Instant::now();
    for _ in 0..count {
        exchange(addresses)?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let rate = f64::from(count) / seconds;
    println!("{count} exchanges in {seconds:.3} s: {rate:.0} per second");
    Ok(())
}
// ANCHOR_END: solution

fn listen(address: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    socket.listen(1)?;
    Ok(socket.into())
}

fn server(address: SocketAddr, _: &NoOptions) -> io::Result<()> {
    let listener = listen(address)?;
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
    if let Some(count) = options.count {
        return exchanges(addresses, count);
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
