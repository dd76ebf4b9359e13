//! `keyward apply`: what each allowed action does to the world, that a denied or failed request
//! leaves the file byte-identical, that key values are shown once and never stored (R12), and
//! that stale etags conflict (R15). Runs the library function the binary runs, on copies of
//! fixtures/acme.yaml.

use keyward::cli::{self, Common, Format, Outcome};
use keyward::decide::policy::{self, PolicyOptions};
use keyward::decide::request::RequestSpec;
use keyward::evaluator::changes::fingerprint;
use keyward::world::{World, load_world};
use serde_json::Value;
use std::path::{Path, PathBuf};

const ACME: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/acme.yaml");

/// A private copy of acme to write to.
fn acme_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("acme.yaml");
    std::fs::copy(ACME, &path).expect("copy acme");
    (dir, path)
}

fn spec(p: &str, a: &str, r: Option<&str>, args: &[(&str, &str)]) -> RequestSpec {
    RequestSpec {
        principal: p.into(),
        action: a.into(),
        resource: r.map(String::from),
        args: args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    }
}

fn apply_on(path: &Path, s: &RequestSpec, write: bool, format: Format) -> Outcome {
    let common = Common {
        world: Some(path.to_path_buf()),
        format,
        ..Default::default()
    };
    cli::apply(&common, s, write)
}

fn json(o: &Outcome) -> Value {
    serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {o:?}"))
}

fn load(path: &Path) -> World {
    let bundle = policy::load(&PolicyOptions::default()).expect("policies");
    load_world(path, &bundle.roles).unwrap_or_else(|p| panic!("{p}"))
}

#[test]
fn create_shows_the_value_once_and_keeps_only_its_fingerprint() {
    let (_d, path) = acme_copy();
    let o = apply_on(
        &path,
        &spec(
            "ivan",
            "api-key-create",
            Some("ci-bot"),
            &[("name", "deploy")],
        ),
        true,
        Format::Json,
    );
    assert_eq!(o.code, 0, "{o:?}");
    let v = json(&o);
    let value = v["api_key_value"].as_str().expect("a value").to_string();
    assert_eq!(value.len(), 44);
    assert_eq!(v["written"], true);
    assert_eq!(v["changes"][0]["op"], "add");
    let id = v["changes"][0]["id"].as_str().unwrap().to_string();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains(&value), "the value is stored");
    let w = load(&path);
    let k = w.api_keys.iter().find(|k| k.id == id).expect("the new key");
    assert_eq!(k.identity, "ci-bot");
    assert_eq!(k.created_by.as_deref(), Some("ivan"));
    assert_eq!(k.etag.as_deref(), Some("1"));
    assert_eq!(k.fingerprint.as_deref(), Some(fingerprint(&value).as_str()));
    // Never shown again: viewing the key shows metadata only.
    for f in [Format::Text, Format::Json] {
        let g = apply_on(
            &path,
            &spec("ivan", "api-key-get", Some(&id), &[]),
            false,
            f,
        );
        assert_eq!(g.code, 0, "{g:?}");
        assert!(!g.stdout.contains(&value) && !g.stderr.contains(&value));
    }
    // Two creations never make the same value.
    let o2 = apply_on(
        &path,
        &spec("ivan", "api-key-create", Some("ci-bot"), &[]),
        false,
        Format::Json,
    );
    assert_ne!(json(&o2)["api_key_value"].as_str().unwrap(), value);
}

#[test]
fn text_output_has_decision_value_and_diff() {
    let (_d, path) = acme_copy();
    let o = apply_on(
        &path,
        &spec("kate", "api-key-create", None, &[("name", "ci")]),
        false,
        Format::Text,
    );
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.starts_with("ALLOW  kate api-key-create kate"));
    assert!(o.stdout.contains("permitted by own-user-key-create [R4]"));
    assert!(
        o.stdout
            .contains("api key value (shown once; only its fingerprint is kept): ")
    );
    assert!(
        o.stdout
            .contains("\n+ api_keys key-1: {id: key-1, name: ci, identity: kate")
    );
    assert!(o.stdout.contains("dry run:"));
}

