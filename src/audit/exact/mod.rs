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
//! Two readings, the first that reads wins: the residuals with principal *and* resource
//! unknown, computed once per context and evaluated with each resource (`two_level`); else the
//! residuals of this resource (`fast`, where TPE has already evaluated what the resource
//! decides, e.g. a `like` on its name). `login` is read per account, with the API keys as the
//! principals; resets by service IDs (whose context depends on the caller) are decided one by
//! one. `--exhaustive` decides every triple one by one. Owns only the enumeration and the set algebra; decisions come from Cedar.
//!
//! Here: the auditor and its reading of one group ([`Auditor::group`]). Beside it: `bits.rs`
//! (sets of principals), `population.rs` (the indexes), `residual.rs` (the residual reader, one
//! helper per shape) and `run.rs` (the whole audit, streamed in a fixed order).
//! May use: [`crate::decide`].

use crate::audit::error::AuditError;
use crate::audit::{APIKEY, LOGIN, RESET};
use crate::decide::engine::{Decision, Engine, Verdict};
use crate::decide::entities::ty;
use crate::decide::request::{RequestSpec, Target3, Translated};
use bits::Bits;
use cedar_policy::{PartialEntities, PartialEntityUid, PartialRequest, PolicyId, TpeResponse};
use population::{EntityIndex, Population};
use residual::{Reader, Residual};
use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

mod bits;
mod population;
mod residual;
mod run;

pub use run::audit;

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
    /// Decisions of the audited triples (after `--principal`/`--account`) whose evaluation
    /// failed: each denies (keyward fails closed). Exact: a residual that may error for some
    /// principal is never read as a set, so every such triple is decided by Cedar.
    pub errored: AtomicUsize,
}

impl AuditStats {
    /// A one-line summary.
    pub fn summary(&self) -> String {
        format!(
            "{} groups read as sets, {} decided one by one; {} partial evaluations, {} decisions, {} denied: evaluation failed",
            self.set_groups.load(Ordering::Relaxed),
            self.fallback_groups.load(Ordering::Relaxed),
            self.partial_evaluations.load(Ordering::Relaxed),
            self.decisions.load(Ordering::Relaxed),
            self.errored()
        )
    }

    /// How many audited decisions failed to evaluate (and so denied).
    pub fn errored(&self) -> usize {
        self.errored.load(Ordering::Relaxed)
    }

