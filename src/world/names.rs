//! Display names as handles: where the CLI takes an id, it also accepts a value that names
//! exactly one thing of the expected kind by `email` or `name` (a resource group by `name`
//! within its account). docs/cli.md, "Display fields".
//!
//! Owns the lookup. An id of the world is always itself; a value that names nothing is given
//! back unchanged, so the command's own checks report it as before; a value that names several
//! things is bad input listing them. Must not decide anything: display fields never do. May
//! use: the world's records.

use crate::world::model::{IdKind, World};
use crate::world::problem::Problem;

/// One thing a display value may name: its id, kind and how it is shown.
struct Candidate {
    id: String,
    kind: IdKind,
    shown: String,
}

fn candidates(w: &World, value: &str) -> Vec<Candidate> {
    let named = |n: &Option<String>| n.as_deref() == Some(value);
    let mut out = Vec::new();
    for a in w.accounts.iter().filter(|a| named(&a.name)) {
        out.push(Candidate {
            id: a.id.clone(),
            kind: IdKind::Account,
            shown: value.to_string(),
        });
    }
    for u in &w.users {
        let by_email = u
            .email
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case(value));
        if by_email || named(&u.name) {
            let shown = match (&u.name, &u.email) {
                (Some(n), Some(e)) => format!("{n} <{e}>"),
                (Some(n), None) => n.clone(),
                (None, Some(e)) => e.clone(),
                (None, None) => String::new(),
            };
            out.push(Candidate {
                id: u.id.clone(),
                kind: IdKind::User,
                shown,
            });
        }
    }
    for s in w.service_ids.iter().filter(|s| named(&s.name)) {
        out.push(Candidate {
            id: s.id.clone(),
            kind: IdKind::ServiceId,
            shown: value.to_string(),
        });
    }
    for g in w.access_groups.iter().filter(|g| named(&g.name)) {
        out.push(Candidate {
            id: g.id.clone(),
            kind: IdKind::AccessGroup,
            shown: value.to_string(),
        });
    }
    for c in w.clusters.iter().filter(|c| named(&c.name)) {
        out.push(Candidate {
            id: c.id.clone(),
            kind: IdKind::Cluster,
            shown: value.to_string(),
        });
    }
    out
}

/// The id `value` stands for among `kinds`: itself when it is an id of the world or names
/// nothing; the one thing it names by email or name; else a problem for `flag` listing every
/// candidate.
pub fn resolve(w: &World, value: &str, kinds: &[IdKind], flag: &str) -> Result<String, Problem> {
    if w.index().ids.contains_key(value) {
        return Ok(value.to_string());
    }
    let found: Vec<Candidate> = candidates(w, value)
        .into_iter()
        .filter(|c| kinds.contains(&c.kind))
        .collect();
    match found.as_slice() {
        [] => Ok(value.to_string()),
        [one] => Ok(one.id.clone()),
        many => Err(Problem::arg(
            flag,
            ambiguous(
                value,
                many.iter()
                    .map(|c| format!("{} {} ({})", c.kind.noun(), c.id, c.shown)),
            ),
        )),
    }
}

/// The resource group id `value` stands for in `account`: itself, or the one group of that
/// account with that name; several → a problem listing them.
pub fn resolve_resource_group(
    w: &World,
    account: &str,
    value: &str,
    flag: &str,
) -> Result<String, Problem> {
    let Some(a) = w.account(account) else {
        return Ok(value.to_string());
    };
    if a.resource_groups.iter().any(|g| g.id == value) || a.default_resource_group == value {
        return Ok(value.to_string());
    }
    let found: Vec<&str> = a
        .resource_groups
        .iter()
        .filter(|g| g.name.as_deref() == Some(value))
        .map(|g| g.id.as_str())
        .collect();
    match found.as_slice() {
        [] => Ok(value.to_string()),
        [one] => Ok(one.to_string()),
        many => Err(Problem::arg(
            flag,
            ambiguous(value, many.iter().map(|id| format!("resource group {id}"))),
        )),
    }
}

fn ambiguous(value: &str, items: impl Iterator<Item = String>) -> String {
    let list: Vec<String> = items.collect();
    format!(
        "`{value}` names {} things: {}; give one's id",
        list.len(),
        list.join(", ")
    )
}

/// The display name of an id, for text output beside an opaque id (`None` when it has none).
pub fn display(w: &World, id: &str) -> Option<String> {
    if let Some(u) = w.user(id) {
        return u.name.clone().or_else(|| u.email.clone());
    }
    if let Some(s) = w.service_id(id) {
        return s.name.clone();
    }
    w.accounts
        .iter()
        .find(|a| a.id == id)
        .and_then(|a| a.name.clone())
        .or_else(|| {
            w.access_groups
                .iter()
                .find(|g| g.id == id)
                .and_then(|g| g.name.clone())
        })
        .or_else(|| {
            w.clusters
                .iter()
                .find(|c| c.id == id)
                .and_then(|c| c.name.clone())
        })
}
