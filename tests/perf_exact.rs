//! The shortcuts that make one `check` fast decide exactly as the slow path does:
//! - a request decided on the entities it can reach (`Engine::decide_sliced`) gets the same
//!   decision, reasons and errors as on every entity of the world (`Engine::decide`), for every
//!   candidate request of generated worlds, the example world, every shipped variant, and a
//!   policy that reads entities through attribute chains and literals;
//! - a world's conformance judged on one entity per skeleton refuses exactly the worlds that
//!   building every entity against the schema refuses (schemas that make some entities wrong);
//! - the fast world reader gives the very records of the located one.

use keyward::decide::engine::Engine;
use keyward::decide::policy::{self, PolicyBundle, PolicyOptions, Source};
use keyward::decide::request::all_requests;
use keyward::world::generate::{GenerateOptions, generate, to_yaml};
use keyward::world::{World, parse_world};

fn bundle(
    variant: Option<&str>,
    extra: Option<&str>,
    schema_edit: Option<(&str, &str)>,
) -> PolicyBundle {
    let opts = PolicyOptions {
        variants: variant.into_iter().map(String::from).collect(),
        ..Default::default()
    };
    let (mut schema, mut sources) = policy::gather_sources(&opts).expect("policies");
    if let Some(x) = extra {
        sources.push(Source {
            name: "extra.cedar".into(),
            text: x.into(),
        });
    }
    if let Some((from, to)) = schema_edit {
        assert!(schema.text.contains(from), "the schema has `{from}`");
        schema.text = schema.text.replacen(from, to, 1);
    }
    policy::build(schema, sources).expect("validates")
}

fn generated(users: usize, keys: usize, sids: usize, accounts: usize, seed: u64) -> String {
    let o = GenerateOptions {
        users,
        keys_per_user: keys,
        service_ids: sids,
        accounts,
        seed,
        now: None,
    };
    let w = generate(&o, &bundle(None, None, None).roles).expect("generates");
    to_yaml(&o, &w)
}

fn world(b: &PolicyBundle, src: &str) -> World {
    parse_world("w.yaml", src, &b.roles).unwrap_or_else(|p| panic!("{p}"))
}

/// Every candidate request decides the same on its slice as on the whole world; returns how
/// many were compared.
fn assert_slices_exact(b: PolicyBundle, src: &str, label: &str, most: usize) -> usize {
    let w = world(&b, src);
    // Two engines: once an engine has built every entity, its sliced path uses them.
    let e = Engine::new(b.clone(), w.clone()).expect("entities");
    let sliced_only = Engine::new(b, w).expect("entities");
    let requests = all_requests(&e.tr);
    let mut n = 0;
    for s in requests.iter().step_by(1 + requests.len() / most) {
        let t = e.translate(s).expect("translates");
        let sliced = sliced_only.decide_sliced(&t);
        let full = e.decide_translated(&t);
        assert_eq!(sliced, full, "{label}: {s:?}");
        n += 1;
    }
    assert!(n > 0, "{label}: no requests");
    n
}

#[test]
fn slices_decide_as_the_whole_world_on_generated_worlds() {
    let mut n = 0;
    for (users, keys, sids, accounts, seed) in [
        (40, 4, 6, 2, 1),
        (80, 3, 10, 4, 7),
        (25, 8, 3, 1, 42),
        (60, 2, 5, 13, 9),
    ] {
        let src = generated(users, keys, sids, accounts, seed);
        n += assert_slices_exact(
            bundle(None, None, None),
            &src,
            &format!("seed {seed}"),
            4000,
        );
    }
    assert!(n > 1000, "only {n} requests compared");
}

#[test]
fn slices_decide_as_the_whole_world_for_every_variant() {
    let acme = std::fs::read_to_string("fixtures/acme.yaml").expect("fixture");
    let src = generated(30, 3, 4, 2, 3);
    for v in policy::shipped_variants() {
        assert_slices_exact(bundle(Some(v), None, None), &acme, v, 600);
        assert_slices_exact(bundle(Some(v), None, None), &src, v, 600);
    }
    assert_slices_exact(bundle(None, None, None), &acme, "acme", 4000);
}

/// Policies that reach entities the request does not name: through chains of attributes
/// (a key's identity's account's owner), through parents, and through a literal.
#[test]
fn slices_follow_attribute_chains_and_literals() {
    let extra = r#"
@id("chain") @rule("R1") @doc("test: reads a key's identity's creator and its account's owner")
permit (principal is User, action == Action::"api-key-get", resource is ServiceIdApiKey)
when { resource.identity has created_by &&
       resource.identity.created_by.classic_pre == resource.account.owner.classic_pre &&
       principal in resource.identity.account };
@id("literal") @rule("R1") @doc("test: reads an account named by a literal")
forbid (principal is User, action == Action::"api-key-get", resource)
when { Account::"acme".owner.classic_pre == principal.classic_pre && principal.key_count > 0 };
"#;
    let acme = std::fs::read_to_string("fixtures/acme.yaml").expect("fixture");
    assert_slices_exact(
        bundle(None, Some(extra), None),
        &acme,
        "chains on acme",
        4000,
    );
    let src = generated(30, 4, 4, 2, 11);
    assert_slices_exact(
        bundle(None, Some(extra), None),
        &src,
        "chains generated",
        4000,
    );
}

