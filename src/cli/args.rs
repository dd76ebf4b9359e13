//! The argument groups several commands share (the world, the policies, the time, one request,
//! the output formats), parsed by clap and turned into the library's option types. Each command
//! flattens only the groups it uses and names its own `--format` type, so its help lists exactly
//! what it accepts.

use super::{Common, Format};
use crate::decide::policy::PolicyOptions;
use crate::decide::request::RequestSpec;
use clap::ValueEnum;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `--format` of `keyward audit`: the only command with table and stream formats.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// For people: grouped, with findings.
    Text,
    /// One JSON document.
    Json,
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated values.
    Csv,
    /// A Markdown table.
    Markdown,
    /// One self-contained HTML page (audit only).
    Html,
}

/// `--format` for commands that print text or JSON only.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TextOrJson {
    /// For people.
    Text,
    /// For programs.
    Json,
}

impl From<TextOrJson> for Format {
    fn from(f: TextOrJson) -> Self {
        match f {
            TextOrJson::Text => Format::Text,
            TextOrJson::Json => Format::Json,
        }
    }
}

/// `--format` of `keyward export`, whose outputs are Cedar's own JSON formats. `text` is
/// parsed (hidden from the help) only to be refused with a message saying why.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// Cedar's entities JSON (with a request: `{"entities", "request"}`).
    Json,
    #[value(hide = true)]
    Text,
}

/// `--world`: the world file, or `-` for standard input.
#[derive(clap::Args)]
pub struct WorldArgs {
    /// The world file (YAML or JSON); `-` reads it from standard input.
    #[arg(long, value_name = "FILE")]
    pub world: Option<PathBuf>,
}

/// The policies and the schema: replace the shipped ones, or add variants to them.
#[derive(clap::Args)]
pub struct PolicyArgs {
    /// Policy files or folders (repeatable); replaces the shipped base set.
    #[arg(long, value_name = "PATH")]
    pub policies: Vec<PathBuf>,
    /// Add a variant: a name under policies/variants/ (shipped or beside --policies) or a folder.
    #[arg(long, value_name = "NAME")]
    pub variant: Vec<String>,
    /// A Cedar schema file instead of the shipped one.
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,
}

impl PolicyArgs {
    /// The library's policy options.
    pub fn options(&self) -> PolicyOptions {
        PolicyOptions {
            policies: self.policies.clone(),
            variants: self.variant.clone(),
            schema: self.schema.clone(),
        }
    }
}

/// `--now`, for the commands whose decisions depend on the time.
#[derive(clap::Args)]
pub struct NowArg {
    /// Evaluation time (RFC 3339, as Cedar reads it), overriding the world's `now`.
    #[arg(long, value_name = "TIME", value_parser = Checked(Check::Time))]
    pub now: Option<String>,
}

/// The library's options from a command's world, policy and time flags and its format.
pub fn common(
    world: &WorldArgs,
    policy: &PolicyArgs,
    now: Option<&NowArg>,
    format: Format,
) -> Common {
    Common {
        world: world.world.clone(),
        policy: policy.options(),
        now: now.and_then(|n| n.now.clone()),
        format,
    }
}

/// One request: the caller, the action, what it acts on and its args.
#[derive(clap::Args)]
pub struct RequestArgs {
    /// The caller: a user or service ID id (for `login`, an API key id).
    #[arg(long, value_name = "ID", value_parser = Checked(Check::Id))]
    pub principal: String,
    /// The action, e.g. api-key-create, api-key-delete, login, ks-api-key-reset.
    #[arg(long, value_name = "ACTION", value_parser = Checked(Check::Id))]
    pub action: String,
    #[command(flatten)]
    pub rest: RequestRest,
}

/// A request that may be left out (`export` prints the entities alone then).
#[derive(clap::Args)]
pub struct OptionalRequestArgs {
    /// The caller: a user or service ID id (for `login`, an API key id).
    #[arg(long, value_name = "ID", requires = "action", value_parser = Checked(Check::Id))]
    pub principal: Option<String>,
    /// The action.
    #[arg(long, value_name = "ACTION", requires = "principal", value_parser = Checked(Check::Id))]
    pub action: Option<String>,
    #[command(flatten)]
    pub rest: RequestRest,
}

