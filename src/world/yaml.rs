//! Located YAML: parses a YAML (or JSON) document into a tree whose every node knows its line
//! and column, so that later stages can say *where* a problem is.
//!
//! Owns only syntax: it knows nothing of worlds, tests or policies. Scalars are resolved with the
//! YAML 1.2 core schema (null, booleans, integers, floats, strings); quoted scalars are strings.
//!
//! Bounded by construction, whatever the input: one document per file (a second `---` is an
//! error, not silently ignored), nesting at most [`MAX_DEPTH`] levels, and anchors and aliases
//! may copy at most [`MAX_ALIAS_NODES`] nodes in all (so a few hundred bytes of nested aliases,
//! the "billion laughs", are a located error instead of gigabytes). Without aliases a tree is
//! linear in its source.

use serde_json::Value;
use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// The deepest nesting of sequences and mappings a file may have.
pub const MAX_DEPTH: usize = 128;

/// How many nodes anchors and aliases may copy in one file, all together.
pub const MAX_ALIAS_NODES: usize = 1_000_000;

/// A 1-based position in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord, serde::Serialize)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

/// One node of a located YAML tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub kind: Kind,
}

/// What a node holds.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Scalar(Value),
    Seq(Vec<Node>),
    /// Keys in document order; a key is its scalar text.
    Map(Vec<(String, Pos, Node)>),
}

/// A syntax error with its position.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

