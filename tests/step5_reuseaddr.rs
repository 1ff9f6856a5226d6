//! The claims of the chapter "Step 5: the listening socket, built by hand"
//! (src/step5-reuseaddr.md) about `SO_REUSEADDR`, TIME_WAIT and the listen
//! backlog, shown on loopback. These are Linux's rules (other systems
//! differ), so the tests run on Linux only.
#![cfg(target_os = "linux")]

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use book_tests::{PATIENCE, Server, bin, run, ss, tcp_table_row};
use listings::protocol::{ASSIGNED, REPLY, REPLY_SENT, REQUEST, accepted, server_said};
use socket2::{Domain, Protocol, SockRef, Socket, Type};

const EINPROGRESS: i32 = 115;

/// Why a bind that TIME_WAIT should have stopped can succeed all the same:
/// the kernel creates no TIME_WAIT socket while its table of them is full.
const NO_TIME_WAIT: &str = "the port was free: no connection held it in TIME_WAIT. \
    Linux creates none while net.ipv4.tcp_max_tw_buckets of them exist \
    (TcpExtTCPTimeWaitOverflow in `nstat -az` counts those it dropped); \
    something on this machine is closing connections by the thousand";

/// Keeps the test that starts processes apart from the others.
///
/// Between `fork` and `exec` a child process holds a copy of every open
/// file descriptor of the test process, sockets included (close-on-exec
/// closes them only at `exec`). A listener that a test drops in that window
/// stays open, still listening, until the child execs, and a test that then
/// binds its port fails for a reason that has nothing to do with TIME_WAIT.
/// Tests that do not start processes may run together (shared lock); the one
/// that does runs alone (exclusive lock).
static FORKS: RwLock<()> = RwLock::new(());

fn no_process_starts() -> RwLockReadGuard<'static, ()> {
    FORKS
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn alone() -> RwLockWriteGuard<'static, ()> {
    FORKS
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A listening socket built as step 5 builds it, with `SO_REUSEADDR` on or
/// off, and `listen(backlog)`.
fn listener(address: SocketAddr, reuse: bool, backlog: i32) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(reuse)?;
    socket.bind(&address.into())?;
    socket.listen(backlog)?;
    Ok(socket.into())
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// One finished conversation in which the *server* closes first, so that
/// the server's end of it is left in TIME_WAIT on `listener`'s port.
///
/// Which side closes first is otherwise a race (both programs close right
/// after the last message). Here the client does not close until it has
/// read the end of the stream, which it can only do after the server has
/// closed.
fn converse_server_closing_first(listener: &TcpListener) {
    let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut conn, _) = listener.accept().unwrap();
    client.write_all(REQUEST).unwrap();
    let mut request = [0; 16];
    conn.read_exact(&mut request).unwrap();
    conn.write_all(REPLY).unwrap();
    drop(conn); // the server closes first: its FIN goes out now
    let mut reply = Vec::new();
    // read_to_end returns only at end of stream, that is, after the
    // server's FIN has arrived.
    client.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, REPLY);
    drop(client); // the client's FIN: the server's side enters TIME_WAIT
}

/// Leaves a TIME_WAIT connection on a fresh port, with the old listener
/// (and so the accepted connection, which inherits its options) created
/// with `SO_REUSEADDR` set to `old_reuse`. Returns the port, now with no
/// listener on it.
fn port_in_time_wait(old_reuse: bool) -> u16 {
    let old = listener(loopback(0), old_reuse, 1).unwrap();
    let port = old.local_addr().unwrap().port();
    converse_server_closing_first(&old);
    drop(old); // the server "stops": nothing listens on the port any more
    port
}

#[test]
fn time_wait_blocks_rebind_without_reuseaddr() {
    let _guard = no_process_starts();
    let port = port_in_time_wait(true);
    let error = listener(loopback(port), false, 1).expect_err(NO_TIME_WAIT);
    assert_eq!(error.kind(), ErrorKind::AddrInUse);
    assert_eq!(error.to_string(), "Address already in use (os error 98)");
}

#[test]
fn time_wait_allows_rebind_with_reuseaddr_on_both_sockets() {
    let _guard = no_process_starts();
    let port = port_in_time_wait(true);
    let again = listener(loopback(port), true, 1).unwrap();
    // The new listener works: it serves a new conversation.
    converse_server_closing_first(&again);
}

#[test]
fn reuseaddr_on_the_new_socket_alone_is_not_enough() {
    let _guard = no_process_starts();
    // The connection in TIME_WAIT came from a listener without the option:
    // on Linux, setting it only on the new socket does not help.
    let port = port_in_time_wait(false);
    let error = listener(loopback(port), true, 1).expect_err(NO_TIME_WAIT);
    assert_eq!(error.kind(), ErrorKind::AddrInUse);
}

#[test]
fn std_tcp_listener_bind_sets_reuseaddr() {
    let _guard = no_process_starts();
    let std_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    assert!(SockRef::from(&std_listener).reuse_address().unwrap());
    // A socket made with socket2 starts with the option off, as the kernel
    // creates every socket: std switched it on, explicitly.
    let plain = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
    assert!(!plain.reuse_address().unwrap());
}

