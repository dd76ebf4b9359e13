//! `keyward run`: the shipped scenarios (fixtures/scenarios/) all meet their expectations, each
//! step sees the state the previous ones left, a failed expectation exits non-zero, script
//! errors are located, and `--write` keeps the final state only when the run passed.

use keyward::cli::{self, Common, Format, Outcome};
use serde_json::Value;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn scenarios() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("fixtures/scenarios"))
        .expect("fixtures/scenarios")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    v.sort();
    v
}

fn run(script: &Path, world: Option<&Path>, write: bool, format: Format) -> Outcome {
    let common = Common {
        world: world.map(Path::to_path_buf),
        format,
        ..Default::default()
    };
    cli::run(&common, script, write)
}

fn json(o: &Outcome) -> Value {
    serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {o:?}"))
}

#[test]
fn every_shipped_scenario_meets_its_expectations() {
    let all = scenarios();
    let names: Vec<String> = all
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for wanted in [
        "staffing-change.yaml",
        "restriction-midway.yaml",
        "leak-actions.yaml",
        "lock-unlock-delete.yaml",
    ] {
        assert!(names.contains(&wanted.to_string()), "{wanted} is shipped");
    }
    for p in &all {
        let o = run(p, None, false, Format::Text);
        assert_eq!(o.code, 0, "{}:\n{}{}", p.display(), o.stdout, o.stderr);
        assert!(!o.stdout.contains("NOT OK"), "{}", o.stdout);
        let v = json(&run(p, None, false, Format::Json));
        assert_eq!(v["failed"], 0);
        for s in v["steps"].as_array().unwrap() {
            // Every step of the shipped scenarios says what it expects.
            assert!(s.get("expect").is_some() || s.get("event").is_some(), "{s}");
        }
    }
}

#[test]
fn staffing_change_orphans_resets_obsoletes_and_deletes() {
    let p = Path::new(ROOT).join("fixtures/scenarios/staffing-change.yaml");
    let v = json(&run(&p, None, false, Format::Json));
    let steps = v["steps"].as_array().unwrap();
    assert_eq!(steps[0]["result"]["identity"], "lee");
    // lee leaves: the laptop key (created in shop) goes; the cluster key is orphaned.
    assert_eq!(
        steps[1]["result"]["removed_api_keys"],
        serde_json::json!(["key-lee-laptop"])
    );
    assert_eq!(
        steps[1]["result"]["orphaned_cluster_keys"][0]["api_key"],
        "key-lee-ops"
    );
    // The functional ID's reset obsoletes it and names both clusters with add-ons.
    let reset = &steps[5];
    assert_eq!(reset["principal"], "ops-fid");
    assert_eq!(reset["result"]["obsolete"], "key-lee-ops");
    let clusters: Vec<&str> = reset["result"]["recreate_addons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cluster"].as_str().unwrap())
        .collect();
    assert_eq!(clusters, ["shop-web-1", "shop-web-2"]);
    assert!(
        reset["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == "key-lee-ops" && c["field"] == "obsolete" && c["to"] == true)
    );
    assert_eq!(steps[6]["result"]["identity"], "ops-fid");
    assert_eq!(steps[7]["action"], "api-key-delete");
    assert_eq!(steps[7]["got"], "allow");
    // The final diff: the old key and lee's shop membership are gone, the slot moved.
    let final_changes = v["changes"].as_array().unwrap();
    assert!(
        final_changes
            .iter()
            .any(|c| c["op"] == "remove" && c["id"] == "key-lee-ops")
    );
    assert!(
        final_changes
            .iter()
            .any(|c| c["section"] == "cluster_api_keys"
                && c["from"] == "key-lee-ops"
                && c["to"] == steps[5]["result"]["api_key"])
    );
}

#[test]
fn a_failed_expectation_exits_non_zero_and_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("s.yaml");
    std::fs::write(
        &script,
        format!(
            "world: {ROOT}/fixtures/acme.yaml\nsteps:\n  - {{ principal: kate, action: api-key-lock, resource: key-kate-1, expect: allow }}\n  - {{ principal: kate, action: api-key-delete, resource: key-kate-1, expect: allow }}\n"
        ),
    )
    .unwrap();
    let o = run(&script, None, false, Format::Text);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stdout.contains("  2 NOT OK DENY   kate api-key-delete key-kate-1: forbidden by locked-key-frozen [R11]  (line 4: expected allow, got deny)"), "{}", o.stdout);
    assert!(
        o.stdout
            .contains("2 steps: 1 met their expectation, 1 did not")
    );
}

#[test]
fn a_failure_without_an_expectation_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("s.yaml");
    std::fs::write(
        &script,
        format!(
            "world: {ROOT}/fixtures/acme.yaml\nsteps:\n  - {{ principal: kate, action: api-key-update, resource: key-kate-1, args: {{ etag: 7 }} }}\n"
        ),
    )
    .unwrap();
    let o = run(&script, None, false, Format::Text);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stdout.contains("conflict"), "{}", o.stdout);
}

