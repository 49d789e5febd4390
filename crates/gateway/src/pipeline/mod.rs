//! The request pipeline, in order: a finalizer for the request's bookkeeping → route → admit
//! (limits, budget) → attempts (encode, send, fail over; [`attempt`]) → the reply, whole or
//! streamed. Each step is a plain call with typed inputs and outputs; the pipeline returns a
//! typed [`Reply`] or [`ErrorReply`] and never renders HTTP — `http` does, in the client's
//! dialect.

mod admit;
mod attempt;
mod cached;
mod calls;
mod embed;
mod finalize;
mod record;
mod stream;
mod trace;

use std::sync::Arc;

use dialect::{ChatRequest, ChatResponse, Dialect, EmbeddingRequest, EmbeddingResponse, ResponseMeta, StreamEvent};
use http::{HeaderName, HeaderValue};

use crate::app::App;
use crate::error::ErrorReply;
use crate::keys::Caller;
use crate::routing::filter::{Narrowing, Needs};
use crate::routing::{route, route_model, Deployment};
use crate::telemetry::Outcome;
use crate::upstream::{ChatReply, Forwarded};
use calls::{ChatCall, EmbeddingCall};
pub use embed::{embed as embed_question, EmbedError};
pub use finalize::Finalizer;
pub use record::{clamp_usage, cost_nanos, usd, MAX_PLAUSIBLE_TOKENS};
pub use stream::{ClientStream, StreamReply};
use trace::{Operation, RequestTrace};

/// A fresh id for a request, echoed to the client as `x-request-id` and
/// written on its ledger rows.
pub fn request_id() -> String {
    // Time-ordered (UUIDv7: 48 bits of milliseconds, 74 random): ledger rows are written in
    // about this order, so the index on request ids grows at its end instead of touching a
    // random page per row.
    format!("req_{}", uuid::Uuid::now_v7().simple())
}

/// A successful reply and the headers that say where it was served.
pub struct Reply<B> {
    pub body: B,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The dialect the winning upstream answered in.
    pub upstream: Option<Dialect>,
}

/// A chat reply: whole, or a stream past its commit point.
pub enum ChatBody {
    Whole(ChatResponse),
    /// Boxed: a stream carries its finalizer and source, far larger than most replies.
    Stream(Box<StreamReply>),
}

/// What the HTTP layer hands over with a chat request besides the request itself.
pub struct Inbound {
    pub request_id: String,
    /// The endpoint it arrived at, for the request log.
    pub endpoint: &'static str,
    pub forwarded: Forwarded,
    pub narrowing: Narrowing,
    /// What the client asked of the response cache.
    pub cache: crate::cache::control::Directive,
}

