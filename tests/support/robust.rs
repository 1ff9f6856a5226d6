//! What a robust server and client do, from step 6 on, each claim a
//! function that checks it against the step it is given: the battery of
//! misbehaving clients, many clients at once, the deadline, the limit on
//! connections, Ctrl-C, running out of file descriptors, and a client that
//! gives up on a server that does not answer.
//!
//! The chapters' test files call them: `tests/step6_misbehaving_clients.rs`
//! for step 6 (and, where step 5 makes the contrast, for step 5), and
//! `tests/many_clients.rs` for steps 7 and 8, which must keep every promise
//! step 6 makes with another design. One function, several callers: a claim
//! cannot be checked one way for one step and another way for the next.
//!
//! Nothing here sleeps to synchronise: a check waits for a line the server
//! prints, for a connection to be refused or closed, or for the process to
//! exit. Where a check does sleep, it is to *make* a slow client, and the
//! assertion does not depend on how long the sleep really took.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use listings::protocol::{
    REPLY, REPLY_SENT, REQUEST, WAITING, accepted, client_error, closed_early, connection_error,
    deadline_passed, incoming, interrupted,
};
use socket2::{Domain, Socket, Type};

use crate::{
    Output, PATIENCE, Server, bin, closed_port, good_client, is_robust, reset, run, still_open,
};

/// The `--timeout` a robust server gets when a check gives no options:
/// short, so that the checks that wait for it are quick, and long enough
/// that a well-behaved client on a loaded machine never meets it.
pub const TIMEOUT: &str = "2";

/// Starts a step's server on a free port and waits until it is ready for its
/// first client. A robust step gets [`TIMEOUT`] unless `extra` gives options
/// of its own.
pub fn start(step: &str, extra: &[&str]) -> Server {
    let mut args = vec!["server", "-p", "0"];
    if is_robust(step) && extra.is_empty() {
        args.extend(["--timeout", TIMEOUT]);
    }
    args.extend_from_slice(extra);
    let mut server = Server::start(bin(step), args);
    assert_eq!(
        server.wait_for_stdout(WAITING),
        Vec::<String>::new(),
        "{step}"
    );
    server
}

/// Checks that a well-behaved client gets its reply, `after` something.
pub fn assert_served(server: &Server, after: &str) {
    match good_client(server.address) {
        Ok(reply) => assert_eq!(&reply, REPLY, "after {after}"),
        Err(error) => panic!("a good client after {after} was not served: {error}"),
    }
}

/// Why a server drops a client that closed after sending `received` bytes.
pub fn closed_after(received: usize) -> String {
    closed_early(REQUEST.len(), received)
}

/// A client that connects, sends `sent` (perhaps nothing) and closes; the
/// server's next line on stderr must say it closed after that many bytes.
pub fn quitter(server: &mut Server, sent: &[u8]) {
    let mut quitter = TcpStream::connect(server.address).unwrap();
    let name = quitter.local_addr().unwrap();
    quitter.write_all(sent).unwrap();
    drop(quitter);
    assert_eq!(
        server.next_stderr_line(),
        connection_error(name, &closed_after(sent.len()))
    );
}

/// A client that connects, waits for the server to accept it, and says
/// nothing.
pub fn silent_client(server: &mut Server) -> TcpStream {
    let silent = TcpStream::connect(server.address).unwrap();
    server.wait_for_stdout(&accepted(silent.local_addr().unwrap()));
    silent
}

/// A client that connects and sends its request, and checks that no reply
/// comes while the server is busy elsewhere. How long it watches hardly
/// matters: a server that cannot answer yet cannot answer in any time.
pub fn unanswered_client(address: SocketAddr) -> (TcpStream, SocketAddr) {
    let mut conn = TcpStream::connect(address).unwrap();
    let name = conn.local_addr().unwrap();
    conn.write_all(REQUEST).unwrap();
    conn.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut reply = [0; 16];
    let error = conn.read_exact(&mut reply).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::WouldBlock, "{error}");
    (conn, name)
}

