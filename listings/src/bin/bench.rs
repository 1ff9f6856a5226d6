//! bench: how fast the book's programs move data and serve clients, measured
//! side by side in one run on this machine.
//!
//! ```text
//! cargo run --release -p listings --bin bench            # the full run (minutes)
//! cargo run --release -p listings --bin bench -- --quick # under a minute
//! cargo run --release -p listings --bin bench -- --markdown src/bench-results.md
//! ```
//!
//! Every figure is the median of several runs, shown with the smallest and
//! largest. Speeds are only ever compared as ratios between figures taken in
//! the same run: absolute numbers depend on the machine and on what else it
//! is doing, ratios much less.

use std::fmt::Write as _;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

/// Measures the book's TCP programs: bulk transfer, exchanges per second,
/// and the cost of accumulating received bytes the way tcp.py does.
#[derive(Parser)]
#[command(disable_version_flag = true)]
struct Options {
    /// Small sizes and short windows: the whole run ends within a minute
    #[arg(long)]
    quick: bool,
    /// Tiny sizes, for the test that checks the bench works (its figures
    /// mean nothing)
    #[arg(long, hide = true, conflicts_with = "quick")]
    tiny: bool,
    /// Also write the results as a markdown table to FILE
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
    #[command(subcommand)]
    internal: Option<Internal>,
}

#[derive(Subcommand)]
enum Internal {
    /// The floor server: accept, read 16 bytes, write 16, close, print
    /// nothing but the address it listens on. Started by the bench itself.
    #[command(hide = true)]
    FloorServer {
        #[arg(short, long)]
        port: u16,
    },
}

/// Sizes, repeats and durations for one run.
struct Plan {
    repeats: usize,
    bulk_sizes: Vec<usize>,
    rate_window: Duration,
    concurrency: usize,
    accumulate_sizes: Vec<usize>,
}

const MIB: usize = 1024 * 1024;

impl Plan {
    fn new(options: &Options) -> Plan {
        if options.tiny {
            Plan {
                repeats: 5,
                bulk_sizes: vec![64 * 1024],
                rate_window: Duration::from_millis(20),
                concurrency: 2,
                accumulate_sizes: vec![64 * 1024],
            }
        } else if options.quick {
            Plan {
                repeats: 5,
                bulk_sizes: vec![MIB, 16 * MIB],
                rate_window: Duration::from_millis(300),
                concurrency: 8,
                accumulate_sizes: vec![MIB, 2 * MIB, 4 * MIB],
            }
        } else {
            Plan {
                repeats: 5,
                bulk_sizes: vec![MIB, 16 * MIB, 256 * MIB],
                rate_window: Duration::from_secs(2),
                concurrency: 8,
                accumulate_sizes: vec![MIB, 4 * MIB, 16 * MIB, 32 * MIB],
            }
        }
    }
}

