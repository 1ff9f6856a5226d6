//! The claims of the chapter "Step 3: `write_all`, Rust's `sendall`"
//! (src/step3-sendall.md): what std's `write_all` does with each thing that
//! `write` can return, shown against the writer double of
//! `listings::doubles`, and that on a real socket it can fail after sending
//! part of the data without saying how much.
//!
//! Run one test with its printed numbers, as the chapter quotes them:
//! `cargo test --test step3_sendall -- --nocapture <name>`.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use listings::doubles::{ChoppyWriter, Turn};
use listings::protocol::REQUEST;

#[test]
fn write_all_loops_over_short_writes_and_delivers_every_byte_in_order() {
    for k in [1, 3, 5, 16] {
        // At most k bytes a call, for every call 16 bytes can take.
        let mut w = ChoppyWriter::new([Turn::Upto(k); 16]);
        w.write_all(REQUEST).unwrap();
        assert_eq!(w.accepted(), REQUEST, "k = {k}");
        assert_eq!(w.calls(), 16usize.div_ceil(k), "k = {k}");
    }
}

#[test]
fn write_all_turns_ok_zero_into_write_zero_instead_of_spinning() {
    // Takes 5 bytes, then nothing at all, forever.
    let mut w = ChoppyWriter::stuck([Turn::Upto(5)]);
    let error = w.write_all(REQUEST).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::WriteZero);
    assert_eq!(error.to_string(), "failed to write whole buffer");
    // It gave up on the first Ok(0): two calls, no spinning.
    assert_eq!(w.calls(), 2);
    assert_eq!(w.accepted(), &REQUEST[..5]);
}

#[test]
fn write_all_retries_interrupted() {
    let mut w = ChoppyWriter::new([Turn::Upto(3), Turn::Interrupted, Turn::Interrupted]);
    w.write_all(REQUEST).unwrap();
    assert_eq!(w.accepted(), REQUEST);
    assert_eq!(w.calls(), 4);
}

#[test]
fn write_all_of_nothing_never_calls_write() {
    // A writer whose first call would fail: write_all must not make it.
    let mut w = ChoppyWriter::broken([]);
    w.write_all(b"").unwrap();
    assert_eq!(w.calls(), 0);
}

#[test]
fn write_all_returns_other_errors_and_the_count_already_written_is_lost() {
    // Takes 4 bytes, then 6, then the connection breaks.
    let mut w = ChoppyWriter::broken([Turn::Upto(4), Turn::Upto(6)]);
    let error = w.write_all(REQUEST).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::BrokenPipe);
    // Ten bytes went out before the error, and nothing in `error` says so:
    // only the double, which recorded them, knows.
    assert_eq!(w.accepted(), &REQUEST[..10]);
    assert_eq!(
        error.to_string(),
        io::Error::from(ErrorKind::BrokenPipe).to_string()
    );
}

#[test]
fn write_all_on_a_socket_with_a_timeout_fails_after_sending_part() {
    // A connected pair on loopback whose peer does not read until the end.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut writer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut peer, _) = listener.accept().unwrap();
    writer
        .set_write_timeout(Some(Duration::from_millis(100)))
        .unwrap();

    let data = vec![b'x'; 8 * 1024 * 1024];
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
