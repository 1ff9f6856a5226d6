//! A battery of misbehaving clients, run against step 6 and, for contrast,
//! against step 5 (the chapter "When clients misbehave").
//!
//! Each bad client is followed by a well-behaved one that must still be
//! served. Step 6 survives them all. Step 5 survives the clients that hang
//! up early or reset, but the `step5_...` tests record what it does not
//! survive: a client that says nothing stops it for everyone behind it, and
//! Ctrl-C kills it in the middle of a conversation.
//!
//! Nothing here sleeps to synchronise: a test waits for a line the server
//! prints, for a connection to be refused or closed, or for the process to
//! exit. Where a test does sleep, it is to *make* a slow client, and the
//! assertion does not depend on how long the sleep really took.

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use book_tests::{
    Output, PATIENCE, Server, bin, closed_port, connected_pair, good_client, reset, run, still_open,
};
use listings::protocol::{
    REPLY, REPLY_SENT, REQUEST, WAITING, accepted, client_error, closed_early, connection_error,
    deadline_passed, incoming, interrupted,
};
use socket2::{Domain, Socket, Type};

/// Step 6's own loops and the helpers they call, copied by the build
/// script from the anchors the book shows them with.
mod step6 {
    use std::io::{self, ErrorKind, Write};
    use std::net::{SocketAddr, TcpStream};
    use std::time::{Duration, Instant};
    include!(concat!(env!("OUT_DIR"), "/listings/step6_sendall.rs"));
    include!(concat!(env!("OUT_DIR"), "/listings/step6_connect.rs"));
    include!(concat!(env!("OUT_DIR"), "/listings/step6_time_left.rs"));
    include!(concat!(env!("OUT_DIR"), "/listings/step6_is_timeout.rs"));
}

/// The battery's timeout for step 6: short, so that the tests that wait for
/// it are quick, and long enough that a well-behaved client on a loaded
/// machine never meets it.
const TIMEOUT: &str = "2";

/// Starts a step's server on a free port and waits until it is ready for its
/// first client. Step 6 gets the battery's `--timeout` unless `extra` gives
/// options of its own.
fn start(step: &str, extra: &[&str]) -> Server {
    let mut args = vec!["server", "-p", "0"];
    if step == "step6" && extra.is_empty() {
        args.extend(["--timeout", TIMEOUT]);
    }
    args.extend_from_slice(extra);
    let mut server = Server::start(bin(step), args);
    assert_eq!(server.wait_for_stdout(WAITING), Vec::<String>::new());
    server
}

fn assert_served(server: &Server, after: &str) {
    match good_client(server.address) {
        Ok(reply) => assert_eq!(&reply, REPLY, "after {after}"),
        Err(error) => panic!("a good client after {after} was not served: {error}"),
    }
}

/// Why a server drops a client that closed after sending `received` bytes.
fn closed_after(received: usize) -> String {
    closed_early(REQUEST.len(), received)
}

/// A client that connects, sends `sent` (perhaps nothing) and closes; the
/// server's next line on stderr must say it closed after that many bytes.
fn quitter(server: &mut Server, sent: &[u8]) {
    let mut quitter = TcpStream::connect(server.address).unwrap();
    let name = quitter.local_addr().unwrap();
    quitter.write_all(sent).unwrap();
    drop(quitter);
    assert_eq!(
        server.next_stderr_line(),
        connection_error(name, &closed_after(sent.len()))
    );
}

fn open_fds(server: &Server) -> usize {
    let dir = format!("/proc/{}/fd", server.pid());
    fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .count()
}

/// The clients that misbehave one at a time, each followed by a good
/// client; then 1,000 good clients one after another. Ends with the server
/// idle, and checks it holds no more file descriptors than when it started.
fn battery(step: &str) {
    let mut server = start(step, &[]);
    let baseline = open_fds(&server);

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
        open_fds(&server),
        baseline,
        "{step} holds file descriptors it no longer needs"
    );
    assert!(server.is_running(), "{step} is still serving");
}

