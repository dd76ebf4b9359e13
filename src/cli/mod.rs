//! The commands of the CLI as library functions: each takes its options and returns what to
//! print and the exit code, so tests call exactly what the binary runs.

use crate::decide::engine::{Engine, Verdict};
use crate::decide::export;
use crate::decide::policy::{self, PolicyBundle, PolicyOptions};
use crate::decide::request::RequestSpec;
use crate::evaluator::scenario::{Runner, ScriptWorld};
use crate::evaluator::{changes, scenario, store};
use crate::report;
use crate::world;
use crate::world::problem::{Problem, Problems};
use std::path::{Path, PathBuf};

pub mod import;
pub mod names;

/// Exit code: allowed / success.
pub const EXIT_OK: i32 = 0;
/// Exit code: bad input or usage.
pub const EXIT_BAD_INPUT: i32 = 1;
/// Exit code: denied.
pub const EXIT_DENY: i32 = 2;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
}

/// Options every command shares.
#[derive(Debug, Clone, Default)]
pub struct Common {
    pub world: Option<PathBuf>,
    pub policy: PolicyOptions,
    pub now: Option<String>,
    pub format: Format,
}

/// What a command prints and how it exits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

impl Outcome {
    fn bad(problems: &Problems) -> Self {
        Outcome {
            stdout: String::new(),
            stderr: format!("{problems}\n"),
            code: EXIT_BAD_INPUT,
        }
    }
}

impl From<Problems> for Outcome {
    fn from(p: Problems) -> Self {
        Outcome::bad(&p)
    }
}

impl From<Problem> for Outcome {
    fn from(p: Problem) -> Self {
        Outcome::bad(&Problems::one(p))
    }
}

/// Load policies, schema and the world the options name.
pub fn load_engine(common: &Common) -> Result<Engine, Problems> {
    let bundle = policy::load(&common.policy)?;
    let Some(path) = &common.world else {
        return Err(Problems::one(Problem::arg(
            "--world",
            "this command needs --world FILE",
        )));
    };
    let world = world::load_world(path, &bundle.roles)?;
    let mut engine = Engine::new(bundle, world)?;
    engine.now_override = common.now.clone();
    Ok(engine)
}

/// `keyward check`: one decision. Exit 0 allow, 2 deny, 1 bad input.
pub fn check(common: &Common, spec: &RequestSpec) -> Outcome {
    let engine = match load_engine(common) {
        Ok(e) => e,
        Err(p) => return p.into(),
    };
    let spec = &match names::request(&engine.tr.world, spec) {
        Ok(s) => s,
        Err(p) => return p.into(),
    };
    let d = match engine.decide(spec) {
        Ok(d) => d,
        Err(p) => return p.into(),
    };
    let stdout = match common.format {
        Format::Json => format!("{}\n", report::decision_json(&d)),
        Format::Text => {
            report::decision_text_named(&d, &|id| world::names::display(&engine.tr.world, id))
        }
    };
    let code = if d.decision == Verdict::Allow {
        EXIT_OK
    } else {
        EXIT_DENY
    };
    Outcome {
        stdout,
        stderr: String::new(),
        code,
    }
}

