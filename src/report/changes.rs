//! What a carried-out request or event did, for people and programs: its one-line summary,
//! its `result` JSON, and the typed changes of a world as a readable diff or a JSON array.
//!
//! Owns the wording of every [`Done`] and the shape of its `result`; it must not change a world
//! nor decide anything (the evaluator has done both). May use [`crate::evaluator`] and below.

use crate::evaluator::changes::{
    Change, ClusterKeyInfo, ClusterKeyReset, Done, IdentityKind, KeyFlag, LeakOutcome, Op, SlotId,
};
use crate::report::text::{esc, push_line};
use crate::world::{ApiKey, ClusterApiKey};
use serde_json::{Value, json};

/// One line for people: what was done (escaped: it quotes ids and names).
pub fn summary_text(done: &Done) -> String {
    esc(&summary(done)).into_owned()
}

fn summary(done: &Done) -> String {
    match done {
        Done::KeyCreated {
            id,
            identity,
            account,
        } => format!("created API key {id} for {identity} in {account}"),
        Done::KeyShown { key, etag } => {
            format!("API key {}: {}", key.id, one_line(&shown(key, etag)))
        }
        Done::KeyUpdated { id, changed, .. } if changed.is_empty() => {
            format!("API key {id}: nothing to update")
        }
        Done::KeyUpdated { id, changed, .. } => {
            format!("updated API key {id} ({})", changed.join(", "))
        }
        Done::KeyDeleted { id, slots } if slots.is_empty() => format!("deleted API key {id}"),
        Done::KeyDeleted { id, slots } => format!(
            "deleted API key {id}; the cluster API key of {} now names a deleted key: reset it (F2)",
            slots.join(", ")
        ),
        Done::KeyFlagSet { id, flag, already } => {
            let word = flag_word(*flag);
            if *already {
                format!("API key {id} is already {word}")
            } else {
                format!("{word} API key {id}")
            }
        }
        Done::LoggedIn {
            key,
            identity,
            kind,
            account,
        } => format!(
            "API key {key} authenticates as {} {identity} in account {account}",
            kind_word(*kind)
        ),
        Done::ClassicKeyCreated { id, user, account } => {
            format!("created classic infrastructure API key {id} for {user} in {account}")
        }
        Done::ClassicKeyShown { key } => format!(
            "classic infrastructure API key {} of {} in {}",
            key.id, key.user, key.account
        ),
        Done::ClassicKeyDeleted { key } => format!(
            "deleted classic infrastructure API key {} of {} in {}",
            key.id, key.user, key.account
        ),
        Done::RestrictionSet {
            account,
            value,
            already,
        } => {
            let how = if *already { "is already" } else { "set to" };
            format!(
                "account {account}: restrict_user_api_key_creation {how} {}",
                value.as_str()
            )
        }
        Done::ClusterKeyReset(r) => reset_text(r),
        Done::ClusterKeyInfo(i) => info_text(i),
        Done::UserRemoved {
            user,
            account,
            removed_keys,
            orphaned,
        } => removal_text(user, account, removed_keys, orphaned),
        Done::KeyLeaked { key, outcome, .. } => leak_text(key, *outcome),
    }
}

/// What the operation reports, as JSON (`result` in `apply --format json` and `run`).
pub fn result_json(done: &Done) -> Option<Value> {
    Some(match done {
        Done::KeyCreated { id, .. } => json!({"api_key": id}),
        Done::KeyShown { key, etag } => shown(key, etag),
        Done::KeyUpdated { id, etag, .. } => json!({"api_key": id, "etag": etag}),
        Done::KeyDeleted { id, slots } => json!({"api_key": id, "cluster_key_slots": slots}),
        Done::KeyFlagSet { .. } | Done::RestrictionSet { .. } => return None,
        Done::LoggedIn {
            key,
            identity,
            kind,
            account,
        } => json!({
            "api_key": key,
            "identity": identity,
            "identity_kind": kind_word(*kind),
            "account": account,
        }),
        Done::ClassicKeyCreated { id, .. } => json!({"classic_key": id}),
        Done::ClassicKeyShown { key } => serde_json::to_value(key).unwrap_or(Value::Null),
        Done::ClassicKeyDeleted { key } => json!({"classic_key": key.id}),
        Done::ClusterKeyReset(r) => json!({
            "api_key": r.api_key,
            "previous_api_key": r.previous,
            "obsolete": r.obsolete,
            "recreate_addons": r
                .recreate_addons
                .iter()
                .map(|(cluster, addons)| json!({"cluster": cluster, "addons": addons}))
                .collect::<Vec<_>>(),
        }),
        Done::ClusterKeyInfo(i) => json!({
            "cluster": i.cluster,
            "account": i.slot.account,
            "region": i.slot.region,
            "resource_group": i.slot.resource_group,
            "api_key": i.api_key,
            "identity": i.identity,
        }),
        Done::UserRemoved {
            removed_keys,
            orphaned,
            ..
        } => json!({
            "removed_api_keys": removed_keys,
            "orphaned_cluster_keys": orphaned
                .iter()
                .map(|s| json!({"account": s.account, "region": s.region, "resource_group": s.resource_group, "api_key": s.api_key}))
                .collect::<Vec<_>>(),
        }),
        Done::KeyLeaked { key, action, .. } => {
            json!({"api_key": key, "action_when_leaked": action.as_str()})
        }
    })
}

/// A shown key's metadata: its record with its current etag.
fn shown(key: &ApiKey, etag: &str) -> Value {
    let mut meta = serde_json::to_value(key).unwrap_or(Value::Null);
    meta["etag"] = json!(etag);
    meta
}

