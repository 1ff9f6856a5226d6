//! The exercises of "Many clients at once" (src/many-clients.md): step 8's
//! `recvall` written with `.await`, and a pool of workers sharing one
//! listener.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;

use book_tests::{Output, PATIENCE, Server, bin, chopper, good_client, run_command};
use listings::protocol::{
    REPLY, REPLY_SENT, REQUEST, SOCKET_PEER, accepted, closed_early, server_said,
};

use super::support::{lines_until, with_last_words};

/// `program args...` started as a server, its output read as `output` says:
/// [`Output::Merged`] where the check waits for an `error:` line. (Written
/// unbuffered, a line on standard error can arrive in pieces among other
/// threads' lines; the checks wait for one only while nothing else runs.)
fn start(program: &Path, args: &[&str], output: Output) -> Result<Server, String> {
    let mut command = Command::new(program);
    command.args(args);
    Server::start_command(command, output)
}

/// Runs step 4's client against `port` and checks that it got the reply.
fn step4_client(port: u16, through: &str) -> Result<(), String> {
    let mut command = Command::new(bin("step4"));
    command.args(["client", "-p", &port.to_string()]);
    let run = run_command(command, Output::Apart)?;
    if !run.status.success() || !run.stdout.contains(&server_said(REPLY)) {
        return Err(format!(
            "step 4's client, {through}, should get the reply; it exited with {} and printed \
             {:?}, stderr {:?}",
            run.status, run.stdout, run.stderr
        ));
    }
    Ok(())
}

fn async_recvall(program: &Path) -> Result<(), String> {
    let mut server = start(program, &["server", "-p", "0"], Output::Merged)?;
    served_and_closed_early(&mut server).map_err(|why| with_last_words(why, server))?;

    // A client that sends 5 bytes and then nothing, against a deadline of
    // a second: the server must give up on it.
    let args = ["server", "-p", "0", "--timeout", "1"];
    let mut server = start(program, &args, Output::Merged)?;
    deadline_passes(&mut server).map_err(|why| with_last_words(why, server))
}

/// Step 4's client served, straight and behind `chopper --chunk 1`; a
/// client that sends 5 bytes and closes refused with step 6's words; and
/// step 4's client served after it.
fn served_and_closed_early(server: &mut Server) -> Result<(), String> {
    let port = server.address.port();
    step4_client(port, "connected straight to the server")?;
    let relay = chopper(port, &["--chunk", "1"]);
    step4_client(relay.address.port(), "behind `chopper --chunk 1`")?;

    // Five bytes, then the end of the stream.
    let failed = |e: std::io::Error| format!("the client that sends 5 bytes: {e}");
    let mut early = TcpStream::connect(server.address).map_err(failed)?;
    early.set_read_timeout(Some(PATIENCE)).map_err(failed)?;
    early.write_all(&REQUEST[..5]).map_err(failed)?;
    early.shutdown(Shutdown::Write).map_err(failed)?;
    let why = closed_early(16, 5);
    lines_until(server, |line| {
        line.starts_with("error:") && line.contains(&why)
    })
    .map_err(|e| {
        format!(
            "after a client sent 5 bytes and closed, the server should print an `error:` \
             line that says {why:?}; {e}"
        )
    })?;
    // The server closes its side; whatever it sent, it was not a reply.
    let mut rest = Vec::new();
    let _ = early.read_to_end(&mut rest);
    if !rest.is_empty() {
        return Err(format!(
            "the client that sent 5 bytes should get no reply; it got b'{}'",
            rest.escape_ascii()
        ));
    }
    step4_client(port, "after a client that closed early")
}

/// Against `--timeout 1`: a client that sends 5 bytes and then waits is
/// closed, and the server prints an `error:` line about it.
fn deadline_passes(server: &mut Server) -> Result<(), String> {
    let failed = |e: std::io::Error| format!("the client that sends 5 bytes and waits: {e}");
    let mut slow = TcpStream::connect(server.address).map_err(failed)?;
    slow.set_read_timeout(Some(PATIENCE)).map_err(failed)?;
    let name = slow.local_addr().map_err(failed)?;
    slow.write_all(&REQUEST[..5]).map_err(failed)?;
    // The server closes the connection, with or without the reset of a
    // close with data unread; a read that times out means it did not.
    let mut rest = Vec::new();
    match slow.read_to_end(&mut rest) {
        Ok(_) if rest.is_empty() => {}
        Ok(_) => {
            return Err(format!(
                "the client that sent 5 bytes and waited got b'{}' instead of a closed \
                 connection",
                rest.escape_ascii()
            ));
        }
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => {
            return Err(format!(
                "with --timeout 1, a client that sent 5 bytes and then nothing should be \
                 dropped after a second; after {PATIENCE:?} its read said: {e}"
            ));
        }
    }
    let about = format!("{name}:");
    lines_until(server, |line| {
        line.starts_with("error:") && line.contains(&about)
    })
    .map_err(|e| {
        format!(
            "once the deadline had passed for {name}, the server should print an `error:` \
                 line about it; {e}"
        )
    })?;
    Ok(())
}

