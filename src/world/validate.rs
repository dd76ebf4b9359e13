//! The cross-record checks that make a parsed world valid: unique ids, references that name the
//! right kind of record, memberships, role names from the schema, scopes, one classic key per
//! user and account, one cluster API key per slot. It also fills the defaults that depend on
//! other records (a key's account, a cluster's resource group).
//!
//! One `Checker` method per world section, run in the order of the sections (accounts, users
//! and service IDs first: later sections read their memberships), so one pass reports every
//! problem, each located at the field it names; the caller sorts them by position.
//!
//! Must not decide permissions: it knows which role names exist ([`RoleCatalog`]), never what
//! they grant. May use: the rest of [`crate::world`].

use crate::world::RoleCatalog;
use crate::world::generate::KEY_LIMIT;
use crate::world::model::{
    IAM_IDENTITY, IdKind, Index, KUBERNETES, RoleBinding, Shape, User, World,
};
use crate::world::problem::Problem;
use crate::world::yaml::Node;
use crate::world::{text, time};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Run every cross-record check on what parsed; fills defaults that depend on other records.
pub(super) fn check(
    file: &str,
    root: &Node,
    w: &mut World,
    roles: &RoleCatalog,
    shape: &Shape,
    problems: &mut Vec<Problem>,
) {
    let mut c = Checker {
        file,
        root,
        roles,
        shape,
        problems,
        index: w.index(),
        members: HashMap::new(),
    };
    c.now(w);
    c.printable_ids(w);
    c.unique_ids(w);
    c.accounts(w);
    c.users(w);
    c.classic_hierarchy(w);
    c.service_ids(w);
    c.access_groups(w);
    c.role_bindings(w);
    c.api_keys(w);
    c.key_limit(w);
    c.classic_keys(w);
    c.clusters(w);
    c.cluster_api_keys(w);
}

/// The state of one validation pass over a world.
struct Checker<'a> {
    file: &'a str,
    root: &'a Node,
    roles: &'a RoleCatalog,
    shape: &'a Shape,
    problems: &'a mut Vec<Problem>,
    index: Index,
    /// The members of each account (its owner, its users, its service IDs), filled by the
    /// account, user and service ID sections before any later section reads it.
    members: HashMap<String, HashSet<String>>,
}

