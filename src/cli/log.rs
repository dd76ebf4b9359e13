//! `keyward log verify FILE [--world W]`: check a write log's hash chain and, with `--world`,
//! that the world file is where the log's last line left it. Exit 0 intact, 3 broken (naming
//! the first bad line), 1 bad input.

use super::{Exit, Format, Outcome};
use crate::evaluator::log::{self, Verdict};
use crate::world::problem::Problem;
use std::path::PathBuf;

/// The arguments of `keyward log`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: LogCommand,
}

/// What to do with a write log.
#[derive(clap::Subcommand)]
pub enum LogCommand {
    /// Check the hash chain (and, with --world, the world's current hash): exit 0 intact,
    /// 3 broken.
    Verify {
        /// The write log (written by `apply --write --log` or `run --write --log`).
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The world file the log keeps: its current sha256 must be the last line's
        /// `world_sha256_after`; `-` reads it from standard input.
        #[arg(long, value_name = "FILE")]
        world: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: super::args::TextOrJson,
    },
}

/// Run `keyward log` as parsed.
pub fn exec(a: Args) -> Outcome {
    let LogCommand::Verify {
        file,
        world,
        format,
    } = a.command;
    // The chain check reads the world as bytes from a path: standard input has one on Unix.
    let stdin = std::path::Path::new("/dev/stdin");
    let world = world
        .as_deref()
        .map(|w| if super::is_std(w) { stdin } else { w });
    verify(&file, world, format.into()).in_format(format.into())
}

/// Verify the log at `file`.
pub fn verify(file: &std::path::Path, world: Option<&std::path::Path>, format: Format) -> Outcome {
    let verdict = match log::verify(file, world) {
        Ok(v) => v,
        Err(e) => {
            return Problem::arg("FILE", format!("cannot verify {}: {e}", file.display())).into();
        }
    };
    let stdout = match format {
        Format::Json => format!("{}\n", crate::report::log::json(file, &verdict)),
        Format::Text => crate::report::log::text(file, world, &verdict),
    };
    let code = match verdict {
        Verdict::Intact { .. } => Exit::Ok,
        Verdict::Broken { .. } => Exit::Tripped,
    };
    Outcome::new(stdout, code)
}
