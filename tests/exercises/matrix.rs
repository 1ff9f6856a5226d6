//! The exercises of "Every program against every fault"
//! (src/behaviour-matrix.md): a new row, a client that sends half of its
//! request and then nothing with the connection left open; and step 5's
//! server made to serve the next client meanwhile, on one thread.
//!
//! They read the kernel's table of connections and count a server's
//! threads in /proc, so they run on Linux only.
#![cfg(target_os = "linux")]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};

use book_tests::{Output, PATIENCE, Server, bin, reset, still_open};
use listings::lines_of;
use listings::protocol::{
    ASSIGNED, REPLY, REQUEST, WAITING, accepted, connection_error, deadline_passed, repr,
};
use wait_timeout::ChildExt;

use super::support::{
    self, connect, failed, next_line_until, next_message, run_program, start_server,
};

// ---------------------------------------------------------------------------
// 1. A new row: half a request, then silence
// ---------------------------------------------------------------------------

/// What the fault sends: the request's first 8 bytes, `Hi there`.
const HALF: &[u8] = b"Hi there";

/// The line the fault prints once it has sent them.
fn sent_line() -> String {
    format!(
        "Sent {}, {} of the 16 bytes; now saying nothing",
        repr(HALF),
        HALF.len()
    )
}

/// The fault's last line, `After 5.0 s the server closed the connection; it
/// sent b''`, taken apart: how the server ended the connection (`closed` or
/// `reset`) and what it had sent, as `repr` shows it. `None` for a line of
/// another form.
fn ending(line: &str) -> Option<(&str, &str)> {
    let (seconds, rest) = line.strip_prefix("After ")?.split_once(" s the server ")?;
    seconds.parse::<f64>().ok()?;
    rest.split_once(" the connection; it sent ")
}

/// The last line the fault should print when the server `how` the
/// connection after sending `sent`, for messages.
fn ending_line(how: &str, sent: &[u8]) -> String {
    format!(
        "After N.N s the server {how} the connection; it sent {}",
        repr(sent)
    )
}

/// The client address in the fault's first line.
fn assigned(line: &str) -> Result<SocketAddr, String> {
    line.strip_prefix(ASSIGNED)
        .and_then(|address| address.parse().ok())
        .ok_or_else(|| {
            format!("the fault's first line should be `{ASSIGNED}ADDRESS`; it was {line:?}")
        })
}

/// The fault, running against 127.0.0.1:`port`, its lines read as they
/// come; killed when dropped.
struct Fault {
    child: Child,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    said: Vec<String>,
}

