//! `keyward findings`: the findings F1–F6 for a world (recommendations: exit 0 whatever they
//! are; 1 for bad input).

use super::args::{NowArg, PolicyArgs, TextOrJson, WorldArgs};
use super::{Common, Exit, Format, Outcome, load_engine, outcome};
use crate::audit::findings as found;
use crate::decide::request::RequestSpec;

/// The arguments of `keyward findings` (each command owns its `Args` and `exec`, so the commands that
/// take only the common flags look alike on purpose).
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub world: WorldArgs,
    #[command(flatten)]
    pub policy: PolicyArgs,
    #[command(flatten)]
    pub now: NowArg,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: TextOrJson,
}

/// Run `keyward findings` as parsed.
pub fn exec(a: Args) -> Outcome {
    let format = a.format.into();
    findings(&super::args::common(
        &a.world,
        &a.policy,
        Some(&a.now),
        format,
    ))
    .in_format(format)
}

/// The findings of the world `common` names.
pub fn findings(common: &Common) -> Outcome {
    outcome(|| {
        let engine = load_engine(common)?;
        // Expiries are judged against `now`: a bad --now is bad input, not a guess.
        engine.now_for(&RequestSpec::default())?;
        let found = found::findings(&engine);
        let stdout = match common.format {
            Format::Json => format!(
                "{}\n",
                serde_json::json!({"findings": crate::report::findings::findings_json(&found)})
            ),
            Format::Text => crate::report::findings::findings_text(&found),
        };
        Ok(Outcome::new(stdout, Exit::Ok))
    })
}
