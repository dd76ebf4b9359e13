//! One definition per action: its name, who may call it and what it acts on (the entity types
//! of the schema's `appliesTo`), the args it takes with their docs and kinds, how its target is
//! found for scope matching, how messages name its resource and how reports label a target.
//!
//! Owns the action table: translation ([`crate::decide::request`]), reports and (after wiring)
//! the evaluator and the audit read it instead of matching on action names. `tests/actions.rs`
//! fails when the shipped schema and this table disagree. Adding an action is one new
//! [`Action`] variant, one entry of `DEFS` and its state change in the evaluator.
//!
//! Must not: decide anything a policy decides (no role, no ownership, no lock state here: a
//! definition says what a request *is*, never whether it is allowed).
//!
//! May use: [`crate::decide::entities`] (entity type names) and [`crate::world`] (the words an
//! arg may take).

use crate::decide::entities::ty;
use crate::world::{LeakAction, Restriction};
use std::fmt;
use std::str::FromStr;

/// An action of the schema (`schemas/keyward.cedarschema`), in the order docs/cli.md lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    ApiKeyCreate,
    ApiKeyGet,
    ApiKeyUpdate,
    ApiKeyDelete,
    ApiKeyLock,
    ApiKeyUnlock,
    ApiKeyDisable,
    ApiKeyEnable,
    Login,
    ClassicApiKeyCreate,
    ClassicApiKeyGet,
    ClassicApiKeyDelete,
    AccountSettingsUpdate,
    KsApiKeyReset,
    KsApiKeyInfo,
    UserRemove,
}

/// How many actions there are.
pub const COUNT: usize = 16;

impl Action {
    /// Every action, in table order.
    pub const ALL: [Action; COUNT] = [
        Action::ApiKeyCreate,
        Action::ApiKeyGet,
        Action::ApiKeyUpdate,
        Action::ApiKeyDelete,
        Action::ApiKeyLock,
        Action::ApiKeyUnlock,
        Action::ApiKeyDisable,
        Action::ApiKeyEnable,
        Action::Login,
        Action::ClassicApiKeyCreate,
        Action::ClassicApiKeyGet,
        Action::ClassicApiKeyDelete,
        Action::AccountSettingsUpdate,
        Action::KsApiKeyReset,
        Action::KsApiKeyInfo,
        Action::UserRemove,
    ];

    /// This action's definition.
    pub const fn def(self) -> &'static ActionDef {
        &DEFINITIONS[self as usize]
    }

    /// The action's name, as in the schema and on the command line.
    pub const fn name(self) -> &'static str {
        self.def().name
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name is not an action of the table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown action `{0}`")]
pub struct UnknownAction(pub String);

impl FromStr for Action {
    type Err = UnknownAction;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DEFINITIONS
            .iter()
            .find(|d| d.name == s)
            .map(|d| d.action)
            .ok_or_else(|| UnknownAction(s.to_string()))
    }
}

/// One action, as everything but the policies needs to know it.
#[derive(Debug)]
pub struct ActionDef {
    pub action: Action,
    pub name: &'static str,
    /// Who calls it.
    pub principal: Principals,
    /// The entity types it acts on (the schema's `resource`).
    pub resources: &'static [&'static str],
    /// The resource when `--resource` is not given.
    pub resource_default: ResourceDefault,
    /// What the resource is, in messages ("an account").
    pub noun: &'static str,
    /// The args it accepts, in the order messages list them.
    pub args: &'static [Arg],
    /// How its target (for scope matching) and candidate requests are found.
    pub target: TargetRule,
    /// How reports label one of its targets.
    pub label: Label,
}

impl ActionDef {
    /// The arg of this action called `name`.
    pub fn arg(&self, name: &str) -> Option<&'static Arg> {
        self.args.iter().find(|a| a.name == name)
    }

    /// Whether its principals are API keys (`login`) rather than users and service IDs.
    pub fn called_by_keys(&self) -> bool {
        self.principal.types == API_KEYS.types
    }
}

/// The principals of an action: their entity types, and what a wrong one is told.
#[derive(Debug)]
pub struct Principals {
    /// The entity types (the schema's `principal`).
    pub types: &'static [&'static str],
    /// The start of the message for a principal of another kind.
    pub wrong: &'static str,
}

/// Users and service IDs: the callers of every action but `login`.
pub const IDENTITIES: Principals = Principals {
    types: &[ty::USER, ty::SERVICE_ID],
    wrong: "the principal must be a user or service ID",
};

/// API keys: the callers of `login`.
pub const API_KEYS: Principals = Principals {
    types: &[ty::USER_API_KEY, ty::SERVICE_ID_API_KEY],
    wrong: "login's principal is an API key id",
};

/// The resource of a request that names none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceDefault {
    /// The principal itself (an action on oneself).
    Principal,
    /// None: `--resource` is required.
    Required,
}