pub async fn chat(
    app: Arc<App>,
    req: ChatRequest,
    inbound: Inbound,
    caller: &Caller,
) -> Result<Reply<ChatBody>, ErrorReply> {
    let Inbound { request_id, endpoint, forwarded, narrowing, cache: directive } = inbound;
    let mut finalizer = Finalizer::new(app.clone(), caller, request_id, endpoint, req.stream);
    finalizer.traced(RequestTrace::start(
        Operation::Chat,
        &req.model,
        endpoint,
        &forwarded.trace,
        Some(&req),
        caller.key(),
    ));
    let plan = route(&app, &req, &narrowing).map_err(|e| {
        // A configured alias is a safe label even when routing refuses the request.
        if let Some(alias) = app.aliases.get(&req.model) {
            finalizer.alias = alias.name.clone();
        }
        refuse(&mut finalizer, admit::route_refused(e))
    })?;
    finalizer.alias = plan.alias.clone();
    if let Some(t) = finalizer.trace() {
        t.routed(&plan.alias);
    }
    let deadline = finalizer.started() + plan.policy.deadline.unwrap_or(app.config.timeouts.total);
    let decision = cached::decide(&app, &plan, caller, &req, directive).await;
    if let cached::Decision::Hit { entry, kind, .. } = &decision {
        let (entry, kind) = (entry.clone(), *kind);
        let mut headers = decision.headers();
        return from_cache(&app, &req, &plan, caller, finalizer, entry, kind, deadline, &mut headers)
            .await
            .map(|body| Reply { body, headers, upstream: None });
    }
    let cache_headers = decision.headers();
    let store = decision.into_store();
    let admitted = admit::admit(&app, caller.key(), &req, &plan).await.map_err(|e| refuse(&mut finalizer, e))?;
    finalizer.hold(admitted.reservation);
    let call = ChatCall { req: &req, forwarded: &forwarded };
    let won =
        attempt::run(&app, &plan, &call, deadline, &mut finalizer).await.map_err(|e| failed(&mut finalizer, e))?;
    let mut headers = served_headers(&finalizer, &won.deployment, won.attempts);
    let deployment = won.deployment;
    let upstream = deployment.provider.chat_dialect_for(&deployment.model, req.extra_dialect);
    headers.extend(dropped_header(&req, &forwarded, upstream, &finalizer.request_id));
    headers.extend(admitted.headers);
    headers.extend(cache_headers);
    match won.output {
        ChatReply::Complete(mut resp) => {
            fill_identity(&mut resp.id, &mut resp.model, &mut resp.created, &finalizer.request_id, &deployment);
            if let Some(usage) = resp.usage {
                finalizer.set_usage(usage);
                resp.usage = finalizer.usage();
            }
            finalizer.complete();
            headers.extend(cost_header(finalizer.cost_nanos()));
            if let Some(store) = store {
                store.keep(&app, &resp, finalizer.cost_nanos());
            }
            answered(&mut finalizer, &resp);
            headers.extend(overhead_header(finalizer.overhead()));
            Ok(Reply { body: ChatBody::Whole(resp), headers, upstream: Some(upstream) })
        }
        ChatReply::Stream { mut first, rest, .. } => {
            for event in &mut first {
                if let StreamEvent::Start { id, model, created, .. } = event {
                    fill_identity(id, model, created, &finalizer.request_id, &deployment);
                }
            }
            let meta = ResponseMeta {
                include_usage: req.stream_include_usage,
                upstream: Some(upstream),
                ..ResponseMeta::default()
            };
            let mut stream = StreamReply::new(first, Some(rest), finalizer, deadline, app.shutdown.clone(), meta);
            stream.capture = store.map(stream::Capture::new);
            Ok(Reply { body: ChatBody::Stream(Box::new(stream)), headers, upstream: Some(upstream) })
        }
    }
}

/// A request answered from the cache: counted against the key's request rate (not its tokens,
/// nor its budget), recorded as a row that cost nothing, and given whole or replayed as a stream.
#[expect(clippy::too_many_arguments, reason = "the request's parts a hit needs; one caller")]
async fn from_cache(
    app: &Arc<App>,
    req: &ChatRequest,
    plan: &crate::routing::Plan,
    caller: &Caller,
    mut finalizer: Finalizer,
    entry: Arc<crate::cache::Entry>,
    kind: crate::cache::HitKind,
    deadline: std::time::Instant,
    headers: &mut Vec<(HeaderName, HeaderValue)>,
) -> Result<ChatBody, ErrorReply> {
    let admitted = admit::admit_request_only(app, caller.key()).await.map_err(|e| refuse(&mut finalizer, e))?;
    finalizer.hold(admitted.reservation);
    finalizer.answered_from_cache(kind, entry.cost_nanos, &entry.response.model);
    crate::telemetry::CacheEvent::hit(&plan.alias, kind.as_str(), entry.cost_nanos.unwrap_or(0)).emit();
    let mut reply = served_from_cache(&finalizer);
    reply.extend(admitted.headers);
    reply.extend(cost_header(Some(0)));
    headers.extend(reply);
    if !req.stream {
        finalizer.complete();
        answered(&mut finalizer, &entry.response);
        headers.extend(overhead_header(finalizer.overhead()));
        return Ok(ChatBody::Whole(entry.response.clone()));
    }
    let events = dialect::replay(&entry.response, REPLAY_CHUNK_CHARS);
    let meta = ResponseMeta { include_usage: req.stream_include_usage, ..ResponseMeta::default() };
    Ok(ChatBody::Stream(Box::new(StreamReply::new(events, None, finalizer, deadline, app.shutdown.clone(), meta))))
}

