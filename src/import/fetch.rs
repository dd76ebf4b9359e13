//! `import --fetch`: the export read straight from IBM's APIs. The API key is exchanged for an
//! IAM token (`POST /identity/token`, grant type `urn:ibm:params:oauth:grant-type:apikey`);
//! every page is followed in its service's style; 429 and 5xx are retried with backoff; an
//! expired token is exchanged again once. `--save-raw DIR` writes exactly the `--from` layout.
//!
//! Owns HTTP (ureq) and the paging styles. Must not map records (it hands
//! [`super::layout`] the same files `--from` reads) or decide anything. Must never log, store
//! or put in an error the API key or a token: every message goes through `Secrets::redact`.
//! May use: [`super::layout`] and [`super::sources`].

use super::layout::{self, Export, MemFiles};
use super::sources::SourceError;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

/// Why a fetch failed; its message never holds the API key or a token.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FetchError(String);

impl FetchError {
    /// An error with this (already redacted) message.
    pub fn new(m: impl Into<String>) -> Self {
        FetchError(m.into())
    }
}

/// IBM's public endpoints, one per service (`--api-base` replaces them all).
#[derive(Debug, Clone)]
pub struct Bases {
    pub iam: String,
    pub user_management: String,
    pub accounts: String,
    pub resource_manager: String,
    pub containers: String,
    pub softlayer: String,
}

impl Default for Bases {
    fn default() -> Self {
        Bases {
            iam: "https://iam.cloud.ibm.com".into(),
            user_management: "https://user-management.cloud.ibm.com".into(),
            accounts: "https://accounts.cloud.ibm.com".into(),
            resource_manager: "https://resource-controller.cloud.ibm.com".into(),
            containers: "https://containers.cloud.ibm.com".into(),
            softlayer: "https://api.softlayer.com".into(),
        }
    }
}

/// How to fetch.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// One base URL for every service (tests, private endpoints).
    pub api_base: Option<String>,
    /// Attempts per request on 429, 5xx or a broken connection.
    pub attempts: u32,
    /// The first backoff; it doubles per attempt (a `Retry-After` header wins, capped).
    pub backoff: Duration,
    /// The longest single wait.
    pub max_wait: Duration,
    /// Per request.
    pub timeout: Duration,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            api_base: None,
            attempts: 6,
            backoff: Duration::from_millis(500),
            max_wait: Duration::from_secs(30),
            timeout: Duration::from_secs(60),
        }
    }
}

impl FetchOptions {
    fn bases(&self) -> Bases {
        match &self.api_base {
            None => Bases::default(),
            Some(b) => {
                let b = b.trim_end_matches('/').to_string();
                Bases {
                    iam: b.clone(),
                    user_management: b.clone(),
                    accounts: b.clone(),
                    resource_manager: b.clone(),
                    containers: b.clone(),
                    softlayer: b,
                }
            }
        }
    }
}

/// How a service says where its next page is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Paging {
    /// One response.
    Single,
    /// IAM Identity: `next` is a URL string (with a `pagetoken`).
    NextString,
    /// Access Groups and Policy Management: `next.href`, or `next.start` as a `start` token.
    NextHref,
    /// User Management: `next_url`, a path relative to the service.
    NextUrl,
}

/// The secrets of a fetch, kept out of every message.
struct Secrets {
    api_key: String,
    token: Option<String>,
}

impl Secrets {
    /// `s` with the API key and the token replaced by `[redacted]`.
    fn redact(&self, s: &str) -> String {
        let mut out = s.to_string();
        for secret in std::iter::once(self.api_key.as_str()).chain(self.token.as_deref()) {
            if !secret.is_empty() {
                out = out.replace(secret, "[redacted]");
            }
        }
        out
    }
}

struct Client {
    agent: ureq::Agent,
    secrets: Secrets,
    token_url: String,
    opts: FetchOptions,
}

/// What one GET gave: the body's JSON, or the status of a refusal.
enum Got {
    Json(Value),
    Refused(u16, String),
}

