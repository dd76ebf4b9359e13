//! The commands of the CLI as library functions: each takes its options and returns what to
//! print and the exit code, so tests call exactly what the binary runs.

use crate::engine::{Engine, Verdict};
use crate::error::{Problem, Problems};
use crate::export;
use crate::policy::{self, PolicyBundle, PolicyOptions};
use crate::report;
use crate::request::RequestSpec;
use crate::world;
use std::path::PathBuf;

/// Exit code: allowed / success.
pub const EXIT_OK: i32 = 0;
/// Exit code: bad input or usage.
pub const EXIT_BAD_INPUT: i32 = 1;
/// Exit code: denied.
pub const EXIT_DENY: i32 = 2;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
}

/// Options every command shares.
#[derive(Debug, Clone, Default)]
pub struct Common {
    pub world: Option<PathBuf>,
    pub policy: PolicyOptions,
    pub now: Option<String>,
    pub format: Format,
}

/// What a command prints and how it exits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

impl Outcome {
    fn bad(problems: &Problems) -> Self {
        Outcome {
            stdout: String::new(),
            stderr: format!("{problems}\n"),
            code: EXIT_BAD_INPUT,
        }
    }
}

impl From<Problems> for Outcome {
    fn from(p: Problems) -> Self {
        Outcome::bad(&p)
    }
}

impl From<Problem> for Outcome {
    fn from(p: Problem) -> Self {
        Outcome::bad(&Problems::one(p))
    }
}

/// Load policies, schema and the world the options name.
pub fn load_engine(common: &Common) -> Result<Engine, Problems> {
    let bundle = policy::load(&common.policy)?;
    let Some(path) = &common.world else {
        return Err(Problems::one(Problem::arg(
            "--world",
            "this command needs --world FILE",
        )));
    };
    let world = world::load_world(path, &bundle.roles)?;
    let mut engine = Engine::new(bundle, world)?;
    engine.now_override = common.now.clone();
    Ok(engine)
}

/// `keyward check`: one decision. Exit 0 allow, 2 deny, 1 bad input.
pub fn check(common: &Common, spec: &RequestSpec) -> Outcome {
    let engine = match load_engine(common) {
        Ok(e) => e,
        Err(p) => return p.into(),
    };
    let d = match engine.decide(spec) {
        Ok(d) => d,
        Err(p) => return p.into(),
    };
    let stdout = match common.format {
        Format::Json => format!("{}\n", report::decision_json(&d)),
        Format::Text => report::decision_text(&d),
    };
    let code = if d.decision == Verdict::Allow {
        EXIT_OK
    } else {
        EXIT_DENY
    };
    Outcome {
        stdout,
        stderr: String::new(),
        code,
    }
}

/// `keyward validate`: the policies against the schema (strict) and, with --world, the world.
pub fn validate(common: &Common) -> Outcome {
    let mut problems: Vec<Problem> = Vec::new();
    let mut lines = Vec::new();
    let bundle: Option<PolicyBundle> = match policy::load(&common.policy) {
        Ok(b) => Some(b),
        Err(p) => {
            problems.extend(p.0);
            None
        }
    };
    let mut warnings = Vec::new();
    if let Some(b) = &bundle {
        lines.push(format!(
            "ok: {} policies from {} files validate against {} (strict)",
            b.info.len(),
            b.sources.len(),
            b.schema_source.name
        ));
        for p in b.info.values() {
            if p.rules.is_empty() {
                problems.push(Problem::new(
                    &p.file,
                    crate::yaml::Pos {
                        line: p.line,
                        col: 1,
                    },
                    "@rule",
                    format!("policy `{}` names no rule", p.id),
                ));
            }
            if p.doc.is_empty() {
                problems.push(Problem::new(
                    &p.file,
                    crate::yaml::Pos {
                        line: p.line,
                        col: 1,
                    },
                    "@doc",
                    format!("policy `{}` has no @doc sentence", p.id),
                ));
            }
        }
        warnings = b.warnings.clone();
        if let Some(path) = &common.world {
            match world::load_world(path, &b.roles) {
                Ok(w) => {
                    let name = path.display();
                    match Engine::new(b.clone(), w) {
                        Ok(e) => lines.push(format!(
                            "ok: world {name} is valid ({} accounts, {} users, {} service IDs, {} API keys)",
                            e.tr.world.accounts.len(),
                            e.tr.world.users.len(),
                            e.tr.world.service_ids.len(),
                            e.tr.world.api_keys.len()
                        )),
                        Err(p) => problems.extend(p.0),
                    }
                }
                Err(p) => problems.extend(p.0),
            }
        }
    }
    let code = if problems.is_empty() {
        EXIT_OK
    } else {
        EXIT_BAD_INPUT
    };
    let stdout = match common.format {
        Format::Json => format!(
            "{}\n",
            serde_json::json!({
                "valid": problems.is_empty(),
                "policies": bundle.as_ref().map(|b| b.info.len()).unwrap_or(0),
                "problems": problems,
                "warnings": warnings,
            })
        ),
        Format::Text => {
            let mut s = String::new();
            for p in &problems {
                s.push_str(&format!("error: {p}\n"));
            }
            for w in &warnings {
                s.push_str(&format!("warning: {w}\n"));
            }
            if problems.is_empty() {
                for l in &lines {
                    s.push_str(l);
                    s.push('\n');
                }
            } else {
                s.push_str(&format!("{} problem(s)\n", problems.len()));
            }
            s
        }
    };
    Outcome {
        stdout,
        stderr: String::new(),
        code,
    }
}

