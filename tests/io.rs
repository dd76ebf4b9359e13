//! Standard streams and what each command accepts: `-` for standard input (`--world`) and
//! output (`--out`, `--policies-out`), the JSON error object of `--format json` for bad input,
//! and each subcommand's help listing exactly the formats (and `--now`) it takes.

use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

const ACME: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/acme.yaml");
const BROKEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/broken.yaml");

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Run keyward in `dir` (the crate root when `None`) with `stdin` piped in (empty when `None`).
fn run_in(args: &[&str], stdin: Option<&[u8]>, dir: Option<&Path>) -> Out {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyward"));
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    let mut child = cmd.spawn().expect("run keyward");
    let mut input = child.stdin.take().expect("stdin");
    let bytes = stdin.unwrap_or_default().to_vec();
    // Written from a thread: a command that does not read its input must not block the test.
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&bytes);
    });
    let out = child.wait_with_output().expect("keyward exits");
    let _ = writer.join();
    Out {
        code: out.status.code().expect("exited with a code"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn kw(args: &[&str]) -> Out {
    run_in(args, None, None)
}

fn kw_stdin(args: &[&str], stdin: &[u8]) -> Out {
    run_in(args, Some(stdin), None)
}

fn acme() -> Vec<u8> {
    std::fs::read(ACME).expect("fixtures/acme.yaml")
}

/// The same command with `--world FILE` and with `--world -` fed the file.
fn file_and_stdin(before: &[&str], after: &[&str]) -> (Out, Out) {
    let file = [before, &["--world", ACME], after].concat();
    let stdin = [before, &["--world", "-"], after].concat();
    (kw(&file), kw_stdin(&stdin, &acme()))
}

#[test]
fn a_world_on_standard_input_decides_like_its_file() {
    let req = [
        "--principal",
        "alice",
        "--action",
        "api-key-get",
        "--resource",
        "key-alice-1",
    ];
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (vec!["check"], req.to_vec()),
        (vec!["check"], [&req[..], &["--format", "json"]].concat()),
        (vec!["audit"], vec!["--format", "jsonl"]),
        (vec!["audit"], vec!["--principal", "ivan"]),
        (vec!["export"], vec![]),
        (vec!["export"], req.to_vec()),
        (vec!["findings"], vec!["--format", "json"]),
    ];
    for (before, after) in cases {
        let (file, stdin) = file_and_stdin(&before, &after);
        let what = format!("{before:?} {after:?}");
        assert_eq!(file.code, stdin.code, "{what}: {}", stdin.stderr);
        assert!(!file.stdout.is_empty(), "{what}");
        // The audit's work figures (its summary line) depend on how threads shared the work.
        let rows = |s: &str| -> Vec<String> {
            s.lines()
                .filter(|l| !l.starts_with("{\"type\":\"summary\""))
                .map(str::to_string)
                .collect()
        };
        assert_eq!(
            rows(&file.stdout),
            rows(&stdin.stdout),
            "{what}: {}",
            stdin.stderr
        );
    }
    let (file, stdin) = file_and_stdin(&["validate"], &[]);
    assert_eq!((file.code, stdin.code), (0, 0), "{}", stdin.stderr);
    assert_eq!(file.stdout.replace(ACME, "<stdin>"), stdin.stdout);
}

#[test]
fn a_problem_in_standard_input_is_located_at_stdin_line_column() {
    let src = "accounts:\n  - id: acme\n    owner: alice\n    colour: blue\n";
    for cmd in [
        &["validate"][..],
        &["audit"],
        &["check", "--principal", "alice", "--action", "login"],
    ] {
        let text = kw_stdin(&[cmd, &["--world", "-"]].concat(), src.as_bytes());
        assert_eq!(text.code, 1, "{cmd:?}: {}", text.stdout);
        // validate reports problems as its result (stdout); the others on stderr.
        let said = text.stdout.clone() + &text.stderr;
        assert!(
            said.contains("<stdin>:4:5: accounts[0].colour"),
            "{cmd:?}: {said}"
        );
        let json = kw_stdin(
            &[cmd, &["--world", "-", "--format", "json"]].concat(),
            src.as_bytes(),
        );
        assert_eq!(json.code, 1);
        let e = error_object(&json.stdout);
        let p = &e["problems"][0];
        assert_eq!(p["file"], "<stdin>", "{cmd:?}: {e}");
        assert_eq!(
            (p["line"].as_u64(), p["column"].as_u64()),
            (Some(4), Some(5))
        );
        assert_eq!(p["field"], "accounts[0].colour");
    }
    // Bytes that are not text are located too.
    let bad = kw_stdin(
        &["validate", "--world", "-"],
        b"accounts: []\nusers: [\xff]\n",
    );
    assert_eq!(bad.code, 1);
    assert!(
        bad.stdout.contains("<stdin>:2:9: the file is not UTF-8"),
        "{}",
        bad.stdout
    );
}

#[test]
fn empty_standard_input_is_bad_input_not_an_empty_world() {
    for input in [&b""[..], b"\n  \n"] {
        let o = kw_stdin(&["audit", "--world", "-"], input);
        assert_eq!(o.code, 1, "{}", o.stdout);
        assert!(
            o.stderr.contains("<stdin>: standard input is empty"),
            "{}",
            o.stderr
        );
    }
}

#[test]
fn standard_input_feeds_one_flag_and_is_never_written_back() {
    let two = kw_stdin(&["audit", "--world", "-", "--against-world", "-"], &acme());
    assert_eq!(two.code, 1);
    assert!(two.stderr.contains("--against-world"), "{}", two.stderr);
    assert!(two.stdout.is_empty());
    // One side from standard input, the other from a file: a real comparison.
    let one = kw_stdin(&["audit", "--world", ACME, "--against-world", "-"], &acme());
    assert_eq!(one.code, 0, "{}", one.stderr);
    let dir = tempfile::tempdir().unwrap();
    let apply = [
        "apply",
        "--world",
        "-",
        "--write",
        "--principal",
        "alice",
        "--action",
        "api-key-delete",
        "--resource",
        "key-alice-1",
    ];
    let script = dir.path().join("s.yaml");
    std::fs::write(&script, "steps:\n  - { principal: alice, action: api-key-get, resource: key-alice-1, expect: allow }\n").unwrap();
    let run = ["run", script.to_str().unwrap(), "--world", "-", "--write"];
    for args in [&apply[..], &run[..]] {
        let o = run_in(args, Some(&acme()), Some(dir.path()));
        assert_eq!(o.code, 1, "{args:?}: {}", o.stdout);
        assert!(
            o.stderr.contains("--world") && o.stderr.contains("written back"),
            "{}",
            o.stderr
        );
        assert!(!dir.path().join("-").exists() && !dir.path().join("-.lock").exists());
    }
    // Without --write, both read standard input.
    let dry: Vec<&str> = apply.iter().copied().filter(|a| *a != "--write").collect();
    let dry = run_in(&dry, Some(&acme()), Some(dir.path()));
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    let run = run_in(&run[..4], Some(&acme()), Some(dir.path()));
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
}

#[test]
fn out_dash_is_standard_output() {
    let dir = tempfile::tempdir().unwrap();
    let generate = [
        "generate",
        "--users",
        "5",
        "--keys-per-user",
        "1",
        "--service-ids",
        "2",
        "--accounts",
        "1",
        "--seed",
        "7",
    ];
    let plain = run_in(&generate, None, Some(dir.path()));
    let dash = run_in(
        &[&generate[..], &["--out", "-"]].concat(),
        None,
        Some(dir.path()),
    );
    assert_eq!((plain.code, dash.code), (0, 0), "{}", dash.stderr);
    assert!(plain.stdout.contains("accounts:"));
    assert_eq!(plain.stdout, dash.stdout);
    assert!(!dir.path().join("-").exists(), "no file named `-`");
    let from = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/ibmcloud/export");
    let plain = run_in(&["import", "--from", from], None, Some(dir.path()));
    let dash = run_in(
        &["import", "--from", from, "--out", "-"],
        None,
        Some(dir.path()),
    );
    assert_eq!((plain.code, dash.code), (0, 0), "{}", dash.stderr);
    assert!(plain.stdout.contains("accounts:"));
    assert_eq!(plain.stdout, dash.stdout);
    assert!(!dir.path().join("-").exists(), "no file named `-`");
}

#[test]
fn policies_out_dash_prints_the_policy_set_alone() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("all.cedar");
    let f = file.to_str().unwrap();
    let to_file = run_in(
        &["export", "--world", ACME, "--policies-out", f],
        None,
        Some(dir.path()),
    );
    assert_eq!(to_file.code, 0, "{}", to_file.stderr);
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(written.contains("@id("));
    for world in [&["--world", ACME][..], &[]] {
        let o = run_in(
            &[&["export", "--policies-out", "-"], world].concat(),
            None,
            Some(dir.path()),
        );
        assert_eq!(o.code, 0, "{world:?}: {}", o.stderr);
        assert_eq!(o.stdout, written, "{world:?}");
        assert!(!dir.path().join("-").exists(), "no file named `-`");
    }
    // A request's {"entities", "request"} would be a second document on the same stream.
    let o = kw(&[
        "export",
        "--world",
        ACME,
        "--policies-out",
        "-",
        "--principal",
        "alice",
        "--action",
        "login",
    ]);
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("--policies-out"), "{}", o.stderr);
}

