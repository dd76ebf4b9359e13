//! Running decision test files (`keyward test`): each check, matrix and scenario decided with
//! the policies, compared with its expectations; policy and rule coverage; the text and JSON
//! reports; and `--update`'s pending files for review.
//!
//! Decisions come from [`Engine`] and [`Runner`] only; this module compares and reports.

use crate::decide::engine::{Decision, Engine, Verdict};
use crate::decide::policy::{self, PolicyBundle, PolicyInfo, PolicyOptions};
use crate::decide::request::{RequestSpec, all_requests};
use crate::evaluator::scenario::{self, Runner, ScriptWorld};
use crate::evaluator::store;
use crate::report;
use crate::testing::testfile::{self, Check, Matrix, ScenarioTest, TestFile, request_line};
use crate::world::problem::{Problem, Problems};
use crate::world::yaml::Pos;
use crate::world::{self, World};
use rayon::prelude::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

/// How many differing decisions of a matrix the text report shows (JSON has them all).
const SHOWN_PER_MATRIX: usize = 10;

/// What `keyward test` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct TestOptions {
    /// Test files, or folders searched (recursively) for `*.yaml`, `*.yml` and `*.json`.
    pub paths: Vec<PathBuf>,
    /// `--policies` replaces a file's `policies`; `--variant`s are added to a file's;
    /// `--schema` replaces a file's `schema`.
    pub policy: PolicyOptions,
    /// `--now`: the evaluation time where neither the file nor the request sets one.
    pub now: Option<String>,
    /// Run only the tests whose name contains this.
    pub filter: Option<String>,
    /// Report coverage.
    pub coverage: bool,
    /// Fail when policy or rule coverage is below this percentage (implies coverage).
    pub min_coverage: Option<f64>,
    /// Write each file whose matrices differ as `FILE.new`, with the actual decisions, to review.
    pub update: bool,
    /// List every test, not only the failures.
    pub verbose: bool,
}

/// How a test ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Passed,
    Failed,
    Skipped,
}

impl Status {
    fn word(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
        }
    }
}

/// One unmet expectation.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The line of the expectation (a check, an allow entry, a matrix, a step).
    pub line: usize,
    /// The request, as an allow line.
    pub request: String,
    /// What was expected, e.g. `deny by restriction-needs-creator [R7]`.
    pub expected: String,
    /// What happened, e.g. `allow`, or `deny, but …`.
    pub actual: String,
    /// The actual decision, to explain it.
    pub decision: Option<Decision>,
    /// What a scenario step did (its line as `keyward run` prints it).
    pub step: Option<String>,
}

/// The result of one check, matrix or scenario.
#[derive(Debug, Clone)]
pub struct TestResult {
    pub name: String,
    pub kind: &'static str,
    pub line: usize,
    pub status: Status,
    /// Decisions made.
    pub decisions: usize,
    pub failures: Vec<Failure>,
    pub skip_reason: Option<String>,
}

/// A pending update: the file rewritten with the actual decisions in its matrices.
#[derive(Debug, Clone)]
pub struct Pending {
    pub path: PathBuf,
    /// Per matrix: its name, the allow lines added and those removed.
    pub changes: Vec<(String, Vec<String>, Vec<String>)>,
    /// Why it could not be written, if it could not.
    pub error: Option<String>,
}

/// One file's outcome.
#[derive(Debug, Clone, Default)]
pub struct FileReport {
    pub file: String,
    /// Problems that kept it from running (malformed file, unknown ids).
    pub problems: Vec<Problem>,
    pub results: Vec<TestResult>,
    pub pending: Option<Pending>,
}

/// Which policies determined decisions in the run, and which rules they carry.
#[derive(Debug, Clone, Default)]
pub struct Coverage {
    /// Every policy of every policy set the run loaded, by id.
    pub policies: BTreeMap<String, PolicyInfo>,
    /// How many decisions each policy determined.
    pub determined: BTreeMap<String, usize>,
}

impl Coverage {
    fn add_set(&mut self, b: &PolicyBundle) {
        for (id, info) in &b.info {
            self.policies
                .entry(id.clone())
                .or_insert_with(|| info.clone());
        }
    }

    fn record(&mut self, d: &Decision) {
        for r in &d.reasons {
            *self.determined.entry(r.policy.clone()).or_default() += 1;
        }
    }

