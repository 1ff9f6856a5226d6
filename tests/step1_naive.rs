//! The claims of the chapter "Step 1: the naive version" (src/step1-naive.md)
//! about a short read, shown against the real step 1 server: one `read`,
//! its count thrown away, prints zeros for the bytes that did not come.
//!
//! What step 4's server does with the same ten bytes, which the chapter
//! mentions too, is in `tests/step4_recvall.rs`. Also here: what the kernel
//! can still say about a connection reset before the server accepted it.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Instant;

use book_tests::{PATIENCE, Server, bin, reset, tcp_table_row};
use listings::protocol::{INCOMING, REPLY, REPLY_SENT, REQUEST};

#[test]
fn step1_server_reads_half_a_message_and_shows_zeros_for_the_rest() {
    let mut server = Server::start(bin("step1"), ["server", "-p", "0"]);
    let mut sock = TcpStream::connect(server.address).unwrap();
    sock.write_all(&REQUEST[..10]).unwrap(); // "Hi there, "

    // Deterministic: "server" has not been sent yet, so the one `read` can
    // only have the ten bytes that are there. The six bytes it did not fill
    // are still the zeros the array started with.
    let served = server.wait_for_stdout(REPLY_SENT);
    assert_eq!(
        served.last(),
        Some(&format!(r"{INCOMING}b'Hi there, \x00\x00\x00\x00\x00\x00'")),
        "{served:#?}"
    );

    // The naive server answered half a request as if it were the whole one.
    let mut reply = Vec::new();
    sock.read_to_end(&mut reply).unwrap();
    assert_eq!(reply, REPLY);

    // The rest of the request now goes to a connection the server has
    // already closed: the local kernel still accepts it (the peer's reset
    // comes back only later), and nobody will ever read it.
    sock.write_all(&REQUEST[10..]).unwrap();
}

#[test]
fn step1_server_takes_a_client_that_sends_nothing_for_sixteen_zero_bytes() {
    let mut server = Server::start(bin("step1"), ["server", "-p", "0"]);
    // Hang up without sending a byte: the server's `read` returns Ok(0),
    // end-of-file, and step 1 never looks at the count.
    drop(TcpStream::connect(server.address).unwrap());
    let served = server.wait_for_stdout(REPLY_SENT);
    assert_eq!(
        served.last(),
        Some(&format!("{INCOMING}b'{}'", r"\x00".repeat(16))),
        "{served:#?}"
    );
}

/// /proc/net/tcp's number for the state ESTABLISHED.
const ESTABLISHED: &str = "01";

#[test]
fn a_connection_reset_in_the_backlog_has_no_peer_addr_but_accept_names_the_client() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = listener.local_addr().unwrap();
    let client = TcpStream::connect(server).unwrap();
    let name = client.local_addr().unwrap();
    // The server's end of the connection is established, waiting in the
    // backlog for an `accept`...
    let deadline = Instant::now() + PATIENCE;
    while tcp_table_row(server, name).is_none_or(|row| row[3] != ESTABLISHED) {
        assert!(Instant::now() < deadline, "the handshake never completed");
        thread::yield_now();
    }
    // ...when the client resets it: SO_LINGER 0, and close sends RST.
    reset(client);
    // The reset has arrived once it has taken the server's end out of the
    // kernel's table of connections.
    while tcp_table_row(server, name).is_some() {
        assert!(Instant::now() < deadline, "the reset never arrived");
        thread::yield_now();
    }

    // `accept` still returns the connection, and the address it came from...
    let (conn, from) = listener.accept().unwrap();
    assert_eq!(from, name);
    assert_eq!(conn.local_addr().unwrap(), server);
    // ...but the socket has no peer left to report.
    let error = conn.peer_addr().expect_err("no peer after a reset");
    assert_eq!(error.kind(), ErrorKind::NotConnected);
    assert_eq!(
        error.to_string(),
        "Transport endpoint is not connected (os error 107)"
    );
}
