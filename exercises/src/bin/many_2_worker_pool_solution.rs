//! A solution: step 7's idea, simpler: a pool of `--workers` threads, started once,
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

// ANCHOR: solution
/// What each thread of the pool does, for as long as the server runs: take
/// the next client from the shared listener, talk with it, and again.
fn worker(listener: &TcpListener, timeout: Duration) {
    loop {
        // Every idle worker waits here, on the same socket; while all of
        // them are in a conversation, new clients wait in the backlog.
        let (conn, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(error) => {
                eprintln!("error: accept: {error}");
                if !about_one_connection(&error) {
                    // Only a conversation that ends frees what `accept`
                    // lacks: trying again at once would spin.
                    thread::sleep(Duration::from_millis(100));
                }
                continue;
            }
        };
        println!("Connection from {peer}");
        // The clock starts now, as in step 6.
        let deadline = Instant::now() + timeout;
        if let Err(error) = serving::converse(conn, peer, deadline) {
            // This client broke off or ran out of time: this worker goes
            // back to `accept`, and the others never noticed.
            eprintln!("error: connection from {peer}: {error}");
        }
    }
}
// ANCHOR_END: solution

/// Whether `accept` failed because of one connection, aborted or reset
/// before a worker took it: the worker tries again at once. After any other
/// error (out of file descriptors, say) it pauses first, as in step 6.
fn about_one_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}
