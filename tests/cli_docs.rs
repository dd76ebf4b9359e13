//! The commands that document keyward and tidy its inputs, run as the binary: shell
//! completions, the manual page, `fmt` (and that the shipped policies are formatted), the
//! JSON Schema of the world file, and `generate`'s defaults.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn keyward(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the keyward binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The subcommand names `keyward --help` lists (read from the help, not written here).
fn subcommands() -> Vec<String> {
    let help = stdout(&keyward(&["--help"]));
    let names: Vec<String> = help
        .split("Commands:")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .unwrap_or("")
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| *n != "help")
        .map(String::from)
        .collect();
    assert!(
        names.len() >= 10 && names.iter().any(|n| n == "check"),
        "cannot read the subcommands from --help:\n{help}"
    );
    names
}

#[test]
fn completions_for_every_shell_name_every_subcommand() {
    let names = subcommands();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = keyward(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        for name in &names {
            assert!(
                script.contains(name.as_str()),
                "the {shell} script does not mention `{name}`"
            );
        }
    }
    let out = keyward(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(1), "an unknown shell is bad input");
}

#[test]
fn the_bash_script_parses() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("keyward.bash");
    std::fs::write(&path, keyward(&["completions", "bash"]).stdout).expect("write the script");
    let check = Command::new("bash")
        .arg("-n")
        .arg(&path)
        .output()
        .expect("bash is installed (this test needs it)");
    assert!(check.status.success(), "bash -n: {}", stderr(&check));
}

