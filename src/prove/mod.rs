//! Stage 2b, **proofs over every world** (`keyward prove`): properties of policy sets that hold
//! for every input the schema admits, decided by an SMT solver through `cedar-policy-symcc`,
//! one request signature (principal type, action, resource type) at a time:
//!
//! - *compare*: does another policy set allow the same requests, more, fewer, or both;
//! - *invariant*: is every request the policies allow also allowed by one of the invariant
//!   permits that cover its signature;
//! - *never-errors*: can no policy raise an evaluation error (which makes a `forbid` fail open).
//!
//! A failed property comes with the solver's counterexample turned back into a world and a
//! request ([`realise`]), written as a world file and re-decided by keyward ([`confirm`]): only
//! then is it called realisable. The solver's stores are more than worlds produce, so one that
//! keyward does not reproduce is reported as such, never as a plain failure.
//!
//! Owns the plan of queries, running them in parallel with a time limit each, and the typed
//! results. Must not: format output (that is [`crate::report`]'s) or decide requests itself.
//!
//! May use: [`crate::decide`] and [`crate::world`].

pub mod confirm;
pub mod query;
pub mod realise;
pub mod solver;

pub use confirm::{Counterexample, Expect, Side};
pub use solver::SolverError;

use cedar_policy::{Policy, PolicySet};
use query::{Answer, Signature};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// What kind of property.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Compare,
    Invariant,
    NeverErrors,
}

/// A property's result (docs/cli.md: `equivalent`, `adds`, `removes`, `both` for compare;
/// `holds`, `fails` for the others; `unknown` for any).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Equivalent,
    Adds,
    Removes,
    Both,
    Holds,
    Fails,
    Unknown,
}

impl Outcome {
    /// The word the JSON and the tables print.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Equivalent => "equivalent",
            Outcome::Adds => "adds",
            Outcome::Removes => "removes",
            Outcome::Both => "both",
            Outcome::Holds => "holds",
            Outcome::Fails => "fails",
            Outcome::Unknown => "unknown",
        }
    }
}

/// One proved (or refuted) property of one signature.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Property {
    pub kind: Kind,
    pub principal_type: String,
    pub action: String,
    pub resource_type: String,
    /// The policy (never-errors) or invariant permits (invariant) the property is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    pub result: Outcome,
    pub counterexamples: Vec<Counterexample>,
    /// Why a result is unknown, or the caveat of an unrealisable counterexample.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Property {
    /// Whether the property holds: equivalent, or holds (a compare that adds or removes is a
    /// finding, not a failure: see [`Report::holds`]).
    pub fn holds(&self) -> bool {
        matches!(self.result, Outcome::Equivalent | Outcome::Holds)
    }
}

/// Every property proved, in a stable order.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub holds: bool,
    pub properties: Vec<Property>,
    /// Wall time of all the queries, in milliseconds.
    #[serde(skip)]
    pub millis: u128,
}

/// What to prove.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The policies under proof.
    pub base: Side,
    /// Compare against this side.
    pub against: Option<Side>,
    /// Invariant files, each proved on its own (loaded and validated like policies).
    pub invariants: Vec<Side>,
    /// Prove that no base policy errors.
    pub never_errors: bool,
    /// Time limit of each query.
    pub timeout: Duration,
    /// Queries run at once (each with its own solver process).
    pub jobs: usize,
    /// Where counterexample worlds are written.
    pub out_dir: PathBuf,
}

/// One query to run.
enum Task<'a> {
    Compare(Signature),
    Invariant(Signature, usize, Vec<String>),
    NeverErrors(&'a Policy, Signature),
}

