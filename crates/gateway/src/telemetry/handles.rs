//! The metric handles of answered requests, kept per route, alias and provider, and of costs
//! and budgets, kept per label set and per key: registering a metric by name hashes and copies
//! its labels every time, and an answered request updates up to twelve. Only once the
//! process's Prometheus recorder is installed (a handle taken before would count nowhere, for
//! good); until then, and for anything but a 200, callers register as usual.

use std::hash::Hash;
use std::sync::{Arc, OnceLock};

use metrics::{counter, gauge, histogram, Counter, Gauge, Histogram, SharedString};

use super::OVERHEAD_SECONDS;

/// Handles for requests answered 200 on one route, alias and provider.
pub struct Answered {
    pub requests: Counter,
    pub duration: Histogram,
    pub overhead: Histogram,
    pub ttft: Histogram,
    /// Tokens by [`TOKEN_KINDS`], in that order.
    pub tokens: [Counter; 4],
}

pub const TOKEN_KINDS: [&str; 4] = ["input", "output", "cached_input", "reasoning"];

type Key = (&'static str, SharedString, SharedString);

/// Routes × aliases × providers in any config fit; past this the least used are made again.
const CAPACITY: usize = 4_096;

static ANSWERED: OnceLock<quick_cache::sync::Cache<Key, Arc<Answered>>> = OnceLock::new();

/// The handles kept under `key` in `cache`, made by `make` the first time (the key is copied
/// only then); None while no recorder is installed.
fn kept<K: Eq + Hash + Clone, V>(
    cache: &'static OnceLock<quick_cache::sync::Cache<K, Arc<V>>>,
    key: &K,
    make: impl FnOnce() -> V,
) -> Option<Arc<V>> {
    super::HANDLE.get()?.as_ref()?;
    let cache = cache.get_or_init(|| quick_cache::sync::Cache::new(CAPACITY));
    if let Some(found) = cache.get(key) {
        return Some(found);
    }
    let made = Arc::new(make());
    cache.insert(key.clone(), made.clone());
    Some(made)
}

/// The handles of `(route, alias, provider)`; None while no recorder is installed.
pub fn answered(route: &'static str, alias: &SharedString, provider: &SharedString) -> Option<Arc<Answered>> {
    kept(&ANSWERED, &(route, alias.clone(), provider.clone()), || answered_handles(route, alias, provider))
}

fn answered_handles(route: &'static str, alias: &SharedString, provider: &SharedString) -> Answered {
    let (a, p) = (alias, provider);
    Answered {
        requests: counter!("switchyard_requests_total", "alias" => a.clone(), "provider" => p.clone(), "status" => "200"),
        duration: histogram!("switchyard_request_duration_seconds", "alias" => a.clone(), "provider" => p.clone()),
        overhead: histogram!(OVERHEAD_SECONDS, "route" => route, "alias" => a.clone()),
        ttft: histogram!("switchyard_time_to_first_token_seconds", "alias" => a.clone(), "provider" => p.clone()),
        tokens: TOKEN_KINDS.map(
            |kind| counter!("switchyard_tokens_total", "alias" => a.clone(), "provider" => p.clone(), "kind" => kind),
        ),
    }
}

/// What a request's cost is added to, in nano-dollars and in dollars.
pub struct Spent {
    pub nanos: Counter,
    pub usd: Gauge,
}

/// alias, provider, model, key id, team.
pub type SpentLabels = [SharedString; 5];

static SPENT: OnceLock<quick_cache::sync::Cache<SpentLabels, Arc<Spent>>> = OnceLock::new();

/// The cost handles of one label set; None while no recorder is installed.
pub fn spent(labels: &SpentLabels) -> Option<Arc<Spent>> {
    let make = || {
        let names = ["alias", "provider", "model", "key", "team"];
        let labels: Vec<metrics::Label> =
            names.into_iter().zip(labels.clone()).map(|(k, v)| metrics::Label::new(k, v)).collect();
        Spent {
            nanos: counter!("switchyard_cost_nanos_total", labels.clone()),
            usd: gauge!("switchyard_cost_usd_total", labels),
        }
    };
    kept(&SPENT, labels, make)
}

/// A key's budget gauges: spent in its period and its limit.
pub struct Budget {
    pub spent: Gauge,
    pub limit: Gauge,
}

static BUDGET: OnceLock<quick_cache::sync::Cache<SharedString, Arc<Budget>>> = OnceLock::new();

/// The budget gauges of `key`; None while no recorder is installed.
pub fn budget(key: &SharedString) -> Option<Arc<Budget>> {
    kept(&BUDGET, key, || Budget {
        spent: gauge!("switchyard_budget_spent_usd", "key" => key.clone()),
        limit: gauge!("switchyard_budget_limit_usd", "key" => key.clone()),
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::super::{Outcome, RequestFinished};
    use metrics::SharedString;

    fn finished(alias: &str, status: u16) -> RequestFinished<'static> {
        RequestFinished {
            request_id: "req_1",
            route: "/v1/chat/completions",
            alias: SharedString::from(alias.to_owned()),
            provider: SharedString::from("openai".to_owned()),
            status,
            outcome: if status == 200 { Outcome::Ok } else { Outcome::UpstreamError },
            stream: false,
            duration: Duration::from_millis(3),
            time_to_first_token: None,
            usage: Some(dialect::Usage { input_tokens: 10, output_tokens: 5, ..Default::default() }),
            overhead: Some(Duration::from_micros(40)),
        }
    }

    #[test]
    fn an_answered_request_is_counted_once_through_its_handles() {
        let prometheus = super::super::prometheus().expect("the test process installs the recorder");
        let before = prometheus.render();
        finished("counted", 200).count();
        finished("counted", 200).count();
        finished("counted", 502).count();
        let after = prometheus.render();
        let value = |text: &str, line_start: &str| {
            text.lines()
                .find(|l| l.starts_with(line_start))
                .and_then(|l| l.rsplit(' ').next())
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        let ok = r#"switchyard_requests_total{alias="counted",provider="openai",status="200"}"#;
        let failed = r#"switchyard_requests_total{alias="counted",provider="openai",status="502"}"#;
        let input = r#"switchyard_tokens_total{alias="counted",provider="openai",kind="input"}"#;
        assert_eq!(value(&after, ok) - value(&before, ok), 2.0, "{after}");
        assert_eq!(value(&after, failed) - value(&before, failed), 1.0);
        assert_eq!(value(&after, input) - value(&before, input), 30.0);
    }

    #[test]
    fn costs_and_budgets_reach_the_exporter_through_their_handles() {
        use super::super::{BudgetChanged, CostRecorded};
        let prometheus = super::super::prometheus().expect("the test process installs the recorder");
        let cost = |nanos: i64| CostRecorded {
            alias: SharedString::from("priced".to_owned()),
            provider: SharedString::from("openai".to_owned()),
            model: SharedString::from("gpt-4o-mini".to_owned()),
            key_id: Some("key_handles"),
            team: None,
            nanos,
        };
        cost(1_500).emit();
        cost(2_500).emit();
        BudgetChanged { key_id: "key_handles", spent_nanos: 250_000_000, limit_nanos: Some(1_000_000_000) }.emit();
        BudgetChanged { key_id: "key_handles", spent_nanos: 500_000_000, limit_nanos: Some(1_000_000_000) }.emit();
        let text = prometheus.render();
        let line = |start: &str| text.lines().find(|l| l.starts_with(start)).map(str::to_owned);
        let labels = r#"{alias="priced",provider="openai",model="gpt-4o-mini",key="key_handles",team=""}"#;
        assert_eq!(
            line(&format!("switchyard_cost_nanos_total{labels}")).as_deref(),
            Some(&*format!("switchyard_cost_nanos_total{labels} 4000")),
            "{text}"
        );
        assert_eq!(
            line(r#"switchyard_budget_spent_usd{key="key_handles"}"#).as_deref(),
            Some(r#"switchyard_budget_spent_usd{key="key_handles"} 0.5"#)
        );
        assert_eq!(
            line(r#"switchyard_budget_limit_usd{key="key_handles"}"#).as_deref(),
            Some(r#"switchyard_budget_limit_usd{key="key_handles"} 1"#)
        );
    }

    /// Not a test: what counting an answered request costs, through the kept handles and by
    /// name. `cargo test --release -p gateway --lib counting_cost -- --ignored --nocapture`
    #[test]
    #[ignore = "a measurement, run by hand"]
    fn counting_cost() {
        if super::super::prometheus().is_none() {
            return;
        }
        const N: u32 = 200_000;
        let request = finished("timed", 200);
        for (label, by_name) in [("kept handles", false), ("by name", true), ("kept handles", false), ("by name", true)]
        {
            let started = Instant::now();
            for _ in 0..N {
                if by_name {
                    request.count_by_name();
                } else {
                    request.count();
                }
            }
            eprintln!("{label}: {:?} per answered request", started.elapsed() / N);
        }
    }
}
