//! Step 6: a server that survives misbehaving clients.
//!
//! Step 5 is a faithful Rust version of `tcp.py`, weakness included: it
//! serves one client at a time and waits for each as long as that client
//! likes, so one client that connects and says nothing holds up everyone
//! behind it. This step keeps step 5's protocol and output, and adds:
//!
//! - a thread per connection, at most `--max-connections` at once; clients
//!   beyond that wait, connected, in the listen backlog;
//! - a deadline for each conversation (`--timeout`), enforced with read and
//!   write timeouts, so a silent or slow client is dropped;
//! - buffers of a fixed size: nothing a client sends decides how much memory
//!   the server uses;
//! - a clean stop on Ctrl-C: no new connections, the ones in progress finish;
//! - a client that gives up on a server that does not answer.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use clap::Args;
use listings::{Admission, Finished, Slots, Stop, seconds};
use socket2::{Domain, Protocol, Socket, Type};

// ANCHOR: options
/// The server's limits, beyond HOST and -p.
#[derive(Args)]
struct ServerOptions {
    /// Most clients served at once; more wait, connected, in the listen backlog
    #[arg(long, value_name = "N", default_value = "64")]
    max_connections: NonZeroUsize,
    /// Seconds each client has, from being accepted, to send its message and take the reply
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = seconds)]
    timeout: Duration,
}

/// The client's patience, beyond HOST and -p.
#[derive(Args)]
struct ClientOptions {
    /// Seconds to wait for each address of HOST to answer (the TCP handshake)
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = seconds)]
    connect_timeout: Duration,
    /// Seconds the server has, once connected, to take the message and reply
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = seconds)]
    timeout: Duration,
}
// ANCHOR_END: options

fn main() -> ExitCode {
    // The command line, with each role's options above, and the demo that
    // runs with no arguments: scaffolding from the book's `listings` crate.
    listings::run_with(server, client)
}

// ANCHOR: recvall
/// Reads exactly 16 bytes, however many calls to `read` that takes, unless
/// `deadline` passes first.
fn recvall(sock: &mut TcpStream, deadline: Instant) -> io::Result<[u8; 16]> {
    // The protocol says 16 bytes, so 16 bytes is all the memory a message
    // gets, whatever the peer sends.
    let mut data = [0; 16];
    let mut received = 0;
    while received < data.len() {
        // A read timeout bounds one `read`. A peer sending a byte just
        // before each timeout would start it over again and again, so every
        // `read` gets only what is left until one deadline for the message.
        let Some(left) = time_left(deadline) else {
            return Err(too_late(received));
        };
        sock.set_read_timeout(Some(left))?;
        match sock.read(&mut data[received..]) {
            // 0 bytes from a non-empty buffer: the peer closed its side.
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
            // A signal arrived before any byte did: simply try again.
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) if is_timeout(&error) => return Err(too_late(received)),
            Err(error) => return Err(error),
        }
    }
    Ok(data)
}
// ANCHOR_END: recvall

fn too_late(received: usize) -> io::Error {
    io::Error::new(
        ErrorKind::TimedOut,
        format!("was expecting 16 bytes but only received {received} bytes before the deadline"),
    )
}

// ANCHOR: sendall
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
        // `write` blocks only while the send buffer is full, which a peer
        // causes by not reading. A write timeout bounds one `write`, and a
        // `write` that sends a little before it times out leaves the next
        // one a whole timeout again; so, as in `recvall`, every `write`
        // gets only what is left until one deadline for all of `data`.
        let Some(left) = time_left(deadline) else {
            return Err(late(length - data.len()));
        };
        sock.set_write_timeout(Some(left))?;
        match sock.write(data) {
            // Nothing was sent and nothing ever will be: looping would spin.
            Ok(0) => {
                return Err(io::Error::new(
                    ErrorKind::WriteZero,
                    "the socket accepted no more bytes",
                ));
            }
            Ok(sent) => data = &data[sent..],
            // A signal arrived before anything was sent: simply try again.
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) if is_timeout(&error) => return Err(late(length - data.len())),
            Err(error) => return Err(error),
        }
    }
    Ok(())
}
// ANCHOR_END: sendall

