//! mdBook's `{{#include}}` and `{{#rustdoc_include}}` directives, read and
//! expanded the way mdBook 0.5 does it.
//!
//! Two users share this file: `build.rs` (through `#[path]`) expands the
//! chapters so that skeptic sees the code mdBook shows, and
//! `tests/anchors.rs` checks that every directive points at something. One
//! implementation keeps the two from disagreeing about what a directive says.
//!
//! mdBook renders a misspelled anchor as an empty block without a word of
//! warning, so [`expand`] returns the text mdBook would produce *and* a list
//! of [`Problem`]s that mdBook keeps quiet about.

use std::fs;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// mdBook gives up after this many levels of includes within includes; so do
/// we, so that a cycle cannot recurse forever.
const MAX_DEPTH: usize = 10;

/// The two directives that copy code into a chapter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `{{#include}}`: only the selected lines.
    Include,
    /// `{{#rustdoc_include}}`: the whole file, lines outside the selection
    /// hidden behind `# ` so that the block still compiles.
    RustdocInclude,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Include => "include",
            Kind::RustdocInclude => "rustdoc_include",
        }
    }
}

/// Which part of the file a directive asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// No `:` after the path.
    Whole,
    /// `path:name`.
    Anchor(String),
    /// `path:start:end`, with mdBook's 1-based inclusive numbers turned into
    /// a 0-based half-open range; either end may be open.
    Lines {
        start: Option<usize>,
        end: Option<usize>,
    },
}

/// One `{{#include ...}}` or `{{#rustdoc_include ...}}` in a markdown text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Directive<'a> {
    pub kind: Kind,
    /// The path as written, relative to the directory of the file it is in.
    pub path: &'a str,
    pub selection: Selection,
    /// Where the whole `{{#...}}` text is, in bytes.
    pub span: Range<usize>,
}

/// Everything mdBook's link scanner reacts to.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Link<'a> {
    Code(Directive<'a>),
    /// `\{{#...}}`: shown as written, without the backslash.
    Escaped(Range<usize>),
    /// `{{#title ...}}`: sets the page title and renders as nothing.
    Title(Range<usize>),
    /// `{{#playground}}` and `{{#playpen}}`: mdBook supports them, this book's
    /// tooling does not, so they are reported instead of half-imitated.
    Unsupported(Range<usize>),
}

/// Something a directive gets wrong that mdBook would not report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line of the directive in the markdown text given to [`expand`];
    /// for a directive inside an included file, the line of the outer one.
    pub line: usize,
    /// The directive as written.
    pub directive: String,
    pub message: String,
}

/// A markdown text with its directives replaced.
#[derive(Debug, Default)]
pub struct Expanded {
    pub text: String,
    /// For each line of `text`, the 1-based line of the original it comes
    /// from; every line that a directive produced maps to the directive's.
    pub origins: Vec<usize>,
    pub problems: Vec<Problem>,
    /// Every file a directive read, so a build script can watch them.
    pub files: Vec<PathBuf>,
}

/// Every chapter: each `.md` under `src`, relative to it, sorted so that
/// what is generated from them does not depend on directory order.
/// `SUMMARY.md` is the table of contents, where mdBook expands nothing.
pub fn chapters(src: &Path) -> io::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![src.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "md") {
                let relative = path.strip_prefix(src).expect("under src").to_path_buf();
                if relative != Path::new("SUMMARY.md") {
                    found.push(relative);
                }
            }
        }
    }
    found.sort();
    Ok(found)
}

/// All include directives in `markdown`, in order; escaped ones (`\{{#...`)
/// are skipped, as mdBook skips them.
pub fn directives(markdown: &str) -> Vec<Directive<'_>> {
    links(markdown)
        .into_iter()
        .filter_map(|link| match link {
            Link::Code(directive) => Some(directive),
            _ => None,
        })
        .collect()
}

