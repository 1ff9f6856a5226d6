//! Every transcript in the book is re-run and compared with a fresh run.
//!
//! A ```` ```console ```` block in `src/` starts with `$ COMMAND` and holds
//! what that command printed, stdout and stderr merged as a terminal shows
//! them. This test runs each command and fails when its output differs, so a
//! listing that changes what it prints fails `cargo test` until the book is
//! updated. Ports are the one thing that differs from run to run, so
//! `127.0.0.1:<digits>` is compared as `127.0.0.1:<port>`, and likewise the
//! port in the tuple `('127.0.0.1', <digits>)` that Python prints. A command
//! is a step or tool (`cargo run -q -p listings --bin NAME`) or a Python
//! program (`python3 listings/python/tcp.py`, `python3 tests/peer.py`); a
//! Python server is given the port the same way, with `-p`.
//!
//! Two terminals: a block whose fence says ```` ```console,background ````
//! is a program left running, a server or a relay, and its block ends where
//! the reader pressed Ctrl-C (`^C`). mdBook reads only the first word of the
//! fence, so the page shows it as any other console block. The test starts
//! that program on a free port instead of the book's, points the blocks after
//! it at it (a client talks to the last one started, a relay forwards to
//! it), and compares its block once they are done: what it printed, then
//! `^C` and whatever it prints after the test sends it SIGINT, as a reader's
//! Ctrl-C does. Every other block runs in the foreground to its end: a server
//! block there shows an error and runs against the running server's port; a
//! client block with no server running gets a port nobody listens on.
//!
//! Restarts: a server started again on the port the book gave an earlier one
//! gets that server's port in this run too, and a `listen` block (a program
//! whose first argument is `listen`, as `timewait listen`) first stops the
//! programs still running, as the reader does with Ctrl-C, then binds the
//! port they had. So a chapter can show a port that outlives its server.
//!
//! `BLESS=1 cargo test --test transcripts` writes the real output into the
//! book instead of comparing (with the ports written back as the book's);
//! `CHAPTER=step4` limits a run to the chapters whose file name contains it.
//!
//! [`parse`] reads the blocks and their commands out of the chapters; [`run`]
//! runs them.

mod parse;
mod run;

use std::fs;
use std::path::Path;

use parse::{Block, chapters, console_blocks};
use run::{BEFORE_PORT, Outcome, as_in_book, run_chapter};

/// The line with each port, `127.0.0.1:<digits>`, `[::1]:<digits>` or, as
/// `tcp.py` prints it, `('127.0.0.1', <digits>)`, replaced by `<port>`, for
/// comparing.
fn normalise(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = BEFORE_PORT
        .iter()
        .filter_map(|host| rest.find(host).map(|i| (i, host.len())))
        .min()
    {
        let (start, len) = at;
        out.push_str(&rest[..start + len]);
        rest = &rest[start + len..];
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits > 0 {
            out.push_str("<port>");
            rest = &rest[digits..];
        }
    }
    out.push_str(rest);
    out
}

/// A report for each block whose fresh run differs from the book.
fn differences(blocks: &[Block], outcome: &Outcome) -> Vec<String> {
    let mut found = Vec::new();
    for (index, actual) in &outcome.actual {
        let block = &blocks[*index];
        let want: Vec<String> = block.expected.iter().map(|l| normalise(l)).collect();
        let got: Vec<String> = actual.iter().map(|l| normalise(l)).collect();
        if want != got {
            found.push(format!(
                "{}: `$ {}`\n--- the book shows\n{}\n--- a fresh run printed\n{}\n",
                block.place(),
                block.command,
                want.join("\n"),
                got.join("\n")
            ));
        }
    }
    found
}