#[test]
fn the_man_page_is_roff_and_renders() {
    let page = stdout(&keyward(&["man"]));
    assert!(page.contains(".TH keyward 1"), "no title line:\n{page}");
    for section in [
        ".SH NAME",
        ".SH SYNOPSIS",
        ".SH DESCRIPTION",
        ".SH OPTIONS",
        ".SH SUBCOMMANDS",
    ] {
        assert!(page.contains(section), "no `{section}`");
    }
    for name in subcommands() {
        assert!(
            page.contains(&format!("keyward\\-{}", name.replace('-', "\\-"))),
            "{name}"
        );
    }
    let dir = tempfile::tempdir().expect("a temporary folder");
    let out = keyward(&["man", "--dir", &dir.path().display().to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    for name in subcommands() {
        assert!(
            dir.path().join(format!("keyward-{name}.1")).is_file(),
            "{name}"
        );
    }
    // Rendered by man itself where it is installed (roff structure is checked above either way).
    let has_man = Command::new("man")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if has_man {
        let rendered = Command::new("man")
            .args(["-l", "-P", "cat"])
            .arg(dir.path().join("keyward-check.1"))
            .env("MANWIDTH", "100")
            .output()
            .expect("man runs");
        let text = stdout(&rendered);
        assert!(rendered.status.success(), "man -l: {}", stderr(&rendered));
        assert!(text.contains("--principal"), "man rendered:\n{text}");
    }
}

/// A folder with a copy of `text` as `name`, for fmt to work on.
fn scratch_policy(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write a policy file");
    (dir, path)
}

const MESSY: &str = "// mine: a comment that must survive\n@id(\"mine\")\n@doc(\"kept\")\npermit(principal,action,resource)\n  when {principal==resource}; // trailing\n";

#[test]
fn fmt_lays_out_keeps_comments_and_check_exits_3() {
    let (_dir, path) = scratch_policy("mine.cedar", MESSY);
    let p = path.display().to_string();
    let check = keyward(&["fmt", "--check", &p]);
    assert_eq!(check.status.code(), Some(3), "{}", stderr(&check));
    assert!(stdout(&check).contains(&format!("would reformat {p}:")));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        MESSY,
        "--check changes nothing"
    );

    let done = keyward(&["fmt", &p]);
    assert!(done.status.success(), "{}", stderr(&done));
    let formatted = std::fs::read_to_string(&path).expect("the file is still there");
    assert!(
        formatted.contains("permit (principal, action, resource)"),
        "{formatted}"
    );
    assert!(
        formatted.contains("when { principal == resource };"),
        "{formatted}"
    );
    for kept in [
        "// mine: a comment that must survive",
        "// trailing",
        "@id(\"mine\")",
        "@doc(\"kept\")",
    ] {
        assert!(formatted.contains(kept), "`{kept}` lost:\n{formatted}");
    }
    let again = keyward(&["fmt", "--check", &p]);
    assert_eq!(
        again.status.code(),
        Some(0),
        "formatting is stable: {}",
        stdout(&again)
    );
}

#[test]
fn fmt_refuses_what_does_not_parse_at_its_place_and_writes_nothing() {
    let (dir, bad) = scratch_policy(
        "bad.cedar",
        "@id(\"x\")\npermit (principal, action, resource)\nwhen { principal == };\n",
    );
    let good = dir.path().join("good.cedar");
    std::fs::write(&good, MESSY).expect("write a policy file");
    let out = keyward(&["fmt", &dir.path().display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{}:3:", bad.display())),
        "not located: {err}"
    );
    assert_eq!(
        std::fs::read_to_string(&good).unwrap(),
        MESSY,
        "nothing is written"
    );
    let missing = keyward(&["fmt", "no/such/place"]);
    assert_eq!(missing.status.code(), Some(1));
}

#[test]
fn the_shipped_policies_are_formatted() {
    let out = keyward(&["fmt", "--check", "policies"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "run `keyward fmt policies`:\n{}",
        stdout(&out)
    );
    assert_eq!(stdout(&out), "", "no file may need formatting");
}

// ---- the JSON Schema of the world file ----

/// Problems of `value` against `schema` (the keywords `schema world` emits; any other keyword
/// is a problem too, so a schema this checker cannot read fails rather than passes).
fn check(
    schema: &serde_json::Value,
    root: &serde_json::Value,
    value: &serde_json::Value,
    at: &str,
) -> Vec<String> {
    use serde_json::Value;
    let Some(obj) = schema.as_object() else {
        return vec![format!("{at}: schema is not an object")];
    };
    let mut problems = Vec::new();
    for (k, rule) in obj {
        match k.as_str() {
            "$schema"
            | "title"
            | "description"
            | "default"
            // An annotation in draft 2020-12 (keyward's own timestamp check is stricter).
            | "format"
            | "$defs"
            | "required"
            | "additionalProperties" => {}
            "$ref" => {
                let name = rule
                    .as_str()
                    .and_then(|r| r.strip_prefix("#/$defs/"))
                    .unwrap_or("?");
                problems.extend(check(&root["$defs"][name], root, value, at));
            }
            "type" => {
                let types: Vec<&str> = match rule {
                    Value::String(t) => vec![t.as_str()],
                    Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                    _ => vec![],
                };
                let ok = types.iter().any(|t| match *t {
                    "string" => value.is_string(),
                    "boolean" => value.is_boolean(),
                    "null" => value.is_null(),
                    "array" => value.is_array(),
                    "object" => value.is_object(),
                    "integer" => value.is_i64() || value.is_u64(),
                    "number" => value.is_number(),
                    _ => false,
                });
                if !ok {
                    problems.push(format!("{at}: not of type {types:?}"));
                }
            }
            "enum" => {
                if !rule.as_array().is_some_and(|vs| vs.contains(value)) {
                    problems.push(format!("{at}: {value} is not one of {rule}"));
                }
            }
            "items" => {
                for (i, v) in value.as_array().into_iter().flatten().enumerate() {
                    problems.extend(check(rule, root, v, &format!("{at}[{i}]")));
                }
            }
            "properties" => problems.extend(check_object(obj, root, value, at)),
            other => problems.push(format!("{at}: unknown schema keyword `{other}`")),
        }
    }
    problems
}

fn check_object(
    obj: &serde_json::Map<String, serde_json::Value>,
    root: &serde_json::Value,
    value: &serde_json::Value,
    at: &str,
) -> Vec<String> {
    let Some(fields) = value.as_object() else {
        return Vec::new(); // `type` reports it
    };
    let props = obj["properties"].as_object().cloned().unwrap_or_default();
    let mut problems = Vec::new();
    for (name, v) in fields {
        match props.get(name) {
            Some(s) => problems.extend(check(s, root, v, &format!("{at}.{name}"))),
            None if obj.get("additionalProperties") == Some(&serde_json::Value::Bool(false)) => {
                problems.push(format!("{at}: unknown field `{name}`"));
            }
            None => {}
        }
    }
    for r in obj
        .get("required")
        .and_then(|r| r.as_array())
        .into_iter()
        .flatten()
    {
        if let Some(r) = r.as_str().filter(|r| !fields.contains_key(*r)) {
            problems.push(format!("{at}: missing `{r}`"));
        }
    }
    problems
}

fn world_schema() -> serde_json::Value {
    let out = keyward(&["schema", "world"]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("schema world prints JSON")
}

fn yaml_value(text: &str) -> serde_json::Value {
    let v: serde_yaml::Value = serde_yaml::from_str(text).expect("a YAML world");
    serde_json::to_value(v).expect("a world as JSON")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).expect("a fixture")
}

#[test]
fn the_world_schema_accepts_the_shipped_and_generated_worlds() {
    let schema = world_schema();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let generated = stdout(&keyward(&["generate"]));
    for (name, text) in [
        ("fixtures/acme.yaml", read("fixtures/acme.yaml")),
        (
            "fixtures/ibmcloud/world.yaml",
            read("fixtures/ibmcloud/world.yaml"),
        ),
        ("keyward generate", generated),
    ] {
        let problems = check(&schema, &schema, &yaml_value(&text), "$");
        assert!(problems.is_empty(), "{name}: {problems:#?}");
    }
}

#[test]
fn the_world_schema_rejects_unknown_fields_and_bad_values() {
    let schema = world_schema();
    let mut world = yaml_value(&read("fixtures/acme.yaml"));
    world["users"][0]["colour"] = "red".into();
    let problems = check(&schema, &schema, &world, "$");
    assert!(
        problems
            .iter()
            .any(|p| p.contains("$.users[0]: unknown field `colour`")),
        "{problems:?}"
    );

    let mut world = yaml_value(&read("fixtures/acme.yaml"));
    world["accounts"][0]["restrict_user_api_key_creation"] = "YES".into();
    world["api_keys"][0]["locked"] = "yes".into();
    world["accounts"][1]
        .as_object_mut()
        .expect("an account")
        .remove("owner");
    world["shoe_size"] = 42.into();
    world["clusters"] = "none".into();
    let problems = check(&schema, &schema, &world, "$").join("\n");
    for wanted in [
        "$.accounts[0].restrict_user_api_key_creation: \"YES\" is not one of",
        "$.api_keys[0].locked: not of type",
        "$.accounts[1]: missing `owner`",
        "$: unknown field `shoe_size`",
        "$.clusters: not of type",
    ] {
        assert!(problems.contains(wanted), "`{wanted}` not in:\n{problems}");
    }
}

// ---- generate's defaults ----

#[test]
fn generate_has_documented_defaults_and_stays_deterministic() {
    let help = stdout(&keyward(&["generate", "--help"]));
    for shown in [
        "[default: 100]",
        "[default: 3]",
        "[default: 10]",
        "[default: 42]",
    ] {
        assert!(
            help.contains(shown),
            "--help does not show {shown}:\n{help}"
        );
    }
    let bare = keyward(&["generate"]);
    assert!(bare.status.success(), "{}", stderr(&bare));
    let explicit = keyward(&[
        "generate",
        "--users",
        "100",
        "--keys-per-user",
        "3",
        "--service-ids",
        "10",
        "--accounts",
        "3",
        "--seed",
        "42",
    ]);
    assert_eq!(
        stdout(&bare),
        stdout(&explicit),
        "the defaults are the documented ones"
    );
    assert_eq!(
        stdout(&bare),
        stdout(&keyward(&["generate"])),
        "the same every time"
    );
    let other = keyward(&["generate", "--seed", "43"]);
    assert_ne!(stdout(&bare), stdout(&other), "the seed matters");
}

// ---- docs/rules.md is the catalogue ----

#[test]
fn the_rules_page_states_every_rule_and_names_every_policy() {
    let page = read("docs/rules.md");
    let ids = (1..=25)
        .map(|n| format!("R{n}"))
        .chain((1..=6).map(|n| format!("F{n}")))
        .chain((1..=4).map(|n| format!("C{n}")));
    for id in ids {
        assert!(
            page.contains(&format!("- **{id}** ")),
            "docs/rules.md does not state {id}"
        );
    }
    let mut policies = 0;
    for path in cedar_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("policies")) {
        let text = std::fs::read_to_string(&path).expect("a policy file");
        for id in text
            .split("@id(\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
        {
            policies += 1;
            assert!(
                page.contains(&format!("`{id}`")),
                "docs/rules.md does not name policy {id}"
            );
        }
    }
    assert!(policies >= 36, "only {policies} policies found");
}

fn cedar_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("a policy folder").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(cedar_files(&p));
        } else if p.extension().is_some_and(|x| x == "cedar") {
            out.push(p);
        }
    }
    out
}

