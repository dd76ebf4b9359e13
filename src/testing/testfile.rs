//! Decision test files (`keyward test`): their format (docs/test-files.md), located parse
//! errors, and the rewriting of a file's `matrix` blocks for `--update`.
//!
//! Owns reading and writing the files only: it decides nothing (see [`crate::testing::testrun`]).

use crate::decide::engine::Verdict;
use crate::decide::request::{self, RequestSpec};
use crate::evaluator::scenario::{self, ScriptWorld, Step, WhyExpect};
use crate::world::RoleCatalog;
use crate::world::fields::{self, de};
use crate::world::problem::{Problem, Problems};
use crate::world::yaml::{self, Kind, Node, Pos};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A parsed decision test file.
#[derive(Debug, Clone)]
pub struct TestFile {
    /// The path as given, for messages.
    pub file: String,
    pub path: PathBuf,
    /// Its text, kept for `--update`.
    pub source: String,
    pub world: ScriptWorld,
    /// Where `world` is written.
    pub world_pos: Pos,
    /// `policies`, resolved against the file's folder (empty: the shipped base set).
    pub policies: Vec<PathBuf>,
    /// `variant`: names, or folders resolved against the file's folder.
    pub variants: Vec<String>,
    /// `schema`, resolved against the file's folder.
    pub schema: Option<PathBuf>,
    pub now: Option<String>,
    pub checks: Vec<Check>,
    pub matrices: Vec<Matrix>,
    pub scenarios: Vec<ScenarioTest>,
}

/// One request with its expected decision.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: String,
    pub line: usize,
    pub spec: RequestSpec,
    pub expect: Verdict,
    pub why: WhyExpect,
    pub skip: Option<String>,
}

/// A decision table: the allowed requests among principals × actions × resources.
#[derive(Debug, Clone)]
pub struct Matrix {
    pub name: String,
    pub line: usize,
    /// Its index among the file's matrices (for `--update`).
    pub index: usize,
    pub principals: Option<Vec<(String, Pos)>>,
    pub actions: Option<Vec<(String, Pos)>>,
    pub resources: Option<Vec<(String, Pos)>>,
    pub now: Option<String>,
    pub via_trusted_profile: bool,
    pub allow: Vec<AllowEntry>,
    pub skip: Option<String>,
}

/// One `allow` entry of a matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowEntry {
    pub pos: Pos,
    pub principal: String,
    pub action: String,
    pub resource: String,
    /// Args the request must have (it may have more).
    pub args: BTreeMap<String, String>,
}

impl AllowEntry {
    /// Whether a request is one this entry allows.
    pub fn matches(&self, spec: &RequestSpec) -> bool {
        spec.principal == self.principal
            && spec.action == self.action
            && spec.resource.as_deref() == Some(self.resource.as_str())
            && self.args.iter().all(|(k, v)| spec.args.get(k) == Some(v))
    }
}

// Not a TestFile: a scenario may replace the file's world and clock, never its policies or tests.
/// A step sequence with expectations, as in `keyward run`.
#[derive(Debug, Clone)]
pub struct ScenarioTest {
    pub name: String,
    pub line: usize,
    /// Its own world, replacing the file's.
    pub world: Option<ScriptWorld>,
    pub now: Option<String>,
    pub steps: Vec<Step>,
    pub skip: Option<String>,
}

/// A request as one line: `PRINCIPAL ACTION RESOURCE [NAME=VALUE …]` (the `allow` entry form).
/// Secret args (a caller-supplied key value) read `(hidden)`.
pub fn request_line(spec: &RequestSpec) -> String {
    let spec = spec.redacted();
    let mut s = format!(
        "{} {} {}",
        spec.principal,
        spec.action,
        spec.resource.as_deref().unwrap_or("")
    );
    for (k, v) in &spec.args {
        s.push_str(&format!(" {k}={v}"));
    }
    s
}

const FILE_KEYS: &[&str] = &[
    "description",
    "world",
    "policies",
    "variant",
    "schema",
    "now",
    "checks",
    "matrix",
    "scenarios",
];

