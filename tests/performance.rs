//! The chapter "How fast is it?": the bench runs and reports in the shape
//! the book relies on. Its figures
//! are not checked: tests never assert a timing.

use book_tests::{bin, run};

#[test]
fn a_tiny_bench_run_prints_every_table_and_the_summary_line() {
    let markdown = std::env::temp_dir().join(format!("bench-{}.md", std::process::id()));
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
    assert_eq!(names, ["bulk/raw", "step6/floor", "step6/python"]);
    for (name, value) in ratios {
        assert!(value.is_finite() && value > 0.0, "{name}={value}");
    }

    for heading in [
        "**Bulk transfer",
        "**Exchanges per second",
        "**Receiving a message",
    ] {
        assert!(
            done.stdout.contains(heading),
            "no {heading} table: {}",
            done.stdout
        );
    }
    for server in ["floor", "step5", "step6", "python"] {
        assert!(
            done.stdout
                .lines()
                .any(|l| l.starts_with(&format!("| {server} | "))),
            "no row for {server}: {}",
            done.stdout
        );
    }
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
}

#[test]
fn bad_bench_arguments_are_usage_errors() {
    for args in [&["--quick", "--tiny"][..], &["--markdown"], &["--fast"]] {
        let done = run(bin("bench"), args);
        assert!(done.one_line_error(2).starts_with("error: "), "{args:?}");
    }
}