/// A `Retry-After` header in seconds (the HTTP-date form is not used by IBM's APIs).
fn retry_after(resp: &ureq::http::Response<ureq::Body>) -> Option<u64> {
    resp.headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

fn snippet(body: &str) -> String {
    let one_line: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 300 {
        format!("{}…", one_line.chars().take(300).collect::<String>())
    } else {
        one_line
    }
}

impl Client {
    fn new(api_key: &str, bases: &Bases, opts: &FetchOptions) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(opts.timeout))
            .build();
        Client {
            agent: ureq::Agent::new_with_config(config),
            secrets: Secrets {
                api_key: api_key.to_string(),
                token: None,
            },
            token_url: format!("{}/identity/token", bases.iam),
            opts: opts.clone(),
        }
    }

    fn fail(&self, m: String) -> FetchError {
        FetchError(self.secrets.redact(&m))
    }

    fn wait(&self, attempt: u32, retry_after: Option<u64>) {
        let exp = self.opts.backoff.saturating_mul(1u32 << attempt.min(16));
        let d = retry_after
            .map(Duration::from_secs)
            .unwrap_or(exp)
            .min(self.opts.max_wait);
        std::thread::sleep(d);
    }

    /// Exchange the API key for an access token.
    fn token(&mut self) -> Result<String, FetchError> {
        if let Some(t) = &self.secrets.token {
            return Ok(t.clone());
        }
        let mut last = String::new();
        for attempt in 0..self.opts.attempts {
            let sent = self
                .agent
                .post(&self.token_url)
                .header("Accept", "application/json")
                .send_form([
                    ("grant_type", "urn:ibm:params:oauth:grant-type:apikey"),
                    ("apikey", self.secrets.api_key.as_str()),
                ]);
            let mut resp = match sent {
                Ok(r) => r,
                Err(e) => {
                    last = format!("POST {}: {e}", self.token_url);
                    self.wait(attempt, None);
                    continue;
                }
            };
            let status = resp.status().as_u16();
            let retry_after = retry_after(&resp);
            let body = resp.body_mut().read_to_string().unwrap_or_default();
            if status == 429 || status >= 500 {
                last = format!("POST {}: HTTP {status}: {}", self.token_url, snippet(&body));
                self.wait(attempt, retry_after);
                continue;
            }
            if !(200..300).contains(&status) {
                return Err(self.fail(format!(
                    "the API key was refused (POST {}: HTTP {status}: {})",
                    self.token_url,
                    snippet(&body)
                )));
            }
            let token = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v.get("access_token")?.as_str().map(str::to_string));
            let Some(token) = token else {
                return Err(self.fail(format!(
                    "POST {}: no access_token in the response",
                    self.token_url
                )));
            };
            self.secrets.token = Some(token.clone());
            return Ok(token);
        }
        Err(self.fail(format!(
            "gave up after {} attempts: {last}",
            self.opts.attempts
        )))
    }

    /// GET a URL as JSON, retrying 429/5xx and exchanging an expired token once.
    fn get(&mut self, url: &str, headers: &[(&str, &str)]) -> Result<Got, FetchError> {
        let mut renewed = false;
        let mut last = String::new();
        let mut attempt = 0;
        while attempt < self.opts.attempts {
            let token = self.token()?;
            let mut req = self
                .agent
                .get(url)
                .header("Authorization", &format!("Bearer {token}"))
                .header("Accept", "application/json");
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            let mut resp = match req.call() {
                Ok(r) => r,
                Err(e) => {
                    last = format!("GET {url}: {e}");
                    self.wait(attempt, None);
                    attempt += 1;
                    continue;
                }
            };
            let status = resp.status().as_u16();
            let retry_after = retry_after(&resp);
            let body = resp
                .body_mut()
                .with_config()
                .limit(1 << 30)
                .read_to_string()
                .map_err(|e| self.fail(format!("GET {url}: {e}")))?;
            match status {
                200..=299 => {
                    return serde_json::from_str(&body)
                        .map(Got::Json)
                        .map_err(|e| self.fail(format!("GET {url}: not JSON: {e}")));
                }
                401 if !renewed => {
                    // The token expired (they last an hour): exchange the key again, once.
                    renewed = true;
                    self.secrets.token = None;
                }
                429 | 500..=599 => {
                    last = format!("GET {url}: HTTP {status}: {}", snippet(&body));
                    self.wait(attempt, retry_after);
                    attempt += 1;
                }
                _ => return Ok(Got::Refused(status, self.secrets.redact(&snippet(&body)))),
            }
        }
        Err(self.fail(format!(
            "gave up after {} attempts: {last}",
            self.opts.attempts
        )))
    }

    /// Every page of a list, in order, as the `--from` layout keeps them (an array of pages).
    fn pages(
        &mut self,
        base: &str,
        first: &str,
        paging: Paging,
        headers: &[(&str, &str)],
    ) -> Result<Result<Value, (u16, String)>, FetchError> {
        let mut url = format!("{base}{first}");
        let mut pages = Vec::new();
        let mut seen = BTreeSet::new();
        loop {
            if !seen.insert(url.clone()) {
                return Err(self.fail(format!(
                    "GET {url}: the pages loop back to one already read"
                )));
            }
            let page = match self.get(&url, headers)? {
                Got::Json(v) => v,
                Got::Refused(status, body) => {
                    return Ok(Err((status, format!("GET {url}: HTTP {status}: {body}"))));
                }
            };
            let next = next_page(paging, &page, &url).map(|pq| join(base, &pq));
            if paging == Paging::Single {
                return Ok(Ok(page));
            }
            pages.push(page);
            match next {
                Some(n) => url = n,
                None => return Ok(Ok(Value::Array(pages))),
            }
        }
    }
}

