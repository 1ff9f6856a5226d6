//! The claim of the chapter "Side by side with tcp.py" (src/side-by-side.md)
//! that the port and a Python program speak the same protocol: the looping
//! steps serve the Python peer in `tests/peer.py` and talk to it as a server.
//!
//! The other test the chapter names, about a write to a closed peer, is in
//! `tests/step2_send_loop.rs`.

use book_tests::{Server, bin, looping_steps, python, python_peer, run};
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
