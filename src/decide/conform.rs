//! Whether every entity of a world fits the schema, without building every entity in Cedar:
//! Cedar's schema conformance of an entity depends only on its *skeleton* (its type, the names
//! and value types of its attributes, the types of its parents, and the ids of entities of an
//! enumerated type), so one entity per skeleton is given to Cedar. Values that Cedar checks by
//! their content (datetimes) are checked once per distinct value.
//!
//! Owns that reduction and the proof obligations it carries (see `tests/perf_exact.rs`): it must
//! refuse exactly the worlds that building every entity with the schema refuses. Where it cannot
//! be sure (two entities with one uid, a cycle between entity types), it answers
//! [`Reduced::Unsure`] and the caller builds everything.
//!
//! Must not decide requests. May use: [`crate::decide::entities`] and `cedar-policy`.

use crate::decide::entities::{EntityContext, Translation};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write;

/// The entities Cedar must see to judge a whole world's conformance.
pub enum Reduced {
    /// One entity per skeleton, and every distinct datetime argument.
    Sample {
        entities: Vec<Value>,
        datetimes: BTreeSet<String>,
    },
    /// The reduction does not apply: build and check every entity.
    Unsure,
}

/// The entity types a schema declares as enumerations (`entity T enum [...]`), by full name.
pub fn enum_types(schema_text: &str) -> Option<HashSet<String>> {
    let (fragment, _) = cedar_policy::SchemaFragment::from_cedarschema_str(schema_text).ok()?;
    let json = fragment.to_json_value().ok()?;
    let mut out = HashSet::new();
    for (ns, body) in json.as_object()? {
        for (name, def) in body["entityTypes"].as_object().into_iter().flatten() {
            if def.get("enum").is_some() {
                out.insert(if ns.is_empty() {
                    name.clone()
                } else {
                    format!("{ns}::{name}")
                });
            }
        }
    }
    Some(out)
}

/// What one share of the entities shows: one entity per skeleton, the hashes of their uids,
/// their datetime arguments and the parent types of each entity type.
#[derive(Default)]
struct Part {
    reps: foldhash::HashMap<String, Value>,
    uids: foldhash::HashSet<u64>,
    datetimes: BTreeSet<String>,
    type_edges: BTreeMap<String, BTreeSet<String>>,
    /// Two entities with one uid (or one uid hash): the reduction does not apply.
    unsure: bool,
}

impl Part {
    fn add(&mut self, e: Value, enums: &HashSet<String>) {
        let (Some(t), Some(id)) = (e["uid"]["type"].as_str(), e["uid"]["id"].as_str()) else {
            self.unsure = true;
            return;
        };
        if !self.uids.insert(uid_hash(t, id)) {
            // Cedar accepts identical duplicates and refuses others: let it judge them all.
            self.unsure = true;
        }
        if !self.type_edges.contains_key(t) {
            self.type_edges.insert(t.to_string(), BTreeSet::new());
        }
        if let Some(edges) = self.type_edges.get_mut(t) {
            for p in e["parents"].as_array().into_iter().flatten() {
                match p["type"].as_str() {
                    Some(pt) if !edges.contains(pt) => {
                        edges.insert(pt.to_string());
                    }
                    _ => {}
                }
            }
        }
        let mut key = String::new();
        skeleton(&e, enums, &mut self.datetimes, &mut key);
        self.reps.entry(key).or_insert(e);
    }

    fn merge(mut self, other: Part) -> Part {
        let before = self.uids.len() + other.uids.len();
        self.uids.extend(other.uids);
        self.unsure |= other.unsure || self.uids.len() != before;
        for (k, v) in other.reps {
            self.reps.entry(k).or_insert(v);
        }
        self.datetimes.extend(other.datetimes);
        for (t, ps) in other.type_edges {
            self.type_edges.entry(t).or_default().extend(ps);
        }
        self
    }
}

