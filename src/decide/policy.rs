//! Loading the policy set and the schema: the shipped ones (embedded in the binary) or the
//! user's (`--policies`, `--variant`, `--schema`), re-identified by `@id`, validated strictly,
//! with every problem located in its file. Also reads the service and role names the schema
//! declares ([`RoleCatalog`]), so that worlds are checked against the schema, not against Rust.
//!
//! Owns where policies come from and what they say about themselves (id, rules, doc). It must
//! not evaluate requests (see `engine.rs`).

use crate::world::RoleCatalog;
use crate::world::problem::{Problem, Problems};
use crate::world::yaml::Pos;
use cedar_policy::{
    Effect, Policy, PolicyId, PolicySet, Schema, SchemaFragment, ValidationMode, Validator,
};
use miette::Diagnostic;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// A source file of policies or schema: its display name and text.
#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub text: String,
}

/// What a policy says about itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PolicyInfo {
    pub id: String,
    /// Rule ids from `@rule("R6,R2")`.
    pub rules: Vec<String>,
    pub doc: String,
    /// `permit` or `forbid` (serialized as those words).
    pub effect: Effect,
    pub file: String,
    pub line: usize,
}

/// A loaded, validated policy set with its schema.
#[derive(Debug, Clone)]
pub struct PolicyBundle {
    pub schema: Schema,
    pub schema_source: Source,
    pub policies: PolicySet,
    pub info: BTreeMap<String, PolicyInfo>,
    pub roles: RoleCatalog,
    /// The policy files, in load order (for `export --policies-out`).
    pub sources: Vec<Source>,
    /// Validation warnings (not errors), located.
    pub warnings: Vec<Problem>,
}

/// Where to take policies and schema from.
#[derive(Debug, Clone, Default)]
pub struct PolicyOptions {
    /// `--policies`: files or folders; empty means the shipped base set.
    pub policies: Vec<PathBuf>,
    /// `--variant`: names (or folders) added to what is loaded.
    pub variants: Vec<String>,
    /// `--schema`: a schema file instead of the shipped one.
    pub schema: Option<PathBuf>,
}

/// The names of the shipped variants.
pub fn shipped_variants() -> BTreeSet<&'static str> {
    embedded::VARIANTS.iter().map(|(n, _, _)| *n).collect()
}

fn read(path: &Path) -> Result<Source, Problem> {
    std::fs::read_to_string(path)
        .map(|text| Source {
            name: path.display().to_string(),
            text,
        })
        .map_err(|e| {
            Problem::new(
                &path.display().to_string(),
                Pos::default(),
                "",
                format!("cannot read: {e}"),
            )
        })
}

/// The `.cedar` files directly in a folder, sorted; or the file itself.
fn cedar_sources(path: &Path, flag: &str) -> Result<Vec<Source>, Problem> {
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| Problem::arg(flag, format!("cannot read folder {}: {e}", path.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "cedar"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(Problem::arg(
                flag,
                format!("no .cedar files in {}", path.display()),
            ));
        }
        files.iter().map(|f| read(f)).collect()
    } else if path.is_file() {
        Ok(vec![read(path)?])
    } else {
        Err(Problem::arg(
            flag,
            format!("{} does not exist", path.display()),
        ))
    }
}

