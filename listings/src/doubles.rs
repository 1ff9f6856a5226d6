//! Stand-ins for a socket that move data a little at a time, on demand.
//!
//! A real loopback socket almost never splits a 16-byte message, so a test
//! cannot count on it to show why `recvall` and `sendall` loop. These doubles
//! split on purpose, following a schedule of [`Turn`]s, so a test (or a
//! property test generating schedules) can make every awkward case happen:
//! a call that moves one byte, a call interrupted by a signal, a write that
//! moves nothing at all, a connection that breaks part-way.
//!
//! ```
//! use std::io::Read;
//! use listings::doubles::{ChoppyReader, Turn};
//!
//! let mut sock = ChoppyReader::new(b"Hi there, server", [Turn::Upto(3), Turn::Interrupted]);
//! let mut buf = [0; 16];
//! assert_eq!(sock.read(&mut buf).unwrap(), 3); // only "Hi " this time
//! assert!(sock.read(&mut buf).is_err()); // interrupted by a signal
//! assert_eq!(sock.read(&mut buf).unwrap(), 13); // the schedule is over: the rest
//! ```

use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read, Write};

// ANCHOR: turn
/// What one call to `read` or `write` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Turn {
    /// Move at most this many bytes (and at least one, if any are asked for
    /// and, for a reader, any are left).
    Upto(usize),
    /// Fail with [`ErrorKind::Interrupted`], as a call cut short by a signal
    /// before it moved anything does.
    Interrupted,
    /// Return `Ok(0)`: for a writer, "accepted nothing"; for a reader, the
    /// same as end-of-file.
    Zero,
}
// ANCHOR_END: turn

/// How many calls a double answers before it decides its caller is spinning
/// (calling again and again without getting anywhere) and panics, so a broken
/// loop fails its test instead of hanging it.
pub const SPIN_LIMIT: usize = 100_000;

/// Counts a call, stops a caller that is spinning, and takes the call's
/// turn from the schedule (`None` once the schedule is over).
fn next_turn(turns: &mut VecDeque<Turn>, calls: &mut usize, what: &str) -> Option<Turn> {
    *calls += 1;
    assert!(
        *calls <= SPIN_LIMIT,
        "{what} called {SPIN_LIMIT} times: the caller is spinning"
    );
    turns.pop_front()
}

/// A reader over fixed bytes that follows a schedule of [`Turn`]s; once the
/// schedule runs out it hands over everything asked for.
#[derive(Debug)]
pub struct ChoppyReader {
    data: Vec<u8>,
    position: usize,
    turns: VecDeque<Turn>,
    calls: usize,
}

impl ChoppyReader {
    pub fn new(data: &[u8], turns: impl IntoIterator<Item = Turn>) -> Self {
        ChoppyReader {
            data: data.to_vec(),
            position: 0,
            turns: turns.into_iter().collect(),
            calls: 0,
        }
    }

    /// How many calls to `read` were made.
    pub fn calls(&self) -> usize {
        self.calls
    }
}

impl Read for ChoppyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let limit = match next_turn(&mut self.turns, &mut self.calls, "read") {
            Some(Turn::Interrupted) => return Err(ErrorKind::Interrupted.into()),
            Some(Turn::Zero) => return Ok(0),
            Some(Turn::Upto(limit)) => limit.max(1),
            None => usize::MAX,
        };
        let rest = &self.data[self.position..];
        let count = limit.min(buf.len()).min(rest.len());
        buf[..count].copy_from_slice(&rest[..count]);
        self.position += count;
        Ok(count)
    }
}

/// A writer that keeps what it accepts and follows a schedule of [`Turn`]s;
/// once the schedule runs out it accepts everything, unless made to accept
/// nothing ([`ChoppyWriter::stuck`]) or to fail ([`ChoppyWriter::broken`]).
#[derive(Debug)]
pub struct ChoppyWriter {
    accepted: Vec<u8>,
    turns: VecDeque<Turn>,
    afterwards: Afterwards,
    calls: usize,
}

/// What a [`ChoppyWriter`] does once its schedule is over.
#[derive(Debug, Clone, Copy)]
enum Afterwards {
    AcceptEverything,
    AcceptNothing,
    Fail,
}

impl ChoppyWriter {
    pub fn new(turns: impl IntoIterator<Item = Turn>) -> Self {
        ChoppyWriter {
            accepted: Vec::new(),
            turns: turns.into_iter().collect(),
            afterwards: Afterwards::AcceptEverything,
            calls: 0,
        }
    }