/// The server's next stdout line that is not about a conversation in
/// progress (those are indented, and may still be coming in).
pub fn next_unindented_line(server: &mut Server) -> String {
    let mut line = server.next_stdout_line();
    while line.starts_with("  ") {
        line = server.next_stdout_line();
    }
    line
}

/// A listener that answers no more SYNs, as a host that does not answer:
/// what it holds (the listener, and the connections that fill its
/// backlog) and its address.
pub fn unanswering_server() -> ((Socket, Vec<TcpStream>), SocketAddr) {
    // listen(0): the kernel completes one handshake for the backlog and
    // silently drops the SYNs after it.
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    socket.listen(0).unwrap();
    let address = socket.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    loop {
        match TcpStream::connect_timeout(&address, Duration::from_millis(300)) {
            Ok(filler) => fillers.push(filler),
            Err(error) if error.kind() == ErrorKind::TimedOut => break,
            Err(error) => panic!("filling the backlog: {error}"),
        }
        assert!(fillers.len() < 10, "the backlog never filled");
    }
    ((socket, fillers), address)
}

// ---------------------------------------------------------------------------
// The battery
// ---------------------------------------------------------------------------

/// The clients that misbehave one at a time, each followed by a good
/// client; then 1,000 good clients one after another. Ends with the server
/// idle, and checks it holds no more file descriptors than when it started.
pub fn battery(step: &str) {
    let mut server = start(step, &[]);
    let baseline = server.open_fds();

    // Connects and closes at once.
    quitter(&mut server, &[]);
    assert_served(&server, "a client that closed at once");

    // Sends 5 bytes and closes.
    quitter(&mut server, &REQUEST[..5]);
    assert_served(&server, "a client that sent 5 bytes and closed");

    // Sends 3 bytes and resets the connection. Waiting until the server has
    // accepted makes sure it is a connection it knows of.
    let mut resetter = TcpStream::connect(server.address).unwrap();
    let name = resetter.local_addr().unwrap();
    server.wait_for_stdout(&accepted(name));
    resetter.write_all(&REQUEST[..3]).unwrap();
    reset(resetter);
    assert_eq!(
        server.next_stderr_line(),
        connection_error(name, "Connection reset by peer (os error 104)"),
        "{step}"
    );
    assert_served(&server, "a client that reset the connection");

    // Sends its 16 bytes and closes without reading the reply: the reply
    // still fits in the socket's buffers, so the server sees no error (the
    // last quitter below checks that no error line came before its own).
    let mut hasty = TcpStream::connect(server.address).unwrap();
    let name = hasty.local_addr().unwrap();
    hasty.write_all(REQUEST).unwrap();
    drop(hasty);
    server.wait_for_stdout(&accepted(name));
    assert_served(&server, "a client that did not read the reply");

    // Sends its 16 bytes, half-closes (FIN: "I have nothing more to say"),
    // and still reads the whole reply.
    let mut polite = TcpStream::connect(server.address).unwrap();
    polite.set_read_timeout(Some(PATIENCE)).unwrap();
    polite.write_all(REQUEST).unwrap();
    polite.shutdown(Shutdown::Write).unwrap();
    let mut reply = Vec::new();
    polite.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, REPLY, "{step}: a half-closed client gets the reply");
    assert_served(&server, "a client that half-closed");

    // Sends 1 MiB of junk. The server reads its 16 bytes, replies and
    // closes with the rest unread, which resets the connection: the junk's
    // sender may see an error, the server does not.
    let mut flood = TcpStream::connect(server.address).unwrap();
    let junk: Vec<u8> = (0..=255u8).cycle().take(1 << 20).collect();
    let _ = flood.write_all(&junk);
    drop(flood);
    server.wait_for_stdout(&incoming(&junk[..16]));
    assert_served(&server, "a client that sent 1 MiB of junk");

    // 1,000 good clients, one after another.
    for n in 0..1000 {
        let reply = good_client(server.address)
            .unwrap_or_else(|e| panic!("{step}: sequential client {n}: {e}"));
        assert_eq!(&reply, REPLY);
    }

    // A last quitter: its error must be the next line on stderr, so none of
    // the clients above caused one that this battery did not expect.
    quitter(&mut server, &[]);

    // One last client; the first "Waiting" after it is printed when nothing
    // is in progress any more, every connection closed.
    let mut last = TcpStream::connect(server.address).unwrap();
    let name = last.local_addr().unwrap();
    last.write_all(REQUEST).unwrap();
    let mut reply = [0; 16];
    last.read_exact(&mut reply).unwrap();
    server.wait_for_stdout(&accepted(name));
    server.wait_for_stdout(WAITING);
    assert_eq!(
        server.open_fds(),
        baseline,
        "{step} holds file descriptors it no longer needs"
    );
    assert!(server.is_running(), "{step} is still serving");
}

