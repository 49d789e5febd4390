//! The finalizer: one guard per request, created before routing, whose `Drop` does the
//! request's bookkeeping exactly once however the request ends — answered whole, streamed to
//! its end, broken, cut by the gateway, abandoned by the client, or refused: the winning
//! attempt's ledger row, the budget reservation settled with the real cost, the in-flight
//! count released, and the `RequestFinished` metrics and log line, the cost and budget
//! metrics, and the request's spans when traces are on. It also keeps the clock of the
//! gateway's own overhead: the request's time less what it spent waiting on upstreams.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dialect::Usage;
use http::StatusCode;

use super::record::{self, Attempt};
use super::trace::{Ending, RequestTrace};
use crate::app::App;
use crate::keys::{Caller, KeyRecord, Reservation};
use crate::routing::health::InFlight;
use crate::routing::Deployment;
use crate::telemetry::{BudgetChanged, CostRecorded, Outcome, RequestFinished};

/// The attempt that answered: where, since when, and the in-flight count it holds.
pub(super) struct Winner {
    pub deployment: Deployment,
    pub started: Instant,
    /// Request start to the first event (streams) or to the whole reply.
    pub time_to_first_token: Duration,
    /// Which attempt of the request answered: 1 for the first.
    pub attempt: u32,
    _in_flight: InFlight,
}

impl Winner {
    pub fn new(
        deployment: Deployment,
        started: Instant,
        time_to_first_token: Duration,
        attempt: u32,
        in_flight: InFlight,
    ) -> Winner {
        Winner { deployment, started, time_to_first_token, attempt, _in_flight: in_flight }
    }
}

pub struct Finalizer {
    app: Arc<App>,
    pub(super) request_id: String,
    route: &'static str,
    key: Option<Arc<KeyRecord>>,
    started: Instant,
    stream: bool,
    /// The alias for metrics, logs and rows; empty until routed.
    pub(super) alias: Arc<str>,
    reservation: Option<Reservation>,
    winner: Option<Winner>,
    usage: Option<Usage>,
    status: StatusCode,
    outcome: Outcome,
    /// The reply reached its proper end (or a decided error); false: the client left first.
    completed: bool,
    /// Answered from the response cache: no attempt, a row that cost nothing.
    hit: Option<CacheHit>,
    /// Ended by the gateway (deadline, shutdown) before the upstream's end.
    cut_short: bool,
    /// The request's spans; None when traces are off.
    trace: Option<Box<RequestTrace>>,
    /// Time spent waiting on upstreams (headers, bodies, first events) and in retry backoff.
    waited: Duration,
    /// When a stream passed its commit point; from then on only [`Finalizer::worked`] counts.
    committed: Option<Instant>,
    /// Time spent handling a stream's events after its commit point.
    stream_work: Duration,
}

impl Finalizer {
    pub fn new(app: Arc<App>, caller: &Caller, request_id: String, route: &'static str, stream: bool) -> Finalizer {
        Finalizer {
            app,
            request_id,
            route,
            key: caller.key_arc(),
            started: Instant::now(),
            stream,
            alias: Arc::from(""),
            reservation: None,
            winner: None,
            usage: None,
            status: StatusCode::OK,
            outcome: Outcome::Ok,
            completed: false,
            cut_short: false,
            hit: None,
            trace: None,
            waited: Duration::ZERO,
            committed: None,
            stream_work: Duration::ZERO,
        }
    }

    /// The request's spans, when traces are on.
    pub(super) fn trace(&mut self) -> Option<&mut RequestTrace> {
        self.trace.as_deref_mut()
    }

    pub(super) fn traced(&mut self, trace: Option<Box<RequestTrace>>) {
        self.trace = trace;
    }

    /// `d` was spent waiting on an upstream or a backoff: not the gateway's overhead.
    pub(super) fn waited(&mut self, d: Duration) {
        self.waited += d;
    }

    /// The stream is past its commit point: its overhead is counted event by event from now.
    pub(super) fn committed(&mut self) {
        self.committed = Some(Instant::now());
    }

