//! `keyward import`: an IBM Cloud account (or several) as a world, from an export folder
//! (`--from DIR`) or straight from IBM's APIs (`--fetch`). Its arguments live beside it.
//!
//! Owns the command's arguments, where the world and the summary go, and the exit status.
//! Must not map or fetch anything itself: [`crate::import`] does. May use every stage below.

use super::{Exit, Outcome};
use crate::decide::policy::{self, PolicyOptions};
use crate::evaluator::store;
use crate::import::{self, ImportError, Imported, OverlaySource, fetch};
use std::path::PathBuf;

/// The environment variable `--fetch` reads the API key from (never an argument).
pub const API_KEY_VAR: &str = "IBMCLOUD_API_KEY";

/// The arguments of `keyward import`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ImportArgs {
    /// The export: one folder per account, named by its id (docs/import.md lists the files).
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with = "fetch",
        required_unless_present = "fetch"
    )]
    pub from: Option<PathBuf>,
    /// Read the accounts straight from IBM's APIs, with the API key in IBMCLOUD_API_KEY.
    #[arg(long, requires = "account")]
    pub fetch: bool,
    /// An account to fetch (repeatable).
    #[arg(long, value_name = "ID")]
    pub account: Vec<String>,
    /// One base URL for every IBM service (tests, private endpoints); default: IBM's public ones.
    #[arg(long, value_name = "URL", requires = "fetch")]
    pub api_base: Option<String>,
    /// Write every fetched response here, in the `--from` layout, to replay offline.
    #[arg(long, value_name = "DIR", requires = "fetch")]
    pub save_raw: Option<PathBuf>,
    /// A world-format fragment merged over the import by id: what the APIs cannot say.
    #[arg(long, value_name = "FILE")]
    pub overlay: Option<PathBuf>,
    /// Write the world here (`-` for standard output, the default).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Exit 1 when anything was dropped or could not be mapped.
    #[arg(long)]
    pub strict: bool,
    /// A Cedar schema file instead of the shipped one (its roles are the ones mapped).
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,
}

fn failed(stderr: String) -> Outcome {
    Outcome {
        stderr,
        code: Exit::BadInput,
        ..Default::default()
    }
}

/// `keyward import`: the world on standard output (or `--out`), the summary on standard
/// error. Exit 0 done, 1 bad input (located) or, with `--strict`, anything dropped.
pub fn import(args: &ImportArgs) -> Outcome {
    let bundle = match policy::load(&PolicyOptions {
        schema: args.schema.clone(),
        ..Default::default()
    }) {
        Ok(b) => b,
        Err(p) => return p.into(),
    };
    let overlay_text = match &args.overlay {
        None => None,
        Some(p) => match std::fs::read_to_string(p) {
            Ok(t) => Some((p.display().to_string(), t)),
            Err(e) => return failed(format!("error: {}: cannot read: {e}\n", p.display())),
        },
    };
    let overlay = overlay_text
        .as_ref()
        .map(|(file, text)| OverlaySource { file, text });
    let result = match (&args.from, args.fetch) {
        (Some(dir), _) => import::import_dir(dir, overlay, &bundle.roles),
        (None, _) => fetch_and_import(args, overlay, &bundle.roles),
    };
    match result {
        Ok(imported) => finish(args, &imported),
        Err(e) => failed(format!("{e}\n")),
    }
}

fn fetch_and_import(
    args: &ImportArgs,
    overlay: Option<OverlaySource>,
    roles: &crate::world::RoleCatalog,
) -> Result<Imported, ImportError> {
    let key = std::env::var(API_KEY_VAR).unwrap_or_default();
    if key.is_empty() {
        return Err(fetch::FetchError::new(format!(
            "--fetch needs the API key in the environment variable {API_KEY_VAR}"
        ))
        .into());
    }
    let opts = fetch::FetchOptions {
        api_base: args.api_base.clone(),
        ..fetch::FetchOptions::default()
    };
    let export = fetch::fetch(&key, &args.account, &opts, args.save_raw.as_deref())?;
    let mut imported = import::import(&export.export()?, overlay, roles)?;
    for s in &export.skipped {
        imported
            .summary
            .note(import::summary::NoteKind::Info, s, "", "skipped");
    }
    Ok(imported)
}

fn finish(args: &ImportArgs, imported: &Imported) -> Outcome {
    let mut stderr = imported.summary.to_text();
    let mut stdout = String::new();
    match args.out.as_ref().filter(|p| p.as_os_str() != "-") {
        None => stdout = imported.yaml.clone(),
        Some(p) => match store::write_atomic(p, &imported.yaml) {
            Ok(()) => stderr.push_str(&format!("wrote {}\n", p.display())),
            Err(e) => return failed(format!("error: --out: cannot write {}: {e}\n", p.display())),
        },
    }
    let code = if args.strict && imported.summary.lossy() {
        stderr.push_str("--strict: records were dropped or could not be mapped (listed above)\n");
        Exit::BadInput
    } else {
        Exit::Ok
    };
    Outcome {
        stdout,
        stderr,
        code,
        failure: None,
    }
}