// ---------------------------------------------------------------------------
// Many clients, slow clients, silent clients
// ---------------------------------------------------------------------------

/// 100 clients connect at the same moment, and every one gets its reply.
pub fn serves_100_concurrent_clients(step: &str) {
    let server = start(step, &[]);
    let ready = Arc::new(Barrier::new(100));
    let clients: Vec<_> = (0..100)
        .map(|_| {
            let ready = Arc::clone(&ready);
            let address = server.address;
            thread::spawn(move || {
                ready.wait();
                good_client(address)
            })
        })
        .collect();
    for (n, client) in clients.into_iter().enumerate() {
        let reply = client.join().unwrap();
        assert_eq!(
            reply.as_ref().map(|r| &r[..]).map_err(|e| e.to_string()),
            Ok(&REPLY[..]),
            "{step}: concurrent client {n}"
        );
    }
}

/// A client that says nothing does not keep another from being served.
pub fn serves_others_while_a_silent_client_is_connected(step: &str) {
    // A long timeout: this check ends the silent client itself, and a
    // deadline passing on a slow machine would only blur what it shows.
    let mut server = start(step, &["--timeout", "30"]);
    let silent = silent_client(&mut server);
    assert_served(&server, "a silent client connected");
    assert!(
        still_open(&silent),
        "{step}: the good client was served while the silent one was still connected"
    );
    let name = silent.local_addr().unwrap();
    drop(silent);
    assert_eq!(
        server.next_stderr_line(),
        connection_error(name, &closed_after(0)),
        "{step}"
    );
}

/// A client that says nothing is dropped once its `--timeout` has passed,
/// with step 6's line, and the server serves the next.
pub fn drops_a_silent_client_at_the_deadline(step: &str) {
    let mut server = start(step, &["--timeout", "1"]);
    let connected = Instant::now();
    let mut silent = silent_client(&mut server);
    let name = silent.local_addr().unwrap();
    assert_eq!(
        server.next_stderr_line(),
        connection_error(name, &deadline_passed(REQUEST.len(), 0)),
        "{step}"
    );
    assert!(
        connected.elapsed() >= Duration::from_secs(1),
        "{step} dropped it before its time: {:?}",
        connected.elapsed()
    );
    // The server closed its end: the silent client reads end-of-stream.
    silent.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut byte = [0; 1];
    assert_eq!(silent.read(&mut byte).unwrap(), 0, "{step}");
    assert_served(&server, "a silent client was dropped");
}

/// A client that sends its request one byte at a time, each just in time
/// for a per-read timeout, is cut off at the deadline for the whole
/// message.
pub fn cuts_off_a_client_that_drips_one_byte_at_a_time(step: &str) {
    // One byte every 200 ms would reset a per-read timeout of a second
    // every time, forever; the deadline for the whole message ends it.
    let mut server = start(step, &["--timeout", "1"]);
    let mut dripper = TcpStream::connect(server.address).unwrap();
    let name = dripper.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let dripping = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            for byte in REQUEST {
                if stop.load(Ordering::SeqCst) || dripper.write_all(&[*byte]).is_err() {
                    return;
                }
                thread::sleep(Duration::from_millis(200));
            }
        })
    };
    server.wait_for_stdout(&accepted(name));
    assert_served(&server, "a client started dripping");
    let line = server.next_stderr_line();
    stop.store(true, Ordering::SeqCst);
    dripping.join().unwrap();
    // Some bytes came before the deadline, not all of them.
    assert!(
        (1..REQUEST.len())
            .any(|received| line
                == connection_error(name, &deadline_passed(REQUEST.len(), received))),
        "{step}: not a deadline error after part of the message: {line}"
    );
}

