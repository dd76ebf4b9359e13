//! A keyward request (principal, action, resource, args) -> a Cedar request: entity uids and the
//! full context, including the grants whose role bindings cover the request's target (scope
//! matching, documented in the schema).
//!
//! Translation runs by stage, one function each: admission (the action and its args), the
//! principal, the resource, the target, the args (checked and typed into the context) and the
//! roles (the costly part, left out by [`translate_without_roles`]). What each action takes is
//! its definition ([`crate::decide::action`]); this module reads it and matches no action name.
//! It must not decide anything a policy decides: it never looks at what a role grants, who owns
//! what, or whether something is locked.

use crate::decide::action::{
    self, Action, ActionDef, ArgKind, DEFINITIONS, ResourceDefault, TargetRule,
};
use crate::decide::entities::{EntityRef, Translation, datetime, eref, grant_id, ty};
use crate::world::IdKind;
use crate::world::RoleCatalog;
use crate::world::problem::Problem;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// The actions of docs/cli.md, in the order the docs list them (the names of the table).
pub const ACTIONS: [&str; action::COUNT] = action::names();

/// Every action.
pub fn actions() -> impl Iterator<Item = &'static str> {
    ACTIONS.iter().copied()
}

/// Whether any action declares an arg of this name secret (its value is never shown).
pub fn is_secret_arg(name: &str) -> bool {
    Action::ALL.iter().any(|a| {
        a.def()
            .arg(name)
            .is_some_and(|arg| matches!(arg.kind, ArgKind::Secret))
    })
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
    /// The request with every secret arg (a caller-supplied key value) replaced by `(hidden)`:
    /// the only form of a request that may be shown. An arg is secret by its name, whichever
    /// action it is given to (`apikey` on an action that takes no such arg is still hidden).
    pub fn redacted(&self) -> RequestSpec {
        let mut spec = self.clone();
        for (name, value) in spec.args.iter_mut() {
            if is_secret_arg(name) {
                *value = "(hidden)".into();
            }
        }
        spec
    }

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
    pub principal: EntityRef,
    pub action: String,
    pub resource: EntityRef,
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
    // Built directly (`json!` would copy every grant reference through the serializer), in
    // the maps' sorted order, as before.
    let record = |roles: BTreeMap<&str, Vec<Value>>| {
        let m = roles
            .into_iter()
            .map(|(r, g)| (r.to_string(), Value::Array(g)));
        Value::Object(m.collect())
    };
    Value::Object(
        by.into_iter()
            .map(|(s, r)| (s.to_string(), record(r)))
            .collect(),
    )
}

/// Translate a request against a world. Problems are bad input (exit 1), never decisions.
pub fn translate(
    tr: &Translation,
    catalog: &RoleCatalog,
    spec: &RequestSpec,
    now: &str,
) -> Result<Translated, Problem> {
    let mut t = translate_without_roles(tr, spec, now)?;
    roles(tr, catalog, &mut t);
    Ok(t)
}

/// [`translate`] without the `roles` record of the context (the costly part): enough to know
/// a request's principal, resource, target and args, e.g. to look up a context already built.
pub fn translate_without_roles(
    tr: &Translation,
    spec: &RequestSpec,
    now: &str,
) -> Result<Translated, Problem> {
    let def = admission(spec)?;
    let principal = principal(tr, def, &spec.principal)?;
    let resource = resource(tr, def, spec)?;
    let mut args = spec.args.clone();
    let target = target(tr, def, &principal, &resource, &mut args)?;
    let mut ctx = args_context(tr, def, &args)?;
    ctx.insert("account".into(), eref(ty::ACCOUNT, &target.account));
    ctx.insert("now".into(), datetime(now));
    ctx.insert(
        "via_trusted_profile".into(),
        json!(spec.via_trusted_profile),
    );
    // A secret (the caller-supplied key value) is never passed on: not even into args echoed
    // in output.
    for (name, value) in args.iter_mut() {
        if def
            .arg(name)
            .is_some_and(|a| matches!(a.kind, ArgKind::Secret))
        {
            *value = "(hidden)".into();
        }
    }
    Ok(Translated {
        principal,
        action: def.name.to_string(),
        resource,
        context: Value::Object(ctx),
        args,
        target,
    })
}

