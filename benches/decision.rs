//! One in-process decision on fixtures/acme.yaml (issue target: median <= 20 us), split into
//! its parts: translating the request (context with covering grants), building the Cedar
//! request with the schema, and Cedar's evaluation. Run: `cargo bench --bench decision`.

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use keyward::cli::{Common, load_engine};
use keyward::decide::request::RequestSpec;
use std::path::PathBuf;

/// The allocator the `keyward` binary uses (src/main.rs), so that these figures are its own.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn spec(p: &str, a: &str, r: &str, args: &[(&str, &str)]) -> RequestSpec {
    RequestSpec::new(p, a, r, args)
}

fn bench(c: &mut Criterion) {
    let engine = load_engine(&Common {
        world: Some(PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/acme.yaml"
        ))),
        ..Default::default()
    })
    .expect("acme loads");
    let cases = [
        (
            "create-own-key",
            spec("kate", "api-key-create", "kate", &[]),
        ),
        (
            "delete-other-key",
            spec("ivan", "api-key-delete", "key-kate-1", &[]),
        ),
        (
            "cluster-reset",
            spec(
                "ci-bot",
                "ks-api-key-reset",
                "acme",
                &[("region", "us-south")],
            ),
        ),
        ("login", spec("key-pat-acme", "login", "globex", &[])),
    ];
    for (name, s) in &cases {
        c.bench_function(&format!("decide/{name}"), |b| {
            b.iter(|| engine.decide(black_box(s)).expect("valid"))
        });
    }
    // Cold: every request has a context the engine has not built before (a new `now` each
    // time, cycling through more times than the context cache holds).
    for (name, s) in &cases {
        let mut i = 0u32;
        let mut s = s.clone();
        c.bench_function(&format!("decide-cold/{name}"), |b| {
            b.iter(|| {
                i = (i + 1) % 20_000;
                s.now = Some(format!(
                    "2026-11-23T{:02}:{:02}:{:02}Z",
                    i / 3600 % 24,
                    i / 60 % 60,
                    i % 60
                ));
                engine.decide(black_box(&s)).expect("valid")
            })
        });
    }
    // Every candidate request of the world, in order (as a matrix or a naive audit asks them):
    // the time of the whole table; divide by its length for the mean.
    let table = keyward::decide::request::all_requests(&engine.tr);
    c.bench_function(
        &format!("decide-table/acme-{}-requests", table.len()),
        |b| {
            b.iter(|| {
                for s in &table {
                    black_box(engine.decide(s).expect("valid"));
                }
            })
        },
    );
    let s = &cases[1].1;
    let t = engine.translate(s).expect("valid");
    c.bench_function("parts/translate", |b| {
        b.iter(|| engine.translate(black_box(s)).expect("valid"))
    });
    c.bench_function("parts/cedar-request", |b| {
        b.iter(|| engine.cedar_request(black_box(&t)).expect("valid"))
    });
    c.bench_function("parts/decide-translated", |b| {
        b.iter(|| engine.decide_translated(black_box(&t)))
    });
    // The policies the engine evaluates for this request (the action's, less those scoped to
    // other entity types).
    let policies = &*engine.policies_for_request("api-key-delete", "User", "UserApiKey");
    let request = engine.cedar_request(&t).expect("valid");
    let authorizer = cedar_policy::Authorizer::new();
    c.bench_function("parts/cedar-is-authorized", |b| {
        let entities = engine.entities().expect("entities");
        b.iter(|| authorizer.is_authorized(black_box(&request), policies, entities))
    });
    // Without validating each request against the schema (audits may do this; the export
    // round-trip test proves every candidate request of the fixtures validates).
    let mut unvalidated = engine;
    unvalidated.validate_requests = false;
    for (name, s) in &cases {
        c.bench_function(&format!("decide-unvalidated/{name}"), |b| {
            b.iter(|| unvalidated.decide(black_box(s)).expect("valid"))
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
