//! Exercise: watch the pieces arrive. Step 4's server prints what each of
//! its reads returned, `  read returned 3 of 16 bytes`, so that behind
//! `chopper` you see how the message came: in how many reads, of what
//! sizes.
//!
//! Start from here: the program is step 4, whose `recvall` is left to
//! write. Write it, printing that line after each read that returns data.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;

fn main() -> ExitCode {
    listings::run(server, client)
}

// ANCHOR: task
/// Reads exactly `length` bytes, however many calls to `read` that takes,
/// and prints `  read returned N of LENGTH bytes` for each call that
/// returned data.
fn recvall(sock: &mut impl Read, length: usize) -> io::Result<Vec<u8>> {
    let _ = (sock, length);
    todo!("step 4's recvall, with a line after each read that returned data")
}
// ANCHOR_END: task

fn server(address: SocketAddr) -> io::Result<()> {
    let listener = TcpListener::bind(address)?;
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

fn client(addresses: &[SocketAddr]) -> io::Result<()> {
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
