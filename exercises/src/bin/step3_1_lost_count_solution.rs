//! Exercise: keep the count that `write_all` loses. When a send fails part
//! way, say how many bytes had gone out before it: `sent X of N bytes`.
//!
//! A solution: `sendall` is step 2's loop with a running total, which
//! goes into every error it returns.

// Receiving still ignores the count `read` returns (the bug step 4 fixes);
// clippy rejects that by default as `unused_io_amount`.
#![allow(clippy::unused_io_amount)]

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use listings::NoOptions;

/// What the client takes besides HOST and `-p`.
#[derive(Args)]
struct ClientOptions {
    /// How many bytes to send: the request, repeated or cut to this length
    #[arg(long, value_name = "BYTES", default_value_t = 16)]
    size: usize,
    /// Longest each call to `write` may wait for room in the send buffer
    /// (by default, as long as it takes)
    #[arg(long, value_name = "SECONDS", value_parser = listings::seconds)]
    timeout: Option<Duration>,
}

fn main() -> ExitCode {
    listings::run_with(server, client)
}

// ANCHOR: solution
/// Writes all of `data`, as `write_all` does; when that fails, the error
/// says how many bytes had been sent before it.
fn sendall(sock: &mut impl Write, data: &[u8]) -> io::Result<()> {
    let mut sent = 0;
    while sent < data.len() {
        let failed = match sock.write(&data[sent..]) {
            Ok(0) => io::Error::new(ErrorKind::WriteZero, "the socket accepted no more bytes"),
            Ok(more) => {
                sent += more;
                continue;
            }
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) => error,
        };
        // The same kind, so a caller can still tell a timeout from a
        // broken connection; the count joins the message.
        return Err(io::Error::new(
            failed.kind(),
            format!("sent {sent} of {} bytes, then: {failed}", data.len()),
        ));
    }
    Ok(())
}
// ANCHOR_END: solution

fn client(addresses: &[SocketAddr], options: &ClientOptions) -> io::Result<()> {
    let mut sock = TcpStream::connect(addresses)?;
    println!(
        "Client has been assigned socket name {}",
        sock.local_addr()?
    );
    sock.set_write_timeout(options.timeout)?;
    let request: Vec<u8> = b"Hi there, server"
        .iter()
        .copied()
        .cycle()
        .take(options.size)
        .collect();
    // Step 3 had `sock.write_all(...)?;` here.
    sendall(&mut sock, &request)?;
    let mut reply = [0; 16];
    sock.read(&mut reply)?;
    println!("The server said b'{}'", reply.escape_ascii());
    Ok(())
}

fn server(address: SocketAddr, _: &NoOptions) -> io::Result<()> {
    let listener = TcpListener::bind(address)?;
    println!("Listening at {}", listener.local_addr()?);
    loop {
        println!("Waiting for a new connection");
        let (conn, peer) = listener.accept()?;
        println!("Connection from {peer}");
        converse(conn, peer)?;
    }
}

fn converse(mut conn: TcpStream, peer: SocketAddr) -> io::Result<()> {
    println!("  Socket name: {}", conn.local_addr()?);
    println!("  Socket peer: {peer}");
    let mut message = [0; 16];
    conn.read(&mut message)?;
    println!("  message from client: b'{}'", message.escape_ascii());
    conn.write_all(b"Goodbye, client!")?;
    drop(conn);
    println!("  Closing socket");
    Ok(())
}
