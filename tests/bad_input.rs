//! Every malformed world shape gives its *located* error: the file, the exact line (and column
//! where it matters), the field path and a message that says what is wrong. Also through the
//! binary (`keyward validate`), and for policy files (`keyward validate --policies DIR`).

use keyward::decide::policy::{self, PolicyOptions};
use keyward::world::RoleCatalog;
use keyward::world::problem::Problem;
use keyward::world::{self, LeakAction, Restriction, World};
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

const FILE: &str = "w.yaml";

fn roles() -> &'static RoleCatalog {
    static ROLES: OnceLock<RoleCatalog> = OnceLock::new();
    ROLES.get_or_init(|| {
        policy::load(&PolicyOptions::default())
            .unwrap_or_else(|p| panic!("the shipped policies load:\n{p}"))
            .roles
    })
}

fn parse(src: &str) -> Result<World, Vec<Problem>> {
    world::parse_world(FILE, src, roles()).map_err(|p| p.0)
}

/// The problems of a world that must not load.
fn problems(src: &str) -> Vec<Problem> {
    match parse(src) {
        Ok(w) => panic!("expected problems, but the world loaded: {w:?}\n---\n{src}"),
        Err(p) => {
            for x in &p {
                assert_eq!(x.file, FILE, "every problem names its file: {x}");
            }
            p
        }
    }
}

/// The single problem of a world that must not load.
fn one(src: &str) -> Problem {
    let p = problems(src);
    assert_eq!(p.len(), 1, "expected exactly one problem, got {p:#?}");
    p.into_iter().next().unwrap()
}

/// The 1-based line where the only occurrence of `needle` in `src` starts.
fn line_of(src: &str, needle: &str) -> usize {
    let hits: Vec<usize> = src.match_indices(needle).map(|(i, _)| i).collect();
    assert_eq!(hits.len(), 1, "`{needle}` must occur exactly once");
    src[..hits[0]].matches('\n').count() + 1
}

/// The 1-based column where the only occurrence of `needle` in `src` starts.
fn col_of(src: &str, needle: &str) -> usize {
    let at = src.find(needle).unwrap();
    at - src[..at].rfind('\n').map_or(0, |n| n + 1) + 1
}

#[track_caller]
fn assert_at(p: &Problem, line: usize, field: &str, phrase: &str) {
    assert_eq!(p.pos.line, line, "line of {p}");
    assert_eq!(p.field, field, "field of {p}");
    assert!(
        p.message.contains(phrase),
        "message of {p} lacks `{phrase}`"
    );
}

/// Find the problem about `field`, failing with the whole list when there is none.
#[track_caller]
fn about<'a>(ps: &'a [Problem], field: &str) -> &'a Problem {
    ps.iter()
        .find(|p| p.field == field)
        .unwrap_or_else(|| panic!("no problem about `{field}` in {ps:#?}"))
}

/// A small valid world the cases below break one thing of.
const BASE: &str = r#"now: "2026-11-23T12:00:00Z"
accounts:
  - id: acme
    owner: alice
    restrict_user_api_key_creation: RESTRICTED
  - id: globex
    owner: gina
users:
  - id: alice
    accounts: [acme]
  - id: bob
    accounts: [acme]
  - id: gina
    accounts: [globex]
service_ids:
  - id: ci-bot
    account: acme
    created_by: bob
access_groups:
  - id: admins
    account: acme
    members: [bob, ci-bot]
role_bindings:
  - subject: admins
    account: acme
    service: iam-identity
    roles: [Administrator]
api_keys:
  - id: key-1
    identity: bob
    expires_at: "2027-01-01T00:00:00Z"
    action_when_leaked: delete
classic_keys:
  - id: ck-bob
    user: bob
"#;

