//! Every transcript in the book is re-run and compared with a fresh run.
//!
//! A ```` ```console ```` block in `src/` starts with `$ COMMAND` and holds
//! what that command printed, stdout and stderr merged as a terminal shows
//! them. This test runs each command and fails when its output differs, so a
//! listing that changes what it prints fails `cargo test` until the book is
//! updated. Ports are the one thing that differs from run to run, so
//! `127.0.0.1:<digits>` is compared as `127.0.0.1:<port>`.
//!
//! Two terminals: a block whose command plays `server` and whose output
//! starts with "Listening at" is a server left running (its block ends with
//! `^C`); the client blocks after it in the same chapter talk to it. The test
//! starts that server on a free port instead of 1060, points the clients at
//! it, and compares the server's block once they are done: what it printed,
//! then `^C` and whatever it prints after the test sends it SIGINT, as a
//! reader's Ctrl-C does. A server block
//! that shows an error runs against the running server's port; a client block
//! with no server running gets a port nobody listens on.
//!
//! `BLESS=1 cargo test --test transcripts` writes the real output into the
//! book instead of comparing (with the ports written back as 1060);
//! `CHAPTER=step4` limits a run to the chapters whose file name contains it.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::Duration;

use book_tests::{PATIENCE, bin, closed_port, interrupt, listening_address, repo};
use wait_timeout::ChildExt;

/// The port the book's commands use by default, written back when blessing.
const BOOK_PORT: u16 = 1060;
/// How a server block ends in the book: the reader pressed Ctrl-C.
const INTERRUPT: &str = "^C";

/// One ```console block.
#[derive(Debug)]
struct Block {
    file: PathBuf,
    /// Line number (1-based) of the `$ ` line, for messages.
    line: usize,
    /// Index range of the output lines within the file's lines.
    output_lines: std::ops::Range<usize>,
    command: String,
    expected: Vec<String>,
}

impl Block {
    fn place(&self) -> String {
        format!(
            "{}:{}",
            self.file
                .strip_prefix(repo())
                .unwrap_or(&self.file)
                .display(),
            self.line
        )
    }
}

fn chapters() -> Vec<PathBuf> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "md") {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    walk(&repo().join("src"), &mut found);
    found.sort();
    found
}

fn console_blocks(file: &Path, text: &str) -> Vec<Block> {
    let lines: Vec<&str> = text.lines().collect();
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let trimmed = lines[i].trim_start();
        let Some(info) = trimmed.strip_prefix("```") else {
            i += 1;
            continue;
        };
        let language = info.split([',', ' ']).next().unwrap_or("");
        let fence_end = lines[i + 1..]
            .iter()
            .position(|l| l.trim_start().starts_with("```"))
            .map(|p| i + 1 + p)
            .unwrap_or_else(|| panic!("{}:{}: code block never closed", file.display(), i + 1));
        if language == "console" {
            let first = lines.get(i + 1).copied().unwrap_or("");
            let command = first.strip_prefix("$ ").unwrap_or_else(|| {
                panic!(
                    "{}:{}: a console block starts with `$ command`",
                    file.display(),
                    i + 2
                )
            });
            blocks.push(Block {
                file: file.to_path_buf(),
                line: i + 2,
                output_lines: i + 2..fence_end,
                command: command.to_owned(),
                expected: lines[i + 2..fence_end]
                    .iter()
                    .map(|l| l.to_string())
                    .collect(),
            });
        }
        i = fence_end + 1;
    }
    blocks
}

/// A command from the book, turned into a program and its arguments.
struct Invocation {
    program: PathBuf,
    args: Vec<String>,
}

impl Invocation {
    fn parse(block: &Block) -> Invocation {
        let words: Vec<&str> = block.command.split_whitespace().collect();
        assert!(
            !block.command.contains(['"', '\'', '|', '>', '<', '&', ';']),
            "{}: keep transcript commands to plain words: {}",
            block.place(),
            block.command
        );
        match words.as_slice() {
            [
                "cargo",
                "run",
                "-q",
                "-p",
                "listings",
                "--bin",
                name,
                rest @ ..,
            ] => {
                let args = match rest {
                    [] => &[][..],
                    ["--", args @ ..] => args,
                    _ => panic!(
                        "{}: arguments go after `--`: {}",
                        block.place(),
                        block.command
                    ),
                };
                Invocation {
                    program: bin(name),
                    args: args.iter().map(|a| a.to_string()).collect(),
                }
            }
            ["python3", args @ ..] => Invocation {
                program: PathBuf::from("python3"),
                args: args.iter().map(|a| a.to_string()).collect(),
            },
            _ => panic!(
                "{}: transcripts run `cargo run -q -p listings --bin NAME [-- ARGS]` or `python3 ...`, not: {}",
                block.place(),
                block.command
            ),
        }
    }

