//! What the chapter on step 4 claims about receiving, shown on real loopback
//! connections: `read` returns 0 once the peer has closed, and `read_exact`
//! turns a peer that closes early into one fixed error that does not say how
//! many bytes arrived.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

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
    let (mut conn, peer) = peer_that_sends_and_closes(b"Hi there, ");
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
    let (mut conn, peer) = peer_that_sends_and_closes(b"Hi there, server");
    peer.join().unwrap();
    let mut message = [0; 16];
    conn.read_exact(&mut message).unwrap();
    assert_eq!(&message, b"Hi there, server");
}

#[test]
fn read_returns_zero_at_eof_after_the_peer_closes() {
    let (mut conn, peer) = peer_that_sends_and_closes(b"Hi there, ");
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
    assert_eq!(received, b"Hi there, ");
    // End of file is not an event that is consumed: every later read says
    // it again.
    for _ in 0..3 {
        assert_eq!(conn.read(&mut buffer).unwrap(), 0);
    }
}
