//! World -> Cedar entities (JSON in Cedar's own format, then `Entities` parsed with the schema),
//! plus the lookup tables the request translation needs (grants, scopes, key counts).
//!
//! Owns the shape of entities as the schema declares them. It computes facts (memberships, key
//! counts, which grants a binding yields) but never what they permit.

use crate::world::{IdKind, Index, RoleBinding, World, cedar_datetime};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

/// Entity type names, as in the schema.
pub mod ty {
    pub const ACCOUNT: &str = "Account";
    pub const GRANT: &str = "Grant";
    pub const ACCESS_GROUP: &str = "AccessGroup";
    pub const USER: &str = "User";
    pub const SERVICE_ID: &str = "ServiceId";
    pub const USER_API_KEY: &str = "UserApiKey";
    pub const SERVICE_ID_API_KEY: &str = "ServiceIdApiKey";
    pub const CLUSTER: &str = "Cluster";
}

/// A reference to an entity in Cedar's JSON form.
pub fn eref(t: &str, id: &str) -> Value {
    obj([("__entity", uid(t, id))])
}

/// A datetime value in Cedar's JSON form (input already RFC 3339-checked).
pub fn datetime(s: &str) -> Value {
    let arg = cedar_datetime(s).unwrap_or_else(|| s.to_string());
    obj([(
        "__extn",
        obj([("fn", "datetime".into()), ("arg", arg.into())]),
    )])
}

fn uid(t: &str, id: &str) -> Value {
    obj([("type", t.into()), ("id", id.into())])
}

/// A JSON object of these fields, in this order, built directly: `json!` copies every `Value`
/// it is given through the serializer, which made building a big world's entities several
/// times slower.
fn obj<const N: usize>(fields: [(&str, Value); N]) -> Value {
    let mut m = serde_json::Map::with_capacity(N);
    for (k, v) in fields {
        m.insert(k.to_string(), v);
    }
    Value::Object(m)
}

/// One entity of the entities JSON array (every entity has the three fields, in this order).
fn entity(t: &str, id: &str, attrs: Value, parents: Value) -> Value {
    obj([("uid", uid(t, id)), ("attrs", attrs), ("parents", parents)])
}

/// A reference to one entity: its type (as in the schema, see [`ty`]) and id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityRef {
    pub ty: String,
    pub id: String,
}

impl EntityRef {
    /// The entity `id` of type `ty`.
    pub fn new(ty: &str, id: &str) -> Self {
        EntityRef {
            ty: ty.to_string(),
            id: id.to_string(),
        }
    }
}

/// As the `cedar` CLI writes a uid: `Type::"id"` (the id JSON-quoted).
impl std::fmt::Display for EntityRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}::{}", self.ty, Value::String(self.id.clone()))
    }
}

/// The Cedar id of the grant for one role of the role binding at `index`.
pub fn grant_id(index: usize, b: &RoleBinding, role: &str) -> String {
    format!(
        "{}/{}/{}/{}#{}",
        b.account,
        b.service,
        role,
        b.subject,
        index + 1
    )
}

/// A world with the tables its translation needs; built once per world.
#[derive(Debug, Clone)]
pub struct Translation {
    pub world: World,
    pub index: Index,
    /// Stored keys per identity (R10 counts every stored key).
    pub key_counts: HashMap<String, i64>,
    /// Role bindings by account, by index into `world.role_bindings`.
    pub bindings_by_account: HashMap<String, Vec<usize>>,
}

