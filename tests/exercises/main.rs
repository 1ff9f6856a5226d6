//! The exercises at the end of the chapters: each solution does what its
//! exercise asks, and each skeleton, as committed, does not yet.
//!
//! An exercise `NAME` (its skeleton `exercises/src/bin/NAME.rs`, its
//! solution `exercises/src/bin/NAME_solution.rs`) has a check: a function
//! that runs a program the way a reader would check their own answer (start
//! it, talk to it with another step, the Python peer or the chopper, read
//! what it prints) and returns `Err` with the reason when the program does
//! not do what the exercise asks. The `exercise!` macro turns it into three
//! tests in a module named after the exercise:
//!
//! - `NAME::solution_passes`: the check passes on the solution;
//! - `NAME::skeleton_is_unsolved`: the check fails on the skeleton as
//!   committed, so the check can fail, and the skeleton is a real start;
//!   once you have solved the exercise in the skeleton, this one fails: it
//!   is your sign that you are done;
//! - `NAME::yours` (ignored unless asked for): the check on the skeleton
//!   file, which is the one you edit. A reader runs it with
//!   `cargo test --test exercises NAME::yours -- --ignored`.
//!
//! The checks are in one module per chapter, named after the chapter.

/// The three tests of an exercise; see the module's documentation.
macro_rules! exercise {
    ($name:ident, $check:expr) => {
        mod $name {
            use book_tests::exercise;

            const NAME: &str = stringify!($name);

            #[test]
            fn solution_passes() {
                let solution = exercise(&format!("{NAME}_solution"));
                if let Err(why) = $check(&solution) {
                    panic!("{NAME}_solution: {why}");
                }
            }

            #[test]
            fn skeleton_is_unsolved() {
                let skeleton = exercise(NAME);
                assert!(
                    $check(&skeleton).is_err(),
                    "the check passes on the unsolved skeleton exercises/src/bin/{NAME}.rs: \
                     either it is solved already, or the check cannot fail"
                );
            }

            #[test]
            #[ignore = "checks your answer in the skeleton file: run this test with -- --ignored"]
            fn yours() {
                let yours = exercise(NAME);
                if let Err(why) = $check(&yours) {
                    panic!("exercises/src/bin/{NAME}.rs does not do it yet: {why}");
                }
            }
        }
    };
}
mod deadlock;
mod framing;
mod halfclose;
mod inventory;
mod many;
mod matrix;
mod perf;
mod sidebyside;
mod step1;
mod step2;
mod step3;
mod step4;
mod step5;
mod step6;
mod support;
mod watching;