#[test]
fn the_base_world_is_valid() {
    let w = parse(BASE).unwrap_or_else(|p| panic!("BASE must be valid: {p:#?}"));
    assert_eq!(w.accounts.len(), 2);
    assert_eq!(
        w.accounts[0].restrict_user_api_key_creation,
        Restriction::Restricted
    );
    assert_eq!(
        w.api_keys[0].account, "acme",
        "account filled from the identity"
    );
    assert_eq!(w.api_keys[0].action_when_leaked, LeakAction::Delete);
    assert_eq!(w.classic_keys[0].account, "acme");
}

#[test]
fn yaml_syntax_error_is_located() {
    let src = "accounts:\n  - id: acme\n    owner: alice: bob\nusers: []\n";
    let p = one(src);
    assert_at(&p, 3, "", "not valid YAML/JSON");
    assert!(p.message.contains("mapping values"), "{p}");
    assert_eq!(
        p.pos.col,
        col_of(src, ": bob"),
        "the column of the second `:`"
    );
}

#[test]
fn duplicate_yaml_key_is_a_syntax_error_at_the_second_key() {
    let src = "accounts:\n  - id: acme\n    owner: alice\n    id: again\nusers: [{id: alice, accounts: [acme]}]\n";
    let p = one(src);
    assert_at(&p, 4, "", "duplicate key `id`");
    assert_eq!(p.pos.col, 5);
}

#[test]
fn a_world_that_is_not_a_mapping() {
    let p = one("- acme\n- alice\n");
    assert_at(&p, 1, "", "a world file is a mapping");
}

#[test]
fn unknown_top_level_section() {
    let src = format!("{BASE}groups:\n  - id: g\n");
    let p = one(&src);
    assert_at(
        &p,
        line_of(&src, "groups:\n  - id: g\n"),
        "groups",
        "unknown section `groups`",
    );
    assert_eq!(p.pos.col, 1);
    assert!(
        p.message.contains("access_groups"),
        "lists the sections: {p}"
    );
}

#[test]
fn unknown_field_is_located_at_that_field() {
    let src = BASE.replace(
        "    action_when_leaked: delete\n",
        "    action_when_leaked: delete\n    expires: \"2027-02-01T00:00:00Z\"\n",
    );
    let p = one(&src);
    assert_at(
        &p,
        line_of(&src, "expires:"),
        "api_keys[0].expires",
        "unknown field `expires`",
    );
    assert_eq!(p.pos.col, 5, "at the key itself");
    assert!(
        p.message.contains("`expires_at`"),
        "names the known fields: {p}"
    );
}

#[test]
fn unknown_field_in_the_second_record_names_its_index() {
    let src = BASE.replace(
        "  - id: bob\n    accounts: [acme]\n",
        "  - id: bob\n    accounts: [acme]\n    admin: true\n",
    );
    let p = one(&src);
    assert_at(
        &p,
        line_of(&src, "admin: true"),
        "users[1].admin",
        "unknown field `admin`",
    );
}

#[test]
fn wrong_type_and_non_list_section() {
    let src = BASE
        .replace("    action_when_leaked: delete\n", "    locked: \"yes\"\n")
        .replace(
            "classic_keys:\n  - id: ck-bob\n    user: bob\n",
            "classic_keys: {id: ck-bob, user: bob}\n",
        );
    let ps = problems(&src);
    assert_eq!(ps.len(), 2, "{ps:#?}");
    assert_at(
        about(&ps, "api_keys[0].locked"),
        line_of(&src, "locked:"),
        "api_keys[0].locked",
        "expected a boolean",
    );
    assert_at(
        about(&ps, "classic_keys"),
        line_of(&src, "classic_keys:"),
        "classic_keys",
        "expected a list",
    );
}

#[test]
fn duplicate_id_across_sections() {
    // A service ID with a user's id: reported at the second use, naming the first.
    let src = BASE
        .replace("  - id: ci-bot\n", "  - id: bob\n")
        .replace("[bob, ci-bot]", "[bob]");
    let p = one(&src);
    assert_at(
        &p,
        line_of(&src, "  - id: bob\n    account: acme"),
        "service_ids[0].id",
        "duplicate id `bob`",
    );
    assert!(p.message.contains("first used at users[1]"), "{p}");
}

