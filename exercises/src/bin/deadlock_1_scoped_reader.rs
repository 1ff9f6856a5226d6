//! Exercise: `deadlock`'s fixed client, with a scoped thread that borrows
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

// ANCHOR: task
/// `message` sent from this thread while a second thread, borrowing the
/// same `&TcpStream`, reads the reply.
fn send_while_receiving(
    sock: &TcpStream,
    message: &[u8],
    progress: &mut Progress,
) -> io::Result<()> {
    // The pieces are `send` and `receive` (from `listings::deadlock`, as the
    // `deadlock` tool has them) and `std::thread::scope`.
    let _ = (sock, message, progress, send, receive);
    todo!(
        "thread::scope: one thread `receive`s into progress.received while this one `send`s \
         and counts into progress.sent; both borrow `sock`"
    )
}
// ANCHOR_END: task
