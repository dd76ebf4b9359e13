//! Carrying out an allowed request: its effect on a [`World`] (create, update, delete, lock,
//! reset, remove a user, …), described as typed [`Change`]s and a typed [`Done`], plus the leak
//! event (R14). [`carry_out`] dispatches on the action name to one function per action family.
//!
//! Owns the state change of every action of docs/cli.md and the secrets it makes (R12: a new
//! key's value is random, shown once, and only its fingerprint is kept). It must not decide
//! permissions: it runs only on a decision the policies allowed, reads no role, and checks no
//! ownership; nor does it word what it did (`report::changes` does). A fact a change needs that
//! does not hold (a stale etag, no classic key to delete, a world the change would leave
//! invalid) is a [`Failure`] of the operation, not a deny.

use crate::decide::action::Action;
use crate::decide::engine::{Decision, Verdict};
use crate::decide::request::RequestSpec;
use crate::world::RoleCatalog;
use crate::world::{
    self, AccessGroup, Account, ApiKey, ClassicKey, Cluster, ClusterApiKey, IdKind, LeakAction,
    Restriction, RoleBinding, ServiceId, User, World,
};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;

/// The name IBM Cloud gives the API key a cluster API key reset creates.
pub const CLUSTER_KEY_NAME: &str = "containers-kubernetes-key";

/// Add-ons that must be re-created on the clusters of a region and resource group after a
/// reset of their cluster API key (R23): block storage and the cluster autoscaler, by keyward's
/// short names and by the names IBM Cloud's cluster list gives them (as imported).
pub const ADDONS_TO_RECREATE: [&str; 4] = [
    "block-storage",
    "autoscaler",
    "vpc-block-csi-driver",
    "cluster-autoscaler",
];

/// What kind of change a [`Change`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// A record was added (`to` holds it).
    Add,
    /// A record was removed (`from` holds it).
    Remove,
    /// One field of a record changed (`field`, `from`, `to`).
    Set,
}

/// One typed change of a world: a record added or removed, or one field of a record set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub op: Op,
    /// The world-file section (`api_keys`, `users`, …; `now` for the world's time).
    pub section: String,
    /// The record's id; for id-less records, `account/region/resource_group` (cluster API key
    /// slots) or `subject@account/service` (role bindings).
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Value>,
}

/// A key value made for a caller: shown once, never stored, never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The value itself, for the one time it is shown.
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// The effect of a carried-out request or event.
#[derive(Debug, Clone)]
pub struct Effect {
    /// The state after the change (the same as before for get, login and info).
    pub world: World,
    /// What changed, record by record (empty for get, login and info).
    pub changes: Vec<Change>,
    /// What was done and what the operation reports (a key's metadata, whose credentials a
    /// cluster uses, the clusters a reset affects, the cluster keys a removal orphans, …).
    pub done: Done,
    /// A key value generated for the caller, to be printed once (never for caller-supplied
    /// values, which are not echoed, nor for a cluster reset, whose key only the clusters get).
    pub secret: Option<Secret>,
}

/// Why an allowed request could not be carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// A stale etag (R15).
    Conflict,
    /// What the operation acts on does not exist.
    NotFound,
    /// The request lacks what the operation needs, or would leave an invalid world.
    Invalid,
}

/// A failed operation: nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            FailureKind::Conflict => "conflict",
            FailureKind::NotFound => "not found",
            FailureKind::Invalid => "cannot carry out",
        };
        write!(f, "{kind}: {}", self.message)
    }
}

fn fail(kind: FailureKind, message: impl Into<String>) -> Failure {
    Failure {
        kind,
        message: message.into(),
    }
}

/// The fingerprint kept of a key value: `sha256:` and the hex digest.
pub fn fingerprint(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    let mut s = String::with_capacity(7 + 64);
    s.push_str("sha256:");
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// A new key value: 33 bytes from the operating system's CSPRNG, as 44 base64url characters
/// (the length of an IBM Cloud API key).
pub fn new_secret() -> Result<Secret, Failure> {
    let mut bytes = [0u8; 33];
    getrandom::fill(&mut bytes).map_err(|e| {
        fail(
            FailureKind::Invalid,
            format!("no secure random source to make a key value: {e}"),
        )
    })?;
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut s = String::with_capacity(44);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16) | (u32::from(chunk[1]) << 8) | u32::from(chunk[2]);
        for shift in [18, 12, 6, 0] {
            s.push(ALPHABET[((n >> shift) & 63) as usize] as char);
        }
    }
    Ok(Secret(s))
}

