//! Asking Cedar: one engine per (policy set, world), built once, answering requests with the
//! decision and the policies that determined it. Fails closed: an evaluation error is a deny.
//!
//! Owns the call into `cedar-policy` and the shape of a decision. It must not change the world
//! (that is the evaluator's) nor format output (see `report.rs`).

use crate::decide::conform::{Reduced, enum_types, reduce};
use crate::decide::entities::{EntityRef, Translation, refs_in, ty};
use crate::decide::policy::{PolicyBundle, PolicyInfo};
use crate::decide::request::{RequestSpec, Translated, translate};
use crate::world::World;
use crate::world::problem::{Problem, Problems};
use cedar_policy::entities_errors::EntitiesError;
use cedar_policy::{
    ActionConstraint, Authorizer, Context, ContextCreationError, Decision as CedarDecision, Effect,
    Entities, Entity, EntityAttrEvaluationError, EntityId, EntityTypeName, EntityUid,
    ExpressionConstructionError, ParseErrors, PolicySet, PolicySetError, PrincipalConstraint,
    Request, RequestValidationError, ResourceConstraint, RestrictedExpression,
};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;
use std::sync::{Mutex, OnceLock};

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Allow,
    Deny,
}

/// A policy that determined a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reason {
    pub policy: String,
    pub rules: Vec<String>,
    pub doc: String,
    /// `permit` or `forbid` (serialized as those words).
    pub effect: Effect,
}

/// The answer to one request, with its explanation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub decision: Verdict,
    pub principal: String,
    pub action: String,
    pub resource: String,
    /// The args as evaluated (inferred account / resource group included).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub args: BTreeMap<String, String>,
    /// On allow, the permits that determined it; on deny, the forbids (empty: nothing permitted).
    pub reasons: Vec<Reason>,
    /// Evaluation errors; any error makes the decision a deny.
    pub errors: Vec<String>,
}

