//! Scenarios: a script of steps (requests and events) run in order against a world, each step
//! seeing the state the previous ones left, with expectations checked.
//!
//! Owns the script format (docs/cli.md `keyward run`), its located parse errors, and the
//! [`Runner`] that decides each request with the policies ([`Engine::decide`]) and carries out
//! what they allow ([`changes`]). It must not decide permissions nor change a world itself,
//! nor word a step for people (`report::scenario` does).

use crate::decide::action::{Action, ArgKind, ResourceDefault};
use crate::decide::engine::{Decision, Engine, Verdict};
use crate::decide::entities::{Translation, ty};
use crate::decide::policy::PolicyBundle;
use crate::decide::request::{RequestSpec, actions};
use crate::evaluator::changes::{self, Effect};
use crate::world::RoleCatalog;
use crate::world::fields::{self, de};
use crate::world::problem::{Problem, Problems};
use crate::world::yaml::{Kind, Node, Pos};
use crate::world::{self, IdKind, World};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a step expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// Allowed and carried out (for an event: carried out).
    Allow,
    /// Denied by the policies.
    Deny,
    /// Not carried out although not denied: bad input in this state (an id that no longer
    /// exists) or a failed operation (a stale etag, nothing to delete).
    Fail,
}

impl Expect {
    /// The expectation as written in a script.
    pub fn word(self) -> &'static str {
        match self {
            Expect::Allow => "allow",
            Expect::Deny => "deny",
            Expect::Fail => "fail",
        }
    }
}

/// What a step does.
#[derive(Debug, Clone, PartialEq)]
pub enum StepAction {
    /// A request, decided by the policies.
    Request(RequestSpec),
    /// A leak of a key is reported (R14); `now` moves the clock like a request's.
    Leak { key: String, now: Option<String> },
}

/// One step of a script.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Its line in the script.
    pub line: usize,
    pub action: StepAction,
    pub expect: Option<Expect>,
    /// What must have determined the decision (a request's `reasons` and `rules`).
    pub why: WhyExpect,
    /// Its field path in the file (`steps[2]`, `scenarios[0].steps[2]`).
    pub field: String,
    /// Where it is written.
    pub pos: Pos,
    /// Where each of its fields is written (`principal`, `action`, `resource`, `key`,
    /// `args.NAME`), for located problems.
    pub at: BTreeMap<String, Pos>,
}

impl Step {
    /// The position of one of its fields (the step's own when it is not written).
    pub fn pos_of(&self, field: &str) -> Pos {
        self.at.get(field).copied().unwrap_or(self.pos)
    }
}

/// Expectations on *why* a decision was made: the policies that determined it and the rules
/// they carry. `None` expects nothing; `Some(vec![])` for reasons expects that no policy
/// determined it (a default deny).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhyExpect {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasons: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<String>>,
}

impl WhyExpect {
    /// Whether anything is expected.
    pub fn is_empty(&self) -> bool {
        self.reasons.is_none() && self.rules.is_none()
    }

    /// What of these expectations the decision does not meet, one sentence each.
    pub fn unmet(&self, d: &Decision) -> Vec<String> {
        let mut out = Vec::new();
        let got: Vec<&str> = d.reasons.iter().map(|r| r.policy.as_str()).collect();
        if let Some(want) = &self.reasons {
            if want.is_empty() && !got.is_empty() {
                out.push(format!(
                    "expected no policy to determine it, but {} did",
                    got.join(", ")
                ));
            }
            for w in want {
                if !got.contains(&w.as_str()) {
                    out.push(format!(
                        "expected policy `{w}` among those that determined it ({})",
                        listed(&got)
                    ));
                }
            }
        }
        if let Some(want) = &self.rules {
            let carried: Vec<&str> = d
                .reasons
                .iter()
                .flat_map(|r| r.rules.iter().map(String::as_str))
                .collect();
            for w in want {
                if !carried.contains(&w.as_str()) {
                    out.push(format!(
                        "expected rule {w} to be carried by a policy that determined it ({})",
                        listed(&carried)
                    ));
                }
            }
        }
        out
    }

    /// The expectation as text: ` by p1, p2 [R7]`, or empty.
    pub fn text(&self) -> String {
        let mut s = String::new();
        match &self.reasons {
            Some(r) if r.is_empty() => s.push_str(" with no policy determining it"),
            Some(r) => s.push_str(&format!(" by {}", r.join(", "))),
            None => {}
        }
        if let Some(r) = &self.rules {
            s.push_str(&format!(" [{}]", r.join(", ")));
        }
        s
    }
}