/// How a request's target is found (see the schema's "Scope matching"), and which candidate
/// requests a world gives rise to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetRule {
    /// A new key of a user (in the account of arg `account`, or its only one) or of a service
    /// ID (its account, and the service ID).
    KeyCreate,
    /// An existing key: its account (and its service ID, for a service ID's key).
    Key,
    /// The account itself.
    Account,
    /// A user, in the account of arg `account` (or its only one).
    Member,
    /// A cluster API key slot: the account, region (arg) and resource group (arg, or the
    /// account's default), and the caller when it is a service ID.
    ClusterSlot,
    /// A cluster: its account, region, resource group and the cluster.
    Cluster,
}

/// How reports label a target of an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    /// The resource id.
    Resource,
    /// `user@account` when an account is given.
    AtAccount,
    /// `identity@account` when the account is the only arg (a key created for that account).
    CreatedAtAccount,
    /// `account/region/resource_group`.
    Slot,
}

/// An arg an action takes.
#[derive(Debug)]
pub struct Arg {
    pub name: &'static str,
    /// One line for people.
    pub doc: &'static str,
    /// How its value is checked and what policies see of it.
    pub kind: ArgKind,
}

/// What an arg's value must be and how it reaches the context.
#[derive(Debug, Clone, Copy)]
pub enum ArgKind {
    /// An account of the world; becomes the context's `account` through the target.
    Account,
    /// Any text, passed as a string.
    Text,
    /// An RFC 3339 timestamp, passed as a datetime.
    Datetime,
    /// One of a few words (`words` lists them for messages), passed as a string.
    OneOf {
        valid: fn(&str) -> bool,
        words: &'static str,
    },
    /// `true` or `false`, passed as a Bool.
    Bool,
    /// A secret value: policies see only `caller_supplied_value`, never the value.
    Secret,
    /// Accepted but not passed to policies (read when the request is carried out).
    Opaque,
}

const fn arg(name: &'static str, doc: &'static str, kind: ArgKind) -> Arg {
    Arg { name, doc, kind }
}

const ACCOUNT: Arg = arg(
    "account",
    "the account the request acts in (default: the identity's only account)",
    ArgKind::Account,
);
const NAME: Arg = arg("name", "the key's name", ArgKind::Text);
const DESCRIPTION: Arg = arg("description", "the key's description", ArgKind::Text);
const EXPIRES_AT: Arg = arg(
    "expires_at",
    "when the key expires (RFC 3339)",
    ArgKind::Datetime,
);
// ACTION_WHEN_LEAKED and RESTRICT share a shape, not data: each names its own world enum and
// words, and one `ArgKind::OneOf` checks both.
const ACTION_WHEN_LEAKED: Arg = arg(
    "action_when_leaked",
    "what happens to the key when it leaks",
    ArgKind::OneOf {
        valid: |s| LeakAction::parse(s).is_some(),
        words: "none, disable, delete",
    },
);
const APIKEY: Arg = arg(
    "apikey",
    "a value the caller supplies for the key (at least 32 characters; never passed on)",
    ArgKind::Secret,
);
const LOCKED: Arg = arg("locked", "create the key locked", ArgKind::Bool);
const ETAG: Arg = arg(
    "etag",
    "the etag the update expects the key at (`*` for any; R15)",
    ArgKind::Opaque,
);
const RESTRICT: Arg = arg(
    "restrict_user_api_key_creation",
    "the account's new setting",
    ArgKind::OneOf {
        valid: |s| Restriction::parse(s).is_some(),
        words: "RESTRICTED, NOT_RESTRICTED, NOT_SET",
    },
);
const REGION: Arg = arg("region", "the cluster API key's region", ArgKind::Text);
const RESOURCE_GROUP: Arg = arg(
    "resource_group",
    "the cluster API key's resource group (default: the account's)",
    ArgKind::Text,
);

const KEY_TYPES: &[&str] = &[ty::USER_API_KEY, ty::SERVICE_ID_API_KEY];
const IDENTITY_TYPES: &[&str] = &[ty::USER, ty::SERVICE_ID];

/// An action on one existing key that takes no args.
const fn on_key(action: Action, name: &'static str) -> ActionDef {
    ActionDef {
        action,
        name,
        principal: IDENTITIES,
        resources: KEY_TYPES,
        resource_default: ResourceDefault::Required,
        noun: "an API key",
        args: &[],
        target: TargetRule::Key,
        label: Label::Resource,
    }
}

/// A classic infrastructure key action: on a user (oneself by default), in one account.
const fn classic(action: Action, name: &'static str) -> ActionDef {
    ActionDef {
        action,
        name,
        principal: IDENTITIES,
        resources: &[ty::USER],
        resource_default: ResourceDefault::Principal,
        noun: "the user whose classic key it is",
        args: &[ACCOUNT],
        target: TargetRule::Member,
        label: Label::AtAccount,
    }
}

