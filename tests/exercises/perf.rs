//! The exercises of "How fast is it?" (src/performance.md): a load client
//! that counts exchanges per second, and a server that prints each
//! connection's lines with one system call.
//!
//! Neither check times anything: how fast a program runs says as much
//! about the machine as about the program. They check what the programs
//! do: how many connections, what went over each, what was printed, and
//! (Linux) how many `write` system calls the printing took.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::thread::{self, JoinHandle};

use book_tests::PATIENCE;
use listings::protocol::{REPLY, REQUEST};
use socket2::{Domain, Socket, Type};

use super::support::{failed, run_program};

/// How many exchanges the check asks the load client for: enough that
/// they take milliseconds, so that a time printed to the millisecond is
/// not zero.
const EXCHANGES: u32 = 300;

/// The thread that serves one connection, and what it found.
type Serving = JoinHandle<Result<(), String>>;

/// A server of the check's own that counts connections: it answers each
/// on a thread of its own and records what the client did on it. It stops
/// at a last connection that the check itself makes, whose address it is
/// told before that connection exists.
struct CountingServer {
    address: SocketAddr,
    last: Arc<OnceLock<SocketAddr>>,
    accepting: JoinHandle<Result<Vec<Serving>, String>>,
}

impl CountingServer {
    fn start() -> Result<CountingServer, String> {
        let listener =
            TcpListener::bind("127.0.0.1:0").map_err(failed("the check's server cannot bind"))?;
        let address = listener
            .local_addr()
            .map_err(failed("the check's server"))?;
        let last = Arc::new(OnceLock::new());
        let stop_at = Arc::clone(&last);
        let accepting = thread::spawn(move || {
            let mut served = Vec::new();
            loop {
                let (conn, peer) = listener
                    .accept()
                    .map_err(failed("the check's server cannot accept"))?;
                if stop_at.get() == Some(&peer) {
                    return Ok(served);
                }
                served.push(thread::spawn(move || serve(conn)));
            }
        });
        Ok(CountingServer {
            address,
            last,
            accepting,
        })
    }

    /// Stops the server, once every connection made before this call has
    /// been accepted (the kernel hands them to `accept` in the order their
    /// handshakes finished), and returns what happened on each.
    fn finish(self) -> Result<Vec<Result<(), String>>, String> {
        let last = Socket::new(Domain::IPV4, Type::STREAM, None)
            .map_err(failed("the check's last connection"))?;
        last.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .map_err(failed("the check's last connection"))?;
        let name = last
            .local_addr()
            .ok()
            .and_then(|name| name.as_socket())
            .ok_or("the check's last connection has no address")?;
        self.last
            .set(name)
            .map_err(|_| "the check's last connection was made twice")?;
        last.connect(&self.address.into())
            .map_err(failed("the check's last connection"))?;
        let served = self
            .accepting
            .join()
            .map_err(|_| "the check's server panicked")??;
        served
            .into_iter()
            .map(|one| {
                one.join()
                    .map_err(|_| "the check's server panicked".to_owned())
            })
            .collect()
    }
}

/// One connection of the load client: the request, the reply, then the
/// client's close, with nothing more on the connection.
fn serve(mut conn: TcpStream) -> Result<(), String> {
    let failed = |e: std::io::Error| format!("the check's server: {e}");
    conn.set_read_timeout(Some(PATIENCE)).map_err(failed)?;
    let mut request = Vec::new();
    let read = (&mut conn)
        .take(REQUEST.len() as u64)
        .read_to_end(&mut request);
    if let Err(e) = read {
        return Err(format!(
            "a connection sent b'{}', then nothing more, and the check's server gave up \
             waiting for the rest of the request: {e}",
            request.escape_ascii()
        ));
    }
    if request != REQUEST {
        return Err(format!(
            "a connection's request was b'{}', where step 5's client sends b'{}'",
            request.escape_ascii(),
            REQUEST.escape_ascii()
        ));
    }
    conn.write_all(REPLY).map_err(failed)?;
    let mut more = Vec::new();
    match conn.read_to_end(&mut more) {
        Ok(0) => Ok(()),
        Ok(_) => Err(format!(
            "a connection sent more after its request (b'{}'): the exercise makes one \
             exchange per connection",
            more.escape_ascii()
        )),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Err(format!(
            "a connection was still open {PATIENCE:?} after its reply: close each one \
             once its exchange is done"
        )),
        Err(e) => Err(format!(
            "a connection ended with an error after its reply: {e}"
        )),
    }
}

