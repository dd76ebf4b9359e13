//! The fast audit equals the exhaustive one: the same allowed triples with the same reasons,
//! for the base policies, every shipped variant, and policy files whose shapes the fast path
//! cannot read (attributes the base never reads, string matching), on the example world and on
//! generated worlds.

use keyward::audit::{AuditOptions, audit, triple};
use keyward::decide::engine::{Decision, Engine, Verdict};
use keyward::decide::policy::{self, PolicyOptions, Source};
use keyward::decide::request::all_requests;
use std::collections::BTreeMap;
use std::path::Path;

fn engine(world_src: &str, variant: Option<&str>, extra: Option<&str>) -> Engine {
    let opts = PolicyOptions {
        variants: variant.into_iter().map(String::from).collect(),
        ..Default::default()
    };
    let (schema, mut sources) = policy::gather_sources(&opts).expect("policies");
    if let Some(x) = extra {
        sources.push(Source {
            name: "extra.cedar".into(),
            text: x.into(),
        });
    }
    let bundle = policy::build(schema, sources).expect("validates");
    let world = keyward::world::parse_world("w.yaml", world_src, &bundle.roles)
        .unwrap_or_else(|p| panic!("{p}"));
    Engine::new(bundle, world).expect("entities")
}

fn run(e: &Engine, exhaustive: bool) -> BTreeMap<keyward::audit::TripleKey, Vec<String>> {
    run_stats(e, exhaustive).0
}

fn run_stats(
    e: &Engine,
    exhaustive: bool,
) -> (
    BTreeMap<keyward::audit::TripleKey, Vec<String>>,
    keyward::audit::AuditStats,
) {
    let mut out = BTreeMap::new();
    let opts = AuditOptions {
        exhaustive,
        ..Default::default()
    };
    let stats = audit(
        e,
        &opts,
        |d: Decision| {
            assert_eq!(d.decision, Verdict::Allow);
            let reasons = d.reasons.iter().map(|r| r.policy.clone()).collect();
            assert!(
                out.insert(triple(&d), reasons).is_none(),
                "a triple listed twice: {d:?}"
            );
        },
        &|_, _| {},
    )
    .expect("audit runs");
    (out, stats)
}

/// The audit's allowed set equals `decide` on every candidate triple (and, with
/// `exhaustive`, so does the `--exhaustive` audit).
fn assert_exact_with(e: &Engine, label: &str, exhaustive: bool) -> usize {
    let fast = run(e, false);
    let mut plain = BTreeMap::new();
    for s in all_requests(&e.tr) {
        let d = e.decide(&s).expect("valid");
        if d.decision == Verdict::Allow {
            plain.insert(
                triple(&d),
                d.reasons
                    .iter()
                    .map(|r| r.policy.clone())
                    .collect::<Vec<_>>(),
            );
        }
    }
    if exhaustive {
        assert_eq!(
            run(e, true),
            plain,
            "{label}: exhaustive audit differs from per-triple decide"
        );
    }
    if fast != plain {
        let only_fast: Vec<_> = fast
            .iter()
            .filter(|(k, v)| plain.get(*k) != Some(v))
            .take(5)
            .collect();
        let only_plain: Vec<_> = plain
            .iter()
            .filter(|(k, v)| fast.get(*k) != Some(v))
            .take(5)
            .collect();
        panic!(
            "{label}: fast audit differs ({} vs {} allowed)\nfast only: {only_fast:#?}\nplain only: {only_plain:#?}",
            fast.len(),
            plain.len()
        );
    }
    assert!(!plain.is_empty(), "{label}: nothing allowed at all");
    plain.len()
}

fn assert_exact(e: &Engine, label: &str) -> usize {
    assert_exact_with(e, label, false)
}

fn acme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/acme.yaml"))
        .expect("acme")
}

/// Policies whose residuals the fast path cannot read as sets: it must fall back, and agree.
const UNREADABLE: &str = r#"
@id("x-name-match")
@rule("X1")
@doc("Anyone may view a key whose name mentions terraform.")
permit (principal, action == Action::"api-key-get", resource)
when { resource.name like "*terraform*" };

@id("x-classic-node")
@rule("X2")
@doc("Reads an attribute the base policies never read, on the principal.")
permit (principal is User, action == Action::"api-key-lock", resource is UserApiKey)
when { principal.classic_pre == resource.identity.classic_pre || principal.classic_key_accounts.contains(resource.account) };

@id("x-forbid-busy")
@rule("X3")
@doc("A forbid on a Long attribute of the principal and a datetime of the context.")
forbid (principal, action == Action::"api-key-update", resource)
when { principal.key_count > 1 && context.now > datetime("2026-01-01") };

@id("x-forbid-set")
@rule("X4")
@doc("A forbid whose residual is a set containment on the principal.")
forbid (principal is User, action == Action::"api-key-unlock", resource)
when { [User::"alice", User::"ivan"].contains(principal) };
"#;

#[test]
fn acme_base_and_every_variant() {
    let src = acme();
    let base = engine(&src, None, None);
    let n = assert_exact_with(&base, "acme/base", true);
    assert_eq!(
        n, 454,
        "the decision matrix snapshot counts 454 allowed requests"
    );
    // The base policies are read as sets: only resets by service IDs go one by one.
    let (_, stats) = run_stats(&base, false);
    let fallback = stats
        .fallback_groups
        .load(std::sync::atomic::Ordering::Relaxed);
    let sets = stats.set_groups.load(std::sync::atomic::Ordering::Relaxed);
    assert!(sets > 100 && fallback <= 3 * 5, "{}", stats.summary());
    for v in keyward::decide::policy::shipped_variants() {
        assert_exact(&engine(&src, Some(v), None), &format!("acme/{v}"));
    }
}

#[test]
fn acme_with_policies_the_fast_path_cannot_read() {
    let e = engine(&acme(), None, Some(UNREADABLE));
    assert_exact(&e, "acme/unreadable");
}

fn generated(users: usize, keys: usize, sids: usize, accounts: usize, seed: u64) -> String {
    let bundle = policy::load(&PolicyOptions::default()).expect("policies");
    let opts = keyward::world::generate::GenerateOptions {
        users,
        keys_per_user: keys,
        service_ids: sids,
        accounts,
        seed,
        now: None,
    };
    keyward::world::generate::generate(&opts, &bundle.roles)
        .expect("generate")
        .to_yaml()
}

#[test]
fn generated_worlds_base_variants_and_unreadable_policies() {
    for (seed, users, accounts) in [(1u64, 20usize, 2usize), (2, 14, 3)] {
        let src = generated(users, 3, 4, accounts, seed);
        let base = engine(&src, None, None);
        assert_exact(&base, &format!("seed {seed}/base"));
        // Shared residuals: far fewer partial evaluations than groups (on 1k users: 856 for 156,808).
        let (_, stats) = run_stats(&base, false);
        let pe = stats
            .partial_evaluations
            .load(std::sync::atomic::Ordering::Relaxed);
        let groups = stats.set_groups.load(std::sync::atomic::Ordering::Relaxed);
        assert!(pe * 3 < groups, "{}", stats.summary());
        for v in keyward::decide::policy::shipped_variants() {
            assert_exact(&engine(&src, Some(v), None), &format!("seed {seed}/{v}"));
        }
        assert_exact(
            &engine(&src, None, Some(UNREADABLE)),
            &format!("seed {seed}/unreadable"),
        );
    }
}
