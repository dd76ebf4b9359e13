//! Findings F1-F6 of docs/rules.md: recommendations an audit reports about a world (risky cluster API
//! keys, keys that never expire, accounts open to roleless members, identities near the key
//! limit), each with its subject, why, and what to do (rendered by [`crate::report::findings`]).
//!
//! Owns what counts as a finding. Whether a cluster key's owner could still reset it (F3) is
//! asked of the policies through [`Engine::decide`], never decided here; the other findings are
//! facts of the world (who is functional, what a key's expiry is, whether a member has any
//! binding at all). It names no role: "holds no role" means "is the subject of no binding,
//! directly or through an access group", whatever the roles are. It must not change the world.

use crate::audit::RESET;
use crate::decide::engine::{Decision, Engine, Verdict};
use crate::decide::request::RequestSpec;
use crate::world::generate::KEY_LIMIT;
use crate::world::{ApiKey, ClusterApiKey, IdKind, LeakAction, Restriction};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// F6 reports identities with at least this many keys (R10's limit is [`KEY_LIMIT`]).
pub const NEAR_KEY_LIMIT: usize = 18;

/// How many roleless members an F5 message names before "and N more".
const NAMES_SHOWN: usize = 10;

/// One finding: a rule of docs/rules.md (F1-F6), what it is about, why, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `F1` .. `F6`.
    pub rule: &'static str,
    /// The id of what it is about: an API key (F1-F4), an account (F5), an identity (F6).
    pub subject: String,
    /// The account it concerns, where there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Why it is a finding.
    pub message: String,
    /// What to do about it.
    pub advice: String,
}

fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// Every finding of the engine's world, ordered by rule, account, subject (then message).
pub fn findings(engine: &Engine) -> Vec<Finding> {
    let mut out = Vec::new();
    // An evaluation time that cannot be read makes expiries unknown; they are then reported
    // (fail closed), not assumed valid.
    let now = engine
        .now_for(&RequestSpec::default())
        .ok()
        .and_then(|n| parse_time(&n));
    cluster_keys(engine, now, &mut out);
    user_keys(engine, &mut out);
    roleless_members(engine, &mut out);
    near_key_limit(engine, now, &mut out);
    out.sort_by(|a, b| {
        (a.rule, &a.account, &a.subject, &a.message)
            .cmp(&(b.rule, &b.account, &b.subject, &b.message))
    });
    out
}

/// The evaluation time, when it can be read.
type Now = Option<chrono::DateTime<chrono::Utc>>;

/// F1, F2, F3: every cluster API key slot.
fn cluster_keys(engine: &Engine, now: Now, out: &mut Vec<Finding>) {
    let tr = &engine.tr;
    for slot in &tr.world.cluster_api_keys {
        let place = format!("{}/{}", slot.region, slot.resource_group);
        let key = match tr.index.ids.get(&slot.api_key) {
            Some((IdKind::ApiKey, i)) => &tr.world.api_keys[*i],
            _ => {
                out.push(missing_key(slot, &place));
                continue;
            }
        };
        out.extend(personal_key(engine, slot, key, &place));
        out.extend(broken_key(engine, slot, key, &place, now));
        out.extend(owner_cannot_reset(engine, slot, key, &place));
    }
}

/// What to do about a cluster API key that does not work.
fn reset_elsewhere(place: &str) -> String {
    format!(
        "reset the {place} cluster API key with another identity's credentials, preferably a functional ID"
    )
}

/// F2: the slot names a key that does not exist.
fn missing_key(slot: &ClusterApiKey, place: &str) -> Finding {
    Finding {
        rule: "F2",
        subject: slot.api_key.clone(),
        account: Some(slot.account.clone()),
        message: format!(
            "the {place} cluster API key names {}, which no longer exists: clusters there cannot authenticate",
            slot.api_key
        ),
        advice: reset_elsewhere(place),
    }
}

/// F1: a person's credentials.
fn personal_key(
    engine: &Engine,
    slot: &ClusterApiKey,
    key: &ApiKey,
    place: &str,
) -> Option<Finding> {
    let (tr, owner) = (&engine.tr, &key.identity);
    let personal =
        tr.kind(owner) == Some(IdKind::User) && tr.world.user(owner).is_some_and(|u| !u.functional);
    personal.then(|| Finding {
        rule: "F1",
        subject: key.id.clone(),
        account: Some(slot.account.clone()),
        message: format!(
            "the {place} cluster API key is {owner}'s, a personal user rather than a functional ID: it breaks when {owner} leaves or loses access"
        ),
        advice: format!("reset the {place} cluster API key as a functional ID"),
    })
}