/// The `error` object of a JSON error, checked for its shape.
#[track_caller]
fn error_object(stdout: &str) -> Value {
    let v: Value = serde_json::from_str(stdout.trim_end())
        .unwrap_or_else(|e| panic!("stdout is one JSON document ({e}):\n{stdout}"));
    let e = v["error"].clone();
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "error.message: {v}"
    );
    let problems = e["problems"]
        .as_array()
        .unwrap_or_else(|| panic!("error.problems: {v}"));
    for p in problems {
        let keys: Vec<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(keys, ["column", "field", "file", "line", "message"], "{p}");
        assert!(p["message"].as_str().is_some_and(|m| !m.is_empty()), "{p}");
    }
    e
}

#[test]
fn bad_input_with_format_json_prints_one_error_object_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bad_test = d.join("t.yaml");
    std::fs::write(&bad_test, "world: nowhere.yaml\nchecks: 3\n").unwrap();
    let script = d.join("s.yaml");
    std::fs::write(&script, "world: nowhere.yaml\nsteps: []\n").unwrap();
    let req = [
        "--principal",
        "alice",
        "--action",
        "login",
        "--resource",
        "acme",
    ];
    let cases: Vec<Vec<&str>> = vec![
        [&["check", "--world", BROKEN][..], &req].concat(),
        [&["apply", "--world", BROKEN][..], &req].concat(),
        vec!["run", script.to_str().unwrap()],
        vec!["validate", "--world", BROKEN],
        vec!["test", bad_test.to_str().unwrap()],
        vec!["audit", "--world", BROKEN],
        vec!["audit", "--world", ACME, "--against-world", BROKEN],
        vec!["findings", "--world", BROKEN],
        vec!["export", "--world", BROKEN],
        vec!["log", "verify", "no-such.log"],
        // Bad arguments after parsing: an unknown principal, an --arg given twice.
        vec![
            "check",
            "--world",
            ACME,
            "--principal",
            "nobody",
            "--action",
            "login",
            "--resource",
            "acme",
        ],
        [
            &["check", "--world", ACME][..],
            &req,
            &["--arg", "a=1", "--arg", "a=2"],
        ]
        .concat(),
    ];
    for args in cases {
        let text = run_in(&args, None, Some(d));
        assert_eq!(text.code, 1, "{args:?}: {}{}", text.stdout, text.stderr);
        let said = text.stdout.clone() + &text.stderr;
        assert!(said.contains("error"), "{args:?}: {said}");
        let json_args = [&args[..], &["--format", "json"]].concat();
        let json = run_in(&json_args, None, Some(d));
        assert_eq!(json.code, 1, "{json_args:?}: {}", json.stderr);
        let e = error_object(&json.stdout);
        assert!(
            !e["problems"].as_array().unwrap().is_empty(),
            "{json_args:?}: {e}"
        );
        // The text stays on stderr for people reading a job's log.
        assert!(!json.stderr.is_empty() || args[0] == "validate" || args[0] == "test");
    }
    // The stream format: one object on one line.
    let jsonl = kw(&["audit", "--world", BROKEN, "--format", "jsonl"]);
    assert_eq!(jsonl.code, 1);
    assert_eq!(jsonl.stdout.lines().count(), 1);
    error_object(&jsonl.stdout);
    // Text mode keeps stdout for results: nothing there.
    let text = kw(&[
        "check",
        "--world",
        BROKEN,
        "--principal",
        "alice",
        "--action",
        "login",
    ]);
    assert!(text.stdout.is_empty(), "{}", text.stdout);
}

