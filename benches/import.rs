//! How long `keyward import --from` takes on a large export: 10,000 users over two accounts
//! (1,000 in both), 20,000 user API keys, 400 service IDs with their keys and history, 100
//! access groups of 100 members, 4,000 policies, 40 clusters — every list in pages of 100, as
//! IBM's APIs return them. The export is generated into a temporary folder (not committed).
//!
//! `cargo bench --bench import` (add `--profile dev` on a shared machine); set
//! `KEYWARD_IMPORT_USERS` for another size.

use serde_json::{Value, json};
use std::path::Path;
use std::time::Instant;

const ACCOUNTS: [&str; 2] = [
    "4f1c2a9b8e7d4c3ba1f0e9d8c7b6a501",
    "9d8e7f6a5b4c4d3e8f2a1b0c9d8e7f02",
];

fn write(dir: &Path, rel: &str, v: &Value) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, v.to_string()).expect("write");
}

/// Pages of 100 under `wrapper`, in IAM Identity's style.
fn pages(wrapper: &str, items: Vec<Value>) -> Value {
    let chunks: Vec<Value> = items
        .chunks(100)
        .map(|c| json!({ wrapper: c, "next": "https://iam.cloud.ibm.com/next" }))
        .collect();
    Value::Array(if chunks.is_empty() {
        vec![json!({ wrapper: [] })]
    } else {
        chunks
    })
}

fn uid(i: usize) -> String {
    format!("IBMid-{i:010}")
}

fn generate(dir: &Path, users: usize) {
    let per = users / 2 + users / 20; // a tenth of the users are in both accounts
    for (a, acct) in ACCOUNTS.iter().enumerate() {
        let members: Vec<usize> = (0..per).map(|i| (a * (users - per) + i) % users).collect();
        let d = dir.join(acct);
        let owner = uid(members[0]);
        write(
            &d,
            "account.json",
            &json!({"id": acct, "name": format!("Account {a}"), "owner_iamid": owner}),
        );
        write(
            &d,
            "identity-settings.json",
            &json!({"restrict_create_platform_apikey": "RESTRICTED"}),
        );
        let us: Vec<Value> = members.iter().map(|&i| json!({"iam_id": uid(i), "user_id": format!("user{i}@example.com"), "email": format!("user{i}@example.com"), "firstname": "User", "lastname": format!("{i}"), "state": "ACTIVE", "account_id": acct})).collect();
        write(&d, "users.json", &pages("resources", us));
        let keys: Vec<Value> = members.iter().flat_map(|&i| (0..2).map(move |k| (i, k))).map(|(i, k)| json!({"id": format!("ApiKey-{a}-{i}-{k}"), "iam_id": uid(i), "account_id": acct, "created_by": uid(i), "name": format!("key-{k}"), "locked": false, "created_at": "2024-05-28T14:14+0000", "expires_at": "2027-05-28T14:14+0000", "entity_tag": "1-d97ba8e50dd7f9ee0c87b17b295c631d", "apikey": "", "crn": "crn"})).collect();
        write(&d, "apikeys.json", &pages("apikeys", keys));
        let sids: Vec<Value> = (0..200).map(|s| json!({"id": format!("ServiceId-{a}-{s}"), "iam_id": format!("iam-ServiceId-{a}-{s}"), "account_id": acct, "name": format!("sid-{s}"), "history": [{"timestamp": "2023-10-16T10:36+0000", "iam_id": uid(members[s % per]), "action": "iam-identity.account-serviceid.create"}]})).collect();
        write(&d, "serviceids.json", &pages("serviceids", sids));
        let skeys: Vec<Value> = (0..200).map(|s| json!({"id": format!("ApiKey-{a}-sid-{s}"), "iam_id": format!("iam-ServiceId-{a}-{s}"), "account_id": acct, "created_by": uid(members[s % per]), "name": "deploy", "locked": false, "apikey": "", "crn": "crn"})).collect();
        write(&d, "serviceid-apikeys.json", &pages("apikeys", skeys));
        let groups: Vec<Value> = (0..50)
            .map(|g| json!({"id": format!("AccessGroupId-{a}-{g}"), "name": format!("group-{g}")}))
            .collect();
        for g in 0..50 {
            let m: Vec<Value> = (0..100)
                .map(|j| json!({"iam_id": uid(members[(g * 100 + j) % per]), "type": "user"}))
                .collect();
            write(
                &d,
                &format!("access-group-members/AccessGroupId-{a}-{g}.json"),
                &json!({"members": m}),
            );
        }
        write(&d, "access-groups.json", &json!({"groups": groups}));
        let roles = ["Administrator", "Operator", "Editor", "Viewer"];
        let policies: Vec<Value> = (0..2000).map(|p| {
            let (key, subject) = if p % 2 == 0 { ("access_group_id", format!("AccessGroupId-{a}-{}", p % 50)) } else { ("iam_id", uid(members[p % per])) };
            let service = ["iam-identity", "containers-kubernetes", "user-management", "cloud-object-storage"][p % 4];
            json!({"id": format!("policy-{a}-{p}"), "type": "access", "subject": {"attributes": [{"key": key, "operator": "stringEquals", "value": subject}]},
                   "resource": {"attributes": [{"key": "accountId", "operator": "stringEquals", "value": acct}, {"key": "serviceName", "operator": "stringEquals", "value": service}]},
                   "control": {"grant": {"roles": [{"role_id": format!("crn:v1:bluemix:public:iam::::role:{}", roles[p % 4])}]}}, "state": "active"})
        }).collect();
        write(&d, "policies.json", &pages("policies", policies));
        write(
            &d,
            "resource-groups.json",
            &json!({"resources": [{"id": format!("rg-{a}"), "name": "Default", "default": true}]}),
        );
        let clusters: Vec<Value> = (0..20).map(|c| (c, ["us-south", "eu-de"][c % 2])).map(|(c, region)| json!({"id": format!("cluster-{a}-{c}"), "name": format!("c{c}"), "region": region, "resourceGroup": format!("rg-{a}"), "addons": []})).collect();
        write(&d, "clusters.json", &Value::Array(clusters));
    }
}

fn main() {
    let users: usize = std::env::var("KEYWARD_IMPORT_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().expect("tempdir");
    generate(dir.path(), users);
    let roles = keyward::decide::policy::load(&Default::default())
        .expect("policies")
        .roles;
    let mut best = f64::MAX;
    let mut counts = String::new();
    for _ in 0..3 {
        let t = Instant::now();
        let imported = keyward::import::import_dir(dir.path(), None, &roles).expect("import");
        best = best.min(t.elapsed().as_secs_f64());
        counts = imported
            .summary
            .to_text()
            .lines()
            .next()
            .unwrap_or("")
            .to_string();
    }
    println!("{counts}");
    println!("import of a {users}-user export: {best:.2} s (best of 3, read + map + validate)");
}
