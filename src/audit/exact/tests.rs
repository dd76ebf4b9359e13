//! Per-shape tests of the residual readers (`Reader::shared`/`eval` for the shared residuals,
//! `Reader::known`/`set_of` for the residuals with the resource known), on real residuals: each test partially evaluates one
//! small policy against the acme fixture with Cedar's TPE, exactly as the audit does, reads
//! the residual, and checks the set against Cedar deciding every principal one by one. A shape
//! the reader does not read must come back `None` (the audit then asks Cedar), never a guess.

use super::population::Uid;
use super::*;
use crate::decide::policy::{self, PolicyOptions};
use crate::decide::request::Translated;
use cedar_policy::pst::{self, Expr};
use cedar_policy::{Authorizer, PolicySet, Request};
use std::sync::OnceLock;

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| {
        let bundle = policy::load(&PolicyOptions::default()).expect("policies");
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/acme.yaml");
        let src = std::fs::read_to_string(path).expect("acme");
        let world = crate::world::parse_world("acme.yaml", &src, &bundle.roles).expect("world");
        Engine::new(bundle, world).expect("engine")
    })
}

fn auditor() -> &'static Auditor<'static> {
    static A: OnceLock<Auditor<'static>> = OnceLock::new();
    A.get_or_init(|| Auditor::new(engine()).expect("auditor"))
}

fn pop(ty: &str) -> &'static Population {
    auditor()
        .pops
        .iter()
        .find(|p| p.ty == ty)
        .expect("population")
}

/// What a reader made of one residual.
struct Read {
    /// The residual policy as Cedar prints it (names the shape under test).
    residual: String,
    /// The principals the reader says the condition holds for (`None`: not read).
    set: Option<Vec<String>>,
}

/// The request of `action` on `resource` by the first principal of `pop`, as the audit
/// translates it (its context is the one the residuals are computed in).
fn translated(pop: &Population, action: &str, resource: &str) -> Translated {
    let spec = RequestSpec {
        principal: pop.ids[0].clone(),
        action: action.into(),
        resource: Some(resource.into()),
        ..Default::default()
    };
    engine().translate(&spec).expect("translates")
}

fn permit(action: &str, body: &str) -> PolicySet {
    let text = format!("permit (principal, action == Action::\"{action}\", resource) {body};");
    PolicySet::from_str(&text).expect("parses")
}

/// The one residual permit of `ps` (principal unknown; resource unknown unless `known`).
fn residual(pop: &Population, t: &Translated, ps: &PolicySet, known: bool) -> cedar_policy::Policy {
    let e = engine();
    let rty = cedar_policy::EntityTypeName::from_str(&t.resource.ty).expect("type");
    let resource = if known {
        PartialEntityUid::from_concrete(e.uid(&t.resource.ty, &t.resource.id).expect("uid"))
    } else {
        PartialEntityUid::new(rty, None)
    };
    let req = PartialRequest::new(
        PartialEntityUid::new(
            cedar_policy::EntityTypeName::from_str(pop.ty).expect("ty"),
            None,
        ),
        e.uid("Action", &t.action).expect("action"),
        resource,
        Some(e.cedar_context(t).expect("context")),
        &e.bundle.schema,
    )
    .expect("partial request");
    let resp = ps
        .tpe(&req, &auditor().partial, &e.bundle.schema)
        .expect("tpe");
    let id = resp
        .residual_permits()
        .next()
        .expect("a residual permit")
        .clone();
    resp.get_policy(&id).expect("the residual")
}

fn clauses(p: &cedar_policy::Policy) -> Vec<(bool, Expr)> {
    let pp = p.to_pst().expect("pst");
    pp.body()
        .clauses()
        .iter()
        .map(|c| match c {
            pst::Clause::When(x) => (true, x.as_ref().clone()),
            pst::Clause::Unless(x) => (false, x.as_ref().clone()),
        })
        .collect()
}

fn names(pop: &Population, b: &Bits) -> Vec<String> {
    b.ones().map(|i| pop.ids[i].clone()).collect()
}

/// The principals Cedar itself allows, one by one.
fn truth(pop: &Population, t: &Translated, ps: &PolicySet) -> Vec<String> {
    let e = engine();
    let auth = Authorizer::new();
    pop.ids
        .iter()
        .filter(|id| {
            let req = Request::new(
                e.uid(pop.ty, id).expect("principal"),
                e.uid("Action", &t.action).expect("action"),
                e.uid(&t.resource.ty, &t.resource.id).expect("resource"),
                e.cedar_context(t).expect("context"),
                Some(&e.bundle.schema),
            )
            .expect("request");
            auth.is_authorized(&req, ps, e.entities().expect("entities"))
                .decision()
                == cedar_policy::Decision::Allow
        })
        .cloned()
        .collect()
}