    /// The policies that determined no decision.
    pub fn uncovered(&self) -> Vec<&PolicyInfo> {
        self.policies
            .values()
            .filter(|p| !self.determined.contains_key(&p.id))
            .collect()
    }

    /// Every rule id the loaded policies carry (in catalogue order: R2 before R10), with
    /// whether a policy carrying it determined a decision.
    pub fn rules(&self) -> Vec<(String, bool)> {
        let mut out: BTreeMap<(String, u64, String), bool> = BTreeMap::new();
        for p in self.policies.values() {
            let hit = self.determined.contains_key(&p.id);
            for r in &p.rules {
                let (prefix, digits) =
                    r.split_at(r.find(|c: char| c.is_ascii_digit()).unwrap_or(r.len()));
                let key = (
                    prefix.to_string(),
                    digits.parse().unwrap_or(u64::MAX),
                    r.clone(),
                );
                *out.entry(key).or_default() |= hit;
            }
        }
        out.into_iter().map(|((_, _, r), hit)| (r, hit)).collect()
    }

    /// (covered, total, percent) of policies.
    pub fn policy_figures(&self) -> (usize, usize, f64) {
        let total = self.policies.len();
        figures(total - self.uncovered().len(), total)
    }

    /// (covered, total, percent) of rules.
    pub fn rule_figures(&self) -> (usize, usize, f64) {
        let rules = self.rules();
        figures(rules.iter().filter(|(_, h)| *h).count(), rules.len())
    }
}

fn figures(covered: usize, total: usize) -> (usize, usize, f64) {
    let pct = if total == 0 {
        100.0
    } else {
        covered as f64 * 100.0 / total as f64
    };
    (covered, total, pct)
}

/// A whole run.
#[derive(Debug, Clone, Default)]
pub struct TestRun {
    pub files: Vec<FileReport>,
    pub coverage: Coverage,
    /// Problems with the arguments (a path that does not exist).
    pub problems: Vec<Problem>,
}

impl TestRun {
    fn count(&self, s: Status) -> usize {
        self.files
            .iter()
            .flat_map(|f| &f.results)
            .filter(|r| r.status == s)
            .count()
    }

    /// (passed, failed, skipped).
    pub fn counts(&self) -> (usize, usize, usize) {
        (
            self.count(Status::Passed),
            self.count(Status::Failed),
            self.count(Status::Skipped),
        )
    }

    /// Whether any file could not be run.
    pub fn has_problems(&self) -> bool {
        !self.problems.is_empty() || self.files.iter().any(|f| !f.problems.is_empty())
    }

    /// The exact summary line: `N passed, M failed` (and `, K skipped` when some were).
    pub fn summary(&self) -> String {
        let (p, f, s) = self.counts();
        if s > 0 {
            format!("{p} passed, {f} failed, {s} skipped")
        } else {
            format!("{p} passed, {f} failed")
        }
    }

    /// When coverage is below the minimum: the sentence saying so.
    pub fn below_minimum(&self, min: Option<f64>) -> Option<String> {
        let min = min?;
        let (_, _, pp) = self.coverage.policy_figures();
        let (_, _, rp) = self.coverage.rule_figures();
        (pp < min || rp < min).then(|| {
            format!("coverage below --min-coverage {min}: policies {pp:.1}%, rules {rp:.1}%")
        })
    }
}

/// The test files the paths name: files as given, folders searched recursively, sorted.
pub fn collect(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<Problem>) {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out)?;
            } else if p
                .extension()
                .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
            {
                out.push(p);
            }
        }
        Ok(())
    }
    for p in paths {
        if p.is_dir() {
            let before = files.len();
            if let Err(e) = walk(p, &mut files) {
                problems.push(Problem::arg(
                    "FILE",
                    format!("cannot read folder {}: {e}", p.display()),
                ));
            } else if files.len() == before {
                problems.push(Problem::arg(
                    "FILE",
                    format!("no test files (*.yaml, *.yml, *.json) in {}", p.display()),
                ));
            }
        } else if p.is_file() {
            files.push(p.clone());
        } else {
            problems.push(Problem::arg(
                "FILE",
                format!("{} does not exist", p.display()),
            ));
        }
    }
    (files, problems)
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

