//! Helpers shared by the checks of every chapter. The program under test
//! may do anything, so they return `Err` where the support library's own
//! helpers, made for the book's trusted programs, panic.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::Instant;

use book_tests::{Finished, Output, PATIENCE, Server, run_command, unread_bytes};
use listings::protocol::{INCOMING, REPLY, WAITING, server_said};

/// `program args...` started, once it has said where it listens.
pub(crate) fn start(program: &Path, args: &[&str], output: Output) -> Result<Server, String> {
    let mut command = Command::new(program);
    command.args(args);
    Server::start_command(command, output)
}

/// `program args...` started, once it has said where it listens and that
/// it is waiting for a connection.
pub(crate) fn start_waiting(
    program: &Path,
    args: &[&str],
    output: Output,
) -> Result<Server, String> {
    let mut server = start(program, args, output)?;
    next_line_until(&mut server, |line| line == WAITING)?;
    Ok(server)
}

/// `program` started as a server on a free port, its stderr merged into its
/// stdout: an error comes in order among its other lines.
pub(crate) fn start_server(program: &Path) -> Result<Server, String> {
    start(program, &["server", "-p", "0"], Output::Merged)
}

/// `program args...` run to its end.
pub(crate) fn run_program(program: &Path, args: &[&str]) -> Result<Finished, String> {
    let mut command = Command::new(program);
    command.args(args);
    run_command(command, Output::Apart)
}

/// Turns an I/O error of the test's own side into the reason a check fails.
pub(crate) fn failed(what: &str) -> impl Fn(io::Error) -> String + '_ {
    move |error| format!("{what}: {error}")
}

/// Reads the server's lines until one that `wanted` accepts, and returns it
/// with the lines before it; `what` names the line in the error when none
/// comes within [`PATIENCE`] or the server ends first.
pub(crate) fn wait_for_line(
    server: &mut Server,
    what: &str,
    wanted: impl Fn(&str) -> bool,
) -> Result<(String, Vec<String>), String> {
    let mut before = Vec::new();
    loop {
        let asked = Instant::now();
        match server.next_stdout_line_within(PATIENCE) {
            Some(line) if wanted(&line) => return Ok((line, before)),
            Some(line) => before.push(line),
            None => {
                let then = if has_ended(server, asked) {
                    "it ended".to_owned()
                } else {
                    format!("nothing more within {PATIENCE:?}")
                };
                return Err(format!(
                    "the server printed no {what}: it printed {before:?}, then {then}"
                ));
            }
        }
    }
}

/// The message the server prints next, `b'...'`, from its line
/// `  message from client: b'...'`.
pub(crate) fn next_message(server: &mut Server) -> Result<String, String> {
    let (line, _) = wait_for_line(server, "`message from client` line", |line| {
        line.starts_with(INCOMING)
    })?;
    Ok(line[INCOMING.len()..].to_owned())
}

/// Checks that a client run (`what` says which) ended well, its last line
/// the server's reply.
pub(crate) fn expect_reply(client: &Finished, what: &str) -> Result<(), String> {
    let last = format!("{}\n", server_said(REPLY));
    if client.code() == Some(0) && client.stdout.ends_with(&last) {
        Ok(())
    } else {
        Err(format!(
            "{what} did not end with `{}`: exit {:?}, stdout {:?}, stderr {:?}",
            last.trim_end(),
            client.code(),
            client.stdout,
            client.stderr
        ))
    }
}

/// The one line a failed run printed on stderr, if it failed with exit
/// code 1 and said why in one line, without a panic.
pub(crate) fn one_error_line<'a>(run: &'a Finished, what: &str) -> Result<&'a str, String> {
    let lines: Vec<&str> = run.stderr.lines().collect();
    match lines[..] {
        [line] if run.code() == Some(1) && !line.contains("panicked") => Ok(line),
        _ => Err(format!(
            "{what} should fail with one line on stderr and exit code 1; it exited {:?}, \
             stdout {:?}, stderr {:?}",
            run.code(),
            run.stdout,
            run.stderr
        )),
    }
}

/// Connects to the server at `address`, with a read timeout so that a
/// server that never answers fails the check instead of hanging it.
pub(crate) fn connect(address: SocketAddr) -> Result<TcpStream, String> {
    let sock = TcpStream::connect(address).map_err(failed("cannot connect to the server"))?;
    sock.set_read_timeout(Some(PATIENCE))
        .map_err(failed("a read timeout"))?;
    // Each write of the check leaves at once, as a segment of its own.
    sock.set_nodelay(true).map_err(failed("TCP_NODELAY"))?;
    Ok(sock)
}

