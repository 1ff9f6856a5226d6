//! Step 7: a pool of workers.
//!
//! Step 6 starts a thread for every connection it accepts, and lets it end
//! with the conversation: creating and ending a thread is work done again
//! for each client, and a burst of clients is met by a burst of thread
//! creation. This step serves the same clients, with the same protocol,
//! output and options, but starts its threads once: a pool of
//! `--max-connections` workers, each running the accept loop itself on the
//! one listening socket they share. The kernel hands each new connection to
//! one of the threads waiting in `accept`, and nothing is started per
//! connection.
//!
//! The price is a fixed ceiling. A pool of N serves N clients at once and no
//! more: the next ones wait in the listen backlog, as they do in step 6
//! when every slot is busy. And the pool costs N threads (their stacks,
//! their place among the kernel's threads; on Linux, a file descriptor
//! each, which a waiting `accept` holds for the connection to come) even
//! while no client is connected, where step 6 pays only for the
//! conversations in progress.
//!
//! Ctrl-C must still close the listening socket while the conversations in
//! progress go on, and now several threads, not one, may be blocked in
//! `accept` on it; see `close`.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread;
use std::time::{Duration, Instant};

use clap::Args;
// Step 6's conversation, client and handling of a failed `accept`.
use listings::serving::{self, ACCEPT_PAUSE, ClientLimits, about_one_connection, reachable};
use listings::{Admission, Finished, Slots, Stop, seconds};
use socket2::{Domain, Protocol, Socket, Type};

// ANCHOR: options
/// The server's limits, beyond HOST and -p.
#[derive(Args)]
struct ServerOptions {
    /// Worker threads in the pool, so the most clients served at once; more wait, connected, in the listen backlog
    #[arg(long, value_name = "N", default_value = "64")]
    max_connections: NonZeroUsize,
    /// Seconds each client has, from being accepted, to send its message and take the reply
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = seconds)]
    timeout: Duration,
}
// ANCHOR_END: options

fn main() -> ExitCode {
    // The client's options, `--connect-timeout` and `--timeout`, are step
    // 6's: `ClientLimits`, from the book's `listings` crate, as is the
    // command line and the demo that runs with no arguments.
    listings::run_with(server, client)
}

// ANCHOR: listen
/// A listening socket made one system call at a time, as in step 5, whose
/// backlog holds `backlog` connections that no worker has taken yet.
fn listen(address: SocketAddr, backlog: i32) -> io::Result<TcpListener> {
    let socket = new_socket(address)?;
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    socket.listen(backlog)?;
    Ok(socket.into())
}
// ANCHOR_END: listen

// ANCHOR: server
fn server(address: SocketAddr, options: &ServerOptions) -> io::Result<()> {
    let workers = options.max_connections.get();
    pool_fits_open_file_limit(workers)?;
    // Clients beyond the pool wait in the backlog, as in step 6; on Ctrl-C,
    // so may the wake-up calls, up to one for each worker (see `close`).
    // Hence 128, as in step 6, or the pool's size if that is larger. (The
    // kernel may hold fewer: Linux caps it at `net.core.somaxconn`.)
    let backlog = i32::try_from(workers).unwrap_or(i32::MAX).max(128);
    let listener = listen(address, backlog)?;
    let listening_at = listener.local_addr()?;
    let slots = Arc::new(Slots::new(options.max_connections));
    let ctrl_c = stop_on_ctrl_c(Arc::clone(&slots))?;
    let listener = SharedListener::new(listener);
    let wake_up = SocketAddr::new(reachable(listening_at.ip()), listening_at.port());
    // Made now, while there are descriptors to be had (see `close`).
    let first_call = new_socket(wake_up)?;
    // A scope, so that the workers may borrow the listener and `slots`, and
    // so that the function returns only once every one of them has left.
    thread::scope(|scope| {
        for started in 0..workers {
            let spawned = thread::Builder::new()
                .spawn_scoped(scope, || worker(&listener, &slots, options.timeout));
            if let Err(error) = spawned {
                // A pool smaller than asked for would be a ceiling nobody
                // chose: stop the workers already started, and say why.
                slots.stop();
                listener.close(wake_up, first_call);
                return Err(io::Error::new(
                    error.kind(),
                    format!("cannot start worker {} of {workers}: {error}", started + 1),
                ));
            }
        }
        // Said only once every worker has started: a client that waits for
        // these lines before it connects meets the whole pool, never a pool
        // still starting (until then, the kernel holds it in the backlog).
        println!("Listening at {listening_at}");
        println!("Waiting for a new connection");
        // The workers do the serving; this thread only waits for Ctrl-C.
        // (`recv` fails only if the handler were gone: stop then, too.)
        let _ = ctrl_c.recv();
        listener.close(wake_up, first_call);
        // Closed now: new clients are refused at once, while the workers
        // still in a conversation finish it.
        println!(
            "Interrupted: accepting no more connections, finishing {} in progress",
            slots.in_progress()
        );
        Ok(())
    })
}
// ANCHOR_END: server

