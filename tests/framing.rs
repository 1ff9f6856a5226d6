//! The claims of the chapter "Messages of any length": `framed` (each
//! message after its length, 4 bytes big-endian) and `lines` (each message
//! ended by a newline) exchange messages of any length, through a relay
//! that splits every byte too; each refuses a message over its limit with
//! one line, before the message can decide how much memory the server
//! takes, and goes on to its next client; and each understands the
//! independent Python peer (`tests/peer.py --framing`), in both roles.
//!
//! Nothing here sleeps to synchronise: a test waits for a line a program
//! prints, or for a process to exit.

use std::io::{BufRead, BufReader, BufWriter, Cursor, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use book_tests::{
    Finished, Output, PATIENCE, Server, bin, chopper, connected_pair, python, python_peer, run,
    ss_socket_info,
};
use listings::doubles::ChoppyWriter;
use listings::messages::{DEFAULT_MESSAGE, describe, reply_to};
use listings::protocol::{WAITING, accepted, connection_error};
use socket2::SockRef;

/// The two programs of the chapter.
const PROGRAMS: [&str; 2] = ["framed", "lines"];

/// What each program calls its limit on a message, and that limit's
/// default.
fn limit_option(program: &str) -> (&'static str, usize) {
    match program {
        "framed" => ("--max-frame", 4 * 1024 * 1024),
        "lines" => ("--max-line", 64 * 1024),
        _ => unreachable!("{program} is not one of this chapter's programs"),
    }
}

const MIB: usize = 1024 * 1024;

/// Starts `program server -p 0 EXTRA...` and waits until it is ready for
/// its first client.
fn start(program: &str, extra: &[&str]) -> Server {
    let mut args = vec!["server", "-p", "0"];
    args.extend_from_slice(extra);
    let mut server = Server::start(bin(program), args);
    assert_eq!(server.wait_for_stdout(WAITING), Vec::<String>::new());
    server
}

/// Runs `program client -p PORT ARGS...` to the end.
fn client(program: &str, port: u16, args: &[&str]) -> Finished {
    let port = port.to_string();
    let mut all = vec!["client", "-p", &port];
    all.extend_from_slice(args);
    run(bin(program), all)
}

/// What a client prints last, for the server's reply.
fn replied(reply: &[u8]) -> String {
    format!("The server replied with {}", describe(reply))
}

/// The line a server prints for a message it received.
fn received(message: &[u8]) -> String {
    format!("  message from client: {}", describe(message))
}

/// Runs a client of `program` with `args` that must send `message`, and
/// checks both sides: the client's last line is the server's reply to
/// that message, and the server printed the message.
fn exchange(program: &str, server: &mut Server, port: u16, args: &[&str], message: &[u8]) {
    let run = client(program, port, args);
    assert_eq!(run.code(), Some(0), "{program} client {args:?}: {run:#?}");
    assert_eq!(
        run.stdout.lines().last(),
        Some(replied(&reply_to(message)).as_str()),
        "{program} client {args:?}"
    );
    let said = server.wait_for_stdout(&received(message));
    assert!(
        said.iter().any(|line| line.starts_with("Connection from ")),
        "{said:?}"
    );
}

#[test]
fn both_exchange_empty_small_and_multi_mib_messages() {
    // Three MiB: more than any one `read` returns, and, for `lines`, more
    // than its default limit, which both ends raise for the test.
    let big = "abc".repeat(MIB);
    let repeat = MIB.to_string();
    for program in PROGRAMS {
        let (option, _) = limit_option(program);
        let raised = (4 * MIB).to_string();
        let mut server = start(program, &[option, &raised]);
        let port = server.address.port();
        exchange(program, &mut server, port, &["--message", ""], b"");
        exchange(program, &mut server, port, &[], DEFAULT_MESSAGE.as_bytes());
        exchange(
            program,
            &mut server,
            port,
            &["--message", "abc", "--repeat", &repeat, option, &raised],
            big.as_bytes(),
        );
    }
}

#[test]
fn both_exchange_through_a_relay_that_splits_every_byte() {
    for program in PROGRAMS {
        let mut server = start(program, &[]);
        // Every byte a segment of its own, both ways: the length, the
        // newline, each split from the rest.
        let relay = chopper(server.address.port(), &["--chunk", "1", "--both"]);
        exchange(
            program,
            &mut server,
            relay.address.port(),
            &[],
            DEFAULT_MESSAGE.as_bytes(),
        );
    }
}

/// The server's peak resident memory so far, in kB: `VmHWM` (the "high
/// water mark" of its resident set) in /proc/<pid>/status (Linux).
fn peak_memory(server: &Server) -> u64 {
    let path = format!("/proc/{}/status", server.pid());
    let status = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().strip_suffix(" kB"))
        .and_then(|kb| kb.parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM in {path}"))
}

/// A client that connects to `address`, sends `first`, then `flood` bytes
/// of `x` (no newline among them) in 1 MiB writes, and closes, stopping
/// early if the server hangs up. Returns its own address, and its thread,
/// which returns how many bytes it got into the connection.
fn flooder(address: SocketAddr, first: &[u8], flood: usize) -> (SocketAddr, JoinHandle<usize>) {
    let mut conn = TcpStream::connect(address).unwrap();
    // Only a safety net: a server that stops reading without closing fails
    // the test instead of hanging it.
    conn.set_write_timeout(Some(PATIENCE)).unwrap();
    let name = conn.local_addr().unwrap();
    let first = first.to_vec();
    let sending = thread::spawn(move || {
        let piece = vec![b'x'; MIB];
        let mut sent = 0;
        if conn.write_all(&first).is_err() {
            return sent;
        }
        while sent < flood {
            // The server closing with our bytes unread resets the
            // connection: the next write fails, and the flood ends.
            if conn.write_all(&piece[..MIB.min(flood - sent)]).is_err() {
                break;
            }
            sent += MIB.min(flood - sent);
        }
        sent
    });
    (name, sending)
}

/// The client each refusal test sends: a length of 4 GiB - 1 (the largest
/// 4 bytes can say) then 100 MiB for `framed`, a line of 100 MiB without a
/// newline for `lines`.
fn hostile_start(program: &str) -> Vec<u8> {
    match program {
        "framed" => u32::MAX.to_be_bytes().to_vec(),
        _ => Vec::new(),
    }
}

const FLOOD: usize = 100 * MIB;

#[test]
fn both_refuse_an_over_long_message_in_one_line_in_bounded_memory_and_serve_the_next_client() {
    for program in PROGRAMS {
        let mut server = start(program, &[]);
        let idle = peak_memory(&server);
        let (name, flooding) = flooder(server.address, &hostile_start(program), FLOOD);
        let (option, max) = limit_option(program);
        let why = match program {
            "framed" => {
                format!("refused a message of 4294967295 bytes, longer than {option} {max}")
            }
            _ => format!("refused a line longer than {option} {max} bytes"),
        };
        assert_eq!(server.next_stderr_line(), connection_error(name, &why));
        let sent = flooding.join().unwrap();
        let peak = peak_memory(&server);
        println!(
            "{program}: idle peak {idle} kB; after refusing (the client got {} MiB in before \
             the server hung up): peak {peak} kB",
            sent / MIB
        );
        assert!(
            peak < 4 * idle,
            "{program}'s peak memory grew from {idle} kB to {peak} kB"
        );
        // The next client is served, and the refusal was the one line on
        // stderr.
        let port = server.address.port();
        exchange(program, &mut server, port, &[], DEFAULT_MESSAGE.as_bytes());
        server.interrupt();
        let exited = server.wait_for_exit();
        assert_eq!(exited.code(), Some(0), "{exited:#?}");
        assert_eq!(exited.stderr, "", "{program}: more than one line on stderr");
    }
}

#[test]
fn without_a_cap_the_same_clients_cost_the_server_what_they_send() {
    // The contrast that shows the test above measures something: with the
    // limit raised out of the way, the server keeps what the client sends.
    // `framed` is told 200 MiB (an allocation that succeeds) and gets 100;
    // `lines` gets a line of 100 MiB, then the end of the connection.
    for program in PROGRAMS {
        let (option, _) = limit_option(program);
        let mut server = start(program, &[option, "4294967295", "--timeout", "60"]);
        let idle = peak_memory(&server);
        let start = match program {
            "framed" => (200 * MIB as u32).to_be_bytes().to_vec(),
            _ => Vec::new(),
        };
        let (name, flooding) = flooder(server.address, &start, FLOOD);
        assert_eq!(flooding.join().unwrap(), FLOOD, "{program}");
        let why = match program {
            "framed" => format!(
                "the connection closed in the middle of a message of {} bytes",
                200 * MIB
            ),
            _ => format!("the connection closed in the middle of a line, after {FLOOD} bytes"),
        };
        assert_eq!(server.next_stderr_line(), connection_error(name, &why));
        let peak = peak_memory(&server);
        println!("{program} without a limit: idle peak {idle} kB, then {peak} kB");
        // Most of the 100 MiB (some of the idle pages may have left the
        // resident set meanwhile), and far past the bound the test above
        // holds the capped servers to.
        let flood_kb = (FLOOD / 1024) as u64;
        assert!(
            peak > idle + flood_kb * 9 / 10 && peak >= 4 * idle,
            "{program}: {idle} kB, then {peak} kB"
        );
    }
}

#[test]
fn a_message_of_exactly_the_limit_is_accepted_and_one_byte_more_is_refused() {
    for program in PROGRAMS {
        let (option, _) = limit_option(program);
        let mut server = start(program, &[option, "10"]);
        let port = server.address.port();
        exchange(
            program,
            &mut server,
            port,
            &["--message", "0123456789"],
            b"0123456789",
        );

        let run = client(program, port, &["--message", "0123456789!"]);
        run.one_line_error(1);
        let why = match program {
            "framed" => "refused a message of 11 bytes, longer than --max-frame 10",
            _ => "refused a line longer than --max-line 10 bytes",
        };
        let name = run
            .stdout
            .lines()
            .find_map(|line| line.strip_prefix("Client has been assigned socket name "))
            .and_then(|name| name.parse().ok())
            .unwrap_or_else(|| panic!("{run:#?}"));
        assert_eq!(server.next_stderr_line(), connection_error(name, why));
    }
}

#[test]
fn a_client_that_closes_early_is_reported_in_the_protocols_words() {
    for program in PROGRAMS {
        let mut server = start(program, &[]);
        let cases: [(&[u8], &str); 2] = match program {
            "framed" => [
                (
                    b"",
                    "the connection closed before the 4-byte length was complete",
                ),
                (
                    b"\0\0\0\x0aabc",
                    "the connection closed in the middle of a message of 10 bytes",
                ),
            ],
            _ => [
                (b"", "the connection closed before a line began"),
                (
                    b"abc",
                    "the connection closed in the middle of a line, after 3 bytes",
                ),
            ],
        };
        for (sent, why) in cases {
            let mut quitter = TcpStream::connect(server.address).unwrap();
            let name = quitter.local_addr().unwrap();
            quitter.write_all(sent).unwrap();
            drop(quitter);
            assert_eq!(server.next_stderr_line(), connection_error(name, why));
        }
    }
}

#[test]
fn both_serve_no_more_than_max_connections_at_once() {
    // One slot, held by a client that says nothing: the next client waits,
    // connected, in the backlog until the deadline frees the slot.
    for program in PROGRAMS {
        let mut command = Command::new(bin(program));
        command.args([
            "server",
            "-p",
            "0",
            "--max-connections",
            "1",
            "--timeout",
            "1",
        ]);
        // Standard error into the same pipe: the order of the two kinds of
        // line is the order of the events.
        let mut server = Server::start_command(command, Output::Merged).unwrap();
        let silent = TcpStream::connect(server.address).unwrap();
        let silent_name = silent.local_addr().unwrap();
        server.wait_for_stdout(&accepted(silent_name));
        let port = server.address.port();
        let waiting = thread::spawn(move || client(program, port, &[]));
        let dropped = connection_error(silent_name, "the deadline passed while reading");
        let before = server.wait_for_stdout(&dropped);
        assert!(
            !before
                .iter()
                .any(|line| line.starts_with("Connection from ")),
            "{program} accepted a second client while its one slot was taken: {before:?}"
        );
        let run = waiting.join().unwrap();
        assert_eq!(run.code(), Some(0), "{run:#?}");
        server.wait_for_stdout(&received(DEFAULT_MESSAGE.as_bytes()));
        drop(silent);
    }
}

#[test]
fn the_deadline_holds_however_many_reads_a_message_takes() {
    // One byte every 200 ms: each read gets data long before a one-second
    // read timeout would fire, so only a deadline for the whole
    // conversation stops the client before its 100 bytes take 20 seconds.
    for program in PROGRAMS {
        let mut server = start(program, &["--timeout", "1"]);
        let mut dripper = TcpStream::connect(server.address).unwrap();
        let name = dripper.local_addr().unwrap();
        server.wait_for_stdout(&accepted(name));
        let started = Instant::now();
        if program == "framed" {
            dripper.write_all(&100u32.to_be_bytes()).unwrap();
        }
        let dripping = thread::spawn(move || {
            while dripper.write_all(b"x").is_ok() && started.elapsed() < PATIENCE {
                thread::sleep(Duration::from_millis(200));
            }
        });
        assert_eq!(
            server.next_stderr_line(),
            connection_error(name, "the deadline passed while reading")
        );
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
        dripping.join().unwrap();
    }
}

/// How many segments carrying data the socket (local, remote) has
/// received: `data_segs_in` in what `ss -ti` (iproute2) says of it.
fn data_segments_in(local: SocketAddr, remote: SocketAddr) -> u64 {
    let text = ss_socket_info(local, remote);
    text.split_whitespace()
        .find_map(|field| field.strip_prefix("data_segs_in:"))
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("no data_segs_in in {text:?}"))
}

