//! IAM access policies (v1 and v2 shapes) → role bindings: the subject, the role CRNs as role
//! names, the services a scope covers (wildcard scopes expanded) and the narrowing attributes.
//!
//! Owns what an IBM policy means in the world's terms. Conditions keyward cannot evaluate
//! (a time-based `rule`, access tags, attributes it does not model, operators other than
//! `stringEquals`) are **over-approximated**: taken as granted, and each is listed, so an audit
//! never under-reports who may. Roles and services keyward does not model are counted.
//! Must not decide anything a policy decides. May use: the world's records and role catalogue.

use super::map::Builder;
use super::sources::{AttrRec, AttrsRec, Located, PolicyRec, SourceError};
use super::summary::NoteKind;
use crate::world::{IAM_IDENTITY, KUBERNETES, RoleBinding, RoleCatalog};
use serde_json::Value;

/// User Management's service name.
pub const USER_MANAGEMENT: &str = "user-management";

/// The services a wildcard scope covers, among those keyward models, with IBM's source.
/// `serviceType=service`: "All Identity and Access enabled services", every catalog service
/// that uses IAM, not the account management services (ibm-cloud-docs/account iam-groups.md,
/// iam-policies-overview.md). `serviceType=platform_service`: "All Account Management
/// services" (iam-account_management.md; the platform services SDK's constant). `service_group_id=IAM`:
/// "All IAM Account Management services": IAM Identity, Access Groups, Access Management, User
/// Management (iam-account_management.md). A policy naming only the account: every service of
/// it (over-approximated, see docs/import.md).
const WILDCARDS: [(&str, &str, &[&str]); 4] = [
    ("serviceType", "service", &[KUBERNETES]),
    (
        "serviceType",
        "platform_service",
        &[IAM_IDENTITY, USER_MANAGEMENT],
    ),
    (
        "serviceType",
        "platform-service",
        &[IAM_IDENTITY, USER_MANAGEMENT],
    ),
    ("service_group_id", "IAM", &[IAM_IDENTITY, USER_MANAGEMENT]),
];
const EVERY_SERVICE: [&str; 3] = [IAM_IDENTITY, USER_MANAGEMENT, KUBERNETES];

const PLATFORM_ROLE: &str = "crn:v1:bluemix:public:iam::::role:";
const USER_KEY_CREATOR: &str =
    "crn:v1:bluemix:public:iam-identity::::serviceRole:UserApiKeyCreator";

/// A role CRN as a world role name, if keyward models it.
pub fn role_name(crn: &str) -> Option<String> {
    if crn == USER_KEY_CREATOR {
        return Some("User API key creator".into());
    }
    crn.strip_prefix(PLATFORM_ROLE)
        .filter(|r| ["Administrator", "Operator", "Editor", "Viewer"].contains(r))
        .map(str::to_string)
}

/// The last segment of a role CRN (`Manager`, `ServiceIdCreator`), for the summary's tally.
fn role_label(crn: &str) -> String {
    crn.rsplit(':').next().unwrap_or(crn).to_string()
}

/// Why a policy is not about human access to keep (`type: authorization`, `state: deleted`).
fn skip_reason(p: &PolicyRec) -> Option<String> {
    if let Some(k) = p.kind.as_deref().filter(|k| *k != "access") {
        return Some(format!("type {k}"));
    }
    (p.state.as_deref() == Some("deleted")).then(|| "state deleted".to_string())
}

/// The role CRNs a policy grants: v1 `roles[]`, v2 `control.grant.roles[]`.
fn role_crns(p: &PolicyRec, v2: bool) -> Vec<String> {
    let roles = if v2 {
        p.control
            .as_ref()
            .map(|c| c.grant.roles.as_slice())
            .unwrap_or_default()
    } else {
        p.roles.as_deref().unwrap_or_default()
    };
    roles.iter().map(|r| r.role_id.clone()).collect()
}

/// What a policy's resource says, attribute by attribute.
#[derive(Default)]
struct Scope {
    account: Option<String>,
    services: Vec<&'static str>,
    /// A serviceName keyward does not model.
    other_service: Option<String>,
    region: Option<String>,
    resource_group: Option<String>,
    service_instance: Option<String>,
    resource_type: Option<String>,
    resource: Option<String>,
}

/// Where a policy sits, for notes and errors.
struct At<'a> {
    file: &'a str,
    path: String,
    id: String,
}

