//! What the page shows, worked out from the page's store: the figures of `keyward-summary`,
//! the summary's tables (accounts, decisions per action, findings per rule, the spotlights on
//! the identities that can do the most), the change impact's tables, and the embedded data;
//! then the template rendered with them.
//!
//! Owns the page's view model and its rendering. Must not decide anything. May use the page's
//! store ([`super::data`]) and [`crate::report::findings`] (the rules' titles).

use super::data::{Encoded, Row, Store};
use super::embed::{self, script_json};
use super::{Page, called_by_keys, on_keys};
use crate::decide::action::Action;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;

const PAGE: &str = include_str!("page.html");
const CSS: &str = include_str!("report.css");
const JS: &str = include_str!("report.js");

/// How many identities the first spotlight (and, three times as many, the impact's table by
/// identity) lists; the other spotlights list half as many.
const TOP: usize = 10;
/// How many granting policies a spotlight row names.
const GRANTS_SHOWN: usize = 6;

/// The spotlights: which allowed rows make an identity stand out, and whether only rows on
/// another identity's things count. Names actions only to pick rows; decides nothing.
const SPOTLIGHTS: &[(&str, &[Action], bool)] = &[
    (
        "May delete, disable or update other identities' API keys",
        &[
            Action::ApiKeyDelete,
            Action::ApiKeyDisable,
            Action::ApiKeyUpdate,
        ],
        true,
    ),
    (
        "May reset cluster API keys",
        &[Action::KsApiKeyReset],
        false,
    ),
    (
        "May change account settings (who may create API keys)",
        &[Action::AccountSettingsUpdate],
        false,
    ),
    ("May remove users", &[Action::UserRemove], false),
    (
        "May create API keys for other identities",
        &[Action::ApiKeyCreate],
        true,
    ),
    (
        "May delete other users' classic infrastructure API keys",
        &[Action::ClassicApiKeyDelete],
        true,
    ),
];

/// A policy named beside a count.
#[derive(Serialize)]
struct Grant {
    policy: String,
    rules: String,
    doc: String,
    rows: usize,
}

/// One identity of a spotlight.
#[derive(Serialize)]
struct SpotRow {
    id: String,
    name: String,
    count: usize,
    grants: Vec<Grant>,
    more_grants: usize,
}

#[derive(Serialize)]
struct Spotlight {
    title: String,
    identities: usize,
    rows: Vec<SpotRow>,
}

#[derive(Serialize)]
struct Count {
    key: String,
    title: String,
    count: usize,
    /// The bar's width in percent of the largest count.
    width: usize,
}

#[derive(Serialize)]
struct ImpactByIdentity {
    id: String,
    name: String,
    gained: usize,
    revoked: usize,
}

#[derive(Serialize)]
struct ImpactView {
    total: usize,
    gained: usize,
    revoked: usize,
    by_action: Vec<(String, usize, usize)>,
    by_identity: Vec<ImpactByIdentity>,
    identities: usize,
}

/// The figures of the `keyward-summary` element (docs/cli.md): allowed rows per action,
/// findings per rule, the identities (users and service IDs) and the API keys the rows are
/// about, and the rows.
fn summary(store: &Store, findings: &[Value]) -> Value {
    let mut by_action: BTreeMap<&str, usize> = BTreeMap::new();
    let mut identities = HashSet::new();
    let mut keys = HashSet::new();
    let login: Vec<bool> = store.actions.iter().map(|a| called_by_keys(a)).collect();
    let key_rows: Vec<bool> = store.actions.iter().map(|a| on_keys(a)).collect();
    for r in &store.rows {
        *by_action.entry(&store.actions[r.a as usize]).or_default() += 1;
        if login[r.a as usize] {
            keys.insert(r.p);
        } else {
            identities.insert(r.p);
        }
        if key_rows[r.a as usize] {
            keys.insert(r.r);
        }
    }
    json!({
        "allowed_by_action": by_action,
        "findings_by_rule": findings_by_rule(findings),
        "identities": identities.len(),
        "keys": keys.len(),
        "decisions": store.rows.len(),
    })
}

/// Findings per rule id (rules with none are absent, as in a count of the findings JSON).
fn findings_by_rule(findings: &[Value]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for f in findings {
        if let Some(rule) = f.get("rule").and_then(Value::as_str) {
            *out.entry(rule.to_string()).or_default() += 1;
        }
    }
    out
}

