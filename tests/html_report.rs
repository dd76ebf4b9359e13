//! `keyward audit --format html` (docs/cli.md, "A picture of who may do what"), checked as a
//! person sees it: the page is loaded in a real headless Chromium, its scripts run, and the
//! DOM Chromium prints afterwards is compared with what `audit --format json` and
//! `findings --format json` say for the same world and filters. Chromium is required: these
//! tests fail, never skip, when it is missing (`apt-get install chromium`).

use keyward::decide::engine::{Decision, Verdict};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const ACME: &str = "fixtures/acme.yaml";

fn keyward(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run keyward");
    assert!(
        out.status.success(),
        "keyward {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn json(args: &[&str]) -> Value {
    serde_json::from_str(&keyward(args)).expect("json output")
}

/// Render the page for these audit arguments into `dir`; its path.
fn page(dir: &Path, args: &[&str]) -> PathBuf {
    let path = dir.join("report.html");
    let out = path.to_str().expect("a UTF-8 temp path");
    let mut all = vec!["audit", "--format", "html", "--out", out];
    all.extend_from_slice(args);
    keyward(&all);
    path
}

/// The chromium executable: `$KEYWARD_CHROMIUM`, else `chromium` (or `chromium-browser`) on
/// the PATH. Missing is a failure, never a skip.
fn chromium() -> String {
    if let Ok(c) = std::env::var("KEYWARD_CHROMIUM") {
        return c;
    }
    for name in ["chromium", "chromium-browser"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if found {
            return name.to_string();
        }
    }
    panic!("these tests need Chromium: apt-get install -y chromium (or set KEYWARD_CHROMIUM)");
}

/// Run headless Chromium on `url` with `extra` flags; (stdout, stderr). Fails after two
/// minutes rather than hanging.
fn run_chromium(url: &str, extra: &[&str]) -> (String, String) {
    let profile = tempfile::tempdir().expect("a profile dir");
    let profile_flag = format!("--user-data-dir={}", profile.path().display());
    let dir = tempfile::tempdir().expect("an output dir");
    let (out_path, err_path) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
            &profile_flag,
        ])
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("start chromium");
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            assert!(status.success(), "chromium failed: {status}");
            break;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("chromium did not finish in two minutes");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let read =
        |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap_or_default()).into_owned();
    (read(&out_path), read(&err_path))
}

/// The DOM after the page's scripts ran, for the page at `path` with `fragment`; fails when
/// the page logged anything to the console or did not finish its setup.
fn dom(path: &Path, fragment: &str) -> String {
    let url = format!("file://{}{fragment}", path.display());
    let (dom, stderr) = run_chromium(&url, &["--virtual-time-budget=5000", "--dump-dom"]);
    let console: Vec<&str> = stderr.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console output: {console:#?}");
    assert!(
        dom.contains(r#"data-ready="ok""#),
        "the page's script did not finish cleanly:\n{}",
        &dom[..dom.len().min(3000)]
    );
    dom
}

/// Undo the HTML escapes Chromium writes in attribute values and text.
fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// Text as Chromium writes it in a text node.
fn escape_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\u{a0}', "&nbsp;")
}

/// Every start tag `<tag …>` in `html`, as its attributes (in order of appearance).
fn tags(html: &str, tag: &str) -> Vec<BTreeMap<String, String>> {
    let open = format!("<{tag}");
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find(&open) {
        rest = &rest[i + open.len()..];
        if !rest.starts_with([' ', '>']) {
            continue;
        }
        let end = rest.find('>').unwrap_or(rest.len());
        out.push(attributes(&rest[..end]));
        rest = &rest[end..];
    }
    out
}

/// The `name="value"` attributes of a start tag's text (Chromium always quotes them).
fn attributes(mut s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    while let Some(eq) = s.find("=\"") {
        let name = s[..eq].trim().rsplit(' ').next().unwrap_or("").to_string();
        let value_start = eq + 2;
        let value_end = s[value_start..]
            .find('"')
            .map_or(s.len(), |e| value_start + e);
        out.insert(name, unescape(&s[value_start..value_end]));
        s = &s[(value_end + 1).min(s.len())..];
    }
    out
}

/// The part of `html` from the element with this id to the end of the first `</end>` after it.
fn section<'a>(html: &'a str, id: &str, end: &str) -> &'a str {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no element #{id}"));
    let close = format!("</{end}>");
    let stop = html[start..].find(&close).map_or(html.len(), |e| start + e);
    &html[start..stop]
}

