//! The claims of the chapter "Many clients at once" (src/many-clients.md):
//! step 7 (a fixed pool of `--max-connections` threads, each in `accept` on
//! one shared listener) and step 8 (Tokio: a task per connection, a
//! semaphore for the limit) keep every promise step 6 makes, and differ
//! from it, and from each other, in what serving a connection costs.
//!
//! The promises are checked by the functions step 6's own tests run, in the
//! support library's `robust` module (tests/support/robust.rs): the battery
//! of misbehaving clients, 100 clients at once, the deadline, the limit,
//! Ctrl-C, running out of file descriptors, and the client that gives up.
//! Each is a test here per step, named after the step, so that a failure
//! says which program broke the promise.
//!
//! The difference is read from `/proc/<pid>/status` (Linux): how many
//! threads the server runs while it holds connections open. Step 6 starts
//! one per connection, step 7 has its pool from the start and starts no
//! more, and step 8 serves them all on the runtime's few threads. These are
//! counts, not timings: each is read once the server has taken the
//! connection in, as the line it prints about that connection says.

use std::net::TcpStream;

use std::process::Command;

use book_tests::robust::{self, start};
use book_tests::{Output, Server, bin, good_client, run};
use listings::protocol::REPLY;
use listings::protocol::SOCKET_PEER;

// ---------------------------------------------------------------------------
// Step 6's promises, kept by step 7
// ---------------------------------------------------------------------------

#[test]
fn step7_survives_the_battery_and_keeps_no_descriptors() {
    robust::battery("step7");
}

#[test]
fn step7_serves_100_concurrent_clients() {
    robust::serves_100_concurrent_clients("step7");
}

#[test]
fn step7_serves_others_while_a_silent_client_is_connected() {
    robust::serves_others_while_a_silent_client_is_connected("step7");
}

#[test]
fn step7_drops_a_silent_client_at_the_deadline() {
    robust::drops_a_silent_client_at_the_deadline("step7");
}

#[test]
fn step7_cuts_off_a_client_that_drips_one_byte_at_a_time() {
    robust::cuts_off_a_client_that_drips_one_byte_at_a_time("step7");
}

#[test]
fn step7_accepts_no_more_than_max_connections_at_once() {
    robust::accepts_no_more_than_max_connections_at_once("step7");
}

#[test]
fn step7_on_ctrl_c_refuses_new_clients_and_finishes_the_one_in_progress() {
    robust::on_ctrl_c_refuses_new_clients_and_finishes_the_one_in_progress("step7");
}

#[test]
fn step7_on_ctrl_c_while_idle_exits_at_once() {
    robust::on_ctrl_c_while_idle_exits_at_once("step7");
}

#[test]
fn step7_on_a_second_ctrl_c_exits_without_waiting() {
    robust::on_a_second_ctrl_c_exits_without_waiting("step7");
}

#[test]
fn step7_refuses_a_pool_larger_than_its_open_file_limit() {
    // On Linux each worker waiting in `accept` holds a descriptor: a pool of
    // 64 under a limit of 16 would fail in `accept` over and over while
    // idle, so step 7 refuses it. A pool that fits has a descriptor for
    // every connection it serves, and cannot run out.
    let refused = run(
        "prlimit",
        [
            "--nofile=16",
            "--",
            bin("step7").to_str().unwrap(),
            "server",
            "-p",
            "0",
        ],
    );
    let line = refused.one_line_error(1);
    assert!(
        line.contains("a pool of 64 workers needs 72 open files") && line.contains("may open 16"),
        "{line}"
    );
    let mut fits = Command::new("prlimit");
    fits.args(["--nofile=16", "--"]).arg(bin("step7"));
    fits.args(["server", "-p", "0", "--max-connections", "8"]);
    let mut server = Server::start_command(fits, Output::Apart).unwrap();
    for n in 0..20 {
        let reply = good_client(server.address).unwrap_or_else(|e| panic!("client {n}: {e}"));
        assert_eq!(&reply, REPLY);
    }
    assert!(server.is_running());
}

