//! The world file: typed records of INTERFACE.md, loaded from YAML or JSON with every problem
//! located (file, line, column, field), and the cross-record checks that make a world valid.
//!
//! Owns the shape and consistency of a world. It must not decide permissions: it knows nothing
//! of what a role grants (the valid service and role names come from the schema, see
//! [`crate::world::RoleCatalog`]).

use crate::world::RoleCatalog;
use crate::world::problem::{Problem, Problems};
use crate::world::yaml::{self, Kind, Node, Pos};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

/// The service whose bindings may be narrowed to a region, a resource group or a cluster.
pub const KUBERNETES: &str = "containers-kubernetes";
/// The service whose bindings may be narrowed to one service ID.
pub const IAM_IDENTITY: &str = "iam-identity";

/// The account setting "Restrict API key creation".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[allow(clippy::upper_case_acronyms)]
pub enum Restriction {
    #[serde(rename = "RESTRICTED")]
    Restricted,
    #[serde(rename = "NOT_RESTRICTED")]
    NotRestricted,
    #[default]
    #[serde(rename = "NOT_SET")]
    NotSet,
}

impl Restriction {
    /// The value as written in world files and given to policies.
    pub fn as_str(self) -> &'static str {
        match self {
            Restriction::Restricted => "RESTRICTED",
            Restriction::NotRestricted => "NOT_RESTRICTED",
            Restriction::NotSet => "NOT_SET",
        }
    }

    /// Parse the world-file spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "RESTRICTED" => Some(Restriction::Restricted),
            "NOT_RESTRICTED" => Some(Restriction::NotRestricted),
            "NOT_SET" => Some(Restriction::NotSet),
            _ => None,
        }
    }
}

/// What happens to a key when its leak is reported (R14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LeakAction {
    None,
    #[default]
    Disable,
    Delete,
}

impl LeakAction {
    /// The value as written in world files and given to policies.
    pub fn as_str(self) -> &'static str {
        match self {
            LeakAction::None => "none",
            LeakAction::Disable => "disable",
            LeakAction::Delete => "delete",
        }
    }

    /// Parse the world-file spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(LeakAction::None),
            "disable" => Some(LeakAction::Disable),
            "delete" => Some(LeakAction::Delete),
            _ => None,
        }
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn default_rg() -> String {
    "default".to_string()
}

fn is_default_rg(s: &String) -> bool {
    s == "default"
}

/// A resource group of an account: its id and display name.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct ResourceGroup {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// An account.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub id: String,
    /// A display name (never decides anything).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub owner: String,
    #[serde(default = "default_rg", skip_serializing_if = "is_default_rg")]
    pub default_resource_group: String,
    #[serde(default)]
    pub restrict_user_api_key_creation: Restriction,
    /// Resource groups by id, with their display names (never decide anything).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_groups: Vec<ResourceGroup>,
}

/// A user (a person or a functional ID).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub id: String,
    /// A display name (never decides anything).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A display email (never decides anything).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default)]
    pub accounts: Vec<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub functional: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classic_parent: Option<String>,
}

/// A service ID of one account.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct ServiceId {
    pub id: String,
    /// A display name (never decides anything).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub account: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

/// An access group of one account.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct AccessGroup {
    pub id: String,
    /// A display name (never decides anything).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub account: String,
    #[serde(default)]
    pub members: Vec<String>,
}

/// An access policy: roles on a service for a subject, optionally narrowed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RoleBinding {
    pub subject: String,
    pub account: String,
    pub service: String,
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
}

/// A user or service ID API key. Its value is never stored; a fingerprint at most.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub identity: String,
    /// The account it was created in; filled from the identity when it has one account.
    #[serde(default)]
    pub account: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub locked: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub disabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(default)]
    pub action_when_leaked: LeakAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub obsolete: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

/// A classic infrastructure API key (at most one per user and account).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClassicKey {
    pub id: String,
    pub user: String,
    /// Filled from the user when it is a member of one account only.
    #[serde(default)]
    pub account: String,
}

