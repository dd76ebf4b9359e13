//! A keyward request (principal, action, resource, args) -> a Cedar request: entity uids and the
//! full context, including the grants whose role bindings cover the request's target (scope
//! matching, documented in the schema).
//!
//! Owns the action table of INTERFACE.md (which resource and args each action takes) and
//! target scopes. It must not decide anything a policy decides: it never looks at what a role
//! grants, who owns what, or whether something is locked.

use crate::decide::entities::{Translation, datetime, eref, grant_id, ty};
use crate::world::RoleCatalog;
use crate::world::problem::Problem;
use crate::world::{IdKind, LeakAction, Restriction, cedar_datetime};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// The actions of INTERFACE.md, in the order the docs list them.
pub const ACTIONS: [&str; 16] = [
    "api-key-create",
    "api-key-get",
    "api-key-update",
    "api-key-delete",
    "api-key-lock",
    "api-key-unlock",
    "api-key-disable",
    "api-key-enable",
    "login",
    "classic-api-key-create",
    "classic-api-key-get",
    "classic-api-key-delete",
    "account-settings-update",
    "ks-api-key-reset",
    "ks-api-key-info",
    "user-remove",
];

/// Every action.
pub fn actions() -> impl Iterator<Item = &'static str> {
    ACTIONS.iter().copied()
}

/// The args each action accepts.
fn allowed_args(action: &str) -> &'static [&'static str] {
    match action {
        "api-key-create" => &[
            "account",
            "name",
            "description",
            "expires_at",
            "action_when_leaked",
            "apikey",
            "locked",
        ],
        "api-key-update" => &[
            "etag",
            "name",
            "description",
            "expires_at",
            "action_when_leaked",
        ],
        "classic-api-key-create"
        | "classic-api-key-get"
        | "classic-api-key-delete"
        | "user-remove" => &["account"],
        "account-settings-update" => &["restrict_user_api_key_creation"],
        "ks-api-key-reset" => &["region", "resource_group"],
        _ => &[],
    }
}

/// A request as users write it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RequestSpec {
    pub principal: String,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub args: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub via_trusted_profile: bool,
    /// Evaluation time (RFC 3339), overriding the world's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub now: Option<String>,
}

impl RequestSpec {
    /// A request of `principal` to do `action` on `resource` with these args.
    pub fn new(principal: &str, action: &str, resource: &str, args: &[(&str, &str)]) -> Self {
        RequestSpec {
            principal: principal.into(),
            action: action.into(),
            resource: Some(resource.into()),
            args: args
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }
}

/// The target a request acts on, for scope matching.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Target {
    pub account: String,
    pub region: Option<String>,
    pub resource_group: Option<String>,
    /// A service ID (its keys, or the caller of a reset) or a cluster.
    pub resource: Option<String>,
}

/// A request translated for Cedar.
#[derive(Debug, Clone)]
pub struct Translated {
    pub principal: (String, String),
    pub action: String,
    pub resource: (String, String),
    /// The full context, in Cedar's JSON form.
    pub context: Value,
    /// The args as evaluated, with inferred ones (account, resource_group) filled in.
    pub args: BTreeMap<String, String>,
    pub target: Target,
}

fn bad(flag: &str, msg: impl Into<String>) -> Problem {
    Problem::arg(flag, msg)
}

/// Grants covering a target, by service and role (every service and role of the schema, empty
/// where none covers), as the context's `roles` record.
pub fn covering_roles(tr: &Translation, catalog: &RoleCatalog, target: &Target) -> Value {
    let mut by: BTreeMap<&str, BTreeMap<&str, Vec<Value>>> = BTreeMap::new();
    for s in catalog.services() {
        let e = by.entry(s).or_default();
        for r in catalog.roles(s).into_iter().flatten() {
            e.insert(r.as_str(), Vec::new());
        }
    }
    for &i in tr
        .bindings_by_account
        .get(&target.account)
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        let b = &tr.world.role_bindings[i];
        let covers = (b.region.is_none() || b.region == target.region)
            && (b.resource_group.is_none() || b.resource_group == target.resource_group)
            && (b.resource.is_none() || b.resource == target.resource);
        if !covers {
            continue;
        }
        if let Some(roles) = by.get_mut(b.service.as_str()) {
            for r in &b.roles {
                if let Some(set) = roles.get_mut(r.as_str()) {
                    set.push(eref(ty::GRANT, &grant_id(i, b, r)));
                }
            }
        }
    }
    json!(by)
}

