//! Hostile inputs of issue 10: out-of-range `generate` sizes name their flag (item 4); ids and
//! etags never wrap at `u64::MAX` (item 5); a script's unknown action, principal or arg is a
//! located load error, not a `fail` outcome (item 9); bad `policies:`/`variant:`/`now:` and a
//! missing `world:` are located (item 11); no command's output holds a supplied key value
//! (item 12). Runs the built binary, as a user would.

use std::path::{Path, PathBuf};
use std::process::Command;

const ACME: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/acme.yaml");
const SHORT: &str = "SHORTplanted";
const LONG: &str = "LONGplantedvalue-0123456789-abcdefghijkl";

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn keyward(args: &[&str]) -> Out {
    let o = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(args)
        .output()
        .expect("run keyward");
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// A temp dir holding a copy of acme as `w.yaml`.
fn dir() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().expect("temp dir");
    let w = d.path().join("w.yaml");
    std::fs::copy(ACME, &w).expect("copy acme");
    (d, w)
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p.display().to_string()
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

// ---- item 4: generate's sizes are bounded ----

#[test]
fn generate_refuses_sizes_past_their_bound_naming_the_flag() {
    let base = [
        ("--users", "10"),
        ("--keys-per-user", "2"),
        ("--service-ids", "2"),
        ("--accounts", "2"),
        ("--seed", "1"),
    ];
    for (flag, value) in [
        ("--users", "99999999999999"),
        ("--users", "1000001"),
        ("--accounts", "99999999999"),
        ("--accounts", "10001"),
        ("--service-ids", "100001"),
        ("--keys-per-user", "1001"),
    ] {
        let mut args = vec!["generate"];
        for (f, v) in base {
            args.push(f);
            args.push(if f == flag { value } else { v });
        }
        let t = std::time::Instant::now();
        let o = keyward(&args);
        assert_eq!(o.code, 1, "{flag} {value}: {}", o.stderr);
        assert!(o.stderr.contains(flag), "{flag} {value}: {}", o.stderr);
        assert!(o.stdout.is_empty());
        assert!(
            t.elapsed().as_secs() < 10,
            "{flag} {value} took {:?}",
            t.elapsed()
        );
    }
    // The product: a million users with 20 keys each is 20 million keys.
    let o = keyward(&[
        "generate",
        "--users",
        "1000000",
        "--keys-per-user",
        "20",
        "--service-ids",
        "0",
        "--accounts",
        "1",
        "--seed",
        "1",
    ]);
    assert_eq!(o.code, 1, "{}", o.stderr);
    assert!(
        o.stderr.contains("--keys-per-user") && o.stderr.contains("2000000"),
        "{}",
        o.stderr
    );
    // A value past usize is refused by the argument parser, naming the flag.
    let o = keyward(&[
        "generate",
        "--users",
        "999999999999999999999999",
        "--keys-per-user",
        "1",
        "--service-ids",
        "0",
        "--accounts",
        "1",
        "--seed",
        "1",
    ]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("--users"), "{}", o.stderr);
}

#[test]
fn generate_accepts_the_bounds_themselves_in_the_options() {
    use keyward::decide::policy::{self, PolicyOptions};
    use keyward::world::generate::{GenerateOptions, MAX_KEYS, generate};
    let bundle = policy::load(&PolicyOptions::default()).expect("policies");
    // The README's 10k-user example is within every bound.
    let readme = GenerateOptions {
        users: 10_000,
        keys_per_user: 10,
        service_ids: 500,
        accounts: 20,
        seed: 42,
        now: None,
    };
    assert!((readme.users + readme.service_ids) * readme.keys_per_user <= MAX_KEYS);
    // Small worlds at the key-count edge still generate.
    let edge = GenerateOptions {
        users: 3,
        keys_per_user: 1_000,
        service_ids: 1,
        accounts: 1,
        seed: 1,
        now: None,
    };
    generate(&edge, &bundle.roles).expect("keys per user at its bound");
}

// ---- item 5: ids and etags never wrap ----

#[test]
fn ids_and_etags_at_u64_max_do_not_wrap() {
    let (d, w) = dir();
    let text = std::fs::read_to_string(&w).unwrap();
    let kate = r#"  - { id: key-kate-1, name: terraform, identity: kate, account: acme, action_when_leaked: none, etag: "1" }"#;
    assert!(text.contains(kate));
    let text = text.replace(
        kate,
        &format!(
            "{}\n  - {{ id: key-18446744073709551615, name: top, identity: kate, account: acme, etag: \"1\" }}",
            kate.replace("etag: \"1\"", "etag: \"18446744073709551615\"")
        ),
    );
    std::fs::write(&w, text).unwrap();
    let lock = keyward(&[
        "apply",
        "--world",
        s(&w),
        "--principal",
        "kate",
        "--action",
        "api-key-lock",
        "--resource",
        "key-kate-1",
        "--write",
        "--format",
        "json",
    ]);
    assert_eq!(lock.code, 0, "{}{}", lock.stdout, lock.stderr);
    let after = std::fs::read_to_string(&w).unwrap();
    assert!(after.contains("18446744073709551615.1"), "{after}");
    assert!(!after.contains("etag: \"0\""), "{after}");
    let create = keyward(&[
        "apply",
        "--world",
        s(&w),
        "--principal",
        "kate",
        "--action",
        "api-key-create",
        "--resource",
        "kate",
        "--write",
        "--format",
        "json",
    ]);
    // kate's creation is denied under acme's restriction; ivan creates for ci-bot instead.
    let create = if create.code == 0 {
        create
    } else {
        keyward(&[
            "apply",
            "--world",
            s(&w),
            "--principal",
            "ivan",
            "--action",
            "api-key-create",
            "--resource",
            "ci-bot",
            "--write",
            "--format",
            "json",
        ])
    };
    assert_eq!(create.code, 0, "{}{}", create.stdout, create.stderr);
    let v: serde_json::Value = serde_json::from_str(&create.stdout).expect("json");
    let id = v["changes"][0]["id"].as_str().expect("new id").to_string();
    assert_ne!(id, "key-0");
    assert_ne!(id, "key-18446744073709551615");
    let w2 = std::fs::read_to_string(&w).unwrap();
    assert_eq!(
        w2.lines()
            .filter(|l| l.trim_start_matches(['-', ' ']) == format!("id: {id}"))
            .count(),
        1,
        "{id} not unique:\n{w2}"
    );
    let o = keyward(&["validate", "--world", s(&w)]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    drop(d);
}

// ---- item 12: no output holds a supplied key value ----

fn assert_no_value(what: &str, o: &Out) {
    for v in [SHORT, LONG] {
        assert!(
            !o.stdout.contains(v) && !o.stderr.contains(v),
            "{what} shows a planted value:\n{}\n{}",
            o.stdout,
            o.stderr
        );
    }
}

#[test]
fn no_command_prints_a_supplied_key_value() {
    let (d, w) = dir();
    let t1 = write(
        d.path(),
        "t1.yaml",
        &format!(
            "world: w.yaml\nchecks:\n  - {{ principal: nobody, action: api-key-create, resource: kate, args: {{ apikey: {SHORT} }}, expect: allow }}\n  - {{ principal: nobody, action: api-key-create, resource: kate, args: {{ apikey: {LONG} }}, expect: allow }}\n  - {{ principal: kate, action: api-key-create, resource: kate, args: {{ apikey: {SHORT} }}, expect: allow }}\n  - {{ principal: kate, action: api-key-get, resource: key-kate-1, args: {{ apikey: {LONG} }}, expect: allow }}\n"
        ),
    );
    let t2 = write(
        d.path(),
        "t2.yaml",
        &format!(
            "world: w.yaml\nchecks:\n  - {{ principal: kate, action: api-key-create, resource: kate, args: {{ apikey: {LONG} }}, expect: deny }}\nscenarios:\n  - name: s\n    steps:\n      - {{ principal: kate, action: api-key-create, resource: kate, args: {{ apikey: {LONG} }}, expect: deny }}\n"
        ),
    );
    let script = write(
        d.path(),
        "s.yaml",
        &format!(
            "world: w.yaml\nsteps:\n  - {{ principal: kate, action: api-key-create, resource: kate, args: {{ apikey: {LONG} }}, expect: deny }}\n  - {{ principal: kate, action: api-key-get, resource: key-kate-1, expect: deny }}\n"
        ),
    );
    let mut runs = 0;
    for f in ["text", "json"] {
        for file in [&t1, &t2] {
            let o = keyward(&["test", file, "--format", f]);
            assert_eq!(o.code, 1, "{file}: {}{}", o.stdout, o.stderr);
            assert_no_value("test", &o);
            runs += 1;
        }
        let o = keyward(&["run", &script, "--format", f]);
        assert_no_value("run", &o);
        for v in [SHORT, LONG] {
            let arg = format!("apikey={v}");
            for (p, a, r) in [
                ("kate", "api-key-create", "kate"),
                ("nobody", "api-key-create", "kate"),
                ("kate", "api-key-get", "key-kate-1"),
            ] {
                let req = [
                    "--world",
                    s(&w),
                    "--principal",
                    p,
                    "--action",
                    a,
                    "--resource",
                    r,
                ];
                let mut args = vec!["check"];
                args.extend(req);
                args.extend(["--arg", &arg, "--format", f]);
                assert_no_value("check", &keyward(&args));
                args[0] = "apply";
                assert_no_value("apply", &keyward(&args));
                args[0] = "export";
                args.truncate(args.len() - 2);
                assert_no_value("export", &keyward(&args));
                runs += 3;
            }
        }
    }
    assert!(runs > 30);
    let o = keyward(&["audit", "--world", s(&w)]);
    assert_no_value("audit", &o);
}

// ---- item 9: a script's steps are checked before any runs ----

/// `run` on a script whose second step is `bad`, after a first step that is fine; the error must
/// be located at `line:col` (by default where the field's key is written) and name `field`, and
/// nothing may run.
fn assert_refused_at_load(bad: &str, at: Option<&str>, field: &str) {
    let key = field.rsplit('.').next().unwrap();
    let at = at.map(String::from).unwrap_or_else(|| {
        let col = bad.find(&format!("{key}:")).expect("the field is written") + 1;
        format!("4:{col}")
    });
    let (d, _w) = dir();
    let script = write(
        d.path(),
        "s.yaml",
        &format!(
            "world: w.yaml\nsteps:\n  - {{ principal: kate, action: api-key-lock, resource: key-kate-1, expect: allow }}\n{bad}\n"
        ),
    );
    let o = keyward(&["run", &script, "--write"]);
    assert_eq!(o.code, 1, "{bad}: {}{}", o.stdout, o.stderr);
    assert!(o.stdout.is_empty(), "{bad}: a step ran:\n{}", o.stdout);
    let want = format!("s.yaml:{at}: {field}: ");
    assert!(
        o.stderr.contains(&want),
        "{bad}: want `{want}` in\n{}",
        o.stderr
    );
    let text = std::fs::read_to_string(d.path().join("w.yaml")).unwrap();
    assert_eq!(
        text,
        std::fs::read_to_string(ACME).unwrap(),
        "{bad}: written"
    );
}

#[test]
fn unknown_actions_principals_resources_and_args_in_a_script_are_load_errors() {
    let cases = [
        (
            "  - { principal: kate, action: api-key-explode, resource: key-kate-1, expect: fail }",
            None,
            "steps[1].action",
        ),
        (
            "  - { principal: mallory, action: api-key-get, resource: key-kate-1, expect: fail }",
            None,
            "steps[1].principal",
        ),
        (
            "  - { principal: kate, action: api-key-get, resource: key-nobody, expect: fail }",
            None,
            "steps[1].resource",
        ),
        (
            "  - { principal: kate, action: api-key-get, resource: key-kate-1, args: { colour: red }, expect: fail }",
            None,
            "steps[1].args.colour",
        ),
        // An id of the wrong kind: an account as the principal.
        (
            "  - { principal: acme, action: api-key-get, resource: key-kate-1, expect: fail }",
            None,
            "steps[1].principal",
        ),
        (
            "  - { principal: kate, action: api-key-create, resource: kate, args: { account: nowhere }, expect: fail }",
            None,
            "steps[1].args.account",
        ),
        (
            "  - { event: leak, key: key-nobody, expect: fail }",
            None,
            "steps[1].key",
        ),
        (
            "  - { principal: kate, action: api-key-get, resource: key-kate-1, now: yesterday, expect: fail }",
            None,
            "steps[1].now",
        ),
        (
            "  - { principal: kate, action: api-key-update, expect: fail }",
            Some("4:5"),
            "steps[1].resource",
        ),
    ];
    for (bad, at, field) in cases {
        assert_refused_at_load(bad, at, field);
    }
}

#[test]
fn legitimate_fail_steps_and_ids_made_by_earlier_steps_still_run() {
    let (d, w) = dir();
    // key-1 exists only once step 1 has created it; deleting a deleted key and a stale etag
    // fail as outcomes.
    let script = write(
        d.path(),
        "ok.yaml",
        "world: w.yaml\nsteps:\n  - { principal: ivan, action: api-key-create, resource: ci-bot, expect: allow }\n  - { principal: ivan, action: api-key-get, resource: key-1, expect: allow }\n  - { principal: ivan, action: api-key-delete, resource: key-1, expect: allow }\n  - { principal: ivan, action: api-key-delete, resource: key-1, expect: fail }\n  - { principal: kate, action: api-key-update, resource: key-kate-1, args: { etag: \"9\", name: x }, expect: fail }\n  - { event: leak, key: key-1, expect: fail }\n",
    );
    let o = keyward(&["run", &script]);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    for f in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/scenarios")).unwrap()
    {
        let f = f.unwrap().path();
        let o = keyward(&["run", s(&f)]);
        assert_eq!(o.code, 0, "{}: {}{}", f.display(), o.stdout, o.stderr);
    }
    drop(w);
}

#[test]
fn a_test_files_scenario_steps_are_checked_like_its_checks() {
    let (d, _w) = dir();
    let t = write(
        d.path(),
        "t.yaml",
        "world: w.yaml\nscenarios:\n  - name: s\n    steps:\n      - { principal: ivan, action: api-key-create, resource: ci-bot, expect: allow }\n      - { principal: ivan, action: api-key-get, resource: key-1, expect: allow }\n      - { principal: mallory, action: api-key-get, resource: key-kate-1, expect: fail }\n",
    );
    let o = keyward(&["test", &t]);
    assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
    let all = format!("{}{}", o.stdout, o.stderr);
    assert!(
        all.contains("t.yaml:7:11: scenarios[0].steps[2].principal: "),
        "{all}"
    );
    assert!(
        !all.contains("passed (") || all.contains("0 passed"),
        "{all}"
    );
}

// ---- item 11: every error names file, line, column and field ----

fn test_file_error(text: &str) -> String {
    let (d, _w) = dir();
    let t = write(d.path(), "t.yaml", text);
    let o = keyward(&["test", &t]);
    assert_eq!(o.code, 1, "{text}: {}{}", o.stdout, o.stderr);
    format!("{}{}", o.stdout, o.stderr)
}

#[test]
fn a_test_files_policies_variant_schema_and_now_are_located() {
    let check = "checks:\n  - { principal: kate, action: api-key-get, resource: key-kate-1, expect: allow }\n";
    for (head, want) in [
        ("policies: nowhere\n", "t.yaml:2:11: policies: "),
        ("policies: [nowhere]\n", "t.yaml:2:12: policies[0]: "),
        (
            "variant: nosuch\n",
            "t.yaml:2:10: variant: unknown variant `nosuch`",
        ),
        (
            "variant: [c1-editor-creates, nosuch]\n",
            "t.yaml:2:30: variant[1]: unknown variant `nosuch`",
        ),
        ("schema: nope.cedarschema\n", "t.yaml:2:9: schema: "),
        ("now: yesterday\n", "t.yaml:2:6: now: `yesterday`"),
    ] {
        let all = test_file_error(&format!("world: w.yaml\n{head}{check}"));
        assert!(all.contains(want), "{head}: want `{want}` in\n{all}");
        assert!(
            !all.contains("error: --"),
            "{head}: given as a flag:\n{all}"
        );
    }
    let all = test_file_error(
        "world: w.yaml\nchecks: []\nscenarios:\n  - name: x\n    now: bad\n    steps: []\n",
    );
    assert!(
        all.contains("t.yaml:5:10: scenarios[0].now: `bad`"),
        "{all}"
    );
    let all = test_file_error(
        "world: w.yaml\nchecks:\n  - { principal: kate, action: api-key-get, resource: key-kate-1, now: soon, expect: allow }\n",
    );
    assert!(all.contains("t.yaml:3:72: checks[0].now: `soon`"), "{all}");
}

#[test]
fn a_script_without_a_world_is_located_at_its_mapping() {
    let (d, _w) = dir();
    let script = write(
        d.path(),
        "s.yaml",
        "# a comment\n\nsteps:\n  - { principal: kate, action: api-key-get, resource: key-kate-1 }\n",
    );
    let o = keyward(&["run", &script]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("s.yaml:3:1: world: "), "{}", o.stderr);
}
