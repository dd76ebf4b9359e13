//! The write log: one JSON line per request or event that `apply --write` or `run --write`
//! carried out or refused, hash-chained (`prev_sha256` is the sha256 of the previous line's
//! bytes), and durable (fsync) before the world file is replaced, under the world's lock.
//! [`verify`] checks the chain, that each line starts from the state the previous one left,
//! and that the last line's `world_sha256_after` is the world file's current hash.
//!
//! Owns the log's file mechanics and chain only: the entries' contents are built by the caller
//! from a decision and its changes. It never holds a key value (the caller redacts `apikey`).

use crate::decide::action::{Action, ArgKind};
use crate::decide::engine::Decision;
use crate::evaluator::changes::Change;
use fs4::fs_std::FileExt;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

/// The sha256 of some bytes, in lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a log line is about.
#[derive(Clone, Copy)]
pub enum Attempted<'a> {
    /// A request the policies decided.
    Request(&'a Decision),
    /// A reported leak of this key (R14): an event, decided by no policy.
    Leak(&'a str),
}

/// What was asked, decided and done, before it is chained: the docs/cli.md fields but
/// `prev_sha256`. Secret args (an `apikey` value) are redacted; `error` is set when an allowed
/// request failed (a stale etag, nothing to delete), and its world hashes are then equal.
pub struct Attempt<'a> {
    pub what: Attempted<'a>,
    pub changes: &'a [Change],
    pub error: Option<&'a str>,
    pub policy_set_sha256: &'a str,
    pub world_sha256_before: &'a str,
    pub world_sha256_after: &'a str,
}

impl Attempt<'_> {
    /// The log line's fields, in the order docs/cli.md lists them.
    pub fn entry(&self) -> Map<String, Value> {
        let d = match self.what {
            Attempted::Request(d) => d,
            Attempted::Leak(key) => return self.finish(event_fields(key)),
        };
        let def = d.action.parse::<Action>().ok().map(Action::def);
        let secret = |name: &str| {
            def.and_then(|def| def.arg(name))
                .is_some_and(|a| matches!(a.kind, ArgKind::Secret))
        };
        let args: Map<String, Value> = d
            .args
            .iter()
            .map(|(k, v)| {
                let v = if secret(k) { "[redacted]" } else { v.as_str() };
                (k.clone(), Value::from(v))
            })
            .collect();
        let reasons: Vec<Value> = d
            .reasons
            .iter()
            .map(|r| serde_json::json!({"policy": r.policy, "rules": r.rules}))
            .collect();
        let mut m = Map::new();
        m.insert("time".into(), now().into());
        m.insert("principal".into(), d.principal.clone().into());
        m.insert("action".into(), d.action.clone().into());
        m.insert("resource".into(), d.resource.clone().into());
        m.insert("args".into(), Value::Object(args));
        m.insert(
            "decision".into(),
            serde_json::to_value(d.decision).unwrap_or(Value::Null),
        );
        m.insert("reasons".into(), Value::Array(reasons));
        self.finish(m)
    }

    /// The fields every line has after what was asked.
    fn finish(&self, mut m: Map<String, Value>) -> Map<String, Value> {
        if let Some(e) = self.error {
            m.insert("error".into(), e.into());
        }
        m.insert("policy_set_sha256".into(), self.policy_set_sha256.into());
        m.insert(
            "world_sha256_before".into(),
            self.world_sha256_before.into(),
        );
        m.insert("world_sha256_after".into(), self.world_sha256_after.into());
        m.insert(
            "changes".into(),
            serde_json::to_value(self.changes).unwrap_or(Value::Null),
        );
        m
    }
}

/// The wall-clock time of a line, to the millisecond.
fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A leak event's line: no principal, no decision.
fn event_fields(key: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("time".into(), now().into());
    m.insert("principal".into(), Value::Null);
    m.insert("action".into(), "leak".into());
    m.insert("resource".into(), key.into());
    m.insert("args".into(), Value::Object(Map::new()));
    m.insert("decision".into(), "event".into());
    m.insert("reasons".into(), Value::Array(Vec::new()));
    m
}

/// The last line of a log (without its newline), if it has one.
fn last_line(text: &str) -> Option<&str> {
    text.trim_end_matches('\n')
        .rsplit('\n')
        .next()
        .filter(|l| !l.is_empty())
}

