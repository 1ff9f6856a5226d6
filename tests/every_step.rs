//! Every step program, run as a reader runs it: the demo, the two roles in
//! separate processes, and the command line, good and bad. No chapter names
//! these tests; the ones a chapter names are in the file of that chapter
//! (`tests/step4_recvall.rs`, `tests/side_by_side.rs`, ...).

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Stdio};

use book_tests::{Finished, STEPS, Server, bin, run};
use listings::protocol::{
    ASSIGNED, LISTENING, REPLY, REPLY_SENT, REQUEST, SOCKET_NAME, SOCKET_PEER, WAITING, accepted,
    incoming, server_error, server_said,
};

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
            out.contains(&format!("server | {}\n", incoming(REQUEST))),
            "{step}: {out}"
        );
        assert!(
            out.contains(&format!("client | {}\n", server_said(REPLY))),
            "{step}: {out}"
        );
        // The two transcripts describe one connection: the client's own
        // address is the peer the server accepted.
        let client_name = value_after(out.lines(), &format!("client | {ASSIGNED}"));
        let server_peer = value_after(out.lines(), &format!("server | {SOCKET_PEER}"));
        assert_eq!(client_name, server_peer, "{step}: {out}");
        assert!(
            out.lines()
                .next()
                .unwrap_or("")
                .starts_with(&format!("server | {LISTENING}127.0.0.1:"))
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
            let name: SocketAddr = value_after(lines.iter().copied(), ASSIGNED)
                .parse()
                .unwrap_or_else(|e| panic!("{step} client's socket name: {e}"));
            assert_eq!(lines[1], server_said(REPLY));

            let served = server.wait_for_stdout(WAITING);
            assert_eq!(
                served,
                [
                    accepted(name),
                    format!("{SOCKET_NAME}{}", server.address),
                    format!("{SOCKET_PEER}{name}"),
                    incoming(REQUEST),
                    REPLY_SENT.to_owned(),
                ],
                "{step} server"
            );
        }
    }
}

#[test]
fn a_server_on_a_port_in_use_says_so() {
    for step in STEPS {
        // Listening, not merely bound: even SO_REUSEADDR (std sets it too)
        // does not let a second listener share the port with a live one.
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = taken.local_addr().unwrap();
        let server = run(bin(step), ["server", "-p", &address.port().to_string()]);
        assert_eq!(
            server.one_line_error(1),
            server_error(address, "Address already in use (os error 98)"),
            "{step}"
        );
    }
}

/// `println!` panics when standard output cannot be written; the programs
/// still end as any failure does, with one line and status 1.
#[test]
fn output_that_cannot_be_written_is_one_line_and_status_1() {
    for step in STEPS {
        for args in [&["server", "-p", "0"][..], &[]] {
            // Each exits at its first line, so there is nothing to wait for
            // but the exit.
            let ended = Command::new(bin(step))
                .args(args)
                .stdin(Stdio::null())
                .stdout(File::create("/dev/full").unwrap())
                .output()
                .unwrap();
            let ended = Finished {
                status: ended.status,
                stdout: String::new(),
                stderr: String::from_utf8_lossy(&ended.stderr).into_owned(),
            };
            assert_eq!(
                ended.one_line_error(1),
                "error: failed printing to stdout: No space left on device (os error 28)",
                "{step} {args:?}"
            );
        }
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