#[derive(Deserialize)]
#[serde(untagged)]
enum Skip {
    Flag(bool),
    Why(String),
}

fn skip_reason(s: Option<Skip>) -> Option<String> {
    match s {
        None | Some(Skip::Flag(false)) => None,
        Some(Skip::Flag(true)) => Some(String::new()),
        Some(Skip::Why(w)) => Some(w),
    }
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum CheckExpect {
    Allow,
    Deny,
}

// Not scenario's RawRequest: serde's `flatten` would lose `deny_unknown_fields` and its messages.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    #[serde(default)]
    name: Option<String>,
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
    expect: CheckExpect,
    #[serde(default)]
    reasons: Option<Vec<String>>,
    #[serde(default)]
    rules: Option<Vec<String>>,
    #[serde(default)]
    skip: Option<Skip>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatrix {
    #[serde(default)]
    name: Option<String>,
    // The lists are read from the located node, for positions; declared here for the checks.
    #[serde(default)]
    #[allow(dead_code)]
    principals: Option<Vec<String>>,
    #[serde(default)]
    #[allow(dead_code)]
    actions: Option<Vec<String>>,
    #[serde(default)]
    #[allow(dead_code)]
    resources: Option<Vec<String>>,
    #[serde(default)]
    now: Option<String>,
    #[serde(default)]
    via_trusted_profile: bool,
    #[serde(default)]
    #[allow(dead_code)]
    allow: Option<Vec<Value>>,
    #[serde(default)]
    skip: Option<Skip>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    principal: String,
    action: String,
    resource: String,
    #[serde(default)]
    args: BTreeMap<String, Value>,
}

/// Read and parse a test file; every problem is located (file:line:column, field).
pub fn load(path: &Path, roles: &RoleCatalog) -> Result<TestFile, Problems> {
    let (file, src) = crate::world::problem::read_input(path)?;
    parse(&file, path, &src, roles)
}

/// The `policies`, `variant` and `schema` of a test file, resolved against its folder.
#[derive(Debug, Clone, Default)]
pub struct PolicyFields {
    pub policies: Vec<PathBuf>,
    pub variants: Vec<String>,
    pub schema: Option<PathBuf>,
    /// The file, as problems name it.
    pub file: String,
    /// Where each entry is written: its field path (`policies`, `variant[1]`, `schema`) and
    /// position, by list (`policies`, `variant`, `schema`) in the order of the entries.
    pub at: BTreeMap<&'static str, Vec<(String, Pos)>>,
}

/// The `policies`, `variant` and `schema` a file names, without parsing the rest (they decide
/// which schema, hence which roles, the world is read with).
pub fn policy_fields(path: &Path) -> Result<PolicyFields, Problems> {
    let (file, src) = crate::world::problem::read_input(path)?;
    let root = parse_yaml(&file, &src)?;
    let mut p = Vec::new();
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut fields = read_policy_fields(&file, &root, &dir, &mut p);
    fields.file = file;
    if p.is_empty() {
        Ok(fields)
    } else {
        Err(Problems(p))
    }
}

fn parse_yaml(file: &str, src: &str) -> Result<Node, Problems> {
    let root = fields::parse_located(file, src)?;
    if !matches!(root.kind, Kind::Map(_)) {
        return Err(Problems::one(Problem::new(
            file,
            root.pos,
            "",
            "a test file is a mapping with `world` and `checks`, `matrix` or `scenarios`",
        )));
    }
    Ok(root)
}

/// A string or a list of strings.
fn strings(file: &str, node: &Node, field: &str, p: &mut Vec<Problem>) -> Vec<(String, Pos)> {
    match &node.kind {
        Kind::Scalar(Value::String(s)) => vec![(s.clone(), node.pos)],
        Kind::Seq(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, n)| match &n.kind {
                Kind::Scalar(Value::String(s)) => Some((s.clone(), n.pos)),
                _ => {
                    p.push(Problem::new(
                        file,
                        n.pos,
                        &format!("{field}[{i}]"),
                        "expected a string",
                    ));
                    None
                }
            })
            .collect(),
        _ => {
            p.push(Problem::new(
                file,
                node.pos,
                field,
                "expected a string or a list of strings",
            ));
            Vec::new()
        }
    }
}

