//! Idle connections: what a server pays, in memory and in threads, for each
//! client that connects and then says nothing.
//!
//! Exchanges per second measure connections that come and go; a chat or a
//! push service instead holds thousands that mostly wait. Step 6 holds each
//! on a thread started for it, step 7 on one of a pool of threads started
//! with the server, step 8 on a Tokio task. Holding N silent clients and
//! reading the server's figures from /proc shows what each design costs per
//! connection, and where the machine stops it.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use rlimit::Resource;

use crate::progress;
use crate::servers::{BackgroundServer, Binaries};

/// The designs measured, each by the step that is it.
pub const DESIGNS: [&str; 3] = ["step6", "step7", "step8"];

/// Open files the bench keeps for itself beyond the connections it holds:
/// standard streams, the socket that holds the server's port, directories
/// of /proc being read, and room to spare.
const HEADROOM: u64 = 64;

/// Most connections left waiting in the server's listen backlog (128 in
/// steps 6 to 8). A full backlog makes the kernel drop new SYNs, and a
/// dropped SYN costs its `connect` a second before the retry; staying well
/// below the backlog, connecting never waits for a retry.
const WAITING: usize = 64;

/// How long the server may go without taking a connection before the bench
/// concludes it will take no more. A limit on progress, not on the whole:
/// holding 10,000 may rightly take many seconds on a slow machine.
const STALL: Duration = Duration::from_secs(5);

/// How long one `connect` may take: a dropped SYN is retried after 1 s,
/// then 3 s after the first try.
const CONNECT_PATIENCE: Duration = Duration::from_secs(10);

/// How often the server's open files are counted while waiting for it.
const POLL: Duration = Duration::from_millis(1);

/// The bench's limit on open files, before and after raising it.
pub struct OpenFiles {
    /// The soft limit the bench started with.
    pub was: u64,
    /// The soft limit now, inherited by every server the bench starts.
    pub soft: u64,
    pub hard: u64,
    /// Why the soft limit could not be raised, if it could not.
    pub error: Option<String>,
}

/// Raises the soft limit on open files to the hard limit. Both the bench,
/// which holds one socket per idle connection, and the server, which holds
/// the other end, need one file per connection; the soft limit is often
/// 1024, which only the hard limit bounds raising.
pub fn raise_open_file_limit() -> Result<OpenFiles, String> {
    let (was, hard) = Resource::NOFILE
        .get()
        .map_err(|e| format!("cannot read the limit on open files: {e}"))?;
    // An unlimited hard limit still stops at the kernel's nr_open, and a
    // soft limit above that is refused.
    let most = fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(1 << 20);
    let wanted = hard.min(most);
    if wanted <= was {
        return Ok(OpenFiles {
            was,
            soft: was,
            hard,
            error: None,
        });
    }
    Ok(match Resource::NOFILE.set(wanted, hard) {
        Ok(()) => OpenFiles {
            was,
            soft: wanted,
            hard,
            error: None,
        },
        Err(error) => OpenFiles {
            was,
            soft: was,
            hard,
            error: Some(error.to_string()),
        },
    })
}

impl OpenFiles {
    /// How many idle connections the bench can hold.
    fn holdable(&self) -> usize {
        usize::try_from(self.soft.saturating_sub(HEADROOM)).unwrap_or(usize::MAX)
    }
}

impl fmt::Display for OpenFiles {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let number = |n: u64| {
            if n == rlimit::INFINITY {
                "unlimited".to_owned()
            } else {
                n.to_string()
            }
        };
        let (was, soft, hard) = (number(self.was), number(self.soft), number(self.hard));
        match &self.error {
            Some(error) => write!(
                f,
                "open files: soft {was}, hard {hard} (could not raise: {error})"
            ),
            None if self.soft > self.was && self.soft == self.hard => {
                write!(f, "open files: soft {was} raised to hard {hard}")
            }
            None if self.soft > self.was => {
                write!(f, "open files: soft {was} raised to {soft} (hard {hard})")
            }
            None => write!(f, "open files: soft {soft}, hard {hard}"),
        }
    }
}

/// A server's memory and threads, as /proc/PID/status reports them.
#[derive(Clone, Copy)]
pub struct Usage {
    /// Resident set size: the memory the process actually occupies.
    pub rss_kib: u64,
    pub threads: u64,
}

/// What came of trying to hold N connections.
pub enum Outcome {
    /// The server with no client, started with `--max-connections 1`: what
    /// the others are measured against.
    Reference(Usage),
    /// All N held: the server's figures, and its memory beyond the
    /// reference's divided by N.
    Held {
        usage: Usage,
        per_connection_kib: f64,
    },
    /// Fewer were held: why, and how many the server held at most.
    NotReached { reason: String, largest: usize },
    /// Not tried, since a smaller N was not reached.
    NotTried,
}

