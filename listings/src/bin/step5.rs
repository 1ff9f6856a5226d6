//! Step 5: the listening socket built by hand with socket2, as `tcp.py`
//! builds it: `SO_REUSEADDR` switched on explicitly and a backlog of 1.
//!
//! `TcpListener::bind` does socket, setsockopt, bind and listen in one call
//! and chooses for us. socket2 exposes each system call, so the choices are
//! written down where a reader can see and change them. This is the
//! complete Rust version of `tcp.py`.

use socket2::{Domain, Protocol, Socket, Type};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;

// ANCHOR: main
fn main() -> ExitCode {
    // The command line (server or client, HOST, -p PORT) and the demo that
    // runs with no arguments: scaffolding from the book's `listings` crate.
    listings::run(server, client)
}
// ANCHOR_END: main

// ANCHOR: recvall
/// Reads exactly `length` bytes, however many calls to `read` that takes.
fn recvall(sock: &mut impl Read, length: usize) -> io::Result<Vec<u8>> {
    let mut data = vec![0; length];
    let mut received = 0;
    while received < length {
        match sock.read(&mut data[received..]) {
            // 0 bytes from a non-empty buffer: the peer closed its side.
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
            // A signal arrived before any byte did: simply try again.
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(data)
}
// ANCHOR_END: recvall

// ANCHOR: listen
/// A listening socket made one system call at a time, like `tcp.py`'s.
fn listen(address: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    // Lets a restarted server bind its port at once, even while connections
    // from its previous run linger in TIME_WAIT.
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    // tcp.py's backlog of 1, where std's `TcpListener::bind` asks for 128:
    // only a couple of finished handshakes may wait for `accept`; the kernel
    // drops further clients' SYNs, and their retries get in later.
    socket.listen(1)?;
    Ok(socket.into())
}
// ANCHOR_END: listen

// ANCHOR: server
fn server(address: SocketAddr) -> io::Result<()> {
    let listener = listen(address)?;
    println!("Listening at {}", listener.local_addr()?);
    loop {
        println!("Waiting for a new connection");
        let (conn, peer) = listener.accept()?;
        println!("Connection from {peer}");
        // ANCHOR: survive
        if let Err(error) = converse(conn, peer) {
            // This client broke off; the next one deserves an answer.
            eprintln!("error: connection from {peer}: {error}");
        }
        // ANCHOR_END: survive
    }
}
// ANCHOR_END: server

// ANCHOR: converse
fn converse(mut conn: TcpStream, peer: SocketAddr) -> io::Result<()> {
    println!("  Socket name: {}", conn.local_addr()?);
    // The address `accept` returned, not `conn.peer_addr()`: a client that
    // has already reset the connection has no peer address left to ask for.
    println!("  Socket peer: {peer}");
    let message = recvall(&mut conn, 16)?;
    println!("  message from client: b'{}'", message.escape_ascii());
    conn.write_all(b"Goodbye, client!")?;
    drop(conn); // closes the connection, as `close()` does in Python
    println!("  Closing socket");
    Ok(())
}
// ANCHOR_END: converse

// ANCHOR: client
fn client(addresses: &[SocketAddr]) -> io::Result<()> {
    // Each address HOST resolved to, in order, until one answers: a name
    // such as `localhost` may stand for both ::1 and 127.0.0.1, and the
    // server listens on only one of them.
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
// ANCHOR_END: client
