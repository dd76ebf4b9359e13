//! `keyward prove` (needs cvc5: these tests fail, never skip, when it is missing): the shipped
//! variants compare as what each one is, the shipped set never errors and satisfies every
//! invariant of `invariants/`, and a broken or loosened policy set fails with a counterexample
//! world whose `keyward check` command reproduces the decision.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_keyward");

/// Run `keyward ARGS` and give (exit code, stdout, stderr).
fn keyward(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut c = Command::new(BIN);
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("keyward runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `keyward prove ARGS --format json --counterexamples DIR`: exit code and JSON.
fn prove(args: &[&str], dir: &Path) -> (i32, Value) {
    let d = dir.display().to_string();
    let mut all = vec!["prove", "--format", "json", "--counterexamples", d.as_str()];
    all.extend_from_slice(args);
    let (code, out, err) = keyward(&all, &[]);
    let json = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("prove printed no JSON ({e}); exit {code}; stderr: {err}"));
    (code, json)
}

fn props<'a>(v: &'a Value, kind: &str) -> Vec<&'a Value> {
    v["properties"]
        .as_array()
        .expect("properties")
        .iter()
        .filter(|p| p["kind"] == kind)
        .collect()
}

fn results(v: &Value, kind: &str) -> Vec<String> {
    props(v, kind)
        .iter()
        .map(|p| p["result"].as_str().unwrap_or("?").to_string())
        .collect()
}

/// Run a counterexample's `keyward check …` commands (as a shell reads them) and confirm
/// each decides as the proof said.
fn reproduce(ce: &Value) {
    assert_eq!(ce["realisable"], true, "not realisable: {ce:#}");
    let checks = ce["checks"].as_array().expect("checks");
    assert!(!checks.is_empty());
    assert_eq!(ce["command"], checks[0]["command"]);
    for c in checks {
        let cmd = c["command"].as_str().expect("a command");
        let rest = cmd.strip_prefix("keyward ").expect("a keyward command");
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("'{BIN}' {rest} --format json"))
            .output()
            .expect("sh runs");
        let d: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{cmd}: no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        let errored = d["errors"].as_array().is_some_and(|e| !e.is_empty());
        match c["expect"].as_str() {
            Some("allow") => assert!(
                d["decision"] == "allow" && out.status.code() == Some(0),
                "{cmd}: {d}"
            ),
            Some("deny") => assert!(
                d["decision"] == "deny" && !errored && out.status.code() == Some(2),
                "{cmd}: {d}"
            ),
            Some("error") => assert!(d["decision"] == "deny" && errored, "{cmd}: {d}"),
            other => panic!("unexpected expectation {other:?}"),
        }
    }
}

/// Every realisable counterexample of the properties of `kind`, reproduced.
fn reproduce_all(v: &Value, kind: &str) -> usize {
    let mut n = 0;
    for p in props(v, kind) {
        for ce in p["counterexamples"].as_array().into_iter().flatten() {
            if ce["realisable"] == true {
                reproduce(ce);
                n += 1;
            }
        }
    }
    n
}

fn compare_variant(name: &str, only: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, v) = prove(&["--against-variant", name], dir.path());
    let rs = results(&v, "compare");
    assert!(!rs.is_empty());
    for r in &rs {
        assert!(
            r == "equivalent" || r == only,
            "{name}: a signature is {r}, not {only}: {v:#}"
        );
    }
    assert!(
        rs.iter().any(|r| r == only),
        "{name} changes nothing: {v:#}"
    );
    assert_eq!(
        code, 3,
        "a variant that changes decisions is not equivalent"
    );
    assert!(
        reproduce_all(&v, "compare") > 0,
        "{name}: no counterexample world"
    );
}

#[test]
fn c1_editor_creates_only_adds() {
    compare_variant("c1-editor-creates", "adds");
}

#[test]
fn c3_viewer_views_only_adds() {
    compare_variant("c3-viewer-views", "adds");
}

#[test]
fn c2_only_admins_delete_only_removes() {
    compare_variant("c2-only-admins-delete", "removes");
}

#[test]
fn functional_cluster_keys_only_removes() {
    compare_variant("functional-cluster-keys", "removes");
}

#[test]
fn the_shipped_set_is_equivalent_to_itself() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, v) = prove(&["--against-policies", "policies"], dir.path());
    assert!(
        results(&v, "compare").iter().all(|r| r == "equivalent"),
        "{v:#}"
    );
    assert_eq!((code, v["holds"].clone()), (0, Value::Bool(true)));
}

#[test]
fn the_shipped_set_never_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, v) = prove(&["--never-errors"], dir.path());
    let rs = results(&v, "never-errors");
    assert!(
        rs.len() >= 20,
        "too few (policy, signature) pairs: {}",
        rs.len()
    );
    assert!(rs.iter().all(|r| r == "holds"), "{v:#}");
    assert_eq!(code, 0);
}

/// The shipped policies copied to a temp folder, with one more file.
fn policies_with(extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for e in std::fs::read_dir("policies").expect("policies/") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "cedar") {
            std::fs::copy(&p, dir.path().join(p.file_name().expect("a name"))).expect("copy");
        }
    }
    std::fs::write(dir.path().join("extra.cedar"), extra).expect("write");
    dir
}

