//! The exercises of "Messages of any length" (src/framing.md): lines that
//! may end in "\r\n", and many frames on one connection.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::Path;

use book_tests::{Output, PATIENCE, Server, chopper};
use listings::messages::{describe, reply_to};

use super::support::{next_line_until, start_waiting, with_last_words};

/// A connection to `address` whose reads and writes give up after
/// [`PATIENCE`], and its local address.
fn connect(address: SocketAddr) -> Result<(TcpStream, SocketAddr), String> {
    let failed = |e: std::io::Error| format!("cannot connect to {address}: {e}");
    let conn = TcpStream::connect(address).map_err(failed)?;
    conn.set_read_timeout(Some(PATIENCE)).map_err(failed)?;
    conn.set_write_timeout(Some(PATIENCE)).map_err(failed)?;
    let name = conn.local_addr().map_err(failed)?;
    Ok((conn, name))
}

/// What the server prints for a message it received.
fn message_line(message: &[u8]) -> String {
    format!("  message from client: {}", describe(message))
}

/// The server's line about the connection from `name`: the one for the
/// message it received, or its error line.
fn outcome(server: &mut Server, name: SocketAddr) -> Result<String, String> {
    let error = format!("error: connection from {name}: ");
    next_line_until(server, |line| {
        line.starts_with("  message from client: ") || line.starts_with(&error)
    })
}

/// Sends `sent` as the whole of what a client says, and checks that the
/// server takes it as the message `message`, or, for `None`, refuses it.
fn line_exchange(server: &mut Server, sent: &[u8], message: Option<&[u8]>) -> Result<(), String> {
    let shown = sent.escape_ascii();
    let (mut conn, name) = connect(server.address)?;
    conn.write_all(sent)
        .map_err(|e| format!("sending b'{shown}': {e}"))?;
    let mut reply = Vec::new();
    let read = conn.read_to_end(&mut reply);
    let line = outcome(server, name)?;
    match message {
        Some(message) => {
            if line != message_line(message) {
                return Err(format!(
                    "for b'{shown}' the server printed {line:?}, where {:?} was expected",
                    message_line(message)
                ));
            }
            let expected = [reply_to(message), b"\n".to_vec()].concat();
            if read.is_err() || reply != expected {
                return Err(format!(
                    "for b'{shown}' the reply was b'{}' ({read:?}), where b'{}' was expected",
                    reply.escape_ascii(),
                    expected.escape_ascii()
                ));
            }
        }
        None => {
            if !line.starts_with("error: ") {
                return Err(format!(
                    "with --max-line 5, b'{shown}' should be refused, but the server printed \
                     {line:?}"
                ));
            }
            if !reply.is_empty() {
                return Err(format!(
                    "b'{shown}' was refused, yet the server replied b'{}'",
                    reply.escape_ascii()
                ));
            }
        }
    }
    Ok(())
}

fn crlf(program: &Path) -> Result<(), String> {
    let mut server = start_waiting(
        program,
        &["server", "-p", "0", "--max-line", "5"],
        Output::Merged,
    )?;
    let cases: [(&[u8], Option<&[u8]>); 7] = [
        (b"Hello\r\n", Some(b"Hello")),
        (b"Hello\n", Some(b"Hello")),
        (b"\r\n", Some(b"")),
        // Only the \r right before the newline is part of the ending.
        (b"a\rb\n", Some(b"a\rb")),
        (b"Hi\r\r\n", Some(b"Hi\r")),
        (b"Hello!\r\n", None),
        (b"Hello!\n", None),
    ];
    for (sent, message) in cases {
        line_exchange(&mut server, sent, message)?;
    }
    Ok(())
}

/// `message` as a frame: its length in 4 bytes, big-endian, then itself.
fn frame(message: &[u8]) -> Vec<u8> {
    let length = u32::try_from(message.len()).expect("a short message");
    [length.to_be_bytes().as_slice(), message].concat()
}

/// Reads one frame from `conn`.
fn read_frame(conn: &mut TcpStream) -> Result<Vec<u8>, String> {
    let mut header = [0; 4];
    conn.read_exact(&mut header)
        .map_err(|e| format!("reading a reply's length: {e}"))?;
    let length = u32::from_be_bytes(header);
    if length > 1 << 20 {
        return Err(format!("a reply of {length} bytes, far too long"));
    }
    let mut reply = vec![0; length as usize];
    conn.read_exact(&mut reply)
        .map_err(|e| format!("reading a reply of {length} bytes: {e}"))?;
    Ok(reply)
}

