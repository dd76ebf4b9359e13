//! `keyward import --fetch` against a real HTTP server on 127.0.0.1 that the test starts,
//! serving the shipped export (fixtures/ibmcloud/export) in IBM's page styles — IAM Identity's
//! `next` URL, Access Groups' `next.href`, Policy Management's `next.start`, User Management's
//! relative `next_url` — with a 429, a 500 then success, and a token that expires mid-way. The
//! fetched world must be the `--from` world; `--save-raw` must replay to it; the API key and
//! the token never appear in an error.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PROD: &str = "4f1c2a9b8e7d4c3ba1f0e9d8c7b6a501";
const DEV: &str = "9d8e7f6a5b4c4d3e8f2a1b0c9d8e7f02";
const API_KEY: &str = "test-api-key-0123456789abcdefghijklmnopqrstuv";

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    headers: BTreeMap<String, String>,
    body: String,
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

fn reply(status: u16, body: Value) -> Reply {
    Reply {
        status,
        headers: vec![],
        body: body.to_string(),
    }
}

type Handler = dyn Fn(&Seen, &mut State) -> Reply + Send + Sync;

/// What the server remembers between requests.
#[derive(Default)]
struct State {
    seen: Vec<Seen>,
    tokens_issued: usize,
    faults_done: BTreeMap<String, usize>,
    gets_with_first_token: usize,
}

struct Server {
    base: String,
    state: Arc<Mutex<State>>,
}

fn read_request(stream: &mut TcpStream) -> Option<Seen> {
    let mut r = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(Seen {
        method,
        target,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn start(handler: Arc<Handler>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let state = Arc::new(Mutex::new(State::default()));
    let st = state.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let Some(seen) = read_request(&mut stream) else {
                continue;
            };
            let r = {
                let mut s = st.lock().expect("state");
                s.seen.push(seen.clone());
                handler(&seen, &mut s)
            };
            let mut head = format!(
                "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
                r.status,
                r.body.len()
            );
            for (k, v) in &r.headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(r.body.as_bytes());
        }
    });
    Server { base, state }
}

fn export_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/ibmcloud/export")
}

fn file(account: &str, rel: &str) -> Value {
    let text = std::fs::read_to_string(export_dir().join(account).join(rel))
        .unwrap_or_else(|e| panic!("{rel}: {e}"));
    serde_json::from_str(&text).expect("json")
}

/// The items of a fixture file, whatever its shape.
fn items(account: &str, rel: &str, wrapper: &str) -> Vec<Value> {
    match file(account, rel) {
        Value::Array(list) if list.first().is_some_and(|p| p.get(wrapper).is_some()) => list
            .iter()
            .flat_map(|p| p[wrapper].as_array().cloned().unwrap_or_default())
            .collect(),
        Value::Array(list) => list,
        v => v[wrapper].as_array().cloned().unwrap_or_default(),
    }
}

fn query(target: &str, key: &str) -> Option<String> {
    let q = target.split_once('?')?.1;
    q.split('&')
        .find_map(|p| p.strip_prefix(&format!("{key}=")).map(str::to_string))
}

/// Two items per page; `next` is where the following page is, in the service's style.
fn page(
    list: &[Value],
    at: usize,
    wrapper: &str,
    next: impl Fn(usize) -> Value,
    next_key: &str,
) -> Value {
    let end = (at + 2).min(list.len());
    let mut p = json!({ wrapper: list[at.min(list.len())..end].to_vec() });
    if end < list.len() {
        p[next_key] = next(end);
    }
    p
}

