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
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

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

/// One entity per skeleton of the world's entities, or [`Reduced::Unsure`].
pub fn reduce(tr: &Translation, enums: &HashSet<String>) -> Reduced {
    let cx = EntityContext::of(&tr.world);
    let mut reps: HashMap<String, Value> = HashMap::new();
    let mut uids: HashSet<(String, String)> = HashSet::new();
    let mut datetimes = BTreeSet::new();
    // Entity type -> the types of its parents: a cycle between types is the only way the
    // hierarchy of the whole world could have a cycle that no sample shows.
    let mut type_edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for rec in tr.records() {
        let e = tr.entity_json(&cx, rec);
        let (Some(t), Some(id)) = (e["uid"]["type"].as_str(), e["uid"]["id"].as_str()) else {
            return Reduced::Unsure;
        };
        if !uids.insert((t.to_string(), id.to_string())) {
            // Cedar accepts identical duplicates and refuses others: let it judge them all.
            return Reduced::Unsure;
        }
        let edges = type_edges.entry(t.to_string()).or_default();
        for p in e["parents"].as_array().into_iter().flatten() {
            edges.extend(p["type"].as_str().map(String::from));
        }
        let key = skeleton(&e, enums, &mut datetimes).to_string();
        reps.entry(key).or_insert(e);
    }
    if has_cycle(&type_edges) {
        return Reduced::Unsure;
    }
    let mut entities: Vec<(String, Value)> = reps.into_iter().collect();
    // A fixed order, so that the first refusal reported is the same on every run.
    entities.sort_by(|a, b| a.0.cmp(&b.0));
    Reduced::Sample {
        entities: entities.into_iter().map(|(_, e)| e).collect(),
        datetimes,
    }
}

/// The skeleton of a value in Cedar's JSON form: strings, booleans and numbers become their
/// kind; an entity reference keeps its type (and its id when the type is an enumeration); a
/// set becomes the set of its elements' skeletons; a datetime's argument is collected.
fn skeleton(v: &Value, enums: &HashSet<String>, datetimes: &mut BTreeSet<String>) -> Value {
    match v {
        Value::Null => Value::from("null"),
        Value::Bool(_) => Value::from("bool"),
        Value::String(_) => Value::from("string"),
        Value::Number(n) if n.as_i64().is_some() => Value::from("long"),
        Value::Number(n) => Value::from(format!("number {n}")),
        Value::Array(items) => {
            let set: BTreeSet<String> = items
                .iter()
                .map(|i| skeleton(i, enums, datetimes).to_string())
                .collect();
            Value::Array(set.into_iter().map(Value::from).collect())
        }
        Value::Object(m) => {
            if let Some(arg) = m.get("__extn").and_then(|x| x["arg"].as_str()) {
                datetimes.insert(arg.to_string());
                let mut x = m["__extn"].clone();
                x["arg"] = Value::from("");
                return serde_json::json!({"__extn": x});
            }
            if let (Some(t), Some(_), 2) = (m.get("type"), m.get("id"), m.len()) {
                // A uid (of an entity, a reference or a parent).
                return uid_skeleton(t, &m["id"], enums);
            }
            let out: Map<String, Value> = m
                .iter()
                .map(|(k, x)| (k.clone(), skeleton(x, enums, datetimes)))
                .collect();
            Value::Object(out)
        }
    }
}

fn uid_skeleton(t: &Value, id: &Value, enums: &HashSet<String>) -> Value {
    let keep = t.as_str().is_some_and(|t| enums.contains(t)) || !id.is_string();
    serde_json::json!({"type": t, "id": if keep { id.clone() } else { Value::from("") }})
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
        let sk = |v: &Value, dts: &mut BTreeSet<String>| skeleton(v, &enums, dts);
        assert_eq!(sk(&a, &mut dts), sk(&b, &mut dts));
        assert_ne!(sk(&a, &mut dts), sk(&c, &mut dts), "enum ids are kept");
        assert_ne!(sk(&a, &mut dts), sk(&d, &mut dts), "value types are kept");
        let t = serde_json::json!({"__extn": {"fn": "datetime", "arg": "2026-01-01"}});
        sk(&t, &mut dts);
        assert!(dts.contains("2026-01-01"));
    }
}
