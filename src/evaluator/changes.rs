//! Carrying out an allowed request: its effect on a [`World`] (create, update, delete, lock,
//! reset, remove a user, …), described as typed [`Change`]s, plus the leak event (R14).
//!
//! Owns the state change of every action of INTERFACE.md and the secrets it makes (R12: a new
//! key's value is random, shown once, and only its fingerprint is kept). It must not decide
//! permissions: it runs only on a decision the policies allowed, reads no role, and checks no
//! ownership. A fact a change needs that does not hold (a stale etag, no classic key to delete,
//! a world the change would leave invalid) is a [`Failure`] of the operation, not a deny.

use crate::decide::engine::{Decision, Verdict};
use crate::decide::request::RequestSpec;
use crate::world::RoleCatalog;
use crate::world::{
    self, ApiKey, ClassicKey, ClusterApiKey, IdKind, LeakAction, Restriction, World,
};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;

/// The name IBM Cloud gives the API key a cluster API key reset creates.
pub const CLUSTER_KEY_NAME: &str = "containers-kubernetes-key";

/// Add-ons that must be re-created on the clusters of a region and resource group after a
/// reset of their cluster API key (R23).
pub const ADDONS_TO_RECREATE: [&str; 2] = ["block-storage", "autoscaler"];

/// What kind of change a [`Change`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// A record was added (`to` holds it).
    Add,
    /// A record was removed (`from` holds it).
    Remove,
    /// One field of a record changed (`field`, `from`, `to`).
    Set,
}

/// One typed change of a world: a record added or removed, or one field of a record set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub op: Op,
    /// The world-file section (`api_keys`, `users`, …; `now` for the world's time).
    pub section: String,
    /// The record's id; for id-less records, `account/region/resource_group` (cluster API key
    /// slots) or `subject@account/service` (role bindings).
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Value>,
}

/// A key value made for a caller: shown once, never stored, never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The value itself, for the one time it is shown.
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// The effect of a carried-out request or event.
#[derive(Debug, Clone)]
pub struct Effect {
    /// The state after the change (the same as before for get, login and info).
    pub world: World,
    /// What changed, record by record (empty for get, login and info).
    pub changes: Vec<Change>,
    /// One line for people: what was done.
    pub summary: String,
    /// What the operation reports (a key's metadata, whose credentials a cluster uses, the
    /// clusters a reset affects, the cluster keys a removal orphans, …).
    pub result: Option<Value>,
    /// A key value generated for the caller, to be printed once (never for caller-supplied
    /// values, which are not echoed, nor for a cluster reset, whose key only the clusters get).
    pub secret: Option<Secret>,
}

/// Why an allowed request could not be carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// A stale etag (R15).
    Conflict,
    /// What the operation acts on does not exist.
    NotFound,
    /// The request lacks what the operation needs, or would leave an invalid world.
    Invalid,
}

/// A failed operation: nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            FailureKind::Conflict => "conflict",
            FailureKind::NotFound => "not found",
            FailureKind::Invalid => "cannot carry out",
        };
        write!(f, "{kind}: {}", self.message)
    }
}

fn fail(kind: FailureKind, message: impl Into<String>) -> Failure {
    Failure {
        kind,
        message: message.into(),
    }
}

/// The fingerprint kept of a key value: `sha256:` and the hex digest.
pub fn fingerprint(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    let mut s = String::with_capacity(7 + 64);
    s.push_str("sha256:");
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// A new key value: 33 bytes from the operating system's CSPRNG, as 44 base64url characters
/// (the length of an IBM Cloud API key).
pub fn new_secret() -> Result<Secret, Failure> {
    let mut bytes = [0u8; 33];
    getrandom::fill(&mut bytes).map_err(|e| {
        fail(
            FailureKind::Invalid,
            format!("no secure random source to make a key value: {e}"),
        )
    })?;
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut s = String::with_capacity(44);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16) | (u32::from(chunk[1]) << 8) | u32::from(chunk[2]);
        for shift in [18, 12, 6, 0] {
            s.push(ALPHABET[((n >> shift) & 63) as usize] as char);
        }
    }
    Ok(Secret(s))
}

/// A key's current entity tag ("1" when the world gives none).
pub fn current_etag(k: &ApiKey) -> String {
    k.etag.clone().unwrap_or_else(|| "1".to_string())
}

