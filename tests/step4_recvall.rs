//! The claims of the chapter "Step 4: `recvall`, a loop around `read`"
//! (src/step4-recvall.md): what `read` and `read_exact` do when a peer
//! closes, shown on real loopback connections; that step 4's server waits
//! for the rest of a split message; and how the steps fail when the other
//! side is missing, hangs up early or answers short.
//!
//! The property tests of `recvall` that the chapter names are in
//! `tests/watching_tcp_split.rs`, with the chapter that explains them.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use book_tests::{
    Finished, PATIENCE, STEPS, Server, answer_once, bin, closed_port, looping_steps, naive_steps,
    python, repo, run, unread_bytes,
};
use listings::doubles::{ChoppyReader, Turn};
use listings::protocol::{
    REPLY, REPLY_SENT, REQUEST, SERVER_SAID, SOCKET_PEER, client_error, closed_early,
    connection_error, incoming,
};

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

// ---------------------------------------------------------------------------
// What `read` and `read_exact` do when the peer closes
// ---------------------------------------------------------------------------

/// A connected pair on loopback: the peer writes `sent`, then closes its
/// socket. Returns our end of the connection and the peer's thread.
fn peer_that_sends_and_closes(sent: &'static [u8]) -> (TcpStream, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let peer = thread::spawn(move || {
        let mut sock = TcpStream::connect(address).unwrap();
        sock.write_all(sent).unwrap();
        // Dropping the stream closes it: the kernel sends a FIN after the
        // data, and our side's reads end there.
    });
    let (conn, _) = listener.accept().unwrap();
    (conn, peer)
}

#[test]
fn read_exact_after_a_peer_sent_ten_bytes_and_closed_is_unexpected_eof() {
    let (mut conn, peer) = peer_that_sends_and_closes(&REQUEST[..10]); // "Hi there, "
    peer.join().unwrap();
    let mut message = [0; 16];
    let error = conn.read_exact(&mut message).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::UnexpectedEof);
    // The whole text: no count of the 10 bytes that did arrive.
    assert_eq!(error.to_string(), "failed to fill whole buffer");
    assert_eq!(
        format!("{error:?}"),
        r#"Error { kind: UnexpectedEof, message: "failed to fill whole buffer" }"#
    );
}

#[test]
fn read_exact_is_content_when_every_byte_arrives() {
    // The same peer with all 16 bytes: the error above is about the early
    // close, not about the close itself.
    let (mut conn, peer) = peer_that_sends_and_closes(REQUEST);
    peer.join().unwrap();
    let mut message = [0; 16];
    conn.read_exact(&mut message).unwrap();
    assert_eq!(&message, REQUEST);
}

#[test]
fn read_returns_zero_at_eof_after_the_peer_closes() {
    let (mut conn, peer) = peer_that_sends_and_closes(&REQUEST[..10]);
    peer.join().unwrap();
    let mut buffer = [0; 16];
    // However the 10 bytes are split among reads, they all come before the
    // first Ok(0), and nothing comes after it.
    let mut received = Vec::new();
    loop {
        match conn.read(&mut buffer).unwrap() {
            0 => break,
            more => received.extend_from_slice(&buffer[..more]),
        }
    }
    assert_eq!(received, &REQUEST[..10]);
    // End of file is not an event that is consumed: every later read says
    // it again.
    for _ in 0..3 {
        assert_eq!(conn.read(&mut buffer).unwrap(), 0);
    }
}

// ---------------------------------------------------------------------------
// The loop in a library call: `take(16).read_to_end`, and Python's helpers
// ---------------------------------------------------------------------------

#[test]
fn take_read_to_end_counts_a_short_message_without_an_error() {
    let (mut conn, peer) = peer_that_sends_and_closes(&REQUEST[..5]); // "Hi th"
    peer.join().unwrap();
    let mut message = Vec::new();
    // An early end of file is where the reading stops, not an error: the
    // count is the caller's to check.
    let received = (&mut conn).take(16).read_to_end(&mut message).unwrap();
    assert_eq!(received, 5);
    assert_eq!(message, &REQUEST[..5]);
}

