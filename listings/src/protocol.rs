//! The port's protocol and the lines its programs print, defined once for
//! everything that is not a step: the demo, the tools and the tests.
//!
//! The step programs spell these strings out themselves, as `tcp.py` does,
//! so that each step reads as a whole program. The tests hold the steps to
//! these definitions: a step that prints anything else fails them.

use std::net::SocketAddr;

/// What every client sends.
pub const REQUEST: &[u8; 16] = b"Hi there, server";
/// What every server answers.
pub const REPLY: &[u8; 16] = b"Goodbye, client!";

/// How a server's first line starts; the address it listens on follows.
pub const LISTENING: &str = "Listening at ";
/// The line a server prints each time it is ready for its next client.
pub const WAITING: &str = "Waiting for a new connection";
/// How the line starts that a server prints for each new connection; the
/// client's address follows.
pub const ACCEPTED: &str = "Connection from ";
/// How the line starts that shows the connection's local address.
pub const SOCKET_NAME: &str = "  Socket name: ";
/// How the line starts that shows the connection's remote address.
pub const SOCKET_PEER: &str = "  Socket peer: ";
/// How the line starts that shows the message a server received.
pub const INCOMING: &str = "  message from client: ";
/// The server's last line about a connection.
pub const REPLY_SENT: &str = "  Closing socket";
/// How a client's first line starts; its own address follows.
pub const ASSIGNED: &str = "Client has been assigned socket name ";
/// How a client's last line starts; the reply follows.
pub const SERVER_SAID: &str = "The server said ";
/// How step 6's line on Ctrl-C starts.
pub const INTERRUPTED: &str = "Interrupted: ";

/// The address in a server's first line, `Listening at ADDRESS`.
///
/// ```
/// use listings::protocol::listening_address;
///
/// let address = listening_address("Listening at 127.0.0.1:1060").unwrap();
/// assert_eq!(address.port(), 1060);
/// assert_eq!(listening_address("Waiting for a new connection"), None);
/// ```
pub fn listening_address(line: &str) -> Option<SocketAddr> {
    line.strip_prefix(LISTENING)?.parse().ok()
}

/// The line a server prints for the connection from `peer`.
pub fn accepted(peer: SocketAddr) -> String {
    format!("{ACCEPTED}{peer}")
}

/// Bytes as Python's `repr` shows them, and so as every program here
/// prints a message: `b'Hi there, server'`.
///
/// ```
/// use listings::protocol::repr;
///
/// assert_eq!(repr(b"Hi\0"), r"b'Hi\x00'");
/// ```
pub fn repr(message: &[u8]) -> String {
    format!("b'{}'", message.escape_ascii())
}

/// The line a server prints for a received `message`.
pub fn incoming(message: &[u8]) -> String {
    format!("{INCOMING}{}", repr(message))
}

/// A client's last line, for the `reply` it received.
pub fn server_said(reply: &[u8]) -> String {
    format!("{SERVER_SAID}{}", repr(reply))
}

/// Why `recvall` (step 4 on) fails when the peer closes the connection after
/// sending `received` of the `expected` bytes.
pub fn closed_early(expected: usize, received: usize) -> String {
    format!(
        "was expecting {expected} bytes but only received {received} bytes before the socket closed"
    )
}

/// Why step 6's `recvall` fails when the connection's deadline passes after
/// `received` of the `expected` bytes have come.
pub fn deadline_passed(expected: usize, received: usize) -> String {
    format!("was expecting {expected} bytes but only received {received} bytes before the deadline")
}

/// The line step 6 prints on Ctrl-C, with `in_progress` conversations still
/// to finish.
pub fn interrupted(in_progress: usize) -> String {
    format!("{INTERRUPTED}accepting no more connections, finishing {in_progress} in progress")
}

/// The line a server prints on standard error when the connection from
/// `peer` fails with `why`.
pub fn connection_error(peer: SocketAddr, why: &str) -> String {
    format!("error: connection from {peer}: {why}")
}

/// The line a server prints on standard error when it cannot serve at
/// `address` (it cannot listen there, or `accept` fails) because of `why`.
pub fn server_error(address: SocketAddr, why: &str) -> String {
    format!("error: server at {address}: {why}")
}

/// The line a client prints on standard error when its exchange with the
/// server at `server` fails because of `why`.
pub fn client_error(server: SocketAddr, why: &str) -> String {
    format!("error: client talking to {server}: {why}")
}
