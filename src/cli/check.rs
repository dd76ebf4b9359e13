//! `keyward check`: one decision, and with `--explain` what would change it. Exit 0 allow, 2
//! deny, 1 bad input.

use super::args::{NowArg, PolicyArgs, RequestArgs, TextOrJson, WorldArgs};
use super::{Common, Exit, Format, Outcome, load_engine, outcome};
use crate::decide::engine::Verdict;
use crate::decide::explain;
use crate::decide::request::RequestSpec;
use crate::report;
use crate::report::explain::Detail;

/// The arguments of `keyward check`.
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
    /// Say why: for a deny, which role grant would permit it and what would lift each forbid
    /// (each found by asking Cedar again with one change); for an allow, the permits and the
    /// forbids considered.
    #[arg(long)]
    pub explain: bool,
    /// --explain, and also the other permits that could apply (none of which one role makes
    /// apply), with each policy's doc.
    #[arg(long, short)]
    pub verbose: bool,
}

/// Run `keyward check` as parsed.
pub fn exec(a: Args) -> Outcome {
    let format = a.format.into();
    outcome(|| {
        let common = super::args::common(&a.world, &a.policy, Some(&a.now), format);
        let detail = match (a.explain, a.verbose) {
            (_, true) => Some(Detail::Verbose),
            (true, false) => Some(Detail::Short),
            (false, false) => None,
        };
        Ok(check_explained(&common, &a.request.spec()?, detail))
    })
    .in_format(format)
}

/// Decide one request and explain it.
pub fn check(common: &Common, spec: &RequestSpec) -> Outcome {
    check_explained(common, spec, None)
}

/// [`check`], with the "why (not)?" explanation when `detail` is given.
pub fn check_explained(common: &Common, spec: &RequestSpec, detail: Option<Detail>) -> Outcome {
    outcome(|| {
        let engine = load_engine(common)?;
        let spec = &super::names::request(&engine.tr.world, spec)?;
        let t = engine.translate(spec)?;
        // A plain check builds only the entities its request reaches; an explanation asks
        // Cedar again about changed requests and entities, so it needs them all.
        let d = match detail {
            None => engine.decide_sliced(&t),
            Some(_) => engine.decide_translated(&t),
        };
        let why = detail.map(|detail| {
            let opts = explain::Options {
                other_permits: detail == Detail::Verbose,
            };
            explain::explain(&engine, &t, d.decision, opts)
        });
        let stdout = match common.format {
            Format::Json => {
                let mut json = report::decision_json(&d);
                if let (Some(why), Some(fields)) = (&why, json.as_object_mut()) {
                    fields.insert("explain".into(), serde_json::json!(why));
                }
                format!("{json}\n")
            }
            Format::Text => {
                let mut s = report::decision_text_named(&d, &|id| {
                    crate::world::names::display(&engine.tr.world, id)
                });
                if let (Some(why), Some(detail)) = (&why, detail) {
                    s.push_str(&report::explain::explanation_text(why, detail));
                }
                s
            }
        };
        let code = match d.decision {
            Verdict::Allow => Exit::Ok,
            Verdict::Deny => Exit::Deny,
        };
        Ok(Outcome::new(stdout, code))
    })
}