#[test]
fn take_read_to_end_stops_at_the_limit_and_leaves_the_rest_in_the_kernel() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut conn, _) = listener.accept().unwrap();
    // One message and four bytes more, and the peer stays connected: a call
    // that waited for the end of file, or read past the 16th byte to look
    // for it, would wait for PATIENCE and fail.
    peer.write_all(&[&REQUEST[..], b"more"].concat()).unwrap();
    conn.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut message = Vec::with_capacity(16);
    let received = (&mut conn).take(16).read_to_end(&mut message).unwrap();
    assert_eq!(received, 16);
    assert_eq!(message, REQUEST);
    // The rest is still in the kernel, for the next read.
    let mut rest = [0; 16];
    let more = conn.read(&mut rest).unwrap();
    assert_eq!(&rest[..more], b"more");
    drop(peer);
}

#[test]
fn take_read_to_end_retries_interrupted_reads() {
    let turns = [
        Turn::Interrupted,
        Turn::Upto(3),
        Turn::Interrupted,
        Turn::Upto(1),
        Turn::Interrupted,
    ];
    let mut sock = ChoppyReader::new(&[&REQUEST[..], b"more"].concat(), turns);
    let mut message = Vec::new();
    let received = (&mut sock).take(16).read_to_end(&mut message).unwrap();
    assert_eq!(received, 16);
    assert_eq!(message, REQUEST);
    let mut rest = Vec::new();
    sock.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"more", "take reads no further than the 16th byte");
}

#[test]
fn python_receive_helpers_stop_short_at_eof_without_an_error() {
    // The script makes each case happen on a loopback connection of its own
    // and prints what the helper returned (see its comments).
    let script = repo().join("tests").join("receive_helpers.py");
    let done = run(python(), [&script]);
    assert_eq!(done.code(), Some(0), "{done:#?}");
    assert_eq!(
        done.stdout,
        "\
MSG_WAITALL, early close: b'Hi th'
makefile, early close: b'Hi th'
MSG_WAITALL, 20 bytes: b'Hi there, server' then in the kernel: b'more'
makefile, 20 bytes: b'Hi there, server' then in the kernel: b'' in the file: b'more'
MSG_WAITALL, signals: b'Hi there, '
makefile, signals: still waiting at the timeout
"
    );
}

// ---------------------------------------------------------------------------
// What `vec![0; length]` costs
// ---------------------------------------------------------------------------

/// This process's resident memory, in bytes: the second field of
/// /proc/self/statm, in pages (Linux).
fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
fn a_large_zeroed_vec_takes_memory_only_when_first_touched() {
    const SIZE: usize = 128 << 20;
    // The other tests in this process hold far less than this margin.
    const MARGIN: usize = SIZE / 4;
    let before = resident_bytes();
    // calloc, then mmap: pages that read as zero without being written.
    let mut buffer = vec![0u8; SIZE];
    let allocated = resident_bytes();
    assert!(
        allocated < before + MARGIN,
        "vec![0; {SIZE}] made {} bytes resident",
        allocated.saturating_sub(before)
    );
    // First touch: one write a page, and each page becomes memory.
    for page in buffer.chunks_mut(4096) {
        page[0] = 1;
    }
    let touched = resident_bytes();
    assert!(
        touched > before + SIZE - MARGIN,
        "touching every page made only {} bytes resident",
        touched.saturating_sub(before)
    );
    assert!(buffer.iter().step_by(4096).all(|&byte| byte == 1));
}

// ---------------------------------------------------------------------------
// Step 4's server, given half a message
// ---------------------------------------------------------------------------

