//! The claims of the chapter "Every program against every fault"
//! (src/behaviour-matrix.md): one table, `tcp.py` and every step against
//! the same misbehaving clients and servers.
//!
//! Each row of [`AS_SERVER`] and [`AS_CLIENT`] is one case, played against
//! each program in turn, and each cell is a short phrase made from what the
//! program did there: the lines it printed, how it ended, what the test's
//! own client or server got from it. The test puts the phrases together
//! into the chapter's table and fails where the book's copy (between
//! `<!-- matrix:start -->` and `<!-- matrix:end -->`) differs, naming each
//! cell that does. `BLESS=1 cargo test --test behaviour_matrix` writes the
//! fresh table into the chapter instead.
//!
//! Nothing here sleeps to synchronise: a case waits for a line the program
//! prints, for its exit, or for the kernel's table of connections to show a
//! reset taken or a connection in TIME_WAIT. The one bounded wait is the
//! silent client's row, which shows a server that will not answer: there
//! the second client waits [`NO_REPLY_WITHIN`] for a reply, and a server
//! that cannot answer yet cannot answer in any time. The relay's pauses
//! between pieces only make the pieces: a single `read` woken by the first
//! byte returns long before the second comes, and on a machine so busy
//! that it got two or three, the cell would still say "zeros for the rest".
//!
//! The programs run in parallel, a thread for each column; the rows of a
//! column run one after another. Every process a case starts is killed
//! when the case ends (the support library's handles kill on drop).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus};
use std::thread;
use std::time::{Duration, Instant};

use book_tests::{
    Finished, Output, PATIENCE, STEPS, Server, answer_once, bin, chopper, closed_port, good_client,
    python, python_address, repo, reset, run, run_command, still_open, tcp_py, tcp_table_row,
    wait_for_the_reset,
};
use listings::protocol::{
    ACCEPTED, ASSIGNED, INCOMING, INTERRUPTED, REPLY, REPLY_SENT, REQUEST, SERVER_SAID,
    client_error, closed_early, connection_error, repr, server_error,
};

/// The chapter that shows the table, and the markers around the table.
const CHAPTER: &str = "src/behaviour-matrix.md";
const START: &str = "<!-- matrix:start -->";
const END: &str = "<!-- matrix:end -->";

/// The relay's pause between two one-byte pieces: long enough that a
/// program's single `read`, woken by the first piece, has returned before
/// the second comes, even on a busy machine.
const PAUSE_MS: &str = "50";

/// How long the second client behind a silent one waits for its reply.
const NO_REPLY_WITHIN: Duration = Duration::from_secs(1);

// ---------------------------------------------------------------------------
// The programs: the columns
// ---------------------------------------------------------------------------

/// One program the table compares: `tcp.py`, or one of the steps.
#[derive(Clone, Copy)]
enum Program {
    Python,
    Step(&'static str),
}

impl Program {
    /// Every column, in the book's order.
    fn all() -> Vec<Program> {
        std::iter::once(Program::Python)
            .chain(STEPS.map(Program::Step))
            .collect()
    }

    /// The column's heading.
    fn heading(self) -> String {
        match self {
            Program::Python => "`tcp.py`".to_owned(),
            Program::Step(step) => step.replace("step", "step "),
        }
    }

    /// The program with `args`, as a reader runs it.
    fn command(self, args: &[&str]) -> Command {
        let mut command = match self {
            Program::Python => {
                let mut command = Command::new(python());
                command.arg(tcp_py());
                command
            }
            Program::Step(step) => Command::new(bin(step)),
        };
        command.args(args);
        command
    }

    /// Its server on `port` (0: a free one), ready for clients, its
    /// standard error merged into its standard output as a terminal shows
    /// them, so that an error line comes in its place among the others.
    fn server_on(self, port: u16) -> Result<Server, String> {
        let port = port.to_string();
        Server::start_command(self.command(&["server", "-p", &port]), Output::Merged)
    }