/// A Kubernetes Service cluster.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    pub id: String,
    /// A display name (never decides anything).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub account: String,
    pub region: String,
    /// Filled with the account's default resource group when absent.
    #[serde(default)]
    pub resource_group: String,
    #[serde(default)]
    pub addons: Vec<String>,
}

/// The cluster API key slot of an (account, region, resource group) (R21).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClusterApiKey {
    pub account: String,
    pub region: String,
    #[serde(default)]
    pub resource_group: String,
    /// May name a key that no longer exists (finding F2).
    pub api_key: String,
}

/// A whole world: the state of one or more accounts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct World {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub now: Option<String>,
    #[serde(default)]
    pub accounts: Vec<Account>,
    #[serde(default)]
    pub users: Vec<User>,
    #[serde(default)]
    pub service_ids: Vec<ServiceId>,
    #[serde(default)]
    pub access_groups: Vec<AccessGroup>,
    #[serde(default)]
    pub role_bindings: Vec<RoleBinding>,
    #[serde(default)]
    pub api_keys: Vec<ApiKey>,
    #[serde(default)]
    pub classic_keys: Vec<ClassicKey>,
    #[serde(default)]
    pub clusters: Vec<Cluster>,
    #[serde(default)]
    pub cluster_api_keys: Vec<ClusterApiKey>,
}

/// What kind of thing an id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IdKind {
    Account,
    User,
    ServiceId,
    AccessGroup,
    ApiKey,
    ClassicKey,
    Cluster,
}

impl IdKind {
    /// A human name of the kind.
    pub fn noun(self) -> &'static str {
        match self {
            IdKind::Account => "account",
            IdKind::User => "user",
            IdKind::ServiceId => "service ID",
            IdKind::AccessGroup => "access group",
            IdKind::ApiKey => "API key",
            IdKind::ClassicKey => "classic key",
            IdKind::Cluster => "cluster",
        }
    }
}

/// Lookup tables over a validated world.
#[derive(Debug, Clone, Default)]
pub struct Index {
    /// Every id and what it names, with its position in the records.
    pub ids: HashMap<String, (IdKind, usize)>,
}

impl World {
    /// Build the id index (ids are unique in a valid world).
    pub fn index(&self) -> Index {
        let mut ids = HashMap::new();
        let mut put = |id: &str, k: IdKind, i: usize| {
            ids.entry(id.to_string()).or_insert((k, i));
        };
        for (i, a) in self.accounts.iter().enumerate() {
            put(&a.id, IdKind::Account, i);
        }
        for (i, u) in self.users.iter().enumerate() {
            put(&u.id, IdKind::User, i);
        }
        for (i, s) in self.service_ids.iter().enumerate() {
            put(&s.id, IdKind::ServiceId, i);
        }
        for (i, g) in self.access_groups.iter().enumerate() {
            put(&g.id, IdKind::AccessGroup, i);
        }
        for (i, k) in self.api_keys.iter().enumerate() {
            put(&k.id, IdKind::ApiKey, i);
        }
        for (i, k) in self.classic_keys.iter().enumerate() {
            put(&k.id, IdKind::ClassicKey, i);
        }
        for (i, c) in self.clusters.iter().enumerate() {
            put(&c.id, IdKind::Cluster, i);
        }
        Index { ids }
    }

    /// The account record with this id.
    pub fn account(&self, id: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.id == id)
    }

    /// The user record with this id.
    pub fn user(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    /// The service ID record with this id.
    pub fn service_id(&self, id: &str) -> Option<&ServiceId> {
        self.service_ids.iter().find(|s| s.id == id)
    }

    /// Serialise as YAML (the evaluator's output format).
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(self).unwrap_or_else(|e| format!("# cannot serialise world: {e}\n"))
    }
}

/// Parse an RFC 3339 timestamp and give it in the form Cedar's `datetime()` accepts (UTC).
pub fn cedar_datetime(s: &str) -> Option<String> {
    let dt = chrono::DateTime::parse_from_rfc3339(s).ok()?;
    Some(
        dt.with_timezone(&chrono::Utc)
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string(),
    )
}

/// Read and validate a world file; every problem is reported with its location.
pub fn load_world(path: &Path, roles: &RoleCatalog) -> Result<World, Problems> {
    let (file, src) = crate::world::problem::read_input(path)?;
    parse_world(&file, &src, roles)
}

