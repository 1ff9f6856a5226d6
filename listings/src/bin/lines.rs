//! lines: the exchange with messages of any length, each ended by a newline.
//!
//! The second framing rule: instead of announcing its length, a message
//! ends at the first newline byte (`\n`), which therefore cannot appear in
//! it. The receiver reads through a `BufReader` until it finds one, and
//! stops, with an error, once a line has grown longer than its limit
//! (`--max-line`); the sender writes through a `BufWriter`, so that the
//! message and its newline leave together. Python's `conn.makefile("rb")`
//! and `conn.makefile("wb")` are the same two buffers.
//!
//! The server around the conversation is step 6's, taken from the
//! `listings` library, as in `framed`.

use std::io::{self, BufRead, BufReader, BufWriter, ErrorKind, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use listings::messages::{DEFAULT_MESSAGE, describe, reply_to};
use listings::{ClientLimits, Deadline, ServerLimits};

/// The longest line accepted unless `--max-line` says otherwise: 64 KiB,
/// the limit Python's `http.server` puts on a request line.
const MAX_LINE: usize = 64 * 1024;

// ANCHOR: options
/// The server's options, beyond HOST and -p.
#[derive(Args)]
struct ServerOptions {
    /// Longest line accepted from a client, in bytes, not counting its
    /// newline; a longer one is refused
    #[arg(long, value_name = "BYTES", default_value_t = MAX_LINE)]
    max_line: usize,
    #[command(flatten)]
    limits: ServerLimits,
}

/// The client's options, beyond HOST and -p.
#[derive(Args)]
struct ClientOptions {
    /// The message to send, which cannot contain a newline
    #[arg(short, long, default_value = DEFAULT_MESSAGE)]
    message: String,
    /// Send the message this many times over, as one line
    #[arg(long, value_name = "N", default_value_t = 1)]
    repeat: usize,
    /// Longest reply accepted from the server, in bytes, not counting its
    /// newline
    #[arg(long, value_name = "BYTES", default_value_t = MAX_LINE)]
    max_line: usize,
    #[command(flatten)]
    limits: ClientLimits,
}
// ANCHOR_END: options

/// What `--help` says the program does.
const ABOUT: &str = "A TCP client and server that exchange a line of any length each way";

fn main() -> ExitCode {
    // The command line, the demo, and (in `server` below) step 6's server
    // loop: scaffolding from the book's `listings` crate.
    listings::run_with_about(ABOUT, server, client)
}

// ANCHOR: send_line
/// Sends `message` and a newline after it, through a buffered writer.
fn send_line(writer: &mut impl Write, message: &[u8]) -> io::Result<()> {
    one_line(message)?;
    // Both go into the writer's buffer, and `flush` hands them to the
    // kernel in one `write` (a message longer than the buffer goes
    // straight through, and its newline after it).
    writer.write_all(message)?;
    writer.write_all(b"\n")?;
    writer.flush()
}
// ANCHOR_END: send_line

/// Most bytes the client builds into its one line: it holds them all in
/// memory before it sends them.
const MAX_MESSAGE: usize = 1 << 30;

/// The error for a `--message` repeated past `MAX_MESSAGE` bytes.
fn too_long_to_send(length: &str) -> io::Error {
    io::Error::new(
        ErrorKind::InvalidInput,
        format!(
            "a message of {length} bytes is longer than this client sends (at most {MAX_MESSAGE})"
        ),
    )
}

/// Refuses a message with a newline in it: the newline would end the line
/// there, and the receiver would take the rest for another message.
fn one_line(message: &[u8]) -> io::Result<()> {
    if message.contains(&b'\n') {
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            "a line cannot contain a newline",
        ));
    }
    Ok(())
}

// ANCHOR: receive_line
/// Receives one line and returns it without its newline; refuses a line
/// longer than `max` bytes as soon as `max` + 1 bytes have come without a
/// newline, keeping no more than that.
fn receive_line(reader: impl BufRead, max: usize) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    // `take` ends the search after max + 1 bytes, newline or not: a line
    // of `max` bytes fits, with its newline, and anything longer shows.
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    let received = reader.take(limit).read_until(b'\n', &mut line)?;
    if line.last() == Some(&b'\n') {
        line.pop();
        return Ok(line);
    }
    // No newline: the limit stopped the search, or the peer closed.
    Err(if received > max {
        io::Error::new(
            ErrorKind::InvalidData,
            format!("refused a line longer than --max-line {max} bytes"),
        )
    } else if received == 0 {
        io::Error::new(
            ErrorKind::UnexpectedEof,
            "the connection closed before a line began",
        )
    } else {
        io::Error::new(
            ErrorKind::UnexpectedEof,
            format!("the connection closed in the middle of a line, after {received} bytes"),
        )
    })
}
// ANCHOR_END: receive_line

// ANCHOR: server
fn server(address: SocketAddr, options: &ServerOptions) -> io::Result<()> {
    // Step 6's server: each client on a thread of its own, with a
    // deadline, and the lines step 6 prints about each connection.
    listings::serve(address, &options.limits, |conn, deadline| {
        converse(conn, deadline, options.max_line)
    })
}

fn converse(conn: TcpStream, deadline: Instant, max_line: usize) -> io::Result<()> {
    // Python's `conn.makefile("rb")` and `conn.makefile("wb")`: a buffered
    // reader and a buffered writer on the one connection, each keeping the
    // conversation's deadline.
    let mut reader = BufReader::new(Deadline::new(&conn, deadline));
    let mut writer = BufWriter::new(Deadline::new(&conn, deadline));
    let message = receive_line(&mut reader, max_line)?;
    println!("  message from client: {}", describe(&message));
    send_line(&mut writer, &reply_to(&message))?;
    // The reader and the writer borrow the connection: they go first.
    drop((reader, writer));
    drop(conn);
    println!("  Closing socket");
    Ok(())
}
// ANCHOR_END: server

// ANCHOR: client
fn client(addresses: &[SocketAddr], options: &ClientOptions) -> io::Result<()> {
    // Checked before the message is built: a line too long to hold in
    // memory is refused without first trying to.
    match options.message.len().checked_mul(options.repeat) {
        Some(length) if length <= MAX_MESSAGE => {}
        Some(length) => return Err(too_long_to_send(&length.to_string())),
        None => return Err(too_long_to_send(&format!("more than {}", usize::MAX))),
    }
    let message = options.message.repeat(options.repeat);
    // Checked before connecting: the server need not hear of it.
    one_line(message.as_bytes())?;
    let conn = listings::connect(addresses, options.limits.connect_timeout)?;
    println!(
        "Client has been assigned socket name {}",
        conn.local_addr()?
    );
    let deadline = Instant::now() + options.limits.timeout;
    let mut reader = BufReader::new(Deadline::new(&conn, deadline));
    let mut writer = BufWriter::new(Deadline::new(&conn, deadline));
    send_line(&mut writer, message.as_bytes())?;
    let reply = receive_line(&mut reader, options.max_line)?;
    println!("The server replied with {}", describe(&reply));
    Ok(())
}
// ANCHOR_END: client
