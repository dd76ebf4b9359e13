//! Issue 10, items 6 and 7: ids and timestamps.
//!
//! Ids (and every value used as one) are printable text: one holding a newline, a control or a
//! format character is refused where it is written, in a world or on the command line. Data
//! fields (a key's `name`, `description`) may hold anything, and every text output prints them
//! escaped: no input forges a line or sends an escape sequence to a terminal.
//!
//! Timestamps follow Cedar's `datetime()` rules: a time Cedar would refuse (a leap second, a
//! year past 9999, a fraction finer than a millisecond, an offset out of range) is a located
//! error, and `--now` such a time is a usage error (exit 1), never a silent deny.

use keyward::decide::policy::{self, PolicyOptions};
use keyward::world::problem::Problem;
use keyward::world::{self, RoleCatalog};
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

const FILE: &str = "w.yaml";

/// Characters no output may hold raw (written here independently of the code under test):
/// controls, the usual format characters (bidi, zero-width, BOM) and line separators.
fn unprintable(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}'
            | '\u{2028}' | '\u{2029}')
}

fn roles() -> &'static RoleCatalog {
    static ROLES: OnceLock<RoleCatalog> = OnceLock::new();
    ROLES.get_or_init(|| policy::load(&PolicyOptions::default()).unwrap().roles)
}

fn problems(src: &str) -> Vec<Problem> {
    match world::parse_world(FILE, src, roles()) {
        Ok(_) => panic!("the world loaded:\n{src}"),
        Err(p) => p.0,
    }
}

/// A small valid world with every id-like field written once, each value unique.
const BASE: &str = r#"now: "2026-11-23T12:00:00Z"
accounts:
  - { id: acme, owner: alice, default_resource_group: rg-main }
users:
  - { id: alice, accounts: [acme] }
  - { id: bob, accounts: [acme], classic_parent: alice }
service_ids:
  - { id: ci-bot, account: acme, created_by: bob }
access_groups:
  - { id: admins, account: acme, members: [bob] }
role_bindings:
  - { subject: admins, account: acme, service: iam-identity, roles: [Administrator] }
  - { subject: ci-bot, account: acme, service: containers-kubernetes, roles: [Administrator], region: us-south, resource_group: rg-main, resource: c-1 }
api_keys:
  - { id: key-1, name: laptop, description: my laptop, identity: bob, account: acme, created_by: bob, expires_at: "2027-01-01T00:00:00Z", etag: "e-7", fingerprint: "sha256:ab12" }
classic_keys:
  - { id: ck-bob, user: bob, account: acme }
clusters:
  - { id: c-1, account: acme, region: us-south, resource_group: rg-main, addons: [autoscaler] }
cluster_api_keys:
  - { account: acme, region: eu-de, resource_group: rg-main, api_key: key-1 }
"#;

fn line_of(src: &str, needle: &str) -> usize {
    let at = src
        .find(needle)
        .unwrap_or_else(|| panic!("`{needle}` not in the world"));
    src[..at].matches('\n').count() + 1
}

#[test]
fn the_base_world_is_valid() {
    world::parse_world(FILE, BASE, roles()).unwrap_or_else(|p| panic!("{p}"));
}

/// Replace the `n`-th (from 0) occurrence of `from` in `src` by `to`.
fn replace_nth(src: &str, from: &str, to: &str, n: usize) -> String {
    let (at, _) = src
        .match_indices(from)
        .nth(n)
        .unwrap_or_else(|| panic!("no occurrence {n} of `{from}`"));
    format!("{}{to}{}", &src[..at], &src[at + from.len()..])
}

#[test]
fn a_newline_forged_id_is_refused_at_its_line() {
    // The id the issue forged: a user whose id holds a whole fake audit row.
    let src = BASE.replace(
        "{ id: bob, accounts: [acme], classic_parent: alice }",
        "{ id: \"bob\\nmallory  api-key-delete  key-prod\", accounts: [acme] }",
    );
    let ps = problems(&src);
    let p = ps
        .iter()
        .find(|p| p.field == "users[1].id")
        .unwrap_or_else(|| panic!("no problem at users[1].id: {ps:#?}"));
    assert_eq!(p.pos.line, line_of(&src, "mallory"));
    assert!(p.message.contains("unprintable"), "{p}");
    // Every problem prints on one line, the id escaped.
    for p in &ps {
        let shown = p.to_string();
        assert!(!shown.contains('\n'), "{shown:?}");
    }
    assert!(p.to_string().contains("bob\\nmallory"), "{p}");
}