/// Connects to `address` and waits until the server has started the
/// conversation (its `Socket peer` line); sends nothing.
fn silent_client(server: &mut Server) -> Result<(TcpStream, SocketAddr), String> {
    let failed = |e: std::io::Error| format!("a silent client: {e}");
    let conn = TcpStream::connect(server.address).map_err(failed)?;
    conn.set_read_timeout(Some(PATIENCE)).map_err(failed)?;
    let name = conn.local_addr().map_err(failed)?;
    let peer_line = format!("{SOCKET_PEER}{name}");
    lines_until(server, |line| line == peer_line)
        .map_err(|e| format!("waiting for the server to talk with {name}: {e}"))?;
    Ok((conn, name))
}

/// Sends the request on `conn` and reads the reply.
fn exchange(conn: &mut TcpStream) -> std::io::Result<[u8; 16]> {
    conn.write_all(REQUEST)?;
    let mut reply = [0; 16];
    conn.read_exact(&mut reply)?;
    Ok(reply)
}

fn worker_pool(program: &Path) -> Result<(), String> {
    let args = ["server", "-p", "0", "--workers", "3", "--timeout", "60"];
    let mut server = start(program, &args, Output::Apart)?;
    pool_of_three(&mut server).map_err(|why| with_last_words(why, server))
}

/// Against `--workers 3`: as many threads after 10 clients and while 3 are
/// in progress as before; a fourth client accepted only once one is done.
fn pool_of_three(server: &mut Server) -> Result<(), String> {
    // The pool has started before the server says where it listens.
    let before = server.threads();
    for n in 1..=10 {
        match good_client(server.address) {
            Ok(reply) if &reply == REPLY => {}
            Ok(reply) => return Err(format!("client {n} got b'{}'", reply.escape_ascii())),
            Err(e) => return Err(format!("client {n} of 10 was not served: {e}")),
        }
    }
    let after = server.threads();
    if after != before {
        return Err(format!(
            "a pool starts its threads once: the server ran {before} threads before 10 \
             clients, {after} after"
        ));
    }

    // Three clients that say nothing hold the three workers...
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(silent_client(server)?);
    }
    let busy = server.threads();
    if busy != before {
        return Err(format!(
            "the pool should not grow: {before} threads before, {busy} while serving 3 clients"
        ));
    }
    // ...so a fourth waits in the backlog, its request sent...
    let failed = |e: std::io::Error| format!("the fourth client: {e}");
    let mut fourth = TcpStream::connect(server.address).map_err(failed)?;
    fourth.set_read_timeout(Some(PATIENCE)).map_err(failed)?;
    let fourth_name = fourth.local_addr().map_err(failed)?;
    fourth.write_all(REQUEST).map_err(failed)?;
    // ...until one of the three is done, which frees its worker.
    let (first, first_name) = &mut silent[0];
    match exchange(first) {
        Ok(reply) if &reply == REPLY => {}
        other => {
            return Err(format!(
                "the silent client {first_name}, once it spoke: {other:?}"
            ));
        }
    }
    let lines = lines_until(server, |line| line == accepted(fourth_name))
        .map_err(|e| format!("waiting for the fourth client to be accepted: {e}"))?;
    if !lines.iter().any(|line| line == REPLY_SENT) {
        return Err(format!(
            "with --workers 3 and 3 clients in progress, a fourth should wait until one of \
             them is done; the server accepted it first (its lines: {:?})",
            server.stdout
        ));
    }
    match exchange_reply(&mut fourth) {
        Ok(reply) if &reply == REPLY => Ok(()),
        other => Err(format!("the fourth client, once accepted: {other:?}")),
    }
}

/// Reads the reply to a request already sent.
fn exchange_reply(conn: &mut TcpStream) -> std::io::Result<[u8; 16]> {
    let mut reply = [0; 16];
    conn.read_exact(&mut reply)?;
    Ok(reply)
}

exercise!(many_1_async_recvall, super::async_recvall);
exercise!(many_2_worker_pool, super::worker_pool);