/// Run the test files.
pub fn run(opts: &TestOptions) -> TestRun {
    let (files, problems) = collect(&opts.paths);
    let mut run = TestRun {
        problems,
        ..Default::default()
    };
    let mut bundles: HashMap<String, Result<PolicyBundle, Problems>> = HashMap::new();
    for path in files {
        let (report, bundle) = run_file(opts, &path, &mut bundles, &mut run.coverage);
        if let Some(b) = bundle {
            run.coverage.add_set(&b);
        }
        run.files.push(report);
    }
    run
}

fn policy_options(opts: &TestOptions, path: &Path) -> Result<PolicyOptions, Problems> {
    let testfile::PolicyFields {
        policies,
        variants,
        schema,
    } = testfile::policy_fields(path)?;
    let mut all_variants = variants;
    all_variants.extend(opts.policy.variants.iter().cloned());
    Ok(PolicyOptions {
        policies: if opts.policy.policies.is_empty() {
            policies
        } else {
            opts.policy.policies.clone()
        },
        variants: all_variants,
        schema: opts.policy.schema.clone().or(schema),
    })
}

/// The world a test file (or a scenario, at `at`) names.
fn load_world(
    tf: &TestFile,
    w: &ScriptWorld,
    at: Pos,
    roles: &crate::world::RoleCatalog,
) -> Result<World, Problems> {
    match w {
        ScriptWorld::File(p) if !p.is_file() => Err(Problems::one(Problem::new(
            &tf.file,
            at,
            "world",
            format!(
                "{} does not exist (a world path is relative to the test file)",
                p.display()
            ),
        ))),
        ScriptWorld::File(p) => world::load_world(p, roles),
        ScriptWorld::Inline(w) => Ok((**w).clone()),
        ScriptWorld::Missing => Err(Problems::one(Problem::new(
            &tf.file,
            Pos { line: 1, col: 1 },
            "world",
            "no world",
        ))),
    }
}

fn selected(opts: &TestOptions, name: &str) -> bool {
    opts.filter.as_deref().is_none_or(|f| name.contains(f))
}

fn run_file(
    opts: &TestOptions,
    path: &Path,
    bundles: &mut HashMap<String, Result<PolicyBundle, Problems>>,
    coverage: &mut Coverage,
) -> (FileReport, Option<PolicyBundle>) {
    let mut report = FileReport {
        file: path.display().to_string(),
        ..Default::default()
    };
    let popts = match policy_options(opts, path) {
        Ok(p) => p,
        Err(p) => {
            report.problems = p.0;
            return (report, None);
        }
    };
    let bundle = match bundles
        .entry(format!("{popts:?}"))
        .or_insert_with(|| policy::load(&popts))
    {
        Ok(b) => b.clone(),
        Err(p) => {
            report.problems = p.0.clone();
            return (report, None);
        }
    };
    let tf = match testfile::load(path, &bundle.roles) {
        Ok(t) => t,
        Err(p) => {
            report.problems = p.0;
            return (report, None);
        }
    };
    let world = match load_world(&tf, &tf.world, tf.world_pos, &bundle.roles) {
        Ok(w) => w,
        Err(p) => {
            report.problems = p.0;
            return (report, None);
        }
    };
    let now = tf.now.clone().or_else(|| opts.now.clone());
    let mut engine = match Engine::new(bundle.clone(), world.clone()) {
        Ok(e) => e,
        Err(p) => {
            report.problems = p.0;
            return (report, None);
        }
    };
    engine.now_override = now.clone();
    // Every request must be one the world can answer: an unknown id is a malformed test.
    let mut problems = Vec::new();
    for c in &tf.checks {
        if let Err(p) = engine.translate(&c.spec) {
            problems.push(Problem::new(
                &tf.file,
                Pos {
                    line: c.line,
                    col: 1,
                },
                "checks",
                format!("`{}` cannot be decided: {}", request_line(&c.spec), p),
            ));
        }
    }
    let mut tables = Vec::new();
    for m in &tf.matrices {
        match matrix_candidates(&tf, &engine, m) {
            Ok(t) => tables.push(t),
            Err(p) => problems.extend(p),
        }
    }
    let mut scenario_worlds = Vec::new();
    for s in &tf.scenarios {
        match &s.world {
            None => scenario_worlds.push(world.clone()),
            Some(w) => match load_world(
                &tf,
                w,
                Pos {
                    line: s.line,
                    col: 1,
                },
                &bundle.roles,
            ) {
                Ok(w) => scenario_worlds.push(w),
                Err(p) => problems.extend(p.0),
            },
        }
    }
    if !problems.is_empty() {
        problems.sort_by_key(|p| p.pos);
        report.problems = problems;
        return (report, Some(bundle));
    }
    for c in tf.checks.iter().filter(|c| selected(opts, &c.name)) {
        report.results.push(run_check(&engine, c, coverage));
    }
    let mut new_allow: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut changes = Vec::new();
    for (m, table) in tf.matrices.iter().zip(&tables) {
        if !selected(opts, &m.name) {
            continue;
        }
        let (result, actual) = run_matrix(&engine, m, table, coverage);
        if result.status == Status::Failed {
            if let Some(actual) = actual {
                let expected: BTreeSet<&String> = table
                    .iter()
                    .filter(|c| c.expected)
                    .map(|c| &c.line)
                    .collect();
                let got: BTreeSet<&String> = actual.iter().collect();
                changes.push((
                    m.name.clone(),
                    got.difference(&expected).map(|s| s.to_string()).collect(),
                    expected.difference(&got).map(|s| s.to_string()).collect(),
                ));
                new_allow.insert(m.index, actual);
            }
        }
        report.results.push(result);
    }
    for (s, w) in tf.scenarios.iter().zip(scenario_worlds) {
        if !selected(opts, &s.name) {
            continue;
        }
        let now = s.now.clone().or_else(|| now.clone());
        report
            .results
            .push(run_scenario(&bundle, w, now, s, coverage));
    }
    if opts.update && !new_allow.is_empty() {
        report.pending = Some(write_pending(&tf, &bundle, &new_allow, changes));
    }
    (report, Some(bundle))
}

