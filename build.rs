//! Generates a skeptic test for every Rust block in the book's chapters.
//!
//! skeptic reads raw markdown, where a listing is only a line like
//! `{{#rustdoc_include ../listings/src/bin/step4.rs:recvall}}`. So each
//! chapter is first expanded the way mdBook expands it, into `OUT_DIR/book/`,
//! and skeptic generates its tests from those copies; `tests/skeptic.rs`
//! includes the result.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

#[path = "tests/support/include.rs"]
#[allow(
    dead_code,
    reason = "shared with tests/anchors.rs, which uses the parts this script does not"
)]
mod include;

/// What skeptic writes into `OUT_DIR`, and what `tests/skeptic.rs` includes
/// instead: the same tests, named after lines of the real chapters.
const SKEPTIC_OUTPUT: &str = "skeptic-tests.rs";
const RENAMED_OUTPUT: &str = "book-skeptic-tests.rs";

/// One chapter, expanded.
struct Chapter {
    /// Starts every test name from this chapter: `src/intro.md` gives
    /// `src_intro`, so a failing test names its chapter.
    prefix: String,
    /// Chapter line of each line of the expanded copy.
    origins: Vec<usize>,
    /// The chapter, relative to `src/`.
    source: PathBuf,
    copy: PathBuf,
}

fn main() {
    let root = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    let src = root.join("src");

    // Directories: cargo reruns the script when anything under them changes,
    // which covers new chapters and edits to the listings they include.
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=listings/src");

    let book = out_dir.join("book");
    fs::create_dir_all(&book).expect("create OUT_DIR/book");

    let mut chapters: Vec<Chapter> = Vec::new();
    for relative in include::chapters(&src).expect("list the chapters in src/") {
        let path = src.join(&relative);
        let markdown = fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let base = path.parent().expect("a chapter is in a directory");
        let expanded = include::expand(&markdown, base);
        // tests/anchors.rs fails on these; warning here as well tells the
        // author during any build, before the tests run.
        for problem in &expanded.problems {
            println!("cargo:warning=src/{}:{problem}", relative.display());
        }
        for file in &expanded.files {
            println!("cargo:rerun-if-changed={}", file.display());
        }

        let prefix = test_prefix(&relative);
        if let Some(other) = chapters.iter().find(|c| c.prefix == prefix) {
            panic!(
                "src/{} and src/{} would give their skeptic tests the same names; rename one",
                relative.display(),
                other.source.display()
            );
        }
        let copy = book.join(format!("{prefix}.md"));
        write_if_changed(&copy, &expanded.text);
        chapters.push(Chapter {
            prefix,
            origins: expanded.origins,
            source: relative,
            copy,
        });
    }

    extract_listing_functions(&root, &out_dir);

    let copies: Vec<&Path> = chapters.iter().map(|c| c.copy.as_path()).collect();
    skeptic::generate_doc_tests(&copies);

    // skeptic skips writing anything when given no files.
    let generated = fs::read_to_string(out_dir.join(SKEPTIC_OUTPUT)).unwrap_or_default();
    let renamed = if chapters.is_empty() {
        String::new()
    } else {
        rename_tests(&generated, &chapters)
    };
    write_if_changed(&out_dir.join(RENAMED_OUTPUT), &renamed);
}

/// The loops that the tests in `tests/watching_tcp_split.rs`,
/// `tests/step2_send_loop.rs`, `tests/step6_misbehaving_clients.rs` and
/// `tests/many_clients.rs` check, and the helpers step 6's loops call, as (step file, anchor). Each
/// anchor holds one whole function.
const TESTED_FUNCTIONS: [(&str, &str); 10] = [
    ("step2", "sendall"),
    ("step4", "recvall"),
    ("step5", "recvall"),
    ("step6", "sendall"),
    ("step6", "time_left"),
    ("step6", "is_timeout"),
    ("step6", "connect"),
    ("step8", "recvall"),
    ("step8", "sendall"),
    ("step8", "converse"),
];

/// Copies each function in [`TESTED_FUNCTIONS`] out of its step, by the same
/// anchor the book shows it with, into `OUT_DIR/listings/<step>_<anchor>.rs`,
/// so the tests `include!` the very code a reader sees, not a copy of it.
fn extract_listing_functions(root: &Path, out_dir: &Path) {
    let dir = out_dir.join("listings");
    fs::create_dir_all(&dir).expect("create OUT_DIR/listings");
    for (step, anchor) in TESTED_FUNCTIONS {
        let path = root.join(format!("listings/src/bin/{step}.rs"));
        let source = fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        if let Err(why) = include::check_anchor(&source, anchor) {
            panic!("{}: {why}", path.display());
        }
        // The test includes it into a module of its own; `pub` lets the
        // test reach it there. Nothing else about the code changes.
        let function = include::anchored(&source, anchor)
            .lines()
            .map(|line| {
                if let Some(rest) = line.strip_prefix("fn ") {
                    format!("pub fn {rest}\n")
                } else if let Some(rest) = line.strip_prefix("async fn ") {
                    format!("pub async fn {rest}\n")
                } else {
                    format!("{line}\n")
                }
            })
            .collect::<String>();
        write_if_changed(&dir.join(format!("{step}_{anchor}.rs")), &function);
    }
}

/// `appendix/Trouble-shooting.md` becomes `src_appendix_trouble_shooting`:
/// already in the form skeptic gives a file name (lower case, `_` between
/// words), so that skeptic keeps it unchanged, and starting with a letter,
/// which a chapter file named `01-intro.md` would not.
fn test_prefix(relative: &Path) -> String {
    let path = relative.with_extension("");
    let words = format!("src/{}", path.display()).to_ascii_lowercase();
    words
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join("_")
}

/// skeptic names a test `<file>[_sect_<heading>]_line_<N>`, N being the
/// line of the block's opening fence in the file it read; those are the
/// expanded copies, where every include above the block has shifted it. This
/// puts back the line of the same fence in the real chapter.
fn rename_tests(generated: &str, chapters: &[Chapter]) -> String {
    let mut renamed = String::with_capacity(generated.len());
    for line in generated.split_inclusive('\n') {
        let name = line
            .strip_prefix("#[test] fn ")
            .and_then(|rest| rest.split_once("()"))
            .map(|(name, _)| name);
        match name.and_then(|name| chapter_line(name, chapters)) {
            Some((name, new_name)) => renamed.push_str(&line.replacen(name, &new_name, 1)),
            None => renamed.push_str(line),
        }
    }
    renamed
}

/// The name a generated test gets, if it is one of ours.
fn chapter_line<'a>(name: &'a str, chapters: &[Chapter]) -> Option<(&'a str, String)> {
    // A prefix may begin another (`src_step` and `src_step_two`): the longest
    // one followed by what skeptic puts after the file name is the file.
    let chapter = chapters
        .iter()
        .filter(|c| {
            name.strip_prefix(&c.prefix)
                .is_some_and(|rest| rest.starts_with("_sect_") || rest.starts_with("_line_"))
        })
        .max_by_key(|c| c.prefix.len())?;
    let (head, line) = name.rsplit_once("_line_")?;
    let fence: usize = line.parse().ok()?;
    let original = chapter.origins.get(fence.checked_sub(1)?)?;
    Some((name, format!("{head}_line_{original}")))
}

/// Writing only what changed keeps the timestamps that cargo compares, so
/// that a rerun of this script does not by itself trigger another one or a
/// rebuild of `tests/skeptic.rs`.
fn write_if_changed(path: &Path, contents: &str) {
    if fs::read_to_string(path).is_ok_and(|old| old == contents) {
        return;
    }
    fs::write(path, contents).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}
