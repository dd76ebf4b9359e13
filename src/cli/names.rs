//! Display names where the CLI takes an id (`--principal`, `--resource`, `--arg account=`,
//! `--arg resource_group=`, audit filters): each resolved to the id it names, before a request
//! is built (docs/cli.md, "Display fields").
//!
//! Owns which flag expects which kinds, and that an audit filter names something that exists
//! (an unknown value is bad input listing the nearest candidates, never an empty audit).
//! Must not decide anything. May use: the world's lookup ([`crate::world::names`]) and the
//! request's shape.

use crate::audit::AuditOptions;
use crate::decide::action::Action;
use crate::decide::request::RequestSpec;
use crate::decide::request::actions;
use crate::world::names::{resolve, resolve_resource_group};
use crate::world::problem::Problem;
use crate::world::{IdKind, World};

const IDENTITIES: &[IdKind] = &[IdKind::User, IdKind::ServiceId];
const RESOURCES: &[IdKind] = &[
    IdKind::User,
    IdKind::ServiceId,
    IdKind::Account,
    IdKind::Cluster,
];

/// The request with every display value replaced by the id it names.
pub fn request(w: &World, spec: &RequestSpec) -> Result<RequestSpec, Problem> {
    let mut s = spec.clone();
    if s.action != "login" {
        s.principal = resolve(w, &s.principal, IDENTITIES, "--principal")?;
    }
    if let Some(r) = &s.resource {
        s.resource = Some(resolve(w, r, RESOURCES, "--resource")?);
    }
    if let Some(a) = s.args.get("account").cloned() {
        s.args.insert(
            "account".into(),
            resolve(w, &a, &[IdKind::Account], "--arg account")?,
        );
    }
    if let Some(g) = s.args.get("resource_group").cloned() {
        let account = s
            .args
            .get("account")
            .cloned()
            .or_else(|| s.resource.clone())
            .unwrap_or_default();
        s.args.insert(
            "resource_group".into(),
            resolve_resource_group(w, &account, &g, "--arg resource_group")?,
        );
    }
    Ok(s)
}

/// The audit filters with every display value replaced by the id it names.
pub fn audit_filters(w: &World, o: &AuditOptions) -> Result<AuditOptions, Problem> {
    let mut o = o.clone();
    let one = |v: &Option<String>, kinds: &[IdKind], flag: &str| {
        v.as_ref().map(|v| resolve(w, v, kinds, flag)).transpose()
    };
    o.principal = one(&o.principal, IDENTITIES, "--principal")?;
    o.resource = one(&o.resource, RESOURCES, "--resource")?;
    o.account = one(&o.account, &[IdKind::Account], "--account")?;
    let index = w.index();
    let known = |v: &Option<String>, kinds: &[IdKind], what: &str, flag: &str| match v {
        Some(v) if !index.ids.get(v).is_some_and(|(k, _)| kinds.contains(k)) => {
            let ids = index.ids.iter().filter(|(_, (k, _))| kinds.contains(k));
            Err(unknown(flag, v, what, ids.map(|(id, _)| id.as_str())))
        }
        _ => Ok(()),
    };
    // Login's principals are API keys; every kind of thing may be some action's resource.
    let callers = [IdKind::User, IdKind::ServiceId, IdKind::ApiKey];
    known(
        &o.principal,
        &callers,
        "user, service ID or API key of this world",
        "--principal",
    )?;
    let all = [
        IdKind::User,
        IdKind::ServiceId,
        IdKind::Account,
        IdKind::Cluster,
        IdKind::ApiKey,
    ];
    known(
        &o.resource,
        &all,
        "user, service ID, account, cluster or API key of this world",
        "--resource",
    )?;
    known(
        &o.account,
        &[IdKind::Account],
        "account of this world",
        "--account",
    )?;
    if let Some(a) = &o.action
        && a.parse::<Action>().is_err()
    {
        return Err(unknown("--action", a, "action keyward knows", actions()));
    }
    Ok(o)
}

/// How many near candidates an unknown value's message lists.
const NEAREST: usize = 5;

/// `value` names no `what` of this world: a problem for `flag` with the nearest candidates
/// (by edit distance, ties by name), or the whole list when it is short.
pub fn unknown<'a>(
    flag: &str,
    value: &str,
    what: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Problem {
    let mut scored: Vec<(usize, &str)> = candidates
        .map(|c| (strsim::levenshtein(value, c), c))
        .collect();
    scored.sort_unstable();
    // Close enough to be a typo: the best few, within a third of the longer name (at least 2
    // edits); or one name containing the other.
    let best = scored.first().map_or(0, |(d, _)| *d);
    let near: Vec<&str> = scored
        .iter()
        .filter(|(d, c)| {
            let typo = *d <= best + 1 && *d <= (value.len().max(c.len()) / 3).max(2);
            let part = c.len() >= 3 && value.len() >= 3 && (c.contains(value) || value.contains(c));
            typo || part
        })
        .take(NEAREST)
        .map(|(_, c)| *c)
        .collect();
    let hint = match (near.as_slice(), scored.len()) {
        (_, 0) => "there is none".to_string(),
        ([], n) if n <= 20 => format!("it is one of: {}", sorted(&scored).join(", ")),
        ([], _) => "no name is close to it".to_string(),
        (near, _) => format!("did you mean {}?", near.join(", ")),
    };
    Problem::arg(flag, format!("`{value}` is no {what}; {hint}"))
}

fn sorted<'a>(scored: &[(usize, &'a str)]) -> Vec<&'a str> {
    let mut v: Vec<&str> = scored.iter().map(|(_, c)| *c).collect();
    v.sort_unstable();
    v
}

/// The account `value` names (its id, or a name naming one account); unknown is bad input
/// for `--account` with the nearest ids.
pub fn account(w: &World, value: &str) -> Result<String, Problem> {
    let o = AuditOptions {
        account: Some(value.to_string()),
        ..AuditOptions::default()
    };
    Ok(audit_filters(w, &o)?.account.unwrap_or_default())
}
