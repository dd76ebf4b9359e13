//! Stage 6, **the command line**: one file per command, its clap arguments beside the
//! function that runs it, each function taking options and returning an [`Outcome`] (what to
//! print and the typed [`Exit`] status), so tests call exactly what the binary runs.
//!
//! Owns arguments, which stages a command calls in which order, the standard streams behind
//! `-` (a world read from standard input is parsed by [`crate::world::parse_world`] under the
//! name `<stdin>`), the world file's lock and write around a change, and exit statuses.
//!
//! Must not: decide, compute or format (that is every stage below it; formatting is
//! [`crate::report`]'s).
//!
//! May use: every other stage.

pub mod apply;
pub mod args;
pub mod audit;
pub mod check;
pub mod docs;
pub mod export;
pub mod findings;
pub mod fmt;
pub mod generate;
pub mod import;
pub mod log;
pub mod names;
pub mod outcome;
pub mod prove;
pub mod run;
pub mod schema;
pub mod test;
pub mod validate;

pub use apply::apply;
pub use audit::{AuditArgs, audit};
pub use check::check;
pub use export::export;
pub use findings::findings;
pub use generate::generate;
pub use outcome::{Exit, Failure, Outcome, outcome};
pub use run::run;
pub use test::test;
pub use validate::validate;

use crate::decide::engine::Engine;
use crate::decide::policy::{self, PolicyBundle, PolicyOptions};
use crate::evaluator::store;
use crate::world::problem::{Problem, Problems};
use crate::world::{self, RoleCatalog, World};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

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
    let world = read_world(path, &bundle.roles)?;
    let mut engine = Engine::new(bundle, world)?;
    engine.now_override = common.now.clone();
    Ok(engine)
}

/// The file name of standard input in problems: `<stdin>:line:column`.
pub const STDIN_NAME: &str = "<stdin>";

/// Whether a path flag's value is `-`: standard input (`--world`) or output (`--out`, …).
pub fn is_std(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Standard input as text, read once for the whole process: every `-` reader of one run (an
/// audit loads its world for each side of a comparison) sees the same text.
fn stdin_text() -> Result<String, Problems> {
    static TEXT: OnceLock<Result<String, Problem>> = OnceLock::new();
    TEXT.get_or_init(|| {
        use std::io::Read;
        let mut bytes = Vec::new();
        let at = crate::world::yaml::Pos::default();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| Problem::new(STDIN_NAME, at, "", format!("cannot read: {e}")))?;
        let text = world::problem::decode_text(&bytes)
            .map_err(|(pos, msg)| Problem::new(STDIN_NAME, pos, "", msg))?;
        // Fail closed: a producer that failed upstream of a pipe must not read as an empty world.
        match text.trim().is_empty() {
            true => Err(Problem::new(
                STDIN_NAME,
                at,
                "",
                "standard input is empty: `--world -` expects a world (YAML or JSON) piped in",
            )),
            false => Ok(text),
        }
    })
    .clone()
    .map_err(Problems::one)
}

/// Read and validate the world `path` names: the file, or standard input for `-`.
pub fn read_world(path: &Path, roles: &RoleCatalog) -> Result<World, Problems> {
    match is_std(path) {
        true => world::parse_world(STDIN_NAME, &stdin_text()?, roles),
        false => world::load_world(path, roles),
    }
}

/// [`read_world`], with the warnings of a valid world.
pub fn read_world_warned(
    path: &Path,
    roles: &RoleCatalog,
) -> Result<(World, Vec<Problem>), Problems> {
    match is_std(path) {
        true => world::parse_world_warned(STDIN_NAME, &stdin_text()?, roles),
        false => world::load_world_warned(path, roles),
    }
}

/// A writing command (`--write`) needs a world file to write back to: `--world -` has none.
fn writable(world: Option<&Path>, write: bool) -> Result<(), Outcome> {
    match world {
        Some(p) if write && is_std(p) => Err(Problem::arg(
            "--world",
            "`-` reads the world from standard input, which cannot be written back: give --world FILE with --write (or drop --write for a dry run)",
        )
        .into()),
        _ => Ok(()),
    }
}

/// The note of a dry run that changed the world at `path` (`kept`: what `--write` would keep).
fn dry_run(path: &Path, kept: &str) -> String {
    match is_std(path) {
        true => format!(
            "dry run: the world came from standard input and is written nowhere (--write with --world FILE keeps {kept})"
        ),
        false => format!(
            "dry run: {} is unchanged (--write keeps {kept})",
            path.display()
        ),
    }
}

/// Standard input can feed one flag only: refuse a second `-` (naming both flags).
pub fn one_stdin(flags: &[(&str, Option<&Path>)]) -> Result<(), Outcome> {
    let dashes: Vec<&str> = flags
        .iter()
        .filter(|(_, p)| p.is_some_and(is_std))
        .map(|(f, _)| *f)
        .collect();
    match dashes.as_slice() {
        [first, second, ..] => Err(Problem::arg(
            second,
            format!("`-` is standard input, which {first} - already reads: give a file here"),
        )
        .into()),
        _ => Ok(()),
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