/// Append `entries` (JSON objects without `prev_sha256`) to the log at `path`, each chained to
/// the line before it, then fsync. The log file is locked while it is read and appended, so
/// two writers never interleave or chain to the same line.
pub fn append(path: &Path, entries: Vec<Map<String, Value>>) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .append(true)
        .open(path)?;
    FileExt::lock_exclusive(&f)?;
    let mut text = String::new();
    f.seek(SeekFrom::Start(0))?;
    f.read_to_string(&mut text)?;
    if !text.is_empty() && !text.ends_with('\n') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{}: the last line is incomplete; run `keyward log verify` before writing again",
                path.display()
            ),
        ));
    }
    let mut prev = last_line(&text).map(|l| sha256_hex(l.as_bytes()));
    let mut out = String::new();
    for mut e in entries {
        e.insert(
            "prev_sha256".into(),
            prev.clone().map_or(Value::Null, Value::String),
        );
        let line = Value::Object(e).to_string();
        prev = Some(sha256_hex(line.as_bytes()));
        out.push_str(&line);
        out.push('\n');
    }
    f.write_all(out.as_bytes())?;
    f.sync_all()?;
    let _ = FileExt::unlock(&f);
    Ok(())
}

/// What [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The chain holds over this many lines (and the world matches, when given).
    Intact { lines: usize },
    /// The first line that breaks the chain (1-based; the line after the last for a world that
    /// does not match), and why.
    Broken { line: usize, why: String },
}

/// Check the log at `path` and, with `world`, that its last state is the file's current one.
pub fn verify(path: &Path, world: Option<&Path>) -> io::Result<Verdict> {
    let text = fs::read_to_string(path)?;
    let mut prev: Option<String> = None;
    let mut prev_after: Option<String> = None;
    let mut count = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let n = i + 1;
        let broken = |why: String| Ok(Verdict::Broken { line: n, why });
        let Some(line) = line.strip_suffix('\n') else {
            return broken("the line is incomplete (no newline)".into());
        };
        let v: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => return broken(format!("not a JSON object: {e}")),
        };
        let field = |k: &str| v.get(k).and_then(Value::as_str).map(String::from);
        if v.get("prev_sha256").and_then(Value::as_str) != prev.as_deref()
            || (prev.is_none() && v.get("prev_sha256") != Some(&Value::Null))
        {
            return broken(match &prev {
                None => "the first line must have \"prev_sha256\": null".into(),
                Some(p) => format!("prev_sha256 is not the sha256 of line {} ({p})", n - 1),
            });
        }
        let (Some(before), Some(after)) =
            (field("world_sha256_before"), field("world_sha256_after"))
        else {
            return broken("world_sha256_before or world_sha256_after is missing".into());
        };
        if let Some(pa) = &prev_after
            && *pa != before
        {
            return broken(format!(
                "it starts from world {before}, but line {} left {pa}: the world changed outside keyward",
                n - 1
            ));
        }
        prev = Some(sha256_hex(line.as_bytes()));
        prev_after = Some(after);
        count = n;
    }
    if let (Some(w), Some(after)) = (world, &prev_after) {
        let bytes =
            fs::read(w).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", w.display())))?;
        let now = sha256_hex(&bytes);
        if now != *after {
            return Ok(Verdict::Broken {
                line: count + 1,
                why: format!(
                    "{} is at {now}, not at {after} where line {count} left it: it changed outside keyward",
                    w.display()
                ),
            });
        }
    }
    Ok(Verdict::Intact { lines: count })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(before: &str, after: &str) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("action".into(), "api-key-delete".into());
        m.insert("world_sha256_before".into(), before.into());
        m.insert("world_sha256_after".into(), after.into());
        m
    }

    #[test]
    fn a_chain_verifies_and_any_edit_breaks_it_at_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("w.log");
        append(&log, vec![entry("a", "b"), entry("b", "b")]).unwrap();
        append(&log, vec![entry("b", "c")]).unwrap();
        assert_eq!(verify(&log, None).unwrap(), Verdict::Intact { lines: 3 });
        let text = fs::read_to_string(&log).unwrap();
        let first = text.lines().next().unwrap();
        assert!(first.contains("\"prev_sha256\":null"));
        // Rewrite line 2's action: line 3 no longer chains to it.
        let edited = text.replacen("api-key-delete", "api-key-get", 2);
        fs::write(&log, edited).unwrap();
        match verify(&log, None).unwrap() {
            Verdict::Broken { line, .. } => assert_eq!(line, 2),
            v => panic!("{v:?}"),
        }
        // Dropping a line breaks the chain too.
        let lines: Vec<&str> = text.lines().collect();
        fs::write(&log, format!("{}\n{}\n", lines[0], lines[2])).unwrap();
        assert!(matches!(
            verify(&log, None).unwrap(),
            Verdict::Broken { line: 2, .. }
        ));
    }

    #[test]
    fn the_world_must_be_where_the_last_line_left_it() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("w.log");
        let world = dir.path().join("w.yaml");
        fs::write(&world, "x").unwrap();
        let h = sha256_hex(b"x");
        append(&log, vec![entry("0", &h)]).unwrap();
        assert_eq!(
            verify(&log, Some(&world)).unwrap(),
            Verdict::Intact { lines: 1 }
        );
        fs::write(&world, "y").unwrap();
        assert!(matches!(
            verify(&log, Some(&world)).unwrap(),
            Verdict::Broken { line: 2, .. }
        ));
    }
}
