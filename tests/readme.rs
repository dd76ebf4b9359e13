//! The README is true: every `$ …` command of its console blocks runs, in order, in one scratch
//! folder holding copies of the repository's `fixtures/`, `policies/`, `schemas/`,
//! `tests/decisions/` and `invariants/`, with the binary under test on `PATH` as `keyward`; what each prints
//! (standard output and error, merged as a terminal shows them) must be what the README shows.
//! A mismatch fails with a diff per command.
//!
//! `README_UPDATE=1 cargo test --test readme` rewrites the shown outputs in README.md from the
//! actual ones instead (then read the diff before committing it).
//!
//! # The block syntax this test recognises
//!
//! - A *console block* is a fenced block (three backticks, no info string or `console`) whose
//!   first line starts with `$ `. Any other block (```sh, ```yaml, ```text, an indented block)
//!   is prose and never run.
//! - In a console block, a line starting with `$ ` is a command, run by `bash` (pipes, `;`,
//!   `&&`, `# comments` work); a command line ending in `\` continues on the next line. Every
//!   line up to the next command or the end of the block is its expected output.
//! - A line that is exactly `...` or `…` in an expected output stands for any number of lines
//!   (none included). The update mode keeps it: the lines before the first one and after the
//!   last one are refreshed, and each part between two is kept where its first line is found
//!   again in the output (else dropped).
//! - `<random>` in an expected line stands for a value that differs on every run (a created
//!   key's value, a fingerprint, a time, a hash of either): one or more characters from
//!   `A-Z a-z 0-9 + / = _ . : -`. The update mode keeps an expected line that still matches.
//! - Lines are compared without trailing spaces; blank lines at the end of an output are
//!   ignored. Exit statuses are compared only when the README shows them (`; echo "exit $?"`).
//! - The commands share the scratch folder, in README order: a file one creates
//!   (`cp fixtures/acme.yaml my-acme.yaml`) is there for the next. Only the four folders above
//!   are copied; a command may run at most five minutes (with the debug build `cargo test`
//!   makes, so keep README examples small).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One `$` command of the README and what the README shows it printing.
struct Example {
    /// Index in the README's lines of the command's first line.
    line: usize,
    command: String,
    /// Index of the first expected-output line, and one past the last.
    output: (usize, usize),
}

fn is_elision(line: &str) -> bool {
    matches!(line.trim(), "..." | "…")
}

/// Every console-block command of `lines`, in order.
fn examples(lines: &[&str]) -> Vec<Example> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let fence = lines[i].trim_start();
        if !fence.starts_with("```") {
            i += 1;
            continue;
        }
        let info = fence.trim_start_matches('`').trim();
        let end = (i + 1..lines.len())
            .find(|&j| lines[j].trim_start().starts_with("```"))
            .unwrap_or(lines.len());
        let console = (info.is_empty() || info == "console")
            && !lines[i].starts_with(' ')
            && lines.get(i + 1).is_some_and(|l| l.starts_with("$ "));
        if console {
            block_examples(lines, i + 1, end, &mut out);
        }
        i = end + 1;
    }
    out
}

/// The commands of the console block whose lines are `start..end`.
fn block_examples(lines: &[&str], start: usize, end: usize, out: &mut Vec<Example>) {
    let mut j = start;
    while j < end {
        let first = j;
        let mut command = lines[j].trim_start_matches("$ ").to_string();
        while command.ends_with('\\') && j + 1 < end {
            j += 1;
            command.push('\n');
            command.push_str(lines[j]);
        }
        j += 1;
        let from = j;
        while j < end && !lines[j].starts_with("$ ") {
            j += 1;
        }
        out.push(Example {
            line: first,
            command,
            output: (from, j),
        });
    }
}

