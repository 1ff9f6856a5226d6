//! A solution: step 5's server, printing each connection's lines with one
//! `write` system call instead of one per line.
//!
//! Rust's standard output is line-buffered: every `println!` that ends a
//! line is a `write(2)` of its own, six per connection in step 5. Here the
//! server builds one round's lines in a buffer (the connection's five, then
//! the `Waiting` line before its next `accept`) and hands them to standard
//! output at once. It prints the same lines in the same order as step 5;
//! only the number of system calls changes. The client is step 5's.

use socket2::{Domain, Protocol, Socket, Type};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;

fn main() -> ExitCode {
    // The command line (server or client, HOST, -p PORT) and the demo:
    // scaffolding from the book's `listings` crate.
    listings::run(server, client)
}

/// Reads exactly `length` bytes, however many calls to `read` that takes.
fn recvall(sock: &mut impl Read, length: usize) -> io::Result<Vec<u8>> {
    let mut data = vec![0; length];
    let mut received = 0;
    while received < length {
        match sock.read(&mut data[received..]) {
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

// ANCHOR: solution
fn server(address: SocketAddr) -> io::Result<()> {
    let listener = listen(address)?;
    println!("Listening at {}", listener.local_addr()?);
    // One round's lines, printed together: a `Vec<u8>` is a `Write`, so
    // `writeln!` fills it as `println!` would print, without a system call.
    let mut lines = Vec::new();
    loop {
        writeln!(lines, "Waiting for a new connection")?;
        print_lines(&mut lines)?;
        let (conn, peer) = listener.accept()?;
        writeln!(lines, "Connection from {peer}")?;
        if let Err(error) = converse(conn, peer, &mut lines) {
            // The lines so far go out first, so that the error comes after
            // them, where step 5 prints it.
            print_lines(&mut lines)?;
            eprintln!("error: connection from {peer}: {error}");
        }
    }
}

/// Writes `lines` to standard output in one `write`, and empties it.
fn print_lines(lines: &mut Vec<u8>) -> io::Result<()> {
    // Standard output's line buffer is empty between rounds, so text that
    // ends with a newline goes straight to the kernel in one call.
    let mut stdout = io::stdout().lock();
    stdout.write_all(lines)?;
    lines.clear();
    Ok(())
}

fn converse(mut conn: TcpStream, peer: SocketAddr, lines: &mut Vec<u8>) -> io::Result<()> {
    writeln!(lines, "  Socket name: {}", conn.local_addr()?)?;
    writeln!(lines, "  Socket peer: {peer}")?;
    let message = recvall(&mut conn, 16)?;
    writeln!(
        lines,
        "  message from client: b'{}'",
        message.escape_ascii()
    )?;
    conn.write_all(b"Goodbye, client!")?;
    drop(conn);
    writeln!(lines, "  Closing socket")?;
    Ok(())
}
// ANCHOR_END: solution

fn client(addresses: &[SocketAddr]) -> io::Result<()> {
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