fn bump_etag(k: &mut ApiKey) {
    let cur = current_etag(k);
    k.etag = Some(match cur.parse::<u64>() {
        Ok(n) => (n + 1).to_string(),
        Err(_) => format!("{cur}.1"),
    });
}

/// The next free id `prefix-N`: one past the highest N used by any id of the world or named by
/// a cluster API key slot, so a deleted key's id is not handed out again while a slot may
/// still name it.
fn next_id(w: &World, prefix: &str) -> String {
    let index = w.index();
    let mut highest = 0u64;
    let named = index
        .ids
        .keys()
        .map(String::as_str)
        .chain(w.cluster_api_keys.iter().map(|s| s.api_key.as_str()));
    for id in named {
        if let Some(n) = id
            .strip_prefix(prefix)
            .and_then(|r| r.strip_prefix('-'))
            .and_then(|r| r.parse::<u64>().ok())
        {
            highest = highest.max(n);
        }
    }
    let mut n = highest + 1;
    while index.ids.contains_key(&format!("{prefix}-{n}")) {
        n += 1;
    }
    format!("{prefix}-{n}")
}

fn key_index(w: &World, id: &str) -> Result<usize, Failure> {
    w.api_keys.iter().position(|k| k.id == id).ok_or_else(|| {
        fail(
            FailureKind::NotFound,
            format!("no API key `{id}` in this world"),
        )
    })
}

fn arg<'a>(d: &'a Decision, name: &str) -> Option<&'a str> {
    d.args.get(name).map(String::as_str)
}

fn need<'a>(d: &'a Decision, name: &str, why: &str) -> Result<&'a str, Failure> {
    arg(d, name).ok_or_else(|| {
        fail(
            FailureKind::Invalid,
            format!("{} needs --arg {name}=… ({why})", d.action),
        )
    })
}

