//! A fast reader for the plain block YAML that keyward writes and most people write (block
//! mappings and sequences, indentless sequences, plain and single-quoted one-line scalars,
//! `[]` and `{}`, comment lines): the very located tree [`crate::world::yaml::parse`] builds,
//! positions included, several times faster than the general parser.
//!
//! It says `None` (and the general parser reads the file) at the first thing outside that
//! subset: tabs, non-ASCII text, double quotes, flow collections, anchors, tags, block or
//! multi-line scalars, documents markers, a duplicate key, a key that is not a plain word.
//! It never refuses a file: errors are the general parser's to report, at their position.
//! `tests/perf_exact.rs` and this module's tests check it gives the general parser's tree.
//!
//! May use: [`crate::world::yaml`]'s tree and scalar resolution.

use crate::world::yaml::{Kind, Node, Pos, resolve_plain};
use serde_json::Value;

/// How deep the fast reader goes before it leaves a file to the general parser.
const DEPTH: usize = 16;

/// The located tree of `src`, or `None` when `src` is outside the subset this reader knows.
pub fn parse(src: &str) -> Option<Node> {
    read(src, None)
}

/// [`parse`], handing each item of a list that is the value of a top-level key (a world's
/// section: `api_keys:` then `- ...` items) to `item`, with that key, as soon as the item is
/// read, instead of keeping it: those lists are empty in the tree returned. So the tree of a
/// whole file is never held. `None` as for [`parse`] (some items may have been handed over).
pub fn parse_streamed(src: &str, item: Sink<'_>) -> Option<Node> {
    read(src, Some(item))
}

/// Where [`parse_streamed`] hands the items of top-level lists: (the top-level key, the item).
pub type Sink<'s> = &'s mut dyn FnMut(&str, Node);

fn read(src: &str, sink: Option<Sink<'_>>) -> Option<Node> {
    if !src.is_ascii() || src.contains('\t') || src.contains('\r') {
        return None;
    }
    let lines: Vec<Line> = src
        .split('\n')
        .enumerate()
        .map(|(i, text)| Line::of(i + 1, text))
        .collect::<Option<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    let mut r = Reader {
        lines,
        at: 0,
        sink,
        section: None,
    };
    let Some(first) = r.peek() else {
        return None; // an empty document: the general parser's business
    };
    let root = r.block(first.indent, 0)?;
    (r.at == r.lines.len()).then_some(root)
}

/// A line with content: its number, indentation and text after the indentation.
struct Line<'a> {
    no: usize,
    indent: usize,
    text: &'a str,
}

impl<'a> Line<'a> {
    /// `Some(None)` for a blank or comment line, `None` for a line this reader refuses.
    fn of(no: usize, raw: &'a str) -> Option<Option<Line<'a>>> {
        let text = raw.trim_start_matches(' ');
        if text.is_empty() || text.starts_with('#') {
            return Some(None);
        }
        if text.ends_with(' ') || text.starts_with("---") || text.starts_with("...") {
            return None;
        }
        Some(Some(Line {
            no,
            indent: raw.len() - text.len(),
            text,
        }))
    }
}

struct Reader<'a, 's> {
    lines: Vec<Line<'a>>,
    at: usize,
    /// Where the items of top-level lists go, if not into the tree.
    sink: Option<Sink<'s>>,
    /// The top-level key whose value is being read.
    section: Option<&'a str>,
}

fn pos(line: usize, col0: usize) -> Pos {
    Pos {
        line,
        col: col0 + 1,
    }
}

impl<'a> Reader<'a, '_> {
    fn peek(&self) -> Option<&Line<'a>> {
        self.lines.get(self.at)
    }

    /// The block (mapping or sequence) whose lines start at column `indent`.
    fn block(&mut self, indent: usize, depth: usize) -> Option<Node> {
        if depth > DEPTH {
            return None;
        }
        let l = self.peek()?;
        if l.indent != indent {
            return None;
        }
        if is_entry(l.text) {
            self.seq(indent, false, depth)
        } else {
            let (no, text) = (l.no, l.text);
            self.at += 1;
            self.map(indent, no, text, depth)
        }
    }

    /// A block sequence of `- ` entries at column `indent`; `indentless` when it is at its
    /// key's own column (the general parser then places it at its first entry's content).
    fn seq(&mut self, indent: usize, indentless: bool, depth: usize) -> Option<Node> {
        let start = self.peek()?;
        let node_pos = pos(start.no, indent + if indentless { 2 } else { 0 });
        let mut items = Vec::new();
        while let Some(l) = self.peek() {
            if l.indent != indent || !is_entry(l.text) {
                break;
            }
            let (no, rest) = (l.no, l.text.get(2..)?);
            self.at += 1;
            let col = indent + 2;
            if rest.is_empty() || rest.starts_with(' ') {
                return None;
            }
            let item = if key_of(rest).is_some() {
                self.map(col, no, rest, depth + 1)?
            } else {
                scalar(no, col, rest)?
            };
            match (depth, self.section, self.sink.as_mut()) {
                (1, Some(section), Some(sink)) => sink(section, item),
                _ => items.push(item),
            }
        }
        if let Some(l) = self.peek()
            && l.indent > indent
        {
            return None;
        }
        Some(Node {
            pos: node_pos,
            kind: Kind::Seq(items),
        })
    }

    /// A block mapping at column `indent` whose first entry is `first` (already consumed, on
    /// line `no`).
    fn map(&mut self, indent: usize, no: usize, first: &'a str, depth: usize) -> Option<Node> {
        let mut entries: Vec<(String, Pos, Node)> = Vec::new();
        let mut line = (no, first);
        loop {
            let (no, text) = line;
            let (key, rest) = key_of(text)?;
            if entries.iter().any(|(k, _, _)| k == key) {
                return None;
            }
            let kpos = pos(no, indent);
            if depth == 0 {
                self.section = Some(key);
            }
            let value = if rest.is_empty() {
                self.nested(indent, depth)?
            } else {
                scalar(no, indent + key.len() + 2, rest)?
            };
            entries.push((key.to_string(), kpos, value));
            match self.peek() {
                Some(l) if l.indent == indent && !is_entry(l.text) => {
                    line = (l.no, l.text);
                    self.at += 1;
                }
                Some(l) if l.indent > indent => return None,
                _ => break,
            }
        }
        // The general parser places a block mapping just after its first key.
        let first_len = entries.first().map_or(0, |(k, _, _)| k.len());
        Some(Node {
            pos: pos(no, indent + first_len),
            kind: Kind::Map(entries),
        })
    }

    /// The value of a key with nothing after its colon: a block on the next lines, deeper,
    /// or an indentless sequence at the key's own column.
    fn nested(&mut self, indent: usize, depth: usize) -> Option<Node> {
        let l = self.peek()?;
        if l.indent > indent {
            let i = l.indent;
            self.block(i, depth + 1)
        } else if l.indent == indent && is_entry(l.text) {
            self.seq(indent, true, depth + 1)
        } else {
            None // an empty value: left to the general parser
        }
    }
}