/// The 1-based line that byte `offset` of `text` is on.
pub fn line_of(text: &str, offset: usize) -> usize {
    1 + text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

/// Replaces every directive in `markdown` with what mdBook puts in its place.
/// Relative paths start at `base`, the directory holding the markdown file.
pub fn expand(markdown: &str, base: &Path) -> Expanded {
    let mut expanded = Expanded {
        origins: vec![1],
        ..Expanded::default()
    };
    let mut copied = 0;
    for link in links(markdown) {
        let span = link.span();
        push_original(&mut expanded, markdown, copied..span.start);
        let line = line_of(markdown, span.start);
        let mut problems = Vec::new();
        let replacement = render(&link, markdown, base, 0, &mut problems, &mut expanded.files);
        expanded
            .problems
            .extend(problems.into_iter().map(|(directive, message)| Problem {
                line,
                directive,
                message,
            }));
        match replacement {
            Some(text) => {
                expanded.text.push_str(&text);
                let lines = text.matches('\n').count();
                expanded.origins.extend(std::iter::repeat_n(line, lines));
                copied = span.end;
            }
            // Like mdBook: a directive that cannot be rendered stays as
            // written, so the damage is visible on the page.
            None => copied = span.start,
        }
    }
    push_original(&mut expanded, markdown, copied..markdown.len());
    expanded
}

/// Copies a stretch of the original text, keeping track of its line numbers.
fn push_original(expanded: &mut Expanded, markdown: &str, range: Range<usize>) {
    let mut line = line_of(markdown, range.start);
    for ch in markdown[range.clone()].chars() {
        if ch == '\n' {
            line += 1;
            expanded.origins.push(line);
        }
    }
    expanded.text.push_str(&markdown[range]);
}

/// What one link renders to, or `None` where mdBook leaves it as written.
/// Problems are collected as (directive, message) pairs.
fn render(
    link: &Link<'_>,
    markdown: &str,
    base: &Path,
    depth: usize,
    problems: &mut Vec<(String, String)>,
    files: &mut Vec<PathBuf>,
) -> Option<String> {
    let written = &markdown[link.span()];
    let directive = match link {
        Link::Escaped(span) => return Some(markdown[span.start + 1..span.end].to_owned()),
        Link::Title(_) => return Some(String::new()),
        Link::Unsupported(_) => {
            problems.push((
                written.to_owned(),
                "not supported here: show listings with rustdoc_include or include".to_owned(),
            ));
            return None;
        }
        Link::Code(directive) => directive,
    };
    let target = base.join(directive.path);
    let source = match fs::read_to_string(&target) {
        Ok(source) => source,
        Err(error) => {
            problems.push((
                written.to_owned(),
                format!("cannot read {}: {error}", target.display()),
            ));
            return None;
        }
    };
    files.push(target.clone());
    if depth >= MAX_DEPTH {
        // mdBook renders the innermost level as nothing.
        problems.push((
            written.to_owned(),
            format!("includes nested more than {MAX_DEPTH} deep (a cycle?)"),
        ));
        return Some(String::new());
    }
    let text = match &directive.selection {
        Selection::Whole => match directive.kind {
            Kind::Include => lines(&source, None, None),
            Kind::RustdocInclude => rustdoc_lines(&source, None, None),
        },
        Selection::Lines { start, end } => {
            problems.push((
                written.to_owned(),
                "includes by line number break silently when the file changes: \
                 mark the lines with `// ANCHOR: name` and `// ANCHOR_END: name`"
                    .to_owned(),
            ));
            match directive.kind {
                Kind::Include => lines(&source, *start, *end),
                Kind::RustdocInclude => rustdoc_lines(&source, *start, *end),
            }
        }
        Selection::Anchor(anchor) => {
            if let Err(message) = check_anchor(&source, anchor) {
                problems.push((
                    written.to_owned(),
                    format!("{message} in {}", target.display()),
                ));
            }
            match directive.kind {
                Kind::Include => anchored(&source, anchor),
                Kind::RustdocInclude => rustdoc_anchored(&source, anchor),
            }
        }
    };
    // An included file may itself contain directives, relative to itself.
    let inner_base = target.parent().unwrap_or(base).to_path_buf();
    let mut out = String::new();
    let mut copied = 0;
    for inner in links(&text) {
        let span = inner.span();
        out.push_str(&text[copied..span.start]);
        match render(&inner, &text, &inner_base, depth + 1, problems, files) {
            Some(rendered) => {
                out.push_str(&rendered);
                copied = span.end;
            }
            None => copied = span.start,
        }
    }
    out.push_str(&text[copied..]);
    Some(out)
}

/// Whether `source` has an `ANCHOR: name` with an `ANCHOR_END: name` after
/// it: without the start mdBook shows nothing, without the end it shows the
/// rest of the file.
pub fn check_anchor(source: &str, name: &str) -> Result<(), String> {
    let mut lines = source.lines();
    if !lines.any(|line| marker(line, START) == Some(name)) {
        return Err(format!("no `ANCHOR: {name}`"));
    }
    if !lines.any(|line| marker(line, END) == Some(name)) {
        return Err(format!("no `ANCHOR_END: {name}` after `ANCHOR: {name}`"));
    }
    Ok(())
}

const START: &str = "ANCHOR:";
const END: &str = "ANCHOR_END:";

/// The anchor name after the first `ANCHOR:` (or `ANCHOR_END:`) in `line`
/// that is followed by one: optional whitespace, then word characters and
/// dashes (mdBook's `ANCHOR:\s*([\w_-]+)`).
fn marker<'a>(line: &'a str, keyword: &str) -> Option<&'a str> {
    line.match_indices(keyword).find_map(|(at, _)| {
        let rest = line[at + keyword.len()..].trim_start();
        let len = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(rest.len());
        (len > 0).then(|| &rest[..len])
    })
}

