//! Exercise: see step 2's loop go round. The client's `--max-write N` puts
//! a writer between `sendall` and the socket that passes on at most N bytes
//! per call, as a socket with a nearly full send buffer would take; the
//! client then says how many calls to `write` its 16 bytes took.
//!
//! A solution: `Narrow::write` hands `inner` a slice of at most `limit`
//! bytes and passes on its count; `sendall` counts each call it makes.

// Receiving still ignores the count `read` returns (the bug step 4 fixes);
// clippy rejects that by default as `unused_io_amount`.
#![allow(clippy::unused_io_amount)]

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::num::NonZeroUsize;
use std::process::ExitCode;

use clap::Args;
use listings::NoOptions;

/// What the client takes besides HOST and `-p`.
#[derive(Args)]
struct ClientOptions {
    /// Pass at most this many bytes to the socket per call to `write`
    /// (by default, all of them)
    #[arg(long, value_name = "BYTES")]
    max_write: Option<NonZeroUsize>,
}

fn main() -> ExitCode {
    listings::run_with(server, client)
}

// ANCHOR: solution
/// A writer in front of `inner` that takes at most `limit` bytes per call,
/// and says so in what `write` returns, as the `Write` contract allows.
struct Narrow<W> {
    inner: W,
    limit: usize,
}

impl<W: Write> Write for Narrow<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let length = buf.len().min(self.limit);
        // The count `inner` returns, not `length`: the socket itself may
        // take less still, and the caller must hear of it.
        self.inner.write(&buf[..length])
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes all of `data`, however many calls to `write` that takes, and
/// returns how many it took.
fn sendall(sock: &mut impl Write, mut data: &[u8]) -> io::Result<usize> {
    let mut calls = 0;
    while !data.is_empty() {
        // Every call counts, the interrupted ones too: each is a trip into
        // the kernel.
        calls += 1;
        match sock.write(data) {
            Ok(0) => {
                return Err(io::Error::new(
                    ErrorKind::WriteZero,
                    "the socket accepted no more bytes",
                ));
            }
            Ok(sent) => data = &data[sent..],
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(calls)
}
// ANCHOR_END: solution

fn server(address: SocketAddr, _: &NoOptions) -> io::Result<()> {
    let listener = TcpListener::bind(address)?;
    println!("Listening at {}", listener.local_addr()?);
    loop {
        println!("Waiting for a new connection");
        let (conn, peer) = listener.accept()?;
        println!("Connection from {peer}");
        converse(conn, peer)?;
    }
}

fn converse(mut conn: TcpStream, peer: SocketAddr) -> io::Result<()> {
    println!("  Socket name: {}", conn.local_addr()?);
    println!("  Socket peer: {peer}");
    let mut message = [0; 16];
    conn.read(&mut message)?;
    println!("  message from client: b'{}'", message.escape_ascii());
    sendall(&mut conn, b"Goodbye, client!")?;
    drop(conn);
    println!("  Closing socket");
    Ok(())
}

fn client(addresses: &[SocketAddr], options: &ClientOptions) -> io::Result<()> {
    let mut sock = TcpStream::connect(addresses)?;
    println!(
        "Client has been assigned socket name {}",
        sock.local_addr()?
    );
    let mut narrow = Narrow {
        inner: &mut sock,
        limit: options.max_write.map_or(usize::MAX, NonZeroUsize::get),
    };
    let writes = sendall(&mut narrow, b"Hi there, server")?;
    println!("Sent 16 bytes with {writes} call(s) to write");
    let mut reply = [0; 16];
    sock.read(&mut reply)?;
    println!("The server said b'{}'", reply.escape_ascii());
    Ok(())
}
