//! Reading the book: its ```` ```console ```` blocks, and the command each
//! one shows, turned into a program to run.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use book_tests::{bin, include, programs, repo};

/// The port the book's commands use by default, written back when blessing.
const BOOK_PORT: u16 = 1060;
/// The port the chopper listens on by default.
const RELAY_PORT: u16 = 1061;
/// The line that shows where the reader pressed Ctrl-C.
pub const INTERRUPT: &str = "^C";
/// The word in a console block's fence that marks a program left running.
pub const BACKGROUND: &str = "background";

/// One ```` ```console ```` block.
#[derive(Debug)]
pub struct Block {
    pub file: PathBuf,
    /// Line number (1-based) of the `$ ` line, for messages.
    pub line: usize,
    /// Index range of the output lines within the file's lines.
    pub output_lines: std::ops::Range<usize>,
    pub command: String,
    pub expected: Vec<String>,
    /// Whether the fence says `console,background`: the program keeps
    /// running, in a terminal of its own, while the blocks after it run.
    pub background: bool,
}

impl Block {
    /// `src/chapter.md:LINE`, for messages.
    pub fn place(&self) -> String {
        format!(
            "{}:{}",
            self.file
                .strip_prefix(repo())
                .unwrap_or(&self.file)
                .display(),
            self.line
        )
    }
}

/// The chapters whose path contains `only`, with their text.
pub fn chapters(only: &str) -> Vec<(PathBuf, String)> {
    let src = repo().join("src");
    include::chapters(&src)
        .expect("list the chapters in src/")
        .into_iter()
        .map(|relative| src.join(relative))
        .filter(|path| path.to_string_lossy().contains(only))
        .map(|path| {
            let text = fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            (path, text)
        })
        .collect()
}

/// Every console block in a chapter, in order.
pub fn console_blocks(file: &Path, text: &str) -> Vec<Block> {
    let lines: Vec<&str> = text.lines().collect();
    let at = |i: usize| format!("{}:{}", file.display(), i + 1);
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(info) = lines[i].trim_start().strip_prefix("```") else {
            i += 1;
            continue;
        };
        let fence_end = lines[i + 1..]
            .iter()
            .position(|l| l.trim_start().starts_with("```"))
            .map(|p| i + 1 + p)
            .unwrap_or_else(|| panic!("{}: code block never closed", at(i)));
        // As mdBook reads an info string: the first word is the language,
        // the words after it are classes for the page.
        let mut words = info.split([' ', '\t', ',']).filter(|w| !w.is_empty());
        if words.next() == Some("console") {
            let mut background = false;
            for word in words {
                assert!(
                    word == BACKGROUND,
                    "{}: {word:?} in the fence: a console block's fence says `console` \
                     or `console,{BACKGROUND}`",
                    at(i)
                );
                background = true;
            }
            let command = lines[i + 1].strip_prefix("$ ").unwrap_or_else(|| {
                panic!("{}: a console block starts with `$ command`", at(i + 1))
            });
            let expected: Vec<String> = lines[i + 2..fence_end]
                .iter()
                .map(|l| l.to_string())
                .collect();
            assert!(
                background || !expected.iter().any(|l| l == INTERRUPT),
                "{}: the block shows Ctrl-C ({INTERRUPT}), which the test presses only \
                 on a program left running: mark its fence ```console,{BACKGROUND}",
                at(i)
            );
            blocks.push(Block {
                file: file.to_path_buf(),
                line: i + 2,
                output_lines: i + 2..fence_end,
                command: command.to_owned(),
                expected,
                background,
            });
        }
        i = fence_end + 1;
    }
    blocks
}

/// A command from the book, turned into a program and its arguments.
pub struct Invocation {
    program: PathBuf,
    args: Vec<String>,
}

impl Invocation {
    /// The program and arguments of `block`'s command, which is
    /// `cargo run -q -p listings --bin NAME [-- ARGS]` or `python3 ARGS`.
    pub fn parse(block: &Block) -> Invocation {
        let words: Vec<&str> = block.command.split_whitespace().collect();
        assert!(
            !block.command.contains(['"', '\'', '|', '>', '<', '&', ';']),
            "{}: keep transcript commands to plain words: {}",
            block.place(),
            block.command
        );
        let (program, args) = match words.as_slice() {
            [
                "cargo",
                "run",
                "-q",
                "-p",
                "listings",
                "--bin",
                name,
                rest @ ..,
            ] => {
                assert!(
                    programs().any(|program| program == *name),
                    "{}: {name} is not one of the book's programs (STEPS and TOOLS in \
                     tests/support/lib.rs)",
                    block.place()
                );
                let args = match rest {
                    [] => &[][..],
                    ["--", args @ ..] => args,
                    _ => panic!(
                        "{}: arguments go after `--`: {}",
                        block.place(),
                        block.command
                    ),
                };
                (bin(name), args)
            }
            ["python3", args @ ..] => (PathBuf::from("python3"), args),
            _ => panic!(
                "{}: transcripts run `cargo run -q -p listings --bin NAME [-- ARGS]` or `python3 ...`, not: {}",
                block.place(),
                block.command
            ),
        };
        Invocation {
            program,
            args: args.iter().map(|a| a.to_string()).collect(),
        }
    }

    /// What the program plays: its first argument after the program name
    /// (or after the script, for Python).
    pub fn role(&self) -> Option<&str> {
        let args = if self.program == Path::new("python3") {
            self.args.get(1..)
        } else {
            Some(&self.args[..])
        };
        args.and_then(|a| a.first()).map(String::as_str)
    }

    /// Whether this is a relay (`--to` names where it forwards).
    pub fn is_relay(&self) -> bool {
        self.args.iter().any(|a| a == "--to")
    }

    /// The port the book's command uses: `-p` for a step, `--listen` for a
    /// relay, or their defaults.
    pub fn book_port(&self) -> u16 {
        let (flag, default) = if self.is_relay() {
            ("--listen", RELAY_PORT)
        } else {
            ("-p", BOOK_PORT)
        };
        self.args
            .iter()
            .position(|a| a == flag || (flag == "-p" && a == "--port"))
            .and_then(|i| self.args.get(i + 1))
            .and_then(|v| v.rsplit(':').next()?.parse().ok())
            .unwrap_or(default)
    }

    /// The command as the book shows it.
    pub fn plain(&self) -> Command {
        self.command(self.args.clone())
    }

    /// The same command aimed at `port` instead of whatever the book says.
    pub fn on_port(&self, port: u16) -> Command {
        let mut args = self.args_without(&["-p", "--port"]);
        args.retain(|word| !word.starts_with("--port="));
        args.extend(["-p".to_owned(), port.to_string()]);
        self.command(args)
    }

    /// The same relay listening on a free port and forwarding to `port`.
    pub fn relaying_to(&self, port: u16) -> Command {
        let mut args = self.args_without(&["--listen", "--to"]);
        let to = format!("127.0.0.1:{port}");
        args.extend(["--listen", "127.0.0.1:0", "--to", &to].map(str::to_owned));
        self.command(args)
    }

    /// The arguments, less each of `options` and the value after it.
    fn args_without(&self, options: &[&str]) -> Vec<String> {
        let mut kept = Vec::new();
        let mut words = self.args.iter();
        while let Some(word) = words.next() {
            if options.contains(&word.as_str()) {
                words.next();
            } else {
                kept.push(word.clone());
            }
        }
        kept
    }

    fn command(&self, args: Vec<String>) -> Command {
        let mut command = Command::new(&self.program);
        command.args(args).current_dir(repo());
        command
    }
}
