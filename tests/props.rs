//! Property tests: random worlds and random sequences of requests and events, run through the
//! same [`Runner`] as `keyward run`, with the invariants the evaluator must keep:
//! - a denied or failed step leaves the world byte-identical;
//! - a locked key is never updated, disabled or deleted by a request (R11) - only removing its
//!   user from the account takes it away (R25);
//! - no identity ever holds more than 20 keys (R10), no user more than one classic key per
//!   account (R19);
//! - with the restriction on, every newly created user key's creator held the creator role (R7);
//! - a key value never appears in the serialised world (R12).
//!
//! The oracle for R7 reads role bindings here, in the test: the evaluator itself never does.

use keyward::decide::policy::{self, PolicyBundle, PolicyOptions};
use keyward::decide::request::{ACTIONS, RequestSpec, all_requests};
use keyward::evaluator::scenario::{Expect, Runner, StepResult};
use keyward::world::{
    AccessGroup, Account, ApiKey, ClassicKey, Cluster, ClusterApiKey, LeakAction, Restriction,
    RoleBinding, ServiceId, User, World, parse_world,
};
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

fn bundle() -> &'static PolicyBundle {
    static B: OnceLock<PolicyBundle> = OnceLock::new();
    B.get_or_init(|| policy::load(&PolicyOptions::default()).expect("shipped policies"))
}

/// splitmix64: the randomness of one case comes from proptest's seed, so failures replay.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, pct: u64) -> bool {
        self.next() % 100 < pct
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
}

const RESTRICTIONS: [Restriction; 3] = [
    Restriction::Restricted,
    Restriction::NotRestricted,
    Restriction::NotSet,
];
const LEAKS: [LeakAction; 3] = [LeakAction::None, LeakAction::Disable, LeakAction::Delete];
const CREATOR: &str = "User API key creator";