// ANCHOR: time_left
/// What is left until `deadline`, or `None` once it has passed (a zero
/// timeout is not a timeout to the socket API: std refuses it).
fn time_left(deadline: Instant) -> Option<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|left| !left.is_zero())
}
// ANCHOR_END: time_left

// ANCHOR: is_timeout
/// A read or write that ran out of time: Unix reports `EAGAIN`, which std
/// calls `WouldBlock`; Windows reports a timeout as such.
fn is_timeout(error: &io::Error) -> bool {
    matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}
// ANCHOR_END: is_timeout

// ANCHOR: listen
/// A listening socket made one system call at a time, as in step 5.
fn listen(address: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    // While every slot is busy, new clients wait here with their handshake
    // done, and are accepted as slots free up. tcp.py's backlog of 1 would
    // let two wait and make the kernel drop the next clients' SYNs, so they
    // would get in only on a retry a second or more later. 128 is what
    // std's `TcpListener::bind` asks for.
    socket.listen(128)?;
    Ok(socket.into())
}
// ANCHOR_END: listen

// ANCHOR: server
fn server(address: SocketAddr, options: &ServerOptions) -> io::Result<()> {
    let listener = listen(address)?;
    let listening_at = listener.local_addr()?;
    println!("Listening at {listening_at}");
    let slots = Arc::new(Slots::new(options.max_connections));
    stop_on_ctrl_c(listening_at, Arc::clone(&slots))?;
    println!("Waiting for a new connection");
    // A scope, so that the connections' threads may borrow `slots`, and so
    // that the function returns only once every one of them has finished.
    // (`println!` locks standard output for each line, so the threads'
    // lines never mix.)
    thread::scope(|scope| {
        // ANCHOR: accept_loop
        // No `accept` while every slot is busy: clients wait in the backlog
        // instead of costing a thread each.
        while slots.wait_for_room() == Admission::Open {
            let (conn, peer) = match listener.accept() {
                Ok(accepted) => accepted,
                Err(error) => {
                    eprintln!("error: accept: {error}");
                    if !about_one_connection(&error) {
                        // Out of file descriptors or memory: only a
                        // connection that ends frees some, and `accept`
                        // would fail again at once. Pausing keeps the loop
                        // from spinning meanwhile.
                        thread::sleep(ACCEPT_PAUSE);
                    }
                    continue;
                }
            };
            if slots.start() == Admission::Stopping {
                // Ctrl-C: this is our own wake-up call (or a client that
                // came a moment too late). Dropping it closes it.
                break;
            }
            println!("Connection from {peer}");
            // The clock starts now: the client has `timeout` for the whole
            // conversation, however it spreads its bytes.
            let deadline = Instant::now() + options.timeout;
            let slots = &slots;
            let serving = thread::Builder::new().spawn_scoped(scope, move || {
                if let Err(error) = converse(conn, peer, deadline) {
                    // This client broke off or ran out of time; the others
                    // are not affected.
                    eprintln!("error: connection from {peer}: {error}");
                }
                finished(slots);
            });
            if let Err(error) = serving {
                // The closure, and the connection in it, were dropped: the
                // client sees the connection close.
                eprintln!("error: connection from {peer}: cannot start a thread: {error}");
                finished(slots);
            }
        }
        // ANCHOR_END: accept_loop
        // Closed now, new clients are refused at once instead of waiting in
        // the backlog for an `accept` that will not come.
        drop(listener);
        println!(
            "Interrupted: accepting no more connections, finishing {} in progress",
            slots.in_progress()
        );
    });
    Ok(())
}
// ANCHOR_END: server

/// How long the accept loop waits after `accept` failed for want of
/// resources, before it tries again: long enough not to spin, short enough
/// that clients in the backlog hardly notice.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Whether `accept` failed because of one connection, aborted or reset
/// before we took it (`ECONNABORTED`, `ECONNRESET`): the loop tries again
/// at once. After any other error it pauses for `ACCEPT_PAUSE` first.
///
/// No failure of `accept` ends the server. It would fail for good only on a
/// socket that is not listening, and this one listens until we drop it;
/// everything else it can report is about the moment (see `man 2 accept`):
/// out of file descriptors (`EMFILE`, `ENFILE`) or memory (`ENOBUFS`,
/// `ENOMEM`), which the pause is for, or another error of the new
/// connection, such as `EPROTO`, which std gives no kind of its own: the
/// loop pauses after those too, which does no harm.
fn about_one_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    )
}

