//! The exercises of "Step 2: a loop around `write`" (src/step2-send-loop.md):
//! counting the calls `sendall` makes when a writer takes only a few bytes
//! at a time; and the same loop for a message held in two buffers, sent
//! with `write_vectored`.
//!
//! Both programs put a writer between their loop and the socket that takes
//! at most `--max-write` bytes per call: a blocking socket takes a few bytes
//! whole every time, so the number of calls is certain, where a real short
//! write would depend on the moment.

use std::path::Path;

use book_tests::{Server, bin};
use listings::protocol::{REQUEST, repr};

use super::support::{expect_reply, next_message, run_program};

/// Runs `program` as a client of a step 4 server once for each limit, and
/// checks that the server got the request whole and that the client said
/// `{said}` with the number of calls that limit takes.
fn calls_for_each_limit(
    program: &Path,
    limits: &[(Option<&str>, usize)],
    said: fn(usize) -> String,
) -> Result<(), String> {
    let mut server = Server::start(bin("step4"), ["server", "-p", "0"]);
    let port = server.port();
    for &(limit, calls) in limits {
        let mut args = vec!["client", "-p", &port];
        if let Some(limit) = limit {
            args.extend(["--max-write", limit]);
        }
        let what = format!("`{}`", args.join(" "));
        let client = run_program(program, &args)?;
        expect_reply(&client, &what)?;
        let message = next_message(&mut server)?;
        if message != repr(REQUEST) {
            return Err(format!("after {what}, step 4's server received {message}"));
        }
        let line = said(calls);
        if !client.stdout.lines().any(|printed| printed == line) {
            return Err(format!(
                "{what} should print `{line}`; it printed {:?}",
                client.stdout
            ));
        }
    }
    Ok(())
}

fn count_writes(program: &Path) -> Result<(), String> {
    calls_for_each_limit(
        program,
        &[
            (Some("3"), 6),
            (Some("5"), 4),
            (Some("15"), 2),
            (Some("16"), 1),
            // No limit: a blocking socket takes 16 bytes in one call.
            (None, 1),
        ],
        |calls| format!("Sent 16 bytes with {calls} call(s) to write"),
    )
}

fn header_and_body(program: &Path) -> Result<(), String> {
    calls_for_each_limit(
        program,
        &[
            // 7 of the header; its last 3 and 4 of the body; the last 2.
            (Some("7"), 3),
            (Some("3"), 6),
            // Exactly the header, then the body.
            (Some("10"), 2),
            (Some("12"), 2),
            (Some("16"), 1),
            (None, 1),
        ],
        |calls| format!("Sent 16 bytes with {calls} call(s) to write_vectored"),
    )
}

exercise!(step2_1_count_writes, super::count_writes);
exercise!(step2_2_header_and_body, super::header_and_body);
