//! deadlock: a server that writes back what it reads as it reads it, and a
//! client that writes everything before it reads anything.
//!
//! The server reads a chunk, upper-cases it and writes it back, until the
//! client closes. The client sends `--bytes N` lowercase letters, then reads
//! the N upper-cased letters back. For small N that works. Past what the
//! socket buffers of both directions hold, the server blocks in `write`
//! because the client is not reading, and so stops reading; the client then
//! blocks in `write` because the server is not reading. Neither will ever
//! read again.
//!
//! ```text
//! deadlock server [HOST] [-p PORT] [--chunk BYTES] [--buffers BYTES]
//! deadlock client [HOST] [-p PORT] [--bytes N] [--stall-after SECONDS] [--buffers BYTES]
//! deadlock client --bytes N --fixed                # reads on a second thread
//! deadlock client --bytes N --in-flight BYTES      # never more unanswered
//! ```

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

use clap::Args;
// What the chapter does not show: the progress counters, the alphabet the
// client sends, reading the reply back and recognising a timeout.
use listings::deadlock::{ALPHABET, Progress, is_timeout, receive};
use listings::seconds;
use socket2::{Domain, Protocol, SockRef, Socket, Type};

/// Most bytes a client may send: it holds them all in memory, as a program
/// that builds its whole message before sending it does.
const MAX_BYTES: u64 = 1 << 30;

// ANCHOR: options
/// The server's options, beyond HOST and -p.
#[derive(Args)]
struct ServerOptions {
    /// Most bytes read, upper-cased and written back at a time
    #[arg(long, value_name = "BYTES", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..=1 << 20))]
    chunk: u32,
    /// Ask for send and receive buffers of BYTES each, instead of leaving
    /// their sizes to the kernel
    #[arg(long, value_name = "BYTES",
          value_parser = clap::value_parser!(u32).range(1..=1 << 30))]
    buffers: Option<u32>,
}

/// What the client sends, and how, beyond HOST and -p.
#[derive(Args)]
struct ClientOptions {
    /// How many bytes to send
    #[arg(long, value_name = "N", default_value_t = 100_000,
          value_parser = clap::value_parser!(u64).range(1..=MAX_BYTES))]
    bytes: u64,
    /// Read the reply on a second thread while this one sends (the fix)
    #[arg(long)]
    fixed: bool,
    /// Send at most BYTES, read their reply, then send the next (the other fix)
    #[arg(long, value_name = "BYTES", conflicts_with = "fixed",
          value_parser = clap::value_parser!(u64).range(1..))]
    in_flight: Option<u64>,
    /// Give up once nothing has gone out or come in for SECONDS (by default
    /// the client waits forever, as the bug does)
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    stall_after: Option<Duration>,
    /// Ask for send and receive buffers of BYTES each, instead of leaving
    /// their sizes to the kernel
    #[arg(long, value_name = "BYTES",
          value_parser = clap::value_parser!(u32).range(1..=1 << 30))]
    buffers: Option<u32>,
}
// ANCHOR_END: options

fn main() -> ExitCode {
    // The command line, with each role's options above, and the demo that
    // runs with no arguments: scaffolding from the book's `listings` crate.
    listings::run_with_about(
        "A server that writes back upper-cased what it reads, and a client that \
         sends N bytes before it reads any: past the socket buffers, both wait forever",
        server,
        client,
    )
}

// ANCHOR: buffers
/// The sizes the kernel gives for the socket's two buffers. On Linux they
/// count memory, the data and the kernel's bookkeeping for it, and unless
/// the program has set them, they change as the connection runs.
fn buffers(sock: &TcpStream) -> io::Result<String> {
    let sock = SockRef::from(sock);
    Ok(format!(
        "send buffer {} bytes, receive buffer {} bytes",
        sock.send_buffer_size()?,
        sock.recv_buffer_size()?
    ))
}

/// Sets the sizes of both buffers, for `--buffers`. Linux doubles what it
/// is asked for (room for its bookkeeping), reports the doubled size, and
/// leaves it alone from then on. It has to happen before the handshake,
/// which settles how far the receive window can ever grow, so on a socket
/// not yet listening or connected.
fn ask_for_buffers(sock: &Socket, size: u32) -> io::Result<()> {
    sock.set_send_buffer_size(size as usize)?;
    sock.set_recv_buffer_size(size as usize)
}