/// Carry out an allowed request on `before`. `spec` is the request as the caller wrote it
/// (only its `apikey` arg is read from it: the decision's args hide that value); everything
/// else comes from the decision, whose args include the inferred account and resource group.
/// The new world is checked as a world file would be; a change that would leave it invalid
/// fails. Nothing here looks at roles or ownership: the decision has done that.
pub fn carry_out(
    before: &World,
    decision: &Decision,
    spec: &RequestSpec,
    roles: &RoleCatalog,
) -> Result<Effect, Failure> {
    if decision.decision != Verdict::Allow {
        return Err(fail(
            FailureKind::Invalid,
            "the request was denied; there is nothing to carry out",
        ));
    }
    let mut w = before.clone();
    let d = decision;
    let principal = d.principal.as_str();
    let resource = d.resource.as_str();
    let mut result = None;
    let mut secret = None;
    let summary: String;
    match d.action.as_str() {
        "api-key-create" => {
            let account = need(d, "account", "the account the key is created in")?.to_string();
            let value = match spec.args.get("apikey") {
                // translate() has rejected values shorter than 32 characters (R12).
                Some(v) => Secret(v.clone()),
                None => {
                    let s = new_secret()?;
                    secret = Some(s.clone());
                    s
                }
            };
            let locked = match arg(d, "locked") {
                None | Some("false") => false,
                Some("true") => true,
                Some(other) => {
                    return Err(fail(
                        FailureKind::Invalid,
                        format!("--arg locked: `{other}` is not true or false"),
                    ));
                }
            };
            let id = next_id(&w, "key");
            let key = ApiKey {
                id: id.clone(),
                name: arg(d, "name").unwrap_or("api-key").to_string(),
                identity: resource.to_string(),
                account: account.clone(),
                description: arg(d, "description").unwrap_or_default().to_string(),
                created_by: Some(principal.to_string()),
                locked,
                disabled: false,
                expires_at: arg(d, "expires_at").map(String::from),
                action_when_leaked: arg(d, "action_when_leaked")
                    .and_then(LeakAction::parse)
                    .unwrap_or_default(),
                etag: Some("1".into()),
                obsolete: false,
                fingerprint: Some(fingerprint(value.reveal())),
            };
            w.api_keys.push(key);
            summary = format!("created API key {id} for {resource} in {account}");
            result = Some(json!({"api_key": id}));
        }
        "api-key-get" => {
            let k = &w.api_keys[key_index(&w, resource)?];
            let mut meta = serde_json::to_value(k).unwrap_or(Value::Null);
            meta["etag"] = json!(current_etag(k));
            summary = format!("API key {resource}: {}", one_line(&meta));
            result = Some(meta);
        }
        "api-key-update" => {
            let i = key_index(&w, resource)?;
            let etag = need(
                d,
                "etag",
                "the key's current entity tag, or * for any (R15)",
            )?;
            let cur = current_etag(&w.api_keys[i]);
            if etag != "*" && etag != cur {
                return Err(fail(
                    FailureKind::Conflict,
                    format!(
                        "API key {resource} is at etag \"{cur}\", the request carries \"{etag}\" (R15); nothing changed"
                    ),
                ));
            }
            let k = &mut w.api_keys[i];
            let mut changed = Vec::new();
            if let Some(v) = arg(d, "name") {
                if k.name != v {
                    k.name = v.to_string();
                    changed.push("name");
                }
            }
            if let Some(v) = arg(d, "description") {
                if k.description != v {
                    k.description = v.to_string();
                    changed.push("description");
                }
            }
            if let Some(v) = arg(d, "expires_at") {
                if k.expires_at.as_deref() != Some(v) {
                    k.expires_at = Some(v.to_string());
                    changed.push("expires_at");
                }
            }
            if let Some(v) = arg(d, "action_when_leaked").and_then(LeakAction::parse) {
                if k.action_when_leaked != v {
                    k.action_when_leaked = v;
                    changed.push("action_when_leaked");
                }
            }
            if changed.is_empty() {
                summary = format!("API key {resource}: nothing to update");
            } else {
                bump_etag(k);
                summary = format!("updated API key {resource} ({})", changed.join(", "));
            }
            result = Some(json!({"api_key": resource, "etag": current_etag(k)}));
        }
        "api-key-delete" => {
            let i = key_index(&w, resource)?;
            w.api_keys.remove(i);
            let slots = slots_naming(&w, resource);
            summary = if slots.is_empty() {
                format!("deleted API key {resource}")
            } else {
                format!(
                    "deleted API key {resource}; the cluster API key of {} now names a deleted key: reset it (F2)",
                    slots.join(", ")
                )
            };
            result = Some(json!({"api_key": resource, "cluster_key_slots": slots}));
        }
        "api-key-lock" | "api-key-unlock" | "api-key-disable" | "api-key-enable" => {
            let i = key_index(&w, resource)?;
            let k = &mut w.api_keys[i];
            let (flag, value, word) = match d.action.as_str() {
                "api-key-lock" => (&mut k.locked, true, "locked"),
                "api-key-unlock" => (&mut k.locked, false, "unlocked"),
                "api-key-disable" => (&mut k.disabled, true, "disabled"),
                _ => (&mut k.disabled, false, "enabled"),
            };
            if *flag == value {
                summary = format!("API key {resource} is already {word}");
            } else {
                *flag = value;
                bump_etag(k);
                summary = format!("{word} API key {resource}");
            }
        }
        "login" => {
            let k = &w.api_keys[key_index(&w, principal)?];
            let kind = match w.index().ids.get(&k.identity) {
                Some((IdKind::ServiceId, _)) => "service ID",
                _ => "user",
            };
            summary = format!(
                "API key {principal} authenticates as {kind} {} in account {resource}",
                k.identity
            );
            result = Some(json!({
                "api_key": principal,
                "identity": k.identity,
                "identity_kind": kind,
                "account": resource,
            }));
        }
        "classic-api-key-create" => {
            let account = need(d, "account", "the account of the classic key")?.to_string();
            let id = next_id(&w, "ck");
            w.classic_keys.push(ClassicKey {
                id: id.clone(),
                user: resource.to_string(),
                account: account.clone(),
            });
            // A classic key record keeps no trace of its value at all.
            secret = Some(new_secret()?);
            summary =
                format!("created classic infrastructure API key {id} for {resource} in {account}");
            result = Some(json!({"classic_key": id}));
        }
        "classic-api-key-get" | "classic-api-key-delete" => {
            let account = need(d, "account", "the account of the classic key")?.to_string();
            let Some(i) = w
                .classic_keys
                .iter()
                .position(|c| c.user == resource && c.account == account)
            else {
                return Err(fail(
                    FailureKind::NotFound,
                    format!("{resource} has no classic infrastructure API key in {account}"),
                ));
            };
            if d.action == "classic-api-key-get" {
                let c = &w.classic_keys[i];
                summary = format!(
                    "classic infrastructure API key {} of {resource} in {account}",
                    c.id
                );
                result = Some(serde_json::to_value(c).unwrap_or(Value::Null));
            } else {
                let c = w.classic_keys.remove(i);
                summary = format!(
                    "deleted classic infrastructure API key {} of {resource} in {account}",
                    c.id
                );
                result = Some(json!({"classic_key": c.id}));
            }
        }
        "account-settings-update" => {
            let v = need(
                d,
                "restrict_user_api_key_creation",
                "RESTRICTED, NOT_RESTRICTED or NOT_SET",
            )?;
            let Some(r) = Restriction::parse(v) else {
                return Err(fail(
                    FailureKind::Invalid,
                    format!("`{v}` is not one of RESTRICTED, NOT_RESTRICTED, NOT_SET"),
                ));
            };
            let Some(a) = w.accounts.iter_mut().find(|a| a.id == resource) else {
                return Err(fail(
                    FailureKind::NotFound,
                    format!("no account `{resource}`"),
                ));
            };
            if a.restrict_user_api_key_creation == r {
                summary =
                    format!("account {resource}: restrict_user_api_key_creation is already {v}");
            } else {
                a.restrict_user_api_key_creation = r;
                summary = format!("account {resource}: restrict_user_api_key_creation set to {v}");
            }
        }
        "ks-api-key-reset" => {
            let region =
                need(d, "region", "the region whose cluster API key is reset")?.to_string();
            let rg = need(d, "resource_group", "the resource group")?.to_string();
            let value = new_secret()?;
            let id = next_id(&w, "key");
            w.api_keys.push(ApiKey {
                id: id.clone(),
                name: CLUSTER_KEY_NAME.to_string(),
                identity: principal.to_string(),
                account: resource.to_string(),
                description: format!("cluster API key of {region}/{rg}"),
                created_by: Some(principal.to_string()),
                locked: false,
                disabled: false,
                expires_at: None,
                action_when_leaked: LeakAction::default(),
                etag: Some("1".into()),
                obsolete: false,
                fingerprint: Some(fingerprint(value.reveal())),
            });
            let slot = w
                .cluster_api_keys
                .iter_mut()
                .find(|s| s.account == resource && s.region == region && s.resource_group == rg);
            let previous = match slot {
                Some(s) => Some(std::mem::replace(&mut s.api_key, id.clone())),
                None => {
                    w.cluster_api_keys.push(ClusterApiKey {
                        account: resource.to_string(),
                        region: region.clone(),
                        resource_group: rg.clone(),
                        api_key: id.clone(),
                    });
                    None
                }
            };
            let mut obsoleted = None;
            if let Some(p) = &previous {
                if let Some(k) = w.api_keys.iter_mut().find(|k| &k.id == p) {
                    if !k.obsolete {
                        k.obsolete = true;
                        bump_etag(k);
                    }
                    obsoleted = Some(p.clone());
                }
            }
            let affected: Vec<Value> = w
                .clusters
                .iter()
                .filter(|c| c.account == resource && c.region == region && c.resource_group == rg)
                .filter_map(|c| {
                    let addons: Vec<&String> = c
                        .addons
                        .iter()
                        .filter(|a| ADDONS_TO_RECREATE.contains(&a.as_str()))
                        .collect();
                    (!addons.is_empty()).then(|| json!({"cluster": c.id, "addons": addons}))
                })
                .collect();
            let mut s = format!(
                "cluster API key of {resource}/{region}/{rg} reset to {id} ({principal}'s credentials)"
            );
            match (&previous, &obsoleted) {
                (Some(p), Some(_)) => s.push_str(&format!("; {p} is obsolete: delete it")),
                (Some(p), None) => s.push_str(&format!("; the previous key {p} no longer exists")),
                _ => {}
            }
            if !affected.is_empty() {
                let names: Vec<String> = affected
                    .iter()
                    .map(|a| {
                        format!(
                            "{} ({})",
                            a["cluster"].as_str().unwrap_or_default(),
                            a["addons"]
                                .as_array()
                                .map(|v| v
                                    .iter()
                                    .filter_map(Value::as_str)
                                    .collect::<Vec<_>>()
                                    .join(", "))
                                .unwrap_or_default()
                        )
                    })
                    .collect();
                s.push_str(&format!("; re-create add-ons on {}", names.join(", ")));
            }
            summary = s;
            result = Some(json!({
                "api_key": id,
                "previous_api_key": previous,
                "obsolete": obsoleted,
                "recreate_addons": affected,
            }));
        }
        "ks-api-key-info" => {
            let Some(c) = w.clusters.iter().find(|c| c.id == resource) else {
                return Err(fail(
                    FailureKind::NotFound,
                    format!("no cluster `{resource}`"),
                ));
            };
            let slot = w.cluster_api_keys.iter().find(|s| {
                s.account == c.account
                    && s.region == c.region
                    && s.resource_group == c.resource_group
            });
            let key = slot.and_then(|s| w.api_keys.iter().find(|k| k.id == s.api_key));
            summary = match (slot, key) {
                (None, _) => format!(
                    "cluster {resource} ({}/{}/{}): no cluster API key is set",
                    c.account, c.region, c.resource_group
                ),
                (Some(s), None) => format!(
                    "cluster {resource} uses API key {}, which no longer exists: reset it (F2)",
                    s.api_key
                ),
                (Some(s), Some(k)) => format!(
                    "cluster {resource} uses API key {} ({}'s credentials)",
                    s.api_key, k.identity
                ),
            };
            result = Some(json!({
                "cluster": resource,
                "account": c.account,
                "region": c.region,
                "resource_group": c.resource_group,
                "api_key": slot.map(|s| s.api_key.clone()),
                "identity": key.map(|k| k.identity.clone()),
            }));
        }
        "user-remove" => {
            let account = need(d, "account", "the account the user is removed from")?.to_string();
            if w.accounts
                .iter()
                .any(|a| a.id == account && a.owner == resource)
            {
                return Err(fail(
                    FailureKind::Invalid,
                    format!(
                        "{resource} owns account {account}: an owner's membership cannot be removed"
                    ),
                ));
            }
            let Some(u) = w.users.iter_mut().find(|u| u.id == resource) else {
                return Err(fail(FailureKind::NotFound, format!("no user `{resource}`")));
            };
            let Some(m) = u.accounts.iter().position(|a| *a == account) else {
                return Err(fail(
                    FailureKind::NotFound,
                    format!("{resource} is not a member of {account}"),
                ));
            };
            u.accounts.remove(m);
            // Cluster API keys of this account that run on the user's credentials lose their
            // owner, whether the key itself is removed (created here) or not (created elsewhere).
            let orphaned: Vec<Value> = w
                .cluster_api_keys
                .iter()
                .filter(|s| s.account == account)
                .filter(|s| {
                    w.api_keys
                        .iter()
                        .any(|k| k.id == s.api_key && k.identity == resource)
                })
                .map(|s| json!({"account": s.account, "region": s.region, "resource_group": s.resource_group, "api_key": s.api_key}))
                .collect();
            let removed: Vec<String> = w
                .api_keys
                .iter()
                .filter(|k| k.identity == resource && k.account == account)
                .map(|k| k.id.clone())
                .collect();
            w.api_keys
                .retain(|k| !(k.identity == resource && k.account == account));
            // What only a member may hold in the account goes with the membership.
            w.role_bindings
                .retain(|b| !(b.subject == resource && b.account == account));
            for g in w.access_groups.iter_mut().filter(|g| g.account == account) {
                g.members.retain(|m| m != resource);
            }
            w.classic_keys
                .retain(|c| !(c.user == resource && c.account == account));
            let mut s = format!("removed {resource} from {account}");
            if !removed.is_empty() {
                s.push_str(&format!(
                    " and the API keys {resource} created there ({})",
                    removed.join(", ")
                ));
            }
            if !orphaned.is_empty() {
                let names: Vec<String> = orphaned
                    .iter()
                    .map(|o| {
                        format!(
                            "{}/{}/{}",
                            o["account"].as_str().unwrap_or_default(),
                            o["region"].as_str().unwrap_or_default(),
                            o["resource_group"].as_str().unwrap_or_default()
                        )
                    })
                    .collect();
                s.push_str(&format!(
                    "; the cluster API key of {} is left without an owner: reset it with another identity (F2)",
                    names.join(", ")
                ));
            }
            summary = s;
            result = Some(json!({"removed_api_keys": removed, "orphaned_cluster_keys": orphaned}));
        }
        other => {
            return Err(fail(
                FailureKind::Invalid,
                format!("keyward cannot carry out `{other}`"),
            ));
        }
    }
    finish(before, w, summary, result, secret, roles)
}