fn skipped(name: &str, kind: &'static str, line: usize, why: &str) -> TestResult {
    TestResult {
        name: name.to_string(),
        kind,
        line,
        status: Status::Skipped,
        decisions: 0,
        failures: Vec::new(),
        skip_reason: Some(why.to_string()),
    }
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Allow => "allow",
        Verdict::Deny => "deny",
    }
}

/// How a decision came about, in a few words: `allow by p [R5]`, `deny (not permitted)`.
fn actual_text(d: &Decision) -> String {
    let mut s = verdict_word(d.decision).to_string();
    if d.reasons.is_empty() {
        if !d.errors.is_empty() {
            s.push_str(" (evaluation failed; fails closed)");
        } else if d.decision == Verdict::Deny {
            s.push_str(" (not permitted: no policy applies)");
        }
    } else {
        let names: Vec<String> = d.reasons.iter().map(crate::report::reason_name).collect();
        s.push_str(&format!(" by {}", names.join(", ")));
    }
    s
}

fn run_check(engine: &Engine, c: &Check, coverage: &mut Coverage) -> TestResult {
    if let Some(why) = &c.skip {
        return skipped(&c.name, "check", c.line, why);
    }
    let mut result = TestResult {
        name: c.name.clone(),
        kind: "check",
        line: c.line,
        status: Status::Passed,
        decisions: 1,
        failures: Vec::new(),
        skip_reason: None,
    };
    let d = match engine.decide(&c.spec) {
        Ok(d) => d,
        Err(p) => {
            // Checked before running; kept so that nothing is ever passed by default.
            result.status = Status::Failed;
            result.failures.push(Failure {
                line: c.line,
                request: request_line(&c.spec),
                expected: format!("{}{}", verdict_word(c.expect), c.why.text()),
                actual: format!("no decision: {p}"),
                decision: None,
                step: None,
            });
            return result;
        }
    };
    coverage.record(&d);
    let unmet = c.why.unmet(&d);
    if d.decision != c.expect || !unmet.is_empty() {
        result.status = Status::Failed;
        let mut actual = actual_text(&d);
        if d.decision == c.expect {
            actual.push_str(&format!(", but {}", unmet.join("; ")));
        }
        result.failures.push(Failure {
            line: c.line,
            request: request_line(&c.spec),
            expected: format!("{}{}", verdict_word(c.expect), c.why.text()),
            actual,
            decision: Some(d),
            step: None,
        });
    }
    result
}

/// One request of a matrix with whether the file expects it allowed, and the line saying so.
#[derive(Debug, Clone)]
pub struct Cell {
    /// The request as decided.
    pub spec: RequestSpec,
    /// The request with the args its decision reports, which allow entries are matched to.
    pub named: RequestSpec,
    pub line: String,
    pub expected: bool,
    /// The allow entry that allows it (its line), or the matrix's line.
    pub at: usize,
}