/// The size of the text deltas a cached reply is replayed in.
const REPLAY_CHUNK_CHARS: usize = 32;

fn served_from_cache(finalizer: &Finalizer) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = Vec::with_capacity(4);
    if let Ok(v) = HeaderValue::from_str(&finalizer.request_id) {
        out.push((REQUEST_ID, v));
    }
    out.push((PROVIDER, HeaderValue::from_static("cache")));
    out
}

/// Embeddings take the same route, policy, deadline and attempt loop as chat; they are not
/// counted against key limits or budgets (they have no output to estimate). `forwarded`: the
/// client's trace context.
pub async fn embeddings(
    app: Arc<App>,
    req: EmbeddingRequest,
    narrowing: Narrowing,
    caller: &Caller,
    request_id: String,
    endpoint: &'static str,
    forwarded: Forwarded,
) -> Result<Reply<EmbeddingResponse>, ErrorReply> {
    let mut finalizer = Finalizer::new(app.clone(), caller, request_id, endpoint, false);
    let trace = RequestTrace::start(Operation::Embeddings, &req.model, endpoint, &forwarded.trace, None, caller.key());
    finalizer.traced(trace);
    let plan = route_model(&app, &req.model, &Needs::default(), &narrowing)
        .map_err(|e| refuse(&mut finalizer, admit::route_refused(e)))?;
    finalizer.alias = plan.alias.clone();
    if let Some(t) = finalizer.trace() {
        t.routed(&plan.alias);
    }
    let deadline = finalizer.started() + plan.policy.deadline.unwrap_or(app.config.timeouts.total);
    let won = attempt::run(&app, &plan, &EmbeddingCall { req: &req, forwarded: &forwarded }, deadline, &mut finalizer)
        .await
        .map_err(|e| failed(&mut finalizer, e))?;
    let mut resp = won.output;
    if req.encoding_format.as_deref() == Some("base64") {
        floats_to_base64(&mut resp);
    }
    if let Some(usage) = resp.usage {
        finalizer.set_usage(usage);
    }
    finalizer.complete();
    if let Some(t) = finalizer.trace() {
        t.answered(None, &resp.model);
    }
    let mut headers = served_headers(&finalizer, &won.deployment, won.attempts);
    headers.extend(overhead_header(finalizer.overhead()));
    let upstream = Some(won.deployment.provider.dialect_for(&won.deployment.model));
    Ok(Reply { body: resp, headers, upstream })
}

/// Refused before any upstream was asked: a client error.
fn refuse(finalizer: &mut Finalizer, reply: ErrorReply) -> ErrorReply {
    if finalizer.alias.is_empty() {
        finalizer.alias = crate::routing::plan::DIRECT.into();
    }
    finalizer.fail(reply.error.status, Outcome::Refused);
    reply
}

/// Every attempt failed (or none could be made in time). A client error of the gateway's own
/// (a request no candidate's dialect can express) is the client's, not an upstream's.
fn failed(finalizer: &mut Finalizer, reply: ErrorReply) -> ErrorReply {
    let outcome = if reply.upstream.is_none() && reply.error.status.is_client_error() {
        Outcome::Refused
    } else {
        Outcome::UpstreamError
    };
    finalizer.fail(reply.error.status, outcome);
    reply
}

/// Where the reply was served: request id, provider, deployment and attempts, from configured
/// names and validated model ids only.
fn served_headers(finalizer: &Finalizer, deployment: &Deployment, attempts: usize) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = Vec::with_capacity(16);
    let mut put = |name: HeaderName, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            out.push((name, v));
        }
    };
    put(REQUEST_ID, &finalizer.request_id);
    put(PROVIDER, &deployment.provider.name);
    put(DEPLOYMENT, deployment.label());
    out.push((ATTEMPTS, HeaderValue::from(attempts)));
    out
}