/// The text of `<script … id="ID">…</script>`, as JSON.
fn script_json(html: &str, id: &str) -> Value {
    let marker = format!("id=\"{id}\">");
    let start = html.find(&marker).expect("the script element") + marker.len();
    let end = start + html[start..].find("</script>").expect("its end");
    serde_json::from_str(&html[start..end]).expect("the element holds JSON")
}

/// The rows of `audit --format json` with these filters.
fn rows(filters: &[&str]) -> Vec<Value> {
    let mut args = vec!["audit", "--world", ACME, "--format", "json"];
    args.extend_from_slice(filters);
    json(&args)["decisions"]
        .as_array()
        .expect("decisions")
        .clone()
}

/// The findings `audit --format json --findings` shows under these filters.
fn audit_findings(filters: &[&str]) -> Vec<Value> {
    let mut args = vec!["audit", "--world", ACME, "--format", "json", "--findings"];
    args.extend_from_slice(filters);
    let found = json(&args)["findings"]
        .as_array()
        .expect("findings")
        .clone();
    assert!(
        !filters.is_empty() || !found.is_empty(),
        "acme has findings to count"
    );
    found
}

fn s(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_default().to_string()
}

/// A json row's target as reports label it (`pat@globex`, `acme/us-south/default`).
fn label(row: &Value) -> String {
    let args: BTreeMap<String, String> =
        serde_json::from_value(row["args"].clone()).unwrap_or_default();
    keyward::report::target_label(&Decision {
        decision: Verdict::Allow,
        principal: s(row, "principal"),
        action: s(row, "action"),
        resource: s(row, "resource"),
        args,
        reasons: Vec::new(),
        errors: Vec::new(),
    })
}

/// The actions whose resource is an existing API key.
const KEY_ACTIONS: [&str; 7] = [
    "api-key-get",
    "api-key-update",
    "api-key-delete",
    "api-key-lock",
    "api-key-unlock",
    "api-key-disable",
    "api-key-enable",
];

/// The `keyward-summary` figures, worked out from the json outputs as docs/cli.md defines
/// them: rows per action, findings per rule, the users and service IDs with a row (principals
/// of every action but `login`), the API keys the rows are about (`login`'s principals and the
/// resources of the key actions), and the rows.
fn expected_summary(rows: &[Value], findings: &[Value]) -> Value {
    let mut by_action: BTreeMap<String, usize> = BTreeMap::new();
    let mut identities = BTreeSet::new();
    let mut keys = BTreeSet::new();
    for r in rows {
        let action = s(r, "action");
        *by_action.entry(action.clone()).or_default() += 1;
        if action == "login" {
            keys.insert(s(r, "principal"));
        } else {
            identities.insert(s(r, "principal"));
        }
        if KEY_ACTIONS.contains(&action.as_str()) {
            keys.insert(s(r, "resource"));
        }
    }
    let mut by_rule: BTreeMap<String, usize> = BTreeMap::new();
    for f in findings {
        *by_rule.entry(s(f, "rule")).or_default() += 1;
    }
    serde_json::json!({
        "allowed_by_action": by_action,
        "findings_by_rule": by_rule,
        "identities": identities.len(),
        "keys": keys.len(),
        "decisions": rows.len(),
    })
}

