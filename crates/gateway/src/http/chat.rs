//! The chat endpoint of every client dialect — `/v1/chat/completions` (OpenAI) and
//! `/v1/messages` (Anthropic) are one handler given the dialect: identify the caller, read and
//! decode the body, check the model against the key, take routing hints, run the pipeline,
//! render the reply.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use dialect::{ChatRequest, ClientFacingError, Dialect};
use http::HeaderMap;

use super::errors::{error_response, ingress_of};
use super::{admit, check_model, render, request_id};
use crate::app::App;
use crate::cache::control::Directive;
use crate::error::ErrorReply;
use crate::keys::Caller;
use crate::pipeline;
use crate::routing::filter::Narrowing;
use crate::telemetry::RequestFinished;
use crate::upstream::Forwarded;

pub async fn chat_completions(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    handle(app, Dialect::OpenaiChat, headers, body).await
}

pub async fn messages(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    handle(app, Dialect::Anthropic, headers, body).await
}

async fn handle(app: Arc<App>, dialect: Dialect, headers: HeaderMap, body: Body) -> Response {
    let id = request_id();
    let started = std::time::Instant::now();
    let (caller, req, narrowing) = match prepare(&app, dialect, &headers, body).await {
        Ok(prepared) => prepared,
        Err(e) => {
            // Refused before the pipeline (key, body, decoding, allowlist): counted here, since
            // no finalizer exists yet.
            RequestFinished::refused(&id, endpoint(dialect), e.error.status.as_u16(), started.elapsed()).emit();
            return error_response(dialect, e, &id);
        }
    };
    // Only for aliases and keys that ask: the prompt is copied now, the reply as it is sent.
    let bodies = crate::console::bodies::wanted(&app, &caller, &req.model)
        .map(|because| crate::console::bodies::Pending::new(&app, &id, because, &req));
    let inbound = pipeline::Inbound {
        request_id: id.clone(),
        endpoint: endpoint(dialect),
        forwarded: Forwarded::from_client(&headers),
        narrowing,
        cache: Directive::from_headers(&headers),
    };
    // Boxed: the pipeline's state is kilobytes, and the handler's future is moved (copied) into
    // a box twice on its way through the router and middleware.
    match (Box::pin(pipeline::chat(app, req, inbound, &caller)).await, bodies) {
        (Ok(reply), Some(bodies)) => bodies.tap(render::chat(dialect, reply)).await,
        (Ok(reply), None) => render::chat(dialect, reply),
        (Err(e), _) => error_response(dialect, e, &id),
    }
}

/// The endpoint a dialect's chat requests arrive at, for the request log.
fn endpoint(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Anthropic => "/v1/messages",
        _ => "/v1/chat/completions",
    }
}

async fn prepare(
    app: &App,
    dialect: Dialect,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Caller, ChatRequest, Narrowing), ErrorReply> {
    let (caller, bytes) = admit(app, headers, body).await?;
    let mut req = ingress_of(dialect).decode_request(&bytes).map_err(ClientFacingError::from)?;
    check_model(&caller, &req.model)?;
    let narrowing = Narrowing::take(&mut req, headers)?.limited_by_key(caller.key());
    Ok((caller, req, narrowing))
}
