//! IBM records → world records: accounts, users (one per `iam_id`, however many accounts list
//! them), service IDs, API keys, access groups, classic users and keys, clusters and their API
//! key slots. Policies are mapped by [`super::policy`].
//!
//! Owns the id scheme of an imported world (docs/cli.md: users and service IDs by `iam_id`,
//! the rest by their `id`) and what is kept out: every id referenced but not exported is listed
//! in the summary, never silently lost. Must not decide anything a policy decides. May use:
//! the world's records.

use super::layout::{AccountExport, Export};
use super::sources::{ApiKeyRec, Located, ServiceIdRec, SourceError};
use super::summary::{NoteKind, Summary};
use crate::world::{
    AccessGroup, Account, ApiKey, ClassicKey, Cluster, ClusterApiKey, LeakAction, ResourceGroup,
    Restriction, ServiceId, User, World,
};
use std::collections::{BTreeMap, BTreeSet};

/// The access group IBM gives every identity, authenticated or not.
pub const PUBLIC_ACCESS: &str = "AccessGroupId-PublicAccess";
/// The name Kubernetes Service gives the user API key it stores per region and resource group.
pub const CLUSTER_KEY_NAME: &str = "containers-kubernetes-key";

/// History actions taken as the creation of a service ID. IBM's SDK documents the `history`
/// entry's fields but not its `action` vocabulary; these are the Activity Tracker event name
/// (`iam-identity.account-serviceid.create`) and its plain forms. Unverified: see docs/import.md.
const CREATE_ACTIONS: [&str; 3] = [
    "iam-identity.account-serviceid.create",
    "iam-identity.serviceid.create",
    "create",
];

/// An IAM timestamp as RFC 3339 in UTC: IAM Identity writes `2024-05-28T14:14+0000` (no
/// seconds); other services and the SDKs' mocks write RFC 3339. `None` when neither.
pub fn iam_time(s: &str) -> Option<String> {
    let parsed = chrono::DateTime::parse_from_rfc3339(s).ok().or_else(|| {
        [
            "%Y-%m-%dT%H:%M%z",
            "%Y-%m-%dT%H:%M:%S%z",
            "%Y-%m-%dT%H:%M:%S%.f%z",
        ]
        .iter()
        .find_map(|f| chrono::DateTime::parse_from_str(s, f).ok())
    })?;
    Some(
        parsed
            .with_timezone(&chrono::Utc)
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
    )
}

/// The world being built, with the lookups the mapping needs.
#[derive(Default)]
pub struct Builder {
    pub accounts: Vec<Account>,
    pub users: BTreeMap<String, User>,
    pub service_ids: BTreeMap<String, ServiceId>,
    /// A service ID's `id` (`ServiceId-…`, as policies name it) → its `iam_id`.
    pub service_id_by_id: BTreeMap<String, String>,
    pub groups: BTreeMap<String, AccessGroup>,
    pub keys: BTreeMap<String, ApiKey>,
    pub classic_keys: Vec<ClassicKey>,
    pub clusters: BTreeMap<String, Cluster>,
    pub slots: Vec<ClusterApiKey>,
    pub bindings: Vec<crate::world::RoleBinding>,
    pub summary: Summary,
}

impl Builder {
    /// Note a record listed a second time (its first listing is the one kept).
    fn twice(&mut self, file: &str, path: &str, what: &str, id: &str) {
        let m = format!("{what} `{id}` listed twice: the first is kept");
        self.summary.note(NoteKind::Dropped, file, path, m);
    }

    /// Whether `id` is a user or service ID member of `account`.
    pub fn is_member(&self, id: &str, account: &str) -> bool {
        self.users
            .get(id)
            .is_some_and(|u| u.accounts.iter().any(|a| a == account))
            || self
                .service_ids
                .get(id)
                .is_some_and(|s| s.account == account)
    }

    /// Map every record of an export except the policies.
    pub fn records(&mut self, export: &Export) -> Result<(), SourceError> {
        for a in &export.accounts {
            self.account(a)?;
            self.users(a);
        }
        for a in &export.accounts {
            self.service_ids(a);
        }
        for a in &export.accounts {
            self.keys(&a.user_keys.file, &a.user_keys.items)?;
            self.keys(&a.service_keys.file, &a.service_keys.items)?;
            self.groups(a);
            self.classic(a);
            self.clusters(a);
        }
        Ok(())
    }