impl Translation {
    /// Prepare a validated world.
    pub fn new(world: World) -> Self {
        let index = world.index();
        let mut key_counts: HashMap<String, i64> = HashMap::new();
        for k in &world.api_keys {
            *key_counts.entry(k.identity.clone()).or_default() += 1;
        }
        let mut bindings_by_account: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, b) in world.role_bindings.iter().enumerate() {
            bindings_by_account
                .entry(b.account.clone())
                .or_default()
                .push(i);
        }
        Translation {
            world,
            index,
            key_counts,
            bindings_by_account,
        }
    }

    /// What kind of thing an id names.
    pub fn kind(&self, id: &str) -> Option<IdKind> {
        self.index.ids.get(id).map(|(k, _)| *k)
    }

    /// The position of an id in its section.
    pub fn pos(&self, id: &str) -> Option<usize> {
        self.index.ids.get(id).map(|(_, i)| *i)
    }

    /// The Cedar entity type of an API key.
    pub fn key_type(&self, key_index: usize) -> &'static str {
        let k = &self.world.api_keys[key_index];
        if self.kind(&k.identity) == Some(IdKind::ServiceId) {
            ty::SERVICE_ID_API_KEY
        } else {
            ty::USER_API_KEY
        }
    }

    /// The Cedar entity type of an id, for the kinds that are entities.
    pub fn entity_type(&self, id: &str) -> Option<&'static str> {
        match self.index.ids.get(id)? {
            (IdKind::Account, _) => Some(ty::ACCOUNT),
            (IdKind::User, _) => Some(ty::USER),
            (IdKind::ServiceId, _) => Some(ty::SERVICE_ID),
            (IdKind::AccessGroup, _) => Some(ty::ACCESS_GROUP),
            (IdKind::ApiKey, i) => Some(self.key_type(*i)),
            (IdKind::Cluster, _) => Some(ty::CLUSTER),
            (IdKind::ClassicKey, _) => None,
        }
    }

    /// The accounts a user or service ID is a member of (the owner is a member of its account).
    pub fn memberships(&self, id: &str) -> Vec<String> {
        match self.index.ids.get(id) {
            Some((IdKind::User, i)) => {
                let mut accts = self.world.users[*i].accounts.clone();
                for a in &self.world.accounts {
                    if a.owner == id && !accts.contains(&a.id) {
                        accts.push(a.id.clone());
                    }
                }
                accts
            }
            Some((IdKind::ServiceId, i)) => vec![self.world.service_ids[*i].account.clone()],
            _ => Vec::new(),
        }
    }

    /// Every entity of the world, in Cedar's entities JSON format (an array): grants, accounts,
    /// access groups, users, service IDs, API keys, clusters.
    pub fn entities_json(&self) -> Value {
        let cx = EntityContext::of(&self.world);
        Value::Array(self.records().map(|r| self.entity_json(&cx, r)).collect())
    }

    /// Every entity record of the world, in the order of [`Translation::entities_json`].
    pub fn records(&self) -> impl Iterator<Item = Rec> + '_ {
        let w = &self.world;
        let grants = w
            .role_bindings
            .iter()
            .enumerate()
            .flat_map(|(i, b)| (0..b.roles.len()).map(move |j| Rec::Grant(i, j)));
        grants
            .chain((0..w.accounts.len()).map(Rec::Account))
            .chain((0..w.access_groups.len()).map(Rec::AccessGroup))
            .chain((0..w.users.len()).map(Rec::User))
            .chain((0..w.service_ids.len()).map(Rec::ServiceId))
            .chain((0..w.api_keys.len()).map(Rec::ApiKey))
            .chain((0..w.clusters.len()).map(Rec::Cluster))
    }

    /// The record of the entity `ty::"id"`, if the world has that entity.
    pub fn record_of(&self, cx: &EntityContext, t: &str, id: &str) -> Option<Rec> {
        if t == ty::GRANT {
            return cx.grants.get(id).map(|&(i, j)| Rec::Grant(i, j));
        }
        let &(kind, i) = self.index.ids.get(id)?;
        let rec = match kind {
            IdKind::Account => Rec::Account(i),
            IdKind::AccessGroup => Rec::AccessGroup(i),
            IdKind::User => Rec::User(i),
            IdKind::ServiceId => Rec::ServiceId(i),
            IdKind::ApiKey => Rec::ApiKey(i),
            IdKind::Cluster => Rec::Cluster(i),
            IdKind::ClassicKey => return None,
        };
        (self.entity_type(id) == Some(t)).then_some(rec)
    }

    /// The entities `roots` can reach, in Cedar's entities JSON format: each root that is an
    /// entity of the world, then everything any of them names, transitively, as an attribute
    /// value (at any depth) or a parent. An evaluation that starts from the roots can read no
    /// other entity, so it decides the same on this slice as on every entity of the world.
    pub fn reachable(&self, roots: impl IntoIterator<Item = (String, String)>) -> Vec<Value> {
        let cx = EntityContext::of(&self.world);
        let mut seen: std::collections::HashSet<(String, String)> = Default::default();
        let mut todo: Vec<(String, String)> = roots.into_iter().collect();
        let mut out = Vec::new();
        while let Some((t, id)) = todo.pop() {
            if !seen.insert((t.clone(), id.clone())) {
                continue;
            }
            let Some(rec) = self.record_of(&cx, &t, &id) else {
                continue;
            };
            let e = self.entity_json(&cx, rec);
            refs_in(&e["attrs"], &mut todo);
            if let Value::Array(ps) = &e["parents"] {
                todo.extend(ps.iter().filter_map(uid_parts));
            }
            out.push(e);
        }
        out
    }

    /// The entity of one record, in Cedar's entities JSON format.
    pub fn entity_json(&self, cx: &EntityContext, r: Rec) -> Value {
        let w = &self.world;
        match r {
            Rec::Grant(i, j) => {
                let b = &w.role_bindings[i];
                entity(
                    ty::GRANT,
                    &grant_id(i, b, &b.roles[j]),
                    obj([]),
                    Value::Array(Vec::new()),
                )
            }
            Rec::Account(i) => account(&w.accounts[i]),
            Rec::AccessGroup(i) => {
                let g = &w.access_groups[i];
                let attrs = obj([("account", eref(ty::ACCOUNT, &g.account))]);
                let ps = cx.parents.with(&g.id, vec![]);
                entity(ty::ACCESS_GROUP, &g.id, attrs, ps)
            }
            Rec::User(i) => self.user(cx, i),
            Rec::ServiceId(i) => self.service_id(cx, i),
            Rec::ApiKey(i) => self.api_key(i),
            Rec::Cluster(i) => cluster(&w.clusters[i]),
        }
    }

    fn user(&self, cx: &EntityContext, i: usize) -> Value {
        let u = &self.world.users[i];
        let (pre, last) = cx.intervals[i];
        let accounts: Vec<Value> = self
            .memberships(&u.id)
            .iter()
            .map(|a| uid(ty::ACCOUNT, a))
            .collect();
        let classic_key_accounts = cx.classic_accounts.get(u.id.as_str());
        let attrs = obj([
            ("functional", u.functional.into()),
            ("classic_pre", json!(pre)),
            ("classic_last", json!(last)),
            ("key_count", self.key_count(&u.id).into()),
            (
                "classic_key_accounts",
                Value::Array(classic_key_accounts.cloned().unwrap_or_default()),
            ),
        ]);
        entity(ty::USER, &u.id, attrs, cx.parents.with(&u.id, accounts))
    }

    fn service_id(&self, cx: &EntityContext, i: usize) -> Value {
        let s = &self.world.service_ids[i];
        let mut attrs = obj([
            ("account", eref(ty::ACCOUNT, &s.account)),
            ("key_count", self.key_count(&s.id).into()),
        ]);
        if let Some(c) = &s.created_by {
            attrs["created_by"] = eref(ty::USER, c);
        }
        let ps = cx.parents.with(&s.id, vec![uid(ty::ACCOUNT, &s.account)]);
        entity(ty::SERVICE_ID, &s.id, attrs, ps)
    }

    fn api_key(&self, i: usize) -> Value {
        let k = &self.world.api_keys[i];
        let kt = self.key_type(i);
        let identity_type = if kt == ty::SERVICE_ID_API_KEY {
            ty::SERVICE_ID
        } else {
            ty::USER
        };
        let mut attrs = obj([
            ("identity", eref(identity_type, &k.identity)),
            ("account", eref(ty::ACCOUNT, &k.account)),
            ("name", json!(k.name)),
            ("description", json!(k.description)),
            ("locked", k.locked.into()),
            ("disabled", k.disabled.into()),
            ("obsolete", k.obsolete.into()),
            ("action_when_leaked", k.action_when_leaked.as_str().into()),
        ]);
        if let Some(t) = &k.expires_at {
            attrs["expires_at"] = datetime(t);
        }
        entity(kt, &k.id, attrs, Value::Array(Vec::new()))
    }

    /// Stored keys of an identity (R10 counts every stored key).
    fn key_count(&self, id: &str) -> i64 {
        self.key_counts.get(id).copied().unwrap_or(0)
    }
}

