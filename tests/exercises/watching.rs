//! The exercises of "Watching TCP split your data"
//! (src/watching-tcp-split.md): a server that prints what each of its reads
//! returned; and a relay of your own that cuts the client's bytes into
//! pieces, as `chopper` does.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener};
use std::path::Path;
use std::thread;

use book_tests::{Output, PATIENCE, Server, bin, chopper};
use listings::protocol::{INCOMING, REPLY, REQUEST, repr};

use super::support::{
    connect, expect_reply, failed, next_line, next_message, run_program, start, start_server,
    wait_for_line,
};

// ---------------------------------------------------------------------------
// 1. What each read returned
// ---------------------------------------------------------------------------

const READ_RETURNED: &str = "read returned ";

/// The server's next `  read returned N of 16 bytes` line, as N. The indent
/// is not checked: it is how the line looks, not what it says.
fn next_read(server: &mut Server) -> Result<usize, String> {
    let (line, _) = wait_for_line(server, "`read returned N of 16 bytes` line", |line| {
        line.trim_start().starts_with(READ_RETURNED) || line.starts_with(INCOMING)
    })?;
    line.trim_start()
        .strip_prefix(READ_RETURNED)
        .and_then(|rest| rest.strip_suffix(" of 16 bytes"))
        .and_then(|count| count.parse().ok())
        .ok_or_else(|| format!("the server printed `{line}` where a read's line was due"))
}

fn read_sizes(program: &Path) -> Result<(), String> {
    let mut server = start_server(program)?;

    // The check plays the chopper itself, three bytes at a time, each piece
    // sent only once the server has said it read the one before: so each
    // read finds exactly one piece, every time.
    let mut sock = connect(server.address)?;
    for piece in REQUEST.chunks(3) {
        sock.write_all(piece).map_err(failed("sending a piece"))?;
        let read = next_read(&mut server)?;
        if read != piece.len() {
            return Err(format!(
                "sent {} bytes once the server had read what came before, the server said \
                 its read returned {read}",
                piece.len()
            ));
        }
    }
    let message = next_message(&mut server)?;
    if message != repr(REQUEST) {
        return Err(format!("the server took {message} for the message"));
    }
    let mut reply = Vec::new();
    sock.read_to_end(&mut reply)
        .map_err(failed("reading the reply"))?;
    if reply != REPLY {
        return Err(format!("the server answered {}", repr(&reply)));
    }

    // Behind the relay, as a reader runs it. How the pieces fall into reads
    // is up to timing; that they add up to the message is not.
    let relay = chopper(server.address.port(), &["--chunk", "3", "--delay-ms", "5"]);
    let client = run_program(&bin("step4"), &["client", "-p", &relay.port()])?;
    let mut reads = Vec::new();
    while reads.iter().sum::<usize>() < 16 {
        reads.push(next_read(&mut server)?);
    }
    if reads.iter().sum::<usize>() != 16 || reads.contains(&0) {
        return Err(format!(
            "behind `chopper --chunk 3`, the server's reads returned {reads:?}: not 16 bytes"
        ));
    }
    let message = next_message(&mut server)?;
    if message != repr(REQUEST) {
        return Err(format!(
            "behind `chopper --chunk 3`, the server took {message} for the message"
        ));
    }
    expect_reply(&client, "step 4's client behind `chopper --chunk 3`")
}

// ---------------------------------------------------------------------------
// 2. A relay of your own
// ---------------------------------------------------------------------------

/// The relay's lines about one connection: from its `relaying` line up to
/// the line about how the replies ended.
fn relayed(relay: &mut Server) -> Result<Vec<String>, String> {
    let (_, _) = wait_for_line(relay, "`relaying` line", |line| {
        line.starts_with("relaying ")
    })?;
    let (last, mut lines) = wait_for_line(relay, "line about the end of the replies", |line| {
        line.starts_with("server -> client: end of data")
    })?;
    lines.push(last);
    Ok(lines)
}