/// What determined a decision, for an unmet expectation: the names, or `none did`.
fn listed(names: &[&str]) -> String {
    if names.is_empty() {
        "none did".to_string()
    } else {
        names.join(", ")
    }
}

/// Where a script's world comes from.
#[derive(Debug, Clone)]
pub enum ScriptWorld {
    /// A file, relative to the script's folder.
    File(PathBuf),
    /// Written in the script.
    Inline(Box<World>),
    /// Not named: `--world` must give it.
    Missing,
}

/// A parsed script.
#[derive(Debug, Clone)]
pub struct Script {
    pub file: String,
    /// Where the script's mapping starts: a missing `world` is reported there.
    pub pos: Pos,
    pub world: ScriptWorld,
    pub steps: Vec<Step>,
}

// Not testfile's RawCheck: serde's `flatten` would lose `deny_unknown_fields` and its messages.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequest {
    principal: String,
    action: String,
    #[serde(default)]
    resource: Option<String>,
    #[serde(default)]
    args: BTreeMap<String, Value>,
    #[serde(default)]
    via_trusted_profile: bool,
    #[serde(default)]
    now: Option<String>,
    #[serde(default)]
    expect: Option<Expect>,
    #[serde(default)]
    reasons: Option<Vec<String>>,
    #[serde(default)]
    rules: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum EventName {
    Leak,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    #[allow(dead_code)] // one event for now; the field is its discriminant
    event: EventName,
    key: String,
    #[serde(default)]
    now: Option<String>,
    #[serde(default)]
    expect: Option<Expect>,
}

/// Read and parse a script file; every problem is located (file:line:column, field).
pub fn load_script(path: &Path, roles: &RoleCatalog) -> Result<Script, Problems> {
    let (file, src) = crate::world::problem::read_input(path)?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    parse_script(&file, &src, &dir, roles)
}

/// Parse a script from text; `file` names it in problems, `dir` resolves its world path.
pub fn parse_script(
    file: &str,
    src: &str,
    dir: &Path,
    roles: &RoleCatalog,
) -> Result<Script, Problems> {
    let root = fields::parse_located(file, src)?;
    let mut p = Vec::new();
    let Kind::Map(entries) = &root.kind else {
        return Err(Problems::one(Problem::new(
            file,
            root.pos,
            "",
            "a script is a mapping with `world` and `steps`",
        )));
    };
    for (k, kpos, _) in entries {
        if k != "world" && k != "steps" {
            p.push(Problem::new(
                file,
                *kpos,
                k,
                format!("unknown field `{k}`, expected `world` or `steps`"),
            ));
        }
    }
    let world = match root.get("world") {
        None => ScriptWorld::Missing,
        Some(n) => world_field(file, n, "world", dir, roles, &mut p),
    };
    let steps = match root.get("steps") {
        None => {
            p.push(Problem::new(
                file,
                root.pos,
                "steps",
                "a script needs `steps`: a list of requests and events",
            ));
            Vec::new()
        }
        Some(n) => parse_steps(file, n, "steps", &mut p),
    };
    if p.is_empty() {
        Ok(Script {
            file: file.to_string(),
            pos: entries.first().map_or(root.pos, |(_, kpos, _)| *kpos),
            world,
            steps,
        })
    } else {
        p.sort_by_key(|a| a.pos);
        Err(Problems(p))
    }
}

/// A `world` field: a path (relative to `dir`, the file's folder) or a world written inline.
pub fn world_field(
    file: &str,
    node: &Node,
    field: &str,
    dir: &Path,
    roles: &RoleCatalog,
    p: &mut Vec<Problem>,
) -> ScriptWorld {
    match &node.kind {
        Kind::Scalar(Value::String(s)) => ScriptWorld::File(dir.join(s)),
        Kind::Map(_) => match world::world_from_node(file, node, roles) {
            Ok(w) => ScriptWorld::Inline(Box::new(w)),
            Err(e) => {
                p.extend(e.0);
                ScriptWorld::Missing
            }
        },
        _ => {
            p.push(Problem::new(
                file,
                node.pos,
                field,
                "expected a path (relative to this file) or a world written inline",
            ));
            ScriptWorld::Missing
        }
    }
}

