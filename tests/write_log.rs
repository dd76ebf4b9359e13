//! The write log (`apply --write --log`, `run --write --log`, `log verify`) and how keyward
//! keeps a world file: one hash-chained line per attempt, durable before the world is
//! replaced, nothing lost under concurrent writers, any tampering found at its line; a JSON
//! world stays JSON, a symlinked world stays a link, a read-only world is refused.

use std::path::Path;
use std::process::{Command, Output, Stdio};

const ACME: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/acme.yaml");

fn keyward(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run keyward")
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn lines(log: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn sha256(path: &Path) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(std::fs::read(path).unwrap());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn every_attempt_is_one_chained_line_and_the_world_matches_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::copy(ACME, d.join("acme.yaml")).unwrap();
    let before = sha256(&d.join("acme.yaml"));
    let secret = "0123456789abcdef0123456789abcdefXYZ";
    let attempts: [&[&str]; 3] = [
        &[
            "--principal",
            "ivan",
            "--action",
            "api-key-create",
            "--resource",
            "ci-bot",
            "--arg",
            "name=deploy",
        ],
        // Denied: logged, the world unchanged.
        &[
            "--principal",
            "olga",
            "--action",
            "api-key-delete",
            "--resource",
            "key-kate-1",
        ],
        &[
            "--principal",
            "kate",
            "--action",
            "api-key-create",
            "--resource",
            "kate",
            "--arg",
            &format!("apikey={secret}"),
        ],
    ];
    let mut codes = Vec::new();
    for a in attempts {
        let mut args = vec!["apply", "--world", "acme.yaml", "--write", "--log", "w.log"];
        args.extend_from_slice(a);
        codes.push(code(&keyward(&args, d)));
    }
    assert_eq!(codes, [0, 2, 0]);
    let log = d.join("w.log");
    let l = lines(&log);
    assert_eq!(l.len(), 3);
    assert_eq!(l[0]["prev_sha256"], serde_json::Value::Null);
    assert_eq!(l[0]["world_sha256_before"], before.as_str());
    assert_eq!(l[1]["decision"], "deny");
    assert_eq!(l[1]["world_sha256_before"], l[1]["world_sha256_after"]);
    assert_eq!(l[1]["changes"], serde_json::json!([]));
    assert_eq!(l[2]["args"]["apikey"], "[redacted]");
    assert_eq!(
        l[2]["world_sha256_after"],
        sha256(&d.join("acme.yaml")).as_str()
    );
    for key in [
        "time",
        "principal",
        "action",
        "resource",
        "args",
        "decision",
        "reasons",
        "policy_set_sha256",
        "world_sha256_before",
        "world_sha256_after",
        "changes",
        "prev_sha256",
    ] {
        assert!(l[0].get(key).is_some(), "no {key} in {}", l[0]);
    }
    let raw = std::fs::read_to_string(&log).unwrap();
    assert!(!raw.contains(secret), "a key value reached the log");
    let ok = keyward(&["log", "verify", "w.log", "--world", "acme.yaml"], d);
    assert_eq!(code(&ok), 0, "{}", text(&ok));
    assert!(
        text(&ok).contains("intact: w.log (3 line(s))"),
        "{}",
        text(&ok)
    );

    // Editing a line breaks the chain at the next one.
    let tampered = raw.replacen("\"olga\"", "\"ivan\"", 1);
    std::fs::write(&log, tampered).unwrap();
    let bad = keyward(&["log", "verify", "w.log"], d);
    assert_eq!(code(&bad), 3, "{}", text(&bad));
    assert!(text(&bad).contains("w.log:3:"), "{}", text(&bad));

    // A world changed behind the log's back.
    std::fs::write(&log, &raw).unwrap();
    std::fs::write(
        d.join("acme.yaml"),
        std::fs::read_to_string(d.join("acme.yaml")).unwrap() + "# edited\n",
    )
    .unwrap();
    let moved = keyward(
        &[
            "log",
            "verify",
            "w.log",
            "--world",
            "acme.yaml",
            "--format",
            "json",
        ],
        d,
    );
    assert_eq!(code(&moved), 3, "{}", text(&moved));
    let v: serde_json::Value = serde_json::from_slice(&moved.stdout).unwrap();
    assert_eq!(v["intact"], false);
    assert_eq!(v["line"], 4);
}

#[test]
fn a_log_needs_write_and_a_missing_log_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::copy(ACME, d.join("acme.yaml")).unwrap();
    let o = keyward(
        &[
            "apply",
            "--world",
            "acme.yaml",
            "--log",
            "w.log",
            "--principal",
            "kate",
            "--action",
            "api-key-get",
            "--resource",
            "key-kate-1",
        ],
        d,
    );
    assert_eq!(code(&o), 1);
    assert!(text(&o).contains("--write"), "{}", text(&o));
    let o = keyward(&["log", "verify", "nothing.log"], d);
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("nothing.log"), "{}", text(&o));
}