fn main() -> ExitCode {
    let options: Options = match listings::parse_args() {
        Ok(options) => options,
        Err(exit) => return exit,
    };
    if let Some(Internal::FloorServer { port }) = options.internal {
        return match floor_server(port) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("error: floor server: {error}");
                ExitCode::FAILURE
            }
        };
    }
    match bench(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn bench(options: &Options) -> Result<(), String> {
    let plan = Plan::new(options);
    let binaries = Binaries::find()?;
    let mut report = Report::default();

    progress("bulk transfer: sendall/recvall against a raw copy loop");
    let mut bulk_ratio = 0.0;
    for &size in &plan.bulk_sizes {
        let book = measure(plan.repeats, &format!("bulk {} book", mib(size)), || {
            bulk(size, Receiver::Recvall).map(|t| mb_per_s(size, t))
        })?;
        let warm = measure(plan.repeats, &format!("bulk {} warm", mib(size)), || {
            bulk(size, Receiver::RecvallWarm).map(|t| mb_per_s(size, t))
        })?;
        let raw = measure(plan.repeats, &format!("bulk {} raw", mib(size)), || {
            bulk(size, Receiver::Discard).map(|t| mb_per_s(size, t))
        })?;
        bulk_ratio = book.median / raw.median;
        report.bulk.push((size, book, warm, raw));
    }

    progress("exchanges per second: connect, 16 bytes each way, close");
    let servers = [
        ("floor", binaries.floor()),
        ("step5", binaries.step("step5")),
        ("step6", binaries.step("step6")),
        ("python", binaries.python()),
    ];
    for (name, command) in servers {
        let server = BackgroundServer::start(command).map_err(|e| format!("{name}: {e}"))?;
        let sequential = measure(plan.repeats, &format!("rate {name} x1"), || {
            exchange_rate(server.address, 1, plan.rate_window)
        })?;
        let concurrent = measure(
            plan.repeats,
            &format!("rate {name} x{}", plan.concurrency),
            || exchange_rate(server.address, plan.concurrency, plan.rate_window),
        )?;
        report.rate.push((name, sequential, concurrent));
    }

    progress("accumulating received bytes: data += more, bytearray, Rust recvall");
    for &size in &plan.accumulate_sizes {
        let mut figures = Vec::new();
        for way in ["bytes", "bytearray"] {
            figures.push(measure(
                plan.repeats,
                &format!("accumulate {} python {way}", mib(size)),
                || python_accumulate(&binaries, size, way),
            )?);
        }
        figures.push(measure(
            plan.repeats,
            &format!("accumulate {} rust recvall", mib(size)),
            || bulk(size, Receiver::Recvall).map(|t| t.as_secs_f64() * 1e3),
        )?);
        report.accumulate.push((size, figures));
    }

    let table = report.markdown(&plan, bulk_ratio);
    println!("{table}");
    if let Some(path) = &options.markdown {
        fs::write(path, &table).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        progress(&format!("wrote {}", path.display()));
    }
    let rate = |name: &str| {
        report
            .rate
            .iter()
            .find(|(n, _, _)| *n == name)
            .map_or(f64::NAN, |(_, sequential, _)| sequential.median)
    };
    println!(
        "summary: bulk/raw={:.2} step6/floor={:.2} step6/python={:.2}",
        bulk_ratio,
        rate("step6") / rate("floor"),
        rate("step6") / rate("python"),
    );
    Ok(())
}

fn progress(what: &str) {
    eprintln!("bench: {what}");
}

fn mib(bytes: usize) -> String {
    if bytes >= MIB {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{} KiB", bytes / 1024)
    }
}

fn mb_per_s(bytes: usize, took: Duration) -> f64 {
    bytes as f64 / 1e6 / took.as_secs_f64()
}

/// The median, smallest and largest of several runs of one measurement.
#[derive(Clone, Copy)]
struct Figure {
    median: f64,
    min: f64,
    max: f64,
}

fn measure(
    repeats: usize,
    label: &str,
    mut once: impl FnMut() -> io::Result<f64>,
) -> Result<Figure, String> {
    let mut values = Vec::with_capacity(repeats);
    for run in 1..=repeats {
        eprint!("\rbench:   {label} {run}/{repeats}   ");
        let _ = io::stderr().flush();
        values.push(once().map_err(|e| format!("{label}: {e}"))?);
    }
    eprintln!();
    values.sort_by(f64::total_cmp);
    Ok(Figure {
        median: values[values.len() / 2],
        min: values[0],
        max: values[values.len() - 1],
    })
}

/// How the receiving side of a bulk transfer treats the bytes.
#[derive(Clone, Copy)]
enum Receiver {
    /// As the book does: a buffer the size of the message, filled by
    /// `recvall`'s loop (here `read_exact`, which is the same loop: a bench
    /// cannot call into the step binaries).
    Recvall,
    /// The same, into a buffer whose pages were written to beforehand: the
    /// difference from `Recvall` is the cost of first touching fresh memory.
    RecvallWarm,
    /// The local limit: large reads into one reused buffer, data dropped.
    Discard,
}

/// Sends `size` bytes over one loopback connection and returns how long the
/// receiver took from accepting to holding (or having seen) the last byte.
fn bulk(size: usize, receiver: Receiver) -> io::Result<Duration> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let address = listener.local_addr()?;
    let sender = thread::spawn(move || -> io::Result<()> {
        let data = vec![b'x'; size];
        let mut sock = TcpStream::connect(address)?;
        match receiver {
            Receiver::Recvall | Receiver::RecvallWarm => sock.write_all(&data),
            Receiver::Discard => {
                for piece in data.chunks(256 * 1024) {
                    sock.write_all(piece)?;
                }
                Ok(())
            }
        }
    });
    let mut warm = Vec::new();
    if let Receiver::RecvallWarm = receiver {
        warm = vec![1u8; size];
    }
    let (mut conn, _) = listener.accept()?;
    let started = Instant::now();
    let received = match receiver {
        Receiver::Recvall => {
            // recvall's loop, as std provides it: read into the rest of a
            // buffer the size of the message until it is full.
            let mut data = vec![0; size];
            conn.read_exact(&mut data)?;
            data.len()
        }
        Receiver::RecvallWarm => {
            conn.read_exact(&mut warm)?;
            warm.len()
        }
        Receiver::Discard => {
            let mut buffer = vec![0; 256 * 1024];
            let mut seen = 0;
            while seen < size {
                match conn.read(&mut buffer)? {
                    0 => break,
                    n => seen += n,
                }
            }
            seen
        }
    };
    let took = started.elapsed();
    sender
        .join()
        .map_err(|_| io::Error::other("sender thread panicked"))??;
    if received != size {
        return Err(io::Error::other(format!(
            "received {received} of {size} bytes"
        )));
    }
    Ok(took)
}

