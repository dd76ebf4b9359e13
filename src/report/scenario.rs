//! A scenario's steps for people and programs: one line per step (`keyward run`, and a failed
//! scenario step of `keyward test`) and one JSON object per step.
//!
//! Owns only the wording; whether a step met its expectation comes from
//! [`crate::evaluator::scenario`] (`met`, `why_unmet`). May use [`crate::evaluator`] and below.

use super::changes::{changes_json, result_json, summary_text};
use crate::decide::engine::{Decision, Verdict};
use crate::decide::request::RequestSpec;
use crate::evaluator::scenario::{Expect, Step, StepAction, StepResult, met, why_unmet};
use crate::report::text::esc;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Args as ` (k=v, k=v)`, or empty.
fn args_text(args: &BTreeMap<String, String>) -> String {
    if args.is_empty() {
        String::new()
    } else {
        format!(
            " ({})",
            args.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// The request as written, with a caller-supplied key value hidden.
fn request_text(spec: &RequestSpec) -> String {
    let args = spec.redacted().args;
    format!(
        "{} {} {}{}",
        spec.principal,
        spec.action,
        spec.resource.as_deref().unwrap_or(""),
        args_text(&args)
    )
}

/// Why a decision went the way it did: the determining policies, or why there were none.
fn reasons_text(d: &Decision) -> String {
    let lead = match (d.decision, d.reasons.is_empty()) {
        (Verdict::Allow, _) => "permitted by",
        (Verdict::Deny, false) => "forbidden by",
        (Verdict::Deny, true) if d.errors.is_empty() => return "not permitted".into(),
        (Verdict::Deny, true) => return "denied: evaluation failed (fails closed)".into(),
    };
    let names: Vec<String> = d.reasons.iter().map(super::reason_name).collect();
    format!("{lead} {}", names.join(", "))
}

/// One line for a step: number, ok / NOT OK, what happened, why, and what it did.
pub fn step_line(n: usize, step: &Step, r: &StepResult) -> String {
    let ok = met(step, r);
    let mark = if ok { "ok" } else { "NOT OK" };
    let (label, what) = match (&step.action, &r.decision) {
        (StepAction::Leak { key, .. }, _) => ("EVENT", format!("leak {key}")),
        (StepAction::Request(_), Some(d)) => (
            if d.decision == Verdict::Allow {
                "ALLOW"
            } else {
                "DENY"
            },
            format!(
                "{} {} {}{}",
                d.principal,
                d.action,
                d.resource,
                args_text(&d.args)
            ),
        ),
        (StepAction::Request(spec), None) => ("ERROR", request_text(spec)),
    };
    let mut parts = Vec::new();
    if let Some(d) = &r.decision {
        parts.push(reasons_text(d));
    }
    if let Some(e) = &r.effect {
        parts.push(summary_text(&e.done));
    }
    if let Some(f) = &r.failure {
        parts.push(f.replace('\n', " "));
    }
    let mut line = format!("{n:>3} {mark:<6} {label:<5}  {what}");
    if !parts.is_empty() {
        line.push_str(": ");
        line.push_str(&parts.join("; "));
    }
    if !ok {
        let wanted = step.expect.map(Expect::word).unwrap_or("allow or deny");
        let why = why_unmet(step, r);
        if step.expect.is_some_and(|e| e != r.got()) || why.is_empty() {
            line.push_str(&format!(
                "  (line {}: expected {wanted}{}, got {})",
                step.line,
                step.why.text(),
                r.got().word()
            ));
        } else {
            line.push_str(&format!("  (line {}: {})", step.line, why.join("; ")));
        }
    }
    // One line, whatever the script's values hold.
    esc(&line).into_owned()
}

/// A step as JSON: its request or event, expectation, outcome, explanation and changes.
pub fn step_json(n: usize, step: &Step, r: &StepResult) -> Value {
    let mut v = json!({
        "step": n,
        "line": step.line,
        "got": r.got().word(),
        "met": met(step, r),
    });
    match &step.action {
        StepAction::Leak { key, .. } => {
            v["event"] = json!("leak");
            v["key"] = json!(key);
        }
        StepAction::Request(spec) => {
            v["principal"] = json!(spec.principal);
            v["action"] = json!(spec.action);
            v["resource"] = json!(spec.resource);
        }
    }
    if let Some(e) = step.expect {
        v["expect"] = json!(e.word());
    }
    if let Some(r) = &step.why.reasons {
        v["expect_reasons"] = json!(r);
    }
    if let Some(r) = &step.why.rules {
        v["expect_rules"] = json!(r);
    }
    let unmet = why_unmet(step, r);
    if !unmet.is_empty() {
        v["unmet"] = json!(unmet);
    }
    if let Some(d) = &r.decision {
        v["decision"] = json!(d.decision);
        v["args"] = json!(d.args);
        v["reasons"] = json!(d.reasons);
        v["errors"] = json!(d.errors);
    }
    if let Some(e) = &r.effect {
        v["summary"] = json!(summary_text(&e.done));
        v["changes"] = changes_json(&e.changes);
        if let Some(res) = result_json(&e.done) {
            v["result"] = res;
        }
    }
    if let Some(f) = &r.failure {
        v["error"] = json!(f);
    }
    v
}