    fn account(&mut self, a: &AccountExport) -> Result<(), SourceError> {
        let rec = &a.account.item;
        if let Some(id) = rec.id.as_deref().filter(|id| *id != a.id) {
            return Err(SourceError {
                file: a.account_file.clone(),
                path: "id".into(),
                message: format!(
                    "account `{id}` exported in the folder of account `{}`",
                    a.id
                ),
            });
        }
        let restriction = match &a.settings {
            None => {
                self.summary.note(
                    NoteKind::Info,
                    &format!("{}/identity-settings.json", a.id),
                    "",
                    "not exported: the restriction is taken as NOT_SET",
                );
                Restriction::NotSet
            }
            Some((file, s)) => match s.item.restrict_create_platform_apikey.as_deref() {
                None => Restriction::NotSet,
                Some(v) => Restriction::parse(v).ok_or_else(|| SourceError {
                    file: file.clone(),
                    path: "restrict_create_platform_apikey".into(),
                    message: format!("`{v}`: expected RESTRICTED, NOT_RESTRICTED or NOT_SET"),
                })?,
            },
        };
        let mut resource_groups = Vec::new();
        let mut default = None;
        for g in &a.resource_groups.items {
            resource_groups.push(ResourceGroup {
                id: g.item.id.clone(),
                name: g.item.name.clone(),
            });
            if g.item.default && default.is_none() {
                default = Some(g.item.id.clone());
            }
        }
        resource_groups.sort_by(|x, y| x.id.cmp(&y.id));
        if default.is_none() {
            self.summary.note(NoteKind::Guessed, &a.resource_groups.file, "", "no resource group marked `default: true`: the default resource group is taken as `default`");
        }
        self.accounts.push(Account {
            id: a.id.clone(),
            name: rec.name.clone(),
            owner: rec.owner_iamid.clone(),
            default_resource_group: default.unwrap_or_else(|| "default".into()),
            restrict_user_api_key_creation: restriction,
            resource_groups,
        });
        Ok(())
    }

    fn users(&mut self, a: &AccountExport) {
        for u in &a.users.items {
            let r = &u.item;
            let name = match (r.firstname.as_deref(), r.lastname.as_deref()) {
                (Some(f), Some(l)) if !f.is_empty() || !l.is_empty() => {
                    Some(format!("{f} {l}").trim().to_string())
                }
                (Some(f), None) if !f.is_empty() => Some(f.to_string()),
                _ => None,
            };
            let user = self.users.entry(r.iam_id.clone()).or_insert_with(|| User {
                id: r.iam_id.clone(),
                name,
                email: r.email.clone().or_else(|| r.user_id.clone()),
                ..Default::default()
            });
            if !user.accounts.contains(&a.id) {
                user.accounts.push(a.id.clone());
            }
        }
        let owner = &a.account.item.owner_iamid;
        if !self.is_member(owner, &a.id) {
            self.summary.note(
                NoteKind::Guessed,
                &a.account_file,
                "owner_iamid",
                format!(
                    "the owner `{owner}` is not in users.json: added as a member of `{}`",
                    a.id
                ),
            );
            let u = self.users.entry(owner.clone()).or_insert_with(|| User {
                id: owner.clone(),
                ..Default::default()
            });
            u.accounts.push(a.id.clone());
        }
    }

    fn service_ids(&mut self, a: &AccountExport) {
        for s in &a.service_ids.items {
            let r = &s.item;
            if self.service_ids.contains_key(&r.iam_id) || self.users.contains_key(&r.iam_id) {
                self.twice(&a.service_ids.file, &s.path, "service ID", &r.iam_id);
                continue;
            }
            let created_by = self.creator(&a.service_ids.file, s);
            self.service_id_by_id.insert(r.id.clone(), r.iam_id.clone());
            self.service_ids.insert(
                r.iam_id.clone(),
                ServiceId {
                    id: r.iam_id.clone(),
                    name: r.name.clone(),
                    account: a.id.clone(),
                    created_by,
                },
            );
        }
    }

