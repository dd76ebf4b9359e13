//! Running decision test files (`keyward test`): each check, matrix and scenario decided with
//! the policies, compared with its expectations; policy and rule coverage; and `--update`'s
//! pending files for review.
//!
//! Decisions come from [`Engine`] and [`Runner`] only; this module compares and records what
//! happened as typed results. It formats nothing: `crate::report::testrun` renders the run.

use crate::decide::engine::{Decision, Engine, Verdict};
use crate::decide::entities::Translation;
use crate::decide::policy::{self, PolicyBundle, PolicyInfo, PolicyOptions};
use crate::decide::request::{RequestSpec, all_requests};
use crate::evaluator::scenario::{
    self, Expect, Runner, ScriptWorld, Step, StepAction, StepResult, WhyExpect,
};
use crate::evaluator::store;
use crate::testing::testfile::{self, Check, Matrix, ScenarioTest, TestFile, request_line};
use crate::world::problem::{Problem, Problems};
use crate::world::yaml::Pos;
use crate::world::{self, World};
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

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

/// What an unmet expectation expected.
#[derive(Debug, Clone)]
pub enum Expected {
    /// A check's verdict (or a matrix request's that could not be decided), with what must
    /// have determined it.
    Verdict(Verdict, WhyExpect),
    /// A matrix request's verdict: allow when the matrix's `allow` lists it, deny otherwise.
    Listed(bool),
    /// A scenario step's outcome (`None`: allow or deny), with what must have determined it.
    Step(Option<Expect>, WhyExpect),
    /// A world a scenario's steps can be evaluated in.
    EvaluableWorld,
}

/// What happened instead.
#[derive(Debug, Clone)]
pub enum Actual {
    /// The request could not be decided.
    Undecided(Problem),
    /// A scenario's world could not be evaluated.
    Unevaluable(Problems),
    /// The policies decided it.
    Decided(Decision),
    /// A step was not carried out although not denied (its decision, if it had one), and why.
    Failed(Option<Decision>, String),
    /// An event was carried out.
    Done,
}

impl Actual {
    /// The decision that was made, to explain it.
    pub fn decision(&self) -> Option<&Decision> {
        match self {
            Actual::Decided(d) | Actual::Failed(Some(d), _) => Some(d),
            _ => None,
        }
    }
}

/// A scenario step as it ran: its number, the step and what it came to.
#[derive(Debug, Clone)]
pub struct StepRun {
    pub n: usize,
    pub step: Step,
    pub result: StepResult,
}

// Alike in shape to TestFile's field list only (documented `pub` fields): an unrelated record.
/// One unmet expectation.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The line of the expectation (a check, an allow entry, a matrix, a step).
    pub line: usize,
    /// The request, as an allow line (for a step, `step N: …`).
    pub request: String,
    pub expected: Expected,
    pub actual: Actual,
    /// The expectations on why it was decided that were not met (none when the verdict
    /// itself was wrong for a check: that is the failure).
    pub unmet: Vec<String>,
    /// The scenario step that failed.
    pub step: Option<StepRun>,
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

impl TestResult {
    /// A test that has not failed yet.
    fn new(name: &str, kind: &'static str, line: usize, decisions: usize) -> Self {
        TestResult {
            name: name.to_string(),
            kind,
            line,
            status: Status::Passed,
            decisions,
            failures: Vec::new(),
            skip_reason: None,
        }
    }

    fn skipped(name: &str, kind: &'static str, line: usize, why: &str) -> Self {
        TestResult {
            status: Status::Skipped,
            skip_reason: Some(why.to_string()),
            ..Self::new(name, kind, line, 0)
        }
    }

    /// Failed when any expectation was not met.
    fn finish(mut self) -> Self {
        if !self.failures.is_empty() {
            self.status = Status::Failed;
        }
        self
    }
}

/// A matrix's change under `--update`: its name, the allow lines added and those removed.
pub type MatrixChange = (String, Vec<String>, Vec<String>);

/// A pending update: the file rewritten with the actual decisions in its matrices.
#[derive(Debug, Clone)]
pub struct Pending {
    pub path: PathBuf,
    /// Per matrix: its name, the allow lines added and those removed.
    pub changes: Vec<MatrixChange>,
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

    /// When coverage is below the minimum: the minimum and the figures that miss it.
    pub fn below_minimum(&self, min: Option<f64>) -> Option<BelowMinimum> {
        let min = min?;
        let (_, _, policies) = self.coverage.policy_figures();
        let (_, _, rules) = self.coverage.rule_figures();
        (policies < min || rules < min).then_some(BelowMinimum {
            min,
            policies,
            rules,
        })
    }
}

/// Coverage below `--min-coverage`: the minimum and the policy and rule percentages.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BelowMinimum {
    pub min: f64,
    pub policies: f64,
    pub rules: f64,
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

