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
    pub const CLASSIC_USER: &str = "ClassicUser";
    pub const USER: &str = "User";
    pub const SERVICE_ID: &str = "ServiceId";
    pub const USER_API_KEY: &str = "UserApiKey";
    pub const SERVICE_ID_API_KEY: &str = "ServiceIdApiKey";
    pub const CLUSTER: &str = "Cluster";
}

/// A reference to an entity in Cedar's JSON form.
pub fn eref(t: &str, id: &str) -> Value {
    json!({"__entity": {"type": t, "id": id}})
}

/// A datetime value in Cedar's JSON form (input already RFC 3339-checked).
pub fn datetime(s: &str) -> Value {
    let arg = cedar_datetime(s).unwrap_or_else(|| s.to_string());
    json!({"__extn": {"fn": "datetime", "arg": arg}})
}

fn uid(t: &str, id: &str) -> Value {
    json!({"type": t, "id": id})
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

    /// Every entity of the world, in Cedar's entities JSON format (an array).
    pub fn entities_json(&self) -> Value {
        let w = &self.world;
        let mut out = Vec::new();
        // Subject -> grants bound to it; group members -> groups.
        let mut grants_of: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
        for (i, b) in w.role_bindings.iter().enumerate() {
            for r in &b.roles {
                let g = grant_id(i, b, r);
                out.push(json!({"uid": uid(ty::GRANT, &g), "attrs": {}, "parents": []}));
                grants_of
                    .entry(b.subject.as_str())
                    .or_default()
                    .push(uid(ty::GRANT, &g));
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
        let parents = |id: &str, mut base: Vec<Value>| -> Value {
            base.extend(groups_of.get(id).cloned().unwrap_or_default());
            base.extend(grants_of.get(id).cloned().unwrap_or_default());
            Value::Array(base)
        };
        for a in &w.accounts {
            out.push(json!({
                "uid": uid(ty::ACCOUNT, &a.id),
                "attrs": {
                    "owner": eref(ty::USER, &a.owner),
                    "default_resource_group": a.default_resource_group,
                    "restrict_user_api_key_creation": a.restrict_user_api_key_creation.as_str(),
                },
                "parents": []
            }));
        }
        for g in &w.access_groups {
            out.push(json!({
                "uid": uid(ty::ACCESS_GROUP, &g.id),
                "attrs": {"account": eref(ty::ACCOUNT, &g.account)},
                "parents": parents(&g.id, vec![]),
            }));
        }
        let mut classic_accounts: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
        for c in &w.classic_keys {
            classic_accounts
                .entry(c.user.as_str())
                .or_default()
                .push(eref(ty::ACCOUNT, &c.account));
        }
        for u in &w.users {
            let node_parents: Vec<Value> = u
                .classic_parent
                .iter()
                .map(|p| uid(ty::CLASSIC_USER, p))
                .collect();
            out.push(
                json!({"uid": uid(ty::CLASSIC_USER, &u.id), "attrs": {}, "parents": node_parents}),
            );
            let accounts: Vec<Value> = self
                .memberships(&u.id)
                .iter()
                .map(|a| uid(ty::ACCOUNT, a))
                .collect();
            out.push(json!({
                "uid": uid(ty::USER, &u.id),
                "attrs": {
                    "functional": u.functional,
                    "classic": eref(ty::CLASSIC_USER, &u.id),
                    "key_count": self.key_counts.get(&u.id).copied().unwrap_or(0),
                    "classic_key_accounts": classic_accounts.get(u.id.as_str()).cloned().unwrap_or_default(),
                },
                "parents": parents(&u.id, accounts),
            }));
        }
        for s in &w.service_ids {
            let mut attrs = json!({
                "account": eref(ty::ACCOUNT, &s.account),
                "key_count": self.key_counts.get(&s.id).copied().unwrap_or(0),
            });
            if let Some(c) = &s.created_by {
                attrs["created_by"] = eref(ty::USER, c);
            }
            out.push(json!({
                "uid": uid(ty::SERVICE_ID, &s.id),
                "attrs": attrs,
                "parents": parents(&s.id, vec![uid(ty::ACCOUNT, &s.account)]),
            }));
        }
        for (i, k) in w.api_keys.iter().enumerate() {
            let kt = self.key_type(i);
            let identity_type = if kt == ty::SERVICE_ID_API_KEY {
                ty::SERVICE_ID
            } else {
                ty::USER
            };
            let mut attrs = json!({
                "identity": eref(identity_type, &k.identity),
                "account": eref(ty::ACCOUNT, &k.account),
                "name": k.name,
                "description": k.description,
                "locked": k.locked,
                "disabled": k.disabled,
                "obsolete": k.obsolete,
                "action_when_leaked": k.action_when_leaked.as_str(),
            });
            if let Some(t) = &k.expires_at {
                attrs["expires_at"] = datetime(t);
            }
            out.push(json!({"uid": uid(kt, &k.id), "attrs": attrs, "parents": []}));
        }
        for c in &w.clusters {
            out.push(json!({
                "uid": uid(ty::CLUSTER, &c.id),
                "attrs": {
                    "account": eref(ty::ACCOUNT, &c.account),
                    "region": c.region,
                    "resource_group": c.resource_group,
                    "addons": c.addons,
                },
                "parents": [],
            }));
        }
        Value::Array(out)
    }
}
