//! A count of the connections a server has in progress, for a server that
//! serves several at once.
//!
//! It is not about TCP. It is here so that step 6 and the chopper relay can
//! say "wait for a free slot" in one line, and be read for what they do
//! with sockets.

use std::num::NonZeroUsize;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

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
/// use listings::{Admission, Finished, Slots, Stop};
///
/// let slots = Slots::new(NonZeroUsize::new(1).unwrap());
/// assert_eq!(slots.wait_for_room(), Admission::Open);
/// assert_eq!(slots.start(), Admission::Open);
/// assert_eq!(slots.in_progress(), 1);
/// assert_eq!(slots.finish(), Finished::Idle);
/// assert_eq!(slots.stop(), Stop::First);
/// assert_eq!(slots.wait_for_room(), Admission::Stopping);
/// assert_eq!(slots.stop(), Stop::Again);
/// ```
pub struct Slots {
    limit: usize,
    state: Mutex<State>,
    /// Signalled when a connection ends with every slot taken, and when the
    /// server is told to stop: the two things the accept loop may be
    /// waiting for.
    changed: Condvar,
}

/// Whether the server takes another connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Yes: there is a free slot (or, from [`Slots::start`], the connection
    /// now holds one).
    Open,
    /// No: the server has been told to stop.
    Stopping,
}

/// What is left once a connection has ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finished {
    /// Nothing is in progress and the server goes on: it is idle.
    Idle,
    /// Other connections are still in progress.
    Busy,
    /// The server is stopping; it waits only for the rest to finish.
    Stopping,
}

/// Which request to stop this was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The first: stop accepting, let the connections in progress finish.
    First,
    /// Another after the first: the user will not wait.
    Again,
}

#[derive(Default)]
struct State {
    in_progress: usize,
    stopping: bool,
}

impl State {
    fn admission(&self) -> Admission {
        if self.stopping {
            Admission::Stopping
        } else {
            Admission::Open
        }
    }
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

    /// Waits until fewer than the limit are in progress, or, at once or as
    /// soon as it happens, until the server is told to stop.
    pub fn wait_for_room(&self) -> Admission {
        self.changed
            .wait_while(self.lock(), |state| {
                state.in_progress >= self.limit && !state.stopping
            })
            .unwrap_or_else(PoisonError::into_inner)
            .admission()
    }

    /// Counts a connection just accepted, unless the server was told to
    /// stop meanwhile: then it counts nothing and says so.
    pub fn start(&self) -> Admission {
        let mut state = self.lock();
        let admission = state.admission();
        if admission == Admission::Open {
            state.in_progress += 1;
        }
        admission
    }

    /// Counts a connection that has ended.
    pub fn finish(&self) -> Finished {
        let mut state = self.lock();
        // Only a count at the limit can keep `wait_for_room` waiting, so
        // only then is there anyone to wake. (On Linux, std's `Condvar`
        // makes a system call for every notify, even with nobody waiting,
        // and this runs once per connection.)
        if state.in_progress >= self.limit {
            self.changed.notify_all();
        }
        state.in_progress = state.in_progress.saturating_sub(1);
        match (state.stopping, state.in_progress) {
            (true, _) => Finished::Stopping,
            (false, 0) => Finished::Idle,
            (false, _) => Finished::Busy,
        }
    }

    /// Tells the server to stop accepting and wakes the accept loop if it
    /// is waiting for a slot.
    pub fn stop(&self) -> Stop {
        let mut state = self.lock();
        let before = std::mem::replace(&mut state.stopping, true);
        self.changed.notify_all();
        if before { Stop::Again } else { Stop::First }
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
