//! `export` reproduces keyward's decisions in Cedar's own formats: the entities JSON, the `cedar`
//! CLI's request JSON and the concatenated policy file, serialised to text and read back through
//! the plain `cedar-policy` API (as `cedar authorize` would), give the same allow/deny — and the
//! same determining policies — as `Engine::decide`, for every request the acme world gives rise to.

use cedar_policy::{
    Authorizer, Context, Decision as CedarDecision, Entities, EntityUid, PolicySet, Request, Schema,
};
use keyward::cli::{Common, load_engine};
use keyward::decide::engine::{Engine, Verdict};
use keyward::decide::export;
use keyward::decide::request::{RequestSpec, all_requests};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn acme() -> PathBuf {
    root().join("fixtures/acme.yaml")
}

fn engine() -> Engine {
    let common = Common {
        world: Some(acme()),
        ..Default::default()
    };
    load_engine(&common).unwrap_or_else(|p| panic!("fixtures/acme.yaml does not load:\n{p}"))
}

/// What `cedar authorize` sees: the exported files, as text, parsed back with the schema file.
struct CedarSide {
    schema: Schema,
    policies: PolicySet,
    entities: Entities,
    authorizer: Authorizer,
}

impl CedarSide {
    fn new(engine: &Engine) -> Self {
        let schema_text = std::fs::read_to_string(root().join("schemas/keyward.cedarschema"))
            .expect("read schemas/keyward.cedarschema");
        let (schema, _warnings) =
            Schema::from_cedarschema_str(&schema_text).expect("the shipped schema parses");
        let policy_text = export::policies_text(engine);
        let policies = PolicySet::from_str(&policy_text)
            .unwrap_or_else(|e| panic!("exported policies do not parse: {e:?}"));
        let entities_text = serde_json::to_string(&export::entities_json(engine)).unwrap();
        let entities_value: serde_json::Value = serde_json::from_str(&entities_text).unwrap();
        assert!(
            entities_value.is_array(),
            "entities JSON is an array (Cedar's format)"
        );
        let entities = Entities::from_json_value(entities_value, Some(&schema))
            .unwrap_or_else(|e| panic!("exported entities do not parse with the schema: {e:?}"));
        CedarSide {
            schema,
            policies,
            entities,
            authorizer: Authorizer::new(),
        }
    }

    /// The decision for one exported request JSON (as text), and the `@id`s of the policies that
    /// determined it (permits on allow, forbids on deny). Fails closed: any error denies.
    fn decide(&self, request_text: &str) -> (Verdict, BTreeSet<String>, Vec<String>) {
        let req: serde_json::Value = serde_json::from_str(request_text).unwrap();
        let uid = |key: &str| -> EntityUid {
            let s = req[key]
                .as_str()
                .unwrap_or_else(|| panic!("request `{key}` is a string: {req}"));
            EntityUid::from_str(s).unwrap_or_else(|e| panic!("request `{key}` = {s}: {e}"))
        };
        let (principal, action, resource) = (uid("principal"), uid("action"), uid("resource"));
        let context =
            match Context::from_json_value(req["context"].clone(), Some((&self.schema, &action))) {
                Ok(c) => c,
                Err(e) => {
                    return (
                        Verdict::Deny,
                        BTreeSet::new(),
                        vec![format!("context: {e}")],
                    );
                }
            };
        let request = match Request::new(principal, action, resource, context, Some(&self.schema)) {
            Ok(r) => r,
            Err(e) => {
                return (
                    Verdict::Deny,
                    BTreeSet::new(),
                    vec![format!("request: {e}")],
                );
            }
        };
        let response = self
            .authorizer
            .is_authorized(&request, &self.policies, &self.entities);
        let errors: Vec<String> = response
            .diagnostics()
            .errors()
            .map(|e| e.to_string())
            .collect();
        let verdict = if response.decision() == CedarDecision::Allow && errors.is_empty() {
            Verdict::Allow
        } else {
            Verdict::Deny
        };
        let reasons = response
            .diagnostics()
            .reason()
            .filter_map(|pid| {
                let p = self
                    .policies
                    .policy(pid)
                    .expect("a reason is a loaded policy");
                let forbid = p.effect() == cedar_policy::Effect::Forbid;
                // On deny only the forbids determine it (an allow overturned by an error keeps none).
                (verdict == Verdict::Allow || forbid).then(|| {
                    p.annotation("id")
                        .unwrap_or_else(|| panic!("exported policy {pid} lost its @id"))
                        .to_string()
                })
            })
            .collect();
        (verdict, reasons, errors)
    }
}