/// With `--max-connections 2` and two clients connected, a third waits,
/// unanswered, until one of the two is done.
pub fn accepts_no_more_than_max_connections_at_once(step: &str) {
    let mut server = start(step, &["--max-connections", "2", "--timeout", "30"]);
    let mut first = silent_client(&mut server);
    let second = silent_client(&mut server);

    // A third client: the kernel completes its handshake (the backlog), but
    // the server does not accept it while both slots are taken.
    let (mut third, third_name) = unanswered_client(server.address);
    let mut reply = [0; 16];

    // The first finishes its conversation; its slot goes to the third.
    first.set_read_timeout(Some(PATIENCE)).unwrap();
    first.write_all(REQUEST).unwrap();
    first.read_exact(&mut reply).unwrap();
    let before_third = server.wait_for_stdout(&accepted(third_name));
    assert!(
        before_third.iter().any(|line| line == REPLY_SENT),
        "{step}: the third was accepted only after the first was done: {before_third:#?}"
    );
    third.set_read_timeout(Some(PATIENCE)).unwrap();
    third.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, REPLY, "{step}");
    drop(second);
}

// ---------------------------------------------------------------------------
// Ctrl-C
// ---------------------------------------------------------------------------

/// On Ctrl-C, with a conversation in progress, the server says it is
/// stopping, refuses new clients at once, finishes the conversation and
/// exits with status 0: with one slot, taken (step 6 and step 8 are then
/// waiting for room, step 7's only worker is busy), and with four, when
/// the rest of the server is waiting in `accept` (step 7: three workers)
/// and must be woken there.
pub fn on_ctrl_c_refuses_new_clients_and_finishes_the_one_in_progress(step: &str) {
    for slots in ["1", "4"] {
        ctrl_c_with_one_conversation_in_progress(step, slots);
    }
}

fn ctrl_c_with_one_conversation_in_progress(program: &str, slots: &str) {
    let mut server = start(program, &["--max-connections", slots, "--timeout", "30"]);
    // What the messages below name: the program and the case.
    let step = format!("{program} --max-connections {slots}");
    let mut client = TcpStream::connect(server.address).unwrap();
    client.write_all(&REQUEST[..8]).unwrap();
    assert_eq!(
        server.next_stdout_line(),
        accepted(client.local_addr().unwrap()),
        "{step}"
    );
    server.interrupt();
    assert_eq!(next_unindented_line(&mut server), interrupted(1), "{step}");
    let refused = TcpStream::connect(server.address).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused, "{step}");

    client.write_all(&REQUEST[8..]).unwrap();
    client.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut reply = [0; 16];
    client.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, REPLY, "{step}");
    let exited = server.wait_for_exit();
    assert_eq!(exited.code(), Some(0), "{step}: {exited:?}");
    assert_eq!(
        exited.stdout.lines().last(),
        Some(REPLY_SENT),
        "{step}: {exited:#?}"
    );
}

/// On Ctrl-C with no client, the server exits at once, with status 0.
pub fn on_ctrl_c_while_idle_exits_at_once(step: &str) {
    // The server is blocked in `accept`: Ctrl-C must wake it there.
    let server = start(step, &[]);
    server.interrupt();
    let exited = server.wait_for_exit();
    assert_eq!(exited.code(), Some(0), "{step}: {exited:?}");
    assert_eq!(
        exited.stdout,
        format!("{}\n", interrupted(0)),
        "{step}: {exited:#?}"
    );
}

