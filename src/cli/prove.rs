//! `keyward prove`: properties of the policies over every world, by the cvc5 solver:
//! `--against-policies` / `--against-variant` (compare), `--invariants`, `--never-errors`.
//! Exit 0 when every property holds, 3 when one does not (fails, or the solver could not
//! say), 1 on bad input or when cvc5 is missing.

use super::args::{PolicyArgs, TextOrJson, WorldArgs};
use super::{Common, Exit, Format, Outcome};
use crate::decide::policy::{self, PolicyOptions};
use crate::prove::{self, Plan, Side};
use crate::world::problem::Problem;
use std::path::PathBuf;
use std::time::Duration;

/// The arguments of `keyward prove`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: TextOrJson,
    /// Compare with these policy files or folders (repeatable) in place of the loaded ones.
    #[arg(long, value_name = "PATH", num_args = 1..)]
    pub against_policies: Vec<PathBuf>,
    /// Compare with the loaded policies plus this variant (repeatable).
    #[arg(long, value_name = "NAME")]
    pub against_variant: Vec<String>,
    /// Invariant permits (a .cedar file or a folder of them, repeatable) that bound what the
    /// policies may ever allow.
    #[arg(long, value_name = "FILE")]
    pub invariants: Vec<PathBuf>,
    /// Prove that no policy can raise an evaluation error on any schema-valid input.
    #[arg(long)]
    pub never_errors: bool,
    /// Where counterexample worlds are written (default: keyward-counterexamples in the
    /// system's temporary folder).
    #[arg(long, value_name = "DIR")]
    pub counterexamples: Option<PathBuf>,
    /// Time limit of each solver query, in seconds; a query past it reports "unknown".
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub timeout: u64,
    /// Queries run at once, each with its own solver (default: the number of cores).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
}

/// What `prove` is asked, as the library takes it.
#[derive(Debug, Clone, Default)]
pub struct ProveArgs {
    pub against_policies: Vec<PathBuf>,
    pub against_variants: Vec<String>,
    pub invariants: Vec<PathBuf>,
    pub never_errors: bool,
    pub counterexamples: Option<PathBuf>,
    pub timeout: Duration,
    pub jobs: Option<usize>,
}

/// Run `keyward prove` as parsed.
pub fn exec(a: Args) -> Outcome {
    let format = a.format.into();
    let p = ProveArgs {
        against_policies: a.against_policies,
        against_variants: a.against_variant,
        invariants: a.invariants,
        never_errors: a.never_errors,
        counterexamples: a.counterexamples,
        timeout: Duration::from_secs(a.timeout.max(1)),
        jobs: a.jobs,
    };
    // Proofs range over every world: no world file, no evaluation time.
    let common = super::args::common(&WorldArgs { world: None }, &a.policy, None, format);
    prove(&common, &p).in_format(format)
}

/// The flags that load these policy options again (for the `keyward check` commands).
fn flags(o: &PolicyOptions) -> Vec<String> {
    let mut out = Vec::new();
    for p in &o.policies {
        out.extend(["--policies".to_string(), p.display().to_string()]);
    }
    for v in &o.variants {
        out.extend(["--variant".to_string(), v.clone()]);
    }
    if let Some(s) = &o.schema {
        out.extend(["--schema".to_string(), s.display().to_string()]);
    }
    out
}

fn side(o: PolicyOptions) -> Result<Side, Outcome> {
    let bundle = policy::load(&o).map_err(Outcome::from)?;
    Ok(Side {
        bundle,
        flags: flags(&o),
    })
}

/// Prove what `p` asks about the policies `common` names.
pub fn prove(common: &Common, p: &ProveArgs) -> Outcome {
    let compare = !p.against_policies.is_empty() || !p.against_variants.is_empty();
    if !compare && p.invariants.is_empty() && !p.never_errors {
        return Outcome::usage(
            "error: say what to prove: --against-policies PATH, --against-variant NAME, \
             --invariants FILE or --never-errors"
                .to_string(),
        );
    }
    match plan(common, p, compare)
        .and_then(|plan| prove::prove(&plan).map_err(|e| Outcome::usage(format!("error: {e}"))))
    {
        Ok(report) => {
            let stdout = match common.format {
                Format::Json => crate::report::prove::json(&report),
                Format::Text => crate::report::prove::text(&report),
            };
            Outcome::new(
                stdout,
                if report.holds {
                    Exit::Ok
                } else {
                    Exit::Tripped
                },
            )
        }
        Err(o) => o,
    }
}

fn plan(common: &Common, p: &ProveArgs, compare: bool) -> Result<Plan, Outcome> {
    let base = side(common.policy.clone())?;
    let against = if compare {
        let mut o = common.policy.clone();
        if !p.against_policies.is_empty() {
            o.policies = p.against_policies.clone();
            o.variants = Vec::new();
        }
        o.variants.extend(p.against_variants.iter().cloned());
        Some(side(o)?)
    } else {
        None
    };
    let mut invariants = Vec::new();
    for file in invariant_files(&p.invariants)? {
        invariants.push(side(PolicyOptions {
            policies: vec![file],
            variants: Vec::new(),
            schema: common.policy.schema.clone(),
        })?);
    }
    let jobs = p.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    Ok(Plan {
        base,
        against,
        invariants,
        never_errors: p.never_errors,
        timeout: p.timeout,
        jobs,
        out_dir: p
            .counterexamples
            .clone()
            .unwrap_or_else(prove::confirm::default_dir),
    })
}

/// Each invariant file: the files given, and the `.cedar` files directly in a folder given
/// (each file is one rule, proved on its own: permits of different files never excuse each
/// other).
fn invariant_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Outcome> {
    let mut out = Vec::new();
    for p in paths {
        if !p.is_dir() {
            out.push(p.clone());
            continue;
        }
        let read = std::fs::read_dir(p).map_err(|e| {
            Outcome::from(Problem::arg(
                "--invariants",
                format!("cannot read {}: {e}", p.display()),
            ))
        })?;
        let mut files: Vec<PathBuf> = read
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|f| f.is_file() && f.extension().is_some_and(|x| x == "cedar"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(Problem::arg(
                "--invariants",
                format!("{} holds no .cedar file", p.display()),
            )
            .into());
        }
        out.extend(files);
    }
    Ok(out)
}
