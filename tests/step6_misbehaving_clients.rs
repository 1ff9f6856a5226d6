//! A battery of misbehaving clients, run against step 6 and, for contrast,
//! against step 5 (the chapter "When clients misbehave").
//!
//! Each bad client is followed by a well-behaved one that must still be
//! served. Step 6 survives them all. Step 5 survives the clients that hang
//! up early or reset, but the `step5_...` tests record what it does not
//! survive: a client that says nothing stops it for everyone behind it, and
//! Ctrl-C kills it in the middle of a conversation.
//!
//! The checks themselves are in the support library's `robust` module
//! (tests/support/robust.rs), because steps 7 and 8 must pass them too
//! (`tests/many_clients.rs`); the tests here run them against step 6 and
//! step 5, and test step 6's own functions, extracted by anchor.
//!
//! Nothing here sleeps to synchronise: a test waits for a line the server
//! prints, for a connection to be refused or closed, or for the process to
//! exit. Where a test does sleep, it is to *make* a slow reader, and the
//! assertion does not depend on how long the sleep really took.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use book_tests::robust::{
    self, closed_after, silent_client, start, unanswered_client, unanswering_server,
};
use book_tests::{PATIENCE, closed_port, connected_pair, robust_steps, still_open};
use listings::protocol::{REPLY, REPLY_SENT, REQUEST, accepted, connection_error};

/// Step 6's own loops and the helpers they call, copied by the build
/// script from the anchors the book shows them with.
mod step6 {
    use std::io::{self, ErrorKind, Write};
    use std::net::{SocketAddr, TcpStream};
    use std::time::{Duration, Instant};
    include!(concat!(env!("OUT_DIR"), "/listings/step6_sendall.rs"));
    include!(concat!(env!("OUT_DIR"), "/listings/step6_connect.rs"));
    include!(concat!(env!("OUT_DIR"), "/listings/step6_time_left.rs"));
    include!(concat!(env!("OUT_DIR"), "/listings/step6_is_timeout.rs"));
}

#[test]
fn step6_survives_the_battery_and_keeps_no_descriptors() {
    robust::battery("step6");
}

#[test]
fn step5_survives_clients_that_hang_up_reset_or_flood() {
    robust::battery("step5");
}

#[test]
fn step6_serves_100_concurrent_clients() {
    robust::serves_100_concurrent_clients("step6");
}

#[test]
fn step6_serves_others_while_a_silent_client_is_connected() {
    robust::serves_others_while_a_silent_client_is_connected("step6");
}

#[test]
fn step5_is_blocked_by_a_silent_client() {
    let mut server = start("step5", &[]);
    let silent = silent_client(&mut server);
    // The good client connects (the kernel completes the handshake for a
    // listener's backlog) and sends its request, but step 5 is in `read`
    // on the silent connection and will not `accept` another while it is.
    let (mut waiting, name) = unanswered_client(server.address);
    assert!(still_open(&silent));

    // The silent client goes, and only then is the other one accepted.
    let silent_name = silent.local_addr().unwrap();
    drop(silent);
    assert_eq!(
        server.next_stderr_line(),
        connection_error(silent_name, &closed_after(0))
    );
    waiting.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut reply = [0; 16];
    waiting.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, REPLY);
    server.wait_for_stdout(&accepted(name));
}

#[test]
fn step6_drops_a_silent_client_at_the_deadline() {
    robust::drops_a_silent_client_at_the_deadline("step6");
}

#[test]
fn step6_cuts_off_a_client_that_drips_one_byte_at_a_time() {
    robust::cuts_off_a_client_that_drips_one_byte_at_a_time("step6");
}

#[test]
fn step6_accepts_no_more_than_max_connections_at_once() {
    robust::accepts_no_more_than_max_connections_at_once("step6");
}

#[test]
fn step6_client_gives_up_on_a_server_that_never_completes_the_handshake() {
    robust::client_gives_up_on_a_server_that_never_completes_the_handshake("step6");
}

#[test]
fn step6_client_is_refused_at_once_whatever_its_connect_timeout() {
    robust::client_is_refused_at_once_whatever_its_connect_timeout("step6");
}