fn is_marker(line: &str) -> bool {
    marker(line, START).is_some() || marker(line, END).is_some()
}

/// `{{#include path:name}}`: the lines between the first `ANCHOR: name` and
/// the next `ANCHOR_END: name`, without any line that holds a marker, so
/// anchors nested inside do not show.
pub fn anchored(source: &str, name: &str) -> String {
    let mut kept = Vec::new();
    let mut inside = false;
    for line in source.lines() {
        if !inside {
            inside = marker(line, START) == Some(name);
        } else if let Some(end) = marker(line, END) {
            if end == name {
                break;
            }
        } else if marker(line, START).is_none() {
            kept.push(line);
        }
    }
    kept.join("\n")
}

/// `{{#rustdoc_include path:name}}`: every line of the file, those outside
/// the anchor behind `# ` so that readers do not see them and the compiler
/// does. Marker lines are dropped everywhere.
pub fn rustdoc_anchored(source: &str, name: &str) -> String {
    let mut kept = Vec::new();
    let mut inside = false;
    for line in source.lines() {
        if inside {
            if marker(line, END) == Some(name) {
                inside = false;
            } else if !is_marker(line) {
                kept.push(line.to_owned());
            }
        } else if let Some(start) = marker(line, START) {
            inside = start == name;
        } else if marker(line, END).is_none() {
            kept.push(format!("# {line}"));
        }
    }
    kept.join("\n")
}

/// `{{#include path}}` or `path:start:end`: the lines in the 0-based
/// half-open range, markers and all.
fn lines(source: &str, start: Option<usize>, end: Option<usize>) -> String {
    let start = start.unwrap_or(0);
    let end = end.unwrap_or(usize::MAX);
    source
        .lines()
        .enumerate()
        .filter(|(index, _)| (start..end).contains(index))
        .map(|(_, line)| line)
        .collect::<Vec<_>>()
        .join("\n")
}