#[test]
fn concurrent_logged_writers_lose_nothing_and_log_exactly_once_each() {
    const N: usize = 8;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::copy(ACME, d.join("acme.yaml")).unwrap();
    let children: Vec<_> = (0..N)
        .map(|i| {
            Command::new(env!("CARGO_BIN_EXE_keyward"))
                .current_dir(d)
                .args(["apply", "--world", "acme.yaml", "--write", "--log", "w.log"])
                .args([
                    "--principal",
                    "ivan",
                    "--action",
                    "api-key-create",
                    "--resource",
                    "ci-bot",
                ])
                .args(["--arg", &format!("name=parallel-{i}")])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert_eq!(code(&o), 0, "{}", text(&o));
    }
    let l = lines(&d.join("w.log"));
    assert_eq!(l.len(), N, "one line per attempt");
    let world = std::fs::read_to_string(d.join("acme.yaml")).unwrap();
    for i in 0..N {
        assert!(
            world.contains(&format!("parallel-{i}")),
            "update {i} was lost"
        );
    }
    let ok = keyward(&["log", "verify", "w.log", "--world", "acme.yaml"], d);
    assert_eq!(code(&ok), 0, "{}", text(&ok));
}

#[test]
fn a_logged_run_has_a_line_per_step_and_ends_where_the_file_is() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::copy(ACME, d.join("acme.yaml")).unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/scenarios/lock-unlock-delete.yaml"
    );
    // First, without writing: every step this script has is decided (none is bad input),
    // so the log must have one line each, in order.
    let dry = keyward(
        &["run", script, "--world", "acme.yaml", "--format", "json"],
        d,
    );
    let v: serde_json::Value = serde_json::from_slice(&dry.stdout).unwrap();
    let decided: Vec<serde_json::Value> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s.get("decision").is_some())
        .cloned()
        .collect();
    let o = keyward(
        &[
            "run",
            script,
            "--world",
            "acme.yaml",
            "--write",
            "--log",
            "w.log",
        ],
        d,
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    let l = lines(&d.join("w.log"));
    assert_eq!(l.len(), decided.len());
    assert!(l.len() >= 8, "{}", l.len());
    for (line, step) in l.iter().zip(&decided) {
        assert_eq!(line["action"], step["action"]);
        assert_eq!(line["decision"], step["decision"]);
    }
    for w in l.windows(2) {
        assert_eq!(w[0]["world_sha256_after"], w[1]["world_sha256_before"]);
    }
    let ok = keyward(&["log", "verify", "w.log", "--world", "acme.yaml"], d);
    assert_eq!(code(&ok), 0, "{}", text(&ok));
}

#[test]
fn a_json_world_stays_json_and_a_link_stays_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bundle = keyward::decide::policy::load(&Default::default()).unwrap();
    let w = keyward::world::load_world(Path::new(ACME), &bundle.roles).unwrap();
    std::fs::write(d.join("real.json"), serde_json::to_string(&w).unwrap()).unwrap();
    std::os::unix::fs::symlink("real.json", d.join("world.json")).unwrap();
    let o = keyward(
        &[
            "apply",
            "--world",
            "world.json",
            "--write",
            "--principal",
            "kate",
            "--action",
            "api-key-lock",
            "--resource",
            "key-kate-1",
        ],
        d,
    );
    assert_eq!(code(&o), 0, "{}", text(&o));
    assert!(
        std::fs::symlink_metadata(d.join("world.json"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let after: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("real.json")).unwrap())
            .expect("still JSON");
    let key = after["api_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == "key-kate-1")
        .unwrap();
    assert_eq!(key["locked"], true);
}

#[test]
fn a_read_only_world_is_refused_and_unchanged() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let w = d.join("acme.yaml");
    std::fs::copy(ACME, &w).unwrap();
    std::fs::set_permissions(&w, std::fs::Permissions::from_mode(0o444)).unwrap();
    let before = std::fs::read(&w).unwrap();
    let o = keyward(
        &[
            "apply",
            "--world",
            "acme.yaml",
            "--write",
            "--principal",
            "kate",
            "--action",
            "api-key-lock",
            "--resource",
            "key-kate-1",
        ],
        d,
    );
    assert_eq!(code(&o), 1, "{}", text(&o));
    assert!(text(&o).contains("read-only"), "{}", text(&o));
    assert_eq!(std::fs::read(&w).unwrap(), before);
}
