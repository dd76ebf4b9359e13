//! Decision tests for every rule of docs/rules.md (R1-R25) and conflict (C1-C3): at least
//! one allow and one deny each, named after the rule. Each deny states whether a forbid (and
//! which) determined it or nothing permitted it. Most cases run on fixtures/acme.yaml (see its
//! header for who holds what); the rest on small worlds written here.

use keyward::cli::{Common, load_engine};
use keyward::decide::engine::{Decision, Engine, Verdict};
use keyward::decide::policy::{self, PolicyOptions};
use keyward::decide::request::RequestSpec;
use keyward::report::decision_text;
use keyward::world::parse_world;
use std::path::PathBuf;
use std::sync::OnceLock;

fn acme() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| with_variant(None))
}

fn with_variant(variant: Option<&str>) -> Engine {
    let common = Common {
        world: Some(PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/acme.yaml"
        ))),
        policy: PolicyOptions {
            variants: variant.into_iter().map(String::from).collect(),
            ..Default::default()
        },
        ..Default::default()
    };
    load_engine(&common).expect("acme loads")
}

fn world(src: &str) -> Engine {
    let bundle = policy::load(&PolicyOptions::default()).expect("shipped policies load");
    let w = parse_world("test.yaml", src, &bundle.roles).unwrap_or_else(|p| panic!("{p}"));
    Engine::new(bundle, w).expect("entities")
}

fn spec(p: &str, a: &str, r: &str, args: &[(&str, &str)]) -> RequestSpec {
    RequestSpec::new(p, a, r, args)
}

fn decide(e: &Engine, s: &RequestSpec) -> Decision {
    e.decide(s)
        .unwrap_or_else(|p| panic!("bad request {s:?}: {p}"))
}

/// Allowed, by (at least) the named permit.
fn allow(e: &Engine, s: RequestSpec, by: &str) {
    let d = decide(e, &s);
    assert_eq!(
        d.decision,
        Verdict::Allow,
        "expected allow:\n{}",
        decision_text(&d)
    );
    assert!(
        d.reasons.iter().any(|r| r.policy == by),
        "expected {by} among the reasons:\n{}",
        decision_text(&d)
    );
}

/// Denied by the named forbid.
fn forbidden(e: &Engine, s: RequestSpec, by: &str) {
    let d = decide(e, &s);
    assert_eq!(
        d.decision,
        Verdict::Deny,
        "expected deny:\n{}",
        decision_text(&d)
    );
    assert!(
        d.reasons.iter().any(|r| r.policy == by),
        "expected forbid {by}:\n{}",
        decision_text(&d)
    );
    assert!(d.errors.is_empty(), "{:?}", d.errors);
}

/// Denied, whatever determined it.
fn denied(e: &Engine, s: RequestSpec) {
    let d = decide(e, &s);
    assert_eq!(
        d.decision,
        Verdict::Deny,
        "expected deny:\n{}",
        decision_text(&d)
    );
}

/// Denied because no policy permits it (no forbid involved).
fn not_permitted(e: &Engine, s: RequestSpec) {
    let d = decide(e, &s);
    assert_eq!(
        d.decision,
        Verdict::Deny,
        "expected deny:\n{}",
        decision_text(&d)
    );
    assert!(
        d.reasons.is_empty(),
        "expected no determining policy:\n{}",
        decision_text(&d)
    );
    assert!(d.errors.is_empty(), "{:?}", d.errors);
}

// ---- Accounts and roles ----

#[test]
fn r1_default_deny_without_role() {
    let e = acme();
    not_permitted(e, spec("nora", "api-key-get", "key-kate-1", &[]));
    not_permitted(e, spec("nora", "ks-api-key-info", "us-prod-1", &[]));
    allow(
        e,
        spec("ivan", "api-key-get", "key-kate-1", &[]),
        "iam-admin-manages-user-keys",
    );
}

