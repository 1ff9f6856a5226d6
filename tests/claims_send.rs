//! The claims the chapters on sending make (step 1, step 2, step 3), each
//! shown on a real loopback socket or against a small `Write` double.
//!
//! Run one test with its printed numbers, as the chapters quote them:
//! `cargo test --test claims_send -- --nocapture <name>`.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use book_tests::{Server, bin};
use socket2::SockRef;

const INCOMING: &str = "  Incoming sixteen-octet message: ";

/// Step 2's `send_all`, exactly as the book shows it: the build script copies
/// the `send_all` anchor of step2.rs into `OUT_DIR`.
mod step2 {
    use std::io::{self, ErrorKind, Write};
    include!(concat!(env!("OUT_DIR"), "/listings/step2_send_all.rs"));
}

// ---------------------------------------------------------------------------
// Short reads against the step programs
// ---------------------------------------------------------------------------

/// Connects to `server`, sends the first ten bytes of the request only, and
/// waits for the server to print the name of this connection's peer: from
/// then on, the server is inside `converse`, about to read.
fn connect_and_send_first_part(server: &mut Server) -> TcpStream {
    let mut sock = TcpStream::connect(server.address).unwrap();
    let name = sock.local_addr().unwrap();
    sock.write_all(b"Hi there, ").unwrap();
    server.wait_for_stdout(&format!("  Socket peer: {name}"));
    sock
}

#[test]
fn step1_server_reads_half_a_message_and_shows_zeros_for_the_rest() {
    let mut server = Server::start(bin("step1"), ["server", "-p", "0"]);
    let mut sock = connect_and_send_first_part(&mut server);

    // Deterministic: "server" has not been sent yet, so the one `read` can
    // only have the ten bytes that are there. The six bytes it did not fill
    // are still the zeros the array started with.
    let shown = server.next_stdout_line();
    assert_eq!(
        shown,
        format!(r"{INCOMING}b'Hi there, \x00\x00\x00\x00\x00\x00'")
    );

    // The naive server answers half a request as if it were the whole one.
    let mut reply = Vec::new();
    sock.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, b"Goodbye, client!");
    assert_eq!(server.next_stdout_line(), "  Reply sent, socket closed");

    // The rest of the request now goes to a connection the server has
    // already closed: the local kernel still accepts it (the peer's reset
    // comes back only later), and nobody will ever read it.
    sock.write_all(b"server").unwrap();
}

#[test]
fn step1_server_takes_a_client_that_sends_nothing_for_sixteen_zero_bytes() {
    let mut server = Server::start(bin("step1"), ["server", "-p", "0"]);
    let sock = TcpStream::connect(server.address).unwrap();
    let name = sock.local_addr().unwrap();
    // Hang up without sending a byte: the server's `read` returns Ok(0),
    // end-of-file, and step 1 never looks at the count.
    drop(sock);
    server.wait_for_stdout(&format!("  Socket peer: {name}"));
    assert_eq!(
        server.next_stdout_line(),
        format!("{INCOMING}b'{}'", r"\x00".repeat(16))
    );
    assert_eq!(server.next_stdout_line(), "  Reply sent, socket closed");
}

/// How many bytes have arrived at the socket with local address `local`,
/// connected to `remote`, without being read yet by the program that holds
/// it: the kernel's `rx_queue` column in /proc/net/tcp. `None` while no such
/// connection is listed.
fn unread_bytes(local: SocketAddr, remote: SocketAddr) -> Option<u32> {
    let hex = |addr: SocketAddr| match addr {
        SocketAddr::V4(v4) => format!(
            "{:08X}:{:04X}",
            u32::from_le_bytes(v4.ip().octets()),
            v4.port()
        ),
        SocketAddr::V6(_) => unreachable!("the tests use 127.0.0.1"),
    };
    let (local, remote) = (hex(local), hex(remote));
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields[1] == local && fields[2] == remote)
            .then(|| u32::from_str_radix(fields[4].split(':').nth(1).unwrap(), 16).unwrap())
    })
}

