//! No lost updates: concurrent `keyward apply --write` processes on one world file serialise on
//! its lock file, so every allowed change lands, and the file is always a whole world.

use std::process::{Command, Stdio};

const WORLD: &str = "\
accounts:
  - { id: acme, owner: alice, restrict_user_api_key_creation: NOT_RESTRICTED }
users:
  - { id: alice, accounts: [acme] }
  - { id: bob, accounts: [acme] }
";

#[test]
fn concurrent_apply_write_processes_lose_no_update() {
    const N: usize = 8;
    let dir = tempfile::tempdir().unwrap();
    let world = dir.path().join("world.yaml");
    std::fs::write(&world, WORLD).unwrap();
    let bin = env!("CARGO_BIN_EXE_keyward");
    // Spawn them all first, then wait: they run at once and race for the lock.
    let children: Vec<_> = (0..N)
        .map(|i| {
            // Half for alice, half for bob: each identity stays under the 20-key limit.
            let who = if i % 2 == 0 { "alice" } else { "bob" };
            Command::new(bin)
                .args(["apply", "--write", "--format", "json", "--world"])
                .arg(&world)
                .args(["--principal", who, "--action", "api-key-create"])
                .args(["--arg", &format!("name=parallel-{i}")])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn keyward")
        })
        .collect();
    let children: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().expect("wait for keyward"))
        .collect();
    let mut values = Vec::new();
    for out in &children {
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["written"], true);
        values.push(v["api_key_value"].as_str().unwrap().to_string());
    }
    let text = std::fs::read_to_string(&world).unwrap();
    let bundle = keyward::decide::policy::load(&Default::default()).unwrap();
    let w = keyward::world::parse_world("world.yaml", &text, &bundle.roles)
        .unwrap_or_else(|p| panic!("{p}"));
    assert_eq!(w.api_keys.len(), N, "every allowed change landed:\n{text}");
    let mut names: Vec<&str> = w.api_keys.iter().map(|k| k.name.as_str()).collect();
    names.sort();
    let mut want: Vec<String> = (0..N).map(|i| format!("parallel-{i}")).collect();
    want.sort();
    assert_eq!(names, want);
    let mut ids: Vec<&str> = w.api_keys.iter().map(|k| k.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), N, "ids are unique");
    for v in &values {
        assert!(!text.contains(v.as_str()), "a key value reached the file");
    }
    // The lock file stays beside the world; no temporary file is left behind.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.contains(&"world.yaml.lock".to_string()), "{names:?}");
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
}
