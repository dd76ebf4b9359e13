//! `keyward run SCRIPT`: a scenario of requests and events, each seeing the state the previous
//! ones left; one line per step, then the difference between the first and the final state.
//! Exit 0 when every step met its expectation (a step without one: anything but a failure),
//! 1 otherwise or on bad input. With `--write`, the final state replaces the world file (under
//! its lock, held for the whole run) when every step met its expectation. `--world` overrides
//! the script's world. Key values made by a scenario are never shown.

use super::args::CommonArgs;
use super::{Common, Exit, Format, Outcome, load_bundle, lock_for_write, outcome, write_world};
use crate::evaluator::changes;
use crate::evaluator::scenario::{self, Runner, ScriptWorld};
use crate::evaluator::store::WorldLock;
use crate::report::run::{RunReport, StepReport};
use crate::world::World;
use crate::world::problem::Problem;
use std::path::{Path, PathBuf};

/// The arguments of `keyward run`.
#[derive(clap::Args)]
pub struct Args {
    /// The script (YAML): `world` and `steps`.
    #[arg(value_name = "SCRIPT")]
    pub script: PathBuf,
    #[command(flatten)]
    pub common: CommonArgs,
    /// Keep the final state in the world file (when every step met its expectation).
    #[arg(long)]
    pub write: bool,
}

/// Run `keyward run` as parsed.
pub fn exec(a: Args) -> Outcome {
    match a.common.text_or_json() {
        Ok(()) => run(&a.common.common(), &a.script, a.write),
        Err(o) => o,
    }
}

/// The world a run starts from: its file (if any), the state, and the lock when writing.
type Start = (Option<PathBuf>, World, Option<WorldLock>);

/// Run the script at `script_path`; keep the final state only with `write`.
pub fn run(common: &Common, script_path: &Path, write: bool) -> Outcome {
    outcome(|| {
        let bundle = load_bundle(common)?;
        let script = scenario::load_script(script_path, &bundle.roles)?;
        let source = match (&common.world, script.world) {
            (Some(p), _) => ScriptWorld::File(p.clone()),
            (None, s) => s,
        };
        let (path, initial, _lock) = start(source, &script.file, &bundle.roles, write)?;
        let mut runner = Runner::new(bundle, initial.clone(), common.now.clone())?;
        let mut steps = Vec::new();
        for (i, step) in script.steps.iter().enumerate() {
            let r = runner.step(&step.action);
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
        let note = match &path {
            Some(p) if write && failed == 0 && !changes.is_empty() => {
                write_world(p, runner.world())?;
                written = true;
                Some(format!("wrote {}", p.display()))
            }
            Some(p) if write && failed > 0 => Some(format!(
                "not written: {failed} step(s) did not meet their expectation; {} is unchanged",
                p.display()
            )),
            Some(p) if !write && !changes.is_empty() => Some(format!(
                "dry run: {} is unchanged (--write keeps the final state)",
                p.display()
            )),
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

/// Where the run starts: an inline world (never written) or a file, locked when writing.
fn start(
    source: ScriptWorld,
    script: &str,
    roles: &crate::world::RoleCatalog,
    write: bool,
) -> Result<Start, Outcome> {
    match source {
        ScriptWorld::Missing => Err(Problem::new(
            script,
            crate::world::yaml::Pos { line: 1, col: 1 },
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
            let w = crate::world::load_world(&p, roles)?;
            Ok((Some(p), w, lock))
        }
    }
}
