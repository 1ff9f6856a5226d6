//! The claims of the chapter "Watching TCP split your data"
//! (src/watching-tcp-split.md): what the steps do behind the chopper relay
//! it introduces, what the relay itself does, and property tests that run
//! the steps' send and receive loops against doubles that split, interrupt
//! and stall on every schedule proptest can think of.
//!
//! The loops under test are the very functions the book shows: the build
//! script copies the `sendall` anchor of step2.rs and the `recvall` anchors
//! of step4.rs and step5.rs into `OUT_DIR`, and they are included here. Break
//! one of those loops in its step file and these tests fail.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread;
use std::time::Instant;

use book_tests::{
    Finished, PATIENCE, Server, bin, chopper, closed_port, connected_pair, looping_steps, reset,
    run, tcp_table_row, wait_for_the_reset,
};
use listings::doubles::{ChoppyReader, ChoppyWriter, Turn};
use listings::protocol::{
    ACCEPTED, INCOMING, REPLY, REPLY_SENT, REQUEST, WAITING, closed_early, repr, server_said,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestError, TestRng, TestRunner};

// ---------------------------------------------------------------------------
// The steps behind the chopper, and the chopper itself
// ---------------------------------------------------------------------------

/// Runs one step client through a chopper in front of that step's server,
/// and returns what the server says it received and the client's run.
fn exchange_through_chopper(step: &str, extra: &[&str]) -> (String, Finished) {
    let mut server = Server::start(bin(step), ["server", "-p", "0"]);
    let relay = chopper(server.address.port(), extra);
    let client = run(bin(step), ["client", "-p", &relay.port()]);
    let served = server.wait_for_stdout(REPLY_SENT);
    let received = served
        .iter()
        .find_map(|line| line.strip_prefix(INCOMING))
        .unwrap_or_else(|| panic!("{step} server printed no message: {served:#?}"))
        .to_owned();
    (received, client)
}

#[test]
fn step1_behind_the_chopper_takes_the_first_piece_for_the_message() {
    // 20 ms between one-byte pieces: step 1's single read wakes on the first
    // byte, long before the second is sent.
    let (received, client) =
        exchange_through_chopper("step1", &["--chunk", "1", "--delay-ms", "20"]);
    assert_eq!(received, format!("b'H{}'", r"\x00".repeat(15)));
    assert_eq!(client.code(), Some(0), "{client:#?}");
}

#[test]
fn looping_steps_behind_the_chopper_get_every_byte_both_ways() {
    for step in looping_steps() {
        let (received, client) = exchange_through_chopper(step, &["--chunk", "1", "--both"]);
        assert_eq!(received, repr(REQUEST), "{step}");
        assert_eq!(client.code(), Some(0), "{step}: {client:#?}");
        assert!(
            client
                .stdout
                .ends_with(&format!("{}\n", server_said(REPLY))),
            "{step}: {client:#?}"
        );
    }
}

#[test]
fn the_chopper_prints_one_line_per_piece_in_each_direction() {
    let mut server = Server::start(bin("step4"), ["server", "-p", "0"]);
    let mut relay = chopper(server.address.port(), &["--chunk", "5"]);
    let client = run(bin("step4"), ["client", "-p", &relay.port()]);
    assert_eq!(client.code(), Some(0), "{client:#?}");
    server.wait_for_stdout(WAITING);
    server.wait_for_stdout(WAITING);
    let mut lines = Vec::new();
    while lines.len() < 8 {
        lines.push(relay.next_stdout_line());
    }
    let to_server: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("client -> server: "))
        .collect();
    assert_eq!(
        to_server,
        [
            "conn 1: client -> server: 5 bytes",
            "conn 1: client -> server: 5 bytes",
            "conn 1: client -> server: 5 bytes",
            "conn 1: client -> server: 1 byte",
            "conn 1: client -> server: end of data, passed on",
        ],
        "{lines:#?}"
    );
    // Replies are not cut unless --both: the 16 bytes go back in one piece.
    assert!(
        lines.contains(&"conn 1: server -> client: 16 bytes".to_owned()),
        "{lines:#?}"
    );
}

