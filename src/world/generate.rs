//! Synthetic worlds for benchmarks, audits and demos: `keyward generate` builds a valid, realistic
//! [`World`] from a handful of sizes and a seed, byte-identical for the same arguments.
//!
//! Owns the shape of generated worlds only. The role names written here are *data*, as in a
//! fixture file: each is checked against the schema's `type Roles` before anything is built, so a
//! schema without them is a clear error rather than a world that does not load. Nothing here
//! decides what a role grants.
//!
//! Randomness is a splitmix64 stream seeded with `--seed`: a dozen lines with a fixed,
//! documented algorithm, so the output of a seed cannot change under a dependency upgrade (a
//! `rand` minor release may change its generators' streams). Every collection iterated here is
//! ordered (`Vec`, `BTreeMap`), never a hash map, so the output depends on the arguments alone.

use crate::world::RoleCatalog;
use crate::world::problem::Problem;
use crate::world::{
    AccessGroup, Account, ApiKey, ClassicKey, Cluster, ClusterApiKey, IAM_IDENTITY, KUBERNETES,
    LeakAction, Restriction, RoleBinding, ServiceId, User, World, cedar_datetime,
};
use std::collections::BTreeSet;

/// The per-identity key limit of docs/rules.md R10; no generated identity exceeds it.
pub const KEY_LIMIT: usize = 20;
/// The most users (`--users`) a generated world may have.
pub const MAX_USERS: usize = 1_000_000;
/// The most accounts (`--accounts`).
pub const MAX_ACCOUNTS: usize = 10_000;
/// The most service IDs (`--service-ids`).
pub const MAX_SERVICE_IDS: usize = 100_000;
/// The largest `--keys-per-user` accepted (values above [`KEY_LIMIT`] are capped at it).
pub const MAX_KEYS_PER_USER: usize = 1_000;
/// The most API keys asked for: (users + service IDs) × min(keys per user, [`KEY_LIMIT`]).
pub const MAX_KEYS: usize = 2_000_000;
/// The evaluation time of generated worlds when `--now` is not given.
pub const DEFAULT_NOW: &str = "2026-11-23T12:00:00Z";

const USER_MANAGEMENT: &str = "user-management";
const ADMINISTRATOR: &str = "Administrator";
const OPERATOR: &str = "Operator";
const EDITOR: &str = "Editor";
const VIEWER: &str = "Viewer";
const KEY_CREATOR: &str = "User API key creator";

/// The (service, role) pairs generated worlds bind; each must be in the schema's catalog.
pub(crate) const ROLES_USED: [(&str, &str); 8] = [
    (IAM_IDENTITY, ADMINISTRATOR),
    (IAM_IDENTITY, OPERATOR),
    (IAM_IDENTITY, EDITOR),
    (IAM_IDENTITY, VIEWER),
    (IAM_IDENTITY, KEY_CREATOR),
    (KUBERNETES, ADMINISTRATOR),
    (KUBERNETES, VIEWER),
    (USER_MANAGEMENT, ADMINISTRATOR),
];

const ACCOUNT_NAMES: [&str; 12] = [
    "acme",
    "globex",
    "initech",
    "umbrella",
    "hooli",
    "stark",
    "wayne",
    "wonka",
    "cyberdyne",
    "tyrell",
    "soylent",
    "vandelay",
];
const FIRST_NAMES: [&str; 32] = [
    "ada", "bruno", "chen", "dara", "elif", "femi", "gus", "hana", "igor", "jana", "kofi", "lena",
    "mateo", "nadia", "omar", "priya", "quinn", "rosa", "sven", "tariq", "uma", "vik", "wen",
    "xena", "yusuf", "zoe", "amir", "bea", "carlos", "dmitri", "eva", "farah",
];
const FUNCTIONS: [&str; 6] = ["deploy", "k8s", "backup", "ci", "monitor", "sync"];
const SERVICE_PURPOSES: [&str; 8] = [
    "pipeline", "deployer", "backup", "metrics", "ingest", "billing", "scanner", "etl",
];
const KEY_NAMES: [&str; 10] = [
    "laptop",
    "terraform",
    "cli",
    "scripts",
    "backup",
    "monitoring",
    "deploy",
    "reporting",
    "migration",
    "notebook",
];
const REGIONS: [&str; 6] = ["us-south", "us-east", "eu-de", "eu-gb", "jp-tok", "au-syd"];
const SECOND_GROUPS: [&str; 3] = ["batch", "dev", "analytics"];
const ADDONS: [&str; 3] = ["block-storage", "autoscaler", "istio"];
/// The name the Kubernetes Service gives the keys a reset creates.
const CLUSTER_KEY_NAME: &str = "containers-kubernetes-key";

