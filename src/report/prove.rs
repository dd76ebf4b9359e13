//! `keyward prove` for people and programs: per action, a table of the request signatures and
//! each property's result, then every counterexample with its world file, the `keyward check`
//! command that reproduces it and whether keyward does; or the docs/cli.md JSON.
//!
//! Owns formatting only. May use: [`crate::prove`]'s result types.

use super::text::esc;
use crate::prove::{Kind, Property, Report};
use std::fmt::Write as _;

/// The report as JSON: `{"holds", "properties": [...]}`.
pub fn json(r: &Report) -> String {
    let v = serde_json::to_value(r)
        .unwrap_or_else(|e| serde_json::json!({"holds": false, "error": e.to_string()}));
    format!("{v}\n")
}

fn title(k: Kind) -> &'static str {
    match k {
        Kind::Compare => "Compare (the other side against these policies)",
        Kind::Invariant => "Invariants (every allowed request satisfies an invariant permit)",
        Kind::NeverErrors => "Never errors (no policy raises an evaluation error)",
    }
}

/// The report as text.
pub fn text(r: &Report) -> String {
    let mut s = String::new();
    for kind in [Kind::Compare, Kind::Invariant, Kind::NeverErrors] {
        let ps: Vec<&Property> = r.properties.iter().filter(|p| p.kind == kind).collect();
        if ps.is_empty() {
            continue;
        }
        let _ = writeln!(s, "{}", title(kind));
        let mut action = "";
        for p in &ps {
            if kind == Kind::NeverErrors && p.holds() {
                continue;
            }
            if p.action != action {
                let _ = writeln!(s, "  {}", esc(&p.action));
                action = &p.action;
            }
            let sig = format!("{} -> {}", p.principal_type, p.resource_type);
            let policy = p
                .policy
                .as_deref()
                .map(|x| format!("  [{}]", esc(x)))
                .unwrap_or_default();
            let _ = writeln!(s, "    {:<34} {}{policy}", esc(&sig), p.result.word());
            if let Some(n) = &p.note {
                let _ = writeln!(s, "      note: {}", esc(n));
            }
        }
        if kind == Kind::NeverErrors {
            let ok = ps.iter().filter(|p| p.holds()).count();
            let _ = writeln!(
                s,
                "  {ok} of {} (policy, signature) pairs never error",
                ps.len()
            );
        }
        let _ = writeln!(s);
    }
    counterexamples(&mut s, r);
    let count = |f: &dyn Fn(&Property) -> bool| r.properties.iter().filter(|p| f(p)).count();
    let unknown = count(&|p| p.result == crate::prove::Outcome::Unknown);
    let held = count(&|p| p.holds());
    let _ = writeln!(
        s,
        "{}: {} properties, {held} hold, {} do not, {unknown} of them unknown ({} ms)",
        if r.holds { "HOLDS" } else { "DOES NOT HOLD" },
        r.properties.len(),
        r.properties.len() - held,
        r.millis
    );
    s
}

fn counterexamples(s: &mut String, r: &Report) {
    let with: Vec<&Property> = r
        .properties
        .iter()
        // A property that holds says why in its note; its stores no world produces stay in
        // the JSON.
        .filter(|p| !p.counterexamples.is_empty() && !p.holds())
        .collect();
    if with.is_empty() {
        return;
    }
    let _ = writeln!(s, "Counterexamples");
    for p in with {
        let _ = writeln!(
            s,
            "  {} {} {} -> {}: {}",
            kind_word(p.kind),
            esc(&p.action),
            esc(&p.principal_type),
            esc(&p.resource_type),
            p.result.word()
        );
        // Where keyward reproduced one, the stores no world produces are only in the JSON.
        let any_real = p.counterexamples.iter().any(|c| c.realisable);
        for ce in p
            .counterexamples
            .iter()
            .filter(|c| c.realisable || !any_real)
        {
            let how = if ce.realisable {
                "a world keyward reproduces"
            } else {
                "NOT realisable as a world"
            };
            let _ = writeln!(s, "    world {} ({how})", esc(&ce.world));
            for c in &ce.checks {
                let expect = serde_json::to_value(c.expect)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default();
                let _ = writeln!(s, "      {}", esc(&c.command));
                let _ = writeln!(s, "        expect {expect}; keyward: {}", esc(&c.decided));
            }
            for n in &ce.notes {
                let _ = writeln!(s, "      why not: {}", esc(n));
            }
        }
    }
    let _ = writeln!(s);
}

fn kind_word(k: Kind) -> &'static str {
    match k {
        Kind::Compare => "compare",
        Kind::Invariant => "invariant",
        Kind::NeverErrors => "never-errors",
    }
}