#[test]
fn the_summary_element_gives_the_json_reports_numbers_for_each_filter() {
    let dir = tempfile::tempdir().expect("temp dir");
    for filters in [
        &[][..],
        &["--account", "globex"][..],
        &["--action", "api-key-delete"][..],
        &["--principal", "ivan"][..],
        &["--resource", "key-alice-1"][..],
    ] {
        let mut args = vec!["--world", ACME];
        args.extend_from_slice(filters);
        let html = std::fs::read_to_string(page(dir.path(), &args)).expect("the page");
        let got = script_json(&html, "keyward-summary");
        // The findings an audit with these filters shows (they follow its filters).
        let findings = audit_findings(filters);
        assert_eq!(
            got,
            expected_summary(&rows(filters), &findings),
            "{filters:?}"
        );
        let mut keys: Vec<&String> = got.as_object().expect("an object").keys().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "allowed_by_action",
                "decisions",
                "findings_by_rule",
                "identities",
                "keys"
            ]
        );
        // The same figures as plain HTML, readable without the script.
        for (action, n) in got["allowed_by_action"].as_object().expect("per action") {
            let row = format!(
                "<tr data-action=\"{action}\"><th><code>{action}</code></th><td class=\"num\">{n}</td>"
            );
            assert!(html.contains(&row), "no summary row {row}");
        }
        for card in ["identities", "keys", "decisions"] {
            let text = format!("id=\"card-{card}\">{}</span>", got[card]);
            assert!(html.contains(&text), "no card {text}");
        }
    }
}

#[test]
fn the_page_needs_no_network() {
    let dir = tempfile::tempdir().expect("temp dir");
    let html = std::fs::read_to_string(page(dir.path(), &["--world", ACME])).expect("page");
    for banned in ["<link", " src=", "url(", "@import", "http://", "https://"] {
        assert!(!html.contains(banned), "the page holds `{banned}`");
    }
}

/// (principal -> action -> count) of json rows.
fn counts(rows: &[Value]) -> BTreeMap<(String, String), usize> {
    let mut out = BTreeMap::new();
    for r in rows {
        *out.entry((s(r, "principal"), s(r, "action"))).or_default() += 1;
    }
    out
}

#[test]
fn a_filtered_matrix_shows_every_principal_with_the_json_counts_and_a_click_drills_down() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = page(
        dir.path(),
        &["--world", ACME, "--account", "acme", "--findings"],
    );
    let dom = dom(&path, "#test-click=ivan");
    let expected = rows(&["--account", "acme"]);
    assert!(expected.len() > 100, "a real audit to compare with");

    // The matrix: every principal of the filtered audit, each cell its count.
    let matrix = section(&dom, "matrix-table", "table");
    let mut seen = BTreeMap::new();
    let mut principal = String::new();
    let mut rest = matrix;
    while let Some(i) = rest.find('<') {
        rest = &rest[i..];
        let end = rest.find('>').unwrap_or(rest.len());
        let attrs = attributes(&rest[..end]);
        if rest.starts_with("<tr ") {
            principal = attrs.get("data-principal").cloned().unwrap_or_default();
        } else if let (true, Some(a), Some(n)) = (
            rest.starts_with("<td "),
            attrs.get("data-action"),
            attrs.get("data-count"),
        ) {
            let n: usize = n.parse().expect("a count");
            if n > 0 {
                seen.insert((principal.clone(), a.clone()), n);
            }
        }
        rest = &rest[end..];
    }
    assert_eq!(seen, counts(&expected));
    let principals: BTreeSet<String> = seen.keys().map(|(p, _)| p.clone()).collect();
    let want: BTreeSet<String> = expected.iter().map(|r| s(r, "principal")).collect();
    assert_eq!(principals, want);

    // The click on ivan: every (action, target) ivan may, nothing else.
    let drill = section(&dom, "drill-body", "section");
    let got: BTreeSet<(String, String)> = tags(drill, "tr")
        .into_iter()
        .filter(|t| t.get("class").is_some_and(|c| c == "drill-row"))
        .map(|t| (t["data-action"].clone(), t["data-resource"].clone()))
        .collect();
    let want: BTreeSet<(String, String)> = expected
        .iter()
        .filter(|r| s(r, "principal") == "ivan")
        .map(|r| (s(r, "action"), label(r)))
        .collect();
    assert!(!want.is_empty());
    assert_eq!(got, want);

    // The summary cards read as the summary element says.
    let summary = script_json(&dom, "keyward-summary");
    for card in ["identities", "keys", "decisions"] {
        let text = section(&dom, &format!("card-{card}"), "span");
        assert!(
            text.ends_with(&format!(">{}", summary[card])),
            "{card}: {text}"
        );
    }
    // The findings table: one row per finding the filtered audit shows, with its text and
    // advice as the json report says.
    let findings = &audit_findings(&["--account", "acme"]);
    let table = section(&dom, "findings-table", "table");
    let rows_shown = tags(table, "tr")
        .into_iter()
        .filter(|t| t.get("class").is_some_and(|c| c == "finding"))
        .count();
    assert_eq!(rows_shown, findings.len());
    for f in findings {
        for text in [s(f, "message"), s(f, "advice")] {
            let cell = format!("<td>{}</td>", escape_text(&text));
            assert!(table.contains(&cell), "no cell {cell}");
        }
    }
}