/// Report a leak of a key: apply its leak action (R14). An event, not a request: no caller and
/// no decision.
pub fn leak(before: &World, key: &str, roles: &RoleCatalog) -> Result<Effect, Failure> {
    let mut w = before.clone();
    let i = key_index(&w, key)?;
    let action = w.api_keys[i].action_when_leaked;
    let summary = match action {
        LeakAction::None => {
            format!("leak of {key} reported; its leak action is none: nothing done")
        }
        LeakAction::Disable => {
            let k = &mut w.api_keys[i];
            if k.disabled {
                format!("leak of {key} reported; it is already disabled")
            } else {
                k.disabled = true;
                bump_etag(k);
                format!("leak of {key} reported; disabled it (its leak action)")
            }
        }
        LeakAction::Delete => {
            w.api_keys.remove(i);
            format!("leak of {key} reported; deleted it (its leak action)")
        }
    };
    let result = Some(json!({"api_key": key, "action_when_leaked": action.as_str()}));
    finish(before, w, summary, result, None, roles)
}

/// Check the new world as a world file would be checked, and describe the change.
fn finish(
    before: &World,
    after: World,
    summary: String,
    result: Option<Value>,
    secret: Option<Secret>,
    roles: &RoleCatalog,
) -> Result<Effect, Failure> {
    let changes = diff(before, &after);
    let world = if changes.is_empty() {
        after
    } else {
        world::parse_world("(the changed world)", &after.to_yaml(), roles).map_err(|p| {
            fail(
                FailureKind::Invalid,
                format!("the change would leave the world invalid; nothing changed:\n{p}"),
            )
        })?
    };
    Ok(Effect {
        world,
        changes,
        summary,
        result,
        secret,
    })
}