fn account(a: &crate::world::Account) -> Value {
    let attrs = obj([
        ("owner", eref(ty::USER, &a.owner)),
        ("default_resource_group", json!(a.default_resource_group)),
        (
            "restrict_user_api_key_creation",
            a.restrict_user_api_key_creation.as_str().into(),
        ),
    ]);
    entity(ty::ACCOUNT, &a.id, attrs, Value::Array(Vec::new()))
}

fn cluster(c: &crate::world::Cluster) -> Value {
    let attrs = obj([
        ("account", eref(ty::ACCOUNT, &c.account)),
        ("region", json!(c.region)),
        ("resource_group", json!(c.resource_group)),
        ("addons", json!(c.addons)),
    ]);
    entity(ty::CLUSTER, &c.id, attrs, Value::Array(Vec::new()))
}

/// `(type, id)` of a uid in Cedar's JSON form (`{"type": .., "id": ..}`).
fn uid_parts(v: &Value) -> Option<(String, String)> {
    Some((
        v["type"].as_str()?.to_string(),
        v["id"].as_str()?.to_string(),
    ))
}

/// Every entity a value in Cedar's JSON form refers to (`{"__entity": ..}`), at any depth.
pub fn refs_in(v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| refs_in(i, out)),
        Value::Object(m) => match m.get("__entity") {
            Some(e) => out.extend(uid_parts(e)),
            None => m.values().for_each(|i| refs_in(i, out)),
        },
        _ => {}
    }
}