fn read_policy_fields(file: &str, root: &Node, dir: &Path, p: &mut Vec<Problem>) -> PolicyFields {
    let mut at: BTreeMap<&'static str, Vec<(String, Pos)>> = BTreeMap::new();
    let mut list = |key: &'static str, p: &mut Vec<Problem>| -> Vec<String> {
        let Some(n) = root.get(key) else {
            return Vec::new();
        };
        let items = strings(file, n, key, p);
        let scalar = !matches!(n.kind, Kind::Seq(_));
        let entry = at.entry(key).or_default();
        for (i, (_, pos)) in items.iter().enumerate() {
            let field = if scalar {
                key.to_string()
            } else {
                format!("{key}[{i}]")
            };
            entry.push((field, *pos));
        }
        items.into_iter().map(|(s, _)| s).collect()
    };
    let policies = list("policies", p)
        .into_iter()
        .map(|s| dir.join(s))
        .collect();
    let variants = list("variant", p)
        .into_iter()
        .map(|s| {
            // A folder beside the file; otherwise a name, looked up as `--variant` is.
            let local = dir.join(&s);
            if s.contains('/') && local.is_dir() {
                local.display().to_string()
            } else {
                s
            }
        })
        .collect();
    let schema = match root.get("schema") {
        None => None,
        Some(n) => match &n.kind {
            Kind::Scalar(Value::String(s)) => {
                at.insert("schema", vec![("schema".to_string(), n.pos)]);
                Some(dir.join(s))
            }
            _ => {
                p.push(Problem::new(
                    file,
                    n.pos,
                    "schema",
                    "expected a path (relative to the test file)",
                ));
                None
            }
        },
    };
    PolicyFields {
        policies,
        variants,
        schema,
        file: file.to_string(),
        at,
    }
}

/// A `now` (at `field` of `node`, if written) must be a timestamp Cedar reads, or every
/// decision at it would be refused.
fn check_now(
    file: &str,
    node: &Node,
    key: &str,
    field: &str,
    now: Option<&str>,
    p: &mut Vec<Problem>,
) {
    if let Some(Err(e)) = now.map(crate::world::time::parse) {
        p.push(Problem::new(
            file,
            node.get(key).map_or(node.pos, |n| n.pos),
            field,
            e.to_string(),
        ));
    }
}