#[test]
fn r2_owner_is_implicit_administrator() {
    let e = acme();
    allow(
        e,
        spec("alice", "api-key-delete", "key-kate-1", &[]),
        "owner-manages-user-keys",
    );
    allow(
        e,
        spec("alice", "account-settings-update", "acme", &[]),
        "owner-updates-account-settings",
    );
    allow(
        e,
        spec("alice", "ks-api-key-info", "eu-batch-1", &[]),
        "owner-views-cluster-key",
    );
    allow(
        e,
        spec("alice", "api-key-create", "nora-bot", &[]),
        "owner-manages-service-id-keys",
    );
    allow(
        e,
        spec("alice", "user-remove", "dana", &[]),
        "owner-removes-users",
    );
    // Only of its own account.
    not_permitted(e, spec("gina", "api-key-delete", "key-kate-1", &[]));
    not_permitted(e, spec("alice", "ks-api-key-info", "gx-web-1", &[]));
}

#[test]
fn r2_owner_not_exempt_from_restriction() {
    forbidden(
        acme(),
        spec("alice", "api-key-create", "alice", &[]),
        "restriction-needs-creator",
    );
}

#[test]
fn r3_access_group_members_inherit_roles() {
    let e = acme();
    // kate holds "User API key creator" only through key-creators.
    allow(
        e,
        spec("kate", "api-key-create", "kate", &[]),
        "own-user-key-create",
    );
    forbidden(
        e,
        spec("nora", "api-key-create", "nora", &[]),
        "restriction-needs-creator",
    );
    // kim holds Kubernetes Administrator in us-south only through platform-us.
    allow(
        e,
        spec("kim", "ks-api-key-info", "us-batch-1", &[]),
        "cluster-key-info",
    );
    not_permitted(e, spec("kim", "ks-api-key-info", "eu-prod-1", &[]));
}

// ---- User API keys ----

#[test]
fn r4_members_create_their_own_keys() {
    let e = acme();
    allow(
        e,
        spec("kate", "api-key-create", "kate", &[]),
        "own-user-key-create",
    );
    allow(
        e,
        spec("pat", "api-key-create", "pat", &[("account", "globex")]),
        "own-user-key-create",
    );
    // Nobody creates a user API key for another user, not even an administrator.
    not_permitted(e, spec("kate", "api-key-create", "kim", &[]));
    // fred holds the creator role, so no forbid is involved: nothing permits it.
    not_permitted(e, spec("fred", "api-key-create", "kate", &[]));
    denied(e, spec("ivan", "api-key-create", "kate", &[]));
    // Not in an account one is not a member of (acme's restriction forbids it as well).
    denied(
        e,
        spec("gina", "api-key-create", "gina", &[("account", "acme")]),
    );
    let e2 = world(
        "accounts: [{id: a, owner: o}, {id: b, owner: o}]\nusers: [{id: o, accounts: [a, b]}, {id: u, accounts: [a]}]\n",
    );
    allow(
        &e2,
        spec("u", "api-key-create", "u", &[("account", "a")]),
        "own-user-key-create",
    );
    not_permitted(&e2, spec("u", "api-key-create", "u", &[("account", "b")]));
}

#[test]
fn r5_own_keys_managed_without_role() {
    let e = acme();
    for a in [
        "api-key-get",
        "api-key-update",
        "api-key-delete",
        "api-key-lock",
        "api-key-disable",
        "api-key-enable",
    ] {
        allow(e, spec("dana", a, "key-dana-1", &[]), "own-user-key-manage");
    }
    allow(
        e,
        spec("ivan", "api-key-unlock", "key-ivan-1", &[]),
        "own-user-key-manage",
    );
    not_permitted(e, spec("dana", "api-key-delete", "key-kate-1", &[]));
    not_permitted(e, spec("dana", "api-key-get", "key-carl-old", &[]));
}

