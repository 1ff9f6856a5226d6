//! Every step program, run as a reader runs it: the demo, the two roles in
//! separate processes, and the command line, good and bad. The claims of one
//! chapter are tested in the file of that chapter (`tests/step4_recvall.rs`,
//! `tests/side_by_side.rs`, ...); a chapter names a test here when its claim
//! holds for every step alike: how each treats a host name that stands for
//! several addresses, and a client that resets before it is accepted.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use book_tests::{
    Finished, Output, PATIENCE, STEPS, Server, bin, is_robust, naive_steps, robust_steps, run,
    run_command,
};
use listings::protocol::{
    ASSIGNED, LISTENING, REPLY, REPLY_SENT, REQUEST, SOCKET_NAME, SOCKET_PEER, WAITING, accepted,
    connection_error, incoming, server_error, server_said,
};
use socket2::{Domain, SockRef, Socket, Type};

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
fn robust_steps_take_options_that_make_no_sense_as_usage_errors() {
    for step in robust_steps() {
        options_that_make_no_sense_are_usage_errors(step);
    }
}

/// The options of step 6's server and client, given values that make no
/// sense, or given to the wrong role.
fn options_that_make_no_sense_are_usage_errors(step: &str) {
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
        let run = run(bin(step), [role, option, value]);
        let line = run.one_line_error(2);
        assert!(
            line.starts_with("error: ")
                && line.contains(complaint)
                && line.ends_with("(see --help)"),
            "{step} {role} {option} {value}: {line}"
        );
    }
}

#[test]
fn robust_steps_help_shows_their_options_and_defaults() {
    for step in robust_steps() {
        let server = run(bin(step), ["server", "--help"]);
        assert_eq!(server.code(), Some(0), "{step}: {server:#?}");
        for shown in [
            "--max-connections <N>",
            "[default: 64]",
            "--timeout <SECONDS>",
            "[default: 5]",
        ] {
            assert!(
                server.stdout.contains(shown),
                "{step} {shown}: {}",
                server.stdout
            );
        }
        assert!(
            !server.stdout.contains("one at a time"),
            "{step}: {}",
            server.stdout
        );
        let client = run(bin(step), ["client", "--help"]);
        for shown in ["--connect-timeout <SECONDS>", "--timeout <SECONDS>"] {
            assert!(
                client.stdout.contains(shown),
                "{step} {shown}: {}",
                client.stdout
            );
        }
    }
    // Steps 1 to 5 still describe the server they have.
    let step5 = run(bin("step5"), ["--help"]);
    assert!(
        step5.stdout.contains("answer clients, one at a time,"),
        "{}",
        step5.stdout
    );
}

/// The server's next stdout line about the connection it has just
/// accepted. A robust step (step 6 on) may print "Waiting for a new
/// connection" among them, from the conversation before, which has just
/// ended.
fn next_line_about_it(server: &mut Server, step: &str) -> String {
    loop {
        let line = server.next_stdout_line();
        if !(is_robust(step) && line == WAITING) {
            return line;
        }
    }
}

#[test]
fn every_step_prints_the_peer_accept_gave_even_after_a_reset() {
    let reset = "Connection reset by peer (os error 104)";
    for step in STEPS {
        // A robust step takes one client at a time only when told so.
        let mut args = vec!["server", "-p", "0"];
        if is_robust(step) {
            args.extend(["--max-connections", "1", "--timeout", "30"]);
        }
        let mut server = Server::start(bin(step), args);
        server.wait_for_stdout(WAITING);
        // A first client keeps the server busy, so that it does not accept
        // the second yet.
        let mut first = TcpStream::connect(server.address).unwrap();
        server.wait_for_stdout(&accepted(first.local_addr().unwrap()));
        // The second connects, and resets the connection (SO_LINGER with a
        // zero timeout: close sends RST) while it waits in the backlog.
        let second = TcpStream::connect(server.address).unwrap();
        let name = second.local_addr().unwrap();
        SockRef::from(&second)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(second);
        // The first is served; only then is the second accepted, reset.
        first.set_read_timeout(Some(PATIENCE)).unwrap();
        first.write_all(REQUEST).unwrap();
        let mut reply = [0; 16];
        first.read_exact(&mut reply).unwrap();
        server.wait_for_stdout(&accepted(name));
        let socket_name = format!("{SOCKET_NAME}{}", server.address);
        assert_eq!(next_line_about_it(&mut server, step), socket_name, "{step}");
        // Asking the socket for its peer now would fail ("Transport
        // endpoint is not connected"); the address from `accept` is there.
        assert_eq!(
            next_line_about_it(&mut server, step),
            format!("{SOCKET_PEER}{name}"),
            "{step}"
        );
        // What the reset does next is the `read`'s to report: it ends the
        // servers of steps 1 to 3, and only the connection from step 4 on.
        if naive_steps().any(|naive| naive == step) {
            let exited = server.wait_for_exit();
            // The server's error line names the address it was given.
            assert_eq!(
                exited.one_line_error(1),
                server_error(SocketAddr::new(V4, 0), reset),
                "{step}"
            );
        } else {
            assert_eq!(
                server.next_stderr_line(),
                connection_error(name, reset),
                "{step}"
            );
            assert!(server.is_running(), "{step}");
        }
    }
}

