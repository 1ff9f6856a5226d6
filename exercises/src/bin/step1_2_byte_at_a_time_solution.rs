//! Exercise: make step 1's server correct for a message that arrives one
//! byte at a time, as it does behind `chopper --chunk 1`.
//!
//! A solution: `fill` keeps the count each `read` returns and reads again
//! into the part still empty; a `read` of 0 bytes is the client closing,
//! which ends the server with an error that says how many bytes came.

// The client still ignores the count `read` and `write` return, the bug
// step 1's chapter shows; clippy rejects that by default as
// `unused_io_amount`.
#![allow(clippy::unused_io_amount)]

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;

fn main() -> ExitCode {
    listings::run(server, client)
}

fn server(address: SocketAddr) -> io::Result<()> {
    let listener = TcpListener::bind(address)?;
    println!("Listening at {}", listener.local_addr()?);
    loop {
        println!("Waiting for a new connection");
        let (conn, peer) = listener.accept()?;
        println!("Connection from {peer}");
        // An error from `fill` ends the server here, as every error does in
        // step 1; step 4 is where one client's error stops ending it.
        converse(conn, peer)?;
    }
}

// ANCHOR: solution
/// Fills all of `message` from `conn`, however many calls to `read` that
/// takes; fails if the client closes the connection first.
fn fill(conn: &mut impl Read, message: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while filled < message.len() {
        // Only the part still empty: what came before stays where it is.
        match conn.read(&mut message[filled..]) {
            // Never asked for 0 bytes, so 0 is the client closing. Treated
            // as a count, it would go round this loop forever.
            Ok(0) => {
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    format!(
                        "the client closed after {filled} of {} bytes",
                        message.len()
                    ),
                ));
            }
            Ok(more) => filled += more,
            // A signal arrived before any byte did: nothing was lost.
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}
// ANCHOR_END: solution

fn converse(mut conn: TcpStream, peer: SocketAddr) -> io::Result<()> {
    println!("  Socket name: {}", conn.local_addr()?);
    println!("  Socket peer: {peer}");
    let mut message = [0; 16];
    fill(&mut conn, &mut message)?;
    println!("  message from client: b'{}'", message.escape_ascii());
    conn.write(b"Goodbye, client!")?;
    drop(conn);
    println!("  Closing socket");
    Ok(())
}

fn client(addresses: &[SocketAddr]) -> io::Result<()> {
    let mut sock = TcpStream::connect(addresses)?;
    println!(
        "Client has been assigned socket name {}",
        sock.local_addr()?
    );
    sock.write(b"Hi there, server")?;
    let mut reply = [0; 16];
    sock.read(&mut reply)?;
    println!("The server said b'{}'", reply.escape_ascii());
    Ok(())
}