#[test]
fn a_key_shows_who_may_act_on_it_and_where_it_may_log_in() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = page(dir.path(), &["--world", ACME]);
    let key = "key-alice-1";
    let dom = dom(&path, &format!("#resource={key}"));
    let drill = section(&dom, "drill-body", "section");
    let got: BTreeSet<(String, String)> = tags(drill, "tr")
        .into_iter()
        .filter(|t| t.get("class").is_some_and(|c| c == "drill-row"))
        .map(|t| {
            let who = t.get("data-principal").or(t.get("data-resource"));
            (t["data-action"].clone(), who.cloned().unwrap_or_default())
        })
        .collect();
    let all = rows(&[]);
    // Who may act on the key; and, for login, the accounts the key itself may enter.
    let want: BTreeSet<(String, String)> = all
        .iter()
        .filter(|r| s(r, "resource") == key)
        .map(|r| (s(r, "action"), s(r, "principal")))
        .chain(
            all.iter()
                .filter(|r| s(r, "principal") == key)
                .map(|r| (s(r, "action"), s(r, "resource"))),
        )
        .collect();
    assert!(want.iter().any(|(a, _)| a == "api-key-delete"));
    assert!(want.iter().any(|(a, _)| a == "login"));
    assert_eq!(got, want);
}

#[test]
fn the_change_impact_is_on_the_page_with_the_json_reports_numbers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let variant = ["--against-variant", "c2-only-admins-delete"];
    let mut args = vec!["--world", ACME];
    args.extend_from_slice(&variant);
    let path = page(dir.path(), &args);
    let mut jargs = vec!["audit", "--world", ACME, "--format", "json"];
    jargs.extend_from_slice(&variant);
    let impact = json(&jargs);
    let changes = impact["changes"].as_array().expect("changes");
    assert!(!changes.is_empty(), "the variant changes something in acme");
    let html = std::fs::read_to_string(&path).expect("page");
    assert_eq!(
        script_json(&html, "keyward-impact"),
        serde_json::json!({"changes": changes.len(), "summary": impact["summary"]})
    );
    // The audit itself is still there, with the plain audit's numbers.
    let findings = json(&["findings", "--world", ACME, "--format", "json"]);
    let findings = findings["findings"].as_array().expect("findings").clone();
    assert_eq!(
        script_json(&html, "keyward-summary"),
        expected_summary(&rows(&[]), &findings)
    );
    let dom = dom(&path, "");
    let shown: BTreeSet<(String, String, String)> =
        tags(section(&dom, "impact-table", "table"), "tr")
            .into_iter()
            .filter_map(|t| {
                let class = t.get("class")?;
                let change = class.strip_prefix("change ")?.to_string();
                Some((
                    change,
                    t["data-principal"].clone(),
                    t["data-action"].clone(),
                ))
            })
            .collect();
    let want: BTreeSet<(String, String, String)> = changes
        .iter()
        .map(|c| (s(c, "change"), s(c, "principal"), s(c, "action")))
        .collect();
    assert_eq!(shown, want);
}