/// Admission: a known action, and only args it takes.
fn admission(spec: &RequestSpec) -> Result<&'static ActionDef, Problem> {
    let action = spec.action.as_str();
    let Ok(def) = action.parse::<Action>().map(Action::def) else {
        return Err(bad(
            "--action",
            format!(
                "unknown action `{action}`; actions: {}",
                actions().collect::<Vec<_>>().join(", ")
            ),
        ));
    };
    if let Some(name) = spec.args.keys().find(|n| def.arg(n).is_none()) {
        let allowed: Vec<&str> = def.args.iter().map(|a| a.name).collect();
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
    Ok(def)
}

/// The principal: an entity of one of the types the action is called by.
fn principal(tr: &Translation, def: &ActionDef, id: &str) -> Result<EntityRef, Problem> {
    match tr.entity_type(id) {
        Some(t) if def.principal.types.contains(&t) => Ok(EntityRef::new(t, id)),
        _ => Err(bad(
            "--principal",
            format!("{}; `{id}` is {}", def.principal.wrong, describe(tr, id)),
        )),
    }
}

/// The resource (defaulting to the principal where the action acts on oneself): an entity of
/// one of the types the action acts on.
fn resource(tr: &Translation, def: &ActionDef, spec: &RequestSpec) -> Result<EntityRef, Problem> {
    let id = match (&spec.resource, def.resource_default) {
        (Some(r), _) => r.as_str(),
        (None, ResourceDefault::Principal) => spec.principal.as_str(),
        (None, ResourceDefault::Required) => {
            return Err(bad(
                "--resource",
                format!("{} needs --resource ({})", def.name, def.noun),
            ));
        }
    };
    match tr.entity_type(id) {
        Some(t) if def.resources.contains(&t) => Ok(EntityRef::new(t, id)),
        _ => Err(bad(
            "--resource",
            format!(
                "{} acts on {}; `{id}` is {}",
                def.name,
                def.noun,
                describe(tr, id)
            ),
        )),
    }
}

/// The target, for scope matching; fills in the args it infers (account, resource group).
fn target(
    tr: &Translation,
    def: &ActionDef,
    principal: &EntityRef,
    resource: &EntityRef,
    args: &mut BTreeMap<String, String>,
) -> Result<Target, Problem> {
    let w = &tr.world;
    let at = |account: &str| Target {
        account: account.to_string(),
        ..Default::default()
    };
    let pos = tr.pos(&resource.id).unwrap_or(0);
    Ok(match def.target {
        TargetRule::KeyCreate if resource.ty == ty::USER => {
            at(&account_of_member(tr, &resource.id, args)?)
        }
        TargetRule::KeyCreate => service_id_key_target(tr, pos, args)?,
        TargetRule::Key => {
            let k = &w.api_keys[pos];
            let scope = (resource.ty == ty::SERVICE_ID_API_KEY).then(|| k.identity.clone());
            Target {
                resource: scope,
                ..at(&k.account)
            }
        }
        TargetRule::Account => at(&resource.id),
        TargetRule::Member => at(&account_of_member(tr, &resource.id, args)?),
        TargetRule::ClusterSlot => cluster_slot_target(tr, def, principal, resource, args)?,
        TargetRule::Cluster => {
            let c = &w.clusters[pos];
            Target {
                account: c.account.clone(),
                region: Some(c.region.clone()),
                resource_group: Some(c.resource_group.clone()),
                resource: Some(c.id.clone()),
            }
        }
    })
}

