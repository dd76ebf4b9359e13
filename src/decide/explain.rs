//! "Why not?" (and "why?"): what one decision would take to come out the other way, found by
//! asking Cedar again with one change at a time: one role grant added, or one attribute of the
//! principal, the resource, the account or the context changed.
//!
//! Owns the candidate changes and the re-decisions. The candidates come from data only: the
//! grants from the schema's role catalogue and the request's account, the attribute values from
//! the entities, the context and the literals the action's policies compare with. Whether a
//! change permits or lifts a forbid is Cedar's answer, never a Rust rule: edit a `.cedar` file
//! and the explanation follows, with no rebuild.
//!
//! Must not: decide anything itself, change the world, or format output (see
//! `report::explain`). May use: [`crate::decide`] and [`crate::world`].

use crate::decide::engine::{Engine, Reason, Verdict};
use crate::decide::entities::{eref, ty};
use crate::decide::request::Translated;
use cedar_policy::{
    Authorizer, Decision as CedarDecision, Effect, Entities, Entity, EntityUid, EvalResult,
    PolicySet, RestrictedExpression,
};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeSet, HashSet};

/// A role on a service, granted account-wide in an account (as a world's role binding
/// `{subject, account, service, roles: [role]}` with no narrower scope).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Grant {
    pub service: String,
    pub role: String,
    pub account: String,
}

/// The value a changed attribute or context field would take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NewValue {
    /// This value (in Cedar syntax).
    Is(String),
    /// Any value other than these (the literals the policies compare with, in Cedar syntax).
    NoneOf(Vec<String>),
    /// The optional attribute left out.
    Absent,
    /// The set without this element.
    Without(String),
}

/// One change to a request's inputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// The principal holds this role too.
    Grant(Grant),
    /// An attribute of an entity the request names.
    Attribute {
        entity: String,
        entity_type: String,
        attribute: String,
        /// Its value now (Cedar syntax).
        now: String,
        to: NewValue,
    },
    /// A field of the request's context.
    Context {
        field: String,
        now: String,
        to: NewValue,
    },
}

/// What one change would do to the decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub change: Change,
    /// The decision with the change.
    pub decision: Verdict,
    /// The permits that would apply with the change (forbids aside).
    pub permits: Vec<Reason>,
    /// The forbids that would apply with the change.
    pub forbids: Vec<Reason>,
}

/// What lifts one forbid that determined a deny.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lift {
    pub forbid: Reason,
    /// Each single change after which this forbid no longer applies.
    pub by: Vec<Outcome>,
}

/// A role the principal holds on the request's target (directly or through a group).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Held {
    pub service: String,
    pub role: String,
}

/// The explanation of one decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    pub decision: Verdict,
    pub principal: String,
    /// The account the request acts in (where a grant would be added).
    pub account: String,
    /// Whether the schema lets the principal's type hold roles at all.
    pub grantable: bool,
    /// Whether the principal is a member of that account (a role binding's subject must be:
    /// no grant is offered to a non-member).
    pub member: bool,
    /// The request's evaluation failed (it is denied for that): nothing else is explained,
    /// as no change can be judged until the error is fixed.
    pub evaluation_failed: bool,
    /// The roles the principal holds on the target.
    pub held: Vec<Held>,
    /// The permits that apply as things are (forbids aside): an allow's reasons, or what a
    /// forbid overrides.
    pub permitted_by: Vec<Reason>,
    /// Deny with no permit applying: each single grant under which one would.
    pub would_permit: Vec<Outcome>,
    /// Forbid-deny: what lifts each forbid.
    pub lifts: Vec<Lift>,
    /// With [`Options::other_permits`]: permits of the action that could apply to this
    /// principal and resource but that no single grant makes apply.
    pub other_permits: Vec<Reason>,
    /// Forbids of the action that did not apply (shown for an allow).
    pub forbids_considered: Vec<Reason>,
}

/// Why an explanation could not be computed (the decision itself stands).
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error("cannot build an entity for the explanation: {0}")]
    Cedar(String),
}

/// A re-decision: Cedar's answer on a (changed) request.
struct Answer {
    allow: bool,
    ids: Vec<String>,
    errors: bool,
}