// ANCHOR: worker
/// What each thread of the pool does, from start-up to Ctrl-C: take the next
/// client from the shared listener, talk with it, and again.
fn worker(listener: &SharedListener, slots: &Slots, timeout: Duration) {
    // `None`: Ctrl-C, the listener is closing or closed.
    while let Some(accepted) = listener.accept() {
        let (conn, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                eprintln!("error: accept: {error}");
                if !about_one_connection(&error) {
                    // Out of file descriptors or memory, as in step 6: wait
                    // for a conversation to end and free some, instead of
                    // failing again at once. Each worker pauses on its own.
                    thread::sleep(ACCEPT_PAUSE);
                }
                continue;
            }
        };
        if slots.start() == Admission::Stopping {
            // Ctrl-C: this is a wake-up call from `close` (or a client that
            // came a moment too late). Dropping it closes it.
            break;
        }
        println!("Connection from {peer}");
        // The clock starts now, as in step 6.
        let deadline = Instant::now() + timeout;
        if let Err(error) = serving::converse(conn, peer, deadline) {
            // This client broke off or ran out of time; this worker goes
            // back to `accept`, and the others are not affected.
            eprintln!("error: connection from {peer}: {error}");
        }
        if slots.finish() == Finished::Idle {
            println!("Waiting for a new connection");
        }
    }
}
// ANCHOR_END: worker

// ANCHOR: pool_fits
/// Refuses a pool that could not wait in `accept` all at once.
///
/// On Linux, `accept` takes the file descriptor for the connection to come
/// before it waits for one, so each worker waiting there holds one. In a
/// pool larger than the process's limit of open files, the workers beyond
/// it fail in `accept` at once (`EMFILE`), pause and fail again, with no
/// client in sight. Wherever `accept` waits without one, a full pool still
/// holds a descriptor per worker, one per connection. A pool is a ceiling
/// chosen in advance; one that cannot be had is better refused at start-up,
/// with the reason.
#[cfg(unix)]
fn pool_fits_open_file_limit(workers: usize) -> io::Result<()> {
    let (soft_limit, _) = rlimit::getrlimit(rlimit::Resource::NOFILE)?;
    // The program's own: the standard streams, the listener, the wake-up
    // socket and the Ctrl-C handler's pipe, and a spare.
    const OWN_FILES: u64 = 8;
    let needed = u64::try_from(workers)
        .unwrap_or(u64::MAX)
        .saturating_add(OWN_FILES);
    if needed > soft_limit {
        return Err(io::Error::other(format!(
            "a pool of {workers} workers needs {needed} open files, one for each worker \
             waiting in accept, but this process may open {soft_limit} (see ulimit -n)"
        )));
    }
    Ok(())
}

/// Windows has no such limit on sockets to read.
#[cfg(not(unix))]
fn pool_fits_open_file_limit(_workers: usize) -> io::Result<()> {
    Ok(())
}
// ANCHOR_END: pool_fits

// ANCHOR: shared_listener
/// The listening socket the pool shares, and which workers are in `accept`
/// on it, so that Ctrl-C can get them out and close it.
///
/// A panic ends the whole program (see `listings::run_with`) before it
/// could poison a lock, so no `unwrap` below can fail.
struct SharedListener {
    /// Read-locked by each worker only around its `accept`, so that all of
    /// them may wait there at once; write-locked once, to close it, which
    /// waits until no worker is using it.
    socket: RwLock<Option<TcpListener>>,
    accepting: Mutex<Accepting>,
    /// Signalled whenever a worker comes back from `accept`.
    returned: Condvar,
}

#[derive(Default)]
struct Accepting {
    /// Set by `close`: from then on no worker calls `accept`.
    closing: bool,
    /// Workers in `accept`, or about to call it.
    waiting: usize,
}

impl SharedListener {
    fn new(socket: TcpListener) -> Self {
        SharedListener {
            socket: RwLock::new(Some(socket)),
            accepting: Mutex::default(),
            returned: Condvar::new(),
        }
    }

