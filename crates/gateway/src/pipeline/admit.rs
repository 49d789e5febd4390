//! Admission of a virtual key's request: its team's and its own RPM/TPM, and a budget hold for
//! the estimated cost, before anything leaves. Refusals carry the `x-ratelimit-*` headers.

use dialect::ChatRequest;
use http::{header, HeaderName, HeaderValue};

use super::record;
use crate::app::App;
use crate::error::ErrorReply;
use crate::keys::{Admission, KeyRecord, Reservation, Subject};
use crate::routing::filter::Needs;
use crate::routing::Plan;

/// Output tokens assumed for a request that sets no cap, when estimating limits and budget.
const ASSUMED_OUTPUT: u64 = 1_024;

pub(super) struct Admitted {
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub reservation: Option<Reservation>,
}

/// Counts the request against its key's limits and reserves its estimated cost (at the first
/// candidate's prices) against the key's budget. A caller without a key is not limited.
pub(super) async fn admit(
    app: &App,
    key: Option<&KeyRecord>,
    req: &ChatRequest,
    plan: &Plan,
) -> Result<Admitted, ErrorReply> {
    let Some(key) = key else {
        return Ok(Admitted { headers: Vec::new(), reservation: None });
    };
    let needs = Needs::of(req);
    let output = if needs.max_output == 0 { ASSUMED_OUTPUT } else { needs.max_output };
    let usage = dialect::Usage { input_tokens: needs.prompt_tokens, output_tokens: output, ..Default::default() };
    let estimate = plan.candidates.first().and_then(|d| record::cost_nanos(d.settings.prices, &usage)).unwrap_or(0);
    let now = crate::keys::now_ms();
    // The team's shared RPM/TPM first (no budget there), then the key's own.
    if let Some((team, limits)) = key.team.as_deref().and_then(|t| app.config.teams.get(t).map(|l| (t, l))) {
        let team = Subject::team(team, limits.rpm, limits.tpm);
        if let Admission::Refused { error, headers } = app.limiter.admit(&team, usage.total(), 0, now).await {
            return Err(refused(error, headers));
        }
    }
    match app.limiter.admit(&Subject::key(key), usage.total(), estimate, now).await {
        Admission::Admitted { headers, reservation } => Ok(Admitted { headers, reservation }),
        Admission::Refused { error, headers } => Err(refused(error, headers)),
    }
}

/// A request answered without a provider (from the cache): it counts against the key's and the
/// team's request rate, with no tokens and no budget hold.
pub(super) async fn admit_request_only(app: &App, key: Option<&KeyRecord>) -> Result<Admitted, ErrorReply> {
    let Some(key) = key else {
        return Ok(Admitted { headers: Vec::new(), reservation: None });
    };
    let now = crate::keys::now_ms();
    if let Some((team, limits)) = key.team.as_deref().and_then(|t| app.config.teams.get(t).map(|l| (t, l))) {
        let team = Subject::team(team, limits.rpm, limits.tpm);
        if let Admission::Refused { error, headers } = app.limiter.admit(&team, 0, 0, now).await {
            return Err(refused(error, headers));
        }
    }
    match app.limiter.admit(&Subject::key(key), 0, 0, now).await {
        Admission::Admitted { headers, reservation } => Ok(Admitted { headers, reservation }),
        Admission::Refused { error, headers } => Err(refused(error, headers)),
    }
}

fn refused(error: dialect::ClientFacingError, headers: Vec<(HeaderName, HeaderValue)>) -> ErrorReply {
    let mut reply = ErrorReply::from(error);
    reply.headers = headers;
    reply
}

/// A refusal for lack of room (every deployment busy) tells the client when to come back.
pub(super) fn route_refused(error: dialect::ClientFacingError) -> ErrorReply {
    let mut reply = ErrorReply::from(error);
    if reply.error.kind == dialect::ErrorKind::RateLimited {
        reply.headers.push((header::RETRY_AFTER, HeaderValue::from_static("1")));
    }
    reply
}
