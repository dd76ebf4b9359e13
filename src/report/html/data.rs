//! The page's memory of an audit: every allowed row the audit streamed, kept small (interned
//! strings, actions, policies and reason sets; a row is four numbers), and its encoding as
//! the compact data the page's script reads lazily.
//!
//! Owns the interning and the encoding. Must not decide anything or read the world (what a
//! string *is* comes from [`super::Context`]). May use: [`crate::decide`] for the row types.

use crate::decide::engine::Reason;
use cedar_policy::Effect;
use serde::Serialize;
use std::collections::HashMap;

/// Strings (ids and target labels), each stored once and named by its number.
#[derive(Default)]
pub(super) struct Strings {
    ix: HashMap<String, u32>,
    pub all: Vec<String>,
}

impl Strings {
    /// The number of `s`, interning it on first sight.
    pub fn id(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.ix.get(s) {
            return i;
        }
        let i = self.all.len() as u32;
        self.ix.insert(s.to_string(), i);
        self.all.push(s.to_string());
        i
    }

    /// The number of `s`, if it was interned.
    pub fn get(&self, s: &str) -> Option<u32> {
        self.ix.get(s).copied()
    }

    /// Renumber in the order `key` gives (so related strings sit together and lists of them
    /// encode as runs); returns old number -> new number.
    fn renumber<K: Ord>(&mut self, key: impl Fn(&str) -> K) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.all.len() as u32).collect();
        order.sort_by_cached_key(|&i| key(&self.all[i as usize]));
        let mut remap = vec![0; order.len()];
        for (new, &old) in order.iter().enumerate() {
            remap[old as usize] = new as u32;
        }
        let mut all = vec![String::new(); order.len()];
        for (old, s) in std::mem::take(&mut self.all).into_iter().enumerate() {
            all[remap[old] as usize] = s;
        }
        self.ix = all
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i as u32))
            .collect();
        self.all = all;
        remap
    }
}

/// A policy as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Policy {
    pub id: String,
    pub rules: Vec<String>,
    pub doc: String,
    pub forbid: bool,
}

/// One allowed decision: who (`p`), which action (`a`), on what (`r`, its target label), and
/// why (`set`, a reason set). `others`: it acts on another identity's key or on another
/// identity (what the summary's spotlights count).
#[derive(Debug, Clone, Copy)]
pub(super) struct Row {
    pub p: u32,
    pub r: u32,
    pub set: u32,
    pub a: u16,
    pub others: bool,
}

/// One side of a change: allowed or not, the policies that decided it, any errors.
#[derive(Debug, Clone, Copy)]
pub(super) struct Side {
    pub allow: bool,
    pub set: u32,
    /// The errors, joined, as an interned string.
    pub errors: Option<u32>,
}

/// One decision that differs between the two sides of a change impact.
#[derive(Debug, Clone, Copy)]
pub(super) struct ChangeRow {
    pub gained: bool,
    pub p: u32,
    pub a: u16,
    pub r: u32,
    pub before: Side,
    pub after: Side,
}

/// Everything interned, and the rows.
#[derive(Default)]
pub(super) struct Store {
    pub strings: Strings,
    pub actions: Vec<String>,
    pub policies: Vec<Policy>,
    policy_ix: HashMap<String, u32>,
    pub sets: Vec<Vec<u32>>,
    set_ix: HashMap<Vec<u32>, u32>,
    pub rows: Vec<Row>,
    pub changes: Vec<ChangeRow>,
}

impl Store {
    /// A store whose actions start in table order (so the matrix's columns read as the
    /// action table does); an action outside it is added when seen.
    pub fn new(actions: impl IntoIterator<Item = String>) -> Self {
        Store {
            actions: actions.into_iter().collect(),
            ..Default::default()
        }
    }

    /// The number of an action.
    pub fn action(&mut self, name: &str) -> u16 {
        match self.actions.iter().position(|a| a == name) {
            Some(i) => i as u16,
            None => {
                self.actions.push(name.to_string());
                (self.actions.len() - 1) as u16
            }
        }
    }

    /// The number of a set of determining policies (order kept as the decision gave it).
    pub fn reasons(&mut self, reasons: &[Reason]) -> u32 {
        let ids: Vec<u32> = reasons.iter().map(|r| self.policy(r)).collect();
        if let Some(&i) = self.set_ix.get(&ids) {
            return i;
        }
        let i = self.sets.len() as u32;
        self.set_ix.insert(ids.clone(), i);
        self.sets.push(ids);
        i
    }

