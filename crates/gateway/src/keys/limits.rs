//! Per-key limits, enforced before a request leaves: requests and tokens per minute (fixed
//! one-minute windows; in-process, or shared by every replica through Redis), and budgets per
//! period with reservations, so concurrent requests cannot all slip under the same remainder.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use dialect::{ClientFacingError, ErrorKind};
use http::{HeaderName, HeaderValue};

use std::borrow::Cow;

use super::{KeyRecord, Period};
use crate::money::NanoUsd;

const WINDOW_MS: i64 = 60_000;

/// What one set of limits belongs to: a virtual key, or the keys of a team together.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    /// The name its counters are kept under: the key's id, or `team:<name>`.
    pub id: Cow<'a, str>,
    /// How a refusal names it: `this key`, ``team `platform` ``.
    pub who: Cow<'a, str>,
    pub rpm: Option<u32>,
    pub tpm: Option<u64>,
    /// Nano-dollars per period; None: no budget.
    pub budget: Option<(i64, Period)>,
}

impl<'a> Subject<'a> {
    pub fn key(key: &'a KeyRecord) -> Subject<'a> {
        Subject {
            id: Cow::Borrowed(&key.id),
            who: Cow::Borrowed("this key"),
            rpm: key.rpm,
            tpm: key.tpm,
            budget: key.budget_nanos.zip(key.budget_period),
        }
    }

    /// A team's RPM/TPM, shared by all its keys (teams have no budget of their own).
    pub fn team(name: &str, rpm: Option<u32>, tpm: Option<u64>) -> Subject<'static> {
        Subject {
            id: Cow::Owned(format!("team:{name}")),
            who: Cow::Owned(format!("team `{name}`")),
            rpm,
            tpm,
            budget: None,
        }
    }
}

/// What admission decided, with the `x-ratelimit-*` headers to send either way.
pub enum Admission {
    Admitted { headers: Vec<(HeaderName, HeaderValue)>, reservation: Option<Reservation> },
    Refused { error: ClientFacingError, headers: Vec<(HeaderName, HeaderValue)> },
}

/// A budget hold for one request, settled with its real cost.
#[derive(Debug)]
pub struct Reservation {
    key_id: String,
    nanos: i64,
    limit: i64,
}

/// Spend past this share of a budget (percent) is reported (log and metric) once per period.
const SOFT_THRESHOLD_PERCENT: i128 = 80;

#[derive(Default)]
struct Window {
    start_ms: i64,
    requests: u64,
    tokens: u64,
}

#[derive(Default)]
struct Budget {
    period_start_ms: i64,
    spent: i64,
    reserved: i64,
}

pub struct Limiter {
    windows: Mutex<HashMap<String, Window>>,
    budgets: Mutex<HashMap<String, Budget>>,
    redis: Option<Shared>,
}

/// What limits do while Redis cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnSharedStateError {
    /// Each replica limits on its own until Redis is back.
    #[default]
    Local,
    /// Requests of keys with limits are refused until Redis is back.
    Deny,
}

/// The longest a request waits for Redis before its limits are counted without it.
const REDIS_DEADLINE: Duration = Duration::from_millis(250);
/// After a failure, Redis is left alone this long (requests counted locally meanwhile), so an
/// outage costs one deadline now and then, not one per request.
const REDIS_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Redis, when limits are shared, and whether it is failing now.
struct Shared {
    conn: redis::aio::ConnectionManager,
    on_error: OnSharedStateError,
    /// Milliseconds (since `clock`) before which Redis is not asked; 0: healthy.
    failing_until_ms: AtomicU64,
    clock: Instant,
}

impl Shared {
    fn now_ms(&self) -> u64 {
        self.clock.elapsed().as_millis() as u64
    }

    fn available(&self) -> bool {
        self.failing_until_ms.load(Ordering::Relaxed) <= self.now_ms()
    }

    fn failed(&self, why: &str) {
        let was_healthy = self.failing_until_ms.load(Ordering::Relaxed) == 0;
        let until = self.now_ms() + REDIS_RETRY_AFTER.as_millis() as u64;
        self.failing_until_ms.store(until.max(1), Ordering::Relaxed);
        metrics::counter!("switchyard_shared_state_errors_total").increment(1);
        if was_healthy {
            let mode = match self.on_error {
                OnSharedStateError::Local => "limiting each replica on its own",
                OnSharedStateError::Deny => "refusing requests of limited keys",
            };
            tracing::warn!(error = why, "Redis cannot be reached for shared limits; {mode} until it is back");
        }
    }

    fn recovered(&self) {
        if self.failing_until_ms.swap(0, Ordering::Relaxed) != 0 {
            tracing::info!("Redis is back; limits are shared again");
        }
    }
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter").field("redis", &self.redis.is_some()).finish()
    }
}