/// One request being explained: the engine, the request and its policies split by effect.
struct Ctx<'a> {
    engine: &'a Engine,
    /// Every entity of the world (an explanation asks about changed copies of them).
    entities: &'a Entities,
    t: &'a Translated,
    all: &'a PolicySet,
    permits: PolicySet,
    principal: EntityUid,
    authorizer: Authorizer,
}

impl Ctx<'_> {
    /// Ask Cedar about `t` (the request, possibly changed) against `set` and `entities`.
    /// Anything that cannot be asked is no answer: the change is not offered.
    fn ask(&self, t: &Translated, set: &PolicySet, entities: &Entities) -> Option<Answer> {
        let request = self.engine.cedar_request(t).ok()?;
        let r = self.authorizer.is_authorized(&request, set, entities);
        let errors = r.diagnostics().errors().next().is_some();
        let mut ids: Vec<String> = r.diagnostics().reason().map(|p| p.to_string()).collect();
        ids.sort();
        Some(Answer {
            allow: r.decision() == CedarDecision::Allow && !errors,
            ids,
            errors,
        })
    }

    fn reasons(&self, ids: &[String], effect: Effect) -> Vec<Reason> {
        ids.iter()
            .map(|id| self.engine.reason(id))
            .filter(|r| r.effect == effect)
            .collect()
    }

    /// The outcome of one change: the permits that apply with it and the full decision.
    fn outcome(&self, change: Change, t: &Translated, entities: &Entities) -> Option<Outcome> {
        let permits = self.ask(t, &self.permits, entities)?;
        let full = self.ask(t, self.all, entities)?;
        if full.errors {
            return None;
        }
        Some(Outcome {
            change,
            decision: if full.allow {
                Verdict::Allow
            } else {
                Verdict::Deny
            },
            permits: self.reasons(&permits.ids, Effect::Permit),
            forbids: self.reasons(&full.ids, Effect::Forbid),
        })
    }
}

/// What an explanation includes beyond the changes that would alter the decision.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// For a deny, the other permits that could apply (a partial evaluation: costs a copy of
    /// the entity store).
    pub other_permits: bool,
}

/// Explain a decided request: for a deny, the single changes that would permit it or lift its
/// forbids; for an allow, the permits and the forbids that did not apply.
pub fn explain(engine: &Engine, t: &Translated, decision: Verdict, opts: Options) -> Explanation {
    let all = engine.policies_for(&t.action);
    let mut permits = PolicySet::new();
    for p in all.policies().filter(|p| p.effect() == Effect::Permit) {
        // Ids are unique in `all`, so adding cannot fail.
        let _ = permits.add(p.clone());
    }
    let principal = engine.entity_uid(&t.principal).ok();
    let mut e = Explanation {
        decision,
        principal: t.principal.id.clone(),
        account: t.target.account.clone(),
        grantable: false,
        member: false,
        evaluation_failed: false,
        held: Vec::new(),
        permitted_by: Vec::new(),
        would_permit: Vec::new(),
        lifts: Vec::new(),
        other_permits: Vec::new(),
        forbids_considered: Vec::new(),
    };
    let Some(principal) = principal else {
        return e;
    };
    // The world's entities could not be built: nothing can be asked, as for a failed
    // evaluation.
    let Ok(entities) = engine.entities() else {
        e.evaluation_failed = true;
        return e;
    };
    let cx = Ctx {
        engine,
        entities,
        t,
        all,
        permits,
        principal,
        authorizer: Authorizer::new(),
    };
    e.held = held(&cx);
    e.member = member(&cx);
    let base = cx.ask(t, &cx.permits, cx.entities);
    e.permitted_by = base
        .as_ref()
        .map(|a| cx.reasons(&a.ids, Effect::Permit))
        .unwrap_or_default();
    let full = cx.ask(t, cx.all, cx.entities);
    if full.as_ref().is_none_or(|a| a.errors) {
        e.evaluation_failed = true;
        return e;
    }
    let forbids = full
        .map(|a| cx.reasons(&a.ids, Effect::Forbid))
        .unwrap_or_default();
    if decision == Verdict::Allow {
        e.forbids_considered = forbids_of(&cx, &forbids);
        return e;
    }
    let grants = grant_outcomes(&cx, &e.held, e.member);
    e.grantable = grants.is_some();
    let grants = grants.unwrap_or_default();
    if e.permitted_by.is_empty() {
        e.would_permit = grants
            .iter()
            .filter(|o| !o.permits.is_empty())
            .cloned()
            .collect();
    }
    if !forbids.is_empty() {
        let changes = attribute_outcomes(&cx);
        e.lifts = forbids
            .into_iter()
            .map(|f| lift(f, &grants, &changes))
            .collect();
    }
    if opts.other_permits {
        e.other_permits = other_permits(&cx, &e);
    }
    e
}