/// The path and query of a link, whatever host it names: pages are only ever read from the
/// service's own base, so a token never goes to a host a response names.
fn path_and_query(link: &str, current: &str) -> String {
    let rest = link
        .strip_prefix("https://")
        .or_else(|| link.strip_prefix("http://"));
    match rest {
        Some(r) => r
            .find('/')
            .map(|i| r[i..].to_string())
            .unwrap_or_else(|| "/".into()),
        None if link.starts_with('?') => {
            format!("{}{link}", current.split('?').next().unwrap_or(""))
        }
        None => link.to_string(),
    }
}

fn current_path(url: &str) -> String {
    path_and_query(url, "")
}

/// Where the next page is, as a path and query, or `None` on the last page.
fn next_page(paging: Paging, page: &Value, url: &str) -> Option<String> {
    let here = current_path(url);
    let s = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    match paging {
        Paging::Single => None,
        Paging::NextString => s(page.get("next")).map(|n| path_and_query(&n, &here)),
        Paging::NextUrl => s(page.get("next_url")).map(|n| path_and_query(&n, &here)),
        Paging::NextHref => {
            let next = page.get("next")?;
            if let Some(h) = s(next.get("href")) {
                return Some(path_and_query(&h, &here));
            }
            let start = s(next.get("start"))?;
            let path = here.split('?').next().unwrap_or("").to_string();
            let mut query: Vec<String> = here
                .split_once('?')
                .map(|(_, q)| {
                    q.split('&')
                        .filter(|p| !p.starts_with("start="))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            query.push(format!("start={start}"));
            Some(format!("{path}?{}", query.join("&")))
        }
    }
}

fn join(base: &str, path_query: &str) -> String {
    // A base may carry a path prefix (a private endpoint, a test server's root).
    let prefix_path = current_path(base);
    let pq = if prefix_path != "/" && path_query.starts_with(&prefix_path) {
        &path_query[prefix_path.len()..]
    } else {
        path_query
    };
    format!("{base}{pq}")
}

/// What was fetched: per account (sorted), its files by their path in the layout.
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    pub accounts: Vec<(String, BTreeMap<String, Value>)>,
    /// Optional sources that could not be read (HTTP status and why), for the summary.
    pub skipped: Vec<String>,
}

impl Fetched {
    /// The records, exactly as `--from` reads the same files.
    pub fn export(&self) -> Result<Export, SourceError> {
        let accounts = self
            .accounts
            .iter()
            .map(|(id, files)| layout::read_account(&MemFiles { id, files }, id))
            .collect::<Result<_, _>>()?;
        Ok(Export { accounts })
    }

    /// Write every file in the `--from` layout under `dir`.
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        for (id, files) in &self.accounts {
            for (rel, json) in files {
                let path = dir.join(id).join(rel);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                let mut text = serde_json::to_string_pretty(json).map_err(std::io::Error::other)?;
                text.push('\n');
                std::fs::write(path, text)?;
            }
        }
        Ok(())
    }
}

/// One source of an account: its file, service base, first path and paging; `optional`
/// sources (clusters, classic users) are skipped with a note when refused.
struct Source {
    file: String,
    base: String,
    path: String,
    paging: Paging,
    optional: bool,
}