/// A random valid world: two accounts, 3-6 users, two service IDs, an access group, random role
/// bindings (every service and role of the schema), keys (some identities at 19 or 20), classic
/// keys and a cluster API key slot.
fn random_world(seed: u64) -> World {
    let mut r = Rng(seed);
    let catalog = &bundle().roles;
    let n = 3 + r.below(4);
    let mut w = World {
        now: Some("2026-11-23T12:00:00Z".into()),
        ..Default::default()
    };
    for (i, a) in ["a1", "a2"].iter().enumerate() {
        w.accounts.push(Account {
            id: a.to_string(),
            owner: format!("u{i}"),
            default_resource_group: "default".into(),
            restrict_user_api_key_creation: *r.pick(&RESTRICTIONS),
            ..Default::default()
        });
    }
    for i in 0..n {
        let mut accounts = match i {
            0 => vec!["a1".to_string()],
            1 => vec!["a2".to_string()],
            _ => vec![r.pick(&["a1", "a2"]).to_string()],
        };
        if r.chance(30) {
            let other = if accounts[0] == "a1" { "a2" } else { "a1" };
            accounts.push(other.into());
        }
        w.users.push(User {
            id: format!("u{i}"),
            accounts,
            functional: r.chance(20),
            classic_parent: (i > 0 && r.chance(50)).then(|| format!("u{}", r.below(i))),
            ..Default::default()
        });
    }
    for (s, a) in [("s1", "a1"), ("s2", "a2")] {
        w.service_ids.push(ServiceId {
            id: s.into(),
            account: a.into(),
            created_by: r.chance(70).then(|| format!("u{}", r.below(n))),
            ..Default::default()
        });
    }
    let members = |w: &World, a: &str| -> Vec<String> {
        let mut m: Vec<String> = w
            .users
            .iter()
            .filter(|u| u.accounts.iter().any(|x| x == a))
            .map(|u| u.id.clone())
            .collect();
        m.extend(
            w.service_ids
                .iter()
                .filter(|s| s.account == a)
                .map(|s| s.id.clone()),
        );
        m
    };
    let g_members: Vec<String> = members(&w, "a1")
        .into_iter()
        .filter(|_| r.chance(50))
        .collect();
    w.access_groups.push(AccessGroup {
        id: "g1".into(),
        account: "a1".into(),
        members: g_members,
        ..Default::default()
    });
    let services: Vec<String> = catalog.services().map(String::from).collect();
    for _ in 0..r.below(9) {
        let account = r.pick(&["a1", "a2"]).to_string();
        let mut subjects = members(&w, &account);
        if account == "a1" {
            subjects.push("g1".into());
        }
        let service = r.pick(&services).clone();
        let roles: Vec<String> = catalog
            .roles(&service)
            .map(|s| s.to_vec())
            .unwrap_or_default();
        if roles.is_empty() {
            continue;
        }
        let k8s = service == "containers-kubernetes";
        w.role_bindings.push(RoleBinding {
            subject: r.pick(&subjects).clone(),
            account,
            service,
            roles: vec![r.pick(&roles).clone()],
            region: (k8s && r.chance(40)).then(|| "us-south".to_string()),
            resource_group: None,
            resource: None,
        });
    }
    let identities: Vec<(String, Vec<String>)> = w
        .users
        .iter()
        .map(|u| (u.id.clone(), u.accounts.clone()))
        .chain(
            w.service_ids
                .iter()
                .map(|s| (s.id.clone(), vec![s.account.clone()])),
        )
        .collect();
    let full = r.chance(60).then(|| r.below(identities.len()));
    let mut next = 0;
    for (j, (id, accounts)) in identities.iter().enumerate() {
        let count = if Some(j) == full {
            19 + r.below(2)
        } else {
            r.below(4)
        };
        for _ in 0..count {
            next += 1;
            w.api_keys.push(ApiKey {
                id: format!("k{next}"),
                name: "key".into(),
                identity: id.clone(),
                account: r.pick(accounts).clone(),
                description: String::new(),
                created_by: None,
                locked: r.chance(25),
                disabled: r.chance(15),
                expires_at: match r.below(3) {
                    0 => None,
                    1 => Some("2026-01-01T00:00:00Z".into()),
                    _ => Some("2027-06-01T00:00:00Z".into()),
                },
                action_when_leaked: *r.pick(&LEAKS),
                etag: r.chance(80).then(|| "1".to_string()),
                obsolete: false,
                fingerprint: None,
            });
        }
    }
    let memberships: Vec<(String, String)> = w
        .users
        .iter()
        .flat_map(|u| u.accounts.iter().map(move |a| (u.id.clone(), a.clone())))
        .collect();
    for (u, a) in memberships {
        if r.chance(30) {
            let id = format!("ck-{u}-{a}");
            w.classic_keys.push(ClassicKey {
                id,
                user: u,
                account: a,
            });
        }
    }
    w.clusters.push(Cluster {
        id: "c1".into(),
        account: "a1".into(),
        region: "us-south".into(),
        resource_group: "default".into(),
        addons: vec!["block-storage".into()],
        ..Default::default()
    });
    w.clusters.push(Cluster {
        id: "c2".into(),
        account: "a2".into(),
        region: "us-south".into(),
        resource_group: "default".into(),
        addons: vec![],
        ..Default::default()
    });
    if let (true, false) = (r.chance(70), w.api_keys.is_empty()) {
        let k = r.pick(&w.api_keys).id.clone();
        w.cluster_api_keys.push(ClusterApiKey {
            account: "a1".into(),
            region: "us-south".into(),
            resource_group: "default".into(),
            api_key: k,
        });
    }
    // Through the loader, as a world file would be: valid, with defaults filled.
    parse_world("random.yaml", &w.to_yaml(), &bundle().roles)
        .unwrap_or_else(|p| panic!("the generator made an invalid world: {p}\n{}", w.to_yaml()))
}

enum Op {
    Request(RequestSpec),
    Leak(String),
}

