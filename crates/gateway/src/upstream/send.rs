//! Sends one attempt to one deployment and reads its reply up to the commit point: a whole
//! body for plain requests, the first decoded event for streams.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use dialect::{ChatRequest, ChatResponse, Dialect, EmbeddingRequest, EmbeddingResponse, Operation, StreamEvent};
use futures_util::StreamExt;
use http::{HeaderName, HeaderValue};

use super::client::{TimedBody, TransportError, UpstreamClient, USER_AGENT};
use super::events::{EventSource, StreamFailure};
use crate::error::{redact, BadReply, UpstreamError, PASSTHROUGH_ERROR_HEADERS};
use crate::routing::Deployment;
use crate::telemetry::otel::{TraceHeaders, TRACEPARENT, TRACESTATE};
use crate::upstream::Provider;

/// Error bodies larger than this are cut: they are read only for their message.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// Replies to calls whose body is passed through whole (count_tokens and the like).
const MAX_PASSTHROUGH_BODY: usize = 1024 * 1024;

/// The Anthropic beta flags a client asks for, passed on to Anthropic upstreams.
const ANTHROPIC_BETA: HeaderName = HeaderName::from_static("anthropic-beta");

/// Client headers that travel on to the upstream when it speaks the same dialect, and the
/// client's trace context.
#[derive(Debug, Clone, Default)]
pub struct Forwarded {
    /// Anthropic beta flags (`anthropic-beta`), comma-separated as the client sent them.
    pub anthropic_beta: Option<HeaderValue>,
    /// The client's `traceparent` and `tracestate`: the parent of the request's span when traces
    /// are on, else sent on to every upstream as they came.
    pub trace: TraceHeaders,
}

impl Forwarded {
    pub fn from_client(headers: &http::HeaderMap) -> Forwarded {
        Forwarded { anthropic_beta: headers.get(ANTHROPIC_BETA).cloned(), trace: TraceHeaders::from_client(headers) }
    }

    fn apply(&self, dialect: Dialect, headers: &mut http::HeaderMap) {
        let Some(beta) = &self.anthropic_beta else { return };
        let beta = match dialect {
            Dialect::Anthropic => beta.clone(),
            // Vertex AI refuses beta flags it does not offer; mid-conversation system messages
            // are folded into `system` for it, so their flag has nothing left to switch on.
            Dialect::AnthropicVertex => match without_flags(beta, &["mid-conversation-system-"]) {
                Some(kept) => kept,
                None => return,
            },
            _ => return,
        };
        headers.append(ANTHROPIC_BETA, beta);
    }
}

/// `flags` (comma-separated) without those starting with any of `prefixes`; None when none are left.
fn without_flags(flags: &HeaderValue, prefixes: &[&str]) -> Option<HeaderValue> {
    let text = flags.to_str().ok()?;
    if !prefixes.iter().any(|p| text.contains(p)) {
        return Some(flags.clone());
    }
    let kept: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty() && !prefixes.iter().any(|p| f.starts_with(p)))
        .collect();
    if kept.is_empty() {
        return None;
    }
    HeaderValue::from_str(&kept.join(",")).ok()
}

/// What the gateway adds to one attempt: the trace context sent with it, and how long it
/// waited on the upstream (for its headers and body), which the gateway's own overhead leaves out.
#[derive(Debug, Default)]
pub struct AttemptContext {
    /// The attempt's own span (traces on); empty: the client's trace context goes as it came.
    pub trace: TraceHeaders,
    pub waited: std::time::Duration,
}

impl AttemptContext {
    pub fn new(trace: TraceHeaders) -> AttemptContext {
        AttemptContext { trace, waited: std::time::Duration::ZERO }
    }

    /// Counts the time until the guard drops as waiting, also when the attempt is dropped
    /// mid-wait (its deadline passed).
    fn waiting(&mut self) -> Waiting<'_> {
        Waiting { since: Instant::now(), into: &mut self.waited }
    }
}

struct Waiting<'a> {
    since: Instant,
    into: &'a mut std::time::Duration,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        *self.into += self.since.elapsed();
    }
}

pub enum ChatReply {
    Complete(ChatResponse),
    /// A stream past its commit point: `first` decoded, `rest` still on the wire.
    Stream {
        first: Vec<StreamEvent>,
        rest: EventSource,
        first_event_at: Instant,
    },
}