/// Counts as bars, in the given order.
fn bars(counts: Vec<(String, String, usize)>) -> Vec<Count> {
    let max = counts.iter().map(|c| c.2).max().unwrap_or(0).max(1);
    counts
        .into_iter()
        .map(|(key, title, count)| Count {
            key,
            title,
            count,
            width: (count * 100).div_ceil(max),
        })
        .collect()
}

/// The name of a string, if the world gives it one (display names; an API key's name).
pub(super) fn name_of(page: &Page, names: &BTreeMap<String, String>, id: &str) -> String {
    match names.get(id) {
        Some(n) => n.clone(),
        None => page
            .key(id)
            .map(|k| k.name.clone())
            .filter(|n| !n.is_empty())
            .unwrap_or_default(),
    }
}

/// The policies that grant a set of rows, most rows first.
fn grants(store: &Store, per_set: &HashMap<u32, usize>) -> Vec<Grant> {
    let mut per_policy: HashMap<u32, usize> = HashMap::new();
    for (set, n) in per_set {
        for &p in store.sets.get(*set as usize).into_iter().flatten() {
            *per_policy.entry(p).or_default() += n;
        }
    }
    let mut out: Vec<Grant> = per_policy
        .into_iter()
        .filter_map(|(p, rows)| {
            let pol = store.policies.get(p as usize)?;
            Some(Grant {
                policy: pol.id.clone(),
                rules: pol.rules.join(", "),
                doc: pol.doc.clone(),
                rows,
            })
        })
        .collect();
    out.sort_by(|a, b| b.rows.cmp(&a.rows).then_with(|| a.policy.cmp(&b.policy)));
    out
}

/// The identities whose rows `pick` selects, most rows first, with what grants them.
fn spotlight(
    page: &Page,
    names: &BTreeMap<String, String>,
    title: &str,
    top_n: usize,
    pick: impl Fn(&Row) -> bool,
) -> Spotlight {
    let store = &page.store;
    let mut per: HashMap<u32, (usize, HashMap<u32, usize>)> = HashMap::new();
    for r in store.rows.iter().filter(|r| pick(r)) {
        let e = per.entry(r.p).or_default();
        e.0 += 1;
        *e.1.entry(r.set).or_default() += 1;
    }
    let identities = per.len();
    let mut top: Vec<(u32, usize, HashMap<u32, usize>)> =
        per.into_iter().map(|(p, (n, sets))| (p, n, sets)).collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    top.truncate(top_n);
    let rows = top
        .into_iter()
        .map(|(p, count, sets)| {
            let id = store.strings.all[p as usize].clone();
            let mut g = grants(store, &sets);
            let more_grants = g.len().saturating_sub(GRANTS_SHOWN);
            g.truncate(GRANTS_SHOWN);
            SpotRow {
                name: name_of(page, names, &id),
                id,
                count,
                grants: g,
                more_grants,
            }
        })
        .collect();
    Spotlight {
        title: title.to_string(),
        identities,
        rows,
    }
}

fn spotlights(page: &Page, names: &BTreeMap<String, String>) -> Vec<Spotlight> {
    let store = &page.store;
    let login: Vec<bool> = store.actions.iter().map(|a| called_by_keys(a)).collect();
    let mut out = vec![spotlight(
        page,
        names,
        "May do the most (allowed decisions of every action)",
        TOP,
        |r| !login[r.a as usize],
    )];
    for (title, actions, others) in SPOTLIGHTS {
        let picked: Vec<bool> = store
            .actions
            .iter()
            .map(|a| actions.iter().any(|x| x.name() == a))
            .collect();
        let s = spotlight(page, names, title, TOP / 2, |r| {
            picked[r.a as usize] && (r.others || !others)
        });
        if s.identities > 0 {
            out.push(s);
        }
    }
    out
}

