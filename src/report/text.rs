//! The one escaping of text output: every renderer of text, markdown or csv prints the values
//! it did not write itself (ids, names, descriptions, arguments, messages that quote input)
//! through these, so that no input can forge a line or send an escape sequence to a terminal.
//!
//! Unprintable characters (control and format characters, line separators: see
//! [`crate::world::text`], which validation shares) are written as escapes: `\n`, `\t`,
//! `\u{1b}`, `\u{202e}`. JSON output needs none of this: serde escapes control characters.

pub use crate::world::text::{escape as esc, is_unprintable};

/// Append one line to `s`: `line` escaped, then a newline.
pub fn push_line(s: &mut String, line: &str) {
    s.push_str(&esc(line));
    s.push('\n');
}

/// A markdown table cell: escaped, and `|` written `\|` so that it stays one cell.
pub fn md_cell(s: &str) -> String {
    esc(s).replace('|', "\\|")
}

/// A csv field: escaped (so one record is one line), then quoted when it holds `,` or `"`.
pub fn csv_field(s: &str) -> String {
    let s = esc(s);
    if s.contains([',', '"']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.into_owned()
    }
}

/// A list inside one csv field: items joined by `;`, each `name` or `name=value`, with `\`,
/// `;` and `=` inside a name or value written `\\`, `\;` and `\=` (docs/output.md), so a
/// reader can split it back exactly. The field itself still goes through [`csv_field`].
pub fn csv_list<'a>(items: impl Iterator<Item = (&'a str, Option<&'a str>)>) -> String {
    let part = |s: &str| {
        let mut o = String::with_capacity(s.len());
        for c in s.chars() {
            if matches!(c, '\\' | ';' | '=') {
                o.push('\\');
            }
            o.push(c);
        }
        o
    };
    let items = items.map(|(k, v)| match v {
        Some(v) => format!("{}={}", part(k), part(v)),
        None => part(k),
    });
    items.collect::<Vec<_>>().join(";")
}

/// `n` and `one` when `n` is 1, else `n` and `many` (`1 policy`, `2 policies`).
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `n` and a noun, plural unless `n` is 1 (`1 account`, `2 accounts`); `noun` is the
/// singular, made plural with an `s` on its last word.
pub fn count(n: usize, noun: &str) -> String {
    plural(n, noun, &format!("{noun}s"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_and_fields_stay_on_one_line() {
        assert_eq!(md_cell("a|b\nc"), "a\\|b\\nc");
        assert_eq!(csv_field("a,\"b\"\r\n"), "\"a,\"\"b\"\"\\r\\n\"");
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(esc("x\u{1b}[2J"), "x\\u{1b}[2J");
    }

    #[test]
    fn csv_lists_escape_their_separators() {
        let items = [("a", Some("x;y=z")), ("b\\c", Some(""))];
        assert_eq!(
            csv_list(items.iter().map(|(k, v)| (*k, *v))),
            "a=x\\;y\\=z;b\\\\c="
        );
        assert_eq!(csv_list([("p;1", None)].into_iter()), "p\\;1");
        assert_eq!(count(1, "account"), "1 account");
        assert_eq!(count(0, "service ID"), "0 service IDs");
    }
}
