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
}

impl FormatArg {
    /// The name as written, for formats that only `audit` takes.
    pub fn audit_only(self) -> Option<&'static str> {
        match self {
            FormatArg::Jsonl => Some("jsonl"),
            FormatArg::Csv => Some("csv"),
            FormatArg::Markdown => Some("markdown"),
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
    /// Evaluation time (RFC 3339), overriding the world's `now`.
    #[arg(long, value_name = "TIME")]
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
    #[arg(long, value_name = "ID")]
    pub principal: String,
    /// The action, e.g. api-key-create, api-key-delete, login, ks-api-key-reset.
    #[arg(long, value_name = "ACTION")]
    pub action: String,
    #[command(flatten)]
    pub rest: RequestRest,
}

/// A request that may be left out (`export` prints the entities alone then).
#[derive(clap::Args)]
pub struct OptionalRequestArgs {
    /// The caller: a user or service ID id (for `login`, an API key id).
    #[arg(long, value_name = "ID", requires = "action")]
    pub principal: Option<String>,
    /// The action.
    #[arg(long, value_name = "ACTION", requires = "principal")]
    pub action: Option<String>,
    #[command(flatten)]
    pub rest: RequestRest,
}

/// What a request acts on and how: shared by the required and the optional request.
#[derive(clap::Args)]
pub struct RequestRest {
    /// What it acts on (a key, user, service ID, account or cluster id).
    #[arg(long, value_name = "ID")]
    pub resource: Option<String>,
    /// An argument of the action (repeatable), e.g. --arg account=acme.
    #[arg(long = "arg", value_name = "NAME=VALUE", value_parser = parse_arg)]
    pub args: Vec<(String, String)>,
    /// The caller acts through a trusted profile.
    #[arg(long)]
    pub via_trusted_profile: bool,
}

fn parse_arg(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected NAME=VALUE, got `{s}`")),
    }
}

impl RequestRest {
    /// The request of `principal` doing `action`; an arg given twice is a usage error.
    pub fn spec(self, principal: String, action: String) -> Result<RequestSpec, super::Outcome> {
        let mut args = BTreeMap::new();
        for (k, v) in self.args {
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
