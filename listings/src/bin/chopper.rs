//! chopper: a TCP relay that cuts the bytes it forwards into small pieces.
//!
//! On loopback a 16-byte message arrives in one piece every time you try,
//! though nothing guarantees it, so the naive step 1 looks correct. Put chopper between a client and a server and
//! every message arrives the way it might over a real network: a few bytes
//! at a time, with pauses. Programs that loop (step 4 on) still work; step 1
//! does not.
//!
//! ```text
//! client ──> chopper --listen 127.0.0.1:1061 ──pieces──> server on 127.0.0.1:1060
//! ```

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use clap::Parser;
use listings::serving::{ACCEPT_PAUSE, about_one_connection};
use listings::{Admission, Slots};

/// A TCP relay that forwards a client's bytes to a server in small pieces,
/// printing one line per piece, to show how programs cope with data that
/// arrives a little at a time.
#[derive(Parser, Clone, Copy)]
#[command(disable_version_flag = true)]
struct Settings {
    /// Address to accept clients on
    #[arg(long, value_name = "ADDRESS", default_value = "127.0.0.1:1061")]
    listen: SocketAddr,
    /// Address of the server each client is relayed to
    #[arg(long, value_name = "ADDRESS", default_value = "127.0.0.1:1060")]
    to: SocketAddr,
    /// Largest piece forwarded at once, in bytes
    #[arg(long, value_name = "BYTES", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..))]
    chunk: u32,
    /// Pause between two pieces, in milliseconds
    #[arg(long = "delay-ms", value_name = "MS", default_value_t = 0)]
    delay_ms: u64,
    /// Cut the server's replies into pieces too (by default they are
    /// forwarded as they arrive)
    #[arg(long)]
    both: bool,
    /// Most connections relayed at once; more wait, connected, in the listen
    /// backlog
    #[arg(long, value_name = "N", default_value = "64")]
    max_connections: NonZeroUsize,
}

fn main() -> ExitCode {
    let settings: Settings = match listings::parse_args() {
        Ok(settings) => settings,
        Err(exit) => return exit,
    };
    let listener = match TcpListener::bind(settings.listen) {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("error: cannot listen on {}: {error}", settings.listen);
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(address) => println!("Listening at {address}"),
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    }
    println!(
        "Relaying to {} in pieces of at most {}, {} ms apart",
        settings.to,
        bytes(settings.chunk as usize),
        settings.delay_ms
    );
    // The accept loop of step 6, without its Ctrl-C: Ctrl-C simply ends
    // the relay. A scope, so that the relays' threads may borrow `slots`.
    let slots = Slots::new(settings.max_connections);
    thread::scope(|scope| {
        let mut number = 0;
        // No `accept` while every slot is busy: a client costs two threads
        // and four file descriptors only once it is relayed.
        while slots.wait_for_room() == Admission::Open {
            let (client, from) = match listener.accept() {
                Ok(accepted) => accepted,
                Err(error) => {
                    eprintln!("error: accept: {error}");
                    if !about_one_connection(&error) {
                        // Out of file descriptors or memory: `accept` would
                        // fail again at once until a connection ends.
                        thread::sleep(ACCEPT_PAUSE);
                    }
                    continue;
                }
            };
            slots.start();
            number += 1;
            let slots = &slots;
            // A thread per connection: one slow relay must not hold up others.
            let relaying = thread::Builder::new().spawn_scoped(scope, move || {
                relay(number, client, from, settings);
                slots.finish();
            });
            if let Err(error) = relaying {
                eprintln!("conn {number}: error: cannot start a thread: {error}");
                slots.finish();
            }
        }
    });
    ExitCode::SUCCESS
}

