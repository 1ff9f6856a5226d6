//! A solution: `deadlock`'s fixed client, with a scoped thread that borrows
//! the connection instead of a second handle to it.
//!
//! `Read` and `Write` are implemented for `&TcpStream`, not only for
//! `TcpStream`: any number of shared references can read and write the
//! same connection, and the kernel keeps the two directions apart. So a
//! thread from `thread::scope` can read the reply through the very
//! `&TcpStream` this thread writes the message through, with no
//! `try_clone`, and the scope guarantees that it has finished before the
//! function returns.
//!
//! The rest is `deadlock`'s (`listings/src/bin/deadlock.rs`): its server,
//! its options and the client around this function, from `listings`.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::thread;

use listings::deadlock::{self, ClientOptions, Progress, ServerOptions, receive, send};

fn main() -> ExitCode {
    listings::run_with_about(
        "A server that writes back upper-cased what it reads, and a client that reads \
         the reply on a second thread while it sends",
        server,
        client,
    )
}

fn server(address: SocketAddr, options: &ServerOptions) -> io::Result<()> {
    deadlock::serve(address, options, deadlock::echo_upper)
}

fn client(addresses: &[SocketAddr], options: &ClientOptions) -> io::Result<()> {
    deadlock::client(
        addresses,
        options,
        send_while_receiving,
        "while a second thread reads the reply",
    )
}

// ANCHOR: solution
/// `message` sent from this thread while a second thread, borrowing the
/// same `&TcpStream`, reads the reply.
fn send_while_receiving(
    sock: &TcpStream,
    message: &[u8],
    progress: &mut Progress,
) -> io::Result<()> {
    // Two fields, two threads: each borrows its own counter mutably.
    let Progress { sent, received } = progress;
    let length = message.len() as u64;
    // The scope ends only once the reading thread has, so it may borrow
    // `sock`, `received` and nothing needs to be moved or cloned.
    thread::scope(|scope| {
        let receiving = scope.spawn(|| receive(sock, length, received));
        let sending = send(sock, message, sent);
        // The reading thread ends too: with the whole reply, or failing as
        // the sending did (one connection, one timeout).
        let receiving = receiving
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the reading thread panicked")));
        sending.and(receiving)
    })
}
// ANCHOR_END: solution
