//! The data the page embeds for its script, made small enough for a world of 10,000 users:
//! strings by number, display names interned, API keys' details as short strings, findings
//! as templates (a finding's subject, its key's owner and name replaced by placeholders, so
//! the thousands of findings of one kind share a text), and each principal's rows as
//! segments over shared resource lists ([`super::data`]).
//!
//! Owns the encoding the page's script (`report.js`) decodes; the two change together.
//! Must not decide anything.

use super::Page;
use super::data::{Encoded, b36};
use super::view::name_of;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

/// Marks a placeholder in a finding's text; ids and the texts keyward writes hold no control
/// character, and a text that does is embedded as it is.
const MARK: char = '\u{1}';

/// JSON for a `<script type="application/json">` element: `<`, `>` and `&` (and the JS line
/// separators) escaped as `\uXXXX`, so no string inside can end the element or open a comment.
pub(super) fn script_json(v: &Value) -> String {
    let text = v.to_string();
    let mut out = String::with_capacity(text.len() + text.len() / 16);
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// Texts stored once each, named by number.
#[derive(Default)]
struct Texts {
    ix: HashMap<String, usize>,
    all: Vec<String>,
}

impl Texts {
    fn id(&mut self, s: String) -> usize {
        let n = self.all.len();
        *self.ix.entry(s.clone()).or_insert_with(|| {
            self.all.push(s);
            n
        })
    }
}

/// The data the script reads at once: strings, their names and kinds, policies, reason sets,
/// the principals with their counts per action, findings and changes.
pub(super) fn page_data(
    page: &Page,
    enc: &Encoded,
    names: &BTreeMap<String, String>,
    findings: &[Value],
) -> Value {
    let store = &page.store;
    let strings = &store.strings.all;
    let mut name_texts = Texts::default();
    // Per string: 1 + its name's number, or nothing when it has none.
    let name_ix: Vec<String> = strings
        .iter()
        .map(|s| match name_of(page, names, s) {
            n if n.is_empty() => String::new(),
            n => b36(name_texts.id(n) as u64 + 1),
        })
        .collect();
    let kinds: String = strings.iter().map(|s| page.kind(s)).collect();
    let principals: Vec<Value> = enc
        .principals
        .iter()
        .zip(&enc.counts)
        .map(|(&p, counts)| {
            let accounts: Vec<String> = page
                .accounts_of(&strings[p as usize])
                .iter()
                .filter_map(|a| store.strings.get(a))
                .map(|a| b36(a.into()))
                .collect();
            let counts: Vec<String> = counts
                .iter()
                .map(|(a, n)| format!("{}:{}", b36((*a).into()), b36(*n as u64)))
                .collect();
            json!([p, accounts.join(","), counts.join(",")])
        })
        .collect();
    let policies: Vec<Value> = store
        .policies
        .iter()
        .map(|p| json!([p.id, p.rules.join(", "), p.doc, p.forbid]))
        .collect();
    let side = |s: &super::data::Side| json!([s.allow, s.set, s.errors]);
    let changes: Vec<Value> = store
        .changes
        .iter()
        .map(|c| json!([c.gained, c.p, c.a, c.r, side(&c.before), side(&c.after)]))
        .collect();
    let accounts: Vec<&str> = page.accounts.iter().map(|a| a.id.as_str()).collect();
    json!({
        "actions": store.actions, "strings": strings, "kinds": kinds,
        "nameTexts": name_texts.all, "names": name_ix.join(","),
        "policies": policies, "sets": store.sets, "principals": principals,
        "findings": findings_data(page, findings), "changes": changes, "accounts": accounts,
        "against": page.against,
    })
}

/// The findings as `{"texts": [...], "rows": [[rule, subject, account, message, advice,
/// identity?, name?]]}`: subject, account and identity by string number (or null), message,
/// advice and name by text number, each text with `\u1s` for the subject and, when the
/// subject is an API key, `\u1o` for its identity and `\u1n` for its name (the script puts
/// them back in that order).
fn findings_data(page: &Page, findings: &[Value]) -> Value {
    let strings = &page.store.strings;
    let mut texts = Texts::default();
    let rows: Vec<Value> = findings
        .iter()
        .map(|f| {
            let get = |k: &str| f.get(k).and_then(Value::as_str).unwrap_or_default();
            let subject = get("subject");
            let key = page.key(subject);
            let mut template = |text: &str| {
                if text.contains(MARK) || subject.is_empty() {
                    return texts.id(text.to_string());
                }
                let mut t = text.replace(subject, &format!("{MARK}s"));
                if let Some(k) = key.filter(|k| !k.identity.is_empty()) {
                    t = t.replace(&k.identity, &format!("{MARK}o"));
                    if !k.name.is_empty() {
                        t = t.replace(&k.name, &format!("{MARK}n"));
                    }
                }
                texts.id(t)
            };
            let (message, advice) = (template(get("message")), template(get("advice")));
            let mut row = json!([
                get("rule"),
                strings.get(subject),
                f.get("account")
                    .and_then(Value::as_str)
                    .and_then(|a| strings.get(a)),
                message,
                advice
            ]);
            if let (Some(k), Some(a)) = (key, row.as_array_mut()) {
                a.push(json!(strings.get(&k.identity)));
                a.push(json!(texts.id(k.name.clone())));
            }
            row
        })
        .collect();
    json!({"texts": texts.all, "rows": rows})
}

/// The data the script reads on the first drill-down: each principal's rows as segments, the
/// shared resource lists, and the API keys' details. Keys are numbered together (see
/// `Page::write`), so their details are one list from the first key's number: per key
/// `identity.account.flags.expiry` (string numbers in base 36; flags 1 locked, 2 disabled;
/// expiry the number of its time in `expiries`, empty when it never expires).
pub(super) fn rows_data(page: &Page, enc: &Encoded) -> Value {
    let strings = &page.store.strings;
    let mut expiries = Texts::default();
    let mut first = None;
    let mut info = Vec::new();
    for (i, s) in strings.all.iter().enumerate() {
        let Some(k) = page.key(s) else { continue };
        let first = *first.get_or_insert(i);
        // A gap (a key numbered apart) is filled with empty entries rather than misread.
        info.resize(i - first, String::new());
        let id = |x: &str| strings.get(x).map_or(String::new(), |n| b36(n.into()));
        let flags = u64::from(k.locked) | (u64::from(k.disabled) << 1);
        let expiry = k
            .expires_at
            .as_ref()
            .map_or(String::new(), |t| b36(expiries.id(t.clone()) as u64));
        info.push(format!(
            "{}.{}.{}.{}",
            id(&k.identity),
            id(&k.account),
            b36(flags),
            expiry
        ));
    }
    json!({
        "segments": enc.segments, "lists": enc.lists,
        "keys": {"first": first, "info": info, "expiries": expiries.all},
    })
}