#[test]
fn r6_other_users_keys_need_iam_administrator() {
    let e = acme();
    allow(
        e,
        spec("ivan", "api-key-delete", "key-kate-1", &[]),
        "iam-admin-manages-user-keys",
    );
    allow(
        e,
        spec("ivan", "api-key-update", "key-pat-acme", &[]),
        "iam-admin-manages-user-keys",
    );
    // Operator and Editor do not suffice for user keys of others.
    not_permitted(e, spec("olga", "api-key-delete", "key-kate-1", &[]));
    not_permitted(e, spec("eddie", "api-key-update", "key-kate-1", &[]));
    not_permitted(e, spec("vera", "api-key-get", "key-kate-1", &[]));
    // Managed where it was created: acme's administrator has no say over pat's globex key.
    not_permitted(e, spec("ivan", "api-key-get", "key-pat-globex", &[]));
}

#[test]
fn r7_restriction_needs_creator_role() {
    let e = acme();
    forbidden(
        e,
        spec("nora", "api-key-create", "nora", &[]),
        "restriction-needs-creator",
    );
    forbidden(
        e,
        spec("ivan", "api-key-create", "ivan", &[]),
        "restriction-needs-creator",
    );
    allow(
        e,
        spec("fred", "api-key-create", "fred", &[]),
        "own-user-key-create",
    );
    // globex is NOT_SET: not restricted.
    allow(
        e,
        spec("gina", "api-key-create", "gina", &[]),
        "own-user-key-create",
    );
    // Never affects service ID keys.
    allow(
        e,
        spec("olga", "api-key-create", "ci-bot", &[]),
        "service-id-key-create",
    );
}

#[test]
fn r7_not_restricted_and_not_set_are_open() {
    for setting in ["NOT_RESTRICTED", "NOT_SET"] {
        let e = world(&format!(
            "accounts: [{{id: a, owner: o, restrict_user_api_key_creation: {setting}}}]\nusers: [{{id: o, accounts: [a]}}, {{id: u, accounts: [a]}}]\n"
        ));
        allow(
            &e,
            spec("u", "api-key-create", "u", &[]),
            "own-user-key-create",
        );
        allow(
            &e,
            spec("o", "api-key-create", "o", &[]),
            "own-user-key-create",
        );
    }
}

#[test]
fn r8_restriction_setting_needs_admin_operator_or_editor() {
    let e = acme();
    allow(
        e,
        spec(
            "ivan",
            "account-settings-update",
            "acme",
            &[("restrict_user_api_key_creation", "NOT_RESTRICTED")],
        ),
        "restriction-setting-update",
    );
    allow(
        e,
        spec("olga", "account-settings-update", "acme", &[]),
        "restriction-setting-update",
    );
    allow(
        e,
        spec("eddie", "account-settings-update", "acme", &[]),
        "restriction-setting-update",
    );
    not_permitted(e, spec("vera", "account-settings-update", "acme", &[]));
    not_permitted(e, spec("kate", "account-settings-update", "acme", &[]));
    // A service ID holding Operator only on itself does not hold it account-wide.
    not_permitted(e, spec("ci-bot", "account-settings-update", "acme", &[]));
}

#[test]
fn r9_trusted_profile_cannot_create_user_keys() {
    let e = acme();
    let mut s = spec("kate", "api-key-create", "kate", &[]);
    s.via_trusted_profile = true;
    forbidden(e, s, "trusted-profile-no-user-key");
    let mut s = spec("gina", "api-key-create", "gina", &[]);
    s.via_trusted_profile = true;
    forbidden(e, s, "trusted-profile-no-user-key");
    // Other keys can still be created and managed.
    let mut s = spec("olga", "api-key-create", "ci-bot", &[]);
    s.via_trusted_profile = true;
    allow(e, s, "service-id-key-create");
    let mut s = spec("kate", "api-key-delete", "key-kate-1", &[]);
    s.via_trusted_profile = true;
    allow(e, s, "own-user-key-manage");
}

fn keys_world(n: usize, kind: &str) -> String {
    let mut s = String::from(
        "accounts: [{id: a, owner: o}]\nusers: [{id: o, accounts: [a]}, {id: u, accounts: [a]}]\nservice_ids: [{id: s, account: a, created_by: o}]\napi_keys:\n",
    );
    for i in 0..n {
        // Disabled and obsolete keys count too.
        let extra = match i % 3 {
            0 => ", disabled: true",
            1 => ", obsolete: true",
            _ => ", expires_at: \"2020-01-01T00:00:00Z\"",
        };
        s.push_str(&format!("  - {{id: k{i}, identity: {kind}{extra}}}\n"));
    }
    s
}

