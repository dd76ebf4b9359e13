//! `keyward completions SHELL` and `keyward man`: shell completion scripts and manual pages,
//! generated from the same clap definition that parses the arguments (`clap_complete`,
//! `clap_mangen`), so they can never disagree with `--help`.
//!
//! Owns only the choice of generator and where its output goes. Must not describe a command
//! itself: every word comes from the commands' own clap docs. `main` hands in the whole
//! command tree (`Cli::command()`), since it lives there.

use super::{Exit, Outcome};
use crate::world::problem::Problem;
use std::path::PathBuf;

/// The arguments of `keyward completions`.
#[derive(clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// The arguments of `keyward man`.
#[derive(clap::Args)]
pub struct ManArgs {
    /// Write keyward.1 and one page per subcommand (keyward-check.1, …) into this folder
    /// instead of printing keyward.1.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// The completion script for `shell`, for the command tree `cmd`.
pub fn completions(a: &CompletionsArgs, mut cmd: clap::Command) -> Outcome {
    let mut script = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "keyward", &mut script);
    match String::from_utf8(script) {
        Ok(s) => Outcome::new(s, Exit::Ok),
        Err(e) => Problem::arg("SHELL", format!("the script is not UTF-8: {e}")).into(),
    }
}

/// The manual page of `cmd` (roff), printed, or every page written to `--dir`.
pub fn man(a: &ManArgs, cmd: clap::Command) -> Outcome {
    if let Some(dir) = &a.dir {
        let written =
            std::fs::create_dir_all(dir).and_then(|()| clap_mangen::generate_to(cmd, dir));
        return match written {
            Ok(()) => Outcome {
                stderr: format!("wrote the manual pages to {}\n", dir.display()),
                ..Default::default()
            },
            Err(e) => {
                Problem::arg("--dir", format!("cannot write to {}: {e}", dir.display())).into()
            }
        };
    }
    let mut page = Vec::new();
    if let Err(e) = clap_mangen::Man::new(cmd).render(&mut page) {
        return Outcome::io(e);
    }
    match String::from_utf8(page) {
        Ok(s) => Outcome::new(s, Exit::Ok),
        Err(e) => Problem::arg("man", format!("the page is not UTF-8: {e}")).into(),
    }
}
