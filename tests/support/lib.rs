//! Support shared by the book's tests: the list of the book's programs,
//! building and running them, and waiting for the lines they print.
//!
//! Nothing here sleeps to synchronise: a test waits for a line a program
//! prints (a server's "Listening at ..."), or for a process to exit. The
//! time limit, [`PATIENCE`], only stops a broken program from hanging the
//! test suite.

use std::ffi::OsStr;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use listings::lines_of;
use listings::protocol::{LISTENING, REQUEST, listening_address};
use wait_timeout::ChildExt;

/// Longest a test waits for a line or an exit before it declares the program
/// hung. Generous: a loaded CI machine must not fail a correct program.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// The step programs, in the book's order: with [`TOOLS`], every binary in
/// `listings/src/bin` (`tests/layout.rs` holds the directory to these two
/// lists). Every test that runs each step runs each one listed here.
pub const STEPS: [&str; 8] = [
    "step1", "step2", "step3", "step4", "step5", "step6", "step7", "step8",
];

/// Step 4 and every step after it: the steps whose receiving side loops
/// (`recvall`), as Python's does, and whose server outlives a client that
/// hangs up early.
pub fn looping_steps() -> impl Iterator<Item = &'static str> {
    STEPS.into_iter().skip_while(|step| *step != "step4")
}

/// Step 6 and every step after it: the servers that survive misbehaving
/// clients (a deadline for each conversation, a limit on connections at
/// once, a clean stop on Ctrl-C) and the clients that give up on a server
/// that does not answer, all with the same options. Step 7 and step 8 serve
/// step 6's clients with other designs and print the same lines.
pub fn robust_steps() -> impl Iterator<Item = &'static str> {
    STEPS.into_iter().skip_while(|step| *step != "step6")
}

/// Whether `step` is one of the [`robust_steps`].
pub fn is_robust(step: &str) -> bool {
    robust_steps().any(|robust| robust == step)
}

/// The steps before step 4, which receive with one `read`.
pub fn naive_steps() -> impl Iterator<Item = &'static str> {
    STEPS.into_iter().take_while(|step| *step != "step4")
}

/// The programs that go with the book but are not steps of the port.
pub const TOOLS: [&str; 8] = [
    "chopper",
    "bench",
    "timewait",
    "nagle",
    "halfclose",
    "framed",
    "lines",
    "deadlock",
];

/// Every binary in `listings/src/bin`: the steps, then the tools.
pub fn programs() -> impl Iterator<Item = &'static str> {
    STEPS.into_iter().chain(TOOLS)
}

/// The root of the repository.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The path of a `listings` binary, one of [`programs`], built on first use.
///
/// The tests live in the root package, and Cargo only tells a package's tests
/// where that same package's binaries are, so this builds the `listings`
/// binaries itself, once, into the profile directory the tests run from.
pub fn bin(name: &str) -> PathBuf {
    assert!(
        programs().any(|program| program == name),
        "{name} is not in STEPS or TOOLS (tests/support/lib.rs)"
    );
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| build_binaries("listings")).join(name)
}

/// Builds every binary of the workspace's `package` into the profile
/// directory the tests run from, and returns that directory.
fn build_binaries(package: &str) -> PathBuf {
    // target/<profile>/deps/<test executable>
    let exe = std::env::current_exe().expect("the test executable has a path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("tests run from target/<profile>/deps");
    let mut build = Command::new(env!("CARGO"));
    build
        .current_dir(repo())
        .args(["build", "--quiet", "-p", package, "--bins"]);
    if profile_dir.file_name() == Some(OsStr::new("release")) {
        build.arg("--release");
    }
    let status = build.status().expect("cargo runs");
    assert!(status.success(), "building the {package} binaries failed");
    profile_dir.to_path_buf()
}

/// What a finished program did.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    /// Its standard output, read line by line, so each line ends with a
    /// newline (even a last line the program left without one); with
    /// [`Output::Merged`], its standard error as well.
    pub stdout: String,
    /// Its standard error, each line ending with a newline; empty with
    /// [`Output::Merged`].
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

/// Where a started program's standard error goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// To a pipe of its own: the test reads stdout and stderr apart.
    Apart,
    /// Into the same pipe as stdout, as a terminal shows both: stderr lines
    /// arrive among the stdout lines, in the order the program wrote them.
    Merged,
}

/// Runs a program to the end (or kills it after [`PATIENCE`] and fails).
pub fn run<I, S>(program: impl AsRef<OsStr>, args: I) -> Finished
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new(program);
    command.args(args);
    run_command(command, Output::Apart).unwrap_or_else(|why| panic!("{why}"))
}

