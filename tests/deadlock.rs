//! The claims of the chapter "Deadlock: when both sides send first"
//! (src/deadlock.md), about the `deadlock` program and an independent
//! Python peer (`tests/peer_deadlock.py`): a client that sends everything
//! before it reads stalls once the bytes in flight fill the socket buffers
//! of both directions, every byte it got into the connection is then in one
//! of those buffers or in the server's hands, both processes sit in `send`,
//! and each fix sends the same bytes through.
//!
//! A stall is shown with a deadline, not a sleep: the client's
//! `--stall-after` gives up once a `write` or `read` has waited that long
//! without moving a byte, and the test watches the connection's queues in
//! `/proc/net/tcp` until they have not moved for a set time. Every wait
//! ends as soon as what it waits for happens; [`PATIENCE`] only stops a
//! broken program from hanging the suite.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use book_tests::{
    Finished, PATIENCE, Server, bin, closed_port, python, repo, run, ss_socket_info, tcp_table_row,
};
use listings::lines_of;
use listings::protocol::{ASSIGNED, WAITING, accepted};
use socket2::SockRef;
use wait_timeout::ChildExt;

/// The server's `--chunk` by default: at most this many bytes are in its
/// hands, read but not yet written back.
const CHUNK: u64 = 1024;

/// The most a send queue may hold beyond its buffer's size: one segment
/// on loopback (its MTU is 65,536).
const OVERSHOOT: u64 = 64 * 1024;

/// How long the connection's queues must stay still for the test to call
/// the connection stalled.
const STILL_FOR: Duration = Duration::from_secs(1);

fn deadlock() -> PathBuf {
    bin("deadlock")
}

fn peer() -> PathBuf {
    repo().join("tests").join("peer_deadlock.py")
}

