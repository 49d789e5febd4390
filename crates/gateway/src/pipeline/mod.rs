//! The request pipeline, in order: route → for each candidate, encode and send → reply in
//! the client's dialect → record. Each step is a plain call with typed inputs and outputs.

mod attempt;
mod record;
mod stream;

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::response::Response;
use dialect::{ChatRequest, Dialect, EmbeddingRequest, ResponseMeta};
use http::{header, HeaderName, HeaderValue, StatusCode};

use crate::app::App;
use crate::error::{ErrorReply, UpstreamError};
use crate::http::errors::error_response;
use crate::routing::filter::Narrowing;
use crate::routing::health::Outcome as HealthOutcome;
use crate::routing::Deployment;
use crate::routing::{resolve, route, Resolved};
use crate::telemetry::{Outcome, RequestFinished, UpstreamAttemptFinished};
use crate::upstream::{send_chat, send_embeddings, ChatReply, Forwarded};

use crate::http::auth::Caller;
use crate::keys::{Admission, Reservation};
use attempt::{backoff, outcome_of, InFlight};
use record::Attempt;
pub use stream::{ClientStream, Finalizer};

/// What every reply carries about where it was served.
pub struct Served<'a> {
    pub request_id: &'a str,
    pub deployment: &'a Deployment,
    pub attempts: usize,
}

impl Served<'_> {
    fn apply(&self, headers: &mut http::HeaderMap) {
        let mut put = |name: &'static str, value: &str| {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(HeaderName::from_static(name), v);
            }
        };
        put("x-request-id", self.request_id);
        put("x-switchyard-provider", &self.deployment.provider.name);
        put("x-switchyard-deployment", &format!("{}/{}", self.deployment.provider.name, self.deployment.model));
        put("x-switchyard-attempts", &self.attempts.to_string());
    }
}