/// Runs `command` to the end with no input, its output read as `output`
/// says. Fails, after killing it, if it has not exited within [`PATIENCE`].
pub fn run_command(command: Command, output: Output) -> Result<Finished, String> {
    Process::start(command, output).finish()
}

/// A server process, started by the test and killed when dropped.
///
/// It is ready once it has printed its first line, `Listening at ADDRESS`;
/// the test then reads what it prints, line by line, waiting for each, and
/// may press Ctrl-C ([`Server::interrupt`]) and wait for it to exit.
pub struct Server {
    process: Process,
    /// Where it listens, as its first line said.
    pub address: SocketAddr,
    /// Every stdout line read so far, the "Listening at" line first.
    pub stdout: Vec<String>,
}

impl Server {
    /// Starts `program args...` and waits for its "Listening at ADDRESS" line.
    pub fn start<I, S>(program: impl AsRef<OsStr>, args: I) -> Server
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = Command::new(program);
        command.args(args);
        Server::start_command(command, Output::Apart).unwrap_or_else(|why| panic!("{why}"))
    }

    /// Starts `command` with no input, its output read as `output` says, and
    /// waits for its "Listening at ADDRESS" line. Fails, saying what the
    /// program did instead, if that is not the first line it prints.
    pub fn start_command(command: Command, output: Output) -> Result<Server, String> {
        let mut process = Process::start(command, output);
        let first = match process.stdout.recv_timeout(PATIENCE) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                return Err(format!(
                    "{} printed nothing within {PATIENCE:?}",
                    process.name
                ));
            }
            Err(RecvTimeoutError::Disconnected) => {
                let name = process.name.clone();
                let ended = process.finish()?;
                return Err(format!(
                    "{name} ended ({}) without a line on stdout; its stderr: {:?}",
                    ended.status, ended.stderr
                ));
            }
        };
        // A Rust program prints `127.0.0.1:1060`, tcp.py `('127.0.0.1', 1060)`.
        let address = listening_address(&first)
            .or_else(|| first.strip_prefix(LISTENING).and_then(python_address));
        match address {
            Some(address) => Ok(Server {
                process,
                address,
                stdout: vec![first],
            }),
            None => Err(format!(
                "{} printed {first:?} where a server prints `{LISTENING}ADDRESS` first",
                process.name
            )),
        }
    }

    /// Port for a client's `-p`.
    pub fn port(&self) -> String {
        self.address.port().to_string()
    }

    /// Waits for the server's next stdout line.
    pub fn next_stdout_line(&mut self) -> String {
        self.next_stdout_line_within(PATIENCE)
            .unwrap_or_else(|| panic!("no line on the stdout of {}", self.process.name))
    }

    /// The server's next stdout line if it prints one within `time`; none if
    /// it does not, or has closed its output. `Duration::ZERO` takes a line
    /// already printed, without waiting.
    pub fn next_stdout_line_within(&mut self, time: Duration) -> Option<String> {
        let line = self.process.stdout.recv_timeout(time).ok()?;
        self.stdout.push(line.clone());
        Some(line)
    }

    /// The server's next stdout line, or `None` once it has closed its
    /// output, as a program does when it exits. Fails if neither happens
    /// within [`PATIENCE`].
    pub fn next_stdout_line_or_end(&mut self) -> Option<String> {
        match self.process.stdout.recv_timeout(PATIENCE) {
            Ok(line) => {
                self.stdout.push(line.clone());
                Some(line)
            }
            Err(RecvTimeoutError::Disconnected) => None,
            Err(RecvTimeoutError::Timeout) => panic!(
                "{} neither printed a line nor ended within {PATIENCE:?}",
                self.process.name
            ),
        }
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
        let name = &self.process.name;
        let stderr = self
            .process
            .stderr
            .as_ref()
            .unwrap_or_else(|| panic!("{name} was started with its stderr merged into stdout"));
        stderr
            .recv_timeout(PATIENCE)
            .unwrap_or_else(|e| panic!("no line on the stderr of {name} ({e:?})"))
    }

    /// The server's process id, to look at it from outside (`/proc/<pid>`).
    pub fn pid(&self) -> u32 {
        self.process.child.id()
    }

    /// How many file descriptors the server holds open now: the entries of
    /// `/proc/<pid>/fd` (Linux).
    pub fn open_fds(&self) -> usize {
        let dir = format!("/proc/{}/fd", self.pid());
        std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .count()
    }

    /// How many threads the server runs now: the `Threads:` line of
    /// `/proc/<pid>/status` (Linux). A thread is counted from the moment it
    /// is created, before it has run at all.
    pub fn threads(&self) -> usize {
        let path = format!("/proc/{}/status", self.pid());
        let status = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        status
            .lines()
            .find_map(|line| line.strip_prefix("Threads:"))
            .and_then(|count| count.trim().parse().ok())
            .unwrap_or_else(|| panic!("no `Threads:` line in {path}: {status}"))
    }

    /// Whether the process is still running (it should be, for a server).
    pub fn is_running(&mut self) -> bool {
        matches!(self.process.child.try_wait(), Ok(None))
    }

    /// Sends SIGINT, as Ctrl-C in the server's terminal would.
    pub fn interrupt(&self) {
        let pid = self.pid().to_string();
        let status = Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .expect("kill runs");
        assert!(status.success(), "cannot send SIGINT to {pid}");
    }

    /// Stops the server at once with SIGKILL, whatever it is waiting for;
    /// what it printed before is still there to read.
    pub fn kill(&mut self) {
        // std kills only a child not yet reaped, never a reused pid.
        let _ = self.process.child.kill();
    }

    /// Waits for the server to exit (it should, after [`Server::interrupt`]);
    /// returns its exit status and the lines it printed that the test had
    /// not read yet. Fails, after killing it, if it is still running after
    /// [`PATIENCE`].
    pub fn wait_for_exit(self) -> Finished {
        let mut process = self.process;
        process.finish().unwrap_or_else(|why| panic!("{why}"))
    }
}

