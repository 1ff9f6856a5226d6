//! Every step program, run as a reader runs it: the demo, the two roles in
//! separate processes, against an independent Python peer, and failing.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

use book_tests::{STEPS, Server, bin, closed_port, python, python_peer, run};

const REQUEST_SHOWN: &str = "b'Hi there, server'";
const REPLY_SHOWN: &str = "b'Goodbye, client!'";
const WAITING: &str = "Waiting to accept a new connection";

/// The steps whose receiving side loops (recvall), and whose server outlives
/// a client that hangs up early.
const LOOPING_STEPS: [&str; 3] = ["step4", "step5", "step6"];

fn value_after<'a>(lines: impl IntoIterator<Item = &'a str>, prefix: &str) -> &'a str {
    lines
        .into_iter()
        .find_map(|line| line.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line starts with {prefix:?}"))
}

#[test]
fn every_demo_exits_zero_and_shows_both_sides_of_one_connection() {
    for step in STEPS {
        let demo = run(bin(step), [] as [&str; 0]);
        assert_eq!(demo.code(), Some(0), "{step} demo: {demo:#?}");
        let out = &demo.stdout;
        assert!(
            out.contains(&format!(
                "server |   Incoming sixteen-octet message: {REQUEST_SHOWN}\n"
            )),
            "{step}: {out}"
        );
        assert!(
            out.contains(&format!("client | The server said {REPLY_SHOWN}\n")),
            "{step}: {out}"
        );
        // The two transcripts describe one connection: the client's own
        // address is the peer the server accepted.
        let client_name = value_after(
            out.lines(),
            "client | Client has been assigned socket name ",
        );
        let server_peer = value_after(out.lines(), "server |   Socket peer: ");
        assert_eq!(client_name, server_peer, "{step}: {out}");
        assert!(
            out.lines()
                .next()
                .unwrap_or("")
                .starts_with("server | Listening at 127.0.0.1:")
        );
    }
}

#[test]
fn every_step_serves_clients_from_separate_processes() {
    for step in STEPS {
        let mut server = Server::start(bin(step), ["server", "-p", "0"]);
        assert!(
            server.address.ip().is_loopback(),
            "{step} listens on 127.0.0.1 by default"
        );
        assert_eq!(server.wait_for_stdout(WAITING), Vec::<String>::new());
        // Two clients in turn: the server answers each and carries on.
        for _ in 0..2 {
            let client = run(bin(step), ["client", "-p", &server.port()]);
            assert_eq!(client.code(), Some(0), "{step} client: {client:#?}");
            let lines: Vec<&str> = client.stdout.lines().collect();
            assert_eq!(
                lines.len(),
                2,
                "{step} client prints two lines: {client:#?}"
            );
            let name = value_after(
                lines.iter().copied(),
                "Client has been assigned socket name ",
            );
            assert_eq!(lines[1], format!("The server said {REPLY_SHOWN}"));

            let served = server.wait_for_stdout(WAITING);
            assert_eq!(
                served,
                [
                    format!("We have accepted a connection from {name}"),
                    format!("  Socket name: {}", server.address),
                    format!("  Socket peer: {name}"),
                    format!("  Incoming sixteen-octet message: {REQUEST_SHOWN}"),
                    "  Reply sent, socket closed".to_owned(),
                ],
                "{step} server"
            );
        }
    }
}

#[test]
fn looping_steps_serve_a_python_client() {
    for step in LOOPING_STEPS {
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
            format!("python client received {REPLY_SHOWN}\n")
        );
        server.wait_for_stdout(&format!(
            "  Incoming sixteen-octet message: {REQUEST_SHOWN}"
        ));
    }
}

#[test]
fn looping_steps_talk_to_a_python_server() {
    for step in LOOPING_STEPS {
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
                .ends_with(&format!("The server said {REPLY_SHOWN}\n")),
            "{client:#?}"
        );
        let received = server.next_stdout_line();
        assert!(
            received.starts_with(&format!(
                "python server received {REQUEST_SHOWN} from 127.0.0.1:"
            )),
            "{received}"
        );
    }
}

#[test]
fn a_client_with_nobody_listening_says_connection_refused() {
    for step in STEPS {
        let closed = closed_port();
        let port = closed.port().to_string();
        let client = run(bin(step), ["client", "-p", &port]);
        let line = client.one_line_error(1);
        assert_eq!(
            line,
            format!("error: client talking to 127.0.0.1:{port}: Connection refused (os error 111)"),
            "{step}"
        );
    }
}

#[test]
fn a_server_on_a_port_in_use_says_so() {
    for step in STEPS {
        // Listening, not merely bound: even SO_REUSEADDR (std sets it too)
        // does not let a second listener share the port with a live one.
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port().to_string();
        let server = run(bin(step), ["server", "-p", &port]);
        let line = server.one_line_error(1);
        assert_eq!(
            line,
            format!("error: server at 127.0.0.1:{port}: Address already in use (os error 98)"),
            "{step}"
        );
    }
}