/// One entity record of a world: which section, which record (a grant: which binding and
/// which of its roles).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rec {
    Grant(usize, usize),
    Account(usize),
    AccessGroup(usize),
    User(usize),
    ServiceId(usize),
    ApiKey(usize),
    Cluster(usize),
}

/// What one entity's JSON needs beyond its own record, built once per world (linear in it):
/// parents by subject, each user's classic interval and classic-key accounts, grants by id.
pub struct EntityContext<'w> {
    parents: Parents<'w>,
    intervals: Vec<(i64, i64)>,
    classic_accounts: HashMap<&'w str, Vec<Value>>,
    grants: HashMap<String, (usize, usize)>,
}

impl<'w> EntityContext<'w> {
    /// The context of a world's entities.
    pub fn of(w: &'w World) -> Self {
        let mut classic_accounts: HashMap<&str, Vec<Value>> = HashMap::new();
        for c in &w.classic_keys {
            classic_accounts
                .entry(c.user.as_str())
                .or_default()
                .push(eref(ty::ACCOUNT, &c.account));
        }
        let mut grants = HashMap::new();
        for (i, b) in w.role_bindings.iter().enumerate() {
            for (j, r) in b.roles.iter().enumerate() {
                grants.entry(grant_id(i, b, r)).or_insert((i, j));
            }
        }
        EntityContext {
            parents: Parents::of(w),
            intervals: classic_intervals(w),
            classic_accounts,
            grants,
        }
    }
}

/// Each user's place in the classic hierarchy, in world order: (preorder number, largest
/// preorder number of its subtree) of a depth-first walk of the forest of `classic_parent`
/// links, roots and children in world order. b is a or an ancestor of a exactly when
/// `b.0 <= a.0 && a.0 <= b.1`. Linear in the users, iterative (a chain of any depth).
/// A user on a cycle (rejected by validation) or whose parent is not a user is a root.
pub fn classic_intervals(w: &World) -> Vec<(i64, i64)> {
    let pos: HashMap<&str, usize> = w
        .users
        .iter()
        .enumerate()
        .map(|(i, u)| (u.id.as_str(), i))
        .collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); w.users.len()];
    let mut has_parent = vec![false; w.users.len()];
    for (i, u) in w.users.iter().enumerate() {
        if let Some(&p) = u.classic_parent.as_deref().and_then(|p| pos.get(p))
            && p != i
        {
            children[p].push(i);
            has_parent[i] = true;
        }
    }
    let mut out = vec![(-1, -1); w.users.len()];
    let mut next = 0i64;
    // Roots first; then any user not reached (only on a cycle) as a root of its own walk.
    let roots = (0..w.users.len()).filter(|&i| !has_parent[i]);
    for root in roots.chain(0..w.users.len()).collect::<Vec<_>>() {
        if out[root].0 >= 0 {
            continue;
        }
        // (node, how many of its children are done)
        let mut stack = vec![(root, 0usize)];
        out[root].0 = next;
        next += 1;
        while let Some((node, done)) = stack.last_mut() {
            let node = *node;
            match children[node].get(*done) {
                Some(&c) => {
                    *done += 1;
                    if out[c].0 < 0 {
                        out[c].0 = next;
                        next += 1;
                        stack.push((c, 0));
                    }
                }
                None => {
                    out[node].1 = next - 1;
                    stack.pop();
                }
            }
        }
    }
    out
}

/// The parents a subject inherits besides its own: the access groups it is a member of, then
/// the grants bound to it.
struct Parents<'w> {
    groups_of: BTreeMap<&'w str, Vec<Value>>,
    grants_of: BTreeMap<&'w str, Vec<Value>>,
}

impl<'w> Parents<'w> {
    fn of(w: &'w World) -> Self {
        let mut grants_of: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
        for (i, b) in w.role_bindings.iter().enumerate() {
            for r in &b.roles {
                grants_of
                    .entry(b.subject.as_str())
                    .or_default()
                    .push(uid(ty::GRANT, &grant_id(i, b, r)));
            }
        }
        let mut groups_of: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
        for g in &w.access_groups {
            for m in &g.members {
                groups_of
                    .entry(m.as_str())
                    .or_default()
                    .push(uid(ty::ACCESS_GROUP, &g.id));
            }
        }
        Parents {
            groups_of,
            grants_of,
        }
    }

    /// `base`, then the groups and grants of `id`.
    fn with(&self, id: &str, mut base: Vec<Value>) -> Value {
        base.extend(self.groups_of.get(id).into_iter().flatten().cloned());
        base.extend(self.grants_of.get(id).into_iter().flatten().cloned());
        Value::Array(base)
    }
}