/// The requests of a matrix, each with its expectation; unknown ids and allow entries that
/// match no request are located problems.
fn matrix_candidates(
    tf: &TestFile,
    engine: &Engine,
    m: &Matrix,
) -> Result<Vec<Cell>, Vec<Problem>> {
    let mut problems = Vec::new();
    let tr = &engine.tr;
    for (field, ids) in [("principals", &m.principals), ("resources", &m.resources)] {
        for (id, pos) in ids.iter().flatten() {
            if tr.kind(id).is_none() {
                problems.push(Problem::new(
                    &tf.file,
                    *pos,
                    field,
                    format!("`{id}` is not in this world"),
                ));
            }
        }
    }
    let within = |list: &Option<Vec<(String, Pos)>>, v: &str| {
        list.as_ref().is_none_or(|l| l.iter().any(|(x, _)| x == v))
    };
    let mut cells: Vec<Cell> = all_requests(tr)
        .into_iter()
        .filter(|s| {
            within(&m.principals, &s.principal)
                && within(&m.actions, &s.action)
                && within(&m.resources, s.resource.as_deref().unwrap_or(""))
        })
        .map(|mut spec| {
            spec.now = m.now.clone();
            spec.via_trusted_profile = m.via_trusted_profile;
            // Named with the args its decision reports (as `audit` does): a service ID key's
            // creation carries the service ID's account.
            let mut named = spec.clone();
            if let Ok(t) = engine.translate(&spec) {
                named.args = t.args;
            }
            Cell {
                line: request_line(&named),
                named,
                spec,
                expected: false,
                at: m.line,
            }
        })
        .collect();
    for e in &m.allow {
        let mut hit = false;
        for c in cells.iter_mut().filter(|c| e.matches(&c.named)) {
            hit = true;
            if !c.expected {
                c.expected = true;
                c.at = e.pos.line;
            }
        }
        if !hit {
            problems.push(Problem::new(
                &tf.file,
                e.pos,
                "allow",
                format!(
                    "`{} {} {}` is not among this matrix's requests (check its principals, actions, resources and args)",
                    e.principal, e.action, e.resource
                ),
            ));
        }
    }
    if problems.is_empty() {
        Ok(cells)
    } else {
        Err(problems)
    }
}

/// Run a matrix; with its failures, the allow lines it actually has (when every request
/// could be decided).
fn run_matrix(
    engine: &Engine,
    m: &Matrix,
    cells: &[Cell],
    coverage: &mut Coverage,
) -> (TestResult, Option<Vec<String>>) {
    if let Some(why) = &m.skip {
        return (skipped(&m.name, "matrix", m.line, why), None);
    }
    let decisions: Vec<Result<Decision, Problem>> =
        cells.par_iter().map(|c| engine.decide(&c.spec)).collect();
    let mut result = TestResult {
        name: m.name.clone(),
        kind: "matrix",
        line: m.line,
        status: Status::Passed,
        decisions: cells.len(),
        failures: Vec::new(),
        skip_reason: None,
    };
    let mut actual = Some(Vec::new());
    for (c, d) in cells.iter().zip(decisions) {
        let d = match d {
            Ok(d) => d,
            Err(p) => {
                actual = None;
                result.failures.push(Failure {
                    line: c.at,
                    request: c.line.clone(),
                    expected: if c.expected { "allow" } else { "deny" }.into(),
                    actual: format!("no decision: {p}"),
                    decision: None,
                    step: None,
                });
                continue;
            }
        };
        coverage.record(&d);
        let allowed = d.decision == Verdict::Allow;
        if allowed {
            if let Some(a) = actual.as_mut() {
                a.push(c.line.clone());
            }
        }
        if allowed != c.expected {
            result.failures.push(Failure {
                line: c.at,
                request: c.line.clone(),
                expected: if c.expected {
                    "allow (listed in allow)".into()
                } else {
                    "deny (not listed in allow)".into()
                },
                actual: actual_text(&d),
                decision: Some(d),
                step: None,
            });
        }
    }
    if !result.failures.is_empty() {
        result.status = Status::Failed;
    }
    (result, actual)
}

