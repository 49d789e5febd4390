//! The attempt loop every operation shares, and one attempt's bookkeeping: the in-flight count,
//! what its result says about the deployment's health, and how long to wait before trying a
//! deployment again.

use std::time::{Duration, Instant};

use http::StatusCode;

use super::finalize::{Finalizer, Winner};
use crate::app::App;
use crate::error::ErrorReply;
use crate::routing::{Plan, RoutePolicy};
use crate::telemetry::{Outcome as TelemetryOutcome, UpstreamAttemptFinished};

use crate::error::UpstreamError;
use crate::routing::health::{InFlight, Outcome};
use crate::routing::Deployment;
use crate::upstream::rate_limit::{retry_after, DEFAULT_RATE_LIMIT_BACKOFF};
use crate::upstream::AttemptContext;

/// Retry rounds wait about this long, doubling each round, with jitter.
const BACKOFF_BASE: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// What a failed attempt says about the deployment.
pub fn outcome_of(err: &UpstreamError) -> Outcome {
    match err {
        UpstreamError::Status { status, headers, .. } if *status == StatusCode::TOO_MANY_REQUESTS => {
            Outcome::RateLimited { retry_after: retry_after(headers).unwrap_or(DEFAULT_RATE_LIMIT_BACKOFF) }
        }
        UpstreamError::Status { status, .. } if status.is_server_error() || status.as_u16() == 408 => Outcome::Failure,
        UpstreamError::Status { .. } | UpstreamError::Encode(_) | UpstreamError::Shutdown { .. } => Outcome::Neutral,
        UpstreamError::Connect { .. }
        | UpstreamError::Timeout { .. }
        | UpstreamError::BadResponse { .. }
        | UpstreamError::StreamBroken { .. }
        | UpstreamError::Credentials { .. } => Outcome::Failure,
    }
}

/// Before retry round `round` (0-based) on `d`: exponential with full jitter, but never less
/// than what the provider asked for.
pub fn backoff(round: usize, d: &Deployment, now_ms: u64) -> Duration {
    let exp = BACKOFF_BASE.saturating_mul(1 << round.min(6)).min(BACKOFF_MAX);
    let jittered = exp.mul_f64(0.5 + 0.5 * (crate::routing::order::random_below(1000) as f64 / 1000.0));
    jittered.max(Duration::from_millis(d.health.backoff_left_ms(now_ms)))
}

/// One kind of call to an upstream (chat, embeddings, ...): what the attempt loop needs to
/// know of it.
pub(super) trait Operation {
    type Output;
    /// Streamed calls commit at their first event, under the first-token limit.
    fn streams(&self) -> bool;
    /// Sends one attempt and reads its reply up to the commit point; also returns how long
    /// the provider says its quota is spent, from a successful reply's headers.
    fn send(
        &self,
        app: &App,
        deployment: &Deployment,
        attempt: &mut AttemptContext,
    ) -> impl std::future::Future<Output = Result<(Self::Output, Option<Duration>), UpstreamError>> + Send;
}

/// The attempt that answered.
pub(super) struct Won<T> {
    pub output: T,
    pub deployment: Deployment,
    /// Attempts made, this one included.
    pub attempts: usize,
}

