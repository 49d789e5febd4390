//! The request pipeline, in order: route → for each candidate, encode and send → reply in
//! the client's dialect → record. Each step is a plain call with typed inputs and outputs.

mod stream;

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::response::Response;
use dialect::{ChatRequest, Dialect, EmbeddingRequest, ResponseMeta};
use http::{header, HeaderName, HeaderValue, StatusCode};

use crate::app::App;
use crate::config::Deployment;
use crate::error::{ErrorReply, UpstreamError};
use crate::http::errors::error_response;
use crate::routing::plan;
use crate::telemetry::{Outcome, RequestFinished, UpstreamAttemptFinished};
use crate::upstream::{send_chat, send_embeddings, ChatReply, Forwarded};

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
    request_id: String,
) -> Response {
    let started = Instant::now();
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
    let plan = match plan(&app, &req.model) {
        Ok(p) => p,
        Err(e) => {
            finished(crate::routing::plan::DIRECT, "", e.status, Outcome::BadResponse).emit();
            return error_response(ingress, ErrorReply::from(e), &request_id);
        }
    };
    let mut last_error: Option<UpstreamError> = None;
    for (i, deployment) in plan.candidates.iter().enumerate() {
        let attempt_started = Instant::now();
        let result = send_chat(&app.client, deployment, &req, &forwarded).await;
        let outcome = result.as_ref().err().map_or(Outcome::Ok, UpstreamError::outcome);
        UpstreamAttemptFinished { provider: &deployment.provider.name, outcome, latency: attempt_started.elapsed() }
            .emit();
        let served = Served { request_id: &request_id, deployment, attempts: i + 1 };
        match result {
            Ok(ChatReply::Complete(mut resp)) => {
                fill_identity(&mut resp.id, &mut resp.model, &mut resp.created, &request_id, deployment);
                let body = ingress_of(ingress).encode_response(&resp);
                let mut record = finished(&plan.alias, &deployment.provider.name, StatusCode::OK, Outcome::Ok);
                record.usage = resp.usage;
                record.emit();
                return json_response(StatusCode::OK, body, &served);
            }
            Ok(ChatReply::Stream { mut first, rest, first_event_at }) => {
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
                );
                let body = ClientStream::new(first, rest, ingress_of(ingress).stream_encoder(&meta), finalizer);
                return sse_response(body, &served);
            }
            Err(e) => {
                let retry = e.retryable() && i + 1 < plan.candidates.len();
                last_error = Some(e);
                if !retry {
                    break;
                }
            }
        }
    }
    let reply = match last_error {
        Some(e) => e.into_reply(ingress),
        None => ErrorReply::from(dialect::ClientFacingError::new(
            dialect::ErrorKind::NotFound,
            format!("The model `{}` has no deployments.", req.model),
        )),
    };
    finished(&plan.alias, "", reply.error.status, Outcome::UpstreamError).emit();
    error_response(ingress, reply, &request_id)
}

pub async fn embeddings(app: Arc<App>, ingress: Dialect, req: EmbeddingRequest, request_id: String) -> Response {
    let started = Instant::now();
    let plan = match plan(&app, &req.model) {
        Ok(p) => p,
        Err(e) => return error_response(ingress, ErrorReply::from(e), &request_id),
    };
    let mut last_error = None;
    for (i, deployment) in plan.candidates.iter().enumerate() {
        let attempt_started = Instant::now();
        let result = send_embeddings(&app.client, deployment, &req).await;
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
                    alias: &plan.alias,
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
                let retry = e.retryable() && i + 1 < plan.candidates.len();
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
