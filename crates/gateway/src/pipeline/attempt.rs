//! One attempt's bookkeeping: the in-flight count, what its result says about the deployment's
//! health, and how long to wait before trying a deployment again.

use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;

use crate::error::UpstreamError;
use crate::routing::health::{Health, Outcome};
use crate::routing::Deployment;
use crate::upstream::rate_limit::{retry_after, DEFAULT_RATE_LIMIT_BACKOFF};

/// Counts a request in flight on a deployment until dropped — at the end of a stream, not at
/// its first byte, so `least_busy` and concurrency caps see long streams.
pub struct InFlight(Arc<Health>);

impl InFlight {
    pub fn start(d: &Deployment, now_ms: u64) -> InFlight {
        d.health.start(now_ms);
        InFlight(d.health.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.end();
    }
}

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
