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

use listings::py_bytes;

// ANCHOR: main
fn main() -> ExitCode {
    listings::run(server, client)
}
// ANCHOR_END: main

// ANCHOR: server
fn server(address: SocketAddr, out: &mut dyn Write) -> io::Result<()> {
    let listener = TcpListener::bind(address)?;
    writeln!(out, "Listening at {}", listener.local_addr()?)?;
    loop {
        writeln!(out, "Waiting to accept a new connection")?;
        let (conn, peer) = listener.accept()?;
        writeln!(out, "We have accepted a connection from {peer}")?;
        converse(conn, out)?;
    }
}
// ANCHOR_END: server

// ANCHOR: converse
fn converse(mut conn: TcpStream, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "  Socket name: {}", conn.local_addr()?)?;
    writeln!(out, "  Socket peer: {}", conn.peer_addr()?)?;
    let mut message = [0; 16];
    conn.read(&mut message)?;
    writeln!(
        out,
        "  Incoming sixteen-octet message: {}",
        py_bytes(&message)
    )?;
    // ANCHOR: reply
    conn.write_all(b"Goodbye, client!")?;
    // ANCHOR_END: reply
    drop(conn); // closes the connection, as `close()` does in Python
    writeln!(out, "  Reply sent, socket closed")?;
    Ok(())
}
// ANCHOR_END: converse

// ANCHOR: client
fn client(address: SocketAddr, out: &mut dyn Write) -> io::Result<()> {
    let mut sock = TcpStream::connect(address)?;
    writeln!(
        out,
        "Client has been assigned socket name {}",
        sock.local_addr()?
    )?;
    sock.write_all(b"Hi there, server")?;
    let mut reply = [0; 16];
    sock.read(&mut reply)?;
    writeln!(out, "The server said {}", py_bytes(&reply))?;
    Ok(())
}
// ANCHOR_END: client
