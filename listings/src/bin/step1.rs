//! Step 1: the naive Rust version of `tcp.py`.
//!
//! One `write` to send, one `read` to receive, and the counts they return
//! thrown away. On loopback, with 16 bytes, this works every time you try it,
//! which is the trap: nothing promises that one call moves the whole message.

// Ignoring the count that `read` and `write` return is the very bug this step
// shows. Clippy knows it as `unused_io_amount` and rejects it by default; the
// later steps fix the code instead of silencing the lint.
#![allow(clippy::unused_io_amount)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;

// ANCHOR: main
fn main() -> ExitCode {
    // The command line (server or client, HOST, -p PORT) and the demo that
    // runs with no arguments: scaffolding from the book's `listings` crate.
    listings::run(server, client)
}
// ANCHOR_END: main

// ANCHOR: server
fn server(address: SocketAddr) -> io::Result<()> {
    let listener = TcpListener::bind(address)?;
    println!("Listening at {}", listener.local_addr()?);
    loop {
        println!("Waiting for a new connection");
        let (conn, peer) = listener.accept()?;
        println!("Connection from {peer}");
        converse(conn, peer)?;
    }
}
// ANCHOR_END: server

// ANCHOR: converse
fn converse(mut conn: TcpStream, peer: SocketAddr) -> io::Result<()> {
    println!("  Socket name: {}", conn.local_addr()?);
    // The address `accept` returned, not `conn.peer_addr()`: a client that
    // has already reset the connection has no peer address left to ask for.
    println!("  Socket peer: {peer}");
    let mut message = [0; 16];
    // ANCHOR: naive_read
    conn.read(&mut message)?;
    // ANCHOR_END: naive_read
    println!("  message from client: b'{}'", message.escape_ascii());
    conn.write(b"Goodbye, client!")?;
    drop(conn); // closes the connection, as `close()` does in Python
    println!("  Closing socket");
    Ok(())
}
// ANCHOR_END: converse

// ANCHOR: client
fn client(addresses: &[SocketAddr]) -> io::Result<()> {
    // Each address HOST resolved to, in order, until one answers: a name
    // such as `localhost` may stand for both ::1 and 127.0.0.1, and the
    // server listens on only one of them.
    let mut sock = TcpStream::connect(addresses)?;
    println!(
        "Client has been assigned socket name {}",
        sock.local_addr()?
    );
    // ANCHOR: naive_write
    sock.write(b"Hi there, server")?;
    // ANCHOR_END: naive_write
    let mut reply = [0; 16];
    sock.read(&mut reply)?;
    println!("The server said b'{}'", reply.escape_ascii());
    Ok(())
}
// ANCHOR_END: client
