//! The command line every step shares, and how its outcomes become exit codes.

use std::io::{self, ErrorKind};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::{ClientRole, ClientRoleWith, Failure, ServerRole, ServerRoleWith, demo};

/// A TCP client and server that exchange one 16-byte message each way.
///
/// With no arguments, runs a demo: this program as a server on a free port of
/// 127.0.0.1 and again as one client against it, then prints what each said.
/// To play one role per terminal, run `server` in one and `client` in another.
#[derive(Parser)]
#[command(disable_version_flag = true)]
struct Cli<S: Args, C: Args> {
    #[command(subcommand)]
    role: Option<Command<S, C>>,
}

#[derive(Subcommand)]
enum Command<S: Args, C: Args> {
    /// Listen on HOST:PORT and answer clients until interrupted (Ctrl-C)
    Server {
        #[command(flatten)]
        endpoint: Endpoint,
        #[command(flatten)]
        options: S,
    },
    /// Connect to HOST:PORT, send one message, print the reply and exit
    Client {
        #[command(flatten)]
        endpoint: Endpoint,
        #[command(flatten)]
        options: C,
    },
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

/// The options of a role that takes none beyond HOST and `-p`: steps 1 to 5.
#[derive(Args)]
pub struct NoOptions {}

/// What the server of steps 1 to 5 says it does: [`run`] puts it back in
/// place of the general wording, which a server with threads shares.
const ONE_AT_A_TIME: &str =
    "Listen on HOST:PORT and answer clients, one at a time, until interrupted (Ctrl-C)";

/// Exit code for a run that failed after its arguments were accepted.
const FAILED: u8 = 1;
/// Exit code for arguments that do not parse (the convention clap follows).
const USAGE: u8 = 2;

/// Runs a step program: parses the command line, then plays the server, the
/// client, or (with no arguments) the demo of both.
///
/// Every failure becomes one line on stderr and a non-zero exit code:
/// 2 for bad arguments, 1 for anything that went wrong on the network.
pub fn run(server: ServerRole, client: ClientRole) -> ExitCode {
    let command = Cli::<NoOptions, NoOptions>::command()
        .mut_subcommand("server", |server| server.about(ONE_AT_A_TIME));
    dispatch(
        command,
        |address, _: &NoOptions| server(address),
        |addresses: &[SocketAddr], _: &NoOptions| client(addresses),
    )
}

/// Runs a step program whose roles take options of their own: `S` for the
/// server and `C` for the client, each a [`clap::Args`] whose arguments join
/// HOST and `-p` on that role's command line (and in its `--help`).
///
/// Otherwise it is [`run`]: the same roles, demo, help and exit codes. The
/// demo runs each role with no options, so every option needs a default.
pub fn run_with<S: Args, C: Args>(
    server: ServerRoleWith<S>,
    client: ClientRoleWith<C>,
) -> ExitCode {
    dispatch(Cli::<S, C>::command(), server, client)
}

/// [`run_with`] for a program that exchanges something other than
/// `tcp.py`'s 16-byte messages: `about`, one sentence without its full
/// stop, says what, in `--help` in place of the 16-byte exchange.
pub fn run_with_about<S: Args, C: Args>(
    about: &'static str,
    server: ServerRoleWith<S>,
    client: ClientRoleWith<C>,
) -> ExitCode {
    let command = Cli::<S, C>::command();
    // The long help is `Cli`'s doc comment: the 16-byte exchange, then a
    // paragraph about the demo, which holds for every program.
    let demo = command
        .get_long_about()
        .map(ToString::to_string)
        .and_then(|text| text.split_once("\n\n").map(|(_, rest)| rest.to_owned()))
        .unwrap_or_default();
    let command = command
        .about(about)
        .long_about(format!("{about}.\n\n{demo}"));
    dispatch(command, server, client)
}

/// What [`run`] and [`run_with`] share: parse `command`, then play the role
/// it names with its options, or the demo.
fn dispatch<S: Args, C: Args>(
    command: clap::Command,
    server: impl FnOnce(SocketAddr, &S) -> io::Result<()>,
    client: impl FnOnce(&[SocketAddr], &C) -> io::Result<()>,
) -> ExitCode {
    let cli: Cli<S, C> = match parse_command(command) {
        Ok(cli) => cli,
        Err(exit) => return exit,
    };
    say_panics_in_one_line();
    let outcome = match cli.role {
        None => demo::run(),
        Some(Command::Server { endpoint, options }) => serve(server, &endpoint, &options),
        Some(Command::Client { endpoint, options }) => talk(client, &endpoint, &options),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Say(line)) => {
            eprintln!("error: {line}");
            ExitCode::from(FAILED)
        }
        Err(Failure::Reported) => ExitCode::from(FAILED),
    }
}

