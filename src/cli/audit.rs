//! `keyward audit`: every allowed (principal, action, resource), findings, or the change impact
//! against other policies, a variant or another world. Rows go straight to the output
//! (streamed for jsonl/csv/json), so huge audits never sit in memory.

use super::args::{Check, Checked, FormatArg, NowArg, PolicyArgs, WorldArgs};
use super::findings::Selection;
use super::{Common, Exit, Format, Outcome, load_engine, outcome};
use crate::audit::{self, AuditOptions, findings, impact};
use crate::decide::engine::Engine;
use crate::report::{AuditFormat, AuditWriter, GroupBy};
use crate::world::problem::Problem;
use clap::ValueEnum;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ByArg {
    Principal,
    Resource,
}

/// The arguments of `keyward audit`.
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
    pub format: FormatArg,
    #[command(flatten)]
    audit: AuditCli,
}

#[derive(clap::Args)]
struct AuditCli {
    /// Only this principal.
    #[arg(long, value_name = "ID", value_parser = Checked(Check::Id))]
    principal: Option<String>,
    /// Only this action.
    #[arg(long, value_name = "ACTION", value_parser = Checked(Check::Id))]
    action: Option<String>,
    /// Only this resource.
    #[arg(long, value_name = "ID", value_parser = Checked(Check::Id))]
    resource: Option<String>,
    /// Only requests acting in this account.
    #[arg(long, value_name = "ID", value_parser = Checked(Check::Id))]
    account: Option<String>,
    /// Group the text and markdown views by principal (what may each do) or by resource (who may).
    #[arg(long, value_enum, default_value = "principal")]
    by: ByArg,
    /// Add findings F1-F6 (the text report always has them), narrowed to the filters.
    #[arg(long)]
    findings: bool,
    /// Decide every candidate triple one by one with Cedar (slow; to cross-check).
    #[arg(long)]
    exhaustive: bool,
    /// Change impact: compare with these policy files or folders instead of the loaded ones.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    against_policies: Vec<PathBuf>,
    /// Change impact: compare with the loaded policies plus this variant.
    #[arg(long, value_name = "NAME")]
    against_variant: Vec<String>,
    /// Change impact: compare with another world.
    #[arg(long, value_name = "FILE")]
    against_world: Option<PathBuf>,
    /// A gate for change impact: exit 3 when any decision differs (0 when none).
    #[arg(long)]
    fail_on_change: bool,
    /// Never show progress on stderr.
    #[arg(long)]
    no_progress: bool,
    /// Write the report to this file instead of standard output (`-`: standard output).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// Options of `keyward audit`.
#[derive(Debug, Clone)]
pub struct AuditArgs {
    pub opts: AuditOptions,
    pub format: AuditFormat,
    pub by: GroupBy,
    /// Add findings F1-F6 (always in the text report).
    pub findings: bool,
    /// Compare with these policies instead of the loaded ones.
    pub against_policies: Vec<PathBuf>,
    /// Compare with the loaded policies plus these variants.
    pub against_variants: Vec<String>,
    /// Compare with another world.
    pub against_world: Option<PathBuf>,
    /// A gate: exit 3 when the change impact finds a decision that differs.
    pub fail_on_change: bool,
    /// Show progress on stderr (when it is a terminal) for audits over a second.
    pub progress: bool,
}

/// Run `keyward audit` as parsed, streaming to standard output.
pub fn exec(a: Args) -> Outcome {
    let format = match a.format {
        FormatArg::Text => AuditFormat::Text,
        FormatArg::Json => AuditFormat::Json,
        FormatArg::Jsonl => AuditFormat::Jsonl,
        FormatArg::Csv => AuditFormat::Csv,
        FormatArg::Markdown => AuditFormat::Markdown,
        FormatArg::Html => AuditFormat::Html,
    };
    // Progress goes to stderr when it is a terminal, whatever stdout is, except when stdout
    // is that terminal too and rows stream onto it (they would tear the bar); text and
    // markdown print only at the end.
    let streams = !matches!(format, AuditFormat::Text | AuditFormat::Markdown);
    let onto_bar = streams && std::io::stdout().is_terminal();
    let c = a.audit;
    // A JSON error object for the JSON formats (one line: a jsonl reader reads it too).
    let errors = match format {
        AuditFormat::Json | AuditFormat::Jsonl => Format::Json,
        _ => Format::Text,
    };
    let common = super::args::common(&a.world, &a.policy, Some(&a.now), errors);
    let dashes = [
        ("--world", common.world.as_deref()),
        ("--against-world", c.against_world.as_deref()),
    ];
    if let Err(o) = super::one_stdin(&dashes) {
        return o.in_format(errors);
    }
    let args = AuditArgs {
        opts: AuditOptions {
            principal: c.principal,
            action: c.action,
            resource: c.resource,
            account: c.account,
            exhaustive: c.exhaustive,
        },
        format,
        by: match c.by {
            ByArg::Resource => GroupBy::Resource,
            ByArg::Principal => GroupBy::Principal,
        },
        findings: c.findings,
        against_policies: c.against_policies,
        against_variants: c.against_variant,
        against_world: c.against_world,
        fail_on_change: c.fail_on_change,
        progress: !c.no_progress && !onto_bar && std::io::stderr().is_terminal(),
    };
    let mut out: Box<dyn Write> = match c.out.filter(|p| p.as_os_str() != "-") {
        Some(p) => match std::fs::File::create(&p) {
            Ok(f) => Box::new(std::io::BufWriter::new(f)),
            Err(e) => {
                return Outcome::from(Problem::arg(
                    "--out",
                    format!("cannot write {}: {e}", p.display()),
                ));
            }
        },
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    audit(&common, &args, &mut out).in_format(errors)
}

/// Progress on stderr: a spinner while a world loads, then a bar that appears after a
/// second, with an estimate of the time left once it can be trusted.
struct Progress {
    enabled: bool,
    bar: indicatif::ProgressBar,
    start: std::time::Instant,
}

/// The estimate of the time left is shown once this share of the work is done, and after
/// [`ETA_AFTER`]: the first pairs include warming up and say little about the rest.
const ETA_SHARE: f64 = 0.05;
const ETA_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

impl Progress {
    fn new(enabled: bool) -> Self {
        let bar = indicatif::ProgressBar::hidden();
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "auditing [{bar:30}] {percent:>3}%  {human_pos} of {human_len} (action, resource) pairs{msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Progress {
            enabled,
            bar,
            start: std::time::Instant::now(),
        }
    }

    /// A spinner saying what loads, until `work` returns.
    fn loading<T>(&self, what: &str, work: impl FnOnce() -> T) -> T {
        if !self.enabled {
            return work();
        }
        let spinner = indicatif::ProgressBar::new_spinner();
        spinner.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        spinner.set_message(format!("loading {what}"));
        spinner.enable_steady_tick(std::time::Duration::from_millis(120));
        let out = work();
        spinner.finish_and_clear();
        out
    }

    /// `done` of `total` (action, resource) pairs are audited.
    fn report(&self, done: usize, total: usize) {
        if !self.enabled {
            return;
        }
        let elapsed = self.start.elapsed();
        if self.bar.is_hidden() && elapsed > std::time::Duration::from_secs(1) {
            self.bar
                .set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
        self.bar.set_length(total as u64);
        self.bar.set_position(done as u64);
        let share = done as f64 / total.max(1) as f64;
        if share >= ETA_SHARE && elapsed >= ETA_AFTER && done < total {
            // Linear from the start of this phase: steady, unlike a rate of the last steps.
            let left = indicatif::HumanDuration(elapsed.mul_f64((1.0 - share) / share));
            self.bar.set_message(format!(", about {left} left"));
        }
        if done >= total {
            self.clear();
        }
    }

    fn clear(&self) {
        self.bar.finish_and_clear();
    }
}

/// The audit, or the change impact when any `--against-…` is given, written to `out`.
pub fn audit(common: &Common, a: &AuditArgs, out: &mut dyn Write) -> Outcome {
    outcome(|| {
        let impact = is_impact(a);
        if a.fail_on_change && !impact {
            return Err(Problem::arg(
                "--fail-on-change",
                "it gates a change impact: give --against-policies, --against-variant or --against-world",
            )
            .into());
        }
        let loading = Progress::new(a.progress);
        let what = common
            .world
            .as_ref()
            .map_or_else(|| "the world".to_string(), |w| w.display().to_string());
        let engine = loading.loading(&what, || load_engine(common))?;
        let filters = super::names::audit_filters(&engine.tr.world, &a.opts)?;
        let mut changed = None;
        if impact {
            let other = against_side(common, a);
            let other = loading.loading("the other side", || load_engine(&other))?;
            let changes = changes(&engine, &other, &filters, a)?;
            if a.format != AuditFormat::Html {
                return write_impact(&changes, a, out);
            }
            changed = Some(changes); // the page shows the impact beside the audit
        }
        let progress = Progress::new(a.progress);
        let legend = crate::report::audit::legend_json(engine.bundle.info.values());
        // The gate is judged before the page takes the changes.
        let tripped = gate(a, changed.as_deref());
        let mut writer = AuditWriter::new(&mut *out, a.format, a.by, legend)
            .map_err(Outcome::io)?
            .with_names(display_names(&engine.tr.world))
            .with_page(&engine, &filters, changed);
        let mut failed = None;
        let stats = audit::audit(
            &engine,
            &filters,
            |d| {
                if failed.is_none()
                    && let Err(e) = writer.row(d)
                {
                    if super::outcome::closed_pipe(&e) {
                        progress.clear();
                        super::outcome::end_on_closed_pipe();
                    }
                    failed = Some(e);
                }
            },
            &|done, total| progress.report(done, total),
        );
        progress.clear();
        if let Some(e) = failed {
            return Err(Outcome::io(e));
        }
        let stats = stats.map_err(|e| Problem::new("", Default::default(), "", e.to_string()))?;
        // The page always shows findings, as the text report does.
        let with_findings = a.findings || matches!(a.format, AuditFormat::Text | AuditFormat::Html);
        let shown =
            with_findings.then(|| selection(&filters).apply(&engine, findings::findings(&engine)));
        let tail = crate::report::audit::Tail {
            findings: shown.as_deref(),
            stats: &stats,
        };
        writer.finish(&tail).map_err(Outcome::io)?;
        Ok(Outcome::new(String::new(), tripped))
    })
}

/// Whether any `--against-…` asks for a change impact.
fn is_impact(a: &AuditArgs) -> bool {
    !a.against_policies.is_empty() || !a.against_variants.is_empty() || a.against_world.is_some()
}

/// The decisions that differ from `engine` to `other`, under the audit's filters.
fn changes(
    engine: &Engine,
    other: &Engine,
    filters: &AuditOptions,
    a: &AuditArgs,
) -> Result<Vec<impact::Change>, Outcome> {
    let progress = Progress::new(a.progress);
    let changes = impact::impact(engine, other, filters, &|d, t| progress.report(d, t));
    progress.clear();
    Ok(changes.map_err(|e| Problem::new("", Default::default(), "", e.to_string()))?)
}

/// The change impact as its own document, and the `--fail-on-change` gate.
fn write_impact(
    changes: &[impact::Change],
    a: &AuditArgs,
    out: &mut dyn Write,
) -> Result<Outcome, Outcome> {
    crate::report::impact::write(changes, a.format, out).map_err(Outcome::io)?;
    out.flush().map_err(Outcome::io)?;
    Ok(Outcome::new(String::new(), gate(a, Some(changes))))
}

/// Exit 3 when `--fail-on-change` is given and a decision differs.
fn gate(a: &AuditArgs, changes: Option<&[impact::Change]>) -> Exit {
    match (a.fail_on_change, changes) {
        (true, Some(c)) if !c.is_empty() => Exit::Tripped,
        _ => Exit::Ok,
    }
}

/// The findings an audit shows: those its filters concern (see [`Selection`]).
fn selection(filters: &AuditOptions) -> Selection {
    Selection {
        account: filters.account.clone(),
        principal: filters.principal.clone(),
        resource: filters.resource.clone(),
        ..Selection::default()
    }
}

/// The other side of a change impact: other policies, more variants, or another world.
fn against_side(common: &Common, a: &AuditArgs) -> Common {
    let mut other = common.clone();
    if !a.against_policies.is_empty() {
        other.policy.policies = a.against_policies.clone();
        other.policy.variants = Vec::new();
    }
    other
        .policy
        .variants
        .extend(a.against_variants.iter().cloned());
    if let Some(w) = &a.against_world {
        other.world = Some(w.clone());
    }
    other
}

/// The display names of the world's users, service IDs and accounts that have one.
fn display_names(w: &crate::world::World) -> std::collections::BTreeMap<String, String> {
    let ids = w.users.iter().map(|u| &u.id);
    let ids = ids.chain(w.service_ids.iter().map(|s| &s.id));
    let ids = ids.chain(w.accounts.iter().map(|a| &a.id));
    ids.filter_map(|id| Some((id.clone(), crate::world::names::display(w, id)?)))
        .collect()
}