    /// A writer that, after its schedule, accepts nothing ever again: every
    /// `write` returns `Ok(0)`, like a peer that has stopped taking data for
    /// good. A loop that does not treat `Ok(0)` as an error spins on it.
    pub fn stuck(turns: impl IntoIterator<Item = Turn>) -> Self {
        ChoppyWriter {
            afterwards: Afterwards::AcceptNothing,
            ..ChoppyWriter::new(turns)
        }
    }

    /// A writer whose connection breaks after its schedule: every later
    /// `write` fails with [`ErrorKind::BrokenPipe`], as a write to a peer
    /// that has gone does.
    pub fn broken(turns: impl IntoIterator<Item = Turn>) -> Self {
        ChoppyWriter {
            afterwards: Afterwards::Fail,
            ..ChoppyWriter::new(turns)
        }
    }

    /// Every byte accepted so far, in order.
    pub fn accepted(&self) -> &[u8] {
        &self.accepted
    }

    /// How many calls to `write` were made.
    pub fn calls(&self) -> usize {
        self.calls
    }
}

impl Write for ChoppyWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let limit = match next_turn(&mut self.turns, &mut self.calls, "write") {
            Some(Turn::Interrupted) => return Err(ErrorKind::Interrupted.into()),
            Some(Turn::Zero) => return Ok(0),
            Some(Turn::Upto(limit)) => limit.max(1),
            None => match self.afterwards {
                Afterwards::AcceptEverything => usize::MAX,
                Afterwards::AcceptNothing => return Ok(0),
                Afterwards::Fail => return Err(ErrorKind::BrokenPipe.into()),
            },
        };
        let count = limit.min(buf.len());
        self.accepted.extend_from_slice(&buf[..count]);
        Ok(count)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_follows_its_schedule_then_hands_over_the_rest() {
        let mut reader =
            ChoppyReader::new(b"abcdef", [Turn::Upto(2), Turn::Interrupted, Turn::Upto(1)]);
        let mut buf = [0; 8];
        assert_eq!(reader.read(&mut buf).unwrap(), 2);
        assert_eq!(
            reader.read(&mut buf).unwrap_err().kind(),
            ErrorKind::Interrupted
        );
        assert_eq!(reader.read(&mut buf).unwrap(), 1);
        assert_eq!(&buf[..1], b"c");
        assert_eq!(reader.read(&mut buf).unwrap(), 3);
        assert_eq!(&buf[..3], b"def");
        assert_eq!(reader.read(&mut buf).unwrap(), 0, "end of data");
        assert_eq!(reader.calls(), 5);
    }

    #[test]
    fn a_writer_keeps_what_it_accepts_in_order() {
        let mut writer =
            ChoppyWriter::new([Turn::Upto(1), Turn::Zero, Turn::Interrupted, Turn::Upto(0)]);
        assert_eq!(writer.write(b"xyz").unwrap(), 1);
        assert_eq!(writer.write(b"yz").unwrap(), 0);
        assert_eq!(
            writer.write(b"yz").unwrap_err().kind(),
            ErrorKind::Interrupted
        );
        assert_eq!(
            writer.write(b"yz").unwrap(),
            1,
            "Upto(0) still moves a byte"
        );
        assert_eq!(writer.write(b"z").unwrap(), 1);
        assert_eq!(writer.accepted(), b"xyz");
    }

    #[test]
    fn a_stuck_writer_accepts_nothing_after_its_schedule() {
        let mut writer = ChoppyWriter::stuck([Turn::Upto(2)]);
        assert_eq!(writer.write(b"abc").unwrap(), 2);
        assert_eq!(writer.write(b"c").unwrap(), 0);
        assert_eq!(writer.write(b"c").unwrap(), 0);
    }

    #[test]
    fn a_broken_writer_fails_after_its_schedule() {
        let mut writer = ChoppyWriter::broken([Turn::Upto(2)]);
        assert_eq!(writer.write(b"abc").unwrap(), 2);
        for _ in 0..2 {
            assert_eq!(
                writer.write(b"c").unwrap_err().kind(),
                ErrorKind::BrokenPipe
            );
        }
        assert_eq!(writer.accepted(), b"ab");
        assert_eq!(writer.calls(), 3);
    }

    #[test]
    #[should_panic(expected = "spinning")]
    fn a_caller_that_never_gives_up_is_stopped() {
        let mut writer = ChoppyWriter::stuck([]);
        loop {
            let _ = writer.write(b"a");
        }
    }
}
