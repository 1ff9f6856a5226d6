//! A solution: step 8's server, shedding load: while every slot is busy, a
//! new client is told so at once, `Busy, try later.`, and closed, instead
//! of waiting unanswered in the listen backlog.
//!
//! Left out of step 8 (`listings/src/bin/step8.rs`): the Ctrl-C handling
//! (Ctrl-C simply ends this server). The client is step 6's, from the
//! book's `listings` library: it prints whichever 16 bytes come back, the
//! reply or the refusal.

use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use listings::{ClientLimits, seconds};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::Semaphore;
use tokio::time::{Instant, timeout_at};

/// What a client is told while every slot is busy: 16 bytes, as long as
/// the reply, so that a client of this protocol takes it for its answer
/// and prints it.
const BUSY: &[u8; 16] = b"Busy, try later.";

/// The server's limits, beyond HOST and -p.
#[derive(Args, Clone, Copy)]
struct ServerOptions {
    /// Most clients served at once; more are told `Busy, try later.` and closed
    #[arg(long, value_name = "N", default_value = "64")]
    max_connections: NonZeroUsize,
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

fn server(address: SocketAddr, options: &ServerOptions) -> io::Result<()> {
    // One worker thread per core, which run the tasks; `serve` is a task
    // too, so that the tasks it spawns start on a worker (see step 8).
    let options = *options;
    Runtime::new()?.block_on(async move {
        tokio::spawn(serve(address, options))
            .await
            .map_err(io::Error::other)?
    })
}

// ANCHOR: solution
async fn serve(address: SocketAddr, options: ServerOptions) -> io::Result<()> {
    let listener = TcpListener::bind(address).await?;
    println!("Listening at {}", listener.local_addr()?);
    // One permit for each conversation that may be in progress at once.
    let limit = permits(options.max_connections);
    let slots = Arc::new(Semaphore::new(limit));
    println!("Waiting for a new connection");
    loop {
        // Step 8 takes a permit first and only then calls `accept`. Here
        // `accept` comes first, whatever the slots: every client is
        // answered at once, one way or the other.
        let (conn, peer) = next_client(&listener).await;
        let deadline = Instant::now() + options.timeout;
        // `try_acquire_owned` never waits: a permit now, or an error. (The
        // semaphore is never closed, so the error means none is free.)
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            // A task of its own, so that the loop is back in `accept` at
            // once, however the refused client behaves.
            tokio::spawn(turn_away(conn, peer, deadline));
            continue;
        };
        println!("Connection from {peer}");
        let slots = Arc::clone(&slots);
        // The task owns the permit: it holds the slot for as long as the
        // conversation lasts.
        tokio::spawn(async move {
            if let Err(error) = converse(conn, peer, deadline).await {
                eprintln!("error: connection from {peer}: {error}");
            }
            // The slot goes back, and then, if no conversation is left, the
            // line that says the server is idle: in that order, so that a
            // client who connects once the line is out finds a slot free.
            drop(slot);
            if slots.available_permits() == limit {
                // Two conversations that end together may both say it.
                println!("Waiting for a new connection");
            }
        });
    }
}

/// Tells the client of `conn` that every slot is busy, and closes the
/// connection without reading anything from it.
async fn turn_away(mut conn: TcpStream, peer: SocketAddr, deadline: Instant) {
    // The send buffer of a new connection is empty, so the 16 bytes fit at
    // once and the deadline never comes into it; it bounds this write all
    // the same, as it bounds every write of step 8.
    if let Err(error) = sendall(&mut conn, BUSY, deadline).await {
        eprintln!("error: connection from {peer}: {error}");
    }
    // Closed unread: the client reads the 16 bytes, then the end of the
    // stream, or a reset if its request had come already.
    drop(conn);
    println!("Turned away {peer}: no free slot");
}
// ANCHOR_END: solution

/// The number of permits for `max_connections`: a semaphore holds at most
/// `Semaphore::MAX_PERMITS`, far more than any system lets a process have
/// connections.
fn permits(max_connections: NonZeroUsize) -> usize {
    max_connections.get().min(Semaphore::MAX_PERMITS)
}

/// The next client from `listener`. A failed `accept` is reported, and
/// tried again: at once if it was about one connection, aborted or reset
/// before we took it; after a pause otherwise (out of file descriptors,
/// say), as step 8 does.
async fn next_client(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(accepted) => return accepted,
            Err(error) => {
                eprintln!("error: accept: {error}");
                if !matches!(
                    error.kind(),
                    ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
                ) {
                    // A timer, so the tasks run on meanwhile.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

/// Step 8's conversation: the client's 16 bytes, then the reply, before
/// `deadline`.
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

/// Reads exactly 16 bytes, however many calls to `read` that takes, unless
/// `deadline` passes first (step 8's `recvall`).
async fn recvall(sock: &mut TcpStream, deadline: Instant) -> io::Result<[u8; 16]> {
    let mut data = [0; 16];
    let mut received = 0;
    while received < data.len() {
        match timeout_at(deadline, sock.read(&mut data[received..])).await {
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
