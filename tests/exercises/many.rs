//! The exercises of "Many clients at once" (src/many-clients.md): step 8's
//! `recvall` written with `.await`, a pool of workers sharing one
//! listener, and a server that turns clients away when every slot is taken
//! instead of leaving them in the backlog.
//!
//! A server's output is merged ([`Output::Merged`]) where a check waits for
//! an `error:` line. (Written unbuffered, a line on standard error can
//! arrive in pieces among other threads' lines; the checks wait for one
//! only while nothing else runs.)

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;

use book_tests::{Output, PATIENCE, Server, bin, chopper, good_client, run_command};
use listings::protocol::{
    REPLY, REPLY_SENT, REQUEST, SOCKET_PEER, accepted, closed_early, server_said,
};

use super::support::{lines_until, start, with_last_words};

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
    // Its request went before it was accepted; only the reply is left.
    let mut reply = [0; 16];
    match fourth.read_exact(&mut reply).map(|()| reply) {
        Ok(reply) if &reply == REPLY => Ok(()),
        other => Err(format!("the fourth client, once accepted: {other:?}")),
    }
}

exercise!(many_1_async_recvall, super::async_recvall);
exercise!(many_2_worker_pool, super::worker_pool);

/// Exercise 3: a server that sheds load, telling a client that finds every
/// slot busy `Busy, try later.` and closing, instead of leaving it in the
/// backlog.
mod shed_load {
    use std::io::{ErrorKind, Read};
    use std::net::SocketAddr;
    use std::path::Path;
    use std::time::Duration;

    use book_tests::{Output, PATIENCE, Server};
    use listings::protocol::{REPLY, WAITING, accepted};

    use super::{exchange, start};
    use crate::support::{connect, failed, lines_until, next_line_until, with_last_words};

    /// What the server sends a client it turns away: 16 bytes, as the reply.
    const BUSY: &[u8; 16] = b"Busy, try later.";

    /// The line the server prints for a client it turned away.
    fn turned_away(peer: SocketAddr) -> String {
        format!("Turned away {peer}: no free slot")
    }

    pub(super) fn check(program: &Path) -> Result<(), String> {
        // A long deadline: the first client holds its slot for as long as
        // the check needs it.
        let args = [
            "server",
            "-p",
            "0",
            "--max-connections",
            "1",
            "--timeout",
            "60",
        ];
        let mut server = start(program, &args, Output::Apart)?;
        one_slot(&mut server).map_err(|why| with_last_words(why, server))
    }

    /// Against `--max-connections 1`: a first client holds the slot; a
    /// second is told `Busy, try later.` and closed at once; the first is
    /// served; and once the server says it is idle, a third is served.
    fn one_slot(server: &mut Server) -> Result<(), String> {
        // The first client takes the one slot, and keeps it by saying
        // nothing.
        let mut first = connect(server.address)?;
        let first_name = first.local_addr().map_err(failed("the first client"))?;
        admitted(
            server,
            first_name,
            "with no other client connected, the first client",
            "a client gets a slot when `try_acquire_owned` gives it a permit",
        )?;

        // The second finds no free slot.
        let mut second = connect(server.address)?;
        let second_name = second.local_addr().map_err(failed("the second client"))?;
        let mut answer = Vec::new();
        let read = second.read_to_end(&mut answer);
        let got = format!("b'{}'", answer.escape_ascii());
        match read {
            Ok(_) if answer == BUSY => {}
            Ok(_) => {
                return Err(format!(
                    "the second client, connected while the first held the only slot \
                     (--max-connections 1), should read b'Busy, try later.' and then the end \
                     of the stream; it read {got}, then the end"
                ));
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(if answer.is_empty() {
                    nothing_for_the_second(server, second_name)
                } else if answer == BUSY {
                    format!(
                        "the second client got {got}, but then the connection stayed open for \
                         {PATIENCE:?}: close it once the refusal is sent"
                    )
                } else {
                    format!(
                        "the second client got {got}, then nothing more for {PATIENCE:?}; it \
                         should get b'Busy, try later.' and then the end of the stream"
                    )
                });
            }
            Err(e) => return Err(format!("the second client read {got}, then: {e}")),
        }
        let wanted = turned_away(second_name);
        lines_until(server, |line| line == wanted).map_err(|e| {
            format!(
                "once it has turned the second client away, the server should print `{wanted}`; {e}"
            )
        })?;

        // The first client, still holding the slot, is served as ever.
        match exchange(&mut first) {
            Ok(reply) if &reply == REPLY => {}
            Ok(reply) => {
                return Err(format!(
                    "the first client, which held the slot, got b'{}' for its message",
                    reply.escape_ascii()
                ));
            }
            Err(e) => {
                return Err(format!(
                    "the first client, which held the slot, sent its message and got no \
                     reply: {e}"
                ));
            }
        }
        // Its slot is free once the server says it is idle again.
        lines_until(server, |line| line == WAITING).map_err(|e| {
            format!(
                "once the first client was served, the server should give its permit back \
                 and then, every slot free, print `{WAITING}`; {e}"
            )
        })?;

        let mut third = connect(server.address)?;
        let third_name = third.local_addr().map_err(failed("the third client"))?;
        admitted(
            server,
            third_name,
            "with the first client done, the third client",
            "is the permit given back when a conversation ends, before the server says it \
             is waiting?",
        )?;
        match exchange(&mut third) {
            Ok(reply) if &reply == REPLY => Ok(()),
            Ok(reply) => Err(format!(
                "the third client got b'{}' for its message",
                reply.escape_ascii()
            )),
            Err(e) => Err(format!(
                "the third client sent its message and got no reply: {e}"
            )),
        }
    }

    /// Waits for the server's line about the client at `name`, and fails,
    /// saying `who` it was and with a `hint`, unless it was given a slot
    /// (`Connection from NAME`).
    fn admitted(
        server: &mut Server,
        name: SocketAddr,
        who: &str,
        hint: &str,
    ) -> Result<(), String> {
        let (welcome, refusal) = (accepted(name), turned_away(name));
        let line = next_line_until(server, |line| line == welcome || line == refusal)
            .map_err(|e| format!("waiting for the server to print `{welcome}`: {e}"))?;
        if line == refusal {
            return Err(format!(
                "{who} should be given the free slot (`{welcome}`); the server printed \
                 `{refusal}`: {hint}"
            ));
        }
        Ok(())
    }

    /// Why the second client got nothing at all: the server took it into a
    /// conversation, or has not accepted it.
    fn nothing_for_the_second(server: &mut Server, name: SocketAddr) -> String {
        // The lines printed so far, without waiting for more.
        while server.next_stdout_line_within(Duration::ZERO).is_some() {}
        if server.stdout.contains(&accepted(name)) {
            format!(
                "the server took the second client into a conversation (`{}`) while the \
                 first held the only slot (--max-connections 1): a client may have a slot \
                 only with a permit from `try_acquire_owned`, which its task keeps until the \
                 conversation is over",
                accepted(name)
            )
        } else {
            format!(
                "the second client, connected while the first held the only slot \
                 (--max-connections 1), got nothing within {PATIENCE:?}: it should be told \
                 b'Busy, try later.' at once. Does the server wait for a permit before \
                 `accept`, as step 8 does? Then new clients wait in the backlog instead"
            )
        }
    }
}

exercise!(many_3_shed_load, super::shed_load::check);