/// A started program whose output arrives line by line, each line read by
/// [`listings::lines_of`]; killed when dropped.
struct Process {
    child: Child,
    /// The command, for messages.
    name: String,
    stdout: Receiver<String>,
    /// `None` when stderr is merged into `stdout`.
    stderr: Option<Receiver<String>>,
}

impl Process {
    fn start(mut command: Command, output: Output) -> Process {
        command.stdin(Stdio::null());
        let name = format!("{command:?}");
        let cannot = |e: std::io::Error| panic!("cannot start {name}: {e}");
        let (child, stdout, stderr) = match output {
            Output::Apart => {
                command.stdout(Stdio::piped()).stderr(Stdio::piped());
                let mut child = command.spawn().unwrap_or_else(cannot);
                let stdout = lines_of(child.stdout.take().expect("piped"));
                let stderr = lines_of(child.stderr.take().expect("piped"));
                (child, stdout, Some(stderr))
            }
            Output::Merged => {
                let (reader, writer) = std::io::pipe().expect("a pipe");
                command
                    .stdout(writer.try_clone().expect("a pipe"))
                    .stderr(writer);
                let child = command.spawn().unwrap_or_else(cannot);
                // `command` holds the pipe's writing ends: they must be gone
                // for the reader to see end-of-file once the program exits.
                drop(command);
                (child, lines_of(reader), None)
            }
        };
        Process {
            child,
            name,
            stdout,
            stderr,
        }
    }

