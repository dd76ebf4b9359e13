//! Decisions whose evaluation fails deny (keyward fails closed), and every report says so: change
//! impact and finding F3 say "denied: evaluation failed (…)", not "nothing permits it", and the
//! audit counts them (`errored_decisions` in json, the `stats` line, the text summary line),
//! exactly: the same count whether the audit reads sets or decides every triple.

use keyward::audit::findings::findings;
use keyward::decide::engine::Engine;
use keyward::decide::policy::{self, PolicyOptions};
use keyward::world::parse_world;
use std::path::{Path, PathBuf};
use std::process::Command;

const ACME: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/acme.yaml");
const POLICIES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/policies");

/// A forbid that errors (integer overflow: it passes strict validation) on every request of
/// `action` whose resource is of type `resource`.
fn erroring(action: &str, resource: &str) -> String {
    format!(
        "@id(\"overflowing-forbid\")\n@rule(\"R5\")\n@doc(\"Errors on every request.\")\nforbid (principal, action == Action::\"{action}\", resource is {resource})\nwhen {{ context.via_trusted_profile || 9223372036854775807 + 1 > 0 }};\n"
    )
}

fn extra_file(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("erroring.cedar");
    std::fs::write(&p, text).unwrap();
    p
}

/// Exit code, stdout.
fn keyward(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(args)
        .output()
        .expect("run keyward");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The json audit of acme with the base policies plus `extra` (if any) and more flags.
fn audit_json(extra: Option<&Path>, more: &[&str]) -> serde_json::Value {
    let mut args = vec!["audit", "--world", ACME, "--format", "json"];
    if let Some(x) = extra {
        args.extend(["--policies", POLICIES, "--policies", x.to_str().unwrap()]);
    }
    args.extend(more);
    serde_json::from_str(&keyward(&args).1).expect("json")
}

#[test]
fn the_audit_counts_decisions_whose_evaluation_failed() {
    let dir = tempfile::TempDir::new().unwrap();
    let x = extra_file(dir.path(), &erroring("api-key-get", "UserApiKey"));
    let sets = audit_json(Some(&x), &[]);
    let naive = audit_json(Some(&x), &["--exhaustive"]);
    let n = sets["errored_decisions"].as_u64().expect("a count");
    // Every caller (13 users, 3 service IDs) on every user API key of acme's world.
    assert!(n > 0, "{}", sets["stats"]);
    assert_eq!(naive["errored_decisions"].as_u64(), Some(n), "exact");
    assert_eq!(
        sets["stats"]["errored_decisions"].as_u64(),
        Some(n),
        "the stats say it too"
    );
    // None of them is a row: they deny.
    let rows = sets["decisions"].as_array().unwrap();
    assert!(
        !rows.iter().any(|r| r["action"] == "api-key-get"
            && r["resource"].as_str().unwrap().starts_with("key-kate"))
    );
    // Filtered as the rows are: kate's errored decisions only.
    let kate = audit_json(Some(&x), &["--principal", "kate"]);
    let kate_naive = audit_json(Some(&x), &["--principal", "kate", "--exhaustive"]);
    let k = kate["errored_decisions"].as_u64().unwrap();
    assert!(k > 0 && k < n, "{k} of {n}");
    assert_eq!(kate_naive["errored_decisions"].as_u64(), Some(k));

    // The text summary line says it.
    let text = keyward(&[
        "audit",
        "--world",
        ACME,
        "--policies",
        POLICIES,
        "--policies",
        x.to_str().unwrap(),
    ])
    .1;
    assert!(
        text.contains(&format!(
            "allowed (principal, action, resource) triples; {n} denied: evaluation failed"
        )),
        "{text}"
    );
}

#[test]
fn errors_of_some_principals_only_are_counted_exactly() {
    // Overflows for callers holding a key, not for the others: a residual the reader does not
    // read (`+`), with permits it does; the callers no permit allows must be counted too.
    let dir = tempfile::TempDir::new().unwrap();
    let x = extra_file(
        dir.path(),
        "@id(\"overflow-if-keys\")\n@rule(\"R5\")\n@doc(\"Errors for callers with keys.\")\nforbid (principal, action == Action::\"api-key-get\", resource)\nwhen { principal.key_count + 9223372036854775807 > 0 };\n",
    );
    let sets = audit_json(Some(&x), &["--action", "api-key-get"]);
    let naive = audit_json(Some(&x), &["--action", "api-key-get", "--exhaustive"]);
    let n = sets["errored_decisions"].as_u64().unwrap();
    assert!(n > 0, "{}", sets["stats"]);
    assert_eq!(naive["errored_decisions"].as_u64(), Some(n), "exact");
    assert_eq!(sets["decisions"], naive["decisions"]);
}

#[test]
fn an_audit_with_no_errors_counts_none_and_its_text_is_unchanged() {
    let base = audit_json(None, &[]);
    assert_eq!(base["errored_decisions"], 0);
    let text = keyward(&["audit", "--world", ACME]).1;
    assert!(!text.contains("evaluation failed"), "{text}");
}

#[test]
fn change_impact_says_evaluation_failed_not_nothing_permits_it() {
    let dir = tempfile::TempDir::new().unwrap();
    let x = extra_file(dir.path(), &erroring("api-key-get", "UserApiKey"));
    let against = [
        "audit",
        "--world",
        ACME,
        "--action",
        "api-key-get",
        "--against-policies",
        POLICIES,
        "--against-policies",
        x.to_str().unwrap(),
    ];
    let text = keyward(&against).1;
    let afters: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("    after:"))
        .collect();
    assert!(!afters.is_empty(), "{text}");
    for l in &afters {
        assert!(
            l.starts_with("    after:  denied: evaluation failed (") && l.contains("overflow"),
            "{l}"
        );
    }
    assert!(!text.contains("nothing permits it"), "{text}");
    for format in ["csv", "markdown"] {
        let out = keyward(&[&against[..], &["--format", format]].concat()).1;
        assert!(out.contains("denied: evaluation failed ("), "{out}");
        assert!(!out.contains("nothing permits it"), "{out}");
    }
}