#[test]
fn a_port_that_is_not_a_port_is_a_usage_error() {
    for step in STEPS {
        for (role, port, complaint) in [
            ("server", "70000", "70000 is not in 0..=65535"),
            ("client", "70000", "70000 is not in 0..=65535"),
            ("client", "abc", "invalid digit found in string"),
            ("server", "-1", "unexpected argument '-1'"),
        ] {
            let run = run(bin(step), [role, "-p", port]);
            let line = run.one_line_error(2);
            assert!(
                line.starts_with("error: ") && line.contains(complaint),
                "{step} {role} -p {port}: {line}"
            );
        }
        let unknown = run(bin(step), ["serve"]);
        assert!(
            unknown
                .one_line_error(2)
                .contains("unrecognized subcommand 'serve'")
        );
    }
}

#[test]
fn help_explains_both_roles() {
    for step in STEPS {
        let help = run(bin(step), ["--help"]);
        assert_eq!(help.code(), Some(0));
        for role in ["server", "client"] {
            assert!(help.stdout.contains(role), "{step} --help: {}", help.stdout);
        }
        let server_help = run(bin(step), ["server", "--help"]);
        assert!(
            server_help.stdout.contains("[default: 1060]"),
            "{}",
            server_help.stdout
        );
        assert!(
            server_help.stdout.contains("[default: 127.0.0.1]"),
            "{}",
            server_help.stdout
        );
    }
}

#[test]
fn step6_options_that_make_no_sense_are_usage_errors() {
    for (role, option, value, complaint) in [
        ("server", "--timeout", "abc", "expected a number of seconds"),
        ("server", "--timeout", "0", "expected more than 0"),
        ("server", "--max-connections", "0", "would be zero"),
        ("server", "--max-connections", "many", "invalid digit"),
        ("client", "--connect-timeout", "0", "expected more than 0"),
        ("client", "--timeout", "1e9", "at most 86400 seconds"),
        // Each role takes only its own options.
        ("client", "--max-connections", "2", "unexpected argument"),
        ("server", "--connect-timeout", "2", "unexpected argument"),
    ] {
        let run = run(bin("step6"), [role, option, value]);
        let line = run.one_line_error(2);
        assert!(
            line.starts_with("error: ")
                && line.contains(complaint)
                && line.ends_with("(see --help)"),
            "step6 {role} {option} {value}: {line}"
        );
    }
}

#[test]
fn step6_help_shows_its_options_and_their_defaults() {
    let server = run(bin("step6"), ["server", "--help"]);
    assert_eq!(server.code(), Some(0));
    for shown in [
        "--max-connections <N>",
        "[default: 64]",
        "--timeout <SECONDS>",
        "[default: 5]",
    ] {
        assert!(server.stdout.contains(shown), "{shown}: {}", server.stdout);
    }
    assert!(
        !server.stdout.contains("one at a time"),
        "{}",
        server.stdout
    );
    let client = run(bin("step6"), ["client", "--help"]);
    assert!(
        client.stdout.contains("--connect-timeout <SECONDS>"),
        "{}",
        client.stdout
    );
    // Steps 1 to 5 still describe the server they have.
    let step5 = run(bin("step5"), ["--help"]);
    assert!(
        step5.stdout.contains("answer clients, one at a time,"),
        "{}",
        step5.stdout
    );
}

#[test]
fn looping_servers_report_a_client_that_hangs_up_early_and_serve_the_next() {
    for step in LOOPING_STEPS {
        let mut server = Server::start(bin(step), ["server", "-p", "0"]);
        let mut quitter = TcpStream::connect(server.address).unwrap();
        let quitter_name = quitter.local_addr().unwrap();
        quitter.write_all(b"Hi th").unwrap();
        drop(quitter);
        assert_eq!(
            server.next_stderr_line(),
            format!(
                "error: connection from {quitter_name}: was expecting 16 bytes but only received 5 bytes before the socket closed"
            ),
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

/// A server that reads the request, answers with only `reply`, and closes.
fn short_answer_server(reply: &'static [u8]) -> (u16, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let serving = thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        // Read the whole request first: closing with unread data would make
        // the kernel reset the connection instead of ending it cleanly.
        let mut request = [0; 16];
        conn.read_exact(&mut request).unwrap();
        conn.write_all(reply).unwrap();
    });
    (port, serving)
}

#[test]
fn looping_clients_fail_cleanly_on_a_short_reply() {
    for step in LOOPING_STEPS {
        let (port, serving) = short_answer_server(b"Good");
        let client = run(bin(step), ["client", "-p", &port.to_string()]);
        serving.join().unwrap();
        assert_eq!(
            client.one_line_error(1),
            format!(
                "error: client talking to 127.0.0.1:{port}: was expecting 16 bytes but only received 4 bytes before the socket closed"
            ),
            "{step}"
        );
    }
}

#[test]
fn naive_clients_take_a_short_reply_for_the_whole_message() {
    for step in ["step1", "step2", "step3"] {
        let (port, serving) = short_answer_server(b"Good");
        let client = run(bin(step), ["client", "-p", &port.to_string()]);
        serving.join().unwrap();
        assert_eq!(client.code(), Some(0), "{client:#?}");
        // One read, its count ignored: the four bytes that came, then the
        // zeros the buffer started with.
        let padded = format!("The server said b'Good{}'\n", r"\x00".repeat(12));
        assert!(
            client.stdout.ends_with(&padded),
            "{step}: {}",
            client.stdout
        );
    }
}