    /// `d` was spent handling a stream's events.
    pub(super) fn worked(&mut self, d: Duration) {
        self.stream_work += d;
    }

    /// The gateway's own time on this request so far: up to now (or a stream's commit point)
    /// less the waits on upstreams, plus a stream's event handling since.
    pub(super) fn overhead(&self) -> Duration {
        let until = self.committed.unwrap_or_else(Instant::now);
        until.saturating_duration_since(self.started).saturating_sub(self.waited) + self.stream_work
    }

    /// The request is answered from the cache with a reply of `model` that first cost `saved`.
    pub(super) fn answered_from_cache(&mut self, kind: crate::cache::HitKind, saved: Option<i64>, model: &str) {
        self.hit = Some(CacheHit { kind, saved, model: model.to_owned() });
    }

    pub(super) fn app(&self) -> &Arc<App> {
        &self.app
    }

    pub fn started(&self) -> Instant {
        self.started
    }

    pub fn key(&self) -> Option<&KeyRecord> {
        self.key.as_deref()
    }

    pub(super) fn hold(&mut self, reservation: Option<Reservation>) {
        self.reservation = reservation;
    }

    /// The request ends here with an error decided before or instead of an answer.
    pub(super) fn fail(&mut self, status: StatusCode, outcome: Outcome) {
        self.status = status;
        self.outcome = outcome;
        self.completed = true;
    }

    pub(super) fn won(&mut self, winner: Winner) {
        self.winner = Some(winner);
    }

    /// The provider's usage, clamped to what is plausible.
    pub(super) fn set_usage(&mut self, usage: Usage) {
        let mut usage = usage;
        record::clamp_usage(&mut usage);
        self.usage = Some(usage);
    }

    pub(super) fn usage(&self) -> Option<Usage> {
        self.usage
    }

    /// The cost of the winning attempt so far, in nano-dollars (None: unpriced or no usage).
    pub(super) fn cost_nanos(&self) -> Option<i64> {
        let winner = self.winner.as_ref()?;
        record::cost_nanos(winner.deployment.settings.prices, &self.usage?)
    }

    /// The reply reached its proper end.
    pub(super) fn complete(&mut self) {
        self.completed = true;
    }

    /// The gateway ended the reply early, for `outcome`.
    pub(super) fn cut(&mut self, outcome: Outcome) {
        self.outcome = outcome;
        self.cut_short = true;
        self.completed = true;
    }

    /// Something worth recording happened; the reply goes on.
    pub(super) fn noted(&mut self, outcome: Outcome) {
        self.outcome = outcome;
    }

    /// The upstream broke off or reported an error mid-stream.
    pub(super) fn broke(&mut self, outcome: Outcome) {
        self.outcome = outcome;
        self.completed = true;
    }

    /// A failed attempt's row (`attempt`: 1 for the first): it reached a provider, so it is
    /// billed like any other.
    pub(super) fn attempt_row(
        &self,
        deployment: &Deployment,
        attempt: u32,
        status: u16,
        outcome: Outcome,
        latency: Duration,
    ) -> crate::ledger::Entry {
        self.row(deployment, attempt, None, status, outcome, latency, None, false)
    }

    /// One ledger row of this request, for an attempt at `deployment`.
    #[expect(clippy::too_many_arguments, reason = "one row's columns; both callers name them")]
    fn row(
        &self,
        deployment: &Deployment,
        attempt: u32,
        usage: Option<Usage>,
        status: u16,
        outcome: Outcome,
        latency: Duration,
        ttft: Option<Duration>,
        cancelled: bool,
    ) -> crate::ledger::Entry {
        Attempt {
            request_id: &self.request_id,
            key_id: self.key.as_deref().map(|k| k.id.as_str()),
            team: self.key.as_deref().and_then(|k| k.team.as_deref()),
            alias: &self.alias,
            deployment,
            usage,
            status,
            outcome: outcome.as_str(),
            latency,
            ttft,
            stream: self.stream,
            cancelled,
            attempt,
        }
        .entry()
    }
}

/// A reply given from the cache, for its ledger row.
struct CacheHit {
    kind: crate::cache::HitKind,
    saved: Option<i64>,
    model: String,
}

