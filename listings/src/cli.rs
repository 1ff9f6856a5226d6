//! The command line every step shares, and how its outcomes become exit codes.

use std::io::{self, ErrorKind};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::{Role, demo};

/// A TCP client and server that exchange one 16-byte message each way.
///
/// With no arguments, runs both in one process: a server on a free port of
/// 127.0.0.1 and one client against it, then prints each side's transcript.
/// To play one role per terminal, run `server` in one and `client` in another.
#[derive(Parser)]
#[command(disable_version_flag = true)]
struct Cli {
    #[command(subcommand)]
    role: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Listen on HOST:PORT and answer clients, one at a time, until interrupted (Ctrl-C)
    Server(Endpoint),
    /// Connect to HOST:PORT, send one message, print the reply and exit
    Client(Endpoint),
}

#[derive(Args)]
struct Endpoint {
    /// Interface the server listens on, or host the client connects to
    #[arg(default_value = "127.0.0.1")]
    host: String,
    /// TCP port (a server given 0 listens on any free port and prints which)
    #[arg(short, long, default_value_t = 1060)]
    port: u16,
}

/// What ended a run that did not succeed, as the one line to print.
pub(crate) struct Failure(pub(crate) String);

/// Exit code for a run that failed after its arguments were accepted.
const FAILED: u8 = 1;
/// Exit code for arguments that do not parse (the convention clap follows).
const USAGE: u8 = 2;

/// Runs a step program: parses the command line, then plays the server, the
/// client, or (with no arguments) a demo of both.
///
/// Every failure becomes one line on stderr and a non-zero exit code:
/// 2 for bad arguments, 1 for anything that went wrong on the network.
pub fn run(server: Role, client: Role) -> ExitCode {
    let cli: Cli = match parse_args() {
        Ok(cli) => cli,
        Err(exit) => return exit,
    };
    let outcome = match cli.role {
        None => demo::run(server, client),
        Some(Command::Server(endpoint)) => play("server at", server, &endpoint),
        Some(Command::Client(endpoint)) => play("client talking to", client, &endpoint),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(line)) => {
            eprintln!("error: {line}");
            ExitCode::from(FAILED)
        }
    }
}

/// Parses the command line into `T`. On `--help` the help is printed and on
/// bad arguments one line of error; either way the `Err` is the exit code to
/// end with.
pub fn parse_args<T: Parser>() -> Result<T, ExitCode> {
    T::try_parse().map_err(|error| {
        if error.use_stderr() {
            let text = error.to_string();
            let first_line = text.lines().next().unwrap_or("error: invalid arguments");
            eprintln!("{first_line} (see --help)");
            ExitCode::from(USAGE)
        } else {
            // --help: clap's full text on stdout is what was asked for.
            let _ = error.print();
            ExitCode::SUCCESS
        }
    })
}

fn play(what: &str, role: Role, endpoint: &Endpoint) -> Result<(), Failure> {
    let address = endpoint.resolve()?;
    role(address, &mut io::stdout()).map_err(|error| Failure(format!("{what} {address}: {error}")))
}

impl Endpoint {
    /// The first address HOST resolves to, as Python's `socket` module would
    /// use for `(host, port)`.
    fn resolve(&self) -> Result<SocketAddr, Failure> {
        let cannot = |why: &dyn std::fmt::Display| {
            Failure(format!("cannot resolve host {:?}: {why}", self.host))
        };
        let mut addresses = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| cannot(&e))?;
        addresses
            .next()
            .ok_or_else(|| cannot(&io::Error::from(ErrorKind::NotFound)))
    }
}
