//! Exercise: a new row for the behaviour matrix, a client that sends half
//! of its request and then nothing, with the connection left open.
//!
//! `fault -p PORT` connects, sends `Hi there`, 8 of the 16 bytes, and waits
//! without closing until the server ends the connection; then it says how
//! long that took and what the server had sent. Played against each
//! program, it gives the row: who answers half a message, who waits for
//! the rest forever, and who gives up on it.
//!
//! Start from here: the command line and the connection are done. Write
//! `misbehave`, the fault itself.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A misbehaving client for the behaviour matrix.
#[derive(Parser)]
#[command(disable_version_flag = true)]
struct Cli {
    #[command(subcommand)]
    role: Role,
}

#[derive(Subcommand)]
enum Role {
    /// Connect to HOST:PORT, send half of the request, then nothing more,
    /// and wait for the server to end the connection
    Fault {
        /// Host to connect to
        #[arg(default_value = "127.0.0.1")]
        host: String,
        /// TCP port
        #[arg(short, long, default_value_t = 1060)]
        port: u16,
    },
}

fn main() -> ExitCode {
    // The command line: scaffolding, with `resolve` from the book's
    // `listings` crate, as the steps' clients resolve HOST.
    let Cli {
        role: Role::Fault { host, port },
    } = match listings::parse_args() {
        Ok(cli) => cli,
        Err(exit) => return exit,
    };
    let outcome = listings::resolve(&host, port).and_then(|addresses| {
        fault(&addresses).map_err(|error| format!("fault against {}: {error}", addresses[0]))
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(line) => {
            eprintln!("error: {line}");
            ExitCode::FAILURE
        }
    }
}

// ANCHOR: task
/// What the fault sends: the first 8 of the request's 16 bytes.
const HALF: &[u8] = b"Hi there";

fn fault(addresses: &[SocketAddr]) -> io::Result<()> {
    let sock = TcpStream::connect(addresses)?;
    println!(
        "Client has been assigned socket name {}",
        sock.local_addr()?
    );
    misbehave(sock, HALF)
}

/// Sends `part` of the request, says so, then sends nothing more and waits,
/// with the connection open, until the server ends it; then says how.
fn misbehave(_sock: TcpStream, _part: &[u8]) -> io::Result<()> {
    todo!("write `part`, print the line, then read whatever comes until the server closes")
}
// ANCHOR_END: task
