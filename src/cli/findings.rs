//! `keyward findings`: the findings F1–F6 for a world (recommendations: exit 0 whatever they
//! are; 1 for bad input).

use super::args::CommonArgs;
use super::{Common, Exit, Format, Outcome, load_engine, outcome};
use crate::audit::findings as found;
use crate::decide::request::RequestSpec;

/// The arguments of `keyward findings` (each command owns its `Args` and `exec`, so the commands that
/// take only the common flags look alike on purpose).
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Run `keyward findings` as parsed.
pub fn exec(a: Args) -> Outcome {
    match a.common.text_or_json() {
        Ok(()) => findings(&a.common.common()),
        Err(o) => o,
    }
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
