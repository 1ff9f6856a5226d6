//! Support code shared by the book's step programs.
//!
//! Nothing in here is what the book teaches. The step binaries in `src/bin/`
//! hold every line about sockets, and print with `println!` as `tcp.py`
//! prints with `print`; this library holds the scaffolding around them:
//!
//! - [`run`]: reads the command line and plays the server or the client,
//!   or with no arguments runs the demo: the step's own binary twice, as a
//!   server and a client, with each side's lines labelled; [`run_with`] does
//!   the same for roles that take options of their own, and [`seconds`]
//!   reads such an option;
//! - [`Slots`]: a count of the connections in progress, for a server that
//!   serves several clients at once (steps 6 and 7, and the chopper relay);
//! - [`protocol`]: the protocol's messages and the lines the programs
//!   print, for the demo, the tools and the tests;
//! - [`doubles`]: a reader and a writer that move data a little at a time on
//!   demand, for the tests that prove the steps' loops;
//! - [`serving`]: step 6's server loop, deadline and `connect` as pieces,
//!   for the programs after step 6 that are about something else
//!   (`framed`, `lines`), and step 6's conversation and client for step 7,
//!   which is about the pool that serves them; [`messages`]: what
//!   `framed` and `lines` send and print;
//! - [`deadlock`]: the `deadlock` tool's options, client and server, for
//!   the exercises of its chapter, each about one function of it.
//!
//! The modules depend one way: `cli` uses `demo`, both use [`Failure`],
//! `demo` uses `protocol`, `serving` uses `slots`, `protocol` and `cli`'s
//! `seconds`, `deadlock` uses `seconds` too, and nothing points back.

mod cli;
pub mod deadlock;
mod demo;
pub mod doubles;
pub mod messages;
pub mod protocol;
pub mod serving;
mod slots;

pub use cli::{NoOptions, parse_args, resolve, run, run_with, run_with_about, seconds};
pub use demo::lines_of;
pub use serving::{ClientLimits, Deadline, ServerLimits, connect, serve};
pub use slots::{Admission, Finished, Slots, Stop};

use std::io;
use std::net::SocketAddr;

/// A step's `server`, for [`run`]: it is handed the address to listen on,
/// prints what it does on standard output, and returns only on error.
pub type ServerRole = fn(SocketAddr) -> io::Result<()>;

/// A step's `client`, for [`run`]: it is handed every address HOST resolved
/// to, in the order the resolver gave them, and tries each in turn, as
/// `TcpStream::connect` does for a host name and Python's
/// `socket.create_connection` does. It prints what it does on standard
/// output.
pub type ClientRole = fn(&[SocketAddr]) -> io::Result<()>;

/// A server that takes options of its own, for [`run_with`]: `options`
/// holds what the command line said, defaults included. It returns `Ok`
/// only when it has been told to stop (step 6 on Ctrl-C), and the program
/// then exits with 0.
pub type ServerRoleWith<O> = fn(SocketAddr, &O) -> io::Result<()>;

/// A client that takes options of its own, for [`run_with`].
pub type ClientRoleWith<O> = fn(&[SocketAddr], &O) -> io::Result<()>;

/// Why a run failed.
enum Failure {
    /// The one line to print on standard error, after `error: `.
    Say(String),
    /// A process the demo started has already printed its own error line;
    /// the demo only passes on the exit code.
    Reported,
}
