//! `keyward test`: decision test files (checks, matrices, scenarios) with failures located and
//! explained, then `N passed, M failed`, and coverage by policy and by rule.

use super::args::FormatArg;
use super::{Exit, Format, Outcome};
use crate::decide::policy::PolicyOptions;
use crate::report;
use crate::testing::testrun::{self, TestOptions};
use std::path::PathBuf;

/// The arguments of `keyward test`. Its policy and time flags are not `CommonArgs`: each
/// replaces or adds to what every test file names itself, and the help says so.
#[derive(clap::Args)]
pub struct Args {
    /// Test files, or folders searched recursively for *.yaml, *.yml and *.json.
    #[arg(value_name = "FILE|DIR", required = true)]
    pub paths: Vec<PathBuf>,
    /// Policy files or folders (repeatable); replace each file's `policies`.
    #[arg(long, value_name = "PATH")]
    pub policies: Vec<PathBuf>,
    /// Add a variant to each file's (repeatable).
    #[arg(long, value_name = "NAME")]
    pub variant: Vec<String>,
    /// A Cedar schema file instead of each file's (or the shipped one).
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,
    /// Evaluation time (RFC 3339) where neither the file nor the request sets one.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// Run only the tests whose name contains TEXT (the others are not counted).
    #[arg(long, value_name = "TEXT")]
    pub filter: Option<String>,
    /// Report, as a table, which policies determined no decision (file:line) and which rules no
    /// test exercised (every run prints the figures and the policy ids).
    #[arg(long)]
    pub coverage: bool,
    /// Fail when policy or rule coverage is below PCT percent (implies --coverage).
    #[arg(long, value_name = "PCT")]
    pub min_coverage: Option<f64>,
    /// For each file whose matrices differ, write FILE.new with the actual decisions in its
    /// matrices, to review; the test file itself is never changed.
    #[arg(long, conflicts_with = "accept")]
    pub update: bool,
    /// Replace each test file with its pending FILE.new (written by --update), after review.
    #[arg(long)]
    pub accept: bool,
    /// List every test, not only the failures.
    #[arg(long, short)]
    pub verbose: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: FormatArg,
}

/// Run `keyward test` as parsed.
pub fn exec(t: Args) -> Outcome {
    if t.format.audit_only().is_some() {
        return Outcome::usage(
            "error: --format jsonl, csv or markdown is only for `keyward audit`; use text or json"
                .into(),
        );
    }
    if t.min_coverage.is_some_and(|m| !(0.0..=100.0).contains(&m)) {
        return Outcome::usage("error: --min-coverage is a percentage from 0 to 100".into());
    }
    let format = if t.format == FormatArg::Json {
        Format::Json
    } else {
        Format::Text
    };
    let opts = TestOptions {
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
    };
    test(&opts, format, t.accept)
}

/// Run the test files. Exit 0 when every test passed (and coverage is not below
/// `--min-coverage`), 1 otherwise or on bad input. With `accept`, pending `FILE.new` files
/// written by `--update` replace their test files instead.
pub fn test(opts: &TestOptions, format: Format, accept: bool) -> Outcome {
    if accept {
        return accept_pending(opts);
    }
    let run = testrun::run(opts);
    let stdout = match format {
        Format::Json => format!("{}\n", report::testrun::json(&run, opts)),
        Format::Text => report::testrun::text(&run, opts),
    };
    Outcome::new(stdout, Exit::ok_if(testrun::passed(&run, opts)))
}

fn accept_pending(opts: &TestOptions) -> Outcome {
    let (done, problems) = testrun::accept(&opts.paths, &opts.policy);
    let mut stdout: String = done
        .iter()
        .map(|a| format!("{}\n", report::testrun::accepted(a)))
        .collect();
    if done.is_empty() && problems.is_empty() {
        stdout.push_str("nothing to accept: no pending FILE.new beside the test files\n");
    }
    Outcome {
        stdout,
        stderr: problems.iter().map(|p| format!("error: {p}\n")).collect(),
        code: Exit::ok_if(problems.is_empty()),
    }
}
