//! A simulation of lowest-latency routing over three deployments with different speeds, on a
//! simulated clock: most traffic goes to the fastest; when it starts failing it is cooled down
//! within a bounded number of requests; after it recovers, a probe restores it.

use std::time::Duration;

use super::filter::Needs;
use super::health::{Outcome, COOLDOWN, FAILURE_THRESHOLD};
use super::order::{self, random_below};
use crate::routing::Strategy;
use crate::{config::Config, routing::Deployment};

fn deployments() -> Vec<Deployment> {
    let toml = r#"
[providers.fast]
kind = "openai_compatible"
base_url = "http://127.0.0.1:1/v1"
[providers.medium]
kind = "openai_compatible"
base_url = "http://127.0.0.1:2/v1"
[providers.slow]
kind = "openai_compatible"
base_url = "http://127.0.0.1:3/v1"
[models.m]
strategy = "latency"
deployments = [{ provider = "slow", model = "s" }, { provider = "medium", model = "m" }, { provider = "fast", model = "f" }]
"#;
    let config = Config::from_toml(toml, &[("UNUSED", "")]).unwrap_or_else(|e| panic!("{e}"));
    config.aliases["m"].deployments.clone()
}

/// Sends `n` requests, one every `gap_ms` of simulated time from `start_ms`; `fails(name)` says
/// whether that deployment fails now. Returns how many went to each, by provider name.
fn run(
    ds: &[Deployment],
    start_ms: u64,
    gap_ms: u64,
    n: usize,
    fails: impl Fn(&str) -> bool,
) -> (u64, std::collections::HashMap<String, usize>) {
    let mut served = std::collections::HashMap::new();
    let mut now = start_ms;
    for _ in 0..n {
        let order = order::by_strategy(Strategy::Latency, ds.to_vec(), now, &Needs::default());
        // Like the pipeline: the first that answers serves; failures move on to the next.
        for d in &order {
            *served.entry(d.provider.name.to_string()).or_default() += 1;
            d.health.start(now);
            let base = match &*d.provider.name {
                "fast" => 40,
                "medium" => 80,
                _ => 160,
            };
            let jitter = random_below(20) as u64;
            let failed = fails(&d.provider.name);
            let outcome = if failed {
                Outcome::Failure
            } else {
                let ttft = Duration::from_millis(base + jitter);
                Outcome::Success { ttft, total: ttft * 3 }
            };
            d.health.finish(outcome, now);
            d.health.end();
            if !failed {
                break;
            }
        }
        now += gap_ms;
    }
    (now, served)
}

#[test]
fn lowest_latency_routing_prefers_the_fastest_cools_it_when_it_fails_and_restores_it() {
    let ds = deployments();
    let (now, healthy) = run(&ds, 0, 100, 1_000, |_| false);
    let fast = healthy.get("fast").copied().unwrap_or(0);
    // Power of two choices: the fastest wins every pair it is drawn into (2 in 3 of them).
    assert!(fast > 600, "the fastest should take most traffic: {healthy:?}");
    assert!(healthy.get("slow").copied().unwrap_or(0) < 20, "the slowest loses every pair: {healthy:?}");

    // The fastest fails for 1,000 requests (100 s of simulated time).
    let (now, failing) = run(&ds, now, 100, 1_000, |name| name == "fast");
    let attempts_on_fast = failing.get("fast").copied().unwrap_or(0);
    let cooldowns = (100_000 / COOLDOWN.as_millis() as usize) + 1;
    assert!(
        attempts_on_fast <= FAILURE_THRESHOLD as usize + cooldowns,
        "a failing deployment is tried only until its circuit opens, then once per cooldown: {failing:?}"
    );
    assert!(failing.get("medium").copied().unwrap_or(0) > 900, "the next fastest takes over: {failing:?}");

    // It recovers: the next probe after a cooldown restores it, and it wins traffic back.
    let (_, recovered) = run(&ds, now + COOLDOWN.as_millis() as u64, 100, 1_000, |_| false);
    assert!(recovered.get("fast").copied().unwrap_or(0) > 600, "{recovered:?}");
}

/// Not a test: prints what choosing among 1 and 10 deployments costs. Run by hand with
/// `cargo test --release -p gateway --lib routing_cost -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, run by hand"]
fn routing_cost() {
    let mut toml = String::new();
    for i in 0..10 {
        toml += &format!("[providers.p{i}]\nkind = \"openai_compatible\"\nbase_url = \"http://127.0.0.1:9/v1\"\n");
    }
    let ten: Vec<String> = (0..10).map(|i| format!("{{ provider = \"p{i}\", model = \"m\" }}")).collect();
    toml += &format!(
        "[models.one]\nstrategy = \"latency\"\ndeployments = [{{ provider = \"p0\", model = \"m\" }}]\n[models.ten]\nstrategy = \"latency\"\ndeployments = [{}]\n",
        ten.join(", ")
    );
    let config = Config::from_toml(&toml, &[("UNUSED", "")]).unwrap_or_else(|e| panic!("{e}"));
    let app = crate::App::new(config).unwrap_or_else(|e| panic!("{e}"));
    for alias in ["one", "ten"] {
        let req = dialect::ChatRequest {
            model: alias.into(),
            messages: vec![dialect::Message {
                role: dialect::Role::User,
                content: vec![dialect::Part::text("What is the capital of France?")],
                name: None,
                content_was_string: true,
            }],
            ..Default::default()
        };
        let narrowing = super::filter::Narrowing::default();
        let n = 200_000;
        let started = std::time::Instant::now();
        for _ in 0..n {
            let plan = super::route(&app, &req, &narrowing).unwrap_or_else(|e| panic!("{e:?}"));
            std::hint::black_box(plan);
        }
        let per = started.elapsed() / n;
        println!("route() with {alias} deployment(s): {per:?} per request");
    }
}
