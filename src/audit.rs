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

use crate::engine::{Decision, Engine, Reason, Verdict};
use crate::entities::ty;
use crate::request::{RequestSpec, Target3, callers, resource_requests};
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
    attrs: HashMap<(String, String), serde_json::Value>,
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
    /// An attribute of the principal.
    PAttr(String),
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
        let items = json.as_array().cloned().unwrap_or_default();
        // Parents and transitive ancestors, from the entities as given to Cedar.
        let mut parents: HashMap<(String, String), Vec<(String, String)>> = HashMap::new();
        let mut attrs: HashMap<(String, String), serde_json::Value> = HashMap::new();
        for e in &items {
            let Some(uid) = key(&e["uid"]) else { continue };
            let ps = e["parents"]
                .as_array()
                .map(|a| a.iter().filter_map(key).collect())
                .unwrap_or_default();
            parents.insert(uid.clone(), ps);
            attrs.insert(uid, e["attrs"].clone());
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
            for (i, id) in ids.iter().enumerate() {
                let uid = (t.to_string(), id.clone());
                for a in ancestors.get(&uid).into_iter().flatten() {
                    below
                        .entry(a.clone())
                        .or_insert_with(|| Bits::empty(n))
                        .set(i);
                }
                if let Some(serde_json::Value::Object(m)) = attrs.get(&uid) {
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
            if pop.n() == 0 {
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
    fn level1(&self, pop: &Population, t: &crate::request::Translated) -> Arc<Option<Level1>> {
        let key = format!(
            "{}|{}|{}|{:?}|{:?}",
            t.action, pop.ty, t.resource.0, t.target, t.args
        );
        if let Some(l) = self.level1.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return l;
        }
        let computed = Arc::new(self.compute_level1(pop, t));
        if let Ok(mut m) = self.level1.lock() {
            m.insert(key, computed.clone());
        }
        computed
    }

    fn compute_level1(&self, pop: &Population, t: &crate::request::Translated) -> Option<Level1> {
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
        let t = e.translate(&self.spec(&pop.ids[0], target)).ok()?;
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
                    for (when, x) in cs {
                        let b = self.as_bits(pop, self.eval(pop, &res, x)?)?;
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
        t: &crate::request::Translated,
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

    fn as_bits(&self, pop: &Population, v: V) -> Option<Bits> {
        match v {
            V::Bool(true) => Some(Bits::all(pop.n())),
            V::Bool(false) => Some(Bits::empty(pop.n())),
            V::Who(b) => Some(b),
            V::PAttr(a) => self.set_of(
                pop,
                &Expr::GetAttr {
                    expr: Arc::new(Expr::Var(Var::Principal)),
                    attr: a.into(),
                },
            ),
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
            serde_json::Value::Object(m) => V::Ent(key(m.get("__entity")?)?),
            serde_json::Value::Null => return None,
        })
    }

    fn entity_in(&self, a: &(String, String), b: &(String, String)) -> bool {
        a == b || self.ancestors.get(a).is_some_and(|anc| anc.contains(b))
    }

    /// Evaluate a residual with the resource known: concrete values where the principal plays no
    /// part, sets of principals where it does. `None`: a shape or case this does not read (the
    /// caller then asks Cedar). Never guesses: an attribute that is missing (an error in
    /// Cedar) is `None`, not `false`.
    fn eval(&self, pop: &Population, res: &(String, String), x: &Expr) -> Option<V> {
        let n = pop.n();
        Some(match x {
            Expr::Literal(Literal::Bool(b)) => V::Bool(*b),
            Expr::Literal(Literal::Long(l)) => V::Long(*l),
            Expr::Literal(Literal::String(s)) => V::Str(s.to_string()),
            Expr::Literal(Literal::EntityUID(u)) => V::Ent((u.ty.to_string(), u.eid.to_string())),
            Expr::Var(Var::Principal) => V::Principal,
            Expr::Var(Var::Resource) => V::Ent(res.clone()),
            Expr::Set(items) => V::Set(
                items
                    .iter()
                    .map(|i| self.eval(pop, res, i))
                    .collect::<Option<_>>()?,
            ),
            Expr::GetAttr { expr, attr } => match self.eval(pop, res, expr)? {
                V::Ent(k) => Self::json_v(self.attrs.get(&k)?.get(attr.as_str())?)?,
                V::Principal => V::PAttr(attr.to_string()),
                _ => return None,
            },
            Expr::HasAttr { expr, attrs } => match self.eval(pop, res, expr)? {
                V::Ent(k) => {
                    let mut cur = self.attrs.get(&k)?;
                    let mut has = true;
                    for a in attrs.iter() {
                        match cur.get(a.as_str()) {
                            Some(v) => cur = v,
                            None => {
                                has = false;
                                break;
                            }
                        }
                    }
                    V::Bool(has)
                }
                _ => return None,
            },
            Expr::Is {
                expr,
                entity_type,
                in_expr,
            } => match self.eval(pop, res, expr)? {
                V::Ent(k) => {
                    let is = k.0 == entity_type.to_string();
                    match in_expr {
                        None => V::Bool(is),
                        Some(p) => match self.eval(pop, res, p)? {
                            V::Ent(b) => V::Bool(is && self.entity_in(&k, &b)),
                            _ => return None,
                        },
                    }
                }
                V::Principal => V::Who(
                    self.set_of(
                        pop,
                        &Expr::Is {
                            expr: Arc::new(Expr::Var(Var::Principal)),
                            entity_type: entity_type.clone(),
                            in_expr: None,
                        },
                    )?
                    .and(&match in_expr {
                        None => Bits::all(n),
                        Some(p) => match self.eval(pop, res, p)? {
                            V::Ent(b) => self.below(pop, &b),
                            _ => return None,
                        },
                    }),
                ),
                _ => return None,
            },
            Expr::UnaryOp {
                op: UnaryOp::Not,
                expr,
            } => match self.eval(pop, res, expr)? {
                V::Bool(b) => V::Bool(!b),
                V::Who(b) => V::Who(b.not(n)),
                v @ V::PAttr(_) => V::Who(self.as_bits(pop, v)?.not(n)),
                _ => return None,
            },
            Expr::BinaryOp {
                op: op @ (BinaryOp::And | BinaryOp::Or),
                left,
                right,
            } => {
                let l = self.eval(pop, res, left)?;
                // Cedar short-circuits: the right side is not evaluated (and cannot error).
                match (op, &l) {
                    (BinaryOp::And, V::Bool(false)) => return Some(V::Bool(false)),
                    (BinaryOp::Or, V::Bool(true)) => return Some(V::Bool(true)),
                    _ => {}
                }
                let r = self.eval(pop, res, right)?;
                match (l, r) {
                    (V::Bool(a), V::Bool(b)) => {
                        V::Bool(if *op == BinaryOp::And { a && b } else { a || b })
                    }
                    (l, r) => {
                        let (a, b) = (self.as_bits(pop, l)?, self.as_bits(pop, r)?);
                        V::Who(if *op == BinaryOp::And {
                            a.and(&b)
                        } else {
                            a.or(&b)
                        })
                    }
                }
            }
            Expr::IfThenElse {
                cond,
                then_expr,
                else_expr,
            } => match self.eval(pop, res, cond)? {
                V::Bool(true) => self.eval(pop, res, then_expr)?,
                V::Bool(false) => self.eval(pop, res, else_expr)?,
                c => {
                    let c = self.as_bits(pop, c)?;
                    let t = self.as_bits(pop, self.eval(pop, res, then_expr)?)?;
                    let e = self.as_bits(pop, self.eval(pop, res, else_expr)?)?;
                    V::Who(c.clone().and(&t).or(&c.not(n).and(&e)))
                }
            },
            Expr::BinaryOp { op, left, right } => {
                let (l, r) = (self.eval(pop, res, left)?, self.eval(pop, res, right)?);
                match (op, l, r) {
                    (BinaryOp::Eq | BinaryOp::NotEq, l, r) => {
                        let eq = match (l, r) {
                            (V::Ent(a), V::Ent(b)) => V::Bool(a == b),
                            (V::Long(a), V::Long(b)) => V::Bool(a == b),
                            (V::Str(a), V::Str(b)) => V::Bool(a == b),
                            (V::Bool(a), V::Bool(b)) => V::Bool(a == b),
                            (V::Principal, V::Ent(k)) | (V::Ent(k), V::Principal) => {
                                let mut b = Bits::empty(n);
                                if k.0 == pop.ty {
                                    if let Some(&i) = pop.index.get(&k.1) {
                                        b.set(i);
                                    }
                                }
                                V::Who(b)
                            }
                            (V::PAttr(a), V::Long(c)) => V::Who(self.attr_compare(
                                pop,
                                BinaryOp::Eq,
                                &pattr(&a),
                                &Expr::Literal(Literal::Long(c)),
                            )?),
                            (V::Long(c), V::PAttr(a)) => V::Who(self.attr_compare(
                                pop,
                                BinaryOp::Eq,
                                &pattr(&a),
                                &Expr::Literal(Literal::Long(c)),
                            )?),
                            _ => return None,
                        };
                        match (op, eq) {
                            (BinaryOp::NotEq, V::Bool(b)) => V::Bool(!b),
                            (BinaryOp::NotEq, V::Who(b)) => V::Who(b.not(n)),
                            (_, v) => v,
                        }
                    }
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
                    (BinaryOp::In, V::Ent(a), V::PAttr(attr)) => {
                        V::Who(self.in_pattr(pop, &a, &attr)?)
                    }
                    (BinaryOp::Contains, V::Set(items), V::Principal) => {
                        let mut b = Bits::empty(n);
                        for it in items {
                            let V::Ent(k) = it else { return None };
                            if k.0 == pop.ty {
                                if let Some(&i) = pop.index.get(&k.1) {
                                    b.set(i);
                                }
                            }
                        }
                        V::Who(b)
                    }
                    (BinaryOp::Contains, V::Set(items), v) => {
                        let mut found = false;
                        for it in &items {
                            found |= match (it, &v) {
                                (V::Ent(a), V::Ent(b)) => a == b,
                                (V::Str(a), V::Str(b)) => a == b,
                                (V::Long(a), V::Long(b)) => a == b,
                                (V::Bool(a), V::Bool(b)) => a == b,
                                _ => return None,
                            };
                        }
                        V::Bool(found)
                    }
                    (
                        BinaryOp::Less | BinaryOp::LessEq | BinaryOp::Greater | BinaryOp::GreaterEq,
                        V::Long(a),
                        V::Long(b),
                    ) => V::Bool(match op {
                        BinaryOp::Less => a < b,
                        BinaryOp::LessEq => a <= b,
                        BinaryOp::Greater => a > b,
                        _ => a >= b,
                    }),
                    (
                        BinaryOp::Less | BinaryOp::LessEq | BinaryOp::Greater | BinaryOp::GreaterEq,
                        V::PAttr(a),
                        V::Long(c),
                    ) => V::Who(self.attr_compare(
                        pop,
                        *op,
                        &pattr(&a),
                        &Expr::Literal(Literal::Long(c)),
                    )?),
                    (
                        BinaryOp::Less | BinaryOp::LessEq | BinaryOp::Greater | BinaryOp::GreaterEq,
                        V::Long(c),
                        V::PAttr(a),
                    ) => V::Who(self.attr_compare(
                        pop,
                        *op,
                        &Expr::Literal(Literal::Long(c)),
                        &pattr(&a),
                    )?),
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

/// `principal.attr` as an expression.
fn pattr(a: &str) -> Expr {
    Expr::GetAttr {
        expr: Arc::new(Expr::Var(Var::Principal)),
        attr: a.into(),
    }
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
    let mut done = 0;
    // Callers in world order (users, then service IDs), as the naive loop yields them.
    let rank: HashMap<&str, usize> = callers.iter().enumerate().map(|(i, c)| (*c, i)).collect();
    for action in crate::request::actions() {
        if action == "login" {
            for part in logins.chunks(chunk) {
                let rows: Vec<Vec<Decision>> = part
                    .par_iter()
                    .map(|(k, a)| {
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
                            .into_iter()
                            .collect()
                    })
                    .collect();
                for d in rows.into_iter().flatten() {
                    if keep(engine, opts, &d) {
                        sink(d);
                    }
                }
                done += part.len();
                progress(done, total);
            }
            continue;
        }
        let mine: Vec<&Target3> = groups.iter().filter(|t| t.action == action).collect();
        for part in mine.chunks(chunk) {
            let rows: Vec<Vec<Decision>> = part
                .par_iter()
                .map(|t| match &auditor {
                    Some(a) => a.group(t),
                    None => callers
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
                        .collect(),
                })
                .collect();
            for mut group in rows {
                group.sort_by_key(|d| {
                    rank.get(d.principal.as_str())
                        .copied()
                        .unwrap_or(usize::MAX)
                });
                for d in group {
                    if keep(engine, opts, &d) {
                        sink(d);
                    }
                }
            }
            done += part.len();
            progress(done, total);
        }
    }
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