pub async fn chat(
    app: Arc<App>,
    ingress: Dialect,
    req: ChatRequest,
    forwarded: Forwarded,
    narrowing: Narrowing,
    caller: Caller,
    request_id: String,
) -> Response {
    let started = Instant::now();
    let key = caller.key();
    let (key_id, team) = (key.map(|k| k.id.as_str()), key.and_then(|k| k.team.as_deref()));
    let finished = |alias, provider, status: StatusCode, outcome| RequestFinished {
        request_id: &request_id,
        alias,
        provider,
        status: status.as_u16(),
        outcome,
        stream: req.stream,
        duration: started.elapsed(),
        time_to_first_token: None,
        usage: None,
    };
    let plan = match route(&app, &req, &narrowing) {
        Ok(p) => p,
        Err(e) => {
            finished(crate::routing::plan::DIRECT, "", e.status, Outcome::BadResponse).emit();
            let mut reply = ErrorReply::from(e);
            if reply.error.kind == dialect::ErrorKind::RateLimited {
                reply.headers.push((header::RETRY_AFTER, HeaderValue::from_static("1")));
            }
            return error_response(ingress, reply, &request_id);
        }
    };
    // Limits and budget, before anything leaves.
    let (limit_headers, mut reservation) = match key {
        None => (Vec::new(), None),
        Some(k) => match admit_key(&app, k, &req, &plan).await {
            Admission::Admitted { headers, reservation } => (headers, reservation),
            Admission::Refused { error, headers } => {
                finished(&plan.alias, "", error.status, Outcome::BadResponse).emit();
                let mut reply = ErrorReply::from(error);
                reply.headers.extend(headers);
                return error_response(ingress, reply, &request_id);
            }
        },
    };
    let settle = |reservation: Option<Reservation>, cost: i64| {
        if let Some(r) = reservation {
            app.limiter.settle(r, cost);
        }
    };
    let health = &app.config.health;
    // Every request has a deadline: the alias's, else the gateway's default.
    let deadline = started + plan.policy.deadline.unwrap_or(app.config.timeouts.total);
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
        }
        let attempt_started = Instant::now();
        let first_token = req.stream.then_some(app.config.timeouts.first_token);
        let Some(limit) = time_limit(deployment, &plan, first_token, deadline, attempt_started) else { break };
        let in_flight = InFlight::start(deployment, health.now_ms());
        let sent = send_chat(&app.client, deployment, &req, &forwarded, app.config.max_response_bytes);
        let result = tokio::select! {
            r = tokio::time::timeout(limit, sent) => match r {
                Ok(r) => r,
                Err(_) => Err(UpstreamError::Timeout { provider: deployment.provider.name.clone() }),
            },
            () = app.shutdown.cancelled() => Err(UpstreamError::Shutdown { provider: deployment.provider.name.clone() }),
        };
        let outcome = result.as_ref().err().map_or(Outcome::Ok, UpstreamError::outcome);
        UpstreamAttemptFinished { provider: &deployment.provider.name, outcome, latency: attempt_started.elapsed() }
            .emit();
        let served = Served { request_id: &request_id, deployment, attempts: attempt + 1 };
        let (reply, exhausted) = match result {
            Ok(ok) => ok,
            Err(e) => {
                deployment.health.finish(outcome_of(&e), health.now_ms());
                if let Some(status) = reached_status(&e) {
                    let attempt = Attempt {
                        request_id: &request_id,
                        key_id,
                        team,
                        alias: &plan.alias,
                        deployment,
                        usage: None,
                        status,
                        outcome: outcome.as_str(),
                        latency: attempt_started.elapsed(),
                        ttft: None,
                        stream: req.stream,
                        cancelled: false,
                    };
                    app.record(attempt.entry());
                }
                let retry = e.retryable();
                last_error = Some(e);
                if !retry {
                    break;
                }
                continue;
            }
        };
        let now_ms = health.now_ms();
        if let Some(key) = plan.affinity_key {
            app.affinity.record(key, deployment, now_ms);
        }
        let reply_health = |ttft: std::time::Duration| {
            deployment.health.finish(HealthOutcome::Success { ttft, total: attempt_started.elapsed() }, now_ms);
            if let Some(wait) = exhausted {
                deployment.health.finish(HealthOutcome::RateLimited { retry_after: wait }, now_ms);
            }
        };
        match reply {
            ChatReply::Complete(mut resp) => {
                reply_health(attempt_started.elapsed());
                if let Some(u) = &mut resp.usage {
                    record::clamp_usage(u);
                }
                drop(in_flight);
                fill_identity(&mut resp.id, &mut resp.model, &mut resp.created, &request_id, deployment);
                let body = ingress_of(ingress).encode_response(&resp);
                let mut record = finished(&plan.alias, &deployment.provider.name, StatusCode::OK, Outcome::Ok);
                record.usage = resp.usage;
                record.emit();
                let entry = Attempt {
                    request_id: &request_id,
                    key_id,
                    team,
                    alias: &plan.alias,
                    deployment,
                    usage: resp.usage,
                    status: 200,
                    outcome: Outcome::Ok.as_str(),
                    latency: attempt_started.elapsed(),
                    ttft: None,
                    stream: false,
                    cancelled: false,
                }
                .entry();
                let cost = entry.cost_nanos;
                app.record(entry);
                settle(reservation.take(), cost.unwrap_or(0));
                let mut response = json_response(StatusCode::OK, body, &served);
                response.headers_mut().extend(limit_headers.iter().cloned());
                if let Some(v) = cost.and_then(|c| HeaderValue::from_str(&record::usd(c)).ok()) {
                    response.headers_mut().insert(HeaderName::from_static("x-switchyard-cost-usd"), v);
                }
                return response;
            }
            ChatReply::Stream { mut first, rest, first_event_at } => {
                reply_health(first_event_at.duration_since(attempt_started));
                for event in &mut first {
                    if let dialect::StreamEvent::Start { id, model, created, .. } = event {
                        fill_identity(id, model, created, &request_id, deployment);
                    }
                }
                let meta = ResponseMeta { include_usage: req.stream_include_usage };
                let finalizer = Finalizer::new(
                    request_id.clone(),
                    plan.alias.clone(),
                    deployment.provider.name.clone(),
                    started,
                    first_event_at,
                )
                .holding(in_flight)
                .recording(app.ledger.clone(), deployment.clone(), attempt_started)
                .billing(key.cloned(), reservation.take().map(|r| (app.clone(), r)));
                let encoder = ingress_of(ingress).stream_encoder(&meta);
                let body = ClientStream::new(first, rest, encoder, finalizer, deadline, app.shutdown.clone());
                let mut response = sse_response(body, &served);
                response.headers_mut().extend(limit_headers.iter().cloned());
                return response;
            }
        }
    }
    let reply = match last_error {
        Some(e) => e.into_reply(ingress),
        None => ErrorReply::from(
            dialect::ClientFacingError::new(
                dialect::ErrorKind::Timeout,
                format!(
                    "The model `{}` could not be served before the request's deadline.",
                    crate::http::echo(&req.model)
                ),
            )
            .with_status(StatusCode::GATEWAY_TIMEOUT),
        ),
    };
    finished(&plan.alias, "", reply.error.status, Outcome::UpstreamError).emit();
    settle(reservation.take(), 0);
    error_response(ingress, reply, &request_id)
}

