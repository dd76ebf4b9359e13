//! Counterexamples as worlds: the solver's entity store and request turned back into a keyward
//! world and a `keyward check` request, by inverting the translation of
//! [`crate::decide::entities`] and [`crate::decide::request`] (role grants in the request's
//! context become account-wide role bindings of their subjects, key counts become stored keys,
//! classic key accounts become classic keys, …).
//!
//! The solver ranges over every entity store the schema admits, more than a world produces, so
//! a world built here is believed only after keyward re-decides it (see
//! [`crate::prove::confirm`]).
//!
//! Owns the inversion. Must not: decide (no role or ownership test: it copies what the store
//! says).
//!
//! May use: [`crate::decide`] (entity type names, the action table, request specs) and
//! [`crate::world`].

use crate::decide::action::{Action, ArgKind, TargetRule};
use crate::decide::entities::ty;
use crate::decide::request::RequestSpec;
use crate::world::{
    AccessGroup, Account, ApiKey, ClassicKey, Cluster, LeakAction, Restriction, RoleBinding,
    ServiceId, User, World,
};
use serde_json::Value;
use std::collections::BTreeMap;

/// An entity of the solver's store, as Cedar's entities JSON gives it.
#[derive(Debug, Clone)]
struct Ent {
    ty: String,
    id: String,
    attrs: serde_json::Map<String, Value>,
    parents: Vec<(String, String)>,
}

/// The solver's request, as JSON values.
#[derive(Debug, Clone)]
pub struct StoreRequest {
    pub principal: (String, String),
    pub action: String,
    pub resource: (String, String),
    pub context: Value,
}

/// A counterexample made a world: the world and the request that should reproduce it, and the
/// limits met on the way (a key count too large to store, …).
#[derive(Debug, Clone)]
pub struct Realised {
    pub world: World,
    pub request: RequestSpec,
    pub limits: Vec<String>,
}

/// The most keys a valid world stores for one identity (R10).
const MAX_KEYS: i64 = 20;

/// A uid in either JSON form (`{"__entity": {...}}` or `{"type", "id"}`).
fn uid(v: &Value) -> Option<(String, String)> {
    let v = v.get("__entity").unwrap_or(v);
    Some((
        v.get("type")?.as_str()?.to_string(),
        v.get("id")?.as_str()?.to_string(),
    ))
}

/// A datetime value as RFC 3339 text: `{"__extn": {"fn": "datetime", "arg": …}}`, or the
/// solver's `datetime(…).offset(duration(…))`.
fn datetime(v: &Value) -> Option<String> {
    let ms = millis(v)?;
    let t = chrono::DateTime::from_timestamp_millis(ms)?;
    Some(t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
}

fn millis(v: &Value) -> Option<i64> {
    let e = v.get("__extn")?;
    match e.get("fn")?.as_str()? {
        "datetime" => crate::world::time::parse(&full(e.get("arg")?.as_str()?))
            .ok()
            .map(|t| t.millis),
        "offset" => {
            let args = e.get("args")?.as_array()?;
            let d = args.get(1)?.get("__extn")?.get("arg")?.as_str()?;
            millis(args.first()?)?.checked_add(duration(d)?)
        }
        _ => None,
    }
}

/// A date alone (`1970-01-01`), as Cedar allows, at midnight UTC.
fn full(s: &str) -> String {
    if s.len() == 10 {
        format!("{s}T00:00:00Z")
    } else {
        s.to_string()
    }
}

/// A Cedar duration (`-1d2h3m4s5ms`) in milliseconds.
fn duration(s: &str) -> Option<i64> {
    let (sign, mut rest) = match s.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, s),
    };
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let n = rest.find(|c: char| !c.is_ascii_digit())?;
        let value: i64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let (unit, len) = match rest {
            r if r.starts_with("ms") => (1, 2),
            r if r.starts_with('d') => (86_400_000, 1),
            r if r.starts_with('h') => (3_600_000, 1),
            r if r.starts_with('m') => (60_000, 1),
            r if r.starts_with('s') => (1_000, 1),
            _ => return None,
        };
        rest = &rest[len..];
        total = total.checked_add(value.checked_mul(unit)?)?;
    }
    Some(sign * total)
}

fn parse_store(entities: &Value) -> Vec<Ent> {
    let mut out = Vec::new();
    for e in entities.as_array().into_iter().flatten() {
        let Some((ty, id)) = e.get("uid").and_then(uid) else {
            continue;
        };
        let attrs = e
            .get("attrs")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let parents = e
            .get("parents")
            .and_then(Value::as_array)
            .map(|ps| ps.iter().filter_map(uid).collect())
            .unwrap_or_default();
        out.push(Ent {
            ty,
            id,
            attrs,
            parents,
        });
    }
    out
}

