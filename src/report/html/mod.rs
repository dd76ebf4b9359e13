//! `keyward audit --format html`: the audit as one self-contained page for an access review —
//! a summary that reads without JavaScript (accounts, counts per action, findings by rule, the
//! identities that can do the most and the policies that let them), an identities × actions
//! heat matrix with drill-downs, the findings table, and the change impact.
//!
//! [`Page`] is a sink: [`crate::report::AuditWriter`] hands it each allowed row as the audit
//! streams it, and it keeps only compact numbers ([`data`]); at the end it renders the page
//! from the templates beside this file (`page.html`, `report.css`, `report.js`, with
//! minijinja, every value escaped) and embeds the rows as compact data the page's script
//! decodes lazily. The figures in its `keyward-summary` element are those `audit --format
//! json` and `findings --format json` give (docs/cli.md, "A picture of who may do what").
//!
//! Owns the page. Must not decide or change anything: allowed rows, findings and changes come
//! from [`crate::audit`]. May use: [`crate::audit`] (its results), [`crate::decide`] (the
//! row and action types), [`crate::world`] (what an id is, display names, accounts).

mod data;
mod embed;
mod view;

use crate::audit::AuditOptions;
use crate::audit::impact::Change;
use crate::decide::action::{Action, TargetRule};
use crate::decide::engine::{Decision, Engine, Verdict};
use crate::decide::request::RequestSpec;
use crate::world::{IdKind, Index, World};
use data::{ChangeRow, Row, Side, Store};
use std::collections::BTreeMap;
use std::io::Write;

/// What the page knows of one API key besides its id.
#[derive(Debug, Clone)]
struct KeyInfo {
    identity: String,
    account: String,
    name: String,
    locked: bool,
    disabled: bool,
    expires_at: Option<String>,
}

/// An account as the summary lists it.
#[derive(Debug, Clone, serde::Serialize)]
struct AccountInfo {
    id: String,
    owner: String,
    restriction: &'static str,
    members: usize,
    service_ids: usize,
    keys: usize,
    clusters: usize,
}

/// The audit page being filled: what it knows of the world, and the rows so far.
pub struct Page {
    index: Index,
    keys: Vec<KeyInfo>,
    memberships: BTreeMap<String, Vec<String>>,
    accounts: Vec<AccountInfo>,
    now: String,
    filters: Vec<(&'static str, String)>,
    store: Store,
    against: bool,
}

impl Page {
    /// A page for the audit of `engine`'s world with these filters; `changes` is the change
    /// impact when the audit compares with another side (`--against-…`).
    pub fn new(engine: &Engine, opts: &AuditOptions, changes: Option<Vec<Change>>) -> Self {
        let w = &engine.tr.world;
        let mut page = Page {
            index: engine.tr.index.clone(),
            keys: w.api_keys.iter().map(key_info).collect(),
            memberships: memberships(w),
            accounts: accounts(w, opts.account.as_deref()),
            now: engine.now_for(&RequestSpec::default()).unwrap_or_default(),
            filters: [
                ("principal", &opts.principal),
                ("action", &opts.action),
                ("resource", &opts.resource),
                ("account", &opts.account),
            ]
            .into_iter()
            .filter_map(|(k, v)| Some((k, v.clone()?)))
            .collect(),
            store: Store::new(Action::ALL.iter().map(|a| a.name().to_string())),
            against: changes.is_some(),
        };
        for c in changes.iter().flatten() {
            page.change(c);
        }
        page
    }

    /// Add one allowed decision of the audit.
    pub fn row(&mut self, d: &Decision) {
        let others = self.on_others(d);
        let label = super::target_label(d);
        let row = Row {
            p: self.store.strings.id(&d.principal),
            r: self.store.strings.id(&label),
            set: self.store.reasons(&d.reasons),
            a: self.store.action(&d.action),
            others,
        };
        self.store.rows.push(row);
    }

    /// Whether a decision acts on something of another identity: another identity's API key,
    /// or another user or service ID (a classic key's user, a key created for someone else).
    fn on_others(&self, d: &Decision) -> bool {
        match self.index.ids.get(&d.resource) {
            Some((IdKind::ApiKey, i)) => {
                self.keys.get(*i).is_some_and(|k| k.identity != d.principal)
            }
            Some((IdKind::User | IdKind::ServiceId, _)) => d.resource != d.principal,
            _ => false,
        }
    }

    fn change(&mut self, c: &Change) {
        let side = |store: &mut Store, d: &Decision| Side {
            allow: d.decision == Verdict::Allow,
            set: store.reasons(&d.reasons),
            errors: (!d.errors.is_empty()).then(|| store.strings.id(&d.errors.join("; "))),
        };
        let row = ChangeRow {
            gained: c.change == "gained",
            p: self.store.strings.id(&c.after.principal),
            a: self.store.action(&c.after.action),
            r: self.store.strings.id(&super::target_label(&c.after)),
            before: side(&mut self.store, &c.before),
            after: side(&mut self.store, &c.after),
        };
        self.store.changes.push(row);
    }