/// A key's current entity tag ("1" when the world gives none).
pub fn current_etag(k: &ApiKey) -> String {
    k.etag.clone().unwrap_or_else(|| "1".to_string())
}

/// A new etag, different from every earlier one: the number after a numeric etag, or the etag
/// with `.1` appended when it is not a number or is the highest number (so it never wraps).
fn bump_etag(k: &mut ApiKey) {
    let cur = current_etag(k);
    k.etag = Some(
        match cur.parse::<u64>().ok().and_then(|n| n.checked_add(1)) {
            Some(n) => n.to_string(),
            None => format!("{cur}.1"),
        },
    );
}

/// The next free id `prefix-N`: one past the highest N used by any id of the world or named by
/// a cluster API key slot, so a deleted key's id is not handed out again while a slot may
/// still name it. When the highest N is `u64::MAX` (nothing lies past it), the lowest N that no
/// id or slot names: there are fewer ids than numbers, so one is free; ids never wrap to reuse
/// one in use.
fn next_id(w: &World, prefix: &str) -> String {
    let index = w.index();
    let named = index
        .ids
        .keys()
        .map(String::as_str)
        .chain(w.cluster_api_keys.iter().map(|s| s.api_key.as_str()));
    let used: std::collections::BTreeSet<u64> = named
        .filter_map(|id| {
            id.strip_prefix(prefix)
                .and_then(|r| r.strip_prefix('-'))
                .and_then(|r| r.parse::<u64>().ok())
        })
        .collect();
    let highest = used.last().copied().unwrap_or(0);
    let free = |n: &u64| !used.contains(n) && !index.ids.contains_key(&format!("{prefix}-{n}"));
    let n = (highest.saturating_add(1)..=u64::MAX)
        .chain(1..highest)
        .find(free)
        .expect("a world names fewer ids than there are numbers");
    format!("{prefix}-{n}")
}

fn key_index(w: &World, id: &str) -> Result<usize, Failure> {
    w.api_keys.iter().position(|k| k.id == id).ok_or_else(|| {
        fail(
            FailureKind::NotFound,
            format!("no API key `{id}` in this world"),
        )
    })
}

fn arg<'a>(d: &'a Decision, name: &str) -> Option<&'a str> {
    d.args.get(name).map(String::as_str)
}

fn need<'a>(d: &'a Decision, name: &str, why: &str) -> Result<&'a str, Failure> {
    arg(d, name).ok_or_else(|| {
        fail(
            FailureKind::Invalid,
            format!("{} needs --arg {name}=… ({why})", d.action),
        )
    })
}

/// Carry out an allowed request on `before`. `spec` is the request as the caller wrote it
/// (only its `apikey` arg is read from it: the decision's args hide that value); everything
/// else comes from the decision, whose args include the inferred account and resource group.
/// The new world is checked as a world file would be; a change that would leave it invalid
/// fails. Nothing here looks at roles or ownership: the decision has done that.
pub fn carry_out(
    before: &World,
    decision: &Decision,
    spec: &RequestSpec,
    roles: &RoleCatalog,
) -> Result<Effect, Failure> {
    if decision.decision != Verdict::Allow {
        return Err(fail(
            FailureKind::Invalid,
            "the request was denied; there is nothing to carry out",
        ));
    }
    let mut w = before.clone();
    let d = decision;
    let Ok(action) = d.action.parse::<Action>() else {
        return Err(fail(
            FailureKind::Invalid,
            format!("keyward cannot carry out `{}`", d.action),
        ));
    };
    // One arm per action of the table, matched exhaustively: a new action does not compile
    // until its state change is written here.
    let (done, secret) = match action {
        Action::ApiKeyCreate => create_key(&mut w, d, spec)?,
        Action::ApiKeyGet => (show_key(&w, d)?, None),
        Action::ApiKeyUpdate => (update_key(&mut w, d)?, None),
        Action::ApiKeyDelete => (delete_key(&mut w, d)?, None),
        Action::ApiKeyLock => (set_flag(&mut w, d, KeyFlag::Lock)?, None),
        Action::ApiKeyUnlock => (set_flag(&mut w, d, KeyFlag::Unlock)?, None),
        Action::ApiKeyDisable => (set_flag(&mut w, d, KeyFlag::Disable)?, None),
        Action::ApiKeyEnable => (set_flag(&mut w, d, KeyFlag::Enable)?, None),
        Action::Login => (login(&w, d)?, None),
        Action::ClassicApiKeyCreate => create_classic(&mut w, d)?,
        Action::ClassicApiKeyGet => (show_classic(&w, d)?, None),
        Action::ClassicApiKeyDelete => (delete_classic(&mut w, d)?, None),
        Action::AccountSettingsUpdate => (update_settings(&mut w, d)?, None),
        Action::KsApiKeyReset => reset_cluster_key(&mut w, d)?,
        Action::KsApiKeyInfo => (cluster_key_info(&w, d)?, None),
        Action::UserRemove => (remove_user(&mut w, d)?, None),
    };
    finish(before, w, done, secret, roles)
}

