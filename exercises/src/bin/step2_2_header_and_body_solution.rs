//! Exercise: step 2's loop for a message held in two buffers. The client
//! sends its request as a header, `Hi there, `, and a body, `server`, with
//! `write_vectored`, which hands the kernel both buffers in one call without
//! copying them together, and which, like `write`, may take only part of
//! them: a part that can end anywhere, inside either buffer.
//!
//! A solution: `sendall_vectored` is step 2's loop, with
//! `IoSlice::advance_slices` where step 2 re-sliced its one buffer.

// Receiving still ignores the count `read` returns (the bug step 4 fixes);
// clippy rejects that by default as `unused_io_amount`.
#![allow(clippy::unused_io_amount)]

use std::io::{self, ErrorKind, IoSlice, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::num::NonZeroUsize;
use std::process::ExitCode;

use clap::Args;
use listings::NoOptions;

/// What the client takes besides HOST and `-p`.
#[derive(Args)]
struct ClientOptions {
    /// Pass at most this many bytes to the socket per call to
    /// `write_vectored` (by default, all of them)
    #[arg(long, value_name = "BYTES")]
    max_write: Option<NonZeroUsize>,
}

fn main() -> ExitCode {
    listings::run_with(server, client)
}

/// A writer in front of `inner` that takes at most `limit` bytes per call to
/// `write_vectored`, from as many of the buffers as that covers, as a socket
/// with little room in its send buffer would. Plain `write` it refuses: this
/// exercise sends without copying the buffers together.
struct Narrow<W> {
    inner: W,
    limit: usize,
}

impl<W: Write> Write for Narrow<W> {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::other("this exercise sends with write_vectored"))
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let mut room = self.limit;
        let mut taken = Vec::new();
        for buf in bufs {
            let length = buf.len().min(room);
            taken.push(IoSlice::new(&buf[..length]));
            room -= length;
        }
        self.inner.write_vectored(&taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

// ANCHOR: solution
/// Writes all of `bufs`, in order, however many calls to `write_vectored`
/// that takes, and returns how many it took.
fn sendall_vectored(sock: &mut impl Write, mut bufs: &mut [IoSlice<'_>]) -> io::Result<usize> {
    // Drops empty buffers at the front: were all of them empty, `bufs`
    // would not be, and `write_vectored` would return 0, which the loop
    // below takes for a stuck socket.
    IoSlice::advance_slices(&mut bufs, 0);
    let mut calls = 0;
    while !bufs.is_empty() {
        calls += 1;
        match sock.write_vectored(bufs) {
            Ok(0) => {
                return Err(io::Error::new(
                    ErrorKind::WriteZero,
                    "the socket accepted no more bytes",
                ));
            }
            // Drops the buffers sent whole and moves the start of the first
            // one left past the bytes sent of it: `&data[sent..]` of step
            // 2, across buffers. Nothing is copied.
            Ok(sent) => IoSlice::advance_slices(&mut bufs, sent),
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(calls)
}
// ANCHOR_END: solution

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
    let mut request = [IoSlice::new(b"Hi there, "), IoSlice::new(b"server")];
    let writes = sendall_vectored(&mut narrow, &mut request)?;
    println!("Sent 16 bytes with {writes} call(s) to write_vectored");
    let mut reply = [0; 16];
    sock.read(&mut reply)?;
    println!("The server said b'{}'", reply.escape_ascii());
    Ok(())
}

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

/// Step 2's loop, for the server's reply.
fn sendall(sock: &mut impl Write, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
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
    Ok(())
}
