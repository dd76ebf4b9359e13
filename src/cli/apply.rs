//! `keyward apply`: decide a request with the policies and, if allowed, carry it out: the
//! decision, what was done, the change as a diff and, on create, the key value (printed once,
//! never stored). Only with `--write` is the world file replaced (atomically, under its lock,
//! and only when the request was allowed, succeeded and changed something). Exit 0 allowed and
//! done, 2 denied, 1 bad input or a failed operation (conflict, not found).

use super::args::{CommonArgs, RequestArgs};
use super::{Common, Exit, Format, Outcome, load_bundle, lock_for_write, outcome, write_world};
use crate::decide::request::RequestSpec;
use crate::evaluator::scenario::Runner;
use crate::report;
use crate::world::problem::Problem;

/// The arguments of `keyward apply`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub request: RequestArgs,
    /// Replace the world file with the new state (atomically, under its lock).
    #[arg(long)]
    pub write: bool,
}

/// Run `keyward apply` as parsed.
pub fn exec(a: Args) -> Outcome {
    outcome(|| {
        a.common.text_or_json()?;
        let common = a.common.common();
        Ok(apply(&common, &a.request.spec()?, a.write))
    })
}

/// Decide `spec` and carry it out if allowed; keep the change only with `write`.
pub fn apply(common: &Common, spec: &RequestSpec, write: bool) -> Outcome {
    outcome(|| {
        let bundle = load_bundle(common)?;
        let Some(path) = &common.world else {
            return Err(Problem::arg("--world", "apply needs --world FILE").into());
        };
        // Held from reading the world to the rename, so concurrent writers serialise.
        let _lock = if write {
            Some(lock_for_write(path)?)
        } else {
            None
        };
        let w = crate::world::load_world(path, &bundle.roles)?;
        let mut runner = Runner::new(bundle, w, common.now.clone())?;
        runner.engine().translate(spec)?;
        let r = runner.request(spec);
        if r.decision.is_none() {
            return Err(Outcome::usage(format!(
                "error: {}",
                r.failure.clone().unwrap_or_default()
            )));
        }
        let mut written = false;
        if let (true, Some(e)) = (write, &r.effect) {
            if !e.changes.is_empty() {
                write_world(path, runner.world())?;
                written = true;
            }
        }
        let note = match (&r.effect, write, written) {
            (None, _, _) => None,
            (Some(e), _, _) if e.changes.is_empty() => None,
            (Some(_), true, true) => Some(format!("wrote {}", path.display())),
            (Some(_), _, _) => Some(format!(
                "dry run: {} is unchanged (--write keeps the change)",
                path.display()
            )),
        };
        let stdout = match common.format {
            Format::Json => report::apply::json(&r, written),
            Format::Text => report::apply::text(&r, note),
        };
        Ok(Outcome {
            stdout,
            stderr: r
                .failure
                .as_ref()
                .map(|f| format!("error: {f}\n"))
                .unwrap_or_default(),
            code: match r.code() {
                0 => Exit::Ok,
                2 => Exit::Deny,
                _ => Exit::BadInput,
            },
        })
    })
}
