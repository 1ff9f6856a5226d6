//! Exercise: step 6's 16-byte exchange, with a server that closes in two
//! stages, a lingering close, so that a client that sent too much still
//! gets its reply and a clean end of file, never a reset.
//!
//! The server reads 16 bytes and replies. A client may have sent more;
//! closing with those bytes unread would make the kernel send a reset. So
//! after the reply the server shuts down its sending side (a FIN right
//! after the reply), then reads and throws away whatever the client still
//! sends, until the client's own end of file or the conversation's
//! deadline, and only then closes.
//!
//! The server around the conversation is step 6's, from the book's
//! `listings` library, and so is the client.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Instant;

use listings::{ClientLimits, Deadline, ServerLimits};

fn main() -> ExitCode {
    listings::run_with(server, client)
}

fn client(addresses: &[SocketAddr], limits: &ClientLimits) -> io::Result<()> {
    listings::serving::client(addresses, limits)
}

fn server(address: SocketAddr, limits: &ServerLimits) -> io::Result<()> {
    listings::serve(address, limits, converse)
}

fn converse(sock: TcpStream, deadline: Instant) -> io::Result<()> {
    let mut conn = Deadline::new(&sock, deadline);
    let mut message = [0; 16];
    conn.read_exact(&mut message)?;
    println!("  message from client: b'{}'", message.escape_ascii());
    conn.write_all(b"Goodbye, client!")?;
    let discarded = linger(&sock, &mut conn)?;
    println!("  Discarded {discarded} bytes after the message, then end of file");
    drop(sock);
    println!("  Closing socket");
    Ok(())
}

// ANCHOR: task
/// The lingering close, once the reply has been written: ends the reply
/// with a FIN, then reads and throws away what the client still sends,
/// until its end of file; returns how many bytes that was. The deadline
/// of `conn` bounds the wait.
fn linger(_sock: &TcpStream, _conn: &mut Deadline) -> io::Result<u64> {
    todo!("shut down writing first, then read to EOF into io::sink()")
}
// ANCHOR_END: task
