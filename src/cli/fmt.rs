//! `keyward fmt [--check] PATH…`: lay `.cedar` policy files out in Cedar's reference style, with
//! the Cedar project's own formatter (`cedar-policy-formatter`, the one `cedar format` uses,
//! at its default width of 80 and indent of 2), keeping annotations and comments.
//!
//! Owns which files are formatted and what is reported; the layout itself is the formatter's,
//! which also proves each result parses to the same policies (ids, annotations, scope and
//! conditions) before it is returned. Must not change what a policy says. A file that does not
//! parse (or nests too deep for Cedar, see [`crate::decide::policy::MAX_NESTING`]) is a
//! located error, and then no file is written.
//!
//! May use: `decide::policy` (syntax checks), `evaluator::store` (atomic writes).

use super::{Exit, Outcome, outcome};
use crate::decide::policy::{self, Source};
use crate::evaluator::store;
use crate::world::problem::{Problem, Problems, read_input};
use std::path::{Path, PathBuf};

/// The arguments of `keyward fmt`.
#[derive(clap::Args)]
pub struct Args {
    /// Change nothing: list the files that would change and exit 3 if there is one.
    #[arg(long)]
    pub check: bool,
    /// `.cedar` files, or folders searched (with their subfolders) for `.cedar` files.
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,
}

/// Run `keyward fmt` as parsed.
pub fn exec(a: Args) -> Outcome {
    fmt(&a.paths, a.check)
}

/// One file read, and its text as the formatter lays it out.
struct Formatted {
    path: PathBuf,
    name: String,
    before: String,
    after: String,
}

/// Format (or, with `check`, only compare) every `.cedar` file under `paths`.
pub fn fmt(paths: &[PathBuf], check: bool) -> Outcome {
    outcome(|| {
        let files = cedar_files(paths)?;
        let formatted = format_all(&files)?;
        let changed: Vec<&Formatted> = formatted.iter().filter(|f| f.before != f.after).collect();
        let mut stdout = String::new();
        for f in &changed {
            if check {
                stdout.push_str(&format!(
                    "would reformat {}:{}\n",
                    f.name,
                    first_difference(&f.before, &f.after)
                ));
            } else {
                store::write_atomic(&f.path, &f.after)
                    .map_err(|e| Problem::arg("PATH", format!("cannot write {}: {e}", f.name)))?;
                stdout.push_str(&format!("formatted {}\n", f.name));
            }
        }
        let verb = if check {
            "would be reformatted"
        } else {
            "reformatted"
        };
        let stderr = format!("{} of {} file(s) {verb}\n", changed.len(), formatted.len());
        let code = if check && !changed.is_empty() {
            Exit::Tripped
        } else {
            Exit::Ok
        };
        Ok(Outcome {
            stderr,
            ..Outcome::new(stdout, code)
        })
    })
}

/// Read and format every file; all problems of all files, or every result.
fn format_all(files: &[PathBuf]) -> Result<Vec<Formatted>, Problems> {
    let config = cedar_policy_formatter::Config::default();
    let mut problems = Vec::new();
    let mut out = Vec::new();
    for path in files {
        let (name, before) = match read_input(path) {
            Ok(read) => read,
            Err(e) => {
                problems.extend(e.0);
                continue;
            }
        };
        let source = Source {
            name: name.clone(),
            text: before.clone(),
        };
        let syntax = policy::syntax_problems(&source);
        if !syntax.is_empty() {
            problems.extend(syntax);
            continue;
        }
        match cedar_policy_formatter::policies_str_to_pretty(&before, &config) {
            Ok(after) => out.push(Formatted {
                after: without_policies(&before, after),
                path: path.clone(),
                name,
                before,
            }),
            // The text parsed, so this is the formatter refusing its own result.
            Err(e) => problems.push(Problem::new(
                &name,
                Default::default(),
                "",
                format!("cannot format: {e:#}"),
            )),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(Problems(problems))
    }
}

/// The `.cedar` files the paths name, each folder's in sorted order; a path that is neither
/// is an error. Symbolic links inside folders are not followed (no cycles).
fn cedar_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Problems> {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for p in paths {
        if p.is_dir() {
            if let Err(e) = walk(p, &mut files) {
                problems.push(Problem::arg(
                    "PATH",
                    format!("cannot read {}: {e}", p.display()),
                ));
            }
        } else if p.is_file() {
            files.push(p.clone());
        } else {
            problems.push(Problem::arg(
                "PATH",
                format!("{} is not a file or folder", p.display()),
            ));
        }
    }
    if problems.is_empty() {
        Ok(files)
    } else {
        Err(Problems(problems))
    }
}

/// Append the `.cedar` files below `dir`, depth first, in name order.
fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries = std::fs::read_dir(dir)?.collect::<Result<Vec<_>, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let kind = e.file_type()?;
        let path = e.path();
        if kind.is_dir() {
            walk(&path, files)?;
        } else if kind.is_file() && path.extension().is_some_and(|x| x == "cedar") {
            files.push(path);
        }
    }
    Ok(())
}

/// The 1-based line (and column) where two texts first differ, as `LINE:COLUMN`.
fn first_difference(a: &str, b: &str) -> String {
    let at = a
        .char_indices()
        .zip(b.chars())
        .find(|((_, x), y)| x != y)
        .map_or(a.len().min(b.len()), |((i, _), _)| i);
    let pos = policy::line_col(a, at);
    format!("{}:{}", pos.line, pos.col)
}

/// The formatter's text for a file with no policy (empty, or comments only) starts with the
/// blank line it puts before the end-of-file comments: an empty file stays empty, and a
/// comment-only one keeps its comments without that line.
fn without_policies(before: &str, after: String) -> String {
    if before.trim().is_empty() {
        String::new()
    } else {
        match after.strip_prefix('\n') {
            Some(rest) => rest.to_string(),
            None => after,
        }
    }
}