// ---- docs/world-file.md describes every field ----

#[test]
fn the_world_file_page_describes_every_field_and_its_example_is_valid() {
    let page = read("docs/world-file.md");
    let schema = world_schema();
    let mut fields = 0;
    let defs = schema["$defs"].as_object().cloned().unwrap_or_default();
    for def in std::iter::once(&schema).chain(defs.values()) {
        for name in def["properties"]
            .as_object()
            .into_iter()
            .flat_map(|p| p.keys())
        {
            fields += 1;
            assert!(
                page.contains(&format!("| `{name}` |")),
                "docs/world-file.md has no row for `{name}`"
            );
        }
    }
    assert!(fields >= 50, "only {fields} fields in the schema");
    let example = page
        .split("```yaml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("docs/world-file.md has a YAML example");
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("example.yaml");
    std::fs::write(&path, example).expect("write the example");
    let out = keyward(&["validate", "--world", &path.display().to_string()]);
    assert!(
        out.status.success(),
        "the example is not valid: {}",
        stderr(&out)
    );
}

#[test]
fn fmt_leaves_files_without_policies_as_they_are() {
    for text in ["", "// only a comment\n", "// one\n// two\n"] {
        let (_dir, path) = scratch_policy("none.cedar", text);
        let out = keyward(&["fmt", "--check", &path.display().to_string()]);
        assert_eq!(out.status.code(), Some(0), "{text:?}: {}", stdout(&out));
    }
}

// ---- rust-version is the true minimum ----

/// `major.minor` of a `rust-version = "…"` line in a Cargo.toml text.
fn rust_version(toml: &str) -> Option<(u32, u32)> {
    let line = toml.lines().find(|l| l.starts_with("rust-version"))?;
    let v = line.split('"').nth(1)?;
    let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next().flatten().unwrap_or(0)))
}

