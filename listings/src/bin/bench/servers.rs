//! The programs under test: where they are, and starting and stopping the
//! servers among them.

use std::fs;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use listings::protocol::{
    REPLY, REPLY_SENT, REQUEST, SOCKET_NAME, SOCKET_PEER, WAITING, accepted, incoming,
};
use socket2::{Domain, Socket, Type};

use crate::progress;

/// The interpreter for the Python programs the bench runs.
pub const PYTHON: &str = "python3";

/// The step programs the bench measures, built before it starts.
pub const STEPS: [&str; 4] = ["step5", "step6", "step7", "step8"];

/// Where the programs the bench starts are.
pub struct Binaries {
    dir: PathBuf,
    repo: PathBuf,
}

impl Binaries {
    pub fn find() -> Result<Binaries, String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find myself: {e}"))?;
        let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
        let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let steps = STEPS.join(", ");
        // `cargo run --bin bench` builds only the bench: build the servers it
        // measures with the same profile, so they are neither missing nor stale.
        if let Some(cargo) = std::env::var_os("CARGO") {
            progress(&format!("building {steps}"));
            let mut build = Command::new(cargo);
            build
                .current_dir(&repo)
                .args(["build", "--quiet", "-p", "listings"]);
            for step in STEPS {
                build.args(["--bin", step]);
            }
            if dir.file_name().is_some_and(|name| name == "release") {
                build.arg("--release");
            }
            let status = build
                .status()
                .map_err(|e| format!("cannot run cargo: {e}"))?;
            if !status.success() {
                return Err(format!("building {steps} failed"));
            }
        }
        for step in STEPS {
            if !dir.join(step).exists() {
                return Err(format!(
                    "{step} is not built next to the bench; run: cargo build --release -p listings --bins"
                ));
            }
        }
        Ok(Binaries { dir, repo })
    }

    pub fn step(&self, name: &str) -> Command {
        let mut command = Command::new(self.dir.join(name));
        command.arg("server");
        command
    }

    pub fn floor(&self) -> Command {
        let mut command = Command::new(std::env::current_exe().unwrap_or_default());
        command.arg("floor-server");
        command
    }

    /// The floor server, printing step 5's lines for every connection.
    pub fn floor_printing(&self) -> Command {
        let mut command = self.floor();
        command.arg("--print");
        command
    }

    pub fn python(&self) -> Command {
        let mut command = Command::new(PYTHON);
        command.arg(self.repo.join("tests/peer.py")).arg("server");
        command
    }

    pub fn accumulate_script(&self) -> PathBuf {
        self.repo.join("listings/bench/accumulate.py")
    }
}

/// A server process with all its output sent to /dev/null, so that what is
/// measured is serving, not printing into a pipe; killed when dropped.
pub struct BackgroundServer {
    child: Child,
    pub address: SocketAddr,
    /// Held until the server is gone: see [`reserve_port`].
    _port: Socket,
}