/// One row of the idle-connections table.
pub struct IdleRow {
    pub design: &'static str,
    /// 0 for the reference row.
    pub connections: usize,
    pub outcome: Outcome,
}

/// Holds `counts` idle connections on each design in turn. Only a server
/// that cannot even start with one connection allowed fails the bench:
/// every other failure is a result, reported in the table.
pub fn idle_rows(
    binaries: &Binaries,
    counts: &[usize],
    open_files: &OpenFiles,
) -> Result<Vec<IdleRow>, String> {
    progress("idle connections: memory and threads for each connection held");
    let mut rows = Vec::new();
    for design in DESIGNS {
        let reference = reference_usage(binaries, design)?;
        rows.push(IdleRow {
            design,
            connections: 0,
            outcome: Outcome::Reference(reference),
        });
        let mut reached = true;
        for &connections in counts {
            let outcome = if reached {
                eprint!("\rbench:   idle {design} x{connections}   ");
                let outcome = hold(binaries, design, connections, open_files, reference);
                eprintln!();
                outcome
            } else {
                Outcome::NotTried
            };
            if let Outcome::NotReached { reason, largest } = &outcome {
                progress(&format!(
                    "{design} with {connections} idle connections: not reached: {reason} (largest: {largest})"
                ));
            }
            reached = matches!(outcome, Outcome::Held { .. });
            rows.push(IdleRow {
                design,
                connections,
                outcome,
            });
        }
    }
    Ok(rows)
}

/// The server as the idle measurement starts it: `most` clients at once, and
/// an hour before it gives up on a silent one, so that none is dropped
/// while the bench counts.
fn idle_server(binaries: &Binaries, design: &str, most: usize) -> Command {
    let mut command = binaries.step(design);
    command.args(["--max-connections", &most.to_string(), "--timeout", "3600"]);
    command
}

/// The design's figures with no client and room for one: a pool (step 7)
/// has then one thread, so the threads of a pool of N count as the cost of
/// its N connections.
fn reference_usage(binaries: &Binaries, design: &str) -> Result<Usage, String> {
    let server = BackgroundServer::start_untouched(idle_server(binaries, design, 1), Stdio::null())
        .map_err(|e| format!("{design} --max-connections 1: {e}"))?;
    usage(server.pid()).map_err(|e| format!("{design}: cannot read its /proc status: {e}"))
}

/// Starts `design` for `connections` clients, connects that many which
/// send nothing, waits until the server has accepted every one, and reads
/// its figures.
fn hold(
    binaries: &Binaries,
    design: &str,
    connections: usize,
    open_files: &OpenFiles,
    reference: Usage,
) -> Outcome {
    let log = match ErrorLog::new(design, connections) {
        Ok(log) => log,
        Err(error) => {
            return Outcome::NotReached {
                reason: format!("cannot make a file for the server's errors: {error}"),
                largest: 0,
            };
        }
    };
    // Why a server stopped short is in its last error message, if it wrote one.
    let not_reached = |reason: String, largest| Outcome::NotReached {
        reason: match log.last_line() {
            Some(said) => format!("{reason}; it said: {said}"),
            None => reason,
        },
        largest,
    };
    let started = log.stderr().and_then(|stderr| {
        BackgroundServer::start_untouched(idle_server(binaries, design, connections), stderr)
    });
    let mut server = match started {
        Ok(server) => server,
        Err(error) => return not_reached(format!("the server did not start: {error}"), 0),
    };
    let mut watch = match Watch::new(&mut server) {
        Ok(watch) => watch,
        Err(error) => return not_reached(error, 0),
    };
    let mut held = Vec::with_capacity(connections);
    let target = connections.min(open_files.holdable());
    let mut reason = connect_all(&mut watch, target, &mut held).err();
    if reason.is_none() && target < connections {
        reason = Some(format!(
            "the limit of {} open files leaves the bench room for {target}",
            open_files.soft
        ));
    }
    let outcome = match reason {
        Some(reason) => not_reached(reason, watch.accepted.min(held.len())),
        None => match usage(watch.pid) {
            Ok(usage) => Outcome::Held {
                usage,
                per_connection_kib: (usage.rss_kib as f64 - reference.rss_kib as f64)
                    / connections as f64,
            },
            Err(error) => not_reached(format!("cannot read its /proc status: {error}"), 0),
        },
    };
    // The server goes first, killed: closing thousands of its connections
    // from this end first would only wake its threads to serve the EOFs.
    drop(server);
    drop(held);
    outcome
}