fn refused_by_full_build(b: &PolicyBundle, w: &World) -> bool {
    // The slow path, written out: every entity, Cedar's own reader, with the schema.
    let e = Engine::new(bundle(None, None, None), w.clone()).expect("base schema");
    let json = keyward::decide::export::entities_json(&e);
    cedar_policy::Entities::from_json_value(json, Some(&b.schema)).is_err()
}

/// Schemas under which some entities of a world are wrong, some right: the sample must
/// refuse exactly when building everything does.
#[test]
fn conformance_on_skeletons_refuses_what_building_everything_refuses() {
    let src = generated(40, 4, 6, 2, 5);
    let edits: [(&str, &str); 5] = [
        // A required attribute only some keys have.
        (
            "obsolete: Bool,\n  expires_at?:",
            "obsolete: Bool,\n  expires_at:",
        ),
        // An attribute of the wrong type on every user key.
        (
            "  name: String,\n  description: String,",
            "  name: String,\n  description: Long,",
        ),
        // Service IDs whose creator is optional become required.
        ("created_by?:", "created_by:"),
        // Users may no longer be in access groups (only some are).
        (
            "entity User in [Account, AccessGroup, Grant]",
            "entity User in [Account, Grant]",
        ),
        // A harmless change: everything still fits.
        (
            "entity Cluster = {",
            "entity Cluster = {\n  extra?: String,",
        ),
    ];
    let mut refused = 0;
    for (from, to) in edits {
        let b = bundle(None, None, Some((from, to)));
        let w = world(&b, &src);
        let expected = refused_by_full_build(&b, &w);
        let got = Engine::new(b, w).is_err();
        assert_eq!(got, expected, "schema edit `{from}` -> `{to}`");
        refused += usize::from(got);
    }
    assert!(
        refused >= 3,
        "the edits were meant to break most worlds: {refused}"
    );
}

/// The fast reader either leaves a text to the general parser or gives its very tree.
fn fast_reads_as_general(src: &str, label: &str) -> bool {
    let Some(fast) = keyward::world::fastyaml::parse(src) else {
        return false;
    };
    let general = keyward::world::yaml::parse_general(src);
    assert_eq!(Some(&fast), general.as_ref().ok(), "{label}");
    true
}

fn yaml_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p
            .extension()
            .is_some_and(|x| x == "yaml" || x == "yml" || x == "json")
        {
            out.push(p);
        }
    }
}

#[test]
fn the_fast_reader_gives_the_general_tree_on_every_file_and_generated_world() {
    let mut files = Vec::new();
    for d in ["fixtures", "tests", "docs", "examples"] {
        yaml_files(std::path::Path::new(d), &mut files);
    }
    let mut read_fast = 0;
    for f in &files {
        let src = std::fs::read_to_string(f).unwrap_or_default();
        read_fast += usize::from(fast_reads_as_general(&src, &f.display().to_string()));
    }
    for (users, keys, sids, accounts, seed) in
        [(50, 3, 5, 3, 1), (200, 6, 20, 5, 2), (7, 1, 0, 1, 3)]
    {
        let src = generated(users, keys, sids, accounts, seed);
        assert!(
            fast_reads_as_general(&src, "generated"),
            "generated worlds are read fast"
        );
        let w = world(&bundle(None, None, None), &src);
        assert!(
            fast_reads_as_general(&w.to_yaml(), "to_yaml"),
            "written worlds are read fast"
        );
    }
    assert!(
        read_fast >= 1,
        "only {read_fast} of {} files read fast",
        files.len()
    );
}

/// Small edits of a world (quotes, colons, comments, indentation, flow, anchors) at every
/// line: whatever the fast reader accepts, it reads as the general parser does.
#[test]
fn the_fast_reader_gives_the_general_tree_on_edited_worlds() {
    let src = generated(6, 2, 1, 2, 4);
    let lines: Vec<&str> = src.lines().collect();
    let edits: [fn(&str) -> String; 14] = [
        |l| format!("{l} # c"),
        |l| format!(" {l}"),
        |l| l.replacen(": ", ":  ", 1),
        |l| l.replacen(": ", ": '", 1),
        |l| l.replacen(": ", ": \"", 1),
        |l| l.replacen(": ", ": [", 1),
        |l| l.replacen(": ", ": &a ", 1),
        |l| l.replacen(": ", ": - ", 1),
        |l| l.replacen(": ", ":", 1),
        |l| l.replacen("- ", "-  ", 1),
        |l| format!("{l}:"),
        |l| format!("{l}\n"),
        |l| l.replacen(": ", ": True ", 1),
        |l| l.trim_start().to_string(),
    ];
    let mut accepted = 0;
    for i in 0..lines.len() {
        for edit in edits {
            let mut copy: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            copy[i] = edit(lines[i]);
            let text = copy.join("\n") + "\n";
            accepted += usize::from(fast_reads_as_general(
                &text,
                &format!("line {i}: {}", copy[i]),
            ));
        }
    }
    assert!(accepted > 0);
}