/// What a carried-out request or event did, in typed terms (`report::changes` words it for
/// people and programs). Ids are the world's; a cluster API key slot reads
/// `account/region/resource_group`, as in a [`Change`].
#[derive(Debug, Clone, PartialEq)]
pub enum Done {
    /// `api-key-create`: a key for `identity` in `account`.
    KeyCreated {
        id: String,
        identity: String,
        account: String,
    },
    /// `api-key-get`: the key's record, with its current etag.
    KeyShown { key: Box<ApiKey>, etag: String },
    /// `api-key-update`: the fields that changed (none: nothing to update) and the etag after.
    KeyUpdated {
        id: String,
        changed: Vec<&'static str>,
        etag: String,
    },
    /// `api-key-delete`: the cluster API key slots that still name the deleted key (F2).
    KeyDeleted { id: String, slots: Vec<String> },
    /// Lock, unlock, disable or enable; `already` when the key was in that state.
    KeyFlagSet {
        id: String,
        flag: KeyFlag,
        already: bool,
    },
    /// `login`: whom the key authenticates as in `account`.
    LoggedIn {
        key: String,
        identity: String,
        kind: IdentityKind,
        account: String,
    },
    /// `classic-api-key-create`.
    ClassicKeyCreated {
        id: String,
        user: String,
        account: String,
    },
    /// `classic-api-key-get`.
    ClassicKeyShown { key: ClassicKey },
    /// `classic-api-key-delete`.
    ClassicKeyDeleted { key: ClassicKey },
    /// `account-settings-update`; `already` when the setting had that value.
    RestrictionSet {
        account: String,
        value: Restriction,
        already: bool,
    },
    /// `ks-api-key-reset`.
    ClusterKeyReset(Box<ClusterKeyReset>),
    /// `ks-api-key-info`.
    ClusterKeyInfo(ClusterKeyInfo),
    /// `user-remove`: the keys removed with the membership and the cluster API key slots
    /// left without an owner.
    UserRemoved {
        user: String,
        account: String,
        removed_keys: Vec<String>,
        orphaned: Vec<ClusterApiKey>,
    },
    /// A reported leak and what its leak action did (R14).
    KeyLeaked {
        key: String,
        action: LeakAction,
        outcome: LeakOutcome,
    },
}

/// A reset of the cluster API key of an account, region and resource group (R21-R23).
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterKeyReset {
    pub slot: SlotId,
    /// The new key.
    pub api_key: String,
    /// Whose credentials the new key carries: the caller's.
    pub identity: String,
    /// The key the slot named before (`None`: a new slot).
    pub previous: Option<String>,
    /// The previous key, now marked obsolete (`None`: no previous key, or it no longer exists).
    pub obsolete: Option<String>,
    /// The clusters whose add-ons must be re-created, each with those add-ons (R23).
    pub recreate_addons: Vec<(String, Vec<String>)>,
}

/// The cluster API key of a cluster: the slot of its region and resource group, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterKeyInfo {
    pub cluster: String,
    /// The slot of the cluster's account, region and resource group.
    pub slot: SlotId,
    /// The key the slot names (`None`: no slot).
    pub api_key: Option<String>,
    /// Whose credentials that key carries (`None`: no slot, or the key no longer exists).
    pub identity: Option<String>,
}

/// Where a cluster API key slot sits: an account, a region and a resource group (R21).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotId {
    pub account: String,
    pub region: String,
    pub resource_group: String,
}

impl SlotId {
    fn new(account: &str, region: &str, resource_group: &str) -> Self {
        SlotId {
            account: account.to_string(),
            region: region.to_string(),
            resource_group: resource_group.to_string(),
        }
    }

    /// Whether the slot is that of `account`, `region` and `resource_group`.
    pub fn is(&self, account: &str, region: &str, resource_group: &str) -> bool {
        self.account == account && self.region == region && self.resource_group == resource_group
    }

    /// The slot's id, `account/region/resource_group`, as a [`Change`] names it.
    pub fn id(&self) -> String {
        format!("{}/{}/{}", self.account, self.region, self.resource_group)
    }
}