/// Relays one client's connection, from the address `accept` gave, until
/// both sides have finished.
fn relay(number: u64, client: TcpStream, from: SocketAddr, settings: Settings) {
    let server = match TcpStream::connect(settings.to) {
        Ok(server) => server,
        Err(error) => {
            eprintln!(
                "conn {number}: error: cannot reach {}: {error}",
                settings.to
            );
            return;
        }
    };
    println!("conn {number}: relaying {from} to {}", settings.to);
    let to_server = Pump {
        number,
        direction: "client -> server",
        chunk: Some(settings.chunk as usize),
        delay: Duration::from_millis(settings.delay_ms),
    };
    let to_client = Pump {
        direction: "server -> client",
        chunk: settings.both.then_some(settings.chunk as usize),
        ..to_server
    };
    let (client_reader, server_reader) = match (client.try_clone(), server.try_clone()) {
        (Ok(c), Ok(s)) => (c, s),
        (Err(error), _) | (_, Err(error)) => {
            eprintln!("conn {number}: error: {error}");
            return;
        }
    };
    let replies = thread::Builder::new().spawn(move || to_client.run(server_reader, client));
    // Without a thread for the replies the connection cannot be relayed;
    // the closure, dropped, closes the client's end.
    let replies = match replies {
        Ok(replies) => replies,
        Err(error) => {
            eprintln!("conn {number}: error: cannot start a thread: {error}");
            return;
        }
    };
    let requests_ended = to_server.run(client_reader, server);
    let replies_ended = replies
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("relay thread panicked")));
    // How each direction ended, reported once both have: the two ends happen
    // at nearly the same moment in two threads, and a fixed order here keeps
    // the log the same from run to run.
    for (pump, ended) in [(to_server, requests_ended), (to_client, replies_ended)] {
        match ended {
            Ok(()) => println!("conn {number}: {}: end of data, passed on", pump.direction),
            Err(error) => eprintln!("conn {number}: error: {}: {error}", pump.direction),
        }
    }
}

fn bytes(count: usize) -> String {
    format!("{count} byte{}", if count == 1 { "" } else { "s" })
}

/// One direction of a relayed connection.
#[derive(Clone, Copy)]
struct Pump {
    number: u64,
    direction: &'static str,
    /// `None`: forward each read as it came.
    chunk: Option<usize>,
    delay: Duration,
}

impl Pump {
    /// Forwards until the sender closes its side (`Ok`) or the connection
    /// breaks (`Err`).
    fn run(self, mut from: TcpStream, mut to: TcpStream) -> io::Result<()> {
        // Each piece goes out as its own segment instead of waiting to be
        // merged with the next one (Nagle's algorithm would merge them).
        let _ = to.set_nodelay(true);
        let ended = self.forward(&mut from, &mut to);
        if ended.is_ok() {
            // Pass the half-close on: the receiver sees end-of-file, and can
            // still answer the other way.
            let _ = to.shutdown(Shutdown::Write);
        } else {
            // The connection is broken: end both directions so the other
            // pump stops too instead of waiting forever.
            let _ = from.shutdown(Shutdown::Both);
            let _ = to.shutdown(Shutdown::Both);
        }
        ended
    }

    fn forward(&self, from: &mut TcpStream, to: &mut TcpStream) -> io::Result<()> {
        let mut buffer = vec![0; 64 * 1024];
        let mut first = true;
        loop {
            let received = match from.read(&mut buffer) {
                Ok(0) => return Ok(()),
                Ok(received) => received,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            };
            let data = &buffer[..received];
            // ANCHOR: pieces
            let pieces = match self.chunk {
                Some(size) => data.chunks(size).collect::<Vec<_>>(),
                None => vec![data],
            };
            for piece in pieces {
                if !first && !self.delay.is_zero() {
                    thread::sleep(self.delay);
                }
                first = false;
                // Announce the piece before sending it: whatever the receiver
                // prints in response then comes after this line.
                let size = bytes(piece.len());
                println!("conn {}: {}: {size}", self.number, self.direction);
                to.write_all(piece)?;
            }
            // ANCHOR_END: pieces
        }
    }
}