#[test]
fn step6_survives_the_battery_and_keeps_no_descriptors() {
    battery("step6");
}

#[test]
fn step5_survives_clients_that_hang_up_reset_or_flood() {
    battery("step5");
}

#[test]
fn step6_serves_100_concurrent_clients() {
    let server = start("step6", &[]);
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
            "concurrent client {n}"
        );
    }
}

/// A client that connects, waits for the server to accept it, and says
/// nothing.
fn silent_client(server: &mut Server) -> TcpStream {
    let silent = TcpStream::connect(server.address).unwrap();
    server.wait_for_stdout(&accepted(silent.local_addr().unwrap()));
    silent
}

/// A client that connects and sends its request, and checks that no reply
/// comes while the server is busy elsewhere. How long it watches hardly
/// matters: a server that cannot answer yet cannot answer in any time.
fn unanswered_client(address: SocketAddr) -> (TcpStream, SocketAddr) {
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

#[test]
fn step6_serves_others_while_a_silent_client_is_connected() {
    // A long timeout: this test ends the silent client itself, and a
    // deadline passing on a slow machine would only blur what it shows.
    let mut server = start("step6", &["--timeout", "30"]);
    let silent = silent_client(&mut server);
    assert_served(&server, "a silent client connected");
    assert!(
        still_open(&silent),
        "the good client was served while the silent one was still connected"
    );
    let name = silent.local_addr().unwrap();
    drop(silent);
    assert_eq!(
        server.next_stderr_line(),
        connection_error(name, &closed_after(0))
    );
}

#[test]
fn step5_is_blocked_by_a_silent_client() {
    let mut server = start("step5", &[]);
    let silent = silent_client(&mut server);
    // The good client connects (the kernel completes the handshake for a
    // listener's backlog) and sends its request, but step 5 is in `read`
    // on the silent connection and will not `accept` another while it is.
    let (mut waiting, name) = unanswered_client(server.address);
    assert!(still_open(&silent));

    // The silent client goes, and only then is the other one accepted.
    let silent_name = silent.local_addr().unwrap();
    drop(silent);
    assert_eq!(
        server.next_stderr_line(),
        connection_error(silent_name, &closed_after(0))
    );
    waiting.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut reply = [0; 16];
    waiting.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, REPLY);
    server.wait_for_stdout(&accepted(name));
}

#[test]
fn step6_drops_a_silent_client_at_the_deadline() {
    let mut server = start("step6", &["--timeout", "1"]);
    let connected = Instant::now();
    let mut silent = silent_client(&mut server);
    let name = silent.local_addr().unwrap();
    assert_eq!(
        server.next_stderr_line(),
        connection_error(name, &deadline_passed(REQUEST.len(), 0))
    );
    assert!(
        connected.elapsed() >= Duration::from_secs(1),
        "dropped before its time: {:?}",
        connected.elapsed()
    );
    // The server closed its end: the silent client reads end-of-stream.
    silent.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut byte = [0; 1];
    assert_eq!(silent.read(&mut byte).unwrap(), 0);
    assert_served(&server, "a silent client was dropped");
}

#[test]
fn step6_cuts_off_a_client_that_drips_one_byte_at_a_time() {
    // One byte every 200 ms would reset a per-read timeout of a second
    // every time, forever; the deadline for the whole message ends it.
    let mut server = start("step6", &["--timeout", "1"]);
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
        "not a deadline error after part of the message: {line}"
    );
}

#[test]
fn step6_accepts_no_more_than_max_connections_at_once() {
    let mut server = start("step6", &["--max-connections", "2", "--timeout", "30"]);
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
        "the third was accepted only after the first was done: {before_third:#?}"
    );
    third.set_read_timeout(Some(PATIENCE)).unwrap();
    third.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, REPLY);
    drop(second);
}