/// fixtures BASE of tests/findings.rs, with the cluster key's owner `per` holding no role, so
/// that F3 asks the policies whether `per` may reset.
const WORLD: &str = r#"
now: "2026-11-23T12:00:00Z"
accounts:
  - { id: a1, owner: own, restrict_user_api_key_creation: NOT_RESTRICTED }
users:
  - { id: own, accounts: [a1] }
  - { id: per, accounts: [a1] }
role_bindings:
  - { subject: per, account: a1, service: containers-kubernetes, roles: [Administrator] }
api_keys:
  - { id: key-per, identity: per, account: a1, name: c, expires_at: "2027-01-01T00:00:00Z" }
clusters:
  - { id: c1, account: a1, region: us-south, resource_group: default }
cluster_api_keys:
  - { account: a1, region: us-south, resource_group: default, api_key: key-per }
"#;

fn engine(extra: Option<&Path>) -> Engine {
    let mut opts = PolicyOptions::default();
    if let Some(x) = extra {
        opts.policies = vec![PathBuf::from(POLICIES), x.to_path_buf()];
    }
    let bundle = policy::load(&opts).expect("policies load");
    let w = parse_world("w.yaml", WORLD, &bundle.roles).unwrap_or_else(|p| panic!("{p}"));
    Engine::new(bundle, w).expect("entities")
}

fn f3(e: &Engine) -> Vec<String> {
    let all = findings(e).into_iter().filter(|f| f.rule == "F3");
    all.map(|f| f.message).collect()
}

#[test]
fn finding_f3_says_evaluation_failed_not_nothing_permits_it() {
    assert!(f3(&engine(None)).is_empty(), "per may reset: no F3");
    let dir = tempfile::TempDir::new().unwrap();
    let x = extra_file(dir.path(), &erroring("ks-api-key-reset", "Account"));
    let found = f3(&engine(Some(&x)));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].contains("may not reset it: denied: evaluation failed (")
            && found[0].contains("overflowing-forbid"),
        "{}",
        found[0]
    );
    assert!(!found[0].contains("no policy permits it"), "{}", found[0]);
}
