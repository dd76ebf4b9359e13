//! Change impact: the (principal, action, resource) triples whose decision differs between two
//! sides — other policies, a variant, or another world — each `gained` or `revoked`, with the
//! policies that decided each side, and a count per action.
//!
//! Both sides are audited group by group with the exact audit ([`crate::audit::Auditor`]); a
//! triple allowed on one side only is decided on the other with `decide`, to name what denied it.

use crate::audit::{AuditError, AuditOptions, Auditor};
use crate::decide::engine::{Decision, Engine, Verdict};
use crate::decide::request::{RequestSpec, Target3, resource_requests};
use crate::report::{AuditFormat, audit_row_json, target_label};
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
    // The groups of both worlds, this side's order first.
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
    let mut logins: Vec<Target3> = Vec::new();
    if opts.action.as_deref().is_none_or(|x| x == "login") {
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
                        action: "login",
                        resource: acc.to_string(),
                        args: BTreeMap::from([("key".into(), k.into())]),
                    });
                }
            }
        }
    }
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
        let changes: Vec<Vec<Change>> = part
            .par_iter()
            .map(|t| {
                let key = t.args.get("key").cloned().unwrap_or_default();
                let login = Target3 {
                    action: "login",
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
            })
            .collect();
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

fn reasons_of(d: &Decision) -> String {
    if d.reasons.is_empty() {
        if d.decision == Verdict::Deny {
            "nothing permits it".to_string()
        } else {
            String::new()
        }
    } else {
        let lead = if d.decision == Verdict::Allow {
            "permitted by"
        } else {
            "forbidden by"
        };
        format!(
            "{lead} {}",
            d.reasons
                .iter()
                .map(|r| r.policy.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// Write a change-impact report.
pub fn write(
    changes: &[Change],
    format: AuditFormat,
    out: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    let mut per_action: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for c in changes {
        let e = per_action.entry(c.after.action.as_str()).or_default();
        if c.change == "gained" {
            e.0 += 1
        } else {
            e.1 += 1
        }
    }
    let row = |c: &Change| {
        let mut v = audit_row_json(&c.after);
        v["change"] = serde_json::json!(c.change);
        v["before"] = serde_json::json!({"decision": c.before.decision, "reasons": c.before.reasons, "errors": c.before.errors});
        v["after"] = serde_json::json!({"decision": c.after.decision, "reasons": c.after.reasons, "errors": c.after.errors});
        v
    };
    let summary: serde_json::Value = per_action
        .iter()
        .map(|(a, (g, r))| {
            (
                a.to_string(),
                serde_json::json!({"gained": g, "revoked": r}),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into();
    match format {
        AuditFormat::Jsonl => {
            for c in changes {
                writeln!(out, "{}", row(c))?;
            }
        }
        AuditFormat::Json => {
            let rows: Vec<_> = changes.iter().map(row).collect();
            writeln!(
                out,
                "{}",
                serde_json::json!({"changes": rows, "summary": summary})
            )?;
        }
        AuditFormat::Csv => {
            writeln!(out, "change,principal,action,resource,args,before,after")?;
            for c in changes {
                let args = c
                    .after
                    .args
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(";");
                let f = |s: &str| {
                    if s.contains([',', '"', '\n']) {
                        format!("\"{}\"", s.replace('"', "\"\""))
                    } else {
                        s.to_string()
                    }
                };
                writeln!(
                    out,
                    "{},{},{},{},{},{},{}",
                    c.change,
                    f(&c.after.principal),
                    f(&c.after.action),
                    f(&c.after.resource),
                    f(&args),
                    f(&reasons_of(&c.before)),
                    f(&reasons_of(&c.after))
                )?;
            }
        }
        AuditFormat::Text | AuditFormat::Markdown => {
            let md = format == AuditFormat::Markdown;
            if md {
                writeln!(
                    out,
                    "| change | principal | action | resource | before | after |\n|---|---|---|---|---|---|"
                )?;
            }
            for c in changes {
                let sign = if c.change == "gained" { "+" } else { "-" };
                if md {
                    writeln!(
                        out,
                        "| {} | {} | {} | {} | {} | {} |",
                        c.change,
                        c.after.principal,
                        c.after.action,
                        target_label(&c.after),
                        reasons_of(&c.before),
                        reasons_of(&c.after)
                    )?;
                } else {
                    writeln!(
                        out,
                        "{sign} {:<8} {} {} {}",
                        c.change,
                        c.after.principal,
                        c.after.action,
                        target_label(&c.after)
                    )?;
                    writeln!(out, "    before: {}", reasons_of(&c.before))?;
                    writeln!(out, "    after:  {}", reasons_of(&c.after))?;
                }
            }
            writeln!(out, "\n{} decisions differ", changes.len())?;
            for (a, (g, r)) in &per_action {
                writeln!(out, "  {a:<24} {g} gained, {r} revoked")?;
            }
        }
    }
    Ok(())
}