/// Accepts one client on `listener`, reads one whole message (the length
/// and the message for `framed`, a line for `lines`) and returns how many
/// segments carried it, then answers, so that the client ends well.
fn segments_of_one_message(program: &str, listener: &TcpListener) -> u64 {
    // A client that never comes (it failed to start) fails the test
    // instead of hanging it: on Linux a receive timeout bounds `accept`.
    SockRef::from(listener)
        .set_read_timeout(Some(PATIENCE))
        .unwrap();
    let (conn, peer) = listener
        .accept()
        .unwrap_or_else(|e| panic!("no {program} client came: {e}"));
    conn.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut reader = BufReader::new(&conn);
    let mut message = Vec::new();
    if program == "framed" {
        let mut header = [0; 4];
        reader.read_exact(&mut header).unwrap();
        message.resize(u32::from_be_bytes(header) as usize, 0);
        reader.read_exact(&mut message).unwrap();
    } else {
        reader.read_until(b'\n', &mut message).unwrap();
        message.pop();
    }
    assert_eq!(message, DEFAULT_MESSAGE.as_bytes());
    let segments = data_segments_in(conn.local_addr().unwrap(), peer);
    let reply = reply_to(&message);
    let mut conn = &conn;
    if program == "framed" {
        conn.write_all(&(reply.len() as u32).to_be_bytes()).unwrap();
    }
    conn.write_all(&reply).unwrap();
    if program == "lines" {
        conn.write_all(b"\n").unwrap();
    }
    segments
}