/// `keyward validate`: the policies against the schema (strict) and, with --world, the world.
pub fn validate(common: &Common) -> Outcome {
    let mut problems: Vec<Problem> = Vec::new();
    let mut lines = Vec::new();
    let bundle: Option<PolicyBundle> = match policy::load(&common.policy) {
        Ok(b) => Some(b),
        Err(p) => {
            problems.extend(p.0);
            None
        }
    };
    let mut warnings = Vec::new();
    if let Some(b) = &bundle {
        lines.push(format!(
            "ok: {} policies from {} files validate against {} (strict)",
            b.info.len(),
            b.sources.len(),
            b.schema_source.name
        ));
        for p in b.info.values() {
            if p.rules.is_empty() {
                problems.push(Problem::new(
                    &p.file,
                    crate::world::yaml::Pos {
                        line: p.line,
                        col: 1,
                    },
                    "@rule",
                    format!("policy `{}` names no rule", p.id),
                ));
            }
            if p.doc.is_empty() {
                problems.push(Problem::new(
                    &p.file,
                    crate::world::yaml::Pos {
                        line: p.line,
                        col: 1,
                    },
                    "@doc",
                    format!("policy `{}` has no @doc sentence", p.id),
                ));
            }
        }
        warnings = b.warnings.clone();
        if let Some(path) = &common.world {
            match world::load_world(path, &b.roles) {
                Ok(w) => {
                    let name = path.display();
                    match Engine::new(b.clone(), w) {
                        Ok(e) => lines.push(format!(
                            "ok: world {name} is valid ({} accounts, {} users, {} service IDs, {} API keys)",
                            e.tr.world.accounts.len(),
                            e.tr.world.users.len(),
                            e.tr.world.service_ids.len(),
                            e.tr.world.api_keys.len()
                        )),
                        Err(p) => problems.extend(p.0),
                    }
                }
                Err(p) => problems.extend(p.0),
            }
        }
    }
    let code = if problems.is_empty() {
        EXIT_OK
    } else {
        EXIT_BAD_INPUT
    };
    let stdout = match common.format {
        Format::Json => format!(
            "{}\n",
            serde_json::json!({
                "valid": problems.is_empty(),
                "policies": bundle.as_ref().map(|b| b.info.len()).unwrap_or(0),
                "problems": problems,
                "warnings": warnings,
            })
        ),
        Format::Text => {
            let mut s = String::new();
            for p in &problems {
                s.push_str(&format!("error: {p}\n"));
            }
            for w in &warnings {
                s.push_str(&format!("warning: {w}\n"));
            }
            if problems.is_empty() {
                for l in &lines {
                    s.push_str(l);
                    s.push('\n');
                }
            } else {
                s.push_str(&format!("{} problem(s)\n", problems.len()));
            }
            s
        }
    };
    Outcome {
        stdout,
        stderr: String::new(),
        code,
    }
}

/// `keyward export`: entities (and a request) in Cedar's formats; optionally the policy set.
pub fn export(
    common: &Common,
    spec: Option<&RequestSpec>,
    policies_out: Option<&PathBuf>,
) -> Outcome {
    let engine = match load_engine(common) {
        Ok(e) => e,
        Err(p) => return p.into(),
    };
    if let Some(path) = policies_out {
        if let Err(e) = std::fs::write(path, export::policies_text(&engine)) {
            return Problem::arg(
                "--policies-out",
                format!("cannot write {}: {e}", path.display()),
            )
            .into();
        }
    }
    let entities = export::entities_json(&engine);
    let value = match spec {
        None => entities,
        Some(spec) => match engine.translate(spec) {
            Ok(t) => serde_json::json!({"entities": entities, "request": export::request_json(&t)}),
            Err(p) => return p.into(),
        },
    };
    let text = serde_json::to_string_pretty(&value).unwrap_or_default();
    Outcome {
        stdout: format!("{text}\n"),
        stderr: String::new(),
        code: EXIT_OK,
    }
}

/// `keyward generate`: a valid, realistic world as YAML, deterministic for its arguments;
/// written to `out` (atomically enough: a temporary file renamed) or printed.
pub fn generate(
    policy: &PolicyOptions,
    opts: &crate::world::generate::GenerateOptions,
    out: Option<&PathBuf>,
) -> Outcome {
    let bundle = match policy::load(policy) {
        Ok(b) => b,
        Err(p) => return p.into(),
    };
    let world = match crate::world::generate::generate(opts, &bundle.roles) {
        Ok(w) => w,
        Err(p) => return p.into(),
    };
    let text = crate::world::generate::to_yaml(opts, &world);
    let mut stderr = String::new();
    if opts.keys_per_user > crate::world::generate::KEY_LIMIT {
        stderr.push_str(&format!(
            "note: --keys-per-user {} is capped at {} keys per identity (R10)\n",
            opts.keys_per_user,
            crate::world::generate::KEY_LIMIT
        ));
    }
    let Some(path) = out else {
        return Outcome {
            stdout: text,
            stderr,
            code: EXIT_OK,
        };
    };
    let tmp = path.with_extension("yaml.tmp");
    if let Err(e) = std::fs::write(&tmp, &text).and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Problem::arg("--out", format!("cannot write {}: {e}", path.display())).into();
    }
    stderr.push_str(&format!(
        "wrote {}: {} accounts, {} users, {} service IDs, {} API keys, {} clusters\n",
        path.display(),
        world.accounts.len(),
        world.users.len(),
        world.service_ids.len(),
        world.api_keys.len(),
        world.clusters.len()
    ));
    Outcome {
        stdout: String::new(),
        stderr,
        code: EXIT_OK,
    }
}

