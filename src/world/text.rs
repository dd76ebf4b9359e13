//! Printable text: what an id may contain, and the one escaping of unprintable characters that
//! every text renderer applies to the values it prints (through [`crate::report::text`]), so
//! that no input can forge a line of output or send an escape sequence to a terminal.
//!
//! Unprintable is: a control character (Unicode category Cc: `\n`, `\r`, `\t`, ESC, DEL, C1),
//! a format character (category Cf: bidi overrides such as U+202E, zero-width characters,
//! the byte order mark) and the line and paragraph separators U+2028 and U+2029.
//!
//! Lives in the world stage, the lowest, so that validation (which refuses such ids) and every
//! stage that prints can share it. Owns characters only; it knows no field.

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether `c` must never reach output as it is (see the module doc).
pub fn is_unprintable(c: char) -> bool {
    c.is_control() || is_format(c) || matches!(c, '\u{2028}' | '\u{2029}')
}

/// Unicode general category Cf (format characters), as of Unicode 15.
fn is_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{0600}'..='\u{0605}' | '\u{061C}' | '\u{06DD}' | '\u{070F}'
        | '\u{0890}'..='\u{0891}' | '\u{08E2}' | '\u{180E}' | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}'
        | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}' | '\u{110BD}' | '\u{110CD}'
        | '\u{13430}'..='\u{1343F}' | '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0001}' | '\u{E0020}'..='\u{E007F}')
}

/// Why `s` cannot be an id (or an id-like name): the first unprintable character and where it
/// is, or `None` when every character is printable.
pub fn id_problem(s: &str) -> Option<String> {
    let (i, c) = s.chars().enumerate().find(|(_, c)| is_unprintable(*c))?;
    Some(format!(
        "`{}` contains an unprintable character ({}, character {}): ids, names and arguments must be printable text",
        escape(s),
        escape_char(c),
        i + 1
    ))
}

/// `s` with every unprintable character written as an escape (`\n`, `\r`, `\t`, `\u{1b}`,
/// `\u{202e}`); printable text is unchanged (and not copied).
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unprintable) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unprintable(c) {
            out.push_str(&escape_char(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn escape_char(c: char) -> String {
    match c {
        '\n' => "\\n".into(),
        '\r' => "\\r".into(),
        '\t' => "\\t".into(),
        _ => {
            let mut s = String::new();
            let _ = write!(s, "\\u{{{:x}}}", c as u32);
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_unprintable_and_nothing_else() {
        assert_eq!(escape("key-1"), "key-1");
        assert!(matches!(escape("käse ✓"), Cow::Borrowed(_)));
        assert_eq!(
            escape("a\nb\r\tc\u{1b}[31m\u{202e}\u{7f}\u{85}\u{2028}\u{feff}"),
            "a\\nb\\r\\tc\\u{1b}[31m\\u{202e}\\u{7f}\\u{85}\\u{2028}\\u{feff}"
        );
        assert!(id_problem("alice").is_none());
        let p = id_problem("mallory\nx").unwrap();
        assert!(p.contains("\\n, character 8"), "{p}");
        assert!(!p.contains('\n'));
    }
}
