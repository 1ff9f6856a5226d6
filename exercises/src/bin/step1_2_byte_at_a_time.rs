//! Exercise: make step 1's server correct for a message that arrives one
//! byte at a time, as it does behind `chopper --chunk 1`.
//!
//! Start from here: the program is step 1, whose server's one `read` has
//! become a call to `fill`. Write `fill`. The client is step 1's, unchanged.

// The client still ignores the count `read` and `write` return, the bug
// step 1's chapter shows; clippy rejects that by default as
// `unused_io_amount`.
#![allow(clippy::unused_io_amount)]

use std::io::{self, Read, Write};
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

// ANCHOR: task
/// Fills all of `message` from `conn`, however many calls to `read` that
/// takes; fails if the client closes the connection first.
fn fill(conn: &mut impl Read, message: &mut [u8]) -> io::Result<()> {
    let _ = (conn, message);
    todo!("call `read` on the part of `message` not yet filled, until none is left")
}

fn converse(mut conn: TcpStream, peer: SocketAddr) -> io::Result<()> {
    println!("  Socket name: {}", conn.local_addr()?);
    println!("  Socket peer: {peer}");
    let mut message = [0; 16];
    // Step 1 had `conn.read(&mut message)?;` here.
    fill(&mut conn, &mut message)?;
    println!("  message from client: b'{}'", message.escape_ascii());
    conn.write(b"Goodbye, client!")?;
    drop(conn);
    println!("  Closing socket");
    Ok(())
}
// ANCHOR_END: task

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