/// `{{#rustdoc_include path}}` or `path:start:end`: every line, those outside
/// the range hidden.
fn rustdoc_lines(source: &str, start: Option<usize>, end: Option<usize>) -> String {
    let range = start.unwrap_or(0)..end.unwrap_or(usize::MAX);
    source
        .lines()
        .enumerate()
        .map(|(index, line)| {
            if range.contains(&index) {
                line.to_owned()
            } else {
                format!("# {line}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl Link<'_> {
    fn span(&self) -> Range<usize> {
        match self {
            Link::Code(directive) => directive.span.clone(),
            Link::Escaped(span) | Link::Title(span) | Link::Unsupported(span) => span.clone(),
        }
    }
}

/// Scans `text` the way mdBook's link regex does:
/// `\\\{\{\#.*\}\}` (escaped) or `\{\{\s*\#(\w+)\s+([^}]+)\}\}`, leftmost
/// first, matches never overlapping.
fn links(text: &str) -> Vec<Link<'_>> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(offset) = text[from..].find("{{") {
        let open = from + offset;
        // A backslash that an earlier match used up escapes nothing.
        if open > from
            && text.as_bytes()[open - 1] == b'\\'
            && let Some(end) = escaped_end(text, open)
        {
            found.push(Link::Escaped(open - 1..end));
            from = end;
            continue;
        }
        match directive_at(text, open) {
            Some((link, end)) => {
                if let Some(link) = link {
                    found.push(link);
                }
                from = end;
            }
            None => from = open + 1,
        }
    }
    found
}

/// The end of `\{{#...}}` whose `{{` is at `open`: the last `}}` on the line,
/// as the greedy `.*` in mdBook's pattern finds it.
fn escaped_end(text: &str, open: usize) -> Option<usize> {
    let rest = &text[open + 2..];
    if !rest.starts_with('#') {
        return None;
    }
    let line = &rest[1..rest.find('\n').unwrap_or(rest.len())];
    line.rfind("}}").map(|at| open + 3 + at + 2)
}

/// Reads a `{{#kind rest}}` starting at `open`. `None` when there is no such
/// text there; `Some((None, end))` when there is one that mdBook ignores (an
/// unknown kind, say), which still consumes the text up to `end`.
fn directive_at(text: &str, open: usize) -> Option<(Option<Link<'_>>, usize)> {
    let after_open = &text[open + 2..];
    let after_space = after_open.trim_start();
    let kind_and_rest = after_space.strip_prefix('#')?;
    let kind_len = kind_and_rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(kind_and_rest.len());
    let kind = &kind_and_rest[..kind_len];
    let after_kind = &kind_and_rest[kind_len..];
    let rest_with_space = after_kind.trim_start();
    if kind.is_empty() || rest_with_space.len() == after_kind.len() {
        return None;
    }
    let rest_start = text.len() - rest_with_space.len();
    let close = rest_with_space.find('}')?;
    if close == 0 || !rest_with_space[close..].starts_with("}}") {
        return None;
    }
    let end = rest_start + close + 2;
    let span = open..end;
    let rest = &text[rest_start..rest_start + close];
    let link = match (kind, rest.split_whitespace().next()) {
        ("title", _) => Some(Link::Title(span)),
        ("include", Some(target)) => Some(parse_target(Kind::Include, target, span)),
        ("rustdoc_include", Some(target)) => Some(parse_target(Kind::RustdocInclude, target, span)),
        ("playground" | "playpen", Some(_)) => Some(Link::Unsupported(span)),
        _ => None,
    };
    Some((link, end))
}

/// Splits `path:anchor` or `path:start:end` as mdBook does: a first part that
/// is a number makes a line range, anything else an anchor name.
fn parse_target(kind: Kind, target: &str, span: Range<usize>) -> Link<'_> {
    let (path, selector) = target.split_once(':').unwrap_or((target, ""));
    let mut parts = selector.splitn(3, ':');
    let first = parts.next().unwrap_or("");
    let selection = if let Ok(start) = first.parse::<usize>() {
        // mdBook counts lines from 1; `path:5` alone means just line 5, and
        // an end that is not a number leaves the range open.
        let start = start.saturating_sub(1);
        let end = match parts.next() {
            None => Some(start + 1),
            Some(end) => end.parse().ok(),
        };
        Selection::Lines {
            start: Some(start),
            end,
        }
    } else if first.is_empty() {
        match parts.next().map(str::parse::<usize>) {
            Some(Ok(end)) => Selection::Lines {
                start: None,
                end: Some(end),
            },
            _ => Selection::Whole,
        }
    } else {
        Selection::Anchor(first.to_owned())
    };
    Link::Code(Directive {
        kind,
        path,
        selection,
        span,
    })
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: {}", self.line, self.directive, self.message)
    }
}