impl Checker<'_> {
    /// Report `msg` at `field` of the `i`-th parsed record of `section` (its whole record when
    /// `field` is empty).
    fn problem(&mut self, section: &str, i: usize, field: &str, msg: String) {
        let i = self.shape.orig(section, i);
        let path = if field.is_empty() {
            format!("{section}[{i}]")
        } else {
            format!("{section}[{i}].{field}")
        };
        let pos = self.root.locate(&path);
        self.problems.push(Problem::new(self.file, pos, &path, msg));
    }

    fn kind_of(&self, id: &str) -> Option<IdKind> {
        self.index.ids.get(id).map(|(k, _)| *k)
    }

    /// Why `id` is not one of `kinds`, or `None` when it is (or its record did not parse).
    fn expect(&self, id: &str, kinds: &[IdKind]) -> Option<String> {
        if self.shape.broken_ids.contains(id) {
            return None; // its record did not parse: reported already
        }
        let nouns = || {
            kinds
                .iter()
                .map(|k| k.noun())
                .collect::<Vec<_>>()
                .join(" or ")
        };
        match self.kind_of(id) {
            Some(k) if kinds.contains(&k) => None,
            Some(k) => Some(format!("`{id}` is a {}, expected {}", k.noun(), nouns())),
            None => Some(format!("no {} `{id}` in this world", nouns())),
        }
    }

    /// Whether `who` is a member of `account`; whoever or whatever did not parse is not judged
    /// again.
    fn is_member(&self, who: &str, account: &str) -> bool {
        self.shape.broken_ids.contains(who)
            || self.shape.broken_ids.contains(account)
            || self.members.get(account).is_some_and(|m| m.contains(who))
    }

    fn add_member(&mut self, account: &str, who: &str) {
        self.members
            .entry(account.to_string())
            .or_default()
            .insert(who.to_string());
    }

    fn now(&mut self, w: &World) {
        if let Some(now) = &w.now
            && let Err(e) = time::parse(now)
        {
            self.problems.push(Problem::new(
                self.file,
                self.root.locate("now"),
                "now",
                e.to_string(),
            ));
        }
    }

    /// Every id and every value used as one (references, regions, resource groups, services,
    /// roles, addons, etags, fingerprints) is printable text: no newline, control or format
    /// character (see [`text`]), so that none can forge a line of output.
    fn printable_ids(&mut self, w: &World) {
        for (section, i, field, value) in id_like_fields(w) {
            if let Some(m) = text::id_problem(value) {
                self.problem(section, i, &field, m);
            }
        }
    }

    /// Ids are unique across the whole file, whatever their sections.
    fn unique_ids(&mut self, w: &World) {
        let mut seen: HashMap<&str, String> = HashMap::new();
        for (section, _, ids) in w.ids_by_section() {
            for (i, id) in ids.into_iter().enumerate() {
                let here = format!("{section}[{}]", self.shape.orig(section, i));
                if id.is_empty() {
                    self.problem(section, i, "id", "an id must not be empty".into());
                } else if let Some(first) = seen.get(id) {
                    self.problem(
                        section,
                        i,
                        "id",
                        format!(
                            "duplicate id `{id}` (first used at {first}); ids are unique across the whole file"
                        ),
                    );
                } else {
                    seen.insert(id, here);
                }
            }
        }
    }

    /// Owners and default resource groups; the owner is a member of its account.
    fn accounts(&mut self, w: &World) {
        for (i, a) in w.accounts.iter().enumerate() {
            if let Some(m) = self.expect(&a.owner, &[IdKind::User]) {
                self.problem("accounts", i, "owner", m);
            } else {
                self.owner_listed(w, i);
            }
            if a.default_resource_group.is_empty() {
                self.problem(
                    "accounts",
                    i,
                    "default_resource_group",
                    "must not be empty".into(),
                );
            }
            self.add_member(&a.id, &a.owner);
        }
    }

    /// The owner of the `i`-th account is a member of it like any user: its user record lists
    /// the account (membership has one source, `users[].accounts`).
    fn owner_listed(&mut self, w: &World, i: usize) {
        let a = &w.accounts[i];
        let Some(u) = w.user(&a.owner) else {
            return; // its record did not parse
        };
        if !u.accounts.contains(&a.id) {
            self.problem(
                "accounts",
                i,
                "owner",
                format!(
                    "owner `{}` is not a member of account `{}`: add `{}` to the `accounts` of user `{}`",
                    u.id, a.id, a.id, u.id
                ),
            );
        }
    }

    /// The accounts a user is a member of, and its classic parent.
    fn users(&mut self, w: &World) {
        for (i, u) in w.users.iter().enumerate() {
            let mut dup = HashSet::new();
            for (j, a) in u.accounts.iter().enumerate() {
                if let Some(m) = self.expect(a, &[IdKind::Account]) {
                    self.problem("users", i, &format!("accounts[{j}]"), m);
                }
                if !dup.insert(a) {
                    self.problem(
                        "users",
                        i,
                        &format!("accounts[{j}]"),
                        format!("account `{a}` listed twice"),
                    );
                }
                self.add_member(a, &u.id);
            }
            if let Some(parent) = &u.classic_parent {
                if let Some(m) = self.expect(parent, &[IdKind::User]) {
                    self.problem("users", i, "classic_parent", m);
                } else if parent == &u.id {
                    self.problem(
                        "users",
                        i,
                        "classic_parent",
                        "a user cannot be its own classic parent".into(),
                    );
                }
            }
        }
    }

    /// The classic hierarchy has no cycle: each user on one is reported (a user that is its
    /// own parent is reported by `users`). Linear: each user is walked through once.
    fn classic_hierarchy(&mut self, w: &World) {
        let pos: HashMap<&str, usize> = w
            .users
            .iter()
            .enumerate()
            .map(|(i, u)| (u.id.as_str(), i))
            .collect();
        let parent = |i: usize| {
            let p = *pos.get(w.users[i].classic_parent.as_deref()?)?;
            (p != i).then_some(p)
        };
        // 0: not seen, 1: on the path being walked, 2: done.
        let mut state = vec![0u8; w.users.len()];
        let mut on_cycle = vec![false; w.users.len()];
        for start in 0..w.users.len() {
            let mut path = Vec::new();
            let mut cur = Some(start);
            while let Some(i) = cur.filter(|&i| state[i] == 0) {
                state[i] = 1;
                path.push(i);
                cur = parent(i);
            }
            if let Some(i) = cur.filter(|&i| state[i] == 1) {
                let from = path.iter().position(|&p| p == i).unwrap_or(0);
                for &p in &path[from..] {
                    on_cycle[p] = true;
                }
            }
            for p in path {
                state[p] = 2;
            }
        }
        for (i, u) in w.users.iter().enumerate().filter(|(i, _)| on_cycle[*i]) {
            self.problem(
                "users",
                i,
                "classic_parent",
                format!("the classic hierarchy has a cycle through `{}`", u.id),
            );
        }
    }

    /// A service ID's account and creator; it is a member of its account.
    fn service_ids(&mut self, w: &World) {
        for (i, s) in w.service_ids.iter().enumerate() {
            if let Some(m) = self.expect(&s.account, &[IdKind::Account]) {
                self.problem("service_ids", i, "account", m);
            }
            self.add_member(&s.account, &s.id);
            if let Some(c) = &s.created_by
                && let Some(m) = self.expect(c, &[IdKind::User])
            {
                self.problem("service_ids", i, "created_by", m);
            }
        }
    }

    /// A group's members are users or service IDs of its account.
    fn access_groups(&mut self, w: &World) {
        for (i, g) in w.access_groups.iter().enumerate() {
            if let Some(m) = self.expect(&g.account, &[IdKind::Account]) {
                self.problem("access_groups", i, "account", m);
                continue;
            }
            for (j, m) in g.members.iter().enumerate() {
                let field = format!("members[{j}]");
                if let Some(msg) = self.expect(m, &[IdKind::User, IdKind::ServiceId]) {
                    self.problem("access_groups", i, &field, msg);
                } else if !self.is_member(m, &g.account) {
                    self.problem(
                        "access_groups",
                        i,
                        &field,
                        format!("`{m}` is not a member of account `{}`", g.account),
                    );
                }
            }
        }
    }

    /// A binding's account, subject, service and roles, and how it is narrowed.
    fn role_bindings(&mut self, w: &World) {
        for (i, b) in w.role_bindings.iter().enumerate() {
            if let Some(m) = self.expect(&b.account, &[IdKind::Account]) {
                self.problem("role_bindings", i, "account", m);
                continue;
            }
            self.binding_subject(w, i, b);
            self.binding_roles(i, b);
            self.binding_scope(w, i, b);
        }
    }

    /// The subject is a group of the binding's account, or a member of it.
    fn binding_subject(&mut self, w: &World, i: usize, b: &RoleBinding) {
        match self.kind_of(&b.subject) {
            Some(IdKind::AccessGroup) => {
                let g = &w.access_groups[self.index.ids[&b.subject].1];
                if g.account != b.account {
                    self.problem(
                        "role_bindings",
                        i,
                        "subject",
                        format!(
                            "access group `{}` belongs to account `{}`, not `{}`",
                            g.id, g.account, b.account
                        ),
                    );
                }
            }
            Some(IdKind::User | IdKind::ServiceId) => {
                if !self.is_member(&b.subject, &b.account) {
                    self.problem(
                        "role_bindings",
                        i,
                        "subject",
                        format!("`{}` is not a member of account `{}`", b.subject, b.account),
                    );
                }
            }
            _ => {
                if let Some(m) = self.expect(
                    &b.subject,
                    &[IdKind::User, IdKind::ServiceId, IdKind::AccessGroup],
                ) {
                    self.problem("role_bindings", i, "subject", m);
                }
            }
        }
    }

    /// The service and its roles are names of the schema's catalog.
    fn binding_roles(&mut self, i: usize, b: &RoleBinding) {
        let roles = self.roles;
        let Some(valid) = roles.roles(&b.service) else {
            self.problem(
                "role_bindings",
                i,
                "service",
                format!(
                    "unknown service `{}`, expected one of {} (from the schema's type Roles)",
                    b.service,
                    roles.services().collect::<Vec<_>>().join(", ")
                ),
            );
            return;
        };
        if b.roles.is_empty() {
            self.problem(
                "role_bindings",
                i,
                "roles",
                "a binding needs at least one role".into(),
            );
        }
        for (j, r) in b.roles.iter().enumerate() {
            if !valid.contains(r) {
                self.problem(
                    "role_bindings",
                    i,
                    &format!("roles[{j}]"),
                    format!(
                        "unknown role `{r}` on {}, expected one of {}",
                        b.service,
                        valid
                            .iter()
                            .map(|s| format!("\"{s}\""))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
        }
    }

    /// Region and resource group narrow only Kubernetes bindings; a resource is a cluster (for
    /// Kubernetes) or a service ID (for IAM Identity) of the binding's account.
    fn binding_scope(&mut self, w: &World, i: usize, b: &RoleBinding) {
        let scoped_by_region = b.service == KUBERNETES;
        for (field, value) in [("region", &b.region), ("resource_group", &b.resource_group)] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                self.problem(
                    "role_bindings",
                    i,
                    field,
                    format!(
                        "`{field}` must not be empty: omit it to cover every {}",
                        field.replace('_', " ")
                    ),
                );
            } else if value.is_some() && !scoped_by_region {
                self.problem(
                    "role_bindings",
                    i,
                    field,
                    format!(
                        "`{field}` narrows only containers-kubernetes bindings, not {}",
                        b.service
                    ),
                );
            }
        }
        let Some(r) = &b.resource else {
            return;
        };
        let wanted: &[IdKind] = if scoped_by_region {
            &[IdKind::Cluster]
        } else if b.service == IAM_IDENTITY {
            &[IdKind::ServiceId]
        } else {
            &[]
        };
        if wanted.is_empty() {
            self.problem(
                "role_bindings",
                i,
                "resource",
                format!("a {} binding cannot be narrowed to one resource", b.service),
            );
        } else if let Some(m) = self.expect(r, wanted) {
            self.problem("role_bindings", i, "resource", m);
        } else {
            let owner_account = match self.index.ids.get(r.as_str()) {
                Some((IdKind::Cluster, j)) => Some(&w.clusters[*j].account),
                Some((IdKind::ServiceId, j)) => Some(&w.service_ids[*j].account),
                _ => None, // its record did not parse
            };
            if let Some(owner_account) = owner_account.filter(|a| *a != &b.account) {
                self.problem(
                    "role_bindings",
                    i,
                    "resource",
                    format!(
                        "`{r}` belongs to account `{owner_account}`, not `{}`",
                        b.account
                    ),
                );
            }
        }
    }

    /// API keys: identity, account (defaulted), creator, timestamps.
    fn api_keys(&mut self, w: &mut World) {
        for i in 0..w.api_keys.len() {
            let account = self.api_key_account(w, i);
            let k = &w.api_keys[i];
            if let Some(c) = &k.created_by
                && let Some(m) = self.expect(c, &[IdKind::User, IdKind::ServiceId])
            {
                self.problem("api_keys", i, "created_by", m);
            }
            if let Some(t) = &k.expires_at
                && let Err(e) = time::parse(t)
            {
                self.problem("api_keys", i, "expires_at", e.to_string());
            }
            if let Some(f) = &k.fingerprint
                && !f.starts_with("sha256:")
            {
                self.problem(
                    "api_keys",
                    i,
                    "fingerprint",
                    "a fingerprint is `sha256:` followed by a hex digest".into(),
                );
            }
            w.api_keys[i].account = account;
        }
    }

    /// R10: at most [`KEY_LIMIT`] stored keys per identity, every stored key counted; the first
    /// key past the limit is reported, at its identity.
    fn key_limit(&mut self, w: &World) {
        let mut total: HashMap<&str, usize> = HashMap::new();
        for k in &w.api_keys {
            *total.entry(k.identity.as_str()).or_default() += 1;
        }
        let mut count: HashMap<&str, usize> = HashMap::new();
        for (i, k) in w.api_keys.iter().enumerate() {
            let n = count.entry(k.identity.as_str()).or_default();
            *n += 1;
            if *n == KEY_LIMIT + 1 {
                let total = total[k.identity.as_str()];
                self.problem(
                    "api_keys",
                    i,
                    "identity",
                    format!(
                        "`{}` has {total} API keys, more than the limit of {KEY_LIMIT} per identity (R10: every stored key counts, disabled, expired and obsolete ones included); this is key {}",
                        k.identity,
                        KEY_LIMIT + 1
                    ),
                );
            }
        }
    }

    /// The account of the `i`-th API key: as written, or its identity's when that has one.
    fn api_key_account(&mut self, w: &World, i: usize) -> String {
        let k = &w.api_keys[i];
        let mut account = k.account.clone();
        match self.kind_of(&k.identity) {
            Some(IdKind::User) => {
                let u = &w.users[self.index.ids[&k.identity].1];
                if account.is_empty() {
                    if let Some(only) = self.single_account(u, "api_keys", i, "identity") {
                        account = only;
                    }
                } else if let Some(m) = self.expect(&account, &[IdKind::Account]) {
                    self.problem("api_keys", i, "account", m);
                } else if !self.is_member(&u.id, &account) {
                    self.problem(
                        "api_keys",
                        i,
                        "account",
                        format!("user `{}` is not a member of account `{account}`", u.id),
                    );
                }
            }
            Some(IdKind::ServiceId) => {
                let s = &w.service_ids[self.index.ids[&k.identity].1];
                if account.is_empty() {
                    account = s.account.clone();
                } else if account != s.account {
                    self.problem(
                        "api_keys",
                        i,
                        "account",
                        format!(
                            "service ID `{}` belongs to account `{}`, not `{account}`",
                            s.id, s.account
                        ),
                    );
                }
            }
            _ => {
                if let Some(m) = self.expect(&k.identity, &[IdKind::User, IdKind::ServiceId]) {
                    self.problem("api_keys", i, "identity", m);
                }
            }
        }
        account
    }

    /// The one account of user `u`, for a record that does not name its account; with none or
    /// several, a problem at `field` of the record.
    fn single_account(&mut self, u: &User, section: &str, i: usize, field: &str) -> Option<String> {
        match u.accounts.as_slice() {
            [only] => Some(only.clone()),
            _ => {
                self.problem(
                    section,
                    i,
                    field,
                    format!(
                        "user `{}` is a member of {} accounts: say which with `account`",
                        u.id,
                        u.accounts.len()
                    ),
                );
                None
            }
        }
    }

    /// Classic keys: one per user and account, the user a member of it.
    fn classic_keys(&mut self, w: &mut World) {
        let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
        for i in 0..w.classic_keys.len() {
            let c = &w.classic_keys[i];
            if let Some(m) = self.expect(&c.user, &[IdKind::User]) {
                self.problem("classic_keys", i, "user", m);
                continue;
            }
            let Some((_, j)) = self.index.ids.get(c.user.as_str()) else {
                continue; // its record did not parse
            };
            let u = &w.users[*j];
            let account = if c.account.is_empty() {
                match self.single_account(u, "classic_keys", i, "user") {
                    Some(only) => only,
                    None => continue,
                }
            } else if let Some(m) = self.expect(&c.account, &[IdKind::Account]) {
                self.problem("classic_keys", i, "account", m);
                continue;
            } else {
                c.account.clone()
            };
            if !self.is_member(&u.id, &account) {
                self.problem(
                    "classic_keys",
                    i,
                    "account",
                    format!("user `{}` is not a member of account `{account}`", u.id),
                );
            }
            if let Some(first) = seen.insert((u.id.clone(), account.clone()), i) {
                let first = self.shape.orig("classic_keys", first);
                self.problem(
                    "classic_keys",
                    i,
                    "user",
                    format!(
                        "user `{}` already has a classic key in account `{account}` (classic_keys[{first}]); at most one per user and account",
                        u.id,
                    ),
                );
            }
            w.classic_keys[i].account = account;
        }
    }

    /// A cluster's account and region; its resource group defaults to the account's.
    fn clusters(&mut self, w: &mut World) {
        for i in 0..w.clusters.len() {
            let c = &w.clusters[i];
            if let Some(m) = self.expect(&c.account, &[IdKind::Account]) {
                self.problem("clusters", i, "account", m);
                continue;
            }
            if c.region.is_empty() {
                self.problem("clusters", i, "region", "must not be empty".into());
            }
            if let (true, Some((_, j))) = (
                c.resource_group.is_empty(),
                self.index.ids.get(c.account.as_str()),
            ) {
                w.clusters[i].resource_group = w.accounts[*j].default_resource_group.clone();
            }
        }
    }

    /// Cluster API key slots: one per account, region and resource group (defaulted to the
    /// account's), each naming an API key if it names anything in this world.
    fn cluster_api_keys(&mut self, w: &mut World) {
        let mut slots: BTreeMap<(String, String, String), usize> = BTreeMap::new();
        for i in 0..w.cluster_api_keys.len() {
            let s = &w.cluster_api_keys[i];
            if let Some(m) = self.expect(&s.account, &[IdKind::Account]) {
                self.problem("cluster_api_keys", i, "account", m);
                continue;
            }
            let rg = if s.resource_group.is_empty() {
                match self.index.ids.get(s.account.as_str()) {
                    Some((_, j)) => w.accounts[*j].default_resource_group.clone(),
                    None => continue, // its record did not parse
                }
            } else {
                s.resource_group.clone()
            };
            if let Some(k) = self.kind_of(&s.api_key)
                && k != IdKind::ApiKey
            {
                self.problem(
                    "cluster_api_keys",
                    i,
                    "api_key",
                    format!("`{}` is a {}, expected API key", s.api_key, k.noun()),
                );
            }
            if let Some(first) = slots.insert((s.account.clone(), s.region.clone(), rg.clone()), i)
            {
                let first = self.shape.orig("cluster_api_keys", first);
                self.problem(
                    "cluster_api_keys",
                    i,
                    "",
                    format!(
                        "a second cluster API key for {}/{}/{rg} (first at cluster_api_keys[{first}]); one per account, region and resource group",
                        s.account, s.region,
                    ),
                );
            }
            w.cluster_api_keys[i].resource_group = rg;
        }
    }
}

