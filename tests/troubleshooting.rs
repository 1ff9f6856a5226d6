//! The claims of the appendix "Troubleshooting" (src/troubleshooting.md)
//! about a client left waiting (and what `ss` shows of it), and about
//! exchanges slowed down by Nagle's algorithm, each shown on loopback. The
//! other tests it names are in the files of the chapters that make those
//! claims first.
//!
//! The tests of a waiting client show that something does *not* happen (a
//! reply, a client's exit), so each waits a fixed time for an event that
//! cannot happen until the test itself allows it: the outcome never depends
//! on timing. The tests of the 40 ms stall time nothing: they show the
//! mechanism (the option, how many calls reach the kernel); the `nagle`
//! tool does the measuring.

use std::io::{BufWriter, ErrorKind, IoSlice, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use book_tests::{PATIENCE, Server, bin, connected_pair, run, ss};
use listings::protocol::{
    REPLY, REQUEST, WAITING, accepted, closed_early, connection_error, server_said,
};
use socket2::SockRef;
use wait_timeout::ChildExt;

#[test]
fn a_client_waits_as_long_as_its_peer_sends_nothing() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut accepted, _) = listener.accept().unwrap();
    client.write_all(REQUEST).unwrap();

    // The peer is alive and the connection is healthy, but it sends nothing:
    // read has nothing to return, and without a timeout would wait forever.
    client
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut reply = [0; 16];
    let error = client.read(&mut reply).expect_err("nothing can arrive");
    // On Unix an expired read timeout is EAGAIN, which std calls WouldBlock.
    assert_eq!(error.kind(), ErrorKind::WouldBlock);

    // Eight bytes are not sixteen: a reader that needs all of them still waits.
    accepted.write_all(&REPLY[..8]).unwrap(); // "Goodbye,"
    let error = client
        .read_exact(&mut reply)
        .expect_err("only half the reply came");
    assert_eq!(error.kind(), ErrorKind::WouldBlock);
}

/// A step 4 server, and a first client that has connected and says nothing:
/// the server, which serves one connection at a time, sits in `recvall`
/// waiting for its 16 bytes.
fn a_step4_server_busy_with_a_silent_client() -> (Server, TcpStream) {
    let mut server = Server::start(bin("step4"), ["server", "-p", "0"]);
    assert_eq!(server.next_stdout_line(), WAITING);
    let silent = TcpStream::connect(server.address).unwrap();
    assert_eq!(
        server.next_stdout_line(),
        accepted(silent.local_addr().unwrap()),
        "the server took the silent client"
    );
    (server, silent)
}