/// A uid's hash, the same in every share (a fixed seed): equal uids meet in [`Part::merge`].
fn uid_hash(t: &str, id: &str) -> u64 {
    use std::hash::BuildHasher;
    foldhash::quality::FixedState::with_seed(0).hash_one((t, id))
}

/// One entity per skeleton of the world's entities, or [`Reduced::Unsure`]. Linear in the
/// entities, in parallel.
pub fn reduce(tr: &Translation, enums: &HashSet<String>) -> Reduced {
    use rayon::prelude::*;
    let cx = EntityContext::of(&tr.world);
    let records: Vec<_> = tr.records().collect();
    let all = records
        .par_chunks(4096)
        .map(|chunk| {
            let mut part = Part::default();
            for &r in chunk {
                part.add(tr.entity_json(&cx, r), enums);
            }
            part
        })
        .reduce(Part::default, Part::merge);
    if all.unsure || has_cycle(&all.type_edges) {
        return Reduced::Unsure;
    }
    let mut entities: Vec<(String, Value)> = all.reps.into_iter().collect();
    // A fixed order, so that the first refusal reported is the same on every run.
    entities.sort_by(|a, b| a.0.cmp(&b.0));
    Reduced::Sample {
        entities: entities.into_iter().map(|(_, e)| e).collect(),
        datetimes: all.datetimes,
    }
}

/// The skeleton of a value in Cedar's JSON form, written to `out`: strings, booleans and
/// numbers become their kind; a uid keeps its type (and its id when the type is an
/// enumeration); a set becomes the set of its elements' skeletons; a record keeps its keys; a
/// datetime's argument is collected (each is checked on its own).
fn skeleton(
    v: &Value,
    enums: &HashSet<String>,
    datetimes: &mut BTreeSet<String>,
    out: &mut String,
) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(_) => out.push_str("bool"),
        Value::String(_) => out.push_str("str"),
        Value::Number(n) if n.as_i64().is_some() => out.push_str("long"),
        Value::Number(n) => {
            let _ = write!(out, "num({n})");
        }
        Value::Array(items) => {
            let mut set: Vec<String> = items
                .iter()
                .map(|i| {
                    let mut s = String::new();
                    skeleton(i, enums, datetimes, &mut s);
                    s
                })
                .collect();
            set.sort();
            set.dedup();
            out.push('[');
            for e in set {
                // Length-prefixed: no element can run into the next.
                let _ = write!(out, "{}:{e};", e.len());
            }
            out.push(']');
        }
        Value::Object(m) => object_skeleton(m, enums, datetimes, out),
    }
}

fn object_skeleton(
    m: &serde_json::Map<String, Value>,
    enums: &HashSet<String>,
    datetimes: &mut BTreeSet<String>,
    out: &mut String,
) {
    if let Some(x) = m.get("__extn") {
        match (x["arg"].as_str(), x.as_object().map(|o| o.len()), m.len()) {
            (Some(arg), Some(2), 1) if x["fn"].is_string() => {
                if !datetimes.contains(arg) {
                    datetimes.insert(arg.to_string());
                }
                push_quoted(out, "extn(", x["fn"].as_str().unwrap_or_default());
                out.push(')');
            }
            // Anything else is kept whole: its own skeleton.
            _ => out.push_str(&Value::Object(m.clone()).to_string()),
        }
        return;
    }
    if let (Some(t), Some(id), 2) = (m.get("type"), m.get("id"), m.len()) {
        // A uid (of an entity, a reference or a parent).
        let keep = t.as_str().is_some_and(|t| enums.contains(t)) || !id.is_string();
        match t.as_str() {
            Some(t) => push_quoted(out, "uid(", t),
            None => {
                let _ = write!(out, "uid({t}");
            }
        }
        out.push(',');
        if keep {
            let _ = write!(out, "{id}");
        }
        out.push(')');
        return;
    }
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    out.push('{');
    for k in keys {
        // Length-prefixed: no key can run into the next.
        let _ = write!(out, "{}:{k}:", k.len());
        skeleton(&m[k], enums, datetimes, out);
        out.push(',');
    }
    out.push('}');
}

