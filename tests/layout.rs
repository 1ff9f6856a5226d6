//! The one list of the book's programs, `STEPS` and `TOOLS` in the support
//! library, names exactly the binaries in `listings/src/bin`: every test
//! that runs each step finds a new step there, and a transcript can run only
//! a program the list names.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use book_tests::{STEPS, programs, repo};

/// Each binary Cargo finds in `dir` (`listings/src/bin`): `NAME.rs`, or a
/// directory `NAME/` with a `main.rs`.
fn binaries(dir: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if path.join("main.rs").is_file() {
                found.insert(name);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.insert(name);
        }
    }
    found
}

#[test]
fn the_list_of_programs_names_every_binary_and_no_other() {
    let listed: Vec<&str> = programs().collect();
    let unique: BTreeSet<String> = listed.iter().map(|p| p.to_string()).collect();
    assert_eq!(
        unique.len(),
        listed.len(),
        "a program listed twice: {listed:?}"
    );
    let found = binaries(&repo().join("listings/src/bin"));
    let unlisted: Vec<&String> = found.difference(&unique).collect();
    let missing: Vec<&String> = unique.difference(&found).collect();
    assert!(
        unlisted.is_empty() && missing.is_empty(),
        "listings/src/bin and the list in tests/support/lib.rs (STEPS, TOOLS) disagree: \
         not listed: {unlisted:?}; listed but not in listings/src/bin: {missing:?}"
    );
}

#[test]
fn every_step_is_shown_in_the_book() {
    let src = repo().join("src");
    let chapters: Vec<String> = book_tests::include::chapters(&src)
        .expect("list the chapters in src/")
        .into_iter()
        .map(|chapter| fs::read_to_string(src.join(chapter)).unwrap())
        .collect();
    for step in STEPS {
        let listing = format!("listings/src/bin/{step}.rs");
        assert!(
            chapters.iter().any(|text| text.contains(&listing)),
            "no chapter includes {listing}: each step is a listing in the book"
        );
    }
}

#[test]
fn binaries_are_files_and_directories_with_a_main() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("layout-bin");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("tool/parts")).unwrap();
    fs::create_dir_all(dir.join("notes")).unwrap();
    for file in [
        "step1.rs",
        "tool/main.rs",
        "tool/parts/mod.rs",
        "notes/README.md",
        "a.txt",
    ] {
        fs::write(dir.join(file), "").unwrap();
    }
    let found: Vec<String> = binaries(&dir).into_iter().collect();
    assert_eq!(found, ["step1", "tool"]);
}
