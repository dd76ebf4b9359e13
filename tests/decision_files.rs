//! `keyward test`: the shipped decision test files pass with full coverage, and the command
//! does what a user editing policies relies on: a changed decision fails with its file, line
//! and rule; coverage names the policy no test reaches; malformed files get located errors;
//! `--update` never changes a test file by itself.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn acme() -> String {
    root().join("fixtures/acme.yaml").display().to_string()
}

/// Run `keyward test ARGS…`: (exit code, stdout, stderr).
fn keyward_test(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .arg("test")
        .args(args)
        .current_dir(root())
        .output()
        .expect("run keyward");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn last_line(s: &str) -> &str {
    s.lines().last().unwrap_or("")
}

/// A copy of the shipped policies folder (base files and variants) in a temporary folder.
fn copy_policies() -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("mkdir");
        for e in std::fs::read_dir(from).expect("read_dir") {
            let p = e.expect("entry").path();
            let dest = to.join(p.file_name().expect("name"));
            if p.is_dir() {
                copy(&p, &dest);
            } else {
                std::fs::copy(&p, &dest).expect("copy");
            }
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    copy(&root().join("policies"), &dir.path().join("policies"));
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p.display().to_string()
}

/// The summary line counts: (passed, failed).
fn counts(summary: &str) -> (usize, usize) {
    let nums: Vec<usize> = summary
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    (nums[0], nums[1])
}

#[test]
fn shipped_decision_files_pass_with_full_policy_and_rule_coverage() {
    let (code, out, err) = keyward_test(&["tests/decisions", "--min-coverage", "100"]);
    assert_eq!(code, 0, "{out}{err}");
    let (passed, failed) = counts(last_line(&out));
    assert_eq!(failed, 0, "{out}");
    assert!(
        passed >= 60,
        "expected the shipped files to hold many tests: {out}"
    );
    assert!(
        regex_like_summary(last_line(&out)),
        "the last line is exactly `N passed, M failed`: {out}"
    );
    assert!(
        out.contains("policies determined a decision (100.0%)")
            && out.contains("rules exercised (100.0%)"),
        "{out}"
    );
}

fn regex_like_summary(line: &str) -> bool {
    let parts: Vec<&str> = line.split(", ").collect();
    parts.len() == 2
        && parts[0]
            .strip_suffix(" passed")
            .is_some_and(|n| n.parse::<usize>().is_ok())
        && parts[1]
            .strip_suffix(" failed")
            .is_some_and(|n| n.parse::<usize>().is_ok())
}

#[test]
fn every_base_policy_and_every_rule_is_reached_by_the_shipped_files() {
    let (code, out, err) = keyward_test(&["tests/decisions", "--coverage", "--format", "json"]);
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        v["coverage"]["policies"]["uncovered"],
        serde_json::json!([])
    );
    assert_eq!(v["coverage"]["rules"]["uncovered"], serde_json::json!([]));
    let determined = v["coverage"]["policies"]["determined"]
        .as_object()
        .expect("determined");
    // 36 base policies and the 4 shipped variants' policies, each determining some decision.
    assert_eq!(determined.len(), 40, "{determined:?}");
    assert!(determined.values().all(|n| n.as_u64() > Some(0)));
    // Every rule id of the catalogue that a policy encodes is among them.
    let rules = v["coverage"]["rules"]["total"].as_u64().expect("rules");
    assert!(rules >= 22, "{rules}");
}

