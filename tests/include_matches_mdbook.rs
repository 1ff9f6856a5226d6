//! `tests/support/include.rs` expands the chapters the way mdBook 0.5.4
//! does, so that skeptic (through `build.rs`) and `tests/anchors.rs` see the
//! code the book shows. It is a copy of mdBook's rules, and a copy can drift:
//! this test has mdBook itself expand every chapter, with its markdown
//! renderer, and fails where the two disagree, so that an mdBook upgrade
//! cannot change what the book shows without the copy following.
//!
//! It needs `mdbook` 0.5.4 on the PATH, so `cargo test` skips it and
//! `./ci.sh`, which installs that mdbook, runs it with `--ignored`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use book_tests::{include, repo};

/// The mdBook whose rules `include.rs` copies; `./ci.sh` installs it.
const MDBOOK_VERSION: &str = "0.5.4";

#[test]
#[ignore = "needs mdbook 0.5.4 on PATH; ./ci.sh runs it"]
fn include_rs_expands_every_chapter_as_mdbook_does() {
    check_mdbook_version();
    let dest = Path::new(env!("CARGO_TARGET_TMPDIR")).join("include-matches-mdbook");
    let compared = compare(repo(), &dest);
    // Comparing chapters without a single include would prove nothing.
    assert!(
        compared.directives > 0,
        "none of the {} chapters has an include",
        compared.chapters
    );
    eprintln!(
        "{} chapters, {} includes: include.rs agrees with mdBook",
        compared.chapters, compared.directives
    );
}

