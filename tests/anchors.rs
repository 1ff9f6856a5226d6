//! Every `{{#include}}` and `{{#rustdoc_include}}` in the book points at a
//! file that exists and, when it names an anchor, at an `ANCHOR: name` with
//! an `ANCHOR_END: name` after it; and none selects lines by number.
//!
//! mdBook renders a misspelled or renamed anchor as an empty code block and
//! says nothing, so without this test a listing could vanish from the book
//! unnoticed. The parsing is `tests/support/include.rs`, the same code that
//! `build.rs` expands the chapters with for skeptic.

use std::fs;
use std::path::Path;

use book_tests::include;

#[test]
fn every_include_finds_its_file_and_anchor() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut problems = Vec::new();
    let mut found = 0;
    for chapter in include::chapters(&src).expect("list the chapters in src/") {
        let path = src.join(&chapter);
        let markdown = fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        found += include::directives(&markdown).len();
        let base = path.parent().expect("a chapter is in a directory");
        for problem in include::expand(&markdown, base).problems {
            problems.push(format!("src/{}:{problem}", chapter.display()));
        }
    }
    assert!(
        problems.is_empty(),
        "{} broken include(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
    // The book shows its listings through includes; finding none means the
    // scanner is broken, not that there is nothing to check.
    assert!(
        found > 0,
        "no include directive found under {}",
        src.display()
    );
}
