//! What a command prints and how the process exits: [`Outcome`] and its typed [`Exit`] status,
//! reported once by `main` through [`std::process::Termination`]. Bad input is kept as a
//! [`Failure`] beside its text, so that `--format json` can print it as a JSON error object
//! ([`Outcome::in_format`]).
//!
//! A closed pipe (`keyward audit … | head -1`) is handled here and only here, as ripgrep does:
//! the reader took what it wanted, so the program ends quietly with status 0, whatever the
//! command and format.

use crate::world::problem::{Problem, Problems};
use std::io::Write;
use std::process::{ExitCode, Termination};

/// The exit status of a command (docs/cli.md: 0 allowed or success, 1 bad input or a failed
/// expectation, 2 denied, 3 a gate tripped).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Exit {
    /// Allowed, done, or every expectation met.
    #[default]
    Ok,
    /// Bad input or usage, a failed operation, or an unmet expectation.
    BadInput,
    /// The policies denied the request.
    Deny,
    /// A gate tripped: a check a pipeline asked for failed (a broken write log, …).
    Tripped,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> i32 {
        match self {
            Exit::Ok => 0,
            Exit::BadInput => 1,
            Exit::Deny => 2,
            Exit::Tripped => 3,
        }
    }

    /// `Ok` when `ok`, else `BadInput`.
    pub fn ok_if(ok: bool) -> Self {
        if ok { Exit::Ok } else { Exit::BadInput }
    }
}

/// Tests and scripts compare exit statuses with the numbers docs/cli.md documents.
impl PartialEq<i32> for Exit {
    fn eq(&self, code: &i32) -> bool {
        self.code() == *code
    }
}

/// What a command prints and how it exits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub stdout: String,
    pub stderr: String,
    pub code: Exit,
    /// The bad input that ended the command, when it did (its text is on `stderr`).
    pub failure: Option<Failure>,
}

/// Bad input, as the JSON error object shows it: a sentence and every located problem.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Failure {
    pub message: String,
    pub problems: Vec<Problem>,
}

impl Failure {
    /// The failure that `problems` are.
    pub fn of(problems: &[Problem]) -> Self {
        let message = match problems {
            [] => "bad input".to_string(),
            [one] => one.to_string(),
            [first, ..] => format!("{} problems; the first: {first}", problems.len()),
        };
        Failure {
            message,
            problems: problems.to_vec(),
        }
    }

    /// `{"error": {"message", "problems": [{"file", "line", "column", "field", "message"}]}}`;
    /// a part a problem does not have (an argument has no file or line) is `null`.
    pub fn json(&self) -> serde_json::Value {
        let problems: Vec<serde_json::Value> = self
            .problems
            .iter()
            .map(|p| {
                let located = p.pos.line > 0;
                serde_json::json!({
                    "file": (!p.file.is_empty()).then_some(&p.file),
                    "line": located.then_some(p.pos.line),
                    "column": located.then_some(p.pos.col),
                    "field": (!p.field.is_empty()).then_some(&p.field),
                    "message": p.message,
                })
            })
            .collect();
        serde_json::json!({"error": {"message": self.message, "problems": problems}})
    }
}

impl Outcome {
    /// Printed output and a status.
    pub fn new(stdout: String, code: Exit) -> Self {
        Outcome {
            stdout,
            code,
            ..Default::default()
        }
    }

    /// A usage error: the message on stderr, exit 1.
    pub fn usage(message: String) -> Self {
        let sentence = message.strip_prefix("error: ").unwrap_or(&message);
        Outcome {
            stderr: format!("{message}\n"),
            code: Exit::BadInput,
            failure: Some(Failure {
                message: sentence.to_string(),
                problems: Vec::new(),
            }),
            ..Default::default()
        }
    }

