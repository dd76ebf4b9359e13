//! `keyward audit`: every allowed (principal, action, resource), findings, or the change impact
//! against other policies, a variant or another world. Rows go straight to the output
//! (streamed for jsonl/csv/json), so huge audits never sit in memory.

use super::args::{Check, Checked, FormatArg, NowArg, PolicyArgs, WorldArgs};
use super::{Common, Format, Outcome, load_engine, outcome};
use crate::audit::{self, AuditOptions, findings, impact};
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
    /// Add findings F1-F6 (the text report always has them).
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
    // Progress only on a terminal, and not when a program reads json/jsonl from stdout.
    let machine = matches!(format, AuditFormat::Json | AuditFormat::Jsonl)
        && !std::io::stdout().is_terminal();
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
        progress: !c.no_progress && !machine && std::io::stderr().is_terminal(),
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

/// A progress bar on stderr that appears only after a second, and only when asked for.
fn progress_bar(enabled: bool) -> impl Fn(usize, usize) + Sync {
    let start = std::time::Instant::now();
    let bar = indicatif::ProgressBar::hidden();
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} groups ({eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let shown = std::sync::atomic::AtomicBool::new(false);
    move |done: usize, total: usize| {
        if !enabled {
            return;
        }
        if !shown.load(std::sync::atomic::Ordering::Relaxed)
            && start.elapsed() > std::time::Duration::from_secs(1)
        {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            shown.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        if done >= total {
            bar.finish_and_clear();
        }
    }
}

/// The audit, or the change impact when any `--against-…` is given, written to `out`.
pub fn audit(common: &Common, a: &AuditArgs, out: &mut dyn Write) -> Outcome {
    outcome(|| {
        let engine = load_engine(common)?;
        let filters = super::names::audit_filters(&engine.tr.world, &a.opts)?;
        let progress = progress_bar(a.progress);
        let mut changed = None;
        if !a.against_policies.is_empty()
            || !a.against_variants.is_empty()
            || a.against_world.is_some()
        {
            let other = load_engine(&against(common, a))?;
            let changes = impact::impact(&engine, &other, &filters, &progress)
                .map_err(|e| Problem::new("", Default::default(), "", e.to_string()))?;
            if a.format != AuditFormat::Html {
                crate::report::impact::write(&changes, a.format, out).map_err(Outcome::io)?;
                return Ok(Outcome::default());
            }
            changed = Some(changes); // the page shows the impact beside the audit
        }
        let mut writer = AuditWriter::new(&mut *out, a.format, a.by)
            .map_err(Outcome::io)?
            .with_names(display_names(&engine.tr.world))
            .with_page(&engine, &filters, changed);
        let mut failed = None;
        let stats = audit::audit(
            &engine,
            &filters,
            |d| {
                if failed.is_none() {
                    if let Err(e) = writer.row(d) {
                        failed = Some(e);
                    }
                }
            },
            &progress,
        );
        if let Some(e) = failed {
            return Err(Outcome::io(e));
        }
        let stats = stats.map_err(|e| Problem::new("", Default::default(), "", e.to_string()))?;
        let with_findings = a.findings || matches!(a.format, AuditFormat::Text | AuditFormat::Html);
        let found = if with_findings {
            findings::findings(&engine)
        } else {
            Vec::new()
        };
        let mut json_extra = serde_json::Map::new();
        let mut text_extra = String::new();
        if with_findings {
            json_extra.insert(
                "findings".into(),
                crate::report::findings::findings_json(&found),
            );
            text_extra = format!("\n{}", crate::report::findings::findings_text(&found));
        }
        json_extra.insert("stats".into(), serde_json::Value::String(stats.summary()));
        writer.errored(stats.errored());
        writer
            .finish(json_extra, &text_extra)
            .map_err(Outcome::io)?;
        if a.findings {
            crate::report::findings::write_after_rows(&found, a.format, out)
                .map_err(Outcome::io)?;
        }
        Ok(Outcome::default())
    })
}

/// The other side of a change impact: other policies, more variants, or another world.
fn against(common: &Common, a: &AuditArgs) -> Common {
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
