//! nagle: what it costs to write a request in two pieces, a header and then
//! a body, to a peer that answers only once it has both, measured side by
//! side with three ways to avoid the cost, in one run on this machine.
//!
//! Every way runs its exchanges over one loopback connection: the client
//! sends the book's 16-byte request as a 4-byte header and a 12-byte body,
//! the server reads all 16 bytes (`read_exact`) and answers with its 16.
//! Only how the client hands the request to the kernel changes.
//!
//! ```text
//! cargo run --release -p listings --bin nagle
//! cargo run --release -p listings --bin nagle -- --exchanges 50 --repeats 7
//! ```

use std::io::{self, BufWriter, ErrorKind, IoSlice, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use listings::protocol::{REPLY, REQUEST};

/// Measures request/reply exchanges on loopback whose 16-byte request is
/// written as a 4-byte header and a 12-byte body: as two writes, as two
/// writes with TCP_NODELAY, as one write_vectored, and through a BufWriter.
#[derive(Parser)]
#[command(disable_version_flag = true)]
struct Options {
    /// Exchanges timed in each run
    #[arg(long, value_name = "N", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    exchanges: u32,
    /// Runs of each way; the table shows their median, smallest and largest
    #[arg(long, value_name = "N", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    repeats: u32,
}

/// Exchanges made on each new connection before the timing starts. Linux
/// acknowledges the first segments of a connection at once ("quick ACK"
/// mode) and starts delaying its ACKs only once the connection looks
/// interactive, after the first exchange.
const WARM_UP: u32 = 3;

/// The request's first bytes, sent apart as a protocol's header would be.
const HEADER_LEN: usize = 4;

/// How the client hands a request to the kernel.
#[derive(Clone, Copy, PartialEq)]
enum Way {
    /// `write_all(header)`, then `write_all(body)`.
    TwoWrites,
    /// The same two writes with `set_nodelay(true)`: Nagle's algorithm off.
    TwoWritesNoDelay,
    /// Both pieces in one `write_vectored`.
    Vectored,
    /// Both pieces into a `BufWriter`, then one `flush`.
    Buffered,
}

impl Way {
    const ALL: [Way; 4] = [
        Way::TwoWrites,
        Way::TwoWritesNoDelay,
        Way::Vectored,
        Way::Buffered,
    ];

    fn name(self) -> &'static str {
        match self {
            Way::TwoWrites => "two writes (header, body)",
            Way::TwoWritesNoDelay => "two writes, `set_nodelay(true)`",
            Way::Vectored => "one `write_vectored`",
            Way::Buffered => "two writes into a `BufWriter`, one `flush`",
        }
    }
}

