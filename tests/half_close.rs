//! The claims of the chapter "Closing one direction" (src/half-close.md):
//! what `shutdown` does on Linux, why closing with unread data resets a
//! connection and how a lingering close avoids it, the states a half-closed
//! connection goes through, and the `halfclose` program against misbehaving
//! peers and against an independent Python peer (tests/peer_halfclose.py).
//!
//! Every test binds port 0, and none sleeps to wait for something: each
//! waits for a line a program prints, a byte, an end of file, or a state in
//! the kernel's table of connections. The only waits that take time are the
//! deadlines of 1 second that the robustness tests give the programs.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Instant;

use book_tests::{
    Finished, PATIENCE, Server, bin, closed_port, connected_pair, python, repo, reset, run, ss,
    still_open, tcp_table_row, unread_bytes,
};
use listings::protocol::{ASSIGNED, SOCKET_NAME, SOCKET_PEER, WAITING, accepted};

/// The chapter's program.
const HALFCLOSE: &str = "halfclose";

/// The message the tests' clients send: no length, no terminator.
const MESSAGE: &str = "a message of any length, ended by a FIN";

/// `/proc/net/tcp`'s code for ESTABLISHED.
const ESTABLISHED: &str = "01";

/// Makes a read that would wait forever fail after [`PATIENCE`] instead, so
/// that a broken claim fails its test rather than hanging the suite.
fn patient(stream: &TcpStream) {
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream.set_write_timeout(Some(PATIENCE)).unwrap();
}

/// The connection's 4-tuple as seen from one end: (local, remote).
fn four_tuple(stream: &TcpStream) -> (SocketAddr, SocketAddr) {
    (stream.local_addr().unwrap(), stream.peer_addr().unwrap())
}

/// Waits until `done` holds, polling; fails after [`PATIENCE`], saying `what`
/// never happened.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "{what} never happened");
        thread::yield_now();
    }
}

/// The state of the connection (local, remote) in the kernel's table, as
/// `/proc/net/tcp` codes it (`01` ESTABLISHED, `06` TIME_WAIT, ...).
fn state(local: SocketAddr, remote: SocketAddr) -> Option<String> {
    tcp_table_row(local, remote).map(|row| row[3].clone())
}

/// How many bytes the kernel at `local` has sent on the connection to
/// `remote` and not yet seen acknowledged: `tx_queue` in /proc/net/tcp.
fn unacknowledged(local: SocketAddr, remote: SocketAddr) -> u32 {
    let row = tcp_table_row(local, remote).expect("the connection is listed");
    let tx_queue = row[4].split(':').next().expect("tx_queue:rx_queue");
    u32::from_str_radix(tx_queue, 16).expect("hexadecimal")
}

/// A `halfclose` server on a free port, ready for its first client.
fn halfclose_server(options: &[&str]) -> Server {
    let mut args = vec!["server", "-p", "0"];
    args.extend_from_slice(options);
    let mut server = Server::start(bin(HALFCLOSE), args);
    assert_eq!(server.wait_for_stdout(WAITING), Vec::<String>::new());
    server
}

/// Runs the `halfclose` client against `port` with `options`.
fn halfclose_client(port: u16, options: &[&str]) -> Finished {
    let port = port.to_string();
    let mut args = vec!["client", "-p", &port];
    args.extend_from_slice(options);
    run(bin(HALFCLOSE), args)
}

/// A server that the test plays itself, for the `halfclose` client.
struct ByHand {
    listener: TcpListener,
    port: u16,
}

impl ByHand {
    fn new() -> ByHand {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        ByHand { listener, port }
    }

    /// Starts the `halfclose` client with `options` against this server,
    /// accepts its connection and reads its message to EOF. Returns the
    /// client's thread, which ends with the client, the connection, the
    /// client's address and the message.
    fn take_a_message(
        &self,
        options: &'static [&'static str],
    ) -> (thread::JoinHandle<Finished>, TcpStream, SocketAddr, Vec<u8>) {
        let port = self.port;
        let client = thread::spawn(move || halfclose_client(port, options));
        let (mut conn, name) = self.listener.accept().unwrap();
        patient(&conn);
        let mut message = Vec::new();
        conn.read_to_end(&mut message).unwrap();
        (client, conn, name, message)
    }
}

/// A client of `server` that has sent `bytes`: its connection and address.
fn sent(server: &Server, bytes: &[u8]) -> (TcpStream, SocketAddr) {
    let mut client = TcpStream::connect(server.address).unwrap();
    patient(&client);
    client.write_all(bytes).unwrap();
    let name = client.local_addr().unwrap();
    (client, name)
}

