//! The `deadlock` tool's pieces (`listings/src/bin/deadlock.rs`, whose own
//! copies the chapter "Deadlock: when both sides send first" shows), for
//! the chapter's exercises, which are each about one of its functions:
//! the options, the counting `send` and `receive`, the buffer sizes asked
//! for before the handshake, the client around an [`Exchange`], and the
//! server around a conversation.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use clap::Args;
use socket2::{Domain, Protocol, SockRef, Socket, Type};

use crate::seconds;

/// The server's options, beyond HOST and -p.
#[derive(Args)]
pub struct ServerOptions {
    /// Ask for send and receive buffers of BYTES each, instead of leaving
    /// their sizes to the kernel
    #[arg(long, value_name = "BYTES",
          value_parser = clap::value_parser!(u32).range(1..=1 << 30))]
    pub buffers: Option<u32>,
}

/// What the client sends, and how, beyond HOST and -p.
#[derive(Args)]
pub struct ClientOptions {
    /// How many bytes to send
    #[arg(long, value_name = "N", default_value_t = 100_000,
          value_parser = clap::value_parser!(u64).range(1..=1 << 30))]
    pub bytes: u64,
    /// Give up once nothing has gone out or come in for SECONDS
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    pub stall_after: Option<Duration>,
    /// Ask for send and receive buffers of BYTES each
    #[arg(long, value_name = "BYTES",
          value_parser = clap::value_parser!(u32).range(1..=1 << 30))]
    pub buffers: Option<u32>,
}

/// How far the client got: bytes the socket took, bytes read back.
#[derive(Default)]
pub struct Progress {
    pub sent: u64,
    pub received: u64,
}

/// How a client sends `message` and reads the reply, counting both into
/// `progress`: the part each of the chapter's clients does its own way.
pub type Exchange = fn(&TcpStream, &[u8], &mut Progress) -> io::Result<()>;

/// The client: connects, sends `options.bytes` of the alphabet and reads
/// them back upper-cased, the `exchange` way (`how` says which, after
/// "Sending N bytes"), and turns a stall into one line saying how far each
/// direction got.
pub fn client(
    addresses: &[SocketAddr],
    options: &ClientOptions,
    exchange: Exchange,
    how: &str,
) -> io::Result<()> {
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
    println!("Sending {bytes} bytes {how}");
    match exchange(&sock, &message, &mut progress) {
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
pub const ALPHABET: &[u8; 26] = b"abcdefghijklmnopqrstuvwxyz";

/// Writes all of `data`, as `write_all` does, and adds to `sent` each
/// byte the socket takes.
pub fn send(mut sock: &TcpStream, mut data: &[u8], sent: &mut u64) -> io::Result<()> {
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
pub fn receive(mut sock: &TcpStream, until: u64, received: &mut u64) -> io::Result<()> {
    const BUFFER: usize = 64 * 1024;
    let mut buffer = [0; BUFFER];
    // The reply from any byte on: its first 26 bytes start there.
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

/// A `write` or `read` that ran out of time: Unix reports `EAGAIN`, which
/// std calls `WouldBlock`; Windows reports a timeout as such.
pub fn is_timeout(error: &io::Error) -> bool {
    matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// The sizes the kernel gives for the socket's two buffers.
pub fn buffers(sock: &TcpStream) -> io::Result<String> {
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

/// The server: listens (with `--buffers` if asked), and has `converse`
/// talk with each client in turn; an error ends that client, not the
/// server.
pub fn serve(
    address: SocketAddr,
    options: &ServerOptions,
    mut converse: impl FnMut(&TcpStream) -> io::Result<()>,
) -> io::Result<()> {
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

/// Reads what the client sends, a chunk at a time, and writes each chunk
/// back upper-cased, until the client closes its side.
pub fn echo_upper(mut conn: &TcpStream) -> io::Result<()> {
    let mut chunk = [0; 1024];
    conn.set_nodelay(true)?;
    println!("  {}", buffers(conn)?);
    let mut echoed = 0;
    loop {
        let got = match conn.read(&mut chunk) {
            Ok(0) => break,
            Ok(got) => got,
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        chunk[..got].make_ascii_uppercase();
        conn.write_all(&chunk[..got])?;
        echoed += got;
    }
    println!("  Echoed {echoed} bytes; the client closed");
    Ok(())
}