#[test]
fn editing_a_variant_policy_fails_the_shipped_tests_naming_the_rule() {
    let dir = copy_policies();
    let policies = dir.path().join("policies");
    let variant = policies.join("variants/c2-only-admins-delete/only-admins-delete.cedar");
    let text = std::fs::read_to_string(&variant).expect("read");
    let edited = text.replace(
        "principal in context.roles[\"iam-identity\"][\"Administrator\"] ||",
        "",
    );
    assert_ne!(text, edited, "the edit must change the variant");
    std::fs::write(&variant, edited).expect("write");
    let p = policies.display().to_string();
    let (code, out, _) = keyward_test(&["tests/decisions", "--policies", &p]);
    assert_eq!(code, 1, "{out}");
    let (_, failed) = counts(last_line(&out));
    assert!(failed >= 1, "{out}");
    // Only the C2 variant's file fails; the failure has file:line, expected and actual, and
    // the explanation names the policy and its rule.
    for l in out.lines().filter(|l| l.starts_with("FAIL ")) {
        assert!(l.contains("variant-c2-only-admins-delete.yaml"), "{l}");
    }
    assert!(
        out.contains("FAILED tests/decisions/variant-c2-only-admins-delete.yaml:"),
        "{out}"
    );
    assert!(out.contains("expected: allow"), "{out}");
    assert!(
        out.contains("actual:   deny by c2-only-admins-delete [C2, R17]"),
        "{out}"
    );
    assert!(
        out.contains("forbidden by c2-only-admins-delete [C2, R17]"),
        "{out}"
    );

    // The unedited copy passes: the failure is the edit's, not the copy's.
    let clean = copy_policies();
    let p = clean.path().join("policies").display().to_string();
    let (code, out, _) = keyward_test(&["tests/decisions", "--policies", &p]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn coverage_names_a_policy_no_test_reaches_and_min_coverage_fails() {
    let dir = copy_policies();
    let policies = dir.path().join("policies");
    write(
        &policies,
        "extra.cedar",
        "@id(\"nobody-tested-this\")\n@rule(\"R99\")\n@doc(\"A permit no test exercises.\")\npermit (\n  principal,\n  action == Action::\"api-key-get\",\n  resource\n)\nwhen { context.now < datetime(\"2000-01-01T00:00:00Z\") };\n",
    );
    let p = policies.display().to_string();
    let (code, out, _) = keyward_test(&["tests/decisions", "--policies", &p, "--coverage"]);
    assert_eq!(code, 0, "coverage alone does not fail: {out}");
    assert!(
        out.contains("of 41 policies determined a decision (97.6%)"),
        "{out}"
    );
    let row = out
        .lines()
        .find(|l| l.contains("nobody-tested-this"))
        .unwrap_or_else(|| panic!("the table names the policy: {out}"));
    assert!(
        row.contains("R99") && row.contains("extra.cedar:1"),
        "{row}"
    );
    assert!(out.contains("rules no test exercised: R99"), "{out}");

    // Without --coverage the run still says which policies determined nothing (docs/cli.md).
    let (code, out, _) = keyward_test(&["tests/decisions", "--policies", &p]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("policies that determined no decision: nobody-tested-this (--coverage"),
        "{out}"
    );

    let (code, out, _) =
        keyward_test(&["tests/decisions", "--policies", &p, "--min-coverage", "100"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("coverage below --min-coverage 100"), "{out}");
    assert_eq!(
        counts(last_line(&out)).1,
        0,
        "no test failed; coverage did: {out}"
    );
}

#[test]
fn a_changed_decision_fails_with_file_line_expected_actual_and_explanation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write(
        dir.path(),
        "t.yaml",
        &format!(
            "world: {}\nchecks:\n  - {{ name: \"R6: admin deletes\", principal: ivan, action: api-key-delete, resource: key-kate-1, expect: allow, rules: [R6] }}\n  - {{ name: \"R7: owner restricted\", principal: alice, action: api-key-create, resource: alice, args: {{ account: acme }}, expect: allow, rules: [R4] }}\n",
            acme()
        ),
    );
    let (code, out, _) = keyward_test(&[&f]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(last_line(&out), "1 passed, 1 failed");
    assert!(
        out.contains(&format!("FAILED {f}:4  check `R7: owner restricted`")),
        "{out}"
    );
    assert!(out.contains("expected: allow [R4]"), "{out}");
    assert!(
        out.contains("actual:   deny by restriction-needs-creator [R7]"),
        "{out}"
    );
    assert!(
        out.contains("DENY  alice api-key-create alice (account=acme)"),
        "{out}"
    );
}

#[test]
fn reasons_and_rules_are_checked_not_just_the_verdict() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write(
        dir.path(),
        "t.yaml",
        &format!(
            "world: {}\nchecks:\n  - {{ name: right verdict wrong policy, principal: ivan, action: api-key-delete, resource: key-kate-1, expect: allow, reasons: [owner-manages-user-keys] }}\n  - {{ name: right verdict wrong rule, principal: ivan, action: api-key-delete, resource: key-kate-1, expect: allow, rules: [R5] }}\n  - {{ name: default deny, principal: vera, action: api-key-delete, resource: key-kate-1, expect: deny, reasons: [] }}\n  - {{ name: not a default deny, principal: alice, action: api-key-create, resource: alice, args: {{ account: acme }}, expect: deny, reasons: [] }}\n",
            acme()
        ),
    );
    let (code, out, _) = keyward_test(&[&f]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(last_line(&out), "1 passed, 3 failed");
    assert!(out.contains("expected policy `owner-manages-user-keys` among those that determined it (iam-admin-manages-user-keys)"), "{out}");
    assert!(
        out.contains("expected rule R5 to be carried by a policy that determined it (R6)"),
        "{out}"
    );
    assert!(
        out.contains("expected no policy to determine it, but restriction-needs-creator did"),
        "{out}"
    );
}

#[test]
fn a_matrix_pins_the_table_and_names_each_differing_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write(
        dir.path(),
        "t.yaml",
        &format!(
            "world: {}\nmatrix:\n  name: kate's key\n  principals: [alice, ivan, olga, vera, kate]\n  actions: [api-key-delete]\n  resources: [key-kate-1]\n  allow:\n    - alice api-key-delete key-kate-1\n    - olga api-key-delete key-kate-1\n    - {{ principal: kate, action: api-key-delete, resource: key-kate-1 }}\n",
            acme()
        ),
    );
    let (code, out, _) = keyward_test(&[&f]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("matrix `kate's key`: 2 of 5 decisions differ"),
        "{out}"
    );
    // olga is listed (line 9) but denied; ivan is allowed but not listed (the matrix, line 3).
    assert!(out.contains(&format!("at {f}:9\n    request:  olga api-key-delete key-kate-1\n    expected: allow (listed in allow)\n    actual:   deny")), "{out}");
    assert!(out.contains(&format!("at {f}:3\n    request:  ivan api-key-delete key-kate-1\n    expected: deny (not listed in allow)\n    actual:   allow by iam-admin-manages-user-keys [R6]")), "{out}");
}

#[test]
fn scenarios_check_each_step_with_reasons() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write(
        dir.path(),
        "t.yaml",
        &format!(
            "world: {}\nscenarios:\n  - name: restriction on mid-way\n    steps:\n      - {{ principal: gina, action: account-settings-update, resource: globex, args: {{ restrict_user_api_key_creation: RESTRICTED }}, expect: allow, rules: [R8] }}\n      - {{ principal: pat, action: api-key-create, resource: pat, args: {{ account: globex }}, expect: deny, reasons: [restriction-needs-creator] }}\n  - name: wrong on purpose\n    steps:\n      - {{ principal: pat, action: api-key-create, resource: pat, args: {{ account: globex }}, expect: allow }}\n      - {{ event: leak, key: key-kate-1 }}\n      - {{ principal: key-kate-1, action: login, resource: acme, expect: deny }}\n",
            acme()
        ),
    );
    let (code, out, _) = keyward_test(&[&f]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(last_line(&out), "1 passed, 1 failed");
    // The second scenario starts from the file's world again: pat may create in globex.
    assert!(
        !out.contains(":9\n"),
        "step 1 of the second scenario passes: {out}"
    );
    assert!(
        out.contains(&format!(
            "at {f}:11\n    request:  step 3: key-kate-1 login acme\n    expected: deny"
        )),
        "{out}"
    );
}

#[test]
fn skip_and_filter_are_counted_as_documented() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write(
        dir.path(),
        "t.yaml",
        &format!(
            "world: {}\nchecks:\n  - {{ name: \"R4: own key\", principal: kate, action: api-key-create, resource: kate, expect: allow }}\n  - {{ name: \"R5: own delete\", principal: kate, action: api-key-delete, resource: key-kate-1, expect: allow }}\n  - {{ name: \"R1: later\", principal: vera, action: api-key-delete, resource: key-kate-1, expect: allow, skip: \"not decided yet\" }}\n",
            acme()
        ),
    );
    let (code, out, _) = keyward_test(&[&f]);
    assert_eq!(code, 0, "a skipped test does not fail the run: {out}");
    assert_eq!(last_line(&out), "2 passed, 0 failed, 1 skipped");
    assert!(out.contains("(not decided yet)"), "{out}");
    let (code, out, _) = keyward_test(&[&f, "--filter", "R5"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(last_line(&out), "1 passed, 0 failed");
}

#[test]
fn json_report_has_every_test_and_the_summary() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write(
        dir.path(),
        "t.yaml",
        &format!(
            "world: {}\nchecks:\n  - {{ name: a, principal: kate, action: api-key-create, resource: kate, expect: allow }}\n  - {{ name: b, principal: vera, action: api-key-delete, resource: key-kate-1, expect: allow }}\n",
            acme()
        ),
    );
    let (code, out, _) = keyward_test(&[&f, "--format", "json", "--coverage"]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["passed"], 1);
    assert_eq!(v["failed"], 1);
    assert_eq!(v["summary"], "1 passed, 1 failed");
    let tests = v["files"][0]["tests"].as_array().expect("tests");
    assert_eq!(tests[1]["status"], "failed");
    assert_eq!(tests[1]["line"], 4);
    assert_eq!(tests[1]["failures"][0]["decision"]["decision"], "deny");
    assert!(v["coverage"]["policies"]["percent"].as_f64().expect("pct") < 10.0);
}

#[test]
fn malformed_test_files_get_located_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases: &[(&str, &str, &str)] = &[
        ("world: x.yaml\nchecks: [\n", ":3:", "not valid YAML"),
        (
            "world: WORLD\nchecks:\n  - { principal: kate, action: api-key-create, expect: maybe }\n",
            ":3:",
            "checks[0].expect: unknown variant `maybe`",
        ),
        (
            "world: WORLD\nchecks:\n  - { principal: kate, action: api-key-create, expect: allow, resons: [] }\n",
            ":3:",
            "unknown field `resons`",
        ),
        (
            "world: WORLD\nchecks:\n  - { principal: kate, action: api-key-make, expect: allow }\n",
            ":3:",
            "unknown action `api-key-make`",
        ),
        (
            "world: WORLD\nchecks:\n  - { principal: kate, expect: allow }\n",
            ":3:",
            "missing field `action`",
        ),
        (
            "world: WORLD\nchecks:\n  - { principal: nobody, action: api-key-create, resource: nobody, expect: allow }\n",
            ":3:",
            "cannot be decided",
        ),
        (
            "world: WORLD\nmatrix:\n  principals: [kate, zed]\n  actions: [api-key-delete]\n",
            ":3:",
            "`zed` is not in this world",
        ),
        (
            "world: WORLD\nmatrix:\n  actions: [api-key-delete]\n  allow:\n    - kate api-key-delete key-kate-1\n    - kate api-key-get key-kate-1\n",
            ":6:",
            "`kate api-key-get key-kate-1` is not among this matrix's requests",
        ),
        (
            "world: WORLD\nmatrix:\n  allow:\n    - kate api-key-delete\n",
            ":4:",
            "expected \"PRINCIPAL ACTION RESOURCE",
        ),
        (
            "world: WORLD\nexpectations: []\n",
            ":2:",
            "unknown field `expectations`",
        ),
        ("checks: []\n", ":1:", "a test file needs `world`"),
        (
            "checks:\n  - { principal: kate, action: login, expect: allow }\nworld: nope.yaml\n",
            ":3:",
            "nope.yaml does not exist (a world path is relative to the test file)",
        ),
        (
            "world: WORLD\n",
            ":1:",
            "needs `checks`, `matrix` or `scenarios`",
        ),
        (
            "world: WORLD\nscenarios:\n  - name: s\n    steps:\n      - { principal: kate, action: api-key-create, expect: perhaps }\n",
            ":5:",
            "scenarios[0].steps[0].expect",
        ),
    ];
    for (i, (src, at, phrase)) in cases.iter().enumerate() {
        let f = write(
            dir.path(),
            &format!("bad{i}.yaml"),
            &src.replace("WORLD", &acme()),
        );
        let (code, out, _) = keyward_test(&[&f]);
        assert_eq!(code, 1, "case {i}: {out}");
        let located = format!("{f}{at}");
        let line = out
            .lines()
            .find(|l| l.contains(phrase))
            .unwrap_or_else(|| panic!("case {i}: no `{phrase}` in:\n{out}"));
        assert!(
            line.contains(&located),
            "case {i}: `{line}` is not at {located}"
        );
        assert_eq!(last_line(&out), "0 passed, 0 failed", "case {i}: {out}");
    }
}

#[test]
fn update_writes_a_pending_file_and_only_accept_replaces_the_test_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = format!(
        "# who may delete kate's key\nworld: {}\nmatrix:\n  - name: kate's key\n    principals: [alice, ivan, vera, kate]\n    actions: [api-key-delete]\n    resources: [key-kate-1]\n    allow:\n      - kate api-key-delete key-kate-1  # her own\n    # a comment after the list stays\n  - name: pat creates\n    principals: [pat]\n    actions: [api-key-create]\nchecks:\n  - {{ principal: kate, action: api-key-create, resource: kate, expect: allow }}\n",
        acme()
    );
    let f = write(dir.path(), "t.yaml", &src);
    let (code, out, _) = keyward_test(&[&f, "--update"]);
    assert_eq!(
        code, 1,
        "the run still fails until the update is accepted: {out}"
    );
    assert!(out.contains("+ alice api-key-delete key-kate-1"), "{out}");
    assert!(out.contains("+ ivan api-key-delete key-kate-1"), "{out}");
    assert!(
        out.contains("+ pat api-key-create pat account=globex"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(&f).expect("read"),
        src,
        "never silently"
    );
    let new = std::fs::read_to_string(format!("{f}.new")).expect("pending file");
    assert!(new.starts_with("# who may delete kate's key\n"), "{new}");
    assert!(
        new.contains("    # a comment after the list stays\n"),
        "{new}"
    );
    assert!(new.contains(
        "    allow:\n      - alice api-key-delete key-kate-1\n      - ivan api-key-delete key-kate-1\n      - kate api-key-delete key-kate-1\n"
    ), "{new}");
    // pat may not create in restricted acme (R7): only globex is listed.
    assert!(new.contains("    actions: [api-key-create]\n    allow:\n      - pat api-key-create pat account=globex\nchecks:"), "{new}");

    let (code, out, _) = keyward_test(&[&f, "--accept"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("accepted"), "{out}");
    assert!(!Path::new(&format!("{f}.new")).exists());
    let (code, out, _) = keyward_test(&[&f]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(last_line(&out), "3 passed, 0 failed");
}

#[test]
fn update_refuses_a_flow_style_matrix_rather_than_guess() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = format!(
        "world: {}\nmatrix: [ {{ name: m, principals: [ivan], actions: [api-key-delete], resources: [key-kate-1], allow: [] }} ]\n",
        acme()
    );
    let f = write(dir.path(), "t.yaml", &src);
    let (code, out, _) = keyward_test(&[&f, "--update"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("flow style"), "{out}");
    assert!(!Path::new(&format!("{f}.new")).exists());
    assert_eq!(std::fs::read_to_string(&f).expect("read"), src);
}
