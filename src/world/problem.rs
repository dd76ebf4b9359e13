//! Problems with input, each located (file, line, column, field), and the error type of the
//! library's commands. Owns reporting shape only; the checks live where the input is read.

use crate::world::yaml::Pos;
use std::fmt;

/// One located problem with an input file or argument.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub file: String,
    #[serde(flatten)]
    pub pos: Pos,
    /// The field path (`api_keys[2].expires_at`), or the flag, that is wrong; may be empty.
    pub field: String,
    pub message: String,
}

impl Problem {
    /// A problem at a position of a file.
    pub fn new(file: &str, pos: Pos, field: &str, message: impl Into<String>) -> Self {
        Problem {
            file: file.to_string(),
            pos,
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// A problem with a command-line argument.
    pub fn arg(flag: &str, message: impl Into<String>) -> Self {
        Problem::new("", Pos::default(), flag, message)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.file.is_empty() {
            write!(f, "{}", self.file)?;
            if self.pos.line > 0 {
                write!(f, ":{}:{}", self.pos.line, self.pos.col)?;
            }
            write!(f, ": ")?;
        }
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        write!(f, "{}", self.message)
    }
}

/// Every problem found in one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    /// A single problem.
    pub fn one(p: Problem) -> Self {
        Problems(vec![p])
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "error: {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// Read an input file as text: `(its name for messages, its text)`, or the located problem.
pub fn read_input(path: &std::path::Path) -> Result<(String, String), Problems> {
    let file = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => Ok((file, text)),
        Err(e) => Err(Problems::one(Problem::new(
            &file,
            Pos::default(),
            "",
            format!("cannot read: {e}"),
        ))),
    }
}

impl From<Problem> for Problems {
    fn from(p: Problem) -> Self {
        Problems::one(p)
    }
}
