//! `keyward apply`: decide a request with the policies and, if allowed, carry it out: the
//! decision, what was done, the change as a diff and, on create, the key value (printed once,
//! never stored). Only with `--write` is the world file replaced (atomically, under its lock,
//! and only when the request was allowed, succeeded and changed something). Exit 0 allowed and
//! done, 2 denied, 1 bad input or a failed operation (conflict, not found).

use super::args::{NowArg, PolicyArgs, RequestArgs, TextOrJson, WorldArgs};
use super::{
    Common, Exit, Format, Outcome, append_log, file_sha256, load_bundle, lock_for_write, outcome,
    render_world, write_text,
};
use crate::decide::export::policies_text;
use crate::decide::request::RequestSpec;
use crate::evaluator::log::{Attempt, Attempted, sha256_hex};
use crate::evaluator::scenario::{Expect, Runner};
use crate::report;
use crate::world::problem::Problem;
use std::path::{Path, PathBuf};

/// The arguments of `keyward apply`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub world: WorldArgs,
    #[command(flatten)]
    pub policy: PolicyArgs,
    #[command(flatten)]
    pub now: NowArg,
    #[command(flatten)]
    pub request: RequestArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: TextOrJson,
    /// Replace the world file with the new state (atomically, under its lock).
    #[arg(long)]
    pub write: bool,
    /// Append what was decided and done to this hash-chained log (with --write), durably,
    /// before the world file is replaced.
    #[arg(long, value_name = "FILE", requires = "write")]
    pub log: Option<PathBuf>,
}

/// Run `keyward apply` as parsed.
pub fn exec(a: Args) -> Outcome {
    let format = a.format.into();
    outcome(|| {
        let common = super::args::common(&a.world, &a.policy, Some(&a.now), format);
        Ok(apply_logged(
            &common,
            &a.request.spec()?,
            a.write,
            a.log.as_deref(),
        ))
    })
    .in_format(format)
}

/// Decide `spec` and carry it out if allowed; keep the change only with `write`.
pub fn apply(common: &Common, spec: &RequestSpec, write: bool) -> Outcome {
    apply_logged(common, spec, write, None)
}

/// [`apply`], appending the attempt to the write log `log` when given (with `write`).
pub fn apply_logged(
    common: &Common,
    spec: &RequestSpec,
    write: bool,
    log: Option<&Path>,
) -> Outcome {
    outcome(|| {
        let bundle = load_bundle(common)?;
        let Some(path) = &common.world else {
            return Err(Problem::arg("--world", "apply needs --world FILE").into());
        };
        super::writable(Some(path), write)?;
        // Held from reading the world to the rename, so concurrent writers serialise.
        let _lock = if write {
            Some(lock_for_write(path)?)
        } else {
            None
        };
        let before = match log {
            Some(_) => Some(file_sha256(path)?),
            None => None,
        };
        let w = super::read_world(path, &bundle.roles)?;
        let spec = &super::names::request(&w, spec)?;
        let mut runner = Runner::new(bundle, w, common.now.clone())?;
        runner.engine().translate(spec)?;
        let r = runner.request(spec);
        let Some(d) = &r.decision else {
            return Err(Outcome::usage(format!(
                "error: {}",
                r.failure.clone().unwrap_or_default()
            )));
        };
        let changes = r.effect.as_ref().map_or(&[][..], |e| e.changes.as_slice());
        let new_text = match write && !changes.is_empty() {
            true => Some(render_world(path, runner.world())?),
            false => None,
        };
        if let (Some(log), Some(before)) = (log, &before) {
            let after = new_text.as_ref().map(|t| sha256_hex(t.as_bytes()));
            let attempt = Attempt {
                what: Attempted::Request(d),
                changes,
                error: r.failure.as_deref(),
                policy_set_sha256: &sha256_hex(policies_text(runner.engine()).as_bytes()),
                world_sha256_before: before,
                world_sha256_after: after.as_ref().unwrap_or(before),
            };
            append_log(log, vec![attempt.entry()])?;
        }
        let mut written = false;
        if let Some(text) = &new_text {
            write_text(path, text)?;
            written = true;
        }
        let note = match (&r.effect, write, written) {
            (None, _, _) => None,
            (Some(e), _, _) if e.changes.is_empty() => None,
            (Some(_), true, true) => Some(format!("wrote {}", path.display())),
            (Some(_), _, _) => Some(super::dry_run(path, "the change")),
        };
        let stdout = match common.format {
            Format::Json => report::apply::json(&r, written),
            Format::Text => report::apply::text(&r, note),
        };
        Ok(Outcome {
            failure: None,
            stdout,
            stderr: r
                .failure
                .as_ref()
                .map(|f| format!("error: {f}\n"))
                .unwrap_or_default(),
            // Done, denied, or bad input / a failed operation.
            code: match r.got() {
                Expect::Allow => Exit::Ok,
                Expect::Deny => Exit::Deny,
                Expect::Fail => Exit::BadInput,
            },
        })
    })
}
