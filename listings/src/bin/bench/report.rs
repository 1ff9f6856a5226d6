//! What the bench prints: the markdown tables the book includes, and the
//! summary line of the ratios the book discusses.

use std::fs;
use std::process::Command;
use std::thread;
use std::time::Duration;

use crate::idle::{IdleRow, Outcome};
use crate::measure::Figure;
use crate::{MIB, Plan};

/// One size of the bulk-transfer table, each figure in MB/s.
pub struct BulkRow {
    pub size: usize,
    /// write_all + recvall into a fresh buffer, as the book does it.
    pub book: Figure,
    /// The same into a buffer touched beforehand.
    pub warm: Figure,
    /// The raw copy loop.
    pub raw: Figure,
}

impl BulkRow {
    fn book_vs_raw(&self) -> f64 {
        self.book.median / self.raw.median
    }
}

/// One server of the exchanges-per-second table.
pub struct RateRow {
    pub server: &'static str,
    /// The rate with each number of clients at once, in the plan's order.
    pub by_clients: Vec<(usize, Figure)>,
}

impl RateRow {
    /// The figure with `clients` at once, if that many were measured.
    pub fn at(&self, clients: usize) -> Option<&Figure> {
        self.by_clients
            .iter()
            .find(|(n, _)| *n == clients)
            .map(|(_, figure)| figure)
    }
}

/// One size of the accumulation table, each figure in ms.
pub struct AccumulateRow {
    pub size: usize,
    pub python_bytes: Figure,
    pub python_bytearray: Figure,
    pub rust_recvall: Figure,
}

/// Everything one run measured, row by row as the tables show it.
pub struct Report {
    pub bulk: Vec<BulkRow>,
    pub rate: Vec<RateRow>,
    pub accumulate: Vec<AccumulateRow>,
    pub idle: Vec<IdleRow>,
    /// The limit on open files the servers ran with, as the header says it.
    pub open_files: String,
}

impl Report {
    /// The tables, as printed and as written by `--markdown`.
    pub fn markdown(&self, plan: &Plan) -> String {
        let mut out = format!(
            "Measured {} on {}; {}. Each figure: median of {} runs (smallest–largest), \
             idle connections once each.\n",
            today(),
            machine(),
            self.open_files,
            plan.repeats
        );
        table(
            &mut out,
            "Bulk transfer over one loopback connection, MB/s",
            &[
                ("size", NUMBER),
                ("write_all + recvall", NUMBER),
                ("same, buffer touched beforehand", NUMBER),
                ("raw copy loop", NUMBER),
                ("book/raw", NUMBER),
            ],
            self.bulk.iter().map(|row| {
                vec![
                    mib(row.size),
                    cell(&row.book, 0),
                    cell(&row.warm, 0),
                    cell(&row.raw, 0),
                    format!("{:.2}", row.book_vs_raw()),
                ]
            }),
        );

        let mut columns = vec![("server".to_owned(), TEXT)];
        for &clients in &plan.rate_clients {
            let name = match clients {
                1 => "1 client".to_owned(),
                n => format!("{n} clients"),
            };
            columns.push((name, NUMBER));
            columns.push(("vs floor".to_owned(), NUMBER));
        }
        let columns: Vec<(&str, &str)> = columns.iter().map(|(n, a)| (n.as_str(), *a)).collect();
        table(
            &mut out,
            &format!(
                "Exchanges per second (connect, 16 bytes each way, close), {} windows",
                duration(plan.rate_window)
            ),
            &columns,
            self.rate.iter().map(|row| {
                let mut cells = vec![row.server.to_owned()];
                for (clients, figure) in &row.by_clients {
                    cells.push(cell(figure, 0));
                    cells.push(format!(
                        "{:.2}",
                        figure.median / self.rate_at("floor", *clients)
                    ));
                }
                cells
            }),
        );

        table(
            &mut out,
            "Receiving a message of a given size, ms (Python accumulating, Rust recvall)",
            &[
                ("size", NUMBER),
                ("Python `data += more`", NUMBER),
                ("Python `bytearray`", NUMBER),
                ("Rust `recvall`", NUMBER),
            ],
            self.accumulate.iter().map(|row| {
                vec![
                    mib(row.size),
                    cell(&row.python_bytes, 1),
                    cell(&row.python_bytearray, 1),
                    cell(&row.rust_recvall, 1),
                ]
            }),
        );
        table(
            &mut out,
            "Idle connections: the server's memory and threads with N clients connected and silent",
            &[
                ("server", TEXT),
                ("N", NUMBER),
                ("server RSS, MiB", NUMBER),
                ("threads", NUMBER),
                ("KiB per connection", NUMBER),
            ],
            self.idle.iter().map(idle_cells),
        );
        out
    }

