//! `keyward generate`: a valid, realistic world as YAML, the same for the same arguments.

use super::{Outcome, outcome};
use crate::decide::policy::{self, PolicyOptions};
use crate::report::text::count;
use crate::world::generate::{self as gen_world, GenerateOptions, KEY_LIMIT};
use crate::world::problem::Problem;
use std::path::PathBuf;

// The defaults make `keyward generate` alone a useful small world (a few seconds to audit),
// and a fixed default seed keeps it byte-identical from run to run.
/// The arguments of `keyward generate`.
#[derive(clap::Args)]
pub struct Args {
    /// Users, account owners and functional IDs included (1 to 1,000,000).
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub users: usize,
    /// API keys per user on average (at most 1,000); no identity gets more than 20 (R10).
    /// (users + service IDs) × min(K, 20) may not exceed 2,000,000.
    #[arg(long, value_name = "K", default_value_t = 3)]
    pub keys_per_user: usize,
    /// Service IDs, spread over the accounts (at most 100,000).
    #[arg(long, value_name = "S", default_value_t = 10)]
    pub service_ids: usize,
    /// Accounts (1 to 10,000).
    #[arg(long, value_name = "A", default_value_t = 3)]
    pub accounts: usize,
    /// The seed: the same arguments (defaults included) give byte-identical output.
    #[arg(long, value_name = "X", default_value_t = 42)]
    pub seed: u64,
    /// Write the world here instead of standard output (`-`: standard output).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The world's `now` (RFC 3339); 2026-11-23T12:00:00Z if absent.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// A Cedar schema file instead of the shipped one (its roles must include those generated).
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,
}

/// Run `keyward generate` as parsed.
pub fn exec(g: Args) -> Outcome {
    generate(
        &PolicyOptions {
            schema: g.schema,
            ..Default::default()
        },
        &GenerateOptions {
            users: g.users,
            keys_per_user: g.keys_per_user,
            service_ids: g.service_ids,
            accounts: g.accounts,
            seed: g.seed,
            now: g.now,
        },
        g.out.as_ref(),
    )
}

/// Generate the world `opts` describes; write it to `out` (a temporary file renamed) or print it.
pub fn generate(policy: &PolicyOptions, opts: &GenerateOptions, out: Option<&PathBuf>) -> Outcome {
    outcome(|| {
        let bundle = policy::load(policy)?;
        let world = gen_world::generate(opts, &bundle.roles)?;
        let text = gen_world::to_yaml(opts, &world);
        let mut stderr = String::new();
        if opts.keys_per_user > KEY_LIMIT {
            stderr.push_str(&format!(
                "note: --keys-per-user {} is capped at {KEY_LIMIT} keys per identity (R10)\n",
                opts.keys_per_user,
            ));
        }
        let Some(path) = out.filter(|p| !super::is_std(p)) else {
            return Ok(Outcome {
                stdout: text,
                stderr,
                ..Default::default()
            });
        };
        let tmp = path.with_extension("yaml.tmp");
        if let Err(e) = std::fs::write(&tmp, &text).and_then(|()| std::fs::rename(&tmp, path)) {
            let _ = std::fs::remove_file(&tmp);
            return Err(
                Problem::arg("--out", format!("cannot write {}: {e}", path.display())).into(),
            );
        }
        stderr.push_str(&format!(
            "wrote {}: {}, {}, {}, {}, {}\n",
            path.display(),
            count(world.accounts.len(), "account"),
            count(world.users.len(), "user"),
            count(world.service_ids.len(), "service ID"),
            count(world.api_keys.len(), "API key"),
            count(world.clusters.len(), "cluster")
        ));
        Ok(Outcome {
            stderr,
            ..Default::default()
        })
    })
}
