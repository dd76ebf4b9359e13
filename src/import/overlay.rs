//! `--overlay FILE`: a world-format fragment merged over an imported world by id — what IBM's
//! APIs cannot say (functional IDs, a service ID's creator, cluster API key slots).
//!
//! Owns the merge: a record whose id (for `cluster_api_keys`, whose account, region and
//! resource group) matches an imported one has its fields replaced by the overlay's; any other
//! is added; `role_bindings` are added. Each merged record is checked against the world's
//! record shape and a problem is located in the overlay file. Must not decide anything. May
//! use: the world's records, located YAML and problems.

use crate::world::problem::{Problem, Problems};
use crate::world::yaml::{self, Kind, Node};
use crate::world::{
    AccessGroup, Account, ApiKey, ClassicKey, Cluster, ClusterApiKey, RoleBinding, ServiceId, User,
    World,
};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// How many records an overlay changed and added.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Merged {
    pub changed: usize,
    pub added: usize,
}

/// Merge the overlay `src` (named `file` in problems) over `world`.
pub fn apply(world: &World, file: &str, src: &str) -> Result<(World, Merged), Problems> {
    // Located like a world file's syntax error (world::model::parse_world).
    let root = yaml::parse(src).map_err(|e| {
        Problems::one(Problem::new(
            file,
            e.pos,
            "",
            format!("not valid YAML/JSON: {}", e.message),
        ))
    })?;
    let cannot = |e: serde_json::Error| {
        Problems::one(Problem::new(
            file,
            root.pos,
            "",
            format!("cannot merge: {e}"),
        ))
    };
    let mut base = serde_json::to_value(world).map_err(cannot)?;
    let Kind::Map(entries) = &root.kind else {
        return Err(Problems::one(Problem::new(
            file,
            root.pos,
            "",
            "an overlay is a mapping with world sections (users, service_ids, cluster_api_keys, ...)",
        )));
    };
    let mut merged = Merged::default();
    let mut problems = Vec::new();
    for (section, kpos, node) in entries {
        if section == "now" {
            base["now"] = node.to_json();
            continue;
        }
        let Some(check) = checker(section) else {
            problems.push(Problem::new(
                file,
                *kpos,
                section,
                format!("unknown section `{section}`"),
            ));
            continue;
        };
        let Kind::Seq(list) = &node.kind else {
            problems.push(Problem::new(file, node.pos, section, "expected a list"));
            continue;
        };
        // Every section of a serialised world is a list.
        let Some(records) = base.get_mut(section.as_str()).and_then(Value::as_array_mut) else {
            continue;
        };
        merge_section(
            file,
            section,
            list,
            records,
            check,
            &mut merged,
            &mut problems,
        );
    }
    if !problems.is_empty() {
        return Err(Problems(problems));
    }
    let world = serde_json::from_value(base).map_err(cannot)?;
    Ok((world, merged))
}

/// Merge one section's overlay records into the imported ones, by id (or slot).
fn merge_section(
    file: &str,
    section: &str,
    list: &[Node],
    records: &mut Vec<Value>,
    check: Check,
    merged: &mut Merged,
    problems: &mut Vec<Problem>,
) {
    for (i, item) in list.iter().enumerate() {
        let at = format!("{section}[{i}]");
        let Value::Object(fields) = item.to_json() else {
            problems.push(Problem::new(
                file,
                item.pos,
                &at,
                "expected a record (a mapping)",
            ));
            continue;
        };
        let found = records.iter().position(|r| same(section, r, &fields));
        let mut record = found
            .map(|j| records[j].clone())
            .unwrap_or_else(|| Value::Object(Map::new()));
        for (k, v) in &fields {
            record[k.as_str()] = v.clone();
        }
        if let Err((inner, msg)) = check(&record) {
            let field = if inner.is_empty() {
                at.clone()
            } else {
                format!("{at}.{inner}")
            };
            problems.push(Problem::new(file, locate(item, &inner), &field, msg));
            continue;
        }
        match found {
            Some(j) => {
                records[j] = record;
                merged.changed += 1;
            }
            None => {
                records.push(record);
                merged.added += 1;
            }
        }
    }
}

/// The (account, region, resource group) of every cluster API key slot the overlay gives, so
/// that the import does not infer those (unparsable overlays give none: `apply` reports them).
pub fn slots(src: &str) -> Vec<(String, String, String)> {
    let Ok(root) = yaml::parse(src) else {
        return Vec::new();
    };
    let Some(Kind::Seq(list)) = root.get("cluster_api_keys").map(|n| &n.kind) else {
        return Vec::new();
    };
    let field = |n: &Node, k: &str| {
        n.get(k)
            .and_then(|v| v.to_json().as_str().map(str::to_string))
            .unwrap_or_default()
    };
    list.iter()
        .map(|n| {
            (
                field(n, "account"),
                field(n, "region"),
                field(n, "resource_group"),
            )
        })
        .collect()
}

/// The position of a field path inside an overlay record (the record's own when absent).
fn locate(item: &Node, inner: &str) -> yaml::Pos {
    let key = inner.split(['.', '[']).next().unwrap_or("");
    item.key_pos(key).unwrap_or(item.pos)
}

/// Whether an imported record is the one an overlay record names.
fn same(section: &str, record: &Value, overlay: &Map<String, Value>) -> bool {
    let keys: &[&str] = match section {
        "cluster_api_keys" => &["account", "region", "resource_group"],
        "role_bindings" => return false,
        _ => &["id"],
    };
    keys.iter()
        .all(|k| overlay.get(*k).is_some_and(|v| record.get(*k) == Some(v)))
}

type Check = fn(&Value) -> Result<(), (String, String)>;

fn typed<T: DeserializeOwned>(v: &Value) -> Result<(), (String, String)> {
    serde_path_to_error::deserialize::<_, T>(v)
        .map(|_| ())
        .map_err(|e| {
            let p = e.path().to_string();
            (
                if p == "." { String::new() } else { p },
                e.inner().to_string(),
            )
        })
}

fn checker(section: &str) -> Option<Check> {
    Some(match section {
        "accounts" => typed::<Account>,
        "users" => typed::<User>,
        "service_ids" => typed::<ServiceId>,
        "access_groups" => typed::<AccessGroup>,
        "role_bindings" => typed::<RoleBinding>,
        "api_keys" => typed::<ApiKey>,
        "classic_keys" => typed::<ClassicKey>,
        "clusters" => typed::<Cluster>,
        "cluster_api_keys" => typed::<ClusterApiKey>,
        _ => return None,
    })
}
