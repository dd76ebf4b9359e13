//! The symbolic queries, one request signature (principal type, action, resource type) at a
//! time: does one policy set imply another, and can a policy error. Each answer is "holds",
//! a counterexample (Cedar entities and a request, as the solver built them), or "unknown".
//!
//! Owns compiling policies for a signature and asking the solver. Must not: decide what a
//! counterexample means for a world (see [`crate::prove::realise`]).
//!
//! May use: [`crate::prove::solver`]; `cedar-policy` and `cedar-policy-symcc`.

use super::solver::{Ran, Session, SolverError};
use cedar_policy::{Policy, PolicySet, RequestEnv, Schema};
use cedar_policy_symcc::{CompiledPolicy, CompiledPolicySet, Env};

/// A request signature of the schema.
#[derive(Debug, Clone)]
pub struct Signature {
    pub env: RequestEnv,
}

impl Signature {
    /// The principal's entity type.
    pub fn principal_type(&self) -> String {
        self.env.principal().to_string()
    }

    /// The action's name (its id, without `Action::`).
    pub fn action(&self) -> String {
        self.env.action().id().unescaped().to_string()
    }

    /// The resource's entity type.
    pub fn resource_type(&self) -> String {
        self.env.resource().to_string()
    }

    /// A sort key: action, principal type, resource type.
    pub fn key(&self) -> (String, String, String) {
        (self.action(), self.principal_type(), self.resource_type())
    }
}

/// Every request signature the schema admits, sorted by action, principal, resource.
pub fn signatures(schema: &Schema) -> Vec<Signature> {
    let mut out: Vec<Signature> = schema.request_envs().map(|env| Signature { env }).collect();
    out.sort_by_key(Signature::key);
    out
}

/// The signatures a policy can match (those for which it is not trivially false).
pub fn signatures_of(policy: &Policy, schema: &Schema) -> Vec<Signature> {
    let mut out: Vec<Signature> = policy
        .get_valid_request_envs(schema)
        .map(|env| Signature { env })
        .collect();
    out.sort_by_key(Signature::key);
    out.dedup_by_key(|s| s.key());
    out
}

/// One answer of the solver.
pub enum Answer {
    /// No input breaks the property.
    Holds,
    /// An input that breaks it.
    Fails(Box<Env>),
    /// The solver could not say (time limit, or it failed), and why.
    Unknown(String),
}

impl Answer {
    fn of(r: Ran<Option<Env>>) -> Self {
        match r {
            Ran::Done(None) => Answer::Holds,
            Ran::Done(Some(env)) => Answer::Fails(Box::new(env)),
            Ran::Unknown(why) => Answer::Unknown(why),
        }
    }
}

/// Whether every request of `sig` that `first` allows, `second` allows too.
pub fn implies(
    session: &mut Session,
    schema: &Schema,
    sig: &Signature,
    first: &PolicySet,
    second: &PolicySet,
) -> Result<Answer, SolverError> {
    let compile = |ps: &PolicySet| {
        CompiledPolicySet::compile(ps, &sig.env, schema)
            .map_err(|e| format!("cannot compile the policies: {e}"))
    };
    let (a, b) = match compile(first).and_then(|a| Ok((a, compile(second)?))) {
        Ok(ab) => ab,
        Err(why) => return Ok(Answer::Unknown(why)),
    };
    session
        .run(Box::new(move |c| {
            Box::pin(async move { c.check_implies_with_counterexample_opt(&a, &b).await })
        }))
        .map(Answer::of)
}

/// Whether `policy` evaluates without error on every request of `sig`.
pub fn never_errors(
    session: &mut Session,
    schema: &Schema,
    sig: &Signature,
    policy: &Policy,
) -> Result<Answer, SolverError> {
    let p = match CompiledPolicy::compile(policy, &sig.env, schema) {
        Ok(p) => p,
        Err(e) => return Ok(Answer::Unknown(format!("cannot compile the policy: {e}"))),
    };
    session
        .run(Box::new(move |c| {
            Box::pin(async move { c.check_never_errors_with_counterexample_opt(&p).await })
        }))
        .map(Answer::of)
}