#[test]
fn validate_json_keeps_its_report_and_adds_the_error_object() {
    let o = kw(&["validate", "--world", BROKEN, "--format", "json"]);
    assert_eq!(o.code, 1);
    let v: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["valid"], false);
    let report = v["problems"].as_array().unwrap().len();
    let e = error_object(&o.stdout);
    assert_eq!(e["problems"].as_array().unwrap().len(), report);
    let ok = kw(&["validate", "--world", ACME, "--format", "json"]);
    let v: Value = serde_json::from_str(&ok.stdout).unwrap();
    assert!(v.get("error").is_none(), "{v}");
}

#[test]
fn usage_errors_from_the_parser_follow_format_json_too() {
    let o = kw(&[
        "check", "--world", ACME, "--action", "login", "--format", "json",
    ]);
    assert_eq!(o.code, 1);
    let e = error_object(&o.stdout);
    assert_eq!(e["problems"][0]["field"], "--principal", "{e}");
    assert!(o.stderr.contains("--principal"), "{}", o.stderr);
    // keyward's own checks of a flag's value name the flag too.
    let o = kw(&["audit", "--world", ACME, "--now", "bad", "--format", "json"]);
    assert_eq!(o.code, 1);
    let e = error_object(&o.stdout);
    assert_eq!(e["problems"][0]["field"], "--now", "{e}");
    let o = kw(&["audit", "--world", ACME, "--bogus", "--format=json"]);
    assert_eq!(o.code, 1);
    error_object(&o.stdout);
    let o = kw(&["check", "--world", ACME, "--action", "login"]);
    assert_eq!(o.code, 1);
    assert!(o.stdout.is_empty(), "{}", o.stdout);
}