#[test]
fn the_chopper_serves_connections_one_after_another_and_at_once() {
    let server = Server::start(bin("step4"), ["server", "-p", "0"]);
    let relay = chopper(server.address.port(), &["--chunk", "3", "--both"]);
    for _ in 0..3 {
        let client = run(bin("step4"), ["client", "-p", &relay.port()]);
        assert_eq!(client.code(), Some(0), "{client:#?}");
    }
    let port = relay.port();
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let port = port.clone();
            thread::spawn(move || run(bin("step4"), ["client", "-p", &port]))
        })
        .collect();
    for client in clients {
        let client = client.join().unwrap();
        assert_eq!(client.code(), Some(0), "{client:#?}");
    }
}

/// A step 6 server, a chopper in front of it that relays one connection at
/// a time, and a first client that takes that one slot and says nothing.
fn a_chopper_with_its_one_slot_taken() -> (Server, Server, TcpStream) {
    let server = Server::start(bin("step6"), ["server", "-p", "0", "--timeout", "30"]);
    let mut relay = chopper(server.address.port(), &["--max-connections", "1"]);
    let first = TcpStream::connect(relay.address).unwrap();
    let first_name = first.local_addr().unwrap();
    assert_eq!(
        relay.next_stdout_line(),
        format!("conn 1: relaying {first_name} to {}", server.address)
    );
    (server, relay, first)
}

#[test]
fn the_chopper_relays_no_more_than_max_connections_at_once() {
    let (server, mut relay, first) = a_chopper_with_its_one_slot_taken();
    // A second sends its request. Its handshake was done by the kernel
    // (the backlog), but the relay does not take it while the first is
    // relayed, so no reply comes: the server, which serves many at once,
    // never hears of it. How long the test watches hardly matters.
    let mut second = TcpStream::connect(relay.address).unwrap();
    let second_name = second.local_addr().unwrap();
    second.write_all(REQUEST).unwrap();
    second
        .set_read_timeout(Some(std::time::Duration::from_millis(500)))
        .unwrap();
    let mut reply = [0; 16];
    match second.read_exact(&mut reply) {
        Ok(()) => panic!("the second client was relayed while the first held the only slot"),
        Err(error) => assert_eq!(error.kind(), ErrorKind::WouldBlock, "{error}"),
    }

    // The first leaves; its slot goes to the second, which gets its reply.
    drop(first);
    second.set_read_timeout(Some(book_tests::PATIENCE)).unwrap();
    second.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, REPLY);
    let mut lines = Vec::new();
    let relaying_second = format!("conn 2: relaying {second_name} to {}", server.address);
    while lines.last() != Some(&relaying_second) {
        lines.push(relay.next_stdout_line());
    }
    assert!(
        lines.contains(&"conn 1: client -> server: end of data, passed on".to_owned()),
        "the second was relayed only once the first had ended: {lines:#?}"
    );
}

#[test]
fn the_chopper_names_the_client_accept_gave_even_after_a_reset() {
    let (server, mut relay, first) = a_chopper_with_its_one_slot_taken();
    // A second waits in the relay's backlog, and resets its connection
    // there: once the reset has arrived, the relay's end is out of the
    // kernel's table of connections.
    let second = TcpStream::connect(relay.address).unwrap();
    let second_name = second.local_addr().unwrap();
    let deadline = Instant::now() + PATIENCE;
    while tcp_table_row(relay.address, second_name).is_none() {
        assert!(Instant::now() < deadline, "the handshake never completed");
        thread::yield_now();
    }
    reset(second);
    while tcp_table_row(relay.address, second_name).is_some() {
        assert!(Instant::now() < deadline, "the reset never arrived");
        thread::yield_now();
    }
    // The first leaves, and the relay accepts the second: the socket has
    // no peer address left, and the line names the one `accept` returned.
    drop(first);
    let relaying_second = format!("conn 2: relaying {second_name} to {}", server.address);
    let mut lines = Vec::new();
    while !lines
        .iter()
        .any(|line: &String| line.starts_with("conn 2: relaying"))
    {
        lines.push(relay.next_stdout_line());
    }
    assert_eq!(lines.last(), Some(&relaying_second), "{lines:#?}");
}