    /// What the program plays: its first argument after the program name
    /// (or after the script, for Python).
    fn role(&self) -> Option<&str> {
        let args = if self.program == Path::new("python3") {
            self.args.get(1..)
        } else {
            Some(&self.args[..])
        };
        args.and_then(|a| a.first()).map(String::as_str)
    }

    /// The same command aimed at `port` instead of whatever the book says.
    fn on_port(&self, port: u16) -> Command {
        let mut args = Vec::new();
        let mut words = self.args.iter();
        while let Some(word) = words.next() {
            if word == "-p" || word == "--port" {
                words.next();
            } else if !word.starts_with("--port=") {
                args.push(word.clone());
            }
        }
        args.extend(["-p".to_owned(), port.to_string()]);
        let mut command = Command::new(&self.program);
        command.args(args).current_dir(repo());
        command
    }

    /// Whether this is a relay (`--to` names where it forwards).
    fn is_relay(&self) -> bool {
        self.args.iter().any(|a| a == "--to")
    }

    /// The same relay listening on a free port and forwarding to `port`.
    fn relaying_to(&self, port: u16) -> Command {
        let mut args = Vec::new();
        let mut words = self.args.iter();
        while let Some(word) = words.next() {
            if word == "--listen" || word == "--to" {
                words.next();
            } else {
                args.push(word.clone());
            }
        }
        let to = format!("127.0.0.1:{port}");
        args.extend(["--listen", "127.0.0.1:0", "--to", &to].map(str::to_owned));
        let mut command = Command::new(&self.program);
        command.args(args).current_dir(repo());
        command
    }

    /// The port the book's command uses: `-p` for a step, `--listen` for a
    /// relay, or their defaults.
    fn book_port(&self) -> u16 {
        let (flag, default) = if self.is_relay() {
            ("--listen", 1061)
        } else {
            ("-p", BOOK_PORT)
        };
        self.args
            .iter()
            .position(|a| a == flag || (flag == "-p" && a == "--port"))
            .and_then(|i| self.args.get(i + 1))
            .and_then(|v| v.rsplit(':').next()?.parse().ok())
            .unwrap_or(default)
    }

    fn plain(&self) -> Command {
        let mut command = Command::new(&self.program);
        command.args(&self.args).current_dir(repo());
        command
    }
}

/// A started process whose stdout and stderr arrive as one stream of lines,
/// in the order a terminal would show them.
struct Terminal {
    child: Child,
    lines: Receiver<String>,
}

