//! Export in Cedar's own formats: the world as an entities JSON array, a request as the `cedar`
//! CLI's `--request-json` object (with the full context), and the loaded policy set as one
//! `.cedar` file, so that `cedar authorize` reproduces keyward's decisions.

use crate::decide::engine::Engine;
use crate::decide::request::Translated;
use serde_json::{Value, json};

/// The `cedar` CLI's request JSON for a translated request.
pub fn request_json(t: &Translated) -> Value {
    let uid = |ty: &str, id: &str| format!("{ty}::{}", Value::String(id.to_string()));
    json!({
        "principal": uid(&t.principal.0, &t.principal.1),
        "action": uid("Action", &t.action),
        "resource": uid(&t.resource.0, &t.resource.1),
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
