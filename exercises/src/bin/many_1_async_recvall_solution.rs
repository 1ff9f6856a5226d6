//! A solution: step 8's server, trimmed: one task per connection on Tokio.
//!
//! Left out of step 8 (`listings/src/bin/step8.rs`): the limit on
//! connections at once and the Ctrl-C handling (Ctrl-C simply ends this
//! server). The client is step 6's, from the book's `listings` library: a
//! blocking client talks to an async server like any other, since the
//! bytes on the wire are the same.

use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use listings::{ClientLimits, seconds};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::time::{Instant, timeout_at};

/// The server's limit, beyond HOST and -p.
#[derive(Args)]
struct ServerOptions {
    /// Seconds each client has, from being accepted, to send its message and take the reply
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = seconds)]
    timeout: Duration,
}

fn main() -> ExitCode {
    // The command line and the demo: scaffolding from the book's `listings`
    // crate, which also has step 6's client.
    listings::run_with(server, client)
}

fn client(addresses: &[SocketAddr], limits: &ClientLimits) -> io::Result<()> {
    listings::serving::client(addresses, limits)
}

// ANCHOR: solution
/// Reads exactly 16 bytes, however many calls to `read` that takes, unless
/// `deadline` passes first.
async fn recvall(sock: &mut TcpStream, deadline: Instant) -> io::Result<[u8; 16]> {
    let mut data = [0; 16];
    let mut received = 0;
    while received < data.len() {
        // The runtime's timer ends the wait at the deadline itself, however
        // many reads came before: no socket option, no time left to compute.
        // While it waits, this task is set aside and the thread runs others.
        match timeout_at(deadline, sock.read(&mut data[received..])).await {
            // 0 bytes into a non-empty buffer: the peer closed its side, and
            // looping would spin on it.
            Ok(Ok(0)) => {
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    format!(
                        "was expecting 16 bytes but only received \
                         {received} bytes before the socket closed"
                    ),
                ));
            }
            Ok(Ok(more)) => received += more,
            Ok(Err(error)) => return Err(error),
            Err(_elapsed) => {
                return Err(io::Error::new(
                    ErrorKind::TimedOut,
                    format!(
                        "was expecting 16 bytes but only received \
                         {received} bytes before the deadline"
                    ),
                ));
            }
        }
    }
    Ok(data)
}
// ANCHOR_END: solution

/// Writes all of `data`, however many calls to `write` that takes, unless
/// `deadline` passes first (step 8's `sendall`).
async fn sendall(sock: &mut TcpStream, mut data: &[u8], deadline: Instant) -> io::Result<()> {
    let length = data.len();
    while !data.is_empty() {
        match timeout_at(deadline, sock.write(data)).await {
            Ok(Ok(0)) => {
                return Err(io::Error::new(
                    ErrorKind::WriteZero,
                    "the socket accepted no more bytes",
                ));
            }
            Ok(Ok(sent)) => data = &data[sent..],
            Ok(Err(error)) => return Err(error),
            Err(_elapsed) => {
                let sent = length - data.len();
                return Err(io::Error::new(
                    ErrorKind::TimedOut,
                    format!(
                        "the socket accepted only {sent} of {length} bytes before the deadline"
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn server(address: SocketAddr, options: &ServerOptions) -> io::Result<()> {
    // One worker thread per core, which run the tasks; `serve` is a task
    // too, so that the tasks it spawns start on a worker (see step 8).
    let timeout = options.timeout;
    Runtime::new()?.block_on(async move {
        tokio::spawn(serve(address, timeout))
            .await
            .map_err(io::Error::other)?
    })
}

async fn serve(address: SocketAddr, timeout: Duration) -> io::Result<()> {
    let listener = TcpListener::bind(address).await?;
    println!("Listening at {}", listener.local_addr()?);
    println!("Waiting for a new connection");
    loop {
        let (conn, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                eprintln!("error: accept: {error}");
                // Out of file descriptors, say: a timer, so the tasks run on.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        println!("Connection from {peer}");
        let deadline = Instant::now() + timeout;
        tokio::spawn(async move {
            if let Err(error) = converse(conn, peer, deadline).await {
                // This client broke off or ran out of time; the other
                // tasks are not affected.
                eprintln!("error: connection from {peer}: {error}");
            }
        });
    }
}

async fn converse(mut conn: TcpStream, peer: SocketAddr, deadline: Instant) -> io::Result<()> {
    println!("  Socket name: {}", conn.local_addr()?);
    println!("  Socket peer: {peer}");
    let message = recvall(&mut conn, deadline).await?;
    println!("  message from client: b'{}'", message.escape_ascii());
    sendall(&mut conn, b"Goodbye, client!", deadline).await?;
    drop(conn);
    println!("  Closing socket");
    Ok(())
}
