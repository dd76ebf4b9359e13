//! The `keyward` command line: parse the arguments, run the command, report its outcome.
//! Each command's arguments and function live in `src/cli/<command>.rs`.

use clap::{CommandFactory, Parser, Subcommand};
use keyward::cli::{self, Outcome};

/// mimalloc: reading a world and building its entities is millions of small allocations, which
/// it serves markedly faster than the system allocator (see docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    Check(cli::check::Args),
    /// Decide one request and, if allowed, carry it out (a dry run unless --write): exit 0
    /// done, 2 denied, 1 bad input or failed (conflict, not found).
    Apply(cli::apply::Args),
    /// Run a scenario script of requests and events; exit non-zero when an expectation fails.
    Run(cli::run::Args),
    /// Validate the policies against the schema (strict) and, with --world, the world file.
    Validate(cli::validate::Args),
    /// Print the world as Cedar entities JSON; with a request, {"entities", "request"} for `cedar authorize`.
    Export(cli::export::Args),
    /// Who may do what: every allowed (principal, action, resource), exact; findings; or the
    /// decisions that change against other policies, a variant or another world.
    Audit(cli::audit::Args),
    /// Write a valid, realistic world as YAML, the same for the same arguments.
    Generate(cli::generate::Args),
    /// Run decision test files (checks, matrices, scenarios): failures with file, line and the
    /// explanation, then `N passed, M failed`; policy and rule coverage. Exit 1 if any failed.
    Test(cli::test::Args),
    /// Findings F1-F6 (docs/rules.md): risky cluster API keys, keys that never expire, accounts
    /// open to roleless members, identities near the key limit.
    Findings(cli::findings::Args),
    /// An IBM Cloud account (or several) as a world: from an export folder (--from) or the
    /// APIs (--fetch); the world on stdout or --out, a summary of what was dropped on stderr.
    Import(cli::import::ImportArgs),
    /// Proofs over every world (needs cvc5): compare with other policies or a variant,
    /// invariants, never-errors; each failure with a counterexample world. Exit 0 holds, 3 not.
    Prove(cli::prove::Args),
    /// The write log of `apply --write --log` and `run --write --log`: `log verify FILE`.
    Log(cli::log::Args),
    /// Lay .cedar policy files out in Cedar's reference style (comments and annotations kept);
    /// --check lists the files that would change and exits 3.
    Fmt(cli::fmt::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(cli::docs::CompletionsArgs),
    /// Print the manual page (roff), or write one per subcommand with --dir.
    Man(cli::docs::ManArgs),
    /// Print a JSON Schema, generated from keyward's own types: `schema world`.
    Schema(cli::schema::Args),
}

fn main() -> Outcome {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            if !e.use_stderr() {
                // --help and --version.
                return Outcome::default();
            }
            let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
            return Outcome::from_usage_error(&e, &args);
        }
    };
    match cli.command {
        Command::Check(a) => cli::check::exec(a),
        Command::Apply(a) => cli::apply::exec(a),
        Command::Run(a) => cli::run::exec(a),
        Command::Validate(a) => cli::validate::exec(a),
        Command::Export(a) => cli::export::exec(a),
        Command::Audit(a) => cli::audit::exec(a),
        Command::Generate(a) => cli::generate::exec(a),
        Command::Test(a) => cli::test::exec(a),
        Command::Findings(a) => cli::findings::exec(a),
        Command::Import(a) => cli::import::import(&a),
        Command::Log(a) => cli::log::exec(a),
        Command::Prove(a) => cli::prove::exec(a),
        Command::Fmt(a) => cli::fmt::exec(a),
        Command::Completions(a) => cli::docs::completions(&a, Cli::command()),
        Command::Man(a) => cli::docs::man(&a, Cli::command()),
        Command::Schema(a) => cli::schema::exec(a),
    }
}
