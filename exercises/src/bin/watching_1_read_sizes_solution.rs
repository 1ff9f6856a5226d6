//! Exercise: watch the pieces arrive. Step 4's server prints what each of
//! its reads returned, `  read returned 3 of 16 bytes`, so that behind
//! `chopper` you see how the message came: in how many reads, of what
//! sizes.
//!
//! A solution: step 4's `recvall`, with a `println!` after each read that
//! returned data.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;

fn main() -> ExitCode {
    listings::run(server, client)
}

// ANCHOR: solution
/// Reads exactly `length` bytes, however many calls to `read` that takes,
/// and prints `  read returned N of LENGTH bytes` for each call that
/// returned data.
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
            Ok(more) => {
                // What this one call found in the receive buffer: every
                // piece that had arrived since the last call, run together.
                println!("  read returned {more} of {length} bytes");
                received += more;
            }
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(data)
}
// ANCHOR_END: solution

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