/// Each request is evaluated on the action's policies without those whose scope names other
/// entity types: the same decisions, reasons and errors as on the action's whole set.
fn assert_split_exact(b: PolicyBundle, src: &str, label: &str, most: usize) {
    let w = world(&b, src);
    let split = Engine::new(b.clone(), w.clone()).expect("entities");
    let mut whole = Engine::new(b, w).expect("entities");
    whole.split_by_types = false;
    let requests = all_requests(&split.tr);
    let mut n = 0;
    for s in requests.iter().step_by(1 + requests.len() / most) {
        let t = split.translate(s).expect("translates");
        assert_eq!(
            split.decide_translated(&t),
            whole.decide_translated(&t),
            "{label}: {s:?}"
        );
        n += 1;
    }
    assert!(n > 100, "{label}: only {n} requests");
}

#[test]
fn policies_split_by_types_decide_as_the_action_set() {
    let acme = std::fs::read_to_string("fixtures/acme.yaml").expect("fixture");
    let src = generated(30, 3, 4, 2, 3);
    for v in policy::shipped_variants() {
        assert_split_exact(bundle(Some(v), None, None), &acme, v, 1500);
        assert_split_exact(bundle(Some(v), None, None), &src, v, 1500);
    }
    assert_split_exact(bundle(None, None, None), &acme, "acme", 100_000);
    // Scopes of every form, and policies that error, on other types and on these.
    let extra = r#"
@id("x-eq") @rule("R1") @doc("test: a principal named by uid")
permit (principal == User::"nora", action == Action::"api-key-get", resource is UserApiKey);
@id("x-is-in") @rule("R1") @doc("test: is ... in ...")
permit (principal is User in AccessGroup::"key-creators", action, resource is ServiceIdApiKey);
@id("x-in") @rule("R1") @doc("test: principal in an account")
permit (principal in Account::"globex", action == Action::"api-key-lock", resource);
@id("x-res-eq") @rule("R1") @doc("test: a resource named by uid")
permit (principal, action, resource == UserApiKey::"key-kate-1");
@id("x-err-user") @rule("R1") @doc("test: errors for users on user keys")
forbid (principal is User, action, resource is UserApiKey)
when { principal.key_count + 9223372036854775807 > 0 };
@id("x-err-sid") @rule("R1") @doc("test: errors for service IDs")
forbid (principal is ServiceId, action, resource)
when { principal.key_count + 9223372036854775807 > 0 };
@id("x-body-type") @rule("R1") @doc("test: a body false on other types")
permit (principal, action == Action::"api-key-delete", resource)
when { resource is ServiceIdApiKey && principal is ServiceId };
@id("x-body-err-first") @rule("R1") @doc("test: errors before a conjunct false on other types")
forbid (principal is ServiceId, action, resource)
when { principal.key_count + 9223372036854775807 > 0 && resource is Account };
@id("x-body-or-err") @rule("R1") @doc("test: a disjunct false on other types, then an error")
forbid (principal, action == Action::"login", resource)
when { resource is Cluster || principal.identity.key_count + 9223372036854775807 > 0 };
"#;
    assert_split_exact(bundle(None, Some(extra), None), &acme, "scopes", 100_000);
    assert_split_exact(bundle(None, Some(extra), None), &src, "scopes", 5000);
    // The split does leave policies out (else this test proves nothing): by scope, and by
    // partial evaluation of bodies false on these types (only for validated requests).
    let b = bundle(None, Some(extra), None);
    let mut e = Engine::new(b.clone(), world(&b, &acme)).expect("entities");
    let ids = |e: &Engine, p: &str, r: &str| -> Vec<String> {
        let set = e.policies_for_request("api-key-delete", p, r);
        let mut ids: Vec<String> = set.policies().map(|p| p.id().to_string()).collect();
        ids.sort();
        ids
    };
    let whole = e.policies_for("api-key-delete").policies().count();
    let split = ids(&e, "User", "UserApiKey");
    assert!(split.len() < whole, "{whole} policies, none left out");
    for gone in [
        "owner-manages-service-id-keys",
        "service-id-creator-manages-keys",
        "x-body-type",
        "x-err-sid",
    ] {
        assert!(!split.contains(&gone.to_string()), "{gone} in {split:?}");
    }
    for kept in [
        "iam-admin-manages-user-keys",
        "locked-key-frozen",
        "x-err-user",
    ] {
        assert!(split.contains(&kept.to_string()), "{kept} not in {split:?}");
    }
    let sid = ids(&e, "ServiceId", "ServiceIdApiKey");
    for kept in ["x-body-type", "x-body-err-first", "service-id-key-delete"] {
        assert!(sid.contains(&kept.to_string()), "{kept} not in {sid:?}");
    }
    e.validate_requests = false;
    let unvalidated = ids(&e, "User", "UserApiKey");
    assert!(unvalidated.contains(&"owner-manages-service-id-keys".to_string()));
}
