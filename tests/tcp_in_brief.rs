//! The claims of the chapter "TCP in brief" (src/tcp-in-brief.md) about TCP
//! on Linux, each shown on loopback. The glossary and later chapters cite
//! some of them again.
//!
//! Every test binds port 0 (or holds a port closed), and none sleeps to wait
//! for something: each waits for a connection, a byte or an end of file.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use book_tests::{PATIENCE, closed_port, tcp_table_row, unread_bytes};
use listings::protocol::{REPLY, REQUEST};
use socket2::{Domain, Protocol, SockRef, Socket, TcpKeepalive, Type};

/// A listener on a free port of 127.0.0.1.
fn listener() -> TcpListener {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0")
}

/// Makes a read that would wait forever fail after [`PATIENCE`] instead, so
/// that a broken claim fails its test rather than hanging the suite. Every
/// read it guards has its bytes on the way long before then.
fn patient(stream: &TcpStream) {
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
}

/// The connection's 4-tuple as seen from one end: (local, remote).
fn four_tuple(stream: &TcpStream) -> (SocketAddr, SocketAddr) {
    (stream.local_addr().unwrap(), stream.peer_addr().unwrap())
}

// ---------------------------------------------------------------- connect

#[test]
fn connect_to_a_closed_port_is_refused() {
    let closed = closed_port();
    let error = TcpStream::connect((Ipv4Addr::LOCALHOST, closed.port()))
        .expect_err("nothing listens there");
    assert_eq!(error.kind(), ErrorKind::ConnectionRefused);
    // ECONNREFUSED is 111 on Linux; this is the text the step programs print.
    assert_eq!(error.raw_os_error(), Some(111));
    assert_eq!(error.to_string(), "Connection refused (os error 111)");
}

#[test]
fn connect_returns_once_the_kernel_has_completed_the_handshake_before_accept() {
    let listener = listener();
    let address = listener.local_addr().unwrap();
    // No accept yet: the listening socket's kernel side answers the SYN, and
    // connect returns as soon as the three-way handshake is done. (It runs
    // in a thread so that a connect waiting for accept would fail the test
    // rather than hang it.)
    let (connected, connection) = mpsc::channel();
    thread::spawn(move || connected.send(TcpStream::connect(address)));
    let mut client = connection
        .recv_timeout(PATIENCE)
        .expect("connect returned without an accept")
        .expect("connect succeeds");
    // The connection is already usable: bytes written now wait in the
    // server's receive buffer until someone accepts and reads.
    client.write_all(b"early").unwrap();
    let (mut accepted, _) = listener.accept().unwrap();
    patient(&accepted);
    let mut buffer = [0; 5];
    accepted.read_exact(&mut buffer).unwrap();
    assert_eq!(&buffer, b"early");
}

#[test]
fn a_clients_local_port_is_an_ephemeral_port_chosen_by_the_kernel() {
    let listener = listener();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let local = client.local_addr().unwrap();
    // Linux picks it from net.ipv4.ip_local_port_range.
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap();
    let bounds: Vec<u16> = range
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    assert!(
        (bounds[0]..=bounds[1]).contains(&local.port()),
        "client port {} outside the ephemeral range {range:?}",
        local.port()
    );
    assert_ne!(local.port(), listener.local_addr().unwrap().port());
    // A second client gets a port of its own.
    let other = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    assert_ne!(other.local_addr().unwrap().port(), local.port());
}

// ------------------------------------------------ listening and connected

#[test]
fn two_connections_to_one_listener_share_its_address_but_differ_in_the_4_tuple() {
    let listener = listener();
    let server_address = listener.local_addr().unwrap();
    let first_client = TcpStream::connect(server_address).unwrap();
    let second_client = TcpStream::connect(server_address).unwrap();
    let (first, _) = listener.accept().unwrap();
    let (second, _) = listener.accept().unwrap();

    // Both accepted sockets have the listener's own address as local end...
    assert_eq!(first.local_addr().unwrap(), server_address);
    assert_eq!(second.local_addr().unwrap(), server_address);
    // ...and the 4-tuple, which includes the client's end, tells them apart.
    assert_ne!(four_tuple(&first), four_tuple(&second));
    assert_ne!(four_tuple(&first_client), four_tuple(&second_client));
}

