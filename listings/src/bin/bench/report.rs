//! What the bench prints: the markdown tables the book includes, and the
//! summary line of the three ratios the book discusses.

use std::fs;
use std::process::Command;
use std::thread;

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
    pub one_client: Figure,
    /// With the plan's `concurrency` clients at once.
    pub many_clients: Figure,
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
}

impl Report {
    /// The tables, as printed and as written by `--markdown`.
    pub fn markdown(&self, plan: &Plan) -> String {
        let mut out = format!(
            "Measured {} on {}. Each figure: median of {} runs (smallest–largest).\n",
            today(),
            machine(),
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

        // NaN, printed as such, if the floor was not measured.
        let floor = |figure: fn(&RateRow) -> Figure| {
            self.rate_of("floor")
                .map_or(f64::NAN, |floor| figure(floor).median)
        };
        table(
            &mut out,
            &format!(
                "Exchanges per second (connect, 16 bytes each way, close), {:.1} s windows",
                plan.rate_window.as_secs_f64()
            ),
            &[
                ("server", TEXT),
                ("1 client", NUMBER),
                ("vs floor", NUMBER),
                (&format!("{} clients", plan.concurrency), NUMBER),
                ("vs floor", NUMBER),
            ],
            self.rate.iter().map(|row| {
                vec![
                    row.server.to_owned(),
                    cell(&row.one_client, 0),
                    format!("{:.2}", row.one_client.median / floor(|r| r.one_client)),
                    cell(&row.many_clients, 0),
                    format!("{:.2}", row.many_clients.median / floor(|r| r.many_clients)),
                ]
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
        out
    }

    /// The last line the bench prints: bulk/raw at the largest size, and
    /// step 6's rate with one client against the floor's and Python's.
    pub fn summary(&self) -> String {
        let bulk = self.bulk.last().map_or(f64::NAN, BulkRow::book_vs_raw);
        let one_client = |server| {
            self.rate_of(server)
                .map_or(f64::NAN, |row| row.one_client.median)
        };
        format!(
            "summary: bulk/raw={:.2} step6/floor={:.2} step6/python={:.2}",
            bulk,
            one_client("step6") / one_client("floor"),
            one_client("step6") / one_client("python"),
        )
    }

    fn rate_of(&self, server: &str) -> Option<&RateRow> {
        self.rate.iter().find(|row| row.server == server)
    }
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