#[test]
fn key_whose_identity_does_not_exist() {
    let src = BASE.replace("    identity: bob\n", "    identity: ghost\n");
    let p = one(&src);
    assert_at(
        &p,
        line_of(&src, "identity: ghost"),
        "api_keys[0].identity",
        "no user or service ID `ghost`",
    );
}

#[test]
fn role_binding_to_an_unknown_account() {
    let src = BASE.replace(
        "  - subject: admins\n    account: acme\n",
        "  - subject: admins\n    account: initech\n",
    );
    let p = one(&src);
    assert_at(
        &p,
        line_of(&src, "account: initech"),
        "role_bindings[0].account",
        "no account `initech`",
    );
}

#[test]
fn role_binding_with_an_unknown_role() {
    let src = BASE.replace("roles: [Administrator]", "roles: [Administrator, Boss]");
    let p = one(&src);
    assert_at(
        &p,
        line_of(&src, "Boss"),
        "role_bindings[0].roles[1]",
        "unknown role `Boss` on iam-identity",
    );
    assert_eq!(p.pos.col, col_of(&src, "Boss"), "at the role itself");
    assert!(
        p.message.contains("\"User API key creator\""),
        "lists the schema's roles: {p}"
    );
}

#[test]
fn role_binding_with_an_unknown_service() {
    let src = BASE.replace("service: iam-identity", "service: cloud-object-storage");
    let p = one(&src);
    assert_at(
        &p,
        line_of(&src, "cloud-object-storage"),
        "role_bindings[0].service",
        "unknown service `cloud-object-storage`",
    );
    assert!(
        p.message.contains("containers-kubernetes"),
        "lists the schema's services: {p}"
    );
}

#[test]
fn two_classic_keys_for_one_user_in_one_account() {
    let src = format!("{BASE}  - {{ id: ck-bob-2, user: bob, account: acme }}\n");
    let p = one(&src);
    assert_at(
        &p,
        line_of(&src, "ck-bob-2"),
        "classic_keys[1].user",
        "already has a classic key in account `acme`",
    );
    assert!(
        p.message.contains("classic_keys[0]"),
        "names the first: {p}"
    );
    assert_eq!(
        p.pos.col,
        col_of(&src, "user: bob, account"),
        "at the `user` key"
    );
}

#[test]
fn bad_enum_values() {
    let src = BASE
        .replace(
            "restrict_user_api_key_creation: RESTRICTED",
            "restrict_user_api_key_creation: YES",
        )
        .replace("action_when_leaked: delete", "action_when_leaked: explode");
    let ps = problems(&src);
    assert_eq!(ps.len(), 2, "{ps:#?}");
    assert_at(
        &ps[0],
        line_of(&src, ": YES"),
        "accounts[0].restrict_user_api_key_creation",
        "unknown variant `YES`",
    );
    assert!(ps[0].message.contains("`NOT_RESTRICTED`"), "{}", ps[0]);
    assert_at(
        &ps[1],
        line_of(&src, "explode"),
        "api_keys[0].action_when_leaked",
        "unknown variant `explode`",
    );
    assert!(ps[1].message.contains("`disable`"), "{}", ps[1]);
}

#[test]
fn bad_timestamps() {
    let src = BASE
        .replace("now: \"2026-11-23T12:00:00Z\"", "now: \"next tuesday\"")
        .replace(
            "expires_at: \"2027-01-01T00:00:00Z\"",
            "expires_at: \"2027-13-01\"",
        );
    let ps = problems(&src);
    assert_eq!(ps.len(), 2, "{ps:#?}");
    assert_at(
        &ps[0],
        1,
        "now",
        "`next tuesday` is not an RFC 3339 timestamp",
    );
    assert_at(
        &ps[1],
        line_of(&src, "2027-13-01"),
        "api_keys[0].expires_at",
        "`2027-13-01` is not an RFC 3339 timestamp",
    );
}