/// A new key of the service ID at `pos`: its account (an `account` arg must name it).
fn service_id_key_target(
    tr: &Translation,
    pos: usize,
    args: &mut BTreeMap<String, String>,
) -> Result<Target, Problem> {
    let s = &tr.world.service_ids[pos];
    if let Some(a) = args.get("account")
        && a != &s.account
    {
        return Err(bad(
            "--arg account",
            format!(
                "service ID `{}` belongs to account `{}`, not `{a}`",
                s.id, s.account
            ),
        ));
    }
    args.insert("account".into(), s.account.clone());
    Ok(Target {
        account: s.account.clone(),
        resource: Some(s.id.clone()),
        ..Default::default()
    })
}

/// A cluster API key slot of an account: region (required), resource group (else the
/// account's default), and the caller when it is a service ID.
fn cluster_slot_target(
    tr: &Translation,
    def: &ActionDef,
    principal: &EntityRef,
    account: &EntityRef,
    args: &mut BTreeMap<String, String>,
) -> Result<Target, Problem> {
    let Some(region) = args.get("region").cloned() else {
        return Err(bad(
            "--arg region",
            format!("{} needs --arg region=REGION", def.name),
        ));
    };
    // An empty scope is no slot: refused here, before anything is decided, so a decision is
    // never made on a slot other than the one carried out.
    for (name, what) in [
        ("region", "a region"),
        (
            "resource_group",
            "a resource group (omit it for the account's default)",
        ),
    ] {
        if args.get(name).is_some_and(|v| v.trim().is_empty()) {
            return Err(bad(
                &format!("--arg {name}"),
                format!("must not be empty: give {what}"),
            ));
        }
    }
    let rg = match args.get("resource_group") {
        Some(rg) => rg.clone(),
        None => {
            let rg = tr.world.accounts[tr.pos(&account.id).unwrap_or(0)]
                .default_resource_group
                .clone();
            args.insert("resource_group".into(), rg.clone());
            rg
        }
    };
    let caller = (principal.ty == ty::SERVICE_ID).then(|| principal.id.clone());
    Ok(Target {
        account: account.id.clone(),
        region: Some(region),
        resource_group: Some(rg),
        resource: caller,
    })
}

/// The account a request on a member acts in: its `account` arg, or its only account.
fn account_of_member(
    tr: &Translation,
    who: &str,
    args: &mut BTreeMap<String, String>,
) -> Result<String, Problem> {
    if let Some(a) = args.get("account") {
        return check_account(tr, a).map(|()| a.clone());
    }
    match tr.memberships(who).as_slice() {
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
    }
}

fn check_account(tr: &Translation, a: &str) -> Result<(), Problem> {
    if tr.kind(a) == Some(IdKind::Account) {
        Ok(())
    } else {
        Err(bad(
            "--arg account",
            format!("no account `{a}` in this world"),
        ))
    }
}

/// The args policies may read, checked and typed by their kind, as context fields.
fn args_context(
    tr: &Translation,
    def: &ActionDef,
    args: &BTreeMap<String, String>,
) -> Result<Map<String, Value>, Problem> {
    let mut ctx = Map::new();
    for (name, value) in args {
        let Some(arg) = def.arg(name) else { continue };
        let wrong = |msg: String| bad(&format!("--arg {name}"), msg);
        match arg.kind {
            ArgKind::Account => check_account(tr, value)?,
            ArgKind::Opaque => {}
            ArgKind::Text => {
                ctx.insert(name.clone(), json!(value));
            }
            ArgKind::Datetime => {
                crate::world::time::parse(value).map_err(|e| wrong(e.to_string()))?;
                ctx.insert(name.clone(), datetime(value));
            }
            ArgKind::OneOf { valid, words } => {
                if !valid(value) {
                    return Err(wrong(format!("`{value}` is not one of {words}")));
                }
                ctx.insert(name.clone(), json!(value));
            }
            ArgKind::Bool => {
                let b = crate::world::parse_flag(value).map_err(|e| wrong(e.to_string()))?;
                ctx.insert(name.clone(), json!(b));
            }
            ArgKind::Secret => {
                if value.chars().count() < 32 {
                    return Err(wrong(
                        "a caller-supplied API key value must be at least 32 characters (R12)"
                            .into(),
                    ));
                }
                ctx.insert("caller_supplied_value".into(), json!(true));
            }
        }
    }
    Ok(ctx)
}

