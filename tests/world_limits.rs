//! What `validate` refuses beyond a world's shape (issue 10, items 8, 10 and 16): more API keys
//! on one identity than R10 allows, records written as lists, an owner who is not a member of
//! its account, empty scopes (in bindings and in `--arg`s, on every path: check, apply, run,
//! test), unusable policy ids; and the warning about a service ID's creator who left its
//! account. Each problem is located: file, line and the field (or flag) it names.

use keyward::decide::engine::Engine;
use keyward::decide::policy::{self, PolicyOptions, Source};
use keyward::decide::request::RequestSpec;
use keyward::world::generate::KEY_LIMIT;
use keyward::world::problem::Problem;
use keyward::world::{self, RoleCatalog, World};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;

const FILE: &str = "w.yaml";

fn bundle() -> &'static policy::PolicyBundle {
    static B: OnceLock<policy::PolicyBundle> = OnceLock::new();
    B.get_or_init(|| policy::load(&PolicyOptions::default()).expect("shipped policies load"))
}

fn roles() -> &'static RoleCatalog {
    &bundle().roles
}

fn parse(src: &str) -> Result<World, Vec<Problem>> {
    world::parse_world(FILE, src, roles()).map_err(|p| p.0)
}

/// The single problem of a world that must not load.
fn one(src: &str) -> Problem {
    let p = parse(src).expect_err("the world must not load");
    assert_eq!(p.len(), 1, "expected exactly one problem, got {p:#?}");
    assert_eq!(p[0].file, FILE);
    p.into_iter().next().unwrap()
}

/// The 1-based line of the only occurrence of `needle` in `src`.
fn line_of(src: &str, needle: &str) -> usize {
    let hits: Vec<usize> = src.match_indices(needle).map(|(i, _)| i).collect();
    assert_eq!(hits.len(), 1, "`{needle}` must occur exactly once");
    src[..hits[0]].matches('\n').count() + 1
}

fn keyward(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keyward"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("keyward runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

// ---- R10: at most 20 keys per identity ----

/// Two accounts; `u` is a member of both. `n_a` keys of `who` in account a, `n_b` in b.
fn keys_world(who: &str, n_a: usize, n_b: usize) -> String {
    let mut s = String::from(
        "accounts: [{id: a, owner: o}, {id: b, owner: o}]\nusers: [{id: o, accounts: [a, b]}, {id: u, accounts: [a, b]}]\nservice_ids: [{id: s, account: a}]\napi_keys:\n",
    );
    for i in 0..n_a + n_b {
        let account = if i < n_a { "a" } else { "b" };
        let extra = ["", ", disabled: true", ", obsolete: true"][i % 3];
        let account = if who == "s" { "a" } else { account };
        s.push_str(&format!(
            "  - {{id: key{i}, identity: {who}, account: {account}{extra}}}\n"
        ));
    }
    s
}

#[test]
fn twenty_keys_on_one_identity_are_valid() {
    parse(&keys_world("u", KEY_LIMIT, 0)).expect("20 keys are within R10");
    parse(&keys_world("u", 10, 10)).expect("20 keys in two accounts are within R10");
    parse(&keys_world("s", KEY_LIMIT, 0)).expect("20 service ID keys are within R10");
}

#[test]
fn the_twenty_first_key_of_an_identity_is_located() {
    for (who, n_a, n_b) in [("u", 21, 0), ("u", 11, 10), ("s", 25, 0)] {
        let src = keys_world(who, n_a, n_b);
        let p = one(&src);
        assert_eq!(p.field, "api_keys[20].identity", "{p}");
        assert_eq!(p.pos.line, line_of(&src, "id: key20,"), "{p}");
        assert!(p.message.contains("R10"), "{p}");
        assert!(
            p.message
                .contains(&format!("`{who}` has {} API keys", n_a + n_b)),
            "{p}"
        );
    }
}

#[test]
fn validate_refuses_the_twenty_first_key_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(FILE), keys_world("u", 21, 0)).unwrap();
    let o = keyward(dir.path(), &["validate", "--world", FILE]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let line = line_of(&keys_world("u", 21, 0), "id: key20,");
    assert!(
        text(&o).contains(&format!("w.yaml:{line}:")),
        "located:\n{}",
        text(&o)
    );
}

