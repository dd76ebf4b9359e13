//! Exact "who may do what": every allowed (principal, action, resource) of a world, computed
//! without asking Cedar once per triple.
//!
//! For each (action, resource, args) the request is partially evaluated by Cedar (type-aware
//! partial evaluation, `PolicySet::tpe`) with the principal unknown. Each residual policy is
//! then read as a *set of principals*: `principal == E`, `principal in [E…]`, `principal is T`,
//! `E in principal.attr`, a Bool attribute, a Long attribute compared with a literal, and
//! `&&`, `||`, `!`, `if` over those, are set operations over bitsets of the world's principals
//! (none of them can error). The allowed set is (∪ permits) ∖ (∪ forbids), and the reasons of
//! each allowed principal are the permits whose set holds it. When any residual has another
//! shape, the principals that some permit may allow (all of them, if a permit is unreadable)
//! are decided one by one with [`Engine::decide_translated`], exactly as `check` does. So the
//! result never depends on which policies are loaded: shapes are read, not assumed.
//!
//! `login` (principals are API keys, resources are the few accounts) and resets by service IDs
//! (whose context depends on the caller) are decided one by one. `--exhaustive` decides every
//! triple one by one. Owns only the enumeration and the set algebra; decisions come from Cedar.

use crate::decide::engine::{Decision, Engine, Reason, Verdict};
use crate::decide::entities::ty;
use crate::decide::request::{RequestSpec, Target3, callers, resource_requests};
use cedar_policy::pst::{self, BinaryOp, Expr, Literal, UnaryOp, Var};
use cedar_policy::{PartialEntities, PartialEntityUid, PartialRequest};
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// What to audit.
#[derive(Debug, Clone, Default)]
pub struct AuditOptions {
    pub principal: Option<String>,
    pub action: Option<String>,
    pub resource: Option<String>,
    pub account: Option<String>,
    /// Decide every candidate triple one by one (the naive way), to cross-check.
    pub exhaustive: bool,
}

/// A set of principals of one type, as a bitset over that type's principals.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Bits(Vec<u64>);

impl Bits {
    fn empty(n: usize) -> Self {
        Bits(vec![0; n.div_ceil(64)])
    }
    fn all(n: usize) -> Self {
        let mut b = Bits(vec![u64::MAX; n.div_ceil(64)]);
        b.trim(n);
        b
    }
    fn trim(&mut self, n: usize) {
        if n % 64 != 0 {
            if let Some(last) = self.0.last_mut() {
                *last &= (1u64 << (n % 64)) - 1;
            }
        }
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn get(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }
    fn and(mut self, o: &Bits) -> Self {
        self.0.iter_mut().zip(&o.0).for_each(|(a, b)| *a &= b);
        self
    }
    fn or(mut self, o: &Bits) -> Self {
        self.0.iter_mut().zip(&o.0).for_each(|(a, b)| *a |= b);
        self
    }
    fn not(mut self, n: usize) -> Self {
        self.0.iter_mut().for_each(|a| *a = !*a);
        self.trim(n);
        self
    }
    fn ones(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &bits)| {
            let mut b = bits;
            std::iter::from_fn(move || {
                if b == 0 {
                    return None;
                }
                let t = b.trailing_zeros() as usize;
                b &= b - 1;
                Some(w * 64 + t)
            })
        })
    }
}

/// An entity-valued attribute: how many principals have it, and value -> principals.
type EntityAttr = (usize, HashMap<(String, String), Bits>);

/// The principals of one entity type and what the set algebra needs to know about them.
struct Population {
    ty: &'static str,
    ids: Vec<String>,
    index: HashMap<String, usize>,
    /// Entity (type, id) -> the principals of this type that are it or below it.
    below: HashMap<(String, String), Bits>,
    bools: HashMap<String, Vec<Option<bool>>>,
    longs: HashMap<String, Vec<Option<i64>>>,
    /// Attribute -> entity value (type, id) -> principals holding that value.
    entity_attrs: HashMap<String, EntityAttr>,
    /// Each principal's attributes (Cedar's JSON form).
    attrs_of: Vec<Arc<serde_json::Value>>,
}

impl Population {
    fn n(&self) -> usize {
        self.ids.len()
    }
}

/// How an audit's work was done (for benchmarks and tests).
#[derive(Debug, Default)]
pub struct AuditStats {
    /// (action, resource, args) groups whose residuals were read as sets.
    pub set_groups: AtomicUsize,
    /// Groups decided principal by principal (unreadable residuals, resets by service IDs).
    pub fallback_groups: AtomicUsize,
    /// Partial evaluations run.
    pub partial_evaluations: AtomicUsize,
    /// Plain Cedar decisions run.
    pub decisions: AtomicUsize,
}

impl AuditStats {
    /// A one-line summary.
    pub fn summary(&self) -> String {
        format!(
            "{} groups read as sets, {} decided one by one; {} partial evaluations, {} decisions",
            self.set_groups.load(Ordering::Relaxed),
            self.fallback_groups.load(Ordering::Relaxed),
            self.partial_evaluations.load(Ordering::Relaxed),
            self.decisions.load(Ordering::Relaxed)
        )
    }
}

/// Everything an audit precomputes for one engine.
pub struct Auditor<'e> {
    engine: &'e Engine,
    /// Counters of the work done.
    pub stats: AuditStats,
    partial: PartialEntities,
    pops: Vec<Population>,
    /// Entity (type, id) -> itself and its ancestors, for `E in principal.attr`.
    ancestors: HashMap<(String, String), Vec<(String, String)>>,
    /// Entity (type, id) -> its attributes, in Cedar's JSON form.
    attrs: HashMap<(String, String), Arc<serde_json::Value>>,
    /// Residuals with principal and resource unknown, by (action, types, target, args).
    level1: Mutex<HashMap<String, Arc<Option<Level1>>>>,
}

/// A residual policy: always true, or the conjunction of its clauses (`true` = when).
#[derive(Clone)]
enum Residual {
    All,
    Clauses(Vec<(bool, Expr)>),
}

/// The residuals of one action for a principal type and a resource type, in one context.
struct Level1 {
    forbid_all: bool,
    permits: Vec<(String, Residual)>,
    forbids: Vec<Residual>,
}

/// A value while evaluating a residual with the resource known and the principal unknown.
#[derive(Clone, Debug)]
enum V {
    Bool(bool),
    Long(i64),
    Str(String),
    Ent((String, String)),
    Set(Vec<V>),
    /// A condition on the principal: the principals for which it holds.
    Who(Bits),
    /// The principal itself.
    Principal,
    /// An attribute path of the principal (`principal.identity.account`).
    PAttr(Vec<String>),
    /// A datetime, in milliseconds since the epoch.
    Dt(i64),
    /// A duration, in milliseconds.
    Dur(i64),
}