#[test]
fn r10_at_most_twenty_keys_per_identity() {
    let e = world(&keys_world(19, "u"));
    allow(
        &e,
        spec("u", "api-key-create", "u", &[]),
        "own-user-key-create",
    );
    let e = world(&keys_world(20, "u"));
    forbidden(&e, spec("u", "api-key-create", "u", &[]), "key-limit");
    let e = world(&keys_world(19, "s"));
    allow(
        &e,
        spec("o", "api-key-create", "s", &[]),
        "owner-manages-service-id-keys",
    );
    let e = world(&keys_world(20, "s"));
    forbidden(&e, spec("o", "api-key-create", "s", &[]), "key-limit");
}

#[test]
fn r11_locked_key_cannot_be_updated_deleted_or_disabled() {
    let e = acme();
    for a in ["api-key-update", "api-key-delete", "api-key-disable"] {
        forbidden(e, spec("ivan", a, "key-ivan-1", &[]), "locked-key-frozen");
        forbidden(e, spec("alice", a, "key-ivan-1", &[]), "locked-key-frozen");
        forbidden(e, spec("olga", a, "key-ci-2", &[]), "locked-key-frozen");
    }
    // Unlock, lock, view and enable follow R5/R6/R17/R18.
    allow(
        e,
        spec("ivan", "api-key-unlock", "key-ivan-1", &[]),
        "own-user-key-manage",
    );
    allow(
        e,
        spec("alice", "api-key-unlock", "key-ivan-1", &[]),
        "owner-manages-user-keys",
    );
    allow(
        e,
        spec("olga", "api-key-unlock", "key-ci-2", &[]),
        "service-id-key-update",
    );
    allow(
        e,
        spec("ivan", "api-key-get", "key-ivan-1", &[]),
        "own-user-key-manage",
    );
    not_permitted(e, spec("kate", "api-key-unlock", "key-ivan-1", &[]));
}

#[test]
fn r13_expired_key_cannot_authenticate() {
    let e = acme();
    forbidden(
        e,
        spec("key-carl-old", "login", "acme", &[]),
        "expired-key-no-login",
    );
    allow(
        e,
        spec("key-alice-1", "login", "acme", &[]),
        "user-key-login",
    );
    // The same key once its expiry has passed.
    let mut s = spec("key-alice-1", "login", "acme", &[]);
    s.now = Some("2027-06-01T00:00:00Z".into());
    forbidden(e, s, "expired-key-no-login");
    let mut s = spec("key-alice-1", "login", "acme", &[]);
    s.now = Some("2027-05-31T23:59:59+02:00".into());
    allow(e, s, "user-key-login");
}

#[test]
fn r14_disabled_key_cannot_authenticate_until_enabled() {
    let e = acme();
    forbidden(
        e,
        spec("key-dana-1", "login", "acme", &[]),
        "disabled-key-no-login",
    );
    allow(
        e,
        spec("dana", "api-key-enable", "key-dana-1", &[]),
        "own-user-key-manage",
    );
    allow(
        e,
        spec("key-kate-1", "login", "acme", &[]),
        "user-key-login",
    );
}

#[test]
fn r16_user_key_works_in_every_account_of_its_user() {
    let e = acme();
    allow(
        e,
        spec("key-pat-acme", "login", "globex", &[]),
        "user-key-login",
    );
    allow(
        e,
        spec("key-pat-globex", "login", "acme", &[]),
        "user-key-login",
    );
    not_permitted(e, spec("key-kate-1", "login", "globex", &[]));
    // A service ID key only in its service ID's account.
    allow(
        e,
        spec("key-ci-1", "login", "acme", &[]),
        "service-id-key-login",
    );
    not_permitted(e, spec("key-ci-1", "login", "globex", &[]));
}