/// The chapters use a few forms of the directives; this book uses all of
/// them, so that a change to any rule shows even before a chapter needs it.
#[test]
#[ignore = "needs mdbook 0.5.4 on PATH; ./ci.sh runs it"]
fn include_rs_expands_every_form_of_directive_as_mdbook_does() {
    check_mdbook_version();
    let book = Path::new(env!("CARGO_TARGET_TMPDIR")).join("include-forms");
    let _ = fs::remove_dir_all(&book);
    for (path, text) in FORMS {
        let path = book.join(path);
        fs::create_dir_all(path.parent().expect("in a directory")).expect("create the book");
        fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
    let compared = compare(&book, &book.join("markdown"));
    assert_eq!(compared.chapters, 2, "both chapters of {}", book.display());
}

/// A book whose chapters hold every form of `{{#include}}` and
/// `{{#rustdoc_include}}` that include.rs handles, broken ones included,
/// since mdBook renders those too. `{{#playground}}` is missing on purpose:
/// include.rs refuses it instead of imitating it.
const FORMS: [(&str, &str); 10] = [
    ("book.toml", "[book]\ntitle = \"Every form of include\"\n"),
    (
        "src/SUMMARY.md",
        "# Summary\n\n- [Forms](forms.md)\n- [Nested](sub/README.md)\n",
    ),
    (
        "src/code.rs",
        "use std::io;\n// ANCHOR: outer\nfn outer() {\n    //ANCHOR:inner\n    inner();\n    \
         // ANCHOR_END: inner\n}\n// ANCHOR_END: outer\n/* ANCHOR: open */\nfn rest() {}\n\
         fn main() {}\n",
    ),
    (
        "src/code.py",
        "import socket\n\n# ANCHOR: recv\ndef recv(sock):\n    #ANCHOR: body\n    \
         return sock.recv(16)\n    # ANCHOR_END: body\n# ANCHOR_END: recv\n",
    ),
    (
        "src/crlf.rs",
        "// ANCHOR: a\r\nfn a() {}\r\n// ANCHOR_END: a\r\nfn main() {}\r\n",
    ),
    (
        "src/forms.md",
        "# Forms {{#title Every form}}\n\n\
         ```rust\n{{#include code.rs:outer}}\n```\n\n\
         ```rust\n{{#rustdoc_include code.rs:inner}}\n```\n\n\
         {{#rustdoc_include code.rs:outer}}\n{{#rustdoc_include code.rs}}\n{{#include code.rs}}\n\
         {{#include code.rs:2:4}} {{#include code.rs:3}} {{#include code.rs:5:}}\n\
         {{#include code.rs::2}} {{#rustdoc_include code.rs:2:3}} {{#include code.rs:0:1}}\n\
         {{#include code.rs:open}}\n{{#include code.rs:misspelled}}\n{{#include missing.rs}}\n\
         \\{{#include code.rs}} escapes up to the last }} on its line {{#include code.rs:inner}}\n\
         {{ #include   code.rs:inner }} {{#include code.rs:inner extra}}\n\
         {{#unknown thing}} {{x}} {{#include}} {{#include code.rs}\n\
         {{#include crlf.rs}}\n{{#rustdoc_include crlf.rs:a}}\n\n\
         ```python\n{{#include code.py:recv}}\n```\n\n\
         ```python\n{{#include code.py:body}}\n{{#include code.py}}\n```\n\n\
         - A list item:\n\n  ```rust\n  {{#include code.rs:outer}}\n  ```\n",
    ),
    (
        "src/sub/README.md",
        "{{#include part.txt}}\n{{#include ../code.rs:inner}}\n{{#include self.txt}}\n",
    ),
    (
        "src/sub/part.txt",
        "part [{{#include leaf.txt}}] {{#include ../code.rs:inner}}\n",
    ),
    ("src/sub/leaf.txt", "leaf\n"),
    ("src/sub/self.txt", "again {{#include self.txt}}"),
];

/// What [`compare`] looked at.
struct Compared {
    chapters: usize,
    directives: usize,
}

/// Renders the book at `root` with mdBook into `dest` and compares each
/// chapter with include.rs's expansion of it; fails on any difference.
fn compare(root: &Path, dest: &Path) -> Compared {
    let src = root.join("src");
    render_markdown(root, dest);

    let mut by_output = BTreeMap::new();
    for chapter in include::chapters(&src).expect("list the chapters in src/") {
        if let Some(other) = by_output.insert(output_name(&chapter), chapter.clone()) {
            panic!(
                "src/{} and src/{} both become {} in mdBook's output",
                other.display(),
                chapter.display(),
                output_name(&chapter).display()
            );
        }
    }

    let mut differences = Vec::new();
    let mut compared = Compared {
        chapters: 0,
        directives: 0,
    };
    for output in markdown_files(dest, Path::new("")) {
        let Some(chapter) = by_output.remove(&output) else {
            differences.push(format!(
                "mdBook rendered {}, which include::chapters() does not list \
                 (so build.rs does not expand it for skeptic)",
                output.display()
            ));
            continue;
        };
        let path = src.join(&chapter);
        let markdown = fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        // mdBook's book loader, not its include expansion, drops a byte
        // order mark at the start of a chapter.
        let markdown = markdown.strip_prefix('\u{feff}').unwrap_or(&markdown);
        let ours = include::expand(markdown, path.parent().expect("in a directory"));
        let theirs = fs::read_to_string(dest.join(&output))
            .unwrap_or_else(|e| panic!("cannot read mdBook's {}: {e}", output.display()));
        if let Some(difference) = first_difference(&theirs, &ours) {
            differences.push(format!("src/{}: {difference}", chapter.display()));
        }
        compared.chapters += 1;
        compared.directives += include::directives(markdown).len();
    }
    // A file missing from SUMMARY.md is no chapter (it may be a part that a
    // chapter includes): mdBook renders it only inside the chapter.
    for chapter in by_output.values() {
        eprintln!(
            "note: src/{} is not in SUMMARY.md; not compared on its own",
            chapter.display()
        );
    }

    assert!(
        differences.is_empty(),
        "include.rs and mdbook {MDBOOK_VERSION} expand {} chapter(s) of {} differently; \
         change tests/support/include.rs to do what mdBook does:\n\n{}",
        differences.len(),
        root.display(),
        differences.join("\n\n")
    );
    assert!(
        compared.chapters > 0,
        "mdBook rendered no chapter into {}",
        dest.display()
    );
    compared
}

/// Fails unless `mdbook --version` is the version `include.rs` copies.
fn check_mdbook_version() {
    let output = Command::new("mdbook").arg("--version").output();
    let version = match output {
        Ok(output) if output.status.success() => {
            String::from_utf8_lossy(&output.stdout).into_owned()
        }
        Ok(output) => panic!("`mdbook --version` failed: {output:?}"),
        Err(e) => panic!(
            "cannot run mdbook ({e}): this test needs mdbook {MDBOOK_VERSION} on PATH; \
             install it with `cargo install --locked mdbook --version {MDBOOK_VERSION}` \
             (./ci.sh does)"
        ),
    };
    assert_eq!(
        version.trim(),
        format!("mdbook v{MDBOOK_VERSION}"),
        "this test checks include.rs against mdbook {MDBOOK_VERSION}; after upgrading \
         mdbook, bring include.rs and MDBOOK_VERSION here and in ci.sh up to date"
    );
}

/// Builds the book with mdBook's markdown renderer only, which writes each
/// chapter as the preprocessors (includes among them) left it, into
/// `dest`. The overrides come through the environment, so book.toml and
/// the html build in `book/` are left alone. The preprocessors stay the
/// book's: mdBook's `links`, whose rules include.rs copies (includes,
/// `{{#title}}`, escapes), and `index`, which only renames (see
/// [`output_name`]); one added later that changes text would show here too.
fn render_markdown(root: &Path, dest: &Path) {
    let mut build = Command::new("mdbook");
    // Settings of the caller's that would change this build.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("MDBOOK_") {
            build.env_remove(key);
        }
    }
    // Replaces the whole `output` table: one renderer, so its output goes
    // straight into `--dest-dir`.
    build.env("MDBOOK_OUTPUT", r#"{"markdown": {}}"#);
    let output = build
        .arg("build")
        .arg(root)
        .arg("--dest-dir")
        .arg(dest)
        .output()
        .expect("mdbook runs");
    assert!(
        output.status.success(),
        "mdbook build with the markdown renderer failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Every `.md` under `dir`, as `relative` joined with its path below `dir`.
fn markdown_files(dir: &Path, relative: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let entry = entry.expect("a directory entry");
        let name = relative.join(entry.file_name());
        if entry.path().is_dir() {
            found.extend(markdown_files(&entry.path(), &name));
        } else if name.extension().is_some_and(|ext| ext == "md") {
            found.push(name);
        }
    }
    found.sort();
    found
}

/// Where mdBook writes `chapter`: its index preprocessor renames a
/// `README.md` (any case) to `index.md`. Not an include rule, so not
/// include.rs's business.
fn output_name(chapter: &Path) -> PathBuf {
    let is_readme = chapter
        .file_stem()
        .is_some_and(|stem| stem.eq_ignore_ascii_case("readme"));
    if is_readme {
        chapter.with_file_name("index.md")
    } else {
        chapter.to_path_buf()
    }
}

/// Where `ours` first departs from `theirs`, mdBook's text, with the lines
/// around it; `None` when they are the same. Lines are split on `\n` alone
/// and printed quoted, so a missing final newline or a stray `\r` shows.
fn first_difference(theirs: &str, ours: &include::Expanded) -> Option<String> {
    if theirs == ours.text {
        return None;
    }
    let theirs: Vec<&str> = theirs.split('\n').collect();
    let mine: Vec<&str> = ours.text.split('\n').collect();
    let at = (0..)
        .find(|&i| theirs.get(i) != mine.get(i))
        .expect("different texts differ somewhere");
    let origin = ours.origins.get(at).copied().unwrap_or(0);
    let show = |lines: &[&str]| {
        let mut shown: Vec<String> = (at.saturating_sub(2)..(at + 3).min(lines.len()))
            .map(|i| {
                let mark = if i == at { '>' } else { ' ' };
                format!("  {mark} {:>4} {:?}", i + 1, lines[i])
            })
            .collect();
        if at >= lines.len() {
            shown.push("  >      (end of text)".to_owned());
        }
        shown.join("\n")
    };
    Some(format!(
        "expanded line {} (from chapter line {origin}) differs\n\
         mdBook:\n{}\ninclude.rs:\n{}",
        at + 1,
        show(&theirs),
        show(&mine)
    ))
}