#[test]
fn a_short_message_leaves_in_one_segment_with_its_length_or_newline() {
    for program in PROGRAMS {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // Built here, so that a failed build fails the test at once.
        bin(program);
        let asking = thread::spawn(move || client(program, port, &[]));
        let segments = segments_of_one_message(program, &listener);
        let run = asking.join().unwrap();
        assert_eq!(run.code(), Some(0), "{run:#?}");
        assert_eq!(segments, 1, "{program}");
    }
    // The contrast: the length and the message in two writes, two segments.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let asking = thread::spawn(move || {
        let mut conn = TcpStream::connect(address).unwrap();
        let message = DEFAULT_MESSAGE.as_bytes();
        conn.write_all(&(message.len() as u32).to_be_bytes())
            .unwrap();
        conn.write_all(message).unwrap();
        let mut reply = Vec::new();
        conn.read_to_end(&mut reply).unwrap();
    });
    assert_eq!(segments_of_one_message("framed", &listener), 2);
    asking.join().unwrap();
}

#[test]
fn a_bufwriter_writes_a_short_line_in_one_call_and_a_long_one_in_two() {
    for (length, calls) in [(100, 1), (100_000, 2)] {
        let mut writer = BufWriter::new(ChoppyWriter::new([]));
        writer.write_all(&vec![b'x'; length]).unwrap();
        writer.write_all(b"\n").unwrap();
        writer.flush().unwrap();
        let inner = writer.get_ref();
        assert_eq!(inner.accepted().len(), length + 1);
        assert_eq!(inner.calls(), calls, "a line of {length} bytes");
    }
}