/// The IBM-shaped responses for the shipped export.
fn ibm(base: String) -> Arc<Handler> {
    Arc::new(move |req: &Seen, st: &mut State| {
        let t = req.target.as_str();
        let path = t.split('?').next().unwrap_or("");
        if req.method == "POST" && path == "/identity/token" {
            st.tokens_issued += 1;
            return reply(
                200,
                json!({"access_token": format!("tok-{}", st.tokens_issued), "token_type": "Bearer", "expires_in": 3600}),
            );
        }
        let auth = req
            .headers
            .get("authorization")
            .cloned()
            .unwrap_or_default();
        if auth == "Bearer tok-1" {
            st.gets_with_first_token += 1;
            if st.gets_with_first_token > 6 {
                return reply(
                    401,
                    json!({"errorCode": "BXNIM0408E", "errorMessage": "Provided token expired"}),
                );
            }
        } else if auth != "Bearer tok-2" {
            return reply(401, json!({"errorMessage": "no token"}));
        }
        let mut fault = |key: &str, times: usize| {
            let n = st.faults_done.entry(key.to_string()).or_default();
            *n += 1;
            *n <= times
        };
        let acct = query(t, "account_id")
            .or_else(|| req.headers.get("x-auth-resource-account").cloned())
            .unwrap_or_default();
        let at = |k: &str| {
            query(t, k)
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0)
        };
        let b = base.clone();
        match path {
            p if p.starts_with("/v4/accounts/") => reply(200, file(&p[13..], "account.json")),
            p if p.starts_with("/v1/accounts/") => reply(
                200,
                file(p.split('/').nth(3).unwrap_or(""), "identity-settings.json"),
            ),
            p if p.starts_with("/v2/accounts/") => {
                let a = p.split('/').nth(3).unwrap_or("").to_string();
                let list = items(&a, "users.json", "resources");
                reply(
                    200,
                    page(
                        &list,
                        at("_start"),
                        "resources",
                        |n| json!(format!("/v2/accounts/{a}/users?limit=100&_start={n}")),
                        "next_url",
                    ),
                )
            }
            "/v1/apikeys" => {
                let kind = query(t, "type").unwrap_or_default();
                let rel = if kind == "user" {
                    "apikeys.json"
                } else {
                    "serviceid-apikeys.json"
                };
                if acct == PROD && kind == "user" && at("pagetoken") == 2 && fault("429", 1) {
                    return Reply {
                        status: 429,
                        headers: vec![("Retry-After".into(), "0".into())],
                        body: "{\"errorMessage\":\"Too many requests\"}".into(),
                    };
                }
                if acct == DEV && kind == "serviceid" && fault("500", 1) {
                    return reply(500, json!({"errorMessage": "internal error"}));
                }
                let list = items(&acct, rel, "apikeys");
                let tq = t.split("&pagetoken=").next().unwrap_or(t).to_string();
                reply(
                    200,
                    page(
                        &list,
                        at("pagetoken"),
                        "apikeys",
                        |n| json!(format!("https://iam.cloud.ibm.com{tq}&pagetoken={n}")),
                        "next",
                    ),
                )
            }
            "/v1/serviceids/" => {
                let list = items(&acct, "serviceids.json", "serviceids");
                let tq = t.split("&pagetoken=").next().unwrap_or(t).to_string();
                reply(
                    200,
                    page(
                        &list,
                        at("pagetoken"),
                        "serviceids",
                        |n| json!(format!("{b}{tq}&pagetoken={n}")),
                        "next",
                    ),
                )
            }
            "/v2/groups" => {
                let list = items(&acct, "access-groups.json", "groups");
                reply(
                    200,
                    page(
                        &list,
                        at("offset"),
                        "groups",
                        |n| json!({"href": format!("{b}/v2/groups?account_id={acct}&limit=100&offset={n}")}),
                        "next",
                    ),
                )
            }
            p if p.starts_with("/v2/groups/") => {
                let gid = p.split('/').nth(3).unwrap_or("");
                let a = [PROD, DEV]
                    .into_iter()
                    .find(|a| {
                        export_dir()
                            .join(a)
                            .join(format!("access-group-members/{gid}.json"))
                            .exists()
                    })
                    .unwrap_or(PROD);
                let list = items(a, &format!("access-group-members/{gid}.json"), "members");
                reply(
                    200,
                    page(
                        &list,
                        at("offset"),
                        "members",
                        |n| json!({"href": format!("{b}/v2/groups/{gid}/members?limit=100&offset={n}")}),
                        "next",
                    ),
                )
            }
            "/v2/policies" => {
                let list = items(&acct, "policies.json", "policies");
                let start = query(t, "start")
                    .and_then(|s| s.strip_prefix("tok").and_then(|n| n.parse().ok()))
                    .unwrap_or(0);
                reply(
                    200,
                    page(
                        &list,
                        start,
                        "policies",
                        |n| json!({"start": format!("tok{n}")}),
                        "next",
                    ),
                )
            }
            "/v2/resource_groups" => reply(200, file(&acct, "resource-groups.json")),
            "/global/v2/getClusters" => reply(200, file(&acct, "clusters.json")),
            "/rest/v3.1/SoftLayer_Account/getUsers.json" => {
                reply(200, file(&acct, "classic-users.json"))
            }
            _ => reply(404, json!({"error": format!("no route {t}")})),
        }
    })
}