impl From<&ClusterApiKey> for SlotId {
    fn from(s: &ClusterApiKey) -> Self {
        SlotId::new(&s.account, &s.region, &s.resource_group)
    }
}

/// The state flags of an API key that lock, unlock, disable and enable set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFlag {
    Lock,
    Unlock,
    Disable,
    Enable,
}

/// Whether a key's identity is a user or a service ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityKind {
    User,
    ServiceId,
}

/// What a leak's action did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeakOutcome {
    /// The leak action is `none`.
    NothingDone,
    AlreadyDisabled,
    Disabled,
    Deleted,
}

fn create_key(
    w: &mut World,
    d: &Decision,
    spec: &RequestSpec,
) -> Result<(Done, Option<Secret>), Failure> {
    let account = need(d, "account", "the account the key is created in")?.to_string();
    let mut secret = None;
    let value = match spec.args.get("apikey") {
        // translate() has rejected values shorter than 32 characters (R12).
        Some(v) => Secret(v.clone()),
        None => {
            let s = new_secret()?;
            secret = Some(s.clone());
            s
        }
    };
    let locked = arg(d, "locked")
        .map(crate::world::parse_flag)
        .transpose()
        .map_err(|e| fail(FailureKind::Invalid, format!("--arg locked: {e}")))?
        .unwrap_or(false);
    let id = next_id(w, "key");
    w.api_keys.push(ApiKey {
        id: id.clone(),
        name: arg(d, "name").unwrap_or("api-key").to_string(),
        identity: d.resource.clone(),
        account: account.clone(),
        description: arg(d, "description").unwrap_or_default().to_string(),
        created_by: Some(d.principal.clone()),
        locked,
        disabled: false,
        expires_at: arg(d, "expires_at").map(String::from),
        action_when_leaked: arg(d, "action_when_leaked")
            .and_then(LeakAction::parse)
            .unwrap_or_default(),
        etag: Some("1".into()),
        obsolete: false,
        fingerprint: Some(fingerprint(value.reveal())),
    });
    let done = Done::KeyCreated {
        id,
        identity: d.resource.clone(),
        account,
    };
    Ok((done, secret))
}

fn show_key(w: &World, d: &Decision) -> Result<Done, Failure> {
    let k = &w.api_keys[key_index(w, &d.resource)?];
    Ok(Done::KeyShown {
        key: Box::new(k.clone()),
        etag: current_etag(k),
    })
}

fn update_key(w: &mut World, d: &Decision) -> Result<Done, Failure> {
    let resource = d.resource.as_str();
    let i = key_index(w, resource)?;
    let etag = need(
        d,
        "etag",
        "the key's current entity tag, or * for any (R15)",
    )?;
    let cur = current_etag(&w.api_keys[i]);
    if etag != "*" && etag != cur {
        return Err(fail(
            FailureKind::Conflict,
            format!(
                "API key {resource} is at etag \"{cur}\", the request carries \"{etag}\" (R15); nothing changed"
            ),
        ));
    }
    let k = &mut w.api_keys[i];
    let mut changed = Vec::new();
    if let Some(v) = arg(d, "name")
        && k.name != v
    {
        k.name = v.to_string();
        changed.push("name");
    }
    if let Some(v) = arg(d, "description")
        && k.description != v
    {
        k.description = v.to_string();
        changed.push("description");
    }
    if let Some(v) = arg(d, "expires_at")
        && k.expires_at.as_deref() != Some(v)
    {
        k.expires_at = Some(v.to_string());
        changed.push("expires_at");
    }
    if let Some(v) = arg(d, "action_when_leaked").and_then(LeakAction::parse)
        && k.action_when_leaked != v
    {
        k.action_when_leaked = v;
        changed.push("action_when_leaked");
    }
    if !changed.is_empty() {
        bump_etag(k);
    }
    Ok(Done::KeyUpdated {
        id: resource.to_string(),
        changed,
        etag: current_etag(k),
    })
}

fn delete_key(w: &mut World, d: &Decision) -> Result<Done, Failure> {
    let i = key_index(w, &d.resource)?;
    w.api_keys.remove(i);
    Ok(Done::KeyDeleted {
        id: d.resource.clone(),
        slots: slots_naming(w, &d.resource),
    })
}