/// The address a client printed on its first line, `Client has been
/// assigned socket name ADDRESS`.
fn client_name(stdout: &str) -> SocketAddr {
    let first = stdout.lines().next().unwrap_or_default();
    first
        .strip_prefix(ASSIGNED)
        .and_then(|name| name.parse().ok())
        .unwrap_or_else(|| panic!("no socket name in {stdout:?}"))
}

/// What the `halfclose` client prints when its exchange of `message` went
/// well, from the socket name `name`.
fn client_lines(name: SocketAddr, message: &str) -> String {
    format!(
        "{ASSIGNED}{name}\n\
         Sent {} bytes, then shut down writing\n\
         The server said b'{}'\n",
        message.len(),
        message.to_ascii_uppercase().as_bytes().escape_ascii()
    )
}

/// What the `halfclose` server at `server` prints on accepting a client at
/// `peer`: the lines of step 6.
fn connection_lines(server: &Server, peer: SocketAddr) -> Vec<String> {
    vec![
        accepted(peer),
        format!("{SOCKET_NAME}{}", server.address),
        format!("{SOCKET_PEER}{peer}"),
    ]
}

/// What the `halfclose` server at `server` prints about a client at `peer`
/// that sent `length` bytes and shut down writing.
fn server_lines(server: &Server, peer: SocketAddr, length: usize) -> Vec<String> {
    let mut lines = connection_lines(server, peer);
    lines.extend([
        format!("  Received {length} bytes, then end of file"),
        "  Sent them back upper-cased".to_owned(),
        "  Closing socket".to_owned(),
    ]);
    lines
}

/// Checks that `server` accepted the client at `peer`, then dropped it
/// with the one line `error: connection from PEER: WHY` on stderr.
fn assert_dropped(server: &mut Server, peer: SocketAddr, why: &str) {
    assert_eq!(
        server.wait_for_stdout(WAITING),
        connection_lines(server, peer)
    );
    assert_eq!(
        server.next_stderr_line(),
        format!("error: connection from {peer}: {why}")
    );
}

/// Reads what `client` gets until EOF, and checks that it is nothing: no
/// reply, and no reset.
fn assert_no_reply(client: &mut TcpStream) {
    let mut reply = Vec::new();
    client.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, b"", "no reply, and an end of file");
}

/// Checks that `server` serves a well-behaved client: the `halfclose`
/// client, every line of both sides exact.
fn assert_served(server: &mut Server, after: &str) {
    let client = halfclose_client(server.address.port(), &["-m", MESSAGE]);
    assert!(client.status.success(), "after {after}: {client:?}");
    let name = client_name(&client.stdout);
    assert_eq!(client.stdout, client_lines(name, MESSAGE), "after {after}");
    assert_eq!(
        server.wait_for_stdout(WAITING),
        server_lines(server, name, MESSAGE.len()),
        "after {after}"
    );
}

// ------------------------------------------------ shutdown(Shutdown::Write)

#[test]
fn after_shutdown_write_the_peer_reads_the_message_then_eof_and_can_still_reply() {
    let (mut client, mut server) = connected_pair();
    patient(&client);
    patient(&server);
    client.write_all(MESSAGE.as_bytes()).unwrap();
    client.shutdown(Shutdown::Write).unwrap();

    // read_to_end stops at the first read that returns 0: the FIN.
    let mut message = Vec::new();
    server.read_to_end(&mut message).unwrap();
    assert_eq!(message, MESSAGE.as_bytes());
    // The end of file stays: every later read returns 0 at once.
    let mut buffer = [0; 16];
    for _ in 0..3 {
        assert_eq!(server.read(&mut buffer).unwrap(), 0);
    }

    // The other direction is open: the server replies, the client reads.
    server.write_all(b"THE REPLY").unwrap();
    drop(server);
    let mut reply = Vec::new();
    client.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, b"THE REPLY");
}

#[test]
fn after_shutdown_write_a_write_fails_with_broken_pipe() {
    let (mut client, _server) = connected_pair();
    client.shutdown(Shutdown::Write).unwrap();
    let error = client.write(b"more").expect_err("the sending side is shut");
    assert_eq!(error.kind(), ErrorKind::BrokenPipe, "{error}");
}

// ------------------------------------------------- shutdown(Shutdown::Read)