/// `keyward export`: entities (and a request) in Cedar's formats; optionally the policy set.
pub fn export(
    common: &Common,
    spec: Option<&RequestSpec>,
    policies_out: Option<&PathBuf>,
) -> Outcome {
    let engine = match load_engine(common) {
        Ok(e) => e,
        Err(p) => return p.into(),
    };
    if let Some(path) = policies_out {
        if let Err(e) = std::fs::write(path, export::policies_text(&engine)) {
            return Problem::arg(
                "--policies-out",
                format!("cannot write {}: {e}", path.display()),
            )
            .into();
        }
    }
    let entities = export::entities_json(&engine);
    let value = match spec {
        None => entities,
        Some(spec) => match engine.translate(spec) {
            Ok(t) => serde_json::json!({"entities": entities, "request": export::request_json(&t)}),
            Err(p) => return p.into(),
        },
    };
    let text = serde_json::to_string_pretty(&value).unwrap_or_default();
    Outcome {
        stdout: format!("{text}\n"),
        stderr: String::new(),
        code: EXIT_OK,
    }
}

/// `keyward generate`: a valid, realistic world as YAML, deterministic for its arguments;
/// written to `out` (atomically enough: a temporary file renamed) or printed.
pub fn generate(
    policy: &PolicyOptions,
    opts: &crate::generate::GenerateOptions,
    out: Option<&PathBuf>,
) -> Outcome {
    let bundle = match policy::load(policy) {
        Ok(b) => b,
        Err(p) => return p.into(),
    };
    let world = match crate::generate::generate(opts, &bundle.roles) {
        Ok(w) => w,
        Err(p) => return p.into(),
    };
    let text = crate::generate::to_yaml(opts, &world);
    let mut stderr = String::new();
    if opts.keys_per_user > crate::generate::KEY_LIMIT {
        stderr.push_str(&format!(
            "note: --keys-per-user {} is capped at {} keys per identity (R10)\n",
            opts.keys_per_user,
            crate::generate::KEY_LIMIT
        ));
    }
    let Some(path) = out else {
        return Outcome {
            stdout: text,
            stderr,
            code: EXIT_OK,
        };
    };
    let tmp = path.with_extension("yaml.tmp");
    if let Err(e) = std::fs::write(&tmp, &text).and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Problem::arg("--out", format!("cannot write {}: {e}", path.display())).into();
    }
    stderr.push_str(&format!(
        "wrote {}: {} accounts, {} users, {} service IDs, {} API keys, {} clusters\n",
        path.display(),
        world.accounts.len(),
        world.users.len(),
        world.service_ids.len(),
        world.api_keys.len(),
        world.clusters.len()
    ));
    Outcome {
        stdout: String::new(),
        stderr,
        code: EXIT_OK,
    }
}