#[test]
fn rust_version_is_the_highest_a_locked_dependency_needs() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ours = rust_version(&read("Cargo.toml")).expect("Cargo.toml states a rust-version");
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .expect("CARGO_HOME or HOME");
    let sources: Vec<PathBuf> = std::fs::read_dir(home.join("registry/src"))
        .expect("the registry sources cargo unpacked for this build")
        .flatten()
        .map(|e| e.path())
        .collect();
    let lock = std::fs::read_to_string(repo.join("Cargo.lock")).expect("Cargo.lock");
    let (mut highest, mut checked) = ((0, 0), 0);
    for package in lock.split("[[package]]").skip(1) {
        let field = |k: &str| {
            package
                .lines()
                .find(|l| l.starts_with(&format!("{k} = ")))
                .and_then(|l| l.split('"').nth(1))
        };
        let (Some(name), Some(version), Some(_)) =
            (field("name"), field("version"), field("source"))
        else {
            continue; // keyward itself
        };
        let Some(toml) = sources.iter().find_map(|s| {
            std::fs::read_to_string(s.join(format!("{name}-{version}/Cargo.toml"))).ok()
        }) else {
            continue; // not built on this platform
        };
        checked += 1;
        if let Some(v) = rust_version(&toml) {
            assert!(
                v <= ours,
                "{name} {version} needs Rust {}.{}, Cargo.toml says {}.{}",
                v.0,
                v.1,
                ours.0,
                ours.1
            );
            highest = highest.max(v);
        }
    }
    assert!(
        checked > 100,
        "only {checked} locked packages found unpacked"
    );
    assert_eq!(
        highest, ours,
        "no locked dependency needs Rust {}.{}: state the real minimum",
        ours.0, ours.1
    );
}