async fn post(
    client: &UpstreamClient,
    provider: &Provider,
    dialect: Dialect,
    uri: http::Uri,
    body: Vec<u8>,
    forwarded: &Forwarded,
    attempt: &mut AttemptContext,
) -> Result<http::Response<TimedBody>, UpstreamError> {
    let mut req = http::Request::new(Bytes::from(body));
    *req.method_mut() = http::Method::POST;
    *req.uri_mut() = uri;
    let headers = req.headers_mut();
    headers.reserve(4 + provider.headers.len());
    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    for (k, v) in &provider.headers {
        headers.append(k.clone(), v.clone());
    }
    // A user agent the provider's configured headers name wins.
    headers.entry(http::header::USER_AGENT).or_insert(HeaderValue::from_static(USER_AGENT));
    forwarded.apply(dialect, headers);
    let trace = if attempt.trace.traceparent.is_some() { &attempt.trace } else { &forwarded.trace };
    if let Some(traceparent) = &trace.traceparent {
        headers.insert(TRACEPARENT, traceparent.clone());
        if let Some(tracestate) = &trace.tracestate {
            headers.insert(TRACESTATE, tracestate.clone());
        }
    }
    // Last, so a signature (SigV4) covers every header and the body.
    provider
        .auth
        .authorize(client.reqwest(), &mut req)
        .await
        .map_err(|source| UpstreamError::Credentials { provider: provider.name.clone(), source })?;
    let _waiting = attempt.waiting();
    let resp = client.send(req).await.map_err(|e| classify(provider, e))?;
    if resp.status().is_success() {
        return Ok(resp);
    }
    Err(error_reply(provider, dialect, resp).await)
}

/// A URL made from configuration, parsed as every upstream URL is (normalised as a browser
/// would, then taken as an HTTP URI).
pub(crate) fn parse_uri(url: &str) -> Option<http::Uri> {
    let url = reqwest::Url::parse(url).ok().filter(|u| matches!(u.scheme(), "http" | "https"))?;
    url.as_str().parse().ok()
}

/// One JSON POST whose reply body is passed back as it came (count_tokens and the like).
pub async fn post_json(
    client: &UpstreamClient,
    provider: &Provider,
    dialect: Dialect,
    url: String,
    body: Vec<u8>,
    forwarded: &Forwarded,
) -> Result<Bytes, UpstreamError> {
    let uri = parse_uri(&url).ok_or_else(|| bad_url(provider))?;
    let resp = post(client, provider, dialect, uri, body, forwarded, &mut AttemptContext::default()).await?;
    read_body(provider, resp, MAX_PASSTHROUGH_BODY).await
}

fn classify(provider: &Provider, e: TransportError) -> UpstreamError {
    match e {
        TransportError::TimedOut => UpstreamError::Timeout { provider: provider.name.clone() },
        TransportError::Failed(source) => UpstreamError::Connect { provider: provider.name.clone(), source },
    }
}

/// A provider whose configured base URL makes no valid URL: the config check refuses most.
fn bad_url(provider: &Provider) -> UpstreamError {
    UpstreamError::Connect {
        provider: provider.name.clone(),
        source: "the provider's URL is not a valid http(s) URL".into(),
    }
}

async fn error_reply(provider: &Provider, dialect: Dialect, resp: http::Response<TimedBody>) -> UpstreamError {
    let status = resp.status();
    let headers: Vec<(HeaderName, HeaderValue)> = PASSTHROUGH_ERROR_HEADERS
        .iter()
        .filter_map(|name| resp.headers().get(*name).map(|v| (HeaderName::from_static(name), v.clone())))
        .collect();
    let body = read_capped(resp.into_body(), MAX_ERROR_BODY).await.unwrap_or_default();
    let mut decoded = dialect.egress().decode_error(status, &body);
    if let Some(key) = provider.auth.secret() {
        redact(&mut decoded.message, key.expose());
    }
    UpstreamError::Status { provider: provider.name.clone(), dialect, status, body: decoded, headers }
}

/// Reads a body up to `cap` bytes; None when the connection fails.
async fn read_capped(mut body: TimedBody, cap: usize) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.ok()?;
        let room = cap.saturating_sub(out.len());
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= cap {
            break;
        }
    }
    Some(out)
}

/// Reads a whole reply of at most `cap` bytes into one buffer sized from its declared length,
/// so a large reply is held once, not grown by doubling; past `cap` it is refused.
async fn read_body(provider: &Provider, resp: http::Response<TimedBody>, cap: usize) -> Result<Bytes, UpstreamError> {
    let too_large = || bad_response(provider, BadReply::TooLarge { cap });
    let mut body = resp.into_body();
    let declared = body.declared_len();
    if declared.is_some_and(|n| n > cap as u64) {
        return Err(too_large());
    }
    // Every chunk passes here, so the cap holds however the reply is split.
    let mut held = 0;
    let mut next = async || {
        let chunk = body.next().await.transpose().map_err(|e| classify(provider, e))?;
        held += chunk.as_ref().map_or(0, Bytes::len);
        if held > cap {
            return Err(too_large());
        }
        Ok(chunk)
    };
    // The first chunk is kept as it came (a view into the connection's read buffer): a reply in
    // one chunk, the usual case, is never copied.
    let Some(first) = next().await? else { return Ok(Bytes::new()) };
    let Some(second) = next().await? else { return Ok(first) };
    let at_least = first.len() + second.len();
    let mut joined = Vec::with_capacity(declared.map_or(at_least, |n| (n as usize).max(at_least)));
    joined.extend_from_slice(&first);
    joined.extend_from_slice(&second);
    while let Some(chunk) = next().await? {
        joined.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(joined))
}

