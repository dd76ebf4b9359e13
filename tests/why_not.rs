//! "Why not?" (`check --explain`): every deny of the shipped decision files is explained, and
//! every claim an explanation makes ("with this grant / this change it would be allowed") is
//! checked by carrying the change out on a copy of the world and deciding again. The
//! explanation follows the policies: edit a `.cedar` file and it changes, with no rebuild.

use keyward::decide::engine::{Engine, Verdict};
use keyward::decide::explain::{self, Change, Explanation, NewValue, Outcome};
use keyward::decide::policy::{self, PolicyOptions};
use keyward::decide::request::RequestSpec;
use keyward::evaluator::scenario::ScriptWorld;
use keyward::testing::testfile::{self, TestFile};
use keyward::world::{self, Restriction, RoleBinding, World};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The decision files' policies, world and checks.
struct Loaded {
    opts: PolicyOptions,
    world: World,
    tf: TestFile,
}

fn load(path: &Path) -> Loaded {
    let shipped = policy::load(&PolicyOptions::default()).expect("shipped policies");
    let tf = testfile::load(path, &shipped.roles).expect("decision file");
    let opts = PolicyOptions {
        policies: tf.policies.clone(),
        variants: tf.variants.clone(),
        schema: tf.schema.clone(),
    };
    let bundle = policy::load(&opts).expect("the file's policies");
    let world = match &tf.world {
        ScriptWorld::File(p) => world::load_world(p, &bundle.roles).expect("world"),
        ScriptWorld::Inline(w) => (**w).clone(),
        ScriptWorld::Missing => panic!("{}: no world", tf.file),
    };
    Loaded { opts, world, tf }
}

fn engine(l: &Loaded, world: World) -> Engine {
    let bundle = policy::load(&l.opts).expect("policies");
    // Through the world file reader again: a changed world must still be a valid one.
    let text = serde_json::to_string(&world).expect("world as JSON");
    let world = world::parse_world("changed.json", &text, &bundle.roles).expect("a valid world");
    let mut e = Engine::new(bundle, world).expect("engine");
    e.now_override = l.tf.now.clone();
    e
}

fn explain(e: &Engine, spec: &RequestSpec) -> (Verdict, Explanation) {
    let t = e.translate(spec).expect("translate");
    let d = e.decide_translated(&t);
    (
        d.decision,
        explain::explain(e, &t, d.decision, Default::default()),
    )
}

/// Carry a change out on the world (or the request): what an operator would do.
fn apply(w: &mut World, spec: &mut RequestSpec, change: &Change) -> Result<(), String> {
    match change {
        Change::Grant(g) => w.role_bindings.push(RoleBinding {
            subject: spec.principal.clone(),
            account: g.account.clone(),
            service: g.service.clone(),
            roles: vec![g.role.clone()],
            region: None,
            resource_group: None,
            resource: None,
        }),
        Change::Attribute {
            entity,
            attribute,
            to,
            ..
        } => attribute_change(w, entity, attribute, to)?,
        Change::Context { field, to, .. } => match (field.as_str(), to) {
            ("via_trusted_profile", NewValue::Is(v)) => spec.via_trusted_profile = v == "true",
            _ => return Err(format!("no world change for context {field} -> {to:?}")),
        },
    }
    Ok(())
}

fn attribute_change(w: &mut World, id: &str, attr: &str, to: &NewValue) -> Result<(), String> {
    match (attr, to) {
        ("locked" | "disabled", NewValue::Is(v)) => {
            let k: &mut world::ApiKey =
                w.api_keys.iter_mut().find(|k| k.id == id).ok_or("no key")?;
            let flag = if attr == "locked" {
                &mut k.locked
            } else {
                &mut k.disabled
            };
            *flag = v == "true";
        }
        ("functional", NewValue::Is(v)) => {
            let u = w.users.iter_mut().find(|u| u.id == id).ok_or("no user")?;
            u.functional = v == "true";
        }
        ("expires_at", NewValue::Absent) => {
            let k = w.api_keys.iter_mut().find(|k| k.id == id).ok_or("no key")?;
            k.expires_at = None;
        }
        ("restrict_user_api_key_creation", NewValue::NoneOf(not)) => {
            let a = w
                .accounts
                .iter_mut()
                .find(|a| a.id == id)
                .ok_or("no account")?;
            a.restrict_user_api_key_creation = [Restriction::NotSet, Restriction::NotRestricted]
                .into_iter()
                .find(|r| !not.contains(&format!("\"{}\"", r.as_str())))
                .ok_or("no restriction value left")?;
        }
        ("key_count", NewValue::Is(n)) => {
            let n: usize = n.parse().map_err(|e| format!("{e}"))?;
            while w.api_keys.iter().filter(|k| k.identity == id).count() > n {
                let i = w
                    .api_keys
                    .iter()
                    .position(|k| k.identity == id)
                    .ok_or("no key")?;
                w.api_keys.remove(i);
            }
        }
        ("classic_key_accounts", NewValue::Without(acc)) => {
            let acc = acc
                .trim_start_matches("Account::")
                .trim_matches('"')
                .to_string();
            w.classic_keys
                .retain(|k| !(k.user == id && k.account == acc));
        }
        _ => return Err(format!("no world change for {id}.{attr} -> {to:?}")),
    }
    Ok(())
}

