//! A solution: step 5, its errors told in `tcp.py`'s words: the last line
//! of the traceback Python prints for the same failure, such as
//! `ConnectionRefusedError: [Errno 111] Connection refused`.
//!
//! Python raises a different exception class for each kind of failure and
//! picks it from the C library's error number, `errno`. Rust has the one
//! type, `io::Error`, that carries the number when the operating system
//! gave one, and an `ErrorKind` that plays the part of the class. Here
//! every error the program reports goes through `exception_line`; the
//! rest is step 5 (`listings/src/bin/step5.rs`) as it is, and the book's
//! scaffolding still prints `error: server at ...: ` or
//! `error: client talking to ...: ` before it.

use socket2::{Domain, Protocol, Socket, Type};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;

fn main() -> ExitCode {
    // The command line (server or client, HOST, -p PORT) and the demo that
    // runs with no arguments: scaffolding from the book's `listings` crate.
    listings::run(server, client)
}

/// Step 5's server, its error, if it has to stop, in Python's words.
fn server(address: SocketAddr) -> io::Result<()> {
    serve(address).map_err(as_python)
}

/// Step 5's client, its error in Python's words.
fn client(addresses: &[SocketAddr]) -> io::Result<()> {
    exchange(addresses).map_err(as_python)
}

/// The same error, of the same kind, now saying what Python would.
fn as_python(error: io::Error) -> io::Error {
    io::Error::new(error.kind(), exception_line(&error))
}

// ANCHOR: solution
/// The last line of the traceback Python prints for `error`: the class of
/// the exception, `: `, and its message, which for an error of the
/// operating system is `[Errno N] ` and the C library's description.
fn exception_line(error: &io::Error) -> String {
    let Some(code) = error.raw_os_error() else {
        // An error the program made itself: recvall's is the one tcp.py
        // raises as `EOFError`, with the same words.
        let class = match error.kind() {
            ErrorKind::UnexpectedEof => "EOFError",
            _ => "OSError",
        };
        return format!("{class}: {error}");
    };
    // Python picks a subclass of `OSError` by the number. std picks the
    // kind by the number too, and for the errors a blocking TCP socket
    // meets on Linux it draws the same lines (not everywhere: Python
    // counts ESHUTDOWN as a broken pipe, std gives it no kind). Python has
    // fewer classes than Rust has kinds: "Address already in use",
    // `ErrorKind::AddrInUse`, is a plain `OSError`.
    let class = match error.kind() {
        ErrorKind::ConnectionRefused => "ConnectionRefusedError",
        ErrorKind::ConnectionReset => "ConnectionResetError",
        ErrorKind::ConnectionAborted => "ConnectionAbortedError",
        ErrorKind::BrokenPipe => "BrokenPipeError",
        ErrorKind::TimedOut => "TimeoutError",
        ErrorKind::WouldBlock => "BlockingIOError",
        ErrorKind::Interrupted => "InterruptedError",
        ErrorKind::PermissionDenied => "PermissionError",
        _ => "OSError",
    };
    format!("{class}: [Errno {code}] {}", strerror(code))
}

/// What the C library's `strerror` says about the error number `code`:
/// `Connection refused` for 111 on Linux. std shows an OS error as this
/// description followed by ` (os error N)`.
fn strerror(code: i32) -> String {
    let shown = io::Error::from_raw_os_error(code).to_string();
    let suffix = format!(" (os error {code})");
    shown.strip_suffix(&suffix).unwrap_or(&shown).to_owned()
}
// ANCHOR_END: solution

/// Reads exactly `length` bytes, however many calls to `read` that takes.
fn recvall(sock: &mut impl Read, length: usize) -> io::Result<Vec<u8>> {
    let mut data = vec![0; length];
    let mut received = 0;
    while received < length {
        match sock.read(&mut data[received..]) {
            // tcp.py raises `EOFError` here, with the same words.
            Ok(0) => {
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    format!(
                        "was expecting {length} bytes but only received \
                         {received} bytes before the socket closed"
                    ),
                ));
            }
            Ok(more) => received += more,
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(data)
}

/// A listening socket made one system call at a time, as in step 5.
fn listen(address: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    socket.listen(1)?;
    Ok(socket.into())
}

fn serve(address: SocketAddr) -> io::Result<()> {
    let listener = listen(address)?;
    println!("Listening at {}", listener.local_addr()?);
    loop {
        println!("Waiting for a new connection");
        let (conn, peer) = listener.accept()?;
        println!("Connection from {peer}");
        if let Err(error) = converse(conn, peer) {
            // Where tcp.py's server would die with this line, this one
            // prints it and goes on to the next client.
            eprintln!("error: connection from {peer}: {}", exception_line(&error));
        }
    }
}

fn converse(mut conn: TcpStream, peer: SocketAddr) -> io::Result<()> {
    println!("  Socket name: {}", conn.local_addr()?);
    println!("  Socket peer: {peer}");
    let message = recvall(&mut conn, 16)?;
    println!("  message from client: b'{}'", message.escape_ascii());
    conn.write_all(b"Goodbye, client!")?;
    drop(conn);
    println!("  Closing socket");
    Ok(())
}

fn exchange(addresses: &[SocketAddr]) -> io::Result<()> {
    let mut sock = TcpStream::connect(addresses)?;
    println!(
        "Client has been assigned socket name {}",
        sock.local_addr()?
    );
    sock.write_all(b"Hi there, server")?;
    let reply = recvall(&mut sock, 16)?;
    println!("The server said b'{}'", reply.escape_ascii());
    Ok(())
}