/// A listener on `address`, its buffers set first if `--buffers` asks:
/// each connection it accepts starts with the listener's sizes.
fn listen(address: SocketAddr, buffers: Option<u32>) -> io::Result<TcpListener> {
    let Some(size) = buffers else {
        return TcpListener::bind(address);
    };
    let sock = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    // As `TcpListener::bind` does on Unix, so a restarted server can have
    // its port back at once.
    #[cfg(unix)]
    sock.set_reuse_address(true)?;
    ask_for_buffers(&sock, size)?;
    sock.bind(&address.into())?;
    sock.listen(128)?;
    Ok(sock.into())
}

/// A connection to the first of `addresses` that takes one, its buffers set
/// before `connect` if `--buffers` asks.
fn connect(addresses: &[SocketAddr], buffers: Option<u32>) -> io::Result<TcpStream> {
    let Some(size) = buffers else {
        return TcpStream::connect(addresses);
    };
    let mut last = io::Error::new(ErrorKind::InvalidInput, "no address to connect to");
    for &address in addresses {
        let sock = Socket::new(
            Domain::for_address(address),
            Type::STREAM,
            Some(Protocol::TCP),
        )?;
        ask_for_buffers(&sock, size)?;
        match sock.connect(&address.into()) {
            Ok(()) => return Ok(sock.into()),
            Err(error) => last = error,
        }
    }
    Err(last)
}
// ANCHOR_END: buffers

// ANCHOR: server
fn server(address: SocketAddr, options: &ServerOptions) -> io::Result<()> {
    let listener = listen(address, options.buffers)?;
    println!("Listening at {}", listener.local_addr()?);
    let mut chunk = vec![0; options.chunk as usize];
    loop {
        println!("Waiting for a new connection");
        let (conn, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            // A client that reset its connection before we took it.
            Err(error) if error.kind() == ErrorKind::ConnectionAborted => continue,
            Err(error) => return Err(error),
        };
        println!("Connection from {peer}");
        // A client that breaks off costs its connection, not the server.
        if let Err(error) = converse(&conn, &mut chunk) {
            eprintln!("error: connection from {peer}: {error}");
        }
    }
}

/// One client: its bytes echoed upper-cased until it closes.
fn converse(conn: &TcpStream, chunk: &mut [u8]) -> io::Result<()> {
    // Each chunk leaves as it is written. With Nagle's algorithm on, the
    // last small chunk of a reply would wait for the client's delayed ACK
    // (the 40 ms stall of "Troubleshooting"), once per `--in-flight` turn.
    conn.set_nodelay(true)?;
    println!("  {}", buffers(conn)?);
    let mut echoed = Echoed::default();
    match echo_upper(conn, chunk, &mut echoed) {
        Ok(()) => {
            println!("  Echoed {} bytes; the client closed", echoed.written);
            Ok(())
        }
        Err(error) => {
            println!("  {}", buffers(conn)?);
            Err(io::Error::new(
                error.kind(),
                format!(
                    "{error}, having read {} bytes and written {} back",
                    echoed.read, echoed.written
                ),
            ))
        }
    }
}

/// How far a conversation got: the bytes read from the client, and the
/// bytes written back, which lag behind by at most one chunk.
#[derive(Default)]
struct Echoed {
    read: u64,
    written: u64,
}

