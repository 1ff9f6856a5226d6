//! The claims of the chapter "Step 2: a loop around `write`"
//! (src/step2-send-loop.md): a `write` on a real loopback socket can take
//! only part of the data, and step 2's `sendall` loops until it has sent
//! every byte, retries `Interrupted` and gives up on `Ok(0)`.
//!
//! Run one test with its printed numbers, as the chapter quotes them:
//! `cargo test --test step2_send_loop -- --nocapture <name>`.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use book_tests::{PATIENCE, Server, bin, connected_pair, run};
use listings::doubles::{ChoppyWriter, Turn};
use listings::protocol::{REPLY, REPLY_SENT, REQUEST};
use socket2::SockRef;

/// Step 2's `sendall`, exactly as the book shows it: the build script copies
/// the `sendall` anchor of step2.rs into `OUT_DIR`.
mod step2 {
    use std::io::{self, ErrorKind, Write};
    include!(concat!(env!("OUT_DIR"), "/listings/step2_sendall.rs"));
}

// ---------------------------------------------------------------------------
// Short writes on a real socket
// ---------------------------------------------------------------------------

const MIB: usize = 1024 * 1024;

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
    let deadline = Instant::now() + PATIENCE;
    let error = loop {
        assert!(
            Instant::now() < deadline,
            "writes to a closed peer kept succeeding"
        );
        match writer.write(REQUEST) {
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
// Step 2's `sendall`, against a writer that takes a little at a time
// ---------------------------------------------------------------------------

#[test]
fn step2_sendall_loops_over_short_writes() {
    // At most 3 bytes a call, for every call 16 bytes can take.
    let mut w = ChoppyWriter::new([Turn::Upto(3); 16]);
    step2::sendall(&mut w, REQUEST).unwrap();
    assert_eq!(w.accepted(), REQUEST);
    assert_eq!(w.calls(), 6);
}

#[test]
fn step2_sendall_turns_ok_zero_into_an_error_of_its_own() {
    // Takes 5 bytes, then nothing at all, forever.
    let mut w = ChoppyWriter::stuck([Turn::Upto(5)]);
    let error = step2::sendall(&mut w, REQUEST).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::WriteZero);
    assert_eq!(error.to_string(), "the socket accepted no more bytes");
    // It gave up on the first Ok(0).
    assert_eq!(w.calls(), 2);
}

#[test]
fn step2_sendall_retries_interrupted_and_returns_other_errors() {
    let mut w = ChoppyWriter::new([Turn::Interrupted, Turn::Upto(7)]);
    step2::sendall(&mut w, REQUEST).unwrap();
    assert_eq!(w.accepted(), REQUEST);
    assert_eq!(w.calls(), 3);

    // Takes 7 bytes, then the connection breaks.
    let mut w = ChoppyWriter::broken([Turn::Upto(7)]);
    let error = step2::sendall(&mut w, REQUEST).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::BrokenPipe);
    assert_eq!(w.accepted(), &REQUEST[..7]);
}

// ---------------------------------------------------------------------------
// Step 2, end to end: on loopback its loop runs once, and what reaches the
// other side is exactly the message, once.
// ---------------------------------------------------------------------------

#[test]
fn step2_server_sends_the_whole_reply_and_nothing_more() {
    let mut server = Server::start(bin("step2"), ["server", "-p", "0"]);
    let mut sock = TcpStream::connect(server.address).unwrap();
    sock.write_all(REQUEST).unwrap();
    let mut reply = Vec::new();
    sock.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, REPLY);
    server.wait_for_stdout(REPLY_SENT);
}

#[test]
fn step2_client_sends_the_whole_request_and_nothing_more() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let serving = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut request = [0; 16];
        conn.read_exact(&mut request).unwrap();
        conn.write_all(REPLY).unwrap();
        // The client reads its reply, prints it and exits: then end-of-file.
        let mut more = Vec::new();
        conn.read_to_end(&mut more).unwrap();
        (request, more)
    });
    let client = run(bin("step2"), ["client", "-p", &port]);
    assert_eq!(client.code(), Some(0), "{client:#?}");
    let (request, more) = serving.join().unwrap();
    assert_eq!(&request, REQUEST);
    assert!(more.is_empty(), "extra bytes after the request: {more:?}");
}