/// The items of a list of mappings, each with its field path (`field[i]`); a list that is not
/// one, or an item that is not a mapping, is a problem (`hint` says what an item looks like).
pub fn mapping_items<'a>(
    file: &str,
    node: &'a Node,
    field: &str,
    hint: &str,
    p: &mut Vec<Problem>,
) -> Vec<(String, &'a Node)> {
    let Kind::Seq(items) = &node.kind else {
        p.push(Problem::new(
            file,
            node.pos,
            field,
            format!("expected a list: {hint}"),
        ));
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let f = format!("{field}[{i}]");
        if matches!(item.kind, Kind::Map(_)) {
            out.push((f, item));
        } else {
            p.push(Problem::new(file, item.pos, &f, hint));
        }
    }
    out
}

/// Parse a list of steps (requests and events); `field` names the list in problems.
pub fn parse_steps(file: &str, node: &Node, field: &str, p: &mut Vec<Problem>) -> Vec<Step> {
    let mut steps = Vec::new();
    for (field, item) in mapping_items(
        file,
        node,
        field,
        "a step is a mapping: a request {principal, action, resource, args, …} or an event {event: leak, key}",
        p,
    ) {
        if item.get("event").is_some() {
            if let Some(e) = de::<RawEvent>(file, item, &field, p) {
                steps.push(Step {
                    line: item.pos.line,
                    action: StepAction::Leak {
                        key: e.key,
                        now: e.now,
                    },
                    expect: e.expect,
                    why: WhyExpect::default(),
                    at: field_positions(item),
                    field,
                    pos: item.pos,
                });
            }
            continue;
        }
        let Some(r) = de::<RawRequest>(file, item, &field, p) else {
            continue;
        };
        let Some(args) = args_of(file, item, &field, r.args, p) else {
            continue;
        };
        steps.push(Step {
            line: item.pos.line,
            action: StepAction::Request(RequestSpec {
                principal: r.principal,
                action: r.action,
                resource: r.resource,
                args,
                via_trusted_profile: r.via_trusted_profile,
                now: r.now,
            }),
            expect: r.expect,
            why: WhyExpect {
                reasons: r.reasons,
                rules: r.rules,
            },
            at: field_positions(item),
            field,
            pos: item.pos,
        });
    }
    steps
}

/// Where a step's fields are written: its keys, and the names of its `args`.
fn field_positions(item: &Node) -> BTreeMap<String, Pos> {
    let mut at = BTreeMap::new();
    if let Kind::Map(entries) = &item.kind {
        for (k, kpos, _) in entries {
            at.insert(k.clone(), *kpos);
        }
    }
    if let Some(Node {
        kind: Kind::Map(args),
        ..
    }) = item.get("args")
    {
        for (k, kpos, _) in args {
            at.insert(format!("args.{k}"), *kpos);
        }
    }
    at
}

/// A request's `args` as text (a string, number or boolean each); `None` after a problem.
pub fn args_of(
    file: &str,
    item: &Node,
    field: &str,
    raw: BTreeMap<String, Value>,
    p: &mut Vec<Problem>,
) -> Option<BTreeMap<String, String>> {
    let mut args = BTreeMap::new();
    let mut ok = true;
    for (name, v) in raw {
        let text = match &v {
            Value::String(s) => Some(s.clone()),
            Value::Bool(_) | Value::Number(_) => Some(v.to_string()),
            _ => None,
        };
        match text {
            Some(t) => {
                args.insert(name, t);
            }
            None => {
                ok = false;
                p.push(Problem::new(
                    file,
                    item.locate(&format!("args.{name}")),
                    &format!("{field}.args.{name}"),
                    "an arg's value is a single string, number or boolean",
                ))
            }
        }
    }
    ok.then_some(args)
}

/// The entity types of API keys, which steps create (`key-N`) and leaks name.
const KEY_TYPES: [&str; 2] = [ty::USER_API_KEY, ty::SERVICE_ID_API_KEY];