// ---------------------------------------------------------------------------
// Host names that stand for several addresses
// ---------------------------------------------------------------------------

/// The name the tests' own hosts file gives both loopback addresses, as
/// many systems' /etc/hosts give `localhost`. No real host has it: `.test`
/// is reserved for testing (RFC 6761).
const TWO_ADDRESSES: &str = "tcp-book.test";

const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

/// Replaces /etc/hosts and /etc/nsswitch.conf with the files given as `$1`
/// and `$2`, then becomes the command that follows them.
const WITH_TEST_HOSTS: &str = r#"mount --bind "$1" /etc/hosts &&
{ [ ! -e /etc/nsswitch.conf ] || mount --bind "$2" /etc/nsswitch.conf; } &&
shift 2 && exec "$@""#;

/// `program args`, run where the test decides what host names resolve to:
/// in a mount namespace of its own (`unshare`), /etc/hosts gives
/// [`TWO_ADDRESSES`] 127.0.0.1 and ::1, and /etc/nsswitch.conf makes that
/// file the only source of host names. The machine's own files stay as
/// they are, and the network is the machine's: the program reaches the
/// servers the test starts, and the test reaches it.
fn with_test_hosts<S: AsRef<OsStr>>(program: impl AsRef<OsStr>, args: &[S]) -> Command {
    static FILES: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    let (hosts, nsswitch) = FILES.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("every_step-hosts");
        fs::create_dir_all(&dir).unwrap();
        let hosts = dir.join("hosts");
        fs::write(
            &hosts,
            format!("127.0.0.1 {TWO_ADDRESSES}\n::1 {TWO_ADDRESSES}\n"),
        )
        .unwrap();
        let nsswitch = dir.join("nsswitch.conf");
        fs::write(&nsswitch, "hosts: files\n").unwrap();
        (hosts, nsswitch)
    });
    let mut command = Command::new("unshare");
    command
        .args([
            "--map-root-user",
            "--mount",
            "sh",
            "-c",
            WITH_TEST_HOSTS,
            "sh",
        ])
        .arg(hosts)
        .arg(nsswitch)
        .arg(program)
        .args(args);
    command
}

/// The addresses [`TWO_ADDRESSES`] resolves to, in the order the resolver
/// gives them, as Python's `getaddrinfo` sees them: the same C library
/// call, with the same hints, that std makes.
fn resolved_in_order() -> Vec<IpAddr> {
    static ADDRESSES: OnceLock<Vec<IpAddr>> = OnceLock::new();
    ADDRESSES
        .get_or_init(|| {
            let script = "import socket, sys\n\
                 for *_, address in socket.getaddrinfo(sys.argv[1], 0, type=socket.SOCK_STREAM):\n\
                 \x20   print(address[0])";
            let command = with_test_hosts(book_tests::python(), &["-c", script, TWO_ADDRESSES]);
            let resolved = run_command(command, Output::Apart).unwrap();
            assert_eq!(
                resolved.code(),
                Some(0),
                "these tests give {TWO_ADDRESSES} addresses of their own, in a mount \
                 namespace, and ask python3 what it resolves to there; that failed. \
                 `unshare --map-root-user --mount` needs unprivileged user namespaces (on \
                 Ubuntu 23.10 and later: sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0). \
                 {resolved:#?}"
            );
            let addresses: Vec<IpAddr> = resolved
                .stdout
                .lines()
                .map(|a| a.parse().unwrap())
                .collect();
            let mut sorted = addresses.clone();
            sorted.sort();
            assert_eq!(
                sorted,
                [V4, V6],
                "the test's hosts file is not what resolves"
            );
            addresses
        })
        .clone()
}

