//! The exercises of "Deadlock: when both sides send first"
//! (src/deadlock.md): a client that reads on a scoped thread, and a server
//! that reads ahead on a thread of its own.
//!
//! Each sends far more than the socket buffers hold (with `--buffers
//! 65536`, the naive order stalls after about half a megabyte; left to
//! Linux, after about 8 MB), so that a program that still deadlocks
//! stalls, and gives up after `--stall-after`, well within [`PATIENCE`].

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;

use book_tests::{Finished, Output, PATIENCE, Server, bin, python, repo, reset, run_command};
use listings::protocol::WAITING;

use super::support::{expect_line, next_line_until, with_last_words};

/// How long a client may see nothing move before it gives up: far longer
/// than anything takes that is not stuck.
const STALL_AFTER: &str = "10";

/// `command` started as a server, once it has said where it listens.
fn start(mut command: Command) -> Result<Server, String> {
    command.env("PYTHONUNBUFFERED", "1");
    Server::start_command(command, Output::Merged)
}

/// `tests/peer_deadlock.py` with `args`.
fn python_peer(args: &[&str]) -> Command {
    let mut command = Command::new(python());
    command
        .arg(repo().join("tests").join("peer_deadlock.py"))
        .args(args);
    command
}

/// Runs `command` as a client, and checks that it ended well, with `last`
/// as its last line.
fn client(command: Command, last: &str) -> Result<(), String> {
    let shown = format!("{command:?}");
    let finished: Finished = run_command(command, Output::Merged)?;
    match finished.stdout.lines().last() {
        Some(line) if finished.code() == Some(0) && line == last => Ok(()),
        _ => Err(format!(
            "{shown} should end with {last:?}; it printed {:?} and ended with {}",
            finished.stdout, finished.status
        )),
    }
}

fn scoped_reader(program: &Path) -> Result<(), String> {
    let mut command = Command::new(bin("deadlock"));
    command.args(["server", "-p", "0", "--buffers", "65536"]);
    let server = start(command)?;
    let mut yours = Command::new(program);
    yours.args(["client", "-p", &server.port()]).args([
        "--bytes",
        "3000000",
        "--buffers",
        "65536",
        "--stall-after",
        STALL_AFTER,
    ]);
    client(yours, "Received all 3000000 bytes back, upper-cased")
        .map_err(|why| format!("against `deadlock server --buffers 65536`: {why}"))?;

    // Against an independent server, whose buffers Linux sizes.
    let python_server = start(python_peer(&["server", "-p", "0"]))?;
    let mut yours = Command::new(program);
    yours.args(["client", "-p", &python_server.port()]).args([
        "--bytes",
        "20000000",
        "--stall-after",
        STALL_AFTER,
    ]);
    client(yours, "Received all 20000000 bytes back, upper-cased")
        .map_err(|why| format!("against tests/peer_deadlock.py's server: {why}"))
}

/// Waits for the server to say that it echoed `bytes` to a client.
fn echoed(server: &mut Server, bytes: u64) -> Result<(), String> {
    let expected = format!("  Echoed {bytes} bytes; the client closed");
    expect_line(server, "  Echoed ", &expected)
}

fn server_reads_ahead(program: &Path) -> Result<(), String> {
    let mut command = Command::new(program);
    command.args(["server", "-p", "0", "--buffers", "65536"]);
    let mut server = start(command)?;
    echoes_for_naive_clients(&mut server).map_err(|why| with_last_words(why, server))
}

/// `deadlock`'s naive client, a client that resets, and the Python peer's
/// naive client, one after the other.
fn echoes_for_naive_clients(server: &mut Server) -> Result<(), String> {
    next_line_until(server, |line| line == WAITING)?;
    let port = server.port();

    // `deadlock`'s naive client: everything, then the reply.
    let mut naive = Command::new(bin("deadlock"));
    naive.args(["client", "-p", &port]).args([
        "--bytes",
        "3000000",
        "--buffers",
        "65536",
        "--stall-after",
        STALL_AFTER,
    ]);
    client(naive, "Received all 3000000 bytes back, upper-cased")
        .map_err(|why| format!("`deadlock client --bytes 3000000 --buffers 65536`: {why}"))?;
    echoed(server, 3_000_000)?;

    // A client that resets the connection while the server has plenty
    // to write back to it costs that connection only.
    let failed = |e: std::io::Error| format!("a client that resets: {e}");
    let mut rude = TcpStream::connect(server.address).map_err(failed)?;
    rude.set_write_timeout(Some(PATIENCE)).map_err(failed)?;
    rude.write_all(&[b'x'; 100_000]).map_err(failed)?;
    reset(rude);
    next_line_until(server, |line| line.starts_with("error: "))
        .map_err(|why| format!("waiting for the line about a client that reset: {why}"))?;

    // The Python peer's naive client, next.
    let python_client = python_peer(&[
        "client",
        "-p",
        &port,
        "--bytes",
        "3000000",
        "--stall-after",
        STALL_AFTER,
    ]);
    client(
        python_client,
        "python client received all 3000000 bytes back",
    )
    .map_err(|why| {
        format!("after a client that reset, tests/peer_deadlock.py's naive client: {why}")
    })?;
    echoed(server, 3_000_000)
}

exercise!(deadlock_1_scoped_reader, super::scoped_reader);
exercise!(deadlock_2_server_reads_ahead, super::server_reads_ahead);
