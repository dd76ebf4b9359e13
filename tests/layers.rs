//! The crate's layering rule (see the top doc of `src/lib.rs`): each stage folder may use only
//! itself and the folders below it. This reads every `crate::` path in `src/` — `use` lines,
//! grouped imports and paths written inline — and fails on one that points up or sideways.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Each stage and the stages it may use (besides itself).
const LAYERS: &[(&str, &[&str])] = &[
    ("world", &[]),
    ("decide", &["world"]),
    ("audit", &["decide", "world"]),
    ("evaluator", &["decide", "world"]),
    ("import", &["decide", "world"]),
    ("prove", &["decide", "world"]),
    ("testing", &["evaluator", "decide", "world"]),
    (
        "report",
        &["testing", "audit", "evaluator", "prove", "decide", "world"],
    ),
    (
        "cli",
        &[
            "report",
            "testing",
            "audit",
            "evaluator",
            "import",
            "prove",
            "decide",
            "world",
        ],
    ),
];

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("src/ is readable") {
        let p = e.expect("a directory entry").path();
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level modules a source text names through `crate::`, with the line of each.
fn crate_refs(text: &str) -> Vec<(usize, String)> {
    let mut refs = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                // `crate::{a, b::c, d}`: the first segment of each item (one line is enough:
                // rustfmt writes multi-line groups one item per line, read below).
                let end = group.find('}').unwrap_or(group.len());
                for item in group[..end].split(',') {
                    let name: String = item
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        refs.push((n + 1, name));
                    }
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    refs.push((n + 1, name));
                }
            }
        }
    }
    // Multi-line `use crate::{` groups: every first segment until the closing brace.
    let mut in_group = false;
    for (n, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with("use crate::{") && !t.contains('}') {
            in_group = true;
            continue;
        }
        if in_group {
            if t.starts_with('}') {
                in_group = false;
                continue;
            }
            let name: String = t
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                refs.push((n + 1, name));
            }
        }
    }
    refs
}

#[test]
fn every_crate_path_points_down_the_stack() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rs_files(&src, &mut files);
    files.sort();
    let stages: BTreeSet<&str> = LAYERS.iter().map(|(s, _)| *s).collect();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let Some(stage) = rel.components().next().and_then(|c| c.as_os_str().to_str()) else {
            continue;
        };
        if rel.components().count() < 2 {
            // lib.rs and main.rs sit above every stage.
            continue;
        }
        let allowed = LAYERS
            .iter()
            .find(|(s, _)| *s == stage)
            .map(|(_, a)| *a)
            .unwrap_or_else(|| panic!("src/{stage}/ is not a stage of LAYERS: add it"));
        let text = std::fs::read_to_string(f).unwrap();
        for (line, name) in crate_refs(&text) {
            checked += 1;
            // The crate root re-exports a few items of `decide`.
            let name = match name.as_str() {
                "Decision" | "Engine" | "Verdict" | "RequestSpec" => "decide".to_string(),
                _ => name,
            };
            if name == stage || allowed.contains(&name.as_str()) {
                continue;
            }
            if stages.contains(name.as_str()) {
                wrong.push(format!(
                    "src/{}:{line}: `{stage}` uses `crate::{name}`, which is not below it",
                    rel.display()
                ));
            } else {
                wrong.push(format!(
                    "src/{}:{line}: `crate::{name}` is not a stage folder",
                    rel.display()
                ));
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} crate:: paths found: the reader is broken"
    );
    assert!(
        wrong.is_empty(),
        "upward or sideways uses:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_reader_sees_every_form_of_a_crate_path() {
    let text = "use crate::world::World;\nuse crate::{decide, report::x};\nuse crate::{\n    audit::A,\n    cli,\n};\nlet x = crate::testing::run(); // crate::evaluator in a comment\n";
    let names: Vec<String> = crate_refs(text).into_iter().map(|(_, n)| n).collect();
    assert_eq!(
        names,
        ["world", "decide", "report", "testing", "audit", "cli"]
    );
}
