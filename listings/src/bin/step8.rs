//! Step 8: step 6's server and client on Tokio.
//!
//! Step 6 gives each connection a thread, and a thread is costly to keep
//! waiting: a stack of its own (2 MiB reserved by default) and a place in
//! the kernel's scheduler, while all it does is wait for a client. This
//! step keeps step 6's protocol, options, output and exit codes, and
//! changes only how the waiting is done:
//!
//! - a task per connection instead of a thread: the task is a future, a
//!   value holding the state of its conversation (a few hundred bytes),
//!   not a stack;
//! - Tokio's runtime runs the tasks on one worker thread per core, and
//!   switches between them at each `.await` where one would wait: for a
//!   client's bytes, for room to send, for a free slot, for a new client;
//! - so nothing may block a worker thread for long, or every task queued
//!   on it waits too: reads and writes are `.await`ed, and the deadline is
//!   a timer the runtime watches (`timeout_at`), not a socket option;
//! - a semaphore's permits stand for step 6's slots, and Ctrl-C is a
//!   stream of notifications raced against `accept` with `tokio::select!`,
//!   not a handler on a thread of its own.

use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use clap::Args;
use listings::seconds;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::runtime::{Builder, Runtime};
use tokio::sync::Semaphore;
use tokio::time::{Instant, timeout, timeout_at};