/// Load the policies, or say why not.
fn load_bundle(common: &Common) -> Result<PolicyBundle, Outcome> {
    policy::load(&common.policy).map_err(Outcome::from)
}

/// Take the world file's lock for a writing run (held until the returned guard is dropped).
fn lock_for_write(path: &Path) -> Result<store::WorldLock, Outcome> {
    store::lock(path).map_err(|e| {
        Problem::arg(
            "--write",
            format!("cannot lock {}: {e}", store::lock_path(path).display()),
        )
        .into()
    })
}

/// Replace the world file with the new state; `None` when written.
fn write_world(path: &Path, w: &world::World) -> Option<Outcome> {
    store::write_atomic(path, &w.to_yaml()).err().map(|e| {
        Problem::arg(
            "--write",
            format!("cannot write {}: {e}; it is unchanged", path.display()),
        )
        .into()
    })
}

/// `keyward apply`: decide a request with the policies and, if allowed, carry it out: the
/// decision, what was done, the change as a diff and, on create, the key value (printed once,
/// never stored). Only with `write` is the world file replaced (atomically, under its lock,
/// and only when the request was allowed, succeeded and changed something). Exit 0 allowed and
/// done, 2 denied, 1 bad input or a failed operation (conflict, not found).
pub fn apply(common: &Common, spec: &RequestSpec, write: bool) -> Outcome {
    let bundle = match load_bundle(common) {
        Ok(b) => b,
        Err(o) => return o,
    };
    let Some(path) = &common.world else {
        return Problem::arg("--world", "apply needs --world FILE").into();
    };
    // Held from reading the world to the rename, so concurrent writers serialise.
    let _lock = if write {
        match lock_for_write(path) {
            Ok(l) => Some(l),
            Err(o) => return o,
        }
    } else {
        None
    };
    let w = match world::load_world(path, &bundle.roles) {
        Ok(w) => w,
        Err(p) => return p.into(),
    };
    let spec = &match names::request(&w, spec) {
        Ok(s) => s,
        Err(p) => return p.into(),
    };
    let mut runner = match Runner::new(bundle, w, common.now.clone()) {
        Ok(r) => r,
        Err(p) => return p.into(),
    };
    if let Err(p) = runner.engine().translate(spec) {
        return p.into();
    }
    let r = runner.request(spec);
    let Some(d) = &r.decision else {
        return Outcome {
            stdout: String::new(),
            stderr: format!("error: {}\n", r.failure.unwrap_or_default()),
            code: EXIT_BAD_INPUT,
        };
    };
    let mut written = false;
    if let (true, Some(e)) = (write, &r.effect) {
        if !e.changes.is_empty() {
            if let Some(o) = write_world(path, runner.world()) {
                return o;
            }
            written = true;
        }
    }
    let code = r.code();
    let note = match (&r.effect, write, written) {
        (None, _, _) => None,
        (Some(e), _, _) if e.changes.is_empty() => None,
        (Some(_), true, true) => Some(format!("wrote {}", path.display())),
        (Some(_), _, _) => Some(format!(
            "dry run: {} is unchanged (--write keeps the change)",
            path.display()
        )),
    };
    let stderr = r
        .failure
        .as_ref()
        .map(|f| format!("error: {f}\n"))
        .unwrap_or_default();
    let stdout = match common.format {
        Format::Json => {
            let mut v = report::decision_json(d);
            if let Some(e) = &r.effect {
                v["summary"] = serde_json::json!(e.summary);
                v["changes"] = changes::changes_json(&e.changes);
                if let Some(res) = &e.result {
                    v["result"] = res.clone();
                }
                if let Some(s) = &e.secret {
                    v["api_key_value"] = serde_json::json!(s.reveal());
                }
            } else if r.failure.is_some() {
                v["changes"] = serde_json::json!([]);
            }
            if let Some(f) = &r.failure {
                v["error"] = serde_json::json!(f);
            }
            v["written"] = serde_json::json!(written);
            format!("{v}\n")
        }
        Format::Text => {
            let mut s = report::decision_text(d);
            if let Some(e) = &r.effect {
                s.push_str(&e.summary);
                s.push('\n');
                if let Some(secret) = &e.secret {
                    s.push_str(&format!(
                        "api key value (shown once; only its fingerprint is kept): {}\n",
                        secret.reveal()
                    ));
                }
                s.push_str(&changes::diff_text(&e.changes));
            }
            if let Some(n) = note {
                s.push_str(&n);
                s.push('\n');
            }
            s
        }
    };
    Outcome {
        stdout,
        stderr,
        code,
    }
}

