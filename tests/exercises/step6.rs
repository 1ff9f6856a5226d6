//! The exercises of "When clients misbehave"
//! (src/step6-misbehaving-clients.md): a shorter deadline for a client's
//! first byte, and a limit on the connections from one address.
//!
//! Each check starts the server with a `--timeout` of 60 seconds, longer
//! than a check waits for anything ([`PATIENCE`]): whatever a check sees
//! happen to a connection, step 6's deadline cannot be what did it.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::time::Instant;

use book_tests::{Output, PATIENCE, Server};
use listings::protocol::{REPLY, REQUEST, accepted};
use socket2::{Domain, Protocol, Socket, Type};

use super::support::{next_line_until, start_waiting, with_last_words};

/// A connection from `from` (any port) to `to`, whose reads give up after
/// [`PATIENCE`], and its local address.
fn connect_from(from: IpAddr, to: SocketAddr) -> Result<(TcpStream, SocketAddr), String> {
    let failed = |e: std::io::Error| format!("cannot connect from {from} to {to}: {e}");
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).map_err(failed)?;
    socket
        .bind(&SocketAddr::new(from, 0).into())
        .map_err(failed)?;
    socket.connect(&to.into()).map_err(failed)?;
    let conn = TcpStream::from(socket);
    conn.set_read_timeout(Some(PATIENCE)).map_err(failed)?;
    let name = conn.local_addr().map_err(failed)?;
    Ok((conn, name))
}

/// Connects from 127.0.0.1 and waits until the server has accepted it.
fn accepted_client(server: &mut Server) -> Result<(TcpStream, SocketAddr), String> {
    let (conn, name) = connect_from(Ipv4Addr::LOCALHOST.into(), server.address)?;
    next_line_until(server, |line| line == accepted(name))
        .map_err(|why| format!("waiting for the server to accept {name}: {why}"))?;
    Ok((conn, name))
}

/// Whether the server has closed `conn`: a read finds the end of the
/// stream, or the reset of a close with data unread.
fn closed_by_server(conn: &mut TcpStream) -> bool {
    match conn.read(&mut [0; 1]) {
        Ok(0) => true,
        Err(e) => e.kind() == ErrorKind::ConnectionReset,
        Ok(_) => false,
    }
}

/// Sends the rest of the request on `conn` (all but `sent` bytes of it) and
/// reads the reply.
fn finish_exchange(conn: &mut TcpStream, sent: usize) -> Result<(), String> {
    conn.write_all(&REQUEST[sent..])
        .map_err(|e| format!("sending the request: {e}"))?;
    let mut reply = [0; 16];
    conn.read_exact(&mut reply)
        .map_err(|e| format!("reading the reply: {e}"))?;
    if &reply != REPLY {
        return Err(format!("the reply was b'{}'", reply.escape_ascii()));
    }
    Ok(())
}

/// Runs `check` against `program` started as a server with `args`. When
/// the check fails, the reason gets the server's last lines on standard
/// error (a panic's message among them), read once the server has stopped.
fn against(
    program: &Path,
    args: &[&str],
    check: impl FnOnce(&mut Server) -> Result<(), String>,
) -> Result<(), String> {
    // The checks go by what the server does to connections and by the lines
    // on its standard output, not by its standard error: written unbuffered,
    // a line there can reach a terminal (or a pipe shared with standard
    // output) in pieces, among the lines that other threads print.
    let mut server = start_waiting(program, args, Output::Apart)?;
    check(&mut server).map_err(|why| with_last_words(why, server))
}

fn first_byte(program: &Path) -> Result<(), String> {
    let args = [
        "server",
        "-p",
        "0",
        "--timeout",
        "60",
        "--first-byte-timeout",
        "1",
    ];
    against(program, &args, two_clients)?;
    // The other way round: the first-byte deadline must not stretch the
    // conversation past --timeout's.
    let args = [
        "server",
        "-p",
        "0",
        "--timeout",
        "1",
        "--first-byte-timeout",
        "60",
    ];
    against(program, &args, |server| {
        let (mut silent, _) = accepted_client(server)?;
        if closed_by_server(&mut silent) {
            Ok(())
        } else {
            Err(format!(
                "with --timeout 1 and --first-byte-timeout 60, a client that sent nothing \
                 should be dropped after a second (--timeout still holds); it was still \
                 connected after {PATIENCE:?}"
            ))
        }
    })
}

/// A client that sends its first byte at once and the rest late, and one
/// that says nothing, against `--timeout 60 --first-byte-timeout 1`.
fn two_clients(server: &mut Server) -> Result<(), String> {
    // One client starts at once, and will take its time over the rest...
    let (mut started, _) = accepted_client(server)?;
    started
        .write_all(&REQUEST[..1])
        .map_err(|e| format!("sending a first byte: {e}"))?;
    // ...and one says nothing. It was accepted after the first, so by the
    // time its first-byte deadline has passed, the first's has too.
    let (mut silent, _) = accepted_client(server)?;
    // The deadline of 60 seconds would come long after PATIENCE.
    if !closed_by_server(&mut silent) {
        return Err(format!(
            "with --first-byte-timeout 1, a client that sent nothing should be dropped after \
             a second; it was still connected after {PATIENCE:?}"
        ));
    }
    finish_exchange(&mut started, 1).map_err(|why| {
        format!(
            "the client that sent its first byte at once and the rest after the first-byte \
             deadline should be served (once a byte has come, --timeout is the deadline, 60 s \
             here); {why}"
        )
    })
}

fn per_address(program: &Path) -> Result<(), String> {
    let args = [
        "server",
        "-p",
        "0",
        "--timeout",
        "60",
        "--max-per-address",
        "2",
    ];
    against(program, &args, two_per_address)
}

/// Against `--max-per-address 2`: two connections from 127.0.0.1, a third
/// refused, another address served, and room again once one has ended.
fn two_per_address(server: &mut Server) -> Result<(), String> {
    let (mut first, _) = accepted_client(server)?;
    let (_second, _) = accepted_client(server)?;

    // A third from 127.0.0.1: accepted and closed at once. (Taken and
    // served, it would wait for its request until the deadline of 60
    // seconds, long after PATIENCE.)
    let (mut third, _) = connect_from(Ipv4Addr::LOCALHOST.into(), server.address)?;
    if !closed_by_server(&mut third) {
        return Err(format!(
            "with --max-per-address 2 and two connections from 127.0.0.1 in progress, \
             the server should close a third at once; it was still open after {PATIENCE:?}"
        ));
    }

    // Another address has its own count.
    let (mut other, other_name) = connect_from(Ipv4Addr::new(127, 0, 0, 2).into(), server.address)?;
    finish_exchange(&mut other, 0).map_err(|why| {
        format!(
            "a client from {other_name} should be served while 127.0.0.1 is at its limit; {why}"
        )
    })?;

    // Once one of 127.0.0.1's connections ends, it may have another. The
    // count drops a moment after the server's last line about the first,
    // so a refusal meanwhile is tried again.
    finish_exchange(&mut first, 0)
        .map_err(|why| format!("the first client from 127.0.0.1 should be served; {why}"))?;
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (mut again, _) = connect_from(Ipv4Addr::LOCALHOST.into(), server.address)?;
        match finish_exchange(&mut again, 0) {
            Ok(()) => return Ok(()),
            Err(why) if Instant::now() > deadline => {
                return Err(format!(
                    "after one of its two connections ended, 127.0.0.1 should have room \
                     for another; {why}"
                ));
            }
            Err(_) => {}
        }
    }
}

exercise!(step6_1_first_byte, super::first_byte);
exercise!(step6_2_per_address, super::per_address);