// ANCHOR: options
/// The server's limits, beyond HOST and -p.
#[derive(Args, Clone, Copy)]
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
async fn recvall(sock: &mut TcpStream, deadline: Instant) -> io::Result<[u8; 16]> {
    // The protocol says 16 bytes, so 16 bytes is all the memory a message
    // gets, whatever the peer sends.
    let mut data = [0; 16];
    let mut received = 0;
    while received < data.len() {
        // Step 6 gave each `read` what was left until the deadline as a
        // socket timeout. Here the runtime's timer does it: `timeout_at`
        // ends the wait at the deadline itself, however many reads came
        // before. (A read that waits is a task set aside, not a blocked
        // thread, so no signal can interrupt it: no `Interrupted` case.)
        match timeout_at(deadline, sock.read(&mut data[received..])).await {
            // 0 bytes from a non-empty buffer: the peer closed its side.
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
            Err(_elapsed) => return Err(too_late(received)),
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
async fn sendall(sock: &mut TcpStream, mut data: &[u8], deadline: Instant) -> io::Result<()> {
    // Tokio's `write_all` is this loop, but a `write_all` cut short by
    // `timeout_at` is dropped without saying how far it got; written out,
    // the loop knows what it has sent.
    let length = data.len();
    let late = |sent: usize| {
        io::Error::new(
            ErrorKind::TimedOut,
            format!("the socket accepted only {sent} of {length} bytes before the deadline"),
        )
    };
    while !data.is_empty() {
        // `write` waits only while the send buffer is full, which a peer
        // causes by not reading.
        match timeout_at(deadline, sock.write(data)).await {
            // Nothing was sent and nothing ever will be: looping would spin.
            Ok(Ok(0)) => {
                return Err(io::Error::new(
                    ErrorKind::WriteZero,
                    "the socket accepted no more bytes",
                ));
            }
            Ok(Ok(sent)) => data = &data[sent..],
            Ok(Err(error)) => return Err(error),
            Err(_elapsed) => return Err(late(length - data.len())),
        }
    }
    Ok(())
}
// ANCHOR_END: sendall

// ANCHOR: listen
/// A listening socket made one system call at a time, as in step 5.
fn listen(address: SocketAddr) -> io::Result<TcpListener> {
    // Tokio's `TcpSocket` makes its socket non-blocking from the start, as
    // the runtime needs: a blocking socket handed to the runtime (socket2,
    // then `TcpListener::from_std` without `set_nonblocking(true)` first)
    // would make `accept` block a worker thread and every task queued on it.
    let socket = match address {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    // While every slot is busy, new clients wait here with their handshake
    // done, and are accepted as slots free up: the backlog of step 6.
    socket.listen(128)
}
// ANCHOR_END: listen

// ANCHOR: server
// ANCHOR: runtime
fn server(address: SocketAddr, options: &ServerOptions) -> io::Result<()> {
    // The default runtime: one worker thread per core, which run the tasks,
    // and the I/O driver, which tells them when a socket is ready. The
    // accept loop, `serve`, is a task too, not run by this thread itself:
    // a task spawned from a worker thread is queued on that worker and
    // runs there next, where one spawned from outside the workers must be
    // handed to one and wake it: system calls on both sides, for every
    // connection.
    // (This thread waits for `serve` to end; a panic in it, a `JoinError`
    // here, ends the program first.)
    let options = *options;
    Runtime::new()?.block_on(async move {
        tokio::spawn(serve(address, options))
            .await
            .map_err(io::Error::other)?
    })
}
// ANCHOR_END: runtime

async fn serve(address: SocketAddr, options: ServerOptions) -> io::Result<()> {
    // First, so that a Ctrl-C from anyone who has seen a line of ours is
    // ours to handle, and does not kill the server.
    let mut interrupts = ctrl_c()?;
    let listener = listen(address)?;
    println!("Listening at {}", listener.local_addr()?);
    let limit = permits(options.max_connections);
    let slots = Arc::new(Semaphore::new(limit as usize));
    let in_progress = Arc::new(InProgress::default());
    // `println!` blocks the thread until the line is written; each line is
    // short and written at once, so the other tasks hardly wait. (It locks
    // standard output for each line, so the tasks' lines never mix.)
    println!("Waiting for a new connection");
    // ANCHOR: accept_loop
    loop {
        let (permit, accepted) = tokio::select! {
            _ = interrupts.recv() => break,
            next = async {
                // No `accept` while every slot is busy: clients wait in
                // the backlog, as in step 6. Ctrl-C ends this wait too.
                let permit = Arc::clone(&slots).acquire_owned().await;
                (permit, listener.accept().await)
            } => next,
        };
        let (conn, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                eprintln!("error: accept: {error}");
                if !about_one_connection(&error) {
                    // Out of file descriptors or memory: only a connection
                    // that ends frees some, and `accept` would fail again
                    // at once. The pause is a timer: the tasks run on.
                    tokio::time::sleep(ACCEPT_PAUSE).await;
                }
                continue;
            }
        };
        let permit = permit.expect("the semaphore is never closed");
        println!("Connection from {peer}");
        // The clock starts now: the client has `timeout` for the whole
        // conversation, however it spreads its bytes.
        let deadline = Instant::now() + options.timeout;
        in_progress.start();
        let in_progress = Arc::clone(&in_progress);
        // The task owns everything it uses: the connection, a count to
        // report to, and its permit, which frees its slot when dropped.
        tokio::spawn(async move {
            if let Err(error) = converse(conn, peer, deadline).await {
                // This client broke off or ran out of time; the others
                // are not affected.
                eprintln!("error: connection from {peer}: {error}");
            }
            finished(&in_progress);
            // Last, so that this task's lines come before those of the
            // client its slot lets in, and before the server exits.
            drop(permit);
        });
    }
    // ANCHOR_END: accept_loop
    // ANCHOR: drain
    // Closed now, new clients are refused at once instead of waiting in
    // the backlog for an `accept` that will not come.
    drop(listener);
    println!(
        "Interrupted: accepting no more connections, finishing {} in progress",
        in_progress.stop()
    );
    // Every permit back means every task has ended.
    tokio::select! {
        _ = slots.acquire_many(limit) => Ok(()),
        // The user will not wait for the connections in progress.
        _ = interrupts.recv() => std::process::exit(130), // 128 + SIGINT
    }
    // ANCHOR_END: drain
}
// ANCHOR_END: server

/// The number of permits for `max_connections`, which `acquire_many` counts
/// in a `u32`. A larger limit is beyond what any system allows a process
/// in file descriptors, so lowering it changes nothing.
fn permits(max_connections: NonZeroUsize) -> u32 {
    let most = Semaphore::MAX_PERMITS.min(u32::MAX as usize);
    max_connections.get().min(most) as u32
}

/// How long the accept loop waits after `accept` failed for want of
/// resources, before it tries again: long enough not to spin, short enough
/// that clients in the backlog hardly notice.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Whether `accept` failed because of one connection, aborted or reset
/// before we took it (`ECONNABORTED`, `ECONNRESET`): the loop tries again
/// at once. After any other error it pauses for `ACCEPT_PAUSE` first, as
/// step 6 explains.
fn about_one_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    )
}

/// Counts the conversations in progress, for the lines that report them.
/// (The semaphore limits them, but its permits cannot say how many are in
/// progress: the accept loop holds one too while it waits for a client.)
#[derive(Default)]
struct InProgress {
    count: AtomicUsize,
    /// Set on Ctrl-C: from then on the server is finishing, not waiting.
    stopping: AtomicBool,
}

impl InProgress {
    fn start(&self) {
        self.count.fetch_add(1, Ordering::SeqCst);
    }

    /// Counts a conversation that has ended; true if it was the last one
    /// and the server goes on: it is idle.
    fn finish(&self) -> bool {
        // Each side writes its own field, then reads the other's, so at
        // least one of them sees the other's write: a conversation that
        // Ctrl-C's line counts as in progress never says "Waiting" after
        // it. (One that ended a moment before may still say it, even after
        // that line: a harmless race that steps 6 and 7 share.)
        self.count.fetch_sub(1, Ordering::SeqCst) == 1 && !self.stopping.load(Ordering::SeqCst)
    }

    /// Marks the server as stopping and says how many are in progress.
    fn stop(&self) -> usize {
        self.stopping.store(true, Ordering::SeqCst);
        self.count.load(Ordering::SeqCst)
    }
}

/// Counts a conversation that has ended; if it was the last in progress,
/// the server is idle and says so with step 5's line.
fn finished(in_progress: &InProgress) {
    if in_progress.finish() {
        println!("Waiting for a new connection");
    }
}

// ANCHOR: converse
async fn converse(mut conn: TcpStream, peer: SocketAddr, deadline: Instant) -> io::Result<()> {
    println!("  Socket name: {}", conn.local_addr()?);
    // The address `accept` returned, not `conn.peer_addr()`: a client that
    // has already reset the connection has no peer address left to ask for.
    println!("  Socket peer: {peer}");
    let message = recvall(&mut conn, deadline).await?;
    println!("  message from client: b'{}'", message.escape_ascii());
    sendall(&mut conn, b"Goodbye, client!", deadline).await?;
    drop(conn); // closes the connection, as `close()` does in Python
    println!("  Closing socket");
    Ok(())
}
// ANCHOR_END: converse

// ANCHOR: ctrl_c
/// Ctrl-C from now on, as a stream of notifications to `recv`.
///
/// Not `tokio::signal::ctrl_c()`: that future starts listening only when
/// first polled, and listens once. Tokio's handler, once installed, stays
/// for good, so a Ctrl-C that came before the first poll would kill the
/// server (the default action), and one between the first future and the
/// second (the drain's) would be lost. This listens from the moment it is
/// called, and keeps a Ctrl-C that arrives between two `recv`s for the next.
#[cfg(unix)]
fn ctrl_c() -> io::Result<tokio::signal::unix::Signal> {
    use tokio::signal::unix::{SignalKind, signal};
    signal(SignalKind::interrupt())
}

/// Ctrl-C from now on, as a stream of notifications to `recv`.
#[cfg(windows)]
fn ctrl_c() -> io::Result<tokio::signal::windows::CtrlC> {
    tokio::signal::windows::ctrl_c()
}
// ANCHOR_END: ctrl_c

// ANCHOR: client
fn client(addresses: &[SocketAddr], options: &ClientOptions) -> io::Result<()> {
    // One connection has nothing to share out among threads: a runtime on
    // the current thread runs it, with the I/O driver and the timer that
    // `connect` and the deadline need.
    let runtime = Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(talk(addresses, options))
}

async fn talk(addresses: &[SocketAddr], options: &ClientOptions) -> io::Result<()> {
    // Each address HOST resolved to, in order, until one answers: a name
    // such as `localhost` may stand for both ::1 and 127.0.0.1, and the
    // server listens on only one of them.
    let mut sock = connect(addresses, options.connect_timeout).await?;
    println!(
        "Client has been assigned socket name {}",
        sock.local_addr()?
    );
    let deadline = Instant::now() + options.timeout;
    sendall(&mut sock, b"Hi there, server", deadline).await?;
    let reply = recvall(&mut sock, deadline).await?;
    println!("The server said b'{}'", reply.escape_ascii());
    Ok(())
}
// ANCHOR_END: client

// ANCHOR: connect
/// Connects to the first of `addresses` that answers within `limit`,
/// trying them in order; if none does, fails with the last one's error, as
/// step 6's `connect` does.
async fn connect(addresses: &[SocketAddr], limit: Duration) -> io::Result<TcpStream> {
    let mut last_error = None;
    for address in addresses {
        // Without a limit, a server whose host drops our SYNs keeps
        // `connect` waiting while the kernel retries: over two minutes on
        // Linux.
        match timeout(limit, TcpStream::connect(address)).await {
            Ok(Ok(sock)) => return Ok(sock),
            Ok(Err(error)) => last_error = Some(error),
            // What std's `connect_timeout` says, in step 6.
            Err(_elapsed) => {
                last_error = Some(io::Error::new(ErrorKind::TimedOut, "connection timed out"));
            }
        }
    }
    Err(last_error
        .unwrap_or_else(|| io::Error::new(ErrorKind::InvalidInput, "no address to connect to")))
}
// ANCHOR_END: connect
