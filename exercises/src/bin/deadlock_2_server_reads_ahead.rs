//! Exercise: `deadlock`'s server, fixed on the server's side: it reads on
//! a thread of its own, so the naive client gets its reply back.
//!
//! The deadlock needs both programs blocked in `write`. A server that keeps
//! reading while its `write` waits never is: one thread reads the client's
//! chunks and hands them, upper-cased, to the thread that writes them back.
//! Whatever the client sends before it reads waits in the server's memory
//! instead of in the socket buffers.
//!
//! The rest is `deadlock`'s (`listings/src/bin/deadlock.rs`): its naive
//! client, its options and the accept loop around `converse`, from
//! `listings`.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;

use listings::deadlock::{self, ClientOptions, Progress, ServerOptions, buffers, receive, send};

fn main() -> ExitCode {
    listings::run_with_about(
        "A server that writes back upper-cased what it reads, reading ahead on a thread, \
         and a client that sends N bytes before it reads any",
        server,
        client,
    )
}

fn client(addresses: &[SocketAddr], options: &ClientOptions) -> io::Result<()> {
    deadlock::client(addresses, options, send_then_receive, "before reading any")
}

/// All of `message`, then all of the reply: the order that deadlocks
/// against `deadlock`'s server.
fn send_then_receive(sock: &TcpStream, message: &[u8], progress: &mut Progress) -> io::Result<()> {
    send(sock, message, &mut progress.sent)?;
    receive(sock, message.len() as u64, &mut progress.received)
}

fn server(address: SocketAddr, options: &ServerOptions) -> io::Result<()> {
    deadlock::serve(address, options, converse)
}

/// One client: its bytes echoed upper-cased until it closes.
fn converse(conn: &TcpStream) -> io::Result<()> {
    conn.set_nodelay(true)?;
    println!("  {}", buffers(conn)?);
    let echoed = echo_upper(conn)?;
    println!("  Echoed {echoed} bytes; the client closed");
    Ok(())
}

/// Most bytes read, upper-cased and written back at a time.
const CHUNK: usize = 1024;

// ANCHOR: task
/// Reads what the client sends on a thread of its own, and writes it back
/// upper-cased from this one, until the client closes its side; returns
/// how many bytes it echoed.
fn echo_upper(conn: &TcpStream) -> io::Result<u64> {
    let _ = (conn, CHUNK);
    todo!(
        "a scoped thread reads chunks of at most CHUNK bytes and sends them, upper-cased, \
         down a std::sync::mpsc channel; this thread writes what comes out of it"
    )
}
// ANCHOR_END: task
