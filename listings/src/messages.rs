//! What the programs of "Messages of any length" (`framed`, `lines`) send
//! and print, defined once for both and for their tests.
//!
//! Their messages are of any length, so a server cannot print a message
//! whole, and its reply says how much it received: a test (or a reader)
//! sees at once whether every byte arrived.

/// What the clients send when the command line gives no message: longer
/// than the sixteen bytes of `tcp.py`, which a framing rule makes possible.
pub const DEFAULT_MESSAGE: &str = "Hi there, server! This message is longer than sixteen bytes.";

/// Messages up to this length are printed whole; a longer one shows its
/// first and last [`ENDS`] bytes.
pub const SHOWN_WHOLE: usize = 64;

/// How many bytes of each end of a long message are printed.
pub const ENDS: usize = 20;

/// The server's answer to `message`: a reply of its own, which says how
/// many bytes it received.
///
/// ```
/// use listings::messages::reply_to;
///
/// assert_eq!(reply_to(b"Hi"), b"Goodbye, client! Your message had 2 bytes.");
/// ```
pub fn reply_to(message: &[u8]) -> Vec<u8> {
    format!("Goodbye, client! Your message had {} bytes.", message.len()).into_bytes()
}

/// A message as the programs print it: its length, then the message as
/// Python's `repr` shows bytes, only its two ends if it is long.
///
/// ```
/// use listings::messages::describe;
///
/// assert_eq!(describe(b"Hi"), "2 bytes, b'Hi'");
/// assert_eq!(describe(b""), "0 bytes, b''");
/// let long = [b"<".as_slice(), &[b'x'; 98], b">"].concat();
/// assert_eq!(
///     describe(&long),
///     "100 bytes, b'<xxxxxxxxxxxxxxxxxxx' ... b'xxxxxxxxxxxxxxxxxxx>'"
/// );
/// ```
pub fn describe(message: &[u8]) -> String {
    let repr = |bytes: &[u8]| format!("b'{}'", bytes.escape_ascii());
    let length = message.len();
    if length <= SHOWN_WHOLE {
        format!("{length} bytes, {}", repr(message))
    } else {
        format!(
            "{length} bytes, {} ... {}",
            repr(&message[..ENDS]),
            repr(&message[length - ENDS..])
        )
    }
}
