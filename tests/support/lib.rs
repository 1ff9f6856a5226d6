//! Support shared by the book's tests: building and running the step
//! programs, and waiting for the lines they print.
//!
//! Nothing here sleeps to synchronise: a test waits for a line a program
//! prints (a server's "Listening at ..."), or for a process to exit. The
//! time limits below only stop a broken program from hanging the test suite.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::Duration;

use wait_timeout::ChildExt;

/// Longest a test waits for a line or an exit before it declares the program
/// hung. Generous: a loaded CI machine must not fail a correct program.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The step programs, in the book's order.
pub const STEPS: [&str; 6] = ["step1", "step2", "step3", "step4", "step5", "step6"];

/// The root of the repository.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The path of a `listings` binary, built on first use.
///
/// The tests live in the root package, and Cargo only tells a package's tests
/// where that same package's binaries are, so this builds the `listings`
/// binaries itself, once, into the profile directory the tests run from.
pub fn bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        // target/<profile>/deps/<test executable>
        let exe = std::env::current_exe().expect("the test executable has a path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("tests run from target/<profile>/deps");
        let mut build = Command::new(env!("CARGO"));
        build
            .current_dir(repo())
            .args(["build", "--quiet", "-p", "listings", "--bins"]);
        if profile_dir.file_name() == Some(OsStr::new("release")) {
            build.arg("--release");
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "building the listings binaries failed");
        profile_dir.to_path_buf()
    });
    dir.join(name)
}

/// What a finished program did.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// The exit code; a program killed by a signal has none.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Checks that the program failed with `code` and said why in exactly one
    /// line on stderr, with no sign of a panic. Returns that line.
    pub fn one_line_error(&self, code: i32) -> &str {
        assert_eq!(self.code(), Some(code), "exit code; the run was {self:#?}");
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "stderr must be one line; the run was {self:#?}"
        );
        assert!(
            !self.stderr.contains("panicked") && !self.stderr.contains("RUST_BACKTRACE"),
            "a panic is not an error message: {self:#?}"
        );
        lines[0]
    }
}

/// Runs a program to the end (or kills it after [`PATIENCE`] and fails).
pub fn run<I, S>(program: impl AsRef<OsStr>, args: I) -> Finished
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut child = spawn_piped(program.as_ref(), args);
    // Drain both pipes while waiting, so a chatty program cannot block on a
    // full pipe.
    let stdout = drain(child.stdout.take().expect("piped"));
    let stderr = drain(child.stderr.take().expect("piped"));
    let status = match child.wait_timeout(PATIENCE).expect("wait works") {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{:?} did not finish within {PATIENCE:?}", program.as_ref());
        }
    };
    Finished {
        status,
        stdout: stdout.join().expect("reader thread"),
        stderr: stderr.join().expect("reader thread"),
    }
}

/// Starts a program with no input and both outputs piped to the test.
fn spawn_piped<I, S>(program: &OsStr, args: I) -> Child
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program:?}: {e}"))
}

fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

/// A server process, killed when dropped.
pub struct Server {
    child: Child,
    /// Where it listens, as its first line said.
    pub address: SocketAddr,
    /// Every stdout line so far, the "Listening at" line first.
    pub stdout: Vec<String>,
    stdout_lines: Receiver<String>,
    stderr_lines: Receiver<String>,
}

impl Server {
    /// Starts `program args...` and waits for its "Listening at ADDRESS" line.
    pub fn start<I, S>(program: impl AsRef<OsStr>, args: I) -> Server
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut child = spawn_piped(program.as_ref(), args);
        let stdout_lines = lines_of(child.stdout.take().expect("piped"));
        let stderr_lines = lines_of(child.stderr.take().expect("piped"));
        let mut server = Server {
            child,
            address: SocketAddr::from(([0, 0, 0, 0], 0)),
            stdout: Vec::new(),
            stdout_lines,
            stderr_lines,
        };
        let first = server.next_stdout_line();
        server.address = listening_address(&first)
            .unwrap_or_else(|| panic!("a server's first line names its address, not {first:?}"));
        server
    }

    /// Port for a client's `-p`.
    pub fn port(&self) -> String {
        self.address.port().to_string()
    }

    /// Waits for the server's next stdout line.
    pub fn next_stdout_line(&mut self) -> String {
        let line = next(&self.stdout_lines, "stdout");
        self.stdout.push(line.clone());
        line
    }

    /// Waits until the server prints exactly `line` on stdout, and returns
    /// the lines it printed before it.
    pub fn wait_for_stdout(&mut self, line: &str) -> Vec<String> {
        let mut before = Vec::new();
        loop {
            let next = self.next_stdout_line();
            if next == line {
                return before;
            }
            before.push(next);
        }
    }

    /// Waits for the server's next stderr line.
    pub fn next_stderr_line(&mut self) -> String {
        next(&self.stderr_lines, "stderr")
    }

    /// The server's process id, to look at it from outside (`/proc/<pid>`)
    /// or send it a signal.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running (it should be, for a server).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lines_of(pipe: impl Read + Send + 'static) -> Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

fn next(lines: &Receiver<String>, which: &str) -> String {
    lines
        .recv_timeout(PATIENCE)
        .unwrap_or_else(|e| panic!("no line on the server's {which} ({e:?})"))
}

/// Sends SIGINT to a child process, as Ctrl-C in its terminal would.
pub fn interrupt(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "cannot send SIGINT to {}", child.id());
}

/// The address in a server's first line, "Listening at ADDRESS".
pub fn listening_address(line: &str) -> Option<SocketAddr> {
    line.strip_prefix("Listening at ")?.parse().ok()
}

/// A port on 127.0.0.1 that nothing listens on, for as long as this lives.
///
/// Freeing a port and hoping nobody takes it is a race: tests running in
/// parallel bind port 0 all the time, and the kernel may hand the freed port
/// to one of them. So this keeps a socket bound to the port without
/// listening on it: a connection to it is refused, and no other socket can
/// listen on it or be given it as a client's port meanwhile.
pub struct ClosedPort {
    _holder: socket2::Socket,
    port: u16,
}

impl ClosedPort {
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// A fresh [`ClosedPort`].
pub fn closed_port() -> ClosedPort {
    use socket2::{Domain, Socket, Type};
    let holder = Socket::new(Domain::IPV4, Type::STREAM, None).expect("a socket");
    holder
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .expect("bind port 0");
    let port = holder
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .expect("bound to an IP address")
        .port();
    ClosedPort {
        _holder: holder,
        port,
    }
}

/// The interpreter for the Python peer in `tests/peer.py`.
pub fn python() -> &'static str {
    "python3"
}

/// The path of the Python peer.
pub fn python_peer() -> PathBuf {
    repo().join("tests").join("peer.py")
}

pub mod include;
