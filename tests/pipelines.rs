//! keyward in pipelines (docs/output.md): the gates (`audit --fail-on-change`, `findings
//! --fail-on`) trip with exit 3 and only then; an unknown filter value is bad input naming the
//! nearest ids; a closed pipe ends every command and format quietly with 0; every format is one
//! well-formed document (csv read by a csv parser, jsonl typed line by line, markdown tables
//! whole).

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

const ACME: &str = "fixtures/acme.yaml";

/// Exit code, stdout, stderr.
fn keyward(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(args)
        .output()
        .expect("run keyward");
    (
        out.status.code().expect("an exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_change_impact_gate_trips_when_a_decision_differs_and_only_then() {
    let against = [
        "audit",
        "--world",
        ACME,
        "--against-variant",
        "c1-editor-creates",
    ];
    let (code, out, err) = keyward(&[&against[..], &["--fail-on-change"]].concat());
    assert_eq!(code, 3, "{out}{err}");
    assert!(out.contains("gained"), "the report is still printed: {out}");
    // Without the gate, the same report exits 0.
    assert_eq!(keyward(&against).0, 0);
    // The variant changes no login: nothing differs, the gate holds.
    let login = [&against[..], &["--fail-on-change", "--action", "login"]].concat();
    let (code, out, err) = keyward(&login);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("0 decisions differ"), "{out}");
    // A gate on nothing to compare is a usage error.
    let (code, _, err) = keyward(&["audit", "--world", ACME, "--fail-on-change"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("--fail-on-change") && err.contains("--against"),
        "{err}"
    );
}

/// The rules of `findings --format json` with these flags, and the exit code.
fn findings(flags: &[&str]) -> (i32, Vec<serde_json::Value>) {
    let args = [
        &["findings", "--world", ACME, "--format", "json"][..],
        flags,
    ]
    .concat();
    let (code, out, err) = keyward(&args);
    assert!(code == 0 || code == 3, "{args:?}: {out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    (code, v["findings"].as_array().expect("findings").clone())
}

#[test]
fn the_findings_gate_trips_on_its_rules_only() {
    let (_, all) = findings(&[]);
    let has = |r: &str| all.iter().any(|f| f["rule"] == r);
    assert!(
        has("F1") && has("F4") && !has("F6"),
        "acme's findings changed"
    );
    assert_eq!(findings(&["--fail-on", "F1,F3"]).0, 3);
    assert_eq!(findings(&["--fail-on", "f4"]).0, 3, "rule ids in any case");
    assert_eq!(findings(&["--fail-on", "any"]).0, 3);
    assert_eq!(findings(&["--fail-on", "F6"]).0, 0, "acme has no F6");
    assert_eq!(findings(&[]).0, 0, "no gate: recommendations only");
    // The gate looks at what is shown: F1 narrowed away does not trip it.
    assert_eq!(findings(&["--rule", "F4", "--fail-on", "F1"]).0, 0);
    assert_eq!(findings(&["--account", "acme", "--fail-on", "F4"]).0, 3);
}

#[test]
fn findings_narrow_by_rule_and_account() {
    let (_, f4) = findings(&["--rule", "F4"]);
    assert!(
        !f4.is_empty() && f4.iter().all(|f| f["rule"] == "F4"),
        "{f4:?}"
    );
    let (_, two) = findings(&["--rule", "F1", "--rule", "F2"]);
    assert!(two.iter().any(|f| f["rule"] == "F1") && two.iter().any(|f| f["rule"] == "F2"));
    assert!(two.iter().all(|f| f["rule"] == "F1" || f["rule"] == "F2"));
    let (_, globex) = findings(&["--account", "globex"]);
    assert!(!globex.is_empty() && globex.iter().all(|f| f["account"] == "globex"));
    let (_, all) = findings(&[]);
    assert!(globex.len() < all.len());
}

#[test]
fn findings_shown_with_an_audit_follow_its_filters() {
    let audit = |flags: &[&str]| -> Vec<serde_json::Value> {
        let args = [
            &["audit", "--world", ACME, "--format", "json", "--findings"][..],
            flags,
        ];
        let (code, out, err) = keyward(&args.concat());
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        v["findings"].as_array().expect("findings").clone()
    };
    let globex = audit(&["--account", "globex"]);
    assert!(!globex.is_empty() && globex.iter().all(|f| f["account"] == "globex"));
    // pat's findings: about pat's keys (pat holds key-pat-acme and key-pat-globex).
    let pat = audit(&["--principal", "pat"]);
    assert!(!pat.is_empty());
    for f in &pat {
        let s = f["subject"].as_str().unwrap();
        assert!(s == "pat" || s.starts_with("key-pat-"), "{f}");
    }
    assert!(pat.len() < audit(&[]).len());
    // The text report (which always shows findings) too.
    let (_, text, _) = keyward(&["audit", "--world", ACME, "--account", "globex"]);
    assert!(
        !text.contains("  acme  "),
        "acme's findings under --account globex:\n{text}"
    );
}

#[test]
fn an_unknown_filter_value_is_bad_input_naming_the_nearest() {
    for (flag, value, near) in [
        ("--action", "api-key-creat", "api-key-create"),
        ("--principal", "alic", "alice"),
        ("--resource", "key-alice", "key-alice-1"),
        ("--account", "acmee", "acme"),
    ] {
        for cmd in [
            &["audit", "--world", ACME][..],
            &["audit", "--world", ACME, "--format", "json"],
        ] {
            let (code, out, err) = keyward(&[cmd, &[flag, value]].concat());
            assert_eq!(code, 1, "{flag} {value}: {out}{err}");
            // No rows: nothing on stdout, or (json) only the JSON error object.
            if cmd.contains(&"json") {
                let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
                assert_eq!(v["error"]["problems"][0]["field"], flag, "{out}");
            } else {
                assert!(out.is_empty(), "no rows: {out}");
            }
            assert!(err.contains(flag) && err.contains(value), "{err}");
            assert!(err.contains(&format!("did you mean {near}")), "{err}");
        }
    }
    // Nothing close: said so, still bad input.
    let (code, _, err) = keyward(&["audit", "--world", ACME, "--principal", "nobody"]);
    assert_eq!(code, 1);
    assert!(err.contains("`nobody`"), "{err}");
    let (code, _, err) = keyward(&["findings", "--world", ACME, "--account", "acmee"]);
    assert_eq!(code, 1);
    assert!(err.contains("did you mean acme"), "{err}");
    let (code, _, err) = keyward(&["findings", "--world", ACME, "--fail-on", "F9"]);
    assert_eq!(code, 1);
    assert!(err.contains("F1, F2, F3, F4, F5, F6"), "{err}");
    // Known values, by id or by display name, still audit.
    assert_eq!(
        keyward(&["audit", "--world", ACME, "--account", "globex"]).0,
        0
    );
}

/// A world big enough that every command's output overflows a pipe's buffer.
fn big_world(dir: &std::path::Path, seed: &str) -> String {
    let path = dir.join(format!("big-{seed}.yaml"));
    let p = path.to_str().unwrap().to_string();
    let (code, _, err) = keyward(&[
        "generate",
        "--users",
        "150",
        "--keys-per-user",
        "4",
        "--service-ids",
        "10",
        "--accounts",
        "2",
        "--seed",
        seed,
        "--out",
        &p,
    ]);
    assert_eq!(code, 0, "{err}");
    p
}

/// Run keyward, read its first line, close the pipe: the exit status and stderr.
fn closed_after_one_line(args: &[&str]) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn keyward");
    let mut first = String::new();
    let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
    reader.read_line(&mut first).expect("a first line");
    assert!(!first.is_empty(), "{args:?} printed nothing");
    drop(reader);
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("stderr");
    let status = child.wait().expect("wait");
    (status.code().expect("an exit code, not a signal"), err)
}

#[test]
fn a_closed_pipe_ends_quietly_with_status_zero() {
    let dir = tempfile::TempDir::new().unwrap();
    let w = big_world(dir.path(), "7");
    let other = big_world(dir.path(), "8");
    // Each of these prints far more than a pipe holds (checked below), so it must meet the
    // closed pipe.
    let mut runs: Vec<Vec<&str>> = ["text", "json", "jsonl", "csv", "markdown"]
        .into_iter()
        .map(|f| vec!["audit", "--world", &w, "--format", f, "--findings"])
        .collect();
    runs.push(vec![
        "audit",
        "--world",
        &w,
        "--against-world",
        &other,
        "--format",
        "jsonl",
    ]);
    runs.push(vec!["export", "--world", &w]);
    runs.push(vec![
        "generate",
        "--users",
        "3000",
        "--keys-per-user",
        "2",
        "--service-ids",
        "5",
        "--accounts",
        "2",
        "--seed",
        "1",
    ]);
    for args in &runs {
        let (code, _, _) = keyward(args);
        assert_eq!(code, 0, "{args:?}");
        let (code, err) = closed_after_one_line(args);
        assert_eq!((code, err.as_str()), (0, ""), "{args:?}");
    }
    for args in &runs {
        assert!(
            keyward(args).1.len() > 1 << 18,
            "{args:?}: output too small to test"
        );
    }
}

/// acme with globex renamed to an id holding every csv and list separator: `,;="`.
fn awkward_world(dir: &std::path::Path) -> (String, &'static str) {
    const ID: &str = "glo,b;e=x\"q";
    let src = std::fs::read_to_string(ACME).unwrap();
    let mut out = String::new();
    for line in src.lines() {
        // Only the account's own id: not key-pat-globex and the like.
        let l = line
            .replace(
                "accounts: [acme, globex]",
                "accounts: [acme, \"glo,b;e=x\\\"q\"]",
            )
            .replace("accounts: [globex]", "accounts: [\"glo,b;e=x\\\"q\"]")
            .replace("account: globex", "account: \"glo,b;e=x\\\"q\"")
            .replace("- id: globex", "- id: \"glo,b;e=x\\\"q\"");
        out.push_str(&l);
        out.push('\n');
    }
    let path = dir.join("awkward.yaml");
    std::fs::write(&path, out).unwrap();
    let p = path.to_str().unwrap().to_string();
    let (code, out, err) = keyward(&["validate", "--world", &p]);
    assert_eq!(code, 0, "{out}{err}");
    (p, ID)
}

/// Split a csv list field (docs/output.md): `;` between items, `=` between name and value,
/// `\` before a literal `\`, `;` or `=`.
fn split_list(field: &str) -> Vec<Vec<String>> {
    let (mut items, mut parts, mut cur) = (Vec::new(), Vec::new(), String::new());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => cur.push(chars.next().expect("an escaped character")),
            '=' => parts.push(std::mem::take(&mut cur)),
            ';' => {
                parts.push(std::mem::take(&mut cur));
                items.push(std::mem::take(&mut parts));
            }
            c => cur.push(c),
        }
    }
    if !field.is_empty() {
        parts.push(cur);
        items.push(parts);
    }
    items
}