/// Compare keyward and Cedar on each request; returns (compared, allowed).
fn compare_all(engine: &Engine, cedar: &CedarSide, specs: &[RequestSpec]) -> (usize, usize) {
    let mut compared = 0;
    let mut allowed = 0;
    let mut mismatches = Vec::new();
    for spec in specs {
        let translated = engine.translate(spec).unwrap_or_else(|p| {
            panic!("all_requests gave a request that does not translate: {spec:?}: {p}")
        });
        let keyward = engine
            .decide(spec)
            .unwrap_or_else(|p| panic!("decide failed on {spec:?}: {p}"));
        let request_text = serde_json::to_string(&export::request_json(&translated)).unwrap();
        let (verdict, reasons, errors) = cedar.decide(&request_text);
        let keyward_reasons: BTreeSet<String> =
            keyward.reasons.iter().map(|r| r.policy.clone()).collect();
        if verdict != keyward.decision || reasons != keyward_reasons {
            mismatches.push(format!(
                "{} {} {} args={:?} via_tp={}: keyward {:?} {:?} {:?}, cedar {:?} {:?} {:?}",
                spec.principal,
                spec.action,
                spec.resource.as_deref().unwrap_or("-"),
                spec.args,
                spec.via_trusted_profile,
                keyward.decision,
                keyward_reasons,
                keyward.errors,
                verdict,
                reasons,
                errors
            ));
        }
        compared += 1;
        if verdict == Verdict::Allow {
            allowed += 1;
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {compared} requests decided differently through export:\n{}",
        mismatches.len(),
        mismatches
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    (compared, allowed)
}

#[test]
fn every_request_of_acme_decides_the_same_through_export() {
    let engine = engine();
    let cedar = CedarSide::new(&engine);
    assert_eq!(
        cedar.policies.num_of_policies(),
        engine.bundle.policies.num_of_policies(),
        "the exported policy file holds every loaded policy"
    );
    let specs = all_requests(&engine.tr);
    let (compared, allowed) = compare_all(&engine, &cedar, &specs);
    assert_eq!(compared, specs.len());
    assert!(
        compared > 1000,
        "only {compared} requests compared: the test would be vacuous"
    );
    // Both outcomes occur, so agreement is not "everything denies on both sides".
    assert!(allowed > 0, "no request of acme is allowed");
    assert!(allowed < compared, "every request of acme is allowed");
}

#[test]
fn via_trusted_profile_decides_the_same_through_export() {
    let engine = engine();
    let cedar = CedarSide::new(&engine);
    // A sample (every 3rd request, so every action and most callers), all marked as acting
    // through a trusted profile.
    let specs: Vec<RequestSpec> = all_requests(&engine.tr)
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % 3 == 0)
        .map(|(_, mut s)| {
            s.via_trusted_profile = true;
            s
        })
        .collect();
    let (compared, allowed) = compare_all(&engine, &cedar, &specs);
    assert!(
        compared > 1000,
        "only {compared} trusted-profile requests compared"
    );
    let actions: BTreeSet<&str> = specs.iter().map(|s| s.action.as_str()).collect();
    assert_eq!(
        actions.len(),
        keyward::decide::request::ACTIONS.len(),
        "the sample covers every action"
    );
    assert!(allowed > 0, "no trusted-profile request of acme is allowed");
    // The trusted profile changes some decisions: otherwise the flag never reached Cedar.
    let changed = specs.iter().any(|s| {
        let mut plain = s.clone();
        plain.via_trusted_profile = false;
        engine.decide(s).unwrap().decision != engine.decide(&plain).unwrap().decision
    });
    assert!(
        changed,
        "via_trusted_profile changed no decision in the sample"
    );
}

#[test]
fn request_json_is_the_cedar_cli_shape() {
    let engine = engine();
    let spec = RequestSpec {
        principal: "kate".into(),
        action: "api-key-get".into(),
        resource: Some("key-kate-1".into()),
        ..Default::default()
    };
    let v = export::request_json(&engine.translate(&spec).unwrap());
    assert_eq!(v["principal"], "User::\"kate\"");
    assert_eq!(v["action"], "Action::\"api-key-get\"");
    assert_eq!(v["resource"], "UserApiKey::\"key-kate-1\"");
    let ctx = v["context"].as_object().expect("context is an object");
    for key in ["account", "now", "via_trusted_profile", "roles"] {
        assert!(ctx.contains_key(key), "context lacks `{key}`: {v}");
    }
    assert_eq!(ctx["account"]["__entity"]["id"], "acme");
    assert_eq!(ctx["via_trusted_profile"], false);
}

fn keyward(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run keyward")
}

#[test]
fn binary_export_with_a_request_prints_entities_and_request() {
    let acme = acme();
    let out = keyward(&[
        "export",
        "--world",
        acme.to_str().unwrap(),
        "--principal",
        "alice",
        "--action",
        "api-key-create",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("export prints one JSON value");
    let obj = v.as_object().expect("a JSON object");
    assert_eq!(
        obj.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        BTreeSet::from(["entities", "request"])
    );
    let entities = v["entities"].as_array().expect("entities is an array");
    assert!(
        entities
            .iter()
            .any(|e| e["uid"]["type"] == "User" && e["uid"]["id"] == "alice"),
        "alice is among the entities"
    );
    assert_eq!(v["request"]["principal"], "User::\"alice\"");
    assert_eq!(v["request"]["action"], "Action::\"api-key-create\"");
    assert_eq!(
        v["request"]["resource"], "User::\"alice\"",
        "api-key-create defaults its resource to the principal"
    );
    // The printed pair decides like `keyward check`.
    let engine = engine();
    let cedar = CedarSide::new(&engine);
    let printed_entities = Entities::from_json_value(v["entities"].clone(), Some(&cedar.schema))
        .expect("printed entities parse with the schema");
    let cedar = CedarSide {
        entities: printed_entities,
        ..cedar
    };
    let (verdict, _, _) = cedar.decide(&v["request"].to_string());
    let spec = RequestSpec {
        principal: "alice".into(),
        action: "api-key-create".into(),
        ..Default::default()
    };
    assert_eq!(verdict, engine.decide(&spec).unwrap().decision);
}

#[test]
fn binary_export_without_a_request_prints_the_entity_array() {
    let acme = acme();
    let out = keyward(&["export", "--world", acme.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v, export::entities_json(&engine()));
}

fn policies_out_count(extra: &[&str], dir: &Path) -> (usize, PolicySet) {
    let file = dir.join("all.cedar");
    let acme = acme();
    let mut args = vec![
        "export",
        "--world",
        acme.to_str().unwrap(),
        "--policies-out",
        file.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = keyward(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&file).expect("--policies-out wrote the file");
    let set = PolicySet::from_str(&text)
        .unwrap_or_else(|e| panic!("--policies-out file does not parse: {e:?}"));
    (set.num_of_policies(), set)
}

#[test]
fn binary_policies_out_writes_the_loaded_set() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine();
    let loaded = engine.bundle.policies.num_of_policies();
    let (n, set) = policies_out_count(&[], dir.path());
    assert_eq!(n, loaded, "--policies-out holds every loaded policy");
    let ids: BTreeSet<String> = set
        .policies()
        .map(|p| p.annotation("id").expect("@id kept").to_string())
        .collect();
    let loaded_ids: BTreeSet<String> = engine.bundle.info.keys().cloned().collect();
    assert_eq!(ids, loaded_ids, "the @id annotations are kept");

    // With a variant, the file grows by the variant's policies.
    let with_variant = load_engine(&Common {
        world: Some(acme()),
        policy: keyward::decide::policy::PolicyOptions {
            variants: vec!["c1-editor-creates".into()],
            ..Default::default()
        },
        ..Default::default()
    })
    .unwrap();
    let (nv, _) = policies_out_count(&["--variant", "c1-editor-creates"], dir.path());
    assert_eq!(nv, with_variant.bundle.policies.num_of_policies());
    assert!(nv > n, "the variant adds policies");
}