fn policy_options(
    opts: &TestOptions,
    path: &Path,
) -> Result<(PolicyOptions, testfile::PolicyFields), Problems> {
    let fields = testfile::policy_fields(path)?;
    let mut all_variants = fields.variants.clone();
    all_variants.extend(opts.policy.variants.iter().cloned());
    let popts = PolicyOptions {
        policies: if opts.policy.policies.is_empty() {
            fields.policies.clone()
        } else {
            opts.policy.policies.clone()
        },
        variants: all_variants,
        schema: opts.policy.schema.clone().or(fields.schema.clone()),
    };
    Ok((popts, fields))
}

/// The problems of loading the policies, with those of an entry the test file wrote (a
/// `policies` path, a `variant`, its `schema`) located at that entry, not given as a flag.
/// Each entry is tried alone to tell which one is wrong.
fn locate_policy_problems(
    e: Problems,
    popts: &PolicyOptions,
    f: &testfile::PolicyFields,
) -> Problems {
    let mut located = Vec::new();
    let mut relocate = |tried: PolicyOptions, flag: &str, (field, pos): &(String, Pos)| {
        if let Err(found) = policy::gather_sources(&tried) {
            for q in found
                .0
                .into_iter()
                .filter(|q| q.file.is_empty() && q.field == flag)
            {
                located.push(Problem::new(&f.file, *pos, field, q.message));
            }
        }
    };
    let entries = |key: &str| f.at.get(key).cloned().unwrap_or_default();
    if popts.policies == f.policies {
        for (path, at) in f.policies.iter().zip(entries("policies")) {
            let tried = PolicyOptions {
                policies: vec![path.clone()],
                ..Default::default()
            };
            relocate(tried, "--policies", &at);
        }
    }
    for (v, at) in f.variants.iter().zip(entries("variant")) {
        let tried = PolicyOptions {
            policies: popts.policies.clone(),
            variants: vec![v.clone()],
            schema: None,
        };
        relocate(tried, "--variant", &at);
    }
    let mut unread = None;
    if let (Some(schema), Some(at)) = (&f.schema, entries("schema").first())
        && popts.schema.as_ref() == Some(schema)
        && !schema.is_file()
    {
        unread = Some(schema.display().to_string());
        located.push(Problem::new(
            &f.file,
            at.1,
            &at.0,
            format!("{} does not exist", schema.display()),
        ));
    }
    if located.is_empty() {
        return e;
    }
    let mut out: Vec<Problem> =
        e.0.into_iter()
            .filter(|q| !(q.file.is_empty() && located.iter().any(|l| l.message == q.message)))
            .filter(|q| unread.as_ref() != Some(&q.file))
            .collect();
    out.extend(located);
    Problems(out)
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

/// A test file ready to run: its policies, its tests, its world and the engine deciding in it.
struct Loaded {
    bundle: PolicyBundle,
    tf: TestFile,
    world: World,
    engine: Engine,
    /// The file's evaluation time, or `--now`.
    now: Option<String>,
}

/// What a file's tests run on once every request in it is known to be answerable: each
/// matrix's requests and each scenario's world.
struct Prepared {
    tables: Vec<Vec<Cell>>,
    scenario_worlds: Vec<World>,
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
    let l = match load(opts, path, bundles) {
        Ok(l) => l,
        Err(p) => {
            report.problems = p.0;
            return (report, None);
        }
    };
    let prepared = match prepare(&l) {
        Ok(p) => p,
        Err(p) => {
            report.problems = p;
            return (report, Some(l.bundle));
        }
    };
    for c in l.tf.checks.iter().filter(|c| selected(opts, &c.name)) {
        report.results.push(run_check(&l.engine, c, coverage));
    }
    let (results, new_allow, changes) = run_matrices(opts, &l, &prepared.tables, coverage);
    report.results.extend(results);
    for (s, w) in l.tf.scenarios.iter().zip(prepared.scenario_worlds) {
        if selected(opts, &s.name) {
            let now = s.now.clone().or_else(|| l.now.clone());
            let result = run_scenario(&l.bundle, w, now, s, coverage);
            report.results.push(result);
        }
    }
    if opts.update && !new_allow.is_empty() {
        report.pending = Some(write_pending(&l.tf, &l.bundle, &new_allow, changes));
    }
    (report, Some(l.bundle))
}

/// The file's policies (shared by every file naming the same set), its tests, its world and
/// an engine for them.
fn load(
    opts: &TestOptions,
    path: &Path,
    bundles: &mut HashMap<String, Result<PolicyBundle, Problems>>,
) -> Result<Loaded, Problems> {
    let (popts, fields) = policy_options(opts, path)?;
    let bundle = bundles
        .entry(format!("{popts:?}"))
        .or_insert_with(|| policy::load(&popts))
        .clone()
        .map_err(|e| locate_policy_problems(e, &popts, &fields))?;
    let tf = testfile::load(path, &bundle.roles)?;
    let world = load_world(&tf, &tf.world, tf.world_pos, &bundle.roles)?;
    let now = tf.now.clone().or_else(|| opts.now.clone());
    let mut engine = Engine::new(bundle.clone(), world.clone())?;
    engine.now_override = now.clone();
    Ok(Loaded {
        bundle,
        tf,
        world,
        engine,
        now,
    })
}

/// Every request must be one the world can answer: an unknown id is a malformed test, and
/// nothing of the file runs.
fn prepare(l: &Loaded) -> Result<Prepared, Vec<Problem>> {
    let tf = &l.tf;
    let mut problems = Vec::new();
    for c in &tf.checks {
        if let Err(p) = l.engine.translate(&c.spec) {
            problems.push(Problem::new(
                &tf.file,
                line_pos(c.line),
                "checks",
                format!("`{}` cannot be decided: {}", request_line(&c.spec), p),
            ));
        }
    }
    let mut tables = Vec::new();
    for m in &tf.matrices {
        match matrix_candidates(tf, &l.engine, m) {
            Ok(t) => tables.push(t),
            Err(p) => problems.extend(p),
        }
    }
    let mut scenario_worlds = Vec::new();
    for s in &tf.scenarios {
        let world = match &s.world {
            None => l.world.clone(),
            Some(w) => match load_world(tf, w, line_pos(s.line), &l.bundle.roles) {
                Ok(w) => w,
                Err(p) => {
                    problems.extend(p.0);
                    continue;
                }
            },
        };
        // As a check's request is, each step is checked up front: an unknown action,
        // principal, resource or arg is a malformed test, never a `fail` outcome.
        let tr = Translation::new(world);
        problems.extend(scenario::check_steps(&tf.file, &s.steps, &tr));
        scenario_worlds.push(tr.world);
    }
    if problems.is_empty() {
        Ok(Prepared {
            tables,
            scenario_worlds,
        })
    } else {
        problems.sort_by_key(|p| p.pos);
        Err(problems)
    }
}

/// The start of a line, where a check or scenario is written.
fn line_pos(line: usize) -> Pos {
    Pos { line, col: 1 }
}

/// The selected matrices' results, with the allow lines each differing matrix actually has
/// (by its index) and what changed, for `--update`.
fn run_matrices(
    opts: &TestOptions,
    l: &Loaded,
    tables: &[Vec<Cell>],
    coverage: &mut Coverage,
) -> (
    Vec<TestResult>,
    BTreeMap<usize, Vec<String>>,
    Vec<MatrixChange>,
) {
    let mut results = Vec::new();
    let mut new_allow = BTreeMap::new();
    let mut changes = Vec::new();
    for (m, table) in l.tf.matrices.iter().zip(tables) {
        if !selected(opts, &m.name) {
            continue;
        }
        let (result, actual) = run_matrix(&l.engine, m, table, coverage);
        if let (Status::Failed, Some(actual)) = (result.status, actual) {
            changes.push(matrix_change(m, table, &actual));
            new_allow.insert(m.index, actual);
        }
        results.push(result);
    }
    (results, new_allow, changes)
}

/// The allow lines a matrix gains and loses when its expectations become `actual`.
fn matrix_change(m: &Matrix, table: &[Cell], actual: &[String]) -> MatrixChange {
    let expected: BTreeSet<&String> = table
        .iter()
        .filter(|c| c.expected)
        .map(|c| &c.line)
        .collect();
    let got: BTreeSet<&String> = actual.iter().collect();
    (
        m.name.clone(),
        got.difference(&expected).map(|s| s.to_string()).collect(),
        expected.difference(&got).map(|s| s.to_string()).collect(),
    )
}

fn run_check(engine: &Engine, c: &Check, coverage: &mut Coverage) -> TestResult {
    if let Some(why) = &c.skip {
        return TestResult::skipped(&c.name, "check", c.line, why);
    }
    let mut result = TestResult::new(&c.name, "check", c.line, 1);
    let fail = |actual, unmet| Failure {
        line: c.line,
        request: request_line(&c.spec),
        expected: Expected::Verdict(c.expect, c.why.clone()),
        actual,
        unmet,
        step: None,
    };
    match engine.decide(&c.spec) {
        // Checked before running; kept so that nothing is ever passed by default.
        Err(p) => result.failures.push(fail(Actual::Undecided(p), Vec::new())),
        Ok(d) => {
            coverage.record(&d);
            let unmet = c.why.unmet(&d);
            if d.decision != c.expect {
                result.failures.push(fail(Actual::Decided(d), Vec::new()));
            } else if !unmet.is_empty() {
                result.failures.push(fail(Actual::Decided(d), unmet));
            }
        }
    }
    result.finish()
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
        return (TestResult::skipped(&m.name, "matrix", m.line, why), None);
    }
    let decisions: Vec<Result<Decision, Problem>> =
        cells.par_iter().map(|c| engine.decide(&c.spec)).collect();
    let mut result = TestResult::new(&m.name, "matrix", m.line, cells.len());
    let mut actual = Some(Vec::new());
    for (c, d) in cells.iter().zip(decisions) {
        let fail = |expected, actual| Failure {
            line: c.at,
            request: c.line.clone(),
            expected,
            actual,
            unmet: Vec::new(),
            step: None,
        };
        let d = match d {
            Ok(d) => d,
            Err(p) => {
                actual = None;
                let verdict = if c.expected {
                    Verdict::Allow
                } else {
                    Verdict::Deny
                };
                let expected = Expected::Verdict(verdict, WhyExpect::default());
                result.failures.push(fail(expected, Actual::Undecided(p)));
                continue;
            }
        };
        coverage.record(&d);
        let allowed = d.decision == Verdict::Allow;
        if allowed && let Some(a) = actual.as_mut() {
            a.push(c.line.clone());
        }
        if allowed != c.expected {
            let expected = Expected::Listed(c.expected);
            result.failures.push(fail(expected, Actual::Decided(d)));
        }
    }
    (result.finish(), actual)
}