/// A listener that answers no more SYNs, as a host that does not answer:
/// what it holds (the listener, and the connections that fill its
/// backlog) and its address.
fn unanswering_server() -> ((Socket, Vec<TcpStream>), SocketAddr) {
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

#[test]
fn step6_client_gives_up_on_a_server_that_never_completes_the_handshake() {
    let (_held, address) = unanswering_server();
    let started = Instant::now();
    let client = run(
        bin("step6"),
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
        client_error(address, "connection timed out")
    );
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[test]
fn step6_client_is_refused_at_once_whatever_its_connect_timeout() {
    let closed = closed_port();
    let address = SocketAddr::from(([127, 0, 0, 1], closed.port()));
    let started = Instant::now();
    let client = run(
        bin("step6"),
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
        client_error(address, "Connection refused (os error 111)")
    );
    // Linux gives up on the first reset. (Windows retries the SYN for about
    // two seconds first.)
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refused only after {:?}",
        started.elapsed()
    );
}

#[test]
fn step6_client_gives_up_on_a_server_that_never_replies() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let port = address.port().to_string();
    let client = run(bin("step6"), ["client", "-p", &port, "--timeout", "1"]);
    // Accepted or not, the connection stays open without a word.
    drop(listener);
    assert_eq!(
        client.one_line_error(1),
        client_error(address, &deadline_passed(REQUEST.len(), 0))
    );
}

/// The server's next stdout line that is not about a conversation in
/// progress (those are indented, and may still be coming in).
fn next_unindented_line(server: &mut Server) -> String {
    let mut line = server.next_stdout_line();
    while line.starts_with("  ") {
        line = server.next_stdout_line();
    }
    line
}

#[test]
fn step6_on_ctrl_c_refuses_new_clients_and_finishes_the_one_in_progress() {
    // One slot, taken: on Ctrl-C the loop is waiting for room, not in
    // `accept`.
    let mut server = start("step6", &["--max-connections", "1", "--timeout", "30"]);
    let mut client = TcpStream::connect(server.address).unwrap();
    client.write_all(&REQUEST[..8]).unwrap();
    assert_eq!(
        server.next_stdout_line(),
        accepted(client.local_addr().unwrap())
    );
    server.interrupt();
    assert_eq!(next_unindented_line(&mut server), interrupted(1));
    let refused = TcpStream::connect(server.address).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);

    client.write_all(&REQUEST[8..]).unwrap();
    client.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut reply = [0; 16];
    client.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, REPLY);
    let exited = server.wait_for_exit();
    assert_eq!(exited.code(), Some(0), "{exited:?}");
    assert_eq!(
        exited.stdout.lines().last(),
        Some(REPLY_SENT),
        "{exited:#?}"
    );
}

#[test]
fn step6_on_ctrl_c_while_idle_exits_at_once() {
    // The loop is blocked in `accept`: only the handler's own connection
    // can wake it.
    let server = start("step6", &[]);
    server.interrupt();
    let exited = server.wait_for_exit();
    assert_eq!(exited.code(), Some(0), "{exited:?}");
    assert_eq!(exited.stdout, format!("{}\n", interrupted(0)));
}

#[test]
fn step5_dies_on_ctrl_c_in_the_middle_of_a_conversation() {
    let mut server = start("step5", &[]);
    let mut client = TcpStream::connect(server.address).unwrap();
    client.write_all(&REQUEST[..8]).unwrap();
    assert_eq!(
        server.next_stdout_line(),
        accepted(client.local_addr().unwrap())
    );
    server.interrupt();
    let status = server.wait_for_exit().status;
    assert_eq!(status.signal(), Some(2), "killed by SIGINT: {status:?}");
    // The kernel closed the dead server's sockets: the reply never comes.
    client.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut reply = Vec::new();
    let outcome = client.read_to_end(&mut reply);
    assert!(
        reply.is_empty(),
        "no reply from a dead server: {outcome:?} {reply:?}"
    );
}