impl At<'_> {
    fn err(&self, sub: &str, m: impl Into<String>) -> SourceError {
        SourceError {
            file: self.file.to_string(),
            path: format!("{}{sub}", self.path),
            message: m.into(),
        }
    }
}

fn string_value(at: &At, sub: &str, a: &AttrRec) -> Result<String, SourceError> {
    match &a.value {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(at.err(
            sub,
            format!(
                "attribute `{}`: expected a string value, got {other}",
                a.attr()
            ),
        )),
    }
}

impl Builder {
    /// Map every policy of one account's `policies.json` to role bindings.
    pub fn policies(
        &mut self,
        account: &str,
        file: &str,
        items: &[Located<PolicyRec>],
        roles: &RoleCatalog,
    ) -> Result<(), SourceError> {
        for p in items {
            let at = At {
                file,
                path: p.path.clone(),
                id: p.item.id.clone().unwrap_or_default(),
            };
            self.policy(account, &at, &p.item, roles)?;
        }
        Ok(())
    }

    fn policy(
        &mut self,
        account: &str,
        at: &At,
        p: &PolicyRec,
        roles: &RoleCatalog,
    ) -> Result<(), SourceError> {
        if let Some(why) = skip_reason(p) {
            *self.summary.skipped_policies.entry(why).or_default() += 1;
            return Ok(());
        }
        let v2 = p.subject.is_some() || p.control.is_some();
        let (subject_path, subject) = match (&p.subjects, &p.subject) {
            (Some(list), _) if list.len() == 1 => (".subjects[0]", &list[0]),
            (Some(list), _) => {
                return Err(at.err(
                    ".subjects",
                    format!("expected one subject, found {}", list.len()),
                ));
            }
            (None, Some(s)) => (".subject", s),
            (None, None) => {
                return Err(at.err("", "a policy without `subjects` (v1) or `subject` (v2)"));
            }
        };
        let role_crns = role_crns(p, v2);
        let subject = self.subject(account, at, subject_path, subject)?;
        if role_crns.iter().any(|r| r.contains("UnsupportedVersion"))
            || subject.as_deref() == Some("unsupported version")
        {
            self.summary.note(NoteKind::Unmapped, at.file, &at.path, format!("policy `{}` is a v2 policy shown by /v1/policies as a placeholder: export /v2/policies to import it", at.id));
            return Ok(());
        }
        let Some(subject) = subject else {
            return Ok(());
        };
        if p.rule.is_some() {
            let what = p.pattern.as_deref().unwrap_or("a condition");
            self.summary.note(
                NoteKind::OverApproximated,
                at.file,
                &format!("{}.rule", at.path),
                format!(
                    "policy `{}` holds only under {what}: taken as always granted",
                    at.id
                ),
            );
        }
        let resources: Vec<(String, &AttrsRec)> = match (&p.resources, &p.resource) {
            (Some(list), _) => list
                .iter()
                .enumerate()
                .map(|(i, r)| (format!(".resources[{i}]"), r))
                .collect(),
            (None, Some(r)) => vec![(".resource".to_string(), r)],
            (None, None) => {
                return Err(at.err("", "a policy without `resources` (v1) or `resource` (v2)"));
            }
        };
        for (rpath, r) in resources {
            let scope = self.scope(account, at, &rpath, r)?;
            self.bind(account, at, &rpath, &subject, &role_crns, scope, roles);
        }
        Ok(())
    }

    /// The world id of a policy's subject, or `None` (noted) when it is kept out.
    fn subject(
        &mut self,
        account: &str,
        at: &At,
        sub: &str,
        s: &AttrsRec,
    ) -> Result<Option<String>, SourceError> {
        let [attr] = s.attributes.as_slice() else {
            return Err(at.err(
                &format!("{sub}.attributes"),
                format!(
                    "expected one subject attribute (iam_id or access_group_id), found {}",
                    s.attributes.len()
                ),
            ));
        };
        let path = format!("{sub}.attributes[0]");
        let value = string_value(at, &path, attr)?;
        let drop = |b: &mut Self, m: String| {
            b.summary
                .note(NoteKind::Dropped, at.file, &format!("{}{path}", at.path), m);
            Ok(None)
        };
        match attr.attr() {
            "iam_id" if value == "unsupported version" => Ok(Some(value)),
            "iam_id" if value.starts_with("iam-Profile-") => drop(
                self,
                format!(
                    "policy `{}` is for trusted profile `{value}` (keyward does not model them)",
                    at.id
                ),
            ),
            "iam_id" if self.is_member(&value, account) => Ok(Some(value)),
            "iam_id" => drop(
                self,
                format!(
                    "policy `{}` is for `{value}`, no user or service ID of account `{account}` in the export",
                    at.id
                ),
            ),
            "access_group_id"
                if self
                    .groups
                    .get(&value)
                    .is_some_and(|g| g.account == account) =>
            {
                Ok(Some(value))
            }
            "access_group_id" => drop(
                self,
                format!(
                    "policy `{}` is for access group `{value}`, not exported for account `{account}`",
                    at.id
                ),
            ),
            other => Err(at.err(
                &path,
                format!("subject attribute `{other}`: expected iam_id or access_group_id"),
            )),
        }
    }