/// The values `--format` lists in a subcommand's short help, or `None` without `--format`.
fn formats_in_help(cmd: &[&str]) -> (Option<Vec<String>>, bool) {
    let o = kw(&[cmd, &["-h"]].concat());
    assert_eq!(o.code, 0, "{cmd:?}: {}", o.stderr);
    let line = o
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("--format"));
    let formats = line.map(|l| {
        let (_, values) = l
            .split_once("[possible values: ")
            .unwrap_or_else(|| panic!("{cmd:?}: {l}"));
        values
            .trim_end_matches(']')
            .split(", ")
            .map(String::from)
            .collect()
    });
    let now = o
        .stdout
        .lines()
        .any(|l| l.trim_start().starts_with("--now"));
    (formats, now)
}

#[test]
fn each_subcommand_help_lists_exactly_its_formats_and_now() {
    let tj = Some(vec!["text".to_string(), "json".to_string()]);
    let audit = ["text", "json", "jsonl", "csv", "markdown"];
    // (the subcommand, the formats its help lists, whether it takes --now)
    type Case<'a> = (Vec<&'a str>, Option<Vec<String>>, bool);
    let cases: Vec<Case> = vec![
        (vec!["check"], tj.clone(), true),
        (vec!["apply"], tj.clone(), true),
        (vec!["run"], tj.clone(), true),
        (vec!["validate"], tj.clone(), false),
        (vec!["export"], Some(vec!["json".into()]), true),
        (
            vec!["audit"],
            Some(audit.iter().map(|s| s.to_string()).collect()),
            true,
        ),
        (vec!["findings"], tj.clone(), true),
        (vec!["test"], tj.clone(), true),
        (vec!["log", "verify"], tj.clone(), false),
        // generate's --now is the generated world's `now`.
        (vec!["generate"], None, true),
        (vec!["import"], None, false),
    ];
    for (cmd, formats, now) in cases {
        let (got, got_now) = formats_in_help(&cmd);
        // html is a format of audit added beside this work; it must stay audit's alone.
        let got = got.map(|v| {
            v.into_iter()
                .filter(|f| !(cmd == ["audit"] && f == "html"))
                .collect::<Vec<_>>()
        });
        assert_eq!(got, formats, "{cmd:?}");
        assert_eq!(got_now, now, "{cmd:?} --now");
    }
}

