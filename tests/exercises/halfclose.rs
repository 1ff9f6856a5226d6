//! The exercises of "Closing one direction" (src/half-close.md): a client
//! that sends a file and ends it with a half-close, and a server that
//! closes in two stages, a lingering close.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use book_tests::{Output, PATIENCE, Server, bin, run_command};
use listings::messages::describe;
use listings::protocol::{REPLY, REQUEST};

use super::support::{expect_line, next_line_until, start_waiting, with_last_words};

/// A file of `length` bytes of text in the temporary directory, removed
/// when dropped.
struct TempFile {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl TempFile {
    fn new(length: usize) -> Result<TempFile, String> {
        static NUMBER: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "tcp-book-halfclose-{}-{}.txt",
            std::process::id(),
            NUMBER.fetch_add(1, Ordering::Relaxed)
        ));
        let text = b"a file has no length in it, only an end. ";
        let bytes: Vec<u8> = text.iter().copied().cycle().take(length).collect();
        std::fs::write(&path, &bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(TempFile { path, bytes })
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Runs `program`'s client against `port` with the file.
fn send(program: &Path, port: u16, file: &TempFile) -> Result<book_tests::Finished, String> {
    let mut client = Command::new(program);
    client
        .args(["client", "-p", &port.to_string(), "--file"])
        .arg(&file.path);
    run_command(client, Output::Apart)
}

fn send_file(program: &Path) -> Result<(), String> {
    let file = TempFile::new(200_000)?;
    let upper = file.bytes.to_ascii_uppercase();

    // Against `halfclose`'s own server.
    let mut server = start_waiting(
        &bin("halfclose"),
        &["server", "-p", "0", "--timeout", "60"],
        Output::Merged,
    )?;
    let finished = send(program, server.address.port(), &file)?;
    let expected = [
        format!(
            "Sent 200000 bytes from {}, then shut down writing",
            file.path.display()
        ),
        format!("The server sent back {}", describe(&upper)),
    ];
    let lines: Vec<&str> = finished.stdout.lines().skip(1).collect();
    if finished.code() != Some(0) || lines != expected {
        return Err(format!(
            "against `halfclose server`, the client should print {expected:#?} after its \
             first line, and exit with 0; it printed {:?}, {:?} and ended with {}",
            finished.stdout, finished.stderr, finished.status
        ));
    }
    let line = next_line_until(&mut server, |line| {
        line.starts_with("  Received ") || line.starts_with("error: ")
    })?;
    if line != "  Received 200000 bytes, then end of file" {
        return Err(format!("the `halfclose` server printed {line:?}"));
    }

    // Against a server played here, which checks what it receives and
    // answers one byte short.
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let short = upper[..upper.len() - 1].to_vec();
    let serving = thread::spawn(move || -> Result<Vec<u8>, String> {
        let (mut conn, _) = listener.accept().map_err(|e| e.to_string())?;
        conn.set_read_timeout(Some(PATIENCE))
            .map_err(|e| e.to_string())?;
        let mut message = Vec::new();
        conn.read_to_end(&mut message)
            .map_err(|e| format!("reading the client's message to its end of file: {e}"))?;
        conn.write_all(&short)
            .map_err(|e| format!("the client's socket took no reply after its end of file: {e}"))?;
        Ok(message)
    });
    let finished = send(program, port, &file)?;
    let message = serving
        .join()
        .map_err(|_| "the server played here panicked".to_owned())??;
    if message != file.bytes {
        return Err(format!(
            "the server received {} bytes, which are not the file's {}",
            message.len(),
            file.bytes.len()
        ));
    }
    if finished.code() != Some(1) || !finished.stderr.starts_with("error: ") {
        return Err(format!(
            "given a reply one byte shorter than the file, the client should fail with one \
             error line; it printed {:?}, {:?} and ended with {}",
            finished.stdout, finished.stderr, finished.status
        ));
    }
    Ok(())
}

/// A connection to `server` whose reads and writes give up after
/// [`PATIENCE`].
fn connect(server: &Server) -> Result<TcpStream, String> {
    let failed = |e: std::io::Error| format!("cannot connect to the server: {e}");
    let conn = TcpStream::connect(server.address).map_err(failed)?;
    conn.set_read_timeout(Some(PATIENCE)).map_err(failed)?;
    conn.set_write_timeout(Some(PATIENCE)).map_err(failed)?;
    Ok(conn)
}

/// Waits for the server's line about what it discarded, and checks it.
fn discarded(server: &mut Server, bytes: usize) -> Result<(), String> {
    let expected = format!("  Discarded {bytes} bytes after the message, then end of file");
    expect_line(server, "  Discarded ", &expected)
}

fn lingering_close(program: &Path) -> Result<(), String> {
    let mut server = start_waiting(
        program,
        &["server", "-p", "0", "--timeout", "60"],
        Output::Merged,
    )?;
    three_clients(&mut server).map_err(|why| with_last_words(why, server))
}

/// A client that sends 1 MiB more than its request, one that reads to the
/// end of file before it closes, and step 6's client.
fn three_clients(server: &mut Server) -> Result<(), String> {
    // A client that sends 1 MiB more than the request, then its end of
    // file, and reads the reply to the server's.
    const EXTRA: usize = 1 << 20;
    let mut greedy = connect(server)?;
    let mut sent = REQUEST.to_vec();
    sent.resize(16 + EXTRA, b'x');
    greedy
        .write_all(&sent)
        .and_then(|()| greedy.shutdown(Shutdown::Write))
        .map_err(|e| format!("a client sending 1 MiB more than its request: {e}"))?;
    let mut reply = Vec::new();
    let read = greedy.read_to_end(&mut reply);
    if read.is_err() || reply != REPLY {
        return Err(format!(
            "a client that sent 1 MiB more than its request should read the reply, then \
             the server's end of file; it read b'{}', then {read:?}",
            reply.escape_ascii()
        ));
    }
    discarded(server, EXTRA)?;

    // A client that reads the reply to the server's end of file before it
    // closes its own side: the FIN must come right after the reply.
    let mut reader = connect(server)?;
    reader
        .write_all(REQUEST)
        .map_err(|e| format!("sending the request: {e}"))?;
    let mut reply = Vec::new();
    let read = reader.read_to_end(&mut reply);
    if read.is_err() || reply != REPLY {
        let waited = match &read {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                format!(" (no end of file within {PATIENCE:?})")
            }
            _ => String::new(),
        };
        return Err(format!(
            "a client that reads to the end of file before it closes should get the reply, \
             then the server's FIN at once; it read b'{}', then {read:?}{waited}",
            reply.escape_ascii()
        ));
    }
    drop(reader);
    discarded(server, 0)?;

    // Step 6's client, which closes once it has its 16 bytes.
    let mut step6 = Command::new(bin("step6"));
    step6.args(["client", "-p", &server.port()]);
    let finished = run_command(step6, Output::Apart)?;
    if finished.code() != Some(0) || !finished.stdout.contains("Goodbye, client!") {
        return Err(format!(
            "step 6's client should be served; it printed {:?}, {:?}",
            finished.stdout, finished.stderr
        ));
    }
    discarded(server, 0)
}

exercise!(halfclose_1_send_file, super::send_file);
exercise!(halfclose_2_lingering_close, super::lingering_close);