#[test]
fn shutdown_read_sends_nothing_to_the_peer() {
    let (client, server) = connected_pair();
    server.shutdown(Shutdown::Read).unwrap();
    // No FIN and no reset reached the client: its read finds nothing yet,
    // rather than an end of file or an error...
    assert!(still_open(&client));
    // ...and both ends are still ESTABLISHED, where a FIN would have moved
    // them to FIN_WAIT and CLOSE_WAIT.
    let (local, remote) = four_tuple(&server);
    assert_eq!(state(local, remote).as_deref(), Some(ESTABLISHED));
    assert_eq!(state(remote, local).as_deref(), Some(ESTABLISHED));
}

#[test]
fn after_shutdown_read_a_read_returns_0_at_once() {
    let (_client, mut server) = connected_pair();
    patient(&server);
    server.shutdown(Shutdown::Read).unwrap();
    // Nothing has arrived and the peer has not closed, yet the read does
    // not wait (it would fail after PATIENCE if it did).
    let mut buffer = [0; 16];
    assert_eq!(server.read(&mut buffer).unwrap(), 0);
    assert_eq!(server.read(&mut buffer).unwrap(), 0);
}

#[test]
fn after_shutdown_read_linux_still_acknowledges_and_delivers_what_arrives() {
    let (mut client, mut server) = connected_pair();
    patient(&server);
    let (local, remote) = four_tuple(&server);
    client.write_all(b"before ").unwrap();
    wait_until("7 bytes waiting", || unread_bytes(local, remote) == Some(7));
    server.shutdown(Shutdown::Read).unwrap();

    // The client can go on sending: its write succeeds, the server's kernel
    // acknowledges the bytes (nothing is left unacknowledged at the client)
    // and keeps them for the program.
    client.write_all(b"and after").unwrap();
    wait_until("16 bytes waiting", || {
        unread_bytes(local, remote) == Some(16)
    });
    wait_until("the bytes acknowledged", || {
        unacknowledged(remote, local) == 0
    });
    // Reads return them all, the bytes that were there before the shutdown
    // and those that came after it, and only then 0 (which ends
    // read_to_end).
    let mut got = Vec::new();
    server.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"before and after");
    assert!(still_open(&client), "nothing told the client anything");
}

#[test]
fn after_shutdown_read_closing_with_bytes_unread_still_resets() {
    let (mut client, server) = connected_pair();
    patient(&client);
    let (local, remote) = four_tuple(&server);
    server.shutdown(Shutdown::Read).unwrap();
    client.write_all(b"never read").unwrap();
    wait_until("10 bytes waiting", || {
        unread_bytes(local, remote) == Some(10)
    });
    drop(server);
    let mut buffer = [0; 16];
    let error = client.read(&mut buffer).expect_err("a reset, not an EOF");
    assert_eq!(error.kind(), ErrorKind::ConnectionReset, "{error}");
}

// ------------------------------------------- the reset, and how to avoid it

/// How [`first_kilobyte_server`] ends the connection.
#[derive(Clone, Copy)]
enum Close {
    /// Right after its reply.
    AtOnce,
    /// Once the rest of the request, and the client's FIN, have arrived,
    /// still unread: the test then knows what is unread when it closes.
    WithTheRestUnread,
    /// In two stages: it shuts down its sending side, then reads and throws
    /// away whatever comes until EOF, and only then closes.
    Lingering,
}

/// A server that knows only how to read the first kilobyte of a request:
/// it reads that, replies `OK` and closes as `close` says. The client
/// sends `sent` bytes.
fn first_kilobyte_server(server: TcpStream, sent: usize, close: Close) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut server = server;
        patient(&server);
        let mut first = [0; 1024];
        server.read_exact(&mut first).unwrap();
        server.write_all(b"OK").unwrap();
        match close {
            Close::AtOnce => {}
            Close::WithTheRestUnread => {
                let (local, remote) = four_tuple(&server);
                // The FIN counts as one byte in the queue until it is read.
                let waiting = (sent - first.len() + 1) as u32;
                wait_until("the rest of the request", || {
                    unread_bytes(local, remote) == Some(waiting)
                });
            }
            Close::Lingering => {
                server.shutdown(Shutdown::Write).unwrap();
                std::io::copy(&mut server, &mut std::io::sink()).unwrap();
            }
        }
    })
}