impl Fault {
    fn start(program: &Path, port: u16) -> Result<Fault, String> {
        let mut child = Command::new(program)
            .args(["fault", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(failed("cannot start the fault"))?;
        let stdout = lines_of(child.stdout.take().expect("piped"));
        let stderr = lines_of(child.stderr.take().expect("piped"));
        Ok(Fault {
            child,
            stdout,
            stderr,
            said: Vec::new(),
        })
    }

    /// The fault's next line; `what` says which, for the error when none
    /// comes.
    fn next_line(&mut self, what: &str) -> Result<String, String> {
        match self.stdout.recv_timeout(PATIENCE) {
            Ok(line) => {
                self.said.push(line.clone());
                Ok(line)
            }
            Err(RecvTimeoutError::Timeout) => Err(format!(
                "the fault printed no {what}: it printed {:?}, then nothing within {PATIENCE:?}",
                self.said
            )),
            Err(RecvTimeoutError::Disconnected) => {
                let end = self.end();
                Err(format!(
                    "the fault printed no {what}: it printed {:?}, then {end}",
                    self.said
                ))
            }
        }
    }

    /// How the fault ended, with its standard error, in words.
    fn end(&mut self) -> String {
        match self.wait() {
            Some(status) => {
                let stderr: Vec<String> = self.stderr.iter().collect();
                format!("it ended ({status}); its stderr: {stderr:?}")
            }
            None => format!("it closed its output but was still running after {PATIENCE:?}"),
        }
    }

    /// Its exit status, once it has exited; `None` if it is still running
    /// after [`PATIENCE`].
    fn wait(&mut self) -> Option<ExitStatus> {
        self.child.wait_timeout(PATIENCE).ok().flatten()
    }

    /// Waits for the fault to exit, which it must do with status 0.
    fn finish(mut self) -> Result<(), String> {
        match self.wait() {
            Some(status) if status.success() => Ok(()),
            _ => Err(format!(
                "the fault should then exit with status 0, but {}",
                self.end()
            )),
        }
    }
}

impl Drop for Fault {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Everything the fault has sent on `conn`, and whether it has closed its
/// side: its first 8 bytes, however long they take to come, then whatever
/// else is there by now. (Called once the fault has said that it has sent
/// them: on loopback, what a `write` sent is in the receiving socket when
/// the `write` returns.)
fn what_came(conn: &mut TcpStream) -> Result<(Vec<u8>, bool), String> {
    conn.set_read_timeout(Some(PATIENCE))
        .map_err(failed("a read timeout"))?;
    let mut came = Vec::new();
    let mut buffer = [0; 4096];
    loop {
        let enough = came.len() >= HALF.len();
        conn.set_nonblocking(enough)
            .map_err(failed("a non-blocking read"))?;
        match conn.read(&mut buffer) {
            Ok(0) => return Ok((came, true)),
            Ok(more) => came.extend_from_slice(&buffer[..more]),
            Err(error) if error.kind() == ErrorKind::WouldBlock && enough => {
                return Ok((came, false));
            }
            Err(error) if error.kind() == ErrorKind::WouldBlock => {
                return Err(format!(
                    "the check's server received only {} from the fault within {PATIENCE:?}; \
                     the fault sends {}, the request's first {} bytes",
                    repr(&came),
                    repr(HALF),
                    HALF.len()
                ));
            }
            Err(error) => {
                return Err(format!(
                    "the check's server, reading what the fault sent: {error} (a reset: did the \
                     fault close its socket with SO_LINGER 0?)"
                ));
            }
        }
    }
}

/// The fault against a server of the check's own, which looks at what
/// arrives: 8 bytes and nothing more, the connection still open. Then it
/// sends `Good` and closes, and the fault must say so.
fn on_the_wire(program: &Path) -> Result<(), String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(failed("a listener of the check's own"))?;
    let port = listener
        .local_addr()
        .map_err(failed("the listener's address"))?
        .port();
    let mut fault = Fault::start(program, port)?;
    let name = assigned(&fault.next_line("first line")?)?;
    // It has connected, so its connection is in the listener's queue.
    let (mut conn, peer) = listener
        .accept()
        .map_err(failed("accepting the fault's connection"))?;
    if peer != name {
        return Err(format!(
            "the fault said it connected from {name}, but the check's server was reached \
             from {peer}"
        ));
    }
    let line = fault.next_line("line after sending its bytes")?;
    if line != sent_line() {
        return Err(format!(
            "once it has sent its bytes, the fault should print {:?}; it printed {line:?}",
            sent_line()
        ));
    }
    let (came, closed) = what_came(&mut conn)?;
    if came.len() > HALF.len() && came.starts_with(HALF) {
        return Err(format!(
            "the fault sent {} and more, {}: it must send only the first {} bytes of the \
             request and then nothing",
            repr(HALF),
            repr(&came),
            HALF.len()
        ));
    }
    if came != HALF {
        return Err(format!(
            "the check's server received {}; the fault sends {}, the request's first {} bytes",
            repr(&came),
            repr(HALF),
            HALF.len()
        ));
    }
    if closed {
        return Err(format!(
            "the fault closed its side of the connection after its {} bytes (the check's \
             server read the end of the stream): that is the matrix's row \"sends 5 bytes and \
             closes\" again. This fault keeps the connection open, sends nothing more, and \
             waits for the server",
            HALF.len()
        ));
    }
    // The check's server now does what steps 1 to 3 do, with a short reply:
    // answers, and closes.
    conn.write_all(b"Good")
        .map_err(failed("the check's server, answering"))?;
    drop(conn);
    let last = fault.next_line("line about how the server ended the connection")?;
    if ending(&last) != Some(("closed", &repr(b"Good"))) {
        return Err(format!(
            "after the check's server sent b'Good' and closed, the fault should print \
             `{}`; it printed {last:?}",
            ending_line("closed", b"Good")
        ));
    }
    fault.finish()
}

/// The row's cell for step 1: it takes the 8 bytes for the whole message,
/// prints them with zeros for the rest, replies and closes.
fn against_step1(program: &Path) -> Result<(), String> {
    let mut server = Server::start(bin("step1"), ["server", "-p", "0"]);
    let fault = run_program(program, &["fault", "-p", &server.port()])?;
    let mut padded = HALF.to_vec();
    padded.resize(16, 0);
    let shown = next_message(&mut server)?;
    if shown != repr(&padded) {
        return Err(format!(
            "step 1's one `read` should get the fault's {} bytes and print {}; it printed \
             {shown} (are the bytes sent with one write?)",
            HALF.len(),
            repr(&padded)
        ));
    }
    let last = fault.stdout.lines().last().unwrap_or_default();
    if fault.code() != Some(0) || ending(last) != Some(("closed", &repr(REPLY))) {
        return Err(format!(
            "against step 1, which replies to half a message and closes, the fault should \
             end with `{}` and exit 0; it exited {:?}, stdout {:?}, stderr {:?}",
            ending_line("closed", REPLY),
            fault.code(),
            fault.stdout,
            fault.stderr
        ));
    }
    Ok(())
}

/// The row's cell for step 6, with a deadline of one second: it gives up on
/// the fault at the deadline and reports it, having received 8 bytes.
fn against_step6(program: &Path) -> Result<(), String> {
    let mut command = Command::new(bin("step6"));
    command.args(["server", "-p", "0", "--timeout", "1"]);
    let mut server = Server::start_command(command, Output::Merged)?;
    let fault = run_program(program, &["fault", "-p", &server.port()])?;
    let name = assigned(fault.stdout.lines().next().unwrap_or_default())?;
    let report = next_line_until(&mut server, |line| {
        line.starts_with(&connection_error(name, ""))
    })?;
    let expected = connection_error(name, &deadline_passed(16, HALF.len()));
    if report != expected {
        return Err(format!(
            "step 6 (--timeout 1) should give up on the fault at its deadline, having \
             received {} bytes, and print {expected:?}; it printed {report:?}",
            HALF.len()
        ));
    }
    let last = fault.stdout.lines().last().unwrap_or_default();
    if fault.code() != Some(0) || ending(last) != Some(("closed", "b''")) {
        return Err(format!(
            "against step 6, which closes the connection at its deadline without a reply, the \
             fault should end with `{}` and exit 0; it exited {:?}, stdout {:?}, stderr {:?}",
            ending_line("closed", b""),
            fault.code(),
            fault.stdout,
            fault.stderr
        ));
    }
    Ok(())
}

fn half_request(program: &Path) -> Result<(), String> {
    on_the_wire(program)?;
    against_step1(program)?;
    against_step6(program)
}

// ---------------------------------------------------------------------------
// 2. The next client served meanwhile, on one thread
// ---------------------------------------------------------------------------

/// What the server said about the connection from `name`, if it reported
/// an error for it, among the lines read so far.
fn report_about(server: &Server, name: SocketAddr) -> Option<String> {
    let prefix = connection_error(name, "");
    server
        .stdout
        .iter()
        .find(|line| line.starts_with(&prefix))
        .cloned()
}

/// If the server has ended: that, in words, with its last lines (which
/// hold the panic of a `todo!()`).
fn ended(server: &mut Server) -> Option<String> {
    if server.is_running() {
        return None;
    }
    while server.next_stdout_line_or_end().is_some() {}
    let last = &server.stdout[server.stdout.len().saturating_sub(3)..];
    Some(format!("the server ended; its last lines: {last:?}"))
}

/// A connection to the server, once the server has said it accepted it;
/// `what` names the client in the error.
fn accepted_client(server: &mut Server, what: &str) -> Result<(TcpStream, SocketAddr), String> {
    let conn = connect(server.address).map_err(|why| ended(server).unwrap_or(why))?;
    let name = conn.local_addr().map_err(failed("the client's address"))?;
    next_line_until(server, |line| line == accepted(name))
        .map_err(|why| format!("the server never accepted {what} ({name}): {why}"))?;
    Ok((conn, name))
}

/// Waits until the server has read everything the client `name` sent it;
/// if it closed the connection instead, or ended, says how.
fn wait_until_read(server: &mut Server, name: SocketAddr) -> Result<(), String> {
    support::wait_until_read(server.address, name).map_err(|why| {
        ended(server)
            .or_else(|| report_about(server, name).map(|line| format!("{why}: {line:?}")))
            .unwrap_or(why)
    })
}

/// How a client that breaks off leaves.
enum Leaving {
    Close,
    Reset,
}

/// A client that sends `sent` and leaves: the server must report it, as
/// step 5 does, and go on.
fn breaks_off(
    server: &mut Server,
    what: &str,
    sent: &[u8],
    leaving: Leaving,
) -> Result<(), String> {
    let (mut conn, name) = accepted_client(server, what)?;
    conn.write_all(sent)
        .map_err(failed("a client that breaks off, sending"))?;
    match leaving {
        Leaving::Close => drop(conn),
        Leaving::Reset => reset(conn),
    }
    next_line_until(server, |line| line.starts_with(&connection_error(name, ""))).map_err(
        |why| {
            format!(
                "the server should report {what} ({name}) as step 5 does, with a line \
                 `error: connection from {name}: ...`, and go on (a `read` that returns 0 \
                 bytes means that the client has closed: nothing more will come); {why}"
            )
        },
    )?;
    Ok(())
}

/// Sends `request` on `conn` and reads the reply, which must be step 5's.
fn exchange(conn: &mut TcpStream, request: &[u8]) -> Result<(), String> {
    conn.write_all(request)
        .map_err(|e| format!("sending {}: {e}", repr(request)))?;
    let mut reply = [0; 16];
    conn.read_exact(&mut reply)
        .map_err(|e| format!("reading the reply: {e}"))?;
    if &reply != REPLY {
        return Err(format!("the reply was {}", repr(&reply)));
    }
    Ok(())
}

/// Checks that the client `whose` conversation is done, having had its
/// reply, reads the end of the stream next, and that the server printed
/// its message as step 5 does.
fn finished(server: &mut Server, conn: &mut TcpStream, whose: &str) -> Result<(), String> {
    let closed = match conn.read(&mut [0; 1]) {
        Ok(0) => Ok(()),
        Ok(_) => Err("the server sent more".to_owned()),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Err(format!(
            "the connection was still open {PATIENCE:?} later: once the whole reply has gone, \
             `advance` returns `true`, and the loop closes the conversation"
        )),
        Err(e) => Err(e.to_string()),
    };
    closed.map_err(|why| format!("{whose} got its reply, and then: {why}"))?;
    let shown = next_message(server)?;
    if shown != repr(REQUEST) {
        return Err(format!(
            "{whose} got its reply, but the server printed `  message from client: {shown}`; \
             step 5 prints {} for it, once all 16 bytes are in",
            repr(REQUEST)
        ));
    }
    Ok(())
}

fn one_thread(program: &Path) -> Result<(), String> {
    let mut server = start_server(program)?;
    next_line_until(&mut server, |line| line == WAITING)?;

    // Two clients that step 5 would wait for, each for as long as it likes.
    let (silent, silent_name) = accepted_client(&mut server, "a client that says nothing")?;
    let (mut half, half_name) = match accepted_client(
        &mut server,
        "a second client while a first was connected and saying nothing",
    ) {
        Ok(accepted) => accepted,
        // A server that has ended says why in its last lines, which `why`
        // holds (its output closed, it may not quite have exited yet).
        Err(why) if why.contains("the server ended") => return Err(why),
        Err(why) => {
            return Err(format!(
                "{why} (a `read` on a blocking socket waits for the first client; on Linux an \
                 accepted socket does not inherit non-blocking mode from the listener)"
            ));
        }
    };
    half.write_all(&REQUEST[..8])
        .map_err(failed("the second client, sending 8 bytes"))?;
    wait_until_read(&mut server, half_name).map_err(|why| {
        format!(
            "the server should read the 8 bytes the second client sent while the first says \
             nothing; {why} (`WouldBlock` from a non-blocking `read` means that nothing has \
             come yet, not an error)"
        )
    })?;

    // Clients that break off, as in the matrix's rows.
    breaks_off(
        &mut server,
        "a client that closes at once",
        b"",
        Leaving::Close,
    )?;
    breaks_off(
        &mut server,
        "a client that sends 5 bytes and closes",
        &REQUEST[..5],
        Leaving::Close,
    )?;
    breaks_off(
        &mut server,
        "a client that sends 3 bytes and resets the connection",
        &REQUEST[..3],
        Leaving::Reset,
    )?;

    // The rest of the second client's request, and its reply.
    if let Err(why) = exchange(&mut half, &REQUEST[8..]) {
        let report = report_about(&server, half_name)
            .map(|line| format!(" The server printed {line:?}."))
            .unwrap_or_default();
        return Err(format!(
            "the client that sent its request in two halves, other clients coming and going \
             in between, should get the reply: {why}.{report} (Its conversation must remember \
             the bytes that came in one call of `advance` for the next; `WouldBlock` from a \
             non-blocking `read` means that nothing has come yet, not an error.)"
        ));
    }
    finished(
        &mut server,
        &mut half,
        "the client that sent its request in two halves",
    )?;
    // A client that sends its whole request at once.
    let mut whole = connect(server.address)?;
    exchange(&mut whole, REQUEST).map_err(|why| {
        format!("a client that sent its whole request while one still said nothing: {why}")
    })?;
    finished(
        &mut server,
        &mut whole,
        "a client that sent its whole request",
    )?;

    let threads = server.threads();
    if threads != 1 {
        return Err(format!(
            "the server runs {threads} threads: this exercise serves every client on one \
             thread (a thread for each is step 6)"
        ));
    }
    // Nothing ever drops the silent client: this server has no deadline.
    if !still_open(&silent) {
        let report = report_about(&server, silent_name)
            .map(|line| format!(": it printed {line:?}"))
            .unwrap_or_default();
        return Err(format!(
            "the server closed the client that says nothing{report}. A client that sends \
             nothing yet has done nothing wrong; this server has no deadline (that is step \
             6's), so it keeps it"
        ));
    }
    Ok(())
}

exercise!(matrix_1_half_request, super::half_request);
exercise!(matrix_2_one_thread, super::one_thread);
