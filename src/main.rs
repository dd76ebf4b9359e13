//! The `keyward` command line: argument parsing, then a call into the library.

use clap::{Args, Parser, Subcommand, ValueEnum};
use keyward::audit::AuditOptions;
use keyward::cli::{self, Common, EXIT_BAD_INPUT, Format, Outcome};
use keyward::decide::policy::PolicyOptions;
use keyward::decide::request::RequestSpec;
use keyward::report::{AuditFormat, GroupBy};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

/// Who may do what with API keys: IBM Cloud API-key governance as Cedar policies.
#[derive(Parser)]
#[command(name = "keyward", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Decide one request: exit 0 allow, 2 deny, 1 bad input.
    Check {
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        request: RequestArgs,
    },
    /// Decide one request and, if allowed, carry it out (a dry run unless --write): exit 0
    /// done, 2 denied, 1 bad input or failed (conflict, not found).
    Apply {
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        request: RequestArgs,
        /// Replace the world file with the new state (atomically, under its lock).
        #[arg(long)]
        write: bool,
    },
    /// Run a scenario script of requests and events; exit non-zero when an expectation fails.
    Run {
        /// The script (YAML): `world` and `steps`.
        #[arg(value_name = "SCRIPT")]
        script: PathBuf,
        #[command(flatten)]
        common: CommonArgs,
        /// Keep the final state in the world file (when every step met its expectation).
        #[arg(long)]
        write: bool,
    },
    /// Validate the policies against the schema (strict) and, with --world, the world file.
    Validate {
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Print the world as Cedar entities JSON; with a request, {"entities", "request"} for `cedar authorize`.
    Export {
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        request: OptionalRequestArgs,
        /// Also write the loaded policy set, as one Cedar file, here.
        #[arg(long, value_name = "FILE")]
        policies_out: Option<PathBuf>,
    },
    /// Who may do what: every allowed (principal, action, resource), exact; findings; or the
    /// decisions that change against other policies, a variant or another world.
    Audit {
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        audit: AuditCli,
    },
    /// Write a valid, realistic world as YAML, the same for the same arguments.
    Generate(GenerateArgs),
    /// Run decision test files (checks, matrices, scenarios): failures with file, line and the
    /// explanation, then `N passed, M failed`; policy and rule coverage. Exit 1 if any failed.
    Test(TestCli),
    /// Findings F1-F6 of RULES.md: risky cluster API keys, keys that never expire, accounts
    /// open to roleless members, identities near the key limit.
    Findings {
        #[command(flatten)]
        common: CommonArgs,
    },
    /// An IBM Cloud account (or several) as a world: from an export folder (--from) or the
    /// APIs (--fetch); the world on stdout or --out, a summary of what was dropped on stderr.
    Import(cli::import::ImportArgs),
}

#[derive(Args)]
struct GenerateArgs {
    /// Users, account owners and functional IDs included (at least 1).
    #[arg(long, value_name = "N")]
    users: usize,
    /// API keys per user on average; no identity gets more than 20 (R10).
    #[arg(long, value_name = "K")]
    keys_per_user: usize,
    /// Service IDs, spread over the accounts.
    #[arg(long, value_name = "S")]
    service_ids: usize,
    /// Accounts (at least 1).
    #[arg(long, value_name = "A")]
    accounts: usize,
    /// The seed: the same arguments give byte-identical output.
    #[arg(long, value_name = "X")]
    seed: u64,
    /// Write the world here instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// The world's `now` (RFC 3339); 2026-11-23T12:00:00Z if absent.
    #[arg(long, value_name = "TIME")]
    now: Option<String>,
    /// A Cedar schema file instead of the shipped one (its roles must include those generated).
    #[arg(long, value_name = "FILE")]
    schema: Option<PathBuf>,
}