#[test]
fn csv_is_one_table_a_csv_parser_reads_back_exactly() {
    let dir = tempfile::TempDir::new().unwrap();
    let (w, id) = awkward_world(dir.path());
    let (code, out, err) = keyward(&["audit", "--world", &w, "--format", "csv", "--findings"]);
    assert_eq!(code, 0, "{err}");
    let mut r = csv::Reader::from_reader(out.as_bytes());
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header[..6],
        ["type", "principal", "action", "resource", "args", "reasons"]
    );
    let (mut decisions, mut found, mut with_id) = (0, 0, 0);
    for rec in r.records() {
        let rec = rec.expect("a well-formed record");
        assert_eq!(rec.len(), header.len(), "{rec:?}");
        match &rec[0] {
            "allow" => {
                decisions += 1;
                let args = split_list(&rec[4]);
                for a in &args {
                    assert_eq!(a.len(), 2, "name=value: {:?}", &rec[4]);
                }
                if args.iter().any(|a| a[0] == "account" && a[1] == id) {
                    with_id += 1;
                }
                assert!(!split_list(&rec[5]).is_empty(), "a reason: {rec:?}");
            }
            "finding" => {
                found += 1;
                assert!(rec[6].starts_with('F') && !rec[9].is_empty(), "{rec:?}");
            }
            t => panic!("a row of unknown type {t}"),
        }
    }
    assert!(
        decisions > 100 && found > 5,
        "{decisions} decisions, {found} findings"
    );
    assert!(
        with_id > 5,
        "the awkward account id reads back exactly from args"
    );
    // The findings quote the key names they mention: `"` inside a field survives.
    assert!(out.contains("\"\"containers-kubernetes-key\"\""), "{out}");
}