fn run_scenario(
    bundle: &PolicyBundle,
    world: World,
    now: Option<String>,
    s: &ScenarioTest,
    coverage: &mut Coverage,
) -> TestResult {
    if let Some(why) = &s.skip {
        return TestResult::skipped(&s.name, "scenario", s.line, why);
    }
    let mut result = TestResult::new(&s.name, "scenario", s.line, 0);
    let mut runner = match Runner::new(bundle.clone(), world, now) {
        Ok(r) => r,
        Err(p) => {
            result.failures.push(Failure {
                line: s.line,
                request: String::new(),
                expected: Expected::EvaluableWorld,
                actual: Actual::Unevaluable(p),
                unmet: Vec::new(),
                step: None,
            });
            return result.finish();
        }
    };
    for (i, step) in s.steps.iter().enumerate() {
        let r = runner.step(&step.action);
        if let Some(d) = &r.decision {
            coverage.record(d);
            result.decisions += 1;
        }
        if !scenario::met(step, &r) {
            result.failures.push(step_failure(i + 1, step, r));
        }
    }
    result.finish()
}

/// A step that did not meet its expectation: what it was, what it expected, what it came to.
fn step_failure(n: usize, step: &Step, r: StepResult) -> Failure {
    let request = match &step.action {
        StepAction::Request(spec) => request_line(spec),
        StepAction::Leak { key, .. } => format!("leak {key}"),
    };
    let actual = match &r.decision {
        Some(d) if r.effect.is_none() && d.decision == Verdict::Allow => {
            Actual::Failed(Some(d.clone()), r.failure.clone().unwrap_or_default())
        }
        Some(d) => Actual::Decided(d.clone()),
        None => match &r.failure {
            Some(f) => Actual::Failed(None, f.clone()),
            None => Actual::Done,
        },
    };
    Failure {
        line: step.line,
        request: format!("step {n}: {request}"),
        expected: Expected::Step(step.expect, step.why.clone()),
        actual,
        unmet: scenario::why_unmet(step, &r),
        step: Some(StepRun {
            n,
            step: step.clone(),
            result: r,
        }),
    }
}

fn write_pending(
    tf: &TestFile,
    bundle: &PolicyBundle,
    new_allow: &BTreeMap<usize, Vec<String>>,
    changes: Vec<MatrixChange>,
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

/// A pending `FILE.new` that replaced its test file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub new: PathBuf,
    pub file: PathBuf,
}

/// Replace each test file that has a pending `FILE.new` with it (after checking that it
/// parses); returns what was done and the problems.
pub fn accept(paths: &[PathBuf], policy_opts: &PolicyOptions) -> (Vec<Accepted>, Vec<Problem>) {
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
            Ok(()) => done.push(Accepted { new, file: f }),
            Err(e) => problems.push(Problem::arg(
                "--accept",
                format!("cannot replace {}: {e}", f.display()),
            )),
        }
    }
    (done, problems)
}

/// Whether the run passed: every test passed, every file ran and coverage is not below the
/// minimum.
pub fn passed(run: &TestRun, opts: &TestOptions) -> bool {
    let (_, failed, _) = run.counts();
    failed == 0 && !run.has_problems() && run.below_minimum(opts.min_coverage).is_none()
}