#[test]
fn step4_server_waits_for_the_rest_of_a_split_message() {
    let mut server = Server::start(bin("step4"), ["server", "-p", "0"]);
    let mut sock = connect_and_send_first_part(&mut server);
    let name = sock.local_addr().unwrap();

    // Wait until the server has taken the ten bytes out of its kernel's
    // receive queue: its first `read` has returned them, short.
    let deadline = Instant::now() + book_tests::PATIENCE;
    while unread_bytes(server.address, name) != Some(0) {
        assert!(
            std::time::Instant::now() < deadline,
            "the server never read the first ten bytes"
        );
        std::thread::yield_now();
    }
    // It has not answered: it is in its next `read`, waiting for six more.
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut byte = [0; 1];
    let waited = sock.read(&mut byte).unwrap_err();
    assert_eq!(waited.kind(), ErrorKind::WouldBlock, "{waited}");
    sock.set_read_timeout(None).unwrap();

    sock.write_all(b"server").unwrap();
    assert_eq!(
        server.next_stdout_line(),
        format!("{INCOMING}b'Hi there, server'")
    );
    let mut reply = Vec::new();
    sock.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, b"Goodbye, client!");
    assert_eq!(server.next_stdout_line(), "  Reply sent, socket closed");
}

// ---------------------------------------------------------------------------
// Short writes on a real socket
// ---------------------------------------------------------------------------

const MIB: usize = 1024 * 1024;

/// A connected pair on loopback: (the writer, the peer that never reads).
fn connected_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let writer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (peer, _) = listener.accept().unwrap();
    (writer, peer)
}

#[test]
fn a_nonblocking_socket_with_a_full_send_buffer_takes_part_then_would_block() {
    let (mut writer, _peer_not_reading) = connected_pair();
    let sock = SockRef::from(&writer);
    sock.set_send_buffer_size(4096).unwrap();
    let granted = sock.send_buffer_size().unwrap();
    writer.set_nonblocking(true).unwrap();
    println!("asked for a send buffer of 4096 bytes; the kernel granted {granted}");

    let data = vec![b'x'; 8 * MIB];
    let mut sent = 0;
    let mut calls = 0;
    let refusal = loop {
        calls += 1;
        // A peer that never reads can hold only so much: far less than 8 MiB
        // (its receive buffer starts at 128 KiB here and grows only as it reads).
        assert!(calls <= 1000, "still writing after {sent} bytes");
        match writer.write(&data[sent..]) {
            Ok(n) => {
                println!(
                    "write #{calls} of the {} bytes left: Ok({n})",
                    data.len() - sent
                );
                assert!(0 < n && n < data.len() - sent, "a short write, not Ok({n})");
                sent += n;
            }
            Err(error) => {
                println!(
                    "write #{calls} of the {} bytes left: Err({:?}): {error}",
                    data.len() - sent,
                    error.kind()
                );
                break error;
            }
        }
    };
    assert!(calls > 1, "the first write took part of the data");
    assert_eq!(refusal.kind(), ErrorKind::WouldBlock);
    assert_eq!(refusal.raw_os_error(), Some(11), "EAGAIN");
    println!(
        "accepted {sent} of {} bytes in {} calls",
        data.len(),
        calls - 1
    );
}

#[test]
fn a_blocking_write_with_a_timeout_returns_what_it_managed_to_send() {
    let (mut writer, _peer_not_reading) = connected_pair();
    let timeout = Duration::from_millis(100);
    writer.set_write_timeout(Some(timeout)).unwrap();

    let data = vec![b'x'; 8 * MIB];
    let started = Instant::now();
    let sent = writer.write(&data).unwrap();
    let took = started.elapsed();
    println!(
        "one write of {} bytes, timeout {timeout:?}: Ok({sent}) after {took:?}",
        data.len()
    );
    assert!(
        0 < sent && sent < data.len(),
        "a short write, not Ok({sent})"
    );
    assert!(took >= timeout, "it waited for room until the timeout");
}

#[test]
fn write_to_a_socket_returns_zero_only_for_an_empty_buffer() {
    let (mut writer, peer) = connected_pair();
    assert_eq!(writer.write(b"").unwrap(), 0);

    // A peer that has gone away is reported as an error, never as Ok(0).
    // (Non-blocking, so that a test that goes wrong fails instead of hanging.)
    writer.set_nonblocking(true).unwrap();
    drop(peer);
    let deadline = Instant::now() + book_tests::PATIENCE;
    let error = loop {
        assert!(
            Instant::now() < deadline,
            "writes to a closed peer kept succeeding"
        );
        match writer.write(b"Hi there, server") {
            Ok(n) => assert_eq!(n, 16, "a closed peer is not reported as Ok(0)"),
            Err(error) => break error,
        }
        // The first write after the peer closed succeeds locally; the
        // peer's kernel answers it with a reset, which takes a moment.
        std::thread::yield_now();
    };
    println!("after the peer closed: Err({:?}): {error}", error.kind());
    assert!(
        matches!(
            error.kind(),
            ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
        ),
        "{error:?}"
    );
}

