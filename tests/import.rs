//! `keyward import --from`: the shipped IBM Cloud export (fixtures/ibmcloud) becomes exactly
//! fixtures/ibmcloud/world.yaml, deterministically, valid, with its decision tests passing; bad
//! input is located by file and JSON path; what was dropped is listed; `--strict` fails on it.

use keyward::cli::import::{ImportArgs, import};
use std::path::{Path, PathBuf};
use std::process::Command;

const PROD: &str = "4f1c2a9b8e7d4c3ba1f0e9d8c7b6a501";
const DEV: &str = "9d8e7f6a5b4c4d3e8f2a1b0c9d8e7f02";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/ibmcloud")
}

fn args(from: &Path, overlay: bool) -> ImportArgs {
    ImportArgs {
        from: Some(from.to_path_buf()),
        overlay: overlay.then(|| fixtures().join("overlay.yaml")),
        ..Default::default()
    }
}

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

/// A copy of the shipped export to break.
fn copy_export() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy(&fixtures().join("export"), dir.path());
    dir
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let p = e.expect("entry").path();
        let target = to.join(p.file_name().expect("name"));
        if p.is_dir() {
            copy(&p, &target);
        } else {
            std::fs::copy(&p, &target).expect("copy");
        }
    }
}

fn edit(path: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json");
    f(&mut v);
    std::fs::write(path, serde_json::to_string_pretty(&v).expect("json")).expect("write");
}

#[test]
fn the_shipped_export_imports_to_the_shipped_world_byte_for_byte_twice() {
    let first = import(&args(&fixtures().join("export"), true));
    assert_eq!(first.code, 0, "{}", first.stderr);
    let second = import(&args(&fixtures().join("export"), true));
    assert_eq!(
        first.stdout, second.stdout,
        "the same export gives the same world"
    );
    assert_eq!(first.stderr, second.stderr, "and the same summary");
    let shipped = std::fs::read_to_string(fixtures().join("world.yaml")).expect("world.yaml");
    assert_eq!(
        first.stdout, shipped,
        "fixtures/ibmcloud/world.yaml is what `keyward import --from fixtures/ibmcloud/export --overlay fixtures/ibmcloud/overlay.yaml` prints: re-run it"
    );
}