/// `keyward run SCRIPT`: a scenario of requests and events, each seeing the state the previous
/// ones left; one line per step, then the difference between the first and the final state.
/// Exit 0 when every step met its expectation (a step without one: anything but a failure),
/// 1 otherwise or on bad input. With `write`, the final state replaces the world file (under
/// its lock, held for the whole run) when every step met its expectation. `common.world`
/// (`--world`) overrides the script's world. Key values made by a scenario are never shown.
pub fn run(common: &Common, script_path: &Path, write: bool) -> Outcome {
    let bundle = match load_bundle(common) {
        Ok(b) => b,
        Err(o) => return o,
    };
    let script = match scenario::load_script(script_path, &bundle.roles) {
        Ok(s) => s,
        Err(p) => return p.into(),
    };
    let source = match (&common.world, script.world) {
        (Some(p), _) => ScriptWorld::File(p.clone()),
        (None, s) => s,
    };
    let (path, initial, _lock) = match source {
        ScriptWorld::Missing => {
            return Problem::new(
                &script.file,
                crate::world::yaml::Pos { line: 1, col: 1 },
                "world",
                "the script names no world: add `world: FILE` (relative to the script) or pass --world FILE",
            )
            .into();
        }
        ScriptWorld::Inline(w) => {
            if write {
                return Problem::arg(
                    "--write",
                    "this script's world is written inline: give --world FILE to keep the final state",
                )
                .into();
            }
            (None, *w, None)
        }
        ScriptWorld::File(p) => {
            let lock = if write {
                match lock_for_write(&p) {
                    Ok(l) => Some(l),
                    Err(o) => return o,
                }
            } else {
                None
            };
            match world::load_world(&p, &bundle.roles) {
                Ok(w) => (Some(p), w, lock),
                Err(e) => return e.into(),
            }
        }
    };
    let mut runner = match Runner::new(bundle, initial.clone(), common.now.clone()) {
        Ok(r) => r,
        Err(p) => return p.into(),
    };
    let mut lines = Vec::new();
    let mut steps_json = Vec::new();
    let mut failed = 0;
    for (i, step) in script.steps.iter().enumerate() {
        let r = runner.step(&step.action);
        if !scenario::met(step, &r) {
            failed += 1;
        }
        match common.format {
            Format::Text => lines.push(scenario::step_line(i + 1, step, &r)),
            Format::Json => steps_json.push(scenario::step_json(i + 1, step, &r)),
        }
    }
    let total = script.steps.len();
    let passed = failed == 0;
    let final_changes = changes::diff(&initial, runner.world());
    let mut written = false;
    let mut note = None;
    if let Some(p) = &path {
        if write && passed && !final_changes.is_empty() {
            if let Some(o) = write_world(p, runner.world()) {
                return o;
            }
            written = true;
            note = Some(format!("wrote {}", p.display()));
        } else if write && !passed {
            note = Some(format!(
                "not written: {failed} step(s) did not meet their expectation; {} is unchanged",
                p.display()
            ));
        } else if !write && !final_changes.is_empty() {
            note = Some(format!(
                "dry run: {} is unchanged (--write keeps the final state)",
                p.display()
            ));
        }
    }
    let stdout = match common.format {
        Format::Json => format!(
            "{}\n",
            serde_json::json!({
                "script": script.file,
                "world": path.as_ref().map(|p| p.display().to_string()),
                "steps": steps_json,
                "changes": changes::changes_json(&final_changes),
                "passed": total - failed,
                "failed": failed,
                "written": written,
            })
        ),
        Format::Text => {
            let mut s = match &path {
                Some(p) => format!("run {} on {}\n", script.file, p.display()),
                None => format!("run {} on its inline world\n", script.file),
            };
            for l in &lines {
                s.push_str(l);
                s.push('\n');
            }
            if final_changes.is_empty() {
                s.push_str("final state: no change\n");
            } else {
                s.push_str(&format!(
                    "final state: {} change(s)\n{}",
                    final_changes.len(),
                    changes::diff_text(&final_changes)
                ));
            }
            s.push_str(&format!(
                "{total} steps: {} met their expectation, {failed} did not\n",
                total - failed
            ));
            if let Some(n) = note {
                s.push_str(&n);
                s.push('\n');
            }
            s
        }
    };
    Outcome {
        stdout,
        stderr: String::new(),
        code: if passed { EXIT_OK } else { EXIT_BAD_INPUT },
    }
}

