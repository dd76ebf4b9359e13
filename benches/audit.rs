//! The audit benchmark of issue 4, in one run: on generated worlds of 100 users / 1k keys,
//! 1k users / 10k keys and 10k users / 100k keys, it times
//!   (a) keyward's exact audit (both cores), and
//!   (b) the naive baseline: one `Engine::decide` (translate + `Authorizer::is_authorized`)
//!       per candidate triple, entities built once, on one core.
//! (b) runs in full where it takes under a minute; on the larger worlds it decides a uniform
//! sample of the candidate triples and extrapolates its time to all of them (marked `~`).
//!
//! Run: `cargo bench --bench audit` (add `-- small` to stop after the 1k-user world).

use keyward::audit::{AuditOptions, audit};
use keyward::decide::engine::{Engine, Verdict};
use keyward::decide::policy::{self, PolicyOptions};
use keyward::decide::request::{all_requests, callers, resource_requests};
use keyward::world::generate::{GenerateOptions, generate};
use std::time::Instant;

fn world(users: usize, accounts: usize) -> Engine {
    let bundle = policy::load(&PolicyOptions::default()).expect("shipped policies");
    let opts = GenerateOptions {
        users,
        keys_per_user: 10,
        service_ids: (users / 20).max(2),
        accounts,
        seed: 7,
        now: None,
    };
    let w = generate(&opts, &bundle.roles).expect("generate");
    // Through YAML and back, as a user's file would come.
    let yaml = w.to_yaml();
    let w = keyward::world::parse_world("generated.yaml", &yaml, &bundle.roles).expect("valid");
    Engine::new(bundle, w).expect("entities")
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.to_string())
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|k| k.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    let small = std::env::args().any(|a| a == "small");
    let sizes: &[(usize, usize)] = if small {
        &[(100, 2), (1000, 4)]
    } else {
        &[(100, 2), (1000, 4), (10_000, 20)]
    };
    println!(
        "{:>7} {:>8} {:>12} {:>11} {:>9} {:>13} {:>9} {:>8}",
        "users", "keys", "triples", "allowed", "audit s", "naive s", "speedup", "rss MiB"
    );
    for &(users, accounts) in sizes {
        let t0 = Instant::now();
        let e = world(users, accounts);
        let load = t0.elapsed().as_secs_f64();
        let keys = e.tr.world.api_keys.len();
        // Candidate triples: callers x (action, resource, args) + keys x accounts for login.
        let triples = callers(&e.tr).len() * resource_requests(&e.tr).len()
            + keys * e.tr.world.accounts.len();

        let t = Instant::now();
        let mut allowed = 0usize;
        let stats =
            audit(&e, &AuditOptions::default(), |_| allowed += 1, &|_, _| {}).expect("audit");
        let audit_s = t.elapsed().as_secs_f64();

        // The naive loop, in full below ~1M triples, else on a uniform sample.
        let (naive_s, exact) = if triples <= 1_000_000 {
            let t = Instant::now();
            let mut n = 0usize;
            for s in all_requests(&e.tr) {
                if e.decide(&s).is_ok_and(|d| d.decision == Verdict::Allow) {
                    n += 1;
                }
            }
            assert_eq!(n, allowed, "the naive loop and the audit disagree");
            (t.elapsed().as_secs_f64(), true)
        } else {
            let sample = 20_000usize;
            let cs = callers(&e.tr);
            let rs = resource_requests(&e.tr);
            let mut x: u64 = 0x2545_f491_4f6c_dd1d;
            let t = Instant::now();
            for _ in 0..sample {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let p = cs[(x % cs.len() as u64) as usize];
                let r = &rs[((x >> 20) % rs.len() as u64) as usize];
                let s = keyward::decide::request::RequestSpec {
                    principal: p.to_string(),
                    action: r.action.to_string(),
                    resource: Some(r.resource.clone()),
                    args: r.args.clone(),
                    ..Default::default()
                };
                let _ = e.decide(&s);
            }
            (
                t.elapsed().as_secs_f64() / sample as f64 * triples as f64,
                false,
            )
        };
        println!(
            "{users:>7} {keys:>8} {triples:>12} {allowed:>11} {audit_s:>9.2} {:>13} {:>9} {:>8.0}",
            format!("{}{naive_s:.1}", if exact { "" } else { "~" }),
            format!("{:.0}x", naive_s / audit_s),
            peak_rss_mib()
        );
        eprintln!("        (world built in {load:.1} s; {})", stats.summary());
    }
}
