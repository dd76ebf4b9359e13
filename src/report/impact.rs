//! Change-impact reports: the decisions that differ between two sides, as text, JSON, jsonl,
//! csv or markdown, with a count per action. Owns formatting only; what differs is
//! [`crate::audit::impact`]'s. Must not decide or change anything.
//! May use: [`crate::audit`], [`crate::decide`].

use crate::audit::impact::Change;
use crate::decide::engine::{Decision, Verdict};
use crate::report::text::{csv_field, csv_list, esc, md_cell};
use crate::report::{AuditFormat, audit_row_json, target_label};
use std::collections::BTreeMap;
use std::io::{Result, Write};

/// Per action: (gained, revoked).
type PerAction<'a> = BTreeMap<&'a str, (usize, usize)>;

/// Write a change-impact report.
pub fn write(changes: &[Change], format: AuditFormat, out: &mut dyn Write) -> Result<()> {
    let mut per_action: PerAction = BTreeMap::new();
    for c in changes {
        let e = per_action.entry(c.after.action.as_str()).or_default();
        if c.change == "gained" {
            e.0 += 1
        } else {
            e.1 += 1
        }
    }
    match format {
        AuditFormat::Jsonl => jsonl(changes, out),
        AuditFormat::Json => json(changes, &per_action, out),
        AuditFormat::Csv => csv(changes, out),
        AuditFormat::Text => text(changes, &per_action, out),
        AuditFormat::Markdown => markdown(changes, &per_action, out),
        // The page shows the change impact beside the audit (crate::report::html).
        AuditFormat::Html => Err(std::io::Error::other(
            "the html change impact is part of the audit page",
        )),
    }
}

/// One change as a JSON object: `"type":"change"`, the audit row of its after side, with both
/// sides' decisions. Reasons keep their doc: the two sides may give one policy id different
/// texts, so one legend could not say both (and change-impact output is small).
fn row(c: &Change) -> serde_json::Value {
    let mut v = serde_json::Map::new();
    v.insert("type".into(), "change".into());
    if let serde_json::Value::Object(o) = audit_row_json(&c.after) {
        v.extend(o);
    }
    let mut v = serde_json::Value::Object(v);
    v["change"] = serde_json::json!(c.change);
    v["before"] = serde_json::json!({"decision": c.before.decision, "reasons": c.before.reasons, "errors": c.before.errors});
    v["after"] = serde_json::json!({"decision": c.after.decision, "reasons": c.after.reasons, "errors": c.after.errors});
    v
}

fn jsonl(changes: &[Change], out: &mut dyn Write) -> Result<()> {
    for c in changes {
        writeln!(out, "{}", row(c))?;
    }
    Ok(())
}

fn json(changes: &[Change], per_action: &PerAction, out: &mut dyn Write) -> Result<()> {
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
    let rows: Vec<_> = changes.iter().map(row).collect();
    writeln!(
        out,
        "{}",
        serde_json::json!({"changes": rows, "summary": summary})
    )
}

fn csv(changes: &[Change], out: &mut dyn Write) -> Result<()> {
    writeln!(out, "change,principal,action,resource,args,before,after")?;
    for c in changes {
        let args = c
            .after
            .args
            .iter()
            .map(|(k, v)| (k.as_str(), Some(v.as_str())));
        let args = csv_list(args);
        let f = csv_field;
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
    Ok(())
}

fn text(changes: &[Change], per_action: &PerAction, out: &mut dyn Write) -> Result<()> {
    for c in changes {
        let sign = if c.change == "gained" { "+" } else { "-" };
        writeln!(
            out,
            "{sign} {:<8} {} {} {}",
            c.change,
            esc(&c.after.principal),
            esc(&c.after.action),
            esc(&target_label(&c.after))
        )?;
        writeln!(out, "    before: {}", esc(&reasons_of(&c.before)))?;
        writeln!(out, "    after:  {}", esc(&reasons_of(&c.after)))?;
    }
    totals(changes, per_action, out)
}

fn markdown(changes: &[Change], per_action: &PerAction, out: &mut dyn Write) -> Result<()> {
    writeln!(
        out,
        "| change | principal | action | resource | before | after |\n|---|---|---|---|---|---|"
    )?;
    for c in changes {
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            c.change,
            md_cell(&c.after.principal),
            md_cell(&c.after.action),
            md_cell(&target_label(&c.after)),
            md_cell(&reasons_of(&c.before)),
            md_cell(&reasons_of(&c.after))
        )?;
    }
    totals(changes, per_action, out)
}

/// The closing lines of the text and markdown reports: how many differ, and per action.
fn totals(changes: &[Change], per_action: &PerAction, out: &mut dyn Write) -> Result<()> {
    let differ = if changes.len() == 1 {
        "differs"
    } else {
        "differ"
    };
    writeln!(
        out,
        "\n{} {differ}",
        super::text::count(changes.len(), "decision")
    )?;
    for (a, (g, r)) in per_action {
        writeln!(out, "  {:<24} {g} gained, {r} revoked", esc(a))?;
    }
    Ok(())
}

/// What decided one side: the policies that permitted or forbade it, that nothing did, or
/// that its evaluation failed (which denies: keyward fails closed).
fn reasons_of(d: &Decision) -> String {
    let failed = format!("evaluation failed ({})", d.errors.join("; "));
    if d.reasons.is_empty() {
        match (d.decision, d.errors.is_empty()) {
            (Verdict::Deny, true) => "nothing permits it".to_string(),
            (Verdict::Deny, false) => format!("denied: {failed}"),
            (Verdict::Allow, _) => String::new(),
        }
    } else {
        let lead = if d.decision == Verdict::Allow {
            "permitted by"
        } else {
            "forbidden by"
        };
        let names = d.reasons.iter().map(|r| r.policy.as_str());
        let names = names.collect::<Vec<_>>().join(", ");
        if d.errors.is_empty() {
            format!("{lead} {names}")
        } else {
            format!("{lead} {names}; {failed}")
        }
    }
}