fn run_scenario(
    bundle: &PolicyBundle,
    world: World,
    now: Option<String>,
    s: &ScenarioTest,
    coverage: &mut Coverage,
) -> TestResult {
    if let Some(why) = &s.skip {
        return skipped(&s.name, "scenario", s.line, why);
    }
    let mut result = TestResult {
        name: s.name.clone(),
        kind: "scenario",
        line: s.line,
        status: Status::Passed,
        decisions: 0,
        failures: Vec::new(),
        skip_reason: None,
    };
    let mut runner = match Runner::new(bundle.clone(), world, now) {
        Ok(r) => r,
        Err(p) => {
            result.status = Status::Failed;
            result.failures.push(Failure {
                line: s.line,
                request: String::new(),
                expected: "a world that can be evaluated".into(),
                actual: p.to_string(),
                decision: None,
                step: None,
            });
            return result;
        }
    };
    for (i, step) in s.steps.iter().enumerate() {
        let r = runner.step(&step.action);
        if let Some(d) = &r.decision {
            coverage.record(d);
            result.decisions += 1;
        }
        if scenario::met(step, &r) {
            continue;
        }
        let request = match &step.action {
            scenario::StepAction::Request(spec) => request_line(spec),
            scenario::StepAction::Leak { key, .. } => format!("leak {key}"),
        };
        let unmet = scenario::why_unmet(step, &r);
        let expected = step.expect.map_or("allow or deny", |e| match e {
            scenario::Expect::Allow => "allow",
            scenario::Expect::Deny => "deny",
            scenario::Expect::Fail => "fail",
        });
        let mut actual = match &r.decision {
            Some(d) if r.effect.is_none() && d.decision == Verdict::Allow => {
                format!("fail: {}", r.failure.clone().unwrap_or_default())
            }
            Some(d) => actual_text(d),
            None => match &r.failure {
                Some(f) => format!("fail: {f}"),
                None => "done".into(),
            },
        };
        if !unmet.is_empty() {
            actual.push_str(&format!(", but {}", unmet.join("; ")));
        }
        result.failures.push(Failure {
            line: step.line,
            request: format!("step {}: {request}", i + 1),
            expected: format!("{expected}{}", step.why.text()),
            actual,
            decision: r.decision.clone(),
            step: Some(crate::report::scenario::step_line(i + 1, step, &r)),
        });
    }
    if !result.failures.is_empty() {
        result.status = Status::Failed;
    }
    result
}

fn write_pending(
    tf: &TestFile,
    bundle: &PolicyBundle,
    new_allow: &BTreeMap<usize, Vec<String>>,
    changes: Vec<(String, Vec<String>, Vec<String>)>,
) -> Pending {
    let path = PathBuf::from(format!("{}.new", tf.path.display()));
    let mut pending = Pending {
        path: path.clone(),
        changes,
        error: None,
    };
    let text = match testfile::rewrite_matrices(tf, new_allow) {
        Ok(t) => t,
        Err(e) => {
            pending.error = Some(e);
            return pending;
        }
    };
    // The rewritten file must parse and say exactly what was decided before it is offered.
    let check = testfile::parse(&tf.file, &tf.path, &text, &bundle.roles)
        .map_err(|p| p.to_string())
        .and_then(|new| {
            for (i, lines) in new_allow {
                let m = new
                    .matrices
                    .get(*i)
                    .ok_or_else(|| format!("matrix {i} is missing after the rewrite"))?;
                let got: Vec<String> = m
                    .allow
                    .iter()
                    .map(|e| {
                        request_line(&RequestSpec {
                            principal: e.principal.clone(),
                            action: e.action.clone(),
                            resource: Some(e.resource.clone()),
                            args: e.args.clone(),
                            via_trusted_profile: false,
                            now: None,
                        })
                    })
                    .collect();
                if &got != lines {
                    return Err(format!("matrix {i} does not read back as written"));
                }
            }
            Ok(())
        });
    if let Err(e) = check {
        pending.error = Some(format!(
            "the rewritten file would be wrong ({e}); nothing written"
        ));
        return pending;
    }
    if let Err(e) = store::write_atomic(&path, &text) {
        pending.error = Some(format!("cannot write {}: {e}", path.display()));
    }
    pending
}