fn set_flag(w: &mut World, d: &Decision, flag: KeyFlag) -> Result<Done, Failure> {
    let i = key_index(w, &d.resource)?;
    let k = &mut w.api_keys[i];
    let (field, value) = match flag {
        KeyFlag::Lock => (&mut k.locked, true),
        KeyFlag::Unlock => (&mut k.locked, false),
        KeyFlag::Disable => (&mut k.disabled, true),
        KeyFlag::Enable => (&mut k.disabled, false),
    };
    let already = *field == value;
    if !already {
        *field = value;
        bump_etag(k);
    }
    Ok(Done::KeyFlagSet {
        id: d.resource.clone(),
        flag,
        already,
    })
}

fn login(w: &World, d: &Decision) -> Result<Done, Failure> {
    let k = &w.api_keys[key_index(w, &d.principal)?];
    let kind = match w.index().ids.get(&k.identity) {
        Some((IdKind::ServiceId, _)) => IdentityKind::ServiceId,
        _ => IdentityKind::User,
    };
    Ok(Done::LoggedIn {
        key: d.principal.clone(),
        identity: k.identity.clone(),
        kind,
        account: d.resource.clone(),
    })
}

fn create_classic(w: &mut World, d: &Decision) -> Result<(Done, Option<Secret>), Failure> {
    let account = need(d, "account", "the account of the classic key")?.to_string();
    let id = next_id(w, "ck");
    w.classic_keys.push(ClassicKey {
        id: id.clone(),
        user: d.resource.clone(),
        account: account.clone(),
    });
    // A classic key record keeps no trace of its value at all.
    let secret = new_secret()?;
    let done = Done::ClassicKeyCreated {
        id,
        user: d.resource.clone(),
        account,
    };
    Ok((done, Some(secret)))
}

/// The position of the classic key the request names: its user's in its account.
fn classic_index(w: &World, d: &Decision) -> Result<usize, Failure> {
    let (resource, account) = (
        d.resource.as_str(),
        need(d, "account", "the account of the classic key")?,
    );
    w.classic_keys
        .iter()
        .position(|c| c.user == resource && c.account == account)
        .ok_or_else(|| {
            fail(
                FailureKind::NotFound,
                format!("{resource} has no classic infrastructure API key in {account}"),
            )
        })
}

fn show_classic(w: &World, d: &Decision) -> Result<Done, Failure> {
    let key = w.classic_keys[classic_index(w, d)?].clone();
    Ok(Done::ClassicKeyShown { key })
}

fn delete_classic(w: &mut World, d: &Decision) -> Result<Done, Failure> {
    let key = w.classic_keys.remove(classic_index(w, d)?);
    Ok(Done::ClassicKeyDeleted { key })
}

fn update_settings(w: &mut World, d: &Decision) -> Result<Done, Failure> {
    let v = need(
        d,
        "restrict_user_api_key_creation",
        "RESTRICTED, NOT_RESTRICTED or NOT_SET",
    )?;
    let Some(value) = Restriction::parse(v) else {
        return Err(fail(
            FailureKind::Invalid,
            format!("`{v}` is not one of RESTRICTED, NOT_RESTRICTED, NOT_SET"),
        ));
    };
    let resource = d.resource.as_str();
    let Some(a) = w.accounts.iter_mut().find(|a| a.id == resource) else {
        return Err(fail(
            FailureKind::NotFound,
            format!("no account `{resource}`"),
        ));
    };
    let already = a.restrict_user_api_key_creation == value;
    a.restrict_user_api_key_creation = value;
    Ok(Done::RestrictionSet {
        account: resource.to_string(),
        value,
        already,
    })
}

fn reset_cluster_key(w: &mut World, d: &Decision) -> Result<(Done, Option<Secret>), Failure> {
    let (principal, account) = (d.principal.as_str(), d.resource.as_str());
    let region = need(d, "region", "the region whose cluster API key is reset")?.to_string();
    let rg = need(d, "resource_group", "the resource group")?.to_string();
    // The new key's value goes to the clusters only: it is not shown to the caller.
    let value = new_secret()?;
    let id = next_id(w, "key");
    w.api_keys.push(ApiKey {
        id: id.clone(),
        name: CLUSTER_KEY_NAME.to_string(),
        identity: principal.to_string(),
        account: account.to_string(),
        description: format!("cluster API key of {region}/{rg}"),
        created_by: Some(principal.to_string()),
        locked: false,
        disabled: false,
        expires_at: None,
        action_when_leaked: LeakAction::default(),
        etag: Some("1".into()),
        obsolete: false,
        fingerprint: Some(fingerprint(value.reveal())),
    });
    let mut reset = ClusterKeyReset {
        slot: SlotId::new(account, &region, &rg),
        api_key: id,
        identity: principal.to_string(),
        previous: None,
        obsolete: None,
        recreate_addons: Vec::new(),
    };
    reset.previous = point_slot(w, &reset);
    reset.obsolete = reset.previous.as_deref().and_then(|p| mark_obsolete(w, p));
    reset.recreate_addons = addons_to_recreate(w, &reset);
    Ok((Done::ClusterKeyReset(Box::new(reset)), None))
}

