//! The measurements: one run of each, and the repeats that make a figure.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::thread;
use std::time::{Duration, Instant};

use listings::protocol::{REPLY, REQUEST};

use crate::servers::{Binaries, PYTHON};

/// The median, smallest and largest of several runs of one measurement.
#[derive(Clone, Copy)]
pub struct Figure {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

/// Runs `once` `repeats` times. A single run can be thrown far off by
/// whatever else the machine is doing; the median of several is not, and the
/// smallest and largest show how far off the others were.
pub fn measure(
    repeats: usize,
    label: &str,
    mut once: impl FnMut() -> io::Result<f64>,
) -> Result<Figure, String> {
    let mut values = Vec::with_capacity(repeats);
    for run in 1..=repeats {
        // One line per measurement, rewritten in place: a full run has
        // hundreds of runs, and a line for each would bury the errors.
        eprint!("\rbench:   {label} {run}/{repeats}   ");
        let _ = io::stderr().flush();
        values.push(once().map_err(|e| format!("{label}: {e}"))?);
    }
    eprintln!();
    Ok(Figure::of(values))
}

impl Figure {
    /// The median, smallest and largest of `values`, of which there is at
    /// least one.
    pub fn of(mut values: Vec<f64>) -> Figure {
        values.sort_by(f64::total_cmp);
        Figure {
            median: values[values.len() / 2],
            min: values[0],
            max: values[values.len() - 1],
        }
    }
}

pub fn mb_per_s(bytes: usize, took: Duration) -> f64 {
    bytes as f64 / 1e6 / took.as_secs_f64()
}

/// How the receiving side of a bulk transfer treats the bytes.
#[derive(Clone, Copy)]
pub enum Receiver {
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

/// The piece size of the raw copy loop: large enough that system calls cost
/// little, small enough to stay in the processor's caches.
const PIECE: usize = 256 * 1024;

/// Sends `size` bytes over one loopback connection and returns how long the
/// receiver took from accepting to holding (or having seen) the last byte.
pub fn bulk(size: usize, receiver: Receiver) -> io::Result<Duration> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let address = listener.local_addr()?;
    let sender = thread::spawn(move || -> io::Result<()> {
        let data = vec![b'x'; size];
        let mut sock = TcpStream::connect(address)?;
        match receiver {
            // The book's sendall: the whole message in one call.
            Receiver::Recvall | Receiver::RecvallWarm => sock.write_all(&data),
            Receiver::Discard => data
                .chunks(PIECE)
                .try_for_each(|piece| sock.write_all(piece)),
        }
    });
    // Touched before the clock starts, so that its page faults are not timed.
    let mut warm = Vec::new();
    if let Receiver::RecvallWarm = receiver {
        warm = vec![1u8; size];
    }
    let (mut conn, _) = listener.accept()?;
    let started = Instant::now();
    let received = match receiver {
        Receiver::Recvall => {
            // Allocated inside the timing, as recvall allocates its result:
            // its pages are faulted in as the data arrives.
            let mut data = vec![0; size];
            conn.read_exact(&mut data)?;
            data.len()
        }
        Receiver::RecvallWarm => {
            conn.read_exact(&mut warm)?;
            warm.len()
        }
        Receiver::Discard => {
            let mut buffer = vec![0; PIECE];
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
/// connect, send 16, receive 16, close, over and over for `window`.
///
/// An exchange still under way when the window closes is given up and not
/// counted. Against a server with a backlog of 1 (step 5, Python), the
/// kernel drops the SYNs of clients beyond the first few, and such a client
/// waits 1 s for its retry, then 2 s more, and so on: with 64 clients some
/// wait for minutes. Waiting for every client to finish would measure that
/// wait rather than the rate, and make the run as long as the unluckiest
/// client's; a client that is waiting when the window closes has simply
/// done nothing in it.
pub fn exchange_rate(address: SocketAddr, clients: usize, window: Duration) -> io::Result<f64> {
    let started = Instant::now();
    let deadline = started + window;
    let workers: Vec<_> = (0..clients)
        .map(|client| {
            thread::spawn(move || -> io::Result<u64> {
                let mut done = 0;
                // The first client's first exchange may run past a short
                // window (a cold start, a loaded machine): a rate computed
                // from nothing would be no measurement. Every other
                // exchange stops at the window's end, so that clients
                // waiting out a dropped SYN do not stretch the window.
                let mut limit = if client == 0 {
                    deadline.max(started + FIRST_EXCHANGE_PATIENCE)
                } else {
                    deadline
                };
                while Instant::now() < limit {
                    match exchange(address, limit) {
                        Ok(()) => {
                            done += 1;
                            limit = deadline;
                        }
                        // Cut off by the window, or dropped by a server
                        // whose backlog overflowed: no exchange, no error.
                        Err(error) if given_up(&error) => {}
                        Err(error) => return Err(error),
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
    // A rate computed from nothing would be zero, not a measurement.
    if total == 0 {
        return Err(io::Error::other(format!(
            "no exchange completed in {} ms",
            window.max(FIRST_EXCHANGE_PATIENCE).as_millis()
        )));
    }
    // Measured to the end of the last exchange, cut off at most a moment
    // after the window.
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

/// How long the first client's first exchange may take, whatever the window.
const FIRST_EXCHANGE_PATIENCE: Duration = Duration::from_secs(10);

/// One exchange, given up with a timeout error if `deadline` passes first.
fn exchange(address: SocketAddr, deadline: Instant) -> io::Result<()> {
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|left| !left.is_zero())
            .ok_or_else(|| io::Error::from(io::ErrorKind::TimedOut))
    };
    let mut sock = TcpStream::connect_timeout(&address, left()?)?;
    // 16 bytes fit in any send buffer: only the reply can keep us waiting.
    sock.write_all(REQUEST)?;
    sock.set_read_timeout(Some(left()?))?;
    let mut reply = [0; REPLY.len()];
    sock.read_exact(&mut reply)?;
    // A server that answers anything else is not serving.
    if reply != *REPLY {
        return Err(io::Error::other(format!(
            "the server replied b'{}'",
            reply.escape_ascii()
        )));
    }
    Ok(())
}

/// An exchange that ran out of window, or that the server's kernel reset
/// after dropping it from a full backlog.
fn given_up(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock | io::ErrorKind::ConnectionReset
    )
}

/// Milliseconds Python takes to receive `size` bytes over loopback when it
/// accumulates them `way` ("bytes": `data += more`; "bytearray").
pub fn python_accumulate(binaries: &Binaries, size: usize, way: &str) -> io::Result<f64> {
    // The script prints two lines, so a pipe costs nothing here: it binds
    // port 0 and says which port it got, then how long receiving took.
    let mut child = Command::new(PYTHON)
        .arg(binaries.accumulate_script())
        .args([way, &size.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().expect("stdout is piped"));
    let mut line = String::new();
    lines.read_line(&mut line)?;
    let port: u16 = said(&line, "port ")?;
    let mut sock = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    sock.write_all(&vec![b'x'; size])?;
    drop(sock);
    line.clear();
    lines.read_line(&mut line)?;
    let _ = child.wait();
    said(&line, "ms ")
}

/// The value in a line `PREFIXvalue` that accumulate.py printed.
fn said<T: FromStr>(line: &str, prefix: &str) -> io::Result<T> {
    line.trim()
        .strip_prefix(prefix)
        .and_then(|value| value.parse().ok())
        .ok_or_else(|| io::Error::other(format!("accumulate.py said {line:?}")))
}