/// Translate a request against a world. Problems are bad input (exit 1), never decisions.
pub fn translate(
    tr: &Translation,
    catalog: &RoleCatalog,
    spec: &RequestSpec,
    now: &str,
) -> Result<Translated, Problem> {
    translate_inner(tr, catalog, spec, now, true)
}

/// [`translate`] without the `roles` record of the context (the costly part): enough to know
/// a request's principal, resource, target and args, e.g. to look up a context already built.
pub fn translate_without_roles(
    tr: &Translation,
    catalog: &RoleCatalog,
    spec: &RequestSpec,
    now: &str,
) -> Result<Translated, Problem> {
    translate_inner(tr, catalog, spec, now, false)
}

fn translate_inner(
    tr: &Translation,
    catalog: &RoleCatalog,
    spec: &RequestSpec,
    now: &str,
    with_roles: bool,
) -> Result<Translated, Problem> {
    let action = spec.action.as_str();
    if !actions().any(|a| a == action) {
        return Err(bad(
            "--action",
            format!(
                "unknown action `{action}`; actions: {}",
                actions().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    for name in spec.args.keys() {
        if !allowed_args(action).contains(&name.as_str()) {
            let allowed = allowed_args(action);
            return Err(bad(
                "--arg",
                if allowed.is_empty() {
                    format!("{action} takes no args, got `{name}`")
                } else {
                    format!(
                        "{action} takes no arg `{name}`; it takes {}",
                        allowed.join(", ")
                    )
                },
            ));
        }
    }
    let w = &tr.world;
    let mut args = spec.args.clone();

    // The principal.
    let principal_kind = tr.kind(&spec.principal);
    let principal = if action == "login" {
        match principal_kind {
            Some(IdKind::ApiKey) => (
                tr.key_type(tr.pos(&spec.principal).unwrap_or(0))
                    .to_string(),
                spec.principal.clone(),
            ),
            _ => {
                return Err(bad(
                    "--principal",
                    format!(
                        "login's principal is an API key id; `{}` is {}",
                        spec.principal,
                        describe(tr, &spec.principal)
                    ),
                ));
            }
        }
    } else {
        match principal_kind {
            Some(IdKind::User) => (ty::USER.to_string(), spec.principal.clone()),
            Some(IdKind::ServiceId) => (ty::SERVICE_ID.to_string(), spec.principal.clone()),
            _ => {
                return Err(bad(
                    "--principal",
                    format!(
                        "the principal must be a user or service ID; `{}` is {}",
                        spec.principal,
                        describe(tr, &spec.principal)
                    ),
                ));
            }
        }
    };

    // The resource (defaulting to the principal where the action acts on oneself).
    let resource_id = match (&spec.resource, action) {
        (Some(r), _) => r.clone(),
        (
            None,
            "api-key-create"
            | "classic-api-key-create"
            | "classic-api-key-get"
            | "classic-api-key-delete",
        ) => spec.principal.clone(),
        (None, _) => {
            return Err(bad(
                "--resource",
                format!("{action} needs --resource ({})", resource_noun(action)),
            ));
        }
    };
    let rkind = tr.kind(&resource_id);
    let wrong = || {
        bad(
            "--resource",
            format!(
                "{action} acts on {}; `{resource_id}` is {}",
                resource_noun(action),
                describe(tr, &resource_id)
            ),
        )
    };
    let want = |ok: bool| -> Result<(), Problem> { if ok { Ok(()) } else { Err(wrong()) } };
    // The account the request acts in, from a member's arg or its only account.
    let account_of_member = |who: &str,
                             args: &mut BTreeMap<String, String>|
     -> Result<String, Problem> {
        let memberships = tr.memberships(who);
        match args.get("account") {
            Some(a) => {
                if tr.kind(a) != Some(IdKind::Account) {
                    return Err(bad(
                        "--arg account",
                        format!("no account `{a}` in this world"),
                    ));
                }
                Ok(a.clone())
            }
            None => match memberships.as_slice() {
                [only] => {
                    args.insert("account".into(), only.clone());
                    Ok(only.clone())
                }
                [] => Err(bad(
                    "--arg account",
                    format!("`{who}` is a member of no account: say which with --arg account=ID"),
                )),
                many => Err(bad(
                    "--arg account",
                    format!(
                        "`{who}` is a member of {} accounts ({}): say which with --arg account=ID",
                        many.len(),
                        many.join(", ")
                    ),
                )),
            },
        }
    };

    let mut ctx = Map::new();
    let (resource_type, target) = match action {
        "api-key-create" => match rkind {
            Some(IdKind::User) => {
                let account = account_of_member(&resource_id, &mut args)?;
                (
                    ty::USER,
                    Target {
                        account,
                        ..Default::default()
                    },
                )
            }
            Some(IdKind::ServiceId) => {
                let s = &w.service_ids[tr.pos(&resource_id).unwrap_or(0)];
                if let Some(a) = args.get("account") {
                    if a != &s.account {
                        return Err(bad(
                            "--arg account",
                            format!(
                                "service ID `{}` belongs to account `{}`, not `{a}`",
                                s.id, s.account
                            ),
                        ));
                    }
                }
                args.insert("account".into(), s.account.clone());
                (
                    ty::SERVICE_ID,
                    Target {
                        account: s.account.clone(),
                        resource: Some(s.id.clone()),
                        ..Default::default()
                    },
                )
            }
            _ => return Err(wrong()),
        },
        "login" => {
            want(rkind == Some(IdKind::Account))?;
            (
                ty::ACCOUNT,
                Target {
                    account: resource_id.clone(),
                    ..Default::default()
                },
            )
        }
        "classic-api-key-create"
        | "classic-api-key-get"
        | "classic-api-key-delete"
        | "user-remove" => {
            want(rkind == Some(IdKind::User))?;
            let account = account_of_member(&resource_id, &mut args)?;
            (
                ty::USER,
                Target {
                    account,
                    ..Default::default()
                },
            )
        }
        "account-settings-update" => {
            want(rkind == Some(IdKind::Account))?;
            (
                ty::ACCOUNT,
                Target {
                    account: resource_id.clone(),
                    ..Default::default()
                },
            )
        }
        "ks-api-key-reset" => {
            want(rkind == Some(IdKind::Account))?;
            let Some(region) = args.get("region").cloned() else {
                return Err(bad(
                    "--arg region",
                    "ks-api-key-reset needs --arg region=REGION",
                ));
            };
            let rg = match args.get("resource_group") {
                Some(rg) => rg.clone(),
                None => {
                    let rg = w.accounts[tr.pos(&resource_id).unwrap_or(0)]
                        .default_resource_group
                        .clone();
                    args.insert("resource_group".into(), rg.clone());
                    rg
                }
            };
            let caller = (principal.0 == ty::SERVICE_ID).then(|| spec.principal.clone());
            (
                ty::ACCOUNT,
                Target {
                    account: resource_id.clone(),
                    region: Some(region),
                    resource_group: Some(rg),
                    resource: caller,
                },
            )
        }
        "ks-api-key-info" => {
            want(rkind == Some(IdKind::Cluster))?;
            let c = &w.clusters[tr.pos(&resource_id).unwrap_or(0)];
            (
                ty::CLUSTER,
                Target {
                    account: c.account.clone(),
                    region: Some(c.region.clone()),
                    resource_group: Some(c.resource_group.clone()),
                    resource: Some(c.id.clone()),
                },
            )
        }
        _ => {
            // The api-key-* actions on one key.
            want(rkind == Some(IdKind::ApiKey))?;
            let i = tr.pos(&resource_id).unwrap_or(0);
            let k = &w.api_keys[i];
            let kt = tr.key_type(i);
            let scope = (kt == ty::SERVICE_ID_API_KEY).then(|| k.identity.clone());
            (
                kt,
                Target {
                    account: k.account.clone(),
                    resource: scope,
                    ..Default::default()
                },
            )
        }
    };

    // Args that policies may read, checked and typed.
    for (name, value) in &args {
        match name.as_str() {
            "expires_at" => {
                if cedar_datetime(value).is_none() {
                    return Err(bad(
                        "--arg expires_at",
                        format!(
                            "`{value}` is not an RFC 3339 timestamp (e.g. 2027-01-01T00:00:00Z)"
                        ),
                    ));
                }
                ctx.insert("expires_at".into(), datetime(value));
            }
            "action_when_leaked" => {
                if LeakAction::parse(value).is_none() {
                    return Err(bad(
                        "--arg action_when_leaked",
                        format!("`{value}` is not one of none, disable, delete"),
                    ));
                }
                ctx.insert(name.clone(), json!(value));
            }
            "restrict_user_api_key_creation" => {
                if Restriction::parse(value).is_none() {
                    return Err(bad(
                        "--arg restrict_user_api_key_creation",
                        format!("`{value}` is not one of RESTRICTED, NOT_RESTRICTED, NOT_SET"),
                    ));
                }
                ctx.insert(name.clone(), json!(value));
            }
            "locked" => {
                let b = match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(bad(
                            "--arg locked",
                            format!("`{value}` is not true or false"),
                        ));
                    }
                };
                ctx.insert("locked".into(), json!(b));
            }
            "apikey" => {
                if value.chars().count() < 32 {
                    return Err(bad(
                        "--arg apikey",
                        "a caller-supplied API key value must be at least 32 characters (R12)",
                    ));
                }
                ctx.insert("caller_supplied_value".into(), json!(true));
            }
            "name" | "description" | "region" | "resource_group" => {
                ctx.insert(name.clone(), json!(value));
            }
            _ => {}
        }
    }
    if args
        .get("account")
        .is_some_and(|a| tr.kind(a) != Some(IdKind::Account))
    {
        return Err(bad(
            "--arg account",
            format!("no account `{}` in this world", args["account"]),
        ));
    }
    ctx.insert("account".into(), eref(ty::ACCOUNT, &target.account));
    ctx.insert("now".into(), datetime(now));
    ctx.insert(
        "via_trusted_profile".into(),
        json!(spec.via_trusted_profile),
    );
    if with_roles {
        ctx.insert("roles".into(), covering_roles(tr, catalog, &target));
    }
    // The caller-supplied value is never passed on: not even into args echoed in output.
    if args.contains_key("apikey") {
        args.insert("apikey".into(), "(hidden)".into());
    }
    Ok(Translated {
        principal,
        action: action.to_string(),
        resource: (resource_type.to_string(), resource_id),
        context: Value::Object(ctx),
        args,
        target,
    })
}

fn resource_noun(action: &str) -> &'static str {
    match action {
        "api-key-create" => "the user or service ID the key is for",
        "login" | "account-settings-update" | "ks-api-key-reset" => "an account",
        "ks-api-key-info" => "a cluster",
        "classic-api-key-create" | "classic-api-key-get" | "classic-api-key-delete" => {
            "the user whose classic key it is"
        }
        "user-remove" => "a user",
        _ => "an API key",
    }
}

fn describe(tr: &Translation, id: &str) -> String {
    match tr.kind(id) {
        Some(k) => format!("a {}", k.noun()),
        None => "not in this world".to_string(),
    }
}

/// One (action, resource, args) of a world, to be asked for every principal that may call it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target3 {
    pub action: &'static str,
    pub resource: String,
    pub args: BTreeMap<String, String>,
}

