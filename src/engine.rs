//! Asking Cedar: one engine per (policy set, world), built once, answering requests with the
//! decision and the policies that determined it. Fails closed: an evaluation error is a deny.
//!
//! Owns the call into `cedar-policy` and the shape of a decision. It must not change the world
//! (that is the evaluator's) nor format output (see `report.rs`).

use crate::entities::Translation;
use crate::error::{Problem, Problems};
use crate::policy::{PolicyBundle, PolicyInfo};
use crate::request::{RequestSpec, Translated, translate};
use crate::world::{World, cedar_datetime};
use cedar_policy::{Authorizer, Context, Decision as CedarDecision, Entities, EntityUid, Request};
use serde::Serialize;
use std::collections::BTreeMap;
use std::str::FromStr;

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
    /// `permit` or `forbid`.
    pub effect: String,
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
    /// True when a forbid determined this deny.
    pub fn forbidden(&self) -> bool {
        self.decision == Verdict::Deny && !self.reasons.is_empty()
    }
}

/// A policy set, a world and Cedar's view of it, ready to answer requests.
pub struct Engine {
    pub bundle: PolicyBundle,
    pub tr: Translation,
    pub entities: Entities,
    authorizer: Authorizer,
    /// `--now` given on the command line, overriding the world's.
    pub now_override: Option<String>,
}

impl Engine {
    /// Build the entities of a validated world against the bundle's schema.
    pub fn new(bundle: PolicyBundle, world: World) -> Result<Self, Problems> {
        let tr = Translation::new(world);
        let json = tr.entities_json();
        let entities = Entities::from_json_value(json, Some(&bundle.schema)).map_err(|e| {
            Problems::one(Problem::new(
                "",
                Default::default(),
                "",
                format!("the world does not fit the schema {}: {e}", bundle.schema_source.name),
            ))
        })?;
        Ok(Engine { bundle, tr, entities, authorizer: Authorizer::new(), now_override: None })
    }

    /// The evaluation time of a request: the request's, else --now, else the world's, else now.
    pub fn now_for(&self, spec: &RequestSpec) -> Result<String, Problem> {
        let (flag, now) = match (&spec.now, &self.now_override, &self.tr.world.now) {
            (Some(n), _, _) => ("now", n.clone()),
            (None, Some(n), _) => ("--now", n.clone()),
            (None, None, Some(n)) => ("now", n.clone()),
            (None, None, None) => ("now", chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        };
        if cedar_datetime(&now).is_none() {
            return Err(Problem::arg(flag, format!("`{now}` is not an RFC 3339 timestamp (e.g. 2026-11-23T12:00:00Z)")));
        }
        Ok(now)
    }

    /// Translate a request (bad input is a problem, not a decision).
    pub fn translate(&self, spec: &RequestSpec) -> Result<Translated, Problem> {
        let now = self.now_for(spec)?;
        translate(&self.tr, &self.bundle.roles, spec, &now)
    }

    /// The Cedar request of a translated request, parsed with the schema.
    pub fn cedar_request(&self, t: &Translated) -> Result<Request, String> {
        let uid = |(ty, id): &(String, String)| -> Result<EntityUid, String> {
            EntityUid::from_str(&format!("{ty}::{}", serde_json::Value::String(id.clone()))).map_err(|e| e.to_string())
        };
        let principal = uid(&t.principal)?;
        let action = uid(&("Action".to_string(), t.action.clone()))?;
        let resource = uid(&t.resource)?;
        let context = Context::from_json_value(t.context.clone(), Some((&self.bundle.schema, &action))).map_err(|e| e.to_string())?;
        Request::new(principal, action, resource, context, Some(&self.bundle.schema)).map_err(|e| e.to_string())
    }

    /// Decide a request.
    pub fn decide(&self, spec: &RequestSpec) -> Result<Decision, Problem> {
        let t = self.translate(spec)?;
        Ok(self.decide_translated(&t))
    }

    /// Decide a translated request. Errors of any kind deny.
    pub fn decide_translated(&self, t: &Translated) -> Decision {
        let mut d = Decision {
            decision: Verdict::Deny,
            principal: t.principal.1.clone(),
            action: t.action.clone(),
            resource: t.resource.1.clone(),
            args: t.args.clone(),
            reasons: Vec::new(),
            errors: Vec::new(),
        };
        let request = match self.cedar_request(t) {
            Ok(r) => r,
            Err(e) => {
                d.errors.push(format!("cannot build the Cedar request: {e}"));
                return d;
            }
        };
        let response = self.authorizer.is_authorized(&request, &self.bundle.policies, &self.entities);
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
            d.reasons.retain(|r| r.effect == "forbid");
        }
        d
    }

    fn reason(&self, id: &str) -> Reason {
        let info: Option<&PolicyInfo> = self.bundle.info.get(id);
        Reason {
            policy: id.to_string(),
            rules: info.map(|i| i.rules.clone()).unwrap_or_default(),
            doc: info.map(|i| i.doc.clone()).unwrap_or_default(),
            effect: info.map(|i| i.effect.clone()).unwrap_or_default(),
        }
    }
}