/// After an exchange through the relay failed, what the relay said about
/// it: its first error line, or the message of a panic.
fn complaint(relay: &mut Server) -> String {
    let said = wait_for_line(relay, "error line", |line| {
        line.starts_with("error") || line.contains("panicked at")
    });
    match said {
        Ok((line, _)) if line.contains("panicked at") => match next_line(relay) {
            Ok(message) => format!("the relay panicked: {message}"),
            Err(_) => line,
        },
        Ok((line, _)) => format!("the relay said `{line}`"),
        Err(why) => why.replacen("the server", "the relay", 1),
    }
}

fn own_relay(program: &Path) -> Result<(), String> {
    let mut server = Server::start(bin("step4"), ["server", "-p", "0"]);
    let to = server.address.to_string();
    let args = ["--listen", "127.0.0.1:0", "--to", &to, "--chunk", "3"];
    // Its errors among its other lines, to say why an exchange failed.
    let mut relay = start(program, &args, Output::Merged)?;

    // Step 4's client through the relay: the 16 bytes it writes at once
    // reach the relay in one read (one segment on loopback), so the relay's
    // pieces are certain; the reply comes back whole.
    let client = run_program(&bin("step4"), &["client", "-p", &relay.port()])?;
    if let Err(why) = expect_reply(&client, "step 4's client behind the relay") {
        return Err(format!("{why}; {}", complaint(&mut relay)));
    }
    let message = next_message(&mut server)?;
    if message != repr(REQUEST) {
        return Err(format!(
            "behind the relay, step 4's server received {message}"
        ));
    }
    let lines = relayed(&mut relay)?;
    let expected = [
        "client -> server: 3 bytes",
        "client -> server: 3 bytes",
        "client -> server: 3 bytes",
        "client -> server: 3 bytes",
        "client -> server: 3 bytes",
        "client -> server: 1 byte",
        "server -> client: 16 bytes",
        "client -> server: end of data, passed on",
        "server -> client: end of data, passed on",
    ];
    if lines != expected {
        return Err(format!(
            "`{}` printed {lines:#?} for one exchange; expected {expected:#?}",
            args.join(" ")
        ));
    }

    // The end of the client's data must pass through: this server answers
    // only once it has seen the end of the request.
    let listener = TcpListener::bind("127.0.0.1:0").map_err(failed("bind 127.0.0.1:0"))?;
    let address = listener.local_addr().map_err(failed("its address"))?;
    let to = address.to_string();
    let args = ["--listen", "127.0.0.1:0", "--to", &to, "--chunk", "5"];
    let relay = start(program, &args, Output::Apart)?;
    let serving = thread::spawn(move || -> Result<Vec<u8>, String> {
        let (mut conn, _) = listener.accept().map_err(failed("accept"))?;
        conn.set_read_timeout(Some(PATIENCE))
            .map_err(failed("a read timeout"))?;
        let mut request = Vec::new();
        conn.read_to_end(&mut request).map_err(|error| {
            format!(
                "the server behind the relay saw no end of the request within {PATIENCE:?} \
                 (its read: {error}): does the relay pass on the end of file?"
            )
        })?;
        conn.write_all(REPLY).map_err(failed("the reply"))?;
        Ok(request)
    });
    let mut sock = connect(relay.address)?;
    sock.write_all(REQUEST)
        .map_err(failed("sending the request"))?;
    sock.shutdown(Shutdown::Write)
        .map_err(failed("closing the sending half"))?;
    let mut reply = Vec::new();
    let replied = sock.read_to_end(&mut reply);
    // If the relay never connected, the server still waits in `accept`.
    drop(relay);
    let _ = std::net::TcpStream::connect(address);
    let request = serving
        .join()
        .map_err(|_| "the server behind the relay panicked".to_owned())??;
    if request != REQUEST {
        return Err(format!(
            "the server behind the relay received {}",
            repr(&request)
        ));
    }
    replied.map_err(failed(
        "a client that closed its sending half never got its reply through the relay",
    ))?;
    if reply != REPLY {
        return Err(format!(
            "a client that closed its sending half got {} through the relay",
            repr(&reply)
        ));
    }
    Ok(())
}

exercise!(watching_1_read_sizes, super::read_sizes);
exercise!(watching_2_own_relay, super::own_relay);
