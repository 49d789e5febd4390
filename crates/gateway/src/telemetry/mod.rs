//! Metrics and logs. Each thing worth counting is a named event whose `emit` updates the
//! Prometheus metrics and writes the log line; label values come from config and enums, never
//! from request bodies or error text.

pub mod access_log;
mod handles;
pub mod otel;

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, histogram, SharedString};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use dialect::Usage;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

const LATENCY_BUCKETS: &[f64] =
    &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];

/// The gateway's own time on a request is tens of microseconds to a few milliseconds.
const OVERHEAD_BUCKETS: &[f64] =
    &[0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

/// The histogram of the gateway's own time per request.
pub const OVERHEAD_SECONDS: &str = "switchyard_overhead_seconds";

/// Installs the process-wide Prometheus recorder once and returns its handle.
pub fn prometheus() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(OVERHEAD_SECONDS.into()), OVERHEAD_BUCKETS)
                .ok()?
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            spawn_upkeep(handle.clone());
            Some(handle)
        })
        .as_ref()
}

/// How often histogram samples are folded into their buckets.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Histogram samples wait in a queue until they are folded into buckets, which otherwise happens
/// only when `/metrics` is scraped: a gateway nobody scrapes would grow by every sample of every
/// request. A thread of its own (the recorder may be made before any runtime) folds them in.
fn spawn_upkeep(handle: PrometheusHandle) {
    let upkeep = move || {
        crate::background::lower_this_thread();
        loop {
            std::thread::sleep(UPKEEP_EVERY);
            handle.run_upkeep();
        }
    };
    if let Err(e) = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(upkeep) {
        tracing::warn!(error = %e, "could not start the metrics upkeep thread; histograms are folded only when scraped");
    }
}

fn describe() {
    metrics::describe_counter!("switchyard_requests_total", "Requests answered, by alias, provider and status.");
    metrics::describe_counter!("switchyard_request_errors_total", "Requests that ended in an error, by kind.");
    metrics::describe_histogram!("switchyard_request_duration_seconds", "Time from request to last byte.");
    metrics::describe_histogram!(
        "switchyard_time_to_first_token_seconds",
        "Time from request to the first streamed event."
    );
    metrics::describe_counter!("switchyard_tokens_total", "Tokens reported by providers, by kind.");
    metrics::describe_counter!("switchyard_upstream_attempts_total", "Attempts sent to upstreams, by outcome.");
    metrics::describe_gauge!(
        "switchyard_cost_usd_total",
        "Cost of answered requests in US dollars (only ever rises, like a counter), by alias, provider, model, key and team."
    );
    metrics::describe_counter!(
        "switchyard_cost_nanos_total",
        "Cost of answered requests in nano-dollars, exact, by alias, provider, model, key and team."
    );
    metrics::describe_gauge!(
        "switchyard_budget_spent_usd",
        "A key's spend in its budget period, as this replica knows it."
    );
    metrics::describe_gauge!("switchyard_budget_limit_usd", "A key's budget for its period.");
    metrics::describe_histogram!(
        OVERHEAD_SECONDS,
        "Time the gateway spent on a request itself: the request's time less its waits on upstreams and retry backoff."
    );
}

/// Nano-dollars as dollars, for gauges and the float cost total; exact figures stay integers.
fn dollars(nanos: i64) -> f64 {
    nanos as f64 / 1e9
}

/// A request's cost was recorded in the ledger (its winning attempt's row). Labels are
/// configured names and key ids, never request text; a request without a key has `key=""`.
pub struct CostRecorded<'a> {
    pub alias: SharedString,
    pub provider: SharedString,
    pub model: SharedString,
    pub key_id: Option<&'a str>,
    pub team: Option<&'a str>,
    /// Nano-dollars, more than zero.
    pub nanos: i64,
}

impl CostRecorded<'_> {
    pub fn emit(self) {
        let Ok(nanos) = u64::try_from(self.nanos) else { return };
        let key = SharedString::from(self.key_id.unwrap_or("").to_owned());
        let team = SharedString::from(self.team.unwrap_or("").to_owned());
        let labels = [self.alias, self.provider, self.model, key, team];
        if let Some(h) = handles::spent(&labels) {
            h.nanos.increment(nanos);
            h.usd.increment(dollars(self.nanos));
            return;
        }
        let labels: Vec<metrics::Label> = ["alias", "provider", "model", "key", "team"]
            .into_iter()
            .zip(labels)
            .map(|(k, v)| metrics::Label::new(k, v))
            .collect();
        counter!("switchyard_cost_nanos_total", labels.clone()).increment(nanos);
        // The metrics crate's counters are integers: dollars are a float total that only rises.
        metrics::gauge!("switchyard_cost_usd_total", labels).increment(dollars(self.nanos));
    }
}

