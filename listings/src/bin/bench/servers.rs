//! The programs under test: where they are, and starting and stopping the
//! servers among them.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use listings::protocol::{REPLY, REQUEST};
use socket2::{Domain, Socket, Type};

use crate::progress;

/// The interpreter for the Python programs the bench runs.
pub const PYTHON: &str = "python3";

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
        // `cargo run --bin bench` builds only the bench: build the servers it
        // measures with the same profile, so they are neither missing nor stale.
        if let Some(cargo) = std::env::var_os("CARGO") {
            progress("building step5 and step6");
            let mut build = Command::new(cargo);
            build.current_dir(&repo).args([
                "build", "--quiet", "-p", "listings", "--bin", "step5", "--bin", "step6",
            ]);
            if dir.file_name().is_some_and(|name| name == "release") {
                build.arg("--release");
            }
            let status = build
                .status()
                .map_err(|e| format!("cannot run cargo: {e}"))?;
            if !status.success() {
                return Err("building step5 and step6 failed".to_owned());
            }
        }
        for step in ["step5", "step6"] {
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
    pub fn start(mut command: Command) -> io::Result<BackgroundServer> {
        let (port, address) = reserve_port()?;
        let mut child = command
            .args(["-p", &address.port().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let started = Instant::now();
        loop {
            match TcpStream::connect(address) {
                // The server sees a client that says nothing and leaves;
                // every server here takes that in its stride.
                Ok(_) => {
                    return Ok(BackgroundServer {
                        child,
                        address,
                        _port: port,
                    });
                }
                Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => {
                    if let Some(status) = child.try_wait()? {
                        // Most likely it could not bind: a server that does
                        // not set SO_REUSEADDR cannot share the held port.
                        return Err(io::Error::other(format!("exited with {status}")));
                    }
                    if started.elapsed() > Duration::from_secs(10) {
                        let _ = child.kill();
                        let _ = child.wait();
                        return Err(io::Error::other("not listening after 10 s"));
                    }
                    // Its output goes to /dev/null, so there is no
                    // "Listening at" line to wait for: knock again shortly.
                    thread::sleep(Duration::from_millis(5));
                }
                Err(error) => return Err(error),
            }
        }
    }
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
/// (step 5, step 6 and peer.py explicitly, the floor through std's
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

/// The least a server can do per connection, single-threaded like tcp.py.
pub fn floor_server(port: u16) -> io::Result<()> {
    // std sets SO_REUSEADDR on Linux, which lets this bind the held port.
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
    loop {
        let (mut conn, _) = listener.accept()?;
        let mut request = [0; REQUEST.len()];
        // A broken client is the load generator's problem, not the floor's.
        if conn.read_exact(&mut request).is_ok() {
            let _ = conn.write_all(REPLY);
        }
    }
}