#[test]
fn step6_on_a_second_ctrl_c_exits_without_waiting() {
    let mut server = start("step6", &["--timeout", "30"]);
    let silent = TcpStream::connect(server.address).unwrap();
    assert_eq!(
        server.next_stdout_line(),
        accepted(silent.local_addr().unwrap())
    );
    server.interrupt();
    assert_eq!(next_unindented_line(&mut server), interrupted(1));
    // The silent client would hold the first Ctrl-C for 30 seconds.
    server.interrupt();
    let status = server.wait_for_exit().status;
    assert_eq!(status.code(), Some(130), "{status:?}");
    drop(silent);
}

#[test]
fn step6_connect_tries_each_address_in_turn_and_reports_the_last_failure() {
    let closed = closed_port();
    let refused = SocketAddr::from(([127, 0, 0, 1], closed.port()));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let open = listener.local_addr().unwrap();
    let (_held, silent) = unanswering_server();
    let patience = Duration::from_millis(300);

    // The first address refuses: the second is tried, and answers.
    let sock = step6::connect(&[refused, open], patience).unwrap();
    assert_eq!(sock.peer_addr().unwrap(), open);

    // None answers: the error is the last attempt's, after every earlier
    // one was given its time.
    let started = Instant::now();
    let error = step6::connect(&[silent, refused], patience).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ConnectionRefused, "{error}");
    assert!(started.elapsed() >= patience, "{:?}", started.elapsed());
    let error = step6::connect(&[refused, silent], patience).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::TimedOut, "{error}");
}

#[test]
fn step6_sendall_keeps_one_deadline_however_many_writes_it_takes() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut writer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut reader, _) = listener.accept().unwrap();
    // A slow reader: a kilobyte at a time, with a pause after each, so
    // that every `write` moves a little data and then waits. Once the
    // writer is done, it reads the rest at full speed.
    let hurry = Arc::new(AtomicBool::new(false));
    let reading = {
        let hurry = Arc::clone(&hurry);
        thread::spawn(move || {
            let mut buffer = [0; 1024];
            let mut received = 0;
            loop {
                match reader.read(&mut buffer) {
                    Ok(0) => return received,
                    Ok(more) => received += more,
                    Err(error) => panic!("the slow reader: {error}"),
                }
                if !hurry.load(Ordering::SeqCst) {
                    thread::sleep(Duration::from_millis(2));
                }
            }
        })
    };
    // Far more than the socket buffers hold, and more than the slow reader
    // takes in many seconds.
    let data = vec![b'x'; 32 << 20];
    let limit = Duration::from_millis(500);
    let started = Instant::now();
    let outcome = step6::sendall(&mut writer, &data, started + limit);
    let took = started.elapsed();
    hurry.store(true, Ordering::SeqCst);
    drop(writer);
    let received = reading.join().unwrap();

    let error = match outcome {
        Ok(()) => {
            panic!("sendall sent all {received} bytes in {took:?}, against a limit of {limit:?}")
        }
        Err(error) => error,
    };
    assert_eq!(error.kind(), ErrorKind::TimedOut, "{error}");
    assert!(received < data.len(), "{received} bytes arrived");
    // The count is what the writer's kernel accepted, not what the reader
    // took: the reader gets it all here only because it drains the socket
    // to the end once the writer is gone.
    assert_eq!(
        error.to_string(),
        format!(
            "the socket accepted only {received} of {} bytes before the deadline",
            data.len()
        )
    );
    // Only a bound against a deadline that is not kept: one write timeout
    // per `write`, each as long as the whole limit, would take many times
    // the limit.
    assert!(
        took < limit + Duration::from_secs(5),
        "sendall returned {took:?} after its start, against a limit of {limit:?}"
    );
}

