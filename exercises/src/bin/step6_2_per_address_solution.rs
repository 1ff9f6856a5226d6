//! Exercise: step 6's server with a limit for each client address.
//!
//! `--max-connections` bounds what all clients together can hold, so one
//! client that opens that many connections holds them all.
//! `--max-per-address K` lets each IP address have at most K connections in
//! progress at once: the server accepts a connection beyond that and
//! closes it at once, with one line on standard error, without counting it
//! against `--max-connections`.
//!
//! The rest is step 6 (`listings/src/bin/step6.rs`), trimmed: its Ctrl-C
//! handling is left out (Ctrl-C simply ends this server), and the client is
//! step 6's, from the book's `listings` library.
//!
//! A solution: a map from address to count, behind a `Mutex`; an address
//! leaves the map when its count is back to 0.

use std::collections::HashMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::sync::Mutex;
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
    /// Most connections in progress at once from one IP address; more are
    /// closed as soon as they are accepted
    #[arg(long, value_name = "K", default_value = "4")]
    max_per_address: NonZeroUsize,
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
/// `deadline` passes first.
fn recvall(sock: &mut TcpStream, deadline: Instant) -> io::Result<[u8; 16]> {
    let mut data = [0; 16];
    let mut received = 0;
    while received < data.len() {
        let Some(left) = time_left(deadline) else {
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

// ANCHOR: solution
/// How many connections each client address has in progress.
type PerAddress = Mutex<HashMap<IpAddr, usize>>;

/// Counts a connection from `ip`, unless `ip` has `most` in progress
/// already; says whether it did.
fn admit(per_address: &PerAddress, ip: IpAddr, most: usize) -> bool {
    // The accept loop counts up while the connections' threads count
    // down: the map is shared, behind a lock.
    let mut per_address = per_address.lock().unwrap_or_else(|e| e.into_inner());
    let in_progress = per_address.entry(ip).or_insert(0);
    if *in_progress >= most {
        return false;
    }
    *in_progress += 1;
    true
}

/// Counts a connection from `ip` that has ended.
fn leave(per_address: &PerAddress, ip: IpAddr) {
    let mut per_address = per_address.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(in_progress) = per_address.get_mut(&ip) {
        *in_progress -= 1;
        // Addresses come and go: without this, every address that ever
        // connected would cost the server memory for good.
        if *in_progress == 0 {
            per_address.remove(&ip);
        }
    }
}
// ANCHOR_END: solution

fn server(address: SocketAddr, options: &ServerOptions) -> io::Result<()> {
    let listener = listen(address)?;
    println!("Listening at {}", listener.local_addr()?);
    let slots = Slots::new(options.max_connections);
    let per_address = PerAddress::default();
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
            // The kernel finished the handshake long ago: accepting and
            // closing at once is the only "no" a server has left, and it
            // costs no slot and no thread.
            let most = options.max_per_address.get();
            if !admit(&per_address, peer.ip(), most) {
                eprintln!(
                    "error: connection from {peer}: {most} connections from {} already",
                    peer.ip()
                );
                drop(conn);
                continue;
            }
            slots.start();
            println!("Connection from {peer}");
            let deadline = Instant::now() + options.timeout;
            let (slots, per_address) = (&slots, &per_address);
            let serving = thread::Builder::new().spawn_scoped(scope, move || {
                if let Err(error) = converse(conn, peer, deadline) {
                    eprintln!("error: connection from {peer}: {error}");
                }
                leave(per_address, peer.ip());
                finished(slots);
            });
            if let Err(error) = serving {
                eprintln!("error: connection from {peer}: cannot start a thread: {error}");
                leave(per_address, peer.ip());
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

fn converse(mut conn: TcpStream, peer: SocketAddr, deadline: Instant) -> io::Result<()> {
    println!("  Socket name: {}", conn.local_addr()?);
    println!("  Socket peer: {peer}");
    let message = recvall(&mut conn, deadline)?;
    println!("  message from client: b'{}'", message.escape_ascii());
    sendall(&mut conn, b"Goodbye, client!", deadline)?;
    drop(conn);
    println!("  Closing socket");
    Ok(())
}