#[test]
fn every_id_like_field_with_a_control_or_format_character_is_refused_where_it_is() {
    // (the value as written in BASE, which occurrence, the field that must be reported)
    let cases: &[(&str, usize, &str)] = &[
        ("id: acme", 0, "accounts[0].id"),
        ("owner: alice", 0, "accounts[0].owner"),
        (
            "default_resource_group: rg-main",
            0,
            "accounts[0].default_resource_group",
        ),
        ("id: alice", 0, "users[0].id"),
        ("accounts: [acme]", 0, "users[0].accounts[0]"),
        ("classic_parent: alice", 0, "users[1].classic_parent"),
        ("id: ci-bot", 0, "service_ids[0].id"),
        ("created_by: bob", 0, "service_ids[0].created_by"),
        ("id: admins", 0, "access_groups[0].id"),
        ("members: [bob]", 0, "access_groups[0].members[0]"),
        ("subject: admins", 0, "role_bindings[0].subject"),
        ("service: iam-identity", 0, "role_bindings[0].service"),
        ("roles: [Administrator]", 0, "role_bindings[0].roles[0]"),
        ("region: us-south", 0, "role_bindings[1].region"),
        (
            "resource_group: rg-main",
            1,
            "role_bindings[1].resource_group",
        ),
        ("resource: c-1", 0, "role_bindings[1].resource"),
        ("id: key-1", 0, "api_keys[0].id"),
        ("identity: bob", 0, "api_keys[0].identity"),
        ("account: acme", 4, "api_keys[0].account"),
        ("created_by: bob", 1, "api_keys[0].created_by"),
        ("etag: \"e-7\"", 0, "api_keys[0].etag"),
        ("fingerprint: \"sha256:ab12\"", 0, "api_keys[0].fingerprint"),
        ("id: ck-bob", 0, "classic_keys[0].id"),
        ("user: bob", 0, "classic_keys[0].user"),
        ("id: c-1", 0, "clusters[0].id"),
        ("region: us-south", 1, "clusters[0].region"),
        ("addons: [autoscaler]", 0, "clusters[0].addons[0]"),
        ("region: eu-de", 0, "cluster_api_keys[0].region"),
        ("api_key: key-1", 0, "cluster_api_keys[0].api_key"),
    ];
    for bad in ["\\e[31m", "\\r", "\\t", "\\u202E", "\\x85", "\\u200B"] {
        for (written, n, field) in cases {
            let (key, value) = written.split_once(": ").unwrap();
            let (open, inner, close) = match value.strip_prefix('[') {
                Some(v) => ("[", v.trim_end_matches(']'), "]"),
                None => ("", value, ""),
            };
            let inner = inner.trim_matches('"');
            let forged = format!("{key}: {open}\"{inner}{bad}x\"{close}");
            let src = replace_nth(BASE, written, &forged, *n);
            let ps = problems(&src);
            let p = ps
                .iter()
                .find(|p| p.field == *field && p.message.contains("unprintable"))
                .unwrap_or_else(|| panic!("{bad} in {field}: no such problem in {ps:#?}"));
            let line = line_of(&replace_nth(&src, &forged, "@@", 0), "@@");
            assert_eq!(p.pos.line, line, "{bad} in {field}: {p}");
            for p in &ps {
                let shown = p.to_string();
                assert!(!shown.chars().any(unprintable), "{shown:?}");
            }
        }
    }
}

#[test]
fn a_key_name_and_description_are_data_and_may_hold_anything() {
    let src = BASE
        .replace("name: laptop", "name: \"lap\\e[2J\\ntop\"")
        .replace(
            "description: my laptop",
            "description: \"a\\u202Eb\\nALLOW\"",
        );
    let w = world::parse_world(FILE, &src, roles()).unwrap_or_else(|p| panic!("{p}"));
    assert_eq!(w.api_keys[0].name, "lap\u{1b}[2J\ntop");
}

// ---- timestamps ----