    fn policy(&mut self, r: &Reason) -> u32 {
        if let Some(&i) = self.policy_ix.get(&r.policy) {
            return i;
        }
        let i = self.policies.len() as u32;
        self.policy_ix.insert(r.policy.clone(), i);
        self.policies.push(Policy {
            id: r.policy.clone(),
            rules: r.rules.clone(),
            doc: r.doc.clone(),
            forbid: r.effect == Effect::Forbid,
        });
        i
    }

    /// Renumber the strings in `key`'s order, and every row and change with them.
    pub fn renumber<K: Ord>(&mut self, key: impl Fn(&str) -> K) {
        let remap = self.strings.renumber(key);
        for row in &mut self.rows {
            row.p = remap[row.p as usize];
            row.r = remap[row.r as usize];
        }
        for c in &mut self.changes {
            c.p = remap[c.p as usize];
            c.r = remap[c.r as usize];
            for side in [&mut c.before, &mut c.after] {
                side.errors = side.errors.map(|e| remap[e as usize]);
            }
        }
    }
}

/// A number in base 36 (the data's digits: short, and safe in JSON and HTML alike).
pub(super) fn b36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// A sorted list of numbers as runs: `gap[+more]` per run of consecutive numbers, where `gap`
/// is the distance from the end of the previous run (from 0 for the first) and `more` how many
/// follow the first; runs are joined by `,`. `[3,4,5,9]` is `3+2,3`.
pub(super) fn encode_list(sorted: &[u32]) -> String {
    let mut out = String::new();
    let mut next = 0u32; // one past the previous run
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut j = i + 1;
        // A repeated number (the audit gives none) is kept once.
        while j < sorted.len() && sorted[j] <= sorted[j - 1] + 1 {
            j += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(&b36(u64::from(start.saturating_sub(next))));
        let last = sorted[j - 1];
        if last > start {
            out.push('+');
            out.push_str(&b36(u64::from(last - start)));
        }
        next = last + 1;
        i = j;
    }
    out
}

/// The rows encoded per principal: for each, `action.set.list` segments joined by `;`, where
/// `list` numbers an entry of the shared resource lists (identical lists, as admins of one
/// account have for several actions, are stored once).
pub(super) struct Encoded {
    /// Per principal (in [`Encoded::principals`] order): its segments.
    pub segments: Vec<String>,
    /// The distinct resource lists, each [`encode_list`]ed.
    pub lists: Vec<String>,
    /// The principals, in order of their string number.
    pub principals: Vec<u32>,
    /// Per principal: rows per action, as `(action, count)`.
    pub counts: Vec<Vec<(u16, usize)>>,
}

/// Encode the store's rows (sorting them by principal, action, reason set, resource).
pub(super) fn encode(store: &mut Store) -> Encoded {
    store.rows.sort_unstable_by_key(|r| (r.p, r.a, r.set, r.r));
    let mut out = Encoded {
        segments: Vec::new(),
        lists: Vec::new(),
        principals: Vec::new(),
        counts: Vec::new(),
    };
    let mut list_ix: HashMap<String, usize> = HashMap::new();
    let rows = &store.rows;
    let mut i = 0;
    while i < rows.len() {
        let p = rows[i].p;
        let mut segs: Vec<String> = Vec::new();
        let mut counts: Vec<(u16, usize)> = Vec::new();
        while i < rows.len() && rows[i].p == p {
            let (a, set) = (rows[i].a, rows[i].set);
            let mut j = i;
            while j < rows.len() && rows[j].p == p && rows[j].a == a && rows[j].set == set {
                j += 1;
            }
            let resources: Vec<u32> = rows[i..j].iter().map(|r| r.r).collect();
            let list = encode_list(&resources);
            let n = list_ix.len();
            let li = *list_ix.entry(list.clone()).or_insert(n);
            if li == out.lists.len() {
                out.lists.push(list);
            }
            segs.push(format!(
                "{}.{}.{}",
                b36(a.into()),
                b36(set.into()),
                b36(li as u64)
            ));
            match counts.last_mut() {
                Some((last, c)) if *last == a => *c += j - i,
                _ => counts.push((a, j - i)),
            }
            i = j;
        }
        out.principals.push(p);
        out.segments.push(segs.join(";"));
        out.counts.push(counts);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_encode_as_runs() {
        assert_eq!(encode_list(&[3, 4, 5, 9]), "3+2,3");
        assert_eq!(encode_list(&[0]), "0");
        assert_eq!(encode_list(&[]), "");
        assert_eq!(encode_list(&[36, 37]), "10+1");
        assert_eq!(encode_list(&[2, 2, 3]), "2+1");
    }

    #[test]
    fn base36() {
        assert_eq!(b36(0), "0");
        assert_eq!(b36(35), "z");
        assert_eq!(b36(36), "10");
    }
}
