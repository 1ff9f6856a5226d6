//! Running a chapter's console blocks as a reader would, in order, and
//! recording what each printed.

use std::collections::BTreeMap;
use std::time::Duration;

use book_tests::{Output, PATIENCE, Server, closed_port, run_command};

use crate::parse::{BACKGROUND, Block, INTERRUPT, Invocation};

/// While blessing, a server that prints nothing for this long is taken to
/// have said all it will before the reader presses Ctrl-C. Authoring only:
/// checking waits for the lines the book shows instead.
const QUIET: Duration = Duration::from_secs(1);

/// What a fresh run printed for each block, by index, with the ports as the
/// book shows them.
#[derive(Default)]
pub struct Outcome {
    pub actual: BTreeMap<usize, Vec<String>>,
    /// The port each background block's program listened on in this run.
    pub ports: BTreeMap<usize, u16>,
}

/// A background block's program, still running in its own terminal.
struct Background {
    block: usize,
    /// The port the book shows for it.
    book_port: u16,
    server: Server,
}

impl Background {
    fn port(&self) -> u16 {
        self.server.address.port()
    }
}

/// Runs a chapter's blocks in order. A background block's program starts on
/// a free port and keeps running; the blocks after it talk to it (a client
/// or a relay to the last one started), and it is stopped with Ctrl-C when
/// the next server starts or the chapter ends.
///
/// A server started again on the port (as the book shows it) of one stopped
/// earlier in the chapter gets that same port: the book shows a restart. A
/// `listen` block (a program whose first argument is `listen`) binds the port
/// of the servers before it: the reader has stopped them with Ctrl-C first.
pub fn run_chapter(blocks: &[Block], blessing: bool) -> Outcome {
    let mut outcome = Outcome::default();
    // Servers and relays left running, in the order they were started.
    let mut running: Vec<Background> = Vec::new();
    // (this run's port, the book's port) of each program stopped so far.
    let mut stopped: Vec<(u16, u16)> = Vec::new();
    for (index, block) in blocks.iter().enumerate() {
        let invocation = Invocation::parse(block);
        let next_hop = running.last().map(Background::port);
        if block.background {
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
                stopped.extend(finish_all(&mut running, blocks, blessing, &mut outcome));
                let port = port_of(&stopped, invocation.book_port()).unwrap_or(0);
                invocation.on_port(port)
            };
            let server = Server::start_command(command, Output::Merged).unwrap_or_else(|why| {
                panic!(
                    "{}: a `console,{BACKGROUND}` block runs a server or a relay, \
                     but {why}",
                    block.place()
                )
            });
            outcome.ports.insert(index, server.address.port());
            running.push(Background {
                block: index,
                book_port: invocation.book_port(),
                server,
            });
            continue;
        }
        let mut ports: Vec<(u16, u16)> = running.iter().map(|r| (r.port(), r.book_port)).collect();
        let mut holding = None;
        let command = match (invocation.role(), next_hop) {
            (Some("listen"), _) => {
                stopped.extend(finish_all(&mut running, blocks, blessing, &mut outcome));
                let book_port = invocation.book_port();
                let port = port_of(&stopped, book_port).unwrap_or_else(|| {
                    panic!(
                        "{}: a `listen` block binds the port of a server stopped before it, \
                         and no server on {book_port} was",
                        block.place()
                    )
                });
                ports = vec![(port, book_port)];
                invocation.on_port(port)
            }
            (Some("server" | "client"), Some(port)) => invocation.on_port(port),
            (Some("server"), None) => panic!(
                "{}: a server block that shows an error needs a server already running to collide with",
                block.place()
            ),
            (Some("client"), None) => {
                // Nobody may listen on the port until the client is done.
                let closed = holding.insert(closed_port());
                ports = vec![(closed.port(), invocation.book_port())];
                invocation.on_port(closed.port())
            }
            _ => invocation.plain(),
        };
        let finished = run_command(command, Output::Merged).unwrap_or_else(|why| {
            panic!(
                "{}: {why} (a block whose program keeps running says so in its fence: \
                 ```console,{BACKGROUND})",
                block.place()
            )
        });
        drop(holding);
        let output: Vec<String> = finished.stdout.lines().map(str::to_owned).collect();
        outcome.actual.insert(index, as_in_book(&output, &ports));
    }
    finish_all(&mut running, blocks, blessing, &mut outcome);
    outcome
}

/// This run's port for the last program stopped on `book_port`, if any.
fn port_of(stopped: &[(u16, u16)], book_port: u16) -> Option<u16> {
    stopped
        .iter()
        .rev()
        .find(|&&(_, book)| book == book_port)
        .map(|&(port, _)| port)
}

/// Presses Ctrl-C on every program left running and records its block, the
/// last started first: a relay prints its last lines after its server has
/// answered. Returns the (this run's, the book's) ports they had.
fn finish_all(
    running: &mut Vec<Background>,
    blocks: &[Block],
    blessing: bool,
    outcome: &mut Outcome,
) -> Vec<(u16, u16)> {
    let ports: Vec<(u16, u16)> = running.iter().map(|r| (r.port(), r.book_port)).collect();
    for mut done in running.drain(..).rev() {
        let block = &blocks[done.block];
        let server = &mut done.server;
        if blessing {
            while server.next_stdout_line_within(QUIET).is_some() {}
        } else {
            // What the book shows the program printing before Ctrl-C...
            let before_interrupt = block
                .expected
                .iter()
                .position(|line| line == INTERRUPT)
                .unwrap_or(block.expected.len());
            while server.stdout.len() < before_interrupt
                && server.next_stdout_line_within(PATIENCE).is_some()
            {}
            // ...and anything more it has printed, for the comparison to show.
            while server.next_stdout_line_within(Duration::ZERO).is_some() {}
        }
        // Then press Ctrl-C, as the reader does, and take what the program
        // says on its way out: a server that handles SIGINT has its last word.
        let mut output = std::mem::take(&mut server.stdout);
        output.push(INTERRUPT.to_owned());
        server.interrupt();
        let exited = done.server.wait_for_exit();
        output.extend(exited.stdout.lines().map(str::to_owned));
        outcome
            .actual
            .insert(done.block, as_in_book(&output, &ports));
    }
    ports
}

/// What comes before a port in an address as the programs print it: Rust's
/// `127.0.0.1:1060` and `[::1]:1060`, Python's `('127.0.0.1', 1060)`.
pub const BEFORE_PORT: [&str; 3] = ["127.0.0.1:", "[::1]:", "('127.0.0.1', "];

/// Writes the ports of this run back as the book's ports (1060 for a
/// server, the relay's own `--listen` port for a relay): `ports` holds
/// (this run's port, the book's port) pairs.
pub fn as_in_book(lines: &[String], ports: &[(u16, u16)]) -> Vec<String> {
    lines
        .iter()
        .map(|line| {
            let mut line = line.clone();
            for &(actual, book) in ports {
                for host in BEFORE_PORT {
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