fn key(v: &serde_json::Value) -> Option<(String, String)> {
    Some((
        v["type"].as_str()?.to_string(),
        v["id"].as_str()?.to_string(),
    ))
}

impl<'e> Auditor<'e> {
    /// Prepare the populations (users, service IDs) and indexes of an engine's world.
    pub fn new(engine: &'e Engine) -> Result<Self, String> {
        let partial =
            PartialEntities::from_concrete(engine.entities.clone(), &engine.bundle.schema)
                .map_err(|e| e.to_string())?;
        let json = engine.tr.entities_json();
        let items: Vec<serde_json::Value> = match json {
            serde_json::Value::Array(items) => items,
            _ => Vec::new(),
        };
        // Parents and transitive ancestors, from the entities as given to Cedar.
        let mut parents: HashMap<(String, String), Vec<(String, String)>> = HashMap::new();
        let mut attrs: HashMap<(String, String), Arc<serde_json::Value>> = HashMap::new();
        for mut e in items {
            let Some(uid) = key(&e["uid"]) else { continue };
            let ps = e["parents"]
                .as_array()
                .map(|a| a.iter().filter_map(key).collect())
                .unwrap_or_default();
            parents.insert(uid.clone(), ps);
            attrs.insert(uid, Arc::new(e["attrs"].take()));
        }
        let mut ancestors: HashMap<(String, String), Vec<(String, String)>> = HashMap::new();
        for uid in parents.keys() {
            let mut seen = vec![uid.clone()];
            let mut stack = vec![uid.clone()];
            while let Some(u) = stack.pop() {
                for p in parents.get(&u).into_iter().flatten() {
                    if !seen.contains(p) {
                        seen.push(p.clone());
                        stack.push(p.clone());
                    }
                }
            }
            ancestors.insert(uid.clone(), seen);
        }
        let mut pops = Vec::new();
        for (t, ids) in [
            (
                ty::USER,
                engine
                    .tr
                    .world
                    .users
                    .iter()
                    .map(|u| u.id.clone())
                    .collect::<Vec<_>>(),
            ),
            (
                ty::SERVICE_ID,
                engine
                    .tr
                    .world
                    .service_ids
                    .iter()
                    .map(|s| s.id.clone())
                    .collect(),
            ),
            // The principals of `login`: API keys.
            (ty::USER_API_KEY, keys_of(engine, ty::USER_API_KEY)),
            (
                ty::SERVICE_ID_API_KEY,
                keys_of(engine, ty::SERVICE_ID_API_KEY),
            ),
        ] {
            let n = ids.len();
            let index: HashMap<String, usize> = ids
                .iter()
                .enumerate()
                .map(|(i, id)| (id.clone(), i))
                .collect();
            let mut below: HashMap<(String, String), Bits> = HashMap::new();
            let mut bools: HashMap<String, Vec<Option<bool>>> = HashMap::new();
            let mut longs: HashMap<String, Vec<Option<i64>>> = HashMap::new();
            let mut ents: HashMap<String, EntityAttr> = HashMap::new();
            let mut attrs_of = Vec::with_capacity(n);
            for (i, id) in ids.iter().enumerate() {
                let uid = (t.to_string(), id.clone());
                attrs_of.push(
                    attrs
                        .get(&uid)
                        .cloned()
                        .unwrap_or_else(|| Arc::new(serde_json::Value::Null)),
                );
                for a in ancestors.get(&uid).into_iter().flatten() {
                    below
                        .entry(a.clone())
                        .or_insert_with(|| Bits::empty(n))
                        .set(i);
                }
                if let Some(serde_json::Value::Object(m)) = attrs.get(&uid).map(|a| a.as_ref()) {
                    for (name, v) in m {
                        if let Some(b) = v.as_bool() {
                            bools.entry(name.clone()).or_insert_with(|| vec![None; n])[i] = Some(b);
                        } else if let Some(l) = v.as_i64() {
                            longs.entry(name.clone()).or_insert_with(|| vec![None; n])[i] = Some(l);
                        } else if let Some(e) = v.get("__entity").and_then(key) {
                            let entry = ents
                                .entry(name.clone())
                                .or_insert_with(|| (0, HashMap::new()));
                            entry.0 += 1;
                            entry.1.entry(e).or_insert_with(|| Bits::empty(n)).set(i);
                        }
                    }
                }
            }
            pops.push(Population {
                ty: t,
                ids,
                index,
                below,
                bools,
                longs,
                entity_attrs: ents,
                attrs_of,
            });
        }
        Ok(Auditor {
            engine,
            stats: AuditStats::default(),
            partial,
            pops,
            ancestors,
            attrs,
            level1: Mutex::new(HashMap::new()),
        })
    }

    /// The allowed decisions of one (action, resource, args), for every caller.
    pub fn group(&self, target: &Target3) -> Vec<Decision> {
        let mut out = Vec::new();
        for pop in &self.pops {
            if pop.n() == 0 || !calls(pop.ty, target.action) {
                continue;
            }
            let fast = if target.action == "ks-api-key-reset" && pop.ty == ty::SERVICE_ID {
                None // the context names the caller: decided one by one
            } else {
                self.two_level(pop, target)
                    .or_else(|| self.fast(pop, target))
            };
            match fast {
                Some(rows) => out.extend(rows),
                None => {
                    self.stats.fallback_groups.fetch_add(1, Ordering::Relaxed);
                    out.extend(self.one_by_one(pop, target, None))
                }
            }
        }
        out
    }

    fn spec(&self, principal: &str, target: &Target3) -> RequestSpec {
        RequestSpec {
            principal: principal.to_string(),
            action: target.action.to_string(),
            resource: Some(target.resource.clone()),
            args: target.args.clone(),
            via_trusted_profile: false,
            now: None,
        }
    }

    /// Decide principals one by one (all of the population, or those in `only`).
    fn one_by_one(&self, pop: &Population, target: &Target3, only: Option<&Bits>) -> Vec<Decision> {
        let mut out = Vec::new();
        for (i, id) in pop.ids.iter().enumerate() {
            if only.is_some_and(|b| !b.get(i)) {
                continue;
            }
            self.stats.decisions.fetch_add(1, Ordering::Relaxed);
            if let Ok(d) = self.engine.decide(&self.spec(id, target)) {
                if d.decision == Verdict::Allow {
                    out.push(d);
                }
            }
        }
        out
    }