// ---------------------------------------------------------------------------
// write_all, against Write doubles
// ---------------------------------------------------------------------------

/// What a double does on each call to `write`, in order; once the script is
/// used up, it accepts everything.
#[derive(Clone, Copy, Debug)]
enum Turn {
    /// Accept at most this many bytes.
    Take(usize),
    /// Fail with this kind, accepting nothing.
    Fail(ErrorKind),
}

/// A writer that follows a script and records every call and byte.
#[derive(Default)]
struct Scripted {
    script: Vec<Turn>,
    calls: usize,
    accepted: Vec<u8>,
}

impl Scripted {
    fn new(script: &[Turn]) -> Scripted {
        Scripted {
            script: script.to_vec(),
            ..Scripted::default()
        }
    }
}

impl Write for Scripted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let turn = self
            .script
            .get(self.calls)
            .copied()
            .unwrap_or(Turn::Take(usize::MAX));
        self.calls += 1;
        match turn {
            Turn::Take(most) => {
                let n = most.min(buf.len());
                self.accepted.extend_from_slice(&buf[..n]);
                Ok(n)
            }
            Turn::Fail(kind) => Err(io::Error::from(kind)),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A writer that takes at most `k` bytes on every call, like a socket whose
/// buffer has room for only `k` bytes each time.
struct AtMost {
    k: usize,
    calls: usize,
    accepted: Vec<u8>,
}

impl Write for AtMost {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.calls += 1;
        let n = self.k.min(buf.len());
        self.accepted.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn write_all_loops_over_short_writes_and_delivers_every_byte_in_order() {
    for k in [1, 3, 5, 16] {
        let mut w = AtMost {
            k,
            calls: 0,
            accepted: Vec::new(),
        };
        w.write_all(b"Hi there, server").unwrap();
        assert_eq!(w.accepted, b"Hi there, server", "k = {k}");
        assert_eq!(w.calls, 16usize.div_ceil(k), "k = {k}");
    }
}

#[test]
fn write_all_turns_ok_zero_into_write_zero_instead_of_spinning() {
    // Takes 5 bytes, then nothing at all, forever.
    let mut w = Scripted::new(&[Turn::Take(5)]);
    w.script.extend([Turn::Take(0); 100]);
    let error = w.write_all(b"Hi there, server").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::WriteZero);
    assert_eq!(error.to_string(), "failed to write whole buffer");
    // It gave up on the first Ok(0): two calls, not a hundred.
    assert_eq!(w.calls, 2);
    assert_eq!(w.accepted, b"Hi th");
}

#[test]
fn write_all_retries_interrupted() {
    let mut w = Scripted::new(&[
        Turn::Take(3),
        Turn::Fail(ErrorKind::Interrupted),
        Turn::Fail(ErrorKind::Interrupted),
    ]);
    w.write_all(b"Hi there, server").unwrap();
    assert_eq!(w.accepted, b"Hi there, server");
    assert_eq!(w.calls, 4);
}

#[test]
fn write_all_of_nothing_never_calls_write() {
    // A writer whose first call would fail: write_all must not make it.
    let mut w = Scripted::new(&[Turn::Fail(ErrorKind::BrokenPipe)]);
    w.write_all(b"").unwrap();
    assert_eq!(w.calls, 0);
}

#[test]
fn write_all_returns_other_errors_and_the_count_already_written_is_lost() {
    let mut w = Scripted::new(&[
        Turn::Take(4),
        Turn::Take(6),
        Turn::Fail(ErrorKind::BrokenPipe),
    ]);
    let error = w.write_all(b"Hi there, server").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::BrokenPipe);
    // Ten bytes went out before the error, and nothing in `error` says so:
    // only the double, which recorded them, knows.
    assert_eq!(w.accepted, b"Hi there, ");
    assert_eq!(
        error.to_string(),
        io::Error::from(ErrorKind::BrokenPipe).to_string()
    );
}