impl Decision {
    /// A deny of this request with no reasons yet: what an engine answers before Cedar has.
    fn undecided(t: &Translated) -> Self {
        Decision {
            decision: Verdict::Deny,
            principal: t.principal.id.clone(),
            action: t.action.clone(),
            resource: t.resource.id.clone(),
            args: t.args.clone(),
            reasons: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// True when a forbid determined this deny.
    pub fn forbidden(&self) -> bool {
        self.decision == Verdict::Deny && !self.reasons.is_empty()
    }
}

/// A policy set, a world and Cedar's view of it, ready to answer requests.
pub struct Engine {
    pub bundle: PolicyBundle,
    pub tr: Translation,
    /// Every entity of the world, built on first use (see [`Engine::entities`]); the world's
    /// conformance to the schema is established by [`Engine::new`] either way.
    entities: OnceLock<Result<Entities, String>>,
    /// Entity literals of the policies: roots of every request's slice.
    literals: Vec<(String, String)>,
    authorizer: Authorizer,
    /// For each action, the policies whose head can match it (same decisions as the whole
    /// set: a policy whose action constraint excludes the action is never evaluated).
    by_action: HashMap<String, PolicySet>,
    /// For each (action, principal type, resource type), the action's policies without those
    /// whose scope names other types (see [`Engine::policies_for_request`]); built on first use.
    by_signature: std::sync::RwLock<foldhash::HashMap<String, std::sync::Arc<PolicySet>>>,
    /// Evaluate each request on [`Engine::policies_for_request`] (on by default; the tests
    /// compare it with the action's whole set).
    pub split_by_types: bool,
    /// Entity type names, parsed once.
    types: HashMap<String, EntityTypeName>,
    /// The policies whose `if`s nest deeper than Cedar's partial evaluator can take
    /// ([`crate::decide::policy::MAX_PARTIAL_IF_NESTING`]): never partially evaluated.
    deep_ifs: HashSet<cedar_policy::PolicyId>,
    /// `--now` given on the command line, overriding the world's.
    pub now_override: Option<String>,
    /// Validate every Cedar request against the schema (on by default; see `cedar_request`).
    pub validate_requests: bool,
    /// Cedar contexts already built, by principal type, action, resource type and context JSON:
    /// each was validated with the first request that built it, and validation depends on
    /// nothing else, so later requests with the same key reuse it unvalidated. The context
    /// names no principal, so the requests of every caller on one target share it.
    contexts: Mutex<foldhash::HashMap<Vec<u8>, Context>>,
}

/// Why a value, an entity or a request could not be given to Cedar. Each message is the one
/// the engine has always reported (decisions carry them as errors). Cedar's own errors are
/// boxed: they are large, and the engine's results are returned on every request.
#[derive(Debug, thiserror::Error)]
pub enum CedarError {
    #[error("{0}")]
    TypeName(Box<ParseErrors>),
    #[error("bad entity reference {0}")]
    BadReference(Value),
    #[error("not a Long: {0}")]
    NotLong(serde_json::Number),
    #[error("unsupported extension value {0}")]
    Extension(Value),
    #[error("null has no Cedar value")]
    Null,
    #[error("{0}")]
    Record(Box<ExpressionConstructionError>),
    #[error("{0}")]
    Entity(Box<EntityAttrEvaluationError>),
    #[error("entities are not a list")]
    NotAList,
    #[error("{0}")]
    Entities(Box<EntitiesError>),
    #[error("the context is not a record")]
    ContextNotRecord,
    #[error("{0}")]
    Context(Box<ContextCreationError>),
    #[error("{0}")]
    Request(Box<RequestValidationError>),
    #[error("{0}")]
    PolicySet(Box<PolicySetError>),
}

/// `?` on a Cedar call boxes its error into the matching [`CedarError`] variant.
macro_rules! boxed_from {
    ($($variant:ident($t:ty)),* $(,)?) => {
        $(impl From<$t> for CedarError {
            fn from(e: $t) -> Self {
                CedarError::$variant(Box::new(e))
            }
        })*
    };
}

boxed_from!(
    TypeName(ParseErrors),
    Record(ExpressionConstructionError),
    Entity(EntityAttrEvaluationError),
    Entities(EntitiesError),
    Context(ContextCreationError),
    Request(RequestValidationError),
    PolicySet(PolicySetError),
);

/// How many contexts [`Engine`] keeps (a bound on memory, not a tuning).
const CONTEXT_CACHE: usize = 4096;

/// Converts values in Cedar's JSON form (as exported) into typed Cedar values, without
/// Cedar's JSON reader (per request it costs ~0.3 ms; for a large world, seconds).
struct Conv<'a> {
    types: &'a HashMap<String, EntityTypeName>,
}

impl Conv<'_> {
    fn uid(&self, ty: &str, id: &str) -> Result<EntityUid, CedarError> {
        let name = match self.types.get(ty) {
            Some(n) => n.clone(),
            None => EntityTypeName::from_str(ty)?,
        };
        Ok(EntityUid::from_type_name_and_id(name, EntityId::new(id)))
    }

    fn uid_of(&self, v: &Value) -> Result<EntityUid, CedarError> {
        match (v["type"].as_str(), v["id"].as_str()) {
            (Some(t), Some(id)) => self.uid(t, id),
            _ => Err(CedarError::BadReference(v.clone())),
        }
    }

    fn expr(&self, v: &Value) -> Result<RestrictedExpression, CedarError> {
        Ok(match v {
            Value::Bool(b) => RestrictedExpression::new_bool(*b),
            Value::String(s) => RestrictedExpression::new_string(s.clone()),
            Value::Number(n) => RestrictedExpression::new_long(
                n.as_i64().ok_or_else(|| CedarError::NotLong(n.clone()))?,
            ),
            Value::Array(items) => {
                RestrictedExpression::new_set(items.iter().map(|i| self.expr(i)).collect::<Result<
                    Vec<_>,
                    _,
                >>(
                )?)
            }
            Value::Object(m) => {
                if let Some(e) = m.get("__entity") {
                    RestrictedExpression::new_entity_uid(self.uid_of(e)?)
                } else if let Some(x) = m.get("__extn") {
                    match (x["fn"].as_str(), x["arg"].as_str()) {
                        (Some("datetime"), Some(arg)) => RestrictedExpression::new_datetime(arg),
                        _ => return Err(CedarError::Extension(x.clone())),
                    }
                } else {
                    RestrictedExpression::new_record(
                        m.iter()
                            .map(|(k, v)| self.expr(v).map(|e| (k.clone(), e)))
                            .collect::<Result<Vec<_>, _>>()?,
                    )?
                }
            }
            Value::Null => return Err(CedarError::Null),
        })
    }