/// A key's budget was settled: what it has spent in its period and its limit.
pub struct BudgetChanged<'a> {
    pub key_id: &'a str,
    pub spent_nanos: i64,
    /// None: the key has no budget.
    pub limit_nanos: Option<i64>,
}

impl BudgetChanged<'_> {
    pub fn emit(self) {
        let Some(limit) = self.limit_nanos else { return };
        let key = SharedString::from(self.key_id.to_owned());
        if let Some(h) = handles::budget(&key) {
            h.spent.set(dollars(self.spent_nanos));
            h.limit.set(dollars(limit));
            return;
        }
        metrics::gauge!("switchyard_budget_spent_usd", "key" => key.clone()).set(dollars(self.spent_nanos));
        metrics::gauge!("switchyard_budget_limit_usd", "key" => key).set(dollars(limit));
    }
}

/// How an attempt at one upstream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    UpstreamError,
    ConnectError,
    Timeout,
    BadResponse,
    StreamBroken,
    ClientCancelled,
    /// Still running when shutdown's grace period ended.
    Shutdown,
    /// Refused before any upstream was asked (no route, limits, budget): the client's error.
    Refused,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::UpstreamError => "upstream_error",
            Outcome::ConnectError => "connect_error",
            Outcome::Timeout => "timeout",
            Outcome::BadResponse => "bad_response",
            Outcome::StreamBroken => "stream_broken",
            Outcome::ClientCancelled => "client_cancelled",
            Outcome::Shutdown => "shutdown",
            Outcome::Refused => "refused",
        }
    }
}

/// The response cache was consulted for a request of an alias that has one.
pub struct CacheEvent<'a> {
    pub alias: &'a str,
    /// `hit`, `miss` or `bypass`.
    pub result: &'static str,
    /// `exact` or `semantic`, for a hit.
    pub kind: &'static str,
    /// What a hit saved, in nano-dollars.
    pub saved_nanos: i64,
}

impl<'a> CacheEvent<'a> {
    pub fn miss(alias: &'a str) -> CacheEvent<'a> {
        CacheEvent { alias, result: "miss", kind: "", saved_nanos: 0 }
    }

    pub fn bypass(alias: &'a str) -> CacheEvent<'a> {
        CacheEvent { alias, result: "bypass", kind: "", saved_nanos: 0 }
    }

    pub fn hit(alias: &'a str, kind: &'static str, saved_nanos: i64) -> CacheEvent<'a> {
        CacheEvent { alias, result: "hit", kind, saved_nanos }
    }

    pub fn emit(self) {
        counter!("switchyard_cache_requests_total", "alias" => self.alias.to_owned(), "result" => self.result, "kind" => self.kind)
            .increment(1);
        if self.saved_nanos > 0 {
            counter!("switchyard_cache_saved_nanodollars_total", "alias" => self.alias.to_owned())
                .increment(self.saved_nanos as u64);
        }
    }
}

/// One upstream attempt finished (successfully or not).
pub struct UpstreamAttemptFinished<'a> {
    pub provider: &'a str,
    pub outcome: Outcome,
    pub latency: Duration,
}

impl UpstreamAttemptFinished<'_> {
    pub fn emit(self) {
        counter!("switchyard_upstream_attempts_total", "provider" => self.provider.to_owned(), "outcome" => self.outcome.as_str())
            .increment(1);
        tracing::debug!(
            provider = self.provider,
            outcome = self.outcome.as_str(),
            latency_ms = self.latency.as_millis() as u64,
            "upstream attempt"
        );
    }
}

/// A client request is over: answered, failed, or abandoned by the client.
pub struct RequestFinished<'a> {
    pub request_id: &'a str,
    /// The endpoint asked (`/v1/chat/completions`, `/v1/messages`, ...); every one is a POST.
    pub route: &'static str,
    /// Metric labels share the configured names' memory (no copy per request).
    pub alias: SharedString,
    /// Empty when no upstream was reached.
    pub provider: SharedString,
    pub status: u16,
    pub outcome: Outcome,
    pub stream: bool,
    pub duration: Duration,
    pub time_to_first_token: Option<Duration>,
    pub usage: Option<Usage>,
    /// The gateway's own time on the request (see [`OVERHEAD_SECONDS`]); None: not measured.
    pub overhead: Option<Duration>,
}

/// The alias label of a request refused before it named a usable model.
pub const UNROUTED: &str = "unrouted";

