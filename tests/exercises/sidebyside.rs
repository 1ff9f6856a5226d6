//! The exercises of "Side by side with tcp.py" (src/side-by-side.md):
//! messages printed with Python's `repr` of bytes, quotes and all; and
//! errors told in the words of the last line of `tcp.py`'s traceback.
//!
//! Python is the reference in both: each check runs python3 and compares
//! what the program under test prints with what Python prints for the same
//! bytes, or what `tcp.py` prints for the same failure. The error numbers
//! and their words are Linux's, so these run on Linux only.
#![cfg(target_os = "linux")]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener};
use std::path::Path;
use std::process::Command;
use std::thread;

use book_tests::{
    Finished, Output, PATIENCE, Server, closed_port, python, reset, run_command, tcp_py,
};
use listings::protocol::REPLY;

use super::support::{
    connect, failed, next_message, one_error_line, run_program, start_server, wait_for_line,
};

// ---------------------------------------------------------------------------
// 1. Bytes as Python prints them
// ---------------------------------------------------------------------------

/// The messages the check sends, 16 bytes each as the server reads them:
/// every byte value from 0 to 255, in order, 16 to a message (the quotes,
/// the backslash, the control characters, 0x7f and the bytes above it
/// among them), then messages that make Python choose its quote.
fn messages() -> Vec<Vec<u8>> {
    let mut messages: Vec<Vec<u8>> = (0..=255u8)
        .collect::<Vec<u8>>()
        .chunks(16)
        .map(<[u8]>::to_vec)
        .collect();
    messages.extend(
        [
            &b"it's one quote.."[..], // a ' and no ": Python puts it in "
            b"say \"hi\", then..",    // a " and no ': in ', the " as it is
            b"it's \"both\" now.",    // both: in ', the ' escaped
            b"'\\\t\n\r\x00\x1f\x7f\x80\xff end!!",
            b"Hi there, server", // plain text, as every client sends
        ]
        .map(<[u8]>::to_vec),
    );
    assert!(messages.iter().all(|message| message.len() == 16));
    messages
}

/// What Python's `repr` shows for each of `messages`, one line each: the
/// reference, from python3 itself.
fn python_reprs(messages: &[Vec<u8>]) -> Result<Vec<String>, String> {
    let mut command = Command::new(python());
    command.args([
        "-c",
        "import sys\nfor text in sys.argv[1:]:\n    print(repr(bytes.fromhex(text)))",
    ]);
    for message in messages {
        let hex: String = message.iter().map(|byte| format!("{byte:02x}")).collect();
        command.arg(hex);
    }
    let python = run_command(command, Output::Apart)?;
    let lines: Vec<String> = python.stdout.lines().map(str::to_owned).collect();
    if python.code() != Some(0) || lines.len() != messages.len() {
        return Err(format!(
            "python3 did not print one repr per message: {python:?}"
        ));
    }
    Ok(lines)
}