/// An action on an account.
const fn on_account(
    action: Action,
    name: &'static str,
    principal: Principals,
    args: &'static [Arg],
) -> ActionDef {
    ActionDef {
        action,
        name,
        principal,
        resources: &[ty::ACCOUNT],
        resource_default: ResourceDefault::Required,
        noun: "an account",
        args,
        target: TargetRule::Account,
        label: Label::Resource,
    }
}

/// The table, indexed by `Action as usize`.
const DEFS: [ActionDef; COUNT] = [
    ActionDef {
        action: Action::ApiKeyCreate,
        name: "api-key-create",
        principal: IDENTITIES,
        resources: IDENTITY_TYPES,
        resource_default: ResourceDefault::Principal,
        noun: "the user or service ID the key is for",
        args: &[
            ACCOUNT,
            NAME,
            DESCRIPTION,
            EXPIRES_AT,
            ACTION_WHEN_LEAKED,
            APIKEY,
            LOCKED,
        ],
        target: TargetRule::KeyCreate,
        label: Label::CreatedAtAccount,
    },
    on_key(Action::ApiKeyGet, "api-key-get"),
    ActionDef {
        args: &[ETAG, NAME, DESCRIPTION, EXPIRES_AT, ACTION_WHEN_LEAKED],
        ..on_key(Action::ApiKeyUpdate, "api-key-update")
    },
    on_key(Action::ApiKeyDelete, "api-key-delete"),
    on_key(Action::ApiKeyLock, "api-key-lock"),
    on_key(Action::ApiKeyUnlock, "api-key-unlock"),
    on_key(Action::ApiKeyDisable, "api-key-disable"),
    on_key(Action::ApiKeyEnable, "api-key-enable"),
    on_account(Action::Login, "login", API_KEYS, &[]),
    classic(Action::ClassicApiKeyCreate, "classic-api-key-create"),
    classic(Action::ClassicApiKeyGet, "classic-api-key-get"),
    classic(Action::ClassicApiKeyDelete, "classic-api-key-delete"),
    on_account(
        Action::AccountSettingsUpdate,
        "account-settings-update",
        IDENTITIES,
        &[RESTRICT],
    ),
    ActionDef {
        target: TargetRule::ClusterSlot,
        label: Label::Slot,
        ..on_account(
            Action::KsApiKeyReset,
            "ks-api-key-reset",
            IDENTITIES,
            &[REGION, RESOURCE_GROUP],
        )
    },
    ActionDef {
        action: Action::KsApiKeyInfo,
        name: "ks-api-key-info",
        principal: IDENTITIES,
        resources: &[ty::CLUSTER],
        resource_default: ResourceDefault::Required,
        noun: "a cluster",
        args: &[],
        target: TargetRule::Cluster,
        label: Label::Resource,
    },
    ActionDef {
        resource_default: ResourceDefault::Required,
        noun: "a user",
        ..classic(Action::UserRemove, "user-remove")
    },
];

/// Every definition, in table order.
pub static DEFINITIONS: [ActionDef; COUNT] = DEFS;

/// The names of [`DEFS`], in order (for the `ACTIONS` constant).
pub(crate) const fn names() -> [&'static str; COUNT] {
    let mut out = [""; COUNT];
    let mut i = 0;
    while i < COUNT {
        out[i] = DEFS[i].name;
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_indexed_by_action() {
        for (i, a) in Action::ALL.iter().enumerate() {
            assert_eq!(*a as usize, i);
            assert_eq!(
                DEFINITIONS[i].action, *a,
                "entry {i} defines another action"
            );
            assert_eq!(a.name().parse::<Action>(), Ok(*a));
        }
        assert_eq!(
            "no-such-action".parse::<Action>(),
            Err(UnknownAction("no-such-action".into()))
        );
    }

    #[test]
    fn arg_names_are_unique_per_action() {
        for d in &DEFINITIONS {
            for (i, a) in d.args.iter().enumerate() {
                assert!(
                    d.args[..i].iter().all(|b| b.name != a.name),
                    "{} lists `{}` twice",
                    d.name,
                    a.name
                );
                assert!(!a.doc.is_empty());
            }
        }
    }

    #[test]
    fn every_target_rule_fits_its_resource_types() {
        for d in &DEFINITIONS {
            let fits = match d.target {
                TargetRule::KeyCreate => d.resources == IDENTITY_TYPES,
                TargetRule::Key => d.resources == KEY_TYPES,
                TargetRule::Account | TargetRule::ClusterSlot => d.resources == [ty::ACCOUNT],
                TargetRule::Member => d.resources == [ty::USER],
                TargetRule::Cluster => d.resources == [ty::CLUSTER],
            };
            assert!(
                fits,
                "{}: target {:?} on {:?}",
                d.name, d.target, d.resources
            );
        }
    }
}