/// Every claim of an explanation that a single change allows the request.
fn claims(e: &Explanation) -> Vec<&Outcome> {
    e.would_permit
        .iter()
        .chain(e.lifts.iter().flat_map(|l| &l.by))
        .filter(|o| o.decision == Verdict::Allow)
        .collect()
}

/// The rule a check is about: its `rules`, else the `Rn:` its name starts with.
fn rule_of(name: &str, rules: Option<&Vec<String>>) -> String {
    if let Some(r) = rules.and_then(|r| r.first()) {
        return r.clone();
    }
    name.split(':').next().unwrap_or(name).trim().to_string()
}

fn decision_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("tests/decisions"))
        .expect("tests/decisions")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_deny_of_the_decision_files_is_explained_and_each_claim_holds_in_the_world() {
    // rule -> (deny cases, cases with a verified way to allow, one example)
    let mut by_rule: BTreeMap<String, (usize, usize, String)> = BTreeMap::new();
    let mut verified = 0;
    for path in decision_files() {
        let l = load(&path);
        let base = engine(&l, l.world.clone());
        for c in
            l.tf.checks
                .iter()
                .filter(|c| c.expect == Verdict::Deny && c.skip.is_none())
        {
            let (verdict, why) = explain(&base, &c.spec);
            assert_eq!(verdict, Verdict::Deny, "{}: {}", l.tf.file, c.name);
            let text = keyward::report::explain::explanation_text(&why, Default::default());
            assert!(text.lines().count() >= 2, "{}: empty explanation", c.name);
            let entry = by_rule
                .entry(rule_of(&c.name, c.why.rules.as_ref()))
                .or_default();
            entry.0 += 1;
            let mut flipped = false;
            for o in claims(&why) {
                let (mut w, mut spec) = (l.world.clone(), c.spec.clone());
                apply(&mut w, &mut spec, &o.change)
                    .unwrap_or_else(|e| panic!("{}: {}: {e}", l.tf.file, c.name));
                let d = engine(&l, w).decide(&spec).expect("decide");
                assert_eq!(
                    d.decision,
                    Verdict::Allow,
                    "{}: {}: the explanation claims {:?} allows it",
                    l.tf.file,
                    c.name,
                    o.change
                );
                verified += 1;
                if !flipped {
                    flipped = true;
                    entry.1 += 1;
                    if entry.2.is_empty() {
                        let change = keyward::report::explain::change_text(&o.change);
                        entry.2 = format!(
                            "{} {} {}: {change}",
                            c.spec.principal,
                            c.spec.action,
                            c.spec.resource.clone().unwrap_or_default()
                        );
                    }
                }
            }
        }
    }
    assert!(verified > 50, "only {verified} claims checked");
    let table: String = by_rule
        .iter()
        .map(|(rule, (n, flips, ex))| {
            format!("{rule}: {flips}/{n} denies have a single change that allows  {ex}\n")
        })
        .collect();
    insta::assert_snapshot!("why_not_by_rule", table);
}

/// `keyward check ARGS… --explain`: (exit code, stdout).
fn check(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .arg("check")
        .args(args)
        .current_dir(root())
        .output()
        .expect("run keyward");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

const ACME: [&str; 2] = ["--world", "fixtures/acme.yaml"];

fn req<'a>(p: &'a str, a: &'a str, r: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut v = ACME.to_vec();
    v.extend(["--principal", p, "--action", a, "--resource", r]);
    v.extend(more);
    v
}

