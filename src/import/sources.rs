//! Reading one exported file: an API response, a JSON array of page responses, or the
//! `ibmcloud` CLI's bare array of items, into typed records that each know their JSON path.
//!
//! Owns the IBM record shapes (only the fields keyward reads; IBM's other fields are ignored)
//! and located errors (`a1/policies.json: policies[3].resources[0]: …`). Must not map records
//! to a world or decide anything. May use: serde only.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::fmt;
use std::path::Path;

/// A located problem with an exported file: its name relative to the export, a JSON path, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError {
    pub file: String,
    pub path: String,
    pub message: String,
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}: {}: {}", self.file, self.path, self.message)
        }
    }
}

impl std::error::Error for SourceError {}

/// One record of a file with where it sits (`apikeys[3]`, `[1].apikeys[0]`, `[2]`).
#[derive(Debug, Clone)]
pub struct Located<T> {
    pub path: String,
    pub item: T,
}

/// A file of one export, named as the summary and errors name it (`a1/apikeys.json`).
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    pub json: Value,
}

impl SourceFile {
    /// Read and parse a JSON file; `name` is how messages name it.
    pub fn read(path: &Path, name: &str) -> Result<Self, SourceError> {
        let text = std::fs::read_to_string(path).map_err(|e| SourceError {
            file: name.to_string(),
            path: String::new(),
            message: format!("cannot read: {e}"),
        })?;
        let json = serde_json::from_str(&text).map_err(|e| SourceError {
            file: name.to_string(),
            path: String::new(),
            message: format!("not valid JSON: {e}"),
        })?;
        Ok(SourceFile {
            name: name.to_string(),
            json,
        })
    }

    fn error(&self, path: &str, message: impl Into<String>) -> SourceError {
        SourceError {
            file: self.name.clone(),
            path: path.to_string(),
            message: message.into(),
        }
    }

    /// The items of a list response under `wrapper` (e.g. `apikeys`): from one response, from
    /// an array of page responses, or from a bare array of items, each typed and located.
    pub fn items<T: DeserializeOwned>(
        &self,
        wrapper: &str,
    ) -> Result<Vec<Located<T>>, SourceError> {
        let mut raw: Vec<(String, &Value)> = Vec::new();
        match &self.json {
            Value::Object(_) => self.page_items(&self.json, "", wrapper, &mut raw)?,
            Value::Array(list) => {
                let pages = list.first().is_some_and(|v| v.get(wrapper).is_some());
                for (i, v) in list.iter().enumerate() {
                    if pages {
                        self.page_items(v, &format!("[{i}]"), wrapper, &mut raw)?;
                    } else {
                        raw.push((format!("[{i}]"), v));
                    }
                }
            }
            _ => {
                return Err(self.error(
                    "",
                    format!("expected a response with `{wrapper}`, an array of pages or an array of items"),
                ));
            }
        }
        raw.into_iter()
            .map(|(path, v)| self.typed(&path, v).map(|item| Located { path, item }))
            .collect()
    }

    /// The one object of a single-object response (an account, the identity settings); a CLI
    /// array of one object is accepted too.
    pub fn object<T: DeserializeOwned>(&self) -> Result<Located<T>, SourceError> {
        match &self.json {
            Value::Array(list) if list.len() == 1 => {
                let item = self.typed("[0]", &list[0])?;
                Ok(Located {
                    path: "[0]".into(),
                    item,
                })
            }
            v @ Value::Object(_) => Ok(Located {
                path: String::new(),
                item: self.typed("", v)?,
            }),
            _ => Err(self.error("", "expected one JSON object")),
        }
    }

    fn page_items<'a>(
        &self,
        page: &'a Value,
        at: &str,
        wrapper: &str,
        out: &mut Vec<(String, &'a Value)>,
    ) -> Result<(), SourceError> {
        let here = |s: &str| {
            if at.is_empty() {
                s.to_string()
            } else {
                format!("{at}.{s}")
            }
        };
        match page.get(wrapper) {
            Some(Value::Array(list)) => {
                for (i, v) in list.iter().enumerate() {
                    out.push((format!("{}[{i}]", here(wrapper)), v));
                }
                Ok(())
            }
            Some(Value::Null) => Ok(()),
            Some(_) => Err(self.error(&here(wrapper), "expected an array")),
            None if page.is_object() => {
                Err(self.error(at, format!("a page response without `{wrapper}`")))
            }
            None => Err(self.error(at, "expected a page response (a JSON object)")),
        }
    }

    fn typed<T: DeserializeOwned>(&self, at: &str, v: &Value) -> Result<T, SourceError> {
        serde_path_to_error::deserialize::<_, T>(v).map_err(|e| {
            let inner = e.path().to_string();
            let path = match (at.is_empty(), inner == ".") {
                (_, true) => at.to_string(),
                (true, false) => inner,
                (false, false) if inner.starts_with('[') => format!("{at}{inner}"),
                (false, false) => format!("{at}.{inner}"),
            };
            self.error(&path, e.inner().to_string())
        })
    }
}

/// `GET /v4/accounts/{id}` (Account Management).
#[derive(Debug, Clone, Deserialize)]
pub struct AccountRec {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    pub owner_iamid: String,
}