fn python_repr(program: &Path) -> Result<(), String> {
    let messages = messages();
    let expected = python_reprs(&messages)?;
    let mut server = start_server(program)?;
    for (message, python) in messages.iter().zip(&expected) {
        let mut sock = connect(server.address)?;
        sock.write_all(message)
            .map_err(failed("sending a message to the server"))?;
        let printed = next_message(&mut server)?;
        if printed != *python {
            return Err(format!(
                "for the 16 bytes {python}, the server printed `  message from client: \
                 {printed}` where Python prints `{python}`"
            ));
        }
        let mut reply = Vec::new();
        sock.read_to_end(&mut reply)
            .map_err(failed("receiving the reply"))?;
        if reply != REPLY {
            return Err(format!(
                "after printing {printed} the server answered {:?}, not `Goodbye, client!`",
                reply.escape_ascii().to_string()
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// 2. Errors in tcp.py's words
// ---------------------------------------------------------------------------

/// `tcp.py args...`, run to its end.
fn run_tcp_py(args: &[&str]) -> Result<Finished, String> {
    let mut command = Command::new(python());
    command.arg(tcp_py()).args(args);
    run_command(command, Output::Apart)
}

/// The last line of the traceback with which `tcp.py` failed (`what` says
/// where); Python ends an uncaught exception with exit code 1.
fn exception_of(run: &Finished, what: &str) -> Result<String, String> {
    match run.stderr.lines().last() {
        Some(line) if run.code() == Some(1) => Ok(line.to_owned()),
        _ => Err(format!(
            "tcp.py {what} should have failed with a traceback and exit code 1: {run:?}"
        )),
    }
}

/// Checks that the line the program printed for a failure, after the
/// words the scaffolding puts first (`prefix`), is the last line of
/// `tcp.py`'s traceback for the same failure.
fn same_words(line: &str, prefix: &str, python_line: &str, what: &str) -> Result<(), String> {
    match line.strip_prefix(prefix) {
        Some(rest) if rest == python_line => Ok(()),
        _ => Err(format!(
            "{what}, tcp.py ends with `{python_line}`; the line should be `{prefix}{python_line}`, \
             but it was `{line}`"
        )),
    }
}

/// How the check's one-client server treats its client, once it has read
/// the 16-byte request.
#[derive(Clone, Copy)]
enum Fault {
    /// Sends 5 bytes of the reply and closes: an end of file too early.
    HangsUpEarly,
    /// Closes with a reset (`SO_LINGER` 0) instead of answering.
    Resets,
}

/// A server of the check's own for one client, on a free port of
/// 127.0.0.1, that fails the client as `fault` says.
fn faulty_server(fault: Fault) -> Result<SocketAddr, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(failed("bind 127.0.0.1:0"))?;
    let address = listener.local_addr().map_err(failed("the bound address"))?;
    // Not joined: a client that never connects would leave it in `accept`
    // until the tests end.
    thread::spawn(move || {
        let Ok((mut conn, _)) = listener.accept() else {
            return;
        };
        let _ = conn.set_read_timeout(Some(PATIENCE));
        // The whole request first: closing with unread bytes would reset
        // the connection in every case.
        let mut request = [0; 16];
        if conn.read_exact(&mut request).is_err() {
            return;
        }
        match fault {
            Fault::HangsUpEarly => {
                let _ = conn.write_all(&REPLY[..5]);
            }
            Fault::Resets => reset(conn),
        }
    });
    Ok(address)
}

/// `tcp.py`'s client and the program's, each against a fresh server of
/// its own that `fault` makes fail: the program's one error line must end
/// with `tcp.py`'s last line.
fn clients_against(program: &Path, fault: Fault, what: &str) -> Result<(), String> {
    let python_server = faulty_server(fault)?;
    let python_run = run_tcp_py(&["client", "-p", &python_server.port().to_string()])?;
    let python_line = exception_of(&python_run, &format!("client, {what}"))?;

    let server = faulty_server(fault)?;
    let run = run_program(program, &["client", "-p", &server.port().to_string()])?;
    let line = one_error_line(&run, &format!("the client, {what},"))?;
    same_words(
        line,
        &format!("error: client talking to {server}: "),
        &python_line,
        &format!("the client, {what}"),
    )
}

fn python_errors(program: &Path) -> Result<(), String> {
    // Nothing listens: a refusal, an OS error with a class of its own.
    let closed = closed_port();
    let port = closed.port().to_string();
    let what = "with nothing listening on its port";
    let python_line = exception_of(
        &run_tcp_py(&["client", "-p", &port])?,
        &format!("client, {what}"),
    )?;
    let run = run_program(program, &["client", "-p", &port])?;
    let line = one_error_line(&run, &format!("the client, {what},"))?;
    same_words(
        line,
        &format!("error: client talking to 127.0.0.1:{port}: "),
        &python_line,
        &format!("the client, {what}"),
    )?;

    // A reset: another class, chosen by another error number.
    clients_against(
        program,
        Fault::Resets,
        "whose server resets the connection instead of answering",
    )?;

    // An end of file too early: no OS error at all, but recvall's own, and
    // tcp.py's `EOFError`.
    clients_against(
        program,
        Fault::HangsUpEarly,
        "whose server sends `Goodb` and closes",
    )?;

    // The port taken: an OS error that Python has no class for.
    let taken = TcpListener::bind("127.0.0.1:0").map_err(failed("bind 127.0.0.1:0"))?;
    let address = taken.local_addr().map_err(failed("the bound address"))?;
    let port = address.port().to_string();
    let what = "given a port another socket listens on";
    let python_line = exception_of(
        &run_tcp_py(&["server", "-p", &port])?,
        &format!("server, {what}"),
    )?;
    let run = run_program(program, &["server", "-p", &port])?;
    let line = one_error_line(&run, &format!("the server, {what},"))?;
    same_words(
        line,
        &format!("error: server at {address}: "),
        &python_line,
        &format!("the server, {what}"),
    )?;

    // A client that hangs up after 5 bytes: tcp.py's server dies of it;
    // the program's prints its line and goes on.
    let what = "when a client sends `Hi th` and hangs up";
    let mut command = Command::new(python());
    command.arg(tcp_py()).args(["server", "-p", "0"]);
    let python_server = Server::start_command(command, Output::Apart)?;
    hang_up_early(python_server.address)?;
    let python_line = exception_of(&python_server.wait_for_exit(), &format!("server, {what}"))?;

    let mut server = start_server(program)?;
    let peer = hang_up_early(server.address)?;
    let prefix = format!("error: connection from {peer}: ");
    let (line, _) = wait_for_line(&mut server, "error line about the connection", |line| {
        line.starts_with("error:")
    })?;
    same_words(&line, &prefix, &python_line, &format!("the server, {what}"))
}

/// Connects to the server at `address`, sends 5 bytes of the request and
/// ends its sending side, so that the server reads an end of file; returns the connection's own address, which the server names.
fn hang_up_early(address: SocketAddr) -> Result<SocketAddr, String> {
    let mut sock = connect(address)?;
    let name = sock.local_addr().map_err(failed("the client's address"))?;
    sock.write_all(b"Hi th")
        .map_err(failed("sending 5 bytes"))?;
    sock.shutdown(Shutdown::Write)
        .map_err(failed("closing the sending side"))?;
    Ok(name)
}

exercise!(sidebyside_1_python_repr, super::python_repr);
exercise!(sidebyside_2_python_errors, super::python_errors);