#[test]
fn each_accepted_stream_has_its_own_addresses_mirroring_its_clients() {
    let listener = listener();
    let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut accepted, peer) = listener.accept().unwrap();

    // accept's second value is the client's own socket name.
    assert_eq!(peer, client.local_addr().unwrap());
    assert_eq!(accepted.peer_addr().unwrap(), peer);
    // Seen from the other end, the 4-tuple is the same one, swapped.
    let (local, remote) = four_tuple(&accepted);
    assert_eq!((remote, local), four_tuple(&client));

    // The accepted stream is the connection: bytes go through it, not
    // through the listener.
    patient(&client);
    accepted.write_all(b"ping").unwrap();
    let mut buffer = [0; 4];
    client.read_exact(&mut buffer).unwrap();
    assert_eq!(&buffer, b"ping");
}

#[test]
fn dropping_an_accepted_stream_ends_that_connection_while_the_listener_keeps_accepting() {
    let listener = listener();
    let address = listener.local_addr().unwrap();
    let mut ending = TcpStream::connect(address).unwrap();
    let mut staying = TcpStream::connect(address).unwrap();
    let (ending_accepted, _) = listener.accept().unwrap();
    let (mut staying_accepted, _) = listener.accept().unwrap();

    drop(ending_accepted); // close(): the kernel sends a FIN
    patient(&ending);
    let mut buffer = [0; 16];
    assert_eq!(
        ending.read(&mut buffer).unwrap(),
        0,
        "the peer reads end of file"
    );

    // The other connection is untouched...
    patient(&staying);
    staying_accepted.write_all(b"still here").unwrap();
    staying.read_exact(&mut buffer[..10]).unwrap();
    assert_eq!(&buffer[..10], b"still here");
    // ...and the listening socket goes on accepting new ones.
    let newcomer = TcpStream::connect(address).unwrap();
    let (_, peer) = listener.accept().unwrap();
    assert_eq!(peer, newcomer.local_addr().unwrap());
}

// ---------------------------------------------------- while both ends live

/// /proc/net/tcp's number for "no timer running" and for the keepalive timer.
const NO_TIMER: u8 = 0;
const KEEPALIVE_TIMER: u8 = 2;

/// The timer the kernel runs for the connection (local, remote), from
/// /proc/net/tcp's `tr:tm->when` column: which one (0 none, 1 retransmit,
/// 2 keepalive, 3 TIME_WAIT, 4 zero-window probe) and the time left until
/// it fires, which the kernel gives in hundredths of a second.
fn kernel_timer(local: SocketAddr, remote: SocketAddr) -> (u8, Duration) {
    let row = tcp_table_row(local, remote).expect("the connection is in /proc/net/tcp");
    let (which, when) = row[5].split_once(':').expect("tr:tm->when");
    let ticks = u64::from_str_radix(when, 16).unwrap();
    (
        u8::from_str_radix(which, 16).unwrap(),
        Duration::from_millis(ticks * 10),
    )
}

#[test]
fn keepalive_is_off_until_set_and_then_the_kernel_times_the_first_probe() {
    let listener = listener();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (_server, _) = listener.accept().unwrap();
    let (local, remote) = four_tuple(&client);
    let socket = SockRef::from(&client);

    // Off for a new stream: an idle connection has no timer at all.
    assert!(!socket.keepalive().unwrap());
    assert_eq!(kernel_timer(local, remote).0, NO_TIMER);

    // On: the kernel counts down to the first probe, after the system's
    // idle time (net.ipv4.tcp_keepalive_time).
    socket.set_keepalive(true).unwrap();
    assert!(socket.keepalive().unwrap());
    let idle: u64 = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_keepalive_time")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let idle = Duration::from_secs(idle);
    let (timer, left) = kernel_timer(local, remote);
    assert_eq!(timer, KEEPALIVE_TIMER);
    assert!(
        left <= idle && left > idle.saturating_sub(PATIENCE),
        "first probe in {left:?}, idle time {idle:?}"
    );

    // A time of this socket's own, through socket2's TcpKeepalive.
    let own = TcpKeepalive::new()
        .with_time(Duration::from_secs(5))
        .with_interval(Duration::from_secs(1));
    socket.set_tcp_keepalive(&own).unwrap();
    let (timer, left) = kernel_timer(local, remote);
    assert_eq!(timer, KEEPALIVE_TIMER);
    assert!(left <= Duration::from_secs(5), "first probe in {left:?}");
}

// ------------------------------------------------------ partial transfers

