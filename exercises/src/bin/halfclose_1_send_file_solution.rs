//! A solution: `halfclose`'s client, sending a file given on the command line.
//!
//! `client --file PATH` sends the file's bytes as the message, as they are
//! read, then shuts down its sending side: the end of the file is the end
//! of the message, and the server needs no length. It then reads the reply
//! to the server's end of file, checks that it has as many bytes as the
//! file, and prints its length and its two ends.
//!
//! The rest is `halfclose` (`listings/src/bin/halfclose.rs`), whose server
//! answers with the message upper-cased.

use std::fs::File;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use listings::messages::describe;
use listings::{ClientLimits, Deadline, ServerLimits};

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
    /// The file to send
    #[arg(long, value_name = "PATH", default_value = "Cargo.toml")]
    file: PathBuf,
    #[command(flatten)]
    limits: ClientLimits,
}

fn main() -> ExitCode {
    listings::run_with_about(
        "A TCP client that sends a file, ended by closing one direction, and a server \
         that answers with it upper-cased",
        server,
        client,
    )
}

fn client(addresses: &[SocketAddr], options: &ClientOptions) -> io::Result<()> {
    // Opened first: a file that cannot be read is no reason to connect.
    let file = File::open(&options.file).map_err(|error| {
        io::Error::new(error.kind(), format!("{}: {error}", options.file.display()))
    })?;
    let sock = listings::connect(addresses, options.limits.connect_timeout)?;
    println!(
        "Client has been assigned socket name {}",
        sock.local_addr()?
    );
    // Every read and write through `conn` waits at most until this deadline.
    let mut conn = Deadline::new(&sock, Instant::now() + options.limits.timeout);
    let sent = send_file(&sock, &mut conn, file)?;
    println!(
        "Sent {sent} bytes from {}, then shut down writing",
        options.file.display()
    );
    let reply = receive_reply(&mut conn, sent)?;
    println!("The server sent back {}", describe(&reply));
    Ok(())
}

// ANCHOR: solution
/// Sends all of `file` through `conn`, as it reads it, then shuts down
/// `sock`'s sending side; returns how many bytes it sent.
fn send_file(sock: &TcpStream, conn: &mut Deadline, mut file: File) -> io::Result<u64> {
    // A piece at a time: a file of any size costs the client one buffer.
    let sent = io::copy(&mut file, conn)?;
    // The end of the message: a FIN after the file's last byte. Our
    // receiving side stays open for the reply.
    sock.shutdown(Shutdown::Write)?;
    Ok(sent)
}

/// Reads the reply up to the server's end of file, and checks that it has
/// as many bytes as the message, `sent`, without reading much past that.
fn receive_reply(conn: &mut Deadline, sent: u64) -> io::Result<Vec<u8>> {
    let mut reply = Vec::new();
    // One byte more than the reply should have is enough to see that it
    // is too long, and all a server can make us keep.
    conn.take(sent.saturating_add(1)).read_to_end(&mut reply)?;
    if reply.len() as u64 != sent {
        // The server's EOF looks the same whether it finished or died.
        return Err(io::Error::new(
            ErrorKind::InvalidData,
            format!("the reply to {sent} bytes had {} bytes", reply.len()),
        ));
    }
    Ok(reply)
}
// ANCHOR_END: solution

fn server(address: SocketAddr, options: &ServerOptions) -> io::Result<()> {
    listings::serve(address, &options.limits, |sock, deadline| {
        converse(sock, deadline, options.max_bytes)
    })
}

fn converse(sock: TcpStream, deadline: Instant, max_bytes: u64) -> io::Result<()> {
    let mut conn = Deadline::new(&sock, deadline);
    let mut message = Vec::new();
    (&mut conn)
        .take(max_bytes.saturating_add(1))
        .read_to_end(&mut message)?;
    if message.len() as u64 > max_bytes {
        // As `halfclose`'s `refuse`: a FIN, then whatever the client still
        // sends read and thrown away, so that the close is not a reset.
        sock.shutdown(Shutdown::Write)?;
        let discarded = io::copy(&mut conn, &mut io::sink())?;
        return Err(io::Error::new(
            ErrorKind::InvalidData,
            format!(
                "refused a message of more than {max_bytes} bytes (read and discarded {discarded} more)"
            ),
        ));
    }
    println!("  Received {} bytes, then end of file", message.len());
    message.make_ascii_uppercase();
    conn.write_all(&message)?;
    println!("  Sent them back upper-cased");
    drop(sock);
    println!("  Closing socket");
    Ok(())
}
