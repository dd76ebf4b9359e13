//! The SMT solver: finding the `cvc5` executable (as `cedar-policy-symcc` does: the `CVC5`
//! environment variable, else `cvc5` on the `PATH`) and running one symbolic query on a
//! current-thread runtime with a time limit, so that a hard query answers "unknown" instead of
//! hanging.
//!
//! Owns the solver process and the runtime. Must not: choose what to prove (see
//! [`crate::prove::query`]).
//!
//! May use: nothing of keyward; `cedar-policy-symcc` and `tokio` only.

use cedar_policy_symcc::CedarSymCompiler;
use cedar_policy_symcc::solver::LocalSolver;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Duration;

/// How to get the solver, for the message a user reads when it is missing.
pub const INSTALL_HINT: &str = "keyward prove needs the cvc5 SMT solver: install it with \
`apt-get install cvc5` (Debian, Ubuntu) or put a cvc5 executable on the PATH, or name one \
with the environment variable CVC5=/path/to/cvc5";

/// Why the solver cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SolverError {
    /// No cvc5 executable where symcc looks for one.
    #[error("{what}; {INSTALL_HINT}")]
    Missing { what: String },
    /// The runtime could not start.
    #[error("cannot start the async runtime for the solver: {0}")]
    Runtime(String),
    /// The solver process could not start.
    #[error("cannot start cvc5 ({path}): {why}")]
    Spawn { path: String, why: String },
}

/// The cvc5 executable symcc will run: `$CVC5` (an absolute path) or `cvc5` on the `PATH`.
pub fn cvc5_path() -> Result<PathBuf, SolverError> {
    if let Some(p) = std::env::var_os("CVC5") {
        let p = PathBuf::from(p);
        return if is_executable(&p) {
            Ok(p)
        } else {
            Err(SolverError::Missing {
                what: format!("CVC5={} is not an executable file", p.display()),
            })
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("cvc5"))
        .find(|p| is_executable(p))
        .ok_or_else(|| SolverError::Missing {
            what: "no `cvc5` executable on the PATH".into(),
        })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A query: given the compiler, the future of its answer.
pub type Query<'q, T> = Box<
    dyn for<'c> FnOnce(
            &'c mut CedarSymCompiler<LocalSolver>,
        )
            -> Pin<Box<dyn Future<Output = cedar_policy_symcc::err::Result<T>> + 'c>>
        + 'q,
>;

/// One solver process and the runtime that talks to it; one per worker thread.
pub struct Session {
    runtime: tokio::runtime::Runtime,
    compiler: Option<CedarSymCompiler<LocalSolver>>,
    timeout: Duration,
}

/// What a query gave: its answer, or that it ran out of time or failed.
pub enum Ran<T> {
    /// The solver answered.
    Done(T),
    /// The solver said "unknown" or ran past the time limit.
    Unknown(String),
}

impl Session {
    /// A session whose queries each get `timeout`.
    pub fn new(timeout: Duration) -> Result<Self, SolverError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| SolverError::Runtime(e.to_string()))?;
        Ok(Session {
            runtime,
            compiler: None,
            timeout,
        })
    }

    fn compiler(&mut self) -> Result<&mut CedarSymCompiler<LocalSolver>, SolverError> {
        if self.compiler.is_none() {
            let path = cvc5_path()?;
            // cvc5's own per-query limit answers "unknown" cleanly; the runtime's timeout
            // below is the backstop for a solver that stops answering at all.
            let limit = format!("--tlimit-per={}", self.timeout.as_millis().max(1));
            let spawn = || -> Result<_, String> {
                let _guard = self.runtime.enter();
                let solver =
                    LocalSolver::cvc5_with_args([limit.as_str()]).map_err(|e| e.to_string())?;
                CedarSymCompiler::new(solver).map_err(|e| e.to_string())
            };
            let c = spawn().map_err(|why| SolverError::Spawn {
                path: path.display().to_string(),
                why,
            })?;
            self.compiler = Some(c);
        }
        // Set just above.
        self.compiler
            .as_mut()
            .ok_or_else(|| SolverError::Runtime("no solver".into()))
    }

    /// Run one query; a query that answers "unknown" or outlives the limit is `Unknown`, and
    /// the solver process is replaced after a timeout (its state is unknown then).
    pub fn run<T>(&mut self, query: Query<'_, T>) -> Result<Ran<T>, SolverError> {
        let backstop = self.timeout * 2 + Duration::from_secs(5);
        self.compiler()?;
        let Some(mut compiler) = self.compiler.take() else {
            return Err(SolverError::Runtime("no solver".into()));
        };
        // `Runtime::block_on`, not a handle's: only it drives a current-thread runtime's
        // process pipes and timers.
        let answer = self
            .runtime
            .block_on(async { tokio::time::timeout(backstop, query(&mut compiler)).await });
        self.compiler = Some(compiler);
        match answer {
            Ok(Ok(t)) => Ok(Ran::Done(t)),
            Ok(Err(cedar_policy_symcc::err::Error::SolverUnknown)) => Ok(Ran::Unknown(format!(
                "the solver gave no answer within {} ms",
                self.timeout.as_millis()
            ))),
            Ok(Err(e)) => {
                // A solver error leaves the process in an unknown state: start afresh next time.
                self.compiler = None;
                Ok(Ran::Unknown(format!("the solver failed: {e}")))
            }
            Err(_) => {
                self.compiler = None;
                Ok(Ran::Unknown(format!(
                    "the solver did not finish within {} s",
                    backstop.as_secs()
                )))
            }
        }
    }
}