#[test]
fn bufread_lines_has_no_limit_and_takes_only_utf_8() {
    let long = vec![b'x'; 10 * MIB];
    let line = Cursor::new(long).lines().next().unwrap().unwrap();
    assert_eq!(line.len(), 10 * MIB, "the whole line, however long");
    let error = Cursor::new(b"caf\xe9\n")
        .lines()
        .next()
        .unwrap()
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidData);
}

#[test]
fn a_bufreader_takes_from_the_socket_more_than_the_line_it_returns() {
    let (mut client, server) = connected_pair();
    client.write_all(b"first\nsecond\n").unwrap();
    let mut reader = BufReader::new(&server);
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line).unwrap();
    assert_eq!(line, b"first\n");
    // The second line has left the socket already: it is in the reader's
    // buffer, and would be lost with the reader.
    assert_eq!(reader.buffer(), b"second\n");
    drop(reader);
    server.set_nonblocking(true).unwrap();
    let error = (&server).read(&mut [0; 16]).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::WouldBlock);
}

#[test]
fn a_line_with_a_newline_in_it_is_refused_before_connecting() {
    let run = run(bin("lines"), ["client", "--message", "one\ntwo"]);
    assert_eq!(
        run.one_line_error(1),
        "error: client talking to 127.0.0.1:1060: a line cannot contain a newline"
    );
    assert_eq!(run.stdout, "", "it did not connect");
}

