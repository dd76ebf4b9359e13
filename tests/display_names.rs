//! Display fields (docs/cli.md): the CLI accepts a unique email or name where it takes an id,
//! an ambiguous one is bad input listing the candidates, and text output shows the name beside
//! an opaque id. Worlds without display fields read exactly as before.

use std::process::Command;

fn keyward(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run keyward");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const W: &str = "fixtures/ibmcloud/world.yaml";

#[test]
fn an_email_or_a_name_stands_for_the_one_id_it_names() {
    let (code, out, err) = keyward(&[
        "check",
        "--world",
        W,
        "--principal",
        "SAM@orbit.example",
        "--action",
        "api-key-delete",
        "--resource",
        "ApiKey-0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.starts_with("ALLOW  IBMid-6100004SAM (Sam Lee) api-key-delete "),
        "{out}"
    );
    // Accounts and clusters by name, a resource group by name within its account.
    let (code, out, err) = keyward(&[
        "check",
        "--world",
        W,
        "--principal",
        "Priya Raman",
        "--action",
        "ks-api-key-reset",
        "--resource",
        "Orbit Prod",
        "--arg",
        "region=eu-de",
        "--arg",
        "resource_group=prod",
        "--format",
        "json",
    ]);
    assert_eq!(code, 2, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["principal"], "IBMid-6100003PRY");
    assert_eq!(v["resource"], "4f1c2a9b8e7d4c3ba1f0e9d8c7b6a501");
    assert_eq!(
        v["args"]["resource_group"],
        "bada6c7c5d0a448bb4865a4e2b5e2ae9"
    );
    let (code, out, _) = keyward(&[
        "check",
        "--world",
        W,
        "--principal",
        "kai@orbit.example",
        "--action",
        "ks-api-key-info",
        "--resource",
        "sandbox",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("ALLOW  IBMid-6100006KAI (Kai Tanaka) ks-api-key-info f546cb4529ae4f91eb71545f42468d22 (sandbox)"), "{out}");
    // Audit filters too.
    let (code, out, _) = keyward(&[
        "audit",
        "--world",
        W,
        "--principal",
        "Kai Tanaka",
        "--format",
        "jsonl",
    ]);
    assert_eq!(code, 0);
    assert!(
        !out.is_empty()
            && out
                .lines()
                .filter(|l| l.starts_with("{\"type\":\"allow\""))
                .all(|l| l.contains("\"principal\":\"IBMid-6100006KAI\"")),
        "{out}"
    );
}

#[test]
fn an_ambiguous_name_is_bad_input_listing_the_candidates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let w = dir.path().join("w.yaml");
    std::fs::write(&w, "accounts: [{ id: acme, owner: u1 }]\nusers:\n  - { id: u1, name: Alex Kim, email: alex@a.example, accounts: [acme] }\n  - { id: u2, name: Alex Kim, email: alex@b.example, accounts: [acme] }\n").expect("write");
    let w = w.display().to_string();
    let (code, out, err) = keyward(&[
        "check",
        "--world",
        &w,
        "--principal",
        "Alex Kim",
        "--action",
        "api-key-create",
        "--resource",
        "u1",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(
        err,
        "error: --principal: `Alex Kim` names 2 things: user u1 (Alex Kim <alex@a.example>), user u2 (Alex Kim <alex@b.example>); give one's id\n"
    );
    // A unique email is fine; an id is always itself.
    let (code, _, err) = keyward(&[
        "check",
        "--world",
        &w,
        "--principal",
        "alex@b.example",
        "--action",
        "api-key-create",
        "--resource",
        "u2",
    ]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn an_audit_of_an_imported_account_reads_as_people() {
    let (code, out, err) = keyward(&["audit", "--world", W]);
    assert_eq!(code, 0, "{err}");
    // Principals and accounts carry their names in the text view...
    assert!(
        out.contains("\nIBMid-6100001OLV (Olivia Okafor)\n"),
        "{out}"
    );
    assert!(
        out.contains("4f1c2a9b8e7d4c3ba1f0e9d8c7b6a501 (Orbit Prod)"),
        "{out}"
    );
    let (_, by_resource, _) = keyward(&["audit", "--world", W, "--by", "resource"]);
    assert!(
        by_resource.contains("IBMid-6100001OLV (Olivia Okafor)"),
        "{by_resource}"
    );
    // ...and the data formats keep plain ids.
    let (_, jsonl, _) = keyward(&["audit", "--world", W, "--format", "jsonl"]);
    assert!(!jsonl.contains("Olivia Okafor"), "{jsonl}");
}

#[test]
fn a_reset_on_an_imported_account_names_the_add_ons_by_ibm_names() {
    // R23 on IBM's own add-on names (`cluster-autoscaler`, `vpc-block-csi-driver`).
    let (code, out, err) = keyward(&[
        "apply",
        "--world",
        W,
        "--principal",
        "IBMid-6100002DMT",
        "--action",
        "ks-api-key-reset",
        "--resource",
        "9d8e7f6a5b4c4d3e8f2a1b0c9d8e7f02",
        "--arg",
        "region=us-east",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("re-create add-ons on f546cb4529ae4f91eb71545f42468d22 (cluster-autoscaler)"),
        "{out}"
    );
}