/// A file for a server's standard error, removed when dropped. Only its
/// errors go there, and the servers print none while all goes well, so it
/// costs nothing while measuring; a pipe would need reading meanwhile.
struct ErrorLog {
    path: PathBuf,
}

impl ErrorLog {
    fn new(design: &str, connections: usize) -> io::Result<ErrorLog> {
        let path = std::env::temp_dir().join(format!(
            "bench-{}-{design}-{connections}.stderr",
            std::process::id()
        ));
        File::create(&path)?;
        Ok(ErrorLog { path })
    }

    fn stderr(&self) -> io::Result<Stdio> {
        Ok(OpenOptions::new().append(true).open(&self.path)?.into())
    }

    /// The last line the server wrote, without its "error: ".
    fn last_line(&self) -> Option<String> {
        let text = fs::read_to_string(&self.path).ok()?;
        let line = text.lines().rev().find(|line| !line.trim().is_empty())?;
        Some(line.trim().trim_start_matches("error: ").to_owned())
    }
}

impl Drop for ErrorLog {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Connects `target` clients one after another, each kept open in `held`,
/// and returns once the server has accepted them all.
fn connect_all(watch: &mut Watch, target: usize, held: &mut Vec<TcpStream>) -> Result<(), String> {
    while held.len() < target {
        // Let the server catch up before the backlog could fill.
        watch.wait_for(held.len().saturating_sub(WAITING - 1))?;
        let sock = match TcpStream::connect_timeout(&watch.address, CONNECT_PATIENCE) {
            Ok(sock) => sock,
            // Refused, most likely: the server has closed its listener, on
            // its way out. If it exits, that says more than the refusal.
            Err(error) => {
                let refused = Instant::now();
                while refused.elapsed() < Duration::from_secs(1) {
                    if let Some(exited) = watch.server.exited() {
                        return Err(format!("the server {exited}"));
                    }
                    thread::sleep(POLL);
                }
                return Err(format!("connect: {error}"));
            }
        };
        held.push(sock);
    }
    watch.wait_for(held.len())
}

/// Counts the connections a server has accepted, as the growth of its open
/// files since it started listening: `accept` adds one file per connection
/// and nothing else in these servers opens files while they wait.
struct Watch<'a> {
    server: &'a mut BackgroundServer,
    pid: u32,
    address: SocketAddr,
    /// Its open files with no connection.
    baseline: usize,
    /// Connections accepted when last counted.
    accepted: usize,
}

impl Watch<'_> {
    fn new(server: &mut BackgroundServer) -> Result<Watch<'_>, String> {
        let pid = server.pid();
        let address = server.address;
        let baseline = open_files(pid).map_err(|e| format!("cannot count its open files: {e}"))?;
        Ok(Watch {
            server,
            pid,
            address,
            baseline,
            accepted: 0,
        })
    }

    /// Returns once the server has accepted at least `wanted` connections;
    /// fails if it exits or takes none for [`STALL`].
    fn wait_for(&mut self, wanted: usize) -> Result<(), String> {
        let mut progress_at = Instant::now();
        while self.accepted < wanted {
            if let Some(exited) = self.server.exited() {
                return Err(format!("the server {exited}"));
            }
            let now = open_files(self.pid)
                .map_err(|e| format!("cannot count its open files: {e}"))?
                .saturating_sub(self.baseline);
            if now > self.accepted {
                self.accepted = now;
                progress_at = Instant::now();
            } else if progress_at.elapsed() > STALL {
                let threads =
                    usage(self.pid).map_or_else(|_| "?".to_owned(), |u| u.threads.to_string());
                return Err(format!(
                    "the server took no connection for {} s, at {} ({threads} threads)",
                    STALL.as_secs(),
                    self.accepted
                ));
            } else if self.accepted < wanted {
                // A wait for a condition, polled: nothing else tells the
                // bench that another process has called `accept`.
                thread::sleep(POLL);
            }
        }
        Ok(())
    }
}

/// How many files process `pid` has open.
fn open_files(pid: u32) -> io::Result<usize> {
    Ok(fs::read_dir(format!("/proc/{pid}/fd"))?.count())
}

/// Process `pid`'s resident memory and threads.
fn usage(pid: u32) -> io::Result<Usage> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    // Lines such as "VmRSS:\t    2048 kB" and "Threads:\t1".
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|value| value.parse().ok())
            .ok_or_else(|| io::Error::other(format!("no {name} in /proc/{pid}/status")))
    };
    Ok(Usage {
        rss_kib: field("VmRSS:")?,
        threads: field("Threads:")?,
    })
}
