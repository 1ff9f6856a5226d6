//! Exercise: a time limit for the whole send, as Python's `sendall` has.
//! `set_write_timeout` limits each call to `write`, and `write_all` makes as
//! many calls as it needs, so a peer that reads slowly but steadily can keep
//! it going for far longer than the timeout. With `--deadline SECONDS`, the
//! client must give up once that much time has passed since the send began,
//! however steadily the bytes are going out, and say how many went.
//!
//! A solution: `sendall_within` is step 2's loop, which before each
//! `write` sets the write timeout to the time left until the deadline.

// Receiving still ignores the count `read` returns (the bug step 4 fixes);
// clippy rejects that by default as `unused_io_amount`.
#![allow(clippy::unused_io_amount)]

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use listings::NoOptions;

/// What the client takes besides HOST and `-p`.
#[derive(Args)]
struct ClientOptions {
    /// How many bytes to send: the request, repeated or cut to this length
    #[arg(long, value_name = "BYTES", default_value_t = 16)]
    size: usize,
    /// Longest the whole send may take (by default, as long as it takes)
    #[arg(long, value_name = "SECONDS", value_parser = listings::seconds)]
    deadline: Option<Duration>,
}

fn main() -> ExitCode {
    listings::run_with(server, client)
}

// ANCHOR: solution
/// Writes all of `data` within `limit` from now, or fails with an error of
/// kind `TimedOut` that says how many bytes had been sent:
/// `the deadline passed after sending X of N bytes`.
fn sendall_within(sock: &mut TcpStream, data: &[u8], limit: Duration) -> io::Result<()> {
    let deadline = Instant::now() + limit;
    let passed = |sent: usize| {
        io::Error::new(
            ErrorKind::TimedOut,
            format!(
                "the deadline passed after sending {sent} of {} bytes",
                data.len()
            ),
        )
    };
    let mut sent = 0;
    while sent < data.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(passed(sent));
        }
        // One call may wait only as long as the whole send has left; the
        // calls before it have used up the rest.
        sock.set_write_timeout(Some(left))?;
        match sock.write(&data[sent..]) {
            Ok(0) => {
                return Err(io::Error::new(
                    ErrorKind::WriteZero,
                    "the socket accepted no more bytes",
                ));
            }
            Ok(more) => sent += more,
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            // The timeout expired with nothing sent: `WouldBlock` on Unix,
            // `TimedOut` on Windows.
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(passed(sent));
            }
            Err(error) => return Err(error),
        }
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
    let request: Vec<u8> = b"Hi there, server"
        .iter()
        .copied()
        .cycle()
        .take(options.size)
        .collect();
    match options.deadline {
        Some(limit) => sendall_within(&mut sock, &request, limit)?,
        None => sock.write_all(&request)?,
    }
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
