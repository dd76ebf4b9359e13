//! What a command prints and how the process exits: [`Outcome`] and its typed [`Exit`] status,
//! reported once by `main` through [`std::process::Termination`].

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

    /// An output stream that failed while rows were being written.
    pub fn io(e: std::io::Error) -> Self {
        Outcome::usage(format!("error: cannot write output: {e}"))
    }
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
        // A closed stdout or stderr has nowhere to be reported; the status still is.
        let _ = std::io::stdout().write_all(self.stdout.as_bytes());
        let _ = std::io::stderr().write_all(self.stderr.as_bytes());
        ExitCode::from(self.code.code() as u8)
    }
}
