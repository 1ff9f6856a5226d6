//! The exercises of "Step 3: `write_all`, Rust's `sendall`"
//! (src/step3-sendall.md): the count `write_all` loses, kept; and a time
//! limit for the whole send, as Python's `sendall` has.
//!
//! Both send far more than the kernel's buffers hold to a peer that reads
//! little or nothing, so the send cannot finish; both must then say how many
//! bytes had gone out, and the check holds that number to what the peer
//! receives once the client has exited: every byte the kernel accepted
//! arrives, in the end, and no other.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use book_tests::PATIENCE;
use listings::protocol::REPLY;

use super::support::{failed, one_error_line, run_program};

/// The count in a client's error line, `... X of SIZE bytes ...`.
fn count_in(line: &str, size: usize) -> Result<usize, String> {
    let (before, _) = line
        .split_once(&format!(" of {size} bytes"))
        .ok_or_else(|| format!("the error line does not say `X of {size} bytes`: {line}"))?;
    before
        .rsplit(' ')
        .next()
        .and_then(|count| count.parse().ok())
        .ok_or_else(|| format!("no number before `of {size} bytes` in the error line: {line}"))
}

/// Holds the client's count to what arrived, which must be part of the
/// data, not all of it.
fn same_count(line: &str, size: usize, arrived: usize) -> Result<(), String> {
    let said = count_in(line, size)?;
    if said != arrived {
        return Err(format!(
            "the client said it sent {said} bytes, but {arrived} arrived: {line}"
        ));
    }
    if arrived == 0 || arrived >= size {
        return Err(format!(
            "{arrived} of {size} bytes arrived: the check expects a send that stopped part way"
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// 1. The count that is lost
// ---------------------------------------------------------------------------

fn lost_count(program: &Path) -> Result<(), String> {
    // Far more than the client's send buffer and the peer's receive buffer
    // hold together (some megabytes each at most, on Linux).
    const SIZE: usize = 32 << 20;
    let listener = TcpListener::bind("127.0.0.1:0").map_err(failed("bind 127.0.0.1:0"))?;
    let port = listener
        .local_addr()
        .map_err(failed("the peer's address"))?
        .port()
        .to_string();
    // The peer does not read while the client runs: the kernel's backlog
    // has done the handshake, and the bytes pile up until nothing more fits.
    let size = SIZE.to_string();
    let args = ["client", "-p", &port, "--size", &size, "--timeout", "0.2"];
    let client = run_program(program, &args)?;
    let line = one_error_line(&client, &format!("`{}`", args.join(" ")))?;

    listener
        .set_nonblocking(true)
        .map_err(failed("a non-blocking listener"))?;
    let (mut conn, _) = listener
        .accept()
        .map_err(failed("the client never connected"))?;
    conn.set_nonblocking(false)
        .map_err(failed("a blocking connection"))?;
    conn.set_read_timeout(Some(PATIENCE))
        .map_err(failed("a read timeout"))?;
    let mut arrived = Vec::new();
    conn.read_to_end(&mut arrived)
        .map_err(failed("reading what the client sent"))?;
    same_count(line, SIZE, arrived.len())
}

// ---------------------------------------------------------------------------
// 2. A deadline for the whole send
// ---------------------------------------------------------------------------

/// How much the slow peer reads at a time, and how long it waits before
/// reading again: at most 12.8 MB a second. The pause paces the peer, it
/// synchronises nothing; a slower machine only makes the peer slower.
const SIP: usize = 128 << 10;
const PAUSE: Duration = Duration::from_millis(10);

fn whole_send_deadline(program: &Path) -> Result<(), String> {
    // Five seconds or more at the peer's pace, against a deadline of half
    // a second: a client whose every `write` may wait half a second keeps
    // going, as each finds room within that time, and sends it all.
    const SIZE: usize = 64 << 20;
    let listener = TcpListener::bind("127.0.0.1:0").map_err(failed("bind 127.0.0.1:0"))?;
    let address = listener
        .local_addr()
        .map_err(failed("the peer's address"))?;
    let client_done = Arc::new(AtomicBool::new(false));
    let peer = {
        let client_done = Arc::clone(&client_done);
        thread::spawn(move || -> Result<usize, String> {
            let (mut conn, _) = listener.accept().map_err(failed("accept"))?;
            conn.set_read_timeout(Some(PATIENCE))
                .map_err(failed("a read timeout"))?;
            let mut buffer = vec![0; SIP];
            let mut arrived = 0;
            loop {
                let read = conn
                    .read(&mut buffer)
                    .map_err(failed("reading what the client sent"))?;
                if read == 0 {
                    return Ok(arrived);
                }
                arrived += read;
                if arrived == SIZE {
                    // Everything came: the client may have its reply.
                    let _ = std::io::Write::write_all(&mut conn, REPLY);
                }
                // Once the client has exited, the rest as fast as it comes.
                if !client_done.load(Ordering::Relaxed) {
                    thread::sleep(PAUSE);
                }
            }
        })
    };
    let size = SIZE.to_string();
    let port = address.port().to_string();
    let args = ["client", "-p", &port, "--size", &size, "--deadline", "0.5"];
    let client = run_program(program, &args);
    client_done.store(true, Ordering::Relaxed);
    // A client that never connected leaves the peer waiting in `accept`: a
    // connection of the check's own, closed at once, ends it. (After the
    // client's, it only waits in the backlog.)
    let _ = TcpStream::connect(address);
    let arrived = peer
        .join()
        .map_err(|_| "the slow peer panicked".to_owned())?;
    let client = client?;
    let what = format!("`{}`", args.join(" "));
    if client.code() == Some(0) {
        return Err(format!(
            "{what} sent all {SIZE} bytes to a peer that reads at most {SIP} bytes every \
             {PAUSE:?}, which takes seconds: the deadline of 0.5 s did not stop it"
        ));
    }
    let line = one_error_line(&client, &what)?;
    same_count(line, SIZE, arrived?)
}

exercise!(step3_1_lost_count, super::lost_count);
exercise!(step3_2_whole_send_deadline, super::whole_send_deadline);
