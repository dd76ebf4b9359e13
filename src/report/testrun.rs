//! The `keyward test` reports: the text report (a line per file, each failure with its file
//! and line, expected and actual and the explanation, pending updates, coverage, the summary
//! line last), the JSON report, and the coverage figures and tables.
//!
//! Owns formatting only: the run, its results and its coverage are computed by
//! [`crate::testing::testrun`]; nothing here decides, compares or writes a file. Uses
//! `testing` (the results), `evaluator` (a scenario step's line) and the decision renderers.

use crate::decide::engine::{Decision, Verdict};
use crate::evaluator::scenario::Expect;
use crate::report::scenario;
use crate::report::text::esc;
use crate::report::{decision_json, decision_text, reason_name};
use crate::testing::testrun::{
    Accepted, Actual, BelowMinimum, Coverage, Expected, Failure, FileReport, Pending, Status,
    TestOptions, TestResult, TestRun,
};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

/// How many differing decisions of a matrix the text report shows (JSON has them all).
const SHOWN_PER_MATRIX: usize = 10;

/// Append one line to `s`, escaped ([`crate::report::text`]): whatever a test file, a world or
/// a policy holds, it stays on this line.
macro_rules! eline {
    ($s:expr, $($t:tt)*) => {
        crate::report::text::push_line(&mut $s, &format!($($t)*))
    };
}

/// The text report: a line per file, each failure with its file and line, expected and
/// actual and the explanation of the actual decision, pending updates, coverage, and the
/// summary line last.
pub fn text(run: &TestRun, opts: &TestOptions) -> String {
    let mut s = String::new();
    for p in &run.problems {
        eline!(s, "error: {p}");
    }
    let mut details = String::new();
    // A broken policy set is shared by every file that loads it: its errors are shown once.
    let mut shown: BTreeSet<String> = BTreeSet::new();
    for f in &run.files {
        if !f.problems.is_empty() {
            s.push_str(&file_problems(f, &mut shown));
            continue;
        }
        if opts.filter.is_some() && f.results.is_empty() {
            continue;
        }
        s.push_str(&file_line(f));
        for r in &f.results {
            if opts.verbose || r.status == Status::Skipped {
                s.push_str(&result_line(f, r));
            }
            if r.status == Status::Failed {
                details.push_str(&failure_block(f, r));
            }
        }
        if let Some(pnd) = &f.pending {
            s.push_str(&pending_text(f, pnd));
        }
    }
    s.push_str(&details);
    let (p, f, k) = run.counts();
    if let (Some(filter), 0) = (&opts.filter, p + f + k) {
        eline!(s, "note: --filter `{filter}` selected no test");
    }
    s.push_str(&coverage_section(run, opts));
    if run.has_problems() {
        let n = run.problems.len() + run.files.iter().filter(|f| !f.problems.is_empty()).count();
        eline!(
            s,
            "{n} file(s) or argument(s) could not be run (see the errors above)"
        );
    }
    s.push_str(&summary(run));
    s.push('\n');
    s
}

/// A file that could not be run, with the errors not shown for an earlier file.
fn file_problems(f: &FileReport, shown: &mut BTreeSet<String>) -> String {
    let mut s = String::new();
    eline!(s, "ERROR  {}: cannot run it", f.file);
    let texts: Vec<String> = f.problems.iter().map(|p| p.to_string()).collect();
    if texts.iter().all(|t| shown.contains(t)) {
        eline!(s, "  (the same errors as above)");
    }
    for t in texts {
        if shown.insert(t.clone()) {
            eline!(s, "  error: {t}");
        }
    }
    s
}

/// A file's line: `ok`/`FAIL`, its counts and the decisions made.
fn file_line(f: &FileReport) -> String {
    let n = |st: Status| f.results.iter().filter(|r| r.status == st).count();
    let (p, fl, sk) = (n(Status::Passed), n(Status::Failed), n(Status::Skipped));
    let mark = if fl > 0 { "FAIL" } else { "ok" };
    let mut counts = format!("{p} passed");
    if fl > 0 {
        counts.push_str(&format!(", {fl} failed"));
    }
    if sk > 0 {
        counts.push_str(&format!(", {sk} skipped"));
    }
    let decisions: usize = f.results.iter().map(|r| r.decisions).sum();
    let decisions = super::text::count(decisions, "decision");
    let line = format!("{mark:<5}  {}: {counts} ({decisions})", f.file);
    format!("{}\n", esc(&line))
}

