//! Exercise: your own chopper. A relay that accepts a client, connects to
//! the server, and forwards the client's bytes in pieces of at most
//! `--chunk` bytes, `--delay-ms` apart, and the server's replies as they
//! come; when one side closes its half of the connection, the relay closes
//! the same half of the other connection, so the end of the data passes
//! through too.
//!
//! Start from here: the accept loop, the connection to the server and the
//! two directions are here. Write `pump`, which moves one direction.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
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

// ANCHOR: task
/// Forwards what `from` sends to `to` until `from` closes its side, then
/// closes the same side of `to`. Cuts the data into pieces of at most
/// `chunk` bytes (`None`: forwards each read whole), `delay` apart, and
/// prints `DIRECTION: N bytes` before it sends each piece.
fn pump(
    from: TcpStream,
    to: TcpStream,
    chunk: Option<usize>,
    delay: Duration,
    direction: &str,
) -> io::Result<()> {
    let _ = (from, to, chunk, delay, direction, bytes);
    todo!("read, cut, print, write_all each piece; at end of file, `to.shutdown(Shutdown::Write)`")
}
// ANCHOR_END: task