impl Limiter {
    /// In-process limits only.
    pub fn local() -> Limiter {
        Limiter { windows: Mutex::default(), budgets: Mutex::default(), redis: None }
    }

    /// Limits shared through Redis at `redis_url`, which need not be up yet: the connection is
    /// made on first use, and re-made when Redis comes back.
    pub fn new(redis_url: Option<&str>, on_error: OnSharedStateError) -> Result<Limiter, redis::RedisError> {
        let redis = match redis_url {
            Some(url) => {
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(REDIS_DEADLINE))
                    .set_response_timeout(Some(REDIS_DEADLINE))
                    .set_number_of_retries(0);
                let conn = redis::aio::ConnectionManager::new_lazy_with_config(redis::Client::open(url)?, config)?;
                Some(Shared { conn, on_error, failing_until_ms: AtomicU64::new(0), clock: Instant::now() })
            }
            None => None,
        };
        Ok(Limiter { windows: Mutex::default(), budgets: Mutex::default(), redis })
    }

    /// Seeds a key's spend for the current period (from the ledger, at start).
    pub fn seed_spend(&self, key_id: &str, period_start_ms: i64, spent: i64) {
        let mut b = self.budgets.lock().unwrap_or_else(|e| e.into_inner());
        b.insert(key_id.to_owned(), Budget { period_start_ms, spent, reserved: 0 });
    }

    /// Counts the request against the key's RPM and TPM (tokens: the prompt estimate plus the
    /// output cap) and reserves `cost_estimate` against its budget.
    pub async fn admit(&self, key: &Subject<'_>, tokens: u64, cost_estimate: i64, now_ms: i64) -> Admission {
        let window_start = now_ms - now_ms.rem_euclid(WINDOW_MS);
        let reset_s = ((window_start + WINDOW_MS - now_ms) as f64 / 1000.0).ceil().max(1.0) as u64;
        let counted = match &self.redis {
            Some(shared) if shared.available() => {
                let count = redis_count(shared.conn.clone(), &key.id, window_start, tokens);
                match tokio::time::timeout(REDIS_DEADLINE, count).await {
                    Ok(Ok(counts)) => {
                        shared.recovered();
                        Some(counts)
                    }
                    Ok(Err(e)) => {
                        shared.failed(&e.to_string());
                        None
                    }
                    Err(_) => {
                        shared.failed("no answer within the deadline");
                        None
                    }
                }
            }
            _ => None,
        };
        let shared_down = self.redis.is_some() && counted.is_none();
        if shared_down && self.redis.as_ref().is_some_and(|s| s.on_error == OnSharedStateError::Deny) {
            let error = ClientFacingError::new(
                ErrorKind::Overloaded,
                "The limits shared by the gateway's replicas cannot be checked right now; retry shortly.",
            )
            .with_status(http::StatusCode::SERVICE_UNAVAILABLE)
            .with_code("shared_state_unavailable");
            let retry = (HeaderName::from_static("retry-after"), HeaderValue::from_static("1"));
            return Admission::Refused { error, headers: vec![retry] };
        }
        let (requests, used_tokens) = match counted {
            Some(counts) => counts,
            None => self.local_count(&key.id, window_start, tokens),
        };
        let mut headers = Vec::new();
        let mut put = |name: &'static str, value: String| {
            if let Ok(v) = HeaderValue::from_str(&value) {
                headers.push((HeaderName::from_static(name), v));
            }
        };
        let mut refused = None;
        let who = &key.who;
        if let Some(rpm) = key.rpm {
            put("x-ratelimit-limit-requests", rpm.to_string());
            put("x-ratelimit-remaining-requests", u64::from(rpm).saturating_sub(requests).to_string());
            put("x-ratelimit-reset-requests", format!("{reset_s}s"));
            if requests > u64::from(rpm) {
                refused = Some(format!("Rate limit reached: {rpm} requests per minute for {who}."));
            }
        }
        if let Some(tpm) = key.tpm {
            put("x-ratelimit-limit-tokens", tpm.to_string());
            put("x-ratelimit-remaining-tokens", tpm.saturating_sub(used_tokens).to_string());
            put("x-ratelimit-reset-tokens", format!("{reset_s}s"));
            if refused.is_none() && used_tokens > tpm {
                refused = Some(format!("Rate limit reached: {tpm} tokens per minute for {who}."));
            }
        }
        if let Some(message) = refused {
            self.uncount(&key.id, window_start, tokens).await;
            put("retry-after", reset_s.to_string());
            let error = ClientFacingError::new(ErrorKind::RateLimited, message).with_code("rate_limit_exceeded");
            return Admission::Refused { error, headers };
        }
        match self.reserve(key, cost_estimate, now_ms) {
            Ok(reservation) => Admission::Admitted { headers, reservation },
            Err(error) => {
                self.uncount(&key.id, window_start, tokens).await;
                Admission::Refused { error, headers }
            }
        }
    }

    fn local_count(&self, key_id: &str, window_start: i64, tokens: u64) -> (u64, u64) {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let w = windows.entry(key_id.to_owned()).or_default();
        if w.start_ms != window_start {
            *w = Window { start_ms: window_start, ..Window::default() };
        }
        w.requests += 1;
        w.tokens = w.tokens.saturating_add(tokens);
        (w.requests, w.tokens)
    }

    /// A refused request does not use up the window.
    async fn uncount(&self, key_id: &str, window_start: i64, tokens: u64) {
        if let Some(shared) = self.redis.as_ref().filter(|s| s.available()) {
            let mut conn = shared.conn.clone();
            let (rk, tk) = redis_keys(key_id, window_start);
            let mut pipe = redis::pipe();
            pipe.decr(&rk, 1).decr(&tk, tokens);
            let undo = pipe.query_async::<()>(&mut conn);
            match tokio::time::timeout(REDIS_DEADLINE, undo).await {
                Ok(Ok(())) => return,
                Ok(Err(e)) => shared.failed(&e.to_string()),
                Err(_) => shared.failed("no answer within the deadline"),
            }
        }
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = windows.get_mut(key_id).filter(|w| w.start_ms == window_start) {
            w.requests = w.requests.saturating_sub(1);
            w.tokens = w.tokens.saturating_sub(tokens);
        }
    }

    fn reserve(&self, key: &Subject<'_>, estimate: i64, now_ms: i64) -> Result<Option<Reservation>, ClientFacingError> {
        let Some((limit, period)) = key.budget else { return Ok(None) };
        let mut budgets = self.budgets.lock().unwrap_or_else(|e| e.into_inner());
        let b = budgets.entry(key.id.to_string()).or_default();
        let start = period.start_ms(now_ms);
        if b.period_start_ms != start {
            *b = Budget { period_start_ms: start, spent: 0, reserved: b.reserved };
        }
        if b.spent.saturating_add(b.reserved).saturating_add(estimate) > limit {
            return Err(ClientFacingError::new(
                ErrorKind::RateLimited,
                format!(
                    "This key's budget is used up: ${} of ${} spent this period.",
                    NanoUsd(b.spent).rounded(4),
                    NanoUsd(limit).rounded(4)
                ),
            )
            .with_code("insufficient_quota"));
        }
        b.reserved = b.reserved.saturating_add(estimate);
        Ok(Some(Reservation { key_id: key.id.to_string(), nanos: estimate, limit }))
    }

    /// Replaces a reservation with the request's real cost.
    pub fn settle(&self, reservation: Reservation, cost: i64) {
        let mut budgets = self.budgets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = budgets.get_mut(&reservation.key_id) {
            b.reserved = b.reserved.saturating_sub(reservation.nanos).max(0);
            let soft = i64::try_from(i128::from(reservation.limit) * SOFT_THRESHOLD_PERCENT / 100).unwrap_or(i64::MAX);
            let crossed = b.spent < soft && b.spent.saturating_add(cost) >= soft;
            b.spent = b.spent.saturating_add(cost);
            if crossed {
                metrics::counter!("switchyard_budget_soft_threshold_total", "key" => reservation.key_id.clone())
                    .increment(1);
                tracing::warn!(key = %reservation.key_id, spent_usd = %NanoUsd(b.spent),
                    budget_usd = %NanoUsd(reservation.limit), "key passed 80% of its budget");
            }
        }
    }

    /// Spend recorded for a key in its current period (for soft thresholds and tests).
    pub fn spent(&self, key_id: &str) -> i64 {
        self.budgets.lock().unwrap_or_else(|e| e.into_inner()).get(key_id).map_or(0, |b| b.spent)
    }
}

fn redis_keys(key_id: &str, window_start: i64) -> (String, String) {
    (format!("switchyard:rpm:{key_id}:{window_start}"), format!("switchyard:tpm:{key_id}:{window_start}"))
}

/// One round trip: count the request and its tokens in this window, shared by all replicas.
async fn redis_count(
    mut conn: redis::aio::ConnectionManager,
    key_id: &str,
    window_start: i64,
    tokens: u64,
) -> redis::RedisResult<(u64, u64)> {
    let (rk, tk) = redis_keys(key_id, window_start);
    let (requests, used, (), ()): (u64, u64, (), ()) =
        redis::pipe().incr(&rk, 1).incr(&tk, tokens).expire(&rk, 120).expire(&tk, 120).query_async(&mut conn).await?;
    Ok((requests, used))
}
