//! Decisions come from the policy files, not from Rust: removing or editing a `.cedar` file
//! given with --policies flips the decision with no rebuild. Also: every shipped policy carries
//! @id, @rule and @doc, and every permission rule of docs/rules.md is encoded by some policy.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A copy of the shipped base policies in a temporary folder.
fn copy_policies() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for e in std::fs::read_dir(root().join("policies")).expect("policies/") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "cedar") {
            std::fs::copy(&p, dir.path().join(p.file_name().expect("name"))).expect("copy");
        }
    }
    dir
}

fn check(policies: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .arg("check")
        .arg("--world")
        .arg(root().join("fixtures/acme.yaml"))
        .arg("--policies")
        .arg(policies)
        .args(args)
        .output()
        .expect("run keyward");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn removing_a_policy_file_flips_the_decision() {
    let dir = copy_policies();
    let req = ["--principal", "kate", "--action", "api-key-create"];
    let (code, out) = check(dir.path(), &req);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("own-user-key-create"), "{out}");

    std::fs::remove_file(dir.path().join("own-keys.cedar")).expect("remove");
    let (code, out) = check(dir.path(), &req);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("not permitted"), "{out}");
}

#[test]
fn removing_a_forbid_file_flips_a_deny_to_allow() {
    let dir = copy_policies();
    let req = ["--principal", "alice", "--action", "api-key-create"];
    let (code, out) = check(dir.path(), &req);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("forbidden by restriction-needs-creator"),
        "{out}"
    );

    std::fs::remove_file(dir.path().join("restriction.cedar")).expect("remove");
    let (code, out) = check(dir.path(), &req);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn editing_a_policy_changes_the_decision() {
    let dir = copy_policies();
    let req = [
        "--principal",
        "olga",
        "--action",
        "api-key-create",
        "--resource",
        "ci-bot",
    ];
    assert_eq!(check(dir.path(), &req).0, 0);
    // The organisation lowers the key limit from 20 to 2: ci-bot already has 2 keys.
    let path = dir.path().join("key-limit.cedar");
    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(
        &path,
        text.replace("resource.key_count >= 20", "resource.key_count >= 2"),
    )
    .expect("write");
    let (code, out) = check(dir.path(), &req);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("forbidden by key-limit"), "{out}");
}

#[test]
fn a_variant_beside_the_policies_folder_is_read_from_disk() {
    let dir = copy_policies();
    let v = dir.path().join("variants/mine");
    std::fs::create_dir_all(&v).expect("mkdir");
    std::fs::write(
        v.join("no-deletes.cedar"),
        "@id(\"no-deletes\")\n@rule(\"R5\")\n@doc(\"Nobody deletes keys.\")\nforbid (principal, action == Action::\"api-key-delete\", resource);\n",
    )
    .expect("write");
    let req = [
        "--principal",
        "dana",
        "--action",
        "api-key-delete",
        "--resource",
        "key-dana-1",
    ];
    assert_eq!(check(dir.path(), &req).0, 0);
    let mut with_variant = req.to_vec();
    with_variant.extend(["--variant", "mine"]);
    let (code, out) = check(dir.path(), &with_variant);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("forbidden by no-deletes"), "{out}");
}

#[test]
fn every_shipped_policy_is_annotated_and_every_permission_rule_is_encoded() {
    let bundle = keyward::decide::policy::load(&Default::default()).expect("shipped set");
    let mut rules = std::collections::BTreeSet::new();
    for p in bundle.info.values() {
        assert!(!p.rules.is_empty(), "{} has no @rule", p.id);
        assert!(!p.doc.is_empty(), "{} has no @doc", p.id);
        rules.extend(p.rules.iter().cloned());
    }
    // R1 is Cedar's default deny, R3 the entity hierarchy (see the schema); R12, R15 and R23
    // belong to the evaluator. Every other rule is a permission some policy encodes.
    for r in [
        "R2", "R4", "R5", "R6", "R7", "R8", "R9", "R10", "R11", "R13", "R14", "R16", "R17", "R18",
        "R19", "R20", "R21", "R22", "R24", "R25",
    ] {
        assert!(rules.contains(r), "no shipped policy names {r}");
    }
}