/// Does `actual` match the expected line, `<random>` standing for a random value?
fn line_matches(expected: &str, actual: &str) -> bool {
    let mut parts = expected.split("<random>");
    let Some(head) = parts.next() else {
        return expected == actual;
    };
    let Some(mut rest) = actual.strip_prefix(head) else {
        return false;
    };
    let random = |c: char| c.is_ascii_alphanumeric() || "+/=_.:-".contains(c);
    for part in parts {
        let taken = rest.find(|c: char| !random(c)).unwrap_or(rest.len());
        if taken == 0 {
            return false;
        }
        // The random run is greedy up to where the literal part can follow.
        let found = (1..=taken)
            .rev()
            .find(|&n| rest[n..].starts_with(part) && (!part.is_empty() || n == rest.len()));
        let Some(n) = found else {
            return false;
        };
        rest = &rest[n + part.len()..];
    }
    rest.is_empty()
}

/// Does the actual output match the expected one (elisions and `<random>` included)?
fn output_matches(expected: &[String], actual: &[String]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((e, rest)) if is_elision(e) => {
            (0..=actual.len()).any(|skip| output_matches(rest, &actual[skip..]))
        }
        Some((e, rest)) => actual
            .split_first()
            .is_some_and(|(a, more)| line_matches(e, a) && output_matches(rest, more)),
    }
}

/// Lines without trailing spaces, and no blank lines at the end.
fn normalise(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(|l| l.trim_end().to_string()).collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

/// The expected output refreshed from `actual`, keeping elisions and `<random>` lines.
fn updated(expected: &[String], actual: &[String]) -> Vec<String> {
    let keep_random = |a: &String| {
        expected
            .iter()
            .find(|e| e.contains("<random>") && line_matches(e, a))
            .cloned()
            .unwrap_or_else(|| a.clone())
    };
    let parts: Vec<&[String]> = expected.split(|l| is_elision(l)).collect();
    // Each elision is written back as it was (`...` or `…`).
    let mut marks = expected.iter().filter(|l| is_elision(l)).cloned();
    let mut mark = move || marks.next().unwrap_or_else(|| "...".to_string());
    if parts.len() == 1 {
        return actual.iter().map(keep_random).collect();
    }
    let (head, tail) = (parts[0].len(), parts[parts.len() - 1].len());
    let tail_from = actual
        .len()
        .saturating_sub(tail)
        .max(head.min(actual.len()));
    let mut out: Vec<String> = actual[..head.min(actual.len())]
        .iter()
        .map(keep_random)
        .collect();
    let mut at = head.min(actual.len());
    for middle in &parts[1..parts.len() - 1] {
        out.push(mark());
        let Some(first) = middle.first() else {
            continue;
        };
        if let Some(found) = (at..tail_from).find(|&k| line_matches(first, &actual[k])) {
            let end = (found + middle.len()).min(tail_from);
            out.extend(actual[found..end].iter().map(keep_random));
            at = end;
        }
    }
    out.push(mark());
    out.extend(actual[tail_from..].iter().map(keep_random));
    out
}

/// A line diff of expected and actual output (`-` expected only, `+` actual only).
fn diff(expected: &[String], actual: &[String]) -> String {
    let e = expected.join("\n");
    let a = actual.join("\n");
    let mut out = String::new();
    for change in similar::TextDiff::from_lines(&e, &a).iter_all_changes() {
        let sign = match change.tag() {
            similar::ChangeTag::Delete => '-',
            similar::ChangeTag::Insert => '+',
            similar::ChangeTag::Equal => ' ',
        };
        let _ = writeln!(out, "{sign} {}", change.value().trim_end_matches('\n'));
    }
    out
}

/// Copy a folder tree.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create a scratch folder");
    for entry in std::fs::read_dir(from).expect("read a repository folder") {
        let entry = entry.expect("read a folder entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a repository file");
        }
    }
}

/// A scratch folder laid out like the repository, and a folder with `keyward` in it.
fn scratch() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().expect("a temporary folder");
    let work = tmp.path().join("keyward");
    for dir in [
        "fixtures",
        "policies",
        "schemas",
        "tests/decisions",
        "invariants",
    ] {
        copy_tree(&repo.join(dir), &work.join(dir));
    }
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).expect("a bin folder");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_keyward"), bin.join("keyward"))
        .expect("link the binary as keyward");
    (tmp, work, bin)
}