/// A panic becomes one line on stderr and exit status 1, like any other
/// failure, instead of a message, a hint about backtraces and status 101.
/// The panic a user can cause is `println!` failing because standard output
/// is gone (`step1 server >/dev/full`, or a closed pipe: Rust ignores
/// SIGPIPE, so the write fails and `println!` panics).
fn say_panics_in_one_line() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let what = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("the program panicked");
        eprintln!("error: {what}");
        // From any thread: a step 6 server whose output is gone cannot
        // report on its clients any more, and stops.
        std::process::exit(FAILED.into());
    }));
}

/// Parses the command line into `T`. On `--help` the help is printed and on
/// bad arguments one line of error; either way the `Err` is the exit code to
/// end with.
pub fn parse_args<T: Parser>() -> Result<T, ExitCode> {
    parse_command(T::command())
}

fn parse_command<T: FromArgMatches>(mut command: clap::Command) -> Result<T, ExitCode> {
    command
        .try_get_matches_from_mut(std::env::args_os())
        .and_then(|mut matches| T::from_arg_matches_mut(&mut matches))
        .map_err(|error| {
            let error = error.format(&mut command);
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

/// Plays the server at the first address HOST resolves to.
fn serve<O>(
    server: impl FnOnce(SocketAddr, &O) -> io::Result<()>,
    endpoint: &Endpoint,
    options: &O,
) -> Result<(), Failure> {
    // A listening socket has one address. Of a name that stands for
    // several (`localhost`: ::1 and 127.0.0.1 on many systems), the server
    // takes the resolver's first answer, as Python's `bind` does; std's
    // `TcpListener::bind((host, port))` would instead try each in turn
    // until one binds, which makes where it listens depend on which ports
    // happen to be free.
    let address = endpoint.resolve()?[0];
    server(address, options).map_err(|error| Failure::Say(format!("server at {address}: {error}")))
}

/// Plays the client against every address HOST resolves to.
fn talk<O>(
    client: impl FnOnce(&[SocketAddr], &O) -> io::Result<()>,
    endpoint: &Endpoint,
    options: &O,
) -> Result<(), Failure> {
    let addresses = endpoint.resolve()?;
    client(&addresses, options).map_err(|error| {
        Failure::Say(format!(
            "client talking to {}: {error}",
            endpoint.describe(&addresses)
        ))
    })
}

impl Endpoint {
    fn resolve(&self) -> Result<Vec<SocketAddr>, Failure> {
        resolve(&self.host, self.port).map_err(Failure::Say)
    }

    /// Whom a client's error line names: the one address HOST stands for,
    /// `127.0.0.1:1060`; or, for a name that stands for several, the name
    /// and the addresses in the order they were tried,
    /// `localhost:1060 ([::1]:1060, 127.0.0.1:1060)`. The error is the
    /// last attempt's, as `TcpStream::connect` reports it.
    fn describe(&self, addresses: &[SocketAddr]) -> String {
        match addresses {
            [one] => one.to_string(),
            several => {
                let tried: Vec<String> = several.iter().map(SocketAddr::to_string).collect();
                format!("{}:{} ({})", self.host, self.port, tried.join(", "))
            }
        }
    }
}

/// Every address `host` resolves to with `port`, in the resolver's order
/// (never none), as Python's `socket` module gets them for `(host, port)`;
/// or the one line that says why there are none.
///
/// ```
/// let addresses = listings::resolve("127.0.0.1", 1060).unwrap();
/// assert_eq!(addresses, ["127.0.0.1:1060".parse().unwrap()]);
/// ```
pub fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    let cannot = |why: &dyn std::fmt::Display| format!("cannot resolve host {host:?}: {why}");
    let addresses: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| cannot(&e))?
        .collect();
    if addresses.is_empty() {
        return Err(cannot(&io::Error::from(ErrorKind::NotFound)));
    }
    Ok(addresses)
}

/// The longest time [`seconds`] accepts: a day is already far beyond any
/// sensible timeout, and a bound keeps `Instant::now() + timeout` from
/// overflowing.
const MAX_SECONDS: f64 = 86_400.0;

/// Parses an option given in seconds, such as `--timeout 5` or `0.5`: more
/// than zero (a zero timeout would give up at once) and at most a day.
///
/// ```
/// use std::time::Duration;
///
/// assert_eq!(listings::seconds("2"), Ok(Duration::from_secs(2)));
/// assert_eq!(listings::seconds("0.25"), Ok(Duration::from_millis(250)));
/// assert!(listings::seconds("0").is_err());
/// // More than zero, but less than the nanosecond a Duration counts in.
/// assert!(listings::seconds("1e-10").is_err());
/// assert!(listings::seconds("abc").is_err());
/// ```
pub fn seconds(text: &str) -> Result<Duration, String> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| "expected a number of seconds, such as 5 or 0.5".to_owned())?;
    if value.is_nan() || value <= 0.0 || value > MAX_SECONDS {
        return Err(format!(
            "expected more than 0 and at most {MAX_SECONDS} seconds"
        ));
    }
    let duration = Duration::from_secs_f64(value);
    if duration.is_zero() {
        return Err("expected at least a nanosecond, 0.000000001 seconds".to_owned());
    }
    Ok(duration)
}
