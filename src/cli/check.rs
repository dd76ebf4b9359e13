//! `keyward check`: one decision. Exit 0 allow, 2 deny, 1 bad input.

use super::args::{CommonArgs, RequestArgs};
use super::{Common, Exit, Format, Outcome, load_engine, outcome};
use crate::decide::engine::Verdict;
use crate::decide::request::RequestSpec;
use crate::report;

/// The arguments of `keyward check`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub request: RequestArgs,
}

/// Run `keyward check` as parsed.
pub fn exec(a: Args) -> Outcome {
    outcome(|| {
        a.common.text_or_json()?;
        let common = a.common.common();
        Ok(check(&common, &a.request.spec()?))
    })
}

/// Decide one request and explain it.
pub fn check(common: &Common, spec: &RequestSpec) -> Outcome {
    outcome(|| {
        let engine = load_engine(common)?;
        let spec = &super::names::request(&engine.tr.world, spec)?;
        let d = engine.decide_once(spec)?;
        let stdout = match common.format {
            Format::Json => format!("{}\n", report::decision_json(&d)),
            Format::Text => report::decision_text_named(&d, &|id| {
                crate::world::names::display(&engine.tr.world, id)
            }),
        };
        let code = match d.decision {
            Verdict::Allow => Exit::Ok,
            Verdict::Deny => Exit::Deny,
        };
        Ok(Outcome::new(stdout, code))
    })
}
