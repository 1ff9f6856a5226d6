//! The exercises of "Step 5: the listening socket, built by hand"
//! (src/step5-reuseaddr.md): `SO_REUSEADDR` left off and what a restart
//! then meets, and a backlog of your choice, measured by a probe.
//!
//! Linux's rules (other systems differ), so these run on Linux only.
#![cfg(target_os = "linux")]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use book_tests::{Output, PATIENCE, Server, run_command, ss, tcp_table_row};
use listings::protocol::{REPLY, REQUEST, WAITING, accepted};

use super::support::{next_line, start};

/// `/proc/net/tcp`'s number for TIME_WAIT.
const TIME_WAIT: &str = "06";

/// Reads the server's lines until `line`.
fn wait_for(server: &mut Server, line: &str) -> Result<(), String> {
    while next_line(server)? != line {}
    Ok(())
}

/// One exchange in which the server closes first: the client reads to the
/// end of the stream before it closes, so the server's end of the
/// connection is the one left in TIME_WAIT, every time. Waits until it is.
fn leave_time_wait(server: &Server) -> Result<(), String> {
    let failed = |e: std::io::Error| format!("an exchange with the server failed: {e}");
    let mut client = TcpStream::connect(server.address).map_err(failed)?;
    client.set_read_timeout(Some(PATIENCE)).map_err(failed)?;
    let name = client.local_addr().map_err(failed)?;
    client.write_all(REQUEST).map_err(failed)?;
    let mut reply = Vec::new();
    client.read_to_end(&mut reply).map_err(failed)?;
    if reply != REPLY {
        return Err(format!("the server answered {:?}", reply.escape_ascii()));
    }
    drop(client);
    let deadline = Instant::now() + PATIENCE;
    loop {
        match tcp_table_row(server.address, name) {
            Some(row) if row[3] == TIME_WAIT => return Ok(()),
            _ if Instant::now() > deadline => {
                return Err(format!(
                    "the server's end of the connection from {name} never reached TIME_WAIT \
                     (Linux creates none while net.ipv4.tcp_max_tw_buckets of them exist)"
                ));
            }
            _ => std::thread::yield_now(),
        }
    }
}

/// Starts the server with `options`, checks the line about the option,
/// leaves a connection in TIME_WAIT on its port, stops the server, and
/// starts it again on that port with the option on. Returns what the
/// restart did: `Ok` if it listened, `Err` with its error if it did not.
fn restart_after_time_wait(
    program: &Path,
    options: &[&str],
    reported: &str,
) -> Result<Result<(), String>, String> {
    let mut args = vec!["server", "-p", "0"];
    args.extend_from_slice(options);
    let mut server = start(program, &args, Output::Apart)?;
    let line = next_line(&mut server)?;
    if line != reported {
        return Err(format!(
            "server {options:?} printed {line:?} after its first line, \
             where {reported:?} was expected"
        ));
    }
    wait_for(&mut server, WAITING)?;
    leave_time_wait(&server)?;
    let port = server.port();
    drop(server); // killed, as Ctrl-C would: nothing listens on the port now
    Ok(
        match start(program, &["server", "-p", &port], Output::Apart) {
            Ok(_again) => Ok(()),
            Err(why) => Err(why),
        },
    )
}

fn no_reuseaddr(program: &Path) -> Result<(), String> {
    // With the option on (the default), the port comes back at once.
    if let Err(why) = restart_after_time_wait(program, &[], "SO_REUSEADDR is on")? {
        return Err(format!(
            "with SO_REUSEADDR on, the restarted server should listen on the port in \
             TIME_WAIT, but: {why}"
        ));
    }
    // With it off, the connection in TIME_WAIT is marked as not reusable,
    // and even a new server that sets the option cannot bind the port.
    match restart_after_time_wait(program, &["--no-reuseaddr"], "SO_REUSEADDR is off")? {
        Ok(()) => Err(
            "after a server with --no-reuseaddr, a restarted server listened on the port \
             in TIME_WAIT: the option was not off on the first server's socket"
                .to_owned(),
        ),
        Err(why) if why.contains("Address already in use") => Ok(()),
        Err(why) => Err(format!(
            "the restart after --no-reuseaddr failed, but not with \
             \"Address already in use\": {why}"
        )),
    }
}

/// The accept queue (Recv-Q) and the backlog (Send-Q) that `ss` shows for
/// the listener on `port`.
fn listen_queue(port: &str) -> Result<(u32, u32), String> {
    let rows = ss(&["-ltn", &format!("sport = :{port}")]);
    match rows.as_slice() {
        [row] if row.len() >= 3 => match (row[1].parse(), row[2].parse()) {
            (Ok(waiting), Ok(backlog)) => Ok((waiting, backlog)),
            _ => Err(format!("ss printed {row:?}")),
        },
        _ => Err(format!("ss shows no one listener on port {port}: {rows:?}")),
    }
}

/// A server started with `options` whose backlog `ss` shows as `backlog`,
/// busy with a client that says nothing, and the probe against it, which
/// must find `backlog` + 1 connections in its queue.
fn probe_against(program: &Path, options: &[&str], backlog: u32) -> Result<(), String> {
    let mut args = vec!["server", "-p", "0"];
    args.extend_from_slice(options);
    let mut server = start(program, &args, Output::Apart)?;
    wait_for(&mut server, WAITING)?;
    let port = server.port();
    let (_, asked) = listen_queue(&port)?;
    if asked != backlog {
        return Err(format!(
            "server {options:?}: ss shows a backlog of {asked} (Send-Q), not {backlog}: \
             does `listen` get the backlog?"
        ));
    }
    // Accepted, and then waited on forever: the server takes no one else.
    let silent = TcpStream::connect(server.address).map_err(|e| e.to_string())?;
    let name = silent.local_addr().map_err(|e| e.to_string())?;
    wait_for(&mut server, &accepted(name))?;

    let mut probe = Command::new(program);
    probe.args(["client", "-p", &port, "--probe"]);
    let probe = run_command(probe, Output::Apart)?;
    if probe.code() != Some(0) {
        return Err(format!("the probe failed: {probe:?}"));
    }
    let expected = format!("The server's queue took {} connections", backlog + 1);
    match probe.stdout.lines().last() {
        Some(last) if last == expected => Ok(()),
        last => Err(format!(
            "against a server with a backlog of {backlog}, busy with one client, the probe's \
             last line should be {expected:?} (Linux lets backlog + 1 wait); it was {last:?}"
        )),
    }
}

fn backlog(program: &Path) -> Result<(), String> {
    probe_against(program, &["--backlog", "3"], 3)?;
    // Without the option, tcp.py's backlog of 1.
    probe_against(program, &[], 1)
}

exercise!(step5_1_no_reuseaddr, super::no_reuseaddr);
exercise!(step5_2_backlog, super::backlog);