    fn server(self) -> Server {
        self.server_on(0).unwrap_or_else(|why| panic!("{why}"))
    }

    /// Its client, run to the end against 127.0.0.1:`port`.
    fn client(self, port: u16) -> Finished {
        let command = self.command(&["client", "-p", &port.to_string()]);
        run_command(command, Output::Apart).unwrap_or_else(|why| panic!("{why}"))
    }
}

// ---------------------------------------------------------------------------
// The cases: the rows
// ---------------------------------------------------------------------------

/// One row: what the test does, and how to do it to one program, which
/// returns the phrase for what the program did.
struct Case {
    what: &'static str,
    play: fn(Program) -> String,
}

/// The rows in which the program is the server, and the test its client.
const AS_SERVER: [Case; 8] = [
    Case {
        what: "sends its request 1 byte at a time, 50 ms apart (through `chopper`)",
        play: request_in_pieces,
    },
    Case {
        what: "connects and closes at once",
        play: closes_at_once,
    },
    Case {
        what: "sends 5 bytes and closes",
        play: sends_5_bytes_and_closes,
    },
    Case {
        what: "sends 3 bytes and resets (`SO_LINGER` 0) while it waits to be accepted",
        play: resets_in_the_backlog,
    },
    Case {
        what: "says nothing, and a second client sends its request",
        play: silent_then_good,
    },
    Case {
        what: "sends 1 MiB of junk",
        play: sends_junk,
    },
    Case {
        what: "is connected, silent, when Ctrl-C stops the server; then sends its request",
        play: ctrl_c_mid_conversation,
    },
    Case {
        what: "leaves the server's end in TIME_WAIT (`timewait client`); the server is \
               stopped and started again on its port",
        play: restart_in_time_wait,
    },
];

/// The rows in which the program is the client, and the test its server.
const AS_CLIENT: [Case; 3] = [
    Case {
        what: "sends its reply 1 byte at a time, 50 ms apart (through `chopper --both`)",
        play: reply_in_pieces,
    },
    Case {
        what: "replies `Good` (4 bytes) and closes",
        play: short_reply,
    },
    Case {
        what: "is not there: nothing listens on the port",
        play: no_server,
    },
];

fn request_in_pieces(program: Program) -> String {
    let mut server = program.server();
    let relay = chopper(
        server.address.port(),
        &["--chunk", "1", "--delay-ms", PAUSE_MS],
    );
    let mut client = TcpStream::connect(relay.address).unwrap();
    client.write_all(REQUEST).unwrap();
    // The server's client is the relay's connection, not this one.
    let relayed = next_accepted(&mut server);
    match ending(&mut server, relayed, 0) {
        Ending::Replied(Some(message)) => received(&message, REQUEST),
        other => other.phrase(),
    }
}

fn closes_at_once(program: Program) -> String {
    let mut server = program.server();
    let quitter = TcpStream::connect(server.address).unwrap();
    let name = quitter.local_addr().unwrap();
    drop(quitter);
    let ended = ending(&mut server, name, 0);
    and_the_next(&mut server, ended, &[])
}

fn sends_5_bytes_and_closes(program: Program) -> String {
    let mut server = program.server();
    let mut quitter = TcpStream::connect(server.address).unwrap();
    let name = quitter.local_addr().unwrap();
    quitter.write_all(&REQUEST[..5]).unwrap();
    drop(quitter);
    let ended = ending(&mut server, name, 0);
    and_the_next(&mut server, ended, &REQUEST[..5])
}

fn resets_in_the_backlog(program: Program) -> String {
    let mut server = program.server();
    // A first client keeps a server that takes one client at a time busy,
    // so that the second waits in the backlog.
    let mut first = TcpStream::connect(server.address).unwrap();
    wait_for_accept(&mut server, first.local_addr().unwrap());
    let mut resetter = TcpStream::connect(server.address).unwrap();
    let name = resetter.local_addr().unwrap();
    resetter.write_all(&REQUEST[..3]).unwrap();
    reset(resetter);
    wait_for_the_reset(server.address, name);
    // The first is served; then the server comes to the reset connection.
    first.set_read_timeout(Some(PATIENCE)).unwrap();
    first.write_all(REQUEST).unwrap();
    let mut reply = [0; 16];
    first
        .read_exact(&mut reply)
        .expect("the client before the reset is served");
    let ended = ending(&mut server, name, 1);
    and_the_next(&mut server, ended, &REQUEST[..3])
}

fn silent_then_good(program: Program) -> String {
    let mut server = program.server();
    let silent = TcpStream::connect(server.address).unwrap();
    wait_for_accept(&mut server, silent.local_addr().unwrap());
    // The second client's connection completes in the backlog whether or
    // not the server accepts it; only a reply says it was served.
    let mut next = TcpStream::connect(server.address).unwrap();
    next.write_all(REQUEST).unwrap();
    next.set_read_timeout(Some(NO_REPLY_WITHIN)).unwrap();
    let mut reply = [0; 16];
    let served = match next.read_exact(&mut reply) {
        Ok(()) => reply == *REPLY,
        Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
        Err(error) => panic!("the client behind the silent one: {error}"),
    };
    match (still_open(&silent), served) {
        (true, true) => "serves the next meanwhile".to_owned(),
        (true, false) => "the next client waits".to_owned(),
        (false, _) => "drops the silent client".to_owned(),
    }
}

fn sends_junk(program: Program) -> String {
    let mut server = program.server();
    let mut flood = TcpStream::connect(server.address).unwrap();
    let name = flood.local_addr().unwrap();
    let junk: Vec<u8> = (0..=255u8).cycle().take(1 << 20).collect();
    // The server reads what it wants and closes with the rest unread: the
    // reset that follows may fail this write.
    let _ = flood.write_all(&junk);
    drop(flood);
    let ended = ending(&mut server, name, 0);
    and_the_next(&mut server, ended, &junk)
}

fn ctrl_c_mid_conversation(program: Program) -> String {
    let mut server = program.server();
    let mut client = TcpStream::connect(server.address).unwrap();
    wait_for_accept(&mut server, client.local_addr().unwrap());
    server.interrupt();
    // The server ends, or says that it is stopping.
    while let Some(line) = server.next_stdout_line_or_end() {
        if line.starts_with(INTERRUPTED) {
            break;
        }
    }
    client.set_read_timeout(Some(PATIENCE)).unwrap();
    let _ = client.write_all(REQUEST);
    let mut reply = Vec::new();
    let _ = client.read_to_end(&mut reply);
    let exited = server.wait_for_exit();
    let how = match uncaught(&exited.stdout) {
        Some(exception) => format!("dies: {exception}"),
        None => exit(exited.status),
    };
    if reply == REPLY {
        format!("finishes it, {how}")
    } else {
        format!("{how}, no reply")
    }
}

fn restart_in_time_wait(program: Program) -> String {
    let server = program.server();
    let (address, port) = (server.address, server.address.port());
    let client = run(bin("timewait"), ["client", "-p", &port.to_string()]);
    assert_eq!(client.code(), Some(0), "{client:#?}");
    let name: SocketAddr = client
        .stdout
        .lines()
        .next()
        .and_then(|line| line.strip_prefix(ASSIGNED))
        .and_then(|address| address.parse().ok())
        .unwrap_or_else(|| panic!("no address in {client:#?}"));
    // The server's end of that connection reaches TIME_WAIT (state 06 in
    // the kernel's table) once the client's FIN is in.
    let deadline = Instant::now() + PATIENCE;
    while tcp_table_row(address, name).is_none_or(|row| row[3] != "06") {
        assert!(
            Instant::now() < deadline,
            "no TIME_WAIT on the server's end"
        );
        thread::yield_now();
    }
    server.interrupt();
    server.wait_for_exit();
    // The port really is held: a listener without SO_REUSEADDR cannot
    // have it.
    let held = run(
        bin("timewait"),
        ["listen", "-p", &port.to_string(), "--no-reuseaddr"],
    );
    assert!(
        held.stderr.contains("Address already in use"),
        "the port is not in TIME_WAIT: {held:#?}"
    );
    match program.server_on(port) {
        Ok(_again) => "restarts at once".to_owned(),
        Err(why) if why.contains("Address already in use") => {
            "cannot restart: address in use".to_owned()
        }
        Err(why) => format!("cannot restart: {why}"),
    }
}

fn reply_in_pieces(program: Program) -> String {
    let (address, serving) = answer_once(REPLY);
    let relay = chopper(
        address.port(),
        &["--chunk", "1", "--delay-ms", PAUSE_MS, "--both"],
    );
    let client = program.client(relay.address.port());
    serving.join().unwrap();
    client_phrase(&client, relay.address)
}

fn short_reply(program: Program) -> String {
    let (address, serving) = answer_once(&REPLY[..4]);
    let client = program.client(address.port());
    serving.join().unwrap();
    client_phrase(&client, address)
}

fn no_server(program: Program) -> String {
    let closed = closed_port();
    let client = program.client(closed.port());
    client_phrase(&client, loopback(closed.port()))
}

// ---------------------------------------------------------------------------
// What a program did, in words
// ---------------------------------------------------------------------------

/// How a server's conversation with one client ended, as its output says.
enum Ending {
    /// It printed "Closing socket" after the message, its `repr`, if it
    /// printed one.
    Replied(Option<String>),
    /// It printed `error: connection from CLIENT: ...` and went on.
    Reported,
    /// It exited; why, in a word or two.
    Died(String),
}

impl Ending {
    fn phrase(&self) -> String {
        match self {
            Ending::Replied(Some(message)) => format!("replies to {message}"),
            Ending::Replied(None) => "replies".to_owned(),
            Ending::Reported => "reports it".to_owned(),
            Ending::Died(why) => format!("dies: {why}"),
        }
    }
}

/// Reads the server's output until it has ended the conversation with
/// `client`, after `replies_before` other conversations that end with a
/// reply. A conversation that ends with a reply is known by its "Closing
/// socket" line only, which does not name the client: those before it are
/// counted out.
fn ending(server: &mut Server, client: SocketAddr, replies_before: usize) -> Ending {
    let reported = connection_error(client, "");
    // What a Rust server prints when it ends: the address it was given,
    // port 0 for every server here, and why.
    let ended = server_error(loopback(0), "");
    let mut message = None;
    let mut replies = 0;
    while let Some(line) = server.next_stdout_line_or_end() {
        if line.starts_with(&reported) {
            return Ending::Reported;
        } else if let Some(shown) = line.strip_prefix(INCOMING) {
            message = Some(shown.to_owned());
        } else if line == REPLY_SENT {
            replies += 1;
            if replies > replies_before {
                return Ending::Replied(message);
            }
        }
    }
    // Its output is closed: the server has ended.
    let why = match uncaught(&server.stdout.join("\n")) {
        Some(exception) => exception,
        None => server
            .stdout
            .iter()
            .rev()
            .find_map(|line| line.strip_prefix(&ended))
            .map(reason)
            .unwrap_or_else(|| "without a word".to_owned()),
    };
    Ending::Died(why)
}

/// The phrase for how a server ended a conversation with a client that
/// sent `sent`, and whether it then serves a well-behaved client.
fn and_the_next(server: &mut Server, ended: Ending, sent: &[u8]) -> String {
    let first = match &ended {
        Ending::Died(_) => return ended.phrase(),
        Ending::Replied(Some(message)) => received(message, sent),
        Ending::Replied(None) | Ending::Reported => ended.phrase(),
    };
    let next = match good_client(server.address) {
        Ok(reply) if reply == *REPLY => "serves the next",
        _ => "does not serve the next",
    };
    format!("{first}, {next}")
}

/// What a program that received `shown` (a message as `repr` shows it)
/// made of `sent`: all of it, its first 16 bytes, or a part padded with
/// the zeros its buffer started with.
fn received(shown: &str, sent: &[u8]) -> String {
    for came in (0..=sent.len().min(16)).rev() {
        let mut buffer = sent[..came].to_vec();
        buffer.resize(16, 0);
        if repr(&buffer) == shown {
            return match came {
                16 if sent.len() > 16 => "reads the first 16 bytes",
                16 => "gets all 16 bytes",
                0 => "prints 16 zeros",
                _ => "prints zeros for the rest",
            }
            .to_owned();
        }
    }
    format!("prints {shown}")
}

/// The phrase for how a client of the server at `server` did.
fn client_phrase(client: &Finished, server: SocketAddr) -> String {
    if let Some(exception) = uncaught(&client.stderr) {
        return format!("dies: {exception}");
    }
    if client.code() == Some(0) {
        let said = client
            .stdout
            .lines()
            .last()
            .and_then(|line| line.strip_prefix(SERVER_SAID))
            .unwrap_or_else(|| panic!("no reply printed: {client:#?}"));
        return received(said, REPLY);
    }
    let line = client.one_line_error(1);
    let why = line
        .strip_prefix(&client_error(server, ""))
        .unwrap_or_else(|| panic!("not a client's error line: {line}"));
    format!("fails: {}", reason(why))
}

/// The exception that ended a Python program, if `output` ends with its
/// traceback: the class named on the last line, and for a plain `OSError`,
/// whose class does not say what went wrong, the words of its errno.
fn uncaught(output: &str) -> Option<String> {
    let (_, traceback) = output.split_once("Traceback (most recent call last):")?;
    let last = traceback.lines().rfind(|line| !line.is_empty())?;
    let (class, message) = last.split_once(": ").unwrap_or((last, ""));
    Some(match message.split_once("] ") {
        Some((_, words)) if class == "OSError" => format!("{class} ({})", reason(words)),
        _ => class.to_owned(),
    })
}

/// An error message from a Rust program, shortened.
fn reason(why: &str) -> String {
    let why = why.split(" (os error").next().unwrap_or(why);
    if let Some(came) = (0..16).find(|&came| why == closed_early(16, came)) {
        return format!("EOF after {came} bytes");
    }
    match why {
        "Connection reset by peer" => "connection reset".to_owned(),
        "Connection refused" => "connection refused".to_owned(),
        "Transport endpoint is not connected" => "not connected".to_owned(),
        other => other.to_owned(),
    }
}

/// How a process ended, as a shell would say it.
fn exit(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exits {code}"),
        (None, Some(2)) => "killed by SIGINT".to_owned(),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => format!("ends: {status}"),
    }
}

