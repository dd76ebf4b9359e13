//! Display names where the CLI takes an id (`--principal`, `--resource`, `--arg account=`,
//! `--arg resource_group=`, audit filters): each resolved to the id it names, before a request
//! is built (INTERFACE.md, "Display fields").
//!
//! Owns which flag expects which kinds. Must not decide anything. May use: the world's lookup
//! ([`crate::world::names`]) and the request's shape.

use crate::audit::AuditOptions;
use crate::decide::request::RequestSpec;
use crate::world::names::{resolve, resolve_resource_group};
use crate::world::problem::Problem;
use crate::world::{IdKind, World};

const IDENTITIES: &[IdKind] = &[IdKind::User, IdKind::ServiceId];
const RESOURCES: &[IdKind] = &[
    IdKind::User,
    IdKind::ServiceId,
    IdKind::Account,
    IdKind::Cluster,
];

/// The request with every display value replaced by the id it names.
pub fn request(w: &World, spec: &RequestSpec) -> Result<RequestSpec, Problem> {
    let mut s = spec.clone();
    if s.action != "login" {
        s.principal = resolve(w, &s.principal, IDENTITIES, "--principal")?;
    }
    if let Some(r) = &s.resource {
        s.resource = Some(resolve(w, r, RESOURCES, "--resource")?);
    }
    if let Some(a) = s.args.get("account").cloned() {
        s.args.insert(
            "account".into(),
            resolve(w, &a, &[IdKind::Account], "--arg account")?,
        );
    }
    if let Some(g) = s.args.get("resource_group").cloned() {
        let account = s
            .args
            .get("account")
            .cloned()
            .or_else(|| s.resource.clone())
            .unwrap_or_default();
        s.args.insert(
            "resource_group".into(),
            resolve_resource_group(w, &account, &g, "--arg resource_group")?,
        );
    }
    Ok(s)
}

/// The audit filters with every display value replaced by the id it names.
pub fn audit_filters(w: &World, o: &AuditOptions) -> Result<AuditOptions, Problem> {
    let mut o = o.clone();
    let one = |v: &Option<String>, kinds: &[IdKind], flag: &str| {
        v.as_ref().map(|v| resolve(w, v, kinds, flag)).transpose()
    };
    o.principal = one(&o.principal, IDENTITIES, "--principal")?;
    o.resource = one(&o.resource, RESOURCES, "--resource")?;
    o.account = one(&o.account, &[IdKind::Account], "--account")?;
    Ok(o)
}