/// The deployment and provider a cache hit's row names.
const CACHE_PROVIDER: &str = "cache";

impl Finalizer {
    /// A cache hit's ledger row: no tokens, no cost, and what the reply first cost.
    fn hit_row(&self, hit: &CacheHit, outcome: Outcome) -> crate::ledger::Entry {
        crate::ledger::Entry {
            request_id: self.request_id.clone(),
            at_unix_ms: crate::keys::now_ms(),
            key_id: self.key.as_deref().map(|k| k.id.clone()),
            team: self.key.as_deref().and_then(|k| k.team.clone()),
            alias: self.alias.to_string(),
            deployment: CACHE_PROVIDER.into(),
            provider: CACHE_PROVIDER.into(),
            model: hit.model.clone(),
            cost_nanos: Some(0),
            status: i32::from(self.status.as_u16()),
            outcome: outcome.as_str().into(),
            latency_ms: self.started.elapsed().as_millis() as i64,
            ttft_ms: self.stream.then(|| self.started.elapsed().as_millis() as i64),
            stream: self.stream,
            cancelled: !self.completed,
            cache: Some(hit.kind.as_str().into()),
            saved_nanos: hit.saved,
            // The request's one row: no provider was asked.
            attempt: 1,
            ..Default::default()
        }
    }
}

impl Drop for Finalizer {
    fn drop(&mut self) {
        let outcome = if self.completed { self.outcome } else { Outcome::ClientCancelled };
        let mut cost = 0;
        let provider = match (&self.winner, &self.hit) {
            (Some(w), _) => Some(w.deployment.provider.name.clone()),
            (None, Some(_)) => Some(CACHE_PROVIDER.into()),
            (None, None) => None,
        };
        // Streams record their time to first token; a whole reply's is its latency.
        let ttft = self.winner.as_ref().filter(|_| self.stream).map(|w| w.time_to_first_token);
        if let Some(w) = &self.winner {
            let cancelled = !self.completed || self.cut_short;
            let latency = w.started.elapsed();
            let status = self.status.as_u16();
            let entry = self.row(&w.deployment, w.attempt, self.usage, status, outcome, latency, ttft, cancelled);
            cost = entry.cost_nanos.unwrap_or(0);
            self.app.record(entry);
        } else if let Some(hit) = &self.hit {
            self.app.record(self.hit_row(hit, outcome));
        }
        if let Some(reservation) = self.reservation.take() {
            self.app.limiter.settle(reservation, cost);
            if let Some(key) = self.key.as_deref() {
                BudgetChanged {
                    key_id: &key.id,
                    spent_nanos: self.app.limiter.spent(&key.id),
                    limit_nanos: key.budget_nanos,
                }
                .emit();
            }
        }
        if let (Some(w), true) = (&self.winner, cost > 0) {
            CostRecorded {
                alias: metrics::SharedString::from(self.alias.clone()),
                provider: metrics::SharedString::from(w.deployment.provider.name.clone()),
                model: metrics::SharedString::from(w.deployment.model.clone()),
                key_id: self.key.as_deref().map(|k| k.id.as_str()),
                team: self.key.as_deref().and_then(|k| k.team.as_deref()),
                nanos: cost,
            }
            .emit();
        }
        if let Some(trace) = self.trace.take() {
            trace.end(&Ending {
                status: self.status,
                outcome,
                usage: self.usage,
                cost_nanos: self.cost_nanos(),
                winner: self.winner.as_ref().map(|w| &w.deployment),
                time_to_first_chunk: ttft,
                cache: self.hit.as_ref().map(|h| h.kind.as_str()),
            });
        }
        RequestFinished {
            request_id: &self.request_id,
            route: self.route,
            alias: metrics::SharedString::from(self.alias.clone()),
            provider: provider.map_or(metrics::SharedString::const_str(""), metrics::SharedString::from),
            status: self.status.as_u16(),
            outcome,
            stream: self.stream,
            duration: self.started.elapsed(),
            time_to_first_token: ttft,
            usage: self.usage,
            overhead: Some(self.overhead()),
        }
        .emit();
    }
}
