//! Findings F1-F6 of docs/rules.md: the whole report of fixtures/acme.yaml (text and JSON, snapshotted
//! and read against the fixture), and for each rule a small world where it fires and one where it
//! does not. F3 is asked of the policies: changing a policy changes it.

use keyward::audit::findings::{Finding, findings};
use keyward::cli::{self, Common, Format, load_engine};
use keyward::decide::engine::Engine;
use keyward::decide::policy::{self, PolicyOptions};
use keyward::report::findings::{findings_json, findings_text};
use keyward::world::parse_world;
use std::path::PathBuf;

fn acme() -> Engine {
    load_engine(&Common {
        world: Some(PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/acme.yaml"
        ))),
        ..Default::default()
    })
    .expect("acme loads")
}

fn engine_with(src: &str, opts: &PolicyOptions) -> Engine {
    let bundle = policy::load(opts).expect("policies load");
    let w = parse_world("test.yaml", src, &bundle.roles).unwrap_or_else(|p| panic!("{p}"));
    Engine::new(bundle, w).expect("entities")
}

fn engine(src: &str) -> Engine {
    engine_with(src, &PolicyOptions::default())
}

/// The findings of one rule, as `subject: message` lines.
fn of(e: &Engine, rule: &str) -> Vec<String> {
    findings(e)
        .into_iter()
        .filter(|f| f.rule == rule)
        .map(|f| format!("{}: {}", f.subject, f.message))
        .collect()
}

/// A small account where nothing is wrong: the cluster key is a functional ID's, which holds
/// Kubernetes Administrator and (the account being restricted) the key-creator role; every key
/// expires; everyone holds a role.
const BASE: &str = r#"
now: "2026-11-23T12:00:00Z"
accounts:
  - { id: a1, owner: own, restrict_user_api_key_creation: RESTRICTED }
users:
  - { id: own, accounts: [a1] }
  - { id: fid, accounts: [a1], functional: true }
  - { id: per, accounts: [a1] }
service_ids:
  - { id: bot, account: a1, created_by: own }
access_groups:
  - { id: creators, account: a1, members: [fid, per] }
role_bindings:
  - { subject: creators, account: a1, service: iam-identity, roles: ["User API key creator"] }
  - { subject: fid, account: a1, service: containers-kubernetes, roles: [Administrator] }
  - { subject: per, account: a1, service: containers-kubernetes, roles: [Administrator] }
  - { subject: bot, account: a1, service: containers-kubernetes, roles: [Administrator] }
api_keys:
  - { id: k-fid, identity: fid, account: a1, expires_at: "2027-01-01T00:00:00Z" }
  - { id: k-per, identity: per, account: a1, expires_at: "2027-01-01T00:00:00Z" }
  - { id: k-bot, identity: bot, account: a1 }
cluster_api_keys:
  - { account: a1, region: us-south, resource_group: default, api_key: k-fid }
"#;

fn base_with(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "BASE has no `{from}`");
    BASE.replacen(from, to, 1)
}

#[test]
fn acme_findings_text() {
    insta::assert_snapshot!(findings_text(&findings(&acme())));
}

#[test]
fn acme_findings_json() {
    insta::assert_json_snapshot!(findings_json(&findings(&acme())));
}

#[test]
fn a_sound_world_has_no_findings() {
    let e = engine(BASE);
    assert_eq!(findings(&e), Vec::<Finding>::new());
    assert_eq!(findings_text(&[]), "no findings\n");
}

#[test]
fn f1_cluster_key_of_a_person() {
    let e = engine(&base_with("api_key: k-fid", "api_key: k-per"));
    assert_eq!(
        findings(&e)
            .iter()
            .map(|f| (f.rule, f.subject.as_str(), f.advice.as_str()))
            .collect::<Vec<_>>(),
        [(
            "F1",
            "k-per",
            "reset the us-south/default cluster API key as a functional ID"
        )]
    );
    // A service ID's key is not a person's.
    assert!(
        of(
            &engine(&base_with("api_key: k-fid", "api_key: k-bot")),
            "F1"
        )
        .is_empty()
    );
}