/// A test's line under its file (with -v, or when skipped: with why).
fn result_line(f: &FileReport, r: &TestResult) -> String {
    let extra = match (&r.status, &r.skip_reason) {
        (Status::Skipped, Some(w)) if !w.is_empty() => format!(" ({w})"),
        _ => String::new(),
    };
    let line = format!(
        "  {:<7} {}:{}  {} `{}`{extra}",
        status_word(r.status),
        f.file,
        r.line,
        r.kind,
        r.name
    );
    format!("{}\n", esc(&line))
}

/// A failed test: its heading, then each unmet expectation (a matrix's first few).
fn failure_block(f: &FileReport, r: &TestResult) -> String {
    let mut s = String::new();
    let heading = format!("FAILED {}:{}  {} `{}`", f.file, r.line, r.kind, r.name);
    let _ = write!(s, "\n{}", esc(&heading));
    if r.kind == "matrix" {
        let _ = write!(
            s,
            ": {} of {} decisions differ",
            r.failures.len(),
            r.decisions
        );
    }
    s.push('\n');
    for (i, x) in r.failures.iter().enumerate() {
        if r.kind == "matrix" && i == SHOWN_PER_MATRIX {
            eline!(
                s,
                "  … and {} more (--format json lists them all)",
                r.failures.len() - SHOWN_PER_MATRIX
            );
            break;
        }
        if x.line != r.line || r.kind != "check" {
            eline!(s, "  at {}:{}", f.file, x.line);
        }
        s.push_str(&failure_text(x));
    }
    s
}

/// One unmet expectation: request, expected, actual, the explanation and the step.
fn failure_text(x: &Failure) -> String {
    let mut s = String::new();
    if !x.request.is_empty() {
        eline!(s, "    request:  {}", x.request);
    }
    eline!(s, "    expected: {}", expected_text(&x.expected));
    eline!(s, "    actual:   {}", actual_text(x));
    if let Some(d) = x.actual.decision() {
        eline!(s, "    explanation:");
        s.push_str(&indent(&decision_text(d), "      "));
    }
    if let Some(st) = &x.step {
        let line = scenario::step_line(st.n, &st.step, &st.result);
        eline!(s, "    step:     {}", line.trim_start());
    }
    s
}

/// The pending update of a file: where it was written (or why not) and each matrix's
/// changes, the first few lines of each.
fn pending_text(f: &FileReport, pnd: &Pending) -> String {
    let mut s = String::new();
    match &pnd.error {
        Some(e) => {
            eline!(s, "  update: {}: {e}", f.file);
        }
        None => {
            eline!(
                s,
                "  update: wrote {} with the actual decisions; review it (diff {} {}), then `keyward test --accept {}`",
                pnd.path.display(),
                f.file,
                pnd.path.display(),
                f.file
            );
        }
    }
    for (name, added, removed) in &pnd.changes {
        eline!(
            s,
            "    matrix `{name}`: {} allowed now, {} no longer",
            added.len(),
            removed.len()
        );
        let lines: Vec<String> = added
            .iter()
            .map(|a| format!("+ {a}"))
            .chain(removed.iter().map(|r| format!("- {r}")))
            .collect();
        for l in lines.iter().take(SHOWN_PER_MATRIX * 2) {
            eline!(s, "      {l}");
        }
        if lines.len() > SHOWN_PER_MATRIX * 2 {
            eline!(
                s,
                "      … and {} more (see the diff)",
                lines.len() - SHOWN_PER_MATRIX * 2
            );
        }
    }
    s
}

/// The coverage part of the text report: the table with --coverage (and whether the
/// minimum is met), otherwise the figures in brief.
fn coverage_section(run: &TestRun, opts: &TestOptions) -> String {
    let mut s = String::new();
    if opts.coverage || opts.min_coverage.is_some() {
        s.push('\n');
        s.push_str(&coverage_text(&run.coverage));
        if let Some(b) = run.below_minimum(opts.min_coverage) {
            eline!(s, "FAIL: {}", below_minimum_text(b));
        }
    } else if !run.coverage.policies.is_empty() {
        // Always the figures and which policies determined nothing; --coverage has the table.
        s.push('\n');
        s.push_str(&coverage_brief(&run.coverage));
    }
    s
}