/// World ids for store uids: readable, unique across the file (a world's ids are), stable.
#[derive(Default)]
struct Names {
    by_uid: BTreeMap<(String, String), String>,
    counts: BTreeMap<&'static str, usize>,
}

impl Names {
    fn name(&mut self, ty: &str, id: &str) -> String {
        if let Some(n) = self.by_uid.get(&(ty.to_string(), id.to_string())) {
            return n.clone();
        }
        let prefix = match ty {
            ty::ACCOUNT => "account",
            ty::USER => "user",
            ty::SERVICE_ID => "service-id",
            ty::ACCESS_GROUP => "group",
            ty::USER_API_KEY => "user-key",
            ty::SERVICE_ID_API_KEY => "service-id-key",
            ty::CLUSTER => "cluster",
            _ => "entity",
        };
        let n = self.counts.entry(prefix).or_default();
        *n += 1;
        let name = format!("{prefix}-{n}");
        self.by_uid
            .insert((ty.to_string(), id.to_string()), name.clone());
        name
    }
    fn of(&mut self, v: Option<&Value>) -> Option<String> {
        let (t, i) = uid(v?)?;
        Some(self.name(&t, &i))
    }
}

fn text(a: &serde_json::Map<String, Value>, k: &str) -> String {
    a.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}
fn flag(a: &serde_json::Map<String, Value>, k: &str) -> bool {
    a.get(k).and_then(Value::as_bool).unwrap_or(false)
}
fn long(a: &serde_json::Map<String, Value>, k: &str) -> i64 {
    a.get(k).and_then(Value::as_i64).unwrap_or(0)
}

/// Build the world and request a counterexample describes.
pub fn realise(entities: &Value, req: &StoreRequest) -> Realised {
    let store = parse_store(entities);
    let mut names = Names::default();
    let mut w = World::default();
    let mut limits = Vec::new();
    // The request's own entities first, so they get the first names.
    let principal = names.name(&req.principal.0, &req.principal.1);
    let resource = names.name(&req.resource.0, &req.resource.1);
    let ctx = req.context.as_object().cloned().unwrap_or_default();
    let account = names.of(ctx.get("account"));
    let resource_account = store
        .iter()
        .find(|e| {
            (e.ty.as_str(), e.id.as_str()) == (req.resource.0.as_str(), req.resource.1.as_str())
        })
        .and_then(|e| names.of(e.attrs.get("account")));
    if let (Some(acts), Some(of)) = (&account, &resource_account)
        && acts != of
    {
        limits.push(format!(
            "the request acts in account `{acts}` on `{resource}` of account `{of}`; a \
                 request built from a world acts in the account of what it acts on"
        ));
    }
    w.now = ctx.get("now").and_then(datetime);
    if ctx.contains_key("now") && w.now.is_none() {
        limits.push("the store's `now` is no time a world can carry".into());
    }
    for e in &store {
        entity(&mut w, &mut names, e, &store);
    }
    owners_are_members(&mut w);
    let holder = |s: &Ent| {
        let is_principal = |e: &Ent| e.ty == req.principal.0 && e.id == req.principal.1;
        is_principal(s)
            || store
                .iter()
                .any(|p| is_principal(p) && p.parents.contains(&(s.ty.clone(), s.id.clone())))
    };
    let holders: Vec<Ent> = store.iter().filter(|s| holder(s)).cloned().collect();
    bindings(&mut w, &mut names, &holders, &ctx, account.as_deref());
    counted_keys(&mut w, &store, &mut names);
    classic_parents(&mut w, &store, &mut names);
    let request = request_spec(req, &ctx, principal, resource, account, &mut names);
    Realised {
        world: w,
        request,
        limits,
    }
}