    /// A service ID's creator: the identity of its earliest `history` entry, when that entry
    /// records the creation and names a user of the export.
    fn creator(&mut self, file: &str, s: &Located<ServiceIdRec>) -> Option<String> {
        let (i, first) = s
            .item
            .history
            .iter()
            .enumerate()
            .min_by_key(|(i, h)| (h.timestamp.as_deref().and_then(iam_time), *i))?;
        let path = format!("{}.history[{i}]", s.path);
        let action = first.action.as_deref().unwrap_or("");
        if !CREATE_ACTIONS
            .iter()
            .any(|c| c.eq_ignore_ascii_case(action))
        {
            self.summary.note(NoteKind::Info, file, &path, format!("the earliest history entry's action `{action}` is not a creation keyward recognises: no creator read"));
            return None;
        }
        let who = first.iam_id.clone()?;
        if !self.users.contains_key(&who) {
            self.summary.note(
                NoteKind::Dropped,
                file,
                &path,
                format!("created by `{who}`, who is no user of the export: no creator kept"),
            );
            return None;
        }
        self.summary.note(
            NoteKind::Guessed,
            file,
            &path,
            format!("creator `{who}` read from the service ID's history"),
        );
        Some(who)
    }

    fn keys(&mut self, file: &str, items: &[Located<ApiKeyRec>]) -> Result<(), SourceError> {
        for k in items {
            if self.keep_key(file, k) {
                self.key(file, k)?;
            }
        }
        Ok(())
    }

    /// Whether a key can be in the world (its account exported, its identity a member there);
    /// when not, why, in the summary.
    fn keep_key(&mut self, file: &str, k: &Located<ApiKeyRec>) -> bool {
        let r = &k.item;
        let drop = |b: &mut Self, m: String| b.summary.note(NoteKind::Dropped, file, &k.path, m);
        if self.keys.contains_key(&r.id) {
            self.twice(file, &k.path, "API key", &r.id);
            return false;
        }
        if !self.accounts.iter().any(|x| x.id == r.account_id) {
            drop(
                self,
                format!(
                    "API key `{}` of account `{}`, which is not exported",
                    r.id, r.account_id
                ),
            );
            return false;
        }
        if !self.is_member(&r.iam_id, &r.account_id) {
            let why = if r.iam_id.starts_with("iam-Profile-") {
                "a trusted profile (keyward does not model them)"
            } else {
                "no user or service ID of that account in the export"
            };
            drop(
                self,
                format!("API key `{}` authenticates as `{}`: {why}", r.id, r.iam_id),
            );
            return false;
        }
        true
    }

    fn key(&mut self, file: &str, k: &Located<ApiKeyRec>) -> Result<(), SourceError> {
        let r = &k.item;
        let err = |field: &str, m: String| SourceError {
            file: file.to_string(),
            path: format!("{}.{field}", k.path),
            message: m,
        };
        let expires_at = match &r.expires_at {
            None => None,
            Some(t) => Some(iam_time(t).ok_or_else(|| {
                err(
                    "expires_at",
                    format!("`{t}` is not an IAM timestamp (e.g. 2025-05-28T14:14+0000)"),
                )
            })?),
        };
        let action_when_leaked = match &r.action_when_leaked {
            None => LeakAction::Disable,
            Some(v) => LeakAction::parse(&v.to_ascii_lowercase()).ok_or_else(|| {
                err(
                    "action_when_leaked",
                    format!("`{v}`: expected none, disable or delete"),
                )
            })?,
        };
        let created_by = match r.created_by.as_deref() {
            Some(c) if self.users.contains_key(c) || self.service_ids.contains_key(c) => {
                Some(c.to_string())
            }
            Some(c) => {
                self.summary.note(
                    NoteKind::Dropped,
                    file,
                    &format!("{}.created_by", k.path),
                    format!("creator `{c}` is no user or service ID of the export: not kept"),
                );
                None
            }
            None => None,
        };
        self.keys.insert(
            r.id.clone(),
            ApiKey {
                id: r.id.clone(),
                name: r.name.clone(),
                identity: r.iam_id.clone(),
                account: r.account_id.clone(),
                description: r.description.clone().unwrap_or_default(),
                created_by,
                locked: r.locked,
                disabled: r.disabled.unwrap_or(false),
                expires_at,
                action_when_leaked,
                etag: r.entity_tag.clone(),
                obsolete: false,
                fingerprint: None,
            },
        );
        Ok(())
    }