#[test]
fn the_limit_validate_checks_is_the_one_the_policy_enforces() {
    let src = include_str!("../policies/key-limit.cedar");
    assert!(
        src.contains(&format!("resource.key_count >= {KEY_LIMIT}")),
        "policies/key-limit.cedar and KEY_LIMIT disagree"
    );
}

// ---- records are mappings ----

#[test]
fn a_record_written_as_a_list_is_refused_in_every_section() {
    let sections = [
        ("accounts", "[acme, alice]"),
        ("users", "[alice, [acme]]"),
        ("service_ids", "[bot, acme]"),
        ("access_groups", "[g, acme, [alice]]"),
        (
            "role_bindings",
            "[alice, acme, iam-identity, [Administrator]]",
        ),
        ("api_keys", "[k, laptop, alice]"),
        ("classic_keys", "[ck, alice]"),
        ("clusters", "[c, acme, us-south]"),
        ("cluster_api_keys", "[acme, us-south, default, k]"),
    ];
    for (section, record) in sections {
        let src = format!("{section}:\n  - {record}\n");
        let p = parse(&src).expect_err("a list record must not load");
        let p = p
            .iter()
            .find(|p| p.field == format!("{section}[0]"))
            .unwrap_or_else(|| panic!("no problem at {section}[0]: {p:#?}"));
        assert_eq!(p.pos.line, 2, "{p}");
        assert!(p.message.contains("mapping"), "{p}");
        assert!(p.message.contains("not a list"), "{p}");
    }
}

#[test]
fn a_list_record_does_not_bind_by_field_order() {
    // Before the fix this loaded: alice, a member of acme, owning acme.
    let src = "accounts:\n  - [acme, alice]\nusers: [[alice, [acme]]]\n";
    let p = parse(src).expect_err("must not load");
    let fields: Vec<&str> = p.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(fields, ["accounts[0]", "users[0]"], "{p:#?}");
    assert_eq!((p[1].pos.line, p[1].pos.col), (3, 9), "{}", p[1]);
}

#[test]
fn a_record_that_is_a_single_value_is_refused() {
    let p = one("accounts: [{id: a, owner: o}]\nusers:\n  - {id: o, accounts: [a]}\n  - bob\n");
    assert_eq!(p.field, "users[1]", "{p}");
    assert_eq!(p.pos.line, 4);
    assert!(p.message.contains("not a single value"), "{p}");
}

// ---- the owner is a member of its account ----

#[test]
fn an_owner_whose_record_does_not_list_the_account_is_refused() {
    let src = "accounts:\n  - {id: a, owner: o}\n  - {id: b, owner: o}\nusers:\n  - {id: o, accounts: [a]}\n";
    let p = one(src);
    assert_eq!(p.field, "accounts[1].owner", "{p}");
    assert_eq!(p.pos.line, 3, "{p}");
    assert!(p.message.contains("not a member of account `b`"), "{p}");
    let src = "accounts:\n  - {id: a, owner: o}\nusers:\n  - {id: o}\n";
    assert_eq!(one(src).field, "accounts[0].owner");
    parse("accounts: [{id: a, owner: o}, {id: b, owner: o}]\nusers: [{id: o, accounts: [b, a]}]\n")
        .expect("an owner listing its accounts is valid");
}

// ---- empty scopes ----

const SCOPES: &str =
    "accounts: [{id: a, owner: o}]\nusers: [{id: o, accounts: [a]}, {id: k, accounts: [a]}]\n";

