//! The `--from DIR` layout: one folder per account, named by its id, holding one file per
//! source (docs/cli.md's table). `--fetch --save-raw` writes exactly this layout.
//!
//! Owns the file names and reading a folder into typed, located records. Must not map records
//! to a world. May use: [`super::sources`].

use super::sources::{
    AccountRec, ApiKeyRec, ClassicUserRec, ClusterRec, GroupRec, Located, MemberRec, PolicyRec,
    ResourceGroupRec, ServiceIdRec, SettingsRec, SourceError, SourceFile, UserRec,
};
use serde::de::DeserializeOwned;
use std::path::Path;

/// `GET /v4/accounts/{id}`.
pub const ACCOUNT: &str = "account.json";
/// `GET /v1/accounts/{id}/settings/identity`.
pub const SETTINGS: &str = "identity-settings.json";
/// `GET /v2/accounts/{id}/users`.
pub const USERS: &str = "users.json";
/// `GET /v1/apikeys?account_id={id}&scope=account&type=user`.
pub const USER_KEYS: &str = "apikeys.json";
/// `GET /v1/apikeys?account_id={id}&scope=account&type=serviceid`.
pub const SERVICE_KEYS: &str = "serviceid-apikeys.json";
/// `GET /v1/serviceids/?account_id={id}&include_history=true`.
pub const SERVICE_IDS: &str = "serviceids.json";
/// `GET /v2/groups?account_id={id}`.
pub const GROUPS: &str = "access-groups.json";
/// The folder of `GET /v2/groups/{group id}/members`, one file per group.
pub const MEMBERS_DIR: &str = "access-group-members";
/// `GET /v2/policies?account_id={id}&type=access` (or the v1 list).
pub const POLICIES: &str = "policies.json";
/// `GET /v2/resource_groups?account_id={id}`.
pub const RESOURCE_GROUPS: &str = "resource-groups.json";
/// `ibmcloud ks cluster ls --output json`.
pub const CLUSTERS: &str = "clusters.json";
/// `SoftLayer_Account/getUsers` with mask `id,parentId,iamId,apiAuthenticationKeys.id`.
pub const CLASSIC_USERS: &str = "classic-users.json";

/// The records of one file (empty when the file was not exported), with the file's name.
#[derive(Debug, Clone, Default)]
pub struct Records<T> {
    pub file: String,
    pub items: Vec<Located<T>>,
    /// Whether the file was there.
    pub present: bool,
}

/// Everything exported for one account.
#[derive(Debug, Clone)]
pub struct AccountExport {
    /// The folder name: the account id.
    pub id: String,
    pub account: Located<AccountRec>,
    pub account_file: String,
    pub settings: Option<(String, Located<SettingsRec>)>,
    pub users: Records<UserRec>,
    pub user_keys: Records<ApiKeyRec>,
    pub service_keys: Records<ApiKeyRec>,
    pub service_ids: Records<ServiceIdRec>,
    pub groups: Records<GroupRec>,
    /// Per access group id (sorted), its members file.
    pub members: Vec<(String, Records<MemberRec>)>,
    pub policies: Records<PolicyRec>,
    pub resource_groups: Records<ResourceGroupRec>,
    pub clusters: Records<ClusterRec>,
    pub classic_users: Records<ClassicUserRec>,
}

/// A whole export: its accounts, sorted by id.
#[derive(Debug, Clone, Default)]
pub struct Export {
    pub accounts: Vec<AccountExport>,
}

/// Where an account's files come from: a folder of `--from DIR`, or pages fetched in memory.
pub trait Files {
    /// The file at `rel` (e.g. `apikeys.json`), `None` when it was not exported.
    fn file(&self, rel: &str) -> Result<Option<SourceFile>, SourceError>;
}

/// One account's folder on disk.
pub struct DirFiles<'a> {
    pub dir: &'a Path,
    pub id: &'a str,
}