#[test]
fn now_of_the_wrong_type() {
    let src = BASE.replace("now: \"2026-11-23T12:00:00Z\"", "now: 2026");
    let p = one(&src);
    assert_at(&p, 1, "now", "expected an RFC 3339 timestamp string");
}

#[test]
fn classic_parent_cycle() {
    let src = BASE
        .replace("  - id: bob\n    accounts: [acme]\n", "  - id: bob\n    accounts: [acme]\n    classic_parent: carl\n  - id: carl\n    accounts: [acme]\n    classic_parent: bob\n");
    let ps = problems(&src);
    assert_eq!(ps.len(), 2, "each user on the cycle: {ps:#?}");
    assert_at(
        &ps[0],
        line_of(&src, "classic_parent: carl"),
        "users[1].classic_parent",
        "cycle through `bob`",
    );
    assert_at(
        &ps[1],
        line_of(&src, "classic_parent: bob"),
        "users[2].classic_parent",
        "cycle through `carl`",
    );
}

#[test]
fn classic_parent_unknown() {
    let src = BASE.replace(
        "  - id: bob\n    accounts: [acme]\n",
        "  - id: bob\n    accounts: [acme]\n    classic_parent: zed\n",
    );
    let p = one(&src);
    assert_at(
        &p,
        line_of(&src, "classic_parent: zed"),
        "users[1].classic_parent",
        "no user `zed`",
    );
}

#[test]
fn access_group_member_not_in_the_account() {
    let src = BASE.replace("members: [bob, ci-bot]", "members: [bob, ci-bot, gina]");
    let p = one(&src);
    assert_at(
        &p,
        line_of(&src, "gina]"),
        "access_groups[0].members[2]",
        "`gina` is not a member of account `acme`",
    );
    assert_eq!(p.pos.col, col_of(&src, "gina]"), "at the member itself");
}

/// Several independent problems are all reported, in file order.
const SEVERAL: &str = r#"accounts:
  - id: acme
    owner: alice
users:
  - id: alice
    accounts: [acme]
  - id: zed
    accounts: [nowhere]
access_groups:
  - id: admins
    account: acme
    members: [alice, ghost]
role_bindings:
  - subject: admins
    account: acme
    service: iam-identity
    roles: [Boss]
  - subject: alice
    account: acme
    service: kubernetes
    roles: [Viewer]
api_keys:
  - id: k1
    identity: ghost
  - id: alice
    identity: alice
    expires_at: "tomorrow"
classic_keys:
  - { id: ck1, user: nobody }
"#;

#[test]
fn several_problems_are_all_reported_in_file_order() {
    let ps = problems(SEVERAL);
    let got: Vec<(usize, &str)> = ps.iter().map(|p| (p.pos.line, p.field.as_str())).collect();
    let want = vec![
        (line_of(SEVERAL, "[nowhere]"), "users[1].accounts[0]"),
        (
            line_of(SEVERAL, "[alice, ghost]"),
            "access_groups[0].members[1]",
        ),
        (line_of(SEVERAL, "[Boss]"), "role_bindings[0].roles[0]"),
        (line_of(SEVERAL, "kubernetes"), "role_bindings[1].service"),
        (line_of(SEVERAL, "identity: ghost"), "api_keys[0].identity"),
        (
            line_of(SEVERAL, "  - id: alice\n    identity"),
            "api_keys[1].id",
        ),
        (line_of(SEVERAL, "tomorrow"), "api_keys[1].expires_at"),
        (line_of(SEVERAL, "nobody"), "classic_keys[0].user"),
    ];
    assert_eq!(got, want, "{ps:#?}");
    assert_eq!(ps.len(), 8);
    assert!(
        about(&ps, "api_keys[1].id")
            .message
            .contains("duplicate id `alice`")
    );
    assert!(
        about(&ps, "users[1].accounts[0]")
            .message
            .contains("no account `nowhere`")
    );
}