// ---- Service ID API keys ----

#[test]
fn r17_service_id_keys_follow_the_action_table() {
    let e = acme();
    allow(
        e,
        spec("olga", "api-key-create", "ci-bot", &[]),
        "service-id-key-create",
    );
    allow(
        e,
        spec("ivan", "api-key-create", "nora-bot", &[]),
        "service-id-key-create",
    );
    not_permitted(e, spec("eddie", "api-key-create", "ci-bot", &[]));
    for a in [
        "api-key-get",
        "api-key-update",
        "api-key-lock",
        "api-key-unlock",
        "api-key-disable",
        "api-key-enable",
    ] {
        allow(
            e,
            spec("eddie", a, "key-nora-bot-1", &[]),
            if a == "api-key-get" {
                "service-id-key-view"
            } else {
                "service-id-key-update"
            },
        );
        allow(
            e,
            spec("olga", a, "key-nora-bot-1", &[]),
            if a == "api-key-get" {
                "service-id-key-view"
            } else {
                "service-id-key-update"
            },
        );
    }
    allow(
        e,
        spec("olga", "api-key-delete", "key-ci-1", &[]),
        "service-id-key-delete",
    );
    not_permitted(e, spec("eddie", "api-key-delete", "key-ci-1", &[]));
    not_permitted(e, spec("vera", "api-key-get", "key-ci-1", &[]));
    // A binding scoped to one service ID covers that service ID only.
    allow(
        e,
        spec("ci-bot", "api-key-create", "ci-bot", &[]),
        "service-id-key-create",
    );
    not_permitted(e, spec("ci-bot", "api-key-create", "nora-bot", &[]));
    // Bindings of one account do not reach another's service IDs.
    not_permitted(e, spec("olga", "api-key-get", "key-deploy-1", &[]));
}

#[test]
fn r18_service_id_creator_and_owner_manage_its_keys() {
    let e = acme();
    allow(
        e,
        spec("nora", "api-key-create", "nora-bot", &[]),
        "service-id-creator-manages-keys",
    );
    allow(
        e,
        spec("nora", "api-key-delete", "key-nora-bot-1", &[]),
        "service-id-creator-manages-keys",
    );
    not_permitted(e, spec("nora", "api-key-get", "key-ci-1", &[]));
    not_permitted(e, spec("nora", "api-key-create", "ci-bot", &[]));
    allow(
        e,
        spec("alice", "api-key-delete", "key-nora-bot-1", &[]),
        "owner-manages-service-id-keys",
    );
    allow(
        e,
        spec("gina", "api-key-delete", "key-deploy-1", &[]),
        "owner-manages-service-id-keys",
    );
    not_permitted(e, spec("gina", "api-key-get", "key-ci-1", &[]));
}

/// R18: a creator keeps control of its service ID's keys only while a member of the service
/// ID's account; one who left (now a member of another account only) keeps nothing.
#[test]
fn r18_a_creator_who_left_the_account_keeps_nothing() {
    const ACTIONS: [&str; 7] = [
        "api-key-get",
        "api-key-update",
        "api-key-delete",
        "api-key-lock",
        "api-key-unlock",
        "api-key-disable",
        "api-key-enable",
    ];
    let src = "accounts: [{id: a, owner: o}, {id: b, owner: p}]\nusers: [{id: o, accounts: [a]}, {id: p, accounts: [b]}, {id: x, accounts: [XS]}]\nservice_ids: [{id: s, account: a, created_by: x}]\napi_keys: [{id: k, identity: s, etag: \"1\"}]\n";
    let args = |a: &str| -> Vec<(&'static str, &'static str)> {
        if a == "api-key-update" {
            vec![("etag", "*"), ("name", "n")]
        } else {
            vec![]
        }
    };
    let member = world(&src.replace("XS", "a, b"));
    allow(
        &member,
        spec("x", "api-key-create", "s", &[]),
        "service-id-creator-manages-keys",
    );
    for a in ACTIONS {
        allow(
            &member,
            spec("x", a, "k", &args(a)),
            "service-id-creator-manages-keys",
        );
    }
    let left = world(&src.replace("XS", "b"));
    not_permitted(&left, spec("x", "api-key-create", "s", &[]));
    for a in ACTIONS {
        not_permitted(&left, spec("x", a, "k", &args(a)));
    }
    // The owner of the service ID's account still manages its keys.
    allow(
        &left,
        spec("o", "api-key-delete", "k", &[]),
        "owner-manages-service-id-keys",
    );
}