fn check_action(file: &str, action: &str, pos: Pos, field: &str, p: &mut Vec<Problem>) {
    if !request::actions().any(|a| a == action) {
        p.push(Problem::new(
            file,
            pos,
            field,
            format!(
                "unknown action `{action}`; the actions are {}",
                request::actions().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
}

/// Parse a test file from text; `path` names it and resolves its relative paths.
pub fn parse(
    file: &str,
    path: &Path,
    src: &str,
    roles: &RoleCatalog,
) -> Result<TestFile, Problems> {
    let root = parse_yaml(file, src)?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut p = Vec::new();
    fields::unknown_keys(file, &root, FILE_KEYS, "field", &mut p);
    let PolicyFields {
        policies,
        variants,
        schema,
        ..
    } = read_policy_fields(file, &root, &dir, &mut p);
    let world = match root.get("world") {
        None => {
            p.push(Problem::new(
                file,
                root.pos,
                "world",
                "a test file needs `world`: a path (relative to the test file) or a world written inline",
            ));
            ScriptWorld::Missing
        }
        Some(n) => scenario::world_field(file, n, "world", &dir, roles, &mut p),
    };
    let now = match root.get("now") {
        None => None,
        Some(n) => match &n.kind {
            Kind::Scalar(Value::String(s)) => {
                check_now(file, &root, "now", "now", Some(s), &mut p);
                Some(s.clone())
            }
            _ => {
                p.push(Problem::new(
                    file,
                    n.pos,
                    "now",
                    "expected an RFC 3339 timestamp in quotes, e.g. \"2026-11-23T12:00:00Z\"",
                ));
                None
            }
        },
    };
    let checks = root
        .get("checks")
        .map(|n| parse_checks(file, n, &mut p))
        .unwrap_or_default();
    let matrices = root
        .get("matrix")
        .map(|n| parse_matrices(file, n, &mut p))
        .unwrap_or_default();
    let scenarios = root
        .get("scenarios")
        .map(|n| parse_scenarios(file, n, &dir, roles, &mut p))
        .unwrap_or_default();
    if ["checks", "matrix", "scenarios"]
        .iter()
        .all(|k| root.get(k).is_none())
    {
        p.push(Problem::new(
            file,
            root.pos,
            "checks",
            "a test file needs `checks`, `matrix` or `scenarios`",
        ));
    }
    if p.is_empty() {
        Ok(TestFile {
            file: file.to_string(),
            path: path.to_path_buf(),
            source: src.to_string(),
            world,
            world_pos: root.key_pos("world").unwrap_or(root.pos),
            policies,
            variants,
            schema,
            now,
            checks,
            matrices,
            scenarios,
        })
    } else {
        p.sort_by_key(|a| a.pos);
        p.dedup();
        Err(Problems(p))
    }
}

fn parse_checks(file: &str, node: &Node, p: &mut Vec<Problem>) -> Vec<Check> {
    let mut out = Vec::new();
    for (field, item) in scenario::mapping_items(
        file,
        node,
        "checks",
        "a check is a mapping: {principal, action, resource, args, expect: allow|deny, …}",
        p,
    ) {
        let Some(r) = de::<RawCheck>(file, item, &field, p) else {
            continue;
        };
        check_action(
            file,
            &r.action,
            item.locate("action"),
            &format!("{field}.action"),
            p,
        );
        check_now(
            file,
            item,
            "now",
            &format!("{field}.now"),
            r.now.as_deref(),
            p,
        );
        let Some(args) = scenario::args_of(file, item, &field, r.args, p) else {
            continue;
        };
        let spec = RequestSpec {
            principal: r.principal,
            action: r.action,
            resource: r.resource,
            args,
            via_trusted_profile: r.via_trusted_profile,
            now: r.now,
        };
        out.push(Check {
            name: r.name.unwrap_or_else(|| request_line(&spec)),
            line: item.pos.line,
            spec,
            expect: match r.expect {
                CheckExpect::Allow => Verdict::Allow,
                CheckExpect::Deny => Verdict::Deny,
            },
            why: WhyExpect {
                reasons: r.reasons,
                rules: r.rules,
            },
            skip: skip_reason(r.skip),
        });
    }
    out
}

/// The matrix nodes of a file's `matrix` field: one mapping or a list of them.
pub fn matrix_nodes(node: &Node) -> Vec<&Node> {
    match &node.kind {
        Kind::Seq(items) => items.iter().collect(),
        _ => vec![node],
    }
}

fn parse_entry(file: &str, node: &Node, field: &str, p: &mut Vec<Problem>) -> Option<AllowEntry> {
    match &node.kind {
        Kind::Scalar(Value::String(s)) => {
            let words: Vec<&str> = s.split_whitespace().collect();
            if words.len() < 3 {
                p.push(Problem::new(
                    file,
                    node.pos,
                    field,
                    format!("`{s}`: expected \"PRINCIPAL ACTION RESOURCE [NAME=VALUE ...]\""),
                ));
                return None;
            }
            let mut args = BTreeMap::new();
            for w in &words[3..] {
                match w.split_once('=') {
                    Some((k, v)) if !k.is_empty() => {
                        args.insert(k.to_string(), v.to_string());
                    }
                    _ => {
                        p.push(Problem::new(
                            file,
                            node.pos,
                            field,
                            format!("`{w}`: an arg after the resource is NAME=VALUE"),
                        ));
                        return None;
                    }
                }
            }
            Some(AllowEntry {
                pos: node.pos,
                principal: words[0].to_string(),
                action: words[1].to_string(),
                resource: words[2].to_string(),
                args,
            })
        }
        Kind::Map(_) => {
            let r = de::<RawEntry>(file, node, field, p)?;
            let args = scenario::args_of(file, node, field, r.args, p)?;
            Some(AllowEntry {
                pos: node.pos,
                principal: r.principal,
                action: r.action,
                resource: r.resource,
                args,
            })
        }
        _ => {
            p.push(Problem::new(
                file,
                node.pos,
                field,
                "an allow entry is \"PRINCIPAL ACTION RESOURCE [NAME=VALUE ...]\" or {principal, action, resource, args}",
            ));
            None
        }
    }
}

fn located(
    file: &str,
    node: &Node,
    field: &str,
    p: &mut Vec<Problem>,
) -> Option<Vec<(String, Pos)>> {
    node.get(field).map(|n| strings(file, n, field, p))
}

fn parse_matrices(file: &str, node: &Node, p: &mut Vec<Problem>) -> Vec<Matrix> {
    let mut out = Vec::new();
    let single = !matches!(node.kind, Kind::Seq(_));
    for (i, item) in matrix_nodes(node).into_iter().enumerate() {
        let field = if single {
            "matrix".to_string()
        } else {
            format!("matrix[{i}]")
        };
        if !matches!(item.kind, Kind::Map(_)) {
            p.push(Problem::new(
                file,
                item.pos,
                &field,
                "a matrix is a mapping: {principals, actions, resources, allow: [...]}",
            ));
            continue;
        }
        let Some(r) = de::<RawMatrix>(file, item, &field, p) else {
            continue;
        };
        let actions = located(file, item, "actions", p);
        for (a, pos) in actions.iter().flatten() {
            check_action(file, a, *pos, &format!("{field}.actions"), p);
        }
        let mut allow = Vec::new();
        if let Some(Kind::Seq(entries)) = item.get("allow").map(|n| &n.kind) {
            for (j, e) in entries.iter().enumerate() {
                if let Some(entry) = parse_entry(file, e, &format!("{field}.allow[{j}]"), p) {
                    allow.push(entry);
                }
            }
        }
        out.push(Matrix {
            name: r.name.unwrap_or_else(|| field.clone()),
            line: item.pos.line,
            index: i,
            principals: located(file, item, "principals", p),
            actions,
            resources: located(file, item, "resources", p),
            now: {
                check_now(
                    file,
                    item,
                    "now",
                    &format!("{field}.now"),
                    r.now.as_deref(),
                    p,
                );
                r.now
            },
            via_trusted_profile: r.via_trusted_profile,
            allow,
            skip: skip_reason(r.skip),
        });
    }
    out
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    #[allow(dead_code)] // read from the located node
    world: Option<Value>,
    #[serde(default)]
    now: Option<String>,
    #[allow(dead_code)] // read from the located node
    steps: Value,
    #[serde(default)]
    skip: Option<Skip>,
}

fn parse_scenarios(
    file: &str,
    node: &Node,
    dir: &Path,
    roles: &RoleCatalog,
    p: &mut Vec<Problem>,
) -> Vec<ScenarioTest> {
    let mut out = Vec::new();
    for (field, item) in scenario::mapping_items(
        file,
        node,
        "scenarios",
        "a scenario is a mapping: {name, steps: [...]}",
        p,
    ) {
        let Some(r) = de::<RawScenario>(file, item, &field, p) else {
            continue;
        };
        let world = item
            .get("world")
            .map(|n| scenario::world_field(file, n, &format!("{field}.world"), dir, roles, p));
        let steps = item
            .get("steps")
            .map(|n| scenario::parse_steps(file, n, &format!("{field}.steps"), p))
            .unwrap_or_default();
        for s in &steps {
            if let scenario::StepAction::Request(spec) = &s.action {
                check_action(
                    file,
                    &spec.action,
                    s.pos_of("action"),
                    &format!("{}.action", s.field),
                    p,
                );
            }
        }
        check_now(
            file,
            item,
            "now",
            &format!("{field}.now"),
            r.now.as_deref(),
            p,
        );
        out.push(ScenarioTest {
            name: r.name.unwrap_or_else(|| field.clone()),
            line: item.pos.line,
            world,
            now: r.now,
            steps,
            skip: skip_reason(r.skip),
        });
    }
    out
}

/// Quote an allow line for YAML when it is not a plain scalar as it stands.
fn yaml_scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || " ._/=@-+".contains(c))
        && !s.starts_with(['-', ' ', '@'])
        && !s.ends_with(' ');
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
    }
}

/// The `allow:` block for these lines, indented by `indent` spaces.
fn allow_block(indent: usize, lines: &[String]) -> Vec<String> {
    let pad = " ".repeat(indent);
    if lines.is_empty() {
        return vec![format!("{pad}allow: []")];
    }
    let mut out = vec![format!("{pad}allow:")];
    out.extend(lines.iter().map(|l| format!("{pad}  - {}", yaml_scalar(l))));
    out
}

/// The file's text with the `allow` of each given matrix (by index) replaced by these lines;
/// everything else, comments included, is kept. Refuses a matrix written in flow style.
pub fn rewrite_matrices(
    tf: &TestFile,
    new_allow: &BTreeMap<usize, Vec<String>>,
) -> Result<String, String> {
    let root = yaml::parse(&tf.source).map_err(|e| e.message)?;
    let Some(mnode) = root.get("matrix") else {
        return Err("the file has no `matrix`".into());
    };
    let mut text: Vec<String> = tf.source.lines().map(str::to_string).collect();
    // Only indentation and sequence dashes may stand before a key of a block mapping.
    let block_key = |pos: Pos| {
        text.get(pos.line - 1)
            .is_some_and(|l| l.chars().take(pos.col - 1).all(|c| c == ' ' || c == '-'))
    };
    // (first line replaced, lines replaced, new lines), 1-based.
    let mut edits: Vec<(usize, usize, Vec<String>)> = Vec::new();
    for (i, m) in matrix_nodes(mnode).into_iter().enumerate() {
        let Some(lines) = new_allow.get(&i) else {
            continue;
        };
        let Kind::Map(entries) = &m.kind else {
            return Err(format!("matrix {i} is not a mapping"));
        };
        let Some((_, first_key, _)) = entries.first() else {
            return Err(format!("matrix {i} is empty"));
        };
        if !block_key(*first_key) {
            return Err(format!(
                "matrix {i} (line {}) is written in flow style {{...}}; write it in block style to update it",
                first_key.line
            ));
        }
        let indent = first_key.col - 1;
        match (m.key_pos("allow"), m.get("allow")) {
            (Some(kp), Some(v)) => {
                if !block_key(kp) {
                    return Err(format!(
                        "matrix {i}: its `allow` (line {}) does not start a line",
                        kp.line
                    ));
                }
                let mut last = v.lines().into_iter().max().unwrap_or(kp.line).max(kp.line);
                // A flow list may close on a line of its own.
                let flow = text
                    .get(kp.line - 1)
                    .and_then(|l| l.get(kp.col - 1..))
                    .and_then(|l| l.split_once(':'))
                    .is_some_and(|(_, rest)| rest.trim_start().starts_with('['));
                if flow {
                    while last <= text.len() && !text[last - 1].contains(']') {
                        last += 1;
                    }
                }
                edits.push((kp.line, last - kp.line + 1, allow_block(indent, lines)));
            }
            _ => {
                let last = m.lines().into_iter().max().unwrap_or(m.pos.line);
                edits.push((last + 1, 0, allow_block(indent, lines)));
            }
        }
    }
    edits.sort_by_key(|e| std::cmp::Reverse(e.0));
    for (start, count, block) in edits {
        let from = (start - 1).min(text.len());
        let to = (from + count).min(text.len());
        text.splice(from..to, block);
    }
    let mut out = text.join("\n");
    out.push('\n');
    Ok(out)
}