fn bad_response(provider: &Provider, source: BadReply) -> UpstreamError {
    UpstreamError::BadResponse { provider: provider.name.clone(), source }
}

pub async fn send_chat(
    client: &UpstreamClient,
    deployment: &Deployment,
    req: &ChatRequest,
    forwarded: &Forwarded,
    max_reply: usize,
    attempt: &mut AttemptContext,
) -> Result<(ChatReply, Option<std::time::Duration>), UpstreamError> {
    let provider: &Arc<Provider> = &deployment.provider;
    let dialect = provider.chat_dialect_for(&deployment.model, req.extra_dialect);
    let egress = dialect.egress();
    let req = deployment.fit(req, dialect);
    let body = egress.encode_request(&req, &deployment.model, req.stream)?;
    let uri = deployment.chat_url(dialect, req.stream).ok_or_else(|| bad_url(provider))?;
    let resp = post(client, provider, dialect, uri, body, forwarded, attempt).await?;
    // A provider that says its quota is spent gets a rest, though this reply succeeded.
    let exhausted = super::rate_limit::exhausted_for(resp.headers());
    if !req.stream {
        let bytes = {
            let _waiting = attempt.waiting();
            read_body(provider, resp, max_reply).await?
        };
        let decoded = egress.decode_response(&bytes).map_err(|e| bad_response(provider, e.into()))?;
        return Ok((ChatReply::Complete(decoded), exhausted));
    }
    let mut rest = EventSource::new(resp.into_body(), egress.framing().deframer(), egress.stream_decoder());
    let first = {
        let _waiting = attempt.waiting();
        rest.next_events().await
    };
    match first {
        Ok(Some(first)) => Ok((ChatReply::Stream { first, rest, first_event_at: Instant::now() }, exhausted)),
        Ok(None) => Err(UpstreamError::StreamBroken { provider: provider.name.clone(), source: StreamFailure::Empty }),
        Err(StreamFailure::TimedOut) => Err(UpstreamError::Timeout { provider: provider.name.clone() }),
        Err(source) => Err(UpstreamError::StreamBroken { provider: provider.name.clone(), source }),
    }
}

pub async fn send_embeddings(
    client: &UpstreamClient,
    deployment: &Deployment,
    req: &EmbeddingRequest,
    forwarded: &Forwarded,
    max_reply: usize,
    attempt: &mut AttemptContext,
) -> Result<EmbeddingResponse, UpstreamError> {
    let provider = &deployment.provider;
    let dialect = provider.dialect_for(&deployment.model);
    let egress = dialect.egress();
    let body = egress.encode_embedding_request(req, &deployment.model)?;
    let uri = parse_uri(&provider.url(&deployment.model, Operation::Embeddings)).ok_or_else(|| bad_url(provider))?;
    // Only the trace context: no other client header means anything to an embeddings call.
    let forwarded = Forwarded { trace: forwarded.trace.clone(), ..Forwarded::default() };
    let resp = post(client, provider, dialect, uri, body, &forwarded, attempt).await?;
    let bytes = {
        let _waiting = attempt.waiting();
        read_body(provider, resp, max_reply).await?
    };
    egress.decode_embedding_response(&bytes).map_err(|e| bad_response(provider, e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dialect::Dialect;
    use http::StatusCode;

    #[test]
    fn vertex_is_not_sent_the_mid_conversation_system_flag() {
        let flags = HeaderValue::from_static("interleaved-thinking-2025-05-14, mid-conversation-system-2026-04-07");
        let kept = without_flags(&flags, &["mid-conversation-system-"]).unwrap();
        assert_eq!(kept, "interleaved-thinking-2025-05-14");
        assert_eq!(without_flags(&HeaderValue::from_static("mid-conversation-system-2026-04-07"), &["mid-"]), None);
        let untouched = HeaderValue::from_static("context-1m-2025-08-07");
        assert_eq!(without_flags(&untouched, &["mid-conversation-system-"]), Some(untouched));
    }

    #[test]
    fn rate_limits_and_outages_are_retryable_bad_requests_are_not() {
        let status = |s: u16| UpstreamError::Status {
            provider: "p".into(),
            dialect: Dialect::OpenaiChat,
            status: StatusCode::from_u16(s).unwrap_or(StatusCode::OK),
            body: Default::default(),
            headers: vec![],
        };
        for s in [429, 500, 502, 503, 529, 408] {
            assert!(status(s).retryable(), "{s}");
        }
        for s in [400, 401, 403, 404, 413, 422] {
            assert!(!status(s).retryable(), "{s}");
        }
    }
}
