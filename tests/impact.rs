//! Change impact: each shipped conflict variant against the base shows exactly the decisions the
//! conflict is about; a hand-edited policy file shows exactly the decisions that flip; and the
//! command's jsonl rows carry both sides.

use keyward::audit::AuditOptions;
use keyward::audit::impact::impact;
use keyward::cli::{Common, load_engine};
use keyward::decide::policy::PolicyOptions;
use std::path::PathBuf;
use std::process::Command;

fn acme(variants: &[&str], policies: Vec<PathBuf>) -> keyward::decide::engine::Engine {
    load_engine(&Common {
        world: Some(PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/acme.yaml"
        ))),
        policy: PolicyOptions {
            policies,
            variants: variants.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        },
        ..Default::default()
    })
    .expect("acme")
}

fn changes(variant: &str) -> Vec<String> {
    let base = acme(&[], vec![]);
    let other = acme(&[variant], vec![]);
    let mut out: Vec<String> = impact(&base, &other, &AuditOptions::default(), &|_, _| {})
        .expect("impact")
        .iter()
        .map(|c| {
            format!(
                "{} {} {} {}",
                c.change, c.after.principal, c.after.action, c.after.resource
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn c1_gains_editor_creating_service_id_keys() {
    assert_eq!(
        changes("c1-editor-creates"),
        [
            "gained eddie api-key-create ci-bot",
            "gained eddie api-key-create nora-bot"
        ]
    );
}

#[test]
fn c2_revokes_operator_deleting_service_id_keys() {
    assert_eq!(
        changes("c2-only-admins-delete"),
        [
            "revoked olga api-key-delete key-ci-1",
            "revoked olga api-key-delete key-nora-bot-1"
        ]
    );
}

#[test]
fn c3_gains_viewer_viewing_service_id_keys() {
    assert_eq!(
        changes("c3-viewer-views"),
        [
            "gained vera api-key-get key-ci-1",
            "gained vera api-key-get key-ci-2",
            "gained vera api-key-get key-nora-bot-1"
        ]
    );
}

#[test]
fn a_hand_edited_policy_lists_exactly_what_flips() {
    // Copy the base policies and drop the owner's power over other users' keys.
    let dir = tempfile::tempdir().expect("tempdir");
    for e in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/policies")).expect("policies")
    {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "cedar") {
            std::fs::copy(&p, dir.path().join(p.file_name().expect("name"))).expect("copy");
        }
    }
    let owner = dir.path().join("owner.cedar");
    let text = std::fs::read_to_string(&owner).expect("read");
    let edited = text.replace(
        "when { principal == context.account.owner };\n\n@id(\"owner-manages-service-id-keys\")",
        "when { false };\n\n@id(\"owner-manages-service-id-keys\")",
    );
    assert_ne!(text, edited, "the edit applies");
    std::fs::write(&owner, edited).expect("write");

    let out = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args([
            "audit",
            "--world",
            concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/acme.yaml"),
            "--format",
            "jsonl",
            "--against-policies",
        ])
        .arg(dir.path())
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    // The owners keep their own keys (R5) and lose every other user key of their account, and
    // nothing else: alice, 7 actions on acme's 8 other user keys less update/delete/disable of
    // the locked key-ivan-1 (no one may do those anyway); gina, 7 actions on key-pat-globex.
    for r in &rows {
        assert_eq!(r["change"], "revoked", "{r}");
        assert_eq!(
            r["before"]["reasons"][0]["policy"], "owner-manages-user-keys",
            "{r}"
        );
        assert_eq!(r["after"]["decision"], "deny", "{r}");
        assert!(
            !["key-alice-1", "key-alice-cluster"].contains(&r["resource"].as_str().unwrap_or("")),
            "{r}"
        );
    }
    let by = |who: &str| rows.iter().filter(|r| r["principal"] == who).count();
    assert_eq!(
        (by("alice"), by("gina"), rows.len()),
        (7 * 8 - 3, 7, 7 * 8 - 3 + 7),
        "{rows:#?}"
    );
}
