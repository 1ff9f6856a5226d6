//! bench: how fast the book's programs move data and serve clients, measured
//! side by side in one run on this machine.
//!
//! ```text
//! cargo run --release -p listings --bin bench            # the full run (minutes)
//! cargo run --release -p listings --bin bench -- --quick # about two minutes
//! cargo run --release -p listings --bin bench -- --markdown src/bench-results.md --chart src/images
//! ```
//!
//! Every figure is the median of several runs, shown with the smallest and
//! largest. Speeds are only ever compared as ratios between figures taken in
//! the same run: absolute numbers depend on the machine and on what else it
//! is doing, ratios much less.
//!
//! This file says what is measured and in which order; `servers.rs` starts
//! the servers under test, `measure.rs` times them, `idle.rs` holds idle
//! connections on them, `report.rs` prints the tables and the summary line
//! the book quotes, and `chart.rs` draws the charts.

mod chart;
mod idle;
mod measure;
mod report;
mod servers;

use std::fs;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use idle::{idle_rows, raise_open_file_limit};
use measure::{Figure, Receiver, bulk, exchange_rate, mb_per_s, measure, python_accumulate};
use report::{AccumulateRow, BulkRow, RateRow, Report, mib};
use servers::{BackgroundServer, Binaries, floor_server};

/// Measures the book's TCP programs: bulk transfer, exchanges per second,
/// the cost of accumulating received bytes the way tcp.py does, and the
/// memory each idle connection costs a server.
#[derive(Parser)]
#[command(disable_version_flag = true)]
struct Options {
    /// Small sizes and short windows: the whole run ends within two minutes
    #[arg(long)]
    quick: bool,
    /// Tiny sizes, for the test that checks the bench works (its figures
    /// mean nothing)
    #[arg(long, hide = true, conflicts_with = "quick")]
    tiny: bool,
    /// Also write the results as a markdown table to FILE
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
    /// Also draw the results as SVG charts in DIR (made if missing):
    /// bench-rates.svg and bench-memory.svg
    #[arg(long, value_name = "DIR")]
    chart: Option<PathBuf>,
    #[command(subcommand)]
    internal: Option<Internal>,
}

#[derive(Subcommand)]
enum Internal {
    /// The floor server: accept, read 16 bytes, write 16, close, print
    /// nothing. Started by the bench itself.
    #[command(hide = true)]
    FloorServer {
        #[arg(short, long)]
        port: u16,
        /// Print step 5's lines for every connection
        #[arg(long)]
        print: bool,
    },
}

/// Sizes, repeats and durations for one run.
struct Plan {
    repeats: usize,
    bulk_sizes: Vec<usize>,
    rate_window: Duration,
    /// Clients at once for the rates; 8 must be among them, for the summary.
    rate_clients: Vec<usize>,
    accumulate_sizes: Vec<usize>,
    /// Idle connections to hold on each design, measured once each.
    idle_counts: Vec<usize>,
}

const MIB: usize = 1024 * 1024;

impl Plan {
    fn new(options: &Options) -> Plan {
        // One client; eight, more than a small machine has cores; and 64,
        // as many as steps 6 to 8 serve at once by default.
        let rate_clients = vec![1, 8, 64];
        if options.tiny {
            // Only the shape of the output is tested: as few runs as make
            // a median, so that the test stays quick on a loaded machine.
            Plan {
                repeats: 3,
                bulk_sizes: vec![64 * 1024],
                rate_window: Duration::from_millis(20),
                rate_clients,
                accumulate_sizes: vec![64 * 1024],
                idle_counts: vec![10, 50],
            }
        } else if options.quick {
            Plan {
                repeats: 5,
                bulk_sizes: vec![MIB, 16 * MIB],
                rate_window: Duration::from_millis(300),
                rate_clients,
                accumulate_sizes: vec![MIB, 2 * MIB, 4 * MIB],
                idle_counts: vec![100, 1000],
            }
        } else {
            Plan {
                repeats: 5,
                bulk_sizes: vec![MIB, 16 * MIB, 256 * MIB],
                rate_window: Duration::from_secs(2),
                rate_clients,
                accumulate_sizes: vec![MIB, 4 * MIB, 16 * MIB, 32 * MIB],
                idle_counts: vec![100, 1000, 10_000],
            }
        }
    }
}