#[test]
fn the_chopper_pauses_and_goes_on_when_it_runs_out_of_file_descriptors() {
    let server = Server::start(bin("step4"), ["server", "-p", "0"]);
    // Four descriptors: standard input, output and error, and the listening
    // socket. `accept` finds none left for a client. (Only the soft limit,
    // which the test may raise again without privileges.)
    let to = format!("127.0.0.1:{}", server.address.port());
    let mut command = std::process::Command::new("prlimit");
    command
        .arg("--nofile=4:")
        .arg("--")
        .arg(bin("chopper"))
        .args(["--listen", "127.0.0.1:0", "--to", &to]);
    let mut relay = Server::start_command(command, book_tests::Output::Apart).unwrap();
    relay.next_stdout_line();
    let port = relay.port();
    // Started before the client is: the first failed accept comes after
    // this, so the bound below holds however late this test reads the lines.
    let started = std::time::Instant::now();
    let client = thread::spawn(move || run(bin("step4"), ["client", "-p", &port]));
    let first = relay.next_stderr_line();
    assert_eq!(first, "error: accept: Too many open files (os error 24)");
    for _ in 0..4 {
        assert_eq!(relay.next_stderr_line(), first);
    }
    // Four pauses of 100 ms between five tries: a loop that does not pause
    // prints five such lines in well under a millisecond. The bound allows
    // for one failed accept before `started` (a stray connection from a
    // parallel test to a port number it used to know), which was seen once.
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(300),
        "five failed accepts in {:?}",
        started.elapsed()
    );
    // Given descriptors, the relay takes the client that has waited.
    let raised = std::process::Command::new("prlimit")
        .args(["--pid", &relay.pid().to_string(), "--nofile=64:"])
        .status()
        .unwrap();
    assert!(raised.success());
    let client = client.join().unwrap();
    assert_eq!(client.code(), Some(0), "{client:#?}");
    assert!(relay.is_running());
}

#[test]
fn a_half_close_passes_through_and_the_reply_still_comes_back() {
    let server = Server::start(bin("step4"), ["server", "-p", "0"]);
    let relay = chopper(server.address.port(), &["--chunk", "4"]);
    let mut conn = TcpStream::connect(relay.address).unwrap();
    conn.write_all(REQUEST).unwrap();
    conn.shutdown(Shutdown::Write).unwrap();
    let mut reply = Vec::new();
    conn.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, REPLY);
}

#[test]
fn an_unreachable_server_costs_one_connection_not_the_relay() {
    let closed = closed_port();
    let mut relay = chopper(closed.port(), &[]);
    let client = run(bin("step4"), ["client", "-p", &relay.port()]);
    // The relay accepted, could not reach the server, and hung up. Whether
    // the client sees end-of-file or a reset depends on whether its request
    // reached the relay before the relay closed with it unread.
    let line = client.one_line_error(1);
    assert!(
        line.contains(&closed_early(16, 0)) || line.contains("Connection reset by peer"),
        "{line}"
    );
    let complaint = relay.next_stderr_line();
    assert!(
        complaint.starts_with("conn 1: error: cannot reach 127.0.0.1:")
            && complaint.ends_with("Connection refused (os error 111)"),
        "{complaint}"
    );
    assert!(relay.is_running());
    let again = run(bin("step4"), ["client", "-p", &relay.port()]);
    assert_eq!(again.code(), Some(1));
    assert!(
        relay
            .next_stderr_line()
            .starts_with("conn 2: error: cannot reach")
    );
}

