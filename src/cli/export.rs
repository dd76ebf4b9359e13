//! `keyward export`: the world as Cedar entities JSON, with a request `{"entities",
//! "request"}` for `cedar authorize`, and optionally the loaded policy set as one file.

use super::args::{CommonArgs, OptionalRequestArgs};
use super::{Common, Exit, Outcome, load_engine, outcome};
use crate::decide::export;
use crate::decide::request::RequestSpec;
use crate::world::problem::Problem;
use std::path::PathBuf;

/// The arguments of `keyward export`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub request: OptionalRequestArgs,
    /// Also write the loaded policy set, as one Cedar file, here.
    #[arg(long, value_name = "FILE")]
    pub policies_out: Option<PathBuf>,
}

/// Run `keyward export` as parsed.
pub fn exec(a: Args) -> Outcome {
    outcome(|| {
        a.common.text_or_json()?;
        let spec = a.request.spec()?;
        Ok(export(
            &a.common.common(),
            spec.as_ref(),
            a.policies_out.as_ref(),
        ))
    })
}

/// Entities (and a request) in Cedar's formats; optionally the policy set.
pub fn export(
    common: &Common,
    spec: Option<&RequestSpec>,
    policies_out: Option<&PathBuf>,
) -> Outcome {
    outcome(|| {
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