#[test]
fn explanations_read_as_the_rules() {
    let cases: [(&str, Vec<&str>); 7] = [
        (
            "r6_operator_needs_administrator",
            req("olga", "api-key-delete", "key-kate-1", &["--explain"]),
        ),
        (
            "r7_restriction_lifted_by_creator_role",
            req("kim", "api-key-create", "kim", &["--explain"]),
        ),
        (
            "r11_locked_key_lifted_by_unlocking",
            req("ivan", "api-key-delete", "key-ivan-1", &["--explain"]),
        ),
        (
            "r25_owner_cannot_be_removed",
            req("ivan", "user-remove", "alice", &["--explain"]),
        ),
        (
            "r22_service_id_needs_operator",
            req(
                "nora-bot",
                "ks-api-key-reset",
                "acme",
                &["--arg", "region=us-south", "-v"],
            ),
        ),
        (
            "r6_non_member_verbose",
            req("gina", "api-key-get", "key-kate-1", &["-v"]),
        ),
        (
            "r5_allow_says_why",
            req("dana", "api-key-get", "key-dana-1", &["--explain"]),
        ),
    ];
    for (name, args) in cases {
        let (_, out) = check(&args);
        insta::assert_snapshot!(name, out);
    }
}

#[test]
fn explain_is_a_json_field_only_when_asked() {
    let (code, plain) = check(&req(
        "olga",
        "api-key-delete",
        "key-kate-1",
        &["--format", "json"],
    ));
    assert_eq!(code, 2);
    let plain: serde_json::Value = serde_json::from_str(&plain).expect("json");
    assert!(plain.get("explain").is_none(), "{plain}");
    let (code, out) = check(&req(
        "olga",
        "api-key-delete",
        "key-kate-1",
        &["--format", "json", "--explain"],
    ));
    assert_eq!(code, 2);
    let json: serde_json::Value = serde_json::from_str(&out).expect("json");
    let permit = &json["explain"]["would_permit"][0];
    assert_eq!(permit["change"]["kind"], "grant", "{json}");
    assert_eq!(permit["change"]["role"], "Administrator", "{json}");
    assert_eq!(
        permit["permits"][0]["policy"], "iam-admin-manages-user-keys",
        "{json}"
    );
    // The keys of docs/cli.md stay as they are.
    for key in [
        "decision",
        "principal",
        "action",
        "resource",
        "reasons",
        "errors",
    ] {
        assert_eq!(json[key], plain[key], "{key}");
    }
}

/// A copy of the shipped policies, to edit.
fn policies_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for e in std::fs::read_dir(root().join("policies")).expect("policies") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "cedar") {
            std::fs::copy(&p, dir.path().join(p.file_name().expect("name"))).expect("copy");
        }
    }
    dir
}

#[test]
fn the_explanation_follows_an_edited_policy_file_with_no_rebuild() {
    let dir = policies_copy();
    let pol = dir.path().display().to_string();
    let args = req(
        "eddie",
        "api-key-delete",
        "key-kate-1",
        &["--explain", "--policies", &pol],
    );
    let (_, before) = check(&args);
    assert!(
        before.contains("would be permitted by iam-admin-manages-user-keys [R6] with Administrator on iam-identity in acme (eddie holds Editor there)"),
        "{before}"
    );
    // A reviewer decides Operators may manage other users' keys too.
    let file = dir.path().join("user-keys-admin.cedar");
    let text = std::fs::read_to_string(&file).expect("read");
    let edited = text.replace(
        r#"when { principal in context.roles["iam-identity"]["Administrator"] };"#,
        r#"when { principal in context.roles["iam-identity"]["Operator"] };"#,
    );
    assert_ne!(text, edited, "the policy text to edit was not found");
    std::fs::write(&file, edited).expect("write");
    let (_, after) = check(&args);
    assert!(
        after.contains("would be permitted by iam-admin-manages-user-keys [R6] with Operator on iam-identity in acme (eddie holds Editor there)"),
        "{after}"
    );
    assert!(!after.contains("with Administrator"), "{after}");
}

#[test]
fn a_deny_whose_evaluation_failed_suggests_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Overflows on every request: passes strict validation, errors at evaluation.
    let erroring = "@id(\"overflowing-forbid\")\n@rule(\"R6\")\n@doc(\"Errors.\")\nforbid (principal, action == Action::\"api-key-get\", resource is UserApiKey)\nwhen { 9223372036854775807 + 1 > 0 };\n";
    let extra = dir.path().join("erroring.cedar");
    std::fs::write(&extra, erroring).expect("write");
    let shipped = root().join("policies").display().to_string();
    let extra = extra.display().to_string();
    let more = ["--explain", "--policies", &shipped, "--policies", &extra];
    let (code, out) = check(&req("olga", "api-key-get", "key-kate-1", &more));
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("its evaluation failed"), "{out}");
    assert!(!out.contains("would be permitted"), "{out}");
    assert!(!out.contains("no single role grant"), "{out}");
}
