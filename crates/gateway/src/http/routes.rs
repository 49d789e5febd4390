//! The route table.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use dialect::{ClientFacingError, Dialect, ErrorKind};
use http::{header, HeaderValue, StatusCode};

use super::errors::error_response;
use super::{admin, anthropic, deployments, openai};
use crate::app::App;
use crate::error::ErrorReply;

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/chat/completions", post(openai::chat_completions))
        .route("/v1/embeddings", post(openai::embeddings))
        .route("/embeddings", post(openai::embeddings))
        .route("/v1/messages", post(anthropic::messages))
        .route("/v1/messages/count_tokens", post(anthropic::count_tokens))
        .route("/v1/models", get(openai::list_models))
        .route("/v1/models/{*id}", get(openai::get_model))
        .route("/health", get(health))
        .route("/health/deployments", get(deployments::list))
        .route("/admin/spend", get(admin::spend))
        .route("/admin/keys", post(admin::create_key).get(admin::list_keys))
        .route("/admin/keys/{id}", axum::routing::delete(admin::revoke_key))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app)
}

async fn health() -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], r#"{"status":"ok"}"#).into_response()
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    let text = app.metrics.map(|h| h.render()).unwrap_or_default();
    ([(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"))], text).into_response()
}

async fn not_found(uri: http::Uri) -> Response {
    let err = ClientFacingError::new(ErrorKind::NotFound, format!("Unknown path `{}`.", uri.path()));
    error_response(Dialect::OpenaiChat, ErrorReply::from(err), "")
}

async fn method_not_allowed() -> Response {
    let err = ClientFacingError::new(ErrorKind::InvalidRequest, "Method not allowed on this path.")
        .with_status(StatusCode::METHOD_NOT_ALLOWED);
    error_response(Dialect::OpenaiChat, ErrorReply::from(err), "")
}
