//! Per-key limits, enforced before a request leaves: requests and tokens per minute over a
//! sliding window (`window.rs`), and budgets per period with reservations, so concurrent requests
//! cannot all slip under the same remainder. In-process, or — with `redis_url` — shared by every
//! replica through Redis in one atomic round trip per request (`shared.rs`); while Redis cannot
//! be reached each replica limits on its own (or refuses, by config) and catches up after.

mod shared;
mod window;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use dialect::{ClientFacingError, ErrorKind};
use http::{HeaderName, HeaderValue};

use std::borrow::Cow;

use super::{KeyRecord, Period};
use crate::fast_map::FastMap;
use crate::money::NanoUsd;
use shared::{AdmitCall, AdmitReply, SettleCall, Shared};
use window::{Counted, Full, Window, SPAN_SECS};

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
    period_start_ms: i64,
    period: Period,
    /// Held in Redis (its member in the holds set; empty when the estimate was 0), or locally.
    shared_hold: Option<String>,
}

/// Spend past this share of a budget (percent) is reported (log and metric) once per period.
const SOFT_THRESHOLD_PERCENT: i128 = 80;

/// A key's budget as this replica knows it.
#[derive(Default)]
struct Budget {
    period_start_ms: i64,
    /// The ledger's spend at start, plus every cost settled here, raised to what Redis reports.
    spent: i64,
    /// Holds made here while limiting on its own.
    reserved: i64,
    /// Costs settled here that Redis has not been told (it could not be reached); sent with the
    /// next admission.
    unsynced: i64,
}

/// Windows are swept of idle subjects every this many admissions.
const SWEEP_EVERY: u64 = 4_096;

struct Inner {
    windows: Mutex<FastMap<String, Window>>,
    budgets: Mutex<FastMap<String, Budget>>,
    redis: Option<Shared>,
    admissions: AtomicU64,
    /// Makes hold names unique across replicas.
    hold_prefix: String,
}

/// The limiter; cheap to clone (replicas' state is shared behind it).
#[derive(Clone)]
pub struct Limiter {
    inner: Arc<Inner>,
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

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter").field("redis", &self.inner.redis.is_some()).finish()
    }
}

/// How long Redis keeps a period's spend after the period began (none for `total`).
fn budget_ttl_secs(period: Period) -> u64 {
    const DAY: u64 = 86_400;
    match period {
        Period::Day => 2 * DAY,
        Period::Week => 8 * DAY,
        Period::Month => 31 * DAY,
        Period::Total => 0,
    }
}

/// What a window or budget check decided, before it is written as headers.
struct Decision {
    counted: Counted,
    refused: Option<Refusal>,
    reservation: Option<Reservation>,
}

enum Refusal {
    Full(Full),
    Budget { spent: i64, limit: i64 },
}

impl Limiter {
    /// In-process limits only.
    pub fn local() -> Limiter {
        Limiter::with(None)
    }

    fn with(redis: Option<Shared>) -> Limiter {
        let hold_prefix = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
        Limiter {
            inner: Arc::new(Inner {
                windows: Mutex::default(),
                budgets: Mutex::default(),
                redis,
                admissions: AtomicU64::new(0),
                hold_prefix,
            }),
        }
    }

    /// Limits shared through Redis at `redis_url`, which need not be up yet: the connection is
    /// made on first use, and re-made when Redis comes back.
    pub fn new(redis_url: Option<&str>, on_error: OnSharedStateError) -> Result<Limiter, redis::RedisError> {
        let redis = redis_url.map(|url| Shared::open(url, on_error)).transpose()?;
        Ok(Limiter::with(redis))
    }

    /// Seeds a key's spend for the current period (from the ledger: at start, or when a
    /// budget is added to a key). Holds of requests still running are kept.
    pub fn seed_spend(&self, key_id: &str, period_start_ms: i64, spent: i64) {
        let mut budgets = self.inner.budgets.lock().unwrap_or_else(|e| e.into_inner());
        let b = budgets.entry(key_id.to_owned()).or_default();
        let unsynced = if b.period_start_ms == period_start_ms { b.unsynced } else { 0 };
        *b = Budget { period_start_ms, spent, reserved: b.reserved, unsynced };
    }