/// The roles the principal holds on the target: a grant of the context's `roles` record that
/// the principal is in (Cedar's entity hierarchy answers "in").
fn held(cx: &Ctx) -> Vec<Held> {
    let ancestors: HashSet<&EntityUid> = cx
        .entities
        .ancestors(&cx.principal)
        .map(|a| a.collect())
        .unwrap_or_default();
    let mut out = BTreeSet::new();
    let Some(roles) = cx.t.context["roles"].as_object() else {
        return Vec::new();
    };
    for (service, by_role) in roles {
        for (role, grants) in by_role.as_object().into_iter().flatten() {
            let holds = grants.as_array().into_iter().flatten().any(|g| {
                let uid = &g["__entity"];
                match (uid["type"].as_str(), uid["id"].as_str()) {
                    (Some(t), Some(id)) => cx
                        .engine
                        .uid(t, id)
                        .is_ok_and(|u| ancestors.contains(&u) || u == cx.principal),
                    _ => false,
                }
            });
            if holds {
                out.insert(Held {
                    service: service.clone(),
                    role: role.clone(),
                });
            }
        }
    }
    out.into_iter().collect()
}

/// Whether the principal is in the request's account, by Cedar's entity hierarchy.
fn member(cx: &Ctx) -> bool {
    let Ok(account) = cx.engine.uid(ty::ACCOUNT, &cx.t.target.account) else {
        return false;
    };
    cx.entities
        .ancestors(&cx.principal)
        .is_some_and(|mut a| a.any(|u| u == &account))
}

/// The forbids of the action other than those that applied.
fn forbids_of(cx: &Ctx, applied: &[Reason]) -> Vec<Reason> {
    let mut ids: Vec<String> = cx
        .all
        .policies()
        .filter(|p| p.effect() == Effect::Forbid)
        .map(|p| p.id().to_string())
        .filter(|id| !applied.iter().any(|r| &r.policy == id))
        .collect();
    ids.sort();
    ids.iter().map(|id| cx.engine.reason(id)).collect()
}

/// The Cedar id of the candidate grant entity (not a world grant: those are numbered).
fn grant_entity_id(g: &Grant) -> String {
    format!("explain:{}/{}/{}", g.account, g.service, g.role)
}

/// Each grant of the schema's catalogue the principal does not hold yet, in the request's
/// account, and what the decision would be with it; `None` when the principal's type cannot
/// hold a grant, none when it is not a member of the account.
fn grant_outcomes(cx: &Ctx, held: &[Held], member: bool) -> Option<Vec<Outcome>> {
    let catalog = &cx.engine.bundle.roles;
    let grants: Vec<Grant> = catalog
        .services()
        .flat_map(|s| {
            catalog
                .roles(s)
                .into_iter()
                .flatten()
                .map(move |r| (s.to_string(), r.clone()))
        })
        .filter(|(s, r)| !held.iter().any(|h| &h.service == s && &h.role == r))
        .map(|(service, role)| Grant {
            service,
            role,
            account: cx.t.target.account.clone(),
        })
        .collect();
    // One store holds every candidate grant, the principal in all of them: a grant counts only
    // where the context's `roles` record names it, and each request names one.
    let entities = with_grants(cx, &grants).ok()?;
    if !member {
        return Some(Vec::new());
    }
    let outcomes = grants
        .into_iter()
        .filter_map(|g| {
            let mut t = cx.t.clone();
            // `get_mut`, not indexing: indexing a value of another shape would panic.
            let slot = t
                .context
                .get_mut("roles")?
                .get_mut(g.service.as_str())?
                .get_mut(g.role.as_str())?;
            let Value::Array(items) = slot else {
                return None;
            };
            items.push(eref(ty::GRANT, &grant_entity_id(&g)));
            cx.outcome(Change::Grant(g), &t, &entities)
        })
        .collect();
    Some(outcomes)
}