#[test]
fn a_dry_run_never_touches_the_file() {
    let (_d, path) = acme_copy();
    let before = std::fs::read(&path).unwrap();
    for s in [
        spec("ivan", "api-key-delete", Some("key-kate-1"), &[]),
        spec("kate", "api-key-create", None, &[]),
        spec(
            "fred",
            "ks-api-key-reset",
            Some("acme"),
            &[("region", "us-south")],
        ),
    ] {
        let o = apply_on(&path, &s, false, Format::Text);
        assert_eq!(o.code, 0, "{o:?}");
        assert!(o.stdout.contains("dry run"), "{}", o.stdout);
    }
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn a_denied_request_exits_2_and_never_touches_the_file() {
    let (_d, path) = acme_copy();
    let before = std::fs::read(&path).unwrap();
    // R7: alice is the owner but lacks the creator role in restricted acme.
    let o = apply_on(
        &path,
        &spec("alice", "api-key-create", None, &[]),
        true,
        Format::Json,
    );
    assert_eq!(o.code, 2, "{o:?}");
    let v = json(&o);
    assert_eq!(v["decision"], "deny");
    assert!(v.get("changes").is_none() && v.get("api_key_value").is_none());
    assert_eq!(v["written"], false);
    // R11: a locked key is not deleted, even by an administrator.
    let o = apply_on(
        &path,
        &spec("ivan", "api-key-delete", Some("key-ivan-1"), &[]),
        true,
        Format::Text,
    );
    assert_eq!(o.code, 2);
    assert!(o.stdout.contains("forbidden by locked-key-frozen [R11]"));
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn r15_a_stale_etag_is_a_conflict_and_changes_nothing() {
    let (_d, path) = acme_copy();
    let before = std::fs::read(&path).unwrap();
    // key-kate-1 is at etag "1".
    let stale = spec(
        "kate",
        "api-key-update",
        Some("key-kate-1"),
        &[("etag", "0"), ("name", "x")],
    );
    let o = apply_on(&path, &stale, true, Format::Json);
    assert_eq!(o.code, 1, "{o:?}");
    let v = json(&o);
    assert_eq!(
        v["decision"], "allow",
        "the policies allowed it; the operation failed"
    );
    assert!(v["error"].as_str().unwrap().starts_with("conflict:"));
    assert_eq!(v["changes"], serde_json::json!([]));
    assert!(
        o.stderr
            .contains("is at etag \"1\", the request carries \"0\"")
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
    // Missing etag: the operation cannot be carried out.
    let o = apply_on(
        &path,
        &spec(
            "kate",
            "api-key-update",
            Some("key-kate-1"),
            &[("name", "x")],
        ),
        true,
        Format::Text,
    );
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("needs --arg etag"), "{}", o.stderr);
    assert_eq!(std::fs::read(&path).unwrap(), before);
    // The current etag, then "*", succeed; each moves the etag on.
    let o = apply_on(
        &path,
        &spec(
            "kate",
            "api-key-update",
            Some("key-kate-1"),
            &[("etag", "1"), ("name", "x")],
        ),
        true,
        Format::Json,
    );
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(json(&o)["result"]["etag"], "2");
    let o = apply_on(
        &path,
        &spec(
            "kate",
            "api-key-update",
            Some("key-kate-1"),
            &[("etag", "*"), ("description", "d")],
        ),
        true,
        Format::Json,
    );
    assert_eq!(o.code, 0, "{o:?}");
    let w = load(&path);
    let k = w.api_keys.iter().find(|k| k.id == "key-kate-1").unwrap();
    assert_eq!(
        (k.name.as_str(), k.description.as_str(), k.etag.as_deref()),
        ("x", "d", Some("3"))
    );
}

#[test]
fn r12_a_caller_supplied_value_is_checked_and_never_echoed() {
    let (_d, path) = acme_copy();
    let short = "too-short-value";
    let o = apply_on(
        &path,
        &spec("kate", "api-key-create", None, &[("apikey", short)]),
        true,
        Format::Text,
    );
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("at least 32 characters"), "{}", o.stderr);
    assert!(!o.stderr.contains(short) && !o.stdout.contains(short));
    let value = "a-caller-supplied-value-of-40-characters";
    for f in [Format::Text, Format::Json] {
        let o = apply_on(
            &path,
            &spec("kate", "api-key-create", None, &[("apikey", value)]),
            true,
            f,
        );
        assert_eq!(o.code, 0, "{o:?}");
        assert!(
            !o.stdout.contains(value) && !o.stderr.contains(value),
            "{o:?}"
        );
        assert!(!o.stdout.contains("api key value") && !o.stdout.contains("api_key_value"));
    }
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains(value));
    assert!(text.contains(&fingerprint(value)));
}