/// `keyward findings`: the findings F1-F6 of RULES.md for a world (recommendations: exit 0
/// whatever they are; 1 for bad input).
pub fn findings(common: &Common) -> Outcome {
    let engine = match load_engine(common) {
        Ok(e) => e,
        Err(p) => return p.into(),
    };
    // Expiries are judged against `now`: a bad --now is bad input, not a guess.
    if let Err(p) = engine.now_for(&RequestSpec::default()) {
        return p.into();
    }
    let found = crate::audit::findings::findings(&engine);
    let stdout = match common.format {
        Format::Json => format!(
            "{}\n",
            serde_json::json!({"findings": crate::audit::findings::findings_json(&found)})
        ),
        Format::Text => crate::audit::findings::findings_text(&found),
    };
    Outcome {
        stdout,
        stderr: String::new(),
        code: EXIT_OK,
    }
}

/// Options of `keyward audit`.
#[derive(Debug, Clone)]
pub struct AuditArgs {
    pub opts: crate::audit::AuditOptions,
    pub format: crate::report::AuditFormat,
    pub by: crate::report::GroupBy,
    /// Add findings F1-F6 (always in the text report).
    pub findings: bool,
    /// Compare with these policies instead of the loaded ones.
    pub against_policies: Vec<PathBuf>,
    /// Compare with the loaded policies plus these variants.
    pub against_variants: Vec<String>,
    /// Compare with another world.
    pub against_world: Option<PathBuf>,
    /// Show progress on stderr (when it is a terminal) for audits over a second.
    pub progress: bool,
}

