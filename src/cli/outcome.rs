//! What a command prints and how the process exits: [`Outcome`] and its typed [`Exit`] status,
//! reported once by `main` through [`std::process::Termination`].
//!
//! A closed pipe (`keyward audit … | head -1`) is handled here and only here, as ripgrep does:
//! the reader took what it wanted, so the program ends quietly with status 0, whatever the
//! command and format.

use crate::world::problem::{Problem, Problems};
use std::io::Write;
use std::process::{ExitCode, Termination};

/// The exit status of a command (INTERFACE.md: 0 allowed or success, 1 bad input or a failed
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

/// Tests and scripts compare exit statuses with the numbers INTERFACE.md documents.
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
}

impl Outcome {
    /// Printed output and a status.
    pub fn new(stdout: String, code: Exit) -> Self {
        Outcome {
            stdout,
            stderr: String::new(),
            code,
        }
    }

    /// A usage error: the message on stderr, exit 1.
    pub fn usage(message: String) -> Self {
        Outcome {
            stdout: String::new(),
            stderr: format!("{message}\n"),
            code: Exit::BadInput,
        }
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
        Outcome::usage(p.to_string())
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