#[test]
fn the_imported_world_validates_and_its_decision_tests_pass() {
    let (code, out, err) = keyward(&["validate", "--world", "fixtures/ibmcloud/world.yaml"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = keyward(&["test", "fixtures/ibmcloud/decisions.yaml"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.ends_with(" passed, 0 failed\n"), "{out}");
    // Without the overlay the import is valid too.
    let bare = import(&args(&fixtures().join("export"), false));
    assert_eq!(bare.code, 0, "{}", bare.stderr);
    let dir = tempfile::tempdir().expect("tempdir");
    let w = dir.path().join("w.yaml");
    std::fs::write(&w, &bare.stdout).expect("write");
    let (code, out, err) = keyward(&["validate", "--world", &w.display().to_string()]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn the_mapping_reads_ids_times_roles_scopes_and_names() {
    let out = import(&args(&fixtures().join("export"), false));
    let w: serde_json::Value = serde_yaml::from_str(&out.stdout).expect("yaml");
    let find = |section: &str, id: &str| {
        w[section]
            .as_array()
            .and_then(|l| l.iter().find(|r| r["id"] == id).cloned())
            .unwrap_or_else(|| panic!("{section} {id} in {}", out.stdout))
    };
    // Users are one record however many accounts list them, by iam_id, with display fields.
    let sam = find("users", "IBMid-6100004SAM");
    assert_eq!(sam["accounts"], serde_json::json!([PROD, DEV]));
    assert_eq!(sam["name"], "Sam Lee");
    assert_eq!(sam["email"], "sam@orbit.example");
    // IAM's `yyyy-MM-ddTHH:mm+0000` becomes RFC 3339; absent action_when_leaked is disable.
    let lena_key = find("api_keys", "ApiKey-9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d");
    assert_eq!(lena_key["expires_at"], "2027-03-01T09:30:00Z");
    assert_eq!(lena_key["action_when_leaked"], "delete");
    assert_eq!(lena_key["locked"], true);
    let sam_key = find("api_keys", "ApiKey-4678aeca-4291-41f2-8901-9b31a4b560f4");
    assert_eq!(sam_key["action_when_leaked"], "disable");
    assert_eq!(sam_key["etag"], "1-d97ba8e50dd7f9ee0c87b17b295c631d");
    // Service ID keys authenticate as the service ID's iam_id; the creator from history.
    let ci = find(
        "service_ids",
        "iam-ServiceId-ee1103f8-e03b-4d02-a977-e540ebdffb16",
    );
    assert_eq!(ci["created_by"], "IBMid-6100003PRY");
    assert_eq!(ci["name"], "ci-pipeline");
    // The account: owner, restriction, default resource group, names.
    let prod = find("accounts", PROD);
    assert_eq!(prod["owner"], "IBMid-6100001OLV");
    assert_eq!(prod["restrict_user_api_key_creation"], "RESTRICTED");
    assert_eq!(
        prod["default_resource_group"],
        "a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5"
    );
    assert_eq!(prod["resource_groups"][1]["name"], "prod");
    // Classic: parentId → classic_parent by iamId; one key per user with keys.
    assert_eq!(
        find("users", "IBMid-6100007LEN")["classic_parent"],
        "IBMid-6100001OLV"
    );
    assert_eq!(
        find("classic_keys", "classic-887766")["user"],
        "IBMid-6100006KAI"
    );
    // Role bindings: the scoped service ID binding names the service ID by iam_id; the
    // wildcard service_group_id=IAM expands to IAM Identity and User Management.
    let bindings = w["role_bindings"].as_array().expect("bindings");
    assert!(bindings.iter().any(|b| b["subject"] == "IBMid-6100003PRY"
        && b["resource"] == "iam-ServiceId-ee1103f8-e03b-4d02-a977-e540ebdffb16"
        && b["roles"] == serde_json::json!(["Operator"])));
    let lena: Vec<_> = bindings
        .iter()
        .filter(|b| b["subject"] == "IBMid-6100007LEN")
        .collect();
    assert_eq!(
        lena.len(),
        1,
        "User API key creator exists only on iam-identity: {lena:?}"
    );
    assert_eq!(
        lena[0]["roles"],
        serde_json::json!(["User API key creator"])
    );
    // Cluster slots inferred from containers-kubernetes-key descriptions.
    let slots = w["cluster_api_keys"].as_array().expect("slots");
    assert!(
        slots.iter().any(|s| s["region"] == "eu-de"
            && s["api_key"] == "ApiKey-5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9")
    );
}

#[test]
fn the_summary_lists_what_was_dropped_guessed_and_not_modelled() {
    let out = import(&args(&fixtures().join("export"), false));
    let s = &out.stderr;
    for want in [
        "import: 2 accounts, 7 users, 3 service IDs",
        "roles keyward does not model (grants counted): Manager 1, ServiceIdCreator 1",
        "services keyward does not model (policies counted): cloud-object-storage 1",
        "policies skipped: type authorization 1",
        // A group member who is no user, a trusted profile, a key of an unknown iam_id.
        &format!(
            "{PROD}/access-group-members/AccessGroupId-9cd1d868-2b4a-4c5d-8e9f-0a1b2c3d4e5f.json: [2]: member `iam-Profile-"
        ),
        "[3]: member `IBMid-6100099GON` is no user or service ID",
        &format!(
            "{PROD}/apikeys.json: [1].apikeys[1]: API key `ApiKey-2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e` authenticates as `IBMid-6100099GON`"
        ),
        // Over-approximated conditions, each listed with its path.
        &format!(
            "{PROD}/policies.json: [0].policies[0].rule: policy `1e7c9a3b-2d4f-4e6a-8b0c-1d2e3f4a5b6c` holds only under time-based-conditions"
        ),
        &format!("{PROD}/policies.json: [1].policies[4].resource.tags:"),
        &format!(
            "{DEV}/policies.json: policies[4].resources[0]: policy `e5f6a7b8-c9d0-4e1f-8a2b-4c5d6e7f8a9b` names only the account"
        ),
        // The v1 placeholder of a v2 policy is reported, never silently dropped.
        &format!(
            "{DEV}/policies.json: policies[3]: policy `d4e5f6a7-b8c9-4d0e-9f1a-3b4c5d6e7f8a` is a v2 policy shown by /v1/policies as a placeholder"
        ),
        "service_group_id=IAM expanded to iam-identity, user-management",
        "serviceType=service expanded to containers-kubernetes",
        "inferred: `ApiKey-0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f`",
        "service IDs with no known creator (R18 cannot apply; give `created_by` in --overlay) (1):\n  iam-ServiceId-0aec4d99-5c2e-4f1a-9b1d-3c4e5f6a7b8c\n",
        "  IBMid-6100005FNC (",
    ] {
        assert!(s.contains(want), "summary lacks {want:?}:\n{s}");
    }
    // The overlay fills what the APIs cannot say.
    let with = import(&args(&fixtures().join("export"), true));
    assert!(!with.stderr.contains("no known creator"), "{}", with.stderr);
    assert!(
        !with.stderr.contains("  IBMid-6100005FNC ("),
        "functional via the overlay: {}",
        with.stderr
    );
    assert!(
        !with.stderr.contains("is unknown (give it in --overlay)"),
        "{}",
        with.stderr
    );
}

#[test]
fn strict_fails_when_anything_was_dropped() {
    let mut a = args(&fixtures().join("export"), true);
    a.strict = true;
    let out = import(&a);
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("--strict: records were dropped"),
        "{}",
        out.stderr
    );
    assert!(!out.stdout.is_empty(), "the world is still printed");
}

#[test]
fn a_malformed_file_is_an_error_naming_the_file_and_json_path() {
    let dir = copy_export();
    let policies = dir.path().join(PROD).join("policies.json");
    edit(&policies, |v| {
        v[0]["policies"][3]["resource"]["attributes"][1]["value"] = serde_json::json!(7)
    });
    let out = import(&args(dir.path(), false));
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr,
        format!(
            "error: {PROD}/policies.json: [0].policies[3].resource.attributes[1]: attribute `serviceName`: expected a string value, got 7\n"
        )
    );
    assert!(out.stdout.is_empty());

    let dir = copy_export();
    edit(&dir.path().join(PROD).join("apikeys.json"), |v| {
        v[1]["apikeys"][0]["locked"] = serde_json::json!("no")
    });
    let out = import(&args(dir.path(), false));
    assert_eq!(out.code, 1);
    assert!(out.stderr.starts_with(&format!("error: {PROD}/apikeys.json: [1].apikeys[0].locked: invalid type: string \"no\", expected a boolean")), "{}", out.stderr);

    let dir = copy_export();
    edit(&dir.path().join(DEV).join("apikeys.json"), |v| {
        v[1]["expires_at"] = serde_json::json!("next week")
    });
    let out = import(&args(dir.path(), false));
    assert_eq!(
        out.stderr,
        format!(
            "error: {DEV}/apikeys.json: [1].expires_at: `next week` is not an IAM timestamp (e.g. 2025-05-28T14:14+0000)\n"
        )
    );

    let dir = copy_export();
    edit(&dir.path().join(DEV).join("users.json"), |v| {
        *v = serde_json::json!({"resources": 3})
    });
    let out = import(&args(dir.path(), false));
    assert_eq!(
        out.stderr,
        format!("error: {DEV}/users.json: resources: expected an array\n")
    );

    let dir = copy_export();
    std::fs::write(dir.path().join(DEV).join("clusters.json"), "[{").expect("write");
    let out = import(&args(dir.path(), false));
    assert!(
        out.stderr
            .starts_with(&format!("error: {DEV}/clusters.json: not valid JSON: ")),
        "{}",
        out.stderr
    );

    let dir = copy_export();
    std::fs::remove_file(dir.path().join(DEV).join("users.json")).expect("rm");
    let out = import(&args(dir.path(), false));
    assert_eq!(
        out.stderr,
        format!("error: {DEV}/users.json: missing: every account needs its user list\n")
    );

    let dir = copy_export();
    edit(&dir.path().join(PROD).join("identity-settings.json"), |v| {
        v["restrict_create_platform_apikey"] = serde_json::json!("YES")
    });
    let out = import(&args(dir.path(), false));
    assert_eq!(
        out.stderr,
        format!(
            "error: {PROD}/identity-settings.json: restrict_create_platform_apikey: `YES`: expected RESTRICTED, NOT_RESTRICTED or NOT_SET\n"
        )
    );
}

#[test]
fn the_binary_exits_1_on_bad_input_and_writes_out_only_on_success() {
    let dir = copy_export();
    edit(&dir.path().join(PROD).join("serviceids.json"), |v| {
        v["serviceids"][1]["iam_id"] = serde_json::json!(null)
    });
    let out_file = dir.path().join("world.yaml");
    let (code, out, err) = keyward(&[
        "import",
        "--from",
        &dir.path().display().to_string(),
        "--out",
        &out_file.display().to_string(),
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains(&format!(
            "{PROD}/serviceids.json: serviceids[1].iam_id: invalid type: null, expected a string"
        )),
        "{err}"
    );
    assert!(!out_file.exists());
    let (code, _, err) = keyward(&[
        "import",
        "--from",
        "fixtures/ibmcloud/export",
        "--out",
        &out_file.display().to_string(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(&format!("wrote {}", out_file.display())),
        "{err}"
    );
    assert!(
        std::fs::read_to_string(&out_file)
            .expect("written")
            .contains("Orbit Prod")
    );
}

#[test]
fn a_bad_overlay_is_located_in_the_overlay_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let overlay = dir.path().join("overlay.yaml");
    std::fs::write(
        &overlay,
        "users:\n  - id: IBMid-6100005FNC\n    functional: maybe\n",
    )
    .expect("write");
    let mut a = args(&fixtures().join("export"), false);
    a.overlay = Some(overlay.clone());
    let out = import(&a);
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr,
        format!(
            "error: {}:3:5: users[0].functional: invalid type: string \"maybe\", expected a boolean\n",
            overlay.display()
        )
    );

    // A reference the world cannot resolve is a validation problem, named by field.
    std::fs::write(&overlay, "service_ids:\n  - { id: iam-ServiceId-0aec4d99-5c2e-4f1a-9b1d-3c4e5f6a7b8c, created_by: nobody }\n").expect("write");
    let out = import(&a);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("the imported world is not valid")
            && out
                .stderr
                .contains("created_by: no user `nobody` in this world"),
        "{}",
        out.stderr
    );
}

#[test]
fn the_cli_array_and_page_array_shapes_read_the_same_records() {
    // Rewrite prod's paged apikeys.json as one response and as the CLI's bare array.
    let text = std::fs::read_to_string(fixtures().join("export").join(PROD).join("apikeys.json"))
        .expect("read");
    let pages: serde_json::Value = serde_json::from_str(&text).expect("json");
    let items: Vec<serde_json::Value> = pages
        .as_array()
        .expect("pages")
        .iter()
        .flat_map(|p| p["apikeys"].as_array().cloned().unwrap_or_default())
        .collect();
    let reference = import(&args(&fixtures().join("export"), false)).stdout;
    for shape in [
        serde_json::json!({"apikeys": items.clone()}),
        serde_json::Value::Array(items.clone()),
    ] {
        let dir = copy_export();
        std::fs::write(
            dir.path().join(PROD).join("apikeys.json"),
            shape.to_string(),
        )
        .expect("write");
        let out = import(&args(dir.path(), false));
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(out.stdout, reference);
    }
}