#[track_caller]
fn time_problem(src: &str, field: &str, needle: &str, phrase: &str) {
    let ps = problems(src);
    let p = ps
        .iter()
        .find(|p| p.field == field)
        .unwrap_or_else(|| panic!("no problem at {field}: {ps:#?}"));
    assert_eq!(p.pos.line, line_of(src, needle), "{p}");
    assert!(p.message.contains(phrase), "`{phrase}` not in {p}");
}

#[test]
fn a_leap_second_is_refused_in_now_and_expires_at() {
    let src = BASE.replace("2026-11-23T12:00:00Z", "2026-12-31T23:59:60Z");
    time_problem(&src, "now", "now:", "leap second");
    let src = BASE.replace("2027-01-01T00:00:00Z", "2016-12-31T23:59:60Z");
    time_problem(&src, "api_keys[0].expires_at", "2016-12", "leap second");
}

#[test]
fn a_year_past_9999_is_refused_as_written_and_in_utc() {
    let src = BASE.replace("2027-01-01T00:00:00Z", "10000-01-01T00:00:00Z");
    time_problem(&src, "api_keys[0].expires_at", "10000-", "YYYY-MM-DD");
    let src = BASE.replace("2027-01-01T00:00:00Z", "9999-12-31T23:30:00-01:00");
    time_problem(&src, "api_keys[0].expires_at", "9999-", "year 10000");
    let src = BASE.replace("2026-11-23T12:00:00Z", "0000-01-01T00:00:00+01:00");
    time_problem(&src, "now", "now:", "year -1");
}

#[test]
fn sub_millisecond_precision_is_refused_not_truncated() {
    let src = BASE.replace("2027-01-01T00:00:00Z", "2027-01-01T00:00:00.1234Z");
    time_problem(
        &src,
        "api_keys[0].expires_at",
        "2027-01-01",
        "finer than a millisecond",
    );
    // Exact times stay: milliseconds, and zeros past them.
    for ok in [
        "2027-01-01T00:00:00.123Z",
        "2027-01-01T00:00:00.5+02:00",
        "2027-01-01T00:00:00.123000Z",
    ] {
        let src = BASE.replace("2027-01-01T00:00:00Z", ok);
        world::parse_world(FILE, &src, roles()).unwrap_or_else(|p| panic!("{ok}: {p}"));
    }
}

#[test]
fn an_offset_out_of_range_or_malformed_is_refused() {
    for (bad, phrase) in [
        ("2027-01-01T00:00:00+24:00", "out of range"),
        ("2027-01-01T00:00:00+05:60", "out of range"),
        ("2027-01-01T00:00:00+5:00", "not an offset"),
        ("2027-01-01T00:00:00", "expected Z or an offset"),
    ] {
        let src = BASE.replace("2027-01-01T00:00:00Z", bad);
        time_problem(&src, "api_keys[0].expires_at", "expires_at", phrase);
    }
}

// ---- through the binary ----