/// Run every query of the plan, `plan.jobs` at a time.
pub fn prove(plan: &Plan) -> Result<Report, SolverError> {
    solver::cvc5_path()?;
    let started = std::time::Instant::now();
    let tasks = tasks(plan);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Property)>> = Mutex::new(Vec::new());
    let failure: Mutex<Option<SolverError>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..plan.jobs.clamp(1, tasks.len().max(1)) {
            s.spawn(|| {
                let mut session = match solver::Session::new(plan.timeout) {
                    Ok(x) => x,
                    Err(e) => return record(&failure, e),
                };
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(task) = tasks.get(i) else { break };
                    match run(plan, &mut session, task, i) {
                        Ok(p) => lock(&results).push((i, p)),
                        Err(e) => return record(&failure, e),
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let mut results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    results.sort_by_key(|(i, _)| *i);
    let properties: Vec<Property> = results.into_iter().map(|(_, p)| p).collect();
    Ok(Report {
        holds: properties.iter().all(Property::holds),
        properties,
        millis: started.elapsed().as_millis(),
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn record(slot: &Mutex<Option<SolverError>>, e: SolverError) {
    lock(slot).get_or_insert(e);
}

/// The queries of a plan, in report order: compare, invariants, never-errors.
fn tasks(plan: &Plan) -> Vec<Task<'_>> {
    let schema = &plan.base.bundle.schema;
    let mut out = Vec::new();
    if plan.against.is_some() {
        out.extend(query::signatures(schema).into_iter().map(Task::Compare));
    }
    for (n, inv) in plan.invariants.iter().enumerate() {
        for sig in query::signatures(schema) {
            let covering: Vec<String> = inv
                .bundle
                .policies
                .policies()
                .filter(|p| {
                    query::signatures_of(p, schema)
                        .iter()
                        .any(|s| s.key() == sig.key())
                })
                .map(|p| p.id().to_string())
                .collect();
            if !covering.is_empty() {
                out.push(Task::Invariant(sig, n, covering));
            }
        }
    }
    if plan.never_errors {
        let mut policies: Vec<&Policy> = plan.base.bundle.policies.policies().collect();
        policies.sort_by_key(|p| p.id().to_string());
        for p in policies {
            out.extend(
                query::signatures_of(p, schema)
                    .into_iter()
                    .map(|s| Task::NeverErrors(p, s)),
            );
        }
    }
    out
}

/// A property with no counterexample yet.
fn property(kind: Kind, sig: &Signature, policy: Option<String>, result: Outcome) -> Property {
    Property {
        kind,
        principal_type: sig.principal_type(),
        action: sig.action(),
        resource_type: sig.resource_type(),
        policy,
        result,
        counterexamples: Vec::new(),
        note: None,
    }
}

/// Run one task and turn its counterexamples into worlds.
fn run(
    plan: &Plan,
    session: &mut solver::Session,
    task: &Task<'_>,
    index: usize,
) -> Result<Property, SolverError> {
    let schema = &plan.base.bundle.schema;
    let base = &plan.base;
    match task {
        Task::Compare(sig) => {
            let Some(other) = &plan.against else {
                return Ok(property(Kind::Compare, sig, None, Outcome::Unknown));
            };
            Ok(compare(plan, session, sig, index, base, other)?)
        }
        Task::Invariant(sig, n, ids) => {
            let Some(inv) = plan.invariants.get(*n) else {
                return Ok(property(Kind::Invariant, sig, None, Outcome::Unknown));
            };
            let mut p = property(Kind::Invariant, sig, Some(ids.join(",")), Outcome::Holds);
            let name = format!("{index:03}-invariant-{}", sig.action());
            let sides = [(base, Expect::Allow), (inv, Expect::Deny)];
            implication(plan, session, sig, &mut p, &name, &sides)?;
            Ok(p)
        }
        Task::NeverErrors(policy, sig) => {
            let a = query::never_errors(session, schema, sig, policy)?;
            let mut p = property(
                Kind::NeverErrors,
                sig,
                Some(policy.id().to_string()),
                Outcome::Holds,
            );
            let name = format!("{index:03}-never-errors-{}", policy.id());
            if let Some(ce) = settle(plan, &mut p, a, &name, &[(base, Expect::Error)]) {
                p.result = Outcome::Fails;
                if !ce.realisable {
                    p.result = Outcome::Unknown;
                    p.note = Some(format!(
                        "the solver's counterexample is a schema-valid store no world keyward can \
                         build produces ({}); unproven for worlds",
                        ce.notes.join("; ")
                    ));
                }
                p.counterexamples.push(ce);
            }
            Ok(p)
        }
    }
}

/// A compare's result from its two implications: the other side allows more when
/// `other ⇒ base` fails, less when `base ⇒ other` fails.
fn compare(
    plan: &Plan,
    session: &mut solver::Session,
    sig: &Signature,
    index: usize,
    base: &Side,
    other: &Side,
) -> Result<Property, SolverError> {
    let mut p = property(Kind::Compare, sig, None, Outcome::Equivalent);
    let mut gained = property(Kind::Compare, sig, None, Outcome::Holds);
    let mut lost = property(Kind::Compare, sig, None, Outcome::Holds);
    let stem = format!("{index:03}-compare-{}", sig.action());
    let adds = [(other, Expect::Allow), (base, Expect::Deny)];
    implication(
        plan,
        session,
        sig,
        &mut gained,
        &format!("{stem}-adds"),
        &adds,
    )?;
    let removes = [(base, Expect::Allow), (other, Expect::Deny)];
    implication(
        plan,
        session,
        sig,
        &mut lost,
        &format!("{stem}-removes"),
        &removes,
    )?;
    p.result = match (gained.result, lost.result) {
        (Outcome::Unknown, _) | (_, Outcome::Unknown) => Outcome::Unknown,
        (Outcome::Fails, Outcome::Fails) => Outcome::Both,
        (Outcome::Fails, _) => Outcome::Adds,
        (_, Outcome::Fails) => Outcome::Removes,
        _ => Outcome::Equivalent,
    };
    p.note = [gained.note, lost.note]
        .into_iter()
        .flatten()
        .reduce(|a, b| format!("{a}; {b}"));
    p.counterexamples = gained.counterexamples;
    p.counterexamples.extend(lost.counterexamples);
    Ok(p)
}

/// Whether every request of `sig` the first side allows, the second allows too (the sides'
/// expectations say which allows and which denies on a counterexample). Asked over every store
/// the schema admits; when the solver's counterexample is no world keyward can build, asked
/// again over the stores of the world shape only: holding then, the property holds for every
/// world, and the note says it fails only for stores no world produces.
fn implication(
    plan: &Plan,
    session: &mut solver::Session,
    sig: &Signature,
    p: &mut Property,
    name: &str,
    sides: &[(&Side, Expect); 2],
) -> Result<(), SolverError> {
    let schema = &plan.base.bundle.schema;
    let (first, second) = (&sides[0].0.bundle.policies, &sides[1].0.bundle.policies);
    let answer = query::implies(session, schema, sig, first, second)?;
    let Some(ce) = settle(plan, p, answer, name, sides) else {
        return Ok(());
    };
    if ce.realisable {
        p.result = Outcome::Fails;
        p.counterexamples.push(ce);
        return Ok(());
    }
    let shape = world_shape();
    let (first, second) = (union(first, &shape), union(second, &shape));
    let answer = query::implies(session, schema, sig, &first, &second)?;
    let why = ce.notes.join("; ");
    p.counterexamples.push(ce);
    match settle(plan, p, answer, &format!("{name}-world"), sides) {
        None if p.result == Outcome::Holds => {
            p.note = Some(format!(
                "holds for every world keyward can build; fails only for schema-valid stores \
                 no world produces: {why}"
            ));
        }
        None => {}
        Some(ce2) if ce2.realisable => {
            p.result = Outcome::Fails;
            p.counterexamples.push(ce2);
        }
        Some(ce2) => {
            p.result = Outcome::Unknown;
            p.note = Some(format!(
                "the solver's counterexamples are schema-valid stores that no world keyward can \
                 build produces ({why}; {}); unproven for worlds",
                ce2.notes.join("; ")
            ));
            p.counterexamples.push(ce2);
        }
    }
    Ok(())
}

/// Give a property the solver's answer: nothing more to do when it holds, "unknown" with the
/// reason, or the counterexample as a world, re-decided, for the caller to judge.
fn settle(
    plan: &Plan,
    p: &mut Property,
    answer: Answer,
    name: &str,
    sides: &[(&Side, Expect)],
) -> Option<Counterexample> {
    match answer {
        Answer::Holds => None,
        Answer::Unknown(why) => {
            p.result = Outcome::Unknown;
            p.note = Some(why);
            None
        }
        Answer::Fails(env) => Some(counterexample(plan, &env, name, sides)),
    }
}

/// The world-shape assumptions (`world-shape.cedar`): forbids every request built from a world
/// escapes, so that a policy set with them allows exactly what it allows on world-built input.
pub fn world_shape() -> PolicySet {
    let mut out = PolicySet::new();
    if let Ok(set) = WORLD_SHAPE.parse::<PolicySet>() {
        for (i, p) in set.policies().enumerate() {
            let _ = out.add(p.new_id(cedar_policy::PolicyId::new(format!("world-shape-{i}"))));
        }
    }
    out
}

/// The text of the world-shape assumptions.
pub const WORLD_SHAPE: &str = include_str!("world-shape.cedar");

/// The solver's store and request as a world file, re-decided.
fn counterexample(
    plan: &Plan,
    env: &cedar_policy_symcc::Env,
    name: &str,
    sides: &[(&Side, Expect)],
) -> Counterexample {
    let entities = env.entities.to_json_value().unwrap_or_default();
    let context = env
        .request
        .context()
        .and_then(|c| c.to_json_value().ok())
        .unwrap_or_default();
    let uid = |u: Option<&cedar_policy::EntityUid>| {
        u.map(|u| (u.type_name().to_string(), u.id().unescaped().to_string()))
            .unwrap_or_default()
    };
    let req = realise::StoreRequest {
        principal: uid(env.request.principal()),
        action: uid(env.request.action()).1,
        resource: uid(env.request.resource()),
        context,
    };
    let r = realise::realise(&entities, &req);
    confirm::confirm(&r, &plan.out_dir, name, sides)
}

/// A policy set with one more set's policies (ids must differ).
pub fn union(a: &PolicySet, b: &PolicySet) -> PolicySet {
    let mut out = a.clone();
    for p in b.policies() {
        let _ = out.add(p.clone());
    }
    out
}