    fn groups(&mut self, a: &AccountExport) {
        let everyone: Vec<String> = self
            .users
            .values()
            .filter(|u| u.accounts.contains(&a.id))
            .map(|u| u.id.clone())
            .chain(
                self.service_ids
                    .values()
                    .filter(|s| s.account == a.id)
                    .map(|s| s.id.clone()),
            )
            .collect();
        for g in &a.groups.items {
            let id = &g.item.id;
            let mut group = AccessGroup {
                id: id.clone(),
                name: g.item.name.clone(),
                account: a.id.clone(),
                members: Vec::new(),
            };
            if id == PUBLIC_ACCESS {
                // Its membership is implicit: every identity. Over-approximated as every member.
                self.summary.note(
                    NoteKind::OverApproximated,
                    &a.groups.file,
                    &g.path,
                    "the Public Access group: every member of the account is taken as its member",
                );
                group.members = everyone.clone();
            }
            if self.groups.contains_key(id) {
                self.twice(&a.groups.file, &g.path, "access group", id);
                continue;
            }
            if let Some((_, m)) = a.members.iter().find(|(gid, _)| gid == id) {
                if !m.present && id != PUBLIC_ACCESS {
                    self.summary.note(
                        NoteKind::Info,
                        &m.file,
                        "",
                        "not exported: the group has no members in the world",
                    );
                }
                for x in &m.items {
                    let who = &x.item.iam_id;
                    if x.item.kind.as_deref() == Some("profile") || who.starts_with("iam-Profile-")
                    {
                        self.summary.note(
                            NoteKind::Dropped,
                            &m.file,
                            &x.path,
                            format!(
                                "member `{who}` is a trusted profile (keyward does not model them)"
                            ),
                        );
                    } else if !self.is_member(who, &a.id) {
                        self.summary.note(NoteKind::Dropped, &m.file, &x.path, format!("member `{who}` is no user or service ID of account `{}` in the export", a.id));
                    } else if !group.members.contains(who) {
                        group.members.push(who.clone());
                    }
                }
            }
            self.groups.insert(id.clone(), group);
        }
    }

    fn classic(&mut self, a: &AccountExport) {
        let file = &a.classic_users.file;
        let iam_of: BTreeMap<i64, Option<String>> = a
            .classic_users
            .items
            .iter()
            .map(|u| (u.item.id, u.item.iam_id.clone()))
            .collect();
        for u in &a.classic_users.items {
            let r = &u.item;
            let Some(iam) = r.iam_id.as_deref().filter(|i| self.is_member(i, &a.id)) else {
                self.summary.note(
                    NoteKind::Dropped,
                    file,
                    &u.path,
                    format!(
                        "classic user {} has no `iamId` of a user of account `{}`",
                        r.id, a.id
                    ),
                );
                continue;
            };
            if let Some(p) = r.parent_id {
                match iam_of
                    .get(&p)
                    .cloned()
                    .flatten()
                    .filter(|pi| self.users.contains_key(pi))
                {
                    Some(parent) => {
                        if let Some(user) = self.users.get_mut(iam) {
                            match &user.classic_parent {
                                Some(old) if *old != parent => self.summary.note(NoteKind::Dropped, file, &format!("{}.parentId", u.path), format!("`{iam}` already has classic parent `{old}` from another account: `{parent}` is not kept")),
                                _ => user.classic_parent = Some(parent),
                            }
                        }
                    }
                    None => self.summary.note(
                        NoteKind::Dropped,
                        file,
                        &format!("{}.parentId", u.path),
                        format!("parent {p} of `{iam}` is no user of the export"),
                    ),
                }
            }
            let mut keys: Vec<i64> = r.api_authentication_keys.iter().map(|k| k.id).collect();
            keys.sort_unstable();
            if let Some(first) = keys.first() {
                self.classic_keys.push(ClassicKey {
                    id: format!("classic-{first}"),
                    user: iam.to_string(),
                    account: a.id.clone(),
                });
            }
            if keys.len() > 1 {
                self.summary.note(
                    NoteKind::Dropped,
                    file,
                    &format!("{}.apiAuthenticationKeys", u.path),
                    format!(
                        "{} classic keys for `{iam}`: one per user is kept (classic-{})",
                        keys.len(),
                        keys[0]
                    ),
                );
            }
        }
    }