fn slots_naming(w: &World, key: &str) -> Vec<String> {
    w.cluster_api_keys
        .iter()
        .filter(|s| s.api_key == key)
        .map(|s| format!("{}/{}/{}", s.account, s.region, s.resource_group))
        .collect()
}

/// A section's records, each with the key that identifies it across two worlds.
type Records = Vec<(String, Value)>;

fn records<T: Serialize>(items: &[T], key: impl Fn(&T) -> String) -> Records {
    items
        .iter()
        .map(|i| (key(i), serde_json::to_value(i).unwrap_or(Value::Null)))
        .collect()
}

/// The typed difference between two worlds, section by section in world-file order: records
/// removed or changed (in `before`'s order), then records added (in `after`'s order). A field a
/// world file leaves out reads as `false` beside a boolean, else `null`.
pub fn diff(before: &World, after: &World) -> Vec<Change> {
    let mut out = Vec::new();
    if before.now != after.now {
        out.push(Change {
            op: Op::Set,
            section: "now".into(),
            id: String::new(),
            field: None,
            from: Some(json!(before.now)),
            to: Some(json!(after.now)),
        });
    }
    let sections: Vec<(&str, Records, Records)> = vec![
        (
            "accounts",
            records(&before.accounts, |a| a.id.clone()),
            records(&after.accounts, |a| a.id.clone()),
        ),
        (
            "users",
            records(&before.users, |a| a.id.clone()),
            records(&after.users, |a| a.id.clone()),
        ),
        (
            "service_ids",
            records(&before.service_ids, |a| a.id.clone()),
            records(&after.service_ids, |a| a.id.clone()),
        ),
        (
            "access_groups",
            records(&before.access_groups, |a| a.id.clone()),
            records(&after.access_groups, |a| a.id.clone()),
        ),
        (
            "role_bindings",
            records(&before.role_bindings, binding_key),
            records(&after.role_bindings, binding_key),
        ),
        (
            "api_keys",
            records(&before.api_keys, |a| a.id.clone()),
            records(&after.api_keys, |a| a.id.clone()),
        ),
        (
            "classic_keys",
            records(&before.classic_keys, |a| a.id.clone()),
            records(&after.classic_keys, |a| a.id.clone()),
        ),
        (
            "clusters",
            records(&before.clusters, |a| a.id.clone()),
            records(&after.clusters, |a| a.id.clone()),
        ),
        (
            "cluster_api_keys",
            records(&before.cluster_api_keys, slot_key),
            records(&after.cluster_api_keys, slot_key),
        ),
    ];
    for (section, old, new) in sections {
        // Role bindings have no id: a changed binding reads as one removed and one added.
        let whole = section == "role_bindings";
        let new_map: BTreeMap<&str, &Value> = new.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let old_map: BTreeMap<&str, &Value> = old.iter().map(|(k, v)| (k.as_str(), v)).collect();
        for (k, v) in &old {
            match new_map.get(k.as_str()) {
                None => out.push(Change {
                    op: Op::Remove,
                    section: section.into(),
                    id: display_key(section, k, v),
                    field: None,
                    from: Some(v.clone()),
                    to: None,
                }),
                Some(nv) if !whole => {
                    field_changes(section, &display_key(section, k, v), v, nv, &mut out)
                }
                Some(_) => {}
            }
        }
        for (k, v) in &new {
            if !old_map.contains_key(k.as_str()) {
                out.push(Change {
                    op: Op::Add,
                    section: section.into(),
                    id: display_key(section, k, v),
                    field: None,
                    from: None,
                    to: Some(v.clone()),
                });
            }
        }
    }
    out
}