/// The engine's entities with a Grant entity per candidate, the principal a member of each.
/// The schema decides whether the principal's type can hold grants at all.
fn with_grants(cx: &Ctx, grants: &[Grant]) -> Result<Entities, ExplainError> {
    let err = |e: &dyn std::fmt::Display| ExplainError::Cedar(e.to_string());
    let e = cx
        .entities
        .get(&cx.principal)
        .cloned()
        .ok_or_else(|| err(&"the principal is not an entity"))?;
    let (uid, attrs, mut parents) = e.into_inner();
    let mut added = Vec::new();
    for g in grants {
        let g_uid = cx
            .engine
            .uid(ty::GRANT, &grant_entity_id(g))
            .map_err(|e| err(&e))?;
        parents.insert(g_uid.clone());
        added.push(Entity::new_no_attrs(g_uid, HashSet::new()));
    }
    added.push(Entity::new(uid, attrs, parents).map_err(|e| err(&e))?);
    cx.entities
        .clone()
        .upsert_entities(added, Some(&cx.engine.bundle.schema))
        .map_err(|e| err(&e))
}

/// Which of the outcomes lift forbid `f`: it no longer applies, with no evaluation error.
fn lift(f: Reason, grants: &[Outcome], changes: &[Outcome]) -> Lift {
    let by = grants
        .iter()
        .chain(changes)
        .filter(|o| !o.forbids.iter().any(|r| r.policy == f.policy))
        .cloned()
        .collect();
    Lift { forbid: f, by }
}

/// The literals the action's policies compare with: strings and longs, from each policy's
/// JSON form.
fn literals(cx: &Ctx) -> (BTreeSet<String>, BTreeSet<i64>) {
    fn walk(v: &Value, s: &mut BTreeSet<String>, n: &mut BTreeSet<i64>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    match (k.as_str(), x) {
                        ("Value", Value::String(lit)) => {
                            s.insert(lit.clone());
                        }
                        ("Value", Value::Number(lit)) => {
                            n.extend(lit.as_i64());
                        }
                        _ => walk(x, s, n),
                    }
                }
            }
            Value::Array(xs) => xs.iter().for_each(|x| walk(x, s, n)),
            _ => {}
        }
    }
    let (mut s, mut n) = (BTreeSet::new(), BTreeSet::new());
    for p in cx.all.policies() {
        if let Ok(json) = p.to_json() {
            // Only the conditions: the head's literals are entity ids, not attribute values.
            walk(&json["conditions"], &mut s, &mut n);
        }
    }
    (s, n)
}

/// The values a candidate change gives one attribute (or context field), with how each shows.
fn candidates(v: &EvalResult, strings: &BTreeSet<String>, longs: &BTreeSet<i64>) -> Vec<Cand> {
    match v {
        EvalResult::Bool(b) => vec![Cand::set(RestrictedExpression::new_bool(!b), !b)],
        EvalResult::Long(n) => {
            // Either side of each literal the policies compare with (a value far off behaves
            // as the nearest of these does), nearest first.
            let mut near: Vec<i64> = longs
                .iter()
                .flat_map(|l| [l.saturating_sub(1), *l, l.saturating_add(1)])
                .filter(|c| c != n)
                .collect();
            near.sort_by_key(|c| (c.abs_diff(*n), *c));
            near.dedup();
            near.into_iter()
                .map(|c| Cand::set(RestrictedExpression::new_long(c), c))
                .collect()
        }
        EvalResult::String(s) => {
            let mut out: Vec<Cand> = strings
                .iter()
                .filter(|l| *l != s)
                .map(|l| Cand::set(RestrictedExpression::new_string(l.clone()), shown_str(l)))
                .collect();
            // A value no policy names stands for every such value.
            let fresh = format!("{s}\u{0}other");
            out.push(Cand {
                expr: Some(RestrictedExpression::new_string(fresh)),
                to: NewValue::NoneOf(strings.iter().map(|l| shown_str(l)).collect()),
            });
            out
        }
        EvalResult::Set(items) => items
            .iter()
            .filter_map(|x| {
                let rest = items
                    .iter()
                    .filter(|y| *y != x)
                    .map(expr)
                    .collect::<Option<Vec<_>>>()?;
                Some(Cand {
                    expr: Some(RestrictedExpression::new_set(rest)),
                    to: NewValue::Without(shown(x)),
                })
            })
            .collect(),
        EvalResult::ExtensionValue(_) => vec![Cand {
            expr: None,
            to: NewValue::Absent,
        }],
        EvalResult::EntityUid(_) | EvalResult::Record(_) => Vec::new(),
    }
}

