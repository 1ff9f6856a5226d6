//! The exercises as a whole: every chapter from step 1 on ends with
//! exercises, and every exercise is complete (a skeleton with work left in
//! it, a solution, both shown in its chapter, and a check), so that no
//! exercise can be added, or lost, by half.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;

use book_tests::repo;

/// The chapters that must end with exercises: those of SUMMARY.md from
/// step 1 up to the appendix, in the book's order.
fn chapters_with_exercises() -> Vec<String> {
    let summary = fs::read_to_string(repo().join("src/SUMMARY.md")).expect("read src/SUMMARY.md");
    let mut chapters = Vec::new();
    for line in summary.lines() {
        if line.trim() == "# Appendix" {
            break;
        }
        let Some(file) = line
            .trim_start()
            .strip_prefix("- [")
            .and_then(|rest| rest.split_once("]("))
            .and_then(|(_, rest)| rest.strip_suffix(')'))
        else {
            continue;
        };
        if file == "step1-naive.md" || !chapters.is_empty() {
            chapters.push(file.to_owned());
        }
    }
    assert!(
        chapters
            .first()
            .is_some_and(|first| first == "step1-naive.md"),
        "src/SUMMARY.md lists no step1-naive.md before its appendix"
    );
    chapters
}

/// The exercises' names: the skeletons in `exercises/src/bin`, each file
/// there but the solutions (`NAME_solution.rs`).
fn skeletons() -> BTreeSet<String> {
    let dir = repo().join("exercises/src/bin");
    fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|file| file.strip_suffix(".rs").map(str::to_owned))
        .filter(|name| !name.ends_with("_solution"))
        .collect()
}

/// The names given to `exercise!` in the checks' modules.
fn checked() -> BTreeSet<String> {
    let dir = repo().join("tests/exercises");
    let mut names = BTreeSet::new();
    for entry in fs::read_dir(&dir).unwrap() {
        let text = fs::read_to_string(entry.unwrap().path()).unwrap();
        for line in text.lines() {
            if let Some(rest) = line.trim_start().strip_prefix("exercise!(")
                && let Some((name, _)) = rest.split_once(',')
            {
                names.insert(name.trim().to_owned());
            }
        }
    }
    names
}

#[test]
fn every_chapter_from_step_1_on_ends_with_complete_exercises() {
    let skeletons = skeletons();
    let checked = checked();
    let bin = repo().join("exercises/src/bin");
    let mut problems = Vec::new();
    // Which chapter shows each exercise, to find one shown twice or nowhere.
    let mut shown_in: BTreeMap<String, Vec<String>> = BTreeMap::new();

    for chapter in chapters_with_exercises() {
        let text = fs::read_to_string(repo().join("src").join(&chapter)).unwrap();
        let last_section = text.lines().rfind(|line| line.starts_with("## "));
        if last_section != Some("## Exercises") {
            problems.push(format!(
                "{chapter}: its last section is {last_section:?}, not \"## Exercises\""
            ));
            continue;
        }
        let exercises = &text[text.rfind("\n## Exercises").unwrap()..];
        let mut count = 0;
        for name in &skeletons {
            let task = format!("exercises/src/bin/{name}.rs:task}}}}");
            let solution = format!("exercises/src/bin/{name}_solution.rs:solution}}}}");
            let command = format!("cargo test --test exercises {name}::yours -- --ignored");
            let shows: Vec<bool> = [&task, &solution, &command]
                .iter()
                .map(|wanted| exercises.contains(wanted.as_str()))
                .collect();
            if shows.iter().any(|&shown| shown) {
                count += 1;
                shown_in
                    .entry(name.clone())
                    .or_default()
                    .push(chapter.clone());
                if shows.iter().any(|&shown| !shown) {
                    problems.push(format!(
                        "{chapter}: exercise {name} needs its skeleton ({task}), its solution \
                         ({solution}) and the command that checks a reader's answer \
                         (`{command}`) in its Exercises section"
                    ));
                }
                let solution_position = exercises.find(&solution).unwrap_or(0);
                let details = exercises[..solution_position].rfind("<details>");
                let closed =
                    details.map(|at| exercises[at..solution_position].contains("</details>"));
                if closed != Some(false) {
                    problems.push(format!(
                        "{chapter}: the solution of {name} is not inside a <details> block"
                    ));
                }
            }
        }
        if count < 2 {
            problems.push(format!(
                "{chapter}: {count} exercises; every chapter has two or more"
            ));
        }
    }

    for name in &skeletons {
        let skeleton = fs::read_to_string(bin.join(format!("{name}.rs"))).unwrap();
        let solution = fs::read_to_string(bin.join(format!("{name}_solution.rs")));
        match &solution {
            Err(_) => problems.push(format!("{name}: no solution {name}_solution.rs")),
            Ok(solution) if solution.contains("todo!(") => {
                problems.push(format!("{name}_solution.rs still has a todo!()"))
            }
            Ok(_) => {}
        }
        if !skeleton.contains("todo!(") {
            problems.push(format!(
                "{name}.rs has no todo!(): a skeleton marks where the reader's work goes"
            ));
        }
        if !checked.contains(name) {
            problems.push(format!(
                "{name}: no check; add `exercise!({name}, ...)` in tests/exercises/"
            ));
        }
        match shown_in.get(name).map(Vec::as_slice) {
            None | Some([]) => {
                problems.push(format!("{name}: shown in no chapter's Exercises section"))
            }
            Some([_]) => {}
            Some(many) => problems.push(format!("{name}: shown in several chapters: {many:?}")),
        }
    }
    for name in checked.difference(&skeletons) {
        problems.push(format!(
            "exercise!({name}, ...) checks a program that is not in exercises/src/bin"
        ));
    }

    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