fn impact_view(page: &Page, names: &BTreeMap<String, String>) -> Option<ImpactView> {
    if !page.against {
        return None;
    }
    let store = &page.store;
    let mut by_action: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut by_identity: HashMap<u32, (usize, usize)> = HashMap::new();
    for c in &store.changes {
        let a = by_action.entry(&store.actions[c.a as usize]).or_default();
        let i = by_identity.entry(c.p).or_default();
        if c.gained {
            a.0 += 1;
            i.0 += 1;
        } else {
            a.1 += 1;
            i.1 += 1;
        }
    }
    let identities = by_identity.len();
    let mut top: Vec<(u32, (usize, usize))> = by_identity.into_iter().collect();
    top.sort_by(|a, b| (b.1.0 + b.1.1).cmp(&(a.1.0 + a.1.1)).then(a.0.cmp(&b.0)));
    top.truncate(TOP * 3);
    let gained = store.changes.iter().filter(|c| c.gained).count();
    Some(ImpactView {
        total: store.changes.len(),
        gained,
        revoked: store.changes.len() - gained,
        by_action: by_action
            .into_iter()
            .map(|(a, (g, r))| (a.to_string(), g, r))
            .collect(),
        by_identity: top
            .into_iter()
            .map(|(p, (gained, revoked))| {
                let id = store.strings.all[p as usize].clone();
                ImpactByIdentity {
                    name: name_of(page, names, &id),
                    id,
                    gained,
                    revoked,
                }
            })
            .collect(),
        identities,
    })
}

/// The change impact's figures, in `audit --against-… --format json`'s `summary` shape.
fn impact_json(view: &ImpactView) -> Value {
    let summary: serde_json::Map<String, Value> = view
        .by_action
        .iter()
        .map(|(a, g, r)| (a.clone(), json!({"gained": g, "revoked": r})))
        .collect();
    json!({"changes": view.total, "summary": summary})
}

/// The summary's bars of allowed decisions per action, in table order.
fn per_action(store: &Store, summary: &Value) -> Vec<Count> {
    let counts = store.actions.iter().map(|a| {
        let n = summary["allowed_by_action"].get(a).and_then(Value::as_u64);
        (a.clone(), a.clone(), n.unwrap_or(0) as usize)
    });
    bars(counts.collect())
}

/// The summary's bars of findings per rule, every rule F1-F6 (with 0 when none).
fn per_rule(findings: &[Value]) -> Vec<Count> {
    let by_rule = findings_by_rule(findings);
    let counts = crate::report::findings::TITLES.iter().map(|(r, t)| {
        let n = by_rule.get(*r).copied().unwrap_or(0);
        (r.to_string(), t.to_string(), n)
    });
    bars(counts.collect())
}

/// Render the page.
pub(super) fn render(
    page: &Page,
    enc: &Encoded,
    names: &BTreeMap<String, String>,
    errored: usize,
    extra: &serde_json::Map<String, Value>,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let store = &page.store;
    let findings: Vec<Value> = match extra.get("findings") {
        Some(Value::Array(a)) => a.clone(),
        _ => Vec::new(),
    };
    let summary = summary(store, &findings);
    let num = |k: &str| summary.get(k).and_then(Value::as_u64).unwrap_or(0);
    let (per_action, rules) = (per_action(store, &summary), per_rule(&findings));
    let impact = impact_view(page, names);
    let accounts: Vec<Value> = page
        .accounts
        .iter()
        .map(|a| {
            let mut v = json!(a);
            v["name"] = json!(name_of(page, names, &a.id));
            v["owner_name"] = json!(name_of(page, names, &a.owner));
            v
        })
        .collect();
    use minijinja::value::Serde;
    let safe = minijinja::Value::from_safe_string;
    let ctx = minijinja::context! {
        version => env!("CARGO_PKG_VERSION"),
        now => page.now.as_str(),
        filters => Serde(&page.filters),
        identities => num("identities"),
        keys => num("keys"),
        decisions => num("decisions"),
        findings => findings.len(),
        errored => errored,
        stats => extra.get("stats").and_then(Value::as_str).unwrap_or_default(),
        accounts => Serde(&accounts),
        per_action => Serde(per_action),
        rules => Serde(rules),
        spotlights => Serde(spotlights(page, names)),
        impact => Serde(&impact),
        summary_json => safe(script_json(&summary)),
        impact_json => safe(impact.as_ref().map(|i| script_json(&impact_json(i))).unwrap_or_default()),
        data_json => safe(script_json(&embed::page_data(page, enc, names, &findings))),
        rows_json => safe(script_json(&embed::rows_data(page, enc))),
        css => safe(CSS.to_string()),
        js => safe(JS.to_string()),
    };
    let mut env = minijinja::Environment::new();
    env.add_template("page.html", PAGE)
        .map_err(std::io::Error::other)?;
    let template = env
        .get_template("page.html")
        .map_err(std::io::Error::other)?;
    template
        .render_captured_to(ctx, out)
        .map_err(std::io::Error::other)?;
    Ok(())
}