/// `GET /v1/accounts/{id}/settings/identity` (IAM Identity).
#[derive(Debug, Clone, Deserialize)]
pub struct SettingsRec {
    #[serde(default)]
    pub restrict_create_platform_apikey: Option<String>,
}

/// One user of `GET /v2/accounts/{id}/users` (User Management).
#[derive(Debug, Clone, Deserialize)]
pub struct UserRec {
    pub iam_id: String,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub firstname: Option<String>,
    #[serde(default)]
    pub lastname: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
}

/// One entry of an IAM Identity `history` (`EnityHistoryRecord` in IBM's SDK).
#[derive(Debug, Clone, Deserialize)]
pub struct HistoryRec {
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub iam_id: Option<String>,
    #[serde(default)]
    pub action: Option<String>,
}

/// One API key of `GET /v1/apikeys` (IAM Identity).
#[derive(Debug, Clone, Deserialize)]
pub struct ApiKeyRec {
    pub id: String,
    pub iam_id: String,
    pub account_id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub created_by: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub locked: bool,
    #[serde(default)]
    pub disabled: Option<bool>,
    #[serde(default)]
    pub expires_at: Option<String>,
    #[serde(default)]
    pub action_when_leaked: Option<String>,
    #[serde(default)]
    pub entity_tag: Option<String>,
}

/// One service ID of `GET /v1/serviceids/` (IAM Identity).
#[derive(Debug, Clone, Deserialize)]
pub struct ServiceIdRec {
    pub id: String,
    pub iam_id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub history: Vec<HistoryRec>,
}

/// One access group of `GET /v2/groups` (IAM Access Groups).
#[derive(Debug, Clone, Deserialize)]
pub struct GroupRec {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// One member of `GET /v2/groups/{id}/members`: `type` is `user`, `service` or `profile`.
#[derive(Debug, Clone, Deserialize)]
pub struct MemberRec {
    pub iam_id: String,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

/// A subject or resource attribute: `name` in v1, `key` in v2; the value a string, a boolean
/// or an array.
#[derive(Debug, Clone, Deserialize)]
pub struct AttrRec {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub operator: Option<String>,
    #[serde(default)]
    pub value: Value,
}

impl AttrRec {
    /// The attribute's name, whichever of `name` (v1) and `key` (v2) carries it.
    pub fn attr(&self) -> &str {
        self.name.as_deref().or(self.key.as_deref()).unwrap_or("")
    }
}

/// A list of attributes (v1 `subjects[]`/`resources[]` items, v2 `subject`/`resource`).
#[derive(Debug, Clone, Deserialize, Default)]
pub struct AttrsRec {
    #[serde(default)]
    pub attributes: Vec<AttrRec>,
    #[serde(default)]
    pub tags: Vec<Value>,
}

/// A role of a policy.
#[derive(Debug, Clone, Deserialize)]
pub struct RoleRec {
    pub role_id: String,
}

/// v2's `control.grant`.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct GrantRec {
    #[serde(default)]
    pub roles: Vec<RoleRec>,
}

/// v2's `control`.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct ControlRec {
    #[serde(default)]
    pub grant: GrantRec,
}

/// One policy of `GET /v1/policies` or `GET /v2/policies` (IAM Policy Management).
#[derive(Debug, Clone, Deserialize)]
pub struct PolicyRec {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    // v1
    #[serde(default)]
    pub subjects: Option<Vec<AttrsRec>>,
    #[serde(default)]
    pub resources: Option<Vec<AttrsRec>>,
    #[serde(default)]
    pub roles: Option<Vec<RoleRec>>,
    // v2
    #[serde(default)]
    pub subject: Option<AttrsRec>,
    #[serde(default)]
    pub resource: Option<AttrsRec>,
    #[serde(default)]
    pub control: Option<ControlRec>,
    #[serde(default)]
    pub rule: Option<Value>,
    #[serde(default)]
    pub pattern: Option<String>,
}

/// One resource group of `GET /v2/resource_groups` (Resource Manager).
#[derive(Debug, Clone, Deserialize)]
pub struct ResourceGroupRec {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub default: bool,
}

/// An add-on of a cluster list entry.
#[derive(Debug, Clone, Deserialize)]
pub struct AddonRec {
    pub name: String,
}

/// One cluster of `ibmcloud ks cluster ls --output json` (camelCase keys).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRec {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    pub region: String,
    #[serde(default)]
    pub resource_group: Option<String>,
    #[serde(default)]
    pub addons: Vec<AddonRec>,
}

/// A classic infrastructure API key (its id only: the secret is never read).
#[derive(Debug, Clone, Deserialize)]
pub struct ClassicKeyRec {
    pub id: i64,
}

/// One user of `SoftLayer_Account/getUsers` (classic infrastructure, camelCase keys).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClassicUserRec {
    pub id: i64,
    #[serde(default)]
    pub parent_id: Option<i64>,
    #[serde(default)]
    pub iam_id: Option<String>,
    #[serde(default)]
    pub api_authentication_keys: Vec<ClassicKeyRec>,
}