/// Waits until the server says it accepted a connection, and returns the
/// client's address, which it prints in its language's format.
fn next_accepted(server: &mut Server) -> SocketAddr {
    while let Some(line) = server.next_stdout_line_or_end() {
        if let Some(client) = line.strip_prefix(ACCEPTED) {
            return client
                .parse()
                .ok()
                .or_else(|| python_address(client))
                .unwrap_or_else(|| panic!("no address in {line:?}"));
        }
    }
    panic!("the server ended: {:#?}", server.stdout);
}

/// Waits until the server says it accepted `client`.
fn wait_for_accept(server: &mut Server, client: SocketAddr) {
    while next_accepted(server) != client {}
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

// ---------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------

/// Plays every case against every program, a thread for each program, and
/// returns the two tables as markdown lines, a blank line between them.
fn measure() -> Vec<String> {
    let programs = Program::all();
    let columns: Vec<Vec<String>> = thread::scope(|scope| {
        let playing: Vec<_> = programs
            .iter()
            .map(|&program| {
                scope.spawn(move || {
                    AS_SERVER
                        .iter()
                        .chain(&AS_CLIENT)
                        .map(|case| (case.play)(program))
                        .collect::<Vec<String>>()
                })
            })
            .collect();
        playing
            .into_iter()
            .map(|column| {
                column
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p))
            })
            .collect()
    });
    let headings: Vec<String> = programs.iter().map(|p| p.heading()).collect();
    let mut lines = table("The client", &AS_SERVER, &headings, &columns, 0);
    lines.push(String::new());
    lines.extend(table(
        "The server",
        &AS_CLIENT,
        &headings,
        &columns,
        AS_SERVER.len(),
    ));
    lines
}

