//! The demo a step runs with no arguments: its own server and client in one
//! process, each transcript printed under its role's name.

use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::Duration;

use crate::cli::Failure;

/// The server's first line names the address it listens on; the demo reads
/// the port from it, as a reader does from the server's terminal.
const LISTENING: &str = "Listening at ";
/// The line a server prints each time it is ready for the next client: seen a
/// second time, it means the demo's one connection is over.
const WAITING: &str = "Waiting to accept a new connection";
/// How long the server may go without printing a line before the demo gives
/// up on it. This is a safety net against a hung run, never a way to wait
/// for something: every wait below ends as soon as the awaited line arrives.
const SILENCE_LIMIT: Duration = Duration::from_secs(10);

/// Runs `server` on a thread of its own and `client` against it, then prints
/// both transcripts. Each is handed the address and where to print.
pub(crate) fn run(
    server: impl FnOnce(SocketAddr, &mut (dyn Write + Send)) -> io::Result<()> + Send + 'static,
    client: impl FnOnce(SocketAddr, &mut (dyn Write + Send)) -> io::Result<()>,
) -> Result<(), Failure> {
    let (lines, server_lines) = mpsc::channel();
    let server_thread = thread::spawn(move || {
        let mut transcript = LineSender {
            lines,
            pending: Vec::new(),
        };
        // Port 0: the kernel picks a free port, so a demo never collides with
        // a server already running on 1060.
        server(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), &mut transcript)
    });
    let mut server_said = Vec::new();

    let listening = next_line(&server_lines, &mut server_said);
    let address = listening
        .as_ref()
        .ok()
        .and_then(|line| line.strip_prefix(LISTENING))
        .and_then(|rest| rest.parse::<SocketAddr>().ok());
    let Some(address) = address else {
        print_transcript("server", &server_said);
        return Err(match (listening, server_thread.is_finished()) {
            // The server stopped before it could listen: say why.
            (Err(Ended::Stopped), _) | (_, true) => match server_thread.join() {
                Ok(Err(error)) => Failure(format!("server: {error}")),
                _ => Failure("the server stopped before it listened".to_owned()),
            },
            (Err(Ended::Silent), false) => {
                Failure(format!("the server printed nothing for {SILENCE_LIMIT:?}"))
            }
            (Ok(line), false) => Failure(format!(
                "the server's first line, {line:?}, does not start with {LISTENING:?}"
            )),
        });
    };

    let mut client_said = Vec::new();
    let client_outcome = client(address, &mut client_said);

    // The server prints its last lines about this connection after the
    // client has its reply; collect them until it is waiting again.
    let mut waits = server_said.iter().filter(|line| *line == WAITING).count();
    while waits < 2 {
        match next_line(&server_lines, &mut server_said) {
            Ok(line) if line == WAITING => waits += 1,
            Ok(_) => {}
            Err(Ended::Stopped) => break,
            Err(Ended::Silent) => {
                eprintln!(
                    "warning: the server printed nothing for {SILENCE_LIMIT:?}; its transcript may be incomplete"
                );
                break;
            }
        }
    }

    print_transcript("server", &server_said);
    let client_said = String::from_utf8_lossy(&client_said);
    print_transcript("client", client_said.lines());
    client_outcome.map_err(|error| Failure(format!("client talking to {address}: {error}")))
}

/// Why no further line came from the server.
enum Ended {
    /// Its thread returned (a server returns only on error).
    Stopped,
    /// It printed nothing for [`SILENCE_LIMIT`].
    Silent,
}

/// Waits for the server's next line and records it.
fn next_line(lines: &Receiver<String>, said: &mut Vec<String>) -> Result<String, Ended> {
    match lines.recv_timeout(SILENCE_LIMIT) {
        Ok(line) => {
            said.push(line.clone());
            Ok(line)
        }
        Err(RecvTimeoutError::Timeout) => Err(Ended::Silent),
        Err(RecvTimeoutError::Disconnected) => Err(Ended::Stopped),
    }
}

fn print_transcript<S: AsRef<str>>(role: &str, lines: impl IntoIterator<Item = S>) {
    for line in lines {
        println!("{role} | {}", line.as_ref());
    }
}

/// A transcript that hands each complete line to the demo as it is written.
struct LineSender {
    lines: Sender<String>,
    pending: Vec<u8>,
}

impl Write for LineSender {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(bytes);
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line[..end]).into_owned();
            // The demo stops listening once it has what it needs; later
            // lines from a server still running have nowhere to go, and
            // that is fine.
            let _ = self.lines.send(text);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