#[derive(Args)]
struct TestCli {
    /// Test files, or folders searched recursively for *.yaml, *.yml and *.json.
    #[arg(value_name = "FILE|DIR", required = true)]
    paths: Vec<PathBuf>,
    /// Policy files or folders (repeatable); replace each file's `policies`.
    #[arg(long, value_name = "PATH")]
    policies: Vec<PathBuf>,
    /// Add a variant to each file's (repeatable).
    #[arg(long, value_name = "NAME")]
    variant: Vec<String>,
    /// A Cedar schema file instead of each file's (or the shipped one).
    #[arg(long, value_name = "FILE")]
    schema: Option<PathBuf>,
    /// Evaluation time (RFC 3339) where neither the file nor the request sets one.
    #[arg(long, value_name = "TIME")]
    now: Option<String>,
    /// Run only the tests whose name contains TEXT (the others are not counted).
    #[arg(long, value_name = "TEXT")]
    filter: Option<String>,
    /// Report, as a table, which policies determined no decision (file:line) and which rules no
    /// test exercised (every run prints the figures and the policy ids).
    #[arg(long)]
    coverage: bool,
    /// Fail when policy or rule coverage is below PCT percent (implies --coverage).
    #[arg(long, value_name = "PCT")]
    min_coverage: Option<f64>,
    /// For each file whose matrices differ, write FILE.new with the actual decisions in its
    /// matrices, to review; the test file itself is never changed.
    #[arg(long, conflicts_with = "accept")]
    update: bool,
    /// Replace each test file with its pending FILE.new (written by --update), after review.
    #[arg(long)]
    accept: bool,
    /// List every test, not only the failures.
    #[arg(long, short)]
    verbose: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: FormatArg,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ByArg {
    Principal,
    Resource,
}

#[derive(Args)]
struct AuditCli {
    /// Only this principal.
    #[arg(long, value_name = "ID")]
    principal: Option<String>,
    /// Only this action.
    #[arg(long, value_name = "ACTION")]
    action: Option<String>,
    /// Only this resource.
    #[arg(long, value_name = "ID")]
    resource: Option<String>,
    /// Only requests acting in this account.
    #[arg(long, value_name = "ID")]
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
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FormatArg {
    Text,
    Json,
    /// One JSON object per line (audit only).
    Jsonl,
    /// Comma-separated values (audit only).
    Csv,
    /// A Markdown table (audit only).
    Markdown,
}

#[derive(Args)]
struct CommonArgs {
    /// The world file (YAML or JSON).
    #[arg(long, value_name = "FILE")]
    world: Option<PathBuf>,
    /// Policy files or folders (repeatable); replaces the shipped base set.
    #[arg(long, value_name = "PATH")]
    policies: Vec<PathBuf>,
    /// Add a variant: a name under policies/variants/ (shipped or beside --policies) or a folder.
    #[arg(long, value_name = "NAME")]
    variant: Vec<String>,
    /// A Cedar schema file instead of the shipped one.
    #[arg(long, value_name = "FILE")]
    schema: Option<PathBuf>,
    /// Evaluation time (RFC 3339), overriding the world's `now`.
    #[arg(long, value_name = "TIME")]
    now: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: FormatArg,
}

impl CommonArgs {
    fn common(&self) -> Common {
        Common {
            world: self.world.clone(),
            policy: PolicyOptions {
                policies: self.policies.clone(),
                variants: self.variant.clone(),
                schema: self.schema.clone(),
            },
            now: self.now.clone(),
            format: match self.format {
                FormatArg::Json | FormatArg::Jsonl => Format::Json,
                _ => Format::Text,
            },
        }
    }
}

#[derive(Args)]
struct RequestArgs {
    /// The caller: a user or service ID id (for `login`, an API key id).
    #[arg(long, value_name = "ID")]
    principal: String,
    /// The action, e.g. api-key-create, api-key-delete, login, ks-api-key-reset.
    #[arg(long, value_name = "ACTION")]
    action: String,
    /// What it acts on (a key, user, service ID, account or cluster id).
    #[arg(long, value_name = "ID")]
    resource: Option<String>,
    /// An argument of the action (repeatable), e.g. --arg account=acme.
    #[arg(long = "arg", value_name = "NAME=VALUE", value_parser = parse_arg)]
    args: Vec<(String, String)>,
    /// The caller acts through a trusted profile.
    #[arg(long)]
    via_trusted_profile: bool,
}

#[derive(Args)]
struct OptionalRequestArgs {
    /// The caller: a user or service ID id (for `login`, an API key id).
    #[arg(long, value_name = "ID", requires = "action")]
    principal: Option<String>,
    /// The action.
    #[arg(long, value_name = "ACTION", requires = "principal")]
    action: Option<String>,
    /// What it acts on.
    #[arg(long, value_name = "ID")]
    resource: Option<String>,
    /// An argument of the action (repeatable).
    #[arg(long = "arg", value_name = "NAME=VALUE", value_parser = parse_arg)]
    args: Vec<(String, String)>,
    /// The caller acts through a trusted profile.
    #[arg(long)]
    via_trusted_profile: bool,
}

fn parse_arg(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected NAME=VALUE, got `{s}`")),
    }
}

fn spec(
    principal: String,
    action: String,
    resource: Option<String>,
    args: Vec<(String, String)>,
    via: bool,
) -> Result<RequestSpec, String> {
    let mut map = BTreeMap::new();
    for (k, v) in args {
        if map.insert(k.clone(), v).is_some() {
            return Err(format!("error: --arg {k} given twice"));
        }
    }
    Ok(RequestSpec {
        principal,
        action,
        resource,
        args: map,
        via_trusted_profile: via,
        now: None,
    })
}

/// `--format jsonl|csv|markdown` belong to `audit`; elsewhere they are a usage error.
fn audit_only_format(cmd: &Command) -> Option<&'static str> {
    let common = match cmd {
        Command::Check { common, .. }
        | Command::Apply { common, .. }
        | Command::Run { common, .. }
        | Command::Validate { common }
        | Command::Export { common, .. }
        | Command::Findings { common } => common,
        _ => return None,
    };
    match common.format {
        FormatArg::Jsonl => Some("jsonl"),
        FormatArg::Csv => Some("csv"),
        FormatArg::Markdown => Some("markdown"),
        _ => None,
    }
}