#[test]
fn hostile_ids_and_names_are_text_never_markup() {
    let dir = tempfile::tempdir().expect("temp dir");
    let world = dir.path().join("hostile.yaml");
    std::fs::write(
        &world,
        r#"now: "2026-11-23T12:00:00Z"
accounts:
  - { id: "acme<&>", owner: "<img src=x onerror=alert(1)>", name: "Acme \"Corp\" </script><b>" }
users:
  - { id: "<img src=x onerror=alert(1)>", accounts: ["acme<&>"], name: "Zoë </script><script>alert(2)</script>" }
  - { id: "o'neil\"", accounts: ["acme<&>"], name: "<b>bold</b>" }
service_ids:
  - { id: "bot</script>", account: "acme<&>", created_by: "o'neil\"", name: "{{ 7*7 }}" }
api_keys:
  - { id: "key<1>", name: "</style><i>k", identity: "o'neil\"", account: "acme<&>", etag: "1" }
  - { id: "key&2", name: "ünï\u2028code", identity: "bot</script>", account: "acme<&>", etag: "1" }
"#,
    )
    .expect("write the world");
    let w = world.to_str().expect("utf-8 path");
    let path = page(dir.path(), &["--world", w]);
    let dom = dom(
        &path,
        "#test-click=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E",
    );
    for markup in ["<img", "<b>", "<i>", "alert(2)</script>"] {
        assert!(!dom.contains(markup), "`{markup}` became markup");
    }
    assert!(!dom.contains("49"), "a name was evaluated as a template");
    assert!(dom.contains("Zoë &lt;/script&gt;&lt;script&gt;alert(2)&lt;/script&gt;"));
    let drill = section(&dom, "drill-body", "section");
    assert!(
        tags(drill, "tr").iter().any(|t| t
            .get("data-resource")
            .is_some_and(|r| r == "<img src=x onerror=alert(1)>@acme<&>")),
        "the drill-down names the hostile id as text"
    );
}

#[test]
fn display_names_stand_beside_opaque_ids() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = page(dir.path(), &["--world", "fixtures/ibmcloud/world.yaml"]);
    let html = std::fs::read_to_string(&path).expect("page");
    // Plain HTML (no script): the summary's standouts name their identities.
    assert!(html.contains("<code>IBMid-6100004SAM</code></a> <span class=\"name\">Sam Lee</span>"));
    let dom = dom(&path, "");
    let matrix = section(&dom, "matrix-table", "table");
    assert!(matrix.contains("IBMid-6100004SAM</code></a> <span class=\"name\">Sam Lee</span>"));
}

/// The width and height in a PNG's IHDR.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let be = |i: usize| u32::from_be_bytes([png[i], png[i + 1], png[i + 2], png[i + 3]]);
    (be(16), be(20))
}

#[test]
fn a_screenshot_shows_the_page() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = page(dir.path(), &["--world", ACME, "--findings"]);
    let shot = |url: &str, name: &str| {
        let file = dir.path().join(name);
        let flag = format!("--screenshot={}", file.display());
        run_chromium(
            url,
            &[
                "--window-size=1400,1800",
                "--virtual-time-budget=5000",
                &flag,
            ],
        );
        std::fs::read(&file).expect("chromium wrote the screenshot")
    };
    let page_png = shot(
        &format!("file://{}#test-click=alice", path.display()),
        "page.png",
    );
    assert_eq!(png_size(&page_png), (1400, 1800));
    // A blank page of the same size compresses to almost nothing; the report does not.
    let blank = dir.path().join("blank.html");
    std::fs::write(&blank, "<!DOCTYPE html><html><body></body></html>").expect("blank page");
    let blank_png = shot(&format!("file://{}", blank.display()), "blank.png");
    assert!(
        page_png.len() > 10 * blank_png.len(),
        "the screenshot looks empty: {} bytes, a blank page {} bytes",
        page_png.len(),
        blank_png.len()
    );
}