/// The exact summary line: `N passed, M failed` (and `, K skipped` when some were).
pub fn summary(run: &TestRun) -> String {
    let (p, f, s) = run.counts();
    if s > 0 {
        format!("{p} passed, {f} failed, {s} skipped")
    } else {
        format!("{p} passed, {f} failed")
    }
}

/// The sentence saying coverage is below `--min-coverage`.
pub fn below_minimum_text(b: BelowMinimum) -> String {
    let BelowMinimum {
        min,
        policies,
        rules,
    } = b;
    format!("coverage below --min-coverage {min}: policies {policies:.1}%, rules {rules:.1}%")
}

/// A `--accept` line: which pending file replaced which test file.
pub fn accepted(a: &Accepted) -> String {
    let line = format!("accepted {} -> {}", a.new.display(), a.file.display());
    esc(&line).into_owned()
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Passed => "passed",
        Status::Failed => "failed",
        Status::Skipped => "skipped",
    }
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Allow => "allow",
        Verdict::Deny => "deny",
    }
}

/// What was expected, e.g. `deny by restriction-needs-creator [R7]`.
fn expected_text(e: &Expected) -> String {
    match e {
        Expected::Verdict(v, why) => format!("{}{}", verdict_word(*v), why.text()),
        Expected::Listed(true) => "allow (listed in allow)".into(),
        Expected::Listed(false) => "deny (not listed in allow)".into(),
        Expected::Step(expect, why) => {
            let word = expect.map_or("allow or deny", |e| match e {
                Expect::Allow => "allow",
                Expect::Deny => "deny",
                Expect::Fail => "fail",
            });
            format!("{word}{}", why.text())
        }
        Expected::EvaluableWorld => "a world that can be evaluated".into(),
    }
}

/// What happened, e.g. `allow`, or `deny, but …` with the unmet expectations on why.
fn actual_text(x: &Failure) -> String {
    let mut s = match &x.actual {
        Actual::Undecided(p) => format!("no decision: {p}"),
        Actual::Unevaluable(p) => p.to_string(),
        Actual::Decided(d) => decided_text(d),
        Actual::Failed(_, why) => format!("fail: {why}"),
        Actual::Done => "done".into(),
    };
    if !x.unmet.is_empty() {
        s.push_str(&format!(", but {}", x.unmet.join("; ")));
    }
    s
}

/// How a decision came about, in a few words: `allow by p [R5]`, `deny (not permitted)`.
fn decided_text(d: &Decision) -> String {
    let mut s = verdict_word(d.decision).to_string();
    if d.reasons.is_empty() {
        if !d.errors.is_empty() {
            s.push_str(" (evaluation failed; fails closed)");
        } else if d.decision == Verdict::Deny {
            s.push_str(" (not permitted: no policy applies)");
        }
    } else {
        let names: Vec<String> = d.reasons.iter().map(reason_name).collect();
        s.push_str(&format!(" by {}", names.join(", ")));
    }
    s
}

fn indent(text: &str, by: &str) -> String {
    text.lines().map(|l| format!("{by}{l}\n")).collect()
}

/// A path with `.` and `a/..` folded away, for reports.
fn tidy(path: &str) -> String {
    let mut out: Vec<Component> = Vec::new();
    for c in Path::new(path).components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.iter().collect::<PathBuf>().display().to_string()
}

fn coverage_figures(c: &Coverage) -> String {
    let (pc, pt, pp) = c.policy_figures();
    let (rc, rt, rp) = c.rule_figures();
    format!(
        "coverage: {pc} of {pt} policies determined a decision ({pp:.1}%); {rc} of {rt} rules exercised ({rp:.1}%)\n"
    )
}

/// Coverage in brief: the figures and the ids of the policies that determined nothing.
pub fn coverage_brief(c: &Coverage) -> String {
    let mut s = coverage_figures(c);
    let un: Vec<&str> = c.uncovered().iter().map(|p| p.id.as_str()).collect();
    if !un.is_empty() {
        eline!(
            s,
            "policies that determined no decision: {} (--coverage for where they are)",
            un.join(", ")
        );
    }
    s
}