fn audit(common: CommonArgs, a: AuditCli) -> Outcome {
    use std::io::IsTerminal;
    let format = match common.format {
        FormatArg::Text => AuditFormat::Text,
        FormatArg::Json => AuditFormat::Json,
        FormatArg::Jsonl => AuditFormat::Jsonl,
        FormatArg::Csv => AuditFormat::Csv,
        FormatArg::Markdown => AuditFormat::Markdown,
    };
    // Progress only on a terminal, and not when a program reads json/jsonl from stdout.
    let machine = matches!(format, AuditFormat::Json | AuditFormat::Jsonl)
        && !std::io::stdout().is_terminal();
    let args = cli::AuditArgs {
        opts: AuditOptions {
            principal: a.principal,
            action: a.action,
            resource: a.resource,
            account: a.account,
            exhaustive: a.exhaustive,
        },
        format,
        by: if a.by == ByArg::Resource {
            GroupBy::Resource
        } else {
            GroupBy::Principal
        },
        findings: a.findings,
        against_policies: a.against_policies,
        against_variants: a.against_variant,
        against_world: a.against_world,
        progress: !a.no_progress && !machine && std::io::stderr().is_terminal(),
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    cli::audit(&common.common(), &args, &mut out)
}

fn run(cli: Cli) -> Outcome {
    let usage = |e: String| Outcome {
        stdout: String::new(),
        stderr: format!("{e}\n"),
        code: EXIT_BAD_INPUT,
    };
    if let Some(f) = audit_only_format(&cli.command) {
        return usage(format!(
            "error: --format {f} is only for `keyward audit`; use text or json"
        ));
    }
    match cli.command {
        Command::Audit { common, audit: a } => audit(common, a),
        Command::Check { common, request: r } => match spec(
            r.principal,
            r.action,
            r.resource,
            r.args,
            r.via_trusted_profile,
        ) {
            Ok(s) => cli::check(&common.common(), &s),
            Err(e) => usage(e),
        },
        Command::Apply {
            common,
            request: r,
            write,
        } => match spec(
            r.principal,
            r.action,
            r.resource,
            r.args,
            r.via_trusted_profile,
        ) {
            Ok(s) => cli::apply(&common.common(), &s, write),
            Err(e) => usage(e),
        },
        Command::Run {
            script,
            common,
            write,
        } => cli::run(&common.common(), &script, write),
        Command::Validate { common } => cli::validate(&common.common()),
        Command::Test(t) => {
            if let Some(f) = matches!(
                t.format,
                FormatArg::Jsonl | FormatArg::Csv | FormatArg::Markdown
            )
            .then_some("jsonl, csv or markdown")
            {
                return usage(format!(
                    "error: --format {f} is only for `keyward audit`; use text or json"
                ));
            }
            if t.min_coverage.is_some_and(|m| !(0.0..=100.0).contains(&m)) {
                return usage("error: --min-coverage is a percentage from 0 to 100".into());
            }
            let format = if t.format == FormatArg::Json {
                Format::Json
            } else {
                Format::Text
            };
            cli::test(
                &keyward::testing::testrun::TestOptions {
                    paths: t.paths,
                    policy: PolicyOptions {
                        policies: t.policies,
                        variants: t.variant,
                        schema: t.schema,
                    },
                    now: t.now,
                    filter: t.filter,
                    coverage: t.coverage,
                    min_coverage: t.min_coverage,
                    update: t.update,
                    verbose: t.verbose,
                },
                format,
                t.accept,
            )
        }
        Command::Findings { common } => cli::findings(&common.common()),
        Command::Import(a) => cli::import::import(&a),
        Command::Generate(g) => cli::generate(
            &PolicyOptions {
                schema: g.schema,
                ..Default::default()
            },
            &keyward::world::generate::GenerateOptions {
                users: g.users,
                keys_per_user: g.keys_per_user,
                service_ids: g.service_ids,
                accounts: g.accounts,
                seed: g.seed,
                now: g.now,
            },
            g.out.as_ref(),
        ),
        Command::Export {
            common,
            request: r,
            policies_out,
        } => {
            let s = match (r.principal, r.action) {
                (Some(p), Some(a)) => match spec(p, a, r.resource, r.args, r.via_trusted_profile) {
                    Ok(s) => Some(s),
                    Err(e) => return usage(e),
                },
                _ => None,
            };
            cli::export(&common.common(), s.as_ref(), policies_out.as_ref())
        }
    }
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_BAD_INPUT } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let out = run(cli);
    let _ = std::io::stdout().write_all(out.stdout.as_bytes());
    let _ = std::io::stderr().write_all(out.stderr.as_bytes());
    std::process::exit(out.code);
}