/// The numbers in `N exchanges in S s: R per second`.
fn parse_rate_line(line: &str) -> Option<(u32, f64, f64)> {
    let (count, rest) = line.split_once(" exchanges in ")?;
    let (seconds, rest) = rest.split_once(" s: ")?;
    let rate = rest.strip_suffix(" per second")?;
    Some((
        count.parse().ok()?,
        seconds.parse().ok()?,
        rate.parse().ok()?,
    ))
}

fn count(program: &Path) -> Result<(), String> {
    let server = CountingServer::start()?;
    let port = server.address.port().to_string();
    let count = EXCHANGES.to_string();
    let client = run_program(program, &["client", "-p", &port, "--count", &count])?;
    let served = server.finish()?;

    let wrong: Vec<&String> = served.iter().filter_map(|one| one.as_ref().err()).collect();
    if client.code() != Some(0) {
        let seen = match wrong.first() {
            Some(first) => format!("; the check's server saw this: {first}"),
            None => String::new(),
        };
        return Err(format!(
            "`client --count {count}` failed: exit {:?}, stderr {:?}{seen}",
            client.code(),
            client.stderr
        ));
    }
    if served.len() != EXCHANGES as usize {
        return Err(format!(
            "`client --count {count}` made {} connections; it should make {count}, one per \
             exchange",
            served.len()
        ));
    }
    if let Some(first) = wrong.first() {
        return Err(format!(
            "{} of the {count} connections did not hold one whole exchange; the first: {first}",
            wrong.len()
        ));
    }

    let format = "N exchanges in S s: R per second";
    let lines: Vec<&str> = client.stdout.lines().collect();
    let [line] = lines[..] else {
        return Err(format!(
            "`client --count {count}` should print one line, `{format}`, and nothing while it \
             works (printing would be measured too); it printed {} lines, the first {:?} and \
             the last {:?}",
            lines.len(),
            lines.first().unwrap_or(&""),
            lines.last().unwrap_or(&"")
        ));
    };
    let Some((n, seconds, rate)) = parse_rate_line(line) else {
        return Err(format!(
            "the client printed {line:?}; the line should read `{format}`, N a whole number, \
             S and R numbers"
        ));
    };
    if n != EXCHANGES {
        return Err(format!(
            "the client made {count} exchanges but its line says {n}: {line:?}"
        ));
    }
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(format!(
            "in {line:?}, S should be the seconds the exchanges took, more than zero: print it \
             with enough decimals (say `{{:.3}}`) that a short run is not 0"
        ));
    }
    // Not a timing: whatever the time was, R is N divided by S, so R x S
    // is N, give or take the rounding of what was printed.
    let product = rate * seconds;
    if !(rate.is_finite() && (0.5..=2.0).contains(&(product / f64::from(n)))) {
        return Err(format!(
            "in {line:?}, R should be N divided by S, the exchanges per second; R x S is \
             {product:.1}, not about {n}"
        ));
    }
    Ok(())
}

exercise!(perf_1_count, super::count);

#[cfg(target_os = "linux")]
mod one_write {
    //! The second exercise's check, on Linux only: it reads the kernel's
    //! count of the server's `write` system calls from `/proc/<pid>/io`.

    use std::io::{Read, Write};
    use std::net::{Shutdown, SocketAddr};
    use std::path::Path;

    use book_tests::Server;
    use listings::protocol::{
        REPLY, REPLY_SENT, REQUEST, SOCKET_NAME, SOCKET_PEER, WAITING, accepted, closed_early,
        connection_error, incoming,
    };

    use crate::support::{
        connect, failed, lines_until, next_line_until, start_server, with_last_words,
    };

    /// How many connections the check counts the `write` calls of.
    const ROUNDS: u64 = 10;