#[test]
fn every_jsonl_line_has_a_type_and_docs_live_in_the_legend() {
    let (code, out, err) = keyward(&["audit", "--world", ACME, "--format", "jsonl", "--findings"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let kind = |v: &serde_json::Value| v["type"].as_str().expect("a type").to_string();
    assert_eq!(kind(&lines[0]), "policies");
    let legend = lines[0]["policies"].as_array().expect("the legend");
    let ids: Vec<&str> = legend.iter().map(|p| p["id"].as_str().unwrap()).collect();
    for p in legend {
        assert!(p["doc"].as_str().is_some_and(|d| !d.is_empty()), "{p}");
        assert!(p["effect"] == "permit" || p["effect"] == "forbid", "{p}");
    }
    let last = lines.last().unwrap();
    assert_eq!(kind(last), "summary");
    let mut decisions = 0;
    for l in &lines[1..lines.len() - 1] {
        match kind(l).as_str() {
            "allow" => {
                decisions += 1;
                for key in ["principal", "action", "resource", "decision", "reasons"] {
                    assert!(l.get(key).is_some(), "{key} in {l}");
                }
                for r in l["reasons"].as_array().unwrap() {
                    assert!(
                        ids.contains(&r["policy"].as_str().unwrap()),
                        "in the legend: {r}"
                    );
                    assert!(r["rules"].is_array() && r.get("doc").is_none(), "{r}");
                }
            }
            "finding" => assert!(l["rule"].as_str().unwrap().starts_with('F'), "{l}"),
            t => panic!("unexpected type {t}: {l}"),
        }
    }
    assert!(decisions > 100);
    assert_eq!(last["decisions"], decisions);
    assert!(last["stats"]["errored_decisions"].is_u64(), "{last}");
    // Change impact: every line a typed change row.
    let (code, out, _) = keyward(&[
        "audit",
        "--world",
        ACME,
        "--against-variant",
        "c1-editor-creates",
        "--format",
        "jsonl",
    ]);
    assert_eq!(code, 0);
    assert!(!out.is_empty());
    for l in out.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["type"], "change", "{l}");
        assert!(v["change"] == "gained" || v["change"] == "revoked", "{l}");
    }
}

