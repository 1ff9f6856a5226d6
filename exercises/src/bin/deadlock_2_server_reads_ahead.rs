//! Exercise: `deadlock`'s server, fixed on the server's side: it reads on
//! a thread of its own, so the naive client gets its reply back.
//!
//! The deadlock needs both programs blocked in `write`. A server that keeps
//! reading while its `write` waits never is: one thread reads the client's
//! chunks and hands them, upper-cased, to the thread that writes them back.
//! Whatever the client sends before it reads waits in the server's memory
//! instead of in the socket buffers.
//!
//! The rest is `deadlock` (`listings/src/bin/deadlock.rs`), trimmed to the
//! server and the naive client.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use listings::seconds;
use socket2::{Domain, Protocol, SockRef, Socket, Type};

/// The server's options, beyond HOST and -p.
#[derive(Args)]
struct ServerOptions {
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
          value_parser = clap::value_parser!(u64).range(1..=1 << 30))]
    bytes: u64,
    /// Give up once nothing has gone out or come in for SECONDS
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    stall_after: Option<Duration>,
    /// Ask for send and receive buffers of BYTES each
    #[arg(long, value_name = "BYTES",
          value_parser = clap::value_parser!(u32).range(1..=1 << 30))]
    buffers: Option<u32>,
}

fn main() -> ExitCode {
    listings::run_with_about(
        "A server that writes back upper-cased what it reads, reading ahead on a thread, \
         and a client that sends N bytes before it reads any",
        server,
        client,
    )
}

/// How far the client got: bytes the socket took, bytes read back.
#[derive(Default)]
struct Progress {
    sent: u64,
    received: u64,
}

/// All of `message`, then all of the reply: the order that deadlocks
/// against `deadlock`'s server.
fn send_then_receive(sock: &TcpStream, message: &[u8], progress: &mut Progress) -> io::Result<()> {
    send(sock, message, &mut progress.sent)?;
    receive(sock, message.len() as u64, &mut progress.received)
}

fn client(addresses: &[SocketAddr], options: &ClientOptions) -> io::Result<()> {
    let sock = connect(addresses, options.buffers)?;
    println!(
        "Client has been assigned socket name {}",
        sock.local_addr()?
    );
    println!("  {}", buffers(&sock)?);
    sock.set_write_timeout(options.stall_after)?;
    sock.set_read_timeout(options.stall_after)?;
    let bytes = options.bytes;
    let message: Vec<u8> = ALPHABET.repeat(bytes.div_ceil(26) as usize)[..bytes as usize].to_vec();
    let mut progress = Progress::default();
    println!("Sending {bytes} bytes before reading any");
    match send_then_receive(&sock, &message, &mut progress) {
        Ok(()) => {
            println!("Received all {} bytes back, upper-cased", progress.received);
            Ok(())
        }
        Err(error) if is_timeout(&error) => Err(io::Error::new(
            ErrorKind::TimedOut,
            format!(
                "stalled: nothing moved for {:?}; the socket had taken {} of {bytes} bytes, \
                 and {} had come back",
                options.stall_after.unwrap_or_default(),
                progress.sent,
                progress.received
            ),
        )),
        Err(error) => Err(error),
    }
}

/// What the client sends: the alphabet, over and over.
const ALPHABET: &[u8; 26] = b"abcdefghijklmnopqrstuvwxyz";

/// Writes all of `data`, as `write_all` does, and adds to `sent` each
/// byte the socket takes.
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

/// Reads the reply until `received` reaches `until`, checking that it is
/// the message upper-cased.
fn receive(mut sock: &TcpStream, until: u64, received: &mut u64) -> io::Result<()> {
    const BUFFER: usize = 64 * 1024;
    let mut buffer = [0; BUFFER];
    let upper = ALPHABET.to_ascii_uppercase().repeat(BUFFER / 26 + 2);
    while *received < until {
        let want = (until - *received).min(BUFFER as u64) as usize;
        let got = match sock.read(&mut buffer[..want]) {
            Ok(0) => {
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    format!("the server closed after sending back {received} bytes"),
                ));
            }
            Ok(got) => got,
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        let start = (*received % 26) as usize;
        if buffer[..got] != upper[start..start + got] {
            return Err(io::Error::new(
                ErrorKind::InvalidData,
                format!("the reply after byte {received} is not the message upper-cased"),
            ));
        }
        *received += got as u64;
    }
    Ok(())
}

/// A `write` or `read` that ran out of time (`EAGAIN` on Unix).
fn is_timeout(error: &io::Error) -> bool {
    matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// The sizes the kernel gives for the socket's two buffers.
fn buffers(sock: &TcpStream) -> io::Result<String> {
    let sock = SockRef::from(sock);
    Ok(format!(
        "send buffer {} bytes, receive buffer {} bytes",
        sock.send_buffer_size()?,
        sock.recv_buffer_size()?
    ))
}

/// Sets the sizes of both buffers, before the handshake.
fn ask_for_buffers(sock: &Socket, size: u32) -> io::Result<()> {
    sock.set_send_buffer_size(size as usize)?;
    sock.set_recv_buffer_size(size as usize)
}

/// A listener on `address`, its buffers set first if `--buffers` asks.
fn listen(address: SocketAddr, buffers: Option<u32>) -> io::Result<TcpListener> {
    let Some(size) = buffers else {
        return TcpListener::bind(address);
    };
    let sock = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
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

fn server(address: SocketAddr, options: &ServerOptions) -> io::Result<()> {
    let listener = listen(address, options.buffers)?;
    println!("Listening at {}", listener.local_addr()?);
    loop {
        println!("Waiting for a new connection");
        let (conn, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(error) if error.kind() == ErrorKind::ConnectionAborted => continue,
            Err(error) => return Err(error),
        };
        println!("Connection from {peer}");
        if let Err(error) = converse(&conn) {
            eprintln!("error: connection from {peer}: {error}");
        }
    }
}

/// One client: its bytes echoed upper-cased until it closes.
fn converse(conn: &TcpStream) -> io::Result<()> {
    conn.set_nodelay(true)?;
    println!("  {}", buffers(conn)?);
    let echoed = echo_upper(conn)?;
    println!("  Echoed {echoed} bytes; the client closed");
    Ok(())
}

/// Most bytes read, upper-cased and written back at a time.
const CHUNK: usize = 1024;

// ANCHOR: task
/// Reads what the client sends on a thread of its own, and writes it back
/// upper-cased from this one, until the client closes its side; returns
/// how many bytes it echoed.
fn echo_upper(conn: &TcpStream) -> io::Result<u64> {
    let _ = (conn, CHUNK);
    todo!(
        "a scoped thread reads chunks of at most CHUNK bytes and sends them, upper-cased, \
         down a std::sync::mpsc channel; this thread writes what comes out of it"
    )
}
// ANCHOR_END: task