#[test]
fn step7_client_gives_up_on_a_server_that_never_completes_the_handshake() {
    robust::client_gives_up_on_a_server_that_never_completes_the_handshake("step7");
}

#[test]
fn step7_client_is_refused_at_once_whatever_its_connect_timeout() {
    robust::client_is_refused_at_once_whatever_its_connect_timeout("step7");
}

#[test]
fn step7_client_gives_up_on_a_server_that_never_replies() {
    robust::client_gives_up_on_a_server_that_never_replies("step7");
}

// ---------------------------------------------------------------------------
// Step 6's promises, kept by step 8
// ---------------------------------------------------------------------------

#[test]
fn step8_survives_the_battery_and_keeps_no_descriptors() {
    robust::battery("step8");
}

#[test]
fn step8_serves_100_concurrent_clients() {
    robust::serves_100_concurrent_clients("step8");
}

#[test]
fn step8_serves_others_while_a_silent_client_is_connected() {
    robust::serves_others_while_a_silent_client_is_connected("step8");
}

#[test]
fn step8_drops_a_silent_client_at_the_deadline() {
    robust::drops_a_silent_client_at_the_deadline("step8");
}

#[test]
fn step8_cuts_off_a_client_that_drips_one_byte_at_a_time() {
    robust::cuts_off_a_client_that_drips_one_byte_at_a_time("step8");
}

#[test]
fn step8_accepts_no_more_than_max_connections_at_once() {
    robust::accepts_no_more_than_max_connections_at_once("step8");
}

#[test]
fn step8_on_ctrl_c_refuses_new_clients_and_finishes_the_one_in_progress() {
    robust::on_ctrl_c_refuses_new_clients_and_finishes_the_one_in_progress("step8");
}

#[test]
fn step8_on_ctrl_c_while_idle_exits_at_once() {
    robust::on_ctrl_c_while_idle_exits_at_once("step8");
}

#[test]
fn step8_on_a_second_ctrl_c_exits_without_waiting() {
    robust::on_a_second_ctrl_c_exits_without_waiting("step8");
}

#[test]
fn step8_survives_running_out_of_file_descriptors() {
    robust::survives_running_out_of_file_descriptors("step8");
}

#[test]
fn step8_client_gives_up_on_a_server_that_never_completes_the_handshake() {
    robust::client_gives_up_on_a_server_that_never_completes_the_handshake("step8");
}

#[test]
fn step8_client_is_refused_at_once_whatever_its_connect_timeout() {
    robust::client_is_refused_at_once_whatever_its_connect_timeout("step8");
}

#[test]
fn step8_client_gives_up_on_a_server_that_never_replies() {
    robust::client_gives_up_on_a_server_that_never_replies("step8");
}

// ---------------------------------------------------------------------------
// What a connection costs: threads
// ---------------------------------------------------------------------------

/// A server and the silent clients it holds open.
struct Holding {
    _server: Server,
    _clients: Vec<TcpStream>,
    /// The server's thread count with no client, then with each client
    /// more: `threads[k]` while it holds `k` connections.
    threads: Vec<usize>,
}

/// Starts `step`'s server with `options`, then connects `held` clients that
/// say nothing, one after another, and counts the server's threads before
/// the first and after each. A client counts as held once the server has
/// printed its "Socket peer" line, which comes from whatever serves the
/// connection (step 6's new thread, step 7's worker, step 8's task), so
/// that the count is read after the server has done all it does for a new
/// connection, and before the client's `--timeout` (long) could end it.
fn threads_while_holding(step: &str, options: &[&str], held: usize) -> Holding {
    let mut server = start(step, options);
    let mut threads = vec![server.threads()];
    let mut clients = Vec::new();
    for _ in 0..held {
        let client = TcpStream::connect(server.address).unwrap();
        let name = client.local_addr().unwrap();
        server.wait_for_stdout(&format!("{SOCKET_PEER}{name}"));
        clients.push(client);
        threads.push(server.threads());
    }
    assert!(server.is_running(), "{step}");
    Holding {
        _server: server,
        _clients: clients,
        threads,
    }
}

