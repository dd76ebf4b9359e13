//! The world file: typed records of docs/cli.md, loaded from YAML or JSON with every problem
//! located (file, line, column, field); the cross-record checks that make a world valid are
//! [`crate::world::validate`]'s.
//!
//! Owns the shape of a world. It must not decide permissions: it knows nothing
//! of what a role grants (the valid service and role names come from the schema, see
//! [`crate::world::RoleCatalog`]).

use crate::world::RoleCatalog;
use crate::world::fields;
use crate::world::problem::{Problem, Problems};
use crate::world::validate;
use crate::world::yaml::{Kind, Node};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// The service whose bindings may be narrowed to a region, a resource group or a cluster.
pub const KUBERNETES: &str = "containers-kubernetes";
/// The service whose bindings may be narrowed to one service ID.
pub const IAM_IDENTITY: &str = "iam-identity";

/// The account setting "Restrict API key creation".
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
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
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, schemars::JsonSchema,
)]
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

/// Parse a yes/no value given as text, such as the `locked` argument of `api-key-create`:
/// exactly `true` or `false`. The one parser of that spelling, for translation and the
/// evaluator alike.
pub fn parse_flag(value: &str) -> Result<bool, NotAFlag> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(NotAFlag(other.to_string())),
    }
}

/// A yes/no value that is neither `true` nor `false`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAFlag(pub String);