/// One table: a row per case, a column per program; `first` is the index
/// of the first case's cells in `columns`.
fn table(
    corner: &str,
    cases: &[Case],
    headings: &[String],
    columns: &[Vec<String>],
    first: usize,
) -> Vec<String> {
    let row = |cells: Vec<String>| format!("| {} |", cells.join(" | "));
    let mut lines = vec![
        row(std::iter::once(corner.to_owned())
            .chain(headings.iter().cloned())
            .collect()),
        row(vec!["---".to_owned(); headings.len() + 1]),
    ];
    for (index, case) in cases.iter().enumerate() {
        let cells = columns.iter().map(|column| column[first + index].clone());
        lines.push(row(std::iter::once(case.what.to_owned())
            .chain(cells)
            .collect()));
    }
    lines
}

/// The cells of a markdown table row.
fn cells(line: &str) -> Vec<&str> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    inner.split(" | ").map(str::trim).collect()
}

/// Where the book's table differs from `measured`, cell by cell where the
/// two have the same shape.
fn differences(book: &[&str], measured: &[String]) -> Vec<String> {
    if book.len() != measured.len()
        || book
            .iter()
            .zip(measured)
            .any(|(b, m)| cells(b).len() != cells(m).len())
    {
        return vec![format!(
            "the book's table has another shape; the book shows\n{}\nthis run measured\n{}",
            book.join("\n"),
            measured.join("\n")
        )];
    }
    let mut found = Vec::new();
    // A table's first line is its header: the names of its columns.
    let mut header: Vec<&str> = Vec::new();
    let mut at_header = true;
    for (b, m) in book.iter().zip(measured) {
        if m.is_empty() {
            at_header = true;
            continue;
        }
        let measured_cells = cells(m);
        if at_header {
            header = measured_cells.clone();
            at_header = false;
        }
        for (column, (b, m)) in cells(b).iter().zip(&measured_cells).enumerate() {
            if b != m {
                found.push(format!(
                    "{} / {}: the book says {b:?}, this run: {m:?}",
                    measured_cells[0], header[column]
                ));
            }
        }
    }
    found
}

#[test]
fn the_behaviour_matrix_in_the_book_is_what_every_program_does() {
    let path = repo().join(CHAPTER);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{CHAPTER}: {e}"));
    let (before, rest) = text
        .split_once(&format!("{START}\n"))
        .unwrap_or_else(|| panic!("{CHAPTER} has no line {START}"));
    let (region, after) = rest
        .split_once(END)
        .unwrap_or_else(|| panic!("{CHAPTER} has no line {END} after {START}"));

    let measured = measure();
    if std::env::var_os("BLESS").is_some() {
        let table = measured.join("\n");
        let fresh = format!("{before}{START}\n\n{table}\n\n{END}{after}");
        if fresh != text {
            std::fs::write(&path, fresh).unwrap();
            eprintln!("blessed {CHAPTER}");
        }
        return;
    }
    let book: Vec<&str> = region.trim_matches('\n').lines().collect();
    let found = differences(&book, &measured);
    assert!(
        found.is_empty(),
        "{CHAPTER}: the table differs from what the programs did in this run \
         (fix the program or the book, or run `BLESS=1 cargo test --test behaviour_matrix` \
         and read the diff):\n{}",
        found.join("\n")
    );
}
