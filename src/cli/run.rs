//! `keyward run SCRIPT`: a scenario of requests and events, each seeing the state the previous
//! ones left; one line per step, then the difference between the first and the final state.
//! Exit 0 when every step met its expectation (a step without one: anything but a failure),
//! 1 otherwise or on bad input. With `--write`, the final state replaces the world file (under
//! its lock, held for the whole run) when every step met its expectation. `--world` overrides
//! the script's world. Key values made by a scenario are never shown.

use super::args::{NowArg, PolicyArgs, TextOrJson, WorldArgs};
use super::{
    Common, Exit, Format, Outcome, append_log, file_sha256, load_bundle, lock_for_write, outcome,
    render_world, write_text,
};
use crate::decide::export::policies_text;
use crate::evaluator::changes;
use crate::evaluator::log::{Attempt, Attempted, sha256_hex};
use crate::evaluator::scenario::{self, Runner, ScriptWorld};
use crate::evaluator::scenario::{StepAction, StepResult};
use crate::evaluator::store::WorldLock;
use crate::report::run::{RunReport, StepReport};
use crate::world::World;
use crate::world::problem::{Problem, Problems};
use std::path::{Path, PathBuf};

/// The arguments of `keyward run`.
#[derive(clap::Args)]
pub struct Args {
    /// The script (YAML): `world` and `steps`.
    #[arg(value_name = "SCRIPT")]
    pub script: PathBuf,
    #[command(flatten)]
    pub world: WorldArgs,
    #[command(flatten)]
    pub policy: PolicyArgs,
    #[command(flatten)]
    pub now: NowArg,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: TextOrJson,
    /// Keep the final state in the world file (when every step met its expectation).
    #[arg(long)]
    pub write: bool,
    /// Append each step decided or event carried out to this hash-chained log (with --write,
    /// when the run is kept), durably, before the world file is replaced.
    #[arg(long, value_name = "FILE", requires = "write")]
    pub log: Option<PathBuf>,
}

/// Run `keyward run` as parsed.
pub fn exec(a: Args) -> Outcome {
    let format = a.format.into();
    let common = super::args::common(&a.world, &a.policy, Some(&a.now), format);
    run_logged(&common, &a.script, a.write, a.log.as_deref()).in_format(format)
}

/// The world a run starts from: its file (if any), the state, and the lock when writing.
type Start = (Option<PathBuf>, World, Option<WorldLock>);

/// Run the script at `script_path`; keep the final state only with `write`.
pub fn run(common: &Common, script_path: &Path, write: bool) -> Outcome {
    run_logged(common, script_path, write, None)
}

/// The world file's hash before and after each step, for the write log.
type Hashes = Vec<(String, String)>;