/// A random next step on the current state: an action first (so every action is exercised),
/// then one of its requests, with random args; now and then a leak.
fn random_op(r: &mut Rng, runner: &Runner) -> Option<Op> {
    let w = runner.world();
    if r.chance(10) && !w.api_keys.is_empty() {
        return Some(Op::Leak(r.pick(&w.api_keys).id.clone()));
    }
    let action = *r.pick(&ACTIONS);
    let candidates: Vec<RequestSpec> = all_requests(&runner.engine().tr)
        .into_iter()
        .filter(|s| s.action == action)
        .collect();
    if candidates.is_empty() {
        return None;
    }
    let mut s = r.pick(&candidates).clone();
    match action {
        "api-key-update" => {
            let cur = w
                .api_keys
                .iter()
                .find(|k| Some(&k.id) == s.resource.as_ref())
                .map(|k| k.etag.clone().unwrap_or_else(|| "1".into()))
                .unwrap_or_default();
            match r.below(10) {
                0..=4 => {
                    s.args.insert("etag".into(), cur);
                }
                5 | 6 => {
                    s.args.insert("etag".into(), "*".into());
                }
                7 | 8 => {
                    s.args.insert("etag".into(), "999".into());
                }
                _ => {}
            }
            s.args
                .insert("name".into(), format!("renamed-{}", r.below(100)));
            if r.chance(50) {
                s.args.insert(
                    "action_when_leaked".into(),
                    r.pick(&LEAKS).as_str().to_string(),
                );
            }
        }
        "api-key-create" => {
            if r.chance(30) {
                let v: String = (0..40)
                    .map(|_| char::from(b'a' + r.below(26) as u8))
                    .collect();
                s.args.insert("apikey".into(), v);
            }
            if r.chance(20) {
                s.args.insert("locked".into(), "true".into());
            }
        }
        "account-settings-update" => {
            s.args.insert(
                "restrict_user_api_key_creation".into(),
                r.pick(&RESTRICTIONS).as_str().to_string(),
            );
        }
        _ => {}
    }
    if r.chance(5) {
        s.now = Some("2028-01-01T00:00:00Z".into());
    }
    s.via_trusted_profile = r.chance(5);
    Some(Op::Request(s))
}

/// Does `who` hold the creator role on the IAM Identity Service of `account`, account-wide,
/// directly or through an access group? (The test's own reading of R3 and R7.)
fn holds_creator(w: &World, who: &str, account: &str) -> bool {
    w.role_bindings.iter().any(|b| {
        b.account == account
            && b.service == "iam-identity"
            && b.resource.is_none()
            && b.roles.iter().any(|r| r == CREATOR)
            && (b.subject == who
                || w.access_groups.iter().any(|g| {
                    g.id == b.subject && g.account == account && g.members.iter().any(|m| m == who)
                }))
    })
}

fn check_step(
    before: &World,
    after: &World,
    op: &Op,
    res: &StepResult,
    secrets: &[String],
) -> Result<(), String> {
    let (b_text, a_text) = (before.to_yaml(), after.to_yaml());
    if res.got() != Expect::Allow && b_text != a_text {
        return Err(format!("a {:?} step changed the world", res.got()));
    }
    let keys_before: HashMap<&str, &ApiKey> =
        before.api_keys.iter().map(|k| (k.id.as_str(), k)).collect();
    let keys_after: HashMap<&str, &ApiKey> =
        after.api_keys.iter().map(|k| (k.id.as_str(), k)).collect();
    if let Op::Request(s) = op {
        for (id, k) in keys_before.iter().filter(|(_, k)| k.locked) {
            match keys_after.get(id) {
                None if s.action != "user-remove" => {
                    return Err(format!("locked key {id} deleted by {}", s.action));
                }
                None => {}
                Some(a) => {
                    let same = a.name == k.name
                        && a.description == k.description
                        && a.expires_at == k.expires_at
                        && a.action_when_leaked == k.action_when_leaked;
                    if !same {
                        return Err(format!("locked key {id} updated by {}", s.action));
                    }
                    if a.disabled && !k.disabled {
                        return Err(format!("locked key {id} disabled by {}", s.action));
                    }
                }
            }
        }
        // R7 oracle: a user key created while its account restricts creation.
        for (id, k) in keys_after
            .iter()
            .filter(|(id, _)| !keys_before.contains_key(*id))
        {
            let is_user = before.users.iter().any(|u| u.id == k.identity);
            let restricted = before
                .account(&k.account)
                .is_some_and(|a| a.restrict_user_api_key_creation == Restriction::Restricted);
            let creator = k.created_by.as_deref().unwrap_or(&k.identity);
            if is_user && restricted && !holds_creator(before, creator, &k.account) {
                return Err(format!(
                    "user key {id} created by {creator} in restricted {} without the creator role ({})",
                    k.account, s.action
                ));
            }
        }
    }
    let mut per_identity: BTreeMap<&str, usize> = BTreeMap::new();
    for k in &after.api_keys {
        *per_identity.entry(k.identity.as_str()).or_default() += 1;
    }
    if let Some((who, n)) = per_identity.iter().find(|(_, n)| **n > 20) {
        return Err(format!("{who} holds {n} keys"));
    }
    let mut classic: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for c in &after.classic_keys {
        *classic
            .entry((c.user.as_str(), c.account.as_str()))
            .or_default() += 1;
    }
    if let Some(((u, a), n)) = classic.iter().find(|(_, n)| **n > 1) {
        return Err(format!("{u} holds {n} classic keys in {a}"));
    }
    if let Some(v) = secrets.iter().find(|v| a_text.contains(v.as_str())) {
        return Err(format!("a key value is in the world: {v}"));
    }
    Ok(())
}