/// Output tokens assumed for a request that sets no cap, when estimating limits and budget.
const ASSUMED_OUTPUT: u64 = 1_024;

/// Counts the request against its key's limits and reserves its estimated cost (at the first
/// candidate's prices) against the key's budget.
async fn admit_key(
    app: &App,
    key: &crate::keys::KeyRecord,
    req: &ChatRequest,
    plan: &crate::routing::Plan,
) -> Admission {
    let needs = crate::routing::filter::Needs::of(req);
    let output = if needs.max_output == 0 { ASSUMED_OUTPUT } else { needs.max_output };
    let usage = dialect::Usage { input_tokens: needs.prompt_tokens, output_tokens: output, ..Default::default() };
    let estimate = plan.candidates.first().and_then(|d| record::cost_nanos(d.settings.prices, &usage)).unwrap_or(0);
    let now = crate::keys::now_ms();
    // The team's shared RPM/TPM first (no budget there), then the key's own.
    if let Some(team) = key.team.as_deref().and_then(|t| app.config.teams.get(t).map(|l| (t, l))) {
        let as_key = crate::keys::KeyRecord {
            id: format!("team:{}", team.0),
            rpm: team.1.rpm,
            tpm: team.1.tpm,
            ..Default::default()
        };
        if let refused @ Admission::Refused { .. } = app.limiter.admit(&as_key, usage.total(), 0, now).await {
            return refused;
        }
    }
    app.limiter.admit(key, usage.total(), estimate, now).await
}

/// The status to record for a failed attempt, or None when it never reached the provider.
fn reached_status(e: &UpstreamError) -> Option<u16> {
    match e {
        UpstreamError::Status { status, .. } => Some(status.as_u16()),
        UpstreamError::Timeout { .. } => Some(504),
        UpstreamError::Shutdown { .. } => Some(503),
        UpstreamError::BadResponse { .. } | UpstreamError::StreamBroken { .. } => Some(502),
        UpstreamError::Connect { .. } | UpstreamError::Credentials { .. } | UpstreamError::Encode(_) => None,
    }
}

/// How long this attempt may take to its first token (the whole reply, unstreamed): the
/// deployment's or the alias's limit, else `default_ttft`, never past the request's deadline.
/// None when the deadline has already passed.
fn time_limit(
    d: &Deployment,
    plan: &crate::routing::Plan,
    default_ttft: Option<std::time::Duration>,
    deadline: Instant,
    now: Instant,
) -> Option<std::time::Duration> {
    let ttft = d.settings.ttft_timeout.or(plan.policy.ttft_timeout).or(default_ttft);
    let left = deadline.checked_duration_since(now).filter(|d| !d.is_zero())?;
    Some(ttft.map_or(left, |t| t.min(left)))
}

