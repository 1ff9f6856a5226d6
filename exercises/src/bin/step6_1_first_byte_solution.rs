//! Exercise: step 6's server with a shorter deadline for the first byte.
//!
//! A client that has said nothing yet is the cheapest kind to hold a slot
//! with. `--first-byte-timeout` gives each client that many seconds, from
//! being accepted, to send its first byte; once one has come, the client
//! has the rest of `--timeout` for the rest, as in step 6.
//!
//! The rest is step 6 (`listings/src/bin/step6.rs`), trimmed: its Ctrl-C
//! handling is left out (Ctrl-C simply ends this server), and the client is
//! step 6's, from the book's `listings` library.
//!
//! A solution: `read_deadline` gives the earlier of the two deadlines
//! while nothing has come, and the whole one after.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use clap::Args;
use listings::{Admission, ClientLimits, Finished, Slots, seconds};
use socket2::{Domain, Protocol, Socket, Type};

/// The server's limits, beyond HOST and -p.
#[derive(Args)]
struct ServerOptions {
    /// Most clients served at once; more wait, connected, in the listen backlog
    #[arg(long, value_name = "N", default_value = "64")]
    max_connections: NonZeroUsize,
    /// Seconds each client has, from being accepted, to send its message and take the reply
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = seconds)]
    timeout: Duration,
    /// Seconds each client has, from being accepted, to send its first byte
    #[arg(long, value_name = "SECONDS", default_value = "1", value_parser = seconds)]
    first_byte_timeout: Duration,
}

fn main() -> ExitCode {
    // The command line and the demo: scaffolding from the book's `listings`
    // crate, which also has step 6's client.
    listings::run_with(server, client)
}

fn client(addresses: &[SocketAddr], limits: &ClientLimits) -> io::Result<()> {
    listings::serving::client(addresses, limits)
}

/// Reads exactly 16 bytes, however many calls to `read` that takes, unless
/// a deadline passes first: `first_byte` while nothing has come, `deadline`
/// for all 16.
fn recvall(sock: &mut TcpStream, first_byte: Instant, deadline: Instant) -> io::Result<[u8; 16]> {
    let mut data = [0; 16];
    let mut received = 0;
    while received < data.len() {
        let Some(left) = time_left(read_deadline(received, first_byte, deadline)) else {
            return Err(too_late(received));
        };
        sock.set_read_timeout(Some(left))?;
        match sock.read(&mut data[received..]) {
            Ok(0) => {
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    format!(
                        "was expecting 16 bytes but only received \
                         {received} bytes before the socket closed"
                    ),
                ));
            }
            Ok(more) => received += more,
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) if is_timeout(&error) => return Err(too_late(received)),
            Err(error) => return Err(error),
        }
    }
    Ok(data)
}

// ANCHOR: solution
/// The deadline for the next `read`, once `received` bytes have come.
fn read_deadline(received: usize, first_byte: Instant, deadline: Instant) -> Instant {
    if received == 0 {
        // Saying nothing costs a client nothing, and holds a slot: it gets
        // the short deadline. `min`, so that a first-byte timeout longer
        // than --timeout cannot stretch the conversation.
        first_byte.min(deadline)
    } else {
        // It has started: the rest of the message has the whole deadline,
        // which still bounds a client that drips its bytes.
        deadline
    }
}
// ANCHOR_END: solution

fn too_late(received: usize) -> io::Error {
    io::Error::new(
        ErrorKind::TimedOut,
        format!("was expecting 16 bytes but only received {received} bytes before the deadline"),
    )
}

/// Writes all of `data`, however many calls to `write` that takes, unless
/// `deadline` passes first.
fn sendall(sock: &mut TcpStream, mut data: &[u8], deadline: Instant) -> io::Result<()> {
    let length = data.len();
    let late = |sent: usize| {
        io::Error::new(
            ErrorKind::TimedOut,
            format!("the socket accepted only {sent} of {length} bytes before the deadline"),
        )
    };
    while !data.is_empty() {
        let Some(left) = time_left(deadline) else {
            return Err(late(length - data.len()));
        };
        sock.set_write_timeout(Some(left))?;
        match sock.write(data) {
            Ok(0) => {
                return Err(io::Error::new(
                    ErrorKind::WriteZero,
                    "the socket accepted no more bytes",
                ));
            }
            Ok(sent) => data = &data[sent..],
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) if is_timeout(&error) => return Err(late(length - data.len())),
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// What is left until `deadline`, or `None` once it has passed.
fn time_left(deadline: Instant) -> Option<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|left| !left.is_zero())
}

/// A read or write that ran out of time (`EAGAIN` on Unix).
fn is_timeout(error: &io::Error) -> bool {
    matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// A listening socket made one system call at a time, as in step 6.
fn listen(address: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    socket.listen(128)?;
    Ok(socket.into())
}

fn server(address: SocketAddr, options: &ServerOptions) -> io::Result<()> {
    let listener = listen(address)?;
    println!("Listening at {}", listener.local_addr()?);
    let slots = Slots::new(options.max_connections);
    println!("Waiting for a new connection");
    thread::scope(|scope| {
        while slots.wait_for_room() == Admission::Open {
            let (conn, peer) = match listener.accept() {
                Ok(accepted) => accepted,
                Err(error) => {
                    eprintln!("error: accept: {error}");
                    thread::sleep(Duration::from_millis(100));
                    continue;
                }
            };
            slots.start();
            println!("Connection from {peer}");
            // Both clocks start now.
            let accepted = Instant::now();
            let first_byte = accepted + options.first_byte_timeout;
            let deadline = accepted + options.timeout;
            let slots = &slots;
            let serving = thread::Builder::new().spawn_scoped(scope, move || {
                if let Err(error) = converse(conn, peer, first_byte, deadline) {
                    eprintln!("error: connection from {peer}: {error}");
                }
                finished(slots);
            });
            if let Err(error) = serving {
                eprintln!("error: connection from {peer}: cannot start a thread: {error}");
                finished(slots);
            }
        }
    });
    Ok(())
}

/// Frees a connection's slot, and says so when the server is idle again.
fn finished(slots: &Slots) {
    if slots.finish() == Finished::Idle {
        println!("Waiting for a new connection");
    }
}

fn converse(
    mut conn: TcpStream,
    peer: SocketAddr,
    first_byte: Instant,
    deadline: Instant,
) -> io::Result<()> {
    println!("  Socket name: {}", conn.local_addr()?);
    println!("  Socket peer: {peer}");
    let message = recvall(&mut conn, first_byte, deadline)?;
    println!("  message from client: b'{}'", message.escape_ascii());
    sendall(&mut conn, b"Goodbye, client!", deadline)?;
    drop(conn);
    println!("  Closing socket");
    Ok(())
}
