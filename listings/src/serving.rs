//! Step 6's robustness, as pieces for the programs that come after it.
//!
//! Step 6 spells out, line by line, how a server survives its clients: a
//! thread per connection up to a limit, a deadline for each conversation,
//! `accept` errors reported and survived, a clean stop on Ctrl-C; and how a
//! client gives up on a server that does not answer. The programs of the
//! chapters after it (`framed`, `lines`) are about other things, so they
//! take the same behaviour from here, in a few calls:
//!
//! - [`serve`]: step 6's `server`, with the conversation handed in;
//! - [`Deadline`]: a connection whose every `read` and `write` gets only
//!   the time left until one deadline, as step 6's `recvall` and `sendall`
//!   do, so that `read_exact`, `write_all`, `BufReader` and `BufWriter`
//!   keep the deadline too;
//! - [`connect`]: step 6's `connect`, each address in turn, each with a
//!   time limit;
//! - [`ServerLimits`] and [`ClientLimits`]: step 6's options, to flatten
//!   into a program's own;
//! - [`converse`] and [`client`]: step 6's conversation and client, whole,
//!   `recvall` and `sendall` included, for step 7, whose chapter is about
//!   how the server runs its threads, not about what they say.
//!
//! Step 6 keeps its own copy of each: it is the chapter that explains them.

use std::io::{self, ErrorKind, IoSlice, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use clap::Args;

use crate::protocol::{
    ASSIGNED, REPLY, REPLY_SENT, REQUEST, accepted, closed_early, deadline_passed, incoming,
    interrupted, server_said,
};
use crate::{Admission, Finished, Slots, Stop, seconds};

/// A server's limits, step 6's: how many clients at once, and how long each
/// may take.
#[derive(Args, Clone, Copy, Debug)]
pub struct ServerLimits {
    /// Most clients served at once; more wait, connected, in the listen backlog
    #[arg(long, value_name = "N", default_value = "64")]
    pub max_connections: NonZeroUsize,
    /// Seconds each client has, from being accepted, to send its message and take the reply
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = seconds)]
    pub timeout: Duration,
}

/// A client's patience, step 6's.
#[derive(Args, Clone, Copy, Debug)]
pub struct ClientLimits {
    /// Seconds to wait for each address of HOST to answer (the TCP handshake)
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = seconds)]
    pub connect_timeout: Duration,
    /// Seconds the server has, once connected, to take the message and reply
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = seconds)]
    pub timeout: Duration,
}

/// How long an accept loop waits after `accept` failed for want of
/// resources, before it tries again (step 6's `ACCEPT_PAUSE`).
pub const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Whether `accept` failed because of one connection, aborted or reset
/// before it was taken, and may be tried again at once; any other error
/// (out of file descriptors or memory) calls for [`ACCEPT_PAUSE`] first
/// (step 6's `about_one_connection`).
pub fn about_one_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    )
}

/// An address to connect to for a listener on `ip`: a server listening on
/// every interface (0.0.0.0 or ::) is reached through loopback (step 6's
/// `reachable`).
pub fn reachable(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    }
}

/// Listens at `address` and serves each client on a thread of its own, at
/// most `limits.max_connections` at once, until Ctrl-C; then lets the
/// conversations in progress finish and returns `Ok`.
///
/// It prints what step 6 prints around a conversation: `Listening at`,
/// `Waiting for a new connection` whenever nothing is in progress,
/// `Connection from PEER`, the connection's two addresses (`Socket name`,
/// `Socket peer`), and on standard error one line for each conversation
/// that fails and each failed `accept`. `converse` is handed the connection
/// and the conversation's deadline, `limits.timeout` after the connection
/// was accepted; what it prints and what it sends is its own business.
pub fn serve<F>(address: SocketAddr, limits: &ServerLimits, converse: F) -> io::Result<()>
where
    F: Fn(TcpStream, Instant) -> io::Result<()> + Sync,
{
    // std's `bind` sets SO_REUSEADDR (on every system but Windows) and
    // listens with a backlog of 128: what step 6 builds by hand.
    let listener = TcpListener::bind(address)?;
    let listening_at = listener.local_addr()?;
    println!("Listening at {listening_at}");
    let slots = Arc::new(Slots::new(limits.max_connections));
    stop_on_ctrl_c(listening_at, Arc::clone(&slots))?;
    println!("Waiting for a new connection");
    let converse = &converse;
    thread::scope(|scope| {
        while slots.wait_for_room() == Admission::Open {
            let (conn, peer) = match listener.accept() {
                Ok(accepted) => accepted,
                Err(error) => {
                    eprintln!("error: accept: {error}");
                    if !about_one_connection(&error) {
                        thread::sleep(ACCEPT_PAUSE);
                    }
                    continue;
                }
            };
            if slots.start() == Admission::Stopping {
                break;
            }
            println!("{}", accepted(peer));
            let deadline = Instant::now() + limits.timeout;
            let slots = &slots;
            let serving = thread::Builder::new().spawn_scoped(scope, move || {
                if let Err(error) = introduce(&conn, peer).and_then(|()| converse(conn, deadline)) {
                    eprintln!("error: connection from {peer}: {error}");
                }
                finished(slots);
            });
            if let Err(error) = serving {
                eprintln!("error: connection from {peer}: cannot start a thread: {error}");
                finished(slots);
            }
        }
        drop(listener);
        println!("{}", interrupted(slots.in_progress()));
    });
    Ok(())
}