#[test]
fn f2_deleted_disabled_expired_or_owner_gone() {
    let gone = engine(&base_with("api_key: k-fid", "api_key: k-gone"));
    assert_eq!(
        of(&gone, "F2"),
        [
            "k-gone: the us-south/default cluster API key names k-gone, which no longer exists: clusters there cannot authenticate"
        ]
    );
    assert!(of(&gone, "F3").is_empty(), "no owner to ask about");

    let disabled = engine(&base_with(
        "identity: fid, account: a1,",
        "identity: fid, account: a1, disabled: true,",
    ));
    assert_eq!(
        of(&disabled, "F2"),
        [
            "k-fid: the us-south/default cluster API key: k-fid is disabled; clusters there cannot authenticate"
        ]
    );

    let expired = engine(&base_with(
        "identity: fid, account: a1, expires_at: \"2027-01-01T00:00:00Z\"",
        "identity: fid, account: a1, expires_at: \"2026-11-23T11:59:59Z\"",
    ));
    assert_eq!(
        of(&expired, "F2"),
        [
            "k-fid: the us-south/default cluster API key: k-fid expired at 2026-11-23T11:59:59Z; clusters there cannot authenticate"
        ]
    );
    // Expiry is judged at the engine's now: --now before the expiry, no finding.
    let mut earlier = engine(&base_with(
        "identity: fid, account: a1, expires_at: \"2027-01-01T00:00:00Z\"",
        "identity: fid, account: a1, expires_at: \"2026-11-23T11:59:59Z\"",
    ));
    earlier.now_override = Some("2026-11-01T00:00:00Z".into());
    assert!(of(&earlier, "F2").is_empty());

    // The owner left acme-like a1 for a2: its key no longer authenticates in a1 (R16).
    let left = engine(
        &BASE
            .replace(
                "  - { id: a1, owner: own, restrict_user_api_key_creation: RESTRICTED }",
                "  - { id: a1, owner: own, restrict_user_api_key_creation: RESTRICTED }\n  - { id: a2, owner: own }",
            )
            .replace("{ id: own, accounts: [a1]", "{ id: own, accounts: [a1, a2]")
            .replace("{ id: fid, accounts: [a1]", "{ id: fid, accounts: [a2]")
            .replace("members: [fid, per]", "members: [per]")
            .replace(
                "{ subject: fid, account: a1,",
                "{ subject: fid, account: a2,",
            )
            .replace("identity: fid, account: a1", "identity: fid, account: a2"),
    );
    assert_eq!(
        of(&left, "F2"),
        [
            "k-fid: the us-south/default cluster API key: its owner fid is no longer a member of a1; clusters there cannot authenticate"
        ]
    );
    assert_eq!(of(&left, "F3").len(), 1, "nor may it reset a1's key");

    assert!(of(&engine(BASE), "F2").is_empty());
}

#[test]
fn f3_owner_no_longer_allowed_to_reset() {
    // No Kubernetes Administrator any more: nothing permits the reset.
    let no_role = engine(&base_with(
        "  - { subject: fid, account: a1, service: containers-kubernetes, roles: [Administrator] }\n",
        "",
    ));
    let f3 = of(&no_role, "F3");
    assert_eq!(f3.len(), 1, "{f3:?}");
    assert!(
        f3[0].starts_with("k-fid: fid, whose credentials the us-south/default cluster API key holds, may not reset it: no policy permits it;"),
        "{}",
        f3[0]
    );
    // Still Administrator, but the account is restricted and fid lost the creator role (R7).
    let restricted = engine(&base_with("members: [fid, per]", "members: [per]"));
    let f3 = of(&restricted, "F3");
    assert!(
        f3[0].contains("forbidden by cluster-key-reset-restriction [R7, R22]"),
        "{f3:?}"
    );
    // A service ID needs IAM Operator too (R22).
    let sid = engine(&base_with("api_key: k-fid", "api_key: k-bot"));
    let f3 = of(&sid, "F3");
    assert!(
        f3[0].contains("forbidden by cluster-key-reset-service-id-needs-operator [R22]"),
        "{f3:?}"
    );
    assert!(of(&engine(BASE), "F3").is_empty());
}

#[test]
fn f3_is_decided_by_the_policies() {
    // A policy set without the restriction forbid: the same world has no F3.
    let dir = tempfile::tempdir().expect("tempdir");
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/policies");
    for entry in std::fs::read_dir(src).expect("policies") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "cedar") {
            let mut text = std::fs::read_to_string(&path).expect("read");
            if path.ends_with("cluster.cedar") {
                let start = text
                    .find("@id(\"cluster-key-reset-restriction\")")
                    .expect("the restriction forbid");
                let end = start + text[start..].find("};").expect("its end") + 2;
                text.replace_range(start..end, "");
            }
            std::fs::write(dir.path().join(path.file_name().expect("name")), text).expect("write");
        }
    }
    let world = base_with("members: [fid, per]", "members: [per]");
    assert_eq!(of(&engine(&world), "F3").len(), 1);
    let edited = PolicyOptions {
        policies: vec![dir.path().to_path_buf()],
        ..Default::default()
    };
    assert!(of(&engine_with(&world, &edited), "F3").is_empty());
}

