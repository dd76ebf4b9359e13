//! `keyward findings`: the findings F1–F6 for a world, narrowed by `--rule` and `--account`.
//! Recommendations exit 0 whatever they are, unless `--fail-on` makes them a gate: exit 3 when
//! one of those rules is found (docs/cli.md, "Gates for pipelines"); 1 for bad input.
//!
//! Also owns which findings an audit shows under its filters ([`Selection`]), so that both
//! commands narrow findings the same way.

use super::args::{NowArg, PolicyArgs, TextOrJson, WorldArgs};
use super::{Common, Exit, Format, Outcome, load_engine, outcome};
use crate::audit::findings::{self as found, Finding};
use crate::decide::engine::Engine;
use crate::decide::request::RequestSpec;
use crate::report::findings::TITLES;
use crate::world::IdKind;
use crate::world::problem::Problem;

/// The arguments of `keyward findings`.
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
    #[command(flatten)]
    pub select: SelectArgs,
}

/// Which findings to show, and which make it fail.
#[derive(clap::Args, Clone, Default)]
pub struct SelectArgs {
    /// Only these rules (F1-F6; comma-separated or repeated).
    #[arg(long, value_name = "RULE", value_delimiter = ',')]
    pub rule: Vec<String>,
    /// Only findings about this account (an id, or a name naming one account).
    #[arg(long, value_name = "ACCOUNT")]
    pub account: Option<String>,
    /// A gate: exit 3 when a finding of these rules is shown (comma-separated; `any` for all).
    #[arg(long, value_name = "RULES", value_delimiter = ',')]
    pub fail_on: Vec<String>,
}

/// Run `keyward findings` as parsed.
pub fn exec(a: Args) -> Outcome {
    let format = a.format.into();
    findings_selected(
        &super::args::common(&a.world, &a.policy, Some(&a.now), format),
        &a.select,
    )
    .in_format(format)
}

/// Every finding of the world `common` names.
pub fn findings(common: &Common) -> Outcome {
    findings_selected(common, &SelectArgs::default())
}

/// The findings of the world `common` names that `select` keeps, and whether its gate trips.
pub fn findings_selected(common: &Common, select: &SelectArgs) -> Outcome {
    outcome(|| {
        let rules = rule_ids(&select.rule, "--rule", false)?;
        let fail_on = rule_ids(&select.fail_on, "--fail-on", true)?;
        let engine = load_engine(common)?;
        // Expiries are judged against `now`: a bad --now is bad input, not a guess.
        engine.now_for(&RequestSpec::default())?;
        let account = match &select.account {
            Some(a) => Some(super::names::account(&engine.tr.world, a)?),
            None => None,
        };
        let selection = Selection {
            rules,
            account,
            ..Selection::default()
        };
        let shown = selection.apply(&engine, found::findings(&engine));
        let stdout = match common.format {
            Format::Json => format!(
                "{}\n",
                serde_json::json!({"findings": crate::report::findings::findings_json(&shown)})
            ),
            Format::Text => crate::report::findings::findings_text(&shown),
        };
        let tripped = shown.iter().any(|f| fail_on.contains(&f.rule));
        let code = if tripped { Exit::Tripped } else { Exit::Ok };
        Ok(Outcome::new(stdout, code))
    })
}

/// Rule ids as given (`F4`, `f4`), checked against F1-F6; `any` stands for all when allowed.
fn rule_ids(given: &[String], flag: &str, any: bool) -> Result<Vec<&'static str>, Problem> {
    let mut out = Vec::new();
    for g in given.iter().map(|g| g.trim()) {
        if any && g.eq_ignore_ascii_case("any") {
            out.extend(TITLES.iter().map(|(r, _)| *r));
            continue;
        }
        match TITLES.iter().find(|(r, _)| r.eq_ignore_ascii_case(g)) {
            Some((r, _)) => out.push(*r),
            None => {
                let ids: Vec<&str> = TITLES.iter().map(|(r, _)| *r).collect();
                let any = if any { ", or any" } else { "" };
                return Err(Problem::arg(
                    flag,
                    format!("`{g}` is no finding rule; rules: {}{any}", ids.join(", ")),
                ));
            }
        }
    }
    Ok(out)
}

/// Which findings a command shows: `--rule` and `--account`, and an audit's `--principal` and
/// `--resource` (each id already resolved and known). A finding concerns its subject, its
/// account, and — when its subject is an API key — the key's identity. `--action` does not
/// narrow findings: a finding is about a key, an account or an identity, not an action.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Only these rules (all when empty).
    pub rules: Vec<&'static str>,
    /// Only findings whose account is this one.
    pub account: Option<String>,
    /// Only findings that concern this principal.
    pub principal: Option<String>,
    /// Only findings that concern this resource.
    pub resource: Option<String>,
}

impl Selection {
    /// The findings this selection keeps, in their order.
    pub fn apply(&self, engine: &Engine, all: Vec<Finding>) -> Vec<Finding> {
        let identity = |f: &Finding| match engine.tr.index.ids.get(&f.subject) {
            Some((IdKind::ApiKey, i)) => Some(engine.tr.world.api_keys[*i].identity.as_str()),
            _ => None,
        };
        let concerns = |f: &Finding, id: &str| {
            f.subject == id || f.account.as_deref() == Some(id) || identity(f) == Some(id)
        };
        all.into_iter()
            .filter(|f| self.rules.is_empty() || self.rules.contains(&f.rule))
            .filter(|f| self.account.is_none() || f.account == self.account)
            .filter(|f| self.principal.as_deref().is_none_or(|p| concerns(f, p)))
            .filter(|f| self.resource.as_deref().is_none_or(|r| concerns(f, r)))
            .collect()
    }
}
