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

use book_tests::{PATIENCE, closed_port};
use listings::protocol::REQUEST;
use socket2::{Domain, Protocol, Socket, Type};

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
