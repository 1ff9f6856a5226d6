//! Exercise: several requests on one connection. The client's `--count N`
//! sends N requests over one connection, one after another, each answered
//! before the next; the server answers every request until the client
//! closes. End of file is then the normal end of a conversation, when it
//! comes where a request would start, and an error only in the middle of
//! one.
//!
//! A solution: `recv_message` is step 4's `recvall`, which tells an end
//! of file before the first byte from one after it.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;

use clap::Args;
use listings::NoOptions;

/// What the client takes besides HOST and `-p`.
#[derive(Args)]
struct ClientOptions {
    /// How many requests to send over the one connection
    #[arg(long, value_name = "N", default_value_t = 1)]
    count: usize,
}

fn main() -> ExitCode {
    listings::run_with(server, client)
}

// ANCHOR: solution
/// The next `length`-byte message; `None` if the peer closed the connection
/// where a message would have started; an error if it closed part way
/// through one, as `recvall`'s.
fn recv_message(sock: &mut impl Read, length: usize) -> io::Result<Option<Vec<u8>>> {
    let mut data = vec![0; length];
    let mut received = 0;
    while received < length {
        // Never more than the rest of this message: the next one may be
        // right behind it, and it is the next call's.
        match sock.read(&mut data[received..]) {
            // Between two messages: the client has said all it had to say.
            Ok(0) if received == 0 => return Ok(None),
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
    Ok(Some(data))
}
// ANCHOR_END: solution

fn converse(mut conn: TcpStream, peer: SocketAddr) -> io::Result<()> {
    println!("  Socket name: {}", conn.local_addr()?);
    println!("  Socket peer: {peer}");
    while let Some(message) = recv_message(&mut conn, 16)? {
        println!("  message from client: b'{}'", message.escape_ascii());
        conn.write_all(b"Goodbye, client!")?;
    }
    drop(conn);
    println!("  Closing socket");
    Ok(())
}

fn server(address: SocketAddr, _: &NoOptions) -> io::Result<()> {
    let listener = TcpListener::bind(address)?;
    println!("Listening at {}", listener.local_addr()?);
    loop {
        println!("Waiting for a new connection");
        let (conn, peer) = listener.accept()?;
        println!("Connection from {peer}");
        if let Err(error) = converse(conn, peer) {
            eprintln!("error: connection from {peer}: {error}");
        }
    }
}

fn client(addresses: &[SocketAddr], options: &ClientOptions) -> io::Result<()> {
    let mut sock = TcpStream::connect(addresses)?;
    println!(
        "Client has been assigned socket name {}",
        sock.local_addr()?
    );
    for _ in 0..options.count {
        sock.write_all(b"Hi there, server")?;
        let mut reply = [0; 16];
        sock.read_exact(&mut reply)?;
        println!("The server said b'{}'", reply.escape_ascii());
    }
    Ok(())
}