/// F2: the key no longer works where it is used.
fn broken_key(
    engine: &Engine,
    slot: &ClusterApiKey,
    key: &ApiKey,
    place: &str,
    now: Now,
) -> Option<Finding> {
    let owner = &key.identity;
    let mut broken = Vec::new();
    if !engine.tr.memberships(owner).contains(&slot.account) {
        broken.push(format!(
            "its owner {owner} is no longer a member of {}",
            slot.account
        ));
    }
    if key.disabled {
        broken.push(format!("{} is disabled", key.id));
    }
    if let Some(exp) = &key.expires_at {
        match (parse_time(exp), now) {
            (Some(t), Some(now)) if t <= now => {
                broken.push(format!("{} expired at {exp}", key.id));
            }
            (Some(_), Some(_)) => {}
            _ => broken.push(format!(
                "{} expires at {exp} and the evaluation time is unknown",
                key.id
            )),
        }
    }
    (!broken.is_empty()).then(|| Finding {
        rule: "F2",
        subject: key.id.clone(),
        account: Some(slot.account.clone()),
        message: format!(
            "the {place} cluster API key: {}; clusters there cannot authenticate",
            broken.join("; ")
        ),
        advice: reset_elsewhere(place),
    })
}

/// F3: asked of the policies: may the owner reset this key today?
fn owner_cannot_reset(
    engine: &Engine,
    slot: &ClusterApiKey,
    key: &ApiKey,
    place: &str,
) -> Option<Finding> {
    let owner = &key.identity;
    let spec = RequestSpec {
        principal: owner.clone(),
        action: RESET.into(),
        resource: Some(slot.account.clone()),
        args: [
            ("region".to_string(), slot.region.clone()),
            ("resource_group".to_string(), slot.resource_group.clone()),
        ]
        .into(),
        ..Default::default()
    };
    let why = match engine.decide(&spec) {
        Ok(d) if d.decision == Verdict::Allow => return None,
        Ok(d) => denied_why(&d),
        Err(p) => format!("the request cannot be evaluated: {p}"),
    };
    let check = format!(
        "keyward check --principal {owner} --action {RESET} --resource {} --arg region={} --arg resource_group={}",
        slot.account, slot.region, slot.resource_group
    );
    Some(Finding {
        rule: "F3",
        subject: key.id.clone(),
        account: Some(slot.account.clone()),
        message: format!(
            "{owner}, whose credentials the {place} cluster API key holds, may not reset it: {why}; every user of {place} depends on a key its owner cannot renew"
        ),
        advice: format!(
            "reset the {place} cluster API key as an identity that may, or restore {owner}'s access (see `{check}`)"
        ),
    })
}

/// Why a decision denied: its evaluation failed (keyward fails closed), the forbids that did,
/// or that nothing permitted it.
fn denied_why(d: &Decision) -> String {
    let failed = format!("evaluation failed ({})", d.errors.join("; "));
    let forbids = d
        .reasons
        .iter()
        .map(|r| format!("{} [{}]", r.policy, r.rules.join(", ")));
    let forbids = format!("forbidden by {}", forbids.collect::<Vec<_>>().join(", "));
    match (d.reasons.is_empty(), d.errors.is_empty()) {
        (true, true) => "no policy permits it".to_string(),
        (true, false) => format!("denied: {failed}"),
        (false, true) => forbids,
        (false, false) => format!("{forbids}; {failed}"),
    }
}

/// F4: user API keys (not service ID keys) that never expire or stay valid when leaked.
fn user_keys(engine: &Engine, out: &mut Vec<Finding>) {
    let tr = &engine.tr;
    for k in &tr.world.api_keys {
        if tr.kind(&k.identity) != Some(IdKind::User) {
            continue;
        }
        let mut why = Vec::new();
        let mut todo = Vec::new();
        if k.expires_at.is_none() {
            why.push("has no expiry");
            todo.push("set an expiry");
        }
        if k.action_when_leaked == LeakAction::None {
            why.push("has leak action none (it stays valid when reported leaked)");
            todo.push("set action_when_leaked to disable or delete");
        }
        if why.is_empty() {
            continue;
        }
        out.push(Finding {
            rule: "F4",
            subject: k.id.clone(),
            account: Some(k.account.clone()),
            message: format!(
                "{}'s user API key \"{}\" {}",
                k.identity,
                k.name,
                why.join(" and ")
            ),
            advice: format!("on {}: {}", k.id, todo.join(" and ")),
        });
    }
}