/// Every (action, resource, args) a world gives rise to, in a fixed order: each action on every
/// resource of that action's kind, with the args that select an account (one per membership)
/// or a cluster API key slot (every region and resource group that has clusters or a cluster
/// key). `login` is excluded: its principals are keys (see [`all_requests`]).
pub fn resource_requests(tr: &Translation) -> Vec<Target3> {
    let w = &tr.world;
    let mut slots: std::collections::BTreeSet<(String, String, String)> =
        std::collections::BTreeSet::new();
    for c in &w.clusters {
        slots.insert((
            c.account.clone(),
            c.region.clone(),
            c.resource_group.clone(),
        ));
    }
    for s in &w.cluster_api_keys {
        slots.insert((
            s.account.clone(),
            s.region.clone(),
            s.resource_group.clone(),
        ));
    }
    let t = |a: &'static str, r: &str, args: &[(&str, &str)]| Target3 {
        action: a,
        resource: r.to_string(),
        args: args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    };
    let mut out = Vec::new();
    for action in actions() {
        match action {
            "login" => {}
            "api-key-create" => {
                for u in &w.users {
                    for a in tr.memberships(&u.id) {
                        out.push(t(action, &u.id, &[("account", &a)]));
                    }
                }
                for s in &w.service_ids {
                    out.push(t(action, &s.id, &[]));
                }
            }
            "classic-api-key-create"
            | "classic-api-key-get"
            | "classic-api-key-delete"
            | "user-remove" => {
                for u in &w.users {
                    for a in tr.memberships(&u.id) {
                        out.push(t(action, &u.id, &[("account", &a)]));
                    }
                }
            }
            "account-settings-update" => {
                for a in &w.accounts {
                    out.push(t(action, &a.id, &[]));
                }
            }
            "ks-api-key-reset" => {
                for (a, region, rg) in &slots {
                    out.push(t(action, a, &[("region", region), ("resource_group", rg)]));
                }
            }
            "ks-api-key-info" => {
                for c in &w.clusters {
                    out.push(t(action, &c.id, &[]));
                }
            }
            _ => {
                for k in &w.api_keys {
                    out.push(t(action, &k.id, &[]));
                }
            }
        }
    }
    out
}