    /// A usage error clap found while parsing `args` (exit 1; clap has printed its text). No
    /// command ran, so no `--format` was parsed: when `args` ask for `--format json` (or
    /// `jsonl`) all the same, the JSON error object goes to standard output too, naming the
    /// flag clap complained about.
    pub fn from_usage_error(e: &clap::Error, args: &[std::ffi::OsString]) -> Self {
        // The message is clap's first paragraph (before its usage line), on one line.
        let rendered = e.render().to_string();
        let paragraph: Vec<&str> = rendered
            .lines()
            .take_while(|l| !l.trim().is_empty())
            .map(str::trim)
            .collect();
        let joined = paragraph.join(" ");
        let message = joined
            .strip_prefix("error: ")
            .unwrap_or(&joined)
            .to_string();
        let flag = match e.get(clap::error::ContextKind::InvalidArg) {
            Some(clap::error::ContextValue::String(s)) => flag_name(s).to_string(),
            Some(clap::error::ContextValue::Strings(v)) => v
                .iter()
                .map(|s| flag_name(s))
                .collect::<Vec<_>>()
                .join(", "),
            _ => String::new(),
        };
        // keyward's own value checks (`args::Checked`) write `--flag: why` with no context.
        let problem = match message.split_once(": ") {
            Some((f, why)) if flag.is_empty() && f.starts_with("--") && !f.contains(' ') => {
                Problem::arg(f, why)
            }
            _ => Problem::arg(&flag, message.clone()),
        };
        let failure = Failure {
            problems: vec![problem],
            message,
        };
        let wants_json = args
            .windows(2)
            .any(|w| w[0] == "--format" && (w[1] == "json" || w[1] == "jsonl"))
            || args
                .iter()
                .any(|a| a == "--format=json" || a == "--format=jsonl");
        Outcome {
            code: Exit::BadInput,
            failure: Some(failure),
            ..Default::default()
        }
        .in_format(match wants_json {
            true => crate::cli::Format::Json,
            false => crate::cli::Format::Text,
        })
    }

    /// The outcome as `format` shows it: with `json`, bad input that printed nothing on
    /// standard output prints its JSON error object there (the text stays on standard error,
    /// for the people reading a job's log; the exit status is unchanged).
    pub fn in_format(mut self, format: crate::cli::Format) -> Self {
        if let (crate::cli::Format::Json, Some(f), true) =
            (format, &self.failure, self.stdout.is_empty())
        {
            self.stdout = format!("{}\n", f.json());
        }
        self
    }

    /// An output stream that failed while rows were being written; a closed pipe is no
    /// error (see the module doc).
    pub fn io(e: std::io::Error) -> Self {
        if closed_pipe(&e) {
            return Outcome::default();
        }
        Outcome::usage(format!("error: cannot write output: {e}"))
    }
}

/// `--action <ACTION>` names the flag `--action`.
fn flag_name(s: &str) -> &str {
    s.split(' ').next().unwrap_or(s)
}

/// End the process now, quietly with status 0, because the reader closed the pipe: for a
/// command that cannot stop its own work (an audit streaming rows; the engine has no way to be
/// cancelled, and finishing a long audit for nobody would waste minutes). Nothing is left to
/// clean up: the caller clears its progress bar first; no file is open for writing.
pub fn end_on_closed_pipe() -> ! {
    std::process::exit(Exit::Ok.code())
}

/// Whether a write failed because the reader closed its end of the pipe.
pub fn closed_pipe(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::BrokenPipe
}

impl From<Problems> for Outcome {
    fn from(p: Problems) -> Self {
        Outcome {
            stderr: format!("{p}\n"),
            code: Exit::BadInput,
            failure: Some(Failure::of(&p.0)),
            ..Default::default()
        }
    }
}

impl From<Problem> for Outcome {
    fn from(p: Problem) -> Self {
        Outcome::from(Problems::one(p))
    }
}

/// Run a command body written with `?`: an early `Err` is the outcome too.
pub fn outcome(body: impl FnOnce() -> Result<Outcome, Outcome>) -> Outcome {
    body().unwrap_or_else(|o| o)
}

impl Termination for Outcome {
    fn report(self) -> ExitCode {
        let mut stdout = std::io::stdout().lock();
        match stdout
            .write_all(self.stdout.as_bytes())
            .and_then(|()| stdout.flush())
        {
            Err(e) if closed_pipe(&e) => return ExitCode::SUCCESS,
            // Any other failure of stdout has nowhere to be reported; the status still is.
            _ => {}
        }
        let _ = std::io::stderr().write_all(self.stderr.as_bytes());
        ExitCode::from(self.code.code() as u8)
    }
}
