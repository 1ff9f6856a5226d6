//! A solution: step 5's server prints each message exactly as `tcp.py`
//! prints it, with Python's `repr` of bytes, quotes included.
//!
//! Step 5 prints `b'{}'` around `message.escape_ascii()`, which shows most
//! bytes as Python does but escapes both kinds of quote. Python escapes
//! only the quote it chose to put around the text, and chooses `"` for
//! bytes that hold a `'` and no `"`. Here the server prints the message
//! with `python_repr` instead; the rest is step 5
//! (`listings/src/bin/step5.rs`) as it is.

use socket2::{Domain, Protocol, Socket, Type};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;

fn main() -> ExitCode {
    // The command line (server or client, HOST, -p PORT) and the demo that
    // runs with no arguments: scaffolding from the book's `listings` crate.
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

fn server(address: SocketAddr) -> io::Result<()> {
    let listener = listen(address)?;
    println!("Listening at {}", listener.local_addr()?);
    loop {
        println!("Waiting for a new connection");
        let (conn, peer) = listener.accept()?;
        println!("Connection from {peer}");
        if let Err(error) = converse(conn, peer) {
            eprintln!("error: connection from {peer}: {error}");
        }
    }
}

// ANCHOR: solution
fn converse(mut conn: TcpStream, peer: SocketAddr) -> io::Result<()> {
    println!("  Socket name: {}", conn.local_addr()?);
    println!("  Socket peer: {peer}");
    let message = recvall(&mut conn, 16)?;
    // As tcp.py's `print(f'  message from client: {request!r}')`.
    println!("  message from client: {}", python_repr(&message));
    conn.write_all(b"Goodbye, client!")?;
    drop(conn);
    println!("  Closing socket");
    Ok(())
}

/// `bytes` as Python's `repr` shows them: `b'...'`, or `b"..."` when the
/// bytes hold a `'` and no `"`.
fn python_repr(bytes: &[u8]) -> String {
    // Python's choice: `'`, unless that would need a backslash and `"`
    // would not.
    let quote = if bytes.contains(&b'\'') && !bytes.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    let mut shown = format!("b{quote}");
    for &byte in bytes {
        if (byte == b'\'' || byte == b'"') && char::from(byte) != quote {
            // The other quote cannot end the text: no backslash.
            shown.push(char::from(byte));
        } else {
            // Every other byte std escapes as Python does: `\t`, `\n`,
            // `\r`, `\\`, the quote, and `\x` with two lowercase hex
            // digits for the rest outside printable ASCII.
            shown.extend(std::ascii::escape_default(byte).map(char::from));
        }
    }
    shown.push(quote);
    shown
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
    println!("The server said {}", python_repr(&reply));
    Ok(())
}