/// A second Ctrl-C ends the server at once, status 130, without waiting
/// for the conversation in progress.
pub fn on_a_second_ctrl_c_exits_without_waiting(step: &str) {
    let mut server = start(step, &["--timeout", "30"]);
    let silent = TcpStream::connect(server.address).unwrap();
    assert_eq!(
        server.next_stdout_line(),
        accepted(silent.local_addr().unwrap()),
        "{step}"
    );
    server.interrupt();
    assert_eq!(next_unindented_line(&mut server), interrupted(1), "{step}");
    // The silent client would hold the first Ctrl-C for 30 seconds.
    server.interrupt();
    let status = server.wait_for_exit().status;
    assert_eq!(status.code(), Some(130), "{step}: {status:?}");
    drop(silent);
}

// ---------------------------------------------------------------------------
// Running out of file descriptors
// ---------------------------------------------------------------------------

/// A server with room for only a few connections, flooded with more, says
/// `accept` failed, keeps running, and serves again once the flood leaves.
pub fn survives_running_out_of_file_descriptors(step: &str) {
    // 16 descriptors: the server's own few, and room for about ten
    // connections. The flood is bigger, so `accept` finds none left.
    let mut command = Command::new("prlimit");
    command.args(["--nofile=16", "--"]).arg(bin(step));
    command.args(["server", "-p", "0", "--timeout", "30"]);
    let mut server = Server::start_command(command, Output::Apart).unwrap();
    assert_eq!(
        server.wait_for_stdout(WAITING),
        Vec::<String>::new(),
        "{step}"
    );
    // A server that dies of it refuses the rest of the flood; the line it
    // dies with is the one to see.
    let flood: Vec<TcpStream> = (0..40)
        .filter_map(|_| TcpStream::connect(server.address).ok())
        .collect();
    assert_eq!(
        server.next_stderr_line(),
        "error: accept: Too many open files (os error 24)",
        "{step}"
    );
    // The flood leaves; its connections' descriptors come free, and the
    // server, still trying after each pause, accepts again.
    drop(flood);
    assert_served(&server, "running out of file descriptors");
    assert!(server.is_running(), "{step}");
}

// ---------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------

/// The client, given `--connect-timeout 1`, gives up on a server whose host
/// never answers its SYN.
pub fn client_gives_up_on_a_server_that_never_completes_the_handshake(step: &str) {
    let (_held, address) = unanswering_server();
    let started = Instant::now();
    let client = run(
        bin(step),
        [
            "client",
            "-p",
            &address.port().to_string(),
            "--connect-timeout",
            "1",
        ],
    );
    assert_eq!(
        client.one_line_error(1),
        client_error(address, "connection timed out"),
        "{step}"
    );
    assert!(started.elapsed() >= Duration::from_secs(1), "{step}");
}

/// A refused connection fails at once, however long `--connect-timeout`.
pub fn client_is_refused_at_once_whatever_its_connect_timeout(step: &str) {
    let closed = closed_port();
    let address = SocketAddr::from(([127, 0, 0, 1], closed.port()));
    let started = Instant::now();
    let client = run(
        bin(step),
        [
            "client",
            "-p",
            &closed.port().to_string(),
            "--connect-timeout",
            "3600",
        ],
    );
    assert_eq!(
        client.one_line_error(1),
        client_error(address, "Connection refused (os error 111)"),
        "{step}"
    );
    // Linux gives up on the first reset. (Windows retries the SYN for about
    // two seconds first.)
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{step}: refused only after {:?}",
        started.elapsed()
    );
}

/// The client, given `--timeout 1`, gives up on a server that takes the
/// connection and never replies.
pub fn client_gives_up_on_a_server_that_never_replies(step: &str) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let port = address.port().to_string();
    let client = run(bin(step), ["client", "-p", &port, "--timeout", "1"]);
    // Accepted or not, the connection stays open without a word.
    drop(listener);
    assert_eq!(
        client.one_line_error(1),
        client_error(address, &deadline_passed(REQUEST.len(), 0)),
        "{step}"
    );
}
