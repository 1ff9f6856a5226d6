//! Support code shared by the book's step programs.
//!
//! Nothing in here is what the book teaches. The step binaries in `src/bin/`
//! hold every line about sockets; this library holds the scaffolding around
//! them, so each step file stays a short program about TCP:
//!
//! - [`run`]: reads the command line and starts the server, the client, or
//!   (with no arguments) a demo of both talking to each other;
//! - [`py_bytes`]: prints bytes the way Python's `repr` does, so the Rust
//!   output can be set beside `tcp.py`'s;
//! - [`doubles`]: a reader and a writer that move data a little at a time on
//!   demand, for the tests that prove the steps' loops.

mod cli;
mod demo;
pub mod doubles;
mod python;

pub use cli::{parse_args, run};
pub use python::{PyBytes, py_bytes};

use std::io::{self, Write};
use std::net::SocketAddr;

/// One side of a step's conversation: the step's `server` or `client`.
///
/// It is handed the address to listen on or connect to, and where to print
/// its transcript: the terminal when run as `server` or `client`, the demo's
/// transcript when run with no arguments. A server returns only on error.
pub type Role = fn(SocketAddr, &mut dyn Write) -> io::Result<()>;