fn sources(b: &Bases, id: &str) -> Vec<Source> {
    let s = |file: &str, base: &str, path: String, paging: Paging, optional: bool| Source {
        file: file.into(),
        base: base.into(),
        path,
        paging,
        optional,
    };
    vec![
        s(layout::ACCOUNT, &b.accounts, format!("/v4/accounts/{id}"), Paging::Single, false),
        s(layout::SETTINGS, &b.iam, format!("/v1/accounts/{id}/settings/identity"), Paging::Single, false),
        s(layout::USERS, &b.user_management, format!("/v2/accounts/{id}/users?limit=100"), Paging::NextUrl, false),
        s(layout::USER_KEYS, &b.iam, format!("/v1/apikeys?account_id={id}&scope=account&type=user&pagesize=100"), Paging::NextString, false),
        s(layout::SERVICE_KEYS, &b.iam, format!("/v1/apikeys?account_id={id}&scope=account&type=serviceid&pagesize=100"), Paging::NextString, false),
        s(layout::SERVICE_IDS, &b.iam, format!("/v1/serviceids/?account_id={id}&include_history=true&pagesize=100"), Paging::NextString, false),
        s(layout::GROUPS, &b.iam, format!("/v2/groups?account_id={id}&limit=100"), Paging::NextHref, false),
        s(layout::POLICIES, &b.iam, format!("/v2/policies?account_id={id}&type=access&limit=100"), Paging::NextHref, false),
        s(layout::RESOURCE_GROUPS, &b.resource_manager, format!("/v2/resource_groups?account_id={id}"), Paging::Single, false),
        s(layout::CLUSTERS, &b.containers, "/global/v2/getClusters".into(), Paging::Single, true),
        s(layout::CLASSIC_USERS, &b.softlayer, "/rest/v3.1/SoftLayer_Account/getUsers.json?objectMask=mask%5Bid%2CparentId%2CiamId%2CapiAuthenticationKeys.id%5D".into(), Paging::Single, true),
    ]
}

/// Fetch every account with the API key; with `save_raw`, write the responses there.
pub fn fetch(
    api_key: &str,
    accounts: &[String],
    opts: &FetchOptions,
    save_raw: Option<&Path>,
) -> Result<Fetched, FetchError> {
    let bases = opts.bases();
    let mut client = Client::new(api_key, &bases, opts);
    let mut out = Fetched::default();
    let ids: BTreeSet<&String> = accounts.iter().collect();
    for id in ids {
        let mut files = BTreeMap::new();
        for src in sources(&bases, id) {
            let headers = [("X-Auth-Resource-Account", id.as_str())];
            match client.pages(&src.base, &src.path, src.paging, &headers)? {
                Ok(v) => {
                    files.insert(src.file, v);
                }
                Err((_, why)) if src.optional => out
                    .skipped
                    .push(format!("{id}/{}: not fetched: {why}", src.file)),
                Err((_, why)) => return Err(client.fail(why)),
            }
        }
        members(&mut client, &bases, &mut files)?;
        out.accounts.push((id.clone(), files));
    }
    if let Some(dir) = save_raw {
        out.save(dir)
            .map_err(|e| client.fail(format!("--save-raw {}: {e}", dir.display())))?;
    }
    Ok(out)
}

/// The members of every access group the account lists (the Public Access group's are
/// implicit: every identity).
fn members(
    client: &mut Client,
    b: &Bases,
    files: &mut BTreeMap<String, Value>,
) -> Result<(), FetchError> {
    let mut ids: Vec<String> = Vec::new();
    if let Some(Value::Array(pages)) = files.get(layout::GROUPS) {
        for p in pages {
            for g in p
                .get("groups")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(id) = g
                    .get("id")
                    .and_then(Value::as_str)
                    .filter(|id| *id != super::map::PUBLIC_ACCESS)
                {
                    ids.push(id.to_string());
                }
            }
        }
    }
    for gid in ids {
        let path = format!("/v2/groups/{gid}/members?limit=100");
        match client.pages(&b.iam, &path, Paging::NextHref, &[])? {
            Ok(v) => {
                files.insert(format!("{}/{gid}.json", layout::MEMBERS_DIR), v);
            }
            Err((_, why)) => return Err(client.fail(why)),
        }
    }
    Ok(())
}