#[test]
fn write_all_on_a_socket_with_a_timeout_fails_after_sending_part() {
    let (mut writer, mut peer) = connected_pair();
    writer
        .set_write_timeout(Some(Duration::from_millis(100)))
        .unwrap();

    let data = vec![b'x'; 8 * MIB];
    let started = Instant::now();
    let error = writer.write_all(&data).unwrap_err();
    let took = started.elapsed();
    println!(
        "write_all of {} bytes, timeout 100ms: Err({:?}): {error}, after {took:?}",
        data.len(),
        error.kind()
    );
    assert_eq!(error.kind(), ErrorKind::WouldBlock);
    // The timeout bounds each `write`, not the whole `write_all`: one call
    // waited it out and returned what it had sent, and another waited it out
    // and sent nothing.
    assert!(took >= 2 * Duration::from_millis(100), "{took:?}");

    // Yet part of the data was sent: closing the writer lets what the kernel
    // accepted drain to the peer, followed by end-of-file.
    drop(writer);
    let mut arrived = Vec::new();
    peer.read_to_end(&mut arrived).unwrap();
    println!("the peer then read {} bytes", arrived.len());
    assert!(
        !arrived.is_empty() && arrived.len() < data.len(),
        "{} bytes arrived",
        arrived.len()
    );
    assert!(arrived.iter().all(|&b| b == b'x'));
}

#[test]
fn step2_send_all_loops_over_short_writes() {
    let mut w = AtMost {
        k: 3,
        calls: 0,
        accepted: Vec::new(),
    };
    step2::send_all(&mut w, b"Hi there, server").unwrap();
    assert_eq!(w.accepted, b"Hi there, server");
    assert_eq!(w.calls, 6);
}

#[test]
fn step2_send_all_turns_ok_zero_into_an_error_of_its_own() {
    let mut w = Scripted::new(&[Turn::Take(5)]);
    w.script.extend([Turn::Take(0); 100]);
    let error = step2::send_all(&mut w, b"Hi there, server").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::WriteZero);
    assert_eq!(error.to_string(), "the socket accepted no more bytes");
    assert_eq!(w.calls, 2);
}

#[test]
fn step2_send_all_retries_interrupted_and_returns_other_errors() {
    let mut w = Scripted::new(&[Turn::Fail(ErrorKind::Interrupted), Turn::Take(7)]);
    step2::send_all(&mut w, b"Hi there, server").unwrap();
    assert_eq!(w.accepted, b"Hi there, server");
    assert_eq!(w.calls, 3);

    let mut w = Scripted::new(&[Turn::Take(7), Turn::Fail(ErrorKind::BrokenPipe)]);
    let error = step2::send_all(&mut w, b"Hi there, server").unwrap_err();
    assert_eq!(error.kind(), ErrorKind::BrokenPipe);
    assert_eq!(w.accepted, b"Hi ther");
}

// ---------------------------------------------------------------------------
// Step 2, end to end: on loopback its loop runs once, and what reaches the
// other side is exactly the message, once.
// ---------------------------------------------------------------------------

#[test]
fn step2_server_sends_the_whole_reply_and_nothing_more() {
    let mut server = Server::start(bin("step2"), ["server", "-p", "0"]);
    let mut sock = TcpStream::connect(server.address).unwrap();
    sock.write_all(b"Hi there, server").unwrap();
    let mut reply = Vec::new();
    sock.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, b"Goodbye, client!");
    server.wait_for_stdout("  Reply sent, socket closed");
}

#[test]
fn step2_client_sends_the_whole_request_and_nothing_more() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let serving = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut request = [0; 16];
        conn.read_exact(&mut request).unwrap();
        conn.write_all(b"Goodbye, client!").unwrap();
        // The client reads its reply, prints it and exits: then end-of-file.
        let mut more = Vec::new();
        conn.read_to_end(&mut more).unwrap();
        (request, more)
    });
    let client = book_tests::run(bin("step2"), ["client", "-p", &port]);
    assert_eq!(client.code(), Some(0), "{client:#?}");
    let (request, more) = serving.join().unwrap();
    assert_eq!(&request, b"Hi there, server");
    assert!(more.is_empty(), "extra bytes after the request: {more:?}");
}