#[test]
fn an_erroring_forbid_gives_a_counterexample() {
    // Overflows once a user holds 10 keys (a count a world can have): the forbid errors, is
    // skipped, and fails open.
    let pol = policies_with(
        r#"@id("overflowing-forbid")
@rule("R10")
@doc("Errors on overflow.")
forbid (principal, action == Action::"api-key-create", resource is User)
when { resource.key_count > 9 && resource.key_count * 1000000000000000000 > 0 };
"#,
    );
    let out = tempfile::tempdir().expect("tempdir");
    let p = pol.path().display().to_string();
    let (code, v) = prove(&["--never-errors", "--policies", &p], out.path());
    assert_eq!(code, 3, "{v:#}");
    let bad: Vec<&Value> = props(&v, "never-errors")
        .into_iter()
        .filter(|p| p["result"] != "holds")
        .collect();
    assert!(!bad.is_empty(), "{v:#}");
    assert!(
        bad.iter().all(|p| p["policy"] == "overflowing-forbid"),
        "{v:#}"
    );
    assert!(
        bad.iter()
            .all(|p| !p["counterexamples"].as_array().expect("array").is_empty())
    );
    assert!(bad.iter().any(|p| p["result"] == "fails"), "{v:#}");
    assert!(reproduce_all(&v, "never-errors") > 0, "{v:#}");
}

#[test]
fn every_invariant_holds_for_the_shipped_set() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, v) = prove(&["--invariants", "invariants"], dir.path());
    let ps = props(&v, "invariant");
    assert!(ps.iter().all(|p| p["result"] == "holds"), "{v:#}");
    assert_eq!((code, v["holds"].clone()), (0, Value::Bool(true)));
    // Every invariant permit constrains at least one signature.
    for f in std::fs::read_dir("invariants").expect("invariants/") {
        let text = std::fs::read_to_string(f.expect("entry").path()).expect("read");
        for id in text.lines().filter_map(|l| l.strip_prefix("@id(\"")) {
            let id = id.trim_end_matches("\")");
            assert!(
                ps.iter().any(|p| p["policy"]
                    .as_str()
                    .is_some_and(|x| x.split(',').any(|i| i == id))),
                "invariant {id} covers no signature"
            );
        }
    }
}

#[test]
fn a_loosened_policy_breaks_r6_with_a_world_that_reproduces_it() {
    let pol = policies_with(
        r#"@id("editors-delete-user-keys")
@rule("R6")
@doc("Loosened: IAM Identity Editors delete user API keys.")
permit (principal, action == Action::"api-key-delete", resource is UserApiKey)
when { principal in context.roles["iam-identity"]["Editor"] };
"#,
    );
    let out = tempfile::tempdir().expect("tempdir");
    let p = pol.path().display().to_string();
    let (code, v) = prove(
        &[
            "--policies",
            &p,
            "--invariants",
            "invariants/R6-others-user-keys.cedar",
        ],
        out.path(),
    );
    assert_eq!((code, v["holds"].clone()), (3, Value::Bool(false)), "{v:#}");
    let failed: Vec<&Value> = props(&v, "invariant")
        .into_iter()
        .filter(|p| p["result"] == "fails")
        .collect();
    assert!(!failed.is_empty(), "{v:#}");
    assert!(
        failed.iter().all(|p| p["action"] == "api-key-delete"),
        "{v:#}"
    );
    assert!(reproduce_all(&v, "invariant") > 0);
    // The world file is where the command says.
    let world = failed[0]["counterexamples"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["realisable"] == true))
        .and_then(|c| c["world"].as_str())
        .map(PathBuf::from)
        .expect("a realisable world");
    assert!(world.starts_with(out.path()) && world.is_file());
}

#[test]
fn without_cvc5_prove_says_how_to_install_it() {
    let (code, out, err) = keyward(
        &["prove", "--never-errors"],
        &[("CVC5", "/nonexistent/cvc5")],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("apt-get install cvc5"), "{err}");
}

#[test]
fn prove_needs_something_to_prove() {
    let (code, _, err) = keyward(&["prove"], &[]);
    assert_eq!(code, 1);
    assert!(err.contains("--never-errors"), "{err}");
}

/// The world-shape assumptions hold for every request keyward builds from a world: turned into
/// permits, none of them matches any request of the example world.
#[test]
fn world_shape_assumptions_never_match_a_world_request() {
    use keyward::decide::policy::{self, PolicyOptions};
    let bundle = policy::load(&PolicyOptions::default()).expect("the shipped set");
    let world = keyward::world::load_world(Path::new("fixtures/acme.yaml"), &bundle.roles)
        .expect("acme loads");
    let engine = keyward::Engine::new(bundle, world).expect("an engine");
    let as_permits: cedar_policy::PolicySet = keyward::prove::WORLD_SHAPE
        .replace("forbid (", "permit (")
        .parse()
        .expect("the assumptions parse");
    assert!(as_permits.policies().count() >= 10);
    let auth = cedar_policy::Authorizer::new();
    let requests = keyward::decide::request::all_requests(&engine.tr);
    assert!(requests.len() > 100);
    for spec in &requests {
        let Ok(t) = engine.translate(spec) else {
            continue;
        };
        let req = engine.cedar_request(&t).expect("a Cedar request");
        let r = auth.is_authorized(
            &req,
            &as_permits,
            engine.entities().expect("the acme entities"),
        );
        assert_eq!(
            r.decision(),
            cedar_policy::Decision::Deny,
            "a world-shape assumption matches {spec:?}: {:?}",
            r.diagnostics().reason().collect::<Vec<_>>()
        );
        assert_eq!(r.diagnostics().errors().count(), 0, "{spec:?}");
    }
}