impl std::fmt::Display for Directive<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{{{{#{} {}", self.kind.name(), self.path)?;
        match &self.selection {
            Selection::Whole => {}
            Selection::Anchor(name) => write!(f, ":{name}")?,
            Selection::Lines { start, end } => {
                write!(f, ":")?;
                if let Some(start) = start {
                    write!(f, "{}", start + 1)?;
                }
                write!(f, ":")?;
                if let Some(end) = end {
                    write!(f, "{end}")?;
                }
            }
        }
        write!(f, "}}}}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NESTED: &str = "\
use std::io;
// ANCHOR: outer
fn outer() {
    // ANCHOR: inner
    inner();
    // ANCHOR_END: inner
}
// ANCHOR_END: outer
fn main() {}";

    #[test]
    fn include_keeps_only_the_anchor_without_any_marker_line() {
        assert_eq!(anchored(NESTED, "outer"), "fn outer() {\n    inner();\n}");
        assert_eq!(anchored(NESTED, "inner"), "    inner();");
    }

    #[test]
    fn rustdoc_include_hides_what_is_outside_the_anchor() {
        assert_eq!(
            rustdoc_anchored(NESTED, "inner"),
            "# use std::io;\n# fn outer() {\n    inner();\n# }\n# fn main() {}"
        );
        assert_eq!(
            rustdoc_anchored(NESTED, "outer"),
            "# use std::io;\nfn outer() {\n    inner();\n}\n# fn main() {}"
        );
    }

    #[test]
    fn no_anchor_means_the_whole_file_markers_included() {
        assert_eq!(lines(NESTED, None, None), NESTED);
        assert_eq!(rustdoc_lines(NESTED, None, None), NESTED);
    }

    #[test]
    fn line_ranges_count_from_one_and_include_the_end() {
        let source = "a\nb\nc\nd";
        let range = |target: &str| match parse_target(Kind::Include, target, 0..0) {
            Link::Code(Directive {
                selection: Selection::Lines { start, end },
                ..
            }) => lines(source, start, end),
            other => panic!("not a line range: {other:?}"),
        };
        assert_eq!(range("f:2:3"), "b\nc");
        assert_eq!(range("f:2"), "b");
        assert_eq!(range("f:3:"), "c\nd");
        assert_eq!(range("f::2"), "a\nb");
        assert_eq!(rustdoc_lines(source, Some(1), Some(3)), "# a\nb\nc\n# d");
    }

    #[test]
    fn missing_anchor_is_an_error() {
        assert_eq!(check_anchor(NESTED, "outer"), Ok(()));
        assert_eq!(check_anchor(NESTED, "inner"), Ok(()));
        assert_eq!(
            check_anchor(NESTED, "outr"),
            Err("no `ANCHOR: outr`".to_owned())
        );
        let unterminated = "// ANCHOR: open\nx\n// ANCHOR_END: other";
        assert_eq!(
            check_anchor(unterminated, "open"),
            Err("no `ANCHOR_END: open` after `ANCHOR: open`".to_owned())
        );
        // An end before the start does not close it.
        let backwards = "// ANCHOR_END: a\n// ANCHOR: a\n";
        assert!(check_anchor(backwards, "a").is_err());
        // `ANCHOR_END: x` is not `ANCHOR: x`, and a longer name is another anchor.
        assert!(check_anchor("// ANCHOR_END: x\n", "x").is_err());
        assert!(check_anchor("// ANCHOR: xy\n// ANCHOR_END: xy\n", "x").is_err());
    }

    #[test]
    fn markers_need_no_space_and_end_at_a_non_word_character() {
        assert_eq!(marker("//ANCHOR:name", START), Some("name"));
        assert_eq!(marker("<!-- ANCHOR: a-b_c -->", START), Some("a-b_c"));
        assert_eq!(marker("# ANCHOR: recvall", START), Some("recvall"));
        assert_eq!(marker("    # ANCHOR_END: recvall", END), Some("recvall"));
        assert_eq!(marker("// ANCHOR_END: a", START), None);
        assert_eq!(marker("// ANCHOR: ", START), None);
    }

    #[test]
    fn finds_directives_and_skips_escaped_ones() {
        let markdown = "x {{#include a.rs:one}}\n\\{{#include b.rs}}\n\
                        {{ #rustdoc_include  ../c.rs }} {{#title T}} {{#unknown z}} {{x}}";
        let found = directives(markdown);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].kind, Kind::Include);
        assert_eq!(found[0].path, "a.rs");
        assert_eq!(found[0].selection, Selection::Anchor("one".to_owned()));
        assert_eq!(&markdown[found[0].span.clone()], "{{#include a.rs:one}}");
        assert_eq!(found[1].kind, Kind::RustdocInclude);
        assert_eq!(found[1].path, "../c.rs");
        assert_eq!(found[1].selection, Selection::Whole);
        assert_eq!(found[1].to_string(), "{{#rustdoc_include ../c.rs}}");
    }

