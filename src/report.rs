//! Output for people and programs: a decision as text (readable at a glance) or JSON (the
//! INTERFACE.md shape). Owns formatting only; nothing here decides or changes anything.

use crate::engine::{Decision, Verdict};
use std::fmt::Write as _;

/// A decision as JSON (INTERFACE.md: decision, principal, action, resource, reasons, errors).
pub fn decision_json(d: &Decision) -> serde_json::Value {
    serde_json::to_value(d)
        .unwrap_or_else(|e| serde_json::json!({"decision": "deny", "errors": [e.to_string()]}))
}

/// A decision as text: the verdict line, then each determining policy with its rules and doc.
pub fn decision_text(d: &Decision) -> String {
    let mut s = String::new();
    let verdict = match d.decision {
        Verdict::Allow => "ALLOW",
        Verdict::Deny => "DENY",
    };
    let args = if d.args.is_empty() {
        String::new()
    } else {
        format!(
            " ({})",
            d.args
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let _ = writeln!(
        s,
        "{verdict}  {} {} {}{args}",
        d.principal, d.action, d.resource
    );
    match (d.decision, d.reasons.is_empty(), d.errors.is_empty()) {
        (Verdict::Deny, true, true) => {
            let _ = writeln!(
                s,
                "  not permitted: no policy grants {} {} on {}",
                d.principal, d.action, d.resource
            );
        }
        (Verdict::Deny, true, false) => {
            let _ = writeln!(
                s,
                "  denied because evaluation failed (keyward fails closed)"
            );
        }
        _ => {
            let lead = if d.decision == Verdict::Allow {
                "permitted by"
            } else {
                "forbidden by"
            };
            for r in &d.reasons {
                let rules = if r.rules.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", r.rules.join(", "))
                };
                let _ = writeln!(s, "  {lead} {}{rules}", r.policy);
                if !r.doc.is_empty() {
                    let _ = writeln!(s, "    {}", r.doc);
                }
            }
        }
    }
    for e in &d.errors {
        let _ = writeln!(s, "  error: {e}");
    }
    s
}
