//! Step 3: `write_all`, the standard library's `sendall`.
//!
//! Step 2's loop is so common that `std::io::Write` provides it: `write_all`
//! calls `write` until every byte is sent, retries when a signal interrupts
//! it, and turns a write of zero bytes into an error. Receiving is still
//! naive: that is step 4's job.

// Receiving still ignores the count `read` returns (the bug step 4 fixes);
// clippy rejects that by default as `unused_io_amount`.
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
    conn.read(&mut message)?;
    println!("  message from client: b'{}'", message.escape_ascii());
    // ANCHOR: reply
    conn.write_all(b"Goodbye, client!")?;
    // ANCHOR_END: reply
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
    sock.write_all(b"Hi there, server")?;
    let mut reply = [0; 16];
    sock.read(&mut reply)?;
    println!("The server said b'{}'", reply.escape_ascii());
    Ok(())
}
// ANCHOR_END: client