/// Sends `messages` as frames, all in one write, and reads a reply for
/// each; then shuts down its sending side, and checks that the server
/// answers that with its own end of file, the connection done.
fn frames_exchange(conn: &mut TcpStream, messages: &[&[u8]]) -> Result<(), String> {
    let frames: Vec<u8> = messages.iter().flat_map(|message| frame(message)).collect();
    conn.write_all(&frames)
        .map_err(|e| format!("sending {} frames: {e}", messages.len()))?;
    for (number, message) in messages.iter().enumerate() {
        let reply = read_frame(conn).map_err(|why| {
            format!(
                "{} frames sent on one connection, reply {}: {why}",
                messages.len(),
                number + 1
            )
        })?;
        if reply != reply_to(message) {
            return Err(format!(
                "the reply to frame {} was b'{}'",
                number + 1,
                reply.escape_ascii()
            ));
        }
    }
    conn.shutdown(Shutdown::Write)
        .map_err(|e| format!("shutting down: {e}"))?;
    let mut rest = Vec::new();
    match conn.read_to_end(&mut rest) {
        Ok(0) => Ok(()),
        Ok(_) => Err(format!(
            "after its replies, the server sent b'{}'",
            rest.escape_ascii()
        )),
        Err(e) => Err(format!(
            "after its replies, the server should close the connection once the client has \
             closed its side, cleanly: {e}"
        )),
    }
}

/// Waits for the server's lines about one connection: a message line for
/// each of `messages`, then its closing line, with no error.
fn served(server: &mut Server, messages: &[&[u8]]) -> Result<(), String> {
    for message in messages {
        let line = next_line_until(server, |line| {
            line.starts_with("  message from client: ") || line.starts_with("error: ")
        })?;
        if line != message_line(message) {
            return Err(format!(
                "the server printed {line:?}, where {:?} was expected",
                message_line(message)
            ));
        }
    }
    let line = next_line_until(server, |line| {
        line == "  Closing socket" || line.starts_with("error: ")
    })?;
    if line.starts_with("error: ") {
        return Err(format!(
            "an end of file between two frames is the clean end of a connection, \
             but the server printed {line:?}"
        ));
    }
    Ok(())
}

fn many_frames(program: &Path) -> Result<(), String> {
    let mut server = start_waiting(program, &["server", "-p", "0"], Output::Merged)?;
    frames_in_turn(&mut server).map_err(|why| with_last_words(why, server))
}

/// Three frames on one connection, straight and through a relay that
/// delivers each byte on its own; then a frame and half a length.
fn frames_in_turn(server: &mut Server) -> Result<(), String> {
    // Three frames in one write, an empty one among them.
    let messages: [&[u8]; 3] = [b"one", b"", b"three"];
    let (mut conn, _) = connect(server.address)?;
    frames_exchange(&mut conn, &messages)?;
    served(server, &messages)?;

    // Every byte a segment of its own, both ways: lengths come in pieces.
    let relay = chopper(server.address.port(), &["--chunk", "1", "--both"]);
    let messages: [&[u8]; 2] = [b"Hi", b"there"];
    let (mut conn, _) = connect(relay.address)?;
    frames_exchange(&mut conn, &messages)
        .map_err(|why| format!("through `chopper --chunk 1 --both`: {why}"))?;
    served(server, &messages)
        .map_err(|why| format!("through `chopper --chunk 1 --both`: {why}"))?;

    // A frame, then 2 bytes of a length, then the end: a broken frame.
    let (mut conn, name) = connect(server.address)?;
    conn.write_all(&frame(b"Hi"))
        .map_err(|e| format!("sending a frame: {e}"))?;
    read_frame(&mut conn)?;
    conn.write_all(&[0, 0])
        .and_then(|()| conn.shutdown(Shutdown::Write))
        .map_err(|e| format!("sending half a length: {e}"))?;
    let error = format!("error: connection from {name}: ");
    let line = next_line_until(server, |line| {
        line == "  Closing socket" || line.starts_with(&error)
    })?;
    if !line.starts_with(&error) {
        return Err(format!(
            "a connection that ends 2 bytes into a frame's length is broken off, not done; \
             the server should say so in an error line, but printed {line:?}"
        ));
    }
    Ok(())
}

exercise!(framing_1_crlf, super::crlf);
exercise!(framing_2_many_frames, super::many_frames);