pub async fn embeddings(
    app: Arc<App>,
    ingress: Dialect,
    req: EmbeddingRequest,
    caller: Caller,
    request_id: String,
) -> Response {
    let key = caller.key();
    let started = Instant::now();
    let Resolved { alias, deployments: candidates, .. } = match resolve(&app, &req.model) {
        Ok(p) => p,
        Err(e) => return error_response(ingress, ErrorReply::from(e), &request_id),
    };
    let mut last_error = None;
    for (i, deployment) in candidates.iter().enumerate() {
        let attempt_started = Instant::now();
        let in_flight = InFlight::start(deployment, app.config.health.now_ms());
        let sent = send_embeddings(&app.client, deployment, &req, app.config.max_response_bytes);
        let left = (started + app.config.timeouts.total).saturating_duration_since(Instant::now());
        let result = tokio::select! {
            r = tokio::time::timeout(left, sent) => match r {
                Ok(r) => r,
                Err(_) => Err(UpstreamError::Timeout { provider: deployment.provider.name.clone() }),
            },
            () = app.shutdown.cancelled() => Err(UpstreamError::Shutdown { provider: deployment.provider.name.clone() }),
        };
        drop(in_flight);
        let now_ms = app.config.health.now_ms();
        let took = attempt_started.elapsed();
        let row = |usage, status, outcome: Outcome| Attempt {
            request_id: &request_id,
            key_id: key.map(|k| k.id.as_str()),
            team: key.and_then(|k| k.team.as_deref()),
            alias: &alias,
            deployment,
            usage,
            status,
            outcome: outcome.as_str(),
            latency: took,
            ttft: None,
            stream: false,
            cancelled: false,
        };
        match &result {
            Ok(resp) => {
                deployment.health.finish(HealthOutcome::Success { ttft: took, total: took }, now_ms);
                app.record(row(resp.usage, 200, Outcome::Ok).entry());
            }
            Err(e) => {
                deployment.health.finish(outcome_of(e), now_ms);
                if let Some(status) = reached_status(e) {
                    app.record(row(None, status, e.outcome()).entry());
                }
            }
        }
        let outcome = result.as_ref().err().map_or(Outcome::Ok, UpstreamError::outcome);
        UpstreamAttemptFinished { provider: &deployment.provider.name, outcome, latency: attempt_started.elapsed() }
            .emit();
        match result {
            Ok(mut resp) => {
                if req.encoding_format.as_deref() == Some("base64") {
                    floats_to_base64(&mut resp);
                }
                RequestFinished {
                    request_id: &request_id,
                    alias: &alias,
                    provider: &deployment.provider.name,
                    status: 200,
                    outcome: Outcome::Ok,
                    stream: false,
                    duration: started.elapsed(),
                    time_to_first_token: None,
                    usage: resp.usage,
                }
                .emit();
                let body = ingress_of(ingress).encode_embedding_response(&resp);
                let served = Served { request_id: &request_id, deployment, attempts: i + 1 };
                return json_response(StatusCode::OK, body, &served);
            }
            Err(e) => {
                let retry = e.retryable() && i + 1 < candidates.len();
                last_error = Some(e);
                if !retry {
                    break;
                }
            }
        }
    }
    let reply = match last_error {
        Some(e) => e.into_reply(ingress),
        None => ErrorReply::from(dialect::ClientFacingError::new(dialect::ErrorKind::NotFound, "no deployments")),
    };
    error_response(ingress, reply, &request_id)
}

/// Some providers name neither the reply nor the model (Bedrock) or give no time (Anthropic,
/// Bedrock); clients expect all three.
fn fill_identity(id: &mut String, model: &mut String, created: &mut u64, request_id: &str, deployment: &Deployment) {
    if *created == 0 {
        *created = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    }
    if id.is_empty() {
        request_id.clone_into(id);
    }
    if model.is_empty() {
        model.push_str(&deployment.model);
    }
}

/// A client that asked for base64 gets it even from providers that only send floats (Gemini,
/// Bedrock): little-endian f32s, as OpenAI encodes them.
fn floats_to_base64(resp: &mut dialect::EmbeddingResponse) {
    use base64::Engine;
    for e in &mut resp.data {
        if let dialect::EmbeddingVector::Float(v) = &e.vector {
            let bytes: Vec<u8> = v.iter().flat_map(|f| f.to_le_bytes()).collect();
            e.vector = dialect::EmbeddingVector::Base64(base64::engine::general_purpose::STANDARD.encode(bytes));
        }
    }
}

pub fn ingress_of(d: Dialect) -> &'static dyn dialect::Ingress {
    // Handlers exist only for dialects that have an ingress; OpenAI is the safe fallback.
    d.ingress().unwrap_or(&dialect::openai::OpenAi)
}

fn json_response(status: StatusCode, body: Vec<u8>, served: &Served<'_>) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    served.apply(resp.headers_mut());
    resp
}

fn sse_response(body: ClientStream, served: &Served<'_>) -> Response {
    let mut resp = Response::new(Body::from_stream(body));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Tells nginx-style proxies in front of us not to buffer the stream.
    h.insert(HeaderName::from_static("x-accel-buffering"), HeaderValue::from_static("no"));
    served.apply(h);
    resp
}