    fn scope(
        &mut self,
        account: &str,
        at: &At,
        rpath: &str,
        r: &AttrsRec,
    ) -> Result<Scope, SourceError> {
        let mut s = Scope::default();
        if !r.tags.is_empty() {
            self.summary.note(
                NoteKind::OverApproximated,
                at.file,
                &format!("{}{rpath}.tags", at.path),
                format!(
                    "policy `{}` is narrowed by access tags: taken as covering every resource",
                    at.id
                ),
            );
        }
        let mut wildcard = false;
        for (i, a) in r.attributes.iter().enumerate() {
            let apath = format!("{rpath}.attributes[{i}]");
            self.attribute(at, &apath, a, &mut s, &mut wildcard)?;
        }
        if wildcard && s.services.is_empty() && s.other_service.is_none() {
            s.services.extend(EVERY_SERVICE.iter());
        }
        if let Some(acct) = s.account.as_deref().filter(|a| *a != account) {
            return Err(at.err(
                &format!("{rpath}.attributes"),
                format!("accountId `{acct}` in the export of account `{account}`"),
            ));
        }
        Ok(s)
    }

    /// Read one resource attribute into the scope (noting what it cannot narrow).
    fn attribute(
        &mut self,
        at: &At,
        apath: &str,
        a: &AttrRec,
        s: &mut Scope,
        wildcard: &mut bool,
    ) -> Result<(), SourceError> {
        let value = string_value(at, apath, a)?;
        let op = a.operator.as_deref().unwrap_or("stringEquals");
        let over = |b: &mut Self, why: String| {
            b.summary.note(
                NoteKind::OverApproximated,
                at.file,
                &format!("{}{apath}", at.path),
                format!("policy `{}`: {why}: taken as not narrowing", at.id),
            );
        };
        if op != "stringEquals" && a.attr() != "accountId" {
            over(
                self,
                format!(
                    "`{}` {op} `{value}` (keyward evaluates only stringEquals)",
                    a.attr()
                ),
            );
            if matches!(a.attr(), "serviceName" | "serviceType" | "service_group_id") {
                *wildcard = true;
            }
            return Ok(());
        }
        match a.attr() {
            "accountId" => s.account = Some(value),
            "serviceName" => match EVERY_SERVICE.iter().find(|x| **x == value) {
                Some(x) => s.services.push(x),
                None => s.other_service = Some(value),
            },
            "serviceType" | "service_group_id" => match WILDCARDS
                .iter()
                .find(|(k, v, _)| *k == a.attr() && *v == value)
            {
                Some((_, _, covers)) => {
                    self.summary.note(
                        NoteKind::Info,
                        at.file,
                        &format!("{}{apath}", at.path),
                        format!(
                            "policy `{}`: {}={value} expanded to {}",
                            at.id,
                            a.attr(),
                            covers.join(", ")
                        ),
                    );
                    s.services.extend(covers.iter());
                }
                None => s.other_service = Some(format!("{}={value}", a.attr())),
            },
            "region" => s.region = Some(value),
            "resourceGroupId" => s.resource_group = Some(value),
            "serviceInstance" => s.service_instance = Some(value),
            "resourceType" => s.resource_type = Some(value),
            "resource" => s.resource = Some(value),
            other => over(
                self,
                format!("attribute `{other}`=`{value}` is not one keyward models"),
            ),
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn bind(
        &mut self,
        account: &str,
        at: &At,
        rpath: &str,
        subject: &str,
        crns: &[String],
        s: Scope,
        roles: &RoleCatalog,
    ) {
        let here = format!("{}{rpath}", at.path);
        if let Some(other) = &s.other_service {
            *self
                .summary
                .unmodelled_services
                .entry(other.clone())
                .or_default() += 1;
            return;
        }
        let services: Vec<&str> = if !s.services.is_empty() {
            s.services.clone()
        } else if s.resource_type.as_deref() == Some("resource-group") {
            self.summary.note(
                NoteKind::Unmapped,
                at.file,
                &here,
                format!(
                    "policy `{}` is on a resource group itself, which keyward does not model",
                    at.id
                ),
            );
            return;
        } else if s.resource_group.is_some() || s.region.is_some() {
            // Only IAM-enabled services live in resource groups and regions.
            self.summary.note(NoteKind::Info, at.file, &here, format!("policy `{}` names no service: every IAM-enabled service of the scope ({KUBERNETES})", at.id));
            vec![KUBERNETES]
        } else {
            self.summary.note(NoteKind::OverApproximated, at.file, &here, format!("policy `{}` names only the account: taken as every service keyward models ({})", at.id, EVERY_SERVICE.join(", ")));
            EVERY_SERVICE.to_vec()
        };
        for crn in crns {
            if role_name(crn).is_none() {
                *self
                    .summary
                    .unmodelled_roles
                    .entry(role_label(crn))
                    .or_default() += 1;
            }
        }
        for service in services {
            let valid = roles.roles(service).cloned().unwrap_or_default();
            let names: Vec<String> = crns
                .iter()
                .filter_map(|c| role_name(c))
                .filter(|r| valid.contains(r))
                .collect();
            if names.is_empty() {
                continue;
            }
            let Some(binding) = self.narrow(account, at, &here, subject, service, names, &s) else {
                continue;
            };
            self.bindings.push(binding);
        }
    }

    /// The binding of one service, narrowed as the scope says; `None` (noted) when the scope
    /// names something keyward does not model or that was not exported.
    #[allow(clippy::too_many_arguments)]
    fn narrow(
        &mut self,
        account: &str,
        at: &At,
        here: &str,
        subject: &str,
        service: &str,
        roles: Vec<String>,
        s: &Scope,
    ) -> Option<RoleBinding> {
        let mut b = RoleBinding {
            subject: subject.to_string(),
            account: account.to_string(),
            service: service.to_string(),
            roles,
            region: None,
            resource_group: None,
            resource: None,
        };
        let over = |b: &mut Self, what: &str| {
            b.summary.note(NoteKind::OverApproximated, at.file, here, format!("policy `{}`: {what} does not narrow {service} in keyward: taken as account-wide", at.id))
        };
        if service == KUBERNETES {
            b.region = s.region.clone();
            b.resource_group = s.resource_group.clone();
            if let Some(c) = &s.service_instance {
                if !self.clusters.contains_key(c) {
                    self.summary.note(
                        NoteKind::Dropped,
                        at.file,
                        here,
                        format!("policy `{}` is on cluster `{c}`, not exported", at.id),
                    );
                    return None;
                }
                b.resource = Some(c.clone());
            }
            if s.resource_type.is_some() || s.resource.is_some() {
                over(self, "a resourceType/resource");
            }
            return Some(b);
        }
        if s.region.is_some() || s.resource_group.is_some() || s.service_instance.is_some() {
            over(self, "a region, resource group or service instance");
        }
        match (service, s.resource_type.as_deref(), s.resource.as_deref()) {
            (_, None, None) => Some(b),
            (IAM_IDENTITY, Some("serviceid"), Some(r)) => {
                match self.service_id_by_id.get(r).filter(|iam| {
                    self.service_ids
                        .get(*iam)
                        .is_some_and(|x| x.account == account)
                }) {
                    Some(iam) => {
                        b.resource = Some(iam.clone());
                        Some(b)
                    }
                    None => {
                        self.summary.note(NoteKind::Dropped, at.file, here, format!("policy `{}` is on service ID `{r}`, not exported for account `{account}`", at.id));
                        None
                    }
                }
            }
            (IAM_IDENTITY, Some("serviceid"), None) => {
                over(
                    self,
                    "resourceType=serviceid without a resource (every service ID)",
                );
                Some(b)
            }
            (_, t, r) => {
                self.summary.note(NoteKind::Unmapped, at.file, here, format!("policy `{}` is on {service} resources of type `{}` (`{}`), which keyward does not model", at.id, t.unwrap_or("?"), r.unwrap_or("*")));
                None
            }
        }
    }
}
