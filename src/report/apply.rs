//! `keyward apply`'s output: the decision, what was done, the key value (shown once, the only
//! place any output holds it), the change as a diff, and whether the file was written.

use crate::evaluator::scenario::StepResult;
use crate::report;
use crate::report::changes;
use crate::report::text::esc;

/// The decision, the effect (with the key value, shown once) and whether the file was written.
pub fn json(r: &StepResult, written: bool) -> String {
    let Some(d) = &r.decision else {
        return String::new();
    };
    let mut v = report::decision_json(d);
    if let Some(e) = &r.effect {
        v["summary"] = serde_json::json!(changes::summary_text(&e.done));
        v["changes"] = changes::changes_json(&e.changes);
        if let Some(res) = changes::result_json(&e.done) {
            v["result"] = res;
        }
        if let Some(s) = &e.secret {
            v["api_key_value"] = serde_json::json!(s.reveal());
        }
    } else if r.failure.is_some() {
        v["changes"] = serde_json::json!([]);
    }
    if let Some(f) = &r.failure {
        v["error"] = serde_json::json!(f);
    }
    v["written"] = serde_json::json!(written);
    format!("{v}\n")
}

/// The decision as text, what was done, the key value (shown once), the diff and a note.
pub fn text(r: &StepResult, note: Option<String>) -> String {
    let Some(d) = &r.decision else {
        return String::new();
    };
    let mut s = report::decision_text(d);
    if let Some(e) = &r.effect {
        s.push_str(&changes::summary_text(&e.done));
        s.push('\n');
        if let Some(secret) = &e.secret {
            s.push_str(&format!(
                "api key value (shown once; only its fingerprint is kept): {}\n",
                esc(secret.reveal())
            ));
        }
        s.push_str(&changes::diff_text(&e.changes));
    }
    if let Some(n) = note {
        s.push_str(&esc(&n));
        s.push('\n');
    }
    s
}