impl std::fmt::Display for NotAFlag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` is not true or false", self.0)
    }
}

impl std::error::Error for NotAFlag {}

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
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceGroup {
    #[schemars(description = "The resource group's id.")]
    pub id: String,
    #[schemars(description = "Its display name (never decides anything).")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// An account.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Account {
    #[schemars(description = "The account's id, unique across the file.")]
    pub id: String,
    /// A display name (never decides anything).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[schemars(description = "The owner (R2): a user whose `accounts` list this account.")]
    pub owner: String,
    #[schemars(description = "The resource group of a cluster, slot or reset that names none.")]
    #[schemars(extend("default" = "default"))]
    #[serde(default = "default_rg", skip_serializing_if = "is_default_rg")]
    pub default_resource_group: String,
    #[schemars(description = "\"Restrict API key creation\" (R7); NOT_SET is not restricted.")]
    #[serde(default)]
    pub restrict_user_api_key_creation: Restriction,
    /// Resource groups by id, with their display names (never decide anything).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource_groups: Vec<ResourceGroup>,
}

/// A user (a person or a functional ID).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct User {
    #[schemars(
        description = "The user's id (a person or a functional ID), unique across the file."
    )]
    pub id: String,
    /// A display name (never decides anything).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A display email (never decides anything).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[schemars(
        description = "The accounts the user is a member of (the only source of membership)."
    )]
    #[serde(default)]
    pub accounts: Vec<String>,
    #[schemars(description = "A functional ID: a user that stands for a job, not a person (F1).")]
    #[serde(default, skip_serializing_if = "is_false")]
    pub functional: bool,
    #[schemars(
        description = "Who invited this user into the classic infrastructure hierarchy (R20)."
    )]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classic_parent: Option<String>,
}

/// A service ID of one account.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceId {
    #[schemars(description = "The service ID's id, unique across the file.")]
    pub id: String,
    /// A display name (never decides anything).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[schemars(description = "The account the service ID belongs to.")]
    pub account: String,
    #[schemars(
        description = "Its creator (a user), who manages its keys while a member of its account (R18)."
    )]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

/// An access group of one account.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AccessGroup {
    #[schemars(description = "The group's id, unique across the file.")]
    pub id: String,
    /// A display name (never decides anything).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[schemars(description = "The group's account.")]
    pub account: String,
    #[schemars(
        description = "Users and service IDs of the account; they hold the group's bindings (R3)."
    )]
    #[serde(default)]
    pub members: Vec<String>,
}

/// An access policy: roles on a service for a subject, optionally narrowed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBinding {
    #[schemars(description = "A user, service ID or access group of the binding's account.")]
    pub subject: String,
    #[schemars(description = "The account the binding is in.")]
    pub account: String,
    #[schemars(
        description = "A service of the Cedar schema's `type Roles`: iam-identity, containers-kubernetes, user-management."
    )]
    pub service: String,
    #[schemars(
        description = "Roles on that service (Administrator, Operator, Editor, Viewer, \"User API key creator\")."
    )]
    pub roles: Vec<String>,
    #[schemars(
        description = "Narrows a containers-kubernetes binding to one region (omit for every region)."
    )]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[schemars(
        description = "Narrows a containers-kubernetes binding to one resource group (omit for all)."
    )]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_group: Option<String>,
    #[schemars(
        description = "Narrows the binding to one cluster (containers-kubernetes) or service ID (iam-identity)."
    )]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
}

/// A user or service ID API key. Its value is never stored; a fingerprint at most.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    #[schemars(description = "The key's id, unique across the file.")]
    pub id: String,
    #[schemars(description = "Display name; need not be unique.")]
    #[serde(default)]
    pub name: String,
    #[schemars(
        description = "The user or service ID the key authenticates as (at most 20 keys each, R10)."
    )]
    pub identity: String,
    /// The account it was created in; filled from the identity when it has one account.
    #[serde(default)]
    pub account: String,
    #[schemars(description = "Free text.")]
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[schemars(description = "Who created the key.")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[schemars(description = "A locked key cannot be updated, deleted or disabled (R11).")]
    #[serde(default, skip_serializing_if = "is_false")]
    pub locked: bool,
    #[schemars(description = "A disabled key does not authenticate (R14).")]
    #[serde(default, skip_serializing_if = "is_false")]
    pub disabled: bool,
    #[schemars(
        description = "RFC 3339, as Cedar reads it: from this instant the key no longer authenticates (R13)."
    )]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    pub expires_at: Option<String>,
    #[schemars(description = "What a reported leak does to the key (R14).")]
    #[serde(default)]
    pub action_when_leaked: LeakAction,
    #[schemars(description = "The key's entity tag; updates must carry it (R15).")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[schemars(description = "Replaced as a cluster API key, to be deleted (R23).")]
    #[serde(default, skip_serializing_if = "is_false")]
    pub obsolete: bool,
    #[schemars(
        description = "`sha256:` and the hex digest of the value: the only trace of it that is kept (R12)."
    )]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

/// A classic infrastructure API key (at most one per user and account).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClassicKey {
    #[schemars(description = "The classic key's id, unique across the file.")]
    pub id: String,
    #[schemars(
        description = "Whose classic infrastructure key it is (at most one per user and account, R19)."
    )]
    pub user: String,
    /// Filled from the user when it is a member of one account only.
    #[serde(default)]
    pub account: String,
}

/// A Kubernetes Service cluster.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    #[schemars(description = "The cluster's id, unique across the file.")]
    pub id: String,
    /// A display name (never decides anything).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[schemars(description = "The cluster's account.")]
    pub account: String,
    #[schemars(description = "The cluster's region.")]
    pub region: String,
    /// Filled with the account's default resource group when absent.
    #[serde(default)]
    pub resource_group: String,
    #[schemars(
        description = "Installed add-ons; block storage and the autoscaler must be re-created after a reset (R23)."
    )]
    #[serde(default)]
    pub addons: Vec<String>,
}

/// The cluster API key slot of an (account, region, resource group) (R21).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterApiKey {
    #[schemars(description = "The slot's account.")]
    pub account: String,
    #[schemars(description = "The slot's region.")]
    pub region: String,
    #[schemars(description = "The slot's resource group; the account's default when absent.")]
    #[serde(default)]
    pub resource_group: String,
    /// May name a key that no longer exists (finding F2).
    pub api_key: String,
}

/// A whole world: the state of one or more accounts.
// The repeated `#[serde(default)]` below is serde data, not logic: every section may be absent.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct World {
    #[schemars(
        description = "The time decisions are made at (RFC 3339, as Cedar reads it); --now overrides it."
    )]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
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
    /// Build the id index (ids are unique in a valid world; a repeated id maps to its first).
    pub fn index(&self) -> Index {
        let mut ids = HashMap::new();
        for (_, kind, section) in self.ids_by_section() {
            for (i, id) in section.into_iter().enumerate() {
                ids.entry(id.to_string()).or_insert((kind, i));
            }
        }
        Index { ids }
    }

    /// The ids of every record that has one, section by section in file order: what must be
    /// unique across the file and what the index maps.
    pub fn ids_by_section(&self) -> [(&'static str, IdKind, Vec<&str>); 7] {
        fn ids<T>(records: &[T], id: fn(&T) -> &str) -> Vec<&str> {
            records.iter().map(id).collect()
        }
        [
            (
                "accounts",
                IdKind::Account,
                ids(&self.accounts, |x| x.id.as_str()),
            ),
            ("users", IdKind::User, ids(&self.users, |x| x.id.as_str())),
            (
                "service_ids",
                IdKind::ServiceId,
                ids(&self.service_ids, |x| x.id.as_str()),
            ),
            (
                "access_groups",
                IdKind::AccessGroup,
                ids(&self.access_groups, |x| x.id.as_str()),
            ),
            (
                "api_keys",
                IdKind::ApiKey,
                ids(&self.api_keys, |x| x.id.as_str()),
            ),
            (
                "classic_keys",
                IdKind::ClassicKey,
                ids(&self.classic_keys, |x| x.id.as_str()),
            ),
            (
                "clusters",
                IdKind::Cluster,
                ids(&self.clusters, |x| x.id.as_str()),
            ),
        ]
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

/// A timestamp in the form Cedar's `datetime()` is given (UTC, milliseconds), or `None` when
/// Cedar's rules refuse it; [`crate::world::time::parse`] says why.
pub fn cedar_datetime(s: &str) -> Option<String> {
    crate::world::time::parse(s).ok().map(|t| t.cedar)
}

/// Read and validate a world file; every problem is reported with its location.
pub fn load_world(path: &Path, roles: &RoleCatalog) -> Result<World, Problems> {
    let (file, src) = crate::world::problem::read_input(path)?;
    parse_world(&file, &src, roles)
}

/// [`load_world`], with the warnings of a valid world, located: a service ID whose creator is
/// not a member of its account (that creator manages none of its keys, R18).
pub fn load_world_warned(
    path: &Path,
    roles: &RoleCatalog,
) -> Result<(World, Vec<Problem>), Problems> {
    let (file, src) = crate::world::problem::read_input(path)?;
    checked_text(&file, &src, roles, true)
}

/// Parse and validate a world from text; `file` names it in problems.
pub fn parse_world(file: &str, src: &str, roles: &RoleCatalog) -> Result<World, Problems> {
    checked_text(file, src, roles, false).map(|(world, _)| world)
}

/// The world of a text, checked, with its warnings when `warn`. The tree is consumed while the
/// records are read (no second copy of the world in memory); only when there is a problem or
/// a warning to locate is the text parsed again, into the same tree, and checked with it, so
/// every problem is located exactly as it always was.
fn checked_text(
    file: &str,
    src: &str,
    roles: &RoleCatalog,
    warn: bool,
) -> Result<(World, Vec<Problem>), Problems> {
    let mut p = Vec::new();
    let mut sh = Shape::default();
    let mut world = match crate::world::stream::read(file, src) {
        Some(world) => world,
        None => shape(file, fields::parse_located(file, src)?, &mut p, &mut sh),
    };
    let unlocated = Node {
        pos: Default::default(),
        kind: Kind::Map(Vec::new()),
    };
    if p.is_empty() {
        validate::check(file, &unlocated, &mut world, roles, &sh, &mut p);
    }
    let clean =
        p.is_empty() && (!warn || validate::warnings(file, &unlocated, &world, &sh).is_empty());
    if clean {
        return Ok((world, Vec::new()));
    }
    let root = fields::parse_located(file, src)?;
    let (world, sh) = checked(file, &root, roles)?;
    let warnings = if warn {
        validate::warnings(file, &root, &world, &sh)
    } else {
        Vec::new()
    };
    Ok((world, warnings))
}

/// [`parse_world`], with the warnings of a valid world (see [`load_world_warned`]).
pub fn parse_world_warned(
    file: &str,
    src: &str,
    roles: &RoleCatalog,
) -> Result<(World, Vec<Problem>), Problems> {
    let root = fields::parse_located(file, src)?;
    let (world, sh) = checked(file, &root, roles)?;
    let warnings = validate::warnings(file, &root, &world, &sh);
    Ok((world, warnings))
}

/// Validate a world from an already parsed YAML node (e.g. a world written inline in a
/// scenario script); problems are located in `file` by the node's positions.
pub fn world_from_node(file: &str, root: &Node, roles: &RoleCatalog) -> Result<World, Problems> {
    checked(file, root, roles).map(|(world, _)| world)
}

/// The world of a parsed tree, checked, with where its records sit in the file.
fn checked(file: &str, root: &Node, roles: &RoleCatalog) -> Result<(World, Shape), Problems> {
    let mut p = Vec::new();
    let mut sh = Shape::default();
    let mut world = shape(file, root.clone(), &mut p, &mut sh);
    // Cross-record checks run on what parsed, so one pass reports every problem.
    validate::check(file, root, &mut world, roles, &sh, &mut p);
    if p.is_empty() {
        Ok((world, sh))
    } else {
        p.sort_by_key(|a| a.pos);
        Err(Problems(p))
    }
}

pub(super) const SECTIONS: [&str; 10] = [
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
pub(super) struct Shape {
    orig: HashMap<&'static str, Vec<usize>>,
    pub(super) broken_ids: HashSet<String>,
}

impl Shape {
    /// The index in the file of the `i`-th parsed record of a section.
    pub(super) fn orig(&self, section: &str, i: usize) -> usize {
        self.orig
            .get(section)
            .and_then(|v| v.get(i))
            .copied()
            .unwrap_or(i)
    }
}

fn items<T: DeserializeOwned + Send>(
    file: &str,
    sections: &mut HashMap<String, Node>,
    section: &'static str,
    p: &mut Vec<Problem>,
    shape: &mut Shape,
) -> Vec<T> {
    let Some(node) = sections.remove(section) else {
        return Vec::new();
    };
    let list = match node.kind {
        Kind::Seq(list) => list,
        Kind::Scalar(serde_json::Value::Null) => return Vec::new(),
        _ => {
            p.push(Problem::new(file, node.pos, section, "expected a list"));
            return Vec::new();
        }
    };
    // Records are read in parallel, then taken in file order: the same records and problems.
    use rayon::prelude::*;
    // Each record's nodes are freed as soon as it is read.
    let read: Vec<(Read<T>, Vec<Problem>)> = list
        .into_par_iter()
        .enumerate()
        .map(|(i, item)| {
            let mut p = Vec::new();
            let r = record(file, section, i, &item, &mut p);
            (r, p)
        })
        .collect();
    let mut out = Vec::new();
    for (i, (r, problems)) in read.into_iter().enumerate() {
        p.extend(problems);
        match r {
            Read::Record(v) => {
                out.push(v);
                shape.orig.entry(section).or_default().push(i);
            }
            Read::Broken(Some(id)) => {
                shape.broken_ids.insert(id);
            }
            Read::Broken(None) | Read::NotAMapping => {}
        }
    }
    out
}

/// One record of a section as read: the record, or not (with the id it gave, if any).
pub(super) enum Read<T> {
    Record(T),
    Broken(Option<String>),
    NotAMapping,
}

pub(super) fn record<T: DeserializeOwned>(
    file: &str,
    section: &str,
    i: usize,
    item: &Node,
    p: &mut Vec<Problem>,
) -> Read<T> {
    let field = format!("{section}[{i}]");
    if !matches!(item.kind, Kind::Map(_)) {
        // serde would bind a list to the record's fields by their order: refused.
        p.push(Problem::new(
            file,
            item.pos,
            &field,
            format!(
                "a record of `{section}` is a mapping of named fields (`{{ id: ..., ... }}`), not {}",
                match item.kind {
                    Kind::Seq(_) => "a list",
                    _ => "a single value",
                }
            ),
        ));
        return Read::NotAMapping;
    }
    match fields::de::<T>(file, item, &field, p) {
        Some(v) => Read::Record(v),
        None => Read::Broken(
            item.get("id")
                .map(Node::to_json)
                .map(|id| id.as_str().map_or_else(|| id.to_string(), String::from)),
        ),
    }
}

/// The typed records of a parsed tree (consumed: a record's nodes are freed once it is read).
pub(super) fn shape(file: &str, root: Node, p: &mut Vec<Problem>, sh: &mut Shape) -> World {
    if !matches!(root.kind, Kind::Map(_)) {
        p.push(Problem::new(
            file,
            root.pos,
            "",
            "a world file is a mapping with sections accounts, users, ...",
        ));
        return World::default();
    }
    fields::unknown_keys(file, &root, &SECTIONS, "section", p);
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
    let mut sections: HashMap<String, Node> = match root.kind {
        Kind::Map(entries) => entries.into_iter().map(|(k, _, v)| (k, v)).collect(),
        _ => HashMap::new(),
    };
    World {
        now,
        accounts: items(file, &mut sections, "accounts", p, sh),
        users: items(file, &mut sections, "users", p, sh),
        service_ids: items(file, &mut sections, "service_ids", p, sh),
        access_groups: items(file, &mut sections, "access_groups", p, sh),
        role_bindings: items(file, &mut sections, "role_bindings", p, sh),
        api_keys: items(file, &mut sections, "api_keys", p, sh),
        classic_keys: items(file, &mut sections, "classic_keys", p, sh),
        clusters: items(file, &mut sections, "clusters", p, sh),
        cluster_api_keys: items(file, &mut sections, "cluster_api_keys", p, sh),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flag_is_exactly_true_or_false() {
        assert_eq!(parse_flag("true"), Ok(true));
        assert_eq!(parse_flag("false"), Ok(false));
        let e = parse_flag("yes").unwrap_err();
        assert_eq!(e.to_string(), "`yes` is not true or false");
        assert!(parse_flag("True").is_err());
    }
}