#[test]
fn step6_survives_running_out_of_file_descriptors() {
    // 16 descriptors: the server's own few, and room for about ten
    // connections. The flood is bigger, so `accept` finds none left.
    let mut command = Command::new("prlimit");
    command
        .arg("--nofile=16")
        .arg("--")
        .arg(bin("step6"))
        .args(["server", "-p", "0", "--timeout", "30"]);
    let mut server = Server::start_command(command, Output::Apart).unwrap();
    assert_eq!(server.wait_for_stdout(WAITING), Vec::<String>::new());
    // A server that dies of it refuses the rest of the flood; the line it
    // dies with is the one to see.
    let flood: Vec<TcpStream> = (0..40)
        .filter_map(|_| TcpStream::connect(server.address).ok())
        .collect();
    assert_eq!(
        server.next_stderr_line(),
        "error: accept: Too many open files (os error 24)"
    );
    // The flood leaves; its connections' descriptors come free, and the
    // server, still trying after each pause, accepts again.
    drop(flood);
    assert_served(&server, "running out of file descriptors");
    assert!(server.is_running());
}

// ---------------------------------------------------------------------------
// What a reset does to the reply
// ---------------------------------------------------------------------------

#[test]
fn a_client_that_sent_too_much_reads_the_reply_then_the_reset() {
    for step in ["step5", "step6"] {
        let mut server = start(step, &[]);
        let mut client = TcpStream::connect(server.address).unwrap();
        client.set_read_timeout(Some(PATIENCE)).unwrap();
        // The request and 100 bytes more in one write: one segment, all of
        // it in the server's receive buffer when its read of 16 returns.
        let mut too_much = REQUEST.to_vec();
        too_much.extend([b'!'; 100]);
        client.write_all(&too_much).unwrap();
        // The server replies and closes with 100 bytes unread: a reset.
        server.wait_for_stdout(REPLY_SENT);
        let mut reply = [0; 16];
        client.read_exact(&mut reply).unwrap();
        assert_eq!(&reply, REPLY, "{step}: the reply came before the reset");
        let error = client.read(&mut [0; 16]).expect_err("the reset");
        assert_eq!(error.kind(), ErrorKind::ConnectionReset, "{step}");
    }
}

/// A server's end that has read a 16-byte request and, with `unread` more
/// bytes of the client's still unread, writes as much of a long reply as
/// its kernel will take while the client reads nothing, then closes.
/// Returns how much the server wrote, and how the client's reading ends:
/// how many bytes it got, and the error, if it was not end of file.
fn long_reply_then_close(unread: usize) -> (usize, usize, Option<ErrorKind>) {
    let (mut client, mut server_end) = connected_pair();
    let mut request = REQUEST.to_vec();
    request.extend(std::iter::repeat_n(b'!', unread));
    client.write_all(&request).unwrap();
    server_end.read_exact(&mut [0; 16]).unwrap();

    // Non-blocking, so that the writes stop when the kernel's buffers are
    // full instead of waiting for the client: what is then in the server's
    // send buffer has not been sent yet.
    server_end.set_nonblocking(true).unwrap();
    let piece = vec![b'g'; 64 * 1024];
    let mut written = 0;
    loop {
        match server_end.write(&piece) {
            Ok(n) => written += n,
            Err(error) if error.kind() == ErrorKind::WouldBlock => break,
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) => panic!("writing the reply: {error}"),
        }
    }
    drop(server_end); // a FIN, or with bytes unread, a reset

    client.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut buffer = vec![0; 256 * 1024];
    let mut received = 0;
    loop {
        match client.read(&mut buffer) {
            Ok(0) => return (written, received, None),
            Ok(n) => received += n,
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) => return (written, received, Some(error.kind())),
        }
    }
}

#[test]
fn a_reset_throws_away_the_part_of_a_reply_that_had_not_left() {
    // Everything read: the close sends a FIN, and the kernel still delivers
    // every byte of the reply before it.
    let (written, received, error) = long_reply_then_close(0);
    assert_eq!((received, error), (written, None), "a plain close");

    // 100 bytes unread: the close sends a reset, and what the server's
    // kernel had not sent yet never arrives.
    let (written, received, error) = long_reply_then_close(100);
    assert_eq!(error, Some(ErrorKind::ConnectionReset));
    assert!(
        received < written,
        "the client got all {written} bytes despite the reset"
    );
}
