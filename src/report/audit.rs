//! The audit as a document: rows written as they come (jsonl, csv and json stream; text and
//! markdown group rows, so they keep them until the end), then findings and the figures.
//! Every format is one well-formed document (docs/output.md):
//! - jsonl: a `{"type":"policies"}` legend line (each policy's effect, rules and doc, once),
//!   then `{"type":"allow"}` lines (one per allowed decision) whose reasons name policies by
//!   id and rules, then
//!   `{"type":"finding"}` lines, then one `{"type":"summary"}` line;
//! - json: one object, `policies` (the legend), `decisions`, `findings`, `stats` as fields;
//! - csv: one table with a `type` column (`allow` or `finding`);
//! - markdown: the decisions table, then findings as a second table under their own heading;
//! - text: for people.
//!
//! Owns formatting only; what is allowed is [`crate::audit`]'s. Must not decide anything.
//! May use: [`crate::audit`], [`crate::decide`].

use super::text::{csv_field, csv_list, esc, md_cell};
use super::{AuditFormat, GroupBy, target_label};
use crate::audit::AuditStats;
use crate::audit::findings::Finding;
use crate::decide::engine::{Decision, Reason, Verdict};
use crate::decide::policy::PolicyInfo;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

/// The `type` of an allowed decision's line in jsonl and csv. Short on purpose: it is on
/// every one of a big audit's millions of lines (issue 13's output goal).
pub const ALLOW_ROW: &str = "allow";

/// The csv header: the decision columns, then the finding columns (empty on the other kind).
pub const CSV_HEADER: &str =
    "type,principal,action,resource,args,reasons,rule,account,subject,message,advice";

/// One decision row as jsonl and json write it: reasons by policy id and rules only (their
/// effect and doc are in the legend).
#[derive(Serialize)]
struct Row<'a> {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    principal: &'a str,
    action: &'a str,
    resource: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    args: &'a BTreeMap<String, String>,
    decision: Verdict,
    reasons: Vec<ReasonRef<'a>>,
}

/// A reason as a decision row names it.
#[derive(Serialize)]
struct ReasonRef<'a> {
    policy: &'a str,
    rules: &'a [String],
}

impl<'a> Row<'a> {
    fn of(d: &'a Decision, kind: Option<&'static str>) -> Self {
        Row {
            kind,
            principal: &d.principal,
            action: &d.action,
            resource: &d.resource,
            args: &d.args,
            decision: d.decision,
            reasons: d.reasons.iter().map(reason_ref).collect(),
        }
    }
}

fn reason_ref(r: &Reason) -> ReasonRef<'_> {
    ReasonRef {
        policy: &r.policy,
        rules: &r.rules,
    }
}

/// The legend: every loaded policy with its effect, rules, doc and where it is written.
pub fn legend_json<'a>(policies: impl IntoIterator<Item = &'a PolicyInfo>) -> serde_json::Value {
    policies
        .into_iter()
        .map(|p| {
            serde_json::json!({
                "id": p.id, "effect": p.effect, "rules": p.rules, "doc": p.doc,
                "file": p.file, "line": p.line,
            })
        })
        .collect::<Vec<_>>()
        .into()
}

/// How the audit's work was done, as fields (docs/output.md explains each).
pub fn stats_json(s: &AuditStats) -> serde_json::Value {
    let n = |c: &std::sync::atomic::AtomicUsize| c.load(Ordering::Relaxed);
    serde_json::json!({
        "groups_read_as_sets": n(&s.set_groups),
        "groups_decided_one_by_one": n(&s.fallback_groups),
        "partial_evaluations": n(&s.partial_evaluations),
        "cedar_decisions": n(&s.decisions),
        "errored_decisions": s.errored(),
    })
}