    /// Counts the request against the subject's RPM and TPM (tokens: the prompt estimate plus
    /// the output cap) and reserves `cost_estimate` against its budget.
    pub async fn admit(&self, key: &Subject<'_>, tokens: u64, cost_estimate: i64, now_ms: i64) -> Admission {
        if self.inner.admissions.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sweep(now_ms);
        }
        let mut decision = None;
        if let Some(shared) = self.inner.redis.as_ref().filter(|s| s.available()) {
            decision = self.admit_shared(shared, key, tokens, cost_estimate, now_ms).await;
        }
        let decision = match decision {
            Some(d) => d,
            None if self.inner.redis.as_ref().is_some_and(|s| s.on_error == OnSharedStateError::Deny) => {
                let error = ClientFacingError::new(
                    ErrorKind::Overloaded,
                    "The limits shared by the gateway's replicas cannot be checked right now; retry shortly.",
                )
                .with_status(http::StatusCode::SERVICE_UNAVAILABLE)
                .with_code("shared_state_unavailable");
                let retry = (HeaderName::from_static("retry-after"), HeaderValue::from_static("1"));
                return Admission::Refused { error, headers: vec![retry] };
            }
            None => self.admit_local(key, tokens, cost_estimate, now_ms),
        };
        answer(key, decision, now_ms)
    }

    async fn admit_shared(
        &self,
        shared: &Shared,
        key: &Subject<'_>,
        tokens: u64,
        estimate: i64,
        now_ms: i64,
    ) -> Option<Decision> {
        let budget = key.budget.map(|(limit, period)| (limit, period, period.start_ms(now_ms)));
        let (seed, pending) = match budget {
            Some((_, _, start)) => self.local_view(&key.id, start),
            None => (0, 0),
        };
        let hold = match budget {
            Some(_) if estimate > 0 => {
                let n = self.inner.admissions.load(Ordering::Relaxed);
                format!("{}{n}:{estimate}", self.inner.hold_prefix)
            }
            _ => String::new(),
        };
        let call = AdmitCall {
            subject: &key.id,
            now_ms,
            rpm: key.rpm,
            tpm: key.tpm,
            tokens,
            budget: budget.map(|(limit, period, start)| (limit, start, budget_ttl_secs(period))),
            estimate,
            seed,
            hold: &hold,
            pending,
        };
        let AdmitReply { verdict, requests, tokens: used, oldest_sec, spent } = shared.admit(&call).await?;
        if let Some((_, _, start)) = budget {
            self.merge_spent(&key.id, start, spent, pending);
        }
        let counted = Counted { requests, tokens: used, oldest_sec };
        let refused = match verdict {
            1 => Some(Refusal::Full(Full::Requests)),
            2 => Some(Refusal::Full(Full::Tokens)),
            3 => budget.map(|(limit, _, _)| Refusal::Budget { spent, limit }),
            _ => None,
        };
        let reservation = match (budget, &refused) {
            (Some((limit, period, start)), None) => Some(Reservation {
                key_id: key.id.to_string(),
                nanos: estimate,
                limit,
                period_start_ms: start,
                period,
                shared_hold: Some(hold),
            }),
            _ => None,
        };
        Some(Decision { counted, refused, reservation })
    }

    fn admit_local(&self, key: &Subject<'_>, tokens: u64, estimate: i64, now_ms: i64) -> Decision {
        let (counted, full) = {
            let mut windows = self.inner.windows.lock().unwrap_or_else(|e| e.into_inner());
            match windows.get_mut(key.id.as_ref()) {
                Some(w) => w.admit(now_ms, tokens, key.rpm, key.tpm),
                None => windows.entry(key.id.to_string()).or_default().admit(now_ms, tokens, key.rpm, key.tpm),
            }
        };
        if let Some(full) = full {
            return Decision { counted, refused: Some(Refusal::Full(full)), reservation: None };
        }
        let Some((limit, period)) = key.budget else { return Decision { counted, refused: None, reservation: None } };
        let start = period.start_ms(now_ms);
        let mut budgets = self.inner.budgets.lock().unwrap_or_else(|e| e.into_inner());
        let b = current(&mut budgets, &key.id, start);
        if b.spent.saturating_add(b.reserved).saturating_add(estimate) > limit {
            let refused = Some(Refusal::Budget { spent: b.spent, limit });
            drop(budgets);
            self.uncount(&key.id, now_ms, tokens);
            return Decision { counted, refused, reservation: None };
        }
        b.reserved = b.reserved.saturating_add(estimate);
        let reservation = Reservation {
            key_id: key.id.to_string(),
            nanos: estimate,
            limit,
            period_start_ms: start,
            period,
            shared_hold: None,
        };
        Decision { counted, refused: None, reservation: Some(reservation) }
    }

    /// A request refused for its budget does not use up the window.
    fn uncount(&self, key_id: &str, now_ms: i64, tokens: u64) {
        let mut windows = self.inner.windows.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = windows.get_mut(key_id) {
            w.uncount(now_ms, tokens);
        }
    }

    /// What this replica knows a key has spent this period, and what of it Redis has not heard.
    fn local_view(&self, key_id: &str, period_start_ms: i64) -> (i64, i64) {
        let mut budgets = self.inner.budgets.lock().unwrap_or_else(|e| e.into_inner());
        let b = current(&mut budgets, key_id, period_start_ms);
        (b.spent, b.unsynced)
    }

    fn merge_spent(&self, key_id: &str, period_start_ms: i64, spent: i64, reported: i64) {
        let mut budgets = self.inner.budgets.lock().unwrap_or_else(|e| e.into_inner());
        let b = current(&mut budgets, key_id, period_start_ms);
        b.spent = b.spent.max(spent);
        b.unsynced = b.unsynced.saturating_sub(reported).max(0);
    }

    fn sweep(&self, now_ms: i64) {
        let mut windows = self.inner.windows.lock().unwrap_or_else(|e| e.into_inner());
        windows.retain(|_, w| !w.is_idle(now_ms));
    }

    /// Replaces a reservation with the request's real cost. Never waits: with Redis, the
    /// shared spend is updated by a task of its own.
    pub fn settle(&self, reservation: Reservation, cost: i64) {
        let seed = {
            let mut budgets = self.inner.budgets.lock().unwrap_or_else(|e| e.into_inner());
            let b = budgets.entry(reservation.key_id.clone()).or_default();
            if reservation.shared_hold.is_none() {
                b.reserved = b.reserved.saturating_sub(reservation.nanos).max(0);
            }
            let before = b.spent;
            b.spent = b.spent.saturating_add(cost);
            if reservation.shared_hold.is_none() {
                soft_threshold(&reservation, before, b.spent);
            }
            b.spent
        };
        let Some(hold) = reservation.shared_hold.clone() else { return };
        if hold.is_empty() && cost == 0 {
            return;
        }
        let limiter = self.clone();
        let key_id = reservation.key_id.clone();
        let report = async move {
            let Some(shared) = limiter.inner.redis.as_ref() else { return };
            let after = match shared.available() {
                true => {
                    let call = SettleCall {
                        subject: &reservation.key_id,
                        period_start_ms: reservation.period_start_ms,
                        hold: &hold,
                        estimate: reservation.nanos,
                        cost,
                        seed,
                        ttl: budget_ttl_secs(reservation.period),
                    };
                    shared.settle(&call).await
                }
                false => None,
            };
            let mut budgets = limiter.inner.budgets.lock().unwrap_or_else(|e| e.into_inner());
            let b = budgets.entry(reservation.key_id.clone()).or_default();
            match after {
                Some(after) => {
                    b.spent = b.spent.max(after);
                    soft_threshold(&reservation, after.saturating_sub(cost), after);
                }
                None => b.unsynced = b.unsynced.saturating_add(cost),
            }
        };
        match tokio::runtime::Handle::try_current() {
            // Settling never delays the request that is ending.
            Ok(runtime) => drop(runtime.spawn(report)),
            Err(_) => {
                let mut budgets = self.inner.budgets.lock().unwrap_or_else(|e| e.into_inner());
                let b = budgets.entry(key_id).or_default();
                b.unsynced = b.unsynced.saturating_add(cost);
            }
        }
    }

    /// What a key has spent and holds for requests still running in its current period: from
    /// Redis when limits are shared and it answers (what the whole fleet spent), else this
    /// replica's own figures. For the console and the admin API, not the request path.
    pub async fn budget_use(&self, key_id: &str, period: Period, now_ms: i64) -> (i64, i64) {
        let start = period.start_ms(now_ms);
        if let Some(shared) = self.inner.redis.as_ref().filter(|s| s.available()) {
            if let Some((spent, reserved)) = shared.budget(key_id, start).await {
                return (spent.max(self.spent(key_id)), reserved);
            }
        }
        let budgets = self.inner.budgets.lock().unwrap_or_else(|e| e.into_inner());
        budgets.get(key_id).filter(|b| b.period_start_ms == start).map_or((0, 0), |b| (b.spent, b.reserved))
    }

    /// Spend recorded for a key in its current period, as this replica knows it.
    pub fn spent(&self, key_id: &str) -> i64 {
        self.inner.budgets.lock().unwrap_or_else(|e| e.into_inner()).get(key_id).map_or(0, |b| b.spent)
    }
}