    /// How many `write` system calls (`write`, `writev`, `pwrite`...) the
    /// server has made so far: `syscw` in `/proc/<pid>/io` (Linux). The
    /// server's sends on sockets are `sendto`, which it does not count.
    fn write_calls(server: &mut Server) -> Result<u64, String> {
        if !server.is_running() {
            return Err("the server ended".to_owned());
        }
        let path = format!("/proc/{}/io", server.pid());
        let io = std::fs::read_to_string(&path).map_err(|e| {
            format!("cannot read {path}, where Linux counts a process's write calls: {e}")
        })?;
        io.lines()
            .find_map(|line| line.strip_prefix("syscw:"))
            .and_then(|count| count.trim().parse().ok())
            .ok_or_else(|| format!("no `syscw:` line in {path}: {io:?}"))
    }

    /// The server's lines up to its next `Waiting` line, which it prints
    /// once it is done with a connection.
    fn round(server: &mut Server, what: &str) -> Result<Vec<String>, String> {
        lines_until(server, |line| line == WAITING)
            .map_err(|why| format!("after {what}, the server printed no `{WAITING}` line: {why}"))
    }

    /// One exchange from the check's side; returns the client's address.
    fn exchange(address: SocketAddr) -> Result<SocketAddr, String> {
        let mut conn = connect(address)?;
        let name = conn.local_addr().map_err(failed("a client"))?;
        conn.write_all(REQUEST)
            .map_err(failed("sending the request"))?;
        let mut reply = [0; 16];
        conn.read_exact(&mut reply)
            .map_err(failed("receiving the reply"))?;
        if reply != *REPLY {
            return Err(format!("the server replied b'{}'", reply.escape_ascii()));
        }
        Ok(name)
    }

    pub(super) fn one_write(program: &Path) -> Result<(), String> {
        let mut server = start_server(program)?;
        check(&mut server).map_err(|why| with_last_words(why, server))
    }

    fn check(server: &mut Server) -> Result<(), String> {
        next_line_until(server, |line| line == WAITING)
            .map_err(|why| format!("the server printed no `{WAITING}` line at first: {why}"))?;
        let before = write_calls(server)?;
        for number in 1..=ROUNDS {
            let client =
                exchange(server.address).map_err(|why| format!("exchange {number}: {why}"))?;
            let lines = round(server, &format!("exchange {number}"))?;
            let expected = [
                accepted(client),
                format!("{SOCKET_NAME}{}", server.address),
                format!("{SOCKET_PEER}{client}"),
                incoming(REQUEST),
                REPLY_SENT.to_owned(),
            ];
            if lines != expected {
                return Err(format!(
                    "for a connection from {client}, step 5 prints {expected:?}, then \
                     `{WAITING}`; this server printed {lines:?}"
                ));
            }
        }
        let calls = write_calls(server)? - before;
        if calls != ROUNDS {
            let each = calls as f64 / ROUNDS as f64;
            return Err(format!(
                "the server made {calls} write system calls for {ROUNDS} connections, {each:.1} \
                 each; the exercise asks for one: the connection's five lines and the \
                 `{WAITING}` line after them, handed to standard output together \
                 (each `println!` is a `write` of its own)"
            ));
        }

        // A client that sends 5 bytes and closes: the lines printed so far,
        // then the error, then `Waiting`, in step 5's order.
        let mut early = connect(server.address)?;
        let name = early.local_addr().map_err(failed("a client"))?;
        early
            .write_all(&REQUEST[..5])
            .map_err(failed("sending 5 bytes"))?;
        early
            .shutdown(Shutdown::Write)
            .map_err(failed("closing after 5 bytes"))?;
        let lines = round(server, "a client that sent 5 bytes and closed")?;
        let expected = [
            accepted(name),
            format!("{SOCKET_NAME}{}", server.address),
            format!("{SOCKET_PEER}{name}"),
            connection_error(name, &closed_early(16, 5)),
        ];
        if lines != expected {
            return Err(format!(
                "for a client that sent 5 bytes and closed, step 5 prints {expected:?} (the \
                 last on standard error), then `{WAITING}`; this server printed {lines:?}"
            ));
        }
        Ok(())
    }
}

#[cfg(target_os = "linux")]
exercise!(perf_2_one_write, super::one_write::one_write);
