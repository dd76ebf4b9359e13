//! `keyward log verify`'s output.

use crate::evaluator::log::Verdict;
use crate::report::text::esc;
use std::path::Path;

/// One line: intact with its length, or the first bad line and why.
pub fn text(file: &Path, world: Option<&Path>, v: &Verdict) -> String {
    match v {
        Verdict::Intact { lines } => {
            let world = world
                .map(|w| {
                    let w = w.display().to_string();
                    format!("; {} is where its last line left it", esc(&w))
                })
                .unwrap_or_default();
            let file = file.display().to_string();
            format!("intact: {} ({lines} line(s)){world}\n", esc(&file))
        }
        Verdict::Broken { line, why } => {
            let file = file.display().to_string();
            format!("broken: {}:{line}: {}\n", esc(&file), esc(why))
        }
    }
}

/// `{"intact": bool, "lines"?: N, "line"?: N, "why"?: …}`.
pub fn json(file: &Path, v: &Verdict) -> serde_json::Value {
    match v {
        Verdict::Intact { lines } => {
            serde_json::json!({"log": file.display().to_string(), "intact": true, "lines": lines})
        }
        Verdict::Broken { line, why } => serde_json::json!({
            "log": file.display().to_string(), "intact": false, "line": line, "why": why
        }),
    }
}