/// The problems of steps that no state of the run can cure, found before any step runs (`tr`
/// is the world the steps start from): an unknown action, an arg the action does not take, a
/// principal, resource or leaked key of a kind the action does not take, or not in that world
/// when no step can create it (steps create only API keys, as `key-N`); a `now` Cedar cannot
/// read. A step that may fail
/// or not depending on the earlier ones (an id they may delete, a stale etag, a value the
/// operation refuses) is left to run: its `fail` is an outcome.
pub fn check_steps(file: &str, steps: &[Step], tr: &Translation) -> Vec<Problem> {
    let mut p = Vec::new();
    for step in steps {
        let now = match &step.action {
            StepAction::Request(spec) => spec.now.as_deref(),
            StepAction::Leak { now, .. } => now.as_deref(),
        };
        if let Some(Err(e)) = now.map(world::time::parse) {
            p.push(step_problem(file, step, "now", e.to_string()));
        }
        match &step.action {
            StepAction::Request(spec) => check_request(file, step, spec, tr, &mut p),
            StepAction::Leak { key, .. } => {
                if let Err(why) = may_be(tr, key, &KEY_TYPES) {
                    p.push(step_problem(
                        file,
                        step,
                        "key",
                        format!("a leak names an API key; `{key}` {why}"),
                    ));
                }
            }
        }
    }
    p
}

fn step_problem(file: &str, step: &Step, field: &str, message: String) -> Problem {
    Problem::new(
        file,
        step.pos_of(field),
        &format!("{}.{field}", step.field),
        message,
    )
}

fn check_request(
    file: &str,
    step: &Step,
    spec: &RequestSpec,
    tr: &Translation,
    p: &mut Vec<Problem>,
) {
    let Ok(action) = spec.action.parse::<Action>() else {
        p.push(step_problem(
            file,
            step,
            "action",
            format!(
                "unknown action `{}`; actions: {}",
                spec.action,
                actions().collect::<Vec<_>>().join(", ")
            ),
        ));
        return;
    };
    let def = action.def();
    for name in spec.args.keys().filter(|n| def.arg(n).is_none()) {
        let takes: Vec<&str> = def.args.iter().map(|a| a.name).collect();
        let message = if takes.is_empty() {
            format!("{} takes no args, got `{name}`", def.name)
        } else {
            format!(
                "{} takes no arg `{name}`; it takes {}",
                def.name,
                takes.join(", ")
            )
        };
        p.push(step_problem(file, step, &format!("args.{name}"), message));
    }
    // Accounts are never made or removed by a step: an account arg names one of the world.
    for (name, value) in &spec.args {
        if def
            .arg(name)
            .is_some_and(|a| matches!(a.kind, ArgKind::Account))
            && tr.kind(value) != Some(IdKind::Account)
        {
            p.push(step_problem(
                file,
                step,
                &format!("args.{name}"),
                format!("`{value}` is not an account of the world the steps start from"),
            ));
        }
    }
    if let Err(why) = may_be(tr, &spec.principal, def.principal.types) {
        p.push(step_problem(
            file,
            step,
            "principal",
            format!("{}; `{}` {why}", def.principal.wrong, spec.principal),
        ));
    }
    let resource = match (&spec.resource, def.resource_default) {
        (Some(r), _) => r,
        (None, ResourceDefault::Principal) => return,
        (None, ResourceDefault::Required) => {
            p.push(step_problem(
                file,
                step,
                "resource",
                format!("{} needs a resource ({})", def.name, def.noun),
            ));
            return;
        }
    };
    if let Err(why) = may_be(tr, resource, def.resources) {
        p.push(step_problem(
            file,
            step,
            "resource",
            format!("{} acts on {}; `{resource}` {why}", def.name, def.noun),
        ));
    }
}

/// Whether `id` may name an entity of one of `types` at some step: it does in the starting
/// world, or it is an id steps create (`key-N`, an API key) and an API key is wanted.
fn may_be(tr: &Translation, id: &str, types: &[&str]) -> Result<(), String> {
    match (tr.kind(id), tr.entity_type(id)) {
        (Some(_), Some(t)) if types.contains(&t) => Ok(()),
        (Some(k), _) => Err(format!("is a {}", k.noun())),
        (None, _) if created_key_id(id) && types.iter().any(|t| KEY_TYPES.contains(t)) => Ok(()),
        (None, _) => Err(
            "is not in the world the steps start from, and no step creates it (steps create only API keys, `key-N`)"
                .to_string(),
        ),
    }
}