#[test]
fn step4_server_waits_for_the_rest_of_a_split_message() {
    let mut server = Server::start(bin("step4"), ["server", "-p", "0"]);
    let mut sock = TcpStream::connect(server.address).unwrap();
    let name = sock.local_addr().unwrap();
    sock.write_all(&REQUEST[..10]).unwrap(); // "Hi there, "
    // From its "Socket peer" line on, the server is in `converse`.
    server.wait_for_stdout(&format!("{SOCKET_PEER}{name}"));

    // Wait until the server has taken the ten bytes out of its kernel's
    // receive queue: its first `read` has returned them, short.
    let deadline = Instant::now() + PATIENCE;
    while unread_bytes(server.address, name) != Some(0) {
        assert!(
            Instant::now() < deadline,
            "the server never read the first ten bytes"
        );
        thread::yield_now();
    }
    // It has not answered: it is in its next `read`, waiting for six more.
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut byte = [0; 1];
    let waited = sock.read(&mut byte).unwrap_err();
    assert_eq!(waited.kind(), ErrorKind::WouldBlock, "{waited}");
    sock.set_read_timeout(None).unwrap();

    sock.write_all(&REQUEST[10..]).unwrap(); // "server"
    assert_eq!(server.next_stdout_line(), incoming(REQUEST));
    let mut reply = Vec::new();
    sock.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, REPLY);
    assert_eq!(server.next_stdout_line(), REPLY_SENT);
}

// ---------------------------------------------------------------------------
// When the other side is missing, hangs up early or answers short
// ---------------------------------------------------------------------------

#[test]
fn a_client_with_nobody_listening_says_connection_refused() {
    for step in STEPS {
        let closed = closed_port();
        let client = run(bin(step), ["client", "-p", &closed.port().to_string()]);
        assert_eq!(
            client.one_line_error(1),
            client_error(loopback(closed.port()), "Connection refused (os error 111)"),
            "{step}"
        );
    }
}

#[test]
fn looping_servers_report_a_client_that_hangs_up_early_and_serve_the_next() {
    for step in looping_steps() {
        let mut server = Server::start(bin(step), ["server", "-p", "0"]);
        let mut quitter = TcpStream::connect(server.address).unwrap();
        let quitter_name = quitter.local_addr().unwrap();
        quitter.write_all(&REQUEST[..5]).unwrap(); // "Hi th"
        drop(quitter);
        assert_eq!(
            server.next_stderr_line(),
            connection_error(quitter_name, &closed_early(16, 5)),
            "{step}"
        );
        let client = run(bin(step), ["client", "-p", &server.port()]);
        assert_eq!(
            client.code(),
            Some(0),
            "{step} after a quitter: {client:#?}"
        );
        assert!(server.is_running());
    }
}

/// Runs `step`'s client against a server that reads the request, answers
/// with only `Good`, the first four bytes of the reply, and closes. Returns
/// that server's port and the client's run.
fn client_given_a_short_reply(step: &str) -> (u16, Finished) {
    let (address, serving) = answer_once(&REPLY[..4]);
    let client = run(bin(step), ["client", "-p", &address.port().to_string()]);
    serving.join().unwrap();
    (address.port(), client)
}

#[test]
fn looping_clients_fail_cleanly_on_a_short_reply() {
    for step in looping_steps() {
        let (port, client) = client_given_a_short_reply(step);
        assert_eq!(
            client.one_line_error(1),
            client_error(loopback(port), &closed_early(16, 4)),
            "{step}"
        );
    }
}

#[test]
fn naive_clients_take_a_short_reply_for_the_whole_message() {
    for step in naive_steps() {
        let (_, client) = client_given_a_short_reply(step);
        assert_eq!(client.code(), Some(0), "{step}: {client:#?}");
        // One read, its count ignored: the four bytes that came, then the
        // zeros the buffer started with.
        let padded = format!("{SERVER_SAID}b'Good{}'\n", r"\x00".repeat(12));
        assert!(
            client.stdout.ends_with(&padded),
            "{step}: {}",
            client.stdout
        );
    }
}
