//! The exercises of "Step 4: `recvall`, a loop around `read`"
//! (src/step4-recvall.md): the reply received with `take` and
//! `read_to_end`, the count kept for `tcp.py`'s error; and several requests
//! on one connection, where end of file between two requests is the normal
//! end and inside one an error.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::Path;
use std::thread::JoinHandle;

use book_tests::{Server, answer_once, bin};
use listings::protocol::{
    INCOMING, REPLY, REPLY_SENT, REQUEST, SOCKET_PEER, closed_early, incoming,
};

use super::support::{
    connect, expect_reply, failed, one_error_line, run_program, start_server, wait_for_line,
    wait_until_read,
};

// ---------------------------------------------------------------------------
// 1. The reply, counted
// ---------------------------------------------------------------------------

/// Ends an `answer_once` server's thread. A client that never connected
/// leaves it waiting in `accept`: a connection of the check's own, closed
/// at once, ends that wait (and its thread, with a panic about the missing
/// request). After the client's, it only waits in the backlog.
fn done_with(address: SocketAddr, serving: JoinHandle<()>) {
    let _ = TcpStream::connect(address);
    let _ = serving.join();
}

fn counted_reply(program: &Path) -> Result<(), String> {
    let server = Server::start(bin("step4"), ["server", "-p", "0"]);
    let client = run_program(program, &["client", "-p", &server.port()])?;
    expect_reply(&client, "the client of step 4's server")?;

    // Servers that answer short and close, as `answer_once` does.
    for (reply, received) in [(&b"Good"[..], 4), (&b""[..], 0)] {
        let (address, serving) = answer_once(reply);
        let port = address.port().to_string();
        let client = run_program(program, &["client", "-p", &port]);
        done_with(address, serving);
        let what = format!(
            "the client of a server that answers {:?} and closes",
            reply.escape_ascii().to_string()
        );
        let client = client?;
        let line = one_error_line(&client, &what)?;
        if !line.contains(&closed_early(16, received)) {
            return Err(format!(
                "{what} should say `{}`; it said `{line}`",
                closed_early(16, received)
            ));
        }
    }

    // A server that sends more than 16 bytes: the reply is the first 16.
    let (address, serving) = answer_once(b"Goodbye, client! And more.");
    let client = run_program(program, &["client", "-p", &address.port().to_string()]);
    done_with(address, serving);
    expect_reply(
        &client?,
        "the client of a server that sends `Goodbye, client! And more.` (no read past the 16th \
         byte)",
    )
}

// ---------------------------------------------------------------------------
// 2. Several requests on one connection
// ---------------------------------------------------------------------------

/// Sends `data` to the server, then the end of file, and returns every byte
/// the server sent back before it closed. If the connection fails, says
/// how the server's conversation ended, if it printed that.
fn send_then_close(
    server: &mut Server,
    sock: &mut TcpStream,
    data: &[u8],
) -> Result<Vec<u8>, String> {
    let mut replies = Vec::new();
    let exchanged = sock
        .write_all(data)
        .and_then(|()| sock.shutdown(Shutdown::Write))
        .and_then(|_| sock.read_to_end(&mut replies));
    exchanged.map_err(|error| {
        let end = conversation(server).map_or_else(|why| why, |(end, _)| format!("`{end}`"));
        format!("the connection failed ({error}); the server's last word on it: {end}")
    })?;
    Ok(replies)
}

/// Reads the server's lines about one conversation, up to its end: its
/// `Closing socket` line or an error line, which it returns, with the
/// messages it printed before it.
fn conversation(server: &mut Server) -> Result<(String, Vec<String>), String> {
    let (end, before) = wait_for_line(server, "`Closing socket` or error line", |line| {
        line == REPLY_SENT || line.starts_with("error:")
    })?;
    let messages = before
        .into_iter()
        .filter(|line| line.starts_with(INCOMING))
        .collect();
    Ok((end, messages))
}

/// Checks a conversation that should end well with `count` requests.
fn ended_well(server: &mut Server, what: &str, count: usize) -> Result<(), String> {
    let (end, messages) = conversation(server)?;
    if end != REPLY_SENT {
        return Err(format!(
            "{what}, the server said `{end}`: an end of file between two requests is the \
             normal end of the conversation"
        ));
    }
    if messages != vec![incoming(REQUEST); count] {
        return Err(format!(
            "{what}, the server should print {count} requests; it printed {messages:?}"
        ));
    }
    Ok(())
}

fn several_messages(program: &Path) -> Result<(), String> {
    let mut server = start_server(program)?;

    // Three requests in one write: one read could take all 48 bytes.
    let what = "given three requests in one write and then the end of file";
    let mut sock = connect(server.address)?;
    let replies = send_then_close(&mut server, &mut sock, &REQUEST.repeat(3))?;
    ended_well(&mut server, what, 3)?;
    if replies != REPLY.repeat(3) {
        return Err(format!(
            "{what}, the server answered {:?}",
            replies.escape_ascii().to_string()
        ));
    }

    // A request in two pieces, the second sent once the server has read
    // the first, then a second request.
    let what = "given `Hi there, `, then (once it had read them) the rest, another request \
                and the end of file";
    let mut sock = connect(server.address)?;
    let name = sock.local_addr().map_err(failed("the client's address"))?;
    sock.write_all(&REQUEST[..10])
        .map_err(failed("sending 10 bytes"))?;
    wait_for_line(&mut server, "`Socket peer` line", |line| {
        line == format!("{SOCKET_PEER}{name}")
    })?;
    wait_until_read(server.address, name)?;
    let rest = [&REQUEST[10..], &REQUEST[..]].concat();
    let replies = send_then_close(&mut server, &mut sock, &rest)?;
    ended_well(&mut server, what, 2)?;
    if replies != REPLY.repeat(2) {
        return Err(format!(
            "{what}, the server answered {:?}",
            replies.escape_ascii().to_string()
        ));
    }

    // A request and a half: one reply, then the error of `recvall`.
    let what = "given a request, 8 bytes of another and the end of file";
    let mut sock = connect(server.address)?;
    let replies = send_then_close(&mut server, &mut sock, &REQUEST[..].repeat(2)[..24])?;
    let (end, messages) = conversation(&mut server)?;
    if messages != [incoming(REQUEST)] || !end.contains(&closed_early(16, 8)) {
        return Err(format!(
            "{what}, the server should print one request and then an error line that says \
             `{}`; it printed {messages:?}, then `{end}`",
            closed_early(16, 8)
        ));
    }
    if replies != REPLY {
        return Err(format!(
            "{what}, the server answered {:?}",
            replies.escape_ascii().to_string()
        ));
    }

    // The program's own client, three requests on one connection.
    let client = run_program(program, &["client", "-p", &server.port(), "--count", "3"])?;
    expect_reply(&client, "`client --count 3`")?;
    let replies = client
        .stdout
        .lines()
        .filter(|line| line.starts_with("The server said"))
        .count();
    if replies != 3 {
        return Err(format!(
            "`client --count 3` printed {replies} replies: {:?}",
            client.stdout
        ));
    }
    ended_well(&mut server, "served `client --count 3`", 3)
}

exercise!(step4_1_counted_reply, super::counted_reply);
exercise!(step4_2_several_messages, super::several_messages);