#[test]
fn a_message_too_long_for_its_length_is_refused_before_it_is_built() {
    // 6,000,000,000 bytes: more than 4 bytes can count. The client says so
    // at once, without building the message (which would take 6 GB).
    let run = run(
        bin("framed"),
        ["client", "--message", "abc", "--repeat", "2000000000"],
    );
    assert_eq!(
        run.one_line_error(1),
        "error: client talking to 127.0.0.1:1060: a message of 6000000000 bytes is too long \
         for a 4-byte length"
    );
    assert_eq!(run.stdout, "", "it did not connect");
}

#[test]
fn a_repeat_past_what_a_usize_counts_is_refused_with_its_size() {
    // 3 x 18,446,744,073,709,551,615 overflows: neither client builds the
    // message, or panics trying, and each says how long it would have been.
    let max = usize::MAX.to_string();
    let run = run(
        bin("framed"),
        ["client", "--message", "abc", "--repeat", &max],
    );
    assert_eq!(
        run.one_line_error(1),
        format!(
            "error: client talking to 127.0.0.1:1060: a message of more than {max} bytes is \
             too long for a 4-byte length"
        )
    );
    assert_eq!(run.stdout, "", "it did not connect");
}

#[test]
fn a_line_too_long_to_build_is_refused_before_it_is_built() {
    // The lines client holds its whole line in memory, so it refuses one
    // past 1 GiB, and one whose length overflows, without building it.
    let max = usize::MAX.to_string();
    for (repeat, length) in [
        ("400000000", "1200000000".to_owned()),
        (max.as_str(), format!("more than {max}")),
    ] {
        let run = run(
            bin("lines"),
            ["client", "--message", "abc", "--repeat", repeat],
        );
        assert_eq!(
            run.one_line_error(1),
            format!(
                "error: client talking to 127.0.0.1:1060: a message of {length} bytes is \
                 longer than this client sends (at most 1073741824)"
            )
        );
        assert_eq!(run.stdout, "", "it did not connect");
    }
}

