//! Exercise: your own chopper. A relay that accepts a client, connects to
//! the server, and forwards the client's bytes in pieces of at most
//! `--chunk` bytes, `--delay-ms` apart, and the server's replies as they
//! come; when one side closes its half of the connection, the relay closes
//! the same half of the other connection, so the end of the data passes
//! through too.
//!
//! A solution: `pump` reads, cuts what it read into pieces and writes each
//! whole; at end of file it shuts down the writing half of the other
//! connection, and on an error it shuts down both connections, so that
//! the other direction stops too.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use clap::Parser;

/// A TCP relay that forwards a client's bytes to a server in small pieces.
#[derive(Parser)]
struct Settings {
    /// Address to accept clients on (port 0: any free port)
    #[arg(long, value_name = "ADDRESS", default_value = "127.0.0.1:1061")]
    listen: SocketAddr,
    /// Address of the server each client is relayed to
    #[arg(long, value_name = "ADDRESS", default_value = "127.0.0.1:1060")]
    to: SocketAddr,
    /// Largest piece of the client's bytes forwarded at once
    #[arg(long, value_name = "BYTES", default_value = "1")]
    chunk: NonZeroUsize,
    /// Pause between two pieces, in milliseconds
    #[arg(long = "delay-ms", value_name = "MS", default_value_t = 0)]
    delay_ms: u64,
}

fn main() -> ExitCode {
    let settings: Settings = match listings::parse_args() {
        Ok(settings) => settings,
        Err(exit) => return exit,
    };
    match serve(&settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Relays one client after another, until `accept` fails.
fn serve(settings: &Settings) -> io::Result<()> {
    let listener = TcpListener::bind(settings.listen)?;
    println!("Listening at {}", listener.local_addr()?);
    loop {
        let (client, from) = listener.accept()?;
        if let Err(error) = relay(client, from, settings) {
            eprintln!("error: {from}: {error}");
        }
    }
}

/// Relays one client's connection until both directions have ended.
fn relay(client: TcpStream, from: SocketAddr, settings: &Settings) -> io::Result<()> {
    // A connection of the relay's own: the server sees the relay, not the
    // client, and receives the bytes in the relay's segments.
    let server = TcpStream::connect(settings.to)?;
    println!("relaying {from} to {}", settings.to);
    let (client_reader, server_reader) = (client.try_clone()?, server.try_clone()?);
    let delay = Duration::from_millis(settings.delay_ms);
    // Each direction waits for its own data, so each needs a thread.
    let replies =
        thread::spawn(move || pump(server_reader, client, None, delay, "server -> client"));
    let chunk = Some(settings.chunk.get());
    let requests = pump(client_reader, server, chunk, delay, "client -> server");
    let replies = replies
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the thread for the replies panicked")));
    for (direction, ended) in [
        ("client -> server", requests),
        ("server -> client", replies),
    ] {
        match ended {
            Ok(()) => println!("{direction}: end of data, passed on"),
            Err(error) => eprintln!("error: {direction}: {error}"),
        }
    }
    Ok(())
}

/// `1 byte`, `3 bytes`.
fn bytes(count: usize) -> String {
    format!("{count} byte{}", if count == 1 { "" } else { "s" })
}

// ANCHOR: solution
/// Forwards what `from` sends to `to` until `from` closes its side, then
/// closes the same side of `to`. Cuts the data into pieces of at most
/// `chunk` bytes (`None`: forwards each read whole), `delay` apart, and
/// prints `DIRECTION: N bytes` before it sends each piece.
fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    chunk: Option<usize>,
    delay: Duration,
    direction: &str,
) -> io::Result<()> {
    // Each piece leaves as a segment of its own instead of waiting to be
    // merged with the next (Nagle's algorithm would merge them).
    to.set_nodelay(true)?;
    let mut buffer = vec![0; 64 * 1024];
    let mut first = true;
    let ended = loop {
        let received = match from.read(&mut buffer) {
            Ok(0) => break Ok(()),
            Ok(received) => received,
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) => break Err(error),
        };
        let data = &buffer[..received];
        let sent = data
            .chunks(chunk.unwrap_or(received))
            .try_for_each(|piece| {
                if !first {
                    thread::sleep(delay);
                }
                first = false;
                // Before the write: whatever the receiver prints in answer to
                // the piece comes after this line.
                println!("{direction}: {}", bytes(piece.len()));
                to.write_all(piece)
            });
        if let Err(error) = sent {
            break Err(error);
        }
    };
    match ended {
        // The sender closed its side: the receiver sees end of file, and
        // can still answer the other way.
        Ok(()) => to.shutdown(Shutdown::Write),
        // Broken: end both connections, or the other direction would wait
        // forever for data that cannot come.
        Err(error) => {
            let _ = from.shutdown(Shutdown::Both);
            let _ = to.shutdown(Shutdown::Both);
            Err(error)
        }
    }
}
// ANCHOR_END: solution