/// A finding as a jsonl line: `{"type":"finding", "rule", "subject", "account"?, …}`.
fn finding_line(f: &Finding) -> serde_json::Value {
    let mut line = serde_json::Map::new();
    line.insert("type".into(), "finding".into());
    if let serde_json::Value::Object(o) = super::findings::findings_json(std::slice::from_ref(f))
        .get(0)
        .cloned()
        .unwrap_or_default()
    {
        line.extend(o);
    }
    line.into()
}

/// What the audit adds after its rows.
pub struct Tail<'a> {
    /// The findings to show (already narrowed to the audit's filters), if asked for.
    pub findings: Option<&'a [Finding]>,
    /// How the work was done.
    pub stats: &'a AuditStats,
}

/// Writes audit rows as they come, then the tail (findings, figures).
pub struct AuditWriter<W: std::io::Write> {
    out: W,
    format: AuditFormat,
    by: GroupBy,
    rows: usize,
    kept: Vec<Decision>,
    /// Display names of principals, shown beside their ids in the text and markdown views.
    names: BTreeMap<String, String>,
    /// The page being filled, for the html format.
    page: Option<Box<super::html::Page>>,
}

impl<W: std::io::Write> AuditWriter<W> {
    /// A writer of `format` to `out`; `legend` is every loaded policy (the json and jsonl
    /// legend).
    pub fn new(
        out: W,
        format: AuditFormat,
        by: GroupBy,
        legend: serde_json::Value,
    ) -> std::io::Result<Self> {
        let mut w = AuditWriter {
            out,
            format,
            by,
            rows: 0,
            kept: Vec::new(),
            names: BTreeMap::new(),
            page: None,
        };
        match format {
            AuditFormat::Csv => writeln!(w.out, "{CSV_HEADER}")?,
            AuditFormat::Json => write!(w.out, "{{\"policies\":{legend},\"decisions\":[")?,
            AuditFormat::Jsonl => writeln!(
                w.out,
                "{}",
                serde_json::json!({"type": "policies", "policies": legend})
            )?,
            AuditFormat::Text | AuditFormat::Markdown | AuditFormat::Html => {}
        }
        Ok(w)
    }

    /// Show these display names (id -> name) beside ids in the text and markdown
    /// views; the data formats keep ids only.
    pub fn with_names(mut self, names: BTreeMap<String, String>) -> Self {
        self.names = names;
        self
    }

    /// For the html format: the page of this audit (see [`super::html::Page::new`]).
    pub fn with_page(
        mut self,
        engine: &crate::decide::engine::Engine,
        opts: &crate::audit::AuditOptions,
        changes: Option<Vec<crate::audit::impact::Change>>,
    ) -> Self {
        if self.format == AuditFormat::Html {
            self.page = Some(Box::new(super::html::Page::new(engine, opts, changes)));
        }
        self
    }

