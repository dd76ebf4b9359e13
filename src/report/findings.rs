//! Findings as people and programs read them: a text table grouped by rule (with each rule's
//! title) and JSON. Owns formatting only; what counts as a finding is
//! [`crate::audit::findings`]'s. Must not decide or change anything.
//! May use: [`crate::audit`].

use crate::audit::findings::Finding;
use crate::report::text::esc;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The findings' titles, as docs/rules.md states them (shortened).
pub const TITLES: [(&str, &str); 6] = [
    ("F1", "cluster API key backed by a personal user"),
    (
        "F2",
        "cluster API key whose owner left, or whose key is deleted, disabled or expired",
    ),
    (
        "F3",
        "cluster API key owner who may no longer reset it (R22)",
    ),
    ("F4", "user API key with no expiry or with leak action none"),
    (
        "F5",
        "creation not restricted while members hold no role at all",
    ),
    ("F6", "identity at or near the 20-key limit (R10)"),
];

/// The title of a rule id.
pub fn title(rule: &str) -> &'static str {
    TITLES
        .iter()
        .find(|(r, _)| *r == rule)
        .map_or("", |(_, t)| t)
}

/// Findings as JSON: an array of `{"rule","subject","account"?,"message","advice"}`.
pub fn findings_json(findings: &[Finding]) -> serde_json::Value {
    serde_json::to_value(findings).unwrap_or_else(|e| serde_json::json!([{"error": e.to_string()}]))
}

/// Findings as a readable table, grouped by rule: a heading per rule with its count, then one
/// row per finding (account, subject, why) with what to do beneath.
pub fn findings_text(findings: &[Finding]) -> String {
    let mut s = String::new();
    if findings.is_empty() {
        s.push_str("no findings\n");
        return s;
    }
    let account_w = findings
        .iter()
        .map(|f| esc(f.account.as_deref().unwrap_or("-")).chars().count())
        .max()
        .unwrap_or(1);
    let subject_w = findings
        .iter()
        .map(|f| esc(&f.subject).chars().count())
        .max()
        .unwrap_or(1);
    let mut by_rule: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for f in findings {
        by_rule.entry(f.rule).or_default().push(f);
    }
    let mut counts = Vec::new();
    for (rule, list) in &by_rule {
        if !s.is_empty() {
            s.push('\n');
        }
        let _ = writeln!(s, "{rule}  {}: {}", title(rule), list.len());
        for f in list {
            let _ = writeln!(
                s,
                "  {:<account_w$}  {:<subject_w$}  {}",
                esc(f.account.as_deref().unwrap_or("-")),
                esc(&f.subject),
                esc(&f.message)
            );
            let _ = writeln!(
                s,
                "  {:<account_w$}  {:<subject_w$}  -> {}",
                "",
                "",
                esc(&f.advice)
            );
        }
        counts.push(format!("{rule} {}", list.len()));
    }
    let _ = writeln!(s, "\n{} finding(s): {}", findings.len(), counts.join(", "));
    s
}