/// Prints the connection's two addresses, as step 6's `converse` does
/// first: the peer is the one `accept` gave, which a client that has
/// already reset the connection still has.
fn introduce(conn: &TcpStream, peer: SocketAddr) -> io::Result<()> {
    println!("  Socket name: {}", conn.local_addr()?);
    println!("  Socket peer: {peer}");
    Ok(())
}

/// Frees a connection's slot, and says so when the server is idle again.
fn finished(slots: &Slots) {
    if slots.finish() == Finished::Idle {
        println!("Waiting for a new connection");
    }
}

/// Step 6's Ctrl-C: raise the flag, then connect to our own port to wake
/// the accept loop; a second Ctrl-C exits at once.
fn stop_on_ctrl_c(listening_at: SocketAddr, slots: Arc<Slots>) -> io::Result<()> {
    let wake_up = SocketAddr::new(reachable(listening_at.ip()), listening_at.port());
    ctrlc::set_handler(move || {
        if slots.stop() == Stop::Again {
            std::process::exit(130);
        }
        let _ = TcpStream::connect_timeout(&wake_up, Duration::from_secs(1));
    })
    .map_err(io::Error::other)
}

/// Connects to the first of `addresses` that answers within `timeout`,
/// trying them in order; if none does, fails with the last one's error
/// (step 6's `connect`).
pub fn connect(addresses: &[SocketAddr], timeout: Duration) -> io::Result<TcpStream> {
    let mut last_error = None;
    for address in addresses {
        match TcpStream::connect_timeout(address, timeout) {
            Ok(sock) => return Ok(sock),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error
        .unwrap_or_else(|| io::Error::new(ErrorKind::InvalidInput, "no address to connect to")))
}

/// Step 6's `converse`: prints the connection's two addresses, reads the
/// client's 16 bytes, prints them, answers, and closes the connection, all
/// before `deadline`; it fails as step 6's does, in the same words.
pub fn converse(mut conn: TcpStream, peer: SocketAddr, deadline: Instant) -> io::Result<()> {
    introduce(&conn, peer)?;
    let message = recvall(&mut conn, deadline)?;
    println!("{}", incoming(&message));
    sendall(&mut conn, REPLY, deadline)?;
    drop(conn); // closes the connection, as `close()` does in Python
    println!("{REPLY_SENT}");
    Ok(())
}

/// Step 6's `client`: connects to the first of `addresses` that answers
/// within `limits.connect_timeout`, sends the 16-byte request and prints
/// the reply, both within `limits.timeout` of connecting.
pub fn client(addresses: &[SocketAddr], limits: &ClientLimits) -> io::Result<()> {
    let mut sock = connect(addresses, limits.connect_timeout)?;
    println!("{ASSIGNED}{}", sock.local_addr()?);
    let deadline = Instant::now() + limits.timeout;
    sendall(&mut sock, REQUEST, deadline)?;
    let reply = recvall(&mut sock, deadline)?;
    println!("{}", server_said(&reply));
    Ok(())
}

/// Step 6's `recvall`: exactly 16 bytes, each `read` given only the time
/// left until `deadline`, so that a peer dripping bytes cannot stretch it.
fn recvall(sock: &mut TcpStream, deadline: Instant) -> io::Result<[u8; 16]> {
    let mut data = [0; 16];
    let mut received = 0;
    let late = |received| io::Error::new(ErrorKind::TimedOut, deadline_passed(16, received));
    while received < data.len() {
        let Some(left) = time_left(deadline) else {
            return Err(late(received));
        };
        sock.set_read_timeout(Some(left))?;
        match sock.read(&mut data[received..]) {
            Ok(0) => {
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    closed_early(16, received),
                ));
            }
            Ok(more) => received += more,
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) if is_timeout(&error) => return Err(late(received)),
            Err(error) => return Err(error),
        }
    }
    Ok(data)
}

