//! `keyward export`: the world as Cedar entities JSON, with a request `{"entities",
//! "request"}` for `cedar authorize`, and optionally the loaded policy set as one file
//! (`--policies-out -`: on standard output instead of the entities, one document per stream).
//! Its outputs are Cedar's own formats, so `--format` is `json` only.

use super::args::{ExportFormat, NowArg, OptionalRequestArgs, PolicyArgs, WorldArgs};
use super::{Common, Exit, Format, Outcome, load_engine, outcome};
use crate::decide::export;
use crate::decide::request::RequestSpec;
use crate::world::problem::Problem;
use std::path::PathBuf;

/// The arguments of `keyward export`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub world: WorldArgs,
    #[command(flatten)]
    pub policy: PolicyArgs,
    #[command(flatten)]
    pub now: NowArg,
    #[command(flatten)]
    pub request: OptionalRequestArgs,
    /// Also write the loaded policy set, as one Cedar file, here; `-` prints it on standard
    /// output instead of the entities (then --world may be left out).
    #[arg(long, value_name = "FILE")]
    pub policies_out: Option<PathBuf>,
    /// Output format: Cedar's JSON formats (the only one).
    #[arg(long, value_enum, default_value = "json")]
    pub format: ExportFormat,
}

/// Run `keyward export` as parsed.
pub fn exec(a: Args) -> Outcome {
    outcome(|| {
        if a.format == ExportFormat::Text {
            return Err(Problem::arg(
                "--format",
                "export prints Cedar's JSON formats only (entities, request), for tools: for people, `keyward audit` shows who may do what and `keyward check` one decision",
            )
            .into());
        }
        let common = super::args::common(&a.world, &a.policy, Some(&a.now), Format::Json);
        let spec = a.request.spec()?;
        Ok(export(&common, spec.as_ref(), a.policies_out.as_ref()))
    })
    .in_format(match a.format {
        ExportFormat::Json => Format::Json,
        ExportFormat::Text => Format::Text,
    })
}

/// Entities (and a request) in Cedar's formats; optionally the policy set.
pub fn export(
    common: &Common,
    spec: Option<&RequestSpec>,
    policies_out: Option<&PathBuf>,
) -> Outcome {
    outcome(|| {
        if policies_out.is_some_and(|p| super::is_std(p)) {
            return policies_to_stdout(common, spec.is_some());
        }
        let engine = load_engine(common)?;
        if let Some(path) = policies_out {
            std::fs::write(path, export::policies_text(&engine)).map_err(|e| {
                Problem::arg(
                    "--policies-out",
                    format!("cannot write {}: {e}", path.display()),
                )
            })?;
        }
        let entities = export::entities_json(&engine);
        let value = match spec {
            None => entities,
            Some(spec) => {
                let t = engine.translate(spec)?;
                serde_json::json!({"entities": entities, "request": export::request_json(&t)})
            }
        };
        let text = serde_json::to_string_pretty(&value).unwrap_or_default();
        Ok(Outcome::new(format!("{text}\n"), Exit::Ok))
    })
}

/// `--policies-out -`: the policy set alone on standard output. A request needs the entities,
/// which would make a second document on the same stream, so it is refused; without `--world`
/// the policies are loaded alone.
fn policies_to_stdout(common: &Common, request: bool) -> Result<Outcome, Outcome> {
    if request {
        return Err(Problem::arg(
            "--policies-out",
            "`-` prints the policy set on standard output, where a request's {\"entities\", \"request\"} would go too: give --policies-out FILE with a request",
        )
        .into());
    }
    let engine = match &common.world {
        Some(_) => load_engine(common)?,
        None => crate::decide::engine::Engine::new(
            super::load_bundle(common)?,
            crate::world::World::default(),
        )?,
    };
    Ok(Outcome::new(export::policies_text(&engine), Exit::Ok))
}
