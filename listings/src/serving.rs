//! Plumbing for a server that serves several connections at once: one
//! transcript its threads share, and a count of the connections in progress.
//!
//! Neither is about TCP. They are here so that step 6 can say "wait for a
//! free slot" and "print this line" in one line each, and be read for what it
//! does with sockets.

use std::fmt;
use std::io::{self, Write};
use std::num::NonZeroUsize;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// A transcript that several threads write to.
///
/// `&SharedWriter` is a [`Write`], like `&Stdout`: each `write!` or
/// `writeln!` takes the lock once, so a line goes out whole and is never
/// mixed with another thread's.
///
/// ```
/// use std::io::Write;
/// use std::thread;
///
/// let mut transcript = Vec::new();
/// let shared = listings::SharedWriter::new(&mut transcript);
/// thread::scope(|scope| {
///     for n in 0..3 {
///         let shared = &shared;
///         scope.spawn(move || writeln!(&*shared, "line {n}"));
///     }
/// });
/// drop(shared);
/// let text = String::from_utf8(transcript).unwrap();
/// assert_eq!(text.lines().count(), 3);
/// assert!(text.lines().all(|line| line.starts_with("line ")));
/// ```
pub struct SharedWriter<'a> {
    out: Mutex<&'a mut (dyn Write + Send)>,
}

impl<'a> SharedWriter<'a> {
    /// Shares `out` between threads.
    pub fn new(out: &'a mut (dyn Write + Send)) -> Self {
        SharedWriter {
            out: Mutex::new(out),
        }
    }

    fn lock(&self) -> MutexGuard<'_, &'a mut (dyn Write + Send)> {
        // A thread that panicked while printing leaves at worst a partial
        // line; the transcript is still worth writing to.
        self.out.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Write for &SharedWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.lock().write(bytes)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.lock().flush()
    }

    fn write_fmt(&mut self, args: fmt::Arguments<'_>) -> io::Result<()> {
        // The default method would call `write` once per piece of the
        // format, each taking the lock anew; one lock for the whole line.
        self.lock().write_fmt(args)
    }
}

/// Counts the connections a server has in progress, up to a limit, and
/// carries the request to stop accepting.
///
/// The accept loop calls [`wait_for_room`](Slots::wait_for_room) before each
/// `accept` and [`start`](Slots::start) after it; each connection calls
/// [`finish`](Slots::finish) when it is over; whoever decides the server
/// should stop (a Ctrl-C handler) calls [`stop`](Slots::stop).
///
/// ```
/// use std::num::NonZeroUsize;
///
/// let slots = listings::Slots::new(NonZeroUsize::new(1).unwrap());
/// assert!(slots.wait_for_room());
/// assert!(slots.start());
/// assert_eq!(slots.in_progress(), 1);
/// assert!(slots.finish(), "the last connection ended: the server is idle");
/// assert!(!slots.stop(), "the first request to stop");
/// assert!(!slots.wait_for_room(), "a stopping server accepts no more");
/// ```
pub struct Slots {
    limit: usize,
    state: Mutex<State>,
    /// Signalled when a connection ends and when the server is told to stop:
    /// the two things the accept loop may be waiting for.
    changed: Condvar,
}

#[derive(Default)]
struct State {
    in_progress: usize,
    stopping: bool,
}

impl Slots {
    /// Slots for at most `limit` connections at once.
    pub fn new(limit: NonZeroUsize) -> Self {
        Slots {
            limit: limit.get(),
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
        }
    }

    /// Waits until fewer than the limit are in progress. Returns `false`,
    /// at once or as soon as it happens, if the server is told to stop.
    pub fn wait_for_room(&self) -> bool {
        let state = self
            .changed
            .wait_while(self.lock(), |state| {
                state.in_progress >= self.limit && !state.stopping
            })
            .unwrap_or_else(PoisonError::into_inner);
        !state.stopping
    }

    /// Counts a connection just accepted. Returns `false`, counting nothing,
    /// if the server was told to stop meanwhile.
    pub fn start(&self) -> bool {
        let mut state = self.lock();
        if state.stopping {
            return false;
        }
        state.in_progress += 1;
        true
    }

    /// Counts a connection that has ended. Returns `true` if it was the last
    /// one in progress and the server goes on: the server is now idle.
    pub fn finish(&self) -> bool {
        let mut state = self.lock();
        state.in_progress = state.in_progress.saturating_sub(1);
        self.changed.notify_all();
        state.in_progress == 0 && !state.stopping
    }

    /// Tells the server to stop accepting and wakes the accept loop if it
    /// is waiting for a slot. Returns whether it had been told before.
    pub fn stop(&self) -> bool {
        let mut state = self.lock();
        let before = state.stopping;
        state.stopping = true;
        self.changed.notify_all();
        before
    }

    /// How many connections are in progress.
    pub fn in_progress(&self) -> usize {
        self.lock().in_progress
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Only counters live behind this lock, and every change to them is
        // a single step: they are consistent even after a panic elsewhere.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