// ---- Classic infrastructure API keys ----

#[test]
fn r19_one_classic_key_per_user_managed_by_its_user() {
    let e = acme();
    allow(
        e,
        spec("kate", "classic-api-key-create", "kate", &[]),
        "classic-own-key-create",
    );
    forbidden(
        e,
        spec("carl", "classic-api-key-create", "carl", &[]),
        "classic-one-key-per-user",
    );
    // pat holds one in globex, none in acme.
    allow(
        e,
        spec(
            "pat",
            "classic-api-key-create",
            "pat",
            &[("account", "acme")],
        ),
        "classic-own-key-create",
    );
    forbidden(
        e,
        spec(
            "pat",
            "classic-api-key-create",
            "pat",
            &[("account", "globex")],
        ),
        "classic-one-key-per-user",
    );
    allow(
        e,
        spec("carl", "classic-api-key-get", "carl", &[]),
        "classic-own-key-manage",
    );
    allow(
        e,
        spec("carl", "classic-api-key-delete", "carl", &[]),
        "classic-own-key-manage",
    );
    // Nobody creates a classic key for someone else.
    not_permitted(e, spec("ivan", "classic-api-key-create", "kate", &[]));
    not_permitted(e, spec("alice", "classic-api-key-create", "kate", &[]));
}

#[test]
fn r20_ancestors_view_and_delete_descendants_classic_keys() {
    let e = acme();
    // alice -> ivan -> carl -> dana: ivan is dana's grandparent.
    allow(
        e,
        spec("ivan", "classic-api-key-get", "dana", &[]),
        "classic-ancestor-manages",
    );
    allow(
        e,
        spec("ivan", "classic-api-key-delete", "dana", &[]),
        "classic-ancestor-manages",
    );
    allow(
        e,
        spec("carl", "classic-api-key-delete", "dana", &[]),
        "classic-ancestor-manages",
    );
    // Not upwards, not sideways.
    not_permitted(e, spec("dana", "classic-api-key-get", "carl", &[]));
    not_permitted(e, spec("olga", "classic-api-key-get", "dana", &[]));
    not_permitted(e, spec("kate", "classic-api-key-delete", "carl", &[]));
    // The owner may manage any classic key in the account.
    allow(
        e,
        spec("alice", "classic-api-key-delete", "carl", &[]),
        "classic-owner-manages",
    );
    not_permitted(
        e,
        spec(
            "alice",
            "classic-api-key-get",
            "pat",
            &[("account", "globex")],
        ),
    );
}

// ---- Kubernetes Service cluster API key ----

#[test]
fn r21_reset_without_resource_group_targets_the_default() {
    let e = acme();
    let d = decide(
        e,
        &spec(
            "fred",
            "ks-api-key-reset",
            "acme",
            &[("region", "us-south")],
        ),
    );
    assert_eq!(d.decision, Verdict::Allow, "{}", decision_text(&d));
    assert_eq!(
        d.args.get("resource_group").map(String::as_str),
        Some("default")
    );
    // ci-bot's Kubernetes binding covers us-south/default only.
    allow(
        e,
        spec(
            "ci-bot",
            "ks-api-key-reset",
            "acme",
            &[("region", "us-south")],
        ),
        "cluster-key-reset",
    );
    not_permitted(
        e,
        spec(
            "ci-bot",
            "ks-api-key-reset",
            "acme",
            &[("region", "us-south"), ("resource_group", "batch")],
        ),
    );
}