/// Exchanges completed per second by `clients` threads, each running
/// connect, send 16, receive 16, close, for `window`.
fn exchange_rate(address: SocketAddr, clients: usize, window: Duration) -> io::Result<f64> {
    let started = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            thread::spawn(move || -> io::Result<u64> {
                let mut done = 0;
                // At least one exchange each, even if this thread starts
                // after the window has closed on a busy machine: a rate
                // computed from nothing would be zero, not a measurement.
                loop {
                    let mut sock = TcpStream::connect(address)?;
                    sock.write_all(b"Hi there, server")?;
                    let mut reply = [0; 16];
                    sock.read_exact(&mut reply)?;
                    done += 1;
                    if started.elapsed() >= window {
                        break;
                    }
                }
                Ok(done)
            })
        })
        .collect();
    let mut total = 0;
    for worker in workers {
        total += worker
            .join()
            .map_err(|_| io::Error::other("client thread panicked"))??;
    }
    // Measured to the end of the last exchange, which may run past the window.
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

/// The least a server can do per connection, single-threaded like tcp.py.
fn floor_server(port: u16) -> io::Result<()> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
    loop {
        let (mut conn, _) = listener.accept()?;
        let mut message = [0; 16];
        // A broken client is the load generator's problem, not the floor's.
        if conn.read_exact(&mut message).is_ok() {
            let _ = conn.write_all(b"Goodbye, client!");
        }
    }
}

/// Where the programs the bench starts are.
struct Binaries {
    dir: PathBuf,
    repo: PathBuf,
}

