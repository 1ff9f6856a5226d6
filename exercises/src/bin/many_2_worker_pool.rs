//! Step 7's idea, simpler: a pool of `--workers` threads, started once,
//! each taking clients from the one listening socket they share.
//!
//! Left out of step 7 (`listings/src/bin/step7.rs`): the Ctrl-C handling
//! and the lock around the listener that it needs (Ctrl-C simply ends this
//! server), and the check that the pool fits the limit of open files. The
//! conversation and the client are step 6's, from the book's `listings`
//! library.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use clap::Args;
use listings::seconds;
use listings::serving::{self, ClientLimits};

/// The server's options, beyond HOST and -p.
#[derive(Args)]
struct ServerOptions {
    /// Worker threads in the pool, so the most clients served at once; more wait, connected, in the listen backlog
    #[arg(long, value_name = "N", default_value = "4")]
    workers: NonZeroUsize,
    /// Seconds each client has, from being accepted, to send its message and take the reply
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = seconds)]
    timeout: Duration,
}

fn main() -> ExitCode {
    // The command line and the demo: scaffolding from the book's `listings`
    // crate, which also has step 6's client.
    listings::run_with(server, client)
}

fn client(addresses: &[SocketAddr], limits: &ClientLimits) -> io::Result<()> {
    serving::client(addresses, limits)
}

fn server(address: SocketAddr, options: &ServerOptions) -> io::Result<()> {
    let listener = TcpListener::bind(address)?;
    let listening_at = listener.local_addr()?;
    // A scope, so that the workers may borrow the listener: `accept` takes
    // `&self`, and the kernel hands each new connection to one of the
    // threads waiting in it.
    let workers = options.workers.get();
    thread::scope(|scope| {
        for started in 0..workers {
            let listener = &listener;
            let spawned = thread::Builder::new()
                .spawn_scoped(scope, move || worker(listener, options.timeout));
            if let Err(error) = spawned {
                // The scope would wait for the workers already started,
                // which never return: ending the process is how to stop.
                eprintln!(
                    "error: cannot start worker {} of {workers}: {error}",
                    started + 1
                );
                std::process::exit(1);
            }
        }
        // Only once the whole pool has started: a client that waits for
        // this line meets every worker.
        println!("Listening at {listening_at}");
        println!("Waiting for a new connection");
    });
    // Never reached: the workers serve until the process ends.
    Ok(())
}

// ANCHOR: task
/// What each thread of the pool does, for as long as the server runs: take
/// the next client from the shared listener, talk with it, and again.
fn worker(_listener: &TcpListener, _timeout: Duration) {
    // What a worker needs is in scope already.
    let _ = (Instant::now, serving::converse, about_one_connection);
    todo!(
        "loop: `listener.accept()`; on a connection, print `Connection from PEER` \
         and call `serving::converse(conn, peer, deadline)` with a deadline \
         `timeout` from now, and report its error on stderr (`error: ...`); on an \
         accept error, report it, and pause 100 ms unless `about_one_connection`"
    )
}
// ANCHOR_END: task

/// Whether `accept` failed because of one connection, aborted or reset
/// before a worker took it: the worker tries again at once. After any other
/// error (out of file descriptors, say) it pauses first, as in step 6.
fn about_one_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}