/// Replace each test file that has a pending `FILE.new` with it (after checking that it
/// parses); returns what was done, one line each, and the problems.
pub fn accept(paths: &[PathBuf], policy_opts: &PolicyOptions) -> (Vec<String>, Vec<Problem>) {
    let mut done = Vec::new();
    let mut problems = Vec::new();
    let (files, p) = collect(paths);
    problems.extend(p);
    for f in files {
        let new = PathBuf::from(format!("{}.new", f.display()));
        if !new.is_file() {
            continue;
        }
        let text = match std::fs::read_to_string(&new) {
            Ok(t) => t,
            Err(e) => {
                problems.push(Problem::arg(
                    "--accept",
                    format!("cannot read {}: {e}", new.display()),
                ));
                continue;
            }
        };
        let roles = match policy::load(policy_opts) {
            Ok(b) => b.roles,
            Err(p) => {
                problems.extend(p.0);
                continue;
            }
        };
        if let Err(p) = testfile::parse(&new.display().to_string(), &f, &text, &roles) {
            problems.extend(p.0);
            continue;
        }
        match store::write_atomic(&f, &text).and_then(|()| std::fs::remove_file(&new)) {
            Ok(()) => done.push(format!("accepted {} -> {}", new.display(), f.display())),
            Err(e) => problems.push(Problem::arg(
                "--accept",
                format!("cannot replace {}: {e}", f.display()),
            )),
        }
    }
    (done, problems)
}

fn indent(text: &str, by: &str) -> String {
    text.lines().map(|l| format!("{by}{l}\n")).collect()
}

