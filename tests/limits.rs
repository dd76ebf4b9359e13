//! Inputs that used to cost unbounded stack, time or memory: deeply nested policy expressions
//! and schema types (refused past `MAX_NESTING` with the file and line, before Cedar parses
//! them; the process never aborts), and a long `classic_parent` chain (decided in time and
//! memory linear in its depth). Everything through the binary, as a user runs it.

use keyward::decide::policy::MAX_NESTING;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const ACME: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/acme.yaml");
const POLICIES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/policies");
const SCHEMA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/keyward.cedarschema");

/// Exit code (`None`: killed by a signal, e.g. an abort), stdout, stderr.
fn keyward(args: &[&str]) -> (Option<i32>, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyward"));
    cmd.args(args);
    outcome(cmd)
}

fn outcome(mut cmd: Command) -> (Option<i32>, String, String) {
    let out = cmd.output().expect("run keyward");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// [`keyward`] with its address space capped at 4 GiB (a run past it aborts: exit `None`), so
/// that a blow-up fails the test at once instead of exhausting the machine.
fn keyward_capped(args: &[&str]) -> (Option<i32>, String, String) {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyward"));
    cmd.args(args);
    // SAFETY: setrlimit is async-signal-safe and touches no state of the parent.
    unsafe {
        cmd.pre_exec(|| {
            let cap = libc::rlimit {
                rlim_cur: 4 << 30,
                rlim_max: 4 << 30,
            };
            match libc::setrlimit(libc::RLIMIT_AS, &cap) {
                0 => Ok(()),
                _ => Err(std::io::Error::last_os_error()),
            }
        });
    }
    outcome(cmd)
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A policy file whose one condition is `cond`, on line 5.
fn policy_file(cond: &str) -> String {
    format!(
        "// a deep one\n@id(\"deep\")\n@rule(\"X\")\n@doc(\"Deep.\")\npermit (principal, action == Action::\"api-key-get\", resource) when {{ {cond} }};\n"
    )
}

/// `n` levels in total with the `when { … }` brace: `n - 1` more of the given kind.
fn nested(kind: &str, n: usize) -> String {
    let k = n - 1;
    match kind {
        "paren" => format!("{}true{}", "(".repeat(k), ")".repeat(k)),
        // `x == x`: the two sides nest one after the other, not in each other.
        "set" => {
            let x = format!("{}1{}", "[".repeat(k), "]".repeat(k));
            format!("{x} == {x}")
        }
        "record" => {
            let x = format!("{}1{}", "{a: ".repeat(k), "}".repeat(k));
            format!("{x} == {x}")
        }
        "if" => format!(
            "{}true{}",
            "if true then ".repeat(k),
            " else false".repeat(k)
        ),
        "not" => format!("{}true", "!".repeat(k)),
        _ => unreachable!(),
    }
}

/// validate and check with the base policies plus `extra`.
fn with_policy(extra: &Path) -> [(Option<i32>, String, String); 2] {
    let extra = extra.to_str().unwrap();
    let base = ["--policies", POLICIES, "--policies", extra, "--world", ACME];
    let check = [
        "--principal",
        "kate",
        "--action",
        "api-key-get",
        "--resource",
        "key-kate-1",
    ];
    [
        keyward(&[&["validate"][..], &base].concat()),
        keyward(&[&["check"][..], &base, &check].concat()),
    ]
}

fn assert_refused(out: &(Option<i32>, String, String), file: &Path, line: usize) {
    let (code, stdout, stderr) = out;
    assert_eq!(*code, Some(1), "exit 1, not an abort\n{stdout}{stderr}");
    // validate reports problems on stdout, the other commands on stderr.
    let stderr = &format!("{stdout}{stderr}");
    let at = format!("{}:{line}:", file.display());
    assert!(stderr.contains(&at), "located at {at}: {stderr}");
    let msg = format!("nested deeper than {MAX_NESTING} levels");
    assert!(stderr.contains(&msg), "{stderr}");
}

#[test]
fn a_policy_nested_to_the_limit_loads_and_decides() {
    let dir = tempfile::TempDir::new().unwrap();
    for kind in ["paren", "set", "record", "if"] {
        let f = write(
            dir.path(),
            "deep.cedar",
            &policy_file(&nested(kind, MAX_NESTING)),
        );
        let [validate, check] = with_policy(&f);
        assert_eq!(validate.0, Some(0), "{kind}: {validate:?}");
        assert_eq!(
            check.0,
            Some(0),
            "{kind}: allowed by the deep permit: {check:?}"
        );
    }
}

/// Cedar's partial evaluator doubles its work with each `if` whose test the typechecker knows
/// (`if true`, `if 1 == 1`, a `has` of a required attribute): such a policy, nested to the
/// limit, once made the audit and `check -v` run out of memory. They now decide it by plain
/// evaluation: the audit equals `--exhaustive`, and every run stays under 4 GiB.
#[test]
fn deeply_nested_ifs_are_audited_and_explained_without_partial_evaluation() {
    let dir = tempfile::TempDir::new().unwrap();
    let k = MAX_NESTING - 1;
    for test in ["true", "1 == 1", "principal has key_count"] {
        let cond = format!(
            "{}true{}",
            format!("if {test} then ").repeat(k),
            " else false".repeat(k)
        );
        let f = write(dir.path(), "deep.cedar", &policy_file(&cond));
        let f = f.to_str().unwrap();
        let base = ["--policies", POLICIES, "--policies", f, "--world", ACME];
        let audit = |extra: &[&str]| {
            let args = [
                &["audit", "--format", "jsonl", "--action", "api-key-get"][..],
                extra,
                &base,
            ]
            .concat();
            let (code, stdout, stderr) = keyward_capped(&args);
            assert_eq!(code, Some(0), "{test}: audit {extra:?}: {stderr}");
            // The last line is the summary, whose work figures differ between the two.
            let rows: Vec<String> = stdout
                .lines()
                .filter(|l| !l.contains("\"type\":\"summary\""))
                .map(String::from)
                .collect();
            rows
        };
        let fast = audit(&[]);
        assert!(
            fast.iter().any(|l| l.contains("\"policy\":\"deep\"")),
            "{test}: the deep permit allows something"
        );
        assert_eq!(fast, audit(&["--exhaustive"]), "{test}");
        let args = [
            &["check", "-v"][..],
            &base,
            &[
                "--principal",
                "ivan",
                "--action",
                "api-key-get",
                "--resource",
                "key-kate-1",
            ],
        ]
        .concat();
        let (code, _, stderr) = keyward_capped(&args);
        assert_eq!(code, Some(0), "{test}: check -v: {stderr}");
    }
}

#[test]
fn a_policy_nested_past_the_limit_is_a_located_error_of_validate_and_check() {
    let dir = tempfile::TempDir::new().unwrap();
    for kind in ["paren", "set", "record", "if", "not"] {
        for n in [MAX_NESTING + 1, 1_000, 100_000] {
            let f = write(dir.path(), "deep.cedar", &policy_file(&nested(kind, n)));
            for out in with_policy(&f) {
                assert_refused(&out, &f, 5);
            }
        }
    }
}

#[test]
fn brackets_in_strings_and_comments_do_not_count() {
    let dir = tempfile::TempDir::new().unwrap();
    let deep = "(".repeat(10_000);
    let text = format!(
        "// {deep}\n@id(\"deep\")\n@rule(\"X\")\n@doc(\"{deep} \\\" {deep}\")\npermit (principal, action == Action::\"api-key-get\", resource) when {{ resource.name != \"{deep}\" }};\n"
    );
    let f = write(dir.path(), "strings.cedar", &text);
    let [validate, check] = with_policy(&f);
    assert_eq!(validate.0, Some(0), "{validate:?}");
    assert_eq!(check.0, Some(0), "{check:?}");
}

#[test]
fn a_schema_nested_past_the_limit_is_a_located_error() {
    let dir = tempfile::TempDir::new().unwrap();
    let base = std::fs::read_to_string(SCHEMA).unwrap();
    let line = base.lines().count() + 1;
    let types = |n: usize| {
        // `type Deep = …;` is at depth 0: n levels of the kind.
        [
            format!("{}Long{}", "Set<".repeat(n), ">".repeat(n)),
            format!("{}Long{}", "{a: ".repeat(n), "}".repeat(n)),
        ]
    };
    for (n, ok) in [
        (MAX_NESTING, true),
        (MAX_NESTING + 1, false),
        (5_000, false),
    ] {
        for t in types(n) {
            let f = write(
                dir.path(),
                "s.cedarschema",
                &format!("{base}type Deep = {t};\n"),
            );
            let schema = f.to_str().unwrap();
            for cmd in ["validate", "check"] {
                let mut args = vec![cmd, "--schema", schema, "--world", ACME];
                if cmd == "check" {
                    args.extend(["--principal", "kate", "--action", "api-key-get"]);
                    args.extend(["--resource", "key-kate-1"]);
                }
                let out = keyward(&args);
                if ok {
                    assert_eq!(out.0, Some(0), "{cmd} {n}: {out:?}");
                } else {
                    assert_refused(&out, &f, line);
                }
            }
        }
    }
}

/// A world with one classic chain `n` deep: u0 (the owner) <- u1 <- … <- u{n-1}.
fn chain_world(n: usize, cycle: bool) -> String {
    let mut w = String::from(
        "now: \"2026-11-23T12:00:00Z\"\naccounts:\n  - { id: acme, owner: u0, default_resource_group: default, restrict_user_api_key_creation: NOT_SET }\nusers:\n",
    );
    let root_parent = if cycle {
        format!(", classic_parent: u{}", n - 1)
    } else {
        String::new()
    };
    w.push_str(&format!(
        "  - {{ id: u0, accounts: [acme]{root_parent} }}\n"
    ));
    for i in 1..n {
        let p = i - 1;
        w.push_str(&format!(
            "  - {{ id: u{i}, accounts: [acme], classic_parent: u{p} }}\n"
        ));
    }
    w
}

#[test]
fn a_long_classic_chain_is_decided_in_linear_time() {
    let dir = tempfile::TempDir::new().unwrap();
    let n = 10_000;
    let f = write(dir.path(), "chain.yaml", &chain_world(n, false));
    let world = f.to_str().unwrap();
    let last = format!("u{}", n - 1);
    let decide = |principal: &str, resource: &str| {
        let started = Instant::now();
        let out = keyward(&[
            "check",
            "--world",
            world,
            "--principal",
            principal,
            "--action",
            "classic-api-key-delete",
            "--resource",
            resource,
            "--arg",
            "account=acme",
        ]);
        // Linear: under a second in a debug build (the transitive closure took minutes).
        assert!(started.elapsed() < Duration::from_secs(30), "{out:?}");
        out
    };
    // u1 is an ancestor of the last (not the owner: R20, not R2).
    let up = decide("u1", &last);
    assert_eq!(up.0, Some(0), "{up:?}");
    assert!(up.1.contains("classic-ancestor-manages"), "{}", up.1);
    // The last is no ancestor of u1; u2 is no ancestor of u1.
    assert_eq!(decide(&last, "u1").0, Some(2));
    assert_eq!(decide("u2", "u1").0, Some(2));
}

#[test]
fn a_long_classic_cycle_is_still_rejected() {
    let dir = tempfile::TempDir::new().unwrap();
    let n = 10_000;
    let f = write(dir.path(), "cycle.yaml", &chain_world(n, true));
    let started = Instant::now();
    let (code, stdout, stderr) = keyward(&["validate", "--world", f.to_str().unwrap()]);
    let stderr = format!("{stdout}{stderr}");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("the classic hierarchy has a cycle through `u0`"),
        "{}",
        &stderr[..stderr.len().min(2000)]
    );
    // Every user is on the cycle, each reported once.
    assert_eq!(
        stderr.matches("has a cycle through").count(),
        n,
        "one per user"
    );
}
