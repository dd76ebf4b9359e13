//! `keyward test`: decision test files (checks, matrices, scenarios) with failures located and
//! explained, then `N passed, M failed`, and coverage by policy and by rule.

use super::args::{Check, Checked, TextOrJson};
use super::{Exit, Format, Outcome};
use crate::decide::policy::PolicyOptions;
use crate::report;
use crate::testing::testrun::{self, TestOptions};
use crate::world::problem::Problem;
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
    #[arg(long, value_name = "TIME", value_parser = Checked(Check::Time))]
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
    pub format: TextOrJson,
}

/// Run `keyward test` as parsed.
pub fn exec(t: Args) -> Outcome {
    let format: Format = t.format.into();
    if t.min_coverage.is_some_and(|m| !(0.0..=100.0).contains(&m)) {
        let p = Problem::arg("--min-coverage", "a percentage from 0 to 100");
        return Outcome::from(p).in_format(format);
    }
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
    test(&opts, format, t.accept).in_format(format)
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
        Format::Json => {
            let mut v = report::testrun::json(&run, opts);
            // Files that could not run are bad input: the `error` object every command prints.
            let problems: Vec<Problem> = (run.problems.iter())
                .chain(run.files.iter().flat_map(|f| &f.problems))
                .cloned()
                .collect();
            if !problems.is_empty() {
                v["error"] = super::Failure::of(&problems).json()["error"].take();
            }
            format!("{v}\n")
        }
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
        failure: (!problems.is_empty()).then(|| super::Failure::of(&problems)),
    }
}
