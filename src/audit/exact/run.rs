//! The whole audit: every (action, resource, args) group of a world, read by the auditor (or
//! decided one by one with `--exhaustive`), streamed in a fixed order. Owns the enumeration,
//! the order and the streaming; a group's reading is [`super::Auditor::group`]'s.
//! May use: [`crate::decide`].

use super::{AuditOptions, AuditStats, Auditor, kept, without_apikey};
use crate::audit::LOGIN;
use crate::audit::error::AuditError;
use crate::decide::engine::{Decision, Engine, Verdict};
use crate::decide::request::{RequestSpec, Target3, callers, resource_requests};
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc::{SendError, SyncSender};

/// Groups computed together (in parallel) and sent as one chunk.
const CHUNK: usize = 256;

/// Rows of some groups, and how many groups they are.
type Chunk = (Vec<Decision>, usize);

/// Run an audit, handing the allowed decisions to `sink` in a fixed order (by action, then
/// resource, then principal), chunk by chunk so that huge audits never sit in memory.
/// `progress` is told how many groups are done out of how many. The decisions whose evaluation
/// failed (denies) are counted in the stats' `errored`, not handed to `sink`.
pub fn audit(
    engine: &Engine,
    opts: &AuditOptions,
    mut sink: impl FnMut(Decision),
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<AuditStats, AuditError> {
    let groups = targets(engine, opts);
    let logins = logins(engine, opts);
    let total = groups.len() + logins.len();
    let auditor = if opts.exhaustive {
        None
    } else {
        Some(Auditor::new(engine)?)
    };
    let plain_stats = AuditStats::default();
    let callers = callers(&engine.tr);
    let run = Run {
        engine,
        auditor: auditor.as_ref(),
        stats: auditor.as_ref().map_or(&plain_stats, |a| &a.stats),
        groups: &groups,
        logins: &logins,
        callers: &callers,
        // Callers in world order (users, then service IDs), as the naive loop yields them.
        rank: &rank_of(callers.iter().copied()),
    };
    // A producer thread computes chunks (both cores, through rayon) while this thread writes
    // the previous ones: output never waits for the whole audit, nor the audit for output.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Chunk>(4);
    std::thread::scope(|scope| {
        let run = &run;
        // A send fails only when the receiver is gone: nothing is left to produce for.
        scope.spawn(move || run.produce(&tx).ok());
        let mut done = 0;
        for (rows, n) in rx {
            for d in rows.into_iter().filter(|d| keep(engine, opts, d)) {
                if d.decision == Verdict::Allow {
                    sink(d);
                } else {
                    AuditStats::count(&run.stats.errored);
                }
            }
            done += n;
            progress(done, total);
        }
    });
    Ok(run.stats.copy())
}

/// What the producer of one audit works from.
struct Run<'a> {
    engine: &'a Engine,
    auditor: Option<&'a Auditor<'a>>,
    stats: &'a AuditStats,
    groups: &'a [Target3],
    /// (API key, account) pairs to decide `login` for.
    logins: &'a Logins<'a>,
    callers: &'a [&'a str],
    rank: &'a HashMap<&'a str, usize>,
}