fn fast() -> keyward::import::fetch::FetchOptions {
    keyward::import::fetch::FetchOptions {
        backoff: Duration::from_millis(5),
        ..Default::default()
    }
}

fn from_world() -> String {
    let roles = keyward::decide::policy::load(&Default::default())
        .expect("policies")
        .roles;
    keyward::import::import_dir(&export_dir(), None, &roles)
        .expect("import --from")
        .yaml
}

#[test]
fn fetch_follows_every_page_style_retries_and_renews_the_token_to_the_from_world() {
    let server = start_ibm();
    let mut opts = fast();
    opts.api_base = Some(server.base.clone());
    let raw = tempfile::tempdir().expect("tempdir");
    let fetched = keyward::import::fetch::fetch(
        API_KEY,
        &[DEV.to_string(), PROD.to_string()],
        &opts,
        Some(raw.path()),
    )
    .expect("fetch");
    let roles = keyward::decide::policy::load(&Default::default())
        .expect("policies")
        .roles;
    let world = keyward::import::import(&fetched.export().expect("export"), None, &roles)
        .expect("import")
        .yaml;
    assert_eq!(world, from_world(), "the fetched world is the --from world");

    // --save-raw wrote the --from layout: replaying it offline gives the same world.
    let replay = keyward::import::import_dir(raw.path(), None, &roles)
        .expect("replay")
        .yaml;
    assert_eq!(replay, world);
    assert!(raw.path().join(PROD).join("access-group-members").is_dir());

    let st = server.state.lock().expect("state");
    assert_eq!(
        st.tokens_issued, 2,
        "the expired token was exchanged again, once"
    );
    assert_eq!(
        st.faults_done.get("429"),
        Some(&2),
        "the 429 page was asked again"
    );
    assert_eq!(st.faults_done.get("500"), Some(&2), "the 500 was retried");
    let token_posts: Vec<&Seen> = st.seen.iter().filter(|s| s.method == "POST").collect();
    assert!(
        token_posts.iter().all(|s| s
            .body
            .contains("grant_type=urn%3Aibm%3Aparams%3Aoauth%3Agrant-type%3Aapikey")),
        "{token_posts:?}"
    );
    // The key goes only in the token exchange's body; no URL holds a key or a token.
    for s in st.seen.iter() {
        assert!(
            !s.target.contains(API_KEY) && !s.target.contains("tok-"),
            "{}",
            s.target
        );
        if s.method == "GET" {
            assert!(!s.body.contains(API_KEY) && !s.headers.values().any(|v| v.contains(API_KEY)));
        }
    }
    // Every page was read: User Management's relative next_url, Policy Management's start token.
    assert!(
        st.seen
            .iter()
            .any(|s| s.target.contains("/users?limit=100&_start=2"))
    );
    assert!(
        st.seen
            .iter()
            .any(|s| s.target.contains("/v2/policies?") && s.target.contains("start=tok2"))
    );
    // The absolute `next` naming iam.cloud.ibm.com was read from --api-base, not that host.
    assert!(
        st.seen
            .iter()
            .any(|s| s.target.contains("type=user") && s.target.contains("pagetoken=4"))
    );
}