fn main() -> ExitCode {
    let options: Options = match listings::parse_args() {
        Ok(options) => options,
        Err(exit) => return exit,
    };
    if let Some(Internal::FloorServer { port, print }) = options.internal {
        return match floor_server(port, print) {
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
    // Before anything is measured: a chart directory that cannot be made
    // should not cost a whole run.
    if let Some(dir) = &options.chart {
        fs::create_dir_all(dir)
            .map_err(|e| format!("--chart {}: cannot make the directory: {e}", dir.display()))?;
    }
    // First of all, so that every server started from here on inherits it.
    let open_files = raise_open_file_limit()?;
    progress(&open_files.to_string());
    let plan = Plan::new(options);
    let binaries = Binaries::find()?;
    let report = Report {
        bulk: bulk_rows(&plan)?,
        rate: rate_rows(&plan, &binaries)?,
        accumulate: accumulate_rows(&plan, &binaries)?,
        idle: idle_rows(&binaries, &plan.idle_counts, &open_files)?,
        open_files: open_files.to_string(),
    };

    let tables = report.markdown(&plan);
    println!("{tables}");
    if let Some(path) = &options.markdown {
        fs::write(path, &tables).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        progress(&format!("wrote {}", path.display()));
    }
    if let Some(dir) = &options.chart {
        for path in chart::draw(dir, &report)? {
            progress(&format!("wrote {}", path.display()));
        }
    }
    println!("{}", report.summary());
    Ok(())
}

fn bulk_rows(plan: &Plan) -> Result<Vec<BulkRow>, String> {
    progress("bulk transfer: sendall/recvall against a raw copy loop");
    let mut rows = Vec::new();
    for &size in &plan.bulk_sizes {
        let speed = |column: &str, receiver| {
            measure(
                plan.repeats,
                &format!("bulk {} {column}", mib(size)),
                || bulk(size, receiver).map(|took| mb_per_s(size, took)),
            )
        };
        rows.push(BulkRow {
            size,
            book: speed("book", Receiver::Recvall)?,
            warm: speed("warm", Receiver::RecvallWarm)?,
            raw: speed("raw", Receiver::Discard)?,
        });
    }
    Ok(rows)
}

fn rate_rows(plan: &Plan, binaries: &Binaries) -> Result<Vec<RateRow>, String> {
    progress("exchanges per second: connect, 16 bytes each way, close");
    let commands = [
        ("floor", binaries.floor()),
        ("floor+print", binaries.floor_printing()),
        ("step5", binaries.step("step5")),
        ("step6", binaries.step("step6")),
        ("step7", binaries.step("step7")),
        ("step8", binaries.step("step8")),
        ("python", binaries.python()),
    ];
    // All of them at once: a server that waits in `accept` costs nothing.
    let mut servers = Vec::new();
    for (name, command) in commands {
        let running = BackgroundServer::start(command).map_err(|e| format!("{name}: {e}"))?;
        servers.push((name, running));
    }
    // Round by round, every server once per round, rather than all the
    // repeats of one server and then the next: a machine whose speed drifts
    // during the run (a virtual machine sharing its host, a core warming
    // up) then slows every server alike, and the ratios between them stay
    // true. values[server][clients] collects one run per round.
    let mut values = vec![vec![Vec::new(); plan.rate_clients.len()]; servers.len()];
    for round in 1..=plan.repeats {
        for (column, &clients) in plan.rate_clients.iter().enumerate() {
            for (row, (name, running)) in servers.iter().enumerate() {
                eprint!(
                    "\rbench:   rate round {round}/{} x{clients} {name}      ",
                    plan.repeats
                );
                let _ = io::stderr().flush();
                let rate = exchange_rate(running.address, clients, plan.rate_window)
                    .map_err(|e| format!("rate {name} x{clients}: {e}"))?;
                values[row][column].push(rate);
            }
        }
    }
    eprintln!();
    Ok(servers
        .iter()
        .zip(values)
        .map(|((server, _), runs)| RateRow {
            server,
            by_clients: plan
                .rate_clients
                .iter()
                .zip(runs)
                .map(|(&clients, runs)| (clients, Figure::of(runs)))
                .collect(),
        })
        .collect())
}

fn accumulate_rows(plan: &Plan, binaries: &Binaries) -> Result<Vec<AccumulateRow>, String> {
    progress("accumulating received bytes: data += more, bytearray, Rust recvall");
    let mut rows = Vec::new();
    for &size in &plan.accumulate_sizes {
        let python = |way| {
            measure(
                plan.repeats,
                &format!("accumulate {} python {way}", mib(size)),
                || python_accumulate(binaries, size, way),
            )
        };
        rows.push(AccumulateRow {
            size,
            python_bytes: python("bytes")?,
            python_bytearray: python("bytearray")?,
            rust_recvall: measure(
                plan.repeats,
                &format!("accumulate {} rust recvall", mib(size)),
                || bulk(size, Receiver::Recvall).map(|took| took.as_secs_f64() * 1e3),
            )?,
        });
    }
    Ok(rows)
}

/// Progress goes to stderr, so that stdout holds only the tables and the
/// summary, and can be saved as they are.
fn progress(what: &str) {
    eprintln!("bench: {what}");
}