#[test]
fn step6_client_gives_up_on_a_server_that_never_replies() {
    robust::client_gives_up_on_a_server_that_never_replies("step6");
}

#[test]
fn step6_on_ctrl_c_refuses_new_clients_and_finishes_the_one_in_progress() {
    robust::on_ctrl_c_refuses_new_clients_and_finishes_the_one_in_progress("step6");
}

#[test]
fn step6_on_ctrl_c_while_idle_exits_at_once() {
    robust::on_ctrl_c_while_idle_exits_at_once("step6");
}

#[test]
fn step5_dies_on_ctrl_c_in_the_middle_of_a_conversation() {
    let mut server = start("step5", &[]);
    let mut client = TcpStream::connect(server.address).unwrap();
    client.write_all(&REQUEST[..8]).unwrap();
    assert_eq!(
        server.next_stdout_line(),
        accepted(client.local_addr().unwrap())
    );
    server.interrupt();
    let status = server.wait_for_exit().status;
    assert_eq!(status.signal(), Some(2), "killed by SIGINT: {status:?}");
    // The kernel closed the dead server's sockets: the reply never comes.
    client.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut reply = Vec::new();
    let outcome = client.read_to_end(&mut reply);
    assert!(
        reply.is_empty(),
        "no reply from a dead server: {outcome:?} {reply:?}"
    );
}

#[test]
fn step6_on_a_second_ctrl_c_exits_without_waiting() {
    robust::on_a_second_ctrl_c_exits_without_waiting("step6");
}

#[test]
fn step6_connect_tries_each_address_in_turn_and_reports_the_last_failure() {
    let closed = closed_port();
    let refused = SocketAddr::from(([127, 0, 0, 1], closed.port()));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let open = listener.local_addr().unwrap();
    let (_held, silent) = unanswering_server();
    let patience = Duration::from_millis(300);

    // The first address refuses: the second is tried, and answers.
    let sock = step6::connect(&[refused, open], patience).unwrap();
    assert_eq!(sock.peer_addr().unwrap(), open);

    // None answers: the error is the last attempt's, after every earlier
    // one was given its time.
    let started = Instant::now();
    let error = step6::connect(&[silent, refused], patience).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ConnectionRefused, "{error}");
    assert!(started.elapsed() >= patience, "{:?}", started.elapsed());
    let error = step6::connect(&[refused, silent], patience).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::TimedOut, "{error}");
}

#[test]
fn step6_sendall_keeps_one_deadline_however_many_writes_it_takes() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut writer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut reader, _) = listener.accept().unwrap();
    // A slow reader: a kilobyte at a time, with a pause after each, so
    // that every `write` moves a little data and then waits. Once the
    // writer is done, it reads the rest at full speed.
    let hurry = Arc::new(AtomicBool::new(false));
    let reading = {
        let hurry = Arc::clone(&hurry);
        thread::spawn(move || {
            let mut buffer = [0; 1024];
            let mut received = 0;
            loop {
                match reader.read(&mut buffer) {
                    Ok(0) => return received,
                    Ok(more) => received += more,
                    Err(error) => panic!("the slow reader: {error}"),
                }
                if !hurry.load(Ordering::SeqCst) {
                    thread::sleep(Duration::from_millis(2));
                }
            }
        })
    };
    // Far more than the socket buffers hold, and more than the slow reader
    // takes in many seconds.
    let data = vec![b'x'; 32 << 20];
    let limit = Duration::from_millis(500);
    let started = Instant::now();
    let outcome = step6::sendall(&mut writer, &data, started + limit);
    let took = started.elapsed();
    hurry.store(true, Ordering::SeqCst);
    drop(writer);
    let received = reading.join().unwrap();

    let error = match outcome {
        Ok(()) => {
            panic!("sendall sent all {received} bytes in {took:?}, against a limit of {limit:?}")
        }
        Err(error) => error,
    };
    assert_eq!(error.kind(), ErrorKind::TimedOut, "{error}");
    assert!(received < data.len(), "{received} bytes arrived");
    // The count is what the writer's kernel accepted, not what the reader
    // took: the reader gets it all here only because it drains the socket
    // to the end once the writer is gone.
    assert_eq!(
        error.to_string(),
        format!(
            "the socket accepted only {received} of {} bytes before the deadline",
            data.len()
        )
    );
    // Only a bound against a deadline that is not kept: one write timeout
    // per `write`, each as long as the whole limit, would take many times
    // the limit.
    assert!(
        took < limit + Duration::from_secs(5),
        "sendall returned {took:?} after its start, against a limit of {limit:?}"
    );
}