#[test]
fn a_step4_client_waits_while_the_server_serves_a_silent_client() {
    let (mut server, silent) = a_step4_server_busy_with_a_silent_client();
    let silent_name = silent.local_addr().unwrap();

    // A second client's connect succeeds (the kernel completes the handshake)
    // but nobody reads its message, so it waits for a reply.
    let mut waiting = Command::new(bin("step4"))
        .args(["client", "-p", &server.port()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let still_running = waiting
        .wait_timeout(Duration::from_millis(500))
        .unwrap()
        .is_none();
    assert!(
        still_running,
        "the client cannot finish while the server is busy"
    );

    // The silent client leaves: the server reports it and serves the next one.
    drop(silent);
    let (done, finished) = mpsc::channel();
    thread::spawn(move || {
        let output = waiting.wait_with_output();
        let _ = done.send(output);
    });
    let output = finished
        .recv_timeout(PATIENCE)
        .expect("the client finished")
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains(&server_said(REPLY)),
        "{output:?}"
    );
    assert_eq!(
        server.next_stderr_line(),
        connection_error(silent_name, &closed_early(16, 0))
    );
}

/// What `ss -tn` says of the connection from `local` to `peer`: its Recv-Q
/// and Send-Q columns, or `None` while it is not listed.
fn ss_queues(local: SocketAddr, peer: SocketAddr) -> Option<(u32, u32)> {
    let filter = format!("sport = :{} and dport = :{}", local.port(), peer.port());
    let rows = ss(&["-tn", &filter]);
    let row = rows
        .iter()
        .find(|row| row[3] == local.to_string() && row[4] == peer.to_string())?;
    assert_eq!(row[0], "ESTAB", "{rows:?}");
    Some((row[1].parse().unwrap(), row[2].parse().unwrap()))
}

#[test]
fn ss_shows_a_waiting_clients_16_bytes_in_recv_q_and_nothing_for_a_silent_one() {
    // The server is busy with a silent client...
    let (server, silent) = a_step4_server_busy_with_a_silent_client();
    let silent_name = silent.local_addr().unwrap();
    // ...so the next client's connection waits in the backlog, and its
    // request in the kernel's buffer, unread.
    let mut waiting = TcpStream::connect(server.address).unwrap();
    let waiting_name = waiting.local_addr().unwrap();
    waiting.write_all(REQUEST).unwrap();

    let deadline = Instant::now() + PATIENCE;
    while ss_queues(server.address, waiting_name) != Some((16, 0)) {
        assert!(
            Instant::now() < deadline,
            "the request never showed: {:?}",
            ss_queues(server.address, waiting_name)
        );
        thread::yield_now();
    }
    // A silent peer: nothing waits to be read or to be acknowledged, at
    // either end.
    assert_eq!(ss_queues(server.address, silent_name), Some((0, 0)));
    assert_eq!(ss_queues(silent_name, server.address), Some((0, 0)));
    drop((silent, waiting));
}

// ---------------------------------------------------------------------------
// Each exchange takes 40 ms: Nagle's algorithm meets a delayed ACK
// ---------------------------------------------------------------------------

#[test]
fn nagle_is_on_at_both_ends_until_set_nodelay_turns_it_off_at_one() {
    let (client, server) = connected_pair();
    // TCP_NODELAY as the kernel reports it (getsockopt, through socket2):
    // off, so Nagle's algorithm is on, for a client and an accepted stream.
    assert!(!SockRef::from(&client).tcp_nodelay().unwrap());
    assert!(!SockRef::from(&server).tcp_nodelay().unwrap());
    client.set_nodelay(true).unwrap();
    assert!(SockRef::from(&client).tcp_nodelay().unwrap());
    // An option of one socket, not of the connection.
    assert!(!SockRef::from(&server).tcp_nodelay().unwrap());
}

#[test]
fn write_vectored_hands_the_header_and_the_body_over_in_one_call() {
    let (client, server) = connected_pair();
    let (header, body) = REQUEST.split_at(4);
    let sent = (&client)
        .write_vectored(&[IoSlice::new(header), IoSlice::new(body)])
        .unwrap();
    assert_eq!(sent, REQUEST.len(), "both pieces in one call");
    // One call, one segment: the server's single read gets all of it.
    server.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut buffer = [0; 64];
    assert_eq!((&server).read(&mut buffer).unwrap(), REQUEST.len());
    assert_eq!(&buffer[..REQUEST.len()], REQUEST);
}

/// A writer that records what each call to `write` was given.
struct Calls(Vec<Vec<u8>>);

impl Write for Calls {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.push(data.to_vec());
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_bufwriter_passes_the_header_and_the_body_on_in_one_write() {
    let (header, body) = REQUEST.split_at(4);
    let mut writer = BufWriter::new(Calls(Vec::new()));
    writer.write_all(header).unwrap();
    writer.write_all(body).unwrap();
    assert!(
        writer.get_ref().0.is_empty(),
        "nothing written before flush"
    );
    writer.flush().unwrap();
    assert_eq!(writer.get_ref().0, [REQUEST.to_vec()]);
}

#[test]
fn the_nagle_tool_prints_a_row_for_each_way_and_a_summary() {
    let tool = run(bin("nagle"), ["--exchanges", "1", "--repeats", "1"]);
    assert_eq!(tool.code(), Some(0), "{tool:#?}");
    let lines: Vec<&str> = tool.stdout.lines().collect();
    let rows: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|line| line.starts_with("| ") && !line.starts_with("| ---"))
        .skip(1) // the header
        .collect();
    assert_eq!(rows.len(), 4, "{}", tool.stdout);
    for way in [
        "| two writes (header, body) |",
        "| two writes, `set_nodelay(true)` |",
        "| one `write_vectored` |",
        "| two writes into a `BufWriter`, one `flush` |",
    ] {
        assert!(
            rows.iter().any(|row| row.starts_with(way)),
            "{way}: {rows:#?}"
        );
    }
    assert!(
        lines.last().unwrap().starts_with("two writes: "),
        "{}",
        tool.stdout
    );
}

#[test]
fn bad_nagle_arguments_are_usage_errors() {
    for args in [
        &["--exchanges", "0"][..],
        &["--repeats", "many"],
        &["--frobnicate"],
    ] {
        let tool = run(bin("nagle"), args);
        let line = tool.one_line_error(2);
        assert!(line.starts_with("error: "), "{args:?}: {line}");
    }
}