fn binding_key(b: &crate::world::RoleBinding) -> String {
    serde_json::to_string(b).unwrap_or_default()
}

fn slot_key(s: &ClusterApiKey) -> String {
    format!("{}/{}/{}", s.account, s.region, s.resource_group)
}

fn display_key(section: &str, key: &str, v: &Value) -> String {
    if section == "role_bindings" {
        format!(
            "{}@{}/{}",
            v["subject"].as_str().unwrap_or_default(),
            v["account"].as_str().unwrap_or_default(),
            v["service"].as_str().unwrap_or_default()
        )
    } else {
        key.to_string()
    }
}

fn field_changes(section: &str, id: &str, old: &Value, new: &Value, out: &mut Vec<Change>) {
    let (Value::Object(o), Value::Object(n)) = (old, new) else {
        return;
    };
    let mut fields: Vec<&String> = o.keys().chain(n.keys()).collect();
    // Field order of the record (serde's order), first appearance wins.
    let mut seen = std::collections::HashSet::new();
    fields.retain(|f| seen.insert(*f));
    for f in fields {
        let (a, b) = (o.get(f), n.get(f));
        if a == b {
            continue;
        }
        let absent = |other: Option<&Value>| match other {
            Some(Value::Bool(_)) => Value::Bool(false),
            _ => Value::Null,
        };
        let from = a.cloned().unwrap_or_else(|| absent(b));
        let to = b.cloned().unwrap_or_else(|| absent(a));
        if from == to {
            continue;
        }
        out.push(Change {
            op: Op::Set,
            section: section.into(),
            id: id.into(),
            field: Some(f.clone()),
            from: Some(from),
            to: Some(to),
        });
    }
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
        match c.op {
            Op::Add => {
                s.push_str(&format!(
                    "+ {label}: {}\n",
                    one_line(c.to.as_ref().unwrap_or(&Value::Null))
                ));
                i += 1;
            }
            Op::Remove => {
                s.push_str(&format!(
                    "- {label}: {}\n",
                    one_line(c.from.as_ref().unwrap_or(&Value::Null))
                ));
                i += 1;
            }
            Op::Set => {
                let mut parts = Vec::new();
                let mut j = i;
                while j < changes.len()
                    && changes[j].op == Op::Set
                    && changes[j].section == c.section
                    && changes[j].id == c.id
                {
                    let f = &changes[j];
                    let from = one_line(f.from.as_ref().unwrap_or(&Value::Null));
                    let to = one_line(f.to.as_ref().unwrap_or(&Value::Null));
                    parts.push(match &f.field {
                        Some(name) => format!("{name}: {from} -> {to}"),
                        None => format!("{from} -> {to}"),
                    });
                    j += 1;
                }
                s.push_str(&format!("~ {label}: {}\n", parts.join(", ")));
                i = j;
            }
        }
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
    fn secrets_are_44_url_safe_characters_and_differ() {
        let a = new_secret().unwrap();
        let b = new_secret().unwrap();
        assert_eq!(a.reveal().len(), 44);
        assert!(
            a.reveal()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(a, b);
        assert_eq!(format!("{a:?}"), "Secret(..)");
    }

    #[test]
    fn fingerprint_is_sha256_hex() {
        assert_eq!(
            fingerprint("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn one_line_quotes_only_when_needed() {
        assert_eq!(
            one_line(&json!({"a": "x y", "b": "1", "c": "key-1", "d": true})),
            "{a: \"x y\", b: \"1\", c: key-1, d: true}"
        );
    }
}
