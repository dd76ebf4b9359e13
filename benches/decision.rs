//! One in-process decision on fixtures/acme.yaml (issue target: median <= 20 us), split into
//! its parts: translating the request (context with covering grants), building the Cedar
//! request with the schema, and Cedar's evaluation. Run: `cargo bench --bench decision`.

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use keyward::commands::{Common, load_engine};
use keyward::request::RequestSpec;
use std::path::PathBuf;

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
    let policies = engine.policies_for("api-key-delete");
    let request = engine.cedar_request(&t).expect("valid");
    let authorizer = cedar_policy::Authorizer::new();
    c.bench_function("parts/cedar-is-authorized", |b| {
        b.iter(|| authorizer.is_authorized(black_box(&request), policies, &engine.entities))
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