fn keyward(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(args)
        .output()
        .expect("run keyward");
    (
        out.status.code().expect("exited"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const ACME: &str = "fixtures/acme.yaml";

/// No character of `s` is unprintable, but for the newlines that end lines.
#[track_caller]
fn printable(s: &str) {
    let bad: Vec<char> = s
        .chars()
        .filter(|c| *c != '\n' && unprintable(*c))
        .collect();
    assert!(bad.is_empty(), "raw {bad:?} in output:\n{s}");
}

#[test]
fn cli_ids_and_args_with_control_characters_are_refused_naming_the_flag() {
    let check = ["check", "--world", ACME, "--action", "api-key-create"];
    for (extra, flag) in [
        (
            vec!["--principal", "ali\x1b[31mce", "--resource", "alice"],
            "--principal",
        ),
        (
            vec!["--principal", "alice", "--resource", "alice\nmallory"],
            "--resource",
        ),
        (
            vec![
                "--principal",
                "alice",
                "--resource",
                "alice",
                "--arg",
                "name=a\x1b]0;x\x07",
            ],
            "--arg",
        ),
        (
            vec![
                "--principal",
                "alice",
                "--resource",
                "alice",
                "--arg",
                "na\rme=x",
            ],
            "--arg",
        ),
    ] {
        let args: Vec<&str> = check.iter().copied().chain(extra).collect();
        let (code, stdout, stderr) = keyward(&args);
        assert_eq!(code, 1, "{args:?}\n{stdout}{stderr}");
        assert!(stderr.contains(flag), "{flag} not named: {stderr}");
        assert!(stdout.is_empty(), "{stdout}");
        printable(&stderr);
    }
    for (flag, value) in [
        ("--principal", "ivan\x1b[2J"),
        ("--resource", "key-1\u{202e}"),
        ("--account", "acme\n"),
        ("--action", "login\t"),
    ] {
        let (code, stdout, stderr) = keyward(&["audit", "--world", ACME, flag, value]);
        assert_eq!(code, 1, "{flag}\n{stdout}{stderr}");
        assert!(stderr.contains(flag), "{flag} not named: {stderr}");
        assert!(!stdout.contains("allowed"), "{stdout}");
        printable(&stderr);
    }
}

/// acme with one key's name and description holding escapes, newlines and a bidi override.
fn hostile_acme(dir: &Path) -> String {
    let src = std::fs::read_to_string(ACME).unwrap().replace(
        "{ id: key-pat-globex, name: containers-kubernetes-key,",
        "{ id: key-pat-globex, name: \"k\\e[2J\\e]0;pwned\\a\\nmallory  api-key-delete  key-prod\\u202E\", description: \"d\\n| x | y |\\r\",",
    );
    assert!(src.contains("pwned"), "the fixture changed");
    let path = dir.join("hostile.yaml");
    std::fs::write(&path, src).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn text_output_never_holds_a_raw_control_character() {
    let dir = tempfile::TempDir::new().unwrap();
    let w = hostile_acme(dir.path());
    let (code, _, stderr) = keyward(&["validate", "--world", &w]);
    assert_eq!(code, 0, "{stderr}");
    for args in [
        vec!["findings", "--world", &w],
        vec!["audit", "--world", &w],
        vec!["audit", "--world", &w, "--format", "markdown", "--findings"],
        vec!["audit", "--world", &w, "--format", "csv", "--findings"],
        vec!["audit", "--world", &w, "--by", "resource"],
        vec![
            "check",
            "--world",
            &w,
            "--principal",
            "pat",
            "--action",
            "api-key-get",
            "--resource",
            "key-pat-globex",
        ],
        vec![
            "apply",
            "--world",
            &w,
            "--principal",
            "pat",
            "--action",
            "api-key-get",
            "--resource",
            "key-pat-globex",
        ],
    ] {
        let (code, stdout, stderr) = keyward(&args);
        assert!(code == 0 || code == 2, "{args:?}: {stdout}{stderr}");
        printable(&stdout);
        printable(&stderr);
        assert!(
            !stdout.lines().any(|l| l.starts_with("mallory")),
            "{args:?}: a forged line:\n{stdout}"
        );
    }
    let (_, stdout, _) = keyward(&["findings", "--world", &w]);
    assert!(
        stdout.contains("k\\u{1b}[2J"),
        "escaped, not dropped:\n{stdout}"
    );
    let (_, md, _) = keyward(&["audit", "--world", &w, "--format", "markdown", "--findings"]);
    // Each table (decisions, then findings) keeps its header's cell count on every row.
    let mut cells = 0;
    for l in md.lines().filter(|l| l.starts_with("| ")) {
        if md.contains(&format!("{l}\n|---")) {
            cells = l.matches(" | ").count();
        }
        assert!(cells >= 2, "a table starts with a header: {l}");
        assert_eq!(
            l.matches(" | ").count(),
            cells,
            "a table row keeps its cells: {l}"
        );
    }
}

#[test]
fn run_and_test_output_escape_what_scripts_and_test_files_hold() {
    let dir = tempfile::TempDir::new().unwrap();
    let acme = std::fs::canonicalize(ACME).unwrap();
    let script = dir.path().join("s.yaml");
    std::fs::write(
        &script,
        format!(
            "world: {}\nsteps:\n  - {{ principal: \"mal\\nlory\\e[2J\", action: login, resource: acme, expect: deny }}\n  - principal: alice\n    action: api-key-update\n    resource: key-alice-1\n    args: {{ etag: \"1\", name: \"x\\ny\\e[31m\\u202E\" }}\n    expect: allow\n",
            acme.display()
        ),
    )
    .unwrap();
    let (_, stdout, stderr) = keyward(&["run", script.to_str().unwrap()]);
    printable(&stdout);
    printable(&stderr);
    assert!(!stdout.lines().any(|l| l.starts_with("lory")), "{stdout}");

    let test = dir.path().join("t.yaml");
    std::fs::write(
        &test,
        format!(
            "world: {}\nchecks:\n  - {{ name: \"n\\e[2J\\nFAKE ok\", principal: \"mal\\nlory\\e[31m\", action: login, resource: acme, expect: allow }}\n",
            acme.display()
        ),
    )
    .unwrap();
    let (code, stdout, stderr) = keyward(&["test", test.to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    printable(&stdout);
    printable(&stderr);
    assert!(!stdout.lines().any(|l| l.starts_with("FAKE")), "{stdout}");
}

#[test]
fn a_bad_now_is_a_usage_error_naming_the_flag_not_a_deny() {
    for bad in [
        "2026-12-31T23:59:60Z",
        "10000-01-01T00:00:00Z",
        "2026-11-23T12:00:00.0001Z",
        "2026-11-23T12:00:00+24:00",
    ] {
        let (code, stdout, stderr) = keyward(&[
            "check",
            "--world",
            ACME,
            "--now",
            bad,
            "--principal",
            "key-alice-1",
            "--action",
            "login",
            "--resource",
            "acme",
        ]);
        assert_eq!(code, 1, "--now {bad}: {stdout}{stderr}");
        assert!(!stdout.contains("DENY"), "{stdout}");
        assert!(stderr.contains("--now"), "{stderr}");
        let (code, stdout, stderr) = keyward(&["audit", "--world", ACME, "--now", bad]);
        assert_eq!(code, 1, "audit --now {bad}: {stdout}{stderr}");
        assert!(!stdout.contains("0 allowed"), "{stdout}");
    }
    let (code, stdout, stderr) = keyward(&[
        "check",
        "--world",
        ACME,
        "--principal",
        "alice",
        "--action",
        "api-key-create",
        "--resource",
        "alice",
        "--arg",
        "expires_at=2027-01-01T00:00:60Z",
    ]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.contains("expires_at") && stderr.contains("leap second"),
        "{stderr}"
    );
    let (code, stdout, stderr) = keyward(&[
        "apply",
        "--world",
        ACME,
        "--principal",
        "alice",
        "--action",
        "api-key-create",
        "--resource",
        "alice",
        "--arg",
        "expires_at=2027-01-01T00:00:00.0001Z",
    ]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.contains("--arg expires_at") && stderr.contains("millisecond"),
        "{stderr}"
    );
}

#[test]
fn audit_on_a_world_with_a_time_cedar_refuses_fails_instead_of_allowing_nothing() {
    let dir = tempfile::TempDir::new().unwrap();
    let src = std::fs::read_to_string(ACME).unwrap().replace(
        "now: \"2026-11-23T12:00:00Z\"",
        "now: \"2026-12-31T23:59:60Z\"",
    );
    let path = dir.path().join("leap.yaml");
    std::fs::write(&path, src).unwrap();
    let (code, stdout, stderr) = keyward(&["audit", "--world", path.to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(!stdout.contains("0 allowed"), "{stdout}");
    assert!(
        stderr.contains("leap.yaml:") && stderr.contains("now:"),
        "{stderr}"
    );
}

#[test]
fn a_test_file_now_that_cedar_refuses_is_not_a_pass_or_a_deny() {
    let dir = tempfile::TempDir::new().unwrap();
    let acme = std::fs::canonicalize(ACME).unwrap();
    let test = dir.path().join("t.yaml");
    std::fs::write(
        &test,
        format!(
            "world: {}\nnow: \"2026-12-31T23:59:60Z\"\nchecks:\n  - {{ principal: key-carl-old, action: login, resource: acme, expect: deny }}\n",
            acme.display()
        ),
    )
    .unwrap();
    let (code, stdout, stderr) = keyward(&["test", test.to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        format!("{stdout}{stderr}").contains("leap second"),
        "{stdout}{stderr}"
    );
}
