//! Exercise: step 1's client sends the message given with `-m TEXT`, still
//! exactly 16 bytes: the text cut to 16 bytes, or padded with spaces to 16.
//!
//! Start from here: the program is step 1 with a `-m` option on the client.
//! Write `request`. The server reads exactly 16 bytes, whatever the text.

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

// ANCHOR: task
/// The 16 bytes the client sends for `text`: the protocol has no way to say
/// where a message ends, so both sides agree that it is 16 bytes long.
fn request(text: &str) -> [u8; 16] {
    let _ = text;
    todo!("the first 16 bytes of `text`, then spaces if it has fewer")
}

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
// ANCHOR_END: task