fn is_entry(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

/// `key: rest` or `key:` with a plain word as key.
fn key_of(text: &str) -> Option<(&str, &str)> {
    let (key, rest) = match text.find(':') {
        Some(i) => (&text[..i], &text[i + 1..]),
        None => return None,
    };
    let word = !key.is_empty()
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && key
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    // A key the general parser resolves to something else (`True`, `NULL`) is its to read.
    if !word || resolve_plain(key) != Value::String(key.to_string()) {
        return None;
    }
    match rest.strip_prefix(' ') {
        Some(r) if !r.starts_with(' ') => Some((key, r)),
        None if rest.is_empty() => Some((key, "")),
        _ => None,
    }
}

/// A one-line scalar (plain, single-quoted, `[]` or `{}`) at 0-based column `col0`.
fn scalar(no: usize, col0: usize, text: &str) -> Option<Node> {
    let at = pos(no, col0);
    let kind = match text {
        "[]" => Kind::Seq(Vec::new()),
        "{}" => Kind::Map(Vec::new()),
        _ if text.starts_with('\'') => Kind::Scalar(Value::String(single_quoted(text)?)),
        _ if plain_ok(text) => Kind::Scalar(resolve_plain(text)),
        _ => return None,
    };
    Some(Node { pos: at, kind })
}

/// The text of `'...'` (with `''` for a quote) that ends the line, or `None`.
fn single_quoted(text: &str) -> Option<String> {
    let inner = text.strip_prefix('\'')?.strip_suffix('\'')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' && chars.next() != Some('\'') {
            return None;
        }
        out.push(c);
    }
    Some(out)
}

/// A plain scalar this reader resolves as the general parser would: no indicator first, no
/// `: ` or ` #` inside, no flow characters, not ending in `:`.
fn plain_ok(text: &str) -> bool {
    let first_ok = match text.as_bytes().first() {
        None => false,
        Some(b'-' | b'?' | b':') => text.len() > 1 && !text[1..].starts_with(' '),
        Some(b) => !b",[]{}#&*!|>'\"%@`".contains(b),
    };
    first_ok
        && !text.contains(": ")
        && !text.contains(" #")
        && !text.ends_with(':')
        && !text
            .bytes()
            .any(|b| b",[]{}".contains(&b) || b.is_ascii_control())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::yaml;

    /// Either the fast reader leaves the text to the general parser, or it gives its tree.
    fn same(src: &str) -> bool {
        let fast = parse(src);
        let slow = yaml::parse_general(src).ok();
        match fast {
            None => false,
            Some(f) => {
                assert_eq!(Some(&f), slow.as_ref(), "{src}");
                true
            }
        }
    }

    #[test]
    fn block_yaml_reads_as_the_general_parser_reads_it() {
        assert!(same("a: 1\nb:\n  - x: '2'\n    y: true\n  - ~\n"));
        assert!(same(
            "# c\nnow: 2026-01-01T00:00:00Z\nusers:\n- id: u1\n  accounts:\n  - acme\n  functional: true\n- id: u2\n  accounts: []\n"
        ));
        assert!(same(
            "a:\n  b:\n    c: -5\n    d: 'it''s'\n  e: {}\nf: x-y.z/w\n"
        ));
        assert!(same("- a\n- b: 1\n  c: 2\n- -1\n"));
        assert!(same(
            "a: 1.5\nb: null\nc: 'null'\nd: 0x1F\ne: 1e3\nf: .inf\n"
        ));
    }

    #[test]
    fn anything_else_is_left_to_the_general_parser() {
        for src in [
            "a: \"x\"\n",
            "a: [1, 2]\n",
            "a: &x 1\nb: *x\n",
            "a: |\n  text\n",
            "a: x\n  y\n",
            "a: 1\na: 2\n",
            "---\na: 1\n",
            "a:\tb\n",
            "a: é\n",
            "a: x # c\n",
            "a:\nb: 1\n",
            "'k': 1\n",
            "a: 'x\n  y'\n",
            "",
        ] {
            assert!(parse(src).is_none(), "{src:?}");
        }
    }
}