    /// One entity of the entities JSON array.
    fn entity(&self, e: &Value) -> Result<Entity, CedarError> {
        let uid = self.uid_of(&e["uid"])?;
        let attrs = match &e["attrs"] {
            Value::Object(m) => m
                .iter()
                .map(|(k, v)| self.expr(v).map(|x| (k.clone(), x)))
                .collect::<Result<HashMap<_, _>, _>>()?,
            _ => HashMap::new(),
        };
        let parents = match &e["parents"] {
            Value::Array(ps) => ps
                .iter()
                .map(|p| self.uid_of(p))
                .collect::<Result<HashSet<_>, _>>()?,
            _ => HashSet::new(),
        };
        Ok(Entity::new(uid, attrs, parents)?)
    }
}

/// Split a policy set by the actions its policies' heads can match. A policy constrained to
/// something that is not a plain action of `actions` (an action group) goes to every action.
fn split_by_action(
    policies: &PolicySet,
    actions: &[EntityUid],
) -> Result<HashMap<String, PolicySet>, CedarError> {
    let mut out: HashMap<String, PolicySet> = HashMap::new();
    for a in actions {
        let mut set = PolicySet::new();
        for p in policies.policies() {
            let applies = match p.action_constraint() {
                ActionConstraint::Any => true,
                ActionConstraint::Eq(uid) => &uid == a || !actions.contains(&uid),
                ActionConstraint::In(uids) => uids.iter().any(|u| u == a || !actions.contains(u)),
            };
            if applies {
                set.add(p.clone())?;
            }
        }
        out.insert(a.id().unescaped().to_string(), set);
    }
    Ok(out)
}

/// Every entity of a world, as typed Cedar values checked against the schema. Built directly
/// (not through Cedar's JSON reader, which costs ~10x more).
fn build_all(
    tr: &Translation,
    schema: &cedar_policy::Schema,
    conv: &Conv,
) -> Result<Entities, CedarError> {
    let built: Vec<Entity> = match tr.entities_json() {
        Value::Array(items) => items
            .iter()
            .map(|e| conv.entity(e))
            .collect::<Result<_, _>>()?,
        _ => return Err(CedarError::NotAList),
    };
    Ok(Entities::from_entities(built, Some(schema))?)
}

/// Whether every entity of the world fits the schema, judged on one entity per skeleton
/// ([`crate::decide::conform`]); false when that cannot say yes.
fn conforms(tr: &Translation, bundle: &PolicyBundle, conv: &Conv) -> bool {
    let Some(enums) = enum_types(&bundle.schema_source.text) else {
        return false;
    };
    let Reduced::Sample {
        entities,
        datetimes,
    } = reduce(tr, &enums)
    else {
        return false;
    };
    let sample: Result<Vec<Entity>, CedarError> = entities.iter().map(|e| conv.entity(e)).collect();
    let fits = sample
        .ok()
        .is_some_and(|es| Entities::from_entities(es, Some(&bundle.schema)).is_ok());
    // Each datetime evaluated once, as building its entity would.
    fits && datetimes.iter().enumerate().all(|(i, arg)| {
        let probe = serde_json::json!({
            "uid": {"type": "Probe", "id": i.to_string()},
            "attrs": {"at": {"__extn": {"fn": "datetime", "arg": arg}}},
            "parents": [],
        });
        conv.entity(&probe).is_ok()
    })
}