/// How many connections the thread tests hold open: at least 50, and
/// enough that a runtime with a thread per CPU stays far below it on a
/// machine with many CPUs.
fn many() -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    50.max(4 * cpus)
}

#[test]
fn step6_starts_a_thread_for_each_connection() {
    let holding = threads_while_holding("step6", &["--timeout", "30"], 10);
    let first = holding.threads[0];
    let expected: Vec<usize> = (first..=first + 10).collect();
    assert_eq!(
        holding.threads, expected,
        "step 6's threads with 0, 1, ... 10 connections open"
    );
}

#[test]
fn step7_starts_its_whole_pool_before_any_client() {
    // The count once the server says it is waiting, before any client.
    let idle = |max: &str| start("step7", &["--max-connections", max]).threads();
    let (eight, sixteen) = (idle("8"), idle("16"));
    assert!(
        eight >= 8,
        "step 7 with --max-connections 8 runs {eight} threads before any client"
    );
    // One thread per slot: eight more slots, eight more threads.
    assert_eq!(
        sixteen - eight,
        8,
        "step 7 runs {eight} threads with --max-connections 8, {sixteen} with 16"
    );
}

#[test]
fn step7_keeps_the_same_threads_however_many_connections_it_holds() {
    let held = many();
    let max = (held + 14).to_string();
    let holding = threads_while_holding(
        "step7",
        &["--max-connections", &max, "--timeout", "30"],
        held,
    );
    let first = holding.threads[0];
    assert!(
        holding.threads.iter().all(|&count| count == first),
        "step 7's threads with 0, 1, ... {held} connections open: {:?}",
        holding.threads
    );
    assert!(
        first > held,
        "step 7 with --max-connections {max} runs only {first} threads"
    );
}

#[test]
fn step8_serves_many_connections_with_the_same_few_threads() {
    let held = many();
    let max = (held + 14).to_string();
    let holding = threads_while_holding(
        "step8",
        &["--max-connections", &max, "--timeout", "30"],
        held,
    );
    let first = holding.threads[0];
    assert!(
        holding.threads.iter().all(|&count| count == first),
        "step 8's threads with 0, 1, ... {held} connections open: {:?}",
        holding.threads
    );
    assert!(
        first < held / 2,
        "step 8 runs {first} threads, holding {held} connections"
    );
}

// ---------------------------------------------------------------------------
// What a task holds
// ---------------------------------------------------------------------------

/// Step 8's conversation, copied by the build script from the anchors the
/// book shows it with.
mod step8 {
    use std::io::{self, ErrorKind};
    use std::net::SocketAddr;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio::time::{Instant, timeout_at};

    /// Stands in for step 8's own, which is outside the anchors.
    fn too_late(received: usize) -> io::Error {
        io::Error::new(ErrorKind::TimedOut, format!("{received} bytes"))
    }

    include!(concat!(env!("OUT_DIR"), "/listings/step8_recvall.rs"));
    include!(concat!(env!("OUT_DIR"), "/listings/step8_sendall.rs"));
    include!(concat!(env!("OUT_DIR"), "/listings/step8_converse.rs"));
}

/// The chapter says a task is the state of one conversation in a few
/// hundred bytes, where a thread reserves a 2 MiB stack: the future that
/// step 8 spawns for a connection (its `converse`, with `recvall`'s and
/// `sendall`'s state inside it) must stay under a kilobyte.
#[test]
fn a_step8_conversation_is_a_future_of_a_few_hundred_bytes() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let _client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (conn, peer) = listener.accept().await.unwrap();
        let conversation = step8::converse(conn, peer, tokio::time::Instant::now());
        let size = std::mem::size_of_val(&conversation);
        assert!(
            (100..1024).contains(&size),
            "step 8's conversation is a future of {size} bytes"
        );
    });
}