impl Node {
    /// The value of `key` when this node is a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            Kind::Map(entries) => entries.iter().find(|(k, _, _)| k == key).map(|(_, _, v)| v),
            _ => None,
        }
    }

    /// The position of `key` itself when this node is a mapping.
    pub fn key_pos(&self, key: &str) -> Option<Pos> {
        match &self.kind {
            Kind::Map(entries) => entries
                .iter()
                .find(|(k, _, _)| k == key)
                .map(|(_, p, _)| *p),
            _ => None,
        }
    }

    /// The node at a serde-style path (`a.b[3].c`), as far as it exists, and its position.
    pub fn locate(&self, path: &str) -> Pos {
        let mut node = self;
        let mut pos = self.pos;
        for seg in split_path(path) {
            match seg {
                Seg::Key(k) => match node.get(&k) {
                    Some(n) => {
                        pos = node.key_pos(&k).unwrap_or(n.pos);
                        node = n;
                    }
                    None => return pos,
                },
                Seg::Index(i) => match &node.kind {
                    Kind::Seq(items) if i < items.len() => {
                        node = &items[i];
                        pos = node.pos;
                    }
                    _ => return pos,
                },
            }
        }
        pos
    }

    /// The lines of this node and everything in it (keys included), in document order.
    pub fn lines(&self) -> Vec<usize> {
        let mut out = vec![self.pos.line];
        match &self.kind {
            Kind::Scalar(_) => {}
            Kind::Seq(items) => items.iter().for_each(|n| out.extend(n.lines())),
            Kind::Map(entries) => entries.iter().for_each(|(_, kp, n)| {
                out.push(kp.line);
                out.extend(n.lines());
            }),
        }
        out
    }

    /// The plain JSON value of this node (positions dropped).
    pub fn to_json(&self) -> Value {
        // Recursion is bounded: parse() refuses trees deeper than MAX_DEPTH.
        match &self.kind {
            Kind::Scalar(v) => v.clone(),
            Kind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Kind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, _, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

enum Seg {
    Key(String),
    Index(usize),
}

fn split_path(path: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    for part in path.split('.') {
        if part.is_empty() || part == "?" {
            continue;
        }
        let mut rest = part;
        if let Some(b) = rest.find('[') {
            if b > 0 {
                out.push(Seg::Key(rest[..b].to_string()));
            }
            rest = &rest[b..];
            while let Some(stripped) = rest.strip_prefix('[') {
                let end = stripped.find(']').unwrap_or(stripped.len());
                if let Ok(i) = stripped[..end].parse() {
                    out.push(Seg::Index(i));
                }
                rest = stripped.get(end + 1..).unwrap_or("");
            }
        } else {
            out.push(Seg::Key(rest.to_string()));
        }
    }
    out
}

/// Parse one YAML document. An empty document is an empty mapping. Plain block YAML is read
/// by [`crate::world::fastyaml`] (the same tree, faster), anything else by the general parser.
pub fn parse(src: &str) -> Result<Node, SyntaxError> {
    match crate::world::fastyaml::parse(src) {
        Some(node) => Ok(node),
        None => parse_general(src),
    }
}

/// [`parse`] with the general parser only (yaml-rust2), whatever the text.
pub fn parse_general(src: &str) -> Result<Node, SyntaxError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(src);
    parser.load(&mut builder, true).map_err(|e| SyntaxError {
        pos: Pos {
            line: e.marker().line(),
            col: e.marker().col() + 1,
        },
        message: e.info().to_string(),
    })?;
    if let Some(err) = builder.error {
        return Err(err);
    }
    Ok(builder.root.unwrap_or(Node {
        pos: Pos { line: 1, col: 1 },
        kind: Kind::Map(Vec::new()),
    }))
}

enum Frame {
    Seq(Pos, usize, Vec<Node>),
    Map(Pos, usize, Vec<(String, Pos, Node)>, Option<(String, Pos)>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Node>,
    /// Each anchored node with its size in nodes.
    anchors: HashMap<usize, (Node, usize)>,
    /// Nodes copied for anchors and aliases so far (bounded by MAX_ALIAS_NODES).
    copied: usize,
    documents: usize,
    error: Option<SyntaxError>,
}

/// The number of nodes in a tree (keys not counted).
fn size(node: &Node) -> usize {
    match &node.kind {
        Kind::Scalar(_) => 1,
        Kind::Seq(items) => 1 + items.iter().map(size).sum::<usize>(),
        Kind::Map(entries) => 1 + entries.iter().map(|(_, _, n)| size(n)).sum::<usize>(),
    }
}

impl Builder {
    fn fail(&mut self, pos: Pos, message: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some(SyntaxError {
                pos,
                message: message.into(),
            });
        }
    }

    /// Count `n` copied nodes against the budget; false (and the error) when it is spent.
    fn copy_budget(&mut self, pos: Pos, n: usize) -> bool {
        self.copied = self.copied.saturating_add(n);
        if self.copied > MAX_ALIAS_NODES {
            self.fail(
                pos,
                format!(
                    "anchors and aliases expand to more than {MAX_ALIAS_NODES} nodes: refused (write the values out, or use fewer aliases)"
                ),
            );
            return false;
        }
        true
    }

    fn push_node(&mut self, node: Node, anchor: usize) {
        if self.error.is_some() {
            // Nothing more is built once the file is refused: the work stays bounded.
            return;
        }
        if anchor > 0 {
            let n = size(&node);
            if !self.copy_budget(node.pos, n) {
                return;
            }
            self.anchors.insert(anchor, (node.clone(), n));
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq(_, _, items)) => items.push(node),
            Some(Frame::Map(_, _, entries, pending)) => match pending.take() {
                None => {
                    let pos = node.pos;
                    match node.kind {
                        Kind::Scalar(v) => {
                            let key = match v {
                                Value::String(s) => s,
                                Value::Null => "null".to_string(),
                                other => other.to_string(),
                            };
                            if entries.iter().any(|(k, _, _)| *k == key) {
                                self.fail(pos, format!("duplicate key `{key}`"));
                            }
                            if let Some(Frame::Map(_, _, _, pending)) = self.stack.last_mut() {
                                *pending = Some((key, pos));
                            }
                        }
                        _ => self.fail(pos, "a mapping key must be a plain value"),
                    }
                }
                Some((key, kpos)) => entries.push((key, kpos, node)),
            },
        }
    }
}

fn pos_of(mark: Marker) -> Pos {
    Pos {
        line: mark.line(),
        col: mark.col() + 1,
    }
}