/// How many steps of each outcome a case saw (allow, deny, fail).
type Tally = [usize; 3];

fn run_case(world_seed: u64, ops_seed: u64, steps: usize) -> Result<Tally, TestCaseError> {
    let world = random_world(world_seed);
    let mut runner = Runner::new(bundle().clone(), world, None)
        .map_err(|p| TestCaseError::fail(format!("{p}")))?;
    let mut r = Rng(ops_seed);
    let mut secrets: Vec<String> = Vec::new();
    let mut log = Vec::new();
    let mut tally = [0; 3];
    for _ in 0..steps {
        let Some(op) = random_op(&mut r, &runner) else {
            continue;
        };
        let before = runner.world().clone();
        let res = match &op {
            Op::Request(s) => {
                if let Some(v) = s.args.get("apikey") {
                    secrets.push(v.clone());
                }
                log.push(format!(
                    "{} {} {:?} {:?}",
                    s.principal, s.action, s.resource, s.args
                ));
                runner.request(s)
            }
            Op::Leak(k) => {
                log.push(format!("leak {k}"));
                runner.leak(k, &None)
            }
        };
        if let Some(s) = res.effect.as_ref().and_then(|e| e.secret.as_ref()) {
            secrets.push(s.reveal().to_string());
        }
        tally[match res.got() {
            Expect::Allow => 0,
            Expect::Deny => 1,
            Expect::Fail => 2,
        }] += 1;
        let last = log.last_mut().unwrap();
        last.push_str(&format!(" -> {:?}", res.got()));
        if let Err(e) = check_step(&before, runner.world(), &op, &res, &secrets) {
            return Err(TestCaseError::fail(format!(
                "{e}\nsteps:\n{}",
                log.join("\n")
            )));
        }
    }
    Ok(tally)
}

proptest! {
    // Modest: each step rebuilds Cedar entities; the whole file runs in seconds in debug.
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_operation_sequences_keep_the_invariants(
        world_seed in any::<u64>(),
        ops_seed in any::<u64>(),
        steps in 1usize..24,
    ) {
        run_case(world_seed, ops_seed, steps)?;
    }
}

/// The generator makes worlds that exercise the limits: some identity at 19 or 20 keys.
#[test]
fn random_worlds_reach_the_key_limit() {
    let full = (0..20u64)
        .filter(|s| {
            let w = random_world(*s);
            let mut c: HashMap<&str, usize> = HashMap::new();
            for k in &w.api_keys {
                *c.entry(k.identity.as_str()).or_default() += 1;
            }
            c.values().any(|n| *n >= 19)
        })
        .count();
    assert!(
        full >= 5,
        "only {full} of 20 worlds have an identity near the limit"
    );
}

/// Long sequences on a few fixed seeds, where creations pile up on the same identities; they
/// see every outcome, so the invariants are exercised on changes, denials and failures alike.
#[test]
fn long_sequences_keep_the_invariants() {
    let mut total = [0; 3];
    for seed in 0..4u64 {
        let t = run_case(seed, seed.wrapping_mul(7919), 80).unwrap_or_else(|e| panic!("{e}"));
        for i in 0..3 {
            total[i] += t[i];
        }
    }
    let [allowed, denied, failed] = total;
    assert!(
        allowed >= 40 && denied >= 40 && failed >= 5,
        "allowed {allowed}, denied {denied}, failed {failed}"
    );
}