/// Waits until the server has read everything `client` sent it: nothing is
/// left unread in the kernel's receive queue of the server's end. Fails at
/// once if that end is gone from the kernel's table: the server has closed
/// the connection (a close with bytes unread is a reset, which takes it out
/// at once).
pub(crate) fn wait_until_read(server: SocketAddr, client: SocketAddr) -> Result<(), String> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match unread_bytes(server, client) {
            Some(0) => return Ok(()),
            None => return Err("the server closed the connection".to_owned()),
            Some(_) if Instant::now() > deadline => {
                return Err(format!(
                    "the server never read what the check sent it within {PATIENCE:?}"
                ));
            }
            Some(_) => thread::yield_now(),
        }
    }
}

/// Whether the server has ended, once a wait for its next line that began
/// at `asked` has come back without one. Back before [`PATIENCE`], the wait
/// found the server's output closed, as a program's is when it exits: it
/// may not have quite finished exiting yet.
fn has_ended(server: &mut Server, asked: Instant) -> bool {
    asked.elapsed() < PATIENCE || !server.is_running()
}

/// Why a server gave no line it was waited for: still running but quiet, or
/// ended, with the last lines it printed.
pub(crate) fn silence(server: &mut Server) -> String {
    let ended = !server.is_running();
    described_silence(server, ended)
}

fn described_silence(server: &Server, ended: bool) -> String {
    let last = server.stdout[server.stdout.len().saturating_sub(3)..].to_vec();
    if ended {
        format!("the server ended; its last lines: {last:?}")
    } else {
        format!("the server printed nothing more within {PATIENCE:?}; its last lines: {last:?}")
    }
}

/// The server's next line, within [`PATIENCE`].
pub(crate) fn next_line(server: &mut Server) -> Result<String, String> {
    let asked = Instant::now();
    match server.next_stdout_line_within(PATIENCE) {
        Some(line) => Ok(line),
        None if has_ended(server, asked) => Err(described_silence(server, true)),
        None => Err(silence(server)),
    }
}

/// The server's next line that `wanted` accepts, skipping others.
pub(crate) fn next_line_until(
    server: &mut Server,
    wanted: impl Fn(&str) -> bool,
) -> Result<String, String> {
    loop {
        let line = next_line(server)?;
        if wanted(&line) {
            return Ok(line);
        }
    }
}

/// Waits for the server's next line that starts with `prefix` (or reports
/// an error), and checks that it is `expected`.
pub(crate) fn expect_line(server: &mut Server, prefix: &str, expected: &str) -> Result<(), String> {
    let line = next_line_until(server, |line| {
        line.starts_with(prefix) || line.starts_with("error: ")
    })?;
    if line != expected {
        return Err(format!(
            "the server printed {line:?}, where {expected:?} was expected"
        ));
    }
    Ok(())
}

/// The server's lines before the first that `wanted` accepts.
pub(crate) fn lines_until(
    server: &mut Server,
    wanted: impl Fn(&str) -> bool,
) -> Result<Vec<String>, String> {
    let mut before = Vec::new();
    loop {
        let line = next_line(server)?;
        if wanted(&line) {
            return Ok(before);
        }
        before.push(line);
    }
}

/// `why` a check failed, with the last lines the server wrote on standard
/// error (or, its output merged, the last it printed), a panic's message
/// among them: read once the server has stopped. SIGKILL stops it at once,
/// whatever it is waiting for; what it wrote before is in the pipe already.
pub(crate) fn with_last_words(why: String, mut server: Server) -> String {
    server.kill();
    let mut printed = server.stdout.join("\n");
    let ended = server.wait_for_exit();
    printed.push('\n');
    printed.push_str(&ended.stdout);
    let (text, whose) = if ended.stderr.is_empty() {
        (&printed, "last lines")
    } else {
        (&ended.stderr, "last lines on standard error")
    };
    let lines: Vec<&str> = text.lines().filter(|line| !line.is_empty()).collect();
    let last = &lines[lines.len().saturating_sub(3)..];
    format!("{why}; the server's {whose}: {last:?}")
}