#[test]
fn r22_reset_needs_kubernetes_administrator_in_scope() {
    let e = acme();
    allow(
        e,
        spec(
            "fred",
            "ks-api-key-reset",
            "acme",
            &[("region", "eu-de"), ("resource_group", "batch")],
        ),
        "cluster-key-reset",
    );
    // vera (Kubernetes Viewer) is not permitted; as she lacks the creator role in the
    // restricted acme, the restriction forbids it too.
    denied(
        e,
        spec("vera", "ks-api-key-reset", "acme", &[("region", "eu-de")]),
    );
    // kate holds the creator role but no Kubernetes role.
    not_permitted(
        e,
        spec("kate", "ks-api-key-reset", "acme", &[("region", "eu-de")]),
    );
    denied(
        e,
        spec(
            "olga",
            "ks-api-key-reset",
            "acme",
            &[("region", "us-south")],
        ),
    );
    // A reset creates a user API key for the caller: R7 and R9 apply.
    forbidden(
        e,
        spec("kim", "ks-api-key-reset", "acme", &[("region", "us-south")]),
        "cluster-key-reset-restriction",
    );
    let mut s = spec(
        "fred",
        "ks-api-key-reset",
        "acme",
        &[("region", "us-south")],
    );
    s.via_trusted_profile = true;
    forbidden(e, s, "trusted-profile-no-cluster-key-reset");
    allow(
        e,
        spec(
            "pat",
            "ks-api-key-reset",
            "globex",
            &[("region", "us-east")],
        ),
        "cluster-key-reset",
    );
}

#[test]
fn r22_service_id_reset_needs_iam_operator() {
    let e = acme();
    allow(
        e,
        spec(
            "ci-bot",
            "ks-api-key-reset",
            "acme",
            &[("region", "us-south"), ("resource_group", "default")],
        ),
        "cluster-key-reset",
    );
    forbidden(
        e,
        spec(
            "nora-bot",
            "ks-api-key-reset",
            "acme",
            &[("region", "us-south")],
        ),
        "cluster-key-reset-service-id-needs-operator",
    );
    // Administrator on the IAM Identity Service alone does not suffice: roles are not hierarchical.
    let e = world(
        "accounts: [{id: a, owner: o}]\nusers: [{id: o, accounts: [a]}]\nservice_ids: [{id: s, account: a}]\nrole_bindings:\n  - {subject: s, account: a, service: containers-kubernetes, roles: [Administrator]}\n  - {subject: s, account: a, service: iam-identity, roles: [Administrator]}\n",
    );
    forbidden(
        &e,
        spec("s", "ks-api-key-reset", "a", &[("region", "r")]),
        "cluster-key-reset-service-id-needs-operator",
    );
}

#[test]
fn r22_reset_counts_against_the_key_limit() {
    let mut src = keys_world(20, "u");
    src.push_str("role_bindings: [{subject: u, account: a, service: containers-kubernetes, roles: [Administrator]}]\n");
    let e = world(&src);
    forbidden(
        &e,
        spec("u", "ks-api-key-reset", "a", &[("region", "r")]),
        "key-limit-cluster-reset",
    );
    let mut src = keys_world(3, "u");
    src.push_str("role_bindings: [{subject: u, account: a, service: containers-kubernetes, roles: [Administrator]}]\n");
    allow(
        &world(&src),
        spec("u", "ks-api-key-reset", "a", &[("region", "r")]),
        "cluster-key-reset",
    );
}

#[test]
fn r24_cluster_key_info_needs_a_kubernetes_role_in_scope() {
    let e = acme();
    allow(
        e,
        spec("vera", "ks-api-key-info", "eu-prod-1", &[]),
        "cluster-key-info",
    );
    not_permitted(e, spec("vera", "ks-api-key-info", "eu-batch-1", &[]));
    allow(
        e,
        spec("kim", "ks-api-key-info", "us-prod-2", &[]),
        "cluster-key-info",
    );
    allow(
        e,
        spec("ci-bot", "ks-api-key-info", "us-prod-1", &[]),
        "cluster-key-info",
    );
    not_permitted(e, spec("ci-bot", "ks-api-key-info", "us-batch-1", &[]));
    not_permitted(e, spec("ivan", "ks-api-key-info", "us-prod-1", &[]));
}

