//! Change impact: the (principal, action, resource) triples whose decision differs between two
//! sides — other policies, a variant, or another world — each `gained` or `revoked`, with the
//! policies that decided each side, and a count per action.
//!
//! Both sides are audited group by group with the exact audit ([`crate::audit::Auditor`]); a
//! triple allowed on one side only is decided on the other with `decide`, to name what denied it.
//! Must not format (that is [`crate::report::impact`]'s). May use: [`crate::decide`].

use crate::audit::{AuditError, AuditOptions, Auditor, LOGIN};
use crate::decide::engine::{Decision, Engine, Verdict};
use crate::decide::request::{RequestSpec, Target3, resource_requests};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// One decision that differs between the two sides.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// `gained` (allowed only on the other side) or `revoked` (allowed only on this side).
    pub change: &'static str,
    pub before: Decision,
    pub after: Decision,
}

fn spec_of(t: &Target3, principal: &str) -> RequestSpec {
    RequestSpec {
        principal: principal.to_string(),
        action: t.action.to_string(),
        resource: Some(t.resource.clone()),
        args: t.args.clone(),
        ..Default::default()
    }
}

/// The decision on one side of a triple allowed on the other (a deny, with its forbids).
fn denied(e: &Engine, t: &Target3, principal: &str) -> Decision {
    match e.decide(&spec_of(t, principal)) {
        Ok(d) => d,
        Err(p) => Decision {
            decision: Verdict::Deny,
            principal: principal.to_string(),
            action: t.action.to_string(),
            resource: t.resource.clone(),
            args: t.args.clone(),
            reasons: Vec::new(),
            errors: vec![format!("not a valid request on this side: {}", p.message)],
        },
    }
}

fn diff(
    a: &Engine,
    b: &Engine,
    t: &Target3,
    before: Vec<Decision>,
    after: Vec<Decision>,
) -> Vec<Change> {
    let mut out = Vec::new();
    let after_by: HashMap<&str, &Decision> =
        after.iter().map(|d| (d.principal.as_str(), d)).collect();
    let before_by: HashMap<&str, &Decision> =
        before.iter().map(|d| (d.principal.as_str(), d)).collect();
    for d in &before {
        if !after_by.contains_key(d.principal.as_str()) {
            out.push(Change {
                change: "revoked",
                before: d.clone(),
                after: denied(b, t, &d.principal),
            });
        }
    }
    for d in &after {
        if !before_by.contains_key(d.principal.as_str()) {
            out.push(Change {
                change: "gained",
                before: denied(a, t, &d.principal),
                after: d.clone(),
            });
        }
    }
    out
}

/// Every triple whose decision differs from `a` (before) to `b` (after).
pub fn impact(
    a: &Engine,
    b: &Engine,
    opts: &AuditOptions,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Vec<Change>, AuditError> {
    let aa = Auditor::new(a)?;
    let ab = Auditor::new(b)?;
    let groups = groups(a, b, opts);
    let logins = logins(a, b, opts);
    let total = groups.len() + logins.len();
    let mut out = Vec::new();
    let mut done = 0;
    for part in groups.chunks(256) {
        let changes: Vec<Vec<Change>> = part
            .par_iter()
            .map(|t| diff(a, b, t, aa.group(t), ab.group(t)))
            .collect();
        out.extend(changes.into_iter().flatten());
        done += part.len();
        progress(done, total);
    }
    for part in logins.chunks(256) {
        let changes: Vec<Vec<Change>> = part.par_iter().map(|t| login_diff(a, b, t)).collect();
        out.extend(changes.into_iter().flatten());
        done += part.len();
        progress(done, total);
    }
    out.retain(|c| {
        opts.principal
            .as_deref()
            .is_none_or(|p| p == c.after.principal)
    });
    Ok(out)
}

/// The groups of both worlds the options select, this side's order first.
fn groups(a: &Engine, b: &Engine, opts: &AuditOptions) -> Vec<Target3> {
    let mut seen = HashSet::new();
    let mut groups: Vec<Target3> = Vec::new();
    for t in resource_requests(&a.tr)
        .into_iter()
        .chain(resource_requests(&b.tr))
    {
        if opts.action.as_deref().is_some_and(|x| x != t.action)
            || opts.resource.as_deref().is_some_and(|r| r != t.resource)
        {
            continue;
        }
        if seen.insert((t.action, t.resource.clone(), t.args.clone())) {
            groups.push(t);
        }
    }
    groups
}

/// Every (API key, account) of either world as a `login` target (the key in arg `key`).
fn logins(a: &Engine, b: &Engine, opts: &AuditOptions) -> Vec<Target3> {
    let mut logins: Vec<Target3> = Vec::new();
    if opts.action.as_deref().is_some_and(|x| x != LOGIN) {
        return logins;
    }
    let mut keys: Vec<&str> = a.tr.world.api_keys.iter().map(|k| k.id.as_str()).collect();
    keys.extend(b.tr.world.api_keys.iter().map(|k| k.id.as_str()));
    let mut accounts: Vec<&str> = a.tr.world.accounts.iter().map(|x| x.id.as_str()).collect();
    accounts.extend(b.tr.world.accounts.iter().map(|x| x.id.as_str()));
    let mut seen = HashSet::new();
    for k in keys {
        for acc in &accounts {
            if opts.resource.as_deref().is_some_and(|r| r != *acc) {
                continue;
            }
            if seen.insert((k, *acc)) {
                logins.push(Target3 {
                    action: LOGIN,
                    resource: acc.to_string(),
                    args: BTreeMap::from([("key".into(), k.into())]),
                });
            }
        }
    }
    logins
}

/// The change, if any, of one key logging in to one account.
fn login_diff(a: &Engine, b: &Engine, t: &Target3) -> Vec<Change> {
    let key = t.args.get("key").cloned().unwrap_or_default();
    let login = Target3 {
        action: LOGIN,
        resource: t.resource.clone(),
        args: BTreeMap::new(),
    };
    let side = |e: &Engine| {
        e.decide(&spec_of(&login, &key))
            .ok()
            .filter(|d| d.decision == Verdict::Allow)
            .into_iter()
            .collect()
    };
    diff(a, b, &login, side(a), side(b))
}