impl Terminal {
    fn start(mut command: Command) -> Terminal {
        let (reader, writer) = std::io::pipe().expect("pipe");
        command
            .stdin(Stdio::null())
            .stdout(writer.try_clone().expect("pipe"))
            .stderr(writer);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
        // `command` still holds the pipe's writing end; dropping it lets the
        // reader see end-of-file once the child exits.
        drop(command);
        let (sender, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(reader).lines() {
                let Ok(line) = line else { break };
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Terminal { child, lines }
    }

    /// Everything the program prints until it exits.
    fn finish(mut self, place: &str) -> Vec<String> {
        self.drain_to_exit(place)
    }

    /// Everything the program prints from now until it exits.
    fn drain_to_exit(&mut self, place: &str) -> Vec<String> {
        let mut output = Vec::new();
        loop {
            match self.lines.recv_timeout(PATIENCE) {
                Ok(line) => output.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    let _ = self.child.kill();
                    panic!(
                        "{place}: still printing or hung after {PATIENCE:?}; so far: {output:#?}"
                    );
                }
            }
        }
        if self.child.wait_timeout(PATIENCE).expect("wait").is_none() {
            let _ = self.child.kill();
            panic!("{place}: closed its output but did not exit");
        }
        output
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server block whose process is still running.
struct RunningServer {
    block: usize,
    port: u16,
    /// The port the book shows for it.
    book_port: u16,
    terminal: Terminal,
    output: Vec<String>,
}

fn normalise(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = ["127.0.0.1:", "[::1]:"]
        .iter()
        .filter_map(|host| rest.find(host).map(|i| (i, host.len())))
        .min()
    {
        let (start, len) = at;
        out.push_str(&rest[..start + len]);
        rest = &rest[start + len..];
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits > 0 {
            out.push_str("<port>");
            rest = &rest[digits..];
        }
    }
    out.push_str(rest);
    out
}

/// Writes the ports of this run back as the book's ports (1060 for a
/// server, the relay's own `--listen` port for a relay) in blessed output.
fn as_in_book(lines: &[String], ports: &[(u16, u16)]) -> Vec<String> {
    lines
        .iter()
        .map(|line| {
            let mut line = line.clone();
            for &(actual, book) in ports {
                for host in ["127.0.0.1:", "[::1]:"] {
                    let from = format!("{host}{actual}");
                    let to = format!("{host}{book}");
                    // Whole port numbers only: :4242 must not match :42420.
                    let mut fixed = String::new();
                    let mut rest = line.as_str();
                    while let Some(i) = rest.find(&from) {
                        let after = &rest[i + from.len()..];
                        fixed.push_str(&rest[..i]);
                        let whole = !after.starts_with(|c: char| c.is_ascii_digit());
                        fixed.push_str(if whole { &to } else { &from });
                        rest = after;
                    }
                    fixed.push_str(rest);
                    line = fixed;
                }
            }
            line
        })
        .collect()
}

struct Outcome {
    /// Real output for each block, by index, with ports as the book shows them.
    actual: BTreeMap<usize, Vec<String>>,
}

impl Outcome {
    fn record(&mut self, index: usize, lines: Vec<String>) {
        self.actual.insert(index, lines);
    }
}

fn run_chapter(blocks: &[Block], blessing: bool) -> Outcome {
    let mut outcome = Outcome {
        actual: BTreeMap::new(),
    };
    // Servers and relays left running, in the order they were started; a
    // client talks to the last one, and a relay forwards to the one before.
    let mut running: Vec<RunningServer> = Vec::new();
    for (index, block) in blocks.iter().enumerate() {
        let invocation = Invocation::parse(block);
        let role = invocation.role();
        let keeps_running = block
            .expected
            .first()
            .is_some_and(|l| l.starts_with("Listening at"));
        let next_hop = running.last().map(|r| r.port);
        if keeps_running && (role == Some("server") || invocation.is_relay()) {
            let command = if invocation.is_relay() {
                let to = next_hop.unwrap_or_else(|| {
                    panic!(
                        "{}: a relay needs a server running to relay to",
                        block.place()
                    )
                });
                invocation.relaying_to(to)
            } else {
                // A new server starts a new scene: the old ones are done.
                finish_all(&mut running, blocks, blessing, &mut outcome);
                invocation.on_port(0)
            };
            running.push(RunningServer::start(index, block, &invocation, command));
            continue;
        }
        let ports: Vec<(u16, u16)> = running.iter().map(|r| (r.port, r.book_port)).collect();
        let mut holding = None;
        let (command, ports) = match (role, next_hop) {
            (Some("server" | "client"), Some(port)) => (invocation.on_port(port), ports),
            (Some("server"), None) => panic!(
                "{}: a server block that shows an error needs a server already running to collide with",
                block.place()
            ),
            (Some("client"), None) => {
                let closed = closed_port();
                let port = closed.port();
                // Nobody may listen on the port until the client is done.
                holding = Some(closed);
                (
                    invocation.on_port(port),
                    vec![(port, invocation.book_port())],
                )
            }
            _ => (invocation.plain(), ports),
        };
        let output = Terminal::start(command).finish(&block.place());
        drop(holding);
        outcome.record(index, as_in_book(&output, &ports));
        for server in &mut running {
            // Collect what each server said about this client while it is fresh.
            while let Ok(line) = server.terminal.lines.try_recv() {
                server.output.push(line);
            }
        }
    }
    finish_all(&mut running, blocks, blessing, &mut outcome);
    outcome
}

/// Compares (or blesses) every running server's block, the last started
/// first: a relay prints its last lines after its server has answered.
fn finish_all(
    running: &mut Vec<RunningServer>,
    blocks: &[Block],
    blessing: bool,
    outcome: &mut Outcome,
) {
    let ports: Vec<(u16, u16)> = running.iter().map(|r| (r.port, r.book_port)).collect();
    for done in running.drain(..).rev() {
        finish_server(done, &ports, blocks, blessing, outcome);
    }
}

impl RunningServer {
    fn start(index: usize, block: &Block, invocation: &Invocation, command: Command) -> Self {
        let terminal = Terminal::start(command);
        let first = terminal
            .lines
            .recv_timeout(PATIENCE)
            .unwrap_or_else(|e| panic!("{}: the program printed nothing ({e:?})", block.place()));
        let port = listening_address(&first)
            .map(|a| a.port())
            .unwrap_or_else(|| {
                panic!(
                    "{}: expected `Listening at ADDRESS`, got {first:?}",
                    block.place()
                )
            });
        RunningServer {
            block: index,
            port,
            book_port: invocation.book_port(),
            terminal,
            output: vec![first],
        }
    }
}

fn finish_server(
    mut running: RunningServer,
    ports: &[(u16, u16)],
    blocks: &[Block],
    blessing: bool,
    outcome: &mut Outcome,
) {
    let block = &blocks[running.block];
    // What the server printed before the reader pressed Ctrl-C.
    let before_interrupt = block
        .expected
        .iter()
        .position(|line| line == INTERRUPT)
        .unwrap_or(block.expected.len());
    if blessing {
        // Authoring only: take whatever the server prints until it has been
        // quiet for a moment. Checking never relies on this.
        while let Ok(line) = running
            .terminal
            .lines
            .recv_timeout(Duration::from_millis(1000))
        {
            running.output.push(line);
        }
    } else {
        while running.output.len() < before_interrupt {
            match running.terminal.lines.recv_timeout(PATIENCE) {
                Ok(line) => running.output.push(line),
                Err(_) => break,
            }
        }
        while let Ok(line) = running.terminal.lines.try_recv() {
            running.output.push(line);
        }
    }
    // Then press Ctrl-C, as the reader does, and take what the program says
    // on its way out: a server that handles SIGINT has its last word.
    running.output.push(INTERRUPT.to_owned());
    interrupt(&running.terminal.child);
    running
        .output
        .extend(running.terminal.drain_to_exit(&block.place()));
    outcome.record(running.block, as_in_book(&running.output, ports));
}

#[test]
fn every_transcript_in_the_book_matches_a_fresh_run() {
    let blessing = std::env::var_os("BLESS").is_some();
    let mut checked = 0;
    let mut mismatches = Vec::new();
    // CHAPTER=name checks (or blesses) only the chapters whose file name
    // contains it: handy while writing one.
    let only = std::env::var("CHAPTER").unwrap_or_default();
    for chapter in chapters() {
        if !chapter.to_string_lossy().contains(&only) {
            continue;
        }
        let text = fs::read_to_string(&chapter).unwrap();
        let blocks = console_blocks(&chapter, &text);
        if blocks.is_empty() {
            continue;
        }
        let outcome = run_chapter(&blocks, blessing);
        if blessing {
            let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
            // Back to front, so earlier ranges stay valid.
            for (index, actual) in outcome.actual.iter().rev() {
                lines.splice(blocks[*index].output_lines.clone(), actual.iter().cloned());
            }
            let mut new_text = lines.join("\n");
            if text.ends_with('\n') {
                new_text.push('\n');
            }
            if new_text != text {
                fs::write(&chapter, new_text).unwrap();
                eprintln!("blessed {}", chapter.display());
            }
        }
        for (index, actual) in &outcome.actual {
            let block = &blocks[*index];
            checked += 1;
            let want: Vec<String> = block.expected.iter().map(|l| normalise(l)).collect();
            let got: Vec<String> = actual.iter().map(|l| normalise(l)).collect();
            if want != got && !blessing {
                mismatches.push(format!(
                    "{}: `$ {}`\n--- the book shows\n{}\n--- a fresh run printed\n{}\n",
                    block.place(),
                    block.command,
                    want.join("\n"),
                    got.join("\n")
                ));
            }
        }
    }
    assert!(checked > 0, "the book has no console transcripts to check");
    assert!(
        mismatches.is_empty(),
        "{} transcript(s) differ from a fresh run (update the book, or run \
         `BLESS=1 cargo test --test transcripts` and read the diff):\n\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[test]
fn ports_are_normalised_whole() {
    assert_eq!(
        normalise("Listening at 127.0.0.1:1060"),
        "Listening at 127.0.0.1:<port>"
    );
    assert_eq!(
        normalise("a [::1]:5 b 127.0.0.1:44 c"),
        "a [::1]:<port> b 127.0.0.1:<port> c"
    );
    assert_eq!(
        normalise("127.0.0.1 and 127.0.0.1:x"),
        "127.0.0.1 and 127.0.0.1:x"
    );
    let back = as_in_book(
        &["at 127.0.0.1:4242, not 127.0.0.1:42420".to_owned()],
        &[(4242, 1060)],
    );
    assert_eq!(back, ["at 127.0.0.1:1060, not 127.0.0.1:42420"]);
}