    /// Partially evaluate with the principal unknown and read the residuals as sets.
    /// `None`: the request cannot be translated or partially evaluated (decide one by one).
    fn fast(&self, pop: &Population, target: &Target3) -> Option<Vec<Decision>> {
        let e = self.engine;
        let t = e.translate(&self.spec(&pop.ids[0], target)).ok()?;
        let context = e.cedar_context(&t).ok()?;
        let action = e.uid("Action", &t.action).ok()?;
        let resource = e.uid(&t.resource.0, &t.resource.1).ok()?;
        let principal =
            PartialEntityUid::new(cedar_policy::EntityTypeName::from_str(pop.ty).ok()?, None);
        let req = PartialRequest::new(
            principal,
            action,
            PartialEntityUid::from_concrete(resource),
            Some(context),
            &e.bundle.schema,
        )
        .ok()?;
        self.stats
            .partial_evaluations
            .fetch_add(1, Ordering::Relaxed);
        let resp = e
            .policies_for(&t.action)
            .tpe(&req, &self.partial, &e.bundle.schema)
            .ok()?;
        let n = pop.n();
        // A policy that errors whatever the principal denies every request (keyward fails
        // closed): decide one by one, which reports the error exactly as `check` would.
        if resp.error_permits().next().is_some() || resp.error_forbids().next().is_some() {
            return None;
        }
        if resp.true_forbids().next().is_some() {
            self.stats.set_groups.fetch_add(1, Ordering::Relaxed);
            return Some(Vec::new()); // forbidden for everyone
        }
        let residual_set = |id: &cedar_policy::PolicyId| -> Option<Bits> {
            let pp = resp.get_policy(id)?.to_pst().ok()?;
            let mut acc = Bits::all(n);
            for c in pp.body().clauses() {
                let s = match c {
                    pst::Clause::When(x) => self.set_of(pop, x)?,
                    pst::Clause::Unless(x) => self.set_of(pop, x)?.not(n),
                };
                acc = acc.and(&s);
            }
            Some(acc)
        };
        let mut permits: Vec<(String, Option<Bits>)> = Vec::new();
        for id in resp.true_permits() {
            permits.push((id.to_string(), Some(Bits::all(n))));
        }
        for id in resp.residual_permits() {
            permits.push((id.to_string(), residual_set(id)));
        }
        if permits.is_empty() {
            self.stats.set_groups.fetch_add(1, Ordering::Relaxed);
            return Some(Vec::new()); // nothing can permit it
        }
        let forbids: Vec<Option<Bits>> = resp.residual_forbids().map(residual_set).collect();
        let readable =
            permits.iter().all(|(_, s)| s.is_some()) && forbids.iter().all(Option::is_some);
        if !readable {
            // Candidates: whoever a readable permit may allow, or everyone.
            let mut cand = Bits::empty(n);
            for (_, s) in &permits {
                match s {
                    Some(s) => cand = cand.or(s),
                    None => cand = Bits::all(n),
                }
            }
            self.stats.fallback_groups.fetch_add(1, Ordering::Relaxed);
            return Some(self.one_by_one(pop, target, Some(&cand)));
        }
        self.stats.set_groups.fetch_add(1, Ordering::Relaxed);
        let mut allowed = Bits::empty(n);
        for (_, s) in &permits {
            allowed = allowed.or(s.as_ref()?);
        }
        for f in &forbids {
            allowed = allowed.and(&f.clone()?.not(n));
        }
        let mut rows = Vec::new();
        for i in allowed.ones() {
            let mut ids: Vec<&str> = permits
                .iter()
                .filter(|(_, s)| s.as_ref().is_some_and(|s| s.get(i)))
                .map(|(id, _)| id.as_str())
                .collect();
            ids.sort_unstable();
            let reasons: Vec<Reason> = ids.iter().map(|id| e.reason(id)).collect();
            rows.push(Decision {
                decision: Verdict::Allow,
                principal: pop.ids[i].clone(),
                action: t.action.clone(),
                resource: t.resource.1.clone(),
                args: t.args.clone(),
                reasons,
                errors: Vec::new(),
            });
        }
        Some(rows)
    }

