//! Exercise: step 1's client sends the message given with `-m TEXT`, still
//! exactly 16 bytes: the text cut to 16 bytes, or padded with spaces to 16.
//!
//! A solution: `request` copies at most 16 bytes of the text into an
//! array that starts as 16 spaces.

// Step 1 ignores the count `read` and `write` return, the very bug its
// chapter shows; clippy rejects that by default as `unused_io_amount`.
#![allow(clippy::unused_io_amount)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;

use clap::Args;
use listings::NoOptions;

/// What the client takes besides HOST and `-p`.
#[derive(Args)]
struct ClientOptions {
    /// The message to send, cut to 16 bytes or padded with spaces to 16
    #[arg(short, long, value_name = "TEXT", default_value = "Hi there, server")]
    message: String,
}

fn main() -> ExitCode {
    listings::run_with(server, client)
}

fn server(address: SocketAddr, _: &NoOptions) -> io::Result<()> {
    let listener = TcpListener::bind(address)?;
    println!("Listening at {}", listener.local_addr()?);
    loop {
        println!("Waiting for a new connection");
        let (conn, peer) = listener.accept()?;
        println!("Connection from {peer}");
        converse(conn, peer)?;
    }
}

fn converse(mut conn: TcpStream, peer: SocketAddr) -> io::Result<()> {
    println!("  Socket name: {}", conn.local_addr()?);
    println!("  Socket peer: {peer}");
    let mut message = [0; 16];
    conn.read(&mut message)?;
    println!("  message from client: b'{}'", message.escape_ascii());
    conn.write(b"Goodbye, client!")?;
    drop(conn);
    println!("  Closing socket");
    Ok(())
}

// ANCHOR: solution
/// The 16 bytes the client sends for `text`: the protocol has no way to say
/// where a message ends, so both sides agree that it is 16 bytes long.
fn request(text: &str) -> [u8; 16] {
    // Spaces, not zeros: the padding shows in the server's line as what it
    // is, and a zero could not be told from a byte the client meant.
    let mut message = [b' '; 16];
    // Bytes, not characters: a character of several bytes may be cut in
    // two, which the server, printing bytes, shows as it is.
    let length = text.len().min(message.len());
    message[..length].copy_from_slice(&text.as_bytes()[..length]);
    message
}
// ANCHOR_END: solution

fn client(addresses: &[SocketAddr], options: &ClientOptions) -> io::Result<()> {
    let mut sock = TcpStream::connect(addresses)?;
    println!(
        "Client has been assigned socket name {}",
        sock.local_addr()?
    );
    sock.write(&request(&options.message))?;
    let mut reply = [0; 16];
    sock.read(&mut reply)?;
    println!("The server said b'{}'", reply.escape_ascii());
    Ok(())
}
