//! What an import did, for the person who ran it: counts, and every record that was dropped,
//! guessed, over-approximated or could not be mapped, each with its file and JSON path.
//!
//! Owns the summary's content and its text. Must not change the world. May use: nothing of
//! the crate.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// How a note bears on the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NoteKind {
    /// A record kept out of the world (an id referenced but not exported, a trusted profile, …).
    Dropped,
    /// A record keyward cannot represent (a role or service it does not model, a v1 placeholder).
    Unmapped,
    /// A condition keyward cannot evaluate, taken as granted (an audit never under-reports).
    OverApproximated,
    /// Something inferred rather than read (a cluster API key slot, a service ID's creator).
    Guessed,
    /// Worth a look, changes nothing (a wildcard scope expanded, a file not exported).
    Info,
}

impl NoteKind {
    fn heading(self) -> &'static str {
        match self {
            NoteKind::Dropped => "dropped (kept out of the world)",
            NoteKind::Unmapped => "could not be mapped",
            NoteKind::OverApproximated => {
                "over-approximated (conditions keyward cannot evaluate, taken as granted)"
            }
            NoteKind::Guessed => "guessed",
            NoteKind::Info => "notes",
        }
    }
}

/// One line of the summary, located in the export.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Note {
    pub kind: NoteKind,
    pub file: String,
    pub path: String,
    pub message: String,
}

/// Everything an import reports besides the world itself.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub notes: Vec<Note>,
    /// Roles keyward does not model (e.g. `Manager`, `ServiceIdCreator`), with how many policy
    /// grants named them.
    pub unmodelled_roles: BTreeMap<String, usize>,
    /// Services keyward does not model (e.g. `cloud-object-storage`), with how many policies.
    pub unmodelled_services: BTreeMap<String, usize>,
    /// Policies not about human access (`type: authorization`) or deleted, by reason.
    pub skipped_policies: BTreeMap<String, usize>,
    /// Service IDs whose creator is unknown: R18 cannot apply to them.
    pub no_creator: Vec<String>,
    /// Users not marked functional who back a cluster API key (finding F1's subjects).
    pub personal_cluster_keys: Vec<String>,
    /// Record counts of the world, by section.
    pub counts: Vec<(&'static str, usize)>,
}

impl Summary {
    /// Add a note.
    pub fn note(&mut self, kind: NoteKind, file: &str, path: &str, message: impl Into<String>) {
        self.notes.push(Note {
            kind,
            file: file.to_string(),
            path: path.to_string(),
            message: message.into(),
        });
    }

    /// Whether `--strict` fails: something was dropped or could not be mapped.
    pub fn lossy(&self) -> bool {
        !self.unmodelled_roles.is_empty()
            || !self.unmodelled_services.is_empty()
            || self
                .notes
                .iter()
                .any(|n| matches!(n.kind, NoteKind::Dropped | NoteKind::Unmapped))
    }

    /// The summary as text (standard error of `keyward import`).
    pub fn to_text(&self) -> String {
        let mut s = String::from("import:");
        for (i, (what, n)) in self.counts.iter().enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            let _ = write!(s, "{sep}{n} {what}");
        }
        s.push('\n');
        tally(
            &mut s,
            "roles keyward does not model (grants counted)",
            &self.unmodelled_roles,
        );
        tally(
            &mut s,
            "services keyward does not model (policies counted)",
            &self.unmodelled_services,
        );
        tally(&mut s, "policies skipped", &self.skipped_policies);
        let mut notes = self.notes.clone();
        notes.sort();
        let mut last = None;
        for n in &notes {
            if last != Some(n.kind) {
                let count = notes.iter().filter(|m| m.kind == n.kind).count();
                let _ = writeln!(s, "{} ({count}):", n.kind.heading());
                last = Some(n.kind);
            }
            let at = if n.path.is_empty() {
                n.file.clone()
            } else {
                format!("{}: {}", n.file, n.path)
            };
            let _ = writeln!(s, "  {at}: {}", n.message);
        }
        list(
            &mut s,
            "service IDs with no known creator (R18 cannot apply; give `created_by` in --overlay)",
            &self.no_creator,
        );
        list(
            &mut s,
            "users not marked functional who back a cluster API key (mark them `functional: true` in --overlay if they are)",
            &self.personal_cluster_keys,
        );
        s
    }
}

fn tally(s: &mut String, heading: &str, t: &BTreeMap<String, usize>) {
    if t.is_empty() {
        return;
    }
    let items: Vec<String> = t.iter().map(|(k, n)| format!("{k} {n}")).collect();
    let _ = writeln!(s, "{heading}: {}", items.join(", "));
}

fn list(s: &mut String, heading: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    let _ = writeln!(s, "{heading} ({}):", items.len());
    for i in items {
        let _ = writeln!(s, "  {i}");
    }
}