/// A permit read as `two_level` reads it: the residual with principal and resource unknown,
/// evaluated with the resource known. A set it reads must be Cedar's.
fn shared(ty: &str, action: &str, resource: &str, body: &str) -> Read {
    read_as(ty, action, resource, body, false)
}

/// A permit read as `fast` reads it: the residual with the resource known.
fn known(ty: &str, action: &str, resource: &str, body: &str) -> Read {
    read_as(ty, action, resource, body, true)
}

fn read_as(ty: &str, action: &str, resource: &str, body: &str, resource_known: bool) -> Read {
    let (a, pop) = (auditor(), pop(ty));
    let t = translated(pop, action, resource);
    let ps = permit(action, body);
    let r = residual(pop, &t, &ps, resource_known);
    let read = if resource_known { by_set_of } else { by_eval };
    let set = read(a, pop, &t.resource, &clauses(&r)).map(|b| names(pop, &b));
    if let Some(s) = &set {
        assert_eq!(
            s,
            &truth(pop, &t, &ps),
            "the reader disagrees with Cedar on {r}"
        );
    }
    Read {
        residual: r.to_string(),
        set,
    }
}

/// `two_level`'s reading of one residual's clauses.
fn by_eval(a: &Auditor, pop: &Population, res: &Uid, cs: &[(bool, Expr)]) -> Option<Bits> {
    a.reader(pop, res).shared(&Residual::Clauses(cs.to_vec()))
}

/// `fast`'s reading of one residual's clauses.
fn by_set_of(a: &Auditor, pop: &Population, res: &Uid, cs: &[(bool, Expr)]) -> Option<Bits> {
    a.reader(pop, res).known(&Residual::Clauses(cs.to_vec()))
}

/// Both readers on the same policy (on a resource whose attributes play no part).
fn both(ty: &str, body: &str) -> (Read, Read) {
    let (action, resource) = if ty == ty::SERVICE_ID || ty == ty::USER {
        ("api-key-get", "key-kate-1")
    } else {
        ("login", "acme")
    };
    (
        shared(ty, action, resource, body),
        known(ty, action, resource, body),
    )
}

/// A condition over the users as a policy writes it, not through TPE (for the shapes TPE
/// decides on its own when it knows the principal's type): (`eval`'s set, `set_of`'s set).
fn as_written(cond: &str) -> (Option<Vec<String>>, Option<Vec<String>>) {
    let (a, pop) = (auditor(), pop(ty::USER));
    let p = cedar_policy::Policy::from_str(&format!(
        "permit (principal, action, resource) when {{ {cond} }};"
    ))
    .expect("parses");
    let cs = clauses(&p);
    let res = crate::decide::entities::EntityRef {
        ty: ty::USER_API_KEY.to_string(),
        id: "key-kate-1".to_string(),
    };
    (
        by_eval(a, pop, &res, &cs).map(|b| names(pop, &b)),
        by_set_of(a, pop, &res, &cs).map(|b| names(pop, &b)),
    )
}

fn ids(xs: &[&str]) -> Option<Vec<String>> {
    Some(xs.iter().map(|s| s.to_string()).collect())
}

fn assert_shape(r: &Read, shape: &str) {
    assert!(
        r.residual.contains(shape),
        "the residual {} does not have the shape {shape}",
        r.residual
    );
}

const USERS_BUT_IVAN: &[&str] = &[
    "alice", "carl", "dana", "olga", "eddie", "vera", "kate", "kim", "nora", "fred", "pat", "gina",
];

