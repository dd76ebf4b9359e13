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
        // Every part may quote input: unprintable characters are escaped (one line, always).
        let esc = crate::world::text::escape;
        if !self.file.is_empty() {
            write!(f, "{}", esc(&self.file))?;
            if self.pos.line > 0 {
                write!(f, ":{}:{}", self.pos.line, self.pos.col)?;
            }
            write!(f, ": ")?;
        }
        if !self.field.is_empty() {
            write!(f, "{}: ", esc(&self.field))?;
        }
        write!(f, "{}", esc(&self.message))
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
/// A leading UTF-8 byte order mark is dropped; bytes that are not UTF-8, and NUL bytes, are
/// errors at their line and column.
pub fn read_input(path: &std::path::Path) -> Result<(String, String), Problems> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| {
        Problems::one(Problem::new(
            &file,
            Pos::default(),
            "",
            format!("cannot read: {e}"),
        ))
    })?;
    let text = decode_text(&bytes)
        .map_err(|(pos, msg)| Problems::one(Problem::new(&file, pos, "", msg)))?;
    Ok((file, text))
}

/// Bytes as text (see [`read_input`]), or where and why not.
pub fn decode_text(bytes: &[u8]) -> Result<String, (Pos, String)> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let pos_at = |offset: usize| {
        let before = &bytes[..offset];
        let line = before.iter().filter(|b| **b == b'\n').count() + 1;
        let start = before
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1);
        // Columns count characters of the valid text before the offset.
        let col = String::from_utf8_lossy(&before[start..]).chars().count() + 1;
        Pos { line, col }
    };
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            return Err((
                pos_at(e.valid_up_to()),
                "the file is not UTF-8 text (save it as UTF-8)".to_string(),
            ));
        }
    };
    if let Some(i) = bytes.iter().position(|b| *b == 0) {
        return Err((
            pos_at(i),
            "a NUL byte: the file is not a text file".to_string(),
        ));
    }
    Ok(text.to_string())
}

impl From<Problem> for Problems {
    fn from(p: Problem) -> Self {
        Problems::one(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bom_is_dropped_and_bad_bytes_are_located() {
        assert_eq!(decode_text(b"\xEF\xBB\xBFa: 1\n").unwrap(), "a: 1\n");
        let (pos, msg) = decode_text(b"a: 1\nb: \xC3\xA9\xFF\n").unwrap_err();
        assert_eq!(pos, Pos { line: 2, col: 5 });
        assert!(msg.contains("UTF-8"));
        let (pos, msg) = decode_text(b"a: 1\nbb\0\n").unwrap_err();
        assert_eq!(pos, Pos { line: 2, col: 3 });
        assert!(msg.contains("NUL"));
    }
}