/// The text report: a line per file, each failure with its file and line, expected and
/// actual and the explanation of the actual decision, pending updates, coverage, and the
/// summary line last.
pub fn text(run: &TestRun, opts: &TestOptions) -> String {
    let mut s = String::new();
    for p in &run.problems {
        let _ = writeln!(s, "error: {p}");
    }
    let mut details = String::new();
    // A broken policy set is shared by every file that loads it: its errors are shown once.
    let mut shown: BTreeSet<String> = BTreeSet::new();
    for f in &run.files {
        if !f.problems.is_empty() {
            let _ = writeln!(s, "ERROR  {}: cannot run it", f.file);
            let texts: Vec<String> = f.problems.iter().map(|p| p.to_string()).collect();
            if texts.iter().all(|t| shown.contains(t)) {
                let _ = writeln!(s, "  (the same errors as above)");
            }
            for t in texts {
                if shown.insert(t.clone()) {
                    let _ = writeln!(s, "  error: {t}");
                }
            }
            continue;
        }
        if opts.filter.is_some() && f.results.is_empty() {
            continue;
        }
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
        let _ = writeln!(s, "{mark:<5}  {}: {counts} ({decisions} decisions)", f.file);
        for r in &f.results {
            if opts.verbose || r.status == Status::Skipped {
                let extra = match (&r.status, &r.skip_reason) {
                    (Status::Skipped, Some(w)) if !w.is_empty() => format!(" ({w})"),
                    _ => String::new(),
                };
                let _ = writeln!(
                    s,
                    "  {:<7} {}:{}  {} `{}`{extra}",
                    r.status.word(),
                    f.file,
                    r.line,
                    r.kind,
                    r.name
                );
            }
            if r.status != Status::Failed {
                continue;
            }
            let _ = write!(
                details,
                "\nFAILED {}:{}  {} `{}`",
                f.file, r.line, r.kind, r.name
            );
            if r.kind == "matrix" {
                let _ = write!(
                    details,
                    ": {} of {} decisions differ",
                    r.failures.len(),
                    r.decisions
                );
            }
            details.push('\n');
            for (i, x) in r.failures.iter().enumerate() {
                if r.kind == "matrix" && i == SHOWN_PER_MATRIX {
                    let _ = writeln!(
                        details,
                        "  … and {} more (--format json lists them all)",
                        r.failures.len() - SHOWN_PER_MATRIX
                    );
                    break;
                }
                if x.line != r.line || r.kind != "check" {
                    let _ = writeln!(details, "  at {}:{}", f.file, x.line);
                }
                if !x.request.is_empty() {
                    let _ = writeln!(details, "    request:  {}", x.request);
                }
                let _ = writeln!(details, "    expected: {}", x.expected);
                let _ = writeln!(details, "    actual:   {}", x.actual);
                if let Some(d) = &x.decision {
                    let _ = writeln!(details, "    explanation:");
                    details.push_str(&indent(&report::decision_text(d), "      "));
                }
                if let Some(step) = &x.step {
                    let _ = writeln!(details, "    step:     {}", step.trim_start());
                }
            }
        }
        if let Some(pnd) = &f.pending {
            match &pnd.error {
                Some(e) => {
                    let _ = writeln!(s, "  update: {}: {e}", f.file);
                }
                None => {
                    let _ = writeln!(
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
                let _ = writeln!(
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
                    let _ = writeln!(s, "      {l}");
                }
                if lines.len() > SHOWN_PER_MATRIX * 2 {
                    let _ = writeln!(
                        s,
                        "      … and {} more (see the diff)",
                        lines.len() - SHOWN_PER_MATRIX * 2
                    );
                }
            }
        }
    }
    s.push_str(&details);
    let (p, f, k) = run.counts();
    if let (Some(filter), 0) = (&opts.filter, p + f + k) {
        let _ = writeln!(s, "note: --filter `{filter}` selected no test");
    }
    if opts.coverage || opts.min_coverage.is_some() {
        s.push('\n');
        s.push_str(&coverage_text(&run.coverage));
        if let Some(b) = run.below_minimum(opts.min_coverage) {
            let _ = writeln!(s, "FAIL: {b}");
        }
    } else if !run.coverage.policies.is_empty() {
        // Always the figures and which policies determined nothing; --coverage has the table.
        s.push('\n');
        s.push_str(&coverage_brief(&run.coverage));
    }
    if run.has_problems() {
        let n = run.problems.len() + run.files.iter().filter(|f| !f.problems.is_empty()).count();
        let _ = writeln!(
            s,
            "{n} file(s) or argument(s) could not be run (see the errors above)"
        );
    }
    s.push_str(&run.summary());
    s.push('\n');
    s
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
        let _ = writeln!(
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
        let _ = writeln!(s, "policies that determined no decision:");
        let _ = writeln!(s, "  {:<w0$}  {:<w1$}  WHERE", "POLICY", "RULES");
        for (a, b, c) in rows {
            let _ = writeln!(s, "  {a:<w0$}  {b:<w1$}  {c}");
        }
    }
    let missing: Vec<String> = c
        .rules()
        .into_iter()
        .filter(|(_, hit)| !hit)
        .map(|(r, _)| r)
        .collect();
    if !missing.is_empty() {
        let _ = writeln!(s, "rules no test exercised: {}", missing.join(", "));
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
    let files: Vec<Value> = run
        .files
        .iter()
        .map(|f| {
            let mut v = json!({
                "file": f.file,
                "problems": f.problems,
                "tests": f.results.iter().map(|r| {
                    let mut t = json!({
                        "name": r.name,
                        "kind": r.kind,
                        "line": r.line,
                        "status": r.status.word(),
                        "decisions": r.decisions,
                        "failures": r.failures.iter().map(|x| {
                            let mut fj = json!({
                                "line": x.line,
                                "request": x.request,
                                "expected": x.expected,
                                "actual": x.actual,
                            });
                            if let Some(d) = &x.decision {
                                fj["decision"] = report::decision_json(d);
                            }
                            fj
                        }).collect::<Vec<_>>(),
                    });
                    if let Some(w) = &r.skip_reason {
                        t["skip_reason"] = json!(w);
                    }
                    t
                }).collect::<Vec<_>>(),
            });
            if let Some(p) = &f.pending {
                v["pending"] = json!({
                    "path": p.path.display().to_string(),
                    "error": p.error,
                    "matrices": p.changes.iter().map(|(n, a, r)| json!({"name": n, "added": a, "removed": r})).collect::<Vec<_>>(),
                });
            }
            v
        })
        .collect();
    let mut v = json!({
        "files": files,
        "problems": run.problems,
        "passed": passed,
        "failed": failed,
        "skipped": skipped,
        "summary": run.summary(),
    });
    v["coverage"] = coverage_json(&run.coverage);
    v["coverage"]["below_minimum"] = json!(run.below_minimum(opts.min_coverage));
    v
}

/// The exit code: 0 when every test passed, every file ran and coverage is not below the
/// minimum; 1 otherwise.
pub fn exit_code(run: &TestRun, opts: &TestOptions) -> i32 {
    let (_, failed, _) = run.counts();
    if failed > 0 || run.has_problems() || run.below_minimum(opts.min_coverage).is_some() {
        1
    } else {
        0
    }
}