/// Warnings about a world that loaded (not errors: the world is valid), each located: a
/// service ID whose creator is not a member of its account (that creator manages none of its
/// keys, R18).
pub(super) fn warnings(file: &str, root: &Node, w: &World, shape: &Shape) -> Vec<Problem> {
    let mut out = Vec::new();
    // By id, so that the check stays linear in users and service IDs.
    let users: HashMap<&str, &User> = w.users.iter().map(|u| (u.id.as_str(), u)).rev().collect();
    for (i, s) in w.service_ids.iter().enumerate() {
        let Some(c) = &s.created_by else { continue };
        let Some(u) = users.get(c.as_str()) else {
            continue;
        };
        if !u.accounts.contains(&s.account) {
            let path = format!("service_ids[{}].created_by", shape.orig("service_ids", i));
            out.push(Problem::new(
                file,
                root.locate(&path),
                &path,
                format!(
                    "creator `{c}` of service ID `{}` is not a member of its account `{}`: as its creator, `{c}` manages none of its keys (R18)",
                    s.id, s.account
                ),
            ));
        }
    }
    out
}

/// Every id-like value of a world: (section, record, field, value). Free text (a key's `name`
/// and `description`) is not among them: it is data, escaped wherever it is printed.
fn id_like_fields(w: &World) -> Vec<(&'static str, usize, String, &str)> {
    let mut out: Vec<(&'static str, usize, String, &str)> = Vec::new();
    macro_rules! field {
        ($s:expr, $i:expr, $f:expr, $v:expr) => {
            out.push(($s, $i, $f.to_string(), $v))
        };
    }
    macro_rules! list {
        ($s:expr, $i:expr, $f:expr, $vs:expr) => {
            for (j, v) in $vs.iter().enumerate() {
                out.push(($s, $i, format!("{}[{j}]", $f), v.as_str()))
            }
        };
    }
    macro_rules! opt {
        ($s:expr, $i:expr, $f:expr, $v:expr) => {
            if let Some(v) = $v.as_deref() {
                out.push(($s, $i, $f.to_string(), v))
            }
        };
    }
    for (i, a) in w.accounts.iter().enumerate() {
        field!("accounts", i, "id", &a.id);
        field!("accounts", i, "owner", &a.owner);
        field!(
            "accounts",
            i,
            "default_resource_group",
            &a.default_resource_group
        );
    }
    for (i, u) in w.users.iter().enumerate() {
        field!("users", i, "id", &u.id);
        list!("users", i, "accounts", u.accounts);
        opt!("users", i, "classic_parent", u.classic_parent);
    }
    for (i, s) in w.service_ids.iter().enumerate() {
        field!("service_ids", i, "id", &s.id);
        field!("service_ids", i, "account", &s.account);
        opt!("service_ids", i, "created_by", s.created_by);
    }
    for (i, g) in w.access_groups.iter().enumerate() {
        field!("access_groups", i, "id", &g.id);
        field!("access_groups", i, "account", &g.account);
        list!("access_groups", i, "members", g.members);
    }
    for (i, b) in w.role_bindings.iter().enumerate() {
        field!("role_bindings", i, "subject", &b.subject);
        field!("role_bindings", i, "account", &b.account);
        field!("role_bindings", i, "service", &b.service);
        list!("role_bindings", i, "roles", b.roles);
        opt!("role_bindings", i, "region", b.region);
        opt!("role_bindings", i, "resource_group", b.resource_group);
        opt!("role_bindings", i, "resource", b.resource);
    }
    for (i, k) in w.api_keys.iter().enumerate() {
        field!("api_keys", i, "id", &k.id);
        field!("api_keys", i, "identity", &k.identity);
        field!("api_keys", i, "account", &k.account);
        opt!("api_keys", i, "created_by", k.created_by);
        opt!("api_keys", i, "etag", k.etag);
        opt!("api_keys", i, "fingerprint", k.fingerprint);
    }
    for (i, c) in w.classic_keys.iter().enumerate() {
        field!("classic_keys", i, "id", &c.id);
        field!("classic_keys", i, "user", &c.user);
        field!("classic_keys", i, "account", &c.account);
    }
    for (i, c) in w.clusters.iter().enumerate() {
        field!("clusters", i, "id", &c.id);
        field!("clusters", i, "account", &c.account);
        field!("clusters", i, "region", &c.region);
        field!("clusters", i, "resource_group", &c.resource_group);
        list!("clusters", i, "addons", c.addons);
    }
    for (i, s) in w.cluster_api_keys.iter().enumerate() {
        field!("cluster_api_keys", i, "account", &s.account);
        field!("cluster_api_keys", i, "region", &s.region);
        field!("cluster_api_keys", i, "resource_group", &s.resource_group);
        field!("cluster_api_keys", i, "api_key", &s.api_key);
    }
    out
}