    /// Add one allowed decision.
    pub fn row(&mut self, d: Decision) -> std::io::Result<()> {
        match self.format {
            AuditFormat::Jsonl => {
                serde_json::to_writer(&mut self.out, &Row::of(&d, Some(ALLOW_ROW)))?;
                writeln!(self.out)?;
            }
            AuditFormat::Json => {
                let sep = if self.rows == 0 { "\n" } else { ",\n" };
                write!(self.out, "{sep}")?;
                serde_json::to_writer(&mut self.out, &Row::of(&d, None))?;
            }
            AuditFormat::Csv => {
                let args = csv_list(d.args.iter().map(|(k, v)| (k.as_str(), Some(v.as_str()))));
                let reasons = csv_list(d.reasons.iter().map(|r| (r.policy.as_str(), None)));
                let f = csv_field;
                writeln!(
                    self.out,
                    "{ALLOW_ROW},{},{},{},{},{},,,,,",
                    f(&d.principal),
                    f(&d.action),
                    f(&d.resource),
                    f(&args),
                    f(&reasons)
                )?;
            }
            AuditFormat::Text | AuditFormat::Markdown => self.kept.push(d),
            AuditFormat::Html => {
                if let Some(p) = &mut self.page {
                    p.row(&d);
                }
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// Finish the document: findings (when given) and the figures.
    pub fn finish(mut self, tail: &Tail) -> std::io::Result<W> {
        let errored = tail.stats.errored();
        match self.format {
            AuditFormat::Json => {
                write!(self.out, "\n],\"errored_decisions\":{errored}")?;
                if let Some(found) = tail.findings {
                    let found = super::findings::findings_json(found);
                    write!(self.out, ",\"findings\":{found}")?;
                }
                writeln!(self.out, ",\"stats\":{}}}", stats_json(tail.stats))?;
            }
            AuditFormat::Jsonl => {
                for f in tail.findings.unwrap_or_default() {
                    writeln!(self.out, "{}", finding_line(f))?;
                }
                let summary = serde_json::json!({
                    "type": "summary", "decisions": self.rows, "errored_decisions": errored,
                    "stats": stats_json(tail.stats),
                });
                writeln!(self.out, "{summary}")?;
            }
            AuditFormat::Csv => {
                for f in tail.findings.unwrap_or_default() {
                    writeln!(self.out, "{}", finding_csv(f))?;
                }
            }
            AuditFormat::Text | AuditFormat::Markdown => self.grouped(tail)?,
            AuditFormat::Html => {
                if let Some(p) = self.page.take() {
                    let mut extra = serde_json::Map::new();
                    if let Some(found) = tail.findings {
                        extra.insert("findings".into(), super::findings::findings_json(found));
                    }
                    extra.insert("stats".into(), tail.stats.summary().into());
                    p.write(&mut self.out, &self.names, errored, &extra)?;
                }
            }
        }
        self.out.flush()?;
        Ok(self.out)
    }

    /// The text and markdown views: rows grouped, the count line, then findings.
    fn grouped(&mut self, tail: &Tail) -> std::io::Result<()> {
        let md = self.format == AuditFormat::Markdown;
        let groups = self.groups();
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
                    let (k, a, vs) = (md_cell(k), md_cell(a), md_cell(&vs.join(", ")));
                    writeln!(self.out, "| {k} | {a} | {vs} |")?;
                } else {
                    writeln!(self.out, "  {:<24} {}", esc(a), vs.join(", "))?;
                }
            }
        }
        let errored = match tail.stats.errored() {
            0 => String::new(),
            n => format!("; {n} denied: evaluation failed (`keyward check` shows why)"),
        };
        let triples = super::text::count(self.rows, "allowed (principal, action, resource) triple");
        let gap = if md { "\n" } else { "" };
        writeln!(self.out, "{gap}{triples}{errored}")?;
        match tail.findings {
            Some(found) if md => write!(self.out, "\n{}", findings_markdown(found)),
            Some(found) => write!(self.out, "\n{}", super::findings::findings_text(found)),
            None => Ok(()),
        }
    }

    /// key -> action -> targets, as the `--by` grouping says.
    fn groups(&self) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
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
        groups
    }
}

/// A finding as a csv record of the audit's one table.
fn finding_csv(f: &Finding) -> String {
    let c = csv_field;
    format!(
        "finding,,,,,,{},{},{},{},{}",
        c(f.rule),
        c(f.account.as_deref().unwrap_or("")),
        c(&f.subject),
        c(&f.message),
        c(&f.advice)
    )
}

/// Findings as a markdown section: a heading, then a table (or a line saying there are none).
pub fn findings_markdown(found: &[Finding]) -> String {
    let mut s = String::from("## Findings\n\n");
    if found.is_empty() {
        s.push_str("No findings.\n");
        return s;
    }
    s.push_str("| rule | account | subject | finding | what to do |\n|---|---|---|---|---|\n");
    for f in found {
        let account = f.account.as_deref().unwrap_or("-");
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            md_cell(f.rule),
            md_cell(account),
            md_cell(&f.subject),
            md_cell(&f.message),
            md_cell(&f.advice)
        ));
    }
    s.push_str(&format!(
        "\n{}\n",
        super::text::count(found.len(), "finding")
    ));
    s
}
