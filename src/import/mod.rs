//! Stage **import**: a real IBM Cloud account, or several, exported from IBM's own APIs, as a
//! world that `check`, `audit`, `findings`, `test` and `apply` work on unchanged.
//!
//! Owns reading an export ([`layout`], [`sources`]: files, pages, the CLI's bare arrays, with
//! JSON-path-located errors), mapping IBM records to world records ([`map`], [`policy`]: ids,
//! role CRNs, scopes, wildcard expansion, over-approximated conditions), the `--overlay`
//! merge ([`overlay`]), fetching from the APIs ([`fetch`]: token exchange, pagination,
//! retries, `--save-raw`) and the [`summary`] of what was dropped, guessed or not mapped.
//! docs/import.md says where each mapping comes from.
//!
//! Must not: decide anything a policy decides (it never learns what a role grants; valid role
//! names come from the schema's catalogue), or print: the CLI does. It never stores an API key
//! value or a token.
//!
//! May use: [`crate::world`] (the records it builds, their validation) and [`crate::decide`]
//! (the role catalogue of the loaded schema).

pub mod fetch;
pub mod layout;
pub mod map;
pub mod overlay;
pub mod policy;
pub mod sources;
pub mod summary;

use crate::world::problem::Problems;
use crate::world::{RoleCatalog, World};
use layout::Export;
use map::Builder;
use sources::SourceError;
use summary::Summary;

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// An exported file is not the expected shape (file and JSON path).
    #[error("error: {0}")]
    Source(#[from] SourceError),
    /// The overlay is not a valid world fragment (file, line and field).
    #[error("{0}")]
    Overlay(Problems),
    /// The merged world does not validate (e.g. an overlay names an unknown user).
    #[error("the imported world is not valid:\n{0}")]
    Invalid(Problems),
    /// Fetching from the APIs failed (the API key and token redacted).
    #[error("error: {0}")]
    Fetch(#[from] fetch::FetchError),
}

/// An imported world, its YAML (what `import` prints) and the summary.
#[derive(Debug, Clone)]
pub struct Imported {
    pub world: World,
    pub yaml: String,
    pub summary: Summary,
}

/// An overlay file: its name for problems and its text.
#[derive(Debug, Clone, Copy)]
pub struct OverlaySource<'a> {
    pub file: &'a str,
    pub text: &'a str,
}

/// Map an export to a world, merge the overlay, validate, and summarise.
pub fn import(
    export: &Export,
    overlay: Option<OverlaySource>,
    roles: &RoleCatalog,
) -> Result<Imported, ImportError> {
    let mut b = Builder::default();
    b.records(export)?;
    for a in &export.accounts {
        b.policies(&a.id, &a.policies.file, &a.policies.items, roles)?;
        for (file, present) in absent_files(a) {
            if !present {
                b.summary
                    .note(summary::NoteKind::Info, &file, "", "not exported");
            }
        }
    }
    // An overlay's slot replaces an inferred one (they merge by account, region and group).
    let given = overlay.map(|o| overlay::slots(o.text)).unwrap_or_default();
    b.infer_slots(export, &given);
    let (mut world, mut summary) = b.world();
    if let Some(o) = overlay {
        let (merged, m) = overlay::apply(&world, o.file, o.text).map_err(ImportError::Overlay)?;
        world = merged;
        summary.note(
            summary::NoteKind::Info,
            o.file,
            "",
            format!("{} records changed, {} added", m.changed, m.added),
        );
    }
    let yaml = world.to_yaml();
    let world = crate::world::parse_world("<imported world>", &yaml, roles)
        .map_err(ImportError::Invalid)?;
    finish(&world, &mut summary);
    Ok(Imported {
        world,
        yaml,
        summary,
    })
}

fn absent_files(a: &layout::AccountExport) -> Vec<(String, bool)> {
    vec![
        (a.user_keys.file.clone(), a.user_keys.present),
        (a.service_keys.file.clone(), a.service_keys.present),
        (a.service_ids.file.clone(), a.service_ids.present),
        (a.groups.file.clone(), a.groups.present),
        (a.policies.file.clone(), a.policies.present),
        (a.resource_groups.file.clone(), a.resource_groups.present),
        (a.clusters.file.clone(), a.clusters.present),
        (a.classic_users.file.clone(), a.classic_users.present),
    ]
}

/// The summary's lists that depend on the final world (after the overlay) and its counts.
fn finish(w: &World, s: &mut Summary) {
    s.no_creator = w
        .service_ids
        .iter()
        .filter(|x| x.created_by.is_none())
        .map(|x| x.id.clone())
        .collect();
    for slot in &w.cluster_api_keys {
        let owner = w
            .api_keys
            .iter()
            .find(|k| k.id == slot.api_key)
            .map(|k| k.identity.as_str());
        if let Some(u) = owner.and_then(|o| w.user(o)).filter(|u| !u.functional) {
            let line = format!(
                "{} ({}/{}/{})",
                u.id, slot.account, slot.region, slot.resource_group
            );
            if !s.personal_cluster_keys.contains(&line) {
                s.personal_cluster_keys.push(line);
            }
        }
    }
    s.counts = vec![
        ("accounts", w.accounts.len()),
        ("users", w.users.len()),
        ("service IDs", w.service_ids.len()),
        ("access groups", w.access_groups.len()),
        ("role bindings", w.role_bindings.len()),
        ("API keys", w.api_keys.len()),
        ("classic keys", w.classic_keys.len()),
        ("clusters", w.clusters.len()),
        ("cluster API keys", w.cluster_api_keys.len()),
    ];
}

/// Read `--from DIR` and import it.
pub fn import_dir(
    dir: &std::path::Path,
    overlay: Option<OverlaySource>,
    roles: &RoleCatalog,
) -> Result<Imported, ImportError> {
    let export = layout::read_export(dir)?;
    import(&export, overlay, roles)
}