#[test]
fn formats_a_command_does_not_list_are_refused() {
    for (cmd, format) in [
        (
            &[
                "check",
                "--world",
                ACME,
                "--principal",
                "a",
                "--action",
                "login",
            ][..],
            "csv",
        ),
        (&["findings", "--world", ACME], "jsonl"),
        (&["validate", "--world", ACME], "markdown"),
        (&["test", "tests/decisions"], "csv"),
        (&["export", "--world", ACME], "jsonl"),
    ] {
        let o = kw(&[cmd, &["--format", format]].concat());
        assert_eq!(o.code, 1, "{cmd:?} {format}: {}", o.stdout);
        assert!(o.stderr.contains("--format"), "{}", o.stderr);
    }
    // export's outputs are Cedar's JSON formats: text is refused, saying why.
    let o = kw(&["export", "--world", ACME, "--format", "text"]);
    assert_eq!(o.code, 1);
    assert!(o.stdout.is_empty(), "{}", o.stdout);
    assert!(o.stderr.contains("JSON formats only"), "{}", o.stderr);
}

#[test]
fn validate_refuses_now() {
    let o = kw(&["validate", "--world", ACME, "--now", "2026-11-23T12:00:00Z"]);
    assert_eq!(o.code, 1, "{}", o.stdout);
    assert!(o.stderr.contains("'--now'"), "{}", o.stderr);
    assert!(o.stdout.is_empty());
}

#[cfg(unix)]
#[test]
fn log_verify_reads_the_world_from_standard_input() {
    let dir = tempfile::tempdir().unwrap();
    let w = dir.path().join("w.yaml");
    std::fs::copy(ACME, &w).unwrap();
    let log = dir.path().join("w.log");
    let o = kw(&[
        "apply",
        "--world",
        w.to_str().unwrap(),
        "--write",
        "--log",
        log.to_str().unwrap(),
        "--principal",
        "alice",
        "--action",
        "api-key-lock",
        "--resource",
        "key-alice-1",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let now = std::fs::read(&w).unwrap();
    let verify = ["log", "verify", log.to_str().unwrap(), "--world", "-"];
    let o = kw_stdin(&verify, &now);
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    // The world as it was before the change is not where the log left it.
    let o = kw_stdin(&verify, &acme());
    assert_eq!(o.code, 3, "{}{}", o.stdout, o.stderr);
}
