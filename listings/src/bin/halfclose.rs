//! halfclose: a message that ends where its sender stops sending.
//!
//! The client sends a message of any length, `--message TEXT` or all of
//! standard input (`--stdin`), and then shuts down its sending side with
//! `shutdown(Shutdown::Write)`: its kernel sends a FIN after the last byte,
//! and the server's `read` returns 0 there, while the other direction stays
//! open. The server reads to that end of file (EOF), answers with the
//! message upper-cased and closes; the client reads the reply to the EOF
//! that the server's close sends in turn. Neither side needs to know a
//! length in advance.
//!
//! The server around the conversation is step 6's, taken from the book's
//! `listings` library: a thread for each client up to a limit, a deadline
//! for each conversation, one line on standard error for a client that
//! fails, and a clean stop on Ctrl-C. What is new here is how a message
//! ends, and a limit on how long it may be (`--max-bytes`).

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use listings::{ClientLimits, Deadline, ServerLimits};

// ANCHOR: options
/// The server's options, beyond HOST and -p.
#[derive(Args)]
struct ServerOptions {
    /// Most bytes a message may have; a longer one is refused
    #[arg(long, value_name = "BYTES", default_value = "1048576")]
    max_bytes: u64,
    #[command(flatten)]
    limits: ServerLimits,
}

/// The client's options, beyond HOST and -p.
#[derive(Args)]
struct ClientOptions {
    /// The message to send, of any length
    #[arg(short, long, value_name = "TEXT", default_value = GREETING)]
    message: String,
    /// Send all of standard input, to its end, instead of --message
    #[arg(long, conflicts_with = "message")]
    stdin: bool,
    #[command(flatten)]
    limits: ClientLimits,
}
// ANCHOR_END: options

/// The message the client sends unless told otherwise.
const GREETING: &str = "Hi there, server. No length, no terminator: this ends where I stop.";

/// What `--help` says the program does.
const ABOUT: &str = "A TCP client and server that exchange a message of any length each way, \
                     each ended by closing one direction";

fn main() -> ExitCode {
    // The command line, with each role's options above, and the demo that
    // runs with no arguments: scaffolding from the book's `listings` crate.
    listings::run_with_about(ABOUT, server, client)
}

// ANCHOR: client
fn client(addresses: &[SocketAddr], options: &ClientOptions) -> io::Result<()> {
    let sock = listings::connect(addresses, options.limits.connect_timeout)?;
    println!(
        "Client has been assigned socket name {}",
        sock.local_addr()?
    );
    // Every read and write below waits at most until this deadline.
    let mut conn = Deadline::new(&sock, Instant::now() + options.limits.timeout);
    // The message, however long. Nothing in it says where it ends, and
    // with --stdin not even the client knows its length until it is sent.
    let sent = if options.stdin {
        io::copy(&mut io::stdin().lock(), &mut conn)?
    } else {
        conn.write_all(options.message.as_bytes())?;
        options.message.len() as u64
    };
    // The end of the message: the kernel sends a FIN after the last byte,
    // and the server's `read` returns 0 there. Our receiving side stays
    // open for the reply.
    sock.shutdown(Shutdown::Write)?;
    println!("Sent {sent} bytes, then shut down writing");
    // The reply ends where the server closes: read to EOF. It is the
    // message upper-cased, so it has exactly as many bytes; reading one
    // more than that is enough to know that it is too long.
    let mut reply = Vec::new();
    (&mut conn).take(sent + 1).read_to_end(&mut reply)?;
    if reply.len() as u64 != sent {
        // An EOF looks the same whether the server finished or its
        // process died: only the length tells the two apart.
        return Err(io::Error::new(
            ErrorKind::InvalidData,
            format!("the reply to {sent} bytes had {} bytes", reply.len()),
        ));
    }
    println!("The server said b'{}'", reply.escape_ascii());
    // Returning drops `sock`, which closes it. Our FIN went with the
    // shutdown, and everything has been read, up to the server's FIN, so
    // the close sends nothing more: no reset.
    Ok(())
}
// ANCHOR_END: client

// ANCHOR: server
fn server(address: SocketAddr, options: &ServerOptions) -> io::Result<()> {
    // Step 6's server: each client on a thread of its own, with a deadline.
    listings::serve(address, &options.limits, |sock, deadline| {
        converse(sock, deadline, options.max_bytes)
    })
}
// ANCHOR_END: server

// ANCHOR: converse
fn converse(sock: TcpStream, deadline: Instant, max_bytes: u64) -> io::Result<()> {
    let mut conn = Deadline::new(&sock, deadline);
    // Read to EOF, that is until the client shuts down its sending side,
    // and at most one byte past the limit: enough to know the message is
    // too long, and all the memory a client can make us use.
    let mut message = Vec::new();
    if let Err(error) = (&mut conn)
        .take(max_bytes.saturating_add(1))
        .read_to_end(&mut message)
    {
        let received = message.len();
        return Err(io::Error::new(
            error.kind(),
            format!("{error}, after receiving {received} bytes"),
        ));
    }
    if message.len() as u64 > max_bytes {
        return refuse(&sock, conn, max_bytes);
    }
    println!("  Received {} bytes, then end of file", message.len());
    // The client's side is shut down for writing, but ours is open.
    message.make_ascii_uppercase();
    conn.write_all(&message)?;
    println!("  Sent them back upper-cased");
    // Closing ends the reply with a FIN. Nothing is left unread (the
    // client has sent its FIN already), so it is a FIN and not a reset.
    drop(sock);
    println!("  Closing socket");
    Ok(())
}
// ANCHOR_END: converse

// ANCHOR: refuse
/// Refuses a message of more than `max_bytes` without resetting the
/// connection: the client gets an EOF and no reply.
fn refuse(sock: &TcpStream, mut conn: Deadline, max_bytes: u64) -> io::Result<()> {
    // A FIN at once: a client reading now would learn at once that no
    // reply is coming.
    sock.shutdown(Shutdown::Write)?;
    // Then a lingering close: read and throw away whatever the client
    // still sends, until its FIN or the deadline. Closing the socket with
    // those bytes unread would make the kernel send a reset, and the
    // client would get "Connection reset by peer" in the middle of its
    // message instead of our EOF after it.
    let refused = format!("refused a message of more than {max_bytes} bytes");
    match io::copy(&mut conn, &mut io::sink()) {
        Ok(discarded) => Err(io::Error::new(
            ErrorKind::InvalidData,
            format!("{refused} (read and discarded {discarded} more)"),
        )),
        // A reset or the deadline while discarding: the refusal still
        // comes first in the message.
        Err(error) => Err(io::Error::new(
            error.kind(),
            format!("{refused}; then: {error}"),
        )),
    }
}
// ANCHOR_END: refuse