    /// The residuals of an action with both principal and resource unknown (types known),
    /// computed once per context and shared by every resource of that type.
    fn level1(
        &self,
        pop: &Population,
        t: &crate::decide::request::Translated,
    ) -> Arc<Option<Level1>> {
        let key = format!(
            "{}|{}|{}|{:?}|{:?}",
            t.action, pop.ty, t.resource.0, t.target, t.args
        );
        if let Some(l) = self.level1.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return l;
        }
        // The key names everything the context is built from (action, target, args; `now` and
        // the trusted-profile flag are the same for the whole audit), so the full context with
        // its roles is built only here, once per key.
        let full = RequestSpec {
            principal: pop.ids[0].clone(),
            action: t.action.clone(),
            resource: Some(t.resource.1.clone()),
            args: t
                .args
                .iter()
                .filter(|(k, _)| k.as_str() != "apikey")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            ..Default::default()
        };
        let computed = Arc::new(
            self.engine
                .translate(&full)
                .ok()
                .and_then(|ft| self.compute_level1(pop, &ft)),
        );
        if let Ok(mut m) = self.level1.lock() {
            m.insert(key, computed.clone());
        }
        computed
    }

    fn compute_level1(
        &self,
        pop: &Population,
        t: &crate::decide::request::Translated,
    ) -> Option<Level1> {
        let e = self.engine;
        let context = e.cedar_context(t).ok()?;
        let action = e.uid("Action", &t.action).ok()?;
        let pty = cedar_policy::EntityTypeName::from_str(pop.ty).ok()?;
        let rty = cedar_policy::EntityTypeName::from_str(&t.resource.0).ok()?;
        let req = PartialRequest::new(
            PartialEntityUid::new(pty, None),
            action,
            PartialEntityUid::new(rty, None),
            Some(context),
            &e.bundle.schema,
        )
        .ok()?;
        self.stats
            .partial_evaluations
            .fetch_add(1, Ordering::Relaxed);
        let resp = e
            .policies_for(&t.action)
            .tpe(&req, &self.partial, &e.bundle.schema)
            .ok()?;
        if resp.error_permits().next().is_some() || resp.error_forbids().next().is_some() {
            return None;
        }
        let clauses = |id: &cedar_policy::PolicyId| -> Option<Residual> {
            let pp = resp.get_policy(id)?.to_pst().ok()?;
            Some(Residual::Clauses(
                pp.body()
                    .clauses()
                    .iter()
                    .map(|c| match c {
                        pst::Clause::When(x) => (true, x.as_ref().clone()),
                        pst::Clause::Unless(x) => (false, x.as_ref().clone()),
                    })
                    .collect(),
            ))
        };
        let mut permits = Vec::new();
        for id in resp.true_permits() {
            permits.push((id.to_string(), Residual::All));
        }
        for id in resp.residual_permits() {
            permits.push((id.to_string(), clauses(id)?));
        }
        if std::env::var_os("KEYWARD_DEBUG_RESIDUALS").is_some() {
            for p in resp.residual_policies() {
                eprintln!("residual {} {}: {}", t.action, p.id(), p);
            }
        }
        let mut forbids = Vec::new();
        for id in resp.residual_forbids() {
            forbids.push(clauses(id)?);
        }
        Some(Level1 {
            forbid_all: resp.true_forbids().next().is_some(),
            permits,
            forbids,
        })
    }

    /// The allowed decisions of a group from the shared residuals, evaluated with its resource;
    /// `None` when some residual has a shape `eval` does not read.
    fn two_level(&self, pop: &Population, target: &Target3) -> Option<Vec<Decision>> {
        let e = self.engine;
        let t = e
            .translate_without_roles(&self.spec(&pop.ids[0], target))
            .ok()?;
        let l1 = self.level1(pop, &t);
        let l1 = l1.as_ref().as_ref()?;
        let n = pop.n();
        if l1.forbid_all || l1.permits.is_empty() {
            self.stats.set_groups.fetch_add(1, Ordering::Relaxed);
            return Some(Vec::new());
        }
        let res = (t.resource.0.clone(), t.resource.1.clone());
        let set = |r: &Residual| -> Option<Bits> {
            match r {
                Residual::All => Some(Bits::all(n)),
                Residual::Clauses(cs) => {
                    let mut acc = Bits::all(n);
                    let all = Bits::all(n);
                    for (when, x) in cs {
                        let v = self.eval(pop, &res, &all, x)?;
                        let b = self.as_bits(pop, &all, v)?;
                        acc = acc.and(&if *when { b } else { b.not(n) });
                    }
                    Some(acc)
                }
            }
        };
        let mut permits: Vec<(&str, Bits)> = Vec::new();
        for (id, r) in &l1.permits {
            permits.push((id.as_str(), set(r)?));
        }
        let mut allowed = Bits::empty(n);
        for (_, b) in &permits {
            allowed = allowed.or(b);
        }
        for f in &l1.forbids {
            allowed = allowed.and(&set(f)?.not(n));
        }
        self.stats.set_groups.fetch_add(1, Ordering::Relaxed);
        Some(self.rows(pop, &t, &allowed, &permits))
    }

    fn rows(
        &self,
        pop: &Population,
        t: &crate::decide::request::Translated,
        allowed: &Bits,
        permits: &[(&str, Bits)],
    ) -> Vec<Decision> {
        let e = self.engine;
        let mut rows = Vec::new();
        for i in allowed.ones() {
            let mut ids: Vec<&str> = permits
                .iter()
                .filter(|(_, s)| s.get(i))
                .map(|(id, _)| *id)
                .collect();
            ids.sort_unstable();
            rows.push(Decision {
                decision: Verdict::Allow,
                principal: pop.ids[i].clone(),
                action: t.action.clone(),
                resource: t.resource.1.clone(),
                args: t.args.clone(),
                reasons: ids.iter().map(|id| e.reason(id)).collect(),
                errors: Vec::new(),
            });
        }
        rows
    }

    /// A condition as the principals (within `mask`) for which it holds.
    fn as_bits(&self, pop: &Population, mask: &Bits, v: V) -> Option<Bits> {
        match v {
            V::Bool(true) => Some(mask.clone()),
            V::Bool(false) => Some(Bits::empty(pop.n())),
            V::Who(b) => Some(b.and(mask)),
            V::PAttr(path) => self.path_test(pop, mask, &path, |v| match v {
                V::Bool(b) => Some(b),
                _ => None,
            }),
            _ => None,
        }
    }

    /// `E in principal.attr`: the principals whose attr is E or one of E's ancestors
    /// (`None` if some principal lacks the attribute: evaluating would error).
    fn in_pattr(&self, pop: &Population, e: &(String, String), attr: &str) -> Option<Bits> {
        let (count, by_value) = pop.entity_attrs.get(attr)?;
        if *count != pop.n() {
            return None;
        }
        let mut b = Bits::empty(pop.n());
        for a in self
            .ancestors
            .get(e)
            .map(Vec::as_slice)
            .unwrap_or(std::slice::from_ref(e))
        {
            if let Some(s) = by_value.get(a) {
                b = b.or(s);
            }
        }
        Some(b)
    }

    /// A JSON attribute value (Cedar's form) as a value.
    fn json_v(v: &serde_json::Value) -> Option<V> {
        Some(match v {
            serde_json::Value::Bool(b) => V::Bool(*b),
            serde_json::Value::Number(n) => V::Long(n.as_i64()?),
            serde_json::Value::String(s) => V::Str(s.clone()),
            serde_json::Value::Array(items) => {
                V::Set(items.iter().map(Self::json_v).collect::<Option<_>>()?)
            }
            serde_json::Value::Object(m) => {
                if let Some(e) = m.get("__entity") {
                    V::Ent(key(e)?)
                } else {
                    let x = m.get("__extn")?;
                    match (x["fn"].as_str(), x["arg"].as_str()) {
                        (Some("datetime"), Some(arg)) => V::Dt(millis(arg)?),
                        _ => return None,
                    }
                }
            }
            serde_json::Value::Null => return None,
        })
    }

    fn entity_in(&self, a: &(String, String), b: &(String, String)) -> bool {
        a == b || self.ancestors.get(a).is_some_and(|anc| anc.contains(b))
    }

    /// For each principal in `mask`, follow `path` from it and test the value; `None` when a
    /// step is missing for some principal (Cedar would error) or the test cannot say.
    fn path_test(
        &self,
        pop: &Population,
        mask: &Bits,
        path: &[String],
        test: impl Fn(V) -> Option<bool>,
    ) -> Option<Bits> {
        let mut out = Bits::empty(pop.n());
        for i in mask.ones() {
            let mut owner: Arc<serde_json::Value> = pop.attrs_of[i].clone();
            let mut last = None;
            for (j, step) in path.iter().enumerate() {
                let v = owner.get(step.as_str())?;
                if j + 1 < path.len() {
                    let next = self.attrs.get(&key(v.get("__entity")?)?)?.clone();
                    owner = next;
                } else {
                    last = Some(Self::json_v(v)?);
                }
            }
            if test(last?)? {
                out.set(i);
            }
        }
        Some(out)
    }

    /// Compare two concrete values with a comparison operator.
    fn compare(op: BinaryOp, l: &V, r: &V) -> Option<bool> {
        Some(match (op, l, r) {
            (BinaryOp::Eq | BinaryOp::NotEq, l, r) => {
                let eq = match (l, r) {
                    (V::Ent(a), V::Ent(b)) => a == b,
                    (V::Long(a), V::Long(b)) => a == b,
                    (V::Str(a), V::Str(b)) => a == b,
                    (V::Bool(a), V::Bool(b)) => a == b,
                    (V::Dt(a), V::Dt(b)) => a == b,
                    _ => return None,
                };
                eq == (op == BinaryOp::Eq)
            }
            (_, V::Long(a), V::Long(b)) | (_, V::Dt(a), V::Dt(b)) => match op {
                BinaryOp::Less => a < b,
                BinaryOp::LessEq => a <= b,
                BinaryOp::Greater => a > b,
                BinaryOp::GreaterEq => a >= b,
                _ => return None,
            },
            _ => return None,
        })
    }

    fn principal_is(pop: &Population, k: &(String, String)) -> Bits {
        let mut b = Bits::empty(pop.n());
        if k.0 == pop.ty {
            if let Some(&i) = pop.index.get(&k.1) {
                b.set(i);
            }
        }
        b
    }

    /// Evaluate a residual with the resource known: concrete values where the principal plays no
    /// part, sets of principals (within `mask`) where it does. `None`: a shape or case this does
    /// not read (the caller then asks Cedar). Never guesses: a missing attribute (an error in
    /// Cedar) is `None`, not `false`; `&&`, `||` and `if` only evaluate their right side for
    /// the principals Cedar would evaluate it for.
    fn eval(&self, pop: &Population, res: &(String, String), mask: &Bits, x: &Expr) -> Option<V> {
        let n = pop.n();
        Some(match x {
            Expr::Literal(Literal::Bool(b)) => V::Bool(*b),
            Expr::Literal(Literal::Long(l)) => V::Long(*l),
            Expr::Literal(Literal::String(s)) => V::Str(s.to_string()),
            Expr::Literal(Literal::EntityUID(u)) => V::Ent((u.ty.to_string(), u.eid.to_string())),
            Expr::Var(Var::Principal) => V::Principal,
            Expr::Var(Var::Resource) => V::Ent(res.clone()),
            Expr::UnaryOp {
                op: UnaryOp::Datetime,
                expr,
            } => match expr.as_ref() {
                Expr::Literal(Literal::String(s)) => V::Dt(millis(s)?),
                _ => return None,
            },
            Expr::UnaryOp {
                op: UnaryOp::Duration,
                expr,
            } => match expr.as_ref() {
                Expr::Literal(Literal::String(s)) => V::Dur(duration_ms(s)?),
                _ => return None,
            },
            Expr::Set(items) => V::Set(
                items
                    .iter()
                    .map(|i| self.eval(pop, res, mask, i))
                    .collect::<Option<_>>()?,
            ),
            Expr::GetAttr { expr, attr } => match self.eval(pop, res, mask, expr)? {
                V::Ent(k) => Self::json_v(self.attrs.get(&k)?.get(attr.as_str())?)?,
                V::Principal => V::PAttr(vec![attr.to_string()]),
                V::PAttr(mut p) => {
                    p.push(attr.to_string());
                    V::PAttr(p)
                }
                _ => return None,
            },
            Expr::HasAttr { expr, attrs } => {
                let has = |mut cur: &serde_json::Value| {
                    for a in attrs.iter() {
                        match cur.get(a.as_str()) {
                            Some(v) => cur = v,
                            None => return false,
                        }
                    }
                    true
                };
                match self.eval(pop, res, mask, expr)? {
                    V::Ent(k) => V::Bool(has(self.attrs.get(&k)?)),
                    V::Principal => {
                        let mut b = Bits::empty(n);
                        for i in mask.ones() {
                            if has(pop.attrs_of[i].as_ref()) {
                                b.set(i);
                            }
                        }
                        V::Who(b)
                    }
                    _ => return None,
                }
            }
            Expr::Is {
                expr,
                entity_type,
                in_expr,
            } => {
                let ty_name = entity_type.to_string();
                match self.eval(pop, res, mask, expr)? {
                    V::Ent(k) => {
                        let is = k.0 == ty_name;
                        match in_expr {
                            None => V::Bool(is),
                            Some(p) => match self.eval(pop, res, mask, p)? {
                                V::Ent(b) => V::Bool(is && self.entity_in(&k, &b)),
                                _ => return None,
                            },
                        }
                    }
                    V::Principal if ty_name != pop.ty => V::Bool(false),
                    V::Principal => match in_expr {
                        None => V::Bool(true),
                        Some(p) => match self.eval(pop, res, mask, p)? {
                            V::Ent(b) => V::Who(self.below(pop, &b)),
                            _ => return None,
                        },
                    },
                    _ => return None,
                }
            }
            Expr::UnaryOp {
                op: UnaryOp::Not,
                expr,
            } => match self.eval(pop, res, mask, expr)? {
                V::Bool(b) => V::Bool(!b),
                v => V::Who(self.as_bits(pop, mask, v)?.not(n).and(mask)),
            },
            Expr::BinaryOp {
                op: op @ (BinaryOp::And | BinaryOp::Or),
                left,
                right,
            } => {
                let l = self.eval(pop, res, mask, left)?;
                let and = *op == BinaryOp::And;
                match (and, &l) {
                    (true, V::Bool(false)) => return Some(V::Bool(false)),
                    (false, V::Bool(true)) => return Some(V::Bool(true)),
                    (_, V::Bool(_)) => {
                        // true && r, false || r: the value of r.
                        let r = self.eval(pop, res, mask, right)?;
                        return Some(match r {
                            V::Bool(b) => V::Bool(b),
                            r => V::Who(self.as_bits(pop, mask, r)?),
                        });
                    }
                    _ => {}
                }
                let lb = self.as_bits(pop, mask, l)?;
                // The right side runs only where the left did not decide.
                let sub = if and {
                    lb.clone()
                } else {
                    lb.clone().not(n).and(mask)
                };
                let rb = match self.eval(pop, res, &sub, right)? {
                    V::Bool(b) => {
                        if b {
                            sub.clone()
                        } else {
                            Bits::empty(n)
                        }
                    }
                    r => self.as_bits(pop, &sub, r)?,
                };
                V::Who(if and { lb.and(&rb) } else { lb.or(&rb) })
            }
            Expr::IfThenElse {
                cond,
                then_expr,
                else_expr,
            } => match self.eval(pop, res, mask, cond)? {
                V::Bool(true) => self.eval(pop, res, mask, then_expr)?,
                V::Bool(false) => self.eval(pop, res, mask, else_expr)?,
                c => {
                    let c = self.as_bits(pop, mask, c)?;
                    let notc = c.clone().not(n).and(mask);
                    let t = self.eval(pop, res, &c, then_expr)?;
                    let t = self.as_bits(pop, &c, t)?;
                    let e = self.eval(pop, res, &notc, else_expr)?;
                    let e = self.as_bits(pop, &notc, e)?;
                    V::Who(t.or(&e))
                }
            },
            Expr::BinaryOp { op, left, right } => {
                let (l, r) = (
                    self.eval(pop, res, mask, left)?,
                    self.eval(pop, res, mask, right)?,
                );
                let cmp = matches!(
                    op,
                    BinaryOp::Eq
                        | BinaryOp::NotEq
                        | BinaryOp::Less
                        | BinaryOp::LessEq
                        | BinaryOp::Greater
                        | BinaryOp::GreaterEq
                );
                match (op, l, r) {
                    (BinaryOp::Eq | BinaryOp::NotEq, V::Principal, V::Ent(k))
                    | (BinaryOp::Eq | BinaryOp::NotEq, V::Ent(k), V::Principal) => {
                        let b = Self::principal_is(pop, &k);
                        V::Who(if *op == BinaryOp::Eq { b } else { b.not(n) })
                    }
                    (_, V::PAttr(p), c)
                        if cmp && !matches!(c, V::PAttr(_) | V::Principal | V::Who(_)) =>
                    {
                        V::Who(self.path_test(pop, mask, &p, |v| Self::compare(*op, &v, &c))?)
                    }
                    (_, c, V::PAttr(p))
                        if cmp && !matches!(c, V::PAttr(_) | V::Principal | V::Who(_)) =>
                    {
                        V::Who(self.path_test(pop, mask, &p, |v| Self::compare(*op, &c, &v))?)
                    }
                    (_, l, r) if cmp => V::Bool(Self::compare(*op, &l, &r)?),
                    (BinaryOp::Offset, V::Dt(a), V::Dur(d)) => V::Dt(a.checked_add(d)?),
                    (BinaryOp::In, V::Ent(a), V::Ent(b)) => V::Bool(self.entity_in(&a, &b)),
                    (BinaryOp::In, V::Ent(a), V::Set(bs)) => {
                        let mut any = false;
                        for b in bs {
                            let V::Ent(b) = b else { return None };
                            any |= self.entity_in(&a, &b);
                        }
                        V::Bool(any)
                    }
                    (BinaryOp::In, V::Principal, V::Ent(b)) => V::Who(self.below(pop, &b)),
                    (BinaryOp::In, V::Principal, V::Set(bs)) => {
                        let mut acc = Bits::empty(n);
                        for b in bs {
                            let V::Ent(b) = b else { return None };
                            acc = acc.or(&self.below(pop, &b));
                        }
                        V::Who(acc)
                    }
                    (BinaryOp::In, V::Ent(a), V::PAttr(p)) if p.len() == 1 => {
                        V::Who(self.in_pattr(pop, &a, &p[0])?)
                    }
                    (BinaryOp::In, V::Ent(a), V::PAttr(p)) => {
                        V::Who(self.path_test(pop, mask, &p, |v| match v {
                            V::Ent(b) => Some(self.entity_in(&a, &b)),
                            _ => None,
                        })?)
                    }
                    (BinaryOp::In, V::PAttr(p), V::Ent(b)) => {
                        V::Who(self.path_test(pop, mask, &p, |v| match v {
                            V::Ent(a) => Some(self.entity_in(&a, &b)),
                            _ => None,
                        })?)
                    }
                    (BinaryOp::Contains, V::Set(items), V::Principal) => {
                        let mut b = Bits::empty(n);
                        for it in items {
                            let V::Ent(k) = it else { return None };
                            b = b.or(&Self::principal_is(pop, &k));
                        }
                        V::Who(b)
                    }
                    (BinaryOp::Contains, V::Set(items), v)
                        if !matches!(v, V::PAttr(_) | V::Principal | V::Who(_)) =>
                    {
                        let mut found = false;
                        for it in &items {
                            found |= Self::compare(BinaryOp::Eq, it, &v)?;
                        }
                        V::Bool(found)
                    }
                    _ => return None,
                }
            }
            _ => return None,
        })
    }

    fn is_principal(x: &Expr) -> bool {
        matches!(x, Expr::Var(Var::Principal))
    }

    fn lit_uid(x: &Expr) -> Option<(String, String)> {
        match x {
            Expr::Literal(Literal::EntityUID(u)) => Some((u.ty.to_string(), u.eid.to_string())),
            _ => None,
        }
    }

    /// `principal in E`: E itself (if a principal of this type) and everyone below it.
    fn below(&self, pop: &Population, e: &(String, String)) -> Bits {
        let mut b = pop
            .below
            .get(e)
            .cloned()
            .unwrap_or_else(|| Bits::empty(pop.n()));
        if e.0 == pop.ty {
            if let Some(&i) = pop.index.get(&e.1) {
                b.set(i);
            }
        }
        b
    }

    /// The principals of `pop` for which `x` is true; `None` if `x` has another shape.
    fn set_of(&self, pop: &Population, x: &Expr) -> Option<Bits> {
        let n = pop.n();
        match x {
            Expr::Literal(Literal::Bool(true)) => Some(Bits::all(n)),
            Expr::Literal(Literal::Bool(false)) => Some(Bits::empty(n)),
            Expr::UnaryOp {
                op: UnaryOp::Not,
                expr,
            } => Some(self.set_of(pop, expr)?.not(n)),
            Expr::BinaryOp {
                op: BinaryOp::And,
                left,
                right,
            } => Some(self.set_of(pop, left)?.and(&self.set_of(pop, right)?)),
            Expr::BinaryOp {
                op: BinaryOp::Or,
                left,
                right,
            } => Some(self.set_of(pop, left)?.or(&self.set_of(pop, right)?)),
            Expr::IfThenElse {
                cond,
                then_expr,
                else_expr,
            } => {
                let c = self.set_of(pop, cond)?;
                let t = self.set_of(pop, then_expr)?;
                let e = self.set_of(pop, else_expr)?;
                Some(c.clone().and(&t).or(&c.not(n).and(&e)))
            }
            Expr::BinaryOp {
                op: op @ (BinaryOp::Eq | BinaryOp::NotEq),
                left,
                right,
            } => {
                let other = if Self::is_principal(left) {
                    right
                } else if Self::is_principal(right) {
                    left
                } else {
                    return self.attr_compare(pop, *op, left, right);
                };
                let e = Self::lit_uid(other)?;
                let mut b = Bits::empty(n);
                if e.0 == pop.ty {
                    if let Some(&i) = pop.index.get(&e.1) {
                        b.set(i);
                    }
                }
                Some(if *op == BinaryOp::Eq { b } else { b.not(n) })
            }
            Expr::BinaryOp {
                op: BinaryOp::In,
                left,
                right,
            } if Self::is_principal(left) => match right.as_ref() {
                Expr::Set(items) => {
                    let mut b = Bits::empty(n);
                    for it in items {
                        b = b.or(&self.below(pop, &Self::lit_uid(it)?));
                    }
                    Some(b)
                }
                other => Some(self.below(pop, &Self::lit_uid(other)?)),
            },
            // `E in principal.attr`: principals whose attr is E or one of E's ancestors.
            Expr::BinaryOp {
                op: BinaryOp::In,
                left,
                right,
            } => {
                let e = Self::lit_uid(left)?;
                let Expr::GetAttr { expr, attr } = right.as_ref() else {
                    return None;
                };
                if !Self::is_principal(expr) {
                    return None;
                }
                let (count, by_value) = pop.entity_attrs.get(attr.as_str())?;
                if *count != n {
                    return None; // some principal lacks it: evaluating would error
                }
                let mut b = Bits::empty(n);
                for a in self
                    .ancestors
                    .get(&e)
                    .map(Vec::as_slice)
                    .unwrap_or(std::slice::from_ref(&e))
                {
                    if let Some(s) = by_value.get(a) {
                        b = b.or(s);
                    }
                }
                Some(b)
            }
            Expr::Is {
                expr,
                entity_type,
                in_expr,
            } if Self::is_principal(expr) => {
                if entity_type.to_string() != pop.ty {
                    return Some(Bits::empty(n));
                }
                match in_expr {
                    None => Some(Bits::all(n)),
                    Some(e) => self.set_of(
                        pop,
                        &Expr::BinaryOp {
                            op: BinaryOp::In,
                            left: Arc::new(Expr::Var(Var::Principal)),
                            right: e.clone(),
                        },
                    ),
                }
            }
            Expr::GetAttr { expr, attr } if Self::is_principal(expr) => {
                let vals = pop.bools.get(attr.as_str())?;
                let mut b = Bits::empty(n);
                for (i, v) in vals.iter().enumerate() {
                    match v {
                        Some(true) => b.set(i),
                        Some(false) => {}
                        None => return None,
                    }
                }
                Some(b)
            }
            Expr::BinaryOp { op, left, right } => self.attr_compare(pop, *op, left, right),
            _ => None,
        }
    }

    /// `principal.attr OP literal` (or mirrored) over a Long attribute every principal has.
    fn attr_compare(
        &self,
        pop: &Population,
        op: BinaryOp,
        left: &Expr,
        right: &Expr,
    ) -> Option<Bits> {
        let (attr, lit, flipped) = match (left, right) {
            (Expr::GetAttr { expr, attr }, Expr::Literal(Literal::Long(l)))
                if Self::is_principal(expr) =>
            {
                (attr, *l, false)
            }
            (Expr::Literal(Literal::Long(l)), Expr::GetAttr { expr, attr })
                if Self::is_principal(expr) =>
            {
                (attr, *l, true)
            }
            _ => return None,
        };
        let vals = pop.longs.get(attr.as_str())?;
        let mut b = Bits::empty(pop.n());
        for (i, v) in vals.iter().enumerate() {
            let v = (*v)?;
            let (a, c) = if flipped { (lit, v) } else { (v, lit) };
            let holds = match op {
                BinaryOp::Eq => a == c,
                BinaryOp::NotEq => a != c,
                BinaryOp::Less => a < c,
                BinaryOp::LessEq => a <= c,
                BinaryOp::Greater => a > c,
                BinaryOp::GreaterEq => a >= c,
                _ => return None,
            };
            if holds {
                b.set(i);
            }
        }
        Some(b)
    }
}