impl Files for DirFiles<'_> {
    fn file(&self, rel: &str) -> Result<Option<SourceFile>, SourceError> {
        let path = self.dir.join(rel);
        if !path.exists() {
            return Ok(None);
        }
        SourceFile::read(&path, &format!("{}/{rel}", self.id)).map(Some)
    }
}

/// One account's files held in memory (a fetch), by their path in the layout.
pub struct MemFiles<'a> {
    pub id: &'a str,
    pub files: &'a std::collections::BTreeMap<String, serde_json::Value>,
}

impl Files for MemFiles<'_> {
    fn file(&self, rel: &str) -> Result<Option<SourceFile>, SourceError> {
        Ok(self.files.get(rel).map(|json| SourceFile {
            name: format!("{}/{rel}", self.id),
            json: json.clone(),
        }))
    }
}

fn records<T: DeserializeOwned>(
    files: &dyn Files,
    id: &str,
    file: &str,
    wrapper: &str,
) -> Result<Records<T>, SourceError> {
    let name = format!("{id}/{file}");
    match files.file(file)? {
        None => Ok(Records {
            file: name,
            items: Vec::new(),
            present: false,
        }),
        Some(f) => Ok(Records {
            file: name,
            items: f.items(wrapper)?,
            present: true,
        }),
    }
}

/// Read one account's files. `account.json` and `users.json` are required; every other file
/// may be absent (the summary says which were).
pub fn read_account(files: &dyn Files, id: &str) -> Result<AccountExport, SourceError> {
    let account_file = format!("{id}/{ACCOUNT}");
    let missing = |file: &str, what: &str| SourceError {
        file: format!("{id}/{file}"),
        path: String::new(),
        message: format!("missing: every account needs its {what}"),
    };
    let account = files
        .file(ACCOUNT)?
        .ok_or_else(|| missing(ACCOUNT, "account record"))?
        .object::<AccountRec>()?;
    let settings = match files.file(SETTINGS)? {
        Some(f) => Some((f.name.clone(), f.object()?)),
        None => None,
    };
    let users = records(files, id, USERS, "resources")?;
    if !users.present {
        return Err(missing(USERS, "user list"));
    }
    let groups: Records<GroupRec> = records(files, id, GROUPS, "groups")?;
    let mut members = Vec::new();
    for g in &groups.items {
        let file = format!("{MEMBERS_DIR}/{}.json", g.item.id);
        members.push((g.item.id.clone(), records(files, id, &file, "members")?));
    }
    members.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(AccountExport {
        id: id.to_string(),
        account,
        account_file,
        settings,
        users,
        user_keys: records(files, id, USER_KEYS, "apikeys")?,
        service_keys: records(files, id, SERVICE_KEYS, "apikeys")?,
        service_ids: records(files, id, SERVICE_IDS, "serviceids")?,
        groups,
        members,
        policies: records(files, id, POLICIES, "policies")?,
        resource_groups: records(files, id, RESOURCE_GROUPS, "resources")?,
        clusters: records(files, id, CLUSTERS, "clusters")?,
        classic_users: records(files, id, CLASSIC_USERS, "users")?,
    })
}

/// Read an export folder: every sub-folder is one account (sorted by name, so the same export
/// gives the same world).
pub fn read_export(dir: &Path) -> Result<Export, SourceError> {
    let err = |m: String| SourceError {
        file: dir.display().to_string(),
        path: String::new(),
        message: m,
    };
    let entries =
        std::fs::read_dir(dir).map_err(|e| err(format!("cannot read the export folder: {e}")))?;
    let mut ids: Vec<String> = Vec::new();
    for e in entries {
        let e = e.map_err(|e| err(format!("cannot read the export folder: {e}")))?;
        if e.path().is_dir() {
            ids.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    ids.sort();
    if ids.is_empty() {
        return Err(err(
            "no account folders: the export holds one folder per account, named by its id".into(),
        ));
    }
    let accounts = ids
        .iter()
        .map(|id| {
            read_account(
                &DirFiles {
                    dir: &dir.join(id),
                    id,
                },
                id,
            )
        })
        .collect::<Result<_, _>>()?;
    Ok(Export { accounts })
}
