//! The claims of the chapter "Side by side with tcp.py" (src/side-by-side.md)
//! that the port and the Python program speak the same protocol and print
//! the same lines apart from the format of addresses: every step serves
//! `tcp.py`'s client and is served by `tcp.py`'s server, each side printing
//! exactly its lines, and step 5's server prints what `tcp.py`'s does. And
//! that the looping steps get on with the Python peer in `tests/peer.py`,
//! whose server, unlike `tcp.py`'s, outlives a client that hangs up early or
//! resets.
//!
//! The other test the chapter names, about a write to a closed peer, is in
//! `tests/step2_send_loop.rs`.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};

use book_tests::{
    STEPS, Server, as_python, bin, looping_steps, python, python_address, python_peer, reset, run,
    tcp_py, tcp_py_server,
};
use listings::protocol::{
    ASSIGNED, LISTENING, REPLY, REPLY_SENT, REQUEST, SOCKET_NAME, SOCKET_PEER, WAITING, accepted,
    incoming, repr, server_said,
};

/// Everything a server prints up to its second "Waiting" line, with one
/// client, as the steps print it: listening at `server`, the client at
/// `client`.
fn server_lines(server: SocketAddr, client: SocketAddr) -> Vec<String> {
    vec![
        format!("{LISTENING}{server}"),
        WAITING.to_owned(),
        accepted(client),
        format!("{SOCKET_NAME}{server}"),
        format!("{SOCKET_PEER}{client}"),
        incoming(REQUEST),
        REPLY_SENT.to_owned(),
        WAITING.to_owned(),
    ]
}

/// A client's two lines as the steps print them, its socket at `client`.
fn client_lines(client: SocketAddr) -> Vec<String> {
    vec![format!("{ASSIGNED}{client}"), server_said(REPLY)]
}

/// Lines as `tcp.py` prints them in the place of `lines`, a Rust program's.
fn in_python(lines: &[String]) -> Vec<String> {
    lines.iter().map(|line| as_python(line)).collect()
}

/// The server's lines so far, once it has printed "Waiting" twice: before
/// its first client and after it.
fn served_one_client(server: &mut Server) -> Vec<String> {
    while server.stdout.iter().filter(|line| *line == WAITING).count() < 2 {
        server.next_stdout_line();
    }
    server.stdout.clone()
}

/// The address a client says it was assigned, in either language's format.
fn assigned(client_stdout: &str) -> SocketAddr {
    let first = client_stdout.lines().next().unwrap_or_default();
    let address = first.strip_prefix(ASSIGNED);
    address
        .and_then(|a| a.parse().ok().or_else(|| python_address(a)))
        .unwrap_or_else(|| panic!("not `{ASSIGNED}ADDRESS`: {client_stdout:?}"))
}

#[test]
fn tcp_py_serves_every_steps_client() {
    for step in STEPS {
        let mut server = tcp_py_server();
        let client = run(bin(step), ["client", "-p", &server.port()]);
        assert_eq!(client.code(), Some(0), "{step} client: {client:#?}");
        let name = assigned(&client.stdout);
        let printed: Vec<&str> = client.stdout.lines().collect();
        assert_eq!(printed, client_lines(name), "{step} client");
        assert_eq!(
            served_one_client(&mut server),
            in_python(&server_lines(server.address, name)),
            "tcp.py serving {step}"
        );
    }
}

#[test]
fn every_step_serves_tcp_py_as_a_client() {
    for step in STEPS {
        let mut server = Server::start(bin(step), ["server", "-p", "0"]);
        let client = run(
            python(),
            [tcp_py().to_str().unwrap(), "client", "-p", &server.port()],
        );
        assert_eq!(
            client.code(),
            Some(0),
            "tcp.py, client of {step}: {client:#?}"
        );
        let name = assigned(&client.stdout);
        let printed: Vec<&str> = client.stdout.lines().collect();
        assert_eq!(
            printed,
            in_python(&client_lines(name)),
            "tcp.py, client of {step}"
        );
        assert_eq!(
            served_one_client(&mut server),
            server_lines(server.address, name),
            "{step} serving tcp.py"
        );
    }
}

/// `lines` with the server's and the client's ports written as 1060 and
/// 51234, so that two runs can be compared.
fn with_book_ports(lines: &[String], server: SocketAddr, client: SocketAddr) -> Vec<String> {
    let tuple = |port: u16| format!("('127.0.0.1', {port})");
    lines
        .iter()
        .map(|line| {
            line.replace(&tuple(server.port()), &tuple(1060))
                .replace(&tuple(client.port()), &tuple(51234))
        })
        .collect()
}

#[test]
fn step5_and_tcp_py_servers_print_the_same_lines_apart_from_address_format() {
    // The same kind of client for both servers: step 5's, then tcp.py's.
    let step5 = bin("step5").display().to_string();
    let script = tcp_py().display().to_string();
    for client_command in [vec![step5], vec![python().to_owned(), script]] {
        let mut printed = Vec::new();
        for mut server in [
            Server::start(bin("step5"), ["server", "-p", "0"]),
            tcp_py_server(),
        ] {
            let mut args = client_command[1..].to_vec();
            args.extend(["client", "-p", &server.port()].map(str::to_owned));
            let client = run(&client_command[0], &args);
            assert_eq!(client.code(), Some(0), "{client:#?}");
            let lines = in_python(&served_one_client(&mut server));
            printed.push(with_book_ports(
                &lines,
                server.address,
                assigned(&client.stdout),
            ));
        }
        let [rust, python] = &printed[..] else {
            unreachable!("two servers")
        };
        assert_eq!(
            rust, python,
            "step 5, then tcp.py, with the client {client_command:?}"
        );
    }
}

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
