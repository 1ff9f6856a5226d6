//! The claims of the chapter "The program we are porting"
//! (src/the-python-program.md) about `tcp.py`, the book's own Python
//! program in `listings/python/tcp.py`: the lines each role prints, and how
//! it fails. And the book's Python compiles: every ```` ```python ```` block
//! of every chapter, as mdBook shows it (includes expanded), `tcp.py`, and
//! every `.py` file a chapter includes.
//!
//! How the Rust steps and `tcp.py` get on with each other, and that they
//! print the same lines, is in `tests/side_by_side.rs`.

use std::fs;
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use book_tests::robust::unanswered_client;
use book_tests::{
    Finished, closed_port, include, python, python_address, repo, run, tcp_py, tcp_py_server,
};
use listings::protocol::{ASSIGNED, REQUEST, WAITING, closed_early};

/// What `tcp.py`'s server prints for one client, as the course it follows
/// shows it: listening on port 1060, a client on port 51234.
const COURSE_SERVER_LINES: &str = "\
Listening at ('127.0.0.1', 1060)
Waiting for a new connection
Connection from ('127.0.0.1', 51234)
  Socket name: ('127.0.0.1', 1060)
  Socket peer: ('127.0.0.1', 51234)
  message from client: b'Hi there, server'
  Closing socket
Waiting for a new connection
";

/// What `tcp.py`'s client prints, its socket on port 51234.
const COURSE_CLIENT_LINES: &str = "\
Client has been assigned socket name ('127.0.0.1', 51234)
The server said b'Goodbye, client!'
";

/// Runs `tcp.py ARGS` to its end.
fn tcp_py_run(args: &[&str]) -> Finished {
    let script = tcp_py();
    run(
        python(),
        [script.to_str().unwrap()]
            .into_iter()
            .chain(args.iter().copied()),
    )
}

/// `lines` with the ports of this run written as the course shows them.
fn as_in_course(lines: &str, server_port: u16, client_port: u16) -> String {
    lines
        .replace(
            &format!("('127.0.0.1', {server_port})"),
            "('127.0.0.1', 1060)",
        )
        .replace(
            &format!("('127.0.0.1', {client_port})"),
            "('127.0.0.1', 51234)",
        )
}

#[test]
fn tcp_py_prints_its_lines_word_for_word() {
    let mut server = tcp_py_server();
    let client = tcp_py_run(&["client", "-p", &server.port()]);
    assert_eq!(client.code(), Some(0), "{client:#?}");
    let first = client.stdout.lines().next().unwrap_or_default();
    let name = first
        .strip_prefix(ASSIGNED)
        .and_then(python_address)
        .unwrap_or_else(|| panic!("not `{ASSIGNED}('127.0.0.1', PORT)`: {first:?}"));
    let (server_port, client_port) = (server.address.port(), name.port());
    assert_eq!(
        as_in_course(&client.stdout, server_port, client_port),
        COURSE_CLIENT_LINES
    );
    // Waiting for a new connection, once before the client and once after.
    server.wait_for_stdout(WAITING);
    server.wait_for_stdout(WAITING);
    let printed = server.stdout.join("\n") + "\n";
    assert_eq!(
        as_in_course(&printed, server_port, client_port),
        COURSE_SERVER_LINES
    );
}

/// The last line of the traceback that ended `finished`, which names the
/// uncaught exception and its message; Python exits with status 1 then.
fn uncaught(finished: &Finished) -> &str {
    assert_eq!(finished.code(), Some(1), "{finished:#?}");
    assert!(
        finished
            .stderr
            .starts_with("Traceback (most recent call last):"),
        "{finished:#?}"
    );
    finished.stderr.lines().last().unwrap_or_default()
}

#[test]
fn tcp_py_catches_nothing_a_client_with_no_server_and_a_second_server_end_it() {
    let closed = closed_port();
    let client = tcp_py_run(&["client", "-p", &closed.port().to_string()]);
    assert_eq!(
        uncaught(&client),
        "ConnectionRefusedError: [Errno 111] Connection refused"
    );

    let server = tcp_py_server();
    let second = tcp_py_run(&["server", "-p", &server.port()]);
    assert_eq!(
        uncaught(&second),
        "OSError: [Errno 98] Address already in use"
    );
}

#[test]
fn tcp_py_answers_a_command_line_it_cannot_read_with_usage_and_status_2() {
    // A role that is not one, and a port that is not a number: argparse's
    // refusal, not a traceback.
    for args in [&["serve"][..], &["client", "-p", "abc"]] {
        let refused = tcp_py_run(args);
        assert_eq!(refused.code(), Some(2), "{args:?}: {refused:#?}");
        assert!(
            refused.stderr.starts_with("usage: tcp.py "),
            "{args:?}: {refused:#?}"
        );
        assert!(
            !refused.stderr.contains("Traceback"),
            "{args:?}: {refused:#?}"
        );
    }
}

/// argparse checks that `-p` is a whole number, not that it is a port: the
/// socket call is the first to object, with a traceback, where every Rust
/// step gives a usage error.
#[test]
fn tcp_py_takes_a_port_out_of_range_past_argparse_and_dies_in_bind() {
    let refused = tcp_py_run(&["server", "-p", "70000"]);
    assert_eq!(
        uncaught(&refused),
        "OverflowError: bind(): port must be 0-65535."
    );
}

#[test]
fn tcp_py_server_dies_on_a_client_that_hangs_up_early() {
    let server = tcp_py_server();
    let mut quitter = TcpStream::connect(server.address).unwrap();
    quitter.write_all(&REQUEST[..5]).unwrap();
    drop(quitter);
    // The same words as the Rust steps' error, from step 4 on.
    assert_eq!(
        uncaught(&server.wait_for_exit()),
        format!("EOFError: {}", closed_early(16, 5))
    );
}