    fn scratch(name: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("book-include-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        for (path, text) in files {
            let path = dir.join(path);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, text).unwrap();
        }
        dir
    }

    #[test]
    fn expand_replaces_directives_and_maps_lines_back() {
        let dir = scratch("expand", &[("code/a.rs", NESTED)]);
        let markdown = "# Title\n\n```rust\n{{#rustdoc_include code/a.rs:inner}}\n```\n\
                        \\{{#include kept.rs}}\nend\n";
        let expanded = expand(markdown, &dir);
        assert_eq!(expanded.problems, []);
        assert_eq!(
            expanded.text,
            format!(
                "# Title\n\n```rust\n{}\n```\n{{{{#include kept.rs}}}}\nend\n",
                rustdoc_anchored(NESTED, "inner")
            )
        );
        assert_eq!(expanded.files, [dir.join("code/a.rs")]);
        // Five lines came from line 4; the ones after it shift back.
        assert_eq!(expanded.origins, [1, 2, 3, 4, 4, 4, 4, 4, 5, 6, 7, 8]);
        assert_eq!(expanded.origins.len(), expanded.text.lines().count() + 1);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn expand_reports_what_mdbook_keeps_quiet_about() {
        let dir = scratch("problems", &[("a.rs", NESTED)]);
        let markdown = "{{#include a.rs:outer}}\n{{#include a.rs:nope}}\n\
                        {{#include missing.rs}}\n{{#include a.rs:2:3}}\n{{#playground a.rs}}\n";
        let expanded = expand(markdown, &dir);
        let lines: Vec<_> = expanded.problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [2, 3, 4, 5], "{:#?}", expanded.problems);
        assert!(
            expanded.problems[0]
                .message
                .starts_with("no `ANCHOR: nope`")
        );
        assert!(expanded.problems[1].message.starts_with("cannot read"));
        assert!(expanded.problems[2].message.contains("line number"));
        // mdBook leaves an unreadable include as written, and renders a
        // missing anchor as nothing.
        assert!(expanded.text.contains("{{#include missing.rs}}"));
        assert!(
            expanded
                .text
                .starts_with("fn outer() {\n    inner();\n}\n\n")
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn includes_inside_included_files_are_expanded_relative_to_them() {
        let dir = scratch(
            "nested",
            &[
                ("a/outer.md", "[{{#include inner.txt}}]"),
                ("a/inner.txt", "x"),
            ],
        );
        let expanded = expand("{{#include a/outer.md}}", &dir);
        assert_eq!(expanded.problems, []);
        assert_eq!(expanded.text, "[x]");
        let cycle = scratch("cycle", &[("self.md", "{{#include self.md}}")]);
        let expanded = expand("{{#include self.md}}", &cycle);
        assert!(!expanded.problems.is_empty());
        fs::remove_dir_all(dir).unwrap();
        fs::remove_dir_all(cycle).unwrap();
    }
}
