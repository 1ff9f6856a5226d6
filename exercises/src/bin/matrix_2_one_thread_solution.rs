//! A solution: step 5's server, made to serve the next client while
//! another says nothing, on one thread. Every socket is non-blocking, and a
//! loop gives each conversation in turn whatever its socket has for it.
//!
//! The rest is step 5 (`listings/src/bin/step5.rs`): the listening socket
//! with a backlog of 1, the lines it prints, the error it reports for a
//! client that breaks off, and the client.

use socket2::{Domain, Protocol, Socket, Type};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

fn main() -> ExitCode {
    // The command line (server or client, HOST, -p PORT) and the demo that
    // runs with no arguments: scaffolding from the book's `listings` crate.
    listings::run(server, client)
}

/// Reads exactly `length` bytes, however many calls to `read` that takes.
fn recvall(sock: &mut impl Read, length: usize) -> io::Result<Vec<u8>> {
    let mut data = vec![0; length];
    let mut received = 0;
    while received < length {
        match sock.read(&mut data[received..]) {
            Ok(0) => {
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    format!(
                        "was expecting {length} bytes but only received \
                         {received} bytes before the socket closed"
                    ),
                ));
            }
            Ok(more) => received += more,
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(data)
}

/// A listening socket made one system call at a time, as in step 5.
fn listen(address: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    socket.listen(1)?;
    Ok(socket.into())
}

/// How long the loop rests between two passes over the sockets.
const REST: Duration = Duration::from_millis(1);

// ANCHOR: solution
/// One client's conversation, as far as it has got.
struct Conversation {
    conn: TcpStream,
    peer: SocketAddr,
    // Where the conversation stands. `recvall` and `write_all` keep this in
    // their local variables while they wait; a conversation that must give
    // way to others keeps it here between two calls of `advance`.
    request: [u8; 16],
    received: usize,
    sent: usize,
}

impl Conversation {
    fn new(conn: TcpStream, peer: SocketAddr) -> Conversation {
        Conversation {
            conn,
            peer,
            request: [0; 16],
            received: 0,
            sent: 0,
        }
    }
}

/// Takes the conversation as far as its socket lets it go without waiting:
/// what has come of the request, then, once all 16 bytes are in, as much of
/// the reply as the socket takes. Returns whether the conversation is over.
fn advance(c: &mut Conversation) -> io::Result<bool> {
    const REPLY: &[u8] = b"Goodbye, client!";
    while c.received < c.request.len() {
        match c.conn.read(&mut c.request[c.received..]) {
            // End of file: the client will send nothing more, ever.
            Ok(0) => {
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    format!(
                        "was expecting 16 bytes but only received {} bytes before \
                         the socket closed",
                        c.received
                    ),
                ));
            }
            Ok(more) => {
                c.received += more;
                if c.received == c.request.len() {
                    println!("  message from client: b'{}'", c.request.escape_ascii());
                }
            }
            // Nothing more has come yet, which is no error: next pass.
            Err(error) if error.kind() == ErrorKind::WouldBlock => return Ok(false),
            Err(error) => return Err(error),
        }
    }
    while c.sent < REPLY.len() {
        match c.conn.write(&REPLY[c.sent..]) {
            Ok(0) => {
                return Err(io::Error::new(
                    ErrorKind::WriteZero,
                    "the socket accepted no more bytes",
                ));
            }
            Ok(sent) => c.sent += sent,
            // No room in the send buffer: the rest goes on a later pass.
            Err(error) if error.kind() == ErrorKind::WouldBlock => return Ok(false),
            Err(error) => return Err(error),
        }
    }
    Ok(true)
}
// ANCHOR_END: solution

fn server(address: SocketAddr) -> io::Result<()> {
    let listener = listen(address)?;
    println!("Listening at {}", listener.local_addr()?);
    // `accept` now returns `WouldBlock` at once when no client is waiting.
    listener.set_nonblocking(true)?;
    let mut conversations: Vec<Conversation> = Vec::new();
    println!("Waiting for a new connection");
    loop {
        accept_waiting(&listener, &mut conversations)?;
        let mut ended = false;
        let mut index = 0;
        while index < conversations.len() {
            match advance(&mut conversations[index]) {
                Ok(false) => index += 1,
                Ok(true) => {
                    drop(conversations.swap_remove(index).conn);
                    println!("  Closing socket");
                    ended = true;
                }
                Err(error) => {
                    let peer = conversations.swap_remove(index).peer;
                    // This client broke off; the others go on.
                    eprintln!("error: connection from {peer}: {error}");
                    ended = true;
                }
            }
        }
        if ended && conversations.is_empty() {
            println!("Waiting for a new connection");
        }
        // std has no call that sleeps until one of several sockets is
        // ready: look again in a moment.
        thread::sleep(REST);
    }
}

/// Accepts every client that is waiting to be, without waiting for one
/// that is not there yet.
fn accept_waiting(listener: &TcpListener, conversations: &mut Vec<Conversation>) -> io::Result<()> {
    loop {
        let (conn, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(error) if error.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(error) => return Err(error),
        };
        println!("Connection from {peer}");
        match welcome(conn, peer) {
            Ok(conversation) => conversations.push(conversation),
            Err(error) => eprintln!("error: connection from {peer}: {error}"),
        }
    }
}

/// A new conversation, its socket non-blocking.
fn welcome(conn: TcpStream, peer: SocketAddr) -> io::Result<Conversation> {
    // On Linux an accepted socket does not inherit O_NONBLOCK from the
    // listener: without this, its first `read` would wait for the client.
    conn.set_nonblocking(true)?;
    println!("  Socket name: {}", conn.local_addr()?);
    println!("  Socket peer: {peer}");
    Ok(Conversation::new(conn, peer))
}

fn client(addresses: &[SocketAddr]) -> io::Result<()> {
    let mut sock = TcpStream::connect(addresses)?;
    println!(
        "Client has been assigned socket name {}",
        sock.local_addr()?
    );
    sock.write_all(b"Hi there, server")?;
    let reply = recvall(&mut sock, 16)?;
    println!("The server said b'{}'", reply.escape_ascii());
    Ok(())
}