#[test]
fn script_errors_are_located_with_their_field() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("bad.yaml");
    std::fs::write(
        &script,
        "world: nowhere.yaml\nsteps:\n  - principal: kate\n    action: api-key-get\n    resource: key-kate-1\n    expect: maybe\n  - { event: leak, key: key-1, colour: red }\n  - { principal: kate, action: api-key-create, args: { name: [a, b] } }\n  - { action: login }\nextra: 1\n",
    )
    .unwrap();
    let o = run(&script, None, false, Format::Text);
    assert_eq!(o.code, 1);
    let f = script.display().to_string();
    for want in [
        format!("{f}:6:5: steps[0].expect: unknown variant `maybe`"),
        format!("{f}:7:32: steps[1].colour: unknown field `colour`"),
        format!("{f}:8:56: steps[2].args.name: an arg's value is a single string"),
        format!("{f}:9:5: steps[3]: missing field `principal`"),
        format!("{f}:10:1: extra: unknown field `extra`"),
    ] {
        assert!(o.stderr.contains(&want), "want {want}\n got {}", o.stderr);
    }
    // A world that cannot be read is reported too.
    std::fs::write(&script, "world: nowhere.yaml\nsteps: []\n").unwrap();
    let o = run(&script, None, false, Format::Text);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains("nowhere.yaml: cannot read"),
        "{}",
        o.stderr
    );
}

#[test]
fn an_inline_world_is_validated_where_it_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("inline.yaml");
    std::fs::write(
        &script,
        "world:\n  accounts: [{ id: a, owner: u }]\n  users: [{ id: u, accounts: [a] }]\n  api_keys: [{ id: k, identity: ghost }]\nsteps: []\n",
    )
    .unwrap();
    let o = run(&script, None, false, Format::Text);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains(":4:"), "{}", o.stderr);
    assert!(o.stderr.contains("ghost"), "{}", o.stderr);
}

#[test]
fn write_keeps_the_final_state_only_when_the_run_passed() {
    let dir = tempfile::tempdir().unwrap();
    let world = dir.path().join("w.yaml");
    std::fs::copy(Path::new(ROOT).join("fixtures/acme.yaml"), &world).unwrap();
    let script = Path::new(ROOT).join("fixtures/scenarios/lock-unlock-delete.yaml");
    // --world overrides the script's world; without --write nothing is written.
    let before = std::fs::read(&world).unwrap();
    let o = run(&script, Some(&world), false, Format::Text);
    assert_eq!(o.code, 0, "{o:?}");
    assert_eq!(std::fs::read(&world).unwrap(), before);
    let o = run(&script, Some(&world), true, Format::Text);
    assert_eq!(o.code, 0, "{o:?}");
    assert!(o.stdout.contains(&format!("wrote {}", world.display())));
    let after = std::fs::read_to_string(&world).unwrap();
    assert!(!after.contains("key-kate-1"));
    // Run again on the written state: key-kate-1 is gone and no step creates it, so the
    // script does not load (a located error naming the step's resource) and nothing is written.
    let now = std::fs::read(&world).unwrap();
    let o = run(&script, Some(&world), true, Format::Text);
    assert_eq!(o.code, 1);
    assert!(
        o.stderr.contains(":6:")
            && o.stderr.contains("steps[0].resource")
            && o.stderr.contains("key-kate-1"),
        "{}",
        o.stderr
    );
    assert_eq!(std::fs::read(&world).unwrap(), now);
    // A step that fails on the state earlier steps left still runs, and a failed run is not
    // written: here the first step deletes a key the second then cannot delete.
    let twice = dir.path().join("twice.yaml");
    std::fs::write(
        &twice,
        "steps:\n  - { principal: alice, action: api-key-delete, resource: key-carl-old, expect: allow }\n  - { principal: alice, action: api-key-delete, resource: key-carl-old, expect: allow }\n",
    )
    .unwrap();
    let now = std::fs::read(&world).unwrap();
    let o = run(&twice, Some(&world), true, Format::Text);
    assert_eq!(o.code, 1, "{o:?}");
    assert!(o.stdout.contains("not written"), "{}", o.stdout);
    assert_eq!(std::fs::read(&world).unwrap(), now);
    // An inline world has no file to keep it in.
    let staffing = Path::new(ROOT).join("fixtures/scenarios/staffing-change.yaml");
    let o = run(&staffing, None, true, Format::Text);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("--write"), "{}", o.stderr);
}

#[test]
fn run_never_shows_key_values() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("s.yaml");
    let value = "caller-supplied-secret-value-0123456789";
    std::fs::write(
        &script,
        format!(
            "world: {ROOT}/fixtures/acme.yaml\nsteps:\n  - {{ principal: kate, action: api-key-create, args: {{ apikey: {value} }}, expect: allow }}\n  - {{ principal: kate, action: api-key-create, args: {{ apikey: short }}, expect: fail }}\n"
        ),
    )
    .unwrap();
    for f in [Format::Text, Format::Json] {
        let o = run(&script, None, false, f);
        assert_eq!(o.code, 0, "{o:?}");
        assert!(!o.stdout.contains(value) && !o.stderr.contains(value));
        assert!(!o.stdout.contains("short"), "{}", o.stdout);
        assert!(!o.stdout.contains("api_key_value"));
    }
}