fn info_text(i: &ClusterKeyInfo) -> String {
    let cluster = &i.cluster;
    match (&i.api_key, &i.identity) {
        (None, _) => format!(
            "cluster {cluster} ({}): no cluster API key is set",
            i.slot.id()
        ),
        (Some(k), None) => {
            format!("cluster {cluster} uses API key {k}, which no longer exists: reset it (F2)")
        }
        (Some(k), Some(who)) => format!("cluster {cluster} uses API key {k} ({who}'s credentials)"),
    }
}

fn leak_text(key: &str, outcome: LeakOutcome) -> String {
    match outcome {
        LeakOutcome::NothingDone => {
            format!("leak of {key} reported; its leak action is none: nothing done")
        }
        LeakOutcome::AlreadyDisabled => format!("leak of {key} reported; it is already disabled"),
        LeakOutcome::Disabled => format!("leak of {key} reported; disabled it (its leak action)"),
        LeakOutcome::Deleted => format!("leak of {key} reported; deleted it (its leak action)"),
    }
}

fn flag_word(flag: KeyFlag) -> &'static str {
    match flag {
        KeyFlag::Lock => "locked",
        KeyFlag::Unlock => "unlocked",
        KeyFlag::Disable => "disabled",
        KeyFlag::Enable => "enabled",
    }
}

fn kind_word(kind: IdentityKind) -> &'static str {
    match kind {
        IdentityKind::ServiceId => "service ID",
        IdentityKind::User => "user",
    }
}

fn reset_text(r: &ClusterKeyReset) -> String {
    let mut s = format!(
        "cluster API key of {} reset to {} ({}'s credentials)",
        r.slot.id(),
        r.api_key,
        r.identity
    );
    match (&r.previous, &r.obsolete) {
        (Some(p), Some(_)) => s.push_str(&format!("; {p} is obsolete: delete it")),
        (Some(p), None) => s.push_str(&format!("; the previous key {p} no longer exists")),
        _ => {}
    }
    if !r.recreate_addons.is_empty() {
        let names: Vec<String> = r
            .recreate_addons
            .iter()
            .map(|(cluster, addons)| format!("{cluster} ({})", addons.join(", ")))
            .collect();
        s.push_str(&format!("; re-create add-ons on {}", names.join(", ")));
    }
    s
}

fn removal_text(
    user: &str,
    account: &str,
    removed_keys: &[String],
    orphaned: &[ClusterApiKey],
) -> String {
    let mut s = format!("removed {user} from {account}");
    if !removed_keys.is_empty() {
        s.push_str(&format!(
            " and the API keys {user} created there ({})",
            removed_keys.join(", ")
        ));
    }
    if !orphaned.is_empty() {
        let names: Vec<String> = orphaned.iter().map(|o| SlotId::from(o).id()).collect();
        s.push_str(&format!(
            "; the cluster API key of {} is left without an owner: reset it with another identity (F2)",
            names.join(", ")
        ));
    }
    s
}

/// A JSON value on one line, for people: strings bare unless they need quotes.
pub fn one_line(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let parts: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{k}: {}", one_line(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        Value::Array(items) => {
            format!(
                "[{}]",
                items.iter().map(one_line).collect::<Vec<_>>().join(", ")
            )
        }
        Value::String(s) => {
            let plain = !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.:/@".contains(c))
                && s.parse::<f64>().is_err()
                && !matches!(s.as_str(), "true" | "false" | "null");
            if plain {
                s.clone()
            } else {
                Value::String(s.clone()).to_string()
            }
        }
        other => other.to_string(),
    }
}

/// Changes as a readable diff: `+` a record added, `-` removed, `~` fields set (one line per
/// record, `field: from -> to`).
pub fn diff_text(changes: &[Change]) -> String {
    let mut s = String::new();
    let mut i = 0;
    while i < changes.len() {
        let c = &changes[i];
        let label = if c.id.is_empty() {
            c.section.clone()
        } else {
            format!("{} {}", c.section, c.id)
        };
        let value = |v: &Option<Value>| one_line(v.as_ref().unwrap_or(&Value::Null));
        match c.op {
            Op::Add => push_line(&mut s, &format!("+ {label}: {}", value(&c.to))),
            Op::Remove => push_line(&mut s, &format!("- {label}: {}", value(&c.from))),
            Op::Set => {
                // The run of fields set on this one record.
                let run = changes[i..]
                    .iter()
                    .take_while(|f| f.op == Op::Set && f.section == c.section && f.id == c.id);
                let parts: Vec<String> = run
                    .map(|f| match &f.field {
                        Some(name) => format!("{name}: {} -> {}", value(&f.from), value(&f.to)),
                        None => format!("{} -> {}", value(&f.from), value(&f.to)),
                    })
                    .collect();
                push_line(&mut s, &format!("~ {label}: {}", parts.join(", ")));
                i += parts.len() - 1;
            }
        }
        i += 1;
    }
    s
}

/// The changes as a JSON array.
pub fn changes_json(changes: &[Change]) -> Value {
    Value::Array(
        changes
            .iter()
            .map(|c| serde_json::to_value(c).unwrap_or(Value::Null))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_quotes_only_when_needed() {
        assert_eq!(
            one_line(&json!({"a": "x y", "b": "1", "c": "key-1", "d": true})),
            "{a: \"x y\", b: \"1\", c: key-1, d: true}"
        );
    }
}
