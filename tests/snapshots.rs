//! Whole outputs, snapshotted with insta and read before being accepted: explanations of
//! representative decisions (text and JSON) and the full decision matrix of fixtures/acme.yaml.
//! Also: evaluation errors fail closed, even when the erroring policy is a forbid.

use keyward::cli::{Common, load_engine};
use keyward::decide::engine::{Engine, Verdict};
use keyward::decide::policy::{self, PolicyOptions, Source};
use keyward::decide::request::{RequestSpec, all_requests};
use keyward::report::{decision_json, decision_text};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

fn acme() -> Engine {
    load_engine(&Common {
        world: Some(PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/acme.yaml"
        ))),
        ..Default::default()
    })
    .expect("acme loads")
}

fn spec(p: &str, a: &str, r: &str, args: &[(&str, &str)]) -> RequestSpec {
    RequestSpec::new(p, a, r, args)
}

fn representative() -> Vec<RequestSpec> {
    vec![
        spec("kate", "api-key-create", "kate", &[]),
        spec("alice", "api-key-create", "alice", &[]),
        spec("olga", "api-key-delete", "key-kate-1", &[]),
        spec("alice", "api-key-delete", "key-ivan-1", &[]),
        spec(
            "nora-bot",
            "ks-api-key-reset",
            "acme",
            &[("region", "us-south")],
        ),
        spec("key-pat-acme", "login", "globex", &[]),
        spec("ivan", "classic-api-key-delete", "dana", &[]),
    ]
}

#[test]
fn explanations_text() {
    let e = acme();
    let mut out = String::new();
    for s in representative() {
        out.push_str(&decision_text(&e.decide(&s).expect("valid request")));
        out.push('\n');
    }
    insta::assert_snapshot!(out);
}

#[test]
fn explanations_json() {
    let e = acme();
    let all: Vec<_> = representative()
        .iter()
        .map(|s| decision_json(&e.decide(s).expect("valid request")))
        .collect();
    insta::assert_json_snapshot!(all);
}

/// For each action, who may act on what in acme.yaml (allowed triples only; resource@account
/// where the request names an account, account/region/group for resets).
#[test]
fn decision_matrix_acme() {
    let e = acme();
    let mut by_action: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    let (mut total, mut allowed) = (0, 0);
    for s in all_requests(&e.tr) {
        total += 1;
        let d = e.decide(&s).expect("candidate requests are valid");
        assert!(d.errors.is_empty(), "{:?}", d.errors);
        if d.decision != Verdict::Allow {
            continue;
        }
        allowed += 1;
        let r = s.resource.clone().unwrap_or_default();
        let target = match (s.action.as_str(), d.args.get("account")) {
            ("ks-api-key-reset", _) => {
                format!("{r}/{}/{}", d.args["region"], d.args["resource_group"])
            }
            (_, Some(a))
                if s.action != "api-key-create"
                    || e.tr.kind(&r) == Some(keyward::world::IdKind::User) =>
            {
                format!("{r}@{a}")
            }
            _ => r,
        };
        by_action
            .entry(s.action.clone())
            .or_default()
            .entry(s.principal.clone())
            .or_default()
            .push(target);
    }
    let mut out = format!("{allowed} of {total} requests allowed\n");
    for (action, rows) in &by_action {
        let _ = writeln!(out, "\n{action}");
        for (p, targets) in rows {
            let _ = writeln!(out, "  {p:<18} {}", targets.join(", "));
        }
    }
    insta::assert_snapshot!(out);
}

/// A policy set where `extra` is added to the shipped base.
fn with_extra(extra: &str) -> Engine {
    let (schema, mut sources) = policy::gather_sources(&PolicyOptions::default()).expect("shipped");
    sources.push(Source {
        name: "extra.cedar".into(),
        text: extra.into(),
    });
    let bundle = policy::build(schema, sources).expect("validates");
    let world = keyward::world::load_world(
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/acme.yaml")),
        &bundle.roles,
    )
    .expect("acme");
    Engine::new(bundle, world).expect("entities")
}

#[test]
fn an_erroring_forbid_fails_closed() {
    // Integer overflow passes strict validation and errors at run time: Cedar skips the forbid
    // and would allow; keyward must deny and show the error.
    let e = with_extra(
        "@id(\"overflowing-forbid\")\n@rule(\"R5\")\n@doc(\"Errors on every request.\")\nforbid (principal, action, resource is UserApiKey)\nwhen { context.via_trusted_profile || 9223372036854775807 + 1 > 0 };\n",
    );
    let d = e
        .decide(&spec("kate", "api-key-get", "key-kate-1", &[]))
        .expect("valid");
    assert_eq!(d.decision, Verdict::Deny, "{}", decision_text(&d));
    assert_eq!(d.errors.len(), 1, "{:?}", d.errors);
    assert!(d.errors[0].contains("overflowing-forbid"), "{:?}", d.errors);
    assert!(d.reasons.is_empty(), "{}", decision_text(&d));
    insta::assert_snapshot!(decision_text(&d));
}