    fn clusters(&mut self, a: &AccountExport) {
        let default = self
            .accounts
            .iter()
            .find(|x| x.id == a.id)
            .map(|x| x.default_resource_group.clone())
            .unwrap_or_default();
        for c in &a.clusters.items {
            let r = &c.item;
            if self.clusters.contains_key(&r.id) {
                self.twice(&a.clusters.file, &c.path, "cluster", &r.id);
                continue;
            }
            self.clusters.insert(
                r.id.clone(),
                Cluster {
                    id: r.id.clone(),
                    name: r.name.clone(),
                    account: a.id.clone(),
                    region: r.region.clone(),
                    resource_group: r.resource_group.clone().unwrap_or_else(|| default.clone()),
                    addons: r.addons.iter().map(|x| x.name.clone()).collect(),
                },
            );
        }
    }

    /// Infer the cluster API key of each (account, region, resource group) that has clusters
    /// and no slot in the overlay: the user key named `containers-kubernetes-key` whose description names
    /// both the region and the resource group id (the convention IBM's reset tooling relies
    /// on); the most recently created when several match.
    pub fn infer_slots(&mut self, export: &Export, given: &[(String, String, String)]) {
        let mut wanted: BTreeSet<(String, String, String)> = BTreeSet::new();
        for c in self.clusters.values() {
            wanted.insert((
                c.account.clone(),
                c.region.clone(),
                c.resource_group.clone(),
            ));
        }
        for (account, region, rg) in wanted {
            if given
                .iter()
                .any(|(a, r, g)| *a == account && *r == region && *g == rg)
            {
                continue; // the overlay says
            }
            let Some(a) = export.accounts.iter().find(|a| a.id == account) else {
                continue;
            };
            let mut found: Vec<&Located<ApiKeyRec>> = a
                .user_keys
                .items
                .iter()
                .filter(|k| k.item.name == CLUSTER_KEY_NAME && self.keys.contains_key(&k.item.id))
                .filter(|k| {
                    k.item
                        .description
                        .as_deref()
                        .is_some_and(|d| d.contains(&region) && d.contains(&rg))
                })
                .collect();
            found.sort_by_key(|k| {
                std::cmp::Reverse((
                    k.item.created_at.as_deref().and_then(iam_time),
                    k.item.id.clone(),
                ))
            });
            let Some(k) = found.first() else {
                self.summary.note(NoteKind::Info, &a.user_keys.file, "", format!("no `{CLUSTER_KEY_NAME}` key names {region} and {rg}: the cluster API key of {account}/{region}/{rg} is unknown (give it in --overlay)"));
                continue;
            };
            let more = if found.len() > 1 {
                format!(" (the newest of {})", found.len())
            } else {
                String::new()
            };
            self.summary.note(
                NoteKind::Guessed,
                &a.user_keys.file,
                &k.path,
                format!(
                    "cluster API key of {account}/{region}/{rg} inferred: `{}`{more}",
                    k.item.id
                ),
            );
            self.slots.push(ClusterApiKey {
                account,
                region,
                resource_group: rg,
                api_key: k.item.id.clone(),
            });
        }
    }

    /// The world, records sorted by id (role bindings in export order), so the same export
    /// gives a byte-identical world.
    pub fn world(self) -> (World, Summary) {
        let mut slots = self.slots;
        slots.sort_by(|a, b| {
            (&a.account, &a.region, &a.resource_group).cmp(&(
                &b.account,
                &b.region,
                &b.resource_group,
            ))
        });
        let mut classic = self.classic_keys;
        classic.sort_by(|a, b| a.id.cmp(&b.id));
        let world = World {
            now: None,
            accounts: self.accounts,
            users: self.users.into_values().collect(),
            service_ids: self.service_ids.into_values().collect(),
            access_groups: self.groups.into_values().collect(),
            role_bindings: self.bindings,
            api_keys: self.keys.into_values().collect(),
            classic_keys: classic,
            clusters: self.clusters.into_values().collect(),
            cluster_api_keys: slots,
        };
        (world, self.summary)
    }
}
