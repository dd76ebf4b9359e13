//! Export in Cedar's own formats: the world as an entities JSON array, a request as the `cedar`
//! CLI's `--request-json` object (with the full context), and the loaded policy set as one
//! `.cedar` file, so that `cedar authorize` reproduces keyward's decisions.

use crate::decide::engine::Engine;
use crate::decide::entities::EntityRef;
use crate::decide::request::Translated;
use serde_json::{Value, json};

/// The `cedar` CLI's request JSON for a translated request.
pub fn request_json(t: &Translated) -> Value {
    json!({
        "principal": t.principal.to_string(),
        "action": EntityRef::new("Action", &t.action).to_string(),
        "resource": t.resource.to_string(),
        "context": t.context,
    })
}

/// The world's entities, as given to Cedar.
pub fn entities_json(engine: &Engine) -> Value {
    engine.tr.entities_json()
}

/// Every loaded policy file, concatenated in load order (annotations kept).
pub fn policies_text(engine: &Engine) -> String {
    let mut out = String::new();
    for s in &engine.bundle.sources {
        out.push_str(&format!("// ---- {} ----\n", s.name));
        out.push_str(&s.text);
        if !s.text.ends_with('\n') {
            out.push('\n');
        }
        out.push('\n');
    }
    out
}
