//! A clean world read in one pass: the fast reader ([`fastyaml::parse_streamed`]) hands each
//! record's tree over as soon as it has read it, and the records are deserialized batch by
//! batch on the other cores while it reads on. The tree of the whole file is never held, so
//! reading a big world takes the memory of its records, not of its tree.
//!
//! Only for worlds with nothing to report: the first thing that is not clean (an unknown
//! section, a record that does not read, a text outside the fast reader's subset) makes
//! [`read`] answer `None`, and the caller reads the text the located way, which reports every
//! problem where it is. A record is read by the very function the located way uses
//! ([`model::record`]), so both give the same records.
//!
//! May use: [`crate::world::fastyaml`] and the records of [`crate::world::model`].

use crate::world::fastyaml;
use crate::world::model::{self, Read, SECTIONS, World};
use crate::world::yaml::{Kind, Node};
use serde::de::DeserializeOwned;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Records deserialized together, on one core.
const BATCH: usize = 1024;

/// The world of a text with nothing to report, read in one pass; `None` when the text is
/// outside the fast reader's subset or anything in it is not clean.
pub fn read(file: &str, src: &str) -> Option<World> {
    let sink = Sinks::new(file);
    let root = rayon::scope(|scope| {
        let mut pending: Vec<(&'static str, usize, Vec<Node>)> = Vec::new();
        let mut hand = |section: &str, item: Node| {
            let at = match pending.iter().position(|(s, _, _)| *s == section) {
                Some(at) => at,
                None => {
                    let Some(known) = SECTIONS.iter().find(|s| **s == section) else {
                        sink.failed.store(true, Ordering::Relaxed);
                        return;
                    };
                    pending.push((known, 0, Vec::with_capacity(BATCH)));
                    pending.len() - 1
                }
            };
            let (section, no, items) = &mut pending[at];
            items.push(item);
            if items.len() == BATCH {
                let batch = std::mem::replace(items, Vec::with_capacity(BATCH));
                sink.spawn(scope, section, *no, batch);
                *no += 1;
            }
        };
        let root = fastyaml::parse_streamed(src, &mut hand);
        for (section, no, batch) in pending {
            sink.spawn(scope, section, no, batch);
        }
        root
    })?;
    if sink.failed.load(Ordering::Relaxed) {
        return None;
    }
    let Kind::Map(entries) = &root.kind else {
        return None;
    };
    let mut now = None;
    for (key, _, value) in entries {
        match (key.as_str(), &value.kind) {
            ("now", Kind::Scalar(serde_json::Value::String(s))) => now = Some(s.clone()),
            (_, Kind::Scalar(serde_json::Value::Null)) if SECTIONS.contains(&key.as_str()) => {}
            // A section's list: its items went to the sink.
            (k, Kind::Seq(items)) if k != "now" && SECTIONS.contains(&k) && items.is_empty() => {}
            _ => return None,
        }
    }
    let mut world = sink.into_world();
    world.now = now;
    Some(world)
}

/// The records of one section, by batch number, as their batches finish.
struct Section<T>(Mutex<Vec<(usize, Vec<T>)>>);

impl<T: DeserializeOwned + Send> Section<T> {
    fn new() -> Self {
        Section(Mutex::new(Vec::new()))
    }

    /// Deserialize one batch on another core; any record that does not read cleanly fails the
    /// whole reading.
    fn spawn<'s>(
        &'s self,
        scope: &rayon::Scope<'s>,
        (file, section, failed): (&'s str, &'static str, &'s AtomicBool),
        no: usize,
        batch: Vec<Node>,
    ) {
        scope.spawn(move |_| {
            let mut out = Vec::with_capacity(batch.len());
            let mut p = Vec::new();
            for (j, item) in batch.into_iter().enumerate() {
                match model::record::<T>(file, section, no * BATCH + j, &item, &mut p) {
                    Read::Record(r) if p.is_empty() => out.push(r),
                    _ => {
                        failed.store(true, Ordering::Relaxed);
                        return;
                    }
                }
            }
            if let Ok(mut done) = self.0.lock() {
                done.push((no, out));
            }
        });
    }

    /// The records in file order.
    fn records(self) -> Vec<T> {
        let mut done = self.0.into_inner().unwrap_or_default();
        done.sort_by_key(|(no, _)| *no);
        done.into_iter().flat_map(|(_, r)| r).collect()
    }
}

/// Every section's records, and whether anything failed.
struct Sinks<'f> {
    file: &'f str,
    failed: AtomicBool,
    accounts: Section<model::Account>,
    users: Section<model::User>,
    service_ids: Section<model::ServiceId>,
    access_groups: Section<model::AccessGroup>,
    role_bindings: Section<model::RoleBinding>,
    api_keys: Section<model::ApiKey>,
    classic_keys: Section<model::ClassicKey>,
    clusters: Section<model::Cluster>,
    cluster_api_keys: Section<model::ClusterApiKey>,
}

impl<'f> Sinks<'f> {
    fn new(file: &'f str) -> Self {
        Sinks {
            file,
            failed: AtomicBool::new(false),
            accounts: Section::new(),
            users: Section::new(),
            service_ids: Section::new(),
            access_groups: Section::new(),
            role_bindings: Section::new(),
            api_keys: Section::new(),
            classic_keys: Section::new(),
            clusters: Section::new(),
            cluster_api_keys: Section::new(),
        }
    }