/// Point the reset's slot at its new key (making the slot if there is none); the key it named.
fn point_slot(w: &mut World, r: &ClusterKeyReset) -> Option<String> {
    let slot = w
        .cluster_api_keys
        .iter_mut()
        .find(|s| r.slot.is(&s.account, &s.region, &s.resource_group));
    match slot {
        Some(s) => Some(std::mem::replace(&mut s.api_key, r.api_key.clone())),
        None => {
            w.cluster_api_keys.push(ClusterApiKey {
                account: r.slot.account.clone(),
                region: r.slot.region.clone(),
                resource_group: r.slot.resource_group.clone(),
                api_key: r.api_key.clone(),
            });
            None
        }
    }
}

/// Mark a replaced cluster key obsolete (R23); `None` when it no longer exists.
fn mark_obsolete(w: &mut World, key: &str) -> Option<String> {
    let k = w.api_keys.iter_mut().find(|k| k.id == key)?;
    if !k.obsolete {
        k.obsolete = true;
        bump_etag(k);
    }
    Some(k.id.clone())
}

/// The clusters of the reset's slot whose add-ons must be re-created, with those add-ons.
fn addons_to_recreate(w: &World, r: &ClusterKeyReset) -> Vec<(String, Vec<String>)> {
    w.clusters
        .iter()
        .filter(|c| r.slot.is(&c.account, &c.region, &c.resource_group))
        .filter_map(|c| {
            let addons: Vec<String> = c
                .addons
                .iter()
                .filter(|a| ADDONS_TO_RECREATE.contains(&a.as_str()))
                .cloned()
                .collect();
            (!addons.is_empty()).then(|| (c.id.clone(), addons))
        })
        .collect()
}

fn cluster_key_info(w: &World, d: &Decision) -> Result<Done, Failure> {
    let resource = d.resource.as_str();
    let Some(c) = w.clusters.iter().find(|c| c.id == resource) else {
        return Err(fail(
            FailureKind::NotFound,
            format!("no cluster `{resource}`"),
        ));
    };
    let slot_id = SlotId::new(&c.account, &c.region, &c.resource_group);
    let slot = w
        .cluster_api_keys
        .iter()
        .find(|s| slot_id.is(&s.account, &s.region, &s.resource_group));
    let key = slot.and_then(|s| w.api_keys.iter().find(|k| k.id == s.api_key));
    Ok(Done::ClusterKeyInfo(ClusterKeyInfo {
        cluster: resource.to_string(),
        slot: slot_id,
        api_key: slot.map(|s| s.api_key.clone()),
        identity: key.map(|k| k.identity.clone()),
    }))
}

fn remove_user(w: &mut World, d: &Decision) -> Result<Done, Failure> {
    let resource = d.resource.as_str();
    let account = need(d, "account", "the account the user is removed from")?.to_string();
    if w.accounts
        .iter()
        .any(|a| a.id == account && a.owner == resource)
    {
        return Err(fail(
            FailureKind::Invalid,
            format!("{resource} owns account {account}: an owner's membership cannot be removed"),
        ));
    }
    let Some(u) = w.users.iter_mut().find(|u| u.id == resource) else {
        return Err(fail(FailureKind::NotFound, format!("no user `{resource}`")));
    };
    let Some(m) = u.accounts.iter().position(|a| *a == account) else {
        return Err(fail(
            FailureKind::NotFound,
            format!("{resource} is not a member of {account}"),
        ));
    };
    u.accounts.remove(m);
    // Cluster API keys of this account that run on the user's credentials lose their owner,
    // whether the key itself is removed (created here) or not (created elsewhere).
    let orphaned: Vec<ClusterApiKey> = w
        .cluster_api_keys
        .iter()
        .filter(|s| s.account == account)
        .filter(|s| {
            w.api_keys
                .iter()
                .any(|k| k.id == s.api_key && k.identity == resource)
        })
        .cloned()
        .collect();
    let removed_keys: Vec<String> = w
        .api_keys
        .iter()
        .filter(|k| k.identity == resource && k.account == account)
        .map(|k| k.id.clone())
        .collect();
    w.api_keys
        .retain(|k| !(k.identity == resource && k.account == account));
    // What only a member may hold in the account goes with the membership.
    w.role_bindings
        .retain(|b| !(b.subject == resource && b.account == account));
    for g in w.access_groups.iter_mut().filter(|g| g.account == account) {
        g.members.retain(|m| m != resource);
    }
    w.classic_keys
        .retain(|c| !(c.user == resource && c.account == account));
    Ok(Done::UserRemoved {
        user: resource.to_string(),
        account,
        removed_keys,
        orphaned,
    })
}