impl Binaries {
    fn find() -> Result<Binaries, String> {
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

    fn step(&self, name: &str) -> Command {
        let mut command = Command::new(self.dir.join(name));
        command.arg("server");
        command
    }

    fn floor(&self) -> Command {
        let mut command = Command::new(std::env::current_exe().unwrap_or_default());
        command.arg("floor-server");
        command
    }

    fn python(&self) -> Command {
        let mut command = Command::new("python3");
        command.arg(self.repo.join("tests/peer.py")).arg("server");
        command
    }

    fn accumulate_script(&self) -> PathBuf {
        self.repo.join("listings/bench/accumulate.py")
    }
}

/// A server process with all its output sent to /dev/null, so that what is
/// measured is serving, not printing into a pipe; killed when dropped.
struct BackgroundServer {
    child: Child,
    address: SocketAddr,
}

impl BackgroundServer {
    /// Starts `command -p PORT` on a port that was free a moment ago, and
    /// waits until it accepts connections.
    fn start(mut command: Command) -> io::Result<BackgroundServer> {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let mut child = command
            .args(["-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let started = Instant::now();
        loop {
            match TcpStream::connect(address) {
                // The server sees a client that says nothing and leaves;
                // every server here takes that in its stride.
                Ok(_) => return Ok(BackgroundServer { child, address }),
                Err(error) if error.kind() == io::ErrorKind::ConnectionRefused => {
                    if let Some(status) = child.try_wait()? {
                        return Err(io::Error::other(format!("exited with {status}")));
                    }
                    if started.elapsed() > Duration::from_secs(10) {
                        let _ = child.kill();
                        return Err(io::Error::other("not listening after 10 s"));
                    }
                    // Waiting for a port to open: nothing to be told by.
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

/// Milliseconds Python takes to receive `size` bytes over loopback when it
/// accumulates them `way` ("bytes": `data += more`; "bytearray").
fn python_accumulate(binaries: &Binaries, size: usize, way: &str) -> io::Result<f64> {
    let mut child = Command::new("python3")
        .arg(binaries.accumulate_script())
        .args([way, &size.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().expect("piped"));
    let mut line = String::new();
    lines.read_line(&mut line)?;
    let port: u16 = line
        .trim()
        .strip_prefix("port ")
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| io::Error::other(format!("accumulate.py said {line:?}")))?;
    let mut sock = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    sock.write_all(&vec![b'x'; size])?;
    drop(sock);
    line.clear();
    lines.read_line(&mut line)?;
    let _ = child.wait();
    line.trim()
        .strip_prefix("ms ")
        .and_then(|ms| ms.parse().ok())
        .ok_or_else(|| io::Error::other(format!("accumulate.py said {line:?}")))
}

#[derive(Default)]
struct Report {
    bulk: Vec<(usize, Figure, Figure, Figure)>,
    rate: Vec<(&'static str, Figure, Figure)>,
    accumulate: Vec<(usize, Vec<Figure>)>,
}

/// Today's date (UTC), as `date` prints it, or "(date unknown)".
fn today() -> String {
    command_output("date", &["-u", "+%Y-%m-%d"]).unwrap_or_else(|| "(date unknown)".to_owned())
}

/// Cores, kernel and compiler: what a reader needs to set the figures
/// against their own machine.
fn machine() -> String {
    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|k| format!("Linux {}", k.trim()))
        .unwrap_or_else(|_| std::env::consts::OS.to_owned());
    let rustc =
        command_output("rustc", &["--version"]).unwrap_or_else(|| "rustc (unknown)".to_owned());
    format!("{cores} cores, {kernel}, {rustc}")
}

fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    output.status.success().then(|| text.trim().to_owned())
}

fn cell(figure: &Figure, decimals: usize) -> String {
    format!(
        "{:.*} ({:.*}–{:.*})",
        decimals, figure.median, decimals, figure.min, decimals, figure.max
    )
}

impl Report {
    fn markdown(&self, plan: &Plan, _bulk_ratio: f64) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Measured {} on {}. Each figure: median of {} runs (smallest–largest).\n",
            today(),
            machine(),
            plan.repeats
        );
        let _ = writeln!(
            out,
            "**Bulk transfer over one loopback connection, MB/s**\n"
        );
        let _ = writeln!(
            out,
            "| size | sendall + recvall | same, buffer touched beforehand | raw copy loop | book/raw |"
        );
        let _ = writeln!(out, "| ---: | ---: | ---: | ---: | ---: |");
        for (size, book, warm, raw) in &self.bulk {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {:.2} |",
                mib(*size),
                cell(book, 0),
                cell(warm, 0),
                cell(raw, 0),
                book.median / raw.median
            );
        }
        let floor = self
            .rate
            .iter()
            .find(|(name, _, _)| *name == "floor")
            .map(|(_, s, c)| (s.median, c.median));
        let _ = writeln!(
            out,
            "\n**Exchanges per second (connect, 16 bytes each way, close), {:.1} s windows**\n",
            plan.rate_window.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "| server | 1 client | vs floor | {n} clients | vs floor |",
            n = plan.concurrency
        );
        let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: |");
        for (name, sequential, concurrent) in &self.rate {
            let (floor_seq, floor_conc) = floor.unwrap_or((f64::NAN, f64::NAN));
            let _ = writeln!(
                out,
                "| {name} | {} | {:.2} | {} | {:.2} |",
                cell(sequential, 0),
                sequential.median / floor_seq,
                cell(concurrent, 0),
                concurrent.median / floor_conc
            );
        }
        let _ = writeln!(
            out,
            "\n**Receiving a message of a given size, ms (Python accumulating, Rust recvall)**\n"
        );
        let _ = writeln!(
            out,
            "| size | Python `data += more` | Python `bytearray` | Rust `recvall` |"
        );
        let _ = writeln!(out, "| ---: | ---: | ---: | ---: |");
        for (size, figures) in &self.accumulate {
            let cells: Vec<String> = figures.iter().map(|f| cell(f, 1)).collect();
            let _ = writeln!(out, "| {} | {} |", mib(*size), cells.join(" | "));
        }
        out
    }
}