/// Reads what the client sends, a chunk at a time, and writes each chunk
/// back upper-cased, until the client closes its side.
fn echo_upper(mut conn: &TcpStream, chunk: &mut [u8], echoed: &mut Echoed) -> io::Result<()> {
    loop {
        let got = match conn.read(chunk) {
            Ok(0) => return Ok(()),
            Ok(got) => got,
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        echoed.read += got as u64;
        chunk[..got].make_ascii_uppercase();
        // Blocks while the send buffer is full, which is until the client
        // reads. Meanwhile nothing here reads from the client.
        conn.write_all(&chunk[..got])?;
        echoed.written += got as u64;
    }
}
// ANCHOR_END: server

// ANCHOR: client
fn client(addresses: &[SocketAddr], options: &ClientOptions) -> io::Result<()> {
    let sock = connect(addresses, options.buffers)?;
    println!(
        "Client has been assigned socket name {}",
        sock.local_addr()?
    );
    println!("  {}", buffers(&sock)?);
    // With `None`, no timeout: every `write` and `read` waits as long as
    // it has to.
    sock.set_write_timeout(options.stall_after)?;
    sock.set_read_timeout(options.stall_after)?;
    let bytes = options.bytes;
    let message: Vec<u8> = ALPHABET.repeat(bytes.div_ceil(26) as usize)[..bytes as usize].to_vec();
    let mut progress = Progress::default();
    let outcome = if options.fixed {
        println!("Sending {bytes} bytes while a second thread reads the reply");
        send_while_receiving(&sock, &message, &mut progress)
    } else if let Some(turn) = options.in_flight {
        println!("Sending {bytes} bytes, {turn} at a time, reading each reply before the next");
        send_in_turns(&sock, &message, turn as usize, &mut progress)
    } else {
        println!("Sending {bytes} bytes before reading any");
        send_then_receive(&sock, &message, &mut progress)
    };
    match outcome {
        Ok(()) => {
            println!("Received all {} bytes back, upper-cased", progress.received);
            Ok(())
        }
        // Only with --stall-after: a `write` or `read` that waited that long
        // for any progress at all.
        Err(error) if is_timeout(&error) => {
            println!("  {}", buffers(&sock)?);
            Err(io::Error::new(
                ErrorKind::TimedOut,
                format!(
                    "stalled: nothing moved for {:?}; the socket had taken {} of {} bytes, \
                     and {} had come back",
                    options.stall_after.unwrap_or_default(),
                    progress.sent,
                    bytes,
                    progress.received
                ),
            ))
        }
        Err(error) => Err(error),
    }
}
// ANCHOR_END: client

// ANCHOR: naive
/// All of `message`, then all of the reply: the order that deadlocks.
fn send_then_receive(sock: &TcpStream, message: &[u8], progress: &mut Progress) -> io::Result<()> {
    send(sock, message, &mut progress.sent)?;
    receive(sock, message.len() as u64, &mut progress.received)
}
// ANCHOR_END: naive

// ANCHOR: fixed
/// `message` sent from this thread while a second thread reads the reply.
fn send_while_receiving(
    sock: &TcpStream,
    message: &[u8],
    progress: &mut Progress,
) -> io::Result<()> {
    // A second handle on the same connection, for the second thread to own.
    let reader = sock.try_clone()?;
    let length = message.len() as u64;
    let receiving = thread::spawn(move || {
        let mut received = 0;
        let outcome = receive(&reader, length, &mut received);
        (outcome, received)
    });
    let sent = send(sock, message, &mut progress.sent);
    // The reading thread ends too: with the whole reply, or failing as the
    // sending did (one connection, one timeout).
    let (received, count) = receiving.join().expect("the reading thread does not panic");
    progress.received = count;
    sent.and(received)
}
// ANCHOR_END: fixed

// ANCHOR: in_turns
/// `message` in pieces of `in_flight` bytes, each piece's reply read before
/// the next piece goes: never more than `in_flight` bytes unanswered.
fn send_in_turns(
    sock: &TcpStream,
    message: &[u8],
    in_flight: usize,
    progress: &mut Progress,
) -> io::Result<()> {
    for piece in message.chunks(in_flight) {
        send(sock, piece, &mut progress.sent)?;
        // Everything sent so far comes back before anything more goes.
        receive(sock, progress.sent, &mut progress.received)?;
    }
    Ok(())
}
// ANCHOR_END: in_turns

// ANCHOR: send
/// Writes all of `data`, as `write_all` does, and adds to `sent` each
/// byte the socket takes: `write_all`'s error would not say how many.
fn send(mut sock: &TcpStream, mut data: &[u8], sent: &mut u64) -> io::Result<()> {
    while !data.is_empty() {
        match sock.write(data) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(taken) => {
                data = &data[taken..];
                *sent += taken as u64;
            }
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}
// ANCHOR_END: send
