//! Exercise: receive the reply with the standard library's pieces and still
//! say what `tcp.py` says when the server hangs up early. `read_exact`
//! would only say "failed to fill whole buffer"; `take(16)` and
//! `read_to_end` count what came.
//!
//! A solution: `take` stops `read_to_end` at the 16th byte, and the count
//! it returns is compared with 16.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;

fn main() -> ExitCode {
    listings::run(server, client)
}

// ANCHOR: solution
/// Reads exactly `length` bytes with `take` and `read_to_end`, or fails as
/// step 4's `recvall` does: "was expecting 16 bytes but only received 4
/// bytes before the socket closed".
fn receive_reply(sock: &mut TcpStream, length: usize) -> io::Result<Vec<u8>> {
    let mut reply = Vec::with_capacity(length);
    // `take` never asks the socket for more than is missing, so bytes after
    // the 16th stay in the kernel; and it ends the loop at the 16th byte
    // without waiting for the server to close.
    let limit = u64::try_from(length).expect("a length fits in 64 bits");
    let received = (&mut *sock).take(limit).read_to_end(&mut reply)?;
    // For `read_to_end`, end of file is where reading stops, not an error:
    // a short count is the only sign of a server that hung up early.
    if received < length {
        return Err(io::Error::new(
            ErrorKind::UnexpectedEof,
            format!(
                "was expecting {length} bytes but only received \
                 {received} bytes before the socket closed"
            ),
        ));
    }
    Ok(reply)
}
// ANCHOR_END: solution

fn client(addresses: &[SocketAddr]) -> io::Result<()> {
    let mut sock = TcpStream::connect(addresses)?;
    println!(
        "Client has been assigned socket name {}",
        sock.local_addr()?
    );
    sock.write_all(b"Hi there, server")?;
    let reply = receive_reply(&mut sock, 16)?;
    println!("The server said b'{}'", reply.escape_ascii());
    Ok(())
}

/// Step 4's loop, for the server's side.
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