/// Roles: the grants covering the target, as the context's last field.
fn roles(tr: &Translation, catalog: &RoleCatalog, t: &mut Translated) {
    if let Value::Object(ctx) = &mut t.context {
        ctx.insert("roles".into(), covering_roles(tr, catalog, &t.target));
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

impl Target3 {
    fn new(action: &'static str, resource: &str, args: &[(&str, &str)]) -> Self {
        Target3 {
            action,
            resource: resource.to_string(),
            args: args
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }
}

/// Every (action, resource, args) a world gives rise to, in a fixed order: each action on every
/// resource of that action's kind, with the args that select an account (one per membership)
/// or a cluster API key slot (every region and resource group that has clusters or a cluster
/// key). `login` is excluded: its principals are keys (see [`all_requests`]).
pub fn resource_requests(tr: &Translation) -> Vec<Target3> {
    let slots = cluster_slots(tr);
    DEFINITIONS
        .iter()
        .filter(|d| !d.called_by_keys())
        .flat_map(|d| candidates(tr, d, &slots))
        .collect()
}

/// Every (account, region, resource group) that has a cluster or a cluster API key.
fn cluster_slots(tr: &Translation) -> BTreeSet<(&str, &str, &str)> {
    let w = &tr.world;
    let clusters = w.clusters.iter().map(|c| {
        (
            c.account.as_str(),
            c.region.as_str(),
            c.resource_group.as_str(),
        )
    });
    let keys = w.cluster_api_keys.iter().map(|s| {
        (
            s.account.as_str(),
            s.region.as_str(),
            s.resource_group.as_str(),
        )
    });
    clusters.chain(keys).collect()
}

/// The resources (with their selecting args) one action can be asked about.
fn candidates(
    tr: &Translation,
    def: &ActionDef,
    slots: &BTreeSet<(&str, &str, &str)>,
) -> Vec<Target3> {
    let w = &tr.world;
    let a = def.name;
    let members = || {
        w.users.iter().flat_map(move |u| {
            tr.memberships(&u.id)
                .into_iter()
                .map(move |m| Target3::new(a, &u.id, &[("account", &m)]))
        })
    };
    match def.target {
        TargetRule::KeyCreate => members()
            .chain(w.service_ids.iter().map(|s| Target3::new(a, &s.id, &[])))
            .collect(),
        TargetRule::Member => members().collect(),
        TargetRule::Account => w
            .accounts
            .iter()
            .map(|x| Target3::new(a, &x.id, &[]))
            .collect(),
        TargetRule::ClusterSlot => slots
            .iter()
            .map(|(x, region, rg)| {
                Target3::new(a, x, &[("region", region), ("resource_group", rg)])
            })
            .collect(),
        TargetRule::Cluster => w
            .clusters
            .iter()
            .map(|c| Target3::new(a, &c.id, &[]))
            .collect(),
        TargetRule::Key => w
            .api_keys
            .iter()
            .map(|k| Target3::new(a, &k.id, &[]))
            .collect(),
    }
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
    let spec = |p: &str, t: &Target3| RequestSpec {
        principal: p.to_string(),
        action: t.action.to_string(),
        resource: Some(t.resource.clone()),
        args: t.args.clone(),
        via_trusted_profile: false,
        now: None,
    };
    let callers = callers(tr);
    let keys: Vec<&str> = tr.world.api_keys.iter().map(|k| k.id.as_str()).collect();
    let targets = resource_requests(tr);
    let slots = cluster_slots(tr);
    let mut out = Vec::new();
    for def in &DEFINITIONS {
        if def.called_by_keys() {
            let mine = candidates(tr, def, &slots);
            for k in &keys {
                out.extend(mine.iter().map(|t| spec(k, t)));
            }
            continue;
        }
        for p in &callers {
            let mine = targets.iter().filter(|t| t.action == def.name);
            out.extend(mine.map(|t| spec(p, t)));
        }
    }
    out
}