/// The sizes and seed of a generated world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateOptions {
    /// Users, functional IDs and account owners included (at least 1).
    pub users: usize,
    /// The mean number of API keys per user; no identity gets more than [`KEY_LIMIT`].
    pub keys_per_user: usize,
    /// Service IDs, spread over the accounts.
    pub service_ids: usize,
    /// Accounts (at least 1); owners are reused when there are fewer users than accounts.
    pub accounts: usize,
    pub seed: u64,
    /// The world's `now` (RFC 3339); [`DEFAULT_NOW`] when absent.
    pub now: Option<String>,
}

/// splitmix64 (Steele, Lea, Flood 2014): the whole generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when n is 0); multiply-shift, whose bias is negligible here.
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi.saturating_sub(lo) + 1)
    }

    /// True with probability `percent`/100.
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }

    /// Fisher-Yates.
    fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            let j = self.below(i + 1);
            xs.swap(i, j);
        }
    }
}

/// What the generator knows of each account while it builds it.
#[derive(Default)]
struct AccountPlan {
    /// Members (user indices), the owner included, ascending.
    members: Vec<usize>,
    /// Members that are people (not functional IDs) and own no account, shuffled.
    people: Vec<usize>,
    /// Functional IDs whose home this is.
    fids: Vec<usize>,
    /// Service IDs of the account (indices).
    sids: Vec<usize>,
    regions: Vec<&'static str>,
    groups: Vec<String>,
    /// IAM Identity Administrators and Operators (they create service IDs and their keys).
    admins: Vec<usize>,
    /// Members of each region's platform access group (user indices), by `regions` position.
    platform: Vec<Vec<usize>>,
}

fn timestamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn check_roles(catalog: &RoleCatalog) -> Result<(), Problem> {
    for (service, role) in ROLES_USED {
        if !catalog
            .roles(service)
            .is_some_and(|rs| rs.iter().any(|r| r == role))
        {
            return Err(Problem::arg(
                "--schema",
                format!(
                    "generated worlds bind `{role}` on {service}, which the schema's type Roles does not declare"
                ),
            ));
        }
    }
    Ok(())
}

/// Every size within its documented bound, so generating takes bounded time and memory.
fn check_bounds(opts: &GenerateOptions) -> Result<(), Problem> {
    let bounds = [
        ("--users", opts.users, MAX_USERS),
        ("--accounts", opts.accounts, MAX_ACCOUNTS),
        ("--service-ids", opts.service_ids, MAX_SERVICE_IDS),
        ("--keys-per-user", opts.keys_per_user, MAX_KEYS_PER_USER),
    ];
    for (flag, value, max) in bounds {
        if value > max {
            return Err(Problem::arg(
                flag,
                format!("{value} is above the limit of {max}"),
            ));
        }
    }
    // Both factors are bounded above, so the product cannot overflow.
    let keys = (opts.users + opts.service_ids) * opts.keys_per_user.min(KEY_LIMIT);
    if keys > MAX_KEYS {
        return Err(Problem::arg(
            "--keys-per-user",
            format!(
                "(--users + --service-ids) × --keys-per-user asks for {keys} API keys, above the limit of {MAX_KEYS}"
            ),
        ));
    }
    Ok(())
}

