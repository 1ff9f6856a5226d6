//! The demo a step runs with no arguments: the step's own program started
//! twice, as `server -p 0` and as `client -p PORT`, with each side's lines
//! printed under its role's name.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use crate::Failure;
use crate::protocol::{WAITING, listening_address};

/// How long the server may go without printing a line before the demo gives
/// up on it. This is a safety net against a hung run, never a way to wait
/// for something: every wait below ends as soon as the awaited line arrives.
const SILENCE_LIMIT: Duration = Duration::from_secs(10);

/// Runs this program as a server, then as a client against it, and prints
/// both sides' lines: the server's first, then the client's.
pub(crate) fn run() -> Result<(), Failure> {
    let program = std::env::current_exe()
        .map_err(|error| Failure::Say(format!("cannot find this program to run it: {error}")))?;
    // Port 0: the kernel picks a free port, so a demo never collides with
    // a server already running on 1060. The server's errors, if any, go
    // straight to our standard error.
    let mut server = Server::start(Command::new(&program).args(["server", "-p", "0"]))?;

    let listening = server.next_line();
    let Some(address) = listening.as_deref().ok().and_then(listening_address) else {
        print_lines("server", &server.said);
        return Err(match listening {
            // The server has said why on standard error.
            Err(Ended::Stopped) => Failure::Reported,
            Err(Ended::Silent) => {
                Failure::Say(format!("the server printed nothing for {SILENCE_LIMIT:?}"))
            }
            Ok(line) => Failure::Say(format!(
                "the server's first line, {line:?}, does not say where it listens"
            )),
        });
    };

    let client = Command::new(&program)
        .args(["client", "-p", &address.port().to_string()])
        .stdin(Stdio::null())
        .output()
        .map_err(|error| Failure::Say(format!("cannot start the client: {error}")))?;

    // The server prints its last lines about the connection after the
    // client has its reply; collect them until it is waiting again.
    while server.said.iter().filter(|line| *line == WAITING).count() < 2 {
        match server.next_line() {
            Ok(_) => {}
            Err(Ended::Stopped) => break,
            Err(Ended::Silent) => {
                eprintln!(
                    "warning: the server printed nothing for {SILENCE_LIMIT:?}; its lines may be incomplete"
                );
                break;
            }
        }
    }
    server.stop();

    print_lines("server", &server.said);
    print_lines("client", String::from_utf8_lossy(&client.stdout).lines());
    client_outcome(&client)
}

/// The client's own error line, passed on as the demo's: the same line a
/// reader sees when running the client alone.
fn client_outcome(client: &Output) -> Result<(), Failure> {
    let complaint = String::from_utf8_lossy(&client.stderr);
    let complaint = complaint.trim_end();
    match (client.status.success(), complaint.strip_prefix("error: ")) {
        (true, _) if complaint.is_empty() => Ok(()),
        (true, _) => {
            eprintln!("{complaint}");
            Ok(())
        }
        (false, Some(line)) if !line.contains('\n') => Err(Failure::Say(line.to_owned())),
        (false, _) => Err(Failure::Say(format!(
            "the client failed ({}): {complaint}",
            client.status
        ))),
    }
}

/// The demo's server process and the lines it has printed so far.
struct Server {
    process: Child,
    lines: Receiver<String>,
    said: Vec<String>,
}

/// Why no further line came from the server.
enum Ended {
    /// It closed its standard output: it has exited.
    Stopped,
    /// It printed nothing for [`SILENCE_LIMIT`].
    Silent,
}

impl Server {
    fn start(command: &mut Command) -> Result<Server, Failure> {
        let mut process = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|error| Failure::Say(format!("cannot start the server: {error}")))?;
        let stdout = process.stdout.take().expect("stdout is piped");
        Ok(Server {
            process,
            lines: lines_of(stdout),
            said: Vec::new(),
        })
    }

    /// Waits for the server's next line and records it.
    fn next_line(&mut self) -> Result<String, Ended> {
        match self.lines.recv_timeout(SILENCE_LIMIT) {
            Ok(line) => {
                self.said.push(line.clone());
                Ok(line)
            }
            Err(RecvTimeoutError::Timeout) => Err(Ended::Silent),
            Err(RecvTimeoutError::Disconnected) => Err(Ended::Stopped),
        }
    }

    /// Ends the server, which otherwise would wait for clients forever.
    fn stop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The lines a pipe carries, as they come, read by a thread of its own: a
/// receiver can wait for the next one with a time limit. The demo reads a
/// server's output with it, and so do the book's tests.
pub fn lines_of(pipe: impl Read + Send + 'static) -> Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut pipe = BufReader::new(pipe);
        let mut line = Vec::new();
        // Bytes, not `lines()`: a line that is not UTF-8 is still a line to
        // show, not the end of the output.
        while matches!(pipe.read_until(b'\n', &mut line), Ok(1..)) {
            let text = String::from_utf8_lossy(&line);
            let text = text.strip_suffix('\n').unwrap_or(&text);
            if sender.send(text.to_owned()).is_err() {
                break;
            }
            line.clear();
        }
    });
    receiver
}

fn print_lines<S: AsRef<str>>(role: &str, lines: impl IntoIterator<Item = S>) {
    for line in lines {
        println!("{role} | {}", line.as_ref());
    }
}