/// Report a leak of a key: apply its leak action (R14). An event, not a request: no caller and
/// no decision.
pub fn leak(before: &World, key: &str, roles: &RoleCatalog) -> Result<Effect, Failure> {
    let mut w = before.clone();
    let i = key_index(&w, key)?;
    let action = w.api_keys[i].action_when_leaked;
    let outcome = match action {
        LeakAction::None => LeakOutcome::NothingDone,
        LeakAction::Disable if w.api_keys[i].disabled => LeakOutcome::AlreadyDisabled,
        LeakAction::Disable => {
            let k = &mut w.api_keys[i];
            k.disabled = true;
            bump_etag(k);
            LeakOutcome::Disabled
        }
        LeakAction::Delete => {
            w.api_keys.remove(i);
            LeakOutcome::Deleted
        }
    };
    let done = Done::KeyLeaked {
        key: key.to_string(),
        action,
        outcome,
    };
    finish(before, w, done, None, roles)
}

/// Check the new world as a world file would be checked, and describe the change.
fn finish(
    before: &World,
    after: World,
    done: Done,
    secret: Option<Secret>,
    roles: &RoleCatalog,
) -> Result<Effect, Failure> {
    let changes = diff(before, &after);
    let world = if changes.is_empty() {
        after
    } else {
        world::parse_world("(the changed world)", &after.to_yaml(), roles).map_err(|p| {
            fail(
                FailureKind::Invalid,
                format!("the change would leave the world invalid; nothing changed:\n{p}"),
            )
        })?
    };
    Ok(Effect {
        world,
        changes,
        done,
        secret,
    })
}

/// The ids (`account/region/resource_group`) of the cluster API key slots naming `key`.
fn slots_naming(w: &World, key: &str) -> Vec<String> {
    w.cluster_api_keys
        .iter()
        .filter(|s| s.api_key == key)
        .map(slot_key)
        .collect()
}

/// A section's records, each with the key that identifies it across two worlds.
type Records = Vec<(String, Value)>;

/// A section's records in two worlds, each with its key.
fn pair<T: Keyed>(before: &[T], after: &[T]) -> (Records, Records) {
    let records = |items: &[T]| -> Records {
        items
            .iter()
            .map(|i| (i.key(), serde_json::to_value(i).unwrap_or(Value::Null)))
            .collect()
    };
    (records(before), records(after))
}

/// The typed difference between two worlds, section by section in world-file order: records
/// removed or changed (in `before`'s order), then records added (in `after`'s order). A field a
/// world file leaves out reads as `false` beside a boolean, else `null`.
pub fn diff(before: &World, after: &World) -> Vec<Change> {
    let mut out = Vec::new();
    if before.now != after.now {
        out.push(Change {
            op: Op::Set,
            section: "now".into(),
            id: String::new(),
            field: None,
            from: Some(json!(before.now)),
            to: Some(json!(after.now)),
        });
    }
    let sections: [(&str, (Records, Records)); 9] = [
        ("accounts", pair(&before.accounts, &after.accounts)),
        ("users", pair(&before.users, &after.users)),
        ("service_ids", pair(&before.service_ids, &after.service_ids)),
        (
            "access_groups",
            pair(&before.access_groups, &after.access_groups),
        ),
        (
            "role_bindings",
            pair(&before.role_bindings, &after.role_bindings),
        ),
        ("api_keys", pair(&before.api_keys, &after.api_keys)),
        (
            "classic_keys",
            pair(&before.classic_keys, &after.classic_keys),
        ),
        ("clusters", pair(&before.clusters, &after.clusters)),
        (
            "cluster_api_keys",
            pair(&before.cluster_api_keys, &after.cluster_api_keys),
        ),
    ];
    for (section, (old, new)) in sections {
        section_changes(section, &old, &new, &mut out);
    }
    out
}

/// A world-file record with the key that identifies it across two worlds.
trait Keyed: Serialize {
    fn key(&self) -> String;
}

macro_rules! keyed_by_id {
    ($($t:ty),*) => {
        $(impl Keyed for $t {
            fn key(&self) -> String {
                self.id.clone()
            }
        })*
    };
}