/// Build a world. Bad sizes or `now` are problems naming their flag.
pub fn generate(opts: &GenerateOptions, catalog: &RoleCatalog) -> Result<World, Problem> {
    if opts.users == 0 {
        return Err(Problem::arg(
            "--users",
            "must be at least 1: every account needs an owner",
        ));
    }
    if opts.accounts == 0 {
        return Err(Problem::arg(
            "--accounts",
            "must be at least 1: every user is a member of an account",
        ));
    }
    check_bounds(opts)?;
    check_roles(catalog)?;
    let now_text = opts.now.clone().unwrap_or_else(|| DEFAULT_NOW.to_string());
    let now = cedar_datetime(&now_text)
        .and_then(|_| chrono::DateTime::parse_from_rfc3339(&now_text).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
        .ok_or_else(|| {
            Problem::arg(
                "--now",
                format!("`{now_text}` is not an RFC 3339 timestamp (e.g. 2026-11-23T12:00:00Z)"),
            )
        })?;
    let mut g = Gen {
        rng: Rng(opts.seed),
        now,
        opts: opts.clone(),
        world: World {
            now: Some(now_text),
            ..Default::default()
        },
        plans: Vec::new(),
        key_counts: vec![0; opts.users],
        sid_key_counts: vec![0; opts.service_ids],
        next_key: 0,
    };
    g.accounts_and_users();
    g.roles_and_groups();
    g.service_ids();
    g.clusters();
    g.keys();
    g.classic_keys();
    Ok(g.world)
}

/// The YAML text of a generated world, with a header saying how to make it again.
pub fn to_yaml(opts: &GenerateOptions, world: &World) -> String {
    let mut s = format!(
        "# generated by: keyward generate --users {} --keys-per-user {} --service-ids {} --accounts {} --seed {}{}\n",
        opts.users,
        opts.keys_per_user,
        opts.service_ids,
        opts.accounts,
        opts.seed,
        opts.now
            .as_ref()
            .map(|n| format!(" --now {n}"))
            .unwrap_or_default()
    );
    s.push_str(&world.to_yaml());
    s
}

struct Gen {
    rng: Rng,
    now: chrono::DateTime<chrono::Utc>,
    opts: GenerateOptions,
    world: World,
    plans: Vec<AccountPlan>,
    /// Keys per user / per service ID so far (never above KEY_LIMIT).
    key_counts: Vec<usize>,
    sid_key_counts: Vec<usize>,
    next_key: usize,
}

/// Who a key is for.
#[derive(Clone, Copy)]
enum Holder {
    User(usize),
    Sid(usize),
}

impl Gen {
    fn account_id(&self, a: usize) -> String {
        let base = ACCOUNT_NAMES[a % ACCOUNT_NAMES.len()];
        match a / ACCOUNT_NAMES.len() {
            0 => base.to_string(),
            n => format!("{base}-{}", n + 1),
        }
    }

    /// Users and accounts, their memberships, functional IDs and the classic hierarchy, with
    /// each account's plan for the later sections. The order of the draws below is the order
    /// of the random stream: changing it changes every generated world.
    fn accounts_and_users(&mut self) {
        let accounts_of = self.memberships();
        let drawn = self.draw_functional();
        self.plans = (0..self.opts.accounts)
            .map(|_| AccountPlan::default())
            .collect();
        for (u, accts) in accounts_of.iter().enumerate() {
            for &a in accts {
                self.plans[a].members.push(u);
            }
        }
        let functional = self.home_functional_ids(drawn);
        self.users(&accounts_of, &functional);
        for a in 0..self.opts.accounts {
            self.account(a);
            self.plan_account(a, &functional);
        }
        self.classic_hierarchy();
    }

    /// Owners: user a owns account a; with fewer users than accounts, owners are reused.
    fn owner_of(&self, a: usize) -> usize {
        a % self.opts.users
    }

    fn is_owner(&self, u: usize) -> bool {
        u < self.opts.accounts.min(self.opts.users)
    }

    /// The accounts of each user: its home (`u % accounts`), the ones it owns, and for a
    /// fraction of the users who own none, one or two more.
    fn memberships(&mut self) -> Vec<Vec<usize>> {
        let (n, a_count) = (self.opts.users, self.opts.accounts);
        let mut accounts_of: Vec<Vec<usize>> = (0..n).map(|u| vec![u % a_count]).collect();
        for a in 0..a_count {
            let o = self.owner_of(a);
            if !accounts_of[o].contains(&a) {
                accounts_of[o].push(a);
            }
        }
        // A fraction of users works in several accounts.
        if a_count > 1 {
            for (u, accts) in accounts_of.iter_mut().enumerate() {
                if self.is_owner(u) || !self.rng.chance(10) {
                    continue;
                }
                for _ in 0..self.rng.range(1, 2) {
                    let extra = self.rng.below(a_count);
                    if !accts.contains(&extra) {
                        accts.push(extra);
                    }
                }
            }
        }
        accounts_of
    }

    /// Which users are functional IDs by chance (never an owner).
    fn draw_functional(&mut self) -> Vec<bool> {
        let mut functional = Vec::with_capacity(self.opts.users);
        for u in 0..self.opts.users {
            let f = !self.is_owner(u) && self.rng.chance(4);
            functional.push(f);
        }
        functional
    }

    /// Each account's functional IDs among its home members, at least one in an account of
    /// some size; gives `drawn` with those made functional too.
    fn home_functional_ids(&mut self, drawn: Vec<bool>) -> Vec<bool> {
        let a_count = self.opts.accounts;
        for a in 0..a_count {
            let home: Vec<usize> = self.plans[a]
                .members
                .iter()
                .copied()
                .filter(|&u| u % a_count == a && !self.is_owner(u))
                .collect();
            let mut fids: Vec<usize> = home.iter().copied().filter(|&u| drawn[u]).collect();
            // Every account of some size runs on at least one functional ID.
            if fids.is_empty() && home.len() >= 3 {
                fids.push(home[home.len() - 1]);
            }
            self.plans[a].fids = fids;
        }
        let mut functional = drawn;
        for p in &self.plans {
            for &f in &p.fids {
                functional[f] = true;
            }
        }
        functional
    }

    /// The user records: functional IDs named by their function, people by a first name.
    fn users(&mut self, accounts_of: &[Vec<usize>], functional: &[bool]) {
        let n = self.opts.users;
        let width = n.to_string().len();
        for u in 0..n {
            let id = if functional[u] {
                format!("fid-{}-{:0width$}", FUNCTIONS[u % FUNCTIONS.len()], u + 1)
            } else {
                format!(
                    "{}-{:0width$}",
                    FIRST_NAMES[self.rng.below(FIRST_NAMES.len())],
                    u + 1
                )
            };
            let mut accts = accounts_of[u].clone();
            accts.sort_unstable();
            self.world.users.push(User {
                id,
                accounts: accts.iter().map(|&a| self.account_id(a)).collect(),
                functional: functional[u],
                classic_parent: None,
                ..Default::default()
            });
        }
    }

    /// The record of account `a`: its owner, key creation setting and default resource group.
    fn account(&mut self, a: usize) {
        let restriction = match self.rng.below(10) {
            0..=3 => Restriction::Restricted,
            4..=6 => Restriction::NotRestricted,
            _ => Restriction::NotSet,
        };
        let default_resource_group = if self.rng.chance(80) {
            "default".to_string()
        } else {
            "main".to_string()
        };
        self.world.accounts.push(Account {
            id: self.account_id(a),
            owner: self.world.users[self.owner_of(a)].id.clone(),
            default_resource_group,
            restrict_user_api_key_creation: restriction,
            ..Default::default()
        });
    }

    /// The people, regions and resource groups of account `a`'s plan.
    fn plan_account(&mut self, a: usize, functional: &[bool]) {
        self.plans[a].members.sort_unstable();
        let mut people: Vec<usize> = self.plans[a]
            .members
            .iter()
            .copied()
            .filter(|&u| !functional[u] && !self.is_owner(u))
            .collect();
        self.rng.shuffle(&mut people);
        let mut regions = REGIONS.to_vec();
        self.rng.shuffle(&mut regions);
        regions.truncate(self.rng.range(2, 3));
        let groups = vec![
            self.world.accounts[a].default_resource_group.clone(),
            SECOND_GROUPS[self.rng.below(SECOND_GROUPS.len())].to_string(),
        ];
        let plan = &mut self.plans[a];
        plan.people = people;
        plan.regions = regions;
        plan.groups = groups;
    }

    /// Classic hierarchy: owner -> admins -> users, at most four levels below the owner. A
    /// user's parent is chosen in its home account, among people placed before it (or the
    /// owner), so the hierarchy has no cycle.
    fn classic_hierarchy(&mut self) {
        let a_count = self.opts.accounts;
        for a in 0..a_count {
            let owner = self.owner_of(a);
            let people = self.plans[a].people.clone();
            let mut depth: Vec<usize> = Vec::with_capacity(people.len());
            for (p, &u) in people.iter().enumerate() {
                let in_home = u % a_count == a;
                let mut d = 0;
                if in_home && (p < 3 || self.rng.chance(60)) {
                    let parent = if p < 3 { None } else { Some(self.rng.below(p)) };
                    let parent = parent.filter(|&q| depth[q] > 0 && depth[q] < 4);
                    let (pu, pd) = match parent {
                        Some(q) => (people[q], depth[q]),
                        None => (owner, 0),
                    };
                    self.world.users[u].classic_parent = Some(self.world.users[pu].id.clone());
                    d = pd + 1;
                }
                depth.push(d);
            }
        }
    }

    fn uid(&self, u: usize) -> String {
        self.world.users[u].id.clone()
    }

    fn bind(&mut self, subject: String, a: usize, service: &str, roles: &[&str]) -> usize {
        self.world.role_bindings.push(RoleBinding {
            subject,
            account: self.account_id(a),
            service: service.to_string(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            region: None,
            resource_group: None,
            resource: None,
        });
        self.world.role_bindings.len() - 1
    }

    fn roles_and_groups(&mut self) {
        for a in 0..self.opts.accounts {
            let people = self.plans[a].people.clone();
            let m = people.len();
            let mut next = 0;
            let mut take = |k: usize| {
                let end = (next + k).min(m);
                let out = people[next..end].to_vec();
                next = end;
                out
            };
            let extra = m / 500;
            let admins = take(self.rng.range(1, 2) + extra);
            let operators = take(self.rng.range(1, 3) + extra);
            let editors = take(self.rng.range(1, 2) + extra);
            let viewers = take(self.rng.range(1, 3) + extra);
            let creators = take(m / 12);
            let k8s_viewers = take(self.rng.range(0, 2) + extra);
            let platform_people: Vec<Vec<usize>> = (0..self.plans[a].regions.len())
                .map(|_| take(self.rng.range(1, 3)))
                .collect();
            for (list, role) in [
                (&admins, ADMINISTRATOR),
                (&operators, OPERATOR),
                (&editors, EDITOR),
                (&viewers, VIEWER),
            ] {
                for &u in list.iter() {
                    self.bind(self.uid(u), a, IAM_IDENTITY, &[role]);
                }
            }
            // User management: the first IAM administrator, and sometimes one more person.
            if let Some(&u) = admins.first() {
                self.bind(self.uid(u), a, USER_MANAGEMENT, &[ADMINISTRATOR]);
            }
            if let Some(&u) = operators.first().filter(|_| self.rng.chance(40)) {
                self.bind(self.uid(u), a, USER_MANAGEMENT, &[ADMINISTRATOR]);
            }
            for &u in &k8s_viewers {
                let i = self.bind(self.uid(u), a, KUBERNETES, &[VIEWER]);
                let region = *self.rng.pick(&self.plans[a].regions);
                self.world.role_bindings[i].region = Some(region.to_string());
                if self.rng.chance(50) {
                    let rg = self.rng.pick(&self.plans[a].groups).clone();
                    self.world.role_bindings[i].resource_group = Some(rg);
                }
            }
            self.key_creators(a, creators);
            let platform = self.platform_admins(a, platform_people);
            let mut staff = admins;
            staff.extend(operators);
            self.plans[a].admins = staff;
            self.plans[a].platform = platform;
        }
    }

    /// The access group of `members` (user indices) in account `a`.
    fn group(&mut self, id: &str, a: usize, members: &[usize]) {
        self.world.access_groups.push(AccessGroup {
            id: id.to_string(),
            account: self.account_id(a),
            members: members.iter().map(|&u| self.uid(u)).collect(),
            ..Default::default()
        });
    }

    /// Key creators: some people and every functional ID of the account.
    fn key_creators(&mut self, a: usize, creators: Vec<usize>) {
        let mut members: Vec<usize> = creators;
        members.extend(self.plans[a].fids.iter().copied());
        members.sort_unstable();
        let group = format!("{}-key-creators", self.account_id(a));
        self.group(&group, a, &members);
        self.bind(group, a, IAM_IDENTITY, &[KEY_CREATOR]);
    }

    /// Platform admins: Kubernetes Administrator in one region each, given to the people
    /// drawn for that region and to some functional IDs; gives each region's members.
    fn platform_admins(&mut self, a: usize, platform_people: Vec<Vec<usize>>) -> Vec<Vec<usize>> {
        let fids = self.plans[a].fids.clone();
        let mut platform = Vec::new();
        let regions = self.plans[a].regions.clone();
        for (mut members, region) in platform_people.into_iter().zip(regions) {
            for &f in &fids {
                if self.rng.chance(70) {
                    members.push(f);
                }
            }
            members.sort_unstable();
            members.dedup();
            let group = format!("{}-platform-{region}", self.account_id(a));
            self.group(&group, a, &members);
            let i = self.bind(group, a, KUBERNETES, &[ADMINISTRATOR]);
            self.world.role_bindings[i].region = Some(region.to_string());
            platform.push(members);
        }
        platform
    }

    fn service_ids(&mut self) {
        for i in 0..self.opts.service_ids {
            let a = i % self.opts.accounts;
            let acct = self.account_id(a);
            let id = format!(
                "svc-{}-{}",
                SERVICE_PURPOSES[self.rng.below(SERVICE_PURPOSES.len())],
                i + 1
            );
            let creator = if self.plans[a].admins.is_empty() || self.rng.chance(20) {
                self.owner_of(a)
            } else {
                *self.rng.pick(&self.plans[a].admins)
            };
            let created_by = (!self.rng.chance(10)).then(|| self.uid(creator));
            self.world.service_ids.push(ServiceId {
                id: id.clone(),
                account: acct.clone(),
                created_by,
                ..Default::default()
            });
            self.plans[a].sids.push(i);
            // Service-ID-scoped bindings: the service ID on itself, or a person on it.
            if self.rng.chance(50) {
                let b = self.bind(id.clone(), a, IAM_IDENTITY, &[OPERATOR]);
                self.world.role_bindings[b].resource = Some(id.clone());
            }
            if self.rng.chance(15) && !self.plans[a].people.is_empty() {
                let u = *self.rng.pick(&self.plans[a].people);
                let role = if self.rng.chance(50) {
                    OPERATOR
                } else {
                    EDITOR
                };
                let b = self.bind(self.uid(u), a, IAM_IDENTITY, &[role]);
                self.world.role_bindings[b].resource = Some(id.clone());
            }
        }
    }

    fn key_id(&mut self) -> String {
        self.next_key += 1;
        format!("key-{:06}", self.next_key)
    }

    fn room(&self, h: Holder) -> usize {
        let used = match h {
            Holder::User(u) => self.key_counts[u],
            Holder::Sid(s) => self.sid_key_counts[s],
        };
        KEY_LIMIT.saturating_sub(used)
    }

    /// Add a key for a holder in an account (the caller checked `room`).
    fn add_key(&mut self, h: Holder, account: String, name: &str, cluster: bool) -> String {
        let id = self.key_id();
        let (identity, created_by) = match h {
            Holder::User(u) => {
                self.key_counts[u] += 1;
                (self.uid(u), None)
            }
            Holder::Sid(s) => {
                self.sid_key_counts[s] += 1;
                let sid = &self.world.service_ids[s];
                let by = sid.created_by.clone().filter(|_| self.rng.chance(70));
                (sid.id.clone(), by)
            }
        };
        // Reset-created keys rarely expire; personal ones often do.
        let expires_at = match self.rng.below(100) {
            _ if cluster && self.rng.chance(85) => None,
            0..=49 => Some(self.now + chrono::Duration::days(self.rng.range(7, 400) as i64)),
            50..=61 => Some(self.now - chrono::Duration::days(self.rng.range(1, 300) as i64)),
            _ => None,
        };
        let action_when_leaked = match self.rng.below(100) {
            0..=9 => LeakAction::None,
            10..=24 => LeakAction::Delete,
            _ => LeakAction::Disable,
        };
        let fingerprint = self.rng.chance(30).then(|| {
            format!(
                "sha256:{:016x}{:016x}{:016x}{:016x}",
                self.rng.next(),
                self.rng.next(),
                self.rng.next(),
                self.rng.next()
            )
        });
        let description = if cluster {
            "created by a cluster API key reset".to_string()
        } else {
            String::new()
        };
        self.world.api_keys.push(ApiKey {
            id: id.clone(),
            name: name.to_string(),
            identity,
            account,
            description,
            created_by,
            locked: self.rng.chance(5),
            disabled: self.rng.chance(4),
            expires_at: expires_at.map(timestamp),
            action_when_leaked,
            etag: Some((1 + self.rng.below(5)).to_string()),
            obsolete: false,
            fingerprint,
        });
        id
    }

    fn clusters(&mut self) {
        let mut dangling = 0;
        for a in 0..self.opts.accounts {
            let acct = self.account_id(a);
            let regions = self.plans[a].regions.clone();
            let groups = self.plans[a].groups.clone();
            for (r, region) in regions.iter().enumerate() {
                for rg in &groups {
                    for n in 1..=self.rng.range(1, 3) {
                        let mut addons: Vec<String> = ADDONS
                            .iter()
                            .filter(|_| self.rng.chance(35))
                            .map(|s| s.to_string())
                            .collect();
                        addons.sort();
                        self.world.clusters.push(Cluster {
                            id: format!("{acct}-{region}-{rg}-{n}"),
                            account: acct.clone(),
                            region: region.to_string(),
                            resource_group: rg.clone(),
                            addons,
                            ..Default::default()
                        });
                    }
                    if !self.rng.chance(90) {
                        continue; // no reset yet
                    }
                    let holder = self.cluster_key_holder(a, r, region, rg);
                    let api_key = match holder {
                        Some(h) if self.room(h) > 0 => {
                            // Some slots were reset before: the previous key is obsolete (R23).
                            if self.room(h) > 1 && self.rng.chance(25) {
                                let old = self.add_key(h, acct.clone(), CLUSTER_KEY_NAME, true);
                                if let Some(k) = self.world.api_keys.last_mut() {
                                    debug_assert_eq!(k.id, old);
                                    k.obsolete = true;
                                }
                            }
                            self.add_key(h, acct.clone(), CLUSTER_KEY_NAME, true)
                        }
                        _ => {
                            dangling += 1;
                            format!("key-deleted-{dangling}")
                        }
                    };
                    self.world.cluster_api_keys.push(ClusterApiKey {
                        account: acct.clone(),
                        region: region.to_string(),
                        resource_group: rg.clone(),
                        api_key,
                    });
                }
            }
        }
    }

    /// Whose credentials a slot holds: mostly a functional ID, sometimes a service ID or a
    /// person (a platform admin, or someone who no longer is one); None: a deleted key.
    fn cluster_key_holder(&mut self, a: usize, r: usize, region: &str, rg: &str) -> Option<Holder> {
        let plan = &self.plans[a];
        let roll = self.rng.below(100);
        if roll < 5 {
            return None;
        }
        if roll < 60 && !plan.fids.is_empty() {
            let f = *self.rng.pick(&plan.fids);
            return Some(Holder::User(f));
        }
        if roll < 75 && !plan.sids.is_empty() {
            let s = *self.rng.pick(&plan.sids);
            let id = self.world.service_ids[s].id.clone();
            if self.rng.chance(85) {
                let b = self.bind(id, a, KUBERNETES, &[ADMINISTRATOR]);
                self.world.role_bindings[b].region = Some(region.to_string());
                self.world.role_bindings[b].resource_group = Some(rg.to_string());
            }
            return Some(Holder::Sid(s));
        }
        let plan = &self.plans[a];
        let pool: &[usize] = if self.rng.chance(60) && !plan.platform[r].is_empty() {
            &plan.platform[r]
        } else if !plan.people.is_empty() {
            &plan.people
        } else {
            &plan.members
        };
        Some(Holder::User(pool[self.rng.below(pool.len())]))
    }

    fn keys(&mut self) {
        let k = self.opts.keys_per_user.min(KEY_LIMIT);
        let accounts: Vec<Vec<String>> = self
            .world
            .users
            .iter()
            .map(|u| u.accounts.clone())
            .collect();
        for (u, accts) in accounts.iter().enumerate() {
            let target = if k == 0 {
                0
            } else if self.rng.chance(2) {
                self.rng.range(KEY_LIMIT - 2, KEY_LIMIT) // at or near the limit (F6)
            } else {
                self.rng.range(k - k / 2, k + k / 2)
            };
            let want = target
                .saturating_sub(self.key_counts[u])
                .min(self.room(Holder::User(u)));
            for _ in 0..want {
                let account = self.rng.pick(accts).clone();
                let name = *self.rng.pick(&KEY_NAMES);
                self.add_key(Holder::User(u), account, name, false);
            }
        }
        for s in 0..self.opts.service_ids {
            let target = self.rng.range(0, k);
            let want = target
                .saturating_sub(self.sid_key_counts[s])
                .min(self.room(Holder::Sid(s)));
            let account = self.world.service_ids[s].account.clone();
            for _ in 0..want {
                let name = *self.rng.pick(&SERVICE_PURPOSES);
                self.add_key(Holder::Sid(s), account.clone(), name, false);
            }
        }
    }

    fn classic_keys(&mut self) {
        let mut n = 0;
        for u in 0..self.world.users.len() {
            if self.world.users[u].functional {
                continue;
            }
            let accts = self.world.users[u].accounts.clone();
            let mut seen = BTreeSet::new();
            for acct in accts {
                if seen.insert(acct.clone()) && self.rng.chance(12) {
                    n += 1;
                    self.world.classic_keys.push(ClassicKey {
                        id: format!("ck-{n:05}"),
                        user: self.uid(u),
                        account: acct,
                    });
                }
            }
        }
    }
}