    /// Hand a batch of `section`'s items to that section's reader.
    fn spawn<'s>(
        &'s self,
        scope: &rayon::Scope<'s>,
        section: &'static str,
        no: usize,
        batch: Vec<Node>,
    ) {
        let cx = (self.file, section, &self.failed);
        match section {
            "accounts" => self.accounts.spawn(scope, cx, no, batch),
            "users" => self.users.spawn(scope, cx, no, batch),
            "service_ids" => self.service_ids.spawn(scope, cx, no, batch),
            "access_groups" => self.access_groups.spawn(scope, cx, no, batch),
            "role_bindings" => self.role_bindings.spawn(scope, cx, no, batch),
            "api_keys" => self.api_keys.spawn(scope, cx, no, batch),
            "classic_keys" => self.classic_keys.spawn(scope, cx, no, batch),
            "clusters" => self.clusters.spawn(scope, cx, no, batch),
            "cluster_api_keys" => self.cluster_api_keys.spawn(scope, cx, no, batch),
            // `now` as a list, or any other key: not a clean world.
            _ => self.failed.store(true, Ordering::Relaxed),
        }
    }

    fn into_world(self) -> World {
        World {
            now: None,
            accounts: self.accounts.records(),
            users: self.users.records(),
            service_ids: self.service_ids.records(),
            access_groups: self.access_groups.records(),
            role_bindings: self.role_bindings.records(),
            api_keys: self.api_keys.records(),
            classic_keys: self.classic_keys.records(),
            clusters: self.clusters.records(),
            cluster_api_keys: self.cluster_api_keys.records(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::fields;
    use crate::world::model::{Shape, shape};

    /// The located way's world of a text, if it has no problem.
    fn located(src: &str) -> Option<World> {
        let root = fields::parse_located("w.yaml", src).ok()?;
        let mut p = Vec::new();
        let world = shape("w.yaml", root, &mut p, &mut Shape::default());
        p.is_empty().then_some(world)
    }

    /// A world as block YAML.
    fn block(w: &World) -> String {
        serde_yaml::to_string(w).expect("serializes")
    }

    /// Every YAML file under a folder of the repository.
    fn yaml_files(dir: &std::path::Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                yaml_files(&p, out);
            } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                out.extend(std::fs::read_to_string(&p).ok());
            }
        }
    }

    /// The streamed reading gives a world only where the located one reads it without a
    /// problem, and then the same world.
    fn agrees(src: &str) -> bool {
        match read("w.yaml", src) {
            Some(w) => located(src).as_ref() == Some(&w),
            None => true,
        }
    }

    #[test]
    fn a_clean_world_reads_as_the_located_way_reads_it() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut texts = Vec::new();
        for d in ["fixtures", "tests", "examples"] {
            yaml_files(&root.join(d), &mut texts);
        }
        assert!(texts.len() > 10, "found {} YAML files", texts.len());
        // Each valid world also as the block YAML keyward writes (which the fast reader reads).
        let blocks: Vec<String> = texts
            .iter()
            .filter_map(|t| located(t))
            .map(|w| block(&w))
            .collect();
        let mut streamed = 0;
        for t in texts.iter().chain(&blocks) {
            assert!(agrees(t), "differs on:\n{t}");
            // A valid world the fast reader reads is streamed.
            let fast = fastyaml::parse(t).is_some() && located(t).is_some();
            assert_eq!(read("w.yaml", t).is_some(), fast, "streamed or not:\n{t}");
            streamed += usize::from(fast);
        }
        assert!(streamed >= 1, "no world was streamed");
        // Generated worlds, as `keyward generate` writes them.
        let mut roles: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for (service, role) in crate::world::generate::ROLES_USED {
            roles.entry(service.into()).or_default().push(role.into());
        }
        let catalog = crate::world::RoleCatalog::new(roles);
        for (users, accounts, seed) in [(1, 1, 1), (40, 3, 7), (300, 5, 42)] {
            let o = crate::world::generate::GenerateOptions {
                users,
                keys_per_user: 3,
                service_ids: users / 10,
                accounts,
                seed,
                now: None,
            };
            let w = crate::world::generate::generate(&o, &catalog).expect("generates");
            let text = crate::world::generate::to_yaml(&o, &w);
            assert_eq!(read("w.yaml", &text).as_ref(), Some(&w), "{users} users");
            assert_eq!(located(&text).as_ref(), Some(&w));
        }
    }

    #[test]
    fn an_edited_world_is_streamed_only_when_it_is_clean() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let acme = std::fs::read_to_string(root.join("fixtures/acme.yaml")).expect("acme");
        let acme = block(&located(&acme).expect("acme is valid"));
        assert!(read("w.yaml", &acme).is_some(), "not streamed:\n{acme}");
        let lines: Vec<&str> = acme.lines().collect();
        let (mut refused, mut read_) = (0, 0);
        for i in 0..lines.len() {
            // Each line dropped, then each line's value doubled as an unknown field.
            let mut dropped = lines.clone();
            dropped.remove(i);
            let mut extra = lines.clone();
            let indent = lines[i].len() - lines[i].trim_start_matches([' ', '-']).len();
            let added = format!("{}bogus_field: 1", " ".repeat(indent));
            extra.insert(i + 1, &added);
            for t in [dropped.join("\n"), extra.join("\n")] {
                assert!(agrees(&t), "differs on:\n{t}");
                match read("w.yaml", &t) {
                    Some(_) => read_ += 1,
                    None => refused += 1,
                }
            }
        }
        assert!(
            refused > 10 && read_ > 10,
            "{refused} refused, {read_} read"
        );
        for bad in [
            "now: 2026-01-01T00:00:00Z\nextras:\n- id: x\n",
            "now:\n- 2026-01-01T00:00:00Z\n",
            "accounts:\n  acme: {}\n",
            "accounts: 3\n",
            "users:\n- just-a-name\n",
            "- id: acme\n",
        ] {
            assert!(read("w.yaml", bad).is_none(), "streamed: {bad}");
        }
    }
}
