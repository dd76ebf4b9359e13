//! Stage 6, **the command line**: one file per command, its clap arguments beside the
//! function that runs it, each function taking options and returning an [`Outcome`] (what to
//! print and the typed [`Exit`] status), so tests call exactly what the binary runs.
//!
//! Owns arguments, which stages a command calls in which order, the world file's lock and
//! write around a change, and exit statuses.
//!
//! Must not: decide, compute or format (that is every stage below it; formatting is
//! [`crate::report`]'s).
//!
//! May use: every other stage.

pub mod apply;
pub mod args;
pub mod audit;
pub mod check;
pub mod export;
pub mod findings;
pub mod generate;
pub mod import;
pub mod log;
pub mod names;
pub mod outcome;
pub mod prove;
pub mod run;
pub mod test;
pub mod validate;

pub use apply::apply;
pub use audit::{AuditArgs, audit};
pub use check::check;
pub use export::export;
pub use findings::findings;
pub use generate::generate;
pub use outcome::{Exit, Outcome, outcome};
pub use run::run;
pub use test::test;
pub use validate::validate;

use crate::decide::engine::Engine;
use crate::decide::policy::{self, PolicyBundle, PolicyOptions};
use crate::evaluator::store;
use crate::world::problem::{Problem, Problems};
use crate::world::{self, World};
use std::path::{Path, PathBuf};

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

/// The new state as the world file will hold it: in the file's own format (a JSON world
/// stays JSON, anything else is written as YAML).
fn render_world(path: &Path, w: &World) -> Result<String, Outcome> {
    render_like(path, w)
        .map_err(|e| Problem::arg("--write", format!("cannot serialise the world: {e}")).into())
}

/// Replace the world file with this text (atomically).
fn write_text(path: &Path, text: &str) -> Result<(), Outcome> {
    store::write_atomic(path, text).map_err(|e| {
        Problem::arg(
            "--write",
            format!("cannot write {}: {e}; it is unchanged", path.display()),
        )
        .into()
    })
}

/// The sha256 of the world file as it is now (read under the writers' lock).
fn file_sha256(path: &Path) -> Result<String, Outcome> {
    std::fs::read(store::resolve(path))
        .map(|b| crate::evaluator::log::sha256_hex(&b))
        .map_err(|e| Problem::arg("--world", format!("cannot read {}: {e}", path.display())).into())
}

/// Append attempts to the write log, durably, before the world file is replaced.
fn append_log(
    log: &Path,
    entries: Vec<serde_json::Map<String, serde_json::Value>>,
) -> Result<(), Outcome> {
    crate::evaluator::log::append(log, entries).map_err(|e| {
        Problem::arg(
            "--log",
            format!(
                "cannot append to {}: {e}; the world is unchanged",
                log.display()
            ),
        )
        .into()
    })
}

/// The world as the file at `path` is written: JSON when its text is a JSON object.
fn render_like(path: &Path, w: &World) -> Result<String, serde_json::Error> {
    let is_json = std::fs::read(path)
        .ok()
        .and_then(|b| b.iter().copied().find(|c| !c.is_ascii_whitespace()))
        == Some(b'{');
    if is_json {
        Ok(serde_json::to_string_pretty(w)? + "\n")
    } else {
        Ok(w.to_yaml())
    }
}