    /// Waits for the program to exit, then takes every line it printed that
    /// nobody has read yet. Kills it if it is still running after
    /// [`PATIENCE`].
    fn finish(&mut self) -> Result<Finished, String> {
        let name = &self.name;
        let status = match self.child.wait_timeout(PATIENCE).expect("wait works") {
            Some(status) => status,
            None => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(format!("{name} was still running after {PATIENCE:?}"));
            }
        };
        let rest = |lines: &Receiver<String>| {
            let mut text = String::new();
            loop {
                match lines.recv_timeout(PATIENCE) {
                    Ok(line) => {
                        text.push_str(&line);
                        text.push('\n');
                    }
                    Err(RecvTimeoutError::Disconnected) => return Ok(text),
                    Err(RecvTimeoutError::Timeout) => {
                        return Err(format!(
                            "{name} exited ({status}) but its output stayed open for \
                             {PATIENCE:?}: a process it started still holds it"
                        ));
                    }
                }
            }
        };
        Ok(Finished {
            status,
            stdout: rest(&self.stdout)?,
            stderr: match &self.stderr {
                Some(stderr) => rest(stderr)?,
                None => String::new(),
            },
        })
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

/// The path of `tcp.py`, the book's own Python program, the one the steps
/// port.
pub fn tcp_py() -> PathBuf {
    repo().join("listings").join("python").join("tcp.py")
}

/// `tcp.py` started as a server on a free port.
///
/// Without `PYTHONUNBUFFERED` in its environment, even where the test runs
/// with it set: Python holds back what it prints into a pipe unless told
/// otherwise, so `tcp.py` must flush each line itself for a server's lines
/// to arrive while it runs, as a reader piping it into `tee` needs too.
pub fn tcp_py_server() -> Server {
    let mut command = Command::new(python());
    command
        .arg(tcp_py())
        .args(["server", "-p", "0"])
        .env_remove("PYTHONUNBUFFERED");
    Server::start_command(command, Output::Apart).unwrap_or_else(|why| panic!("{why}"))
}

/// An IPv4 address as Python prints it, the tuple `('127.0.0.1', 1060)`.
/// (`tcp.py` uses IPv4 only; an IPv6 address is a tuple of four.)
///
/// ```
/// use book_tests::python_address;
///
/// let address = python_address("('127.0.0.1', 1060)").unwrap();
/// assert_eq!(address.to_string(), "127.0.0.1:1060");
/// assert_eq!(python_address("127.0.0.1:1060"), None);
/// ```
pub fn python_address(text: &str) -> Option<SocketAddr> {
    let (host, port) = text
        .strip_prefix("('")?
        .strip_suffix(')')?
        .split_once("', ")?;
    let ip: std::net::Ipv4Addr = host.parse().ok()?;
    Some(SocketAddr::from((ip, port.parse().ok()?)))
}

/// A line a Rust program printed, with each IPv4 address in it written as
/// Python prints it: what `tcp.py` prints in that line's place. An address
/// is a word of its own, as in every line the programs print about a
/// connection.
///
/// ```
/// use book_tests::as_python;
///
/// assert_eq!(
///     as_python("  Socket peer: 127.0.0.1:51234"),
///     "  Socket peer: ('127.0.0.1', 51234)"
/// );
/// assert_eq!(as_python("Waiting for a new connection"), "Waiting for a new connection");
/// ```
pub fn as_python(line: &str) -> String {
    line.split(' ')
        .map(|word| match word.parse::<std::net::SocketAddrV4>() {
            Ok(address) => format!("('{}', {})", address.ip(), address.port()),
            Err(_) => word.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A connection on loopback: (the client's end, the server's end), the
/// listener that accepted it already gone.
pub fn connected_pair() -> (std::net::TcpStream, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let address = listener.local_addr().expect("a bound address");
    let client = std::net::TcpStream::connect(address).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    (client, server)
}

/// Closes `stream` with a reset instead of a FIN: `SO_LINGER` with a zero
/// timeout makes close() send RST and throw away anything unsent.
pub fn reset(stream: std::net::TcpStream) {
    socket2::SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .expect("set SO_LINGER");
}

/// How many bytes have arrived at the socket with local address `local`,
/// connected to `remote`, without being read yet by the program that holds
/// it: the kernel's `rx_queue` column in /proc/net/tcp (Linux). `None` while
/// no such connection is listed: not yet, or no longer, as after a reset,
/// which takes a connection out of the kernel's table at once.
pub fn unread_bytes(local: SocketAddr, remote: SocketAddr) -> Option<u32> {
    let row = tcp_table_row(local, remote)?;
    let rx_queue = row[4].split(':').nth(1).expect("tx_queue:rx_queue");
    Some(u32::from_str_radix(rx_queue, 16).expect("hexadecimal"))
}

/// The kernel's line about the socket with local address `local`, connected
/// to `remote`, in /proc/net/tcp (Linux), split into its columns: `sl`,
/// `local_address`, `rem_address`, `st` (the state), `tx_queue:rx_queue`,
/// `tr:tm->when` (the timer running), `retrnsmt`, `uid`, `timeout`, `inode`
/// and more. `None` while no such connection is listed.
pub fn tcp_table_row(local: SocketAddr, remote: SocketAddr) -> Option<Vec<String>> {
    let hex = |addr: SocketAddr| match addr {
        SocketAddr::V4(v4) => format!(
            "{:08X}:{:04X}",
            u32::from_le_bytes(v4.ip().octets()),
            v4.port()
        ),
        SocketAddr::V6(_) => unreachable!("the tests use 127.0.0.1"),
    };
    let (local, remote) = (hex(local), hex(remote));
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp");
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        (fields[1] == local && fields[2] == remote).then_some(fields)
    })
}

/// What `/usr/bin/ss -tinH` (Debian's iproute2 package) prints of the one
/// TCP socket (local, remote), with no header: its row (State, Recv-Q,
/// Send-Q, the addresses), then its internal details (`-i`), words such as
/// `notsent:1024` or `data_segs_in:3`.
pub fn ss_socket_info(local: SocketAddr, remote: SocketAddr) -> String {
    let output = Command::new("/usr/bin/ss")
        .args([
            "-tinH",
            "src",
            &local.to_string(),
            "dst",
            &remote.to_string(),
        ])
        .output()
        .expect("/usr/bin/ss runs (Debian's iproute2 package)");
    String::from_utf8(output.stdout).expect("ss prints UTF-8")
}

/// What `/usr/bin/ss` (Debian's iproute2 package) prints for `args`, its
/// options (`-ltn`, `-tn`) and a filter (`sport = :1060`): one row per
/// socket, split into its columns, State, Recv-Q, Send-Q, the local
/// address and the peer's. The header is checked and left out.
pub fn ss(args: &[&str]) -> Vec<Vec<String>> {
    let output = Command::new("/usr/bin/ss")
        .args(args)
        .output()
        .expect("/usr/bin/ss runs (Debian's iproute2 package)");
    assert!(output.status.success(), "ss {args:?}: {output:?}");
    let text = String::from_utf8(output.stdout).expect("ss prints UTF-8");
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert!(
        header.starts_with(&["State", "Recv-Q", "Send-Q", "Local", "Address:Port", "Peer"]),
        "ss {args:?}: {text}"
    );
    lines
        .map(|line| line.split_whitespace().map(str::to_owned).collect())
        .collect()
}

/// A well-behaved client of the server at `address`: sends the request and
/// reads the whole reply, which it returns.
pub fn good_client(address: SocketAddr) -> std::io::Result<[u8; 16]> {
    let mut conn = TcpStream::connect(address)?;
    // Only a safety net: a server that never answers fails the test
    // instead of hanging it.
    conn.set_read_timeout(Some(PATIENCE))?;
    conn.write_all(REQUEST)?;
    let mut reply = [0; 16];
    conn.read_exact(&mut reply)?;
    Ok(reply)
}

/// Whether the other end still holds the connection open: a read finds no
/// data yet, rather than the end of the stream or a reset.
pub fn still_open(conn: &TcpStream) -> bool {
    conn.set_nonblocking(true).expect("set non-blocking");
    let mut byte = [0; 1];
    let open = matches!((&*conn).read(&mut byte), Err(e) if e.kind() == ErrorKind::WouldBlock);
    conn.set_nonblocking(false).expect("set blocking");
    open
}

/// Waits until a reset has taken the connection (local, remote) out of the
/// kernel's table of connections.
pub fn wait_for_the_reset(local: SocketAddr, remote: SocketAddr) {
    let deadline = Instant::now() + PATIENCE;
    while unread_bytes(local, remote).is_some() {
        assert!(Instant::now() < deadline, "the reset never arrived");
        thread::yield_now();
    }
}

/// Starts a `chopper` on a free port that relays to 127.0.0.1:`to_port`
/// with the `extra` options, and waits for the line that repeats its
/// settings.
pub fn chopper(to_port: u16, extra: &[&str]) -> Server {
    let to = format!("127.0.0.1:{to_port}");
    let mut args = vec!["--listen", "127.0.0.1:0", "--to", &to];
    args.extend_from_slice(extra);
    let mut relay = Server::start(bin("chopper"), args);
    let settings = relay.next_stdout_line();
    assert!(
        settings.starts_with(&format!("Relaying to {to} in pieces of at most")),
        "{settings}"
    );
    relay
}

/// A server for one client, on a free port of 127.0.0.1: it reads the
/// 16-byte request, answers with `reply` (the whole reply, or a part of it)
/// and closes. Returns its address, and its thread, to join once the
/// client is done.
pub fn answer_once(reply: &'static [u8]) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let address = listener.local_addr().expect("a bound address");
    let serving = thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("a client");
        conn.set_read_timeout(Some(PATIENCE))
            .expect("a read timeout");
        // Read the whole request first: closing with unread data would make
        // the kernel reset the connection instead of ending it cleanly.
        let mut request = [0; 16];
        conn.read_exact(&mut request).expect("the request");
        conn.write_all(reply).expect("the reply goes out");
    });
    (address, serving)
}

pub mod include;
pub mod robust;

/// The path of an exercise's program, from the `exercises` crate
/// (`exercises/src/bin/<name>.rs`), built on first use like [`bin`]'s.
pub fn exercise(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let path = BUILT.get_or_init(|| build_binaries("exercises")).join(name);
    assert!(
        path.exists(),
        "{name} is not a program of the exercises crate (exercises/src/bin/{name}.rs)"
    );
    path
}