/// One candidate value: the expression (none: the attribute removed) and how it shows.
struct Cand {
    expr: Option<RestrictedExpression>,
    to: NewValue,
}

impl Cand {
    fn set(expr: RestrictedExpression, shown: impl ToString) -> Self {
        Cand {
            expr: Some(expr),
            to: NewValue::Is(shown.to_string()),
        }
    }
}

fn shown_str(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// A value in Cedar syntax.
fn shown(v: &EvalResult) -> String {
    match v {
        EvalResult::Bool(b) => b.to_string(),
        EvalResult::Long(n) => n.to_string(),
        EvalResult::String(s) => shown_str(s),
        EvalResult::EntityUid(u) => u.to_string(),
        EvalResult::Set(items) => format!(
            "[{}]",
            items.iter().map(shown).collect::<Vec<_>>().join(", ")
        ),
        EvalResult::Record(_) => "{…}".into(),
        EvalResult::ExtensionValue(s) => s.clone(),
    }
}

/// A value back as an expression (sets of plain values and entities).
fn expr(v: &EvalResult) -> Option<RestrictedExpression> {
    Some(match v {
        EvalResult::Bool(b) => RestrictedExpression::new_bool(*b),
        EvalResult::Long(n) => RestrictedExpression::new_long(*n),
        EvalResult::String(s) => RestrictedExpression::new_string(s.clone()),
        EvalResult::EntityUid(u) => RestrictedExpression::new_entity_uid(u.clone()),
        _ => return None,
    })
}

/// The entities a change may touch: the principal, the resource and the context's account.
fn touched(cx: &Ctx) -> Vec<EntityUid> {
    let account = &cx.t.context["account"]["__entity"];
    let mut out = vec![cx.principal.clone()];
    out.extend(cx.engine.entity_uid(&cx.t.resource).ok());
    if let (Some(t), Some(id)) = (account["type"].as_str(), account["id"].as_str()) {
        out.extend(cx.engine.uid(t, id).ok());
    }
    out.dedup();
    out
}

/// One attribute changed at a time on the touched entities, then one context field: what the
/// decision would be with each.
fn attribute_outcomes(cx: &Ctx) -> Vec<Outcome> {
    let (strings, longs) = literals(cx);
    let mut out = Vec::new();
    for uid in touched(cx) {
        let Some(entity) = cx.entities.get(&uid) else {
            continue;
        };
        let mut attrs: Vec<(String, EvalResult)> = entity
            .attrs()
            .filter_map(|(k, v)| v.ok().map(|v| (k.to_string(), v)))
            .collect();
        attrs.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, value) in attrs {
            for cand in candidates(&value, &strings, &longs) {
                let change = Change::Attribute {
                    entity: uid.id().unescaped().to_string(),
                    entity_type: uid.type_name().to_string(),
                    attribute: name.clone(),
                    now: shown(&value),
                    to: cand.to.clone(),
                };
                let Some(entities) = changed_entity(cx, entity, &name, cand.expr) else {
                    continue;
                };
                out.extend(cx.outcome(change, cx.t, &entities));
            }
        }
    }
    out.extend(context_outcomes(cx, &strings));
    out
}

/// The engine's entities with one attribute of `entity` replaced (or removed); `None` when the
/// schema refuses the result (a required attribute cannot be removed).
fn changed_entity(
    cx: &Ctx,
    entity: &Entity,
    name: &str,
    value: Option<RestrictedExpression>,
) -> Option<Entities> {
    let (uid, mut attrs, parents) = entity.clone().into_inner();
    match value {
        Some(v) => attrs.insert(name.to_string(), v),
        None => attrs.remove(name),
    };
    let changed = Entity::new(uid, attrs, parents).ok()?;
    cx.entities
        .clone()
        .upsert_entities([changed], Some(&cx.engine.bundle.schema))
        .ok()
}