    /// The next connection, or `None` once the listener is closing.
    fn accept(&self) -> Option<io::Result<(TcpStream, SocketAddr)>> {
        let socket = self.socket.read().unwrap();
        let listener = socket.as_ref()?;
        {
            // The flag and the count under one lock: `close` either sees
            // this worker counted, and wakes it, or this worker sees the
            // flag and does not call `accept`. Never neither.
            let mut accepting = self.accepting.lock().unwrap();
            if accepting.closing {
                return None;
            }
            accepting.waiting += 1;
        }
        let accepted = listener.accept();
        let mut accepting = self.accepting.lock().unwrap();
        accepting.waiting -= 1;
        if accepting.closing {
            // Only `close` waits for this, and only once it has set the
            // flag: no wake-up (a system call) for every other connection.
            self.returned.notify_one();
        }
        Some(accepted)
    }
}
// ANCHOR_END: shared_listener

// ANCHOR: ctrl_c
/// Makes Ctrl-C send a message on the channel returned, which the server's
/// main thread waits for; a second Ctrl-C ends the program at once, for a
/// user who will not wait for the conversations in progress.
fn stop_on_ctrl_c(slots: Arc<Slots>) -> io::Result<Receiver<()>> {
    let (stop, ctrl_c) = mpsc::channel();
    // ctrlc runs this handler on a thread of its own, one call after the
    // other. So it does no more than raise the flag (from now on the
    // workers start no conversation) and pass the stop on: were it busy
    // closing the listener, a second Ctrl-C would wait for it.
    ctrlc::set_handler(move || {
        if slots.stop() == Stop::Again {
            std::process::exit(130); // 128 + SIGINT, as a shell reports it
        }
        let _ = stop.send(());
    })
    .map_err(io::Error::other)?;
    Ok(ctrl_c)
}

impl SharedListener {
    /// Gets every worker out of `accept` and closes the listening socket;
    /// `wake_up` is an address that reaches it, and `first_call` a socket
    /// to call it on.
    ///
    /// Nothing from outside ends a call to `accept` portably (step 6 says
    /// why), and dropping the socket while workers use it is what the lock
    /// forbids. So, as in step 6, we become the clients they are waiting
    /// for: one connection to our own port for each worker counted in
    /// `accept`, each of which takes one, sees Ctrl-C and leaves. Then no
    /// one holds the read lock for long, and the write lock closes it.
    ///
    /// The first call goes out on a socket made at start-up. On Linux, each
    /// worker waiting in `accept` already holds a descriptor for the
    /// connection it will get, so a pool as big as the descriptor limit
    /// leaves none for a new socket; once that first call is taken, the
    /// worker that took it frees one as it leaves.
    fn close(&self, wake_up: SocketAddr, first_call: Socket) {
        let mut first_call = Some(first_call);
        let mut accepting = self.accepting.lock().unwrap();
        accepting.closing = true;
        while accepting.waiting > 0 {
            let waiting = accepting.waiting;
            // Not while connecting: the workers need the lock to leave.
            drop(accepting);
            for _ in 0..waiting {
                // A connection that fails (the backlog full, out of file
                // descriptors) leaves a worker waiting: the next round
                // calls it again. One that no worker takes is reset when
                // the listener closes.
                let _ = call(wake_up, first_call.take());
            }
            // Until every worker has come back, but for a round at most:
            // no spinning, and never waiting forever on a lost wake-up.
            (accepting, _) = self
                .returned
                .wait_timeout_while(self.accepting.lock().unwrap(), WAKE_UP_ROUND, |it| {
                    it.waiting > 0
                })
                .unwrap();
        }
        drop(accepting);
        // Dropping the listener closes it: new clients are refused, and
        // those still in the backlog are reset.
        *self.socket.write().unwrap() = None;
    }
}
// ANCHOR_END: ctrl_c

/// Connects to `address`, on `socket` or else on a new one, and hangs up.
fn call(address: SocketAddr, socket: Option<Socket>) -> io::Result<()> {
    let socket = match socket {
        Some(socket) => socket,
        None => new_socket(address)?,
    };
    socket.connect_timeout(&address.into(), Duration::from_secs(1))
}

/// A TCP socket of the family `address` belongs to, not yet connected.
fn new_socket(address: SocketAddr) -> io::Result<Socket> {
    Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )
}

/// How long `close` waits for the workers it has woken before it wakes
/// those still in `accept` again: a woken worker leaves in a moment, so
/// this is only a safety net for a wake-up call that failed.
const WAKE_UP_ROUND: Duration = Duration::from_millis(100);

// ANCHOR: client
/// Step 6's client, unchanged: the pool is the server's business.
fn client(addresses: &[SocketAddr], options: &ClientLimits) -> io::Result<()> {
    serving::client(addresses, options)
}
// ANCHOR_END: client