/// The callers of every action but `login`: every user, then every service ID.
pub fn callers(tr: &Translation) -> Vec<&str> {
    tr.world
        .users
        .iter()
        .map(|u| u.id.as_str())
        .chain(tr.world.service_ids.iter().map(|s| s.id.as_str()))
        .collect()
}

/// Every request a world gives rise to: each caller with each (action, resource, args) of
/// [`resource_requests`], and for `login` each API key with each account. The candidate set
/// of audits and matrices.
pub fn all_requests(tr: &Translation) -> Vec<RequestSpec> {
    let mut out = Vec::new();
    let spec = |p: &str, a: &str, r: &str, args: &BTreeMap<String, String>| RequestSpec {
        principal: p.to_string(),
        action: a.to_string(),
        resource: Some(r.to_string()),
        args: args.clone(),
        via_trusted_profile: false,
        now: None,
    };
    let callers = callers(tr);
    let targets = resource_requests(tr);
    for action in actions() {
        if action == "login" {
            for k in &tr.world.api_keys {
                for a in &tr.world.accounts {
                    out.push(spec(&k.id, action, &a.id, &BTreeMap::new()));
                }
            }
            continue;
        }
        for p in &callers {
            for t in targets.iter().filter(|t| t.action == action) {
                out.push(spec(p, action, &t.resource, &t.args));
            }
        }
    }
    out
}