fn main() -> ExitCode {
    let options: Options = match listings::parse_args() {
        Ok(options) => options,
        Err(exit) => return exit,
    };
    match measure_all(&options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn measure_all(options: &Options) -> io::Result<()> {
    let server = serve()?;
    let mut rows = Vec::new();
    for way in Way::ALL {
        eprintln!("nagle: {}", way.name());
        let mut runs = Vec::new();
        for _ in 0..options.repeats {
            runs.push(per_exchange(server, way, options.exchanges)?);
        }
        runs.sort();
        rows.push((way, runs));
    }
    let median = |runs: &[Duration]| runs[runs.len() / 2];
    let baseline = rows
        .iter()
        .find(|(way, _)| *way == Way::Vectored)
        .map(|(_, runs)| median(runs))
        .expect("Way::ALL has Vectored");
    println!(
        "Exchanges on one loopback connection: a 16-byte request written as a \
         {HEADER_LEN}-byte header and a {}-byte body, a 16-byte reply. Each figure: \
         median of {} runs of {} exchanges (smallest–largest), after {WARM_UP} \
         exchanges to warm up.",
        REQUEST.len() - HEADER_LEN,
        options.repeats,
        options.exchanges
    );
    println!();
    println!("| the request goes out as | µs per exchange | vs one `write_vectored` |");
    println!("| --- | ---: | ---: |");
    for (way, runs) in &rows {
        println!(
            "| {} | {} ({}–{}) | {} |",
            way.name(),
            micros(median(runs)),
            micros(runs[0]),
            micros(runs[runs.len() - 1]),
            ratio(median(runs), baseline)
        );
    }
    let slowest = rows
        .iter()
        .find(|(way, _)| *way == Way::TwoWrites)
        .map(|(_, runs)| median(runs))
        .expect("Way::ALL has TwoWrites");
    println!();
    println!(
        "two writes: {:.1} ms per exchange, {} times as long as one write_vectored",
        slowest.as_secs_f64() * 1e3,
        ratio(slowest, baseline)
    );
    Ok(())
}

fn micros(time: Duration) -> String {
    format!("{:.0}", time.as_secs_f64() * 1e6)
}

fn ratio(time: Duration, baseline: Duration) -> String {
    let ratio = time.as_secs_f64() / baseline.as_secs_f64().max(1e-9);
    if ratio >= 10.0 {
        format!("{ratio:.0}")
    } else {
        format!("{ratio:.2}")
    }
}

/// A server on a free port of 127.0.0.1 that answers every 16 bytes it
/// receives with 16 of its own, on each connection, until the client closes.
fn serve() -> io::Result<SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let address = listener.local_addr()?;
    thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            thread::spawn(move || answer(conn));
        }
    });
    Ok(address)
}

fn answer(mut conn: TcpStream) {
    let mut request = [0; 16];
    // Ends when the client closes (read_exact fails) or goes away.
    while conn.read_exact(&mut request).is_ok() {
        if conn.write_all(REPLY).is_err() {
            return;
        }
    }
}

/// The time one exchange took, on average over `exchanges` of them on one
/// new connection, sending the request `way`.
fn per_exchange(server: SocketAddr, way: Way, exchanges: u32) -> io::Result<Duration> {
    let sock = TcpStream::connect(server)?;
    if way == Way::TwoWritesNoDelay {
        sock.set_nodelay(true)?;
    }
    let mut writer = BufWriter::new(&sock);
    let (header, body) = REQUEST.split_at(HEADER_LEN);
    let mut reply = [0; 16];
    let mut started = Instant::now();
    for n in 0..WARM_UP + exchanges {
        if n == WARM_UP {
            started = Instant::now();
        }
        match way {
            Way::TwoWrites | Way::TwoWritesNoDelay => two_writes(&sock, header, body)?,
            Way::Vectored => one_vectored_write(&sock, header, body)?,
            Way::Buffered => buffered(&mut writer, header, body)?,
        }
        (&sock).read_exact(&mut reply)?;
        if reply != *REPLY {
            return Err(io::Error::other("the server's reply is not the book's"));
        }
    }
    Ok(started.elapsed() / exchanges)
}

// ANCHOR: ways
/// Two writes: the header leaves at once, and with Nagle's algorithm on the
/// body waits until the header has been acknowledged.
fn two_writes(mut sock: &TcpStream, header: &[u8], body: &[u8]) -> io::Result<()> {
    sock.write_all(header)?;
    sock.write_all(body)
}

/// One call for both pieces. Like `write`, `write_vectored` may take only
/// part of the data, so whatever it leaves is sent after it.
fn one_vectored_write(mut sock: &TcpStream, header: &[u8], body: &[u8]) -> io::Result<()> {
    let sent = loop {
        match sock.write_vectored(&[IoSlice::new(header), IoSlice::new(body)]) {
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            other => break other?,
        }
    };
    let rest: Vec<u8> = header.iter().chain(body).skip(sent).copied().collect();
    sock.write_all(&rest)
}

/// Both pieces gathered in the `BufWriter`'s buffer, and handed to the
/// kernel in one write by `flush`.
fn buffered(writer: &mut BufWriter<&TcpStream>, header: &[u8], body: &[u8]) -> io::Result<()> {
    writer.write_all(header)?;
    writer.write_all(body)?;
    writer.flush()
}
// ANCHOR_END: ways