#[test]
fn the_json_document_has_the_legend_and_stats_as_fields() {
    let (code, out, _) = keyward(&["audit", "--world", ACME, "--format", "json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("one document");
    assert!(v["policies"].as_array().is_some_and(|p| !p.is_empty()));
    assert!(v["decisions"].as_array().is_some_and(|d| !d.is_empty()));
    let stats = v["stats"].as_object().expect("stats as fields");
    for k in [
        "groups_read_as_sets",
        "partial_evaluations",
        "errored_decisions",
    ] {
        assert!(stats[k].is_u64(), "{k}: {stats:?}");
    }
}

/// The cells of a markdown table row, `\|` not splitting.
fn cells(row: &str) -> usize {
    let inner = row.trim().trim_start_matches('|').trim_end_matches('|');
    inner.replace("\\|", "").split('|').count()
}

#[test]
fn markdown_is_well_formed_tables_with_findings_in_their_own() {
    let dir = tempfile::TempDir::new().unwrap();
    let (w, _) = awkward_world(dir.path());
    let (code, md, err) = keyward(&["audit", "--world", &w, "--format", "markdown", "--findings"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = md.lines().collect();
    let mut tables = 0;
    let mut i = 0;
    while i < lines.len() {
        if lines[i].starts_with('|') {
            // A table: header, separator of as many cells, rows of as many cells.
            let n = cells(lines[i]);
            assert!(
                lines[i + 1].starts_with("|---"),
                "a separator after {}",
                lines[i]
            );
            assert_eq!(cells(lines[i + 1]), n);
            i += 2;
            while i < lines.len() && lines[i].starts_with('|') {
                assert_eq!(cells(lines[i]), n, "{}", lines[i]);
                i += 1;
            }
            tables += 1;
            // A table ends with a blank line or the document.
            assert!(
                i == lines.len() || lines[i].is_empty(),
                "{:?}",
                lines.get(i)
            );
        } else {
            assert!(!lines[i].contains(" | "), "a stray table row: {}", lines[i]);
            i += 1;
        }
    }
    assert_eq!(tables, 2, "{md}");
    assert!(md.contains("\n## Findings\n\n| rule |"), "{md}");
}