#[test]
fn step6_survives_running_out_of_file_descriptors() {
    robust::survives_running_out_of_file_descriptors("step6");
}

// ---------------------------------------------------------------------------
// What a reset does to the reply
// ---------------------------------------------------------------------------

#[test]
fn a_client_that_sent_too_much_reads_the_reply_then_the_reset() {
    for step in std::iter::once("step5").chain(robust_steps()) {
        let mut server = start(step, &[]);
        let mut client = TcpStream::connect(server.address).unwrap();
        client.set_read_timeout(Some(PATIENCE)).unwrap();
        // The request and 100 bytes more in one write: one segment, all of
        // it in the server's receive buffer when its read of 16 returns.
        let mut too_much = REQUEST.to_vec();
        too_much.extend([b'!'; 100]);
        client.write_all(&too_much).unwrap();
        // The server replies and closes with 100 bytes unread: a reset.
        server.wait_for_stdout(REPLY_SENT);
        let mut reply = [0; 16];
        client.read_exact(&mut reply).unwrap();
        assert_eq!(&reply, REPLY, "{step}: the reply came before the reset");
        let error = client.read(&mut [0; 16]).expect_err("the reset");
        assert_eq!(error.kind(), ErrorKind::ConnectionReset, "{step}");
    }
}

/// A server's end that has read a 16-byte request and, with `unread` more
/// bytes of the client's still unread, writes as much of a long reply as
/// its kernel will take while the client reads nothing, then closes.
/// Returns how much the server wrote, and how the client's reading ends:
/// how many bytes it got, and the error, if it was not end of file.
fn long_reply_then_close(unread: usize) -> (usize, usize, Option<ErrorKind>) {
    let (mut client, mut server_end) = connected_pair();
    let mut request = REQUEST.to_vec();
    request.extend(std::iter::repeat_n(b'!', unread));
    client.write_all(&request).unwrap();
    server_end.read_exact(&mut [0; 16]).unwrap();

    // Non-blocking, so that the writes stop when the kernel's buffers are
    // full instead of waiting for the client: what is then in the server's
    // send buffer has not been sent yet.
    server_end.set_nonblocking(true).unwrap();
    let piece = vec![b'g'; 64 * 1024];
    let mut written = 0;
    loop {
        match server_end.write(&piece) {
            Ok(n) => written += n,
            Err(error) if error.kind() == ErrorKind::WouldBlock => break,
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) => panic!("writing the reply: {error}"),
        }
    }
    drop(server_end); // a FIN, or with bytes unread, a reset

    client.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut buffer = vec![0; 256 * 1024];
    let mut received = 0;
    loop {
        match client.read(&mut buffer) {
            Ok(0) => return (written, received, None),
            Ok(n) => received += n,
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) => return (written, received, Some(error.kind())),
        }
    }
}

#[test]
fn a_reset_throws_away_the_part_of_a_reply_that_had_not_left() {
    // Everything read: the close sends a FIN, and the kernel still delivers
    // every byte of the reply before it.
    let (written, received, error) = long_reply_then_close(0);
    assert_eq!((received, error), (written, None), "a plain close");

    // 100 bytes unread: the close sends a reset, and what the server's
    // kernel had not sent yet never arrives.
    let (written, received, error) = long_reply_then_close(100);
    assert_eq!(error, Some(ErrorKind::ConnectionReset));
    assert!(
        received < written,
        "the client got all {written} bytes despite the reset"
    );
}