/// F5: accounts that do not restrict user API key creation while some members (users other
/// than the owner) are the subject of no binding at all, directly or through a group.
fn roleless_members(engine: &Engine, out: &mut Vec<Finding>) {
    let tr = &engine.tr;
    let w = &tr.world;
    // Per account: every id some binding of that account names, and group members.
    let mut bound: BTreeMap<&str, HashSet<&str>> = BTreeMap::new();
    let groups: BTreeMap<&str, &crate::world::AccessGroup> =
        w.access_groups.iter().map(|g| (g.id.as_str(), g)).collect();
    for b in &w.role_bindings {
        let set = bound.entry(b.account.as_str()).or_default();
        set.insert(b.subject.as_str());
        if let Some(g) = groups.get(b.subject.as_str()) {
            set.extend(g.members.iter().map(String::as_str));
        }
    }
    let mut members: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for u in &w.users {
        for a in &u.accounts {
            members.entry(a.as_str()).or_default().insert(u.id.as_str());
        }
    }
    for a in &w.accounts {
        if a.restrict_user_api_key_creation == Restriction::Restricted {
            continue;
        }
        let none = HashSet::new();
        let holders = bound.get(a.id.as_str()).unwrap_or(&none);
        let roleless: Vec<&str> = members
            .get(a.id.as_str())
            .into_iter()
            .flatten()
            .copied()
            .filter(|u| *u != a.owner && !holders.contains(u))
            .collect();
        if roleless.is_empty() {
            continue;
        }
        let mut names = roleless
            .iter()
            .take(NAMES_SHOWN)
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        if roleless.len() > NAMES_SHOWN {
            names.push_str(&format!(" and {} more", roleless.len() - NAMES_SHOWN));
        }
        out.push(Finding {
            rule: "F5",
            subject: a.id.clone(),
            account: Some(a.id.clone()),
            message: format!(
                "{} does not restrict user API key creation ({}), so every member may create user API keys, and {} member(s) hold no role at all: {names}",
                a.id,
                a.restrict_user_api_key_creation.as_str(),
                roleless.len()
            ),
            advice: format!(
                "restrict user API key creation in {} (restrict_user_api_key_creation: RESTRICTED), then give the right to create keys only to members who need them",
                a.id
            ),
        });
    }
}

/// F6: identities with [`NEAR_KEY_LIMIT`] or more stored keys (every stored key counts, R10).
fn near_key_limit(engine: &Engine, now: Now, out: &mut Vec<Finding>) {
    let tr = &engine.tr;
    let w = &tr.world;
    #[derive(Default)]
    struct Spare {
        expired: usize,
        disabled: usize,
        obsolete: usize,
    }
    let mut spare: BTreeMap<&str, Spare> = BTreeMap::new();
    for k in &w.api_keys {
        let s = spare.entry(k.identity.as_str()).or_default();
        let expired = match (k.expires_at.as_deref().and_then(parse_time), now) {
            (Some(t), Some(now)) => t <= now,
            _ => false,
        };
        if k.obsolete {
            s.obsolete += 1;
        } else if expired {
            s.expired += 1;
        } else if k.disabled {
            s.disabled += 1;
        }
    }
    let identities = w
        .users
        .iter()
        .map(|u| u.id.as_str())
        .chain(w.service_ids.iter().map(|s| s.id.as_str()));
    for id in identities {
        let count = tr.key_counts.get(id).copied().unwrap_or(0).max(0) as usize;
        if count < NEAR_KEY_LIMIT {
            continue;
        }
        let memberships = tr.memberships(id);
        let account = match memberships.as_slice() {
            [only] => Some(only.clone()),
            _ => None,
        };
        let state = if count >= KEY_LIMIT {
            format!(
                "has {count} API keys, the limit of {KEY_LIMIT}: creating another, or resetting a cluster API key as {id}, fails"
            )
        } else {
            format!(
                "has {count} API keys, {} short of the limit of {KEY_LIMIT}",
                KEY_LIMIT - count
            )
        };
        let s = spare.remove(id).unwrap_or_default();
        let mut parts = Vec::new();
        for (n, what) in [
            (s.obsolete, "obsolete"),
            (s.expired, "expired"),
            (s.disabled, "disabled"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        let advice = if parts.is_empty() {
            format!("delete the keys of {id} that are no longer used")
        } else {
            format!(
                "delete the {} key(s) of {id}, and any others no longer used",
                parts.join(", ")
            )
        };
        out.push(Finding {
            rule: "F6",
            subject: id.to_string(),
            account,
            message: format!("{id} {state} (disabled, expired and obsolete keys count too)"),
            advice,
        });
    }
}