#[test]
fn r21_r23_a_reset_replaces_the_slot_obsoletes_the_old_key_and_lists_affected_clusters() {
    let (_d, path) = acme_copy();
    let o = apply_on(
        &path,
        &spec(
            "fred",
            "ks-api-key-reset",
            Some("acme"),
            &[("region", "us-south")],
        ),
        true,
        Format::Json,
    );
    assert_eq!(o.code, 0, "{o:?}");
    let v = json(&o);
    assert!(
        v.get("api_key_value").is_none(),
        "a reset's key goes to the clusters only"
    );
    let r = &v["result"];
    assert_eq!(r["previous_api_key"], "key-fred-cluster");
    assert_eq!(r["obsolete"], "key-fred-cluster");
    // us-prod-1 has block-storage and autoscaler; us-prod-2 none; us-batch-1 is another group.
    assert_eq!(
        r["recreate_addons"],
        serde_json::json!([{"cluster": "us-prod-1", "addons": ["block-storage", "autoscaler"]}])
    );
    let new = r["api_key"].as_str().unwrap();
    let w = load(&path);
    let k = w.api_keys.iter().find(|k| k.id == new).unwrap();
    assert_eq!(
        (k.identity.as_str(), k.account.as_str(), k.name.as_str()),
        ("fred", "acme", "containers-kubernetes-key")
    );
    assert!(k.fingerprint.is_some());
    let slot = w
        .cluster_api_keys
        .iter()
        .find(|s| s.region == "us-south" && s.resource_group == "default")
        .unwrap();
    assert_eq!(slot.api_key, new);
    let old = w
        .api_keys
        .iter()
        .find(|k| k.id == "key-fred-cluster")
        .unwrap();
    assert!(old.obsolete);
    assert_eq!(old.etag.as_deref(), Some("2"));
    // And the cluster now reports the new credentials (R24).
    let o = apply_on(
        &path,
        &spec("alice", "ks-api-key-info", Some("us-prod-2"), &[]),
        false,
        Format::Json,
    );
    assert_eq!(json(&o)["result"]["api_key"], new);
    assert_eq!(json(&o)["result"]["identity"], "fred");
}

#[test]
fn r25_removing_a_user_removes_their_keys_there_and_reports_orphaned_cluster_keys() {
    let (_d, path) = acme_copy();
    let o = apply_on(
        &path,
        &spec("ivan", "user-remove", Some("kim"), &[]),
        true,
        Format::Json,
    );
    assert_eq!(o.code, 0, "{o:?}");
    let v = json(&o);
    assert_eq!(
        v["result"]["removed_api_keys"],
        serde_json::json!(["key-kim-cluster"])
    );
    assert_eq!(
        v["result"]["orphaned_cluster_keys"][0]["region"],
        "us-south"
    );
    assert_eq!(
        v["result"]["orphaned_cluster_keys"][0]["resource_group"],
        "batch"
    );
    let w = load(&path);
    assert!(
        w.users
            .iter()
            .find(|u| u.id == "kim")
            .unwrap()
            .accounts
            .is_empty()
    );
    assert!(!w.api_keys.iter().any(|k| k.identity == "kim"));
    assert!(
        !w.access_groups
            .iter()
            .any(|g| g.members.contains(&"kim".to_string()))
    );
    // The owner cannot be removed (a forbid, R25).
    let o = apply_on(
        &path,
        &spec("ivan", "user-remove", Some("alice"), &[]),
        true,
        Format::Text,
    );
    assert_eq!(o.code, 2);
    assert!(o.stdout.contains("owner-cannot-be-removed"));
}

#[test]
fn r13_r16_login_says_who_the_key_authenticates_as_until_it_expires() {
    let (_d, path) = acme_copy();
    let o = apply_on(
        &path,
        &spec("key-pat-acme", "login", Some("globex"), &[]),
        true,
        Format::Json,
    );
    assert_eq!(o.code, 0, "{o:?}");
    let v = json(&o);
    assert_eq!(v["result"]["identity"], "pat");
    assert_eq!(v["result"]["account"], "globex");
    assert_eq!(v["changes"], serde_json::json!([]));
    assert_eq!(v["written"], false, "nothing changed, nothing written");
    let common = Common {
        world: Some(path.clone()),
        now: Some("2027-02-02T00:00:00Z".into()),
        ..Default::default()
    };
    let o = cli::apply(
        &common,
        &spec("key-pat-acme", "login", Some("globex"), &[]),
        false,
    );
    assert_eq!(o.code, 2);
    assert!(o.stdout.contains("expired-key-no-login [R13]"));
}

#[test]
fn lock_unlock_disable_enable_and_delete_change_the_key_and_its_etag() {
    let (_d, path) = acme_copy();
    let run = |a: &str| {
        apply_on(
            &path,
            &spec("kate", a, Some("key-kate-1"), &[]),
            true,
            Format::Json,
        )
    };
    for (a, locked, disabled, etag) in [
        ("api-key-lock", true, false, "2"),
        ("api-key-unlock", false, false, "3"),
        ("api-key-disable", false, true, "4"),
        ("api-key-enable", false, false, "5"),
    ] {
        assert_eq!(run(a).code, 0, "{a}");
        let w = load(&path);
        let k = w.api_keys.iter().find(|k| k.id == "key-kate-1").unwrap();
        assert_eq!(
            (k.locked, k.disabled, k.etag.as_deref()),
            (locked, disabled, Some(etag)),
            "{a}"
        );
    }
    // Enabling an enabled key changes nothing and writes nothing.
    let before = std::fs::read(&path).unwrap();
    let o = run("api-key-enable");
    assert_eq!(o.code, 0);
    assert_eq!(json(&o)["changes"], serde_json::json!([]));
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let o = run("api-key-delete");
    assert_eq!(json(&o)["changes"][0]["op"], "remove");
    assert!(!load(&path).api_keys.iter().any(|k| k.id == "key-kate-1"));
}

