//! Support code shared by the book's step programs.
//!
//! Nothing in here is what the book teaches. The step binaries in `src/bin/`
//! hold every line about sockets; this library holds the scaffolding around
//! them, so each step file stays a short program about TCP:
//!
//! - [`run`]: reads the command line and starts the server, the client, or
//!   (with no arguments) a demo of both talking to each other; [`run_with`]
//!   does the same for roles that take options of their own, and
//!   [`seconds`] reads such an option;
//! - [`SharedWriter`] and [`Slots`]: a transcript that threads share, and a
//!   count of the connections in progress, for a server that serves several
//!   clients at once;
//! - [`py_bytes`]: prints bytes the way Python's `repr` does, so the Rust
//!   output can be set beside `tcp.py`'s;
//! - [`doubles`]: a reader and a writer that move data a little at a time on
//!   demand, for the tests that prove the steps' loops.

mod cli;
mod demo;
pub mod doubles;
mod python;
mod serving;

pub use cli::{NoOptions, parse_args, run, run_with, seconds};
pub use python::{PyBytes, py_bytes};
pub use serving::{SharedWriter, Slots};

use std::io::{self, Write};
use std::net::SocketAddr;

/// One side of a step's conversation: the step's `server` or `client`.
///
/// It is handed the address to listen on or connect to, and where to print
/// its transcript: the terminal when run as `server` or `client`, the demo's
/// transcript when run with no arguments. A server returns only on error.
pub type Role = fn(SocketAddr, &mut dyn Write) -> io::Result<()>;

/// A role that takes options of its own, for [`run_with`]: `options` holds
/// what the command line said (or the defaults, in the demo).
///
/// Its transcript is `Send`, so that a server may hand it to the threads
/// that serve its connections. A server returns `Ok` only when it has been
/// told to stop (step 6 on Ctrl-C), and the program then exits with 0.
pub type RoleWith<O> = fn(SocketAddr, &O, &mut (dyn Write + Send)) -> io::Result<()>;