#[test]
fn several_shape_problems_are_all_reported() {
    // Problems of shape (unknown section, unknown fields, wrong types) in different records.
    let src = "accounts:\n  - id: acme\n    owner: alice\n    plan: gold\nusers:\n  - id: alice\n    accounts: acme\n    functional: maybe\nextras: 1\n";
    let ps = problems(src);
    let got: Vec<(usize, &str)> = ps.iter().map(|p| (p.pos.line, p.field.as_str())).collect();
    assert_eq!(ps.len(), 3, "{ps:#?}");
    assert!(got.contains(&(9, "extras")), "{got:?}");
    assert!(got.contains(&(4, "accounts[0].plan")), "{got:?}");
    // serde stops at the first bad field of a record: `accounts: acme` (a string, not a list).
    assert!(got.contains(&(7, "users[0].accounts")), "{got:?}");
}

#[test]
fn json_world_is_accepted() {
    let src = r#"{
  "now": "2026-11-23T12:00:00Z",
  "accounts": [{"id": "acme", "owner": "alice", "restrict_user_api_key_creation": "NOT_RESTRICTED"}],
  "users": [{"id": "alice", "accounts": ["acme"]}],
  "api_keys": [{"id": "k1", "identity": "alice", "expires_at": "2027-01-01T00:00:00Z"}]
}"#;
    let w = world::parse_world("w.json", src, roles()).unwrap_or_else(|p| panic!("{p}"));
    assert_eq!(
        w.accounts[0].restrict_user_api_key_creation,
        Restriction::NotRestricted
    );
    assert_eq!(w.api_keys[0].account, "acme");
    assert_eq!(w.now.as_deref(), Some("2026-11-23T12:00:00Z"));
}

#[test]
fn json_world_problems_are_located() {
    let src = r#"{
  "accounts": [{"id": "acme", "owner": "alice"}],
  "users": [{"id": "alice", "accounts": ["acme"]}],
  "api_keys": [
    {"id": "k1", "identity": "alice",
     "expires_at": "soon"},
    {"id": "k2", "identity": "alice", "colour": "red"}
  ]
}"#;
    let p = world::parse_world("w.json", src, roles()).unwrap_err().0;
    // Shape (unknown field) and cross-record (timestamp) problems are reported together, in
    // file order.
    assert_eq!(p.len(), 2, "{p:#?}");
    assert_eq!(p[0].file, "w.json");
    assert_at(
        &p[0],
        line_of(src, "soon"),
        "api_keys[0].expires_at",
        "not an RFC 3339 timestamp",
    );
    assert_at(
        &p[1],
        line_of(src, "colour"),
        "api_keys[1].colour",
        "unknown field `colour`",
    );
    assert_eq!(p[1].pos.col, col_of(src, "\"colour\""));

    let src = src.replace(", \"colour\": \"red\"", "");
    let p = world::parse_world("w.json", &src, roles()).unwrap_err().0;
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_at(
        &p[0],
        line_of(&src, "soon"),
        "api_keys[0].expires_at",
        "`soon` is not an RFC 3339 timestamp",
    );
    assert_eq!(p[0].pos.col, col_of(&src, "\"expires_at\""));

    let p = world::parse_world(
        "w.json",
        "{\"accounts\": [\n  {\"id\": \"acme\",, }\n]}",
        roles(),
    )
    .unwrap_err()
    .0;
    assert_eq!(p.len(), 1, "{p:#?}");
    assert_at(&p[0], 2, "", "not valid YAML/JSON");
}

#[test]
fn problem_display_is_file_line_col_field_message() {
    let src = BASE.replace("    identity: bob\n", "    identity: ghost\n");
    let p = one(&src);
    let line = line_of(&src, "identity: ghost");
    assert_eq!(
        p.to_string(),
        format!(
            "w.yaml:{line}:5: api_keys[0].identity: no user or service ID `ghost` in this world"
        )
    );
}

// ---- through the binary ----