impl<'a> RequestFinished<'a> {
    /// A request refused before routing: wrong key, unreadable body, a model the key may not use.
    pub fn refused(request_id: &'a str, route: &'static str, status: u16, duration: Duration) -> RequestFinished<'a> {
        RequestFinished {
            request_id,
            route,
            alias: SharedString::const_str(UNROUTED),
            provider: SharedString::const_str(""),
            status,
            outcome: Outcome::Refused,
            stream: false,
            duration,
            time_to_first_token: None,
            usage: None,
            overhead: None,
        }
    }

    fn count(&self) {
        let answered = (self.status == 200 && self.outcome == Outcome::Ok)
            .then(|| handles::answered(self.route, &self.alias, &self.provider))
            .flatten();
        let Some(h) = answered else { return self.count_by_name() };
        h.requests.increment(1);
        h.duration.record(self.duration.as_secs_f64());
        if let Some(overhead) = self.overhead {
            h.overhead.record(overhead.as_secs_f64());
        }
        if let Some(ttft) = self.time_to_first_token {
            h.ttft.record(ttft.as_secs_f64());
        }
        for (counter, n) in h.tokens.iter().zip(token_counts(self.usage)) {
            if n > 0 {
                counter.increment(n);
            }
        }
    }

    /// Registers each metric by name: for anything but an answered request, and before the
    /// recorder is installed.
    fn count_by_name(&self) {
        let (alias, provider) = (&self.alias, &self.provider);
        let status = status_label(self.status);
        counter!("switchyard_requests_total", "alias" => alias.clone(), "provider" => provider.clone(), "status" => status)
            .increment(1);
        if self.outcome != Outcome::Ok {
            counter!("switchyard_request_errors_total", "alias" => alias.clone(), "provider" => provider.clone(), "kind" => self.outcome.as_str())
                .increment(1);
        }
        histogram!("switchyard_request_duration_seconds", "alias" => alias.clone(), "provider" => provider.clone())
            .record(self.duration.as_secs_f64());
        if let Some(overhead) = self.overhead {
            histogram!(OVERHEAD_SECONDS, "route" => self.route, "alias" => alias.clone())
                .record(overhead.as_secs_f64());
        }
        if let Some(ttft) = self.time_to_first_token {
            histogram!("switchyard_time_to_first_token_seconds", "alias" => alias.clone(), "provider" => provider.clone())
                .record(ttft.as_secs_f64());
        }
        for (kind, n) in handles::TOKEN_KINDS.into_iter().zip(token_counts(self.usage)) {
            if n > 0 {
                counter!("switchyard_tokens_total", "alias" => alias.clone(), "provider" => provider.clone(), "kind" => kind)
                    .increment(n);
            }
        }
    }

    pub fn emit(self) {
        self.count();
        if !tracing::enabled!(tracing::Level::INFO) {
            return;
        }
        let ms = |d: Duration| d.as_millis() as u64;
        let fields = [
            ("request_id", access_log::Value::Str(self.request_id)),
            ("method", access_log::Value::Str("POST")),
            ("path", access_log::Value::Str(self.route)),
            ("alias", access_log::Value::Str(&self.alias)),
            ("provider", access_log::Value::Str(&self.provider)),
            ("status", access_log::Value::Int(u64::from(self.status))),
            ("outcome", access_log::Value::Str(self.outcome.as_str())),
            ("stream", access_log::Value::Bool(self.stream)),
            ("duration_ms", access_log::Value::Int(ms(self.duration))),
            ("ttft_ms", self.time_to_first_token.map_or(access_log::Value::None, |d| access_log::Value::Int(ms(d)))),
            ("input_tokens", self.usage.map_or(access_log::Value::None, |u| access_log::Value::Int(u.input_tokens))),
            ("output_tokens", self.usage.map_or(access_log::Value::None, |u| access_log::Value::Int(u.output_tokens))),
        ];
        if access_log::write(&access_log::Line { fields: &fields }) {
            return;
        }
        tracing::info!(
            request_id = self.request_id,
            method = "POST",
            path = self.route,
            alias = &*self.alias,
            provider = &*self.provider,
            status = self.status,
            outcome = self.outcome.as_str(),
            stream = self.stream,
            duration_ms = self.duration.as_millis() as u64,
            ttft_ms = self.time_to_first_token.map(|d| d.as_millis() as u64),
            input_tokens = self.usage.map(|u| u.input_tokens),
            output_tokens = self.usage.map(|u| u.output_tokens),
            "request finished"
        );
    }
}

/// A request's tokens in [`handles::TOKEN_KINDS`] order; zeros without usage.
fn token_counts(usage: Option<Usage>) -> [u64; 4] {
    usage.map_or([0; 4], |u| {
        [u.input_tokens, u.output_tokens, u.cached_input_tokens.unwrap_or(0), u.reasoning_tokens.unwrap_or(0)]
    })
}

fn status_label(status: u16) -> &'static str {
    match status {
        200 => "200",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        408 => "408",
        413 => "413",
        429 => "429",
        500 => "500",
        502 => "502",
        503 => "503",
        504 => "504",
        529 => "529",
        s if s < 300 => "2xx",
        s if s < 500 => "4xx",
        _ => "5xx",
    }
}
