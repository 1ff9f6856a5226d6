//! Property tests: the steps' send and receive loops against sockets that
//! split, interrupt and stall on every schedule proptest can think of.
//!
//! The loops under test are the very functions the book shows: the build
//! script copies the `send_all` anchor of step2.rs and the `recvall` anchors
//! of step4.rs and step5.rs into `OUT_DIR`, and they are included here. Break
//! one of those loops in its step file and these tests fail.

use std::io::{self, ErrorKind, Read, Write};

use listings::doubles::{ChoppyReader, ChoppyWriter, Turn};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestError, TestRng, TestRunner};

mod step2 {
    use std::io::{self, ErrorKind, Write};
    include!(concat!(env!("OUT_DIR"), "/listings/step2_send_all.rs"));
}

mod step4 {
    use std::io::{self, ErrorKind, Read};
    include!(concat!(env!("OUT_DIR"), "/listings/step4_recvall.rs"));
}

mod step5 {
    use std::io::{self, ErrorKind, Read};
    include!(concat!(env!("OUT_DIR"), "/listings/step5_recvall.rs"));
}

/// How the step's message would leave in step 1: one `write`, its count
/// thrown away (the `naive_write` anchor of step1.rs).
fn naive_send(sock: &mut impl Write, data: &[u8]) -> io::Result<()> {
    #[allow(clippy::unused_io_amount, reason = "this is the bug being shown")]
    sock.write(data)?;
    Ok(())
}

/// How step 1 receives: one `read` into a buffer of the message's size, its
/// count thrown away (the `naive_read` anchor of step1.rs).
fn naive_receive(sock: &mut impl Read, length: usize) -> io::Result<Vec<u8>> {
    let mut message = vec![0; length];
    #[allow(clippy::unused_io_amount, reason = "this is the bug being shown")]
    sock.read(&mut message)?;
    Ok(message)
}

type Recvall = fn(&mut ChoppyReader, usize) -> io::Result<Vec<u8>>;

/// Step 4's loop and step 5's, which should be the same.
const RECVALLS: [Recvall; 2] = [step4::recvall, step5::recvall];

/// A call's fate: mostly short transfers, sometimes a signal.
fn turn() -> impl Strategy<Value = Turn> {
    prop_oneof![
        4 => (1usize..24).prop_map(Turn::Upto),
        1 => Just(Turn::Interrupted),
    ]
}

fn schedule() -> impl Strategy<Value = Vec<Turn>> {
    prop::collection::vec(turn(), 0..40)
}

/// Schedules of short transfers only: no signals, so a failure of the naive
/// code is lost or truncated data, not an error.
fn splits() -> impl Strategy<Value = Vec<Turn>> {
    prop::collection::vec((1usize..24).prop_map(Turn::Upto), 0..40)
}

/// A failing case is found again by shrinking, not by a saved seed: the
/// root package has no src/lib.rs for proptest to keep its seeds beside.
fn config() -> Config {
    Config {
        failure_persistence: None,
        ..Config::default()
    }
}

fn message() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 1..200)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn step2_send_all_delivers_every_byte_once_in_order(data in message(), turns in schedule()) {
        let mut sock = ChoppyWriter::new(turns);
        step2::send_all(&mut sock, &data).unwrap();
        prop_assert_eq!(sock.accepted(), &data[..]);
    }

    #[test]
    fn write_all_delivers_every_byte_once_in_order(data in message(), turns in schedule()) {
        let mut sock = ChoppyWriter::new(turns);
        sock.write_all(&data).unwrap();
        prop_assert_eq!(sock.accepted(), &data[..]);
    }

    #[test]
    fn recvall_reassembles_the_message_exactly(data in message(), turns in schedule()) {
        for recvall in RECVALLS {
            let mut sock = ChoppyReader::new(&data, turns.clone());
            let received = recvall(&mut sock, data.len()).unwrap();
            prop_assert_eq!(&received, &data);
        }
    }

    #[test]
    fn recvall_reports_how_much_came_before_the_peer_closed(
        data in message(), missing in 1usize..50, turns in schedule()
    ) {
        let expected = data.len() + missing;
        for recvall in RECVALLS {
            let mut sock = ChoppyReader::new(&data, turns.clone());
            let error = recvall(&mut sock, expected).unwrap_err();
            prop_assert_eq!(error.kind(), ErrorKind::UnexpectedEof);
            prop_assert_eq!(
                error.to_string(),
                format!(
                    "was expecting {expected} bytes but only received {} bytes before the socket closed",
                    data.len()
                )
            );
        }
    }

    /// A writer that stops accepting for good: the loop must give up with
    /// an error rather than call `write` forever (the double panics after
    /// `SPIN_LIMIT` calls, which fails the test instead of hanging it).
    #[test]
    fn step2_send_all_gives_up_on_ok_zero_instead_of_spinning(data in message(), turns in schedule()) {
        let mut sock = ChoppyWriter::stuck(turns);
        match step2::send_all(&mut sock, &data) {
            Ok(()) => prop_assert_eq!(sock.accepted(), &data[..]),
            Err(error) => {
                prop_assert_eq!(error.kind(), ErrorKind::WriteZero);
                prop_assert!(data.starts_with(sock.accepted()));
                prop_assert!(sock.accepted().len() < data.len());
            }
        }
    }
}

/// Runs a property that the naive code should break, and returns the
/// smallest counterexample proptest finds (panicking if it finds none).
fn smallest_failure<S: Strategy>(
    strategy: S,
    property: impl Fn(S::Value) -> Result<(), TestCaseError>,
) -> S::Value
where
    S::Value: std::fmt::Debug,
{
    // A fixed seed: the same counterexample on every run and every machine.
    let mut runner =
        TestRunner::new_with_rng(config(), TestRng::deterministic_rng(RngAlgorithm::ChaCha));
    match runner.run(&strategy, property) {
        Err(TestError::Fail(_, smallest)) => smallest,
        Err(other) => panic!("proptest gave up: {other}"),
        Ok(()) => panic!("the naive code survived every schedule; the doubles are not splitting"),
    }
}

#[test]
fn one_naive_write_loses_data_under_some_schedule() {
    let smallest = smallest_failure((message(), splits()), |(data, turns)| {
        let mut sock = ChoppyWriter::new(turns);
        naive_send(&mut sock, &data).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(sock.accepted(), &data[..]);
        Ok(())
    });
    println!("smallest schedule that loses data with one write: {smallest:?}");
    // One turn that moves fewer bytes than the message has.
    let (data, turns) = smallest;
    assert!(
        matches!(turns[..], [Turn::Upto(moved)] if moved < data.len()),
        "{turns:?}"
    );
}

#[test]
fn one_naive_read_truncates_under_some_schedule() {
    let smallest = smallest_failure((message(), splits()), |(data, turns)| {
        let mut sock = ChoppyReader::new(&data, turns);
        let received =
            naive_receive(&mut sock, data.len()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(received, data);
        Ok(())
    });
    println!("smallest schedule that truncates with one read: {smallest:?}");
    // One turn that moves fewer bytes than the message has, and a message
    // that does not end in zeros (they would hide among the zeros the buffer
    // started with).
    let (data, turns) = smallest;
    assert!(
        matches!(turns[..], [Turn::Upto(moved)] if moved < data.len()),
        "{turns:?}"
    );
    assert_ne!(data.last(), Some(&0));
}