/// A progress bar on stderr that appears only after a second, and only when asked for.
fn progress_bar(enabled: bool) -> impl Fn(usize, usize) + Sync {
    let start = std::time::Instant::now();
    let bar = indicatif::ProgressBar::hidden();
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} groups ({eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let shown = std::sync::atomic::AtomicBool::new(false);
    move |done: usize, total: usize| {
        if !enabled {
            return;
        }
        if !shown.load(std::sync::atomic::Ordering::Relaxed)
            && start.elapsed() > std::time::Duration::from_secs(1)
        {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            shown.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        if done >= total {
            bar.finish_and_clear();
        }
    }
}

/// `keyward audit`: every allowed (principal, action, resource), findings, or the change
/// impact against other policies or another world. Rows go straight to `out` (streamed for
/// jsonl/csv/json), so huge audits never sit in memory.
pub fn audit(common: &Common, a: &AuditArgs, out: &mut dyn std::io::Write) -> Outcome {
    use crate::report::AuditFormat;
    let engine = match load_engine(common) {
        Ok(e) => e,
        Err(p) => return p.into(),
    };
    let filters = match names::audit_filters(&engine.tr.world, &a.opts) {
        Ok(o) => o,
        Err(p) => return p.into(),
    };
    let progress = progress_bar(a.progress);
    let io_err = |e: std::io::Error| Outcome {
        stdout: String::new(),
        stderr: format!("error: cannot write output: {e}\n"),
        code: EXIT_BAD_INPUT,
    };
    if !a.against_policies.is_empty() || !a.against_variants.is_empty() || a.against_world.is_some()
    {
        let mut other_common = common.clone();
        if !a.against_policies.is_empty() {
            other_common.policy.policies = a.against_policies.clone();
            other_common.policy.variants = Vec::new();
        }
        other_common
            .policy
            .variants
            .extend(a.against_variants.iter().cloned());
        if let Some(w) = &a.against_world {
            other_common.world = Some(w.clone());
        }
        let other = match load_engine(&other_common) {
            Ok(e) => e,
            Err(p) => return p.into(),
        };
        return match crate::audit::impact::impact(&engine, &other, &filters, &progress) {
            Ok(changes) => match crate::audit::impact::write(&changes, a.format, out) {
                Ok(()) => Outcome::default(),
                Err(e) => io_err(e),
            },
            Err(e) => Problem::new("", Default::default(), "", e).into(),
        };
    }
    let mut writer = match crate::report::AuditWriter::new(&mut *out, a.format, a.by) {
        Ok(w) => w,
        Err(e) => return io_err(e),
    };
    let mut failed = None;
    let stats = crate::audit::audit(
        &engine,
        &filters,
        |d| {
            if failed.is_none() {
                if let Err(e) = writer.row(d) {
                    failed = Some(e);
                }
            }
        },
        &progress,
    );
    if let Some(e) = failed {
        return io_err(e);
    }
    let stats = match stats {
        Ok(s) => s,
        Err(e) => return Problem::new("", Default::default(), "", e).into(),
    };
    let with_findings = a.findings || a.format == AuditFormat::Text;
    let found = if with_findings {
        crate::audit::findings::findings(&engine)
    } else {
        Vec::new()
    };
    let mut json_extra = serde_json::Map::new();
    let mut text_extra = String::new();
    if with_findings {
        json_extra.insert(
            "findings".into(),
            crate::audit::findings::findings_json(&found),
        );
        text_extra = format!("\n{}", crate::audit::findings::findings_text(&found));
    }
    json_extra.insert("stats".into(), serde_json::Value::String(stats.summary()));
    let result = writer.finish(json_extra, &text_extra);
    if let Err(e) = result {
        return io_err(e);
    }
    if a.findings && matches!(a.format, AuditFormat::Jsonl | AuditFormat::Csv) {
        for f in &found {
            let line = match a.format {
                AuditFormat::Jsonl => serde_json::to_string(f).unwrap_or_default(),
                _ => format!("# finding {} {}: {}", f.rule, f.subject, f.message),
            };
            if let Err(e) = writeln!(out, "{line}") {
                return io_err(e);
            }
        }
    }
    Outcome::default()
}

/// `keyward test`: decision test files. Exit 0 when every test passed (and coverage is not
/// below `--min-coverage`), 1 otherwise or on bad input. With `accept`, pending `FILE.new`
/// files written by `--update` replace their test files instead.
pub fn test(opts: &crate::testing::testrun::TestOptions, format: Format, accept: bool) -> Outcome {
    use crate::testing::testrun;
    if accept {
        let (done, problems) = testrun::accept(&opts.paths, &opts.policy);
        let mut stdout: String = done.iter().map(|l| format!("{l}\n")).collect();
        if done.is_empty() && problems.is_empty() {
            stdout.push_str("nothing to accept: no pending FILE.new beside the test files\n");
        }
        return Outcome {
            stdout,
            stderr: problems.iter().map(|p| format!("error: {p}\n")).collect(),
            code: if problems.is_empty() {
                EXIT_OK
            } else {
                EXIT_BAD_INPUT
            },
        };
    }
    let run = testrun::run(opts);
    let stdout = match format {
        Format::Json => format!("{}\n", testrun::json(&run, opts)),
        Format::Text => testrun::text(&run, opts),
    };
    Outcome {
        stdout,
        stderr: String::new(),
        code: testrun::exit_code(&run, opts),
    }
}