/// What a request acts on and how: shared by the required and the optional request.
#[derive(clap::Args)]
pub struct RequestRest {
    /// What it acts on (a key, user, service ID, account or cluster id).
    #[arg(long, value_name = "ID", value_parser = Checked(Check::Id))]
    pub resource: Option<String>,
    /// An argument of the action (repeatable), e.g. --arg account=acme.
    #[arg(long = "arg", value_name = "NAME=VALUE", value_parser = Checked(Check::Arg))]
    pub args: Vec<String>,
    /// The caller acts through a trusted profile.
    #[arg(long)]
    pub via_trusted_profile: bool,
}

/// What a checked flag's value must be.
#[derive(Clone, Copy)]
pub enum Check {
    /// An id: printable text (no newline, control or format character).
    Id,
    /// `NAME=VALUE`, both printable.
    Arg,
    /// A timestamp Cedar's `datetime()` accepts (see [`crate::world::time`]).
    Time,
}

/// A clap value parser that checks a flag's value, and reports a bad one with the value
/// escaped and the flag named (clap's own message would print the value raw). A bad value is a
/// usage error: exit 1.
#[derive(Clone, Copy)]
pub struct Checked(pub Check);

impl clap::builder::TypedValueParser for Checked {
    type Value = String;

    fn parse_ref(
        &self,
        _cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        let flag = arg
            .and_then(|a| a.get_long())
            .map_or_else(|| "argument".to_string(), |l| format!("--{l}"));
        let fail = |msg: String| {
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("{flag}: {msg}\n"),
            )
        };
        let Some(s) = value.to_str() else {
            return Err(fail("the value is not UTF-8 text".into()));
        };
        match self.0 {
            Check::Id => check_id(s).map_err(fail)?,
            Check::Arg => {
                let (k, v) = split_arg(s).map_err(fail)?;
                check_id(k).map_err(fail)?;
                check_id(v).map_err(|m| fail(format!("{k}: {m}")))?;
            }
            Check::Time => {
                crate::world::time::parse(s).map_err(|e| fail(e.to_string()))?;
            }
        }
        Ok(s.to_string())
    }
}

/// A value given on the command line has no unprintable character.
fn check_id(s: &str) -> Result<(), String> {
    crate::world::text::id_problem(s).map_or(Ok(()), Err)
}

fn split_arg(s: &str) -> Result<(&str, &str), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k, v)),
        _ => Err(format!(
            "expected NAME=VALUE, got `{}`",
            crate::world::text::escape(s)
        )),
    }
}

fn parse_arg(s: &str) -> (String, String) {
    let (k, v) = s.split_once('=').unwrap_or((s, ""));
    (k.to_string(), v.to_string())
}

impl RequestRest {
    /// The request of `principal` doing `action`; an arg given twice is a usage error.
    pub fn spec(self, principal: String, action: String) -> Result<RequestSpec, super::Outcome> {
        let mut args = BTreeMap::new();
        for (k, v) in self.args.iter().map(|a| parse_arg(a)) {
            if args.insert(k.clone(), v).is_some() {
                return Err(crate::world::problem::Problem::arg(
                    "--arg",
                    format!("{k} is given twice"),
                )
                .into());
            }
        }
        Ok(RequestSpec {
            principal,
            action,
            resource: self.resource,
            args,
            via_trusted_profile: self.via_trusted_profile,
            now: None,
        })
    }
}

impl RequestArgs {
    /// The request.
    pub fn spec(self) -> Result<RequestSpec, super::Outcome> {
        self.rest.spec(self.principal, self.action)
    }
}

impl OptionalRequestArgs {
    /// The request, if one was given.
    pub fn spec(self) -> Result<Option<RequestSpec>, super::Outcome> {
        match (self.principal, self.action) {
            (Some(p), Some(a)) => self.rest.spec(p, a).map(Some),
            _ => Ok(None),
        }
    }
}
