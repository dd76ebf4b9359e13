//! A realised counterexample, believed only once keyward agrees: the world is written as a
//! file, loaded and validated as any world file is, and the request decided by keyward's own
//! engine under each side's policies. Gives the `keyward check` command that reproduces it.
//!
//! Owns writing counterexample worlds and re-deciding them. Must not: decide anything itself
//! (the verdicts are the engine's).
//!
//! May use: [`crate::prove::realise`], [`crate::decide`], [`crate::world`].

use super::realise::Realised;
use crate::decide::engine::{Engine, Verdict};
use crate::decide::policy::PolicyBundle;
use crate::decide::request::RequestSpec;
use std::path::{Path, PathBuf};

/// A loaded policy set and the flags that load it again on the command line.
#[derive(Debug, Clone)]
pub struct Side {
    pub bundle: PolicyBundle,
    /// `--policies …`, `--variant …`, `--schema …` as given (empty: the shipped set).
    pub flags: Vec<String>,
}

/// What a side should decide on the counterexample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    Allow,
    Deny,
    /// Deny because a policy raised an evaluation error.
    Error,
}

/// One `keyward check` command and what it should print.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    pub command: String,
    pub expect: Expect,
    /// What keyward decided (`allow`, `deny`, `error`), or why it could not.
    pub decided: String,
}

/// A counterexample written as a world, with its checks and whether keyward reproduces it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Counterexample {
    pub world: String,
    pub command: String,
    pub realisable: bool,
    pub checks: Vec<Check>,
    /// Why it is not realisable, or what had to be approximated.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Write the world under `dir` as `name.yaml`, re-decide the request under each side, and
/// say whether every side decides as expected.
pub fn confirm(r: &Realised, dir: &Path, name: &str, sides: &[(&Side, Expect)]) -> Counterexample {
    let path = dir.join(format!("{name}.yaml"));
    let mut notes = r.limits.clone();
    let written = std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&path, r.world.to_yaml()))
        .map_err(|e| format!("cannot write {}: {e}", path.display()));
    let mut checks = Vec::new();
    for (side, expect) in sides {
        let decided = match &written {
            Ok(()) => decide(&side.bundle, &path, &r.request),
            Err(e) => Err(e.clone()),
        };
        let decided = decided.unwrap_or_else(|why| {
            if !notes.contains(&why) {
                notes.push(why.clone());
            }
            format!("not decided: {why}")
        });
        checks.push(Check {
            command: command(&path, &r.request, &side.flags),
            expect: *expect,
            decided,
        });
    }
    let realisable = notes.is_empty() && checks.iter().all(|c| c.decided == word(c.expect));
    if !realisable && notes.is_empty() {
        for c in checks.iter().filter(|c| c.decided != word(c.expect)) {
            notes.push(format!(
                "keyward decides {} where the solver's store gives {}",
                c.decided,
                word(c.expect)
            ));
        }
    }
    Counterexample {
        world: path.display().to_string(),
        command: checks
            .first()
            .map(|c| c.command.clone())
            .unwrap_or_default(),
        realisable,
        checks,
        notes,
    }
}

fn word(e: Expect) -> &'static str {
    match e {
        Expect::Allow => "allow",
        Expect::Deny => "deny",
        Expect::Error => "error",
    }
}

/// What keyward decides for the request on the world file: `allow`, `deny` or `error`.
fn decide(bundle: &PolicyBundle, world: &Path, spec: &RequestSpec) -> Result<String, String> {
    let w = crate::world::load_world(world, &bundle.roles)
        .map_err(|p| format!("the world is not valid: {}", first_problem(&p)))?;
    let engine =
        Engine::new(bundle.clone(), w).map_err(|p| format!("the world: {}", first_problem(&p)))?;
    let d = engine
        .decide(spec)
        .map_err(|p| format!("the request is bad input: {}", p.message))?;
    Ok(match (d.decision, d.errors.is_empty()) {
        (_, false) => "error",
        (Verdict::Allow, true) => "allow",
        (Verdict::Deny, true) => "deny",
    }
    .to_string())
}

fn first_problem(p: &crate::world::problem::Problems) -> String {
    p.0.first().map(|p| p.to_string()).unwrap_or_default()
}

/// The `keyward check` command line for the request on `world`, with a side's flags.
pub fn command(world: &Path, spec: &RequestSpec, flags: &[String]) -> String {
    let mut words: Vec<String> = vec!["keyward".into(), "check".into()];
    words.push("--world".into());
    words.push(world.display().to_string());
    words.extend(["--principal".into(), spec.principal.clone()]);
    words.extend(["--action".into(), spec.action.clone()]);
    if let Some(r) = &spec.resource {
        words.extend(["--resource".into(), r.clone()]);
    }
    for (k, v) in &spec.args {
        words.extend(["--arg".into(), format!("{k}={v}")]);
    }
    if spec.via_trusted_profile {
        words.push("--via-trusted-profile".into());
    }
    words.extend(flags.iter().cloned());
    words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ")
}

/// A word as a POSIX shell reads it back: bare when it is plain, else single-quoted.
fn quote(w: &str) -> String {
    let plain = !w.is_empty()
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+".contains(c));
    if plain {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', r"'\''"))
    }
}

/// Where counterexample worlds go when `--counterexamples` is not given.
pub fn default_dir() -> PathBuf {
    std::env::temp_dir().join("keyward-counterexamples")
}
