//! A solution: `framed`, with as many messages on one connection as the
//! client likes.
//!
//! A framing rule earns its keep when messages follow one another: the
//! server answers each frame of a connection in turn, until the client
//! closes. An end of file (EOF) where a frame would start is that clean
//! end; an EOF anywhere inside a frame, even after 1 to 3 bytes of its
//! length, is a broken frame and an error. `read_exact` alone cannot tell
//! the two apart: both fail with "failed to fill whole buffer".
//!
//! The rest is `framed` (`listings/src/bin/framed.rs`), with one more
//! client option, `--count N`, that sends the message N times, as N frames
//! one after another, before it reads the N replies.

use std::io::{self, ErrorKind, IoSlice, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use listings::messages::{DEFAULT_MESSAGE, describe, reply_to};
use listings::{ClientLimits, Deadline, ServerLimits};

/// The longest message accepted unless `--max-frame` says otherwise: 4 MiB.
const MAX_FRAME: u32 = 4 * 1024 * 1024;

/// The server's options, beyond HOST and -p.
#[derive(Args)]
struct ServerOptions {
    /// Longest message accepted from a client, in bytes
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
    /// Send the message this many times, as that many frames
    #[arg(long, value_name = "N", default_value_t = 1)]
    count: usize,
    /// Longest reply accepted from the server, in bytes
    #[arg(long, value_name = "BYTES", default_value_t = MAX_FRAME)]
    max_frame: u32,
    #[command(flatten)]
    limits: ClientLimits,
}

fn main() -> ExitCode {
    // The command line, the demo, and (in `server` below) step 6's server
    // loop: scaffolding from the book's `listings` crate.
    listings::run_with_about(
        "A TCP client and server that exchange messages of any length, each after its length",
        server,
        client,
    )
}

/// Sends `message` as a frame: its length in 4 bytes, big-endian, then the
/// message, both in one call for as much as the socket takes.
fn send_frame(sock: &mut impl Write, message: &[u8]) -> io::Result<()> {
    let length = u32::try_from(message.len()).map_err(|_| {
        io::Error::new(
            ErrorKind::InvalidInput,
            format!(
                "a message of {} bytes is too long for a 4-byte length",
                message.len()
            ),
        )
    })?;
    let header = length.to_be_bytes();
    let mut pieces = [IoSlice::new(&header), IoSlice::new(message)];
    let mut pieces = &mut pieces[..];
    while !pieces.is_empty() {
        match sock.write_vectored(pieces) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(sent) => IoSlice::advance_slices(&mut pieces, sent),
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

// ANCHOR: solution
/// Receives one frame and returns its message, or `None` if the connection
/// ended cleanly where a frame would have started; refuses a message longer
/// than `max` bytes before allocating anything for it.
fn receive_frame(sock: &mut impl Read, max: u32) -> io::Result<Option<Vec<u8>>> {
    let mut header = [0; 4];
    // `read_exact` would fail alike on no byte and on 3: the loop keeps
    // count, to tell the end of the conversation from a broken frame. The
    // length may come in pieces like any other bytes.
    let mut got = 0;
    while got < header.len() {
        match sock.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => {
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    format!("the connection closed after {got} bytes of a 4-byte length"),
                ));
            }
            Ok(more) => got += more,
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    let length = u32::from_be_bytes(header);
    if length > max {
        return Err(io::Error::new(
            ErrorKind::InvalidData,
            format!("refused a message of {length} bytes, longer than --max-frame {max}"),
        ));
    }
    let mut message = vec![0; length as usize];
    // Past the length, an EOF is always a broken frame.
    sock.read_exact(&mut message).map_err(|error| {
        if error.kind() == ErrorKind::UnexpectedEof {
            io::Error::new(
                ErrorKind::UnexpectedEof,
                format!("the connection closed in the middle of a message of {length} bytes"),
            )
        } else {
            error
        }
    })?;
    Ok(Some(message))
}
// ANCHOR_END: solution

fn converse(conn: TcpStream, deadline: Instant, max_frame: u32) -> io::Result<()> {
    let mut sock = Deadline::new(&conn, deadline);
    // One deadline for the whole connection, however many frames it has.
    while let Some(message) = receive_frame(&mut sock, max_frame)? {
        println!("  message from client: {}", describe(&message));
        send_frame(&mut sock, &reply_to(&message))?;
    }
    drop(conn);
    println!("  Closing socket");
    Ok(())
}

fn server(address: SocketAddr, options: &ServerOptions) -> io::Result<()> {
    listings::serve(address, &options.limits, |conn, deadline| {
        converse(conn, deadline, options.max_frame)
    })
}

fn client(addresses: &[SocketAddr], options: &ClientOptions) -> io::Result<()> {
    let conn = listings::connect(addresses, options.limits.connect_timeout)?;
    println!(
        "Client has been assigned socket name {}",
        conn.local_addr()?
    );
    let mut sock = Deadline::new(&conn, Instant::now() + options.limits.timeout);
    // All the frames first: small ones fit in the socket buffers, so the
    // server's replies cannot block it (see "Deadlock").
    for _ in 0..options.count {
        send_frame(&mut sock, options.message.as_bytes())?;
    }
    for _ in 0..options.count {
        let Some(reply) = receive_frame(&mut sock, options.max_frame)? else {
            return Err(io::Error::new(
                ErrorKind::UnexpectedEof,
                "the server closed before it had answered every frame",
            ));
        };
        println!("The server replied with {}", describe(&reply));
    }
    Ok(())
}