/// Every entity literal written in the policies (`Account::"acme"`, in a head or a
/// condition), found in their JSON form: an evaluation may read these without the request
/// naming them.
fn policy_literals(policies: &PolicySet) -> Vec<(String, String)> {
    fn walk(v: &Value, out: &mut Vec<(String, String)>) {
        match v {
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            Value::Object(m) => {
                if let (Some(Value::String(t)), Some(Value::String(id))) =
                    (m.get("type"), m.get("id"))
                {
                    out.push((t.clone(), id.clone()));
                }
                m.values().for_each(|i| walk(i, out));
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for p in policies.policies() {
        if let Ok(j) = p.to_json() {
            walk(&j, &mut out);
        }
    }
    out.sort();
    out.dedup();
    out
}

impl Engine {
    /// Build the entities of a validated world against the bundle's schema.
    pub fn new(bundle: PolicyBundle, world: World) -> Result<Self, Problems> {
        let tr = Translation::new(world);
        let actions: Vec<EntityUid> = crate::decide::request::actions()
            .filter_map(|a| EntityUid::from_str(&EntityRef::new("Action", a).to_string()).ok())
            .collect();
        let by_action = split_by_action(&bundle.policies, &actions).map_err(|e| {
            Problems::one(Problem::new(
                "",
                Default::default(),
                "",
                format!("cannot index policies: {e}"),
            ))
        })?;
        let mut types = HashMap::new();
        for t in [
            ty::ACCOUNT,
            ty::GRANT,
            ty::ACCESS_GROUP,
            ty::USER,
            ty::SERVICE_ID,
            ty::USER_API_KEY,
            ty::SERVICE_ID_API_KEY,
            ty::CLUSTER,
            "Action",
        ] {
            if let Ok(n) = EntityTypeName::from_str(t) {
                types.insert(t.to_string(), n);
            }
        }
        let schema_problem = |e: CedarError| {
            Problems::one(Problem::new(
                "",
                Default::default(),
                "",
                format!(
                    "the world does not fit the schema {}: {e}",
                    bundle.schema_source.name
                ),
            ))
        };
        let conv = Conv { types: &types };
        let entities = OnceLock::new();
        if !conforms(&tr, &bundle, &conv) {
            // Build everything: its refusal is the one to report (or, were the sample wrong
            // to refuse, the world is accepted as before).
            let all = build_all(&tr, &bundle.schema, &conv).map_err(schema_problem)?;
            let _ = entities.set(Ok(all));
        }
        let literals = policy_literals(&bundle.policies);
        let deep_ifs = bundle
            .policies
            .policies()
            .filter(|p| {
                crate::decide::policy::if_nesting(p) > crate::decide::policy::MAX_PARTIAL_IF_NESTING
            })
            .map(|p| p.id().clone())
            .collect();
        Ok(Engine {
            bundle,
            tr,
            entities,
            literals,
            authorizer: Authorizer::new(),
            by_action,
            types,
            now_override: None,
            validate_requests: true,
            contexts: Mutex::new(foldhash::HashMap::default()),
            by_signature: std::sync::RwLock::new(foldhash::HashMap::default()),
            split_by_types: true,
            deep_ifs,
        })
    }

    /// The evaluation time of a request: the request's, else --now, else the world's, else now.
    pub fn now_for(&self, spec: &RequestSpec) -> Result<String, Problem> {
        let (flag, now) = match (&spec.now, &self.now_override, &self.tr.world.now) {
            (Some(n), _, _) => ("now", n.clone()),
            (None, Some(n), _) => ("--now", n.clone()),
            (None, None, Some(n)) => ("now", n.clone()),
            (None, None, None) => (
                "now",
                chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            ),
        };
        // Cedar's datetime rules, not chrono's: a time Cedar refuses is bad input naming its
        // flag or field, never a request that fails closed.
        crate::world::time::parse(&now).map_err(|e| Problem::arg(flag, e.to_string()))?;
        Ok(now)
    }

    /// Translate a request (bad input is a problem, not a decision).
    pub fn translate(&self, spec: &RequestSpec) -> Result<Translated, Problem> {
        let now = self.now_for(spec)?;
        translate(&self.tr, &self.bundle.roles, spec, &now)
    }

    /// Translate without the context's `roles` record (see `request::translate_without_roles`).
    pub fn translate_without_roles(&self, spec: &RequestSpec) -> Result<Translated, Problem> {
        let now = self.now_for(spec)?;
        crate::decide::request::translate_without_roles(&self.tr, spec, &now)
    }

    /// A Cedar entity uid.
    pub fn uid(&self, ty: &str, id: &str) -> Result<EntityUid, CedarError> {
        Conv { types: &self.types }.uid(ty, id)
    }

    /// The Cedar uid of an entity reference.
    pub fn entity_uid(&self, e: &EntityRef) -> Result<EntityUid, CedarError> {
        self.uid(&e.ty, &e.id)
    }

    fn expr(&self, v: &Value) -> Result<RestrictedExpression, CedarError> {
        Conv { types: &self.types }.expr(v)
    }

    /// The Cedar context of a translated request.
    pub fn cedar_context(&self, t: &Translated) -> Result<Context, CedarError> {
        let Value::Object(fields) = &t.context else {
            return Err(CedarError::ContextNotRecord);
        };
        let pairs = fields
            .iter()
            .map(|(k, v)| self.expr(v).map(|e| (k.clone(), e)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Context::from_pairs(pairs)?)
    }

    /// The Cedar request of a translated request. With `validate_requests` (the default) it is
    /// checked against the schema, so a translation that does not fit a (user-supplied) schema
    /// is reported as such; either way any evaluation error denies.
    pub fn cedar_request(&self, t: &Translated) -> Result<Request, CedarError> {
        let principal = self.entity_uid(&t.principal)?;
        let action = self.uid("Action", &t.action)?;
        let resource = self.entity_uid(&t.resource)?;
        let head = format!(
            "{}\u{0}{}\u{0}{}\u{0}{}\u{0}",
            self.validate_requests, t.principal.ty, t.action, t.resource.ty
        );
        let mut key = head.into_bytes();
        // Written straight to bytes: `Display` of a JSON value goes through a slower adapter.
        // A context that cannot be written is not cached (nor reused) under a partial key.
        let cacheable = serde_json::to_writer(&mut key, &t.context).is_ok();
        // A poisoned lock only means another thread panicked mid-insert: start over empty.
        let cached = match self.contexts.lock() {
            Ok(map) if cacheable => map.get(&key).cloned(),
            _ => None,
        };
        if let Some(context) = cached {
            return Ok(Request::new(principal, action, resource, context, None)?);
        }
        let context = self.cedar_context(t)?;
        let schema = self.validate_requests.then_some(&self.bundle.schema);
        let request = Request::new(principal, action, resource, context.clone(), schema)?;
        if !cacheable {
            return Ok(request);
        }
        let mut map = self
            .contexts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if map.len() >= CONTEXT_CACHE {
            // Evict one (any) entry: freeing the whole map at once costs more than it saves.
            if let Some(k) = map.keys().next().cloned() {
                map.remove(&k);
            }
        }
        map.insert(key, context);
        Ok(request)
    }

    /// The policies that can apply to a request of `action` by a principal of type `pty` on a
    /// resource of type `rty`: the action's, without
    /// - those whose principal or resource scope names another type (`is T`, `is T in …`,
    ///   `== T::"…"`). Such a policy's scope is false for every such request, and Cedar
    ///   evaluates a policy's scope before its body, so it can neither hold nor fail;
    /// - with `validate_requests` (the default), those that Cedar's type-aware partial
    ///   evaluation finds `false` with the principal, the resource, the context and every entity
    ///   unknown, only their types known (e.g. a body `resource is ServiceId && …` on a user API
    ///   key): for every schema-valid request of these types on schema-valid entities, which
    ///   every request and every entity set of this engine is, they evaluate to false, without
    ///   error ([`cedar_policy::TpeResponse::false_permits`]). A policy Cedar cannot partially
    ///   evaluate (e.g. one that does not validate strictly) is kept.
    ///
    /// The decision, its reasons and its errors are the same as on the action's whole set
    /// (`tests/perf_exact.rs` compares them).
    pub fn policies_for_request(
        &self,
        action: &str,
        pty: &str,
        rty: &str,
    ) -> std::sync::Arc<PolicySet> {
        let key = format!(
            "{action}\u{0}{pty}\u{0}{rty}\u{0}{}",
            self.validate_requests
        );
        if let Some(set) = self
            .by_signature
            .read()
            .ok()
            .and_then(|m| m.get(&key).cloned())
        {
            return set;
        }
        let all = self.policies_for(action);
        let (pt, rt) = (self.types.get(pty), self.types.get(rty));
        let typed = self
            .validate_requests
            .then(|| self.types_only_request(action, pt?, rt?))
            .flatten();
        let mut set = PolicySet::new();
        for p in all.policies() {
            let principal_type = match p.principal_constraint() {
                PrincipalConstraint::Eq(uid) => Some(uid.type_name().clone()),
                PrincipalConstraint::Is(t) | PrincipalConstraint::IsIn(t, _) => Some(t),
                PrincipalConstraint::Any | PrincipalConstraint::In(_) => None,
            };
            let resource_type = match p.resource_constraint() {
                ResourceConstraint::Eq(uid) => Some(uid.type_name().clone()),
                ResourceConstraint::Is(t) | ResourceConstraint::IsIn(t, _) => Some(t),
                ResourceConstraint::Any | ResourceConstraint::In(_) => None,
            };
            let excluded = |scope: Option<EntityTypeName>, ty: Option<&EntityTypeName>| matches!((scope, ty), (Some(s), Some(t)) if &s != t);
            if excluded(principal_type, pt) || excluded(resource_type, rt) {
                continue;
            }
            if typed.as_ref().is_some_and(|r| self.false_for_types(p, r)) {
                continue;
            }
            if set.add(p.clone()).is_err() {
                // Cannot happen (the ids come from one set); fall back to the whole set.
                set = all.clone();
                break;
            }
        }
        let set = std::sync::Arc::new(set);
        let mut map = self
            .by_signature
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        map.insert(key, set.clone());
        set
    }

    /// The partial request of `action` with a principal of type `pt` and a resource of type
    /// `rt`: their ids, and the context, unknown. `None` if the schema does not allow it.
    fn types_only_request(
        &self,
        action: &str,
        pt: &EntityTypeName,
        rt: &EntityTypeName,
    ) -> Option<cedar_policy::PartialRequest> {
        use cedar_policy::{PartialEntityUid, PartialRequest};
        PartialRequest::new(
            PartialEntityUid::new(pt.clone(), None),
            self.uid("Action", action).ok()?,
            PartialEntityUid::new(rt.clone(), None),
            None,
            &self.bundle.schema,
        )
        .ok()
    }

    /// Whether Cedar's type-aware partial evaluation finds `p` false for `request` (of
    /// [`Engine::types_only_request`]) whatever the ids, attributes and ancestors of its
    /// entities (all unknown) and its context. `false` whenever it cannot tell.
    fn false_for_types(
        &self,
        p: &cedar_policy::Policy,
        request: &cedar_policy::PartialRequest,
    ) -> bool {
        if self.deep_ifs.contains(p.id()) {
            return false;
        }
        let mut one = PolicySet::new();
        if one.add(p.clone()).is_err() {
            return false;
        }
        let entities = cedar_policy::PartialEntities::empty();
        let Ok(response) = one.tpe(request, &entities, &self.bundle.schema) else {
            return false;
        };
        response
            .false_permits()
            .chain(response.false_forbids())
            .any(|id| id == p.id())
    }

    /// Whether Cedar may partially evaluate every policy of `set` (none nests its `if`s deeper
    /// than [`crate::decide::policy::MAX_PARTIAL_IF_NESTING`]).
    pub fn partially_evaluable(&self, set: &PolicySet) -> bool {
        self.deep_ifs.is_empty() || set.policies().all(|p| !self.deep_ifs.contains(p.id()))
    }

    /// The policies that can apply to an action.
    pub fn policies_for(&self, action: &str) -> &PolicySet {
        self.by_action.get(action).unwrap_or(&self.bundle.policies)
    }

    /// Decide a request.
    pub fn decide(&self, spec: &RequestSpec) -> Result<Decision, Problem> {
        let t = self.translate(spec)?;
        Ok(self.decide_translated(&t))
    }

    /// Decide one request on the entities it can reach ([`Engine::decide_sliced`]): for a
    /// command that decides once, such as `check`.
    pub fn decide_once(&self, spec: &RequestSpec) -> Result<Decision, Problem> {
        let t = self.translate(spec)?;
        Ok(self.decide_sliced(&t))
    }

    /// A translated request's undecided decision and its Cedar request; the deny naming why,
    /// when the request cannot be built.
    fn undecided_request(&self, t: &Translated) -> Result<(Decision, Request), Box<Decision>> {
        let mut d = Decision::undecided(t);
        match self.cedar_request(t) {
            Ok(r) => Ok((d, r)),
            Err(e) => {
                d.errors
                    .push(format!("cannot build the Cedar request: {e}"));
                Err(Box::new(d))
            }
        }
    }

    /// Decide a translated request. Errors of any kind deny.
    pub fn decide_translated(&self, t: &Translated) -> Decision {
        let (mut d, request) = match self.undecided_request(t) {
            Ok(both) => both,
            Err(denied) => return *denied,
        };
        let entities = match self.entities() {
            Ok(e) => e,
            Err(e) => {
                d.errors.push(e);
                return d;
            }
        };
        self.answer(d, t, &request, entities)
    }

    /// Decide one translated request on only the entities it can reach (see
    /// [`Translation::reachable`]): the same decision as [`Engine::decide_translated`], without
    /// building every entity of the world. For a single request; a run of many requests is
    /// faster on [`Engine::entities`].
    pub fn decide_sliced(&self, t: &Translated) -> Decision {
        if self.entities.get().is_some() {
            return self.decide_translated(t);
        }
        let (mut d, request) = match self.undecided_request(t) {
            Ok(both) => both,
            Err(denied) => return *denied,
        };
        match self.slice(t) {
            Ok(entities) => self.answer(d, t, &request, &entities),
            Err(e) => {
                d.errors.push(format!("cannot build the entities: {e}"));
                d
            }
        }
    }

    /// The entities a translated request can reach, built against the schema.
    pub fn slice(&self, t: &Translated) -> Result<Entities, CedarError> {
        let mut roots = vec![
            (t.principal.ty.clone(), t.principal.id.clone()),
            (t.resource.ty.clone(), t.resource.id.clone()),
        ];
        refs_in(&t.context, &mut roots);
        roots.extend(self.literals.iter().cloned());
        let conv = Conv { types: &self.types };
        let built = self
            .tr
            .reachable(roots)
            .iter()
            .map(|e| conv.entity(e))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Entities::from_entities(built, Some(&self.bundle.schema))?)
    }

    /// Every entity of the world, built against the schema on first use.
    pub fn entities(&self) -> Result<&Entities, String> {
        self.entities
            .get_or_init(|| {
                let conv = Conv { types: &self.types };
                build_all(&self.tr, &self.bundle.schema, &conv).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Cedar's answer to a request on these entities, as a decision. Errors of any kind deny.
    fn answer(
        &self,
        mut d: Decision,
        t: &Translated,
        request: &Request,
        entities: &Entities,
    ) -> Decision {
        let response = match self.split_by_types {
            true => {
                let set = self.policies_for_request(&d.action, &t.principal.ty, &t.resource.ty);
                self.authorizer.is_authorized(request, &set, entities)
            }
            false => {
                let set = self.policies_for(&d.action);
                self.authorizer.is_authorized(request, set, entities)
            }
        };
        let diag = response.diagnostics();
        d.errors = diag.errors().map(|e| e.to_string()).collect();
        d.errors.sort();
        let mut ids: Vec<String> = diag.reason().map(|p| p.to_string()).collect();
        ids.sort();
        d.reasons = ids.iter().map(|id| self.reason(id)).collect();
        d.decision = if response.decision() == CedarDecision::Allow && d.errors.is_empty() {
            Verdict::Allow
        } else {
            Verdict::Deny
        };
        if d.decision == Verdict::Deny {
            // An allow overturned by an error keeps no permits as its reasons.
            d.reasons.retain(|r| r.effect == Effect::Forbid);
        }
        d
    }

    /// A policy's id, rules and doc, as a reason.
    pub fn reason(&self, id: &str) -> Reason {
        let info: Option<&PolicyInfo> = self.bundle.info.get(id);
        Reason {
            policy: id.to_string(),
            rules: info.map(|i| i.rules.clone()).unwrap_or_default(),
            doc: info.map(|i| i.doc.clone()).unwrap_or_default(),
            // Every id the engine reports is a policy of the bundle; were one not, counting it a
            // permit keeps it out of a deny's reasons, as the empty effect it once had did.
            effect: info.map_or(Effect::Permit, |i| i.effect),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effects_serialize_as_the_policy_keywords() {
        let reason = |effect| Reason {
            policy: "p".into(),
            rules: vec![],
            doc: String::new(),
            effect,
        };
        let json = |r: Reason| serde_json::to_string(&r).unwrap_or_default();
        assert!(json(reason(Effect::Permit)).ends_with(r#""effect":"permit"}"#));
        assert!(json(reason(Effect::Forbid)).ends_with(r#""effect":"forbid"}"#));
    }

    #[test]
    fn cedar_errors_keep_their_messages() {
        assert_eq!(CedarError::Null.to_string(), "null has no Cedar value");
        assert_eq!(
            CedarError::BadReference(serde_json::json!({"id": 1})).to_string(),
            r#"bad entity reference {"id":1}"#
        );
        assert_eq!(
            CedarError::ContextNotRecord.to_string(),
            "the context is not a record"
        );
    }
}