/// The ids of the API keys of one Cedar type.
fn keys_of(engine: &Engine, t: &str) -> Vec<String> {
    engine
        .tr
        .world
        .api_keys
        .iter()
        .enumerate()
        .filter(|(i, _)| engine.tr.key_type(*i) == t)
        .map(|(_, k)| k.id.clone())
        .collect()
}

/// Whether a population calls an action: keys log in, users and service IDs do the rest.
fn calls(pop_ty: &str, action: &str) -> bool {
    let key = pop_ty == ty::USER_API_KEY || pop_ty == ty::SERVICE_ID_API_KEY;
    key == (action == "login")
}

/// Milliseconds of a Cedar duration string (`1d2h3m4s5ms`, optionally negative).
fn duration_ms(s: &str) -> Option<i64> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    if rest.is_empty() {
        return None;
    }
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let n: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit, len) = if rest.starts_with("ms") {
            (1, 2)
        } else {
            match rest.chars().next()? {
                'd' => (86_400_000, 1),
                'h' => (3_600_000, 1),
                'm' => (60_000, 1),
                's' => (1_000, 1),
                _ => return None,
            }
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
        rest = &rest[len..];
    }
    if neg {
        total.checked_neg()
    } else {
        Some(total)
    }
}

/// Milliseconds since the epoch of a Cedar datetime string.
fn millis(s: &str) -> Option<i64> {
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(dt.timestamp_millis());
    }
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis())
}