/// The subject's budget entry, started afresh when a new period has begun.
fn current<'m>(budgets: &'m mut FastMap<String, Budget>, key_id: &str, period_start_ms: i64) -> &'m mut Budget {
    let b = budgets.entry(key_id.to_owned()).or_default();
    if b.period_start_ms != period_start_ms {
        // Holds of requests still running carry over; spend starts again.
        *b = Budget { period_start_ms, spent: 0, reserved: b.reserved, unsynced: 0 };
    }
    b
}

/// Logs and counts the first settlement that takes spend past the soft threshold.
fn soft_threshold(reservation: &Reservation, before: i64, after: i64) {
    let soft = i64::try_from(i128::from(reservation.limit) * SOFT_THRESHOLD_PERCENT / 100).unwrap_or(i64::MAX);
    if before < soft && after >= soft {
        metrics::counter!("switchyard_budget_soft_threshold_total", "key" => reservation.key_id.clone()).increment(1);
        tracing::warn!(key = %reservation.key_id, spent_usd = %NanoUsd(after),
            budget_usd = %NanoUsd(reservation.limit), "key passed 80% of its budget");
    }
}

/// The decision as the client sees it: `x-ratelimit-*` headers, and the refusal's message.
// Made at compile time: `from_static` at run time checks every byte again.
const LIMIT_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-limit-requests");
const REMAINING_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-remaining-requests");
const RESET_REQUESTS: HeaderName = HeaderName::from_static("x-ratelimit-reset-requests");
const LIMIT_TOKENS: HeaderName = HeaderName::from_static("x-ratelimit-limit-tokens");
const REMAINING_TOKENS: HeaderName = HeaderName::from_static("x-ratelimit-remaining-tokens");
const RESET_TOKENS: HeaderName = HeaderName::from_static("x-ratelimit-reset-tokens");