#[test]
fn classic_keys_create_get_delete_and_not_found_is_a_failure() {
    let (_d, path) = acme_copy();
    // ivan has no classic key: viewing it fails (exit 1), it is not a deny.
    let o = apply_on(
        &path,
        &spec("ivan", "classic-api-key-get", None, &[]),
        true,
        Format::Text,
    );
    assert_eq!(o.code, 1);
    assert!(o.stdout.starts_with("ALLOW"));
    assert!(
        o.stderr
            .contains("not found: ivan has no classic infrastructure API key in acme")
    );
    let o = apply_on(
        &path,
        &spec("ivan", "classic-api-key-create", None, &[]),
        true,
        Format::Json,
    );
    assert_eq!(o.code, 0, "{o:?}");
    let v = json(&o);
    let value = v["api_key_value"].as_str().unwrap().to_string();
    assert!(!std::fs::read_to_string(&path).unwrap().contains(&value));
    // R19: a second one is forbidden by the policies.
    let o = apply_on(
        &path,
        &spec("ivan", "classic-api-key-create", None, &[]),
        true,
        Format::Text,
    );
    assert_eq!(o.code, 2);
    // R20: carl's ancestor deletes it; then there is nothing to delete.
    let o = apply_on(
        &path,
        &spec("ivan", "classic-api-key-delete", Some("carl"), &[]),
        true,
        Format::Text,
    );
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains("- classic_keys ck-carl"));
    let before = std::fs::read(&path).unwrap();
    let o = apply_on(
        &path,
        &spec("ivan", "classic-api-key-delete", Some("carl"), &[]),
        true,
        Format::Text,
    );
    assert_eq!(o.code, 1);
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn account_settings_update_sets_the_restriction() {
    let (_d, path) = acme_copy();
    let o = apply_on(
        &path,
        &spec(
            "eddie",
            "account-settings-update",
            Some("acme"),
            &[("restrict_user_api_key_creation", "NOT_RESTRICTED")],
        ),
        true,
        Format::Text,
    );
    assert_eq!(o.code, 0, "{o:?}");
    assert!(
        o.stdout.contains(
            "~ accounts acme: restrict_user_api_key_creation: RESTRICTED -> NOT_RESTRICTED"
        )
    );
    // Now alice (owner, no creator role) may create her own key.
    let o = apply_on(
        &path,
        &spec("alice", "api-key-create", None, &[]),
        true,
        Format::Text,
    );
    assert_eq!(o.code, 0, "{o:?}");
    // Without the setting's value there is nothing to set.
    let o = apply_on(
        &path,
        &spec("eddie", "account-settings-update", Some("acme"), &[]),
        true,
        Format::Text,
    );
    assert_eq!(o.code, 1);
}

#[test]
fn bad_input_exits_1_without_a_decision() {
    let (_d, path) = acme_copy();
    let o = apply_on(
        &path,
        &spec("nobody", "api-key-create", None, &[]),
        true,
        Format::Text,
    );
    assert_eq!(o.code, 1);
    assert!(o.stdout.is_empty());
    assert!(o.stderr.contains("--principal"), "{}", o.stderr);
    let o = apply_on(
        &path,
        &spec(
            "ivan",
            "api-key-update",
            Some("key-kate-1"),
            &[("bogus", "1")],
        ),
        true,
        Format::Text,
    );
    assert_eq!(o.code, 1);
}

#[test]
fn a_written_world_loads_and_validates_again() {
    let (_d, path) = acme_copy();
    for s in [
        spec("ivan", "user-remove", Some("pat"), &[("account", "acme")]),
        spec(
            "fred",
            "ks-api-key-reset",
            Some("acme"),
            &[("region", "eu-de"), ("resource_group", "batch")],
        ),
        spec("ivan", "api-key-delete", Some("key-fred-old"), &[]),
    ] {
        let o = apply_on(&path, &s, true, Format::Text);
        assert_eq!(o.code, 0, "{o:?}");
    }
    let common = Common {
        world: Some(path.clone()),
        ..Default::default()
    };
    let v = cli::validate(&common);
    assert_eq!(v.code, 0, "{v:?}");
}