#[test]
fn bad_command_lines_are_one_line_usage_errors() {
    let cases: [(&str, &[&str], &str); 5] = [
        (
            "framed",
            &["server", "--max-frame", "abc"],
            "error: invalid value 'abc' for '--max-frame <BYTES>'",
        ),
        (
            "framed",
            &["server", "--max-frame", "4294967296"],
            "error: invalid value '4294967296' for '--max-frame <BYTES>'",
        ),
        (
            "framed",
            &["client", "--repeat", "-1"],
            "error: unexpected argument '-1' found",
        ),
        (
            "lines",
            &["server", "--max-line", "many"],
            "error: invalid value 'many' for '--max-line <BYTES>'",
        ),
        (
            "lines",
            &["client", "--timeout", "0"],
            "error: invalid value '0' for '--timeout <SECONDS>'",
        ),
    ];
    for (program, args, start) in cases {
        let run = run(bin(program), args);
        let line = run.one_line_error(2);
        assert!(line.starts_with(start), "{program} {args:?}: {line}");
    }
}

#[test]
fn both_demos_show_one_exchange() {
    for program in PROGRAMS {
        let demo = run(bin(program), [] as [&str; 0]);
        assert_eq!(demo.code(), Some(0), "{demo:#?}");
        let message = DEFAULT_MESSAGE.as_bytes();
        assert!(
            demo.stdout
                .contains(&format!("server | {}\n", received(message))),
            "{demo:#?}"
        );
        assert!(
            demo.stdout
                .contains(&format!("client | {}\n", replied(&reply_to(message)))),
            "{demo:#?}"
        );
    }
}

/// The Python peer's `--framing` for each program.
fn python_framing(program: &str) -> &'static str {
    match program {
        "framed" => "length",
        _ => "line",
    }
}

#[test]
fn both_serve_the_python_peer() {
    let repeat = (MIB / 4).to_string();
    for program in PROGRAMS {
        let (option, _) = limit_option(program);
        let raised = (4 * MIB).to_string();
        let mut server = start(program, &[option, &raised]);
        for (message, repeat) in [("Hi", "1"), ("abcd", repeat.as_str())] {
            let peer = run(
                python(),
                [
                    python_peer().to_str().unwrap(),
                    "client",
                    "-p",
                    &server.port(),
                    "--framing",
                    python_framing(program),
                    "--message",
                    message,
                    "--repeat",
                    repeat,
                ],
            );
            let sent = message.repeat(repeat.parse().unwrap());
            assert_eq!(peer.code(), Some(0), "{peer:#?}");
            assert_eq!(
                peer.stdout,
                format!(
                    "python client received {}\n",
                    describe(&reply_to(sent.as_bytes()))
                )
            );
            server.wait_for_stdout(&received(sent.as_bytes()));
        }
    }
}

#[test]
fn both_talk_to_the_python_peer() {
    for program in PROGRAMS {
        let mut server = Server::start(
            python(),
            [
                python_peer().to_str().unwrap(),
                "server",
                "-p",
                "0",
                "--framing",
                python_framing(program),
            ],
        );
        let (option, _) = limit_option(program);
        for (message, repeat) in [("Hi", 1), ("abcd", MIB / 4)] {
            let run = client(
                program,
                server.address.port(),
                &["--message", message, "--repeat", &repeat.to_string()],
            );
            let sent = message.repeat(repeat);
            let reply = format!("Goodbye from python: {} bytes received", sent.len());
            assert_eq!(run.code(), Some(0), "{program} {option}: {run:#?}");
            assert_eq!(
                run.stdout.lines().last(),
                Some(replied(reply.as_bytes()).as_str())
            );
            let line = server.next_stdout_line();
            assert!(
                line.starts_with(&format!(
                    "python server received {} from 127.0.0.1:",
                    describe(sent.as_bytes())
                )),
                "{line}"
            );
        }
    }
}