/// Coverage as text: the figures, then a table of the policies that determined no decision
/// and the rules no test exercised.
pub fn coverage_text(c: &Coverage) -> String {
    let mut s = coverage_figures(c);
    let un = c.uncovered();
    if !un.is_empty() {
        let rows: Vec<(String, String, String)> = un
            .iter()
            .map(|p| {
                (
                    p.id.clone(),
                    p.rules.join(", "),
                    format!("{}:{}", tidy(&p.file), p.line),
                )
            })
            .collect();
        let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(0).max(6);
        let w1 = rows.iter().map(|r| r.1.len()).max().unwrap_or(0).max(5);
        eline!(s, "policies that determined no decision:");
        eline!(s, "  {:<w0$}  {:<w1$}  WHERE", "POLICY", "RULES");
        for (a, b, c) in rows {
            eline!(s, "  {a:<w0$}  {b:<w1$}  {c}");
        }
    }
    let missing: Vec<String> = c
        .rules()
        .into_iter()
        .filter(|(_, hit)| !hit)
        .map(|(r, _)| r)
        .collect();
    if !missing.is_empty() {
        eline!(s, "rules no test exercised: {}", missing.join(", "));
    }
    s
}

/// Coverage as JSON.
pub fn coverage_json(c: &Coverage) -> Value {
    let (pc, pt, pp) = c.policy_figures();
    let (rc, rt, rp) = c.rule_figures();
    let rules = c.rules();
    json!({
        "policies": {
            "covered": pc,
            "total": pt,
            "percent": (pp * 10.0).round() / 10.0,
            "uncovered": c.uncovered().iter().map(|p| json!({
                "id": p.id,
                "rules": p.rules,
                "effect": p.effect,
                "file": tidy(&p.file),
                "line": p.line,
            })).collect::<Vec<_>>(),
            "determined": c.policies.keys().map(|id| (id.clone(), json!(c.determined.get(id).copied().unwrap_or(0)))).collect::<serde_json::Map<_, _>>(),
        },
        "rules": {
            "covered": rc,
            "total": rt,
            "percent": (rp * 10.0).round() / 10.0,
            "uncovered": rules.iter().filter(|(_, h)| !*h).map(|(r, _)| r.clone()).collect::<Vec<_>>(),
        },
    })
}

/// The JSON report.
pub fn json(run: &TestRun, opts: &TestOptions) -> Value {
    let (passed, failed, skipped) = run.counts();
    let files: Vec<Value> = run.files.iter().map(file_json).collect();
    let mut v = json!({
        "files": files,
        "problems": run.problems,
        "passed": passed,
        "failed": failed,
        "skipped": skipped,
        "summary": summary(run),
    });
    v["coverage"] = coverage_json(&run.coverage);
    v["coverage"]["below_minimum"] =
        json!(run.below_minimum(opts.min_coverage).map(below_minimum_text));
    v
}

/// A file in the JSON report: its problems, its tests and its pending update.
fn file_json(f: &FileReport) -> Value {
    let mut v = json!({
        "file": f.file,
        "problems": f.problems,
        "tests": f.results.iter().map(result_json).collect::<Vec<_>>(),
    });
    if let Some(p) = &f.pending {
        v["pending"] = json!({
            "path": p.path.display().to_string(),
            "error": p.error,
            "matrices": p.changes.iter().map(|(n, a, r)| json!({"name": n, "added": a, "removed": r})).collect::<Vec<_>>(),
        });
    }
    v
}

fn result_json(r: &TestResult) -> Value {
    let mut t = json!({
        "name": r.name,
        "kind": r.kind,
        "line": r.line,
        "status": status_word(r.status),
        "decisions": r.decisions,
        "failures": r.failures.iter().map(failure_json).collect::<Vec<_>>(),
    });
    if let Some(w) = &r.skip_reason {
        t["skip_reason"] = json!(w);
    }
    t
}

fn failure_json(x: &Failure) -> Value {
    let mut fj = json!({
        "line": x.line,
        "request": x.request,
        "expected": expected_text(&x.expected),
        "actual": actual_text(x),
    });
    if let Some(d) = x.actual.decision() {
        fj["decision"] = decision_json(d);
    }
    fj
}