fn keyward(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(args)
        .output()
        .expect("run keyward");
    (
        out.status.code().expect("exited"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn validate_binary_prints_every_problem_located_and_exits_1() {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, SEVERAL).unwrap();
    let file = path.to_str().unwrap();
    let (code, stdout, stderr) = keyward(&["validate", "--world", file]);
    assert_eq!(code, 1, "stdout:\n{stdout}\nstderr:\n{stderr}");
    let expected = problems(SEVERAL);
    let errors: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(
        errors.len(),
        expected.len(),
        "one `error:` line per problem:\n{stdout}"
    );
    for p in &expected {
        let loc = format!("error: {file}:{}:{}: {}: ", p.pos.line, p.pos.col, p.field);
        assert!(stdout.contains(&loc), "`{loc}` missing from:\n{stdout}");
    }
    assert!(
        stdout.contains(&format!("{} problem(s)", expected.len())),
        "{stdout}"
    );

    // JSON output carries the same located problems.
    let (code, stdout, _) = keyward(&["validate", "--world", file, "--format", "json"]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(v["valid"], false);
    let probs = v["problems"].as_array().unwrap();
    assert_eq!(probs.len(), expected.len());
    for (j, p) in probs.iter().zip(&expected) {
        assert_eq!(j["file"], file);
        assert_eq!(j["line"], p.pos.line);
        assert_eq!(j["col"], p.pos.col);
        assert_eq!(j["field"], p.field.as_str());
    }
}

#[test]
fn validate_binary_syntax_error_and_good_world() {
    let dir = tempfile::TempDir::new().unwrap();
    let bad = dir.path().join("syntax.yaml");
    std::fs::write(&bad, "accounts:\n  - id: acme\n    owner: alice: bob\n").unwrap();
    let (code, stdout, _) = keyward(&["validate", "--world", bad.to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains(&format!("{}:3:17: not valid YAML/JSON", bad.display())),
        "{stdout}"
    );

    let good = dir.path().join("good.yaml");
    std::fs::write(&good, BASE).unwrap();
    let (code, stdout, stderr) = keyward(&["validate", "--world", good.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(!stdout.contains("error:"), "{stdout}");
}

// ---- policy files ----

const MISSPELT: &str = r#"// IAM Identity Administrators may create keys, spelt wrongly.
@id("admin-creates")
@rule("R6")
@doc("IAM Identity Administrators may create API keys for anyone.")
permit (
  principal,
  action == Action::"api-key-create",
  resource
)
when {
  principal in context.roles["iam-identity"]["Adminstrator"]
};
"#;

const NO_ID: &str = r#"// A policy without @id.
@rule("R5")
@doc("Anyone may view keys.")
permit (
  principal,
  action == Action::"api-key-get",
  resource
);
"#;

fn policy_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::TempDir::new().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

fn load_policies(dir: &Path) -> Vec<Problem> {
    policy::load(&PolicyOptions {
        policies: vec![dir.to_path_buf()],
        ..Default::default()
    })
    .expect_err("the policies must not load")
    .0
}

#[test]
fn policy_with_a_misspelt_attribute_is_located() {
    let dir = policy_dir(&[("admin.cedar", MISSPELT)]);
    let file = dir.path().join("admin.cedar").display().to_string();
    let line = line_of(MISSPELT, "Adminstrator");

    let ps = load_policies(dir.path());
    assert_eq!(ps.len(), 1, "{ps:#?}");
    assert_eq!(ps[0].file, file);
    assert_eq!(ps[0].pos.line, line);
    assert!(
        ps[0].message.contains("admin-creates"),
        "names the policy: {}",
        ps[0]
    );
    assert!(
        ps[0].message.contains("Adminstrator"),
        "names the attribute: {}",
        ps[0]
    );

    let (code, stdout, stderr) = keyward(&["validate", "--policies", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let err = stdout
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line:\n{stdout}"));
    assert!(err.starts_with(&format!("error: {file}:{line}:")), "{err}");
    assert!(err.contains("Adminstrator"), "{err}");
    assert!(
        !stdout.contains("ok: "),
        "no success line on failure:\n{stdout}"
    );
}

#[test]
fn policy_without_id_is_located() {
    let dir = policy_dir(&[("noid.cedar", NO_ID)]);
    let file = dir.path().join("noid.cedar").display().to_string();
    let line = line_of(NO_ID, "permit (");

    let ps = load_policies(dir.path());
    assert_eq!(ps.len(), 1, "{ps:#?}");
    assert_eq!(
        (ps[0].file.as_str(), ps[0].pos.line, ps[0].field.as_str()),
        (file.as_str(), line, "@id")
    );
    assert!(ps[0].message.contains("@id"), "{}", ps[0]);

    let (code, stdout, stderr) = keyward(&["validate", "--policies", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!(
            "error: {file}:{line}:1: @id: every policy needs an @id"
        )),
        "{stdout}"
    );
}

/// src/policy.rs locates a policy without @id by searching the file for the policy's first
/// non-annotation line, so a second policy whose first line equals an earlier one's is reported
/// at the earlier policy. Un-ignore once fixed.
#[test]
fn policy_without_id_after_another_policy_is_located_at_itself() {
    let text = format!(
        "@id(\"first\")\n@rule(\"R4\")\n@doc(\"First.\")\npermit (\n  principal,\n  action == Action::\"api-key-delete\",\n  resource\n);\n\n{NO_ID}"
    );
    let dir = policy_dir(&[("two.cedar", &text)]);
    let ps = load_policies(dir.path());
    assert_eq!(ps.len(), 1, "{ps:#?}");
    let own = [
        line_of(&text, "@rule(\"R5\")"),
        line_of(&text, "api-key-get") - 2,
    ];
    assert!(
        own.contains(&ps[0].pos.line),
        "reported at {}, expected one of {own:?}",
        ps[0]
    );
}

/// Same root cause: a duplicate @id in one file is reported at the first occurrence.
#[test]
fn duplicate_policy_id_in_one_file_is_located_at_the_second() {
    let text = "@id(\"same\")\n@rule(\"R4\")\n@doc(\"One.\")\npermit (principal, action == Action::\"api-key-get\", resource);\n\n@id(\"same\")\n@rule(\"R5\")\n@doc(\"Two.\")\npermit (principal, action == Action::\"api-key-delete\", resource);\n";
    let dir = policy_dir(&[("dup.cedar", text)]);
    let ps = load_policies(dir.path());
    assert_eq!(ps.len(), 1, "{ps:#?}");
    assert_eq!(ps[0].field, "@id");
    assert!(
        ps[0].message.contains("duplicate policy id `same`"),
        "{}",
        ps[0]
    );
    assert_eq!(ps[0].pos.line, 6, "{}", ps[0]);
}

#[test]
fn duplicate_policy_id_across_files_is_located() {
    let a = "@id(\"same\")\n@rule(\"R4\")\n@doc(\"One.\")\npermit (principal, action == Action::\"api-key-get\", resource);\n";
    let b = "// second file\n\n@id(\"same\")\n@rule(\"R5\")\n@doc(\"Two.\")\npermit (principal, action == Action::\"api-key-delete\", resource);\n";
    let dir = policy_dir(&[("a.cedar", a), ("b.cedar", b)]);
    let ps = load_policies(dir.path());
    assert_eq!(ps.len(), 1, "{ps:#?}");
    let a_name = dir.path().join("a.cedar").display().to_string();
    assert_eq!(ps[0].file, dir.path().join("b.cedar").display().to_string());
    assert_eq!((ps[0].pos.line, ps[0].field.as_str()), (3, "@id"));
    assert!(
        ps[0].message.contains(&format!("first in {a_name}:1")),
        "{}",
        ps[0]
    );
}

/// A user who is their own classic parent gets one problem, not two.
#[test]
fn own_classic_parent_is_one_problem() {
    let src = BASE.replace(
        "  - id: bob\n    accounts: [acme]\n",
        "  - id: bob\n    accounts: [acme]\n    classic_parent: bob\n",
    );
    let p = one(&src);
    assert_at(
        &p,
        line_of(&src, "classic_parent: bob"),
        "users[1].classic_parent",
        "its own classic parent",
    );
}
