//! `keyward log verify`'s output.

use crate::evaluator::log::Verdict;
use std::path::Path;

/// One line: intact with its length, or the first bad line and why.
pub fn text(file: &Path, world: Option<&Path>, v: &Verdict) -> String {
    match v {
        Verdict::Intact { lines } => {
            let world = world
                .map(|w| format!("; {} is where its last line left it", w.display()))
                .unwrap_or_default();
            format!("intact: {} ({lines} line(s)){world}\n", file.display())
        }
        Verdict::Broken { line, why } => format!("broken: {}:{line}: {why}\n", file.display()),
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