fn start_ibm() -> Server {
    // The handler learns its base after binding: a shared cell filled once the server runs.
    let base = Arc::new(Mutex::new(String::new()));
    let b2 = base.clone();
    let server = start(Arc::new(move |req: &Seen, st: &mut State| {
        let b = b2.lock().expect("base").clone();
        ibm(b)(req, st)
    }));
    *base.lock().expect("base") = server.base.clone();
    server
}

#[test]
fn the_binary_fetches_with_the_key_from_the_environment_only() {
    let server = start_ibm();
    let raw = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args([
            "import",
            "--fetch",
            "--account",
            PROD,
            "--account",
            DEV,
            "--api-base",
            &server.base,
            "--save-raw",
        ])
        .arg(raw.path())
        .env("IBMCLOUD_API_KEY", API_KEY)
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stdout, from_world());
    assert!(
        !stderr.contains(API_KEY) && !stderr.contains("tok-"),
        "{stderr}"
    );
    assert!(raw.path().join(DEV).join("policies.json").is_file());

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args([
            "import",
            "--fetch",
            "--account",
            PROD,
            "--api-base",
            &server.base,
        ])
        .env_remove("IBMCLOUD_API_KEY")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("IBMCLOUD_API_KEY"));
}

#[test]
fn errors_never_hold_the_api_key_or_the_token() {
    // The token endpoint refuses the key and echoes it back.
    let server = start(Arc::new(|req: &Seen, _st: &mut State| {
        reply(
            400,
            json!({"errorMessage": format!("bad key: {}", req.body)}),
        )
    }));
    let mut opts = fast();
    opts.api_base = Some(server.base.clone());
    let e = keyward::import::fetch::fetch(API_KEY, &[PROD.to_string()], &opts, None)
        .expect_err("refused")
        .to_string();
    assert!(
        e.contains("the API key was refused") && e.contains("HTTP 400"),
        "{e}"
    );
    assert!(!e.contains(API_KEY), "{e}");
    assert!(e.contains("[redacted]"), "the echo is redacted: {e}");

    // A service refuses the token and echoes the Authorization header.
    let server = start(Arc::new(|req: &Seen, _st: &mut State| {
        if req.method == "POST" {
            return reply(200, json!({"access_token": "secret-token-value-42"}));
        }
        reply(
            403,
            json!({"errorMessage": format!("forbidden for {}", req.headers.get("authorization").cloned().unwrap_or_default())}),
        )
    }));
    opts.api_base = Some(server.base.clone());
    let e = keyward::import::fetch::fetch(API_KEY, &[PROD.to_string()], &opts, None)
        .expect_err("forbidden")
        .to_string();
    assert!(e.contains("HTTP 403"), "{e}");
    assert!(
        !e.contains("secret-token-value-42") && !e.contains(API_KEY),
        "{e}"
    );

    // Always failing: it gives up after the attempts, saying so.
    let server = start(Arc::new(|req: &Seen, _st: &mut State| {
        if req.method == "POST" {
            return reply(200, json!({"access_token": "token-abc-123"}));
        }
        reply(503, json!({"errorMessage": "down"}))
    }));
    opts.api_base = Some(server.base.clone());
    opts.attempts = 3;
    let e = keyward::import::fetch::fetch(API_KEY, &[PROD.to_string()], &opts, None)
        .expect_err("down")
        .to_string();
    assert!(
        e.contains("gave up after 3 attempts") && e.contains("HTTP 503"),
        "{e}"
    );
    assert_eq!(
        server
            .state
            .lock()
            .expect("state")
            .seen
            .iter()
            .filter(|s| s.method == "GET")
            .count(),
        3
    );
}