/// Gather the policy sources the options name.
pub fn gather_sources(opts: &PolicyOptions) -> Result<(Source, Vec<Source>), Problems> {
    let mut problems = Vec::new();
    let schema = match &opts.schema {
        Some(p) => read(p).unwrap_or_else(|e| {
            problems.push(e);
            Source {
                name: p.display().to_string(),
                text: String::new(),
            }
        }),
        None => Source {
            name: embedded::SCHEMA.0.to_string(),
            text: embedded::SCHEMA.1.to_string(),
        },
    };
    let mut sources = Vec::new();
    if opts.policies.is_empty() {
        sources.extend(embedded::POLICIES.iter().map(|(n, t)| Source {
            name: n.to_string(),
            text: t.to_string(),
        }));
    } else {
        for p in &opts.policies {
            match cedar_sources(p, "--policies") {
                Ok(s) => sources.extend(s),
                Err(e) => problems.push(e),
            }
        }
    }
    for v in &opts.variants {
        // A variant next to a --policies folder wins (so edits there need no rebuild), then a
        // folder given as a path, then the shipped one.
        let beside = opts
            .policies
            .iter()
            .filter(|p| p.is_dir())
            .map(|p| p.join("variants").join(v))
            .find(|p| p.is_dir());
        let as_path = Path::new(v);
        if let Some(dir) = beside {
            match cedar_sources(&dir, "--variant") {
                Ok(s) => sources.extend(s),
                Err(e) => problems.push(e),
            }
        } else if shipped_variants().contains(v.as_str()) {
            sources.extend(embedded::VARIANTS.iter().filter(|(n, _, _)| n == v).map(
                |(_, f, t)| Source {
                    name: f.to_string(),
                    text: t.to_string(),
                },
            ));
        } else if as_path.is_dir() {
            match cedar_sources(as_path, "--variant") {
                Ok(s) => sources.extend(s),
                Err(e) => problems.push(e),
            }
        } else {
            problems.push(Problem::arg(
                "--variant",
                format!(
                    "unknown variant `{v}`; shipped variants: {} (or give a folder)",
                    shipped_variants()
                        .into_iter()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    if problems.is_empty() {
        Ok((schema, sources))
    } else {
        Err(Problems(problems))
    }
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> Pos {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(offset, |n| offset - n - 1) + 1;
    Pos { line, col }
}

/// Located problems from a miette diagnostic about `source`.
fn diag_problems(source: &Source, d: &dyn Diagnostic, prefix: &str) -> Vec<Problem> {
    let mut msg = format!("{prefix}{d}");
    if let Some(help) = d.help() {
        msg.push_str(&format!(" (help: {help})"));
    }
    let labels: Vec<_> = d.labels().map(|l| l.collect()).unwrap_or_default();
    let mut related: Vec<Problem> = Vec::new();
    if let Some(rel) = d.related() {
        for r in rel {
            related.extend(diag_problems(source, r, prefix));
        }
    }
    if !related.is_empty() {
        return related;
    }
    let pos = labels
        .first()
        .map(|l: &miette::LabeledSpan| line_col(&source.text, l.offset()))
        .unwrap_or(Pos { line: 1, col: 1 });
    vec![Problem::new(&source.name, pos, "", msg)]
}

/// The offset of the next `permit`/`forbid` at the start of a line,
/// at or after `from`.
fn next_policy_start(text: &str, from: usize) -> usize {
    let mut off = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim_start();
        if off + line.len() > from && (t.starts_with("permit") || t.starts_with("forbid")) {
            let start = off + (line.len() - t.len());
            if start >= from {
                return start;
            }
        }
        off += line.len();
    }
    from.min(text.len())
}

/// Just past the `;` that ends the policy starting at `start` (a good approximation: a `;`
/// inside a string of the policy would end it early).
fn policy_end(text: &str, start: usize) -> usize {
    let body = ["permit", "forbid"]
        .iter()
        .filter_map(|k| text[start..].find(k))
        .min()
        .map_or(start, |o| start + o);
    text[body..].find(';').map_or(text.len(), |o| body + o + 1)
}

fn annotation_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(String::from)
        .collect()
}

/// The located problems that keep `source` from parsing as Cedar policies (too deep, or a
/// syntax error), before any schema is consulted: for tools that only read policy text
/// (`keyward fmt`).
pub fn syntax_problems(source: &Source) -> Vec<Problem> {
    if let Some(p) = nesting_problem(source, false) {
        return vec![p];
    }
    match PolicySet::from_str(&source.text) {
        Ok(_) => Vec::new(),
        Err(e) => diag_problems(source, &e, "cannot parse: "),
    }
}

/// Parse, re-identify and validate policies against a schema.
pub fn load(opts: &PolicyOptions) -> Result<PolicyBundle, Problems> {
    let (schema_source, sources) = gather_sources(opts)?;
    build(schema_source, sources)
}

/// Build a bundle from sources already read.
pub fn build(schema_source: Source, sources: Vec<Source>) -> Result<PolicyBundle, Problems> {
    let (schema, roles) = parse_schema(&schema_source)?;
    let mut read = Reader::default();
    for (si, source) in sources.iter().enumerate() {
        read.file(si, source);
    }
    if !read.problems.is_empty() {
        return Err(Problems(read.problems));
    }
    let warnings = validate(&schema, &read, &sources)?;
    Ok(PolicyBundle {
        schema,
        schema_source,
        policies: read.policies,
        info: read.info,
        roles,
        sources,
        warnings,
    })
}

/// The policies of the sources read so far, re-identified by `@id`, and what went wrong.
#[derive(Default)]
struct Reader {
    policies: PolicySet,
    info: BTreeMap<String, PolicyInfo>,
    /// Which source each policy id came from, to locate validation errors.
    origin: BTreeMap<String, usize>,
    problems: Vec<Problem>,
}

impl Reader {
    /// Every policy of the source at index `si`.
    fn file(&mut self, si: usize, source: &Source) {
        if let Some(p) = nesting_problem(source, false) {
            self.problems.push(p);
            return;
        }
        let set = match PolicySet::from_str(&source.text) {
            Ok(s) => s,
            Err(e) => {
                self.problems
                    .extend(diag_problems(source, &e, "cannot parse: "));
                return;
            }
        };
        if set.num_of_templates() > 0 {
            self.problems.push(Problem::new(
                &source.name,
                Pos { line: 1, col: 1 },
                "",
                "templates (?principal / ?resource) are not supported",
            ));
        }
        // `from_str` names policies policy0, policy1, ... in file order; iteration order is
        // not file order. Each policy is then located by searching forward from the previous
        // one, so repeated texts (two `permit (`, a duplicated @id) land on the right line.
        let mut in_file: Vec<_> = set.policies().collect();
        in_file.sort_by_key(|p| {
            p.id()
                .to_string()
                .trim_start_matches("policy")
                .parse::<usize>()
                .unwrap_or(usize::MAX)
        });
        let mut cursor = 0;
        for p in in_file {
            cursor = self.policy(si, source, p, cursor);
        }
    }

    /// One policy, found at or after `cursor` in its source; returns where the next one is
    /// searched from.
    fn policy(&mut self, si: usize, source: &Source, p: &Policy, cursor: usize) -> usize {
        let Some(id) = p.annotation("id").map(str::to_string) else {
            let off = next_policy_start(&source.text, cursor);
            self.problems.push(Problem::new(
                &source.name,
                line_col(&source.text, off),
                "@id",
                "every policy needs an @id(\"...\") annotation",
            ));
            return policy_end(&source.text, off);
        };
        // The id as written, else (an id with escapes) the next `@id(`, else the policy.
        let rest = &source.text[cursor.min(source.text.len())..];
        let off = rest
            .find(&format!("@id(\"{id}\")"))
            .or_else(|| rest.find("@id("))
            .map(|o| o + cursor)
            .unwrap_or_else(|| next_policy_start(&source.text, cursor));
        let next = policy_end(&source.text, off);
        let pos = line_col(&source.text, off);
        if let Some(why) = bad_policy_id(&id) {
            self.problems.push(Problem::new(
                &source.name,
                pos,
                "@id",
                format!("policy id {:?} {why}", id),
            ));
            return next;
        }
        if let Some(prev) = self.info.get(&id) {
            self.problems.push(Problem::new(
                &source.name,
                pos,
                "@id",
                format!(
                    "duplicate policy id `{id}` (first in {}:{})",
                    prev.file, prev.line
                ),
            ));
            return next;
        }
        if let Err(e) = self.policies.add(p.new_id(PolicyId::new(&id))) {
            self.problems
                .push(Problem::new(&source.name, pos, "@id", format!("{e}")));
            return next;
        }
        self.origin.insert(id.clone(), si);
        let info = PolicyInfo {
            id: id.clone(),
            rules: p
                .annotation("rule")
                .map(annotation_list)
                .unwrap_or_default(),
            doc: p.annotation("doc").unwrap_or("").to_string(),
            effect: p.effect(),
            file: source.name.clone(),
            line: pos.line,
        };
        self.info.insert(id, info);
        next
    }
}

/// Why a policy id is not usable, or `None`: an id is what reasons, coverage and reports show,
/// so it must be non-empty, printable (no control, formatting or line-separator characters, no
/// leading or trailing space) and say something (not only spaces).
fn bad_policy_id(id: &str) -> Option<&'static str> {
    if id.trim().is_empty() {
        Some("is empty or only spaces: every policy needs a non-empty @id")
    } else if id.chars().any(unprintable) {
        Some("has an unprintable character: an @id is printable text")
    } else if id.trim() != id {
        Some("starts or ends with a space")
    } else {
        None
    }
}

/// Characters that do not print as themselves: controls (C0, DEL, C1), Unicode format
/// characters (zero-width, bidirectional overrides, BOM, tags) and line/paragraph separators.
fn unprintable(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{AD}' | '\u{600}'..='\u{605}' | '\u{61C}' | '\u{6DD}' | '\u{70F}' | '\u{180E}'
            | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{206F}'
            | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}' | '\u{E0001}' | '\u{E0020}'..='\u{E007F}')
}

/// Validate strictly against the schema: the errors, located, or the warnings, located.
fn validate(schema: &Schema, read: &Reader, sources: &[Source]) -> Result<Vec<Problem>, Problems> {
    let result = Validator::new(schema.clone()).validate(&read.policies, ValidationMode::Strict);
    let located = |pid: &PolicyId, d: &dyn Diagnostic, prefix: String| -> Vec<Problem> {
        match read.origin.get(pid.to_string().as_str()) {
            Some(&i) => diag_problems(&sources[i], d, &prefix),
            None => vec![Problem::new("", Pos::default(), "", format!("{d}"))],
        }
    };
    let mut problems = Vec::new();
    for e in result.validation_errors() {
        let prefix = format!("policy `{}` does not validate: ", e.policy_id());
        problems.extend(located(e.policy_id(), e, prefix));
    }
    if !problems.is_empty() {
        return Err(Problems(problems));
    }
    let mut warnings = Vec::new();
    for w in result.validation_warnings() {
        let prefix = format!("policy `{}`: ", w.policy_id());
        warnings.extend(located(w.policy_id(), w, prefix));
    }
    Ok(warnings)
}

/// Parse the schema and read its role catalogue (`type Roles`).
fn parse_schema(source: &Source) -> Result<(Schema, RoleCatalog), Problems> {
    if let Some(p) = nesting_problem(source, true) {
        return Err(Problems::one(p));
    }
    let (fragment, _warnings) = SchemaFragment::from_cedarschema_str(&source.text)
        .map_err(|e| Problems(diag_problems(source, &e, "cannot parse schema: ")))?;
    let json = fragment.to_json_value().map_err(|e| {
        Problems::one(Problem::new(
            &source.name,
            Pos { line: 1, col: 1 },
            "",
            format!("cannot read schema: {e}"),
        ))
    })?;
    let schema = Schema::from_schema_fragments([SchemaFragment::from_json_value(json.clone())
        .map_err(|e| {
            Problems::one(Problem::new(
                &source.name,
                Pos { line: 1, col: 1 },
                "",
                format!("invalid schema: {e}"),
            ))
        })?])
    .map_err(|e| Problems(diag_problems(source, &e, "invalid schema: ")))?;
    let roles = role_catalog(&json).ok_or_else(|| {
        Problems::one(Problem::new(
            &source.name,
            Pos { line: 1, col: 1 },
            "type Roles",
            "the schema must declare `type Roles = { \"<service>\": { \"<role>\": Set<Grant>, ... }, ... }`: keyward reads the services and roles of world files from it",
        ))
    })?;
    Ok((schema, roles))
}

/// The deepest nesting of `if … then … else …` in a policy that keyward partially evaluates
/// (the audit, the explanation's ruled-out permits, and the choice of the policies a request
/// is evaluated on). Cedar 4.14's typechecker, when it knows an `if`'s test (`if true then …`,
/// `if principal has key_count then …` with a required attribute), puts a shared copy of the
/// branch taken in place of the other, and its partial evaluator (`PolicySet::tpe`) expands
/// the copies: its work doubles with every such level (measured: 16 levels 60 MB, 20 levels
/// 0.7 s and 600 MB, 25 out of memory). A policy nesting deeper is decided by Cedar's plain
/// evaluation, which is linear: the same answers, without the shortcut.
pub const MAX_PARTIAL_IF_NESTING: usize = 8;

/// How deeply `if … then … else …` nests in a policy (0: no `if`), read from Cedar's JSON
/// form of it; `usize::MAX` if Cedar cannot give that form.
pub fn if_nesting(p: &Policy) -> usize {
    fn depth(v: &serde_json::Value) -> usize {
        match v {
            serde_json::Value::Object(m) => m
                .iter()
                .map(|(k, v)| depth(v) + usize::from(k == "if-then-else"))
                .max()
                .unwrap_or(0),
            serde_json::Value::Array(a) => a.iter().map(depth).max().unwrap_or(0),
            _ => 0,
        }
    }
    p.to_json().map_or(usize::MAX, |j| depth(&j))
}

/// The deepest nesting keyward hands to Cedar, in a policy file or the schema. Cedar's parser
/// and evaluator recurse once per level and abort the process on a stack overflow (from ~450
/// parentheses, brackets or braces in a policy, ~1,900 nested records in a schema); real
/// policies nest a few levels. Counted by `nesting_problem`.
pub const MAX_NESTING: usize = 64;

/// A located problem if `source` nests deeper than [`MAX_NESTING`], found by a lexical scan
/// outside strings and `//` comments, before Cedar parses it. A level is an open `(`, `[` or `{`
/// (and `<` in a schema, for `Set<…>`), an `if` not yet closed by its enclosing bracket or the
/// policy's `;`, or one more `!`/`-` in a run of them; so nested `if … then … else` and chains of
/// unary operators count, as they recurse in Cedar too. Conservative: `if`s side by side in one
/// bracket also add up.
fn nesting_problem(source: &Source, schema: bool) -> Option<Problem> {
    let b = source.text.as_bytes();
    // Per open bracket (and the policy's top level): the `if`s opened inside it.
    let mut ifs: Vec<usize> = vec![0];
    let (mut if_total, mut unary, mut i) = (0usize, 0usize, 0usize);
    while i < b.len() {
        let c = b[i];
        let at = i;
        i += 1;
        match c {
            b'"' => {
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'/' if b.get(i) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'(' | b'[' | b'{' => ifs.push(0),
            b'<' if schema => ifs.push(0),
            b')' | b']' | b'}' | b'>' if ifs.len() > 1 && (schema || c != b'>') => {
                if_total -= ifs.pop().unwrap_or(0);
            }
            b';' if ifs.len() == 1 => {
                if_total -= ifs[0];
                ifs[0] = 0;
            }
            b'!' | b'-' => unary += 1,
            c if c.is_ascii_alphanumeric() || c == b'_' => {
                let start = at;
                // A whole word: `if` is a keyword only on its own.
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                if &b[start..i] == b"if" {
                    if let Some(top) = ifs.last_mut() {
                        *top += 1;
                    }
                    if_total += 1;
                }
            }
            _ => {}
        }
        if !matches!(c, b'!' | b'-') && !c.is_ascii_whitespace() {
            unary = 0;
        }
        let depth = ifs.len() - 1 + if_total + unary;
        if depth > MAX_NESTING {
            return Some(Problem::new(
                &source.name,
                line_col(&source.text, at),
                "",
                format!(
                    "nested deeper than {MAX_NESTING} levels (brackets, `if`s and runs of `!`/`-` \
                     count): keyward refuses it before Cedar parses it"
                ),
            ));
        }
    }
    None
}

/// Services and roles from the JSON form of the schema: `commonTypes.Roles` is a record of
/// services, each a record (inline or a common type) of roles.
fn role_catalog(json: &serde_json::Value) -> Option<RoleCatalog> {
    let common = json.get("")?.get("commonTypes")?;
    let resolve = |t: &serde_json::Value| -> Option<serde_json::Value> {
        if t.get("type")?.as_str()? == "Record" {
            return Some(t.clone());
        }
        let name = t
            .get("name")
            .and_then(|n| n.as_str())
            .or_else(|| t.get("type")?.as_str())?;
        common.get(name).cloned()
    };
    let roles = resolve(common.get("Roles")?)?;
    let mut services = BTreeMap::new();
    for (service, ty) in roles.get("attributes")?.as_object()? {
        let rec = resolve(ty)?;
        let names: Vec<String> = rec
            .get("attributes")?
            .as_object()?
            .keys()
            .cloned()
            .collect();
        services.insert(service.clone(), names);
    }
    Some(RoleCatalog::new(services))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nesting(body: &str) -> usize {
        let text = format!("permit (principal, action, resource) when {{ {body} }};");
        if_nesting(&Policy::from_str(&text).expect("parses"))
    }

    #[test]
    fn if_nesting_counts_ifs_inside_ifs_in_every_position() {
        assert_eq!(nesting("true"), 0);
        assert_eq!(nesting("if true then false else true"), 1);
        assert_eq!(
            nesting("(if true then 1 else 2) == (if false then 1 else 2)"),
            1
        );
        assert_eq!(
            nesting("if (if true then true else false) then true else false"),
            2
        );
        assert_eq!(
            nesting(
                "if true then true else if true then [if true then 1 else 2] == [1] else false"
            ),
            3
        );
    }
}