#[test]
fn bad_chopper_arguments_are_usage_errors() {
    for args in [
        &["--chunk", "0"][..],
        &["--chunk", "-3"],
        &["--listen", "somewhere"],
        &["--to", "127.0.0.1"],
        &["--delay-ms", "soon"],
        &["--frobnicate"],
    ] {
        let relay = run(bin("chopper"), args);
        let line = relay.one_line_error(2);
        assert!(line.starts_with("error: "), "{args:?}: {line}");
    }
}

#[test]
fn a_chopper_on_a_port_in_use_says_so() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = taken.local_addr().unwrap().to_string();
    let relay = run(bin("chopper"), ["--listen", &listen]);
    assert_eq!(
        relay.one_line_error(1),
        format!("error: cannot listen on {listen}: Address already in use (os error 98)")
    );
}

/// The inode number the kernel gave the socket of the connection (local,
/// remote): the name under which the process that holds it lists it in
/// /proc/<pid>/fd, as `socket:[INODE]`.
fn socket_inode(local: SocketAddr, remote: SocketAddr) -> Option<u64> {
    tcp_table_row(local, remote).map(|row| row[9].parse().expect("an inode number"))
}

/// Whether process `pid` holds the socket with this inode number.
fn holds_socket(pid: u32, inode: u64) -> bool {
    let wanted = format!("socket:[{inode}]");
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .any(|target| target.to_string_lossy() == wanted)
}

#[test]
fn behind_the_relay_the_server_sees_the_relays_port_not_the_clients() {
    let mut server = Server::start(bin("step4"), ["server", "-p", "0"]);
    let mut relay = chopper(server.address.port(), &[]);
    let mut client = TcpStream::connect(relay.address).unwrap();
    client.set_read_timeout(Some(PATIENCE)).unwrap();
    let client_end = client.local_addr().unwrap();
    client.write_all(REQUEST).unwrap();
    let mut reply = [0; 16];
    client.read_exact(&mut reply).unwrap();

    // The relay names the client by the client's own address...
    assert_eq!(
        relay.next_stdout_line(),
        format!("conn 1: relaying {client_end} to {}", server.address)
    );
    // ...and the server names another: the far end of a second connection.
    let served = server.wait_for_stdout(REPLY_SENT);
    let server_peer: SocketAddr = served
        .iter()
        .find_map(|line| line.strip_prefix(ACCEPTED))
        .and_then(|address| address.parse().ok())
        .unwrap_or_else(|| panic!("{served:#?}"));
    assert_ne!(server_peer.port(), client_end.port());
    assert_ne!(server_peer.port(), relay.address.port());
    // That second connection is the relay's own: the relay process holds
    // the socket whose local end is the server's peer. (The client has not
    // closed yet, so the relay still holds it.)
    let inode = socket_inode(server_peer, server.address)
        .expect("the relay's connection to the server is in the kernel's table");
    assert!(holds_socket(relay.pid(), inode), "not the relay's socket");
    drop(client);
}