// Made at compile time: `from_static` at run time checks every byte again.
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const PROVIDER: HeaderName = HeaderName::from_static("x-switchyard-provider");
const DEPLOYMENT: HeaderName = HeaderName::from_static("x-switchyard-deployment");
const ATTEMPTS: HeaderName = HeaderName::from_static("x-switchyard-attempts");
const OVERHEAD: HeaderName = HeaderName::from_static("x-switchyard-overhead-ms");
const COST: HeaderName = HeaderName::from_static("x-switchyard-cost-usd");

/// `x-switchyard-dropped`: what the client sent that only its own dialect's service takes (hints
/// such as Anthropic's `context_management`, its beta flags), left out for an upstream of another
/// wire family. The answer does not change; the client is told all the same.
fn dropped_header(
    req: &ChatRequest,
    forwarded: &Forwarded,
    upstream: Dialect,
    request_id: &str,
) -> Option<(HeaderName, HeaderValue)> {
    let mut dropped = upstream.egress().dropped(req);
    if forwarded.anthropic_beta.is_some() && upstream.wire_family() != Dialect::Anthropic {
        dropped.push("anthropic-beta".into());
    }
    if dropped.is_empty() {
        return None;
    }
    let list = dropped.join(",");
    tracing::debug!(request_id, upstream = upstream.as_str(), dropped = %list, "left out hints the upstream cannot take");
    Some((HeaderName::from_static("x-switchyard-dropped"), HeaderValue::from_str(&list).ok()?))
}

/// What a whole reply says of itself, for the request's span.
fn answered(finalizer: &mut Finalizer, resp: &ChatResponse) {
    if let Some(t) = finalizer.trace() {
        t.answered(Some(&resp.id), &resp.model);
        for choice in &resp.choices {
            t.finished(choice.finish_reason);
        }
    }
}

/// `x-switchyard-overhead-ms`: the gateway's own time on a whole reply, in milliseconds with
/// three decimals (`0.183`), up to the reply's encoding.
fn overhead_header(overhead: std::time::Duration) -> Option<(HeaderName, HeaderValue)> {
    // Milliseconds to the microsecond: `0.042`.
    let micros = u64::try_from(overhead.as_micros()).unwrap_or(u64::MAX);
    let mut text = String::with_capacity(12);
    text.push_str(itoa::Buffer::new().format(micros / 1_000));
    text.push('.');
    text.push_str(&itoa::Buffer::new().format(micros % 1_000 + 1_000)[1..]);
    Some((OVERHEAD, HeaderValue::from_str(&text).ok()?))
}

fn cost_header(cost: Option<i64>) -> Option<(HeaderName, HeaderValue)> {
    Some((COST, HeaderValue::from_str(&usd(cost?)).ok()?))
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
fn floats_to_base64(resp: &mut EmbeddingResponse) {
    use base64::Engine;
    for e in &mut resp.data {
        if let dialect::EmbeddingVector::Float(v) = &e.vector {
            let bytes: Vec<u8> = v.iter().flat_map(|f| f.to_le_bytes()).collect();
            e.vector = dialect::EmbeddingVector::Base64(base64::engine::general_purpose::STANDARD.encode(bytes));
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_are_unique_and_in_the_order_they_were_made() {
        let ids: Vec<String> = (0..10_000).map(|_| super::request_id()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "each id sorts after the one before");
        assert!(ids.iter().all(|id| id.len() == 36 && id.starts_with("req_")), "{}", ids[0]);
    }

    #[test]
    fn overhead_is_milliseconds_to_the_microsecond_whatever_its_size() {
        use std::time::Duration;
        let text = |d: Duration| super::overhead_header(d).map(|(_, v)| v.to_str().unwrap_or("").to_owned());
        assert_eq!(text(Duration::ZERO).as_deref(), Some("0.000"));
        assert_eq!(text(Duration::from_nanos(999)).as_deref(), Some("0.000"));
        assert_eq!(text(Duration::from_micros(42)).as_deref(), Some("0.042"));
        assert_eq!(text(Duration::from_micros(1_000)).as_deref(), Some("1.000"));
        assert_eq!(text(Duration::from_micros(1_234_567)).as_deref(), Some("1234.567"));
        // Past u64 microseconds (never a real request): the largest, not a panic or garbage.
        assert_eq!(text(Duration::MAX).as_deref(), Some("18446744073709551.615"));
    }
}