/// Parse and validate a world from text; `file` names it in problems.
pub fn parse_world(file: &str, src: &str, roles: &RoleCatalog) -> Result<World, Problems> {
    let root = yaml::parse(src).map_err(|e| {
        Problems::one(Problem::new(
            file,
            e.pos,
            "",
            format!("not valid YAML/JSON: {}", e.message),
        ))
    })?;
    world_from_node(file, &root, roles)
}

/// Validate a world from an already parsed YAML node (e.g. a world written inline in a
/// scenario script); problems are located in `file` by the node's positions.
pub fn world_from_node(file: &str, root: &Node, roles: &RoleCatalog) -> Result<World, Problems> {
    let mut p = Vec::new();
    let mut sh = Shape::default();
    let mut world = shape(file, root, &mut p, &mut sh);
    // Cross-record checks run on what parsed, so one pass reports every problem.
    check(file, root, &mut world, roles, &sh, &mut p);
    if p.is_empty() {
        Ok(world)
    } else {
        p.sort_by_key(|a| a.pos);
        Err(Problems(p))
    }
}

const SECTIONS: [&str; 10] = [
    "now",
    "accounts",
    "users",
    "service_ids",
    "access_groups",
    "role_bindings",
    "api_keys",
    "classic_keys",
    "clusters",
    "cluster_api_keys",
];

/// What the shape pass leaves for the cross-record pass: where each record that parsed sits in
/// the file, and the ids of records that did not parse (references to them are not judged).
#[derive(Default)]
struct Shape {
    orig: HashMap<&'static str, Vec<usize>>,
    broken_ids: HashSet<String>,
}

impl Shape {
    /// The index in the file of the `i`-th parsed record of a section.
    fn orig(&self, section: &str, i: usize) -> usize {
        self.orig
            .get(section)
            .and_then(|v| v.get(i))
            .copied()
            .unwrap_or(i)
    }
}

fn items<T: DeserializeOwned>(
    file: &str,
    root: &Node,
    section: &'static str,
    p: &mut Vec<Problem>,
    shape: &mut Shape,
) -> Vec<T> {
    let Some(node) = root.get(section) else {
        return Vec::new();
    };
    let list = match &node.kind {
        Kind::Seq(list) => list,
        Kind::Scalar(serde_json::Value::Null) => return Vec::new(),
        _ => {
            p.push(Problem::new(file, node.pos, section, "expected a list"));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let value = item.to_json();
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(v) => {
                out.push(v);
                shape.orig.entry(section).or_default().push(i);
            }
            Err(e) => {
                if let Some(id) = item.get("id").map(Node::to_json) {
                    shape
                        .broken_ids
                        .insert(id.as_str().map_or_else(|| id.to_string(), String::from));
                }
                let inner = e.path().to_string();
                let field = if inner == "." {
                    format!("{section}[{i}]")
                } else {
                    format!("{section}[{i}].{inner}")
                };
                let msg = e.inner().to_string();
                // An unknown field is reported at that field itself.
                let pos = unknown_field(&msg)
                    .and_then(|f| item.key_pos(f))
                    .unwrap_or_else(|| item.locate(&inner));
                p.push(Problem::new(file, pos, &field, msg));
            }
        }
    }
    out
}

