//! Exercise: step 5's server with `--no-reuseaddr`, which leaves
//! `SO_REUSEADDR` off, and a line saying what the kernel reports for it.
//!
//! With the option off, a server that closed a conversation first leaves
//! its port in TIME_WAIT for a minute, and on Linux a restarted server
//! cannot have the port back in that minute, even one that sets the option
//! itself.
//!
//! A solution: socket2's `set_reuse_address` with the flag, and its
//! getter through `SockRef`; the rest is step 5 as it is.

use socket2::{Domain, Protocol, SockRef, Socket, Type};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;

use clap::Args;
use listings::NoOptions;

/// The server's options, beyond HOST and -p.
#[derive(Args)]
struct ServerOptions {
    /// Leave SO_REUSEADDR off, as every new socket starts
    #[arg(long)]
    no_reuseaddr: bool,
}

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
/// `SO_REUSEADDR` on only if `reuse` says so.
fn listen(address: SocketAddr, reuse: bool) -> io::Result<TcpListener> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    // Off is how every socket starts; step 5 switched it on unasked.
    socket.set_reuse_address(reuse)?;
    socket.bind(&address.into())?;
    socket.listen(1)?;
    Ok(socket.into())
}

/// Whether `SO_REUSEADDR` is on for `listener`: what the kernel says, not
/// what the command line asked for.
fn reuse_address(listener: &TcpListener) -> io::Result<bool> {
    // A `SockRef` borrows the std listener as a socket2 socket, for the
    // options std has no method for.
    SockRef::from(listener).reuse_address()
}

fn server(address: SocketAddr, options: &ServerOptions) -> io::Result<()> {
    let listener = listen(address, !options.no_reuseaddr)?;
    println!("Listening at {}", listener.local_addr()?);
    let on = reuse_address(&listener)?;
    println!("SO_REUSEADDR is {}", if on { "on" } else { "off" });
    loop {
        println!("Waiting for a new connection");
        let (conn, peer) = listener.accept()?;
        println!("Connection from {peer}");
        if let Err(error) = converse(conn, peer) {
            eprintln!("error: connection from {peer}: {error}");
        }
    }
}
// ANCHOR_END: solution

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

fn client(addresses: &[SocketAddr], _: &NoOptions) -> io::Result<()> {
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
