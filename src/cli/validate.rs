//! `keyward validate`: the policies against the schema (strict) and, with `--world`, the world.

use super::args::{PolicyArgs, TextOrJson, WorldArgs};
use super::{Common, Exit, Format, Outcome};
use crate::decide::engine::Engine;
use crate::decide::policy::{self, PolicyBundle, PolicyInfo};
use crate::report::text::{count, plural};
use crate::world::problem::Problem;
use crate::world::yaml::Pos;

/// The arguments of `keyward validate`: no `--now`, since nothing here is decided.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub world: WorldArgs,
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: TextOrJson,
}

/// Run `keyward validate` as parsed.
pub fn exec(a: Args) -> Outcome {
    validate(&super::args::common(
        &a.world,
        &a.policy,
        None,
        a.format.into(),
    ))
}

/// Every problem of the policies and the world, or what was validated.
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
            "ok: {} from {} validate against {} (strict)",
            plural(b.info.len(), "policy", "policies"),
            count(b.sources.len(), "file"),
            b.schema_source.name
        ));
        for p in b.info.values() {
            problems.extend(annotation_problems(p));
        }
        warnings = b.warnings.clone();
        if let Some(path) = &common.world {
            match world_line(b, path) {
                Ok((l, w)) => {
                    lines.push(l);
                    warnings.extend(w);
                }
                Err(p) => problems.extend(p),
            }
        }
    }
    let stdout = match common.format {
        Format::Json => {
            let mut v = serde_json::json!({
                "valid": problems.is_empty(),
                "policies": bundle.as_ref().map(|b| b.info.len()).unwrap_or(0),
                "problems": problems,
                "warnings": warnings,
            });
            // Bad input reads as every command's: the same `error` object beside the report.
            if !problems.is_empty() {
                v["error"] = super::Failure::of(&problems).json()["error"].take();
            }
            format!("{v}\n")
        }
        Format::Text => crate::report::validate::text(&problems, &warnings, &lines),
    };
    Outcome::new(stdout, Exit::ok_if(problems.is_empty()))
}

/// A policy must name its rules and say what it does.
fn annotation_problems(p: &PolicyInfo) -> Vec<Problem> {
    let at = Pos {
        line: p.line,
        col: 1,
    };
    let mut out = Vec::new();
    if p.rules.is_empty() {
        out.push(Problem::new(
            &p.file,
            at,
            "@rule",
            format!("policy `{}` names no rule", p.id),
        ));
    }
    if p.doc.is_empty() {
        out.push(Problem::new(
            &p.file,
            at,
            "@doc",
            format!("policy `{}` has no @doc sentence", p.id),
        ));
    }
    out
}

/// The world's summary line and warnings, or its problems (loading, then building its
/// entities).
fn world_line(
    b: &PolicyBundle,
    path: &std::path::Path,
) -> Result<(String, Vec<Problem>), Vec<Problem>> {
    let (w, warnings) = super::read_world_warned(path, &b.roles).map_err(|p| p.0)?;
    let e = Engine::new(b.clone(), w).map_err(|p| p.0)?;
    let w = &e.tr.world;
    let line = format!(
        "ok: world {} is valid ({}, {}, {}, {})",
        match super::is_std(path) {
            true => super::STDIN_NAME.into(),
            false => path.display().to_string(),
        },
        count(w.accounts.len(), "account"),
        count(w.users.len(), "user"),
        count(w.service_ids.len(), "service ID"),
        count(w.api_keys.len(), "API key")
    );
    Ok((line, warnings))
}