    /// The counts as they are now.
    fn copy(&self) -> AuditStats {
        let out = AuditStats::default();
        for (to, from) in [
            (&out.set_groups, &self.set_groups),
            (&out.fallback_groups, &self.fallback_groups),
            (&out.partial_evaluations, &self.partial_evaluations),
            (&out.decisions, &self.decisions),
            (&out.errored, &self.errored),
        ] {
            to.store(from.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        out
    }

    fn count(counter: &AtomicUsize) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Everything an audit precomputes for one engine.
pub struct Auditor<'e> {
    engine: &'e Engine,
    /// Counters of the work done.
    pub stats: AuditStats,
    partial: PartialEntities,
    pops: Vec<Population>,
    ents: EntityIndex,
    /// Residuals with principal and resource unknown, by (action, types, target, args).
    level1: Mutex<HashMap<String, Arc<Option<Level1>>>>,
}

/// The residuals of one action for a principal type and a resource type, in one context.
struct Level1 {
    forbid_all: bool,
    permits: Vec<(String, Residual)>,
    forbids: Vec<Residual>,
}

/// The permits of a partial evaluation (its true ones, then its residual ones) and its
/// residual forbids; `None` where Cedar cannot give a residual's PST.
type Residuals = (Vec<(String, Option<Residual>)>, Vec<Option<Residual>>);

impl<'e> Auditor<'e> {
    /// Prepare the populations (users, service IDs, API keys) and indexes of an engine's world.
    pub fn new(engine: &'e Engine) -> Result<Self, AuditError> {
        let all = engine.entities().map_err(|e| {
            AuditError::Engine(crate::world::problem::Problem::new(
                "",
                Default::default(),
                "",
                e,
            ))
        })?;
        let partial = PartialEntities::from_concrete(all.clone(), &engine.bundle.schema)?;
        let ents = EntityIndex::new(engine.tr.entities_json());
        Ok(Auditor {
            engine,
            stats: AuditStats::default(),
            partial,
            pops: Population::all(engine, &ents),
            ents,
            level1: Mutex::new(HashMap::new()),
        })
    }

    /// The allowed decisions of one (action, resource, args), for every caller.
    pub fn group(&self, target: &Target3) -> Vec<Decision> {
        let mut rows = self.group_rows(target);
        rows.retain(|d| d.decision == Verdict::Allow);
        rows
    }

    /// The allowed decisions of one group, and its denies whose evaluation failed (the only
    /// denies it returns, so that the audit can count them).
    pub(crate) fn group_rows(&self, target: &Target3) -> Vec<Decision> {
        let mut out = Vec::new();
        for pop in &self.pops {
            if pop.n() == 0 || !calls(pop.ty, target.action) {
                continue;
            }
            let by_sets = if target.action == RESET && pop.ty == ty::SERVICE_ID {
                None // the context names the caller: decided one by one
            } else {
                self.two_level(pop, target)
                    .or_else(|| self.fast(pop, target))
            };
            match by_sets {
                Some(rows) => out.extend(rows),
                None => {
                    AuditStats::count(&self.stats.fallback_groups);
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

    /// Decide principals one by one (all of the population, or those in `only`): the allowed
    /// decisions and those whose evaluation failed.
    fn one_by_one(&self, pop: &Population, target: &Target3, only: Option<&Bits>) -> Vec<Decision> {
        let mut out = Vec::new();
        for (i, id) in pop.ids.iter().enumerate() {
            if only.is_some_and(|b| !b.get(i)) {
                continue;
            }
            AuditStats::count(&self.stats.decisions);
            if let Ok(d) = self.engine.decide(&self.spec(id, target))
                && kept(&d)
            {
                out.push(d);
            }
        }
        out
    }

    /// The partial request of `t` with the principal (of `pop`'s type) unknown and the given
    /// resource; `None` if it cannot be built.
    fn partial_request(
        &self,
        pop: &Population,
        t: &Translated,
        resource: PartialEntityUid,
    ) -> Option<PartialRequest> {
        let e = self.engine;
        let context = e.cedar_context(t).ok()?;
        let action = e.uid("Action", &t.action).ok()?;
        let principal =
            PartialEntityUid::new(cedar_policy::EntityTypeName::from_str(pop.ty).ok()?, None);
        PartialRequest::new(principal, action, resource, Some(context), &e.bundle.schema).ok()
    }

    /// Partially evaluate an action's policies. `None`: Cedar cannot (or must not: a policy
    /// nests `if`s too deeply, see [`Engine::partially_evaluable`]), or a policy errors
    /// whatever the principal — which denies every request (keyward fails closed), so the
    /// caller decides one by one, reporting the error exactly as `check` would.
    fn evaluate<'r>(&'r self, action: &str, req: &'r PartialRequest) -> Option<TpeResponse<'r>> {
        let e = self.engine;
        if !e.partially_evaluable(e.policies_for(action)) {
            return None;
        }
        AuditStats::count(&self.stats.partial_evaluations);
        let resp = e
            .policies_for(action)
            .tpe(req, &self.partial, &e.bundle.schema)
            .ok()?;
        if resp.error_permits().next().is_some() || resp.error_forbids().next().is_some() {
            return None;
        }
        Some(resp)
    }

    /// Partially evaluate with the resource known and read the residuals as sets; where some
    /// residual has a shape `set_of` does not read, decide one by one whoever a readable permit
    /// may allow (everyone, if a permit is unreadable).
    /// `None`: the request cannot be translated or partially evaluated (decide one by one).
    fn fast(&self, pop: &Population, target: &Target3) -> Option<Vec<Decision>> {
        let e = self.engine;
        let t = e.translate(&self.spec(&pop.ids[0], target)).ok()?;
        let resource = PartialEntityUid::from_concrete(e.uid(&t.resource.ty, &t.resource.id).ok()?);
        let req = self.partial_request(pop, &t, resource)?;
        let resp = self.evaluate(&t.action, &req)?;
        if resp.true_forbids().next().is_some() {
            AuditStats::count(&self.stats.set_groups);
            return Some(Vec::new()); // forbidden for everyone
        }
        let (permits, forbids) = residuals(&resp);
        if permits.is_empty() {
            AuditStats::count(&self.stats.set_groups);
            return Some(Vec::new()); // nothing can permit it
        }
        let reader = self.reader(pop, &t.resource);
        let read = |r: Option<Residual>| r.and_then(|r| reader.known(&r));
        let permits: Vec<(String, Option<Bits>)> =
            permits.into_iter().map(|(id, r)| (id, read(r))).collect();
        let forbids: Option<Vec<Bits>> = forbids.into_iter().map(read).collect();
        let readable: Option<Vec<(&str, Bits)>> = permits
            .iter()
            .map(|(id, s)| Some((id.as_str(), s.clone()?)))
            .collect();
        let (Some(readable), Some(forbids)) = (readable, forbids.as_ref()) else {
            AuditStats::count(&self.stats.fallback_groups);
            // An unreadable forbid may error for principals no permit allows: decide everyone,
            // so that every failed evaluation is seen (and counted).
            let only = forbids.is_some().then(|| candidates(pop.n(), &permits));
            return Some(self.one_by_one(pop, target, only.as_ref()));
        };
        AuditStats::count(&self.stats.set_groups);
        Some(self.rows(pop, &t, &allowed(pop.n(), &readable, forbids), &readable))
    }

    /// The residuals of an action with both principal and resource unknown (types known),
    /// computed once per context and shared by every resource of that type.
    fn level1(&self, pop: &Population, t: &Translated) -> Arc<Option<Level1>> {
        let key = format!(
            "{}|{}|{}|{:?}|{:?}",
            t.action, pop.ty, t.resource.ty, t.target, t.args
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
            resource: Some(t.resource.id.clone()),
            args: without_apikey(&t.args),
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

    fn compute_level1(&self, pop: &Population, t: &Translated) -> Option<Level1> {
        let rty = cedar_policy::EntityTypeName::from_str(&t.resource.ty).ok()?;
        let req = self.partial_request(pop, t, PartialEntityUid::new(rty, None))?;
        let resp = self.evaluate(&t.action, &req)?;
        let (permits, forbids) = residuals(&resp);
        let permits = permits
            .into_iter()
            .map(|(id, r)| Some((id, r?)))
            .collect::<Option<Vec<_>>>()?;
        if std::env::var_os("KEYWARD_DEBUG_RESIDUALS").is_some() {
            for p in resp.residual_policies() {
                eprintln!("residual {} {}: {}", t.action, p.id(), p);
            }
        }
        Some(Level1 {
            forbid_all: resp.true_forbids().next().is_some(),
            permits,
            forbids: forbids.into_iter().collect::<Option<_>>()?,
        })
    }

    /// The allowed decisions of a group from the shared residuals, evaluated with its resource;
    /// `None` when some residual has a shape the reader does not read.
    fn two_level(&self, pop: &Population, target: &Target3) -> Option<Vec<Decision>> {
        let e = self.engine;
        let t = e
            .translate_without_roles(&self.spec(&pop.ids[0], target))
            .ok()?;
        let l1 = self.level1(pop, &t);
        let l1 = l1.as_ref().as_ref()?;
        if l1.forbid_all || l1.permits.is_empty() {
            AuditStats::count(&self.stats.set_groups);
            return Some(Vec::new());
        }
        let reader = self.reader(pop, &t.resource);
        let permits: Vec<(&str, Bits)> = l1
            .permits
            .iter()
            .map(|(id, r)| Some((id.as_str(), reader.shared(r)?)))
            .collect::<Option<_>>()?;
        let forbids: Vec<Bits> = l1
            .forbids
            .iter()
            .map(|r| reader.shared(r))
            .collect::<Option<_>>()?;
        AuditStats::count(&self.stats.set_groups);
        Some(self.rows(pop, &t, &allowed(pop.n(), &permits, &forbids), &permits))
    }

    /// The residual reader of one population and resource.
    fn reader<'r>(&'r self, pop: &'r Population, res: &'r population::Uid) -> Reader<'r> {
        Reader {
            ents: &self.ents,
            pop,
            res,
        }
    }

    /// A decision for each allowed principal, its reasons the permits whose set holds it.
    fn rows(
        &self,
        pop: &Population,
        t: &Translated,
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
                resource: t.resource.id.clone(),
                args: t.args.clone(),
                reasons: ids.iter().map(|id| e.reason(id)).collect(),
                errors: Vec::new(),
            });
        }
        rows
    }
}

/// The permits and forbids of a partial evaluation, each with its residual.
fn residuals(resp: &TpeResponse<'_>) -> Residuals {
    let read = |id: &PolicyId| Residual::of(&resp.get_policy(id)?);
    let mut permits: Vec<(String, Option<Residual>)> = resp
        .true_permits()
        .map(|id| (id.to_string(), Some(Residual::All)))
        .collect();
    permits.extend(resp.residual_permits().map(|id| (id.to_string(), read(id))));
    (permits, resp.residual_forbids().map(read).collect())
}

/// (∪ permits) ∖ (∪ forbids).
fn allowed(n: usize, permits: &[(&str, Bits)], forbids: &[Bits]) -> Bits {
    let mut allowed = Bits::empty(n);
    for (_, b) in permits {
        allowed = allowed.or(b);
    }
    for f in forbids {
        allowed = allowed.and(&f.clone().not(n));
    }
    allowed
}

/// Whoever a readable permit may allow, or everyone if a permit is unreadable.
fn candidates(n: usize, permits: &[(String, Option<Bits>)]) -> Bits {
    let mut cand = Bits::empty(n);
    for (_, s) in permits {
        match s {
            Some(s) => cand = cand.or(s),
            None => cand = Bits::all(n),
        }
    }
    cand
}

/// A request's args without the key it acts on (the shared context does not depend on it).
fn without_apikey(args: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let kept = args.iter().filter(|(k, _)| k.as_str() != APIKEY);
    kept.map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Whether the audit keeps a decision: allowed, or denied because its evaluation failed.
pub(super) fn kept(d: &Decision) -> bool {
    d.decision == Verdict::Allow || !d.errors.is_empty()
}

/// Whether a population calls an action: keys log in, users and service IDs do the rest.
fn calls(pop_ty: &str, action: &str) -> bool {
    let key = pop_ty == ty::USER_API_KEY || pop_ty == ty::SERVICE_ID_API_KEY;
    key == (action == LOGIN)
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
mod tests;