#[test]
fn principal_eq_entity() {
    let (s, k) = both(ty::USER, r#"when { principal == User::"ivan" }"#);
    assert_shape(&s, r#"principal == User::"ivan""#);
    assert_eq!(s.set, ids(&["ivan"]));
    assert_eq!(k.set, ids(&["ivan"]));
    // An entity of another type is nobody (TPE drops such a permit; read as written).
    let nobody = (Some(vec![]), Some(vec![]));
    assert_eq!(as_written(r#"principal == ServiceId::"ci-bot""#), nobody);
}

#[test]
fn principal_not_eq_entity() {
    let (s, k) = both(ty::USER, r#"when { principal != User::"ivan" }"#);
    assert_eq!(s.set, ids(USERS_BUT_IVAN));
    assert_eq!(k.set, ids(USERS_BUT_IVAN));
}

#[test]
fn principal_in_entity_and_in_set() {
    let (s, k) = both(ty::USER, r#"when { principal in Account::"globex" }"#);
    assert_shape(&s, r#"principal in Account::"globex""#);
    assert_eq!(s.set, ids(&["pat", "gina"]));
    assert_eq!(k.set, ids(&["pat", "gina"]));
    let body = r#"when { principal in [AccessGroup::"key-creators", AccessGroup::"platform-us"] }"#;
    let (s, k) = both(ty::USER, body);
    assert_shape(&s, "principal in [");
    assert_eq!(s.set, ids(&["kate", "kim", "fred"]));
    assert_eq!(k.set, ids(&["kate", "kim", "fred"]));
    // A role nobody holds: TPE writes the empty set.
    let body = r#"when { principal in context.roles["user-management"]["Viewer"] || principal == User::"kim" }"#;
    let (s, k) = both(ty::USER, body);
    assert_shape(&s, "principal in []");
    assert_eq!(s.set, ids(&["kim"]));
    assert_eq!(k.set, ids(&["kim"]));
}

#[test]
fn principal_is_type() {
    // With the principal's type known TPE decides `is` on its own: the permit is true or gone.
    let pop = pop(ty::USER);
    let t = translated(pop, "api-key-get", "key-kate-1");
    let ps = permit(
        "api-key-get",
        r#"when { principal is User in Account::"globex" }"#,
    );
    let r = residual(pop, &t, &ps, false);
    assert_eq!(
        by_eval(auditor(), pop, &t.resource, &clauses(&r)).map(|b| names(pop, &b)),
        ids(&["pat", "gina"])
    );
    assert_eq!(truth(pop, &t, &ps), vec!["pat", "gina"]);
    // The shape itself, as a policy writes it (TPE may leave it in a larger residual).
    let every: Vec<String> = pop.ids.clone();
    assert_eq!(
        as_written("principal is User"),
        (Some(every.clone()), Some(every))
    );
    assert_eq!(
        as_written("principal is ServiceId"),
        (Some(vec![]), Some(vec![]))
    );
    assert_eq!(
        as_written(r#"principal is User in Account::"globex""#),
        (ids(&["pat", "gina"]), ids(&["pat", "gina"]))
    );
}

#[test]
fn entity_in_principal_attr() {
    let (s, k) = both(
        ty::SERVICE_ID,
        r#"when { Account::"acme" in principal.account }"#,
    );
    assert_shape(&s, r#"Account::"acme" in principal.account"#);
    assert_eq!(s.set, ids(&["ci-bot", "nora-bot"]));
    assert_eq!(k.set, ids(&["ci-bot", "nora-bot"]));
    // Through the hierarchy: whose account is one of gina's (she is a member of globex).
    let (s, k) = both(
        ty::SERVICE_ID,
        r#"when { User::"gina" in principal.account }"#,
    );
    assert_eq!(s.set, ids(&["deploy-bot"]));
    assert_eq!(k.set, ids(&["deploy-bot"]));
}

#[test]
fn bool_attr() {
    let (s, k) = both(ty::USER, "when { principal.functional }");
    assert_shape(&s, "principal.functional");
    assert_eq!(s.set, ids(&["fred"]));
    assert_eq!(k.set, ids(&["fred"]));
    // A path to a Bool: the key's identity.
    let (s, _) = both(ty::USER_API_KEY, "when { principal.identity.functional }");
    assert_eq!(s.set, ids(&["key-fred-cluster", "key-fred-old"]));
}

#[test]
fn long_attr_compared_with_literal() {
    let (s, k) = both(ty::USER, "when { principal.key_count > 1 }");
    // TPE writes `>` as the negation of `<=`.
    assert_shape(&s, "!(principal.key_count <= 1)");
    assert_eq!(s.set, ids(&["alice", "fred", "pat"]));
    assert_eq!(k.set, ids(&["alice", "fred", "pat"]));
    for (body, want) in [
        (
            "when { 1 < principal.key_count }",
            &["alice", "fred", "pat"][..],
        ),
        (
            "when { principal.key_count == 0 }",
            &["olga", "eddie", "vera", "nora", "gina"][..],
        ),
        (
            "when { principal.key_count != 1 }",
            &[
                "alice", "olga", "eddie", "vera", "nora", "fred", "pat", "gina",
            ][..],
        ),
        (
            "when { principal.key_count <= 0 }",
            &["olga", "eddie", "vera", "nora", "gina"][..],
        ),
        (
            "when { 2 <= principal.key_count }",
            &["alice", "fred", "pat"][..],
        ),
        (
            "when { principal.key_count >= 2 }",
            &["alice", "fred", "pat"][..],
        ),
    ] {
        let (s, k) = both(ty::USER, body);
        assert_eq!(s.set, ids(want), "{body}");
        assert_eq!(k.set, ids(want), "{body}");
    }
}

#[test]
fn and_or_not() {
    let (s, k) = both(
        ty::USER,
        r#"when { principal in Account::"globex" && principal.key_count >= 1 }"#,
    );
    assert_shape(&s, "&&");
    assert_eq!(s.set, ids(&["pat"]));
    assert_eq!(k.set, ids(&["pat"]));
    let (s, k) = both(
        ty::USER,
        r#"when { principal.functional || principal == User::"gina" }"#,
    );
    assert_shape(&s, "||");
    assert_eq!(s.set, ids(&["fred", "gina"]));
    assert_eq!(k.set, ids(&["fred", "gina"]));
    let (s, k) = both(ty::USER, r#"when { !(principal in Account::"acme") }"#);
    assert_shape(&s, "!(");
    assert_eq!(s.set, ids(&["gina"]));
    assert_eq!(k.set, ids(&["gina"]));
    // `unless` is the complement.
    let (s, k) = both(ty::USER, r#"unless { principal in Account::"acme" }"#);
    assert_eq!(s.set, ids(&["gina"]));
    assert_eq!(k.set, ids(&["gina"]));
}

#[test]
fn short_circuit_guards_the_right_side() {
    // The right side errors where `has` is false: `&&` must not evaluate it there.
    let body = r#"when { principal has created_by && principal.created_by == User::"ivan" }"#;
    let (s, k) = both(ty::SERVICE_ID, body);
    assert_shape(&s, "has created_by");
    assert_eq!(s.set, ids(&["ci-bot"]));
    assert_eq!(k.set, None, "set_of does not read `has`");
}

#[test]
fn if_then_else() {
    let body = r#"when { if principal.functional then principal.key_count > 1 else principal == User::"gina" }"#;
    let (s, k) = both(ty::USER, body);
    assert_shape(&s, "if ");
    assert_eq!(s.set, ids(&["fred", "gina"]));
    assert_eq!(k.set, ids(&["fred", "gina"]));
}

#[test]
fn datetime_and_duration() {
    // As the expiry policy leaves it: `principal.expires_at <= datetime(..).offset(duration(..))`.
    let body = "when { principal has expires_at && principal.expires_at <= context.now }";
    let (s, k) = both(ty::USER_API_KEY, body);
    assert_shape(&s, "offset(duration(");
    assert_eq!(s.set, ids(&["key-carl-old"]));
    assert_eq!(k.set, None, "set_of does not read datetimes");
    let body =
        r#"when { principal has expires_at && principal.expires_at > datetime("2027-02-01") }"#;
    let (s, _) = both(ty::USER_API_KEY, body);
    assert_eq!(
        s.set,
        ids(&["key-alice-1", "key-kim-cluster", "key-fred-cluster"])
    );
}

#[test]
fn set_contains_principal() {
    let body = r#"when { [User::"alice", User::"ivan"].contains(principal) }"#;
    let (s, k) = both(ty::USER, body);
    assert_shape(&s, ".contains(principal)");
    assert_eq!(s.set, ids(&["alice", "ivan"]));
    assert_eq!(k.set, None, "set_of does not read `contains`");
}

#[test]
fn shapes_over_the_resource() {
    // The base policies' shared residuals, evaluated with the resource.
    let acme = &USERS_ALL[..12];
    let owner = "when { principal == resource.account.owner }";
    let classic = "when { (principal.classic_pre <= resource.classic_pre) && (resource.classic_pre <= principal.classic_last) }";
    let creator = "when { (resource.identity has created_by) && (resource.identity.created_by == principal) }";
    let same_node = "when { principal.classic_pre == resource.identity.classic_pre }";
    let member = "when { principal in resource.account }";
    for (action, resource, body, want) in [
        ("api-key-get", "key-kim-cluster", owner, &["alice"][..]),
        (
            "user-remove",
            "dana",
            classic,
            &["alice", "ivan", "carl", "dana"][..],
        ),
        ("api-key-get", "key-ci-1", creator, &["ivan"][..]),
        ("api-key-get", "key-kate-1", same_node, &["kate"][..]),
        ("api-key-get", "key-kim-cluster", member, acme),
    ] {
        let r = shared(ty::USER, action, resource, body);
        let shape = body.trim_start_matches("when { ").trim_end_matches(" }");
        assert_shape(&r, shape);
        assert_eq!(r.set, ids(want), "{body} on {resource}");
    }
}

#[test]
fn classic_intervals_are_read_as_sets() {
    // R20 as policies/classic.cedar writes it: with the resource known, two Long comparisons
    // with literals, read by `set_of` (not decided one by one).
    let body = "when { principal.classic_pre <= resource.classic_pre && resource.classic_pre <= principal.classic_last }";
    let above_dana = ids(&["alice", "ivan", "carl", "dana"]);
    for action in ["classic-api-key-get", "classic-api-key-delete"] {
        let k = known(ty::USER, action, "dana", body);
        assert_eq!(k.set, above_dana, "{action}: {}", k.residual);
        assert_eq!(shared(ty::USER, action, "dana", body).set, above_dana);
    }
}

#[test]
fn unreadable_shapes_are_none() {
    // A string match, a Set attribute's `contains`: neither reader guesses.
    let contains = r#"when { principal.classic_key_accounts.contains(Account::"acme") }"#;
    assert_eq!(
        shared(ty::USER, "api-key-get", "key-kate-1", contains).set,
        None
    );
    assert_eq!(
        known(ty::USER, "api-key-get", "key-kate-1", contains).set,
        None
    );
    let like = r#"when { principal.name like "*kube*" }"#;
    assert_eq!(shared(ty::USER_API_KEY, "login", "acme", like).set, None);
}

#[test]
fn principal_attr_paths() {
    // A key's attributes, and its identity's, followed entity by entity.
    let above_dana = [
        "key-alice-1",
        "key-alice-cluster",
        "key-ivan-1",
        "key-carl-old",
        "key-dana-1",
    ];
    for (body, want) in [
        (
            r#"principal.identity in Account::"globex""#,
            &["key-pat-acme", "key-pat-globex"][..],
        ),
        (
            r#"Account::"globex" in principal.account"#,
            &["key-pat-globex"][..],
        ),
        (
            "(principal.identity.classic_pre <= 3) && (3 <= principal.identity.classic_last)",
            &above_dana[..],
        ),
        (r#"principal.name == "terraform""#, &["key-kate-1"][..]),
    ] {
        let r = shared(
            ty::USER_API_KEY,
            "login",
            "acme",
            &format!("when {{ {body} }}"),
        );
        assert_shape(&r, body);
        assert_eq!(r.set, ids(want), "{body}");
    }
}

#[test]
fn concrete_parts_with_the_resource() {
    // Where the principal plays no part the value is concrete, and `&&`, `||`, `if` pass it on.
    let user = ty::USER;
    for (resource, body, want) in [
        (
            "us-prod-1",
            r#"when { resource.addons.contains("autoscaler") && principal.functional }"#,
            &["fred"][..],
        ),
        (
            "us-prod-2",
            r#"when { resource.addons.contains("autoscaler") && principal.functional }"#,
            &[][..],
        ),
        (
            "us-prod-2",
            r#"when { resource.region == "us-south" || principal.functional }"#,
            USERS_ALL,
        ),
        (
            "eu-prod-1",
            r#"when { resource.region == "us-south" || principal.functional }"#,
            &["fred"][..],
        ),
        (
            "us-prod-1",
            r#"when { resource in Account::"globex" || principal == User::"kim" }"#,
            &["kim"][..],
        ),
        (
            "gx-web-1",
            r#"when { if resource is Cluster then principal == User::"pat" else false }"#,
            &["pat"][..],
        ),
        (
            "us-prod-1",
            r#"when { if resource.region == "eu-de" then true else principal == User::"kim" }"#,
            &["kim"][..],
        ),
        (
            "us-prod-1",
            r#"when { resource has region && principal == resource.account.owner }"#,
            &["alice"][..],
        ),
    ] {
        let r = shared(user, "ks-api-key-info", resource, body);
        assert_eq!(r.set, ids(want), "{body} on {resource}: {}", r.residual);
    }
    // `resource in [..]` (users are below accounts; clusters are not).
    let body = r#"when { resource in [Account::"globex"] && principal == User::"kim" }"#;
    assert_eq!(shared(user, "user-remove", "gina", body).set, ids(&["kim"]));
    assert_eq!(shared(user, "user-remove", "dana", body).set, Some(vec![]));
}

const USERS_ALL: &[&str] = &[
    "alice", "ivan", "carl", "dana", "olga", "eddie", "vera", "kate", "kim", "nora", "fred", "pat",
    "gina",
];