#[test]
fn r25_removing_users_needs_user_management_administrator() {
    let e = acme();
    allow(e, spec("ivan", "user-remove", "dana", &[]), "user-remove");
    allow(
        e,
        spec("ivan", "user-remove", "pat", &[("account", "acme")]),
        "user-remove",
    );
    not_permitted(
        e,
        spec("ivan", "user-remove", "pat", &[("account", "globex")]),
    );
    not_permitted(e, spec("olga", "user-remove", "dana", &[]));
    allow(
        e,
        spec("gina", "user-remove", "pat", &[("account", "globex")]),
        "owner-removes-users",
    );
    // The owner cannot be removed, not even by itself.
    forbidden(
        e,
        spec("ivan", "user-remove", "alice", &[]),
        "owner-cannot-be-removed",
    );
    forbidden(
        e,
        spec("alice", "user-remove", "alice", &[]),
        "owner-cannot-be-removed",
    );
}

// ---- Conflicts: each shipped variant flips our reading ----

#[test]
fn c1_editor_creates_service_id_keys_only_in_the_variant() {
    not_permitted(acme(), spec("eddie", "api-key-create", "ci-bot", &[]));
    let v = with_variant(Some("c1-editor-creates"));
    allow(
        &v,
        spec("eddie", "api-key-create", "ci-bot", &[]),
        "c1-editor-creates-service-id-keys",
    );
    not_permitted(&v, spec("vera", "api-key-create", "ci-bot", &[]));
}

#[test]
fn c2_operator_deletes_service_id_keys_except_in_the_variant() {
    allow(
        acme(),
        spec("olga", "api-key-delete", "key-ci-1", &[]),
        "service-id-key-delete",
    );
    let v = with_variant(Some("c2-only-admins-delete"));
    forbidden(
        &v,
        spec("olga", "api-key-delete", "key-ci-1", &[]),
        "c2-only-admins-delete",
    );
    allow(
        &v,
        spec("ivan", "api-key-delete", "key-ci-1", &[]),
        "service-id-key-delete",
    );
    allow(
        &v,
        spec("nora", "api-key-delete", "key-nora-bot-1", &[]),
        "service-id-creator-manages-keys",
    );
    allow(
        &v,
        spec("kate", "api-key-delete", "key-kate-1", &[]),
        "own-user-key-manage",
    );
}

#[test]
fn c3_viewer_views_service_id_keys_only_in_the_variant() {
    not_permitted(acme(), spec("vera", "api-key-get", "key-ci-1", &[]));
    let v = with_variant(Some("c3-viewer-views"));
    allow(
        &v,
        spec("vera", "api-key-get", "key-ci-1", &[]),
        "c3-viewer-views-service-id-keys",
    );
    not_permitted(&v, spec("vera", "api-key-get", "key-kate-1", &[]));
    not_permitted(&v, spec("vera", "api-key-update", "key-ci-1", &[]));
}

#[test]
fn org_variant_only_functional_ids_reset_cluster_keys() {
    allow(
        acme(),
        spec(
            "pat",
            "ks-api-key-reset",
            "globex",
            &[("region", "us-east")],
        ),
        "cluster-key-reset",
    );
    let v = with_variant(Some("functional-cluster-keys"));
    forbidden(
        &v,
        spec(
            "pat",
            "ks-api-key-reset",
            "globex",
            &[("region", "us-east")],
        ),
        "org-functional-cluster-keys",
    );
    allow(
        &v,
        spec(
            "fred",
            "ks-api-key-reset",
            "acme",
            &[("region", "us-south")],
        ),
        "cluster-key-reset",
    );
    allow(
        &v,
        spec(
            "ci-bot",
            "ks-api-key-reset",
            "acme",
            &[("region", "us-south")],
        ),
        "cluster-key-reset",
    );
}