// The records with an id: the kinds `IdKind` names, here as their types.
keyed_by_id!(
    Account,
    User,
    ServiceId,
    AccessGroup,
    ApiKey,
    ClassicKey,
    Cluster
);

impl Keyed for RoleBinding {
    // A binding has no id: the whole record is its key.
    fn key(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl Keyed for ClusterApiKey {
    fn key(&self) -> String {
        slot_key(self)
    }
}

/// One section's changes: records removed or changed (in `old`'s order), then records added
/// (in `new`'s order).
fn section_changes(section: &str, old: &Records, new: &Records, out: &mut Vec<Change>) {
    // Role bindings have no id: a changed binding reads as one removed and one added.
    let whole = section == "role_bindings";
    let new_map: BTreeMap<&str, &Value> = new.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let old_map: BTreeMap<&str, &Value> = old.iter().map(|(k, v)| (k.as_str(), v)).collect();
    for (k, v) in old {
        match new_map.get(k.as_str()) {
            None => out.push(Change {
                op: Op::Remove,
                section: section.into(),
                id: display_key(section, k, v),
                field: None,
                from: Some(v.clone()),
                to: None,
            }),
            Some(nv) if !whole => field_changes(section, &display_key(section, k, v), v, nv, out),
            Some(_) => {}
        }
    }
    for (k, v) in new {
        if !old_map.contains_key(k.as_str()) {
            out.push(Change {
                op: Op::Add,
                section: section.into(),
                id: display_key(section, k, v),
                field: None,
                from: None,
                to: Some(v.clone()),
            });
        }
    }
}

fn slot_key(s: &ClusterApiKey) -> String {
    SlotId::from(s).id()
}

fn display_key(section: &str, key: &str, v: &Value) -> String {
    if section == "role_bindings" {
        format!(
            "{}@{}/{}",
            v["subject"].as_str().unwrap_or_default(),
            v["account"].as_str().unwrap_or_default(),
            v["service"].as_str().unwrap_or_default()
        )
    } else {
        key.to_string()
    }
}

fn field_changes(section: &str, id: &str, old: &Value, new: &Value, out: &mut Vec<Change>) {
    let (Value::Object(o), Value::Object(n)) = (old, new) else {
        return;
    };
    let mut fields: Vec<&String> = o.keys().chain(n.keys()).collect();
    // Field order of the record (serde's order), first appearance wins.
    let mut seen = std::collections::HashSet::new();
    fields.retain(|f| seen.insert(*f));
    for f in fields {
        let (a, b) = (o.get(f), n.get(f));
        if a == b {
            continue;
        }
        let absent = |other: Option<&Value>| match other {
            Some(Value::Bool(_)) => Value::Bool(false),
            _ => Value::Null,
        };
        let from = a.cloned().unwrap_or_else(|| absent(b));
        let to = b.cloned().unwrap_or_else(|| absent(a));
        if from == to {
            continue;
        }
        out.push(Change {
            op: Op::Set,
            section: section.into(),
            id: id.into(),
            field: Some(f.clone()),
            from: Some(from),
            to: Some(to),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_44_url_safe_characters_and_differ() {
        let a = new_secret().unwrap();
        let b = new_secret().unwrap();
        assert_eq!(a.reveal().len(), 44);
        assert!(
            a.reveal()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(a, b);
        assert_eq!(format!("{a:?}"), "Secret(..)");
    }

    #[test]
    fn every_action_has_a_state_change() {
        // On an empty world each action fails for want of what it acts on, never for want of
        // its state change; a name keyward does not know fails naming itself.
        let world = World::default();
        let spec = RequestSpec::default();
        let roles = RoleCatalog::default();
        let decide = |action: &str| Decision {
            decision: Verdict::Allow,
            principal: "p".into(),
            action: action.into(),
            resource: "r".into(),
            args: BTreeMap::new(),
            reasons: Vec::new(),
            errors: Vec::new(),
        };
        for action in crate::decide::request::ACTIONS {
            if let Err(f) = carry_out(&world, &decide(action), &spec, &roles) {
                assert!(!f.message.contains("cannot carry out `"), "{action}: {f}");
            }
        }
        let f = carry_out(&world, &decide("api-key-frobnicate"), &spec, &roles).unwrap_err();
        assert_eq!(f.message, "keyward cannot carry out `api-key-frobnicate`");
    }

    #[test]
    fn fingerprint_is_sha256_hex() {
        assert_eq!(
            fingerprint("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