/// An id a step may give a key it creates: `key-N`.
fn created_key_id(id: &str) -> bool {
    id.strip_prefix("key-")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// What one step came to.
#[derive(Debug, Clone)]
pub struct StepResult {
    /// The decision, for a request that could be decided.
    pub decision: Option<Decision>,
    /// The effect, when the request was allowed and carried out, or the event happened.
    pub effect: Option<Effect>,
    /// Why it was not carried out although not denied (bad input, a failed operation).
    pub failure: Option<String>,
}

impl StepResult {
    /// What happened, in the terms of an expectation.
    pub fn got(&self) -> Expect {
        match (&self.effect, &self.decision) {
            (Some(_), _) => Expect::Allow,
            (None, Some(d)) if d.decision == Verdict::Deny => Expect::Deny,
            _ => Expect::Fail,
        }
    }
}

/// A world under change: decides each request with the policies on the current state and
/// carries out what they allow; a new engine is built after every change.
pub struct Runner {
    bundle: PolicyBundle,
    engine: Engine,
    now_override: Option<String>,
    /// The scenario's clock: the last `now` a step set (it applies to later steps too).
    clock: Option<String>,
}

impl Runner {
    /// Start from a validated world; `now_override` is `--now`.
    pub fn new(
        bundle: PolicyBundle,
        world: World,
        now_override: Option<String>,
    ) -> Result<Self, Problems> {
        let mut engine = Engine::new(bundle.clone(), world)?;
        engine.now_override = now_override.clone();
        Ok(Runner {
            bundle,
            engine,
            now_override,
            clock: None,
        })
    }

    /// The current state.
    pub fn world(&self) -> &World {
        &self.engine.tr.world
    }

    /// The engine of the current state.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    fn tick(&mut self, now: &Option<String>) {
        if now.is_some() {
            self.clock = now.clone();
        }
    }

    /// Decide a request and, if allowed, carry it out.
    pub fn request(&mut self, spec: &RequestSpec) -> StepResult {
        self.tick(&spec.now);
        let mut spec = spec.clone();
        spec.now = self.clock.clone();
        let d = match self.engine.decide(&spec) {
            Ok(d) => d,
            Err(p) => {
                return StepResult {
                    decision: None,
                    effect: None,
                    failure: Some(format!("bad input: {p}")),
                };
            }
        };
        if d.decision != Verdict::Allow {
            return StepResult {
                decision: Some(d),
                effect: None,
                failure: None,
            };
        }
        let done = changes::carry_out(self.world(), &d, &spec, &self.bundle.roles);
        self.settle(Some(d), done)
    }

    /// Report a leak of a key (R14).
    pub fn leak(&mut self, key: &str, now: &Option<String>) -> StepResult {
        self.tick(now);
        let done = changes::leak(self.world(), key, &self.bundle.roles);
        self.settle(None, done)
    }

    /// Run one step of a script.
    pub fn step(&mut self, action: &StepAction) -> StepResult {
        match action {
            StepAction::Request(spec) => self.request(spec),
            StepAction::Leak { key, now } => self.leak(key, now),
        }
    }

    fn settle(
        &mut self,
        decision: Option<Decision>,
        done: Result<Effect, changes::Failure>,
    ) -> StepResult {
        let effect = match done {
            Ok(e) => e,
            Err(f) => {
                return StepResult {
                    decision,
                    effect: None,
                    failure: Some(f.to_string()),
                };
            }
        };
        if !effect.changes.is_empty() {
            match Engine::new(self.bundle.clone(), effect.world.clone()) {
                Ok(mut e) => {
                    e.now_override = self.now_override.clone();
                    self.engine = e;
                }
                Err(p) => {
                    return StepResult {
                        decision,
                        effect: None,
                        failure: Some(format!("the changed world cannot be evaluated: {p}")),
                    };
                }
            }
        }
        StepResult {
            decision,
            effect: Some(effect),
            failure: None,
        }
    }
}

/// Whether a step met its expectation (no expectation: anything but a failure).
pub fn met(step: &Step, r: &StepResult) -> bool {
    let outcome = match step.expect {
        Some(e) => e == r.got(),
        None => r.got() != Expect::Fail,
    };
    outcome && why_unmet(step, r).is_empty()
}

/// What of a step's `reasons` and `rules` its decision does not meet.
pub fn why_unmet(step: &Step, r: &StepResult) -> Vec<String> {
    if step.why.is_empty() {
        return Vec::new();
    }
    match &r.decision {
        Some(d) => step.why.unmet(d),
        None => vec![format!(
            "expected a decision{}, but none was made",
            step.why.text()
        )],
    }
}