    /// What kind of thing an id is, as one letter for the page's script: `u` user, `s`
    /// service ID, `k` API key, `a` account, `c` cluster, `g` access group, `l` classic key,
    /// `-` anything else (a target label such as `alice@acme`).
    fn kind(&self, id: &str) -> char {
        match self.index.ids.get(id) {
            Some((IdKind::User, _)) => 'u',
            Some((IdKind::ServiceId, _)) => 's',
            Some((IdKind::ApiKey, _)) => 'k',
            Some((IdKind::Account, _)) => 'a',
            Some((IdKind::Cluster, _)) => 'c',
            Some((IdKind::AccessGroup, _)) => 'g',
            Some((IdKind::ClassicKey, _)) => 'l',
            None => '-',
        }
    }

    fn key(&self, id: &str) -> Option<&KeyInfo> {
        match self.index.ids.get(id) {
            Some((IdKind::ApiKey, i)) => self.keys.get(*i),
            _ => None,
        }
    }

    /// The accounts an identity or key belongs to (for the matrix's account filter).
    fn accounts_of(&self, id: &str) -> Vec<String> {
        match self.key(id) {
            Some(k) => vec![k.account.clone()],
            None => self.memberships.get(id).cloned().unwrap_or_default(),
        }
    }

    /// Render the page to `out`. `names` are display names by id; `errored` how many audited
    /// decisions failed to evaluate; `extra` what the json report adds (`findings`, `stats`).
    pub fn write(
        mut self,
        out: &mut dyn Write,
        names: &BTreeMap<String, String>,
        errored: usize,
        extra: &serde_json::Map<String, serde_json::Value>,
    ) -> std::io::Result<()> {
        self.intern_context(extra);
        let mut store = std::mem::take(&mut self.store);
        // Keys of one account and owner sit together, so an admin's list is one run.
        let rank = |s: &str| match self.key(s) {
            Some(k) => (1u8, k.account.clone(), k.identity.clone(), s.to_string()),
            None => (
                if matches!(self.kind(s), 'u' | 's') {
                    0
                } else {
                    2
                },
                String::new(),
                String::new(),
                s.to_string(),
            ),
        };
        store.renumber(rank);
        self.store = store;
        let encoded = data::encode(&mut self.store);
        view::render(&self, &encoded, names, errored, extra, out)
    }

    /// Intern the accounts, the subjects and accounts of the findings, and the owner and
    /// account of every key the rows name, so the page can show and filter by them.
    fn intern_context(&mut self, extra: &serde_json::Map<String, serde_json::Value>) {
        for a in &self.accounts {
            self.store.strings.id(&a.id);
        }
        let findings = extra.get("findings").and_then(|f| f.as_array());
        for f in findings.into_iter().flatten() {
            for k in ["subject", "account"] {
                if let Some(s) = f.get(k).and_then(|v| v.as_str()) {
                    self.store.strings.id(s);
                }
            }
        }
        let keys: Vec<(String, String)> = self
            .store
            .strings
            .all
            .iter()
            .filter_map(|s| self.key(s).map(|k| (k.identity.clone(), k.account.clone())))
            .collect();
        for (identity, account) in keys {
            self.store.strings.id(&identity);
            self.store.strings.id(&account);
        }
    }
}

fn key_info(k: &crate::world::ApiKey) -> KeyInfo {
    KeyInfo {
        identity: k.identity.clone(),
        account: k.account.clone(),
        name: k.name.clone(),
        locked: k.locked,
        disabled: k.disabled,
        expires_at: k.expires_at.clone(),
    }
}

/// Each user's and service ID's accounts.
fn memberships(w: &World) -> BTreeMap<String, Vec<String>> {
    let users = w.users.iter().map(|u| (u.id.clone(), u.accounts.clone()));
    let sids = w
        .service_ids
        .iter()
        .map(|s| (s.id.clone(), vec![s.account.clone()]));
    users.chain(sids).collect()
}

/// The world's accounts (only `only`, when the audit is filtered to one), with their counts.
fn accounts(w: &World, only: Option<&str>) -> Vec<AccountInfo> {
    w.accounts
        .iter()
        .filter(|a| only.is_none_or(|o| o == a.id))
        .map(|a| AccountInfo {
            id: a.id.clone(),
            owner: a.owner.clone(),
            restriction: a.restrict_user_api_key_creation.as_str(),
            members: w
                .users
                .iter()
                .filter(|u| u.accounts.contains(&a.id))
                .count(),
            service_ids: w.service_ids.iter().filter(|s| s.account == a.id).count(),
            keys: w.api_keys.iter().filter(|k| k.account == a.id).count(),
            clusters: w.clusters.iter().filter(|c| c.account == a.id).count(),
        })
        .collect()
}

/// Whether rows of this action act on an existing API key (their resource is one).
fn on_keys(action: &str) -> bool {
    action
        .parse::<Action>()
        .is_ok_and(|a| a.def().target == TargetRule::Key)
}

/// Whether this action's principals are API keys (`login`) rather than identities.
fn called_by_keys(action: &str) -> bool {
    action
        .parse::<Action>()
        .is_ok_and(|a| a.def().called_by_keys())
}
