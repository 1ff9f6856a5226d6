//! The claim of the chapter "Side by side with tcp.py" (src/side-by-side.md)
//! that the port and a Python program speak the same protocol: the looping
//! steps serve the Python peer in `tests/peer.py` and talk to it as a server;
//! and that the peer's server, unlike `tcp.py`'s, outlives a client that
//! hangs up early or resets.
//!
//! The other test the chapter names, about a write to a closed peer, is in
//! `tests/step2_send_loop.rs`.

use std::io::Write;
use std::net::TcpStream;

use book_tests::{Server, bin, looping_steps, python, python_peer, reset, run};
use listings::protocol::{REPLY, REQUEST, incoming, repr, server_said};

#[test]
fn looping_steps_serve_a_python_client() {
    for step in looping_steps() {
        let mut server = Server::start(bin(step), ["server", "-p", "0"]);
        let client = run(
            python(),
            [
                python_peer().to_str().unwrap(),
                "client",
                "-p",
                &server.port(),
            ],
        );
        assert_eq!(
            client.code(),
            Some(0),
            "{step} with a Python client: {client:#?}"
        );
        assert_eq!(
            client.stdout,
            format!("python client received {}\n", repr(REPLY))
        );
        server.wait_for_stdout(&incoming(REQUEST));
    }
}

#[test]
fn looping_steps_talk_to_a_python_server() {
    for step in looping_steps() {
        let mut server = Server::start(
            python(),
            [python_peer().to_str().unwrap(), "server", "-p", "0"],
        );
        let client = run(bin(step), ["client", "-p", &server.port()]);
        assert_eq!(
            client.code(),
            Some(0),
            "{step} client of a Python server: {client:#?}"
        );
        assert!(
            client
                .stdout
                .ends_with(&format!("{}\n", server_said(REPLY))),
            "{client:#?}"
        );
        let received = server.next_stdout_line();
        assert!(
            received.starts_with(&format!(
                "python server received {} from 127.0.0.1:",
                repr(REQUEST)
            )),
            "{received}"
        );
    }
}

#[test]
fn the_python_peers_server_survives_clients_that_hang_up_early_or_reset() {
    let mut server = Server::start(
        python(),
        [python_peer().to_str().unwrap(), "server", "-p", "0"],
    );
    // A client that sends 5 bytes and closes: the peer's EOFError.
    let mut quitter = TcpStream::connect(server.address).unwrap();
    quitter.write_all(&REQUEST[..5]).unwrap();
    drop(quitter);
    assert_eq!(
        server.next_stderr_line(),
        "error: peer closed after 5 of 16 bytes"
    );
    // A client that sends 5 bytes and resets the connection: Python raises
    // ConnectionResetError, an OSError.
    let mut resetter = TcpStream::connect(server.address).unwrap();
    resetter.write_all(&REQUEST[..5]).unwrap();
    reset(resetter);
    assert_eq!(
        server.next_stderr_line(),
        "error: [Errno 104] Connection reset by peer"
    );
    // Still serving.
    let client = run(bin("step5"), ["client", "-p", &server.port()]);
    assert_eq!(client.code(), Some(0), "{client:#?}");
    assert!(server.is_running());
}
