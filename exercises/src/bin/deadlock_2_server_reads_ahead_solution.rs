//! A solution: `deadlock`'s server, fixed on the server's side: it reads on
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

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::sync::mpsc;
use std::thread;

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

// ANCHOR: solution
/// Reads what the client sends on a thread of its own, and writes it back
/// upper-cased from this one, until the client closes its side; returns
/// how many bytes it echoed.
fn echo_upper(conn: &TcpStream) -> io::Result<u64> {
    // Chunks read and not yet written back. The channel has no bound: all
    // that the client sends before it reads waits here, in our memory.
    // With `mpsc::sync_channel(n)` it would be at most n chunks, and past
    // those the deadlock would be back.
    let (chunks, to_write) = mpsc::channel::<Vec<u8>>();
    thread::scope(|scope| {
        let reading = scope.spawn(move || read_chunks(conn, chunks));
        let mut echoed = 0;
        let mut written = Ok(());
        // Ends once the reading thread has dropped its sender: at the
        // client's end of file, or at an error.
        for chunk in &to_write {
            // Blocks while the client is not reading, as before; but the
            // other thread goes on reading meanwhile.
            written = (&*conn).write_all(&chunk);
            if written.is_err() {
                // The reader may be blocked in `read`, waiting for bytes
                // that will never be written back: wake it up.
                let _ = conn.shutdown(Shutdown::Both);
                break;
            }
            echoed += chunk.len() as u64;
        }
        drop(to_write);
        let read = reading
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the reading thread panicked")));
        written.and(read).map(|()| echoed)
    })
}

/// Reads the client's bytes until its end of file and sends each chunk,
/// upper-cased, to the writing thread.
fn read_chunks(mut conn: &TcpStream, chunks: mpsc::Sender<Vec<u8>>) -> io::Result<()> {
    loop {
        let mut chunk = vec![0; CHUNK];
        let got = match conn.read(&mut chunk) {
            // Returning drops `chunks`, and the writing loop ends.
            Ok(0) => return Ok(()),
            Ok(got) => got,
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        chunk.truncate(got);
        chunk.make_ascii_uppercase();
        if chunks.send(chunk).is_err() {
            // The writer has given up; it reports why.
            return Ok(());
        }
    }
}
// ANCHOR_END: solution