#[test]
fn f4_user_keys_that_never_expire_or_stay_valid_when_leaked() {
    let no_expiry = engine(&base_with(
        "identity: per, account: a1, expires_at: \"2027-01-01T00:00:00Z\"",
        "identity: per, account: a1",
    ));
    let f = findings(&no_expiry);
    assert_eq!(f.len(), 1);
    assert_eq!((f[0].rule, f[0].subject.as_str()), ("F4", "k-per"));
    assert_eq!(f[0].message, "per's user API key \"\" has no expiry");
    assert_eq!(f[0].advice, "on k-per: set an expiry");
    let leak_none = engine(&base_with(
        "identity: per, account: a1,",
        "identity: per, account: a1, action_when_leaked: none,",
    ));
    assert_eq!(
        of(&leak_none, "F4"),
        [
            "k-per: per's user API key \"\" has leak action none (it stays valid when reported leaked)"
        ]
    );
    // k-bot (a service ID's key) has no expiry in BASE: F4 is about user API keys.
    assert!(of(&engine(BASE), "F4").is_empty());
}

#[test]
fn f5_unrestricted_account_with_roleless_members() {
    let open = base_with("RESTRICTED", "NOT_SET").replace(
        "  - { id: per, accounts: [a1] }",
        "  - { id: per, accounts: [a1] }\n  - { id: zed, accounts: [a1] }\n  - { id: amy, accounts: [a1] }",
    );
    let e = engine(&open);
    let f: Vec<Finding> = findings(&e)
        .into_iter()
        .filter(|f| f.rule == "F5")
        .collect();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].subject, "a1");
    assert_eq!(
        f[0].message,
        "a1 does not restrict user API key creation (NOT_SET), so every member may create user API keys, and 2 member(s) hold no role at all: amy, zed"
    );
    // The owner holds no binding but is not "roleless"; fid and per hold roles (per only
    // through the group once its own binding is gone).
    let via_group = base_with("RESTRICTED", "NOT_RESTRICTED").replace(
        "  - { subject: per, account: a1, service: containers-kubernetes, roles: [Administrator] }\n",
        "",
    );
    assert!(of(&engine(&via_group), "F5").is_empty());
    // Restricted: no F5 whoever holds no role.
    assert!(of(&engine(&open.replace("NOT_SET", "RESTRICTED")), "F5").is_empty());
}

#[test]
fn f6_at_or_near_the_key_limit() {
    let keys = |who: &str, n: usize| -> String {
        (0..n)
            .map(|i| {
                format!(
                    "  - {{ id: x-{who}-{i}, identity: {who}, account: a1, expires_at: \"2027-01-01T00:00:00Z\" }}\n"
                )
            })
            .collect()
    };
    // per has k-per plus 16 = 17: not yet; bot has k-bot plus 19 = 20: at the limit.
    let world = format!(
        "{}{}{}",
        BASE.replace("cluster_api_keys:", "extra_marker:")
            .split("extra_marker:")
            .next()
            .expect("head"),
        keys("per", 16) + &keys("bot", 19),
        "cluster_api_keys:\n  - { account: a1, region: us-south, resource_group: default, api_key: k-fid }\n"
    );
    let e = engine(&world);
    assert_eq!(
        of(&e, "F6"),
        [
            "bot: bot has 20 API keys, the limit of 20: creating another, or resetting a cluster API key as bot, fails (disabled, expired and obsolete keys count too)"
        ]
    );
    let e = engine(&world.replacen(
        "  - { id: x-per-0,",
        "  - { id: x-per-extra, identity: per, account: a1, expires_at: \"2026-01-01T00:00:00Z\" }\n  - { id: x-per-0,",
        1,
    ));
    let f: Vec<Finding> = findings(&e)
        .into_iter()
        .filter(|f| f.rule == "F6")
        .collect();
    assert_eq!(f.len(), 2);
    assert_eq!(f[1].subject, "per");
    assert_eq!(
        f[1].message,
        "per has 18 API keys, 2 short of the limit of 20 (disabled, expired and obsolete keys count too)"
    );
    assert_eq!(
        f[1].advice,
        "delete the 1 expired key(s) of per, and any others no longer used"
    );
}

#[test]
fn ordered_by_rule_account_subject() {
    let f = findings(&acme());
    let keys: Vec<_> = f
        .iter()
        .map(|f| (f.rule, f.account.clone(), f.subject.clone()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
}

#[test]
fn findings_command_text_and_json() {
    let common = |format| Common {
        world: Some(PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/acme.yaml"
        ))),
        format,
        ..Default::default()
    };
    let text = cli::findings(&common(Format::Text));
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert_eq!(text.stdout, findings_text(&findings(&acme())));
    let json = cli::findings(&common(Format::Json));
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    let first = &v["findings"][0];
    assert_eq!(first["rule"], "F1");
    assert!(first["subject"].is_string() && first["message"].is_string());
    let mut bad = common(Format::Text);
    bad.now = Some("soon".into());
    let out = cli::findings(&bad);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("--now"), "{}", out.stderr);
}