#[test]
fn a_reset_after_the_peers_fin_makes_the_next_write_a_broken_pipe() {
    // As behind the relay: the peer closes its socket first (a FIN), then
    // data arrives for it, and its kernel answers that with a reset.
    let (mut sender, peer) = connected_pair();
    sender.set_read_timeout(Some(PATIENCE)).unwrap();
    let (local, remote) = (sender.local_addr().unwrap(), sender.peer_addr().unwrap());
    drop(peer);
    assert_eq!(sender.read(&mut [0; 1]).unwrap(), 0, "the peer's FIN");
    sender.write_all(b"e").unwrap(); // the kernel takes it, the peer resets
    wait_for_the_reset(local, remote);
    let error = sender.write(b"r").expect_err("the connection was reset");
    assert_eq!(error.kind(), ErrorKind::BrokenPipe);
    assert_eq!(error.to_string(), "Broken pipe (os error 32)");

    // Contrast: a reset on a connection still open both ways (the peer
    // closes with bytes unread, sending no FIN) makes the same write a
    // "Connection reset by peer".
    let (mut sender, peer) = connected_pair();
    let (local, remote) = (sender.local_addr().unwrap(), sender.peer_addr().unwrap());
    sender.write_all(b"unread").unwrap();
    peer.set_read_timeout(Some(PATIENCE)).unwrap();
    assert!(peer.peek(&mut [0; 1]).unwrap() > 0, "the bytes arrived");
    drop(peer);
    wait_for_the_reset(local, remote);
    let error = sender.write(b"r").expect_err("the connection was reset");
    assert_eq!(error.kind(), ErrorKind::ConnectionReset);
    // The reset is reported once: the write after it finds a broken pipe.
    let error = sender.write(b"r").expect_err("the connection is gone");
    assert_eq!(error.kind(), ErrorKind::BrokenPipe);
}

// ---------------------------------------------------------------------------
// The loops, under every schedule
// ---------------------------------------------------------------------------

mod step2 {
    use std::io::{self, ErrorKind, Write};
    include!(concat!(env!("OUT_DIR"), "/listings/step2_sendall.rs"));
}

mod step4 {
    use std::io::{self, ErrorKind, Read};
    include!(concat!(env!("OUT_DIR"), "/listings/step4_recvall.rs"));
}

mod step5 {
    use std::io::{self, ErrorKind, Read};
    include!(concat!(env!("OUT_DIR"), "/listings/step5_recvall.rs"));
}

/// How the step's message would leave in step 1: one `write`, its count
/// thrown away (the `naive_write` anchor of step1.rs).
fn naive_send(sock: &mut impl Write, data: &[u8]) -> io::Result<()> {
    #[allow(clippy::unused_io_amount, reason = "this is the bug being shown")]
    sock.write(data)?;
    Ok(())
}

/// How step 1 receives: one `read` into a buffer of the message's size, its
/// count thrown away (the `naive_read` anchor of step1.rs).
fn naive_receive(sock: &mut impl Read, length: usize) -> io::Result<Vec<u8>> {
    let mut message = vec![0; length];
    #[allow(clippy::unused_io_amount, reason = "this is the bug being shown")]
    sock.read(&mut message)?;
    Ok(message)
}

type Recvall = fn(&mut ChoppyReader, usize) -> io::Result<Vec<u8>>;

/// Step 4's loop and step 5's, which should be the same.
const RECVALLS: [Recvall; 2] = [step4::recvall, step5::recvall];

/// A call's fate: mostly short transfers, sometimes a signal.
fn turn() -> impl Strategy<Value = Turn> {
    prop_oneof![
        4 => (1usize..24).prop_map(Turn::Upto),
        1 => Just(Turn::Interrupted),
    ]
}

fn schedule() -> impl Strategy<Value = Vec<Turn>> {
    prop::collection::vec(turn(), 0..40)
}

/// Schedules of short transfers only: no signals, so a failure of the naive
/// code is lost or truncated data, not an error.
fn splits() -> impl Strategy<Value = Vec<Turn>> {
    prop::collection::vec((1usize..24).prop_map(Turn::Upto), 0..40)
}

/// A failing case is found again by shrinking, not by a saved seed: the
/// root package has no src/lib.rs for proptest to keep its seeds beside.
fn config() -> Config {
    Config {
        failure_persistence: None,
        ..Config::default()
    }
}