/// `prefix`, then `s` as its JSON text would be (quoted and escaped), without building a JSON
/// value to print it.
fn push_quoted(out: &mut String, prefix: &str, s: &str) {
    out.push_str(prefix);
    if s.bytes()
        .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
    {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(&Value::from(s).to_string());
    }
}

/// Whether a directed graph of names has a cycle (a type that is its own ancestor).
fn has_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> bool {
    // 0 unseen, 1 on the current path, 2 done; iterative depth-first search.
    let mut state: HashMap<&str, u8> = HashMap::new();
    for start in edges.keys() {
        if state.get(start.as_str()).copied().unwrap_or(0) != 0 {
            continue;
        }
        let mut stack: Vec<(&str, Vec<&str>)> = vec![(start, children(edges, start))];
        state.insert(start, 1);
        while let Some((node, rest)) = stack.last_mut() {
            match rest.pop() {
                Some(c) => match state.get(c).copied().unwrap_or(0) {
                    1 => return true,
                    0 => {
                        state.insert(c, 1);
                        stack.push((c, children(edges, c)));
                    }
                    _ => {}
                },
                None => {
                    state.insert(*node, 2);
                    stack.pop();
                }
            }
        }
    }
    false
}

fn children<'a>(edges: &'a BTreeMap<String, BTreeSet<String>>, n: &str) -> Vec<&'a str> {
    edges
        .get(n)
        .map(|s| s.iter().map(String::as_str).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_cycles_are_found() {
        let g = |pairs: &[(&str, &str)]| {
            let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for (a, b) in pairs {
                m.entry(a.to_string()).or_default().insert(b.to_string());
            }
            m
        };
        assert!(!has_cycle(&g(&[
            ("User", "Account"),
            ("User", "Grant"),
            ("AccessGroup", "Grant")
        ])));
        assert!(has_cycle(&g(&[("A", "B"), ("B", "C"), ("C", "A")])));
        assert!(has_cycle(&g(&[("A", "A")])));
    }

    #[test]
    fn skeletons_forget_values_but_not_types() {
        let enums: HashSet<String> = ["Role".to_string()].into();
        let mut dts = BTreeSet::new();
        let a = serde_json::json!({"uid": {"type": "K", "id": "k1"}, "attrs": {"n": "x", "c": 1,
            "r": {"__entity": {"type": "Role", "id": "Admin"}}, "s": []}, "parents": []});
        let b = serde_json::json!({"uid": {"type": "K", "id": "k2"}, "attrs": {"n": "y", "c": 2,
            "r": {"__entity": {"type": "Role", "id": "Admin"}}, "s": []}, "parents": []});
        let c = serde_json::json!({"uid": {"type": "K", "id": "k2"}, "attrs": {"n": "y", "c": 2,
            "r": {"__entity": {"type": "Role", "id": "Viewer"}}, "s": []}, "parents": []});
        let d = serde_json::json!({"uid": {"type": "K", "id": "k2"}, "attrs": {"n": true, "c": 2,
            "r": {"__entity": {"type": "Role", "id": "Admin"}}, "s": []}, "parents": []});
        let sk = |v: &Value, dts: &mut BTreeSet<String>| {
            let mut s = String::new();
            skeleton(v, &enums, dts, &mut s);
            s
        };
        assert_eq!(sk(&a, &mut dts), sk(&b, &mut dts));
        assert_ne!(sk(&a, &mut dts), sk(&c, &mut dts), "enum ids are kept");
        assert_ne!(sk(&a, &mut dts), sk(&d, &mut dts), "value types are kept");
        let t = serde_json::json!({"__extn": {"fn": "datetime", "arg": "2026-01-01"}});
        sk(&t, &mut dts);
        assert!(dts.contains("2026-01-01"));
    }
}