/// Run one command as the README's reader would, merging its output streams.
fn run(command: &str, work: &Path, bin: &Path) -> String {
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // A command that hangs fails the test after five minutes instead of holding CI.
    let out = Command::new("timeout")
        .args(["300", "bash", "-c"])
        .arg(format!("exec 2>&1\n{command}"))
        .current_dir(work)
        .env("PATH", path)
        .env("TERM", "dumb")
        .env("NO_COLOR", "1")
        .output()
        .expect("timeout and bash run (the README's commands are bash)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run every example of `text` in a fresh scratch folder: a diff per command whose output
/// differs, and the README text with those outputs refreshed.
fn check(text: &str) -> (String, String) {
    let lines: Vec<&str> = text.lines().collect();
    let examples = examples(&lines);
    assert!(
        examples.len() >= 20,
        "only {} README commands found: is the block syntax still the one documented here?",
        examples.len()
    );
    let (_tmp, work, bin) = scratch();
    let mut failures = String::new();
    let mut new_lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let mut replacements: Vec<((usize, usize), Vec<String>)> = Vec::new();
    for ex in &examples {
        let expected: Vec<String> = lines[ex.output.0..ex.output.1]
            .iter()
            .map(|l| l.trim_end().to_string())
            .collect();
        let mut shown = expected.clone();
        while shown.last().is_some_and(|l| l.is_empty()) {
            shown.pop();
        }
        let actual = normalise(&run(&ex.command, &work, &bin));
        if output_matches(&shown, &actual) {
            continue;
        }
        let _ = writeln!(
            failures,
            "README.md:{}: $ {}\n{}",
            ex.line + 1,
            ex.command,
            diff(&shown, &actual)
        );
        let mut new = updated(&shown, &actual);
        new.extend(expected[shown.len()..].iter().cloned());
        replacements.push((ex.output, new));
    }
    for ((from, to), new) in replacements.into_iter().rev() {
        new_lines.splice(from..to, new);
    }
    (failures, new_lines.join("\n") + "\n")
}

#[test]
fn every_readme_command_prints_what_the_readme_shows() {
    let readme_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let text = std::fs::read_to_string(&readme_path).expect("README.md is readable");
    let (failures, refreshed) = check(&text);
    if std::env::var_os("README_UPDATE").is_some_and(|v| v == "1") {
        std::fs::write(&readme_path, &refreshed).expect("README.md is writable");
        // A second run on the rewritten README must pass: if it does not, an output is not
        // the same from run to run and needs a `<random>` by hand where the diff shows it.
        let (again, _) = check(&refreshed);
        assert!(
            again.is_empty(),
            "README.md rewritten, but these outputs differ from run to run: mark the \
             values that change with <random>:\n\n{again}"
        );
        return;
    }
    assert!(
        failures.is_empty(),
        "README outputs differ (- README, + actual); README_UPDATE=1 cargo test --test readme \
         rewrites them:\n\n{failures}"
    );
}

#[test]
fn the_matcher_masks_only_what_it_is_told_to() {
    assert!(line_matches("key <random> kept", "key ab+/=9 kept"));
    assert!(line_matches("sha256:<random>}", "sha256:00ff}"));
    assert!(!line_matches("key <random> kept", "key  kept"));
    assert!(!line_matches("key <random> kept", "key a b kept"));
    assert!(!line_matches("exit 0", "exit 1"));
    let s = |v: &[&str]| v.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    assert!(output_matches(
        &s(&["a", "...", "z"]),
        &s(&["a", "b", "c", "z"])
    ));
    assert!(output_matches(&s(&["a", "...", "z"]), &s(&["a", "z"])));
    assert!(!output_matches(&s(&["a", "...", "z"]), &s(&["a", "b"])));
    assert!(!output_matches(&s(&["a"]), &s(&["a", "b"])));
    assert_eq!(
        updated(
            &s(&["a", "...", "m", "...", "z"]),
            &s(&["a2", "b", "m", "n", "y", "z2"])
        ),
        s(&["a2", "...", "m", "...", "z2"])
    );
}