impl BackgroundServer {
    /// Starts `command -p PORT` on a port held for it, and waits until it
    /// accepts connections.
    pub fn start(command: Command) -> io::Result<BackgroundServer> {
        let mut server = BackgroundServer::spawn(command, Stdio::null())?;
        let started = Instant::now();
        loop {
            match TcpStream::connect(server.address) {
                // The server sees a client that says nothing and leaves;
                // every server here takes that in its stride.
                Ok(_) => return Ok(server),
                Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => {
                    server.still_starting(started)?;
                    // Its output goes to /dev/null, so there is no
                    // "Listening at" line to wait for: knock again shortly.
                    thread::sleep(Duration::from_millis(5));
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Starts `command -p PORT` like [`start`](Self::start), but waits
    /// until it listens without connecting to it: a server whose open files
    /// and memory are to be counted has then seen no client at all. Its
    /// standard error goes to `stderr`.
    pub fn start_untouched(command: Command, stderr: Stdio) -> io::Result<BackgroundServer> {
        let mut server = BackgroundServer::spawn(command, stderr)?;
        let started = Instant::now();
        while !listening(server.address.port())? {
            server.still_starting(started)?;
            thread::sleep(Duration::from_millis(5));
        }
        Ok(server)
    }

    fn spawn(mut command: Command, stderr: Stdio) -> io::Result<BackgroundServer> {
        let (port, address) = reserve_port()?;
        let child = command
            .args(["-p", &address.port().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()?;
        Ok(BackgroundServer {
            child,
            address,
            _port: port,
        })
    }

    /// Fails if the server, not listening yet, has exited or has been
    /// starting for too long.
    fn still_starting(&mut self, started: Instant) -> io::Result<()> {
        if let Some(exited) = self.exited() {
            // Most likely it could not bind: a server that does not set
            // SO_REUSEADDR cannot share the held port.
            return Err(io::Error::other(exited));
        }
        if started.elapsed() > Duration::from_secs(10) {
            return Err(io::Error::other("not listening after 10 s"));
        }
        Ok(())
    }

    /// The server's process id, to read what /proc says about it.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How the server ended, if it has: "exited with exit status: 1".
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(format!("exited with {status}")),
            Ok(None) => None,
            Err(error) => Some(format!("cannot be waited for: {error}")),
        }
    }
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a socket on this machine listens on `port`, as the kernel's
/// table of IPv4 TCP sockets says. The bench's own socket that holds the
/// port is bound but never listens, so a listener there is the server's.
fn listening(port: u16) -> io::Result<bool> {
    const LISTEN: &str = "0A";
    let table = fs::read_to_string("/proc/net/tcp")?;
    // Each line: number, local address as ADDRESS:PORT in hex, remote
    // address, state, and more.
    let local_port = format!(":{port:04X}");
    Ok(table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields
            .get(1)
            .is_some_and(|local| local.ends_with(&local_port))
            && fields.get(3) == Some(&LISTEN)
    }))
}

/// A free port on 127.0.0.1, kept from everyone but the server it is for.
///
/// A port freed to be passed on is a race: until the server binds it, the
/// kernel may hand it to any other program that asks for a port. Reading a
/// server's `Listening at` line instead would need a pipe for its output,
/// and a pipe costs a server that prints per connection much of its rate.
/// So the returned socket stays bound to the port without listening on it.
/// Linux lets a second socket bind and listen on that port while neither is
/// listening, provided both set SO_REUSEADDR, as every server here does
/// (steps 5 to 8 and peer.py explicitly, the floor through std's
/// `TcpListener::bind`). Ports handed out to others, for binding or
/// connecting, are never ones that a socket is bound to.
fn reserve_port() -> io::Result<(Socket, SocketAddr)> {
    let holder = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    holder.set_reuse_address(true)?;
    holder.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())?;
    let address = holder
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("bound to something other than an IP address"))?;
    Ok((holder, address))
}

/// The least a server can do per connection, single-threaded like tcp.py;
/// with `print`, it also prints step 5's lines for each connection (and
/// asks for the socket's name to print), so that the two floors measured
/// side by side show what printing costs a server.
pub fn floor_server(port: u16, print: bool) -> io::Result<()> {
    // std sets SO_REUSEADDR on Linux, which lets this bind the held port.
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
    loop {
        let (mut conn, peer) = listener.accept()?;
        if print {
            println!("{}", accepted(peer));
            println!("{SOCKET_NAME}{}", conn.local_addr()?);
            println!("{SOCKET_PEER}{peer}");
        }
        let mut request = [0; REQUEST.len()];
        // A broken client is the load generator's problem, not the floor's.
        if conn.read_exact(&mut request).is_ok() {
            if print {
                println!("{}", incoming(&request));
            }
            let _ = conn.write_all(REPLY);
        }
        drop(conn);
        if print {
            println!("{REPLY_SENT}");
            println!("{WAITING}");
        }
    }
}