    /// The last line the bench prints: bulk/raw at the largest size, step
    /// 6's rate with one client against the floor's and Python's, and steps
    /// 7's and 8's with eight clients against the floor's.
    pub fn summary(&self) -> String {
        let bulk = self.bulk.last().map_or(f64::NAN, BulkRow::book_vs_raw);
        format!(
            "summary: bulk/raw={:.2} step6/floor={:.2} step6/python={:.2} \
             step7/floor@8={:.2} step8/floor@8={:.2}",
            bulk,
            self.rate_at("step6", 1) / self.rate_at("floor", 1),
            self.rate_at("step6", 1) / self.rate_at("python", 1),
            self.rate_at("step7", 8) / self.rate_at("floor", 8),
            self.rate_at("step8", 8) / self.rate_at("floor", 8),
        )
    }

    /// The median rate of `server` with `clients` at once; NaN, printed as
    /// such, if it was not measured.
    pub fn rate_at(&self, server: &str, clients: usize) -> f64 {
        self.rate
            .iter()
            .find(|row| row.server == server)
            .and_then(|row| row.at(clients))
            .map_or(f64::NAN, |figure| figure.median)
    }
}

/// The cells of one row of the idle-connections table.
fn idle_cells(row: &IdleRow) -> Vec<String> {
    let dash = || "–".to_owned();
    let mib = |kib: u64| format!("{:.1}", kib as f64 / 1024.0);
    let (connections, rest) = match &row.outcome {
        Outcome::Reference(usage) => (
            "0 (room for 1)".to_owned(),
            vec![mib(usage.rss_kib), usage.threads.to_string(), dash()],
        ),
        Outcome::Held {
            usage,
            per_connection_kib,
        } => (
            thousands(row.connections),
            vec![
                mib(usage.rss_kib),
                usage.threads.to_string(),
                // Fewer connections than it takes for their memory to
                // stand out from what the same server's RSS varies by on
                // its own: the difference can even come out negative.
                if *per_connection_kib < 0.1 {
                    "< 0.1 (within the noise)".to_owned()
                } else {
                    format!("{per_connection_kib:.1}")
                },
            ],
        ),
        Outcome::NotReached { reason, largest } => (
            thousands(row.connections),
            vec![
                // A `|` would end the cell.
                format!(
                    "not reached: {} (largest: {})",
                    reason.replace('|', "/"),
                    thousands(*largest)
                ),
                dash(),
                dash(),
            ],
        ),
        Outcome::NotTried => (
            thousands(row.connections),
            vec![
                "not tried: a smaller N was not reached".to_owned(),
                dash(),
                dash(),
            ],
        ),
    };
    let mut cells = vec![row.design.to_owned(), connections];
    cells.extend(rest);
    cells
}

/// A window's length as a reader would write it: "2 s", "0.3 s", "20 ms".
fn duration(window: Duration) -> String {
    if window >= Duration::from_millis(100) {
        format!("{} s", window.as_secs_f64())
    } else {
        format!("{} ms", window.as_millis())
    }
}

/// `n` with a comma between each three digits: 10,000.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Markdown's column alignments: numbers on the right, names on the left.
const NUMBER: &str = "---:";
const TEXT: &str = "---";

/// Appends a table under a bold title, after a blank line.
fn table(
    out: &mut String,
    title: &str,
    columns: &[(&str, &str)],
    rows: impl Iterator<Item = Vec<String>>,
) {
    let line = |cells: Vec<&str>| format!("| {} |\n", cells.join(" | "));
    out.push_str(&format!("\n**{title}**\n\n"));
    out.push_str(&line(columns.iter().map(|(name, _)| *name).collect()));
    out.push_str(&line(columns.iter().map(|(_, align)| *align).collect()));
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
}

pub fn mib(bytes: usize) -> String {
    if bytes >= MIB {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{} KiB", bytes / 1024)
    }
}

fn cell(figure: &Figure, decimals: usize) -> String {
    format!(
        "{:.*} ({:.*}–{:.*})",
        decimals, figure.median, decimals, figure.min, decimals, figure.max
    )
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