/// A client that sends 64 KiB to a [`first_kilobyte_server`] closing as
/// `close` says, shuts down its sending side, and reads the reply to EOF:
/// what `read_to_end` returned, and what it read.
fn request_then_reply_to_eof(close: Close) -> (std::io::Result<usize>, Vec<u8>) {
    let (mut client, server) = connected_pair();
    patient(&client);
    let request = vec![b'x'; 64 * 1024];
    let serving = first_kilobyte_server(server, request.len(), close);
    client.write_all(&request).unwrap();
    client.shutdown(Shutdown::Write).unwrap();
    serving.join().unwrap();
    let mut reply = Vec::new();
    let outcome = client.read_to_end(&mut reply);
    (outcome, reply)
}

#[test]
fn a_server_that_closes_with_the_request_unread_resets_a_client_reading_to_eof() {
    let (outcome, reply) = request_then_reply_to_eof(Close::WithTheRestUnread);
    let error = outcome.expect_err("a reset, not an end of file");
    assert_eq!(error.kind(), ErrorKind::ConnectionReset, "{error}");
    // The reply did arrive, and on Linux it comes before the error: the
    // client that reads to EOF has it, and still fails.
    assert_eq!(reply, b"OK");
}

#[test]
fn a_lingering_close_ends_with_eof_not_a_reset() {
    let (outcome, reply) = request_then_reply_to_eof(Close::Lingering);
    assert_eq!(outcome.unwrap(), 2);
    assert_eq!(reply, b"OK");
}

#[test]
fn a_client_still_sending_when_the_server_closes_early_gets_connection_reset() {
    let (mut client, server) = connected_pair();
    patient(&client);
    // Far more than the two sockets' buffers hold: the client is still
    // writing when the server closes.
    let request = vec![b'x'; 32 << 20];
    let serving = first_kilobyte_server(server, request.len(), Close::AtOnce);
    let error = client
        .write_all(&request)
        .expect_err("the server closed with the request unread");
    serving.join().unwrap();
    assert_eq!(error.kind(), ErrorKind::ConnectionReset, "{error}");
    // The reply is there to read, on Linux, once the error has been told.
    let mut reply = [0; 2];
    client.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"OK");
}

#[test]
fn the_server_refuses_a_message_over_its_limit_with_eof_not_a_reset() {
    let mut server = halfclose_server(&["--max-bytes", "1000"]);

    // A client with 1 MiB to say: the server stops keeping it after 1,001
    // bytes, but reads the rest, so the client can send it all.
    let (mut client, name) = sent(&server, &vec![b'x'; 1 << 20]);
    client.shutdown(Shutdown::Write).unwrap();
    assert_no_reply(&mut client);
    assert_dropped(
        &mut server,
        name,
        &format!(
            "refused a message of more than 1000 bytes (read and discarded {} more)",
            (1 << 20) - 1001
        ),
    );

    // The halfclose client says what it got: an EOF and no reply.
    let long = "x".repeat(2000);
    let client = halfclose_client(server.address.port(), &["-m", &long]);
    let line = client.one_line_error(1);
    assert_eq!(
        line,
        format!(
            "error: client talking to {}: the reply to 2000 bytes had 0 bytes",
            server.address
        )
    );
    server.wait_for_stdout(WAITING);
    server.next_stderr_line();
    assert_served(&mut server, "two refused messages");
}

// ------------------------------------------------ FIN_WAIT2 and CLOSE_WAIT