/// A number from one of the kernel's settings under /proc/sys/net/ipv4/,
/// `index` picking a field of a triple such as `tcp_wmem` (min default max).
fn sysctl(name: &str, index: usize) -> u64 {
    let path = format!("/proc/sys/net/ipv4/{name}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.split_whitespace().nth(index).unwrap().parse().unwrap()
}

/// A message size that must stall the naive client: more than the four
/// buffers could ever hold, each at the largest size autotuning may give it
/// (`tcp_wmem` and `tcp_rmem`'s maxima), and the server's chunk, with a
/// margin. About 76 MB here.
fn certain_stall() -> u64 {
    2 * (sysctl("tcp_wmem", 2) + sysctl("tcp_rmem", 2)) + (1 << 20)
}

/// The two sizes in a line `  send buffer S bytes, receive buffer R bytes`.
fn buffer_sizes(line: &str) -> Option<(u64, u64)> {
    let rest = line.trim_start().strip_prefix("send buffer ")?;
    let (send, rest) = rest.split_once(" bytes, receive buffer ")?;
    let receive = rest.strip_suffix(" bytes")?;
    Some((send.parse().ok()?, receive.parse().ok()?))
}

/// Every pair of buffer sizes the lines show, in order.
fn all_buffer_sizes(text: &str) -> Vec<(u64, u64)> {
    text.lines().filter_map(buffer_sizes).collect()
}

/// The numbers in a client's stall report: (taken by the socket, of how
/// many, come back).
fn stall_report(stderr: &str) -> (u64, u64, u64) {
    let numbers = |text: &str| -> Vec<u64> {
        text.split(|c: char| !c.is_ascii_digit())
            .filter_map(|word| word.parse().ok())
            .collect()
    };
    let report = stderr
        .split_once("stalled: nothing moved for ")
        .unwrap_or_else(|| panic!("no stall report: {stderr:?}"))
        .1;
    let (_, counts) = report.split_once(';').expect("the counts follow a ';'");
    match numbers(counts)[..] {
        [sent, of, back] => (sent, of, back),
        _ => panic!("not a stall report: {stderr:?}"),
    }
}

/// The (read, written back) counts of the server's error line for a
/// connection that failed.
fn server_counts(line: &str) -> (u64, u64) {
    let counts = line
        .split_once("having read ")
        .unwrap_or_else(|| panic!("no counts in {line:?}"))
        .1;
    let (read, rest) = counts.split_once(" bytes and written ").unwrap();
    let written = rest.strip_suffix(" back").unwrap();
    (read.parse().unwrap(), written.parse().unwrap())
}

/// A client process still running: its lines as they come, and its id.
struct Client {
    child: Child,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    /// Every stdout line read so far.
    said: Vec<String>,
}

impl Client {
    fn start<S: AsRef<OsStr>>(
        program: impl AsRef<OsStr>,
        args: impl IntoIterator<Item = S>,
    ) -> Client {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the client starts");
        let stdout = lines_of(child.stdout.take().unwrap());
        let stderr = lines_of(child.stderr.take().unwrap());
        Client {
            child,
            stdout,
            stderr,
            said: Vec::new(),
        }
    }

    /// Waits for a stdout line that starts with `prefix`; returns it.
    fn wait_for(&mut self, prefix: &str) -> String {
        loop {
            let line = self.stdout.recv_timeout(PATIENCE).unwrap_or_else(|e| {
                panic!(
                    "no line starting {prefix:?} ({e:?}); so far {:?}",
                    self.said
                )
            });
            self.said.push(line.clone());
            if line.starts_with(prefix) {
                return line;
            }
        }
    }

    /// Waits for the client to exit; what it printed, the lines already
    /// read included.
    fn finish(mut self) -> Finished {
        let status = self
            .child
            .wait_timeout(PATIENCE)
            .unwrap()
            .unwrap_or_else(|| {
                let _ = self.child.kill();
                panic!("the client was still running after {PATIENCE:?}")
            });
        let rest = |lines: &Receiver<String>, text: &mut String| {
            while let Ok(line) = lines.recv_timeout(PATIENCE) {
                text.push_str(&line);
                text.push('\n');
            }
        };
        let mut stdout: String = self.said.iter().map(|line| format!("{line}\n")).collect();
        rest(&self.stdout, &mut stdout);
        let mut stderr = String::new();
        rest(&self.stderr, &mut stderr);
        Finished {
            status,
            stdout,
            stderr,
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The unsent-or-unacknowledged bytes and the unread bytes of the socket
/// (local, remote), from /proc/net/tcp's `tx_queue:rx_queue` (what `ss`
/// shows as Send-Q and Recv-Q).
fn queues(local: SocketAddr, remote: SocketAddr) -> Option<(u64, u64)> {
    let row = tcp_table_row(local, remote)?;
    let (tx, rx) = row[4].split_once(':')?;
    Some((
        u64::from_str_radix(tx, 16).ok()?,
        u64::from_str_radix(rx, 16).ok()?,
    ))
}

/// Both ends' queues of one connection, the client's first.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Queues {
    client_send: u64,
    client_receive: u64,
    server_send: u64,
    server_receive: u64,
}

/// Watches the connection from `client` to `server` until it is gone from
/// /proc/net/tcp, as it is once the client has given up and exited. Calls
/// `when_still` once, the first time the four queues have not changed for
/// [`STILL_FOR`] with data waiting in the client's send queue. Returns the
/// queues as they were last seen, and for how long they had been so.
/// Fails if the queues never stay still, or the connection is not gone
/// within [`PATIENCE`].
fn watch_until_gone(
    client: SocketAddr,
    server: SocketAddr,
    mut when_still: impl FnMut(),
) -> (Queues, Duration) {
    let started = Instant::now();
    let mut last: Option<(Queues, Instant)> = None;
    let mut seen_still = false;
    loop {
        let now = Instant::now();
        assert!(
            now - started < PATIENCE,
            "the connection was still there after {PATIENCE:?}: {last:?}"
        );
        let sample = queues(client, server).zip(queues(server, client)).map(
            |((client_send, client_receive), (server_send, server_receive))| Queues {
                client_send,
                client_receive,
                server_send,
                server_receive,
            },
        );
        match (sample, last) {
            (None, Some((queues, since))) => {
                assert!(seen_still, "the queues never stood still: {queues:?}");
                return (queues, now - since);
            }
            (None, None) => panic!("the connection {client} -> {server} is not in /proc/net/tcp"),
            (Some(queues), Some((before, since))) if queues == before => {
                if !seen_still && queues.client_send > 0 && now - since >= STILL_FOR {
                    seen_still = true;
                    when_still();
                }
            }
            (Some(queues), _) => last = Some((queues, now)),
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// For the socket (local, remote), as `ss -ti` shows it: its send queue
/// (Send-Q, written and not yet acknowledged), and how much of that has not
/// been sent at all (`notsent`), and whether the receiver's window has held
/// the sending back (`rwnd_limited`).
fn send_queue_and_unsent(local: SocketAddr, remote: SocketAddr) -> (u64, u64, bool) {
    let text = ss_socket_info(local, remote);
    let mut lines = text.lines();
    let row: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert!(row.len() >= 3, "ss for {local} -> {remote}: {text:?}");
    let details: Vec<&str> = lines.flat_map(str::split_whitespace).collect();
    let unsent = details
        .iter()
        .find_map(|word| word.strip_prefix("notsent:"))
        .map_or(0, |n| n.parse().unwrap());
    let window_limited = details.iter().any(|word| word.starts_with("rwnd_limited:"));
    (row[2].parse().unwrap(), unsent, window_limited)
}

/// The system call a single-threaded process is blocked in, by number, from
/// /proc/PID/syscall.
fn blocked_in(pid: u32) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap();
    text.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// The number of `sendto`, the system call behind `send` and Rust's
/// `TcpStream::write` (see `man 2 syscall`, `/usr/include/asm/unistd_64.h`).
#[cfg(target_arch = "x86_64")]
const SENDTO: &str = "44";
#[cfg(target_arch = "aarch64")]
const SENDTO: &str = "206";

fn start_server(args: &[&str]) -> Server {
    let mut server = Server::start(deadlock(), [&["server", "-p", "0"], args].concat());
    assert_eq!(server.next_stdout_line(), WAITING);
    server
}

/// The client program's arguments for the server at `server`, with `more`
/// after them.
fn client_args(server: SocketAddr, more: &[&str]) -> Vec<String> {
    let mut args = vec![
        "client".to_owned(),
        "-p".to_owned(),
        server.port().to_string(),
    ];
    args.extend(more.iter().map(|word| word.to_string()));
    args
}

/// Checks that a Rust client got all `n` bytes back and that the server
/// says it echoed them, then is waiting for its next client.
fn all_came_back(client: &Finished, server: &mut Server, n: &str) {
    assert_eq!(client.code(), Some(0), "{client:#?}");
    assert!(
        client
            .stdout
            .ends_with(&format!("Received all {n} bytes back, upper-cased\n")),
        "{}",
        client.stdout
    );
    server_echoed(server, n);
}

/// Checks that the server's last line about a client says it echoed `n`
/// bytes before the client closed.
fn server_echoed(server: &mut Server, n: &str) {
    let lines = server.wait_for_stdout(WAITING);
    assert_eq!(
        lines.last().map(String::as_str),
        Some(format!("  Echoed {n} bytes; the client closed").as_str()),
        "{lines:?}"
    );
}

// ------------------------------------------------------------ small works

#[test]
fn a_small_message_comes_back_upper_cased() {
    let mut server = start_server(&[]);
    let client = run(deadlock(), client_args(server.address, &[]));
    assert_eq!(client.code(), Some(0), "{client:#?}");
    let lines: Vec<&str> = client.stdout.lines().collect();
    assert!(lines[0].starts_with(ASSIGNED), "{lines:?}");
    assert!(buffer_sizes(lines[1]).is_some(), "{lines:?}");
    assert_eq!(
        lines[2..],
        [
            "Sending 100000 bytes before reading any",
            "Received all 100000 bytes back, upper-cased"
        ]
    );
    let peer: SocketAddr = lines[0][ASSIGNED.len()..].parse().unwrap();
    assert_eq!(server.next_stdout_line(), accepted(peer));
    assert!(buffer_sizes(&server.next_stdout_line()).is_some());
    assert_eq!(
        server.next_stdout_line(),
        "  Echoed 100000 bytes; the client closed"
    );
    assert_eq!(server.next_stdout_line(), WAITING);
}

#[test]
fn the_demo_runs_a_small_message_through_both_roles() {
    let demo = run(deadlock(), [] as [&str; 0]);
    assert_eq!(demo.code(), Some(0), "{demo:#?}");
    assert!(
        demo.stdout
            .contains("server |   Echoed 100000 bytes; the client closed\n"),
        "{}",
        demo.stdout
    );
    assert!(
        demo.stdout
            .contains("client | Received all 100000 bytes back, upper-cased\n"),
        "{}",
        demo.stdout
    );
}

// ----------------------------------------------------------------- stall

#[test]
fn past_the_buffers_both_sides_block_in_send_with_every_byte_in_a_buffer() {
    let mut server = start_server(&[]);
    let n = certain_stall().to_string();
    let mut client = Client::start(
        deadlock(),
        client_args(server.address, &["--bytes", &n, "--stall-after", "2"]),
    );
    let name: SocketAddr = client.wait_for(ASSIGNED)[ASSIGNED.len()..].parse().unwrap();
    client.wait_for("Sending ");

    // The queues stop moving while the client still has most of its
    // message to send, and both programs are blocked in the same system
    // call: send. The client gives up after two seconds of that.
    let client_pid = client.child.id();
    let (stuck, still_for) = watch_until_gone(name, server.address, || {
        assert_eq!(blocked_in(client_pid), SENDTO, "the client");
        assert_eq!(blocked_in(server.pid()), SENDTO, "the server");
        // Nothing in either send queue has even been sent: each kernel
        // waits for the other to make room.
        for (local, remote) in [(name, server.address), (server.address, name)] {
            let (queued, unsent, window_limited) = send_queue_and_unsent(local, remote);
            assert!(
                queued > 0 && unsent == queued && window_limited,
                "{local}: Send-Q {queued}, notsent {unsent}, rwnd_limited {window_limited}"
            );
        }
    });
    assert!(still_for >= STILL_FOR, "{stuck:?} for {still_for:?}");
    let client = client.finish();
    let error = client.one_line_error(1);
    let (sent, of, back) = stall_report(error);
    assert_eq!(of.to_string(), n);
    assert!(sent < of, "{error}");
    assert_eq!(back, 0, "{error}");

    // Its exit resets the connection, and the server says how far it got.
    assert_eq!(server.next_stdout_line(), accepted(name));
    let server_error = server.next_stderr_line();
    assert!(
        server_error.starts_with(&format!(
            "error: connection from {name}: Connection reset by peer"
        )),
        "{server_error}"
    );
    let (read, written) = server_counts(&server_error);

    // Where the bytes were: what the client's socket took is in its send
    // queue, in the server's receive queue, or was read by the server...
    assert_eq!(
        sent,
        stuck.client_send + stuck.server_receive + read,
        "{stuck:?}, server read {read}"
    );
    // ...and what the server read is in its send queue, in the client's
    // receive queue, or still in its hands (less than a chunk).
    let taken_back = stuck.server_send + stuck.client_receive;
    assert!(
        written <= taken_back && taken_back <= read && read - written <= CHUNK,
        "{stuck:?}, server read {read}, wrote {written} back"
    );

    // And so the count is about the sum of the four buffers' sizes, as
    // each side printed them when the stall ended its conversation: below
    // it but for what a send queue may hold beyond its buffer (Linux looks
    // for room before it copies each piece of a write, not after, and a
    // piece can be a segment, up to 64 KiB on loopback).
    let client_sizes = all_buffer_sizes(&client.stdout);
    let server_lines = server.wait_for_stdout(WAITING).join("\n");
    let server_sizes = all_buffer_sizes(&server_lines);
    let (&(client_send, client_receive), &(server_send, server_receive)) =
        (client_sizes.last().unwrap(), server_sizes.last().unwrap());
    assert!(
        sent < client_send + client_receive + server_send + server_receive + 2 * OVERSHOOT + CHUNK,
        "{sent}: {client_sizes:?} {server_sizes:?}"
    );
    eprintln!(
        "stalled after {sent} bytes: client send queue {}, server receive queue {}, \
         server read {read}, wrote back {written}, server send queue {}, client receive \
         queue {}; buffers: client {client_sizes:?}, server {server_sizes:?}",
        stuck.client_send, stuck.server_receive, stuck.server_send, stuck.client_receive
    );

    // The server goes on to the next client.
    let next = run(deadlock(), client_args(server.address, &[]));
    assert_eq!(next.code(), Some(0), "{next:#?}");
}

#[test]
fn left_to_linux_the_send_buffer_grows_to_its_maximum_and_the_receive_buffer_stays() {
    let mut server = start_server(&[]);
    let n = certain_stall().to_string();
    let client = run(
        deadlock(),
        client_args(server.address, &["--bytes", &n, "--stall-after", "1"]),
    );
    client.one_line_error(1);
    let sizes = all_buffer_sizes(&client.stdout);
    let (start, stalled) = (sizes[0], sizes[1]);
    // A receive buffer starts at tcp_rmem's default; a send buffer is sized
    // when the connection is established, at most at tcp_wmem's maximum.
    assert_eq!(start.1, sysctl("tcp_rmem", 1), "{sizes:?}");
    // Here the send buffer grew to that maximum by the stall, and the
    // receive buffer, never read from, stayed as it was.
    assert_eq!(stalled, (sysctl("tcp_wmem", 2), start.1), "{sizes:?}");
    for (send, receive) in [start, stalled] {
        assert!(send <= sysctl("tcp_wmem", 2), "{sizes:?}");
        assert!(receive <= sysctl("tcp_rmem", 2), "{sizes:?}");
    }
    server.next_stderr_line();

    // Before it connects, a socket has tcp_wmem's and tcp_rmem's middle
    // values; connecting resizes the send buffer.
    let fresh = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    assert_eq!(
        fresh.send_buffer_size().unwrap() as u64,
        sysctl("tcp_wmem", 1)
    );
    assert_eq!(
        fresh.recv_buffer_size().unwrap() as u64,
        sysctl("tcp_rmem", 1)
    );
    fresh.connect(&server.address.into()).unwrap();
    assert!(fresh.send_buffer_size().unwrap() as u64 > sysctl("tcp_wmem", 1));
}

#[test]
fn buffers_asked_for_are_doubled_and_keep_that_size_and_the_stall_comes_sooner() {
    let mut server = start_server(&["--buffers", "65536"]);
    let client = run(
        deadlock(),
        client_args(
            server.address,
            &[
                "--bytes",
                "4000000",
                "--buffers",
                "65536",
                "--stall-after",
                "1",
            ],
        ),
    );
    let error = client.one_line_error(1);
    let (sent, _, _) = stall_report(error);
    // Linux doubles what it is asked for, and autotuning leaves it alone:
    // the same at the start and at the stall, at both ends.
    assert_eq!(
        all_buffer_sizes(&client.stdout),
        [(131072, 131072), (131072, 131072)]
    );
    server.next_stderr_line();
    let server_lines = server.wait_for_stdout(WAITING).join("\n");
    assert_eq!(
        all_buffer_sizes(&server_lines),
        [(131072, 131072), (131072, 131072)]
    );
    assert!(sent < 4 * 131072 + 2 * OVERSHOOT + CHUNK, "{error}");

    // The same doubling on any socket, asked through socket2.
    let (a, _) = book_tests::connected_pair();
    let socket = SockRef::from(&a);
    socket.set_send_buffer_size(50_000).unwrap();
    socket.set_recv_buffer_size(50_000).unwrap();
    assert_eq!(socket.send_buffer_size().unwrap(), 100_000);
    assert_eq!(socket.recv_buffer_size().unwrap(), 100_000);
    // A request above net.core.wmem_max is cut to it before the doubling.
    socket.set_send_buffer_size(1 << 30).unwrap();
    let most = std::fs::read_to_string("/proc/sys/net/core/wmem_max").unwrap();
    let most: usize = most.trim().parse().unwrap();
    assert_eq!(socket.send_buffer_size().unwrap(), 2 * most);
}

// ------------------------------------------------------------------ fixes

#[test]
fn the_fixed_client_sends_the_same_bytes_and_gets_them_all_back() {
    let mut server = start_server(&[]);
    let n = certain_stall().to_string();
    let client = run(
        deadlock(),
        client_args(
            server.address,
            &["--bytes", &n, "--fixed", "--stall-after", "5"],
        ),
    );
    all_came_back(&client, &mut server, &n);
}

#[test]
fn turns_smaller_than_the_buffers_complete_and_a_turn_past_them_stalls() {
    let mut server = start_server(&[]);
    let n = certain_stall();
    let address = server.address;
    let in_turns = |turn: u64, stall_after: &str| {
        let (n, turn) = (n.to_string(), turn.to_string());
        let args = [
            "--bytes",
            &n,
            "--in-flight",
            &turn,
            "--stall-after",
            stall_after,
        ];
        run(deadlock(), client_args(address, &args))
    };
    let client = in_turns(65536, "5");
    all_came_back(&client, &mut server, &n.to_string());

    let client = in_turns(n - 1, "1");
    let (sent, _, back) = stall_report(client.one_line_error(1));
    assert!(sent < n - 1 && back == 0, "{client:#?}");
}

// ---------------------------------------------------------------- Python

fn python_server() -> Server {
    let mut command = Command::new(python());
    command.arg(peer()).args(["server", "-p", "0"]);
    Server::start_command(command, book_tests::Output::Apart).unwrap_or_else(|why| panic!("{why}"))
}

#[test]
fn against_a_python_echo_server_the_naive_client_stalls_and_the_fixed_one_completes() {
    let mut server = python_server();
    let n = certain_stall().to_string();
    let naive = run(
        deadlock(),
        client_args(server.address, &["--bytes", &n, "--stall-after", "1"]),
    );
    let (sent, _, back) = stall_report(naive.one_line_error(1));
    assert!(sent.to_string().len() <= n.len() && sent < n.parse().unwrap() && back == 0);
    assert!(
        server
            .next_stderr_line()
            .contains("Connection reset by peer")
    );

    let fixed = run(
        deadlock(),
        client_args(
            server.address,
            &["--bytes", &n, "--fixed", "--stall-after", "5"],
        ),
    );
    assert_eq!(fixed.code(), Some(0), "{fixed:#?}");
    assert!(
        server
            .wait_for_stdout(&format!("python server echoed {n} bytes"))
            .iter()
            .all(|line| line.starts_with("python server: connection from"))
    );
}

#[test]
fn python_clients_against_the_rust_server_stall_the_same_way_and_a_thread_fixes_them() {
    let mut server = start_server(&[]);
    let n = certain_stall().to_string();
    let port = server.port();
    let python_client = |more: &[&str]| {
        let mut args = vec![
            peer().display().to_string(),
            "client".to_owned(),
            "-p".to_owned(),
            port.clone(),
            "--bytes".to_owned(),
            n.clone(),
        ];
        args.extend(more.iter().map(|word| word.to_string()));
        run(python(), args)
    };
    let naive = python_client(&["--stall-after", "1"]);
    let (sent, _, back) = stall_report(naive.one_line_error(1));
    assert!(sent < n.parse().unwrap() && back == 0, "{naive:#?}");
    assert!(
        server
            .next_stderr_line()
            .contains("Connection reset by peer")
    );
    server.wait_for_stdout(WAITING);

    let threaded = python_client(&["--threaded", "--stall-after", "5"]);
    assert_eq!(threaded.code(), Some(0), "{threaded:#?}");
    assert_eq!(
        threaded.stdout.lines().last(),
        Some(format!("python client received all {n} bytes back").as_str())
    );
    server_echoed(&mut server, &n);
}

// ------------------------------------------------------------- bad input

#[test]
fn bad_arguments_and_a_missing_server_get_one_line_and_no_panic() {
    for args in [
        &["client", "--bytes", "0"][..],
        &["client", "--bytes", "lots"],
        &["client", "--bytes", "2000000000"],
        &["client", "--stall-after", "0"],
        &["client", "--fixed", "--in-flight", "100"],
        &["client", "--in-flight", "0"],
        &["client", "--buffers", "-1"],
        &["server", "--chunk", "0"],
        &["server", "--buffers", "0"],
        &["server", "-p", "70000"],
    ] {
        let finished = run(deadlock(), args);
        let line = finished.one_line_error(2);
        assert!(line.starts_with("error: "), "{args:?}: {line}");
    }

    let closed = closed_port();
    let port = closed.port().to_string();
    let refused = run(deadlock(), ["client", "-p", &port]);
    assert_eq!(
        refused.one_line_error(1),
        format!("error: client talking to 127.0.0.1:{port}: Connection refused (os error 111)")
    );

    let server = start_server(&[]);
    let taken = run(deadlock(), ["server", "-p", &server.port()]);
    assert!(
        taken
            .one_line_error(1)
            .ends_with("Address already in use (os error 98)")
    );
}

#[test]
fn the_server_survives_a_client_that_resets_mid_message() {
    let mut server = start_server(&[]);
    let mut sock = TcpStream::connect(server.address).unwrap();
    let name = sock.local_addr().unwrap();
    sock.write_all(b"hello").unwrap();
    let mut back = [0; 5];
    sock.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"HELLO");
    assert_eq!(server.next_stdout_line(), accepted(name));
    sock.write_all(b"more").unwrap();
    book_tests::reset(sock);
    assert!(
        server
            .next_stderr_line()
            .starts_with(&format!("error: connection from {name}: "))
    );
    let next = run(deadlock(), client_args(server.address, &[]));
    assert_eq!(next.code(), Some(0), "{next:#?}");
}
