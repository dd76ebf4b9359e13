//! An explanation (`check --explain`) as text: for a deny, what would permit it and what would
//! lift each forbid; for an allow, the permits and the forbids considered.
//!
//! Owns wording only: every fact comes from [`crate::decide::explain`]; nothing here decides.
//! Every value it did not write is escaped ([`crate::report::text`]).

use crate::decide::engine::{Reason, Verdict};
use crate::decide::explain::{Change, Explanation, Held, NewValue, Outcome};
use crate::report::reason_name;
use crate::report::text::esc;
use std::fmt::Write as _;

/// How much an explanation says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Detail {
    /// What would change the decision (`--explain`).
    #[default]
    Short,
    /// Also the permits that need more than a role, and each policy's doc (`-v`).
    Verbose,
}

fn names(rs: &[Reason]) -> String {
    rs.iter().map(reason_name).collect::<Vec<_>>().join(", ")
}

/// A grant, a changed attribute or context field, in words.
pub fn change_text(c: &Change) -> String {
    let to = |v: &NewValue| match v {
        NewValue::Is(v) => esc(v).into_owned(),
        NewValue::NoneOf(vs) => format!("anything but {}", esc(&vs.join(", "))),
        NewValue::Absent => "left out".into(),
        NewValue::Without(x) => format!("without {}", esc(x)),
    };
    match c {
        Change::Grant(g) => format!(
            "{} on {} in {}",
            esc(&g.role),
            esc(&g.service),
            esc(&g.account)
        ),
        Change::Attribute {
            entity,
            entity_type,
            attribute,
            now,
            to: v,
        } => format!(
            "{} of {} {}: {} (now {})",
            esc(attribute),
            esc(entity_type),
            esc(entity),
            to(v),
            esc(now)
        ),
        Change::Context { field, now, to: v } => {
            format!("the request's {}: {} (now {})", esc(field), to(v), esc(now))
        }
    }
}

/// What the principal holds on a grant's service, as "(olga holds Operator there)".
fn holds(e: &Explanation, c: &Change) -> String {
    let Change::Grant(g) = c else {
        return String::new();
    };
    let on: Vec<&Held> = e.held.iter().filter(|h| h.service == g.service).collect();
    let who = esc(&e.principal);
    if on.is_empty() {
        format!(" ({who} holds no {} role there)", esc(&g.service))
    } else {
        let roles: Vec<String> = on.iter().map(|h| esc(&h.role).into_owned()).collect();
        format!(" ({who} holds {} there)", roles.join(", "))
    }
}

/// What the decision would be after a change.
fn then(o: &Outcome) -> String {
    match (o.decision, o.forbids.is_empty()) {
        (Verdict::Allow, _) => "then allowed".into(),
        (Verdict::Deny, false) => format!("then still forbidden by {}", names(&o.forbids)),
        (Verdict::Deny, true) if o.permits.is_empty() => "then not permitted".into(),
        (Verdict::Deny, true) => "then still denied".into(),
    }
}

/// An explanation as text, to print after the decision.
pub fn explanation_text(e: &Explanation, detail: Detail) -> String {
    let mut s = String::new();
    match e.decision {
        Verdict::Allow => allow_text(&mut s, e, detail),
        Verdict::Deny => deny_text(&mut s, e, detail),
    }
    s
}

fn allow_text(s: &mut String, e: &Explanation, detail: Detail) {
    let _ = writeln!(s, "why:");
    let _ = writeln!(s, "  permitted by {}", names(&e.permitted_by));
    if e.forbids_considered.is_empty() {
        let _ = writeln!(s, "  no forbid of this action");
    } else {
        let _ = writeln!(
            s,
            "  forbids considered, none applied: {}",
            names(&e.forbids_considered)
        );
    }
    if detail == Detail::Verbose {
        docs(s, &e.forbids_considered);
    }
}

fn deny_text(s: &mut String, e: &Explanation, detail: Detail) {
    let _ = writeln!(s, "why not:");
    if e.evaluation_failed {
        let _ = writeln!(
            s,
            "  its evaluation failed: no change is judged until the error is fixed"
        );
        return;
    }
    if e.permitted_by.is_empty() {
        if !e.grantable || (e.member && e.would_permit.is_empty()) {
            let _ = writeln!(s, "  no single role grant would permit it");
        } else if !e.member {
            let _ = writeln!(
                s,
                "  {} is not a member of {}: no role can be granted there",
                esc(&e.principal),
                esc(&e.account)
            );
        }
        would_permit(s, e);
    } else {
        let _ = writeln!(
            s,
            "  permitted by {}, but forbidden",
            names(&e.permitted_by)
        );
    }
    for l in &e.lifts {
        if l.by.is_empty() {
            let _ = writeln!(s, "  no single change lifts {}", reason_name(&l.forbid));
            continue;
        }
        let _ = writeln!(s, "  {} would be lifted by:", reason_name(&l.forbid));
        for o in &l.by {
            let _ = writeln!(
                s,
                "    {}{}: {}",
                change_text(&o.change),
                holds(e, &o.change),
                then(o)
            );
        }
    }
    if detail == Detail::Verbose && !e.other_permits.is_empty() {
        let _ = writeln!(
            s,
            "  other permits that could apply, which no single role grant makes apply:"
        );
        docs(s, &e.other_permits);
    }
}

/// The grants that would permit the request, one line per permit and service: the roles that
/// do alike are listed together.
fn would_permit(s: &mut String, e: &Explanation) {
    let mut lines: Vec<(String, Vec<String>, String)> = Vec::new();
    for o in &e.would_permit {
        let Change::Grant(g) = &o.change else {
            continue;
        };
        let but = match (o.decision, o.forbids.is_empty()) {
            (Verdict::Deny, false) => format!(", but then forbidden by {}", names(&o.forbids)),
            _ => String::new(),
        };
        let head = format!("  would be permitted by {} with ", names(&o.permits));
        let tail = format!(
            " on {} in {}{}{but}",
            esc(&g.service),
            esc(&g.account),
            holds(e, &o.change)
        );
        let role = esc(&g.role).into_owned();
        match lines.iter_mut().find(|(h, _, t)| h == &head && t == &tail) {
            Some((_, roles, _)) => roles.push(role),
            None => lines.push((head, vec![role], tail)),
        }
    }
    for (head, roles, tail) in lines {
        let roles = match roles.as_slice() {
            [one] => one.clone(),
            more => format!("any of {}", more.join(", ")),
        };
        let _ = writeln!(s, "{head}{roles}{tail}");
    }
}

/// Each policy with its doc, indented.
fn docs(s: &mut String, rs: &[Reason]) {
    for r in rs {
        let _ = writeln!(s, "    {}", reason_name(r));
        if !r.doc.is_empty() {
            let _ = writeln!(s, "      {}", esc(&r.doc));
        }
    }
}