/// `ss`'s rows (State, Recv-Q, Send-Q, local, peer) for the connections to
/// and from `port` on 127.0.0.1, each address's port written as the book
/// shows it: `port` as 1060 and `client` as `client_in_book`; sorted, as
/// the order in which `ss` lists sockets is the kernel's.
fn ss_rows(args: &str, port: u16, client: u16, client_in_book: u16) -> Vec<String> {
    let filter = format!("( sport = :{port} or dport = :{port} )");
    let mut rows: Vec<String> = ss(&[args, &filter])
        .into_iter()
        .map(|row| {
            row[..5]
                .iter()
                .map(|column| {
                    column
                        .replace(&format!("127.0.0.1:{port}"), "127.0.0.1:1060")
                        .replace(
                            &format!("127.0.0.1:{client}"),
                            &format!("127.0.0.1:{client_in_book}"),
                        )
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    rows.sort();
    rows
}

/// The rows of the chapter's ```text block that shows `$ ss ARGS ...`,
/// columns separated by one space, sorted; and the client's port there.
fn ss_in_book(args: &str) -> (Vec<String>, u16) {
    let chapter = std::fs::read_to_string(repo().join("src/half-close.md")).unwrap();
    let command = format!("$ ss {args} '( sport = :1060 or dport = :1060 )'");
    let lines: Vec<&str> = chapter.lines().collect();
    let start = lines
        .iter()
        .position(|line| *line == command)
        .unwrap_or_else(|| panic!("src/half-close.md shows no `{command}`"));
    assert_eq!(lines[start - 1], "```text", "{command} opens a text block");
    let mut rows: Vec<String> = lines[start + 2..]
        .iter()
        .take_while(|line| !line.starts_with("```"))
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    rows.sort();
    let client = rows
        .iter()
        .flat_map(|row| row.split(' '))
        .filter_map(|column| column.strip_prefix("127.0.0.1:")?.parse().ok())
        .find(|port| *port != 1060)
        .expect("the client's port");
    (rows, client)
}

#[test]
fn half_closing_puts_the_client_in_fin_wait2_and_the_server_in_close_wait() {
    // A server that reads to EOF like halfclose's, but holds its reply
    // until `ss` has looked.
    let server = ByHand::new();
    let port = server.port;
    let (client, mut conn, name, message) = server.take_a_message(&["-m", MESSAGE]);
    assert_eq!(message, MESSAGE.as_bytes());

    let (book, book_client) = ss_in_book("-tn");
    let fin_wait2_and_close_wait = || ss_rows("-tn", port, name.port(), book_client);
    // The client's kernel moves on to FIN_WAIT2 when the ACK of its FIN
    // comes back, which loopback does at once but not before the server
    // has read the EOF: wait for it.
    wait_until("FIN_WAIT2", || {
        fin_wait2_and_close_wait()
            .iter()
            .any(|row| row.starts_with("FIN-WAIT-2"))
    });
    assert_eq!(
        fin_wait2_and_close_wait(),
        book,
        "the chapter's `ss -tn` block"
    );

    // The reply, and the server's close.
    conn.write_all(MESSAGE.to_ascii_uppercase().as_bytes())
        .unwrap();
    drop(conn);
    let client = client.join().unwrap();
    assert_eq!(client.stdout, client_lines(name, MESSAGE));
    // The client, which sent the first FIN, keeps the connection in
    // TIME_WAIT; the server's end is gone once its own FIN is acknowledged.
    let server_end = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    wait_until("the server's end gone", || {
        tcp_table_row(server_end, name).is_none()
    });
    let (book, book_client) = ss_in_book("-tan");
    assert_eq!(
        ss_rows("-tan", port, name.port(), book_client),
        book,
        "the chapter's `ss -tan` block"
    );
}

// ------------------------------------------------ the program's robustness

#[test]
fn the_server_goes_on_after_a_client_that_never_half_closes_or_resets() {
    let mut server = halfclose_server(&["--timeout", "1"]);

    // Forgets to shut down its sending side: the server waits for an EOF
    // that never comes, until its deadline, then closes without a reply.
    let (mut silent, name) = sent(&server, b"no end");
    assert_no_reply(&mut silent);
    assert_dropped(
        &mut server,
        name,
        "the deadline passed while reading, after receiving 6 bytes",
    );

    // Resets in the middle of its message.
    let (rude, name) = sent(&server, b"abc");
    reset(rude);
    assert_dropped(
        &mut server,
        name,
        "Connection reset by peer (os error 104), after receiving 3 bytes",
    );

    assert_served(
        &mut server,
        "a client that never half-closed and one that reset",
    );
}

#[test]
fn a_sender_that_dies_mid_message_looks_like_one_that_finished() {
    let mut server = halfclose_server(&[]);
    // A Python process that sends half a message and exits without a
    // word: its kernel closes the socket, with a FIN.
    let script = format!(
        "import os, socket\n\
         s = socket.create_connection(('127.0.0.1', {}))\n\
         s.sendall(b'half a mess')\n\
         print(s.getsockname()[1], flush=True)\n\
         os._exit(3)\n",
        server.address.port()
    );
    let died = run(python(), ["-c", &script]);
    assert_eq!(died.code(), Some(3));
    let port: u16 = died.stdout.trim().parse().unwrap();
    let name = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    // To the server, an EOF is an EOF: a whole message of 11 bytes.
    assert_eq!(
        server.wait_for_stdout(WAITING),
        server_lines(&server, name, 11)
    );
}

#[test]
fn the_client_reports_a_reply_of_the_wrong_length_and_a_server_that_never_replies() {
    let server = ByHand::new();
    let port = server.port;

    // A server that reads the message and sends back only its first half;
    // then one that sends it back a thousand times: the client reads one
    // byte past the length it expects, and no more.
    let half = &MESSAGE.as_bytes()[..MESSAGE.len() / 2];
    let many = MESSAGE.repeat(1000);
    for (reply, told) in [(half, half.len()), (many.as_bytes(), MESSAGE.len() + 1)] {
        let (client, mut conn, _, _) = server.take_a_message(&["-m", MESSAGE]);
        // The client may close before it has all of a long reply.
        let _ = conn.write_all(reply);
        drop(conn);
        let client = client.join().unwrap();
        assert_eq!(
            client.one_line_error(1),
            format!(
                "error: client talking to 127.0.0.1:{port}: the reply to {} bytes had {told} bytes",
                MESSAGE.len(),
            )
        );
    }

    // A server that reads the message and says nothing, for longer than
    // the client's deadline.
    let (client, _conn, _, _) = server.take_a_message(&["--timeout", "1"]);
    let client = client.join().unwrap();
    assert_eq!(
        client.one_line_error(1),
        format!("error: client talking to 127.0.0.1:{port}: the deadline passed while reading")
    );
}

#[test]
fn the_client_sends_all_of_standard_input() {
    let mut server = halfclose_server(&[]);
    // 300,000 bytes: more than one read's worth, a length the client
    // learns only at the end of its input.
    let input = "a line of standard input\n".repeat(12_000);
    let mut client = Command::new(bin(HALFCLOSE))
        .args(["client", "-p", &server.port(), "--stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = client.stdin.take().unwrap();
    let feeding = thread::spawn({
        let input = input.clone();
        move || stdin.write_all(input.as_bytes()).unwrap()
    });
    let output = client.wait_with_output().unwrap();
    feeding.join().unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let name = client_name(&stdout);
    assert_eq!(stdout, client_lines(name, &input));
    assert_eq!(
        server.wait_for_stdout(WAITING),
        server_lines(&server, name, input.len())
    );
}

#[test]
fn the_command_line_reports_errors_in_one_line() {
    let closed = closed_port();
    let client = halfclose_client(closed.port(), &[]);
    assert_eq!(
        client.one_line_error(1),
        format!(
            "error: client talking to 127.0.0.1:{}: Connection refused (os error 111)",
            closed.port()
        )
    );
    for args in [
        &["client", "--max-bytes", "5"][..],
        &["client", "-m", "a", "--stdin"],
        &["server", "--timeout", "0"],
        &["server", "--max-bytes", "-1"],
    ] {
        let line = run(bin(HALFCLOSE), args).one_line_error(2).to_owned();
        assert!(line.starts_with("error: "), "{args:?}: {line}");
    }
    let help = run(bin(HALFCLOSE), ["client", "--help"]);
    assert!(help.status.success());
    assert!(help.stdout.contains("--stdin"), "{help:?}");
}

// ------------------------------------------------------- against Python

/// The Python peer for halfclose, written independently of it.
fn python_peer() -> std::path::PathBuf {
    repo().join("tests").join("peer_halfclose.py")
}

#[test]
fn the_halfclose_client_against_a_python_server() {
    let mut python_server = Server::start(
        python(),
        [python_peer().to_str().unwrap(), "server", "-p", "0"],
    );
    let client = halfclose_client(python_server.address.port(), &["-m", MESSAGE]);
    assert!(client.status.success(), "{client:?}");
    let name = client_name(&client.stdout);
    assert_eq!(client.stdout, client_lines(name, MESSAGE));
    assert_eq!(
        python_server.next_stdout_line(),
        format!(
            "python server received {} bytes from {name} then end of file",
            MESSAGE.len()
        )
    );
}

#[test]
fn the_halfclose_server_against_a_python_client_that_half_closes() {
    let mut server = halfclose_server(&[]);
    let python_client = run(
        python(),
        [
            python_peer().to_str().unwrap(),
            "client",
            "-p",
            &server.port(),
            "-m",
            MESSAGE,
        ],
    );
    assert!(python_client.status.success(), "{python_client:?}");
    assert_eq!(
        python_client.stdout,
        format!(
            "python client sent {} bytes, then SHUT_WR\nThe server said b'{}'\n",
            MESSAGE.len(),
            MESSAGE.to_ascii_uppercase()
        )
    );
    let lines = server.wait_for_stdout(WAITING);
    let name: SocketAddr = lines[0]
        .strip_prefix("Connection from ")
        .and_then(|name| name.parse().ok())
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert_eq!(lines, server_lines(&server, name, MESSAGE.len()));
}