fn account_of(engine: &Engine, d: &Decision) -> Option<String> {
    let spec = RequestSpec {
        principal: d.principal.clone(),
        action: d.action.clone(),
        resource: Some(d.resource.clone()),
        args: d
            .args
            .iter()
            .filter(|(k, _)| k.as_str() != "apikey")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        ..Default::default()
    };
    engine.translate(&spec).ok().map(|t| t.target.account)
}

/// Which (action, resource, args) groups the options select, in a fixed order.
fn targets(engine: &Engine, opts: &AuditOptions) -> Vec<Target3> {
    resource_requests(&engine.tr)
        .into_iter()
        .filter(|t| opts.action.as_deref().is_none_or(|a| a == t.action))
        .filter(|t| opts.resource.as_deref().is_none_or(|r| r == t.resource))
        .collect()
}

fn keep(engine: &Engine, opts: &AuditOptions, d: &Decision) -> bool {
    opts.principal.as_deref().is_none_or(|p| p == d.principal)
        && opts
            .account
            .as_deref()
            .is_none_or(|a| account_of(engine, d).as_deref() == Some(a))
}

/// Run an audit, handing the allowed decisions to `sink` in a fixed order (by action, then
/// resource, then principal), chunk by chunk so that huge audits never sit in memory.
/// `progress` is told how many groups are done out of how many.
pub fn audit(
    engine: &Engine,
    opts: &AuditOptions,
    mut sink: impl FnMut(Decision),
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<AuditStats, String> {
    let groups = targets(engine, opts);
    let logins: Vec<(String, String)> = if opts.action.as_deref().is_none_or(|a| a == "login") {
        let accounts: Vec<String> = engine
            .tr
            .world
            .accounts
            .iter()
            .map(|a| a.id.clone())
            .collect();
        engine
            .tr
            .world
            .api_keys
            .iter()
            .flat_map(|k| accounts.iter().map(move |a| (k.id.clone(), a.clone())))
            .filter(|(_, a)| opts.resource.as_deref().is_none_or(|r| r == a))
            .collect()
    } else {
        Vec::new()
    };
    let total = groups.len() + logins.len();
    let auditor = if opts.exhaustive {
        None
    } else {
        Some(Auditor::new(engine)?)
    };
    let plain_stats = AuditStats::default();
    let stats = auditor.as_ref().map_or(&plain_stats, |a| &a.stats);
    let callers = callers(&engine.tr);
    let chunk = 256;
    // Callers in world order (users, then service IDs), as the naive loop yields them.
    let rank: HashMap<&str, usize> = callers.iter().enumerate().map(|(i, c)| (*c, i)).collect();
    let decide_all = |t: &Target3| -> Vec<Decision> {
        callers
            .iter()
            .filter_map(|p| {
                let s = RequestSpec {
                    principal: p.to_string(),
                    action: t.action.to_string(),
                    resource: Some(t.resource.clone()),
                    args: t.args.clone(),
                    ..Default::default()
                };
                stats.decisions.fetch_add(1, Ordering::Relaxed);
                engine
                    .decide(&s)
                    .ok()
                    .filter(|d| d.decision == Verdict::Allow)
            })
            .collect()
    };
    // A producer thread computes chunks (both cores, through rayon) while this thread writes
    // the previous ones: output never waits for the whole audit, nor the audit for output.
    let (tx, rx) = std::sync::mpsc::sync_channel::<(Vec<Decision>, usize)>(4);
    std::thread::scope(|scope| {
        let auditor = &auditor;
        let (groups, logins, rank, decide_all) = (&groups, &logins, &rank, &decide_all);
        scope.spawn(move || {
            for action in crate::decide::request::actions() {
                if action == "login" {
                    if let Some(a) = auditor {
                        // One group per account, with the API keys as the principals; rows in
                        // the order of the one-by-one loop (key, then account).
                        let mut accounts: Vec<&str> =
                            logins.iter().map(|(_, acc)| acc.as_str()).collect();
                        accounts.sort_unstable();
                        accounts.dedup();
                        let mut rows: Vec<Decision> = accounts
                            .par_iter()
                            .map(|acc| {
                                a.group(&Target3 {
                                    action: "login",
                                    resource: acc.to_string(),
                                    args: BTreeMap::new(),
                                })
                            })
                            .flatten()
                            .collect();
                        let key_rank: HashMap<&str, usize> = engine
                            .tr
                            .world
                            .api_keys
                            .iter()
                            .enumerate()
                            .map(|(i, k)| (k.id.as_str(), i))
                            .collect();
                        let acc_rank: HashMap<&str, usize> = engine
                            .tr
                            .world
                            .accounts
                            .iter()
                            .enumerate()
                            .map(|(i, x)| (x.id.as_str(), i))
                            .collect();
                        rows.sort_by_key(|d| {
                            (
                                key_rank.get(d.principal.as_str()).copied(),
                                acc_rank.get(d.resource.as_str()).copied(),
                            )
                        });
                        if tx.send((rows, logins.len())).is_err() {
                            return;
                        }
                        continue;
                    }
                    for part in logins.chunks(chunk) {
                        let rows: Vec<Decision> = part
                            .par_iter()
                            .filter_map(|(k, a)| {
                                let s = RequestSpec {
                                    principal: k.clone(),
                                    action: "login".into(),
                                    resource: Some(a.clone()),
                                    ..Default::default()
                                };
                                stats.decisions.fetch_add(1, Ordering::Relaxed);
                                engine
                                    .decide(&s)
                                    .ok()
                                    .filter(|d| d.decision == Verdict::Allow)
                            })
                            .collect();
                        if tx.send((rows, part.len())).is_err() {
                            return;
                        }
                    }
                    continue;
                }
                let mine: Vec<&Target3> = groups.iter().filter(|t| t.action == action).collect();
                for part in mine.chunks(chunk) {
                    let per_group: Vec<Vec<Decision>> = part
                        .par_iter()
                        .map(|t| match auditor {
                            Some(a) => a.group(t),
                            None => decide_all(t),
                        })
                        .collect();
                    let mut rows = Vec::new();
                    for mut g in per_group {
                        g.sort_by_key(|d| {
                            rank.get(d.principal.as_str())
                                .copied()
                                .unwrap_or(usize::MAX)
                        });
                        rows.extend(g);
                    }
                    if tx.send((rows, part.len())).is_err() {
                        return;
                    }
                }
            }
        });
        let mut done = 0;
        for (rows, n) in rx {
            for d in rows {
                if keep(engine, opts, &d) {
                    sink(d);
                }
            }
            done += n;
            progress(done, total);
        }
    });
    let out = AuditStats::default();
    for (to, from) in [
        (&out.set_groups, &stats.set_groups),
        (&out.fallback_groups, &stats.fallback_groups),
        (&out.partial_evaluations, &stats.partial_evaluations),
        (&out.decisions, &stats.decisions),
    ] {
        to.store(from.load(Ordering::Relaxed), Ordering::Relaxed);
    }
    Ok(out)
}

/// A triple's identity, for comparing audits: principal, action, resource, args.
pub type TripleKey = (String, String, String, BTreeMap<String, String>);

/// The key of a decision.
pub fn triple(d: &Decision) -> TripleKey {
    (
        d.principal.clone(),
        d.action.clone(),
        d.resource.clone(),
        d.args.clone(),
    )
}

#[cfg(test)]
#[path = "exact_tests.rs"]
mod tests;