/// Frees a connection's slot; if it was the last in progress, the server is
/// idle and says so with step 5's line.
fn finished(slots: &Slots) {
    if slots.finish() == Finished::Idle {
        println!("Waiting for a new connection");
    }
}

// ANCHOR: converse
fn converse(mut conn: TcpStream, peer: SocketAddr, deadline: Instant) -> io::Result<()> {
    println!("  Socket name: {}", conn.local_addr()?);
    // The address `accept` returned, not `conn.peer_addr()`: a client that
    // has already reset the connection has no peer address left to ask for.
    println!("  Socket peer: {peer}");
    let message = recvall(&mut conn, deadline)?;
    println!("  message from client: b'{}'", message.escape_ascii());
    sendall(&mut conn, b"Goodbye, client!", deadline)?;
    drop(conn); // closes the connection, as `close()` does in Python
    println!("  Closing socket");
    Ok(())
}
// ANCHOR_END: converse

// ANCHOR: ctrl_c
/// Makes Ctrl-C stop the accept loop; a second Ctrl-C ends the program at
/// once, for a user who will not wait for the connections in progress.
fn stop_on_ctrl_c(listening_at: SocketAddr, slots: Arc<Slots>) -> io::Result<()> {
    // The loop spends its time blocked in `accept`, and nothing from outside
    // ends that call: not the signal (ctrlc runs this handler on a thread
    // of its own, and std's `accept` calls again when a signal interrupts
    // it), and not closing the socket under it (its number could be reused
    // meanwhile).
    // Polling a non-blocking listener would wake the server all day long
    // for nothing, and `shutdown` on a listening socket wakes `accept` on
    // Linux but is not promised to elsewhere. So after raising the flag, the
    // handler becomes the client that `accept` is waiting for: it connects
    // to our own port, `accept` returns, and the loop sees the flag. That
    // takes nothing but TCP, and works the same everywhere.
    let wake_up = SocketAddr::new(reachable(listening_at.ip()), listening_at.port());
    ctrlc::set_handler(move || {
        if slots.stop() == Stop::Again {
            std::process::exit(130); // 128 + SIGINT, as a shell reports it
        }
        // If this fails, the loop was waiting for a free slot, not in
        // `accept`, and `stop` has already woken it.
        let _ = TcpStream::connect_timeout(&wake_up, Duration::from_secs(1));
    })
    .map_err(io::Error::other)
}
// ANCHOR_END: ctrl_c

/// An address to connect to for a listener on `ip`: a server listening on
/// every interface (0.0.0.0 or ::) is reached through loopback.
fn reachable(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    }
}

// ANCHOR: client
fn client(addresses: &[SocketAddr], options: &ClientOptions) -> io::Result<()> {
    // Each address HOST resolved to, in order, until one answers: a name
    // such as `localhost` may stand for both ::1 and 127.0.0.1, and the
    // server listens on only one of them.
    let mut sock = connect(addresses, options.connect_timeout)?;
    println!(
        "Client has been assigned socket name {}",
        sock.local_addr()?
    );
    let deadline = Instant::now() + options.timeout;
    sendall(&mut sock, b"Hi there, server", deadline)?;
    let reply = recvall(&mut sock, deadline)?;
    println!("The server said b'{}'", reply.escape_ascii());
    Ok(())
}
// ANCHOR_END: client

// ANCHOR: connect
/// Connects to the first of `addresses` that answers within `timeout`,
/// trying them in order; if none does, fails with the last one's error.
/// That is what `TcpStream::connect` does with a list, and Python's
/// `socket.create_connection`, but with a limit on each attempt.
fn connect(addresses: &[SocketAddr], timeout: Duration) -> io::Result<TcpStream> {
    let mut last_error = None;
    for address in addresses {
        // Without a limit, a server whose host drops our SYNs keeps
        // `connect` waiting while the kernel retries: over two minutes on
        // Linux.
        match TcpStream::connect_timeout(address, timeout) {
            Ok(sock) => return Ok(sock),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error
        .unwrap_or_else(|| io::Error::new(ErrorKind::InvalidInput, "no address to connect to")))
}
// ANCHOR_END: connect