/// Step 6's `sendall`: all of `data`, each `write` given only the time left
/// until `deadline`.
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
            // Nothing was sent and nothing ever will be: looping would spin.
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

/// What is left until `deadline`, or `None` once it has passed (a zero
/// timeout is not a timeout to the socket API: std refuses it).
fn time_left(deadline: Instant) -> Option<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|left| !left.is_zero())
}

/// A read or write that ran out of time: Unix reports `EAGAIN`
/// (`WouldBlock`), Windows a timeout as such.
fn is_timeout(error: &io::Error) -> bool {
    matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// A connection with a deadline: every `read` and `write` through it waits
/// at most until `at`, however many of them a message takes, and one that
/// runs out of time fails with [`ErrorKind::TimedOut`].
///
/// Step 6's `recvall` and `sendall` keep a deadline by setting the time
/// left before each call; this does the same inside `read` and `write`,
/// so that everything built on them keeps it as well: `read_exact`,
/// `write_all`, `Read::take`, `BufReader` and `BufWriter`. It borrows the
/// connection, so a reader and a writer can share one, as Python's
/// `makefile("rb")` and `makefile("wb")` do.
///
/// ```
/// use std::io::{ErrorKind, Read};
/// use std::net::{TcpListener, TcpStream};
/// use std::time::{Duration, Instant};
/// use listings::Deadline;
///
/// let listener = TcpListener::bind("127.0.0.1:0").unwrap();
/// let _silent = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
/// let (conn, _) = listener.accept().unwrap();
/// let mut sock = Deadline::new(&conn, Instant::now() + Duration::from_millis(50));
/// let error = sock.read_exact(&mut [0; 4]).unwrap_err();
/// assert_eq!(error.kind(), ErrorKind::TimedOut);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Deadline<'a> {
    sock: &'a TcpStream,
    at: Instant,
}

impl<'a> Deadline<'a> {
    /// `sock`, whose reads and writes must be done by `at`.
    pub fn new(sock: &'a TcpStream, at: Instant) -> Self {
        Deadline { sock, at }
    }

    /// What is left until the deadline, or the error for a call that comes
    /// too late (a zero timeout is not a timeout to the socket API).
    fn time_left(&self, doing: &str) -> io::Result<Duration> {
        self.at
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
            .ok_or_else(|| too_late(doing))
    }

    /// A timeout becomes the deadline's error: Unix reports an expired
    /// timeout as `EAGAIN` (`WouldBlock`), Windows as `TimedOut`.
    fn late(error: io::Error, doing: &str) -> io::Error {
        match error.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => too_late(doing),
            _ => error,
        }
    }
}

fn too_late(doing: &str) -> io::Error {
    io::Error::new(
        ErrorKind::TimedOut,
        format!("the deadline passed while {doing}"),
    )
}

impl Read for Deadline<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock
            .set_read_timeout(Some(self.time_left("reading")?))?;
        self.sock
            .read(buf)
            .map_err(|error| Self::late(error, "reading"))
    }
}

impl Write for Deadline<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sock
            .set_write_timeout(Some(self.time_left("writing")?))?;
        self.sock
            .write(buf)
            .map_err(|error| Self::late(error, "writing"))
    }

    /// Several buffers in one system call, as the socket does it: without
    /// this, `Write`'s default would pass on only the first buffer.
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.sock
            .set_write_timeout(Some(self.time_left("writing")?))?;
        self.sock
            .write_vectored(bufs)
            .map_err(|error| Self::late(error, "writing"))
    }

    fn flush(&mut self) -> io::Result<()> {
        // A socket holds nothing back in the program: `write` has already
        // handed everything to the kernel.
        Ok(())
    }
}