#[test]
fn a_binding_with_an_empty_scope_is_refused() {
    for (field, value) in [
        ("resource_group", "\"\""),
        ("resource_group", "\"  \""),
        ("region", "\"\""),
    ] {
        let src = format!(
            "{SCOPES}role_bindings:\n  - {{subject: k, account: a, service: containers-kubernetes, roles: [Administrator], {field}: {value}}}\n"
        );
        let p = one(&src);
        assert_eq!(p.field, format!("role_bindings[0].{field}"), "{p}");
        assert_eq!(p.pos.line, 4, "{p}");
        assert!(p.message.contains("must not be empty"), "{p}");
    }
}

fn engine() -> Engine {
    let w = world::load_world(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/acme.yaml")),
        roles(),
    )
    .expect("acme loads");
    Engine::new(bundle().clone(), w).expect("entities")
}

#[test]
fn an_empty_scope_arg_is_refused_before_deciding() {
    let e = engine();
    for (name, value) in [
        ("resource_group", ""),
        ("resource_group", " "),
        ("region", ""),
    ] {
        let mut args = vec![("region", "eu-de")];
        if name == "region" {
            args = vec![("region", value)];
        } else {
            args.push((name, value));
        }
        let spec = RequestSpec::new("fred", "ks-api-key-reset", "acme", &args);
        let p = e.decide(&spec).expect_err("an empty scope is bad input");
        assert_eq!(p.field, format!("--arg {name}"), "{p}");
        assert!(p.message.contains("must not be empty"), "{p}");
    }
}

#[test]
fn a_reset_decides_and_writes_the_same_slot() {
    // No resource group: decided on the account's default, and carried out there.
    let dir = tempfile::tempdir().unwrap();
    let acme = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/acme.yaml");
    std::fs::copy(acme, dir.path().join(FILE)).unwrap();
    let base = [
        "apply",
        "--world",
        FILE,
        "--principal",
        "fred",
        "--action",
        "ks-api-key-reset",
        "--resource",
        "acme",
        "--arg",
        "region=eu-de",
        "--write",
        "--format",
        "json",
    ];
    let o = keyward(dir.path(), &base);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let decided = out.to_string();
    assert!(
        decided.contains(r#""resource_group":"default""#),
        "{decided}"
    );
    let w = world::load_world(&dir.path().join(FILE), roles()).expect("written world loads");
    let slot = w
        .cluster_api_keys
        .iter()
        .find(|s| s.account == "acme" && s.region == "eu-de" && s.resource_group == "default")
        .expect("the default slot");
    let key = w
        .api_keys
        .iter()
        .find(|k| k.id == slot.api_key)
        .expect("its key");
    assert_eq!(
        key.identity, "fred",
        "the slot decided on is the slot written"
    );

    // An empty resource group is refused on every path, naming the flag; nothing is written.
    let before = std::fs::read(dir.path().join(FILE)).unwrap();
    let empty = ["--arg", "resource_group="];
    let check: Vec<&str> = ["check", "--world", FILE, "--principal", "fred", "--action"]
        .into_iter()
        .chain([
            "ks-api-key-reset",
            "--resource",
            "acme",
            "--arg",
            "region=eu-de",
        ])
        .chain(empty)
        .collect();
    let apply: Vec<&str> = base.iter().copied().chain(empty).collect();
    for args in [check, apply] {
        let o = keyward(dir.path(), &args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o));
        assert!(text(&o).contains("--arg resource_group"), "{}", text(&o));
    }
    std::fs::write(
        dir.path().join("s.yaml"),
        format!(
            "world: {FILE}\nsteps:\n  - {{ principal: fred, action: ks-api-key-reset, resource: acme, args: {{ region: eu-de, resource_group: \"\" }}, expect: allow }}\n"
        ),
    )
    .unwrap();
    let o = keyward(dir.path(), &["run", "s.yaml", "--write"]);
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("--arg resource_group: must not be empty"),
        "{}",
        text(&o)
    );
    std::fs::write(
        dir.path().join("t.yaml"),
        format!(
            "world: {FILE}\nchecks:\n  - {{ name: empty rg, principal: fred, action: ks-api-key-reset, resource: acme, args: {{ region: eu-de, resource_group: \"\" }}, expect: allow }}\n"
        ),
    )
    .unwrap();
    let o = keyward(dir.path(), &["test", "t.yaml"]);
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("--arg resource_group: must not be empty"),
        "{}",
        text(&o)
    );
    assert_eq!(
        before,
        std::fs::read(dir.path().join(FILE)).unwrap(),
        "nothing written"
    );
}

