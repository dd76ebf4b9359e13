//! Output for people and programs: a decision as text (readable at a glance) or JSON (the
//! INTERFACE.md shape). Owns formatting only; nothing here decides or changes anything.

pub mod apply;
pub mod changes;
pub mod findings;
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
use std::collections::BTreeMap;
use std::fmt::Write as _;
use text::{csv_field, esc, md_cell};

/// A decision as JSON (INTERFACE.md: decision, principal, action, resource, reasons, errors).
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

/// One audit row as a JSON object (INTERFACE.md's jsonl row).
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

/// Writes audit rows as they come: jsonl and csv stream; json streams an array; text and
/// markdown (for people) group rows, so they keep them until `finish`.
pub struct AuditWriter<W: std::io::Write> {
    out: W,
    format: AuditFormat,
    by: GroupBy,
    rows: usize,
    kept: Vec<Decision>,
    /// Audited decisions whose evaluation failed (they deny; not rows).
    errored: usize,
    /// Display names of principals, shown beside their ids in the text and markdown views.
    names: BTreeMap<String, String>,
}

impl<W: std::io::Write> AuditWriter<W> {
    /// A writer of `format` to `out`.
    pub fn new(out: W, format: AuditFormat, by: GroupBy) -> std::io::Result<Self> {
        let mut w = AuditWriter {
            out,
            format,
            by,
            rows: 0,
            kept: Vec::new(),
            errored: 0,
            names: BTreeMap::new(),
        };
        match format {
            AuditFormat::Csv => writeln!(w.out, "principal,action,resource,args,reasons")?,
            AuditFormat::Json => write!(w.out, "{{\"decisions\":[")?,
            _ => {}
        }
        Ok(w)
    }

    /// Show these display names (id -> name) beside ids in the text and markdown
    /// views; the data formats keep ids only.
    pub fn with_names(mut self, names: BTreeMap<String, String>) -> Self {
        self.names = names;
        self
    }

    /// Add one allowed decision.
    pub fn row(&mut self, d: Decision) -> std::io::Result<()> {
        match self.format {
            AuditFormat::Jsonl => writeln!(self.out, "{}", audit_row_json(&d))?,
            AuditFormat::Json => {
                let sep = if self.rows == 0 { "\n" } else { ",\n" };
                write!(self.out, "{sep}{}", audit_row_json(&d))?;
            }
            AuditFormat::Csv => {
                let args = d
                    .args
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(";");
                let reasons = d
                    .reasons
                    .iter()
                    .map(|r| r.policy.as_str())
                    .collect::<Vec<_>>()
                    .join(";");
                writeln!(
                    self.out,
                    "{},{},{},{},{}",
                    csv_field(&d.principal),
                    csv_field(&d.action),
                    csv_field(&d.resource),
                    csv_field(&args),
                    csv_field(&reasons)
                )?;
            }
            AuditFormat::Text | AuditFormat::Markdown => self.kept.push(d),
        }
        self.rows += 1;
        Ok(())
    }

    /// How many audited decisions failed to evaluate: the json's `errored_decisions`, and
    /// the text and markdown summary line (when there are any).
    pub fn errored(&mut self, n: usize) {
        self.errored = n;
    }

    /// Finish the output; `extra` is a JSON value merged into the json object (findings,
    /// summary), or text appended to the text views.
    pub fn finish(
        mut self,
        json_extra: serde_json::Map<String, serde_json::Value>,
        text_extra: &str,
    ) -> std::io::Result<W> {
        match self.format {
            AuditFormat::Json => {
                write!(self.out, "\n]")?;
                write!(self.out, ",\"errored_decisions\":{}", self.errored)?;
                for (k, v) in json_extra {
                    write!(self.out, ",{}:{}", serde_json::Value::String(k), v)?;
                }
                writeln!(self.out, "}}")?;
            }
            AuditFormat::Text | AuditFormat::Markdown => {
                let md = self.format == AuditFormat::Markdown;
                // key -> action -> targets
                let mut groups: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
                let named = |id: &str| match self.names.get(id) {
                    Some(n) => format!("{id} ({n})"),
                    None => id.to_string(),
                };
                // A target that is just the resource's id gets its name too.
                let target = |d: &Decision| match target_label(d) {
                    l if l == d.resource => named(&l),
                    l => l,
                };
                for d in &self.kept {
                    let (k, v) = match self.by {
                        GroupBy::Principal => (named(&d.principal), target(d)),
                        GroupBy::Resource => (target(d), named(&d.principal)),
                    };
                    groups
                        .entry(k)
                        .or_default()
                        .entry(d.action.clone())
                        .or_default()
                        .push(v);
                }
                let (what, who) = match self.by {
                    GroupBy::Principal => ("principal", "may act on"),
                    GroupBy::Resource => ("resource", "who may"),
                };
                if md {
                    writeln!(self.out, "| {what} | action | {who} |")?;
                    writeln!(self.out, "|---|---|---|")?;
                }
                for (k, actions) in &groups {
                    if !md {
                        writeln!(self.out, "{}", esc(k))?;
                    }
                    for (a, vs) in actions {
                        let vs: Vec<_> = vs.iter().map(|v| esc(v)).collect();
                        if md {
                            writeln!(
                                self.out,
                                "| {} | {} | {} |",
                                md_cell(k),
                                md_cell(a),
                                md_cell(&vs.join(", "))
                            )?;
                        } else {
                            writeln!(self.out, "  {:<24} {}", esc(a), vs.join(", "))?;
                        }
                    }
                }
                let errored = match self.errored {
                    0 => String::new(),
                    n => format!("; {n} denied: evaluation failed (`keyward check` shows why)"),
                };
                writeln!(
                    self.out,
                    "{}{} allowed (principal, action, resource) triples{errored}",
                    if md { "\n" } else { "" },
                    self.rows
                )?;
                write!(self.out, "{text_extra}")?;
            }
            _ => {}
        }
        self.out.flush()?;
        Ok(self.out)
    }
}
