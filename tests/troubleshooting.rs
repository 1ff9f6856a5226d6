//! The claims of the appendix "Troubleshooting" (src/troubleshooting.md)
//! about a client left waiting, each shown on loopback. The other tests it
//! names are in the files of the chapters that make those claims first.
//!
//! These tests show that something does *not* happen (a reply, a client's
//! exit), so each waits a fixed time for an event that cannot happen until
//! the test itself allows it: the outcome never depends on timing.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use book_tests::{PATIENCE, Server, bin};
use listings::protocol::{
    REPLY, REQUEST, WAITING, accepted, closed_early, connection_error, server_said,
};
use wait_timeout::ChildExt;

#[test]
fn a_client_waits_as_long_as_its_peer_sends_nothing() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut accepted, _) = listener.accept().unwrap();
    client.write_all(REQUEST).unwrap();

    // The peer is alive and the connection is healthy, but it sends nothing:
    // read has nothing to return, and without a timeout would wait forever.
    client
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut reply = [0; 16];
    let error = client.read(&mut reply).expect_err("nothing can arrive");
    // On Unix an expired read timeout is EAGAIN, which std calls WouldBlock.
    assert_eq!(error.kind(), ErrorKind::WouldBlock);

    // Eight bytes are not sixteen: a reader that needs all of them still waits.
    accepted.write_all(&REPLY[..8]).unwrap(); // "Goodbye,"
    let error = client
        .read_exact(&mut reply)
        .expect_err("only half the reply came");
    assert_eq!(error.kind(), ErrorKind::WouldBlock);
}

#[test]
fn a_step4_client_waits_while_the_server_serves_a_silent_client() {
    let mut server = Server::start(bin("step4"), ["server", "-p", "0"]);
    assert_eq!(server.next_stdout_line(), WAITING);

    // A first client connects and says nothing: the server, which serves one
    // connection at a time, sits in recvall waiting for its 16 bytes.
    let silent = TcpStream::connect(server.address).unwrap();
    let silent_name = silent.local_addr().unwrap();
    assert_eq!(
        server.next_stdout_line(),
        accepted(silent_name),
        "the server took the silent client"
    );

    // A second client's connect succeeds (the kernel completes the handshake)
    // but nobody reads its message, so it waits for a reply.
    let mut waiting = Command::new(bin("step4"))
        .args(["client", "-p", &server.port()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let still_running = waiting
        .wait_timeout(Duration::from_millis(500))
        .unwrap()
        .is_none();
    assert!(
        still_running,
        "the client cannot finish while the server is busy"
    );

    // The silent client leaves: the server reports it and serves the next one.
    drop(silent);
    let (done, finished) = mpsc::channel();
    thread::spawn(move || {
        let output = waiting.wait_with_output();
        let _ = done.send(output);
    });
    let output = finished
        .recv_timeout(PATIENCE)
        .expect("the client finished")
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains(&server_said(REPLY)),
        "{output:?}"
    );
    assert_eq!(
        server.next_stderr_line(),
        connection_error(silent_name, &closed_early(16, 0))
    );
}
