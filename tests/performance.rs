//! The chapter "How fast is it?": the bench runs and reports in the shape
//! the book relies on, tables, summary line and charts. Its figures are not
//! checked: tests never assert a timing.

use std::path::{Path, PathBuf};

use book_tests::{bin, run};

/// The servers of the exchanges-per-second table, in its order.
const RATE_SERVERS: [&str; 6] = ["floor", "step5", "step6", "step7", "step8", "python"];

/// The designs of the idle-connections table.
const IDLE_DESIGNS: [&str; 3] = ["step6", "step7", "step8"];

/// A directory of this test's own, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_tiny_bench_run_prints_every_table_and_the_summary_line() {
    let markdown = std::env::temp_dir().join(format!("bench-{}.md", std::process::id()));
    let charts = TempDir::new("bench-charts");
    let bench = bin("bench");
    // Without CARGO in its environment the bench does not try to rebuild the
    // servers it measures: bin() has built them already.
    let done = run(
        "env",
        [
            "-u",
            "CARGO",
            bench.to_str().unwrap(),
            "--tiny",
            "--markdown",
            markdown.to_str().unwrap(),
            "--chart",
            charts.0.to_str().unwrap(),
        ],
    );
    assert_eq!(done.code(), Some(0), "{done:#?}");

    let last = done.stdout.lines().last().unwrap_or("");
    let ratios: Vec<(&str, f64)> = last
        .strip_prefix("summary: ")
        .unwrap_or_else(|| panic!("last line is not the summary: {last:?}"))
        .split(' ')
        .map(|pair| {
            let (name, value) = pair.split_once('=').expect("name=value");
            (name, value.parse().expect("a number"))
        })
        .collect();
    let names: Vec<&str> = ratios.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        names,
        [
            "bulk/raw",
            "step6/floor",
            "step6/python",
            "step7/floor@8",
            "step8/floor@8"
        ]
    );
    for (name, value) in ratios {
        assert!(value.is_finite() && value > 0.0, "{name}={value}");
    }

    let rates = table(&done.stdout, "**Exchanges per second");
    for clients in ["| 1 client |", "| 8 clients |", "| 64 clients |"] {
        assert!(rates.contains(clients), "no column {clients}: {rates}");
    }
    for server in RATE_SERVERS {
        assert!(has_row(rates, server), "no rate row for {server}: {rates}");
    }
    let idle = table(&done.stdout, "**Idle connections");
    for design in IDLE_DESIGNS {
        assert!(has_row(idle, design), "no idle row for {design}: {idle}");
    }
    for heading in ["**Bulk transfer", "**Receiving a message"] {
        table(&done.stdout, heading);
    }
    assert!(
        done.stdout
            .lines()
            .next()
            .unwrap_or("")
            .contains("open files: "),
        "the header says the limit on open files: {}",
        done.stdout
    );

    let written = std::fs::read_to_string(&markdown).expect("--markdown wrote a file");
    let _ = std::fs::remove_file(&markdown);
    assert!(
        done.stdout.starts_with(&written),
        "the file holds the printed tables"
    );
    assert!(
        done.stderr.contains("bench: "),
        "progress goes to stderr: {}",
        done.stderr
    );

    let mut drawn: Vec<String> = std::fs::read_dir(&charts.0)
        .expect("--chart made the directory")
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    drawn.sort();
    assert_eq!(drawn, ["bench-memory.svg", "bench-rates.svg"]);
    svg_naming(&charts.0.join("bench-rates.svg"), &RATE_SERVERS);
    svg_naming(&charts.0.join("bench-memory.svg"), &IDLE_DESIGNS);
}

/// The table under the heading that starts with `heading`, up to the next
/// heading; fails if there is none.
fn table<'a>(stdout: &'a str, heading: &str) -> &'a str {
    let start = stdout
        .find(heading)
        .unwrap_or_else(|| panic!("no {heading} table: {stdout}"));
    let rest = &stdout[start + heading.len()..];
    &rest[..rest.find("\n**").unwrap_or(rest.len())]
}

fn has_row(table: &str, name: &str) -> bool {
    table
        .lines()
        .any(|line| line.starts_with(&format!("| {name} | ")))
}

/// Checks that `path` holds an SVG document that names each of `names`.
fn svg_naming(path: &Path, names: &[&str]) {
    let svg = std::fs::read_to_string(path).expect("the chart is written");
    let start = svg.trim_start();
    assert!(
        (start.starts_with("<svg") || start.starts_with("<?xml")) && svg.contains("</svg>"),
        "{} is not an SVG document: {svg}",
        path.display()
    );
    for name in names {
        assert!(
            svg.contains(&format!(">{name}<")) || svg.contains(&format!(">\n{name}\n<")),
            "{} does not name {name}",
            path.display()
        );
    }
}

#[test]
fn bad_bench_arguments_are_usage_errors() {
    for args in [
        &["--quick", "--tiny"][..],
        &["--markdown"],
        &["--chart"],
        &["--fast"],
    ] {
        let done = run(bin("bench"), args);
        assert!(done.one_line_error(2).starts_with("error: "), "{args:?}");
    }
}

#[test]
fn a_chart_directory_that_cannot_be_made_fails_before_measuring() {
    // A regular file where a directory would have to be made.
    let file = std::env::temp_dir().join(format!("bench-not-a-dir-{}", std::process::id()));
    std::fs::write(&file, "").unwrap();
    let chart = file.join("charts");
    let done = run(bin("bench"), ["--tiny", "--chart", chart.to_str().unwrap()]);
    let _ = std::fs::remove_file(&file);
    let error = done.one_line_error(1);
    assert!(
        error.starts_with("error: --chart ") && error.contains("charts"),
        "{error}"
    );
}
