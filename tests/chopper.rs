//! The chopper relay, and what the steps do behind it: step 1 takes the first
//! piece for the whole message, the looping steps put the pieces together.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;

use book_tests::{Server, bin, closed_port, run};

const WAITING: &str = "Waiting to accept a new connection";
const INCOMING: &str = "  Incoming sixteen-octet message: ";

fn chopper(to_port: u16, extra: &[&str]) -> Server {
    let to = format!("127.0.0.1:{to_port}");
    let mut args = vec!["--listen", "127.0.0.1:0", "--to", &to];
    args.extend_from_slice(extra);
    let mut relay = Server::start(bin("chopper"), args);
    let settings = relay.next_stdout_line();
    assert!(
        settings.starts_with(&format!("Relaying to {to} in pieces of at most")),
        "{settings}"
    );
    relay
}

/// Runs one step client through a chopper in front of that step's server,
/// and returns what the server says it received and the client's run.
fn exchange_through_chopper(step: &str, extra: &[&str]) -> (String, book_tests::Finished) {
    let mut server = Server::start(bin(step), ["server", "-p", "0"]);
    let relay = chopper(server.address.port(), extra);
    let client = run(bin(step), ["client", "-p", &relay.port()]);
    let served = server.wait_for_stdout("  Reply sent, socket closed");
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
    for step in ["step4", "step5"] {
        let (received, client) = exchange_through_chopper(step, &["--chunk", "1", "--both"]);
        assert_eq!(received, "b'Hi there, server'", "{step}");
        assert_eq!(client.code(), Some(0), "{step}: {client:#?}");
        assert!(
            client
                .stdout
                .ends_with("The server said b'Goodbye, client!'\n"),
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

#[test]
fn a_half_close_passes_through_and_the_reply_still_comes_back() {
    let server = Server::start(bin("step4"), ["server", "-p", "0"]);
    let relay = chopper(server.address.port(), &["--chunk", "4"]);
    let mut conn = TcpStream::connect(relay.address).unwrap();
    conn.write_all(b"Hi there, server").unwrap();
    conn.shutdown(Shutdown::Write).unwrap();
    let mut reply = Vec::new();
    conn.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, b"Goodbye, client!");
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
        line.contains("was expecting 16 bytes but only received 0 bytes")
            || line.contains("Connection reset by peer"),
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
