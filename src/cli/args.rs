//! The argument groups several commands share (world and policies, one request, the output
//! format), parsed by clap and turned into the library's option types.

use super::{Common, Format};
use crate::decide::policy::PolicyOptions;
use crate::decide::request::RequestSpec;
use clap::ValueEnum;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `--format` as written on the command line.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Text,
    Json,
    /// One JSON object per line (audit only).
    Jsonl,
    /// Comma-separated values (audit only).
    Csv,
    /// A Markdown table (audit only).
    Markdown,
    /// One self-contained HTML page (audit only).
    Html,
}

impl FormatArg {
    /// The name as written, for formats that only `audit` takes.
    pub fn audit_only(self) -> Option<&'static str> {
        match self {
            FormatArg::Jsonl => Some("jsonl"),
            FormatArg::Csv => Some("csv"),
            FormatArg::Markdown => Some("markdown"),
            FormatArg::Html => Some("html"),
            FormatArg::Text | FormatArg::Json => None,
        }
    }
}

/// `--format` for commands that print text or JSON only.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TextOrJson {
    Text,
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

/// World, policies, schema, time and format: what most commands take.
#[derive(clap::Args)]
pub struct CommonArgs {
    /// The world file (YAML or JSON).
    #[arg(long, value_name = "FILE")]
    pub world: Option<PathBuf>,
    /// Policy files or folders (repeatable); replaces the shipped base set.
    #[arg(long, value_name = "PATH")]
    pub policies: Vec<PathBuf>,
    /// Add a variant: a name under policies/variants/ (shipped or beside --policies) or a folder.
    #[arg(long, value_name = "NAME")]
    pub variant: Vec<String>,
    /// A Cedar schema file instead of the shipped one.
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,
    /// Evaluation time (RFC 3339, as Cedar reads it), overriding the world's `now`.
    #[arg(long, value_name = "TIME", value_parser = Checked(Check::Time))]
    pub now: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: FormatArg,
}

impl CommonArgs {
    /// The library's options.
    pub fn common(&self) -> Common {
        Common {
            world: self.world.clone(),
            policy: PolicyOptions {
                policies: self.policies.clone(),
                variants: self.variant.clone(),
                schema: self.schema.clone(),
            },
            now: self.now.clone(),
            format: match self.format {
                FormatArg::Json | FormatArg::Jsonl => Format::Json,
                _ => Format::Text,
            },
        }
    }

    /// `--format jsonl|csv|markdown` belong to `audit`; elsewhere they are a usage error.
    pub fn text_or_json(&self) -> Result<(), super::Outcome> {
        match self.format.audit_only() {
            Some(f) => Err(super::Outcome::usage(format!(
                "error: --format {f} is only for `keyward audit`; use text or json"
            ))),
            None => Ok(()),
        }
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
                return Err(super::Outcome::usage(format!(
                    "error: --arg {k} given twice"
                )));
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
