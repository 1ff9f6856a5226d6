//! framed: the exchange with messages of any length, each sent after its
//! length.
//!
//! `tcp.py` and the steps send sixteen bytes because both sides know that
//! number in advance. Here the client sends a message of any length, given
//! on its command line, and the server answers with a reply of its own; each
//! message goes out as a frame: its length in 4 bytes, most significant byte
//! first (big-endian, "network byte order"), then the message itself.
//!
//! The receiver reads the 4 bytes, checks the length against its own limit
//! (`--max-frame`) before it allocates anything, then reads exactly that
//! many bytes. The server around the conversation is step 6's, taken from
//! the `listings` library: a thread per connection up to a limit, a
//! deadline for each conversation, a clean stop on Ctrl-C.

use std::io::{self, ErrorKind, IoSlice, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use listings::messages::{DEFAULT_MESSAGE, describe, reply_to};
use listings::{ClientLimits, Deadline, ServerLimits};

/// The longest message accepted unless `--max-frame` says otherwise: 4 MiB.
const MAX_FRAME: u32 = 4 * 1024 * 1024;

// ANCHOR: options
/// The server's options, beyond HOST and -p.
#[derive(Args)]
struct ServerOptions {
    /// Longest message accepted from a client, in bytes; a client that
    /// announces a longer one is refused
    #[arg(long, value_name = "BYTES", default_value_t = MAX_FRAME)]
    max_frame: u32,
    #[command(flatten)]
    limits: ServerLimits,
}

/// The client's options, beyond HOST and -p.
#[derive(Args)]
struct ClientOptions {
    /// The message to send
    #[arg(short, long, default_value = DEFAULT_MESSAGE)]
    message: String,
    /// Send the message this many times over, as one message
    #[arg(long, value_name = "N", default_value_t = 1)]
    repeat: usize,
    /// Longest reply accepted from the server, in bytes
    #[arg(long, value_name = "BYTES", default_value_t = MAX_FRAME)]
    max_frame: u32,
    #[command(flatten)]
    limits: ClientLimits,
}
// ANCHOR_END: options

/// What `--help` says the program does.
const ABOUT: &str =
    "A TCP client and server that exchange a message of any length each way, after its length";

fn main() -> ExitCode {
    // The command line, the demo, and (in `server` below) step 6's server
    // loop: scaffolding from the book's `listings` crate.
    listings::run_with_about(ABOUT, server, client)
}

// ANCHOR: send_frame
/// Sends `message` as a frame: its length in 4 bytes, big-endian, then the
/// message.
fn send_frame(sock: &mut impl Write, message: &[u8]) -> io::Result<()> {
    let length = u32::try_from(message.len()).map_err(|_| too_long_to_frame(message.len()))?;
    let header = length.to_be_bytes();
    // The header and the message go to the kernel together, in one call
    // for as much as the socket takes: written apart, a short message
    // could wait behind its header for an acknowledgement (Nagle's
    // algorithm). This is `write_all` for two buffers; std's own,
    // `write_all_vectored`, is not stable yet.
    let mut pieces = [IoSlice::new(&header), IoSlice::new(message)];
    let mut pieces = &mut pieces[..];
    while !pieces.is_empty() {
        match sock.write_vectored(pieces) {
            Ok(0) => {
                return Err(io::Error::new(
                    ErrorKind::WriteZero,
                    "the socket accepted no more bytes",
                ));
            }
            // Drops what was sent, whole buffers and part of the next.
            Ok(sent) => IoSlice::advance_slices(&mut pieces, sent),
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}
// ANCHOR_END: send_frame

fn too_long_to_frame(length: usize) -> io::Error {
    io::Error::new(
        ErrorKind::InvalidInput,
        format!("a message of {length} bytes is too long for a 4-byte length"),
    )
}

// ANCHOR: receive_frame
/// Receives one frame and returns its message; refuses a message longer
/// than `max` bytes before allocating anything for it.
fn receive_frame(sock: &mut impl Read, max: u32) -> io::Result<Vec<u8>> {
    let mut header = [0; 4];
    sock.read_exact(&mut header)
        .map_err(|error| closed(error, "before the 4-byte length was complete"))?;
    let length = u32::from_be_bytes(header);
    // The peer wrote these 4 bytes, and may have written anything up to
    // 4 GiB: checked against our own limit before the length decides how
    // much memory this connection takes.
    if length > max {
        return Err(io::Error::new(
            ErrorKind::InvalidData,
            format!("refused a message of {length} bytes, longer than --max-frame {max}"),
        ));
    }
    let mut message = vec![0; length as usize];
    sock.read_exact(&mut message).map_err(|error| {
        closed(
            error,
            &format!("in the middle of a message of {length} bytes"),
        )
    })?;
    Ok(message)
}
// ANCHOR_END: receive_frame

/// `read_exact`'s error for a connection that ended too soon, "failed to
/// fill whole buffer", said in the protocol's words; other errors as they
/// are.
fn closed(error: io::Error, when: &str) -> io::Error {
    if error.kind() == ErrorKind::UnexpectedEof {
        io::Error::new(
            ErrorKind::UnexpectedEof,
            format!("the connection closed {when}"),
        )
    } else {
        error
    }
}

// ANCHOR: server
fn server(address: SocketAddr, options: &ServerOptions) -> io::Result<()> {
    // Step 6's server: each client on a thread of its own, with a
    // deadline, and the lines step 6 prints about each connection.
    listings::serve(address, &options.limits, |conn, deadline| {
        converse(conn, deadline, options.max_frame)
    })
}

fn converse(conn: TcpStream, deadline: Instant, max_frame: u32) -> io::Result<()> {
    // Every read and write through `sock` fails once the deadline passes,
    // however many of them the frames take.
    let mut sock = Deadline::new(&conn, deadline);
    let message = receive_frame(&mut sock, max_frame)?;
    println!("  message from client: {}", describe(&message));
    send_frame(&mut sock, &reply_to(&message))?;
    drop(conn);
    println!("  Closing socket");
    Ok(())
}
// ANCHOR_END: server

// ANCHOR: client
fn client(addresses: &[SocketAddr], options: &ClientOptions) -> io::Result<()> {
    // Checked before the message is built: one too long for its header is
    // refused without first taking gigabytes of memory.
    match options.message.len().checked_mul(options.repeat) {
        Some(length) if u32::try_from(length).is_ok() => {}
        Some(length) => return Err(too_long_to_frame(length)),
        // Not even a usize can count it.
        None => {
            return Err(io::Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "a message of more than {} bytes is too long for a 4-byte length",
                    usize::MAX
                ),
            ));
        }
    }
    let message = options.message.repeat(options.repeat);
    let conn = listings::connect(addresses, options.limits.connect_timeout)?;
    println!(
        "Client has been assigned socket name {}",
        conn.local_addr()?
    );
    let mut sock = Deadline::new(&conn, Instant::now() + options.limits.timeout);
    send_frame(&mut sock, message.as_bytes())?;
    let reply = receive_frame(&mut sock, options.max_frame)?;
    println!("The server replied with {}", describe(&reply));
    Ok(())
}
// ANCHOR_END: client