#[test]
fn step5_restarts_on_a_port_in_time_wait_where_a_listener_without_reuseaddr_cannot() {
    let _guard = alone();
    // A step5 server answers one client whose program waits for the server
    // to close first, then the server is stopped (killed, like Ctrl-C).
    let mut server = Server::start(bin("step5"), ["server", "-p", "0"]);
    let port = server.address.port();
    let mut client = TcpStream::connect(server.address).unwrap();
    client.write_all(REQUEST).unwrap();
    let mut reply = Vec::new();
    client.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, REPLY);
    drop(client);
    server.wait_for_stdout(REPLY_SENT);
    drop(server);

    // Without SO_REUSEADDR the port cannot be had while TIME_WAIT lasts...
    let error = listener(loopback(port), false, 1).expect_err(NO_TIME_WAIT);
    assert_eq!(error.kind(), ErrorKind::AddrInUse);
    // ...while std's TcpListener::bind, which sets the option, can...
    drop(TcpListener::bind(loopback(port)).unwrap());
    // ...and so can step5 itself: the restarted server listens again.
    let restarted = Server::start(bin("step5"), ["server", "-p", &port.to_string()]);
    assert_eq!(restarted.address, loopback(port));
}

#[test]
fn a_second_listener_on_a_busy_port_gets_addr_in_use_even_with_reuseaddr() {
    let _guard = no_process_starts();
    let first = TcpListener::bind(loopback(0)).unwrap();
    let address = first.local_addr().unwrap();
    // std sets SO_REUSEADDR before binding, and so does step5 by hand; it does
    // not let two listeners share a port.
    let error = TcpListener::bind(address).expect_err("the port is taken");
    assert_eq!(error.kind(), ErrorKind::AddrInUse);
    assert_eq!(error.to_string(), "Address already in use (os error 98)");

    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
    socket.set_reuse_address(true).unwrap();
    let error = socket.bind(&address.into()).expect_err("still taken");
    assert_eq!(error.kind(), ErrorKind::AddrInUse);

    // Once the first listener is closed (and no connection of its lingers)
    // the port is free again.
    drop(first);
    TcpListener::bind(address).expect("the port is free after the first listener closed");
}

/// Connects to a listener that never accepts: `backlog + 1` clients complete
/// their handshake at once; the next client's SYN is dropped, and it gets in
/// only on a retry, after the server has accepted one connection.
fn completed_handshakes_without_accept(backlog: i32) {
    let server = listener(loopback(0), true, backlog).unwrap();
    let address = server.local_addr().unwrap();
    let backlog = usize::try_from(backlog).unwrap();

    let mut waiting = Vec::new();
    for _ in 0..backlog + 1 {
        // connect() returns once the handshake is done, with no accept
        // needed; on loopback that is at once.
        waiting.push(TcpStream::connect_timeout(&address, PATIENCE).unwrap());
    }

    // One more, without waiting: connect() sends the SYN and returns.
    let late = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
    late.set_nonblocking(true).unwrap();
    let started = Instant::now();
    let error = late.connect(&address.into()).unwrap_err();
    assert_eq!(error.raw_os_error(), Some(EINPROGRESS));

    // Make room in the queue, then wait (blocking, with a time limit) for
    // the late client's handshake to finish.
    let (_first, _) = server.accept().unwrap();
    late.set_nonblocking(false).unwrap();
    late.set_write_timeout(Some(PATIENCE)).unwrap();
    // connect() again on a socket whose connect is under way waits for it.
    let _ = late.connect(&address.into());
    assert!(late.peer_addr().is_ok(), "the late client never connected");
    let waited = started.elapsed();
    // Its first SYN was dropped: it got in on the retransmission, which
    // Linux sends one second after the first SYN.
    assert!(
        waited >= Duration::from_millis(900),
        "with listen({backlog}), client {} connected after {waited:?}: its SYN was not dropped",
        backlog + 2
    );
}

#[test]
fn listen_1_completes_two_handshakes_before_dropping_syns() {
    let _guard = no_process_starts();
    completed_handshakes_without_accept(1);
}

#[test]
fn listen_5_completes_six_handshakes_before_dropping_syns() {
    let _guard = no_process_starts();
    completed_handshakes_without_accept(5);
}

#[test]
fn listen_0_completes_one_handshake_before_dropping_syns() {
    let _guard = no_process_starts();
    completed_handshakes_without_accept(0);
}

// ---------------------------------------------------------------------------
// timewait: a port held in TIME_WAIT on the server's side, every time
// ---------------------------------------------------------------------------

/// /proc/net/tcp's number for the state TIME_WAIT.
const TIME_WAIT: u8 = 0x06;

/// The state of the connection from `local` to `remote`, as /proc/net/tcp
/// numbers it (01 ESTABLISHED, 06 TIME_WAIT, ...), or `None` once the kernel
/// has forgotten it. The whole 4-tuple, not a port alone: a client's port
/// may also belong to an older connection to somewhere else.
fn state(local: SocketAddr, remote: SocketAddr) -> Option<u8> {
    let row = tcp_table_row(local, remote)?;
    Some(u8::from_str_radix(&row[3], 16).expect("hexadecimal state"))
}