/// One entity of the store as the world item it was translated from.
fn entity(w: &mut World, names: &mut Names, e: &Ent, store: &[Ent]) {
    let id = names.name(&e.ty, &e.id);
    let a = &e.attrs;
    let parents_of = |t: &str, names: &mut Names| -> Vec<String> {
        e.parents
            .iter()
            .filter(|(pt, _)| pt == t)
            .map(|(pt, pi)| names.name(pt, pi))
            .collect()
    };
    match e.ty.as_str() {
        ty::ACCOUNT => w.accounts.push(Account {
            id,
            owner: names.of(a.get("owner")).unwrap_or_default(),
            default_resource_group: Some(text(a, "default_resource_group"))
                .filter(|s| !s.trim().is_empty())
                .unwrap_or_else(|| "default".into()),
            restrict_user_api_key_creation: Restriction::parse(&text(
                a,
                "restrict_user_api_key_creation",
            ))
            .unwrap_or_default(),
            ..Default::default()
        }),
        ty::USER => {
            let accounts = parents_of(ty::ACCOUNT, names);
            user(w, names, e, id, accounts);
        }
        ty::SERVICE_ID => w.service_ids.push(ServiceId {
            id,
            account: names.of(a.get("account")).unwrap_or_default(),
            created_by: names.of(a.get("created_by")),
            ..Default::default()
        }),
        ty::ACCESS_GROUP => {
            let members = store
                .iter()
                .filter(|m| m.parents.iter().any(|p| p.0 == e.ty && p.1 == e.id))
                .map(|m| (m.ty.clone(), m.id.clone()))
                .collect::<Vec<_>>();
            w.access_groups.push(AccessGroup {
                id,
                account: names.of(a.get("account")).unwrap_or_default(),
                members: members.iter().map(|(t, i)| names.name(t, i)).collect(),
                ..Default::default()
            });
        }
        ty::USER_API_KEY | ty::SERVICE_ID_API_KEY => w.api_keys.push(ApiKey {
            id,
            name: text(a, "name"),
            identity: names.of(a.get("identity")).unwrap_or_default(),
            account: names.of(a.get("account")).unwrap_or_default(),
            description: text(a, "description"),
            locked: flag(a, "locked"),
            disabled: flag(a, "disabled"),
            obsolete: flag(a, "obsolete"),
            expires_at: a.get("expires_at").and_then(datetime),
            action_when_leaked: LeakAction::parse(&text(a, "action_when_leaked"))
                .unwrap_or_default(),
            created_by: None,
            etag: None,
            fingerprint: None,
        }),
        ty::CLUSTER => w.clusters.push(Cluster {
            id,
            account: names.of(a.get("account")).unwrap_or_default(),
            region: text(a, "region"),
            resource_group: text(a, "resource_group"),
            addons: a
                .get("addons")
                .and_then(Value::as_array)
                .map(|s| {
                    s.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
            ..Default::default()
        }),
        _ => {}
    }
}

/// A user, with its classic keys (one per account its store entity lists).
fn user(w: &mut World, names: &mut Names, e: &Ent, id: String, accounts: Vec<String>) {
    let a = &e.attrs;
    for acct in a
        .get("classic_key_accounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(acct) = names.of(Some(acct)) {
            let n = w.classic_keys.len() + 1;
            w.classic_keys.push(ClassicKey {
                id: format!("classic-key-{n}"),
                user: id.clone(),
                account: acct,
            });
        }
    }
    w.users.push(User {
        id,
        accounts,
        functional: flag(a, "functional"),
        ..Default::default()
    });
}

/// A world lists an account's owner among its members (the translation makes the owner a
/// member either way; the re-decision shows whether the store relied on one that was not).
fn owners_are_members(w: &mut World) {
    for a in &w.accounts {
        if let Some(u) = w.users.iter_mut().find(|u| u.id == a.owner)
            && !u.accounts.contains(&a.id)
        {
            u.accounts.push(a.id.clone());
        }
    }
}

/// The context's grants, by service and role, as account-wide role bindings of the subjects
/// (among `holders`: the principal and the groups it is in; no policy asks about another
/// subject) the store puts under each grant (the translation's inverse: a subject holds a grant's role
/// exactly when it is a descendant of the grant).
fn bindings(
    w: &mut World,
    names: &mut Names,
    store: &[Ent],
    ctx: &serde_json::Map<String, Value>,
    account: Option<&str>,
) {
    let Some(account) = account else { return };
    let Some(roles) = ctx.get("roles").and_then(Value::as_object) else {
        return;
    };
    for (service, by_role) in roles {
        for (role, grants) in by_role.as_object().into_iter().flatten() {
            for g in grants.as_array().into_iter().flatten() {
                let Some(g) = uid(g) else { continue };
                for s in store.iter().filter(|s| s.parents.contains(&g)) {
                    let subject = names.name(&s.ty, &s.id);
                    let dup = w.role_bindings.iter_mut().find(|b| {
                        b.subject == subject && b.service == *service && b.account == account
                    });
                    match dup {
                        Some(b) if b.roles.contains(role) => {}
                        Some(b) => b.roles.push(role.clone()),
                        None => w.role_bindings.push(RoleBinding {
                            subject,
                            account: account.to_string(),
                            service: service.clone(),
                            roles: vec![role.clone()],
                            region: None,
                            resource_group: None,
                            resource: None,
                        }),
                    }
                }
            }
        }
    }
}

/// Stored keys enough for each identity's `key_count` (R10 counts every stored key).
fn counted_keys(w: &mut World, store: &[Ent], names: &mut Names) {
    for e in store
        .iter()
        .filter(|e| e.ty == ty::USER || e.ty == ty::SERVICE_ID)
    {
        let id = names.name(&e.ty, &e.id);
        let want = long(&e.attrs, "key_count");
        let have = w.api_keys.iter().filter(|k| k.identity == id).count() as i64;
        // Above the cap, the cap: re-deciding shows whether a policy told them apart.
        let want = want.min(MAX_KEYS);
        // Fewer than the store holds: the world counts what it stores, and re-deciding shows
        // whether a policy read the count.
        if want <= have {
            continue;
        }
        let account = match e.ty.as_str() {
            ty::SERVICE_ID => names.of(e.attrs.get("account")),
            _ => e
                .parents
                .iter()
                .find(|p| p.0 == ty::ACCOUNT)
                .map(|p| names.name(&p.0, &p.1)),
        }
        .or_else(|| w.accounts.first().map(|a| a.id.clone()))
        .unwrap_or_default();
        for n in have..want {
            w.api_keys.push(stored_key(
                format!("{id}-stored-key-{}", n + 1),
                &id,
                &account,
            ));
        }
    }
}

/// Classic parents from the store's interval numbers: a user's parent is the other user whose
/// interval most tightly contains its preorder number.
fn classic_parents(w: &mut World, store: &[Ent], names: &mut Names) {
    let users: Vec<(String, i64, i64)> = store
        .iter()
        .filter(|e| e.ty == ty::USER)
        .map(|e| {
            (
                names.name(&e.ty, &e.id),
                long(&e.attrs, "classic_pre"),
                long(&e.attrs, "classic_last"),
            )
        })
        .collect();
    for u in &mut w.users {
        let Some(&(_, pre, _)) = users.iter().find(|x| x.0 == u.id) else {
            continue;
        };
        u.classic_parent = users
            .iter()
            .filter(|(id, p, l)| *id != u.id && *p < pre && pre <= *l)
            .min_by_key(|(_, p, l)| (l - p, -p))
            .map(|(id, _, _)| id.clone());
    }
}

/// The request as `keyward check` takes it: the args the action takes, from the context.
fn request_spec(
    req: &StoreRequest,
    ctx: &serde_json::Map<String, Value>,
    principal: String,
    resource: String,
    account: Option<String>,
    names: &mut Names,
) -> RequestSpec {
    let mut spec = RequestSpec {
        principal,
        action: req.action.clone(),
        resource: Some(resource),
        via_trusted_profile: ctx
            .get("via_trusted_profile")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        ..Default::default()
    };
    let Ok(action) = req.action.parse::<Action>() else {
        return spec;
    };
    let def = action.def();
    for arg in def.args {
        let value = match arg.kind {
            ArgKind::Account => account.clone(),
            ArgKind::Secret => (ctx.get("caller_supplied_value").and_then(Value::as_bool)
                == Some(true))
            .then(|| "x".repeat(32)),
            ArgKind::Opaque => Some("*".into()),
            ArgKind::Datetime => ctx.get(arg.name).and_then(datetime),
            ArgKind::Bool => ctx
                .get(arg.name)
                .and_then(Value::as_bool)
                .map(|b| b.to_string()),
            ArgKind::Text | ArgKind::OneOf { .. } => {
                ctx.get(arg.name).and_then(Value::as_str).map(String::from)
            }
        };
        if let Some(v) = value {
            spec.args.insert(arg.name.to_string(), v);
        }
    }
    if def.target == TargetRule::ClusterSlot && !spec.args.contains_key("region") {
        // The translation needs a region; the store's request named none, so no policy read it.
        spec.args.insert("region".into(), "region-1".into());
    }
    let _ = names;
    spec
}

/// A plain stored key of an identity, there to be counted.
fn stored_key(id: String, identity: &str, account: &str) -> ApiKey {
    ApiKey {
        id,
        name: "stored".into(),
        identity: identity.to_string(),
        account: account.to_string(),
        description: String::new(),
        created_by: None,
        locked: false,
        disabled: false,
        expires_at: None,
        action_when_leaked: LeakAction::default(),
        etag: None,
        obsolete: false,
        fingerprint: None,
    }
}