/// Tries the plan's candidates in order, then retry rounds with backoff, until one answers, a
/// failure is final, or the deadline passes. Failed attempts that reached a provider get their
/// ledger row here; the winner is handed to the finalizer.
pub(super) async fn run<O: Operation>(
    app: &App,
    plan: &Plan,
    op: &O,
    deadline: Instant,
    finalizer: &mut Finalizer,
) -> Result<Won<O::Output>, ErrorReply> {
    let health = &app.config.health;
    let max_attempts = plan.candidates.len() + plan.policy.retries as usize;
    let mut last_error: Option<UpstreamError> = None;
    for attempt in 0..max_attempts {
        let deployment = &plan.candidates[attempt % plan.candidates.len()];
        if let Some(round) = attempt.checked_sub(plan.candidates.len()) {
            let wait = backoff(round, deployment, health.now_ms());
            if Instant::now() + wait >= deadline {
                break;
            }
            tokio::time::sleep(wait).await;
            finalizer.waited(wait);
        }
        let started = Instant::now();
        let first_token = op.streams().then_some(app.config.timeouts.first_token);
        let Some(limit) = time_limit(deployment, &plan.policy, first_token, deadline, started) else { break };
        let in_flight = InFlight::start(deployment, health.now_ms());
        let provider = || deployment.provider.name.clone();
        let number = u32::try_from(attempt + 1).unwrap_or(u32::MAX);
        let mut trace = finalizer.trace().map(|t| t.attempt(deployment, number));
        let mut context =
            AttemptContext::new(trace.as_mut().map(|t| std::mem::take(&mut t.headers)).unwrap_or_default());
        let result = tokio::select! {
            r = tokio::time::timeout(limit, op.send(app, deployment, &mut context)) => match r {
                Ok(r) => r,
                Err(_) => Err(UpstreamError::Timeout { provider: provider() }),
            },
            () = app.shutdown.cancelled() => Err(UpstreamError::Shutdown { provider: provider() }),
        };
        let latency = started.elapsed();
        finalizer.waited(context.waited);
        let outcome = result.as_ref().err().map_or(TelemetryOutcome::Ok, UpstreamError::outcome);
        // A request no dialect could express never left: it is not an upstream attempt.
        if !matches!(result, Err(UpstreamError::Encode(_))) {
            UpstreamAttemptFinished { provider: &deployment.provider.name, outcome, latency }.emit();
        }
        let now_ms = health.now_ms();
        match result {
            Ok((output, exhausted)) => {
                deployment.health.finish(Outcome::Success { ttft: latency, total: latency }, now_ms);
                if let Some(wait) = exhausted {
                    deployment.health.finish(Outcome::RateLimited { retry_after: wait }, now_ms);
                }
                if let Some(key) = plan.affinity_key {
                    app.affinity.record(key, deployment, now_ms);
                }
                let first_token = started.duration_since(finalizer.started()) + latency;
                finalizer.won(Winner::new(deployment.clone(), started, first_token, number, in_flight));
                if let (Some(t), Some(request)) = (trace, finalizer.trace()) {
                    request.won(t, number);
                }
                return Ok(Won { output, deployment: deployment.clone(), attempts: attempt + 1 });
            }
            Err(e) => {
                deployment.health.finish(outcome_of(&e), now_ms);
                if let Some(t) = trace {
                    t.failed(outcome, e.reached_status());
                }
                if let Some(status) = e.reached_status() {
                    app.record(finalizer.attempt_row(deployment, number, status, outcome, latency));
                }
                let retry = e.retryable();
                last_error = Some(e);
                if !retry {
                    break;
                }
            }
        }
    }
    Err(match last_error {
        Some(e) => e.into_reply(),
        None => ErrorReply::from(
            dialect::ClientFacingError::new(
                dialect::ErrorKind::Timeout,
                format!("`{}` could not be served before the request's deadline.", finalizer.alias),
            )
            .with_status(StatusCode::GATEWAY_TIMEOUT),
        ),
    })
}

/// How long one attempt may take to its first token (the whole reply, unstreamed): the
/// deployment's or the alias's limit, else `default_ttft`, never past the request's deadline.
/// None when the deadline has already passed.
fn time_limit(
    d: &Deployment,
    policy: &RoutePolicy,
    default_ttft: Option<Duration>,
    deadline: Instant,
    now: Instant,
) -> Option<Duration> {
    let ttft = d.settings.ttft_timeout.or(policy.ttft_timeout).or(default_ttft);
    let left = deadline.checked_duration_since(now).filter(|d| !d.is_zero())?;
    Some(ttft.map_or(left, |t| t.min(left)))
}