/// YAML 1.2 core schema resolution of a plain scalar.
pub(crate) fn resolve_plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Ok(i) = s.parse::<i64>() {
        return Value::from(i);
    }
    let numeric = s
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'));
    if numeric
        && s.chars().any(|c| c.is_ascii_digit())
        && let Ok(f) = s.parse::<f64>()
        && let Some(n) = serde_json::Number::from_f64(f)
    {
        return Value::Number(n);
    }
    Value::String(s.to_string())
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let pos = pos_of(mark);
        match ev {
            Event::Scalar(text, style, anchor, _tag) => {
                let value = if style == TScalarStyle::Plain {
                    resolve_plain(&text)
                } else {
                    Value::String(text)
                };
                self.push_node(
                    Node {
                        pos,
                        kind: Kind::Scalar(value),
                    },
                    anchor,
                );
            }
            Event::DocumentStart => {
                self.documents += 1;
                if self.documents > 1 {
                    self.fail(
                        pos,
                        "a second YAML document: a file holds one document (remove the `---` and what follows, or merge them)",
                    );
                }
            }
            Event::SequenceStart(..) | Event::MappingStart(..) if self.stack.len() >= MAX_DEPTH => {
                self.fail(
                    pos,
                    format!("nested more than {MAX_DEPTH} levels deep: refused"),
                );
            }
            _ if self.error.is_some() => {}
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq(pos, anchor, Vec::new())),
            Event::MappingStart(anchor, _) => {
                self.stack.push(Frame::Map(pos, anchor, Vec::new(), None))
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq(p, anchor, items)) = self.stack.pop() {
                    self.push_node(
                        Node {
                            pos: p,
                            kind: Kind::Seq(items),
                        },
                        anchor,
                    );
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map(p, anchor, entries, _)) = self.stack.pop() {
                    self.push_node(
                        Node {
                            pos: p,
                            kind: Kind::Map(entries),
                        },
                        anchor,
                    );
                }
            }
            Event::Alias(id) => match self.anchors.get(&id).map(|(_, n)| *n) {
                Some(n) => {
                    if self.copy_budget(pos, n) {
                        let mut node = self.anchors[&id].0.clone();
                        node.pos = pos;
                        self.push_node(node, 0);
                    }
                }
                None => self.fail(pos, "alias to an unknown anchor"),
            },
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_scalars() {
        let src = "a: 1\nb:\n  - x: \"2\"\n    y: true\n  - ~\n";
        let n = parse(src).unwrap();
        assert_eq!(n.get("a").unwrap().to_json(), Value::from(1));
        assert_eq!(n.locate("b[0].y"), Pos { line: 4, col: 5 });
        assert_eq!(n.locate("b[1]").line, 5);
        assert_eq!(
            n.to_json()["b"][0]["x"],
            Value::String("2".into()),
            "quoted scalars stay strings"
        );
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let err = parse("a: 1\na: 2\n").unwrap_err();
        assert_eq!(err.pos.line, 2);
        assert!(err.message.contains("duplicate key"));
    }

    #[test]
    fn json_is_accepted() {
        let n = parse("{\"a\": [1, {\"b\": null}]}").unwrap();
        assert_eq!(n.to_json(), serde_json::json!({"a": [1, {"b": null}]}));
    }

    /// The "billion laughs": nine levels of ten aliases each would be 10^9 nodes.
    fn laughs() -> String {
        let mut s = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..10 {
            let prev = format!("*a{}", i - 1);
            let items = [prev.as_str(); 10].join(", ");
            s.push_str(&format!("a{i}: &a{i} [{items}]\n"));
        }
        s
    }

    #[test]
    fn alias_expansion_is_bounded_and_located() {
        let src = laughs();
        assert!(src.len() < 1000);
        let err = parse(&src).unwrap_err();
        assert!(
            err.message.contains("expand to more than"),
            "{}",
            err.message
        );
        assert!(err.pos.line >= 6 && err.pos.line <= 10, "{:?}", err.pos);
    }

    #[test]
    fn a_few_aliases_still_work() {
        let n = parse("base: &b {x: 1}\nother: *b\n").unwrap();
        assert_eq!(n.to_json()["other"], serde_json::json!({"x": 1}));
    }

    #[test]
    fn a_second_document_is_an_error() {
        let err = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert_eq!(err.pos.line, 2);
        assert!(err.message.contains("second YAML document"));
        // One explicit document is fine.
        assert!(parse("---\na: 1\n").is_ok());
    }

    #[test]
    fn deep_nesting_is_refused_at_its_line() {
        let src = format!("a: {}1{}\n", "[".repeat(200), "]".repeat(200));
        let err = parse(&src).unwrap_err();
        assert!(err.message.contains("nested more than"), "{}", err.message);
        assert_eq!(err.pos.line, 1);
        let ok = format!("a: {}1{}\n", "[".repeat(100), "]".repeat(100));
        assert!(parse(&ok).is_ok());
    }
}