// ---- policy ids ----

fn build(policies: &str) -> Result<policy::PolicyBundle, Vec<Problem>> {
    let (schema, _) = policy::gather_sources(&PolicyOptions::default()).expect("sources");
    let source = Source {
        name: "p.cedar".into(),
        text: policies.into(),
    };
    policy::build(schema, vec![source]).map_err(|p| p.0)
}

fn with_id(id: &str) -> String {
    format!(
        "// a policy\n@id(\"{id}\")\n@rule(\"R1\")\n@doc(\"d\")\npermit (principal, action, resource) when {{ false }};\n"
    )
}

#[test]
fn a_policy_id_must_be_non_empty_printable_and_unique() {
    for (id, says) in [
        ("", "empty"),
        ("   ", "empty"),
        ("\\t", "empty"),
        ("a\\u{7}b", "unprintable"),
        ("a\\nb", "unprintable"),
        ("a\\u{200B}b", "unprintable"),
        ("a\\u{202E}b", "unprintable"),
        (" a", "space"),
    ] {
        let p = build(&with_id(id)).expect_err(id);
        assert_eq!(p.len(), 1, "{id}: {p:#?}");
        assert_eq!(p[0].file, "p.cedar", "{}", p[0]);
        assert_eq!(p[0].field, "@id", "{}", p[0]);
        assert_eq!(p[0].pos.line, 2, "{id}: {}", p[0]);
        assert!(p[0].message.contains(says), "{id}: {}", p[0]);
    }
    build(&with_id("ok-1")).expect("a plain id is fine");
    build(&with_id("é ü")).expect("printable text with an inner space is fine");
    let twice = format!("{}{}", with_id("same"), with_id("same"));
    let p = build(&twice).expect_err("a duplicate id");
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_eq!(p[0].pos.line, 7, "{}", p[0]);
    assert!(p[0].message.contains("duplicate"), "{}", p[0]);
}

// ---- R18: a creator who left ----

const LEFT: &str = "accounts:\n  - {id: a, owner: o}\n  - {id: b, owner: p}\nusers:\n  - {id: o, accounts: [a]}\n  - {id: p, accounts: [b]}\n  - {id: x, accounts: [b]}\nservice_ids:\n  - {id: s, account: a, created_by: x}\n";

#[test]
fn validate_warns_about_a_creator_who_is_not_a_member() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(FILE), LEFT).unwrap();
    let (_, warnings) =
        world::load_world_warned(&dir.path().join(FILE), roles()).expect("still valid");
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    let w = &warnings[0];
    assert_eq!(w.field, "service_ids[0].created_by", "{w}");
    assert_eq!(w.pos.line, line_of(LEFT, "created_by: x"), "{w}");
    assert!(w.message.contains("R18"), "{w}");
    let o = keyward(dir.path(), &["validate", "--world", FILE]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "a warning, not an error: {}",
        text(&o)
    );
    let out = text(&o);
    assert!(
        out.contains("warning: w.yaml:9:") && out.contains("service_ids[0].created_by"),
        "{out}"
    );
    let o = keyward(
        dir.path(),
        &["validate", "--world", FILE, "--format", "json"],
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["valid"], true);
    assert_eq!(v["warnings"].as_array().map(Vec::len), Some(1), "{v}");

    let member = LEFT.replace("{id: x, accounts: [b]}", "{id: x, accounts: [a, b]}");
    std::fs::write(dir.path().join(FILE), member).unwrap();
    let (_, warnings) = world::load_world_warned(&dir.path().join(FILE), roles()).unwrap();
    assert!(warnings.is_empty(), "{warnings:#?}");
}