#[test]
fn tcp_py_server_waits_on_a_silent_client_and_the_next_waits_behind_it() {
    let mut server = tcp_py_server();
    let silent = TcpStream::connect(server.address).unwrap();
    let port = silent.local_addr().unwrap().port();
    server.wait_for_stdout(&format!("  Socket peer: ('127.0.0.1', {port})"));
    // A good client: the backlog takes its connection, and it hears nothing.
    let _next = unanswered_client(server.address);
    assert_eq!(server.next_stdout_line_within(Duration::ZERO), None);
    assert!(server.is_running());
}

// The book's Python compiles.

/// One Python block or file, and where the book has it.
struct PythonCode {
    place: String,
    code: String,
}

/// The ```` ```python ```` blocks of a chapter as mdBook shows it, with
/// includes expanded and each block named by its line in the chapter (a
/// block that an include produced by the include's line); and the `.py`
/// files the chapter includes, whole.
fn python_in_chapter(name: &str, markdown: &str, base: &Path) -> Vec<PythonCode> {
    let expanded = include::expand(markdown, base);
    let lines: Vec<&str> = expanded.text.lines().collect();
    let mut found = Vec::new();
    // The block being read: whether it is Python, its first line, its code.
    let mut open: Option<(bool, usize, Vec<&str>)> = None;
    for (index, line) in lines.iter().enumerate() {
        let fence = line.trim_start().strip_prefix("```");
        match (&mut open, fence) {
            (None, Some(info)) => {
                // As mdBook reads an info string: the first word is the language.
                let language = info.split([' ', '\t', ',']).next().unwrap_or("");
                let python = matches!(language, "python" | "py");
                open = Some((python, index + 1, Vec::new()));
            }
            (Some((python, first, code)), Some(_)) => {
                if *python {
                    found.push(PythonCode {
                        place: format!("{name}:{}", expanded.origins[*first]),
                        code: code.join("\n") + "\n",
                    });
                }
                open = None;
            }
            (Some((_, _, code)), None) => code.push(line),
            (None, None) => {}
        }
    }
    for file in expanded.files {
        if file.extension().is_some_and(|ext| ext == "py") {
            found.push(python_file(&file));
        }
    }
    found
}

fn python_file(path: &Path) -> PythonCode {
    PythonCode {
        place: path
            .strip_prefix(repo())
            .unwrap_or(path)
            .display()
            .to_string(),
        code: fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display())),
    }
}

/// Byte-compiles `python` as Python 3 does before running it, warnings
/// (an invalid escape, say) counted as errors. The error, if any.
fn compile(python_code: &PythonCode) -> Result<(), String> {
    let mut child = Command::new(python())
        .args([
            "-W",
            "error",
            "-c",
            "import sys; compile(sys.stdin.read(), sys.argv[1], 'exec')",
            &python_code.place,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(python_code.code.as_bytes())
        .expect("python3 reads the code");
    let output = child.wait_with_output().expect("python3 ends");
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The traceback's frames are the `-c` line; what matters is after them.
    let from = stderr.find("  File \"").map_or(0, |at| {
        at + stderr[at..]
            .find('\n')
            .map_or(stderr.len() - at, |end| end + 1)
    });
    Err(format!(
        "{}:\n{}",
        python_code.place,
        stderr[from..].trim_end()
    ))
}

#[test]
fn every_python_block_and_file_in_the_book_compiles() {
    let src = repo().join("src");
    let mut code = vec![python_file(&tcp_py())];
    for chapter in include::chapters(&src).expect("list the chapters in src/") {
        let path = src.join(&chapter);
        let markdown = fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let name = format!("src/{}", chapter.display());
        code.extend(python_in_chapter(&name, &markdown, path.parent().unwrap()));
    }
    // Blocks in chapters, not only tcp.py: finding none means the scanner
    // is broken.
    assert!(code.len() > 1, "no ```python block found under src/");
    let problems: Vec<String> = code.iter().filter_map(|c| compile(c).err()).collect();
    assert!(
        problems.is_empty(),
        "{} Python block(s) or file(s) do not compile:\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}

#[test]
fn a_python_block_that_does_not_compile_is_reported_with_its_line() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("python-blocks");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("code.py"),
        "x = 1\n# ANCHOR: part\ndef f(:\n    pass\n# ANCHOR_END: part\n",
    )
    .unwrap();
    let chapter = "# A chapter\n\n```python\nprint('fine')\n```\n\n\
                   ```rust\nfn main() {}\n```\n\n\
                   ```python\n{{#include code.py:part}}\n```\n\n\
                   ```python,ignore\nif True\n```\n";
    let code = python_in_chapter("made-up.md", chapter, &dir);
    let places: Vec<&str> = code.iter().map(|c| c.place.as_str()).collect();
    assert_eq!(places.len(), 4, "three blocks and one file: {places:?}");
    assert_eq!(
        &places[..3],
        ["made-up.md:4", "made-up.md:12", "made-up.md:16"]
    );
    let problems: Vec<String> = code.iter().filter_map(|c| compile(c).err()).collect();
    // The included part, the block after it, and the whole file holding it.
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(
        problems[0].starts_with("made-up.md:12:\n"),
        "{}",
        problems[0]
    );
    assert!(problems[0].contains("SyntaxError"), "{}", problems[0]);
    assert!(
        problems[1].starts_with("made-up.md:16:\n"),
        "{}",
        problems[1]
    );
    assert!(problems[2].contains("code.py"), "{}", problems[2]);
}