impl Run<'_> {
    /// Every action's rows, in the order of `actions()`.
    fn produce(&self, tx: &SyncSender<Chunk>) -> Result<(), SendError<Chunk>> {
        for action in crate::decide::request::actions() {
            match (action == LOGIN, self.auditor) {
                (true, Some(a)) => tx.send((self.logins_by_account(a), self.logins.len()))?,
                (true, None) => self.logins_one_by_one(tx)?,
                (false, _) => self.groups_of(action, tx)?,
            }
        }
        Ok(())
    }

    /// One group per account, with the API keys as the principals; rows in the order of the
    /// one-by-one loop (key, then account).
    fn logins_by_account(&self, a: &Auditor) -> Vec<Decision> {
        let mut accounts: Vec<&str> = if self.logins.keys.is_empty() {
            Vec::new()
        } else {
            self.logins.accounts.clone()
        };
        accounts.sort_unstable();
        accounts.dedup();
        let login = |acc: &&str| Target3 {
            action: LOGIN,
            resource: acc.to_string(),
            args: BTreeMap::new(),
        };
        let mut rows: Vec<Decision> = accounts
            .par_iter()
            .map(|acc| a.group_rows(&login(acc)))
            .flatten()
            .collect();
        let w = &self.engine.tr.world;
        let key_rank = rank_of(w.api_keys.iter().map(|k| k.id.as_str()));
        let acc_rank = rank_of(w.accounts.iter().map(|x| x.id.as_str()));
        rows.sort_by_key(|d| {
            (
                key_rank.get(d.principal.as_str()).copied(),
                acc_rank.get(d.resource.as_str()).copied(),
            )
        });
        rows
    }

    fn logins_one_by_one(&self, tx: &SyncSender<Chunk>) -> Result<(), SendError<Chunk>> {
        for start in (0..self.logins.len()).step_by(CHUNK) {
            let part = start..(start + CHUNK).min(self.logins.len());
            let n = part.len();
            let rows: Vec<Decision> = part
                .into_par_iter()
                .filter_map(|i| {
                    let (k, a) = self.logins.pair(i);
                    self.kept(RequestSpec {
                        principal: k.to_string(),
                        action: LOGIN.into(),
                        resource: Some(a.to_string()),
                        ..Default::default()
                    })
                })
                .collect();
            tx.send((rows, n))?;
        }
        Ok(())
    }

    /// The groups of one action, chunk by chunk; each group's rows in caller order.
    fn groups_of(&self, action: &str, tx: &SyncSender<Chunk>) -> Result<(), SendError<Chunk>> {
        let mine: Vec<&Target3> = self.groups.iter().filter(|t| t.action == action).collect();
        for part in mine.chunks(CHUNK) {
            let per_group: Vec<Vec<Decision>> = part
                .par_iter()
                .map(|t| match self.auditor {
                    Some(a) => a.group_rows(t),
                    None => self.decide_all(t),
                })
                .collect();
            let mut rows = Vec::new();
            for mut g in per_group {
                g.sort_by_key(|d| {
                    let r = self.rank.get(d.principal.as_str());
                    r.copied().unwrap_or(usize::MAX)
                });
                rows.extend(g);
            }
            tx.send((rows, part.len()))?;
        }
        Ok(())
    }

    /// `--exhaustive`: every caller decided on one group.
    fn decide_all(&self, t: &Target3) -> Vec<Decision> {
        let spec = |p: &str| RequestSpec {
            principal: p.to_string(),
            action: t.action.to_string(),
            resource: Some(t.resource.clone()),
            args: t.args.clone(),
            ..Default::default()
        };
        let callers = self.callers.iter();
        callers.filter_map(|p| self.kept(spec(p))).collect()
    }

    /// The decision of one request, if allowed or if its evaluation failed.
    fn kept(&self, s: RequestSpec) -> Option<Decision> {
        AuditStats::count(&self.stats.decisions);
        let d = self.engine.decide(&s).ok();
        d.filter(kept)
    }
}

/// Each id's position.
fn rank_of<'a>(ids: impl Iterator<Item = &'a str>) -> HashMap<&'a str, usize> {
    ids.enumerate().map(|(i, id)| (id, i)).collect()
}

/// Which (action, resource, args) groups the options select, in a fixed order.
fn targets(engine: &Engine, opts: &AuditOptions) -> Vec<Target3> {
    resource_requests(&engine.tr)
        .into_iter()
        .filter(|t| opts.action.as_deref().is_none_or(|a| a == t.action))
        .filter(|t| opts.resource.as_deref().is_none_or(|r| r == t.resource))
        .collect()
}

/// The (API key, account) pairs of `login` the options select: every key with every account,
/// key by key. Kept as its two lists (the pairs are keys x accounts: never materialised).
struct Logins<'w> {
    keys: Vec<&'w str>,
    accounts: Vec<&'w str>,
}

impl Logins<'_> {
    fn len(&self) -> usize {
        self.keys.len() * self.accounts.len()
    }

    /// The `i`-th pair, in key-then-account order.
    fn pair(&self, i: usize) -> (&str, &str) {
        let n = self.accounts.len().max(1);
        (self.keys[i / n], self.accounts[i % n])
    }
}

fn logins<'w>(engine: &'w Engine, opts: &AuditOptions) -> Logins<'w> {
    let w = &engine.tr.world;
    if opts.action.as_deref().is_some_and(|a| a != LOGIN) {
        return Logins {
            keys: Vec::new(),
            accounts: Vec::new(),
        };
    }
    Logins {
        keys: w.api_keys.iter().map(|k| k.id.as_str()).collect(),
        accounts: w
            .accounts
            .iter()
            .map(|a| a.id.as_str())
            .filter(|a| opts.resource.as_deref().is_none_or(|r| r == *a))
            .collect(),
    }
}

fn keep(engine: &Engine, opts: &AuditOptions, d: &Decision) -> bool {
    opts.principal.as_deref().is_none_or(|p| p == d.principal)
        && opts
            .account
            .as_deref()
            .is_none_or(|a| account_of(engine, d).as_deref() == Some(a))
}

fn account_of(engine: &Engine, d: &Decision) -> Option<String> {
    let spec = RequestSpec {
        principal: d.principal.clone(),
        action: d.action.clone(),
        resource: Some(d.resource.clone()),
        args: without_apikey(&d.args),
        ..Default::default()
    };
    engine.translate(&spec).ok().map(|t| t.target.account)
}