/// Binds `address` without listening: for as long as the socket lives, a
/// connection to it is refused, whatever else runs on the machine.
fn hold(address: SocketAddr) -> std::io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(address), Type::STREAM, None)?;
    socket.bind(&address.into())?;
    Ok(socket)
}

/// How often a test tries for a port that is free on both loopback
/// addresses: the kernel hands out a port that is free on the address it
/// was asked for, and tests running in parallel may hold it on the other.
const TRIES: usize = 10;

/// A `step` server listening on `listening`, and the same port held on
/// `other`, where connections are refused.
fn server_on_one_address_only(step: &str, listening: IpAddr, other: IpAddr) -> (Server, Socket) {
    for _ in 0..TRIES {
        let refusing = hold(SocketAddr::new(other, 0)).unwrap();
        let port = refusing.local_addr().unwrap().as_socket().unwrap().port();
        let mut server = Command::new(bin(step));
        server.args(["server", &listening.to_string(), "-p", &port.to_string()]);
        match Server::start_command(server, Output::Apart) {
            Ok(server) => return (server, refusing),
            Err(why) if why.contains("Address already in use") => continue,
            Err(why) => panic!("{why}"),
        }
    }
    panic!("no port was free on both {listening} and {other} in {TRIES} tries")
}

/// A port held on both loopback addresses, where every connection is
/// refused.
fn refused_on_both() -> (u16, [Socket; 2]) {
    for _ in 0..TRIES {
        let v4 = hold(SocketAddr::new(V4, 0)).unwrap();
        let port = v4.local_addr().unwrap().as_socket().unwrap().port();
        if let Ok(v6) = hold(SocketAddr::new(V6, port)) {
            return (port, [v4, v6]);
        }
    }
    panic!("no port was free on both loopback addresses in {TRIES} tries")
}

#[test]
fn every_client_tries_each_address_a_host_name_stands_for() {
    // The server on one address, then on the other: the client reaches it
    // either way, so in one of the two it found it at its second address.
    resolved_in_order();
    for step in STEPS {
        for (listening, other) in [(V4, V6), (V6, V4)] {
            let (server, _refusing) = server_on_one_address_only(step, listening, other);
            let client =
                with_test_hosts(bin(step), &["client", TWO_ADDRESSES, "-p", &server.port()]);
            let client = run_command(client, Output::Apart).unwrap();
            assert_eq!(
                client.code(),
                Some(0),
                "{step} client, its server on {listening}: {client:#?}"
            );
            let name: SocketAddr = value_after(client.stdout.lines(), ASSIGNED)
                .parse()
                .unwrap();
            assert_eq!(name.ip(), listening, "{step}: {client:#?}");
        }
    }
}

#[test]
fn a_client_that_reaches_no_address_names_the_host_and_every_address() {
    let order = resolved_in_order();
    let (port, _refusing) = refused_on_both();
    let tried: Vec<String> = order
        .iter()
        .map(|&ip| SocketAddr::new(ip, port).to_string())
        .collect();
    for step in STEPS {
        let client = with_test_hosts(
            bin(step),
            &["client", TWO_ADDRESSES, "-p", &port.to_string()],
        );
        let client = run_command(client, Output::Apart).unwrap();
        assert_eq!(
            client.one_line_error(1),
            format!(
                "error: client talking to {TWO_ADDRESSES}:{port} ({}): \
                 Connection refused (os error 111)",
                tried.join(", ")
            ),
            "{step}"
        );
    }
}

#[test]
fn every_server_given_a_host_name_listens_on_its_first_address_only() {
    let first = resolved_in_order()[0];
    for step in STEPS {
        let server = with_test_hosts(bin(step), &["server", TWO_ADDRESSES, "-p", "0"]);
        let server = Server::start_command(server, Output::Apart).unwrap();
        assert_eq!(server.address.ip(), first, "{step}");
        drop(server);

        // The first address's port taken: the server fails, as Python's
        // does, rather than listen on the next address instead.
        let taken = TcpListener::bind(SocketAddr::new(first, 0)).unwrap();
        let port = taken.local_addr().unwrap().port().to_string();
        let server = with_test_hosts(bin(step), &["server", TWO_ADDRESSES, "-p", &port]);
        let server = run_command(server, Output::Apart).unwrap();
        assert_eq!(
            server.one_line_error(1),
            server_error(
                taken.local_addr().unwrap(),
                "Address already in use (os error 98)"
            ),
            "{step}"
        );
    }
}
