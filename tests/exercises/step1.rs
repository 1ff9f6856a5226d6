//! The exercises of "Step 1: the naive version" (src/step1-naive.md): a
//! message from the command line, still 16 bytes; and step 1's server made
//! correct for a message that arrives one byte at a time.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::thread::{self, JoinHandle};

use book_tests::{PATIENCE, Server, bin, chopper};
use listings::protocol::{INCOMING, REPLY, REQUEST, SOCKET_PEER, repr};

use super::support::{
    connect, expect_reply, failed, next_message, run_program, start_server, wait_for_line,
    wait_until_read,
};

// ---------------------------------------------------------------------------
// 1. A message from the command line, still 16 bytes
// ---------------------------------------------------------------------------

/// A server for one client: it answers once 16 bytes have come (or the
/// client has closed), and returns every byte the client sent before it
/// closed, so that a check sees bytes beyond the 16th too.
fn record_one_client() -> (SocketAddr, JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let address = listener.local_addr().expect("a bound address");
    let recording = thread::spawn(move || {
        let mut received = Vec::new();
        let Ok((conn, _)) = listener.accept() else {
            return received;
        };
        let _ = conn.set_read_timeout(Some(PATIENCE));
        let mut conn = conn;
        let _ = (&mut conn).take(16).read_to_end(&mut received);
        if received.len() == 16 {
            let _ = conn.write_all(REPLY);
        }
        // The client closes once it has the reply: what it sent after the
        // 16th byte has all come by then.
        let _ = conn.read_to_end(&mut received);
        received
    });
    (address, recording)
}

fn message_option(program: &Path) -> Result<(), String> {
    // As a reader checks it: step 4's server reads exactly 16 bytes and
    // prints them.
    let mut server = Server::start(bin("step4"), ["server", "-p", "0"]);
    let port = server.port();
    for (text, sent) in [
        ("Hello", "Hello           "),
        ("Greetings from the client", "Greetings from t"),
        ("Hi there, server", "Hi there, server"),
    ] {
        let what = format!("`client -m {text:?}`");
        let client = run_program(program, &["client", "-p", &port, "-m", text]).map_err(|why| {
            format!(
                "{what}: {why} (fewer than 16 bytes leave step 4's server waiting for the rest)"
            )
        })?;
        expect_reply(&client, &what)?;
        let message = next_message(&mut server)?;
        if message != repr(sent.as_bytes()) {
            return Err(format!(
                "after {what}, step 4's server printed {message}, not {}",
                repr(sent.as_bytes())
            ));
        }
    }
    // And not a byte more: step 4's server would not see the rest.
    let (address, recording) = record_one_client();
    let port = address.port().to_string();
    let long = "Greetings from the client, who has a lot to say";
    let client = run_program(program, &["client", "-p", &port, "-m", long]);
    // A client that never connected leaves the recording server waiting in
    // `accept`: a connection of the check's own, closed at once, ends it.
    // (After the client's, it only waits in the backlog.)
    let _ = TcpStream::connect(address);
    let client = client?;
    let received = recording
        .join()
        .map_err(|_| "the recording server panicked".to_owned())?;
    if received != b"Greetings from t" {
        return Err(format!(
            "`client -m {long:?}` sent {} ({} bytes), not the first 16 bytes alone",
            repr(&received),
            received.len()
        ));
    }
    expect_reply(&client, &format!("`client -m {long:?}`"))
}

// ---------------------------------------------------------------------------
// 2. A message that arrives one byte at a time
// ---------------------------------------------------------------------------

fn byte_at_a_time(program: &Path) -> Result<(), String> {
    let mut server = start_server(program)?;

    // As a reader shows it: one byte per piece through the relay.
    let relay = chopper(server.address.port(), &["--chunk", "1"]);
    let client = run_program(&bin("step4"), &["client", "-p", &relay.port()])?;
    let message = next_message(&mut server)?;
    if message != repr(REQUEST) {
        return Err(format!(
            "behind `chopper --chunk 1` the server took {message} for the message"
        ));
    }
    expect_reply(&client, "step 4's client behind `chopper --chunk 1`")?;

    // The same split, certain: the check sends `Hi there, `, waits until
    // the server has read it, and only then sends `server`.
    let mut sock = connect(server.address)?;
    let name = sock.local_addr().map_err(failed("the client's address"))?;
    let sending = failed("sending the request");
    sock.write_all(&REQUEST[..10]).map_err(&sending)?;
    wait_for_line(&mut server, "`Socket peer` line", |line| {
        line == format!("{SOCKET_PEER}{name}")
    })?;
    wait_until_read(server.address, name)?;
    sock.write_all(&REQUEST[10..]).map_err(&sending)?;
    let message = next_message(&mut server)?;
    if message != repr(REQUEST) {
        return Err(format!(
            "given `Hi there, ` and, once it had read them, `server`, the server took \
             {message} for the message"
        ));
    }
    let mut reply = Vec::new();
    sock.read_to_end(&mut reply)
        .map_err(failed("reading the reply"))?;
    if reply != REPLY {
        return Err(format!("the server answered {}", repr(&reply)));
    }

    // A client that sends 5 bytes and closes: end of file, not a message.
    let mut sock = connect(server.address)?;
    sock.write_all(&REQUEST[..5])
        .map_err(failed("sending 5 bytes"))?;
    drop(sock);
    let (line, _) = wait_for_line(
        &mut server,
        "error line about the client that sent 5 bytes and closed (does the loop stop when \
         `read` returns 0?)",
        |line| line.starts_with(INCOMING) || line.starts_with("error:"),
    )?;
    if line.starts_with(INCOMING) {
        return Err(format!(
            "a client sent 5 bytes and closed, and the server took them for a message: {line}"
        ));
    }
    Ok(())
}

exercise!(step1_1_message_option, super::message_option);
exercise!(step1_2_byte_at_a_time, super::byte_at_a_time);
