//! The chat endpoint of every client dialect — `/v1/chat/completions` (OpenAI) and
//! `/v1/messages` (Anthropic) are one handler given the dialect: identify the caller, read and
//! decode the body, check the model against the key, take routing hints, run the pipeline,
//! render the reply.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use dialect::{ClientFacingError, Dialect};
use http::HeaderMap;

use super::errors::{error_response, ingress_of};
use super::{admit, check_model, render, request_id};
use crate::app::App;
use crate::error::ErrorReply;
use crate::pipeline;
use crate::routing::filter::Narrowing;
use crate::upstream::Forwarded;

pub async fn chat_completions(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    handle(app, Dialect::OpenaiChat, headers, body).await
}

pub async fn messages(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    handle(app, Dialect::Anthropic, headers, body).await
}

async fn handle(app: Arc<App>, dialect: Dialect, headers: HeaderMap, body: Body) -> Response {
    let id = request_id();
    match run(app, dialect, &headers, body, id.clone()).await {
        Ok(resp) => resp,
        Err(e) => error_response(dialect, e, &id),
    }
}

async fn run(
    app: Arc<App>,
    dialect: Dialect,
    headers: &HeaderMap,
    body: Body,
    id: String,
) -> Result<Response, ErrorReply> {
    let (caller, bytes) = admit(&app, headers, body).await?;
    let mut req = ingress_of(dialect).decode_request(&bytes).map_err(ClientFacingError::from)?;
    check_model(&caller, &req.model)?;
    let narrowing = Narrowing::take(&mut req, headers)?.limited_by_key(caller.key());
    let reply = pipeline::chat(app, req, Forwarded::from_client(headers), narrowing, &caller, id).await?;
    Ok(render::chat(dialect, reply))
}
