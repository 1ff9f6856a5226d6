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
//!
//! This file says what is measured and in which order; `servers.rs` starts
//! the servers under test, `measure.rs` times them, and `report.rs` prints
//! the tables and the summary line the book quotes.

mod measure;
mod report;
mod servers;

use std::fs;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use measure::{Receiver, bulk, exchange_rate, mb_per_s, measure, python_accumulate};
use report::{AccumulateRow, BulkRow, RateRow, Report, mib};
use servers::{BackgroundServer, Binaries, floor_server};

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
    /// nothing. Started by the bench itself.
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
    let report = Report {
        bulk: bulk_rows(&plan)?,
        rate: rate_rows(&plan, &binaries)?,
        accumulate: accumulate_rows(&plan, &binaries)?,
    };

    let tables = report.markdown(&plan);
    println!("{tables}");
    if let Some(path) = &options.markdown {
        fs::write(path, &tables).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        progress(&format!("wrote {}", path.display()));
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
    let servers = [
        ("floor", binaries.floor()),
        ("step5", binaries.step("step5")),
        ("step6", binaries.step("step6")),
        ("python", binaries.python()),
    ];
    let mut rows = Vec::new();
    for (server, command) in servers {
        let running = BackgroundServer::start(command).map_err(|e| format!("{server}: {e}"))?;
        let rate = |clients| {
            measure(plan.repeats, &format!("rate {server} x{clients}"), || {
                exchange_rate(running.address, clients, plan.rate_window)
            })
        };
        rows.push(RateRow {
            server,
            one_client: rate(1)?,
            many_clients: rate(plan.concurrency)?,
        });
    }
    Ok(rows)
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