/// One context field changed at a time (booleans flipped, strings set to another literal or
/// to none of them); the account, the time and the roles record are not the caller's to change.
fn context_outcomes(cx: &Ctx, strings: &BTreeSet<String>) -> Vec<Outcome> {
    let Some(fields) = cx.t.context.as_object() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (name, value) in fields {
        let cands: Vec<(Value, NewValue)> = match value {
            Value::Bool(b) => vec![(Value::Bool(!b), NewValue::Is((!b).to_string()))],
            Value::String(s) => strings
                .iter()
                .filter(|l| *l != s)
                .map(|l| (Value::String(l.clone()), NewValue::Is(shown_str(l))))
                .collect(),
            _ => Vec::new(),
        };
        for (v, to) in cands {
            let mut t = cx.t.clone();
            if let Some(field) = t.context.get_mut(name.as_str()) {
                *field = v;
            }
            let change = Change::Context {
                field: name.clone(),
                now: value.to_string(),
                to,
            };
            out.extend(cx.outcome(change, &t, cx.entities));
        }
    }
    out
}

/// Permits of the action that could apply to this principal and resource but neither apply
/// nor would with one grant. "Could apply" is Cedar's partial evaluation with the context (the
/// roles, the account, the time) left unknown: a permit whose residual is `false` cannot.
fn other_permits(cx: &Ctx, e: &Explanation) -> Vec<Reason> {
    let reached: HashSet<&str> = e
        .permitted_by
        .iter()
        .chain(e.would_permit.iter().flat_map(|o| &o.permits))
        .map(|r| r.policy.as_str())
        .collect();
    let cannot = cannot_apply(cx).unwrap_or_default();
    let mut ids: Vec<String> = cx
        .permits
        .policies()
        .map(|p| p.id().to_string())
        .filter(|id| !reached.contains(id.as_str()) && !cannot.contains(id))
        .collect();
    ids.sort();
    ids.iter().map(|id| cx.engine.reason(id)).collect()
}

/// The permits of the action that are `false` for this principal and resource whatever the
/// context (`None` when Cedar cannot, or must not, evaluate partially: then none is ruled out).
fn cannot_apply(cx: &Ctx) -> Option<HashSet<String>> {
    use cedar_policy::{PartialEntities, PartialEntityUid, PartialRequest};
    if !cx.engine.partially_evaluable(&cx.permits) {
        return None;
    }
    let schema = &cx.engine.bundle.schema;
    let resource = cx.engine.entity_uid(&cx.t.resource).ok()?;
    let action = cx.engine.uid("Action", &cx.t.action).ok()?;
    let request = PartialRequest::new(
        PartialEntityUid::from_concrete(cx.principal.clone()),
        action,
        PartialEntityUid::from_concrete(resource),
        None,
        schema,
    )
    .ok()?;
    let entities = PartialEntities::from_concrete(cx.entities.clone(), schema).ok()?;
    let response = cx.permits.tpe(&request, &entities, schema).ok()?;
    Some(response.false_permits().map(|id| id.to_string()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown_to(c: &[Cand]) -> Vec<NewValue> {
        c.iter().map(|c| c.to.clone()).collect()
    }

    #[test]
    fn numbers_move_to_the_nearest_side_of_each_literal() {
        let longs = BTreeSet::from([20]);
        let c = candidates(&EvalResult::Long(20), &BTreeSet::new(), &longs);
        assert_eq!(
            shown_to(&c),
            [NewValue::Is("19".into()), NewValue::Is("21".into())]
        );
        // Far above the limit: the value under it is still tried.
        let c = candidates(&EvalResult::Long(25), &BTreeSet::new(), &longs);
        assert_eq!(
            shown_to(&c),
            ["21", "20", "19"].map(|n| NewValue::Is(n.into()))
        );
    }

    #[test]
    fn strings_take_each_other_literal_or_none_of_them() {
        let strings = BTreeSet::from(["A".to_string(), "B".to_string()]);
        let c = candidates(&EvalResult::String("A".into()), &strings, &BTreeSet::new());
        assert_eq!(
            shown_to(&c),
            [
                NewValue::Is("\"B\"".into()),
                NewValue::NoneOf(vec!["\"A\"".into(), "\"B\"".into()])
            ]
        );
    }

    #[test]
    fn booleans_flip_and_entities_stay() {
        let none = (BTreeSet::new(), BTreeSet::new());
        let c = candidates(&EvalResult::Bool(true), &none.0, &none.1);
        assert_eq!(shown_to(&c), [NewValue::Is("false".into())]);
        let uid = EvalResult::EntityUid(EntityUid::from_type_name_and_id(
            "User".parse().expect("a type name"),
            cedar_policy::EntityId::new("u"),
        ));
        assert!(candidates(&uid, &none.0, &none.1).is_empty());
    }
}