fn answer(key: &Subject<'_>, decision: Decision, now_ms: i64) -> Admission {
    let Decision { counted, refused, reservation } = decision;
    // A request's slot frees when the oldest second still counted leaves the window.
    let frees_ms = (counted.oldest_sec + SPAN_SECS + 1) * 1000 - now_ms;
    let reset_s = (frees_ms.max(1) as u64).div_ceil(1000);
    let mut headers = Vec::with_capacity(7);
    let seconds = HeaderValue::from_str(&format!("{reset_s}s")).unwrap_or(HeaderValue::from_static("60s"));
    if let Some(rpm) = key.rpm {
        headers.push((LIMIT_REQUESTS, HeaderValue::from(rpm)));
        headers.push((REMAINING_REQUESTS, HeaderValue::from(u64::from(rpm).saturating_sub(counted.requests))));
        headers.push((RESET_REQUESTS, seconds.clone()));
    }
    if let Some(tpm) = key.tpm {
        headers.push((LIMIT_TOKENS, HeaderValue::from(tpm)));
        headers.push((REMAINING_TOKENS, HeaderValue::from(tpm.saturating_sub(counted.tokens))));
        headers.push((RESET_TOKENS, seconds));
    }
    let who = &key.who;
    let error = match refused {
        None => return Admission::Admitted { headers, reservation },
        Some(Refusal::Full(full)) => {
            let (limit, unit) = match full {
                Full::Requests => (u64::from(key.rpm.unwrap_or(0)), "requests"),
                Full::Tokens => (key.tpm.unwrap_or(0), "tokens"),
            };
            ClientFacingError::new(
                ErrorKind::RateLimited,
                format!("Rate limit reached: {limit} {unit} per minute for {who}."),
            )
            .with_code("rate_limit_exceeded")
        }
        Some(Refusal::Budget { spent, limit }) => {
            return Admission::Refused {
                error: ClientFacingError::new(
                    ErrorKind::RateLimited,
                    format!(
                        "This key's budget is used up: ${} of ${} spent this period.",
                        NanoUsd(spent).rounded(4),
                        NanoUsd(limit).rounded(4)
                    ),
                )
                .with_code("insufficient_quota"),
                headers,
            }
        }
    };
    headers.push((http::header::RETRY_AFTER, HeaderValue::from(reset_s)));
    Admission::Refused { error, headers }
}

#[cfg(test)]
mod tests;
