//! Output for people and programs: a decision as text (readable at a glance) or JSON (the
//! docs/cli.md shape); the audit document is [`audit`]'s. Owns formatting only; nothing here
//! decides or changes anything.

pub mod apply;
pub mod audit;
pub mod changes;
pub mod explain;
pub mod findings;
pub mod html;
pub mod impact;
pub mod log;
pub mod prove;
pub mod run;
pub mod scenario;
pub mod testrun;
pub mod text;
pub mod validate;

use crate::decide::action::{Action, Label};
use crate::decide::engine::{Decision, Verdict};
pub use audit::AuditWriter;
use std::fmt::Write as _;
use text::esc;

/// A decision as JSON (docs/cli.md: decision, principal, action, resource, reasons, errors).
pub fn decision_json(d: &Decision) -> serde_json::Value {
    serde_json::to_value(d)
        .unwrap_or_else(|e| serde_json::json!({"decision": "deny", "errors": [e.to_string()]}))
}

/// A determining policy as `id [R1, R2]` (just the id when it names no rule).
pub fn reason_name(r: &crate::decide::engine::Reason) -> String {
    if r.rules.is_empty() {
        esc(&r.policy).into_owned()
    } else {
        format!("{} [{}]", esc(&r.policy), esc(&r.rules.join(", ")))
    }
}

/// A decision as text: the verdict line, then each determining policy with its rules and doc.
pub fn decision_text(d: &Decision) -> String {
    decision_text_named(d, &|_| None)
}

/// [`decision_text`] with a display name beside each id that has one (`name` gives it).
pub fn decision_text_named(d: &Decision, name: &dyn Fn(&str) -> Option<String>) -> String {
    let shown = |id: &str| name(id).map_or_else(|| id.to_string(), |n| format!("{id} ({n})"));
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
                .map(|(k, v)| format!("{}={}", esc(k), esc(v)))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let (principal, resource) = (shown(&d.principal), shown(&d.resource));
    let (principal, action, resource) = (esc(&principal), esc(&d.action), esc(&resource));
    let _ = writeln!(s, "{verdict}  {principal} {action} {resource}{args}");
    match (d.decision, d.reasons.is_empty(), d.errors.is_empty()) {
        (Verdict::Deny, true, true) => {
            let _ = writeln!(
                s,
                "  not permitted: no policy grants {principal} {action} on {resource}"
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
                    format!(" [{}]", esc(&r.rules.join(", ")))
                };
                let _ = writeln!(s, "  {lead} {}{rules}", esc(&r.policy));
                if !r.doc.is_empty() {
                    let _ = writeln!(s, "    {}", esc(&r.doc));
                }
            }
        }
    }
    for e in &d.errors {
        let _ = writeln!(s, "  error: {}", esc(e));
    }
    s
}

/// Output formats of `audit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditFormat {
    Text,
    Json,
    Jsonl,
    Csv,
    Markdown,
    /// One self-contained page ([`html`]).
    Html,
}

/// How the text and markdown views group rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupBy {
    /// principal -> action -> resources (what may each do)
    #[default]
    Principal,
    /// resource -> action -> principals (who may act on each)
    Resource,
}

/// A row's resource with the args that select it (`pat@globex`, `acme/us-south/default`), as
/// its action's definition says.
pub fn target_label(d: &Decision) -> String {
    let label = d
        .action
        .parse::<Action>()
        .map_or(Label::Resource, |a| a.def().label);
    let arg = |name: &str| d.args.get(name).map(String::as_str);
    match (label, arg("account")) {
        (Label::Slot, _) => format!(
            "{}/{}/{}",
            d.resource,
            arg("region").unwrap_or("?"),
            arg("resource_group").unwrap_or("?")
        ),
        (Label::CreatedAtAccount, Some(a)) if d.args.len() == 1 && !d.resource.is_empty() => {
            format!("{}@{a}", d.resource)
        }
        (Label::AtAccount, Some(a)) => format!("{}@{a}", d.resource),
        _ => d.resource.clone(),
    }
}

/// One audit row as a JSON object (docs/cli.md's jsonl row).
pub fn audit_row_json(d: &Decision) -> serde_json::Value {
    let mut v = serde_json::json!({
        "principal": d.principal,
        "action": d.action,
        "resource": d.resource,
        "decision": d.decision,
        "reasons": d.reasons,
    });
    if !d.args.is_empty() {
        v["args"] = serde_json::json!(d.args);
    }
    v
}