/// Waits until the connection from `local` to `remote` is in a state that
/// `wanted` accepts.
fn wait_for_state(
    local: SocketAddr,
    remote: SocketAddr,
    wanted: impl Fn(Option<u8>) -> bool,
    what: &str,
) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let state = state(local, remote);
        if wanted(state) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {local} -> {remote} is in state {state:02X?}"
        );
        std::thread::yield_now();
    }
}

#[test]
fn timewait_client_leaves_the_servers_end_in_time_wait() {
    let _guard = alone();
    let mut server = Server::start(bin("step5"), ["server", "-p", "0"]);
    let port = server.address.port();
    let client = run(bin("timewait"), ["client", "-p", &port.to_string()]);
    assert_eq!(client.code(), Some(0), "{client:#?}");
    let lines: Vec<&str> = client.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{client:#?}");
    assert_eq!(lines[1], server_said(REPLY));
    assert_eq!(
        lines[2],
        "End of file: the server closed first, so its end waits in TIME_WAIT"
    );
    let client_address: SocketAddr = lines[0]
        .strip_prefix(ASSIGNED)
        .and_then(|address| address.parse().ok())
        .expect("the client's first line names its address");
    let server_address = server.address;
    server.wait_for_stdout(REPLY_SENT);
    drop(server); // stopped, as with Ctrl-C: nothing listens on the port now

    // The server's end is in TIME_WAIT; the client's end, which closed
    // second, is not: it is gone once the server has acknowledged its FIN.
    wait_for_state(
        server_address,
        client_address,
        |state| state == Some(TIME_WAIT),
        "the server's end",
    );
    wait_for_state(
        client_address,
        server_address,
        |state| state != Some(TIME_WAIT),
        "the client's end",
    );

    // timewait's listen: refused without SO_REUSEADDR, let in with it.
    let port = port.to_string();
    let refused = run(bin("timewait"), ["listen", "-p", &port, "--no-reuseaddr"]);
    assert_eq!(
        refused.one_line_error(1),
        format!(
            "error: cannot listen with SO_REUSEADDR off on 127.0.0.1:{port}: \
             Address already in use (os error 98)"
        ),
        "{NO_TIME_WAIT}"
    );
    let allowed = run(bin("timewait"), ["listen", "-p", &port]);
    assert_eq!(allowed.code(), Some(0), "{allowed:#?}");
    assert_eq!(
        allowed.stdout,
        format!("Listening at 127.0.0.1:{port} with SO_REUSEADDR on; closing again\n")
    );
}

#[test]
fn bad_timewait_arguments_are_usage_errors() {
    let _guard = alone();
    for args in [
        &[][..],
        &["serve"],
        &["listen", "-p", "port"],
        &["client", "--no-reuseaddr"],
    ] {
        let tool = run(bin("timewait"), args);
        let line = tool.one_line_error(2);
        assert!(line.starts_with("error: "), "{args:?}: {line}");
    }
}

// ---------------------------------------------------------------------------
// ss -ltn: a listener's queue and its backlog
// ---------------------------------------------------------------------------

/// What `ss -ltn` says of the listening socket on 127.0.0.1:`port`: its
/// Recv-Q and Send-Q columns.
fn ss_listen_queue(port: u16) -> (u32, u32) {
    let rows = ss(&["-ltn", &format!("sport = :{port}")]);
    assert_eq!(rows.len(), 1, "one listener on {port}: {rows:?}");
    let fields = &rows[0];
    assert_eq!(fields[0], "LISTEN", "{rows:?}");
    assert_eq!(fields[3], format!("127.0.0.1:{port}"), "{rows:?}");
    (fields[1].parse().unwrap(), fields[2].parse().unwrap())
}

#[test]
fn ss_shows_the_accept_queue_as_recv_q_and_the_backlog_as_send_q() {
    let _guard = alone();
    let mut server = Server::start(bin("step5"), ["server", "-p", "0"]);
    let port = server.address.port();
    assert_eq!(
        ss_listen_queue(port),
        (0, 1),
        "idle: nobody waiting, backlog 1"
    );

    // A client that says nothing: the server accepts it and waits for its
    // request, so nothing else gets accepted meanwhile.
    let silent = TcpStream::connect(server.address).unwrap();
    server.wait_for_stdout(&accepted(silent.local_addr().unwrap()));

    // Two more clients complete their handshake and wait to be accepted.
    let waiting: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(server.address).unwrap())
        .collect();
    let deadline = Instant::now() + PATIENCE;
    while ss_listen_queue(port).0 < 2 {
        assert!(Instant::now() < deadline, "the two clients never queued");
        std::thread::yield_now();
    }
    assert_eq!(ss_listen_queue(port), (2, 1), "two waiting, backlog 1");
    drop((silent, waiting));

    // std's TcpListener::bind asks for 128.
    let std_listener = TcpListener::bind(loopback(0)).unwrap();
    let std_port = std_listener.local_addr().unwrap().port();
    assert_eq!(ss_listen_queue(std_port), (0, 128));
}