fn unknown_field(msg: &str) -> Option<&str> {
    let rest = msg.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

fn shape(file: &str, root: &Node, p: &mut Vec<Problem>, sh: &mut Shape) -> World {
    let Kind::Map(entries) = &root.kind else {
        p.push(Problem::new(
            file,
            root.pos,
            "",
            "a world file is a mapping with sections accounts, users, ...",
        ));
        return World::default();
    };
    for (k, kpos, _) in entries {
        if !SECTIONS.contains(&k.as_str()) {
            p.push(Problem::new(
                file,
                *kpos,
                k,
                format!(
                    "unknown section `{k}`, expected one of {}",
                    SECTIONS.join(", ")
                ),
            ));
        }
    }
    let now = match root.get("now").map(|n| (n, n.to_json())) {
        None | Some((_, serde_json::Value::Null)) => None,
        Some((_, serde_json::Value::String(s))) => Some(s),
        Some((n, _)) => {
            p.push(Problem::new(
                file,
                n.pos,
                "now",
                "expected an RFC 3339 timestamp string",
            ));
            None
        }
    };
    World {
        now,
        accounts: items(file, root, "accounts", p, sh),
        users: items(file, root, "users", p, sh),
        service_ids: items(file, root, "service_ids", p, sh),
        access_groups: items(file, root, "access_groups", p, sh),
        role_bindings: items(file, root, "role_bindings", p, sh),
        api_keys: items(file, root, "api_keys", p, sh),
        classic_keys: items(file, root, "classic_keys", p, sh),
        clusters: items(file, root, "clusters", p, sh),
        cluster_api_keys: items(file, root, "cluster_api_keys", p, sh),
    }
}

/// Cross-record checks; fills defaults that depend on other records.
fn check(
    file: &str,
    root: &Node,
    w: &mut World,
    roles: &RoleCatalog,
    sh: &Shape,
    p: &mut Vec<Problem>,
) {
    let at = |section: &str, i: usize, field: &str| -> (Pos, String) {
        let i = sh.orig(section, i);
        let path = if field.is_empty() {
            format!("{section}[{i}]")
        } else {
            format!("{section}[{i}].{field}")
        };
        (root.locate(&path), path)
    };
    let mut err = |(pos, path): (Pos, String), msg: String| {
        p.push(Problem::new(file, pos, &path, msg));
    };

    if let Some(now) = &w.now {
        if cedar_datetime(now).is_none() {
            err(
                (root.locate("now"), "now".into()),
                format!("`{now}` is not an RFC 3339 timestamp (e.g. 2026-11-23T12:00:00Z)"),
            );
        }
    }

    // Unique ids across the whole file.
    let mut seen: HashMap<&str, String> = HashMap::new();
    let groups: [(&str, Vec<&str>); 7] = [
        (
            "accounts",
            w.accounts.iter().map(|x| x.id.as_str()).collect(),
        ),
        ("users", w.users.iter().map(|x| x.id.as_str()).collect()),
        (
            "service_ids",
            w.service_ids.iter().map(|x| x.id.as_str()).collect(),
        ),
        (
            "access_groups",
            w.access_groups.iter().map(|x| x.id.as_str()).collect(),
        ),
        (
            "api_keys",
            w.api_keys.iter().map(|x| x.id.as_str()).collect(),
        ),
        (
            "classic_keys",
            w.classic_keys.iter().map(|x| x.id.as_str()).collect(),
        ),
        (
            "clusters",
            w.clusters.iter().map(|x| x.id.as_str()).collect(),
        ),
    ];
    for (section, ids) in &groups {
        for (i, id) in ids.iter().enumerate() {
            let here = format!("{section}[{}]", sh.orig(section, i));
            if id.is_empty() {
                err(at(section, i, "id"), "an id must not be empty".into());
            } else if let Some(first) = seen.get(id) {
                err(
                    at(section, i, "id"),
                    format!(
                        "duplicate id `{id}` (first used at {first}); ids are unique across the whole file"
                    ),
                );
            } else {
                seen.insert(id, here);
            }
        }
    }
    let index = w.index();
    let kind_of = |id: &str| index.ids.get(id).map(|(k, _)| *k);
    let expect = |id: &str, kinds: &[IdKind]| -> Option<String> {
        if sh.broken_ids.contains(id) {
            return None; // its record did not parse: reported already
        }
        match kind_of(id) {
            Some(k) if kinds.contains(&k) => None,
            Some(k) => Some(format!(
                "`{id}` is a {}, expected {}",
                k.noun(),
                kinds
                    .iter()
                    .map(|k| k.noun())
                    .collect::<Vec<_>>()
                    .join(" or ")
            )),
            None => Some(format!(
                "no {} `{id}` in this world",
                kinds
                    .iter()
                    .map(|k| k.noun())
                    .collect::<Vec<_>>()
                    .join(" or ")
            )),
        }
    };

    // Memberships (the owner is a member of its account).
    let mut members: HashMap<String, HashSet<String>> = HashMap::new();
    for (i, a) in w.accounts.iter().enumerate() {
        if let Some(m) = expect(&a.owner, &[IdKind::User]) {
            err(at("accounts", i, "owner"), m);
        }
        if a.default_resource_group.is_empty() {
            err(
                at("accounts", i, "default_resource_group"),
                "must not be empty".into(),
            );
        }
        members
            .entry(a.id.clone())
            .or_default()
            .insert(a.owner.clone());
    }
    for (i, u) in w.users.iter().enumerate() {
        let mut dup = HashSet::new();
        for (j, a) in u.accounts.iter().enumerate() {
            if let Some(m) = expect(a, &[IdKind::Account]) {
                err(at("users", i, &format!("accounts[{j}]")), m);
            }
            if !dup.insert(a) {
                err(
                    at("users", i, &format!("accounts[{j}]")),
                    format!("account `{a}` listed twice"),
                );
            }
            members.entry(a.clone()).or_default().insert(u.id.clone());
        }
        if let Some(parent) = &u.classic_parent {
            if let Some(m) = expect(parent, &[IdKind::User]) {
                err(at("users", i, "classic_parent"), m);
            } else if parent == &u.id {
                err(
                    at("users", i, "classic_parent"),
                    "a user cannot be its own classic parent".into(),
                );
            }
        }
    }
    // Classic hierarchy cycles.
    let parent: HashMap<&str, &str> = w
        .users
        .iter()
        .filter_map(|u| u.classic_parent.as_deref().map(|p| (u.id.as_str(), p)))
        .collect();
    for (i, u) in w.users.iter().enumerate() {
        if u.classic_parent.as_deref() == Some(u.id.as_str()) {
            continue; // reported above as its own parent
        }
        let mut cur = u.id.as_str();
        let mut steps = 0;
        while let Some(&next) = parent.get(cur) {
            steps += 1;
            if next == u.id && steps > 1 {
                err(
                    at("users", i, "classic_parent"),
                    format!("the classic hierarchy has a cycle through `{}`", u.id),
                );
                break;
            }
            if steps > w.users.len() {
                break;
            }
            cur = next;
        }
    }
    for (i, s) in w.service_ids.iter().enumerate() {
        if let Some(m) = expect(&s.account, &[IdKind::Account]) {
            err(at("service_ids", i, "account"), m);
        }
        members
            .entry(s.account.clone())
            .or_default()
            .insert(s.id.clone());
        if let Some(c) = &s.created_by {
            if let Some(m) = expect(c, &[IdKind::User]) {
                err(at("service_ids", i, "created_by"), m);
            }
        }
    }
    // Whoever or whatever did not parse is not judged again.
    let is_member = |who: &str, account: &str| {
        sh.broken_ids.contains(who)
            || sh.broken_ids.contains(account)
            || members.get(account).is_some_and(|m| m.contains(who))
    };
    for (i, g) in w.access_groups.iter().enumerate() {
        if let Some(m) = expect(&g.account, &[IdKind::Account]) {
            err(at("access_groups", i, "account"), m);
            continue;
        }
        for (j, m) in g.members.iter().enumerate() {
            if let Some(msg) = expect(m, &[IdKind::User, IdKind::ServiceId]) {
                err(at("access_groups", i, &format!("members[{j}]")), msg);
            } else if !is_member(m, &g.account) {
                err(
                    at("access_groups", i, &format!("members[{j}]")),
                    format!("`{m}` is not a member of account `{}`", g.account),
                );
            }
        }
    }
    for (i, b) in w.role_bindings.iter().enumerate() {
        if let Some(m) = expect(&b.account, &[IdKind::Account]) {
            err(at("role_bindings", i, "account"), m);
            continue;
        }
        match kind_of(&b.subject) {
            Some(IdKind::AccessGroup) => {
                let g = &w.access_groups[index.ids[&b.subject].1];
                if g.account != b.account {
                    err(
                        at("role_bindings", i, "subject"),
                        format!(
                            "access group `{}` belongs to account `{}`, not `{}`",
                            g.id, g.account, b.account
                        ),
                    );
                }
            }
            Some(IdKind::User | IdKind::ServiceId) => {
                if !is_member(&b.subject, &b.account) {
                    err(
                        at("role_bindings", i, "subject"),
                        format!("`{}` is not a member of account `{}`", b.subject, b.account),
                    );
                }
            }
            _ => {
                if let Some(m) = expect(
                    &b.subject,
                    &[IdKind::User, IdKind::ServiceId, IdKind::AccessGroup],
                ) {
                    err(at("role_bindings", i, "subject"), m);
                }
            }
        }
        match roles.roles(&b.service) {
            None => err(
                at("role_bindings", i, "service"),
                format!(
                    "unknown service `{}`, expected one of {} (from the schema's type Roles)",
                    b.service,
                    roles.services().collect::<Vec<_>>().join(", ")
                ),
            ),
            Some(valid) => {
                if b.roles.is_empty() {
                    err(
                        at("role_bindings", i, "roles"),
                        "a binding needs at least one role".into(),
                    );
                }
                for (j, r) in b.roles.iter().enumerate() {
                    if !valid.contains(r) {
                        err(
                            at("role_bindings", i, &format!("roles[{j}]")),
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
        }
        let scoped_by_region = b.service == KUBERNETES;
        for (field, value) in [("region", &b.region), ("resource_group", &b.resource_group)] {
            if value.is_some() && !scoped_by_region {
                err(
                    at("role_bindings", i, field),
                    format!(
                        "`{field}` narrows only containers-kubernetes bindings, not {}",
                        b.service
                    ),
                );
            }
        }
        if let Some(r) = &b.resource {
            let wanted: &[IdKind] = if scoped_by_region {
                &[IdKind::Cluster]
            } else if b.service == IAM_IDENTITY {
                &[IdKind::ServiceId]
            } else {
                &[]
            };
            if wanted.is_empty() {
                err(
                    at("role_bindings", i, "resource"),
                    format!("a {} binding cannot be narrowed to one resource", b.service),
                );
            } else if let Some(m) = expect(r, wanted) {
                err(at("role_bindings", i, "resource"), m);
            } else {
                let owner_account = match index.ids.get(r.as_str()) {
                    Some((IdKind::Cluster, j)) => Some(&w.clusters[*j].account),
                    Some((IdKind::ServiceId, j)) => Some(&w.service_ids[*j].account),
                    _ => None, // its record did not parse
                };
                if let Some(owner_account) = owner_account.filter(|a| *a != &b.account) {
                    err(
                        at("role_bindings", i, "resource"),
                        format!(
                            "`{r}` belongs to account `{owner_account}`, not `{}`",
                            b.account
                        ),
                    );
                }
            }
        }
    }

    // API keys: identity, account (defaulted), creator, timestamps.
    for i in 0..w.api_keys.len() {
        let k = &w.api_keys[i];
        let mut account = k.account.clone();
        match kind_of(&k.identity) {
            Some(IdKind::User) => {
                let u = &w.users[index.ids[&k.identity].1];
                if account.is_empty() {
                    match u.accounts.as_slice() {
                        [only] => account = only.clone(),
                        _ => err(
                            at("api_keys", i, "identity"),
                            format!(
                                "user `{}` is a member of {} accounts: say which with `account`",
                                u.id,
                                u.accounts.len()
                            ),
                        ),
                    }
                } else if let Some(m) = expect(&account, &[IdKind::Account]) {
                    err(at("api_keys", i, "account"), m);
                } else if !is_member(&u.id, &account) {
                    err(
                        at("api_keys", i, "account"),
                        format!("user `{}` is not a member of account `{account}`", u.id),
                    );
                }
            }
            Some(IdKind::ServiceId) => {
                let s = &w.service_ids[index.ids[&k.identity].1];
                if account.is_empty() {
                    account = s.account.clone();
                } else if account != s.account {
                    err(
                        at("api_keys", i, "account"),
                        format!(
                            "service ID `{}` belongs to account `{}`, not `{account}`",
                            s.id, s.account
                        ),
                    );
                }
            }
            _ => {
                if let Some(m) = expect(&k.identity, &[IdKind::User, IdKind::ServiceId]) {
                    err(at("api_keys", i, "identity"), m);
                }
            }
        }
        if let Some(c) = &k.created_by {
            if let Some(m) = expect(c, &[IdKind::User, IdKind::ServiceId]) {
                err(at("api_keys", i, "created_by"), m);
            }
        }
        if let Some(t) = &k.expires_at {
            if cedar_datetime(t).is_none() {
                err(
                    at("api_keys", i, "expires_at"),
                    format!("`{t}` is not an RFC 3339 timestamp (e.g. 2027-01-01T00:00:00Z)"),
                );
            }
        }
        if let Some(f) = &k.fingerprint {
            if !f.starts_with("sha256:") {
                err(
                    at("api_keys", i, "fingerprint"),
                    "a fingerprint is `sha256:` followed by a hex digest".into(),
                );
            }
        }
        w.api_keys[i].account = account;
    }

    // Classic keys: one per user and account.
    let mut classic_seen: BTreeMap<(String, String), usize> = BTreeMap::new();
    for i in 0..w.classic_keys.len() {
        let c = &w.classic_keys[i];
        let mut account = c.account.clone();
        if let Some(m) = expect(&c.user, &[IdKind::User]) {
            err(at("classic_keys", i, "user"), m);
            continue;
        }
        let Some((_, j)) = index.ids.get(c.user.as_str()) else {
            continue; // its record did not parse
        };
        let u = &w.users[*j];
        if account.is_empty() {
            match u.accounts.as_slice() {
                [only] => account = only.clone(),
                _ => {
                    err(
                        at("classic_keys", i, "user"),
                        format!(
                            "user `{}` is a member of {} accounts: say which with `account`",
                            u.id,
                            u.accounts.len()
                        ),
                    );
                    continue;
                }
            }
        } else if let Some(m) = expect(&account, &[IdKind::Account]) {
            err(at("classic_keys", i, "account"), m);
            continue;
        }
        if !is_member(&u.id, &account) {
            err(
                at("classic_keys", i, "account"),
                format!("user `{}` is not a member of account `{account}`", u.id),
            );
        }
        if let Some(first) = classic_seen.insert((u.id.clone(), account.clone()), i) {
            err(
                at("classic_keys", i, "user"),
                format!(
                    "user `{}` already has a classic key in account `{account}` (classic_keys[{}]); at most one per user and account",
                    u.id,
                    sh.orig("classic_keys", first)
                ),
            );
        }
        w.classic_keys[i].account = account;
    }

    // Clusters and cluster API key slots.
    for i in 0..w.clusters.len() {
        let c = &w.clusters[i];
        if let Some(m) = expect(&c.account, &[IdKind::Account]) {
            err(at("clusters", i, "account"), m);
            continue;
        }
        if c.region.is_empty() {
            err(at("clusters", i, "region"), "must not be empty".into());
        }
        if let (true, Some((_, j))) = (
            c.resource_group.is_empty(),
            index.ids.get(c.account.as_str()),
        ) {
            w.clusters[i].resource_group = w.accounts[*j].default_resource_group.clone();
        }
    }
    let mut slots: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    for i in 0..w.cluster_api_keys.len() {
        let s = &w.cluster_api_keys[i];
        if let Some(m) = expect(&s.account, &[IdKind::Account]) {
            err(at("cluster_api_keys", i, "account"), m);
            continue;
        }
        let rg = if s.resource_group.is_empty() {
            match index.ids.get(s.account.as_str()) {
                Some((_, j)) => w.accounts[*j].default_resource_group.clone(),
                None => continue, // its record did not parse
            }
        } else {
            s.resource_group.clone()
        };
        if let Some(k) = kind_of(&s.api_key) {
            if k != IdKind::ApiKey {
                err(
                    at("cluster_api_keys", i, "api_key"),
                    format!("`{}` is a {}, expected API key", s.api_key, k.noun()),
                );
            }
        }
        if let Some(first) = slots.insert((s.account.clone(), s.region.clone(), rg.clone()), i) {
            err(
                at("cluster_api_keys", i, ""),
                format!(
                    "a second cluster API key for {}/{}/{rg} (first at cluster_api_keys[{}]); one per account, region and resource group",
                    s.account,
                    s.region,
                    sh.orig("cluster_api_keys", first)
                ),
            );
        }
        w.cluster_api_keys[i].resource_group = rg;
    }
}