fn message() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 1..200)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn step2_sendall_delivers_every_byte_once_in_order(data in message(), turns in schedule()) {
        let mut sock = ChoppyWriter::new(turns);
        step2::sendall(&mut sock, &data).unwrap();
        prop_assert_eq!(sock.accepted(), &data[..]);
    }

    #[test]
    fn write_all_delivers_every_byte_once_in_order(data in message(), turns in schedule()) {
        let mut sock = ChoppyWriter::new(turns);
        sock.write_all(&data).unwrap();
        prop_assert_eq!(sock.accepted(), &data[..]);
    }

    #[test]
    fn recvall_reassembles_the_message_exactly(data in message(), turns in schedule()) {
        for recvall in RECVALLS {
            let mut sock = ChoppyReader::new(&data, turns.clone());
            let received = recvall(&mut sock, data.len()).unwrap();
            prop_assert_eq!(&received, &data);
        }
    }

    #[test]
    fn recvall_reports_how_much_came_before_the_peer_closed(
        data in message(), missing in 1usize..50, turns in schedule()
    ) {
        let expected = data.len() + missing;
        for recvall in RECVALLS {
            let mut sock = ChoppyReader::new(&data, turns.clone());
            let error = recvall(&mut sock, expected).unwrap_err();
            prop_assert_eq!(error.kind(), ErrorKind::UnexpectedEof);
            prop_assert_eq!(error.to_string(), closed_early(expected, data.len()));
        }
    }

    /// A writer that stops accepting for good: the loop must give up with
    /// an error rather than call `write` forever (the double panics after
    /// `SPIN_LIMIT` calls, which fails the test instead of hanging it).
    #[test]
    fn step2_sendall_gives_up_on_ok_zero_instead_of_spinning(data in message(), turns in schedule()) {
        let mut sock = ChoppyWriter::stuck(turns);
        match step2::sendall(&mut sock, &data) {
            Ok(()) => prop_assert_eq!(sock.accepted(), &data[..]),
            Err(error) => {
                prop_assert_eq!(error.kind(), ErrorKind::WriteZero);
                prop_assert!(data.starts_with(sock.accepted()));
                prop_assert!(sock.accepted().len() < data.len());
            }
        }
    }
}

/// Runs a property that the naive code should break, and returns the
/// smallest counterexample proptest finds (panicking if it finds none).
fn smallest_failure<S: Strategy>(
    strategy: S,
    property: impl Fn(S::Value) -> Result<(), TestCaseError>,
) -> S::Value
where
    S::Value: std::fmt::Debug,
{
    // A fixed seed: the same counterexample on every run and every machine.
    let mut runner =
        TestRunner::new_with_rng(config(), TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    match runner.run(&strategy, property) {
        Err(TestError::Fail(_, smallest)) => smallest,
        Err(other) => panic!("proptest gave up: {other}"),
        Ok(()) => panic!("the naive code survived every schedule; the doubles are not splitting"),
    }
}

#[test]
fn one_naive_write_loses_data_under_some_schedule() {
    let smallest = smallest_failure((message(), splits()), |(data, turns)| {
        let mut sock = ChoppyWriter::new(turns);
        naive_send(&mut sock, &data).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(sock.accepted(), &data[..]);
        Ok(())
    });
    println!("smallest schedule that loses data with one write: {smallest:?}");
    // One turn that moves fewer bytes than the message has.
    let (data, turns) = smallest;
    assert!(
        matches!(turns[..], [Turn::Upto(moved)] if moved < data.len()),
        "{turns:?}"
    );
}

#[test]
fn one_naive_read_truncates_under_some_schedule() {
    let smallest = smallest_failure((message(), splits()), |(data, turns)| {
        let mut sock = ChoppyReader::new(&data, turns);
        let received =
            naive_receive(&mut sock, data.len()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(received, data);
        Ok(())
    });
    println!("smallest schedule that truncates with one read: {smallest:?}");
    // One turn that moves fewer bytes than the message has, and a message
    // that does not end in zeros (they would hide among the zeros the buffer
    // started with).
    let (data, turns) = smallest;
    assert!(
        matches!(turns[..], [Turn::Upto(moved)] if moved < data.len()),
        "{turns:?}"
    );
    assert_ne!(data.last(), Some(&0));
}
