//! The claims of the chapter "Step 5: the listening socket, built by hand"
//! (src/step5-reuseaddr.md) about `SO_REUSEADDR`, TIME_WAIT and the listen
//! backlog, shown on loopback. These are Linux's rules (other systems
//! differ), so the tests run on Linux only.
#![cfg(target_os = "linux")]

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use book_tests::{PATIENCE, Server, bin};
use listings::protocol::{REPLY, REPLY_SENT, REQUEST};
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