#[test]
fn every_transcript_in_the_book_matches_a_fresh_run() {
    let blessing = std::env::var_os("BLESS").is_some();
    let mut checked = 0;
    let mut mismatches = Vec::new();
    // CHAPTER=name checks (or blesses) only the chapters whose file name
    // contains it: handy while writing one.
    let only = std::env::var("CHAPTER").unwrap_or_default();
    for (chapter, text) in chapters(&only) {
        let blocks = console_blocks(&chapter, &text);
        if blocks.is_empty() {
            continue;
        }
        let outcome = run_chapter(&blocks, blessing);
        if blessing {
            let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
            // Back to front, so earlier ranges stay valid.
            for (index, actual) in outcome.actual.iter().rev() {
                lines.splice(blocks[*index].output_lines.clone(), actual.iter().cloned());
            }
            let mut new_text = lines.join("\n");
            if text.ends_with('\n') {
                new_text.push('\n');
            }
            if new_text != text {
                fs::write(&chapter, new_text).unwrap();
                eprintln!("blessed {}", chapter.display());
            }
        }
        checked += outcome.actual.len();
        if !blessing {
            mismatches.extend(differences(&blocks, &outcome));
        }
    }
    assert!(checked > 0, "the book has no console transcripts to check");
    assert!(
        mismatches.is_empty(),
        "{} transcript(s) differ from a fresh run (update the book, or run \
         `BLESS=1 cargo test --test transcripts` and read the diff):\n\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

#[test]
fn ports_are_normalised_whole() {
    assert_eq!(
        normalise("Listening at 127.0.0.1:1060"),
        "Listening at 127.0.0.1:<port>"
    );
    assert_eq!(
        normalise("a [::1]:5 b 127.0.0.1:44 c"),
        "a [::1]:<port> b 127.0.0.1:<port> c"
    );
    assert_eq!(
        normalise("127.0.0.1 and 127.0.0.1:x"),
        "127.0.0.1 and 127.0.0.1:x"
    );
    assert_eq!(
        normalise("Connection from ('127.0.0.1', 51234)"),
        "Connection from ('127.0.0.1', <port>)"
    );
    let back = as_in_book(
        &["at 127.0.0.1:4242, not 127.0.0.1:42420".to_owned()],
        &[(4242, 1060)],
    );
    assert_eq!(back, ["at 127.0.0.1:1060, not 127.0.0.1:42420"]);
    let back = as_in_book(
        &["at ('127.0.0.1', 4242), not ('127.0.0.1', 42420)".to_owned()],
        &[(4242, 1060)],
    );
    assert_eq!(back, ["at ('127.0.0.1', 1060), not ('127.0.0.1', 42420)"]);
}

/// Runs the blocks of a chapter made up for a test, `text`, and returns the
/// differences from the book it found.
fn check(text: &str) -> Vec<String> {
    let blocks = console_blocks(Path::new("made-up.md"), text);
    differences(&blocks, &run_chapter(&blocks, false))
}

#[test]
fn a_transcript_that_differs_from_a_fresh_run_is_reported() {
    let book = "```console\n$ cargo run -q -p listings --bin step4 -- client\n\
                error: client talking to 127.0.0.1:1060: Connection refused (os error 111)\n```\n";
    assert_eq!(check(book), Vec::<String>::new());
    let edited = book.replace("refused", "declined");
    let found = check(&edited);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(found[0].starts_with("made-up.md:2: "), "{}", found[0]);
}

/// A step 4 server's block, left running while one client is served.
const STEP4_SERVER_ONE_CLIENT: &str = "```console,background\n\
    $ cargo run -q -p listings --bin step4 -- server\n\
    Listening at 127.0.0.1:1060\nWaiting for a new connection\n\
    Connection from 127.0.0.1:40000\n\
    \x20 Socket name: 127.0.0.1:1060\n\x20 Socket peer: 127.0.0.1:40000\n\
    \x20 message from client: b'Hi there, server'\n\
    \x20 Closing socket\nWaiting for a new connection\n^C\n```\n\n";

#[test]
fn a_background_block_runs_beside_the_blocks_after_it() {
    let book = format!(
        "{STEP4_SERVER_ONE_CLIENT}```console\n$ cargo run -q -p listings --bin step4 -- client\n\
         Client has been assigned socket name 127.0.0.1:40000\n\
         The server said b'Goodbye, client!'\n```\n"
    );
    assert_eq!(check(&book), Vec::<String>::new());
}

#[test]
fn python_blocks_run_in_both_roles_beside_rust_ones() {
    // tcp.py's server with a Rust client, then a Rust server with tcp.py's
    // client; Python's address tuples are compared port-blind too.
    let book = "```console,background\n$ python3 listings/python/tcp.py server\n\
        Listening at ('127.0.0.1', 1060)\nWaiting for a new connection\n\
        Connection from ('127.0.0.1', 40000)\n\
        \x20 Socket name: ('127.0.0.1', 1060)\n\x20 Socket peer: ('127.0.0.1', 40000)\n\
        \x20 message from client: b'Hi there, server'\n\
        \x20 Closing socket\nWaiting for a new connection\n^C\n```\n\n\
        ```console\n$ cargo run -q -p listings --bin step5 -- client\n\
        Client has been assigned socket name 127.0.0.1:40000\n\
        The server said b'Goodbye, client!'\n```\n\n";
    let book = format!(
        "{book}{STEP4_SERVER_ONE_CLIENT}```console\n$ python3 listings/python/tcp.py client\n\
         Client has been assigned socket name ('127.0.0.1', 40000)\n\
         The server said b'Goodbye, client!'\n```\n"
    );
    let blocks = console_blocks(Path::new("made-up.md"), &book);
    let outcome = run_chapter(&blocks, false);
    assert_eq!(differences(&blocks, &outcome), Vec::<String>::new());
    // The Python server ran on a free port, as the Rust one did, and the
    // client's output shows the book's port where it printed that one.
    assert_ne!(outcome.ports[&0], 1060, "{:?}", outcome.ports);
    assert_eq!(
        outcome.actual[&0][0], "Listening at ('127.0.0.1', 1060)",
        "written back as the book's port"
    );
    // Only the port is ignored: Rust's format where Python's belongs differs.
    let edited = book.replacen("name ('127.0.0.1', 40000)", "name 127.0.0.1:40000", 1);
    let found = check(&edited);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(found[0].contains("tcp.py client"), "{}", found[0]);
}

#[test]
fn a_server_restarts_on_its_port_and_a_listen_block_binds_it_after_ctrl_c() {
    let server = STEP4_SERVER_ONE_CLIENT;
    let book = format!(
        "{server}```console\n$ cargo run -q -p listings --bin timewait -- client\n\
         Client has been assigned socket name 127.0.0.1:40000\n\
         The server said b'Goodbye, client!'\n\
         End of file: the server closed first, so its end waits in TIME_WAIT\n```\n\n\
         ```console\n$ cargo run -q -p listings --bin timewait -- listen --no-reuseaddr\n\
         error: cannot listen with SO_REUSEADDR off on 127.0.0.1:1060: \
         Address already in use (os error 98)\n```\n\n{server}```console\n\
         $ cargo run -q -p listings --bin timewait -- client\n\
         Client has been assigned socket name 127.0.0.1:40000\n\
         The server said b'Goodbye, client!'\n\
         End of file: the server closed first, so its end waits in TIME_WAIT\n```\n"
    );
    let blocks = console_blocks(Path::new("made-up.md"), &book);
    let outcome = run_chapter(&blocks, false);
    assert_eq!(differences(&blocks, &outcome), Vec::<String>::new());
    // The listen block failed because the port was the first server's, in
    // TIME_WAIT; the second server got that same port back.
    assert_eq!(outcome.ports[&0], outcome.ports[&3], "{:?}", outcome.ports);
}

#[test]
#[should_panic(expected = "where a server prints `Listening at ADDRESS` first")]
fn a_background_block_that_does_not_listen_fails() {
    check("```console,background\n$ cargo run -q -p listings --bin step4 -- client\n^C\n```\n");
}

#[test]
#[should_panic(expected = "mark its fence ```console,background")]
fn a_foreground_block_that_shows_ctrl_c_fails() {
    check(
        "```console\n$ cargo run -q -p listings --bin step4 -- server\nListening at 127.0.0.1:1060\n^C\n```\n",
    );
}

#[test]
#[should_panic(expected = "a console block's fence says `console` or `console,background`")]
fn a_fence_with_an_unknown_word_fails() {
    check("```console,backgroud\n$ cargo run -q -p listings --bin step4 -- server\n```\n");
}
