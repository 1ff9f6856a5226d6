//! Exercise: `lines`, with lines that end in "\r\n" as well as "\n".
//!
//! telnet, `nc -C`, HTTP and SMTP end their lines with a carriage return
//! and a newline. `lines` keeps the `\r` as part of the message. Here the
//! server takes `\r\n` off as it takes off `\n`, so "Hello\r\n" is the
//! 5-byte message `Hello`; a `\r` anywhere else stays. `--max-line` still
//! counts the message alone: with `--max-line 5`, "Hello\r\n" is served and
//! "Hello!\r\n" refused.
//!
//! The rest is `lines` (`listings/src/bin/lines.rs`), with one more client
//! option, `--crlf`, to send a line the way telnet does.

use std::io::{self, BufRead, BufReader, BufWriter, ErrorKind, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use listings::messages::{DEFAULT_MESSAGE, describe, reply_to};
use listings::{ClientLimits, Deadline, ServerLimits};

/// The longest line accepted unless `--max-line` says otherwise.
const MAX_LINE: usize = 64 * 1024;

/// The server's options, beyond HOST and -p.
#[derive(Args)]
struct ServerOptions {
    /// Longest line accepted from a client, in bytes, not counting its
    /// "\n" or "\r\n"; a longer one is refused
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
    /// End the line with "\r\n", as telnet does, instead of "\n"
    #[arg(long)]
    crlf: bool,
    /// Longest reply accepted from the server, in bytes
    #[arg(long, value_name = "BYTES", default_value_t = MAX_LINE)]
    max_line: usize,
    #[command(flatten)]
    limits: ClientLimits,
}

fn main() -> ExitCode {
    // The command line, the demo, and (in `server` below) step 6's server
    // loop: scaffolding from the book's `listings` crate.
    listings::run_with_about(
        "A TCP client and server that exchange a line of any length each way",
        server,
        client,
    )
}

/// Sends `message` and `ending` after it, through a buffered writer.
fn send_line(writer: &mut impl Write, message: &[u8], ending: &[u8]) -> io::Result<()> {
    if message.contains(&b'\n') {
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            "a line cannot contain a newline",
        ));
    }
    writer.write_all(message)?;
    writer.write_all(ending)?;
    writer.flush()
}

// ANCHOR: task
/// Receives one line and returns it without its "\n", or its "\r\n";
/// refuses a line of more than `max` bytes (not counting either ending)
/// without keeping more than a couple of bytes past `max`.
fn receive_line(_reader: impl BufRead, _max: usize) -> io::Result<Vec<u8>> {
    todo!(
        "`lines`'s receive_line, taking a \\r before the \\n off too; mind how many bytes \
         `take` lets through when the line ends in two"
    )
}
// ANCHOR_END: task

fn server(address: SocketAddr, options: &ServerOptions) -> io::Result<()> {
    listings::serve(address, &options.limits, |conn, deadline| {
        converse(conn, deadline, options.max_line)
    })
}

fn converse(conn: TcpStream, deadline: Instant, max_line: usize) -> io::Result<()> {
    let mut reader = BufReader::new(Deadline::new(&conn, deadline));
    let mut writer = BufWriter::new(Deadline::new(&conn, deadline));
    let message = receive_line(&mut reader, max_line)?;
    println!("  message from client: {}", describe(&message));
    send_line(&mut writer, &reply_to(&message), b"\n")?;
    drop((reader, writer));
    drop(conn);
    println!("  Closing socket");
    Ok(())
}

fn client(addresses: &[SocketAddr], options: &ClientOptions) -> io::Result<()> {
    let conn = listings::connect(addresses, options.limits.connect_timeout)?;
    println!(
        "Client has been assigned socket name {}",
        conn.local_addr()?
    );
    let deadline = Instant::now() + options.limits.timeout;
    let mut reader = BufReader::new(Deadline::new(&conn, deadline));
    let mut writer = BufWriter::new(Deadline::new(&conn, deadline));
    let ending: &[u8] = if options.crlf { b"\r\n" } else { b"\n" };
    send_line(&mut writer, options.message.as_bytes(), ending)?;
    let reply = receive_line(&mut reader, options.max_line)?;
    println!("The server replied with {}", describe(&reply));
    Ok(())
}