#[test]
fn a_read_returns_what_has_arrived_not_what_was_asked_for() {
    let listener = listener();
    let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut accepted, _) = listener.accept().unwrap();

    // The first 10 bytes of the 16-byte message, and nothing more until the
    // reader has returned: the rest cannot be in the buffer yet.
    patient(&accepted);
    client.write_all(&REQUEST[..10]).unwrap(); // "Hi there, "
    let mut message = [0; 16];
    let first = accepted.read(&mut message).unwrap();
    assert_eq!(first, 10, "one read returned only part of the message");
    client.write_all(&REQUEST[10..]).unwrap();
    accepted.read_exact(&mut message[first..]).unwrap();
    assert_eq!(&message, REQUEST);
}

#[test]
fn a_write_may_accept_only_part_of_the_data() {
    let listener = listener();
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).unwrap();
    socket.set_send_buffer_size(4096).unwrap();
    socket
        .connect(&listener.local_addr().unwrap().into())
        .unwrap();
    let mut client: TcpStream = socket.into();
    // The peer never reads, so the kernels can hold no more than the small
    // send buffer plus the peer's receive buffer, which Linux caps at the
    // third number of net.ipv4.tcp_rmem. Offer twice that in one call: a
    // non-blocking write returns at once with the part it could take.
    let _accepted = listener.accept().unwrap();
    client.set_nonblocking(true).unwrap();
    let rmem = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_rmem").unwrap();
    let receive_max: usize = rmem.split_whitespace().nth(2).unwrap().parse().unwrap();
    let data = vec![0u8; 2 * receive_max.max(4 << 20)];
    let taken = client.write(&data).expect("some bytes fit");
    assert!(
        taken > 0 && taken < data.len(),
        "write took {taken} of {} bytes",
        data.len()
    );
}

// ------------------------------------------------------------ FIN and RST

#[test]
fn closing_with_unread_data_resets_the_connection() {
    let listener = listener();
    let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (accepted, _) = listener.accept().unwrap();
    client.write_all(b"never read").unwrap();
    // Wait until the bytes are in the accepted socket's receive buffer
    // (peek leaves them there), then close it without reading them.
    let mut one = [0; 1];
    patient(&accepted);
    assert_eq!(accepted.peek(&mut one).unwrap(), 1);
    drop(accepted);
    // Linux answers with RST instead of FIN: no polite end of file.
    patient(&client);
    let mut buffer = [0; 16];
    let error = client
        .read(&mut buffer)
        .expect_err("a reset, not an end of file");
    assert_eq!(error.kind(), ErrorKind::ConnectionReset);
}

#[test]
fn after_a_reset_the_bytes_already_received_come_first_then_connection_reset() {
    let listener = listener();
    let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut accepted, _) = listener.accept().unwrap();
    let (local, remote) = four_tuple(&client);
    // The server's 16 bytes wait, unread, in the client's receive buffer.
    accepted.write_all(REPLY).unwrap();
    let deadline = Instant::now() + PATIENCE;
    while unread_bytes(local, remote) != Some(REPLY.len() as u32) {
        assert!(Instant::now() < deadline, "the reply never arrived");
        thread::yield_now();
    }
    // Then the server closes with the client's bytes unread: a reset.
    client.write_all(b"never read").unwrap();
    patient(&accepted);
    let mut one = [0; 1];
    assert_eq!(accepted.peek(&mut one).unwrap(), 1);
    drop(accepted);
    // Wait until the reset has arrived: it takes the client's connection out
    // of the kernel's table of connections.
    while unread_bytes(local, remote).is_some() {
        assert!(Instant::now() < deadline, "the reset never arrived");
        thread::yield_now();
    }

    // The connection is gone, and still the bytes that came before the
    // reset are read first...
    patient(&client);
    let mut buffer = [0; 32];
    assert_eq!(client.read(&mut buffer).unwrap(), REPLY.len());
    assert_eq!(&buffer[..REPLY.len()], REPLY);
    // ...then the reset, once...
    let error = client.read(&mut buffer).expect_err("the reset");
    assert_eq!(error.kind(), ErrorKind::ConnectionReset);
    // ...and after it, a write finds the connection broken, and a read
    // finds nothing more, as at the end of file: the reset is not reported
    // twice.
    let error = client.write(b"anyone?").expect_err("no connection");
    assert_eq!(error.kind(), ErrorKind::BrokenPipe);
    assert_eq!(client.read(&mut buffer).unwrap(), 0);
}