/// [`run`], appending each step to the write log `log` when the run is kept. With a log, a
/// run that changed the world and changed it back is written too, so that the file and the
/// log's last state agree.
pub fn run_logged(common: &Common, script_path: &Path, write: bool, log: Option<&Path>) -> Outcome {
    outcome(|| {
        super::writable(common.world.as_deref(), write)?;
        let bundle = load_bundle(common)?;
        let script = scenario::load_script(script_path, &bundle.roles)?;
        let source = match (&common.world, script.world) {
            (Some(p), _) => ScriptWorld::File(p.clone()),
            (None, s) => s,
        };
        let (path, initial, _lock) =
            start(source, (&script.file, script.pos), &bundle.roles, write)?;
        let mut runner = Runner::new(bundle, initial.clone(), common.now.clone())?;
        let problems = scenario::check_steps(&script.file, &script.steps, &runner.engine().tr);
        if !problems.is_empty() {
            return Err(Problems(problems).into());
        }
        let logged = match (log, &path) {
            (Some(_), Some(p)) => Some(file_sha256(p)?),
            _ => None,
        };
        let mut hashes: Hashes = Vec::new();
        let mut steps = Vec::new();
        for (i, step) in script.steps.iter().enumerate() {
            let r = runner.step(&step.action);
            if let (Some(first), Some(p)) = (&logged, &path) {
                let before = hashes.last().map_or(first.clone(), |(_, a)| a.clone());
                let after = match r.effect.as_ref().is_some_and(|e| !e.changes.is_empty()) {
                    true => sha256_hex(render_world(p, runner.world())?.as_bytes()),
                    false => before.clone(),
                };
                hashes.push((before, after));
            }
            steps.push(StepReport {
                n: i + 1,
                met: scenario::met(step, &r),
                step,
                result: r,
            });
        }
        let failed = steps.iter().filter(|s| !s.met).count();
        let changes = changes::diff(&initial, runner.world());
        let mut written = false;
        let moved = match (&logged, hashes.last()) {
            (Some(first), Some((_, last))) => first != last,
            _ => false,
        };
        let note = match &path {
            Some(p) if write && failed == 0 && (!changes.is_empty() || moved) => {
                let text = render_world(p, runner.world())?;
                if let Some(log) = log {
                    append_log(log, entries(&steps, &hashes, &runner))?;
                }
                write_text(p, &text)?;
                written = true;
                Some(format!("wrote {}", p.display()))
            }
            Some(p) if write && failed > 0 => Some(format!(
                "not written: {failed} step(s) did not meet their expectation; {} is unchanged",
                p.display()
            )),
            Some(p) if !write && !changes.is_empty() => Some(super::dry_run(p, "the final state")),
            Some(_) if write && failed == 0 => {
                // Nothing changed: the refusals and no-ops still belong in the log.
                if let Some(log) = log {
                    append_log(log, entries(&steps, &hashes, &runner))?;
                }
                None
            }
            _ => None,
        };
        let report = RunReport {
            script: &script.file,
            world: path.as_deref(),
            steps,
            changes,
            failed,
            written,
            note,
        };
        let stdout = match common.format {
            Format::Json => report.json(),
            Format::Text => report.text(),
        };
        Ok(Outcome::new(stdout, Exit::ok_if(failed == 0)))
    })
}

/// The log lines of a run: each request decided and each event carried out (a step that
/// was bad input decided nothing and is not an attempt).
fn entries(
    steps: &[StepReport],
    hashes: &Hashes,
    runner: &Runner,
) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let policy_set = sha256_hex(policies_text(runner.engine()).as_bytes());
    let mut out = Vec::new();
    for (s, (before, after)) in steps.iter().zip(hashes) {
        let what = match (&s.step.action, &s.result) {
            (
                _,
                StepResult {
                    decision: Some(d), ..
                },
            ) => Attempted::Request(d),
            (
                StepAction::Leak { key, .. },
                StepResult {
                    effect: Some(_), ..
                },
            ) => Attempted::Leak(key),
            _ => continue,
        };
        let changes = s
            .result
            .effect
            .as_ref()
            .map_or(&[][..], |e| e.changes.as_slice());
        let attempt = Attempt {
            what,
            changes,
            error: s.result.failure.as_deref(),
            policy_set_sha256: &policy_set,
            world_sha256_before: before,
            world_sha256_after: after,
        };
        out.push(attempt.entry());
    }
    out
}

/// Where the run starts: an inline world (never written) or a file, locked when writing. A
/// missing world is reported at `at`, where the script's mapping starts.
fn start(
    source: ScriptWorld,
    (script, at): (&str, crate::world::yaml::Pos),
    roles: &crate::world::RoleCatalog,
    write: bool,
) -> Result<Start, Outcome> {
    match source {
        ScriptWorld::Missing => Err(Problem::new(
            script,
            at,
            "world",
            "the script names no world: add `world: FILE` (relative to the script) or pass --world FILE",
        )
        .into()),
        ScriptWorld::Inline(_) if write => Err(Problem::arg(
            "--write",
            "this script's world is written inline: give --world FILE to keep the final state",
        )
        .into()),
        ScriptWorld::Inline(w) => Ok((None, *w, None)),
        ScriptWorld::File(p) => {
            let lock = if write {
                Some(lock_for_write(&p)?)
            } else {
                None
            };
            let w = super::read_world(&p, roles)?;
            Ok((Some(p), w, lock))
        }
    }
}
