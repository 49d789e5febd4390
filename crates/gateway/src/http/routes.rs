//! The route table.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use dialect::{ClientFacingError, ErrorKind};
use http::{header, HeaderValue, StatusCode};

use super::echo;
use super::errors::{dialect_for_path, error_response};
use super::{admin, anthropic, chat, deployments, openai, responses};
use crate::app::App;
use crate::error::ErrorReply;

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat::chat_completions))
        .route("/chat/completions", post(chat::chat_completions))
        .route("/v1/embeddings", post(openai::embeddings))
        .route("/embeddings", post(openai::embeddings))
        .route("/v1/responses", post(responses::create))
        .route("/responses", post(responses::create))
        .route("/v1/responses/{id}", get(responses::retrieve).delete(responses::delete))
        .route("/v1/responses/{id}/input_items", get(responses::input_items))
        .route("/v1/messages", post(chat::messages))
        .route("/v1/messages/count_tokens", post(anthropic::count_tokens))
        .route("/v1/models", get(openai::list_models))
        .route("/v1/models/{*id}", get(openai::get_model))
        .route("/", get(health))
        .route("/health", get(health))
        .route("/health/deployments", get(deployments::list))
        .route("/admin/spend", get(admin::spend))
        .route("/admin/keys", post(admin::create_key).get(admin::list_keys))
        .route("/admin/keys/{id}", axum::routing::delete(admin::revoke_key).patch(admin::edit_key))
        .route("/admin/audit", get(admin::audit))
        .route("/metrics", get(metrics))
        .merge(crate::console::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(app.clone(), super::guard::guard))
        .with_state(app)
}

/// `/health` and `/`: 200 while serving; 503 from the shutdown signal on, so load balancers
/// stop sending here while requests in flight finish. Names the config version running.
async fn health(State(app): State<Arc<App>>) -> Response {
    let (status, text) =
        if app.lifecycle.draining() { (StatusCode::SERVICE_UNAVAILABLE, "draining") } else { (StatusCode::OK, "ok") };
    let body = serde_json::json!({"status": text, "config_version": &*app.config_version});
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body.to_string()).into_response()
}

/// `/metrics` on the main port: behind the master key, and absent when a separate metrics
/// listener is configured (its names of aliases, providers and keys are the operator's).
async fn metrics(State(app): State<Arc<App>>, headers: http::HeaderMap) -> Response {
    if app.config.metrics_listen.is_some() {
        return not_found(http::Method::GET, http::Uri::from_static("/metrics")).await;
    }
    if let Err(e) = super::auth::check(app.config.master_key.as_ref(), &headers) {
        return error_response(dialect::Dialect::OpenaiChat, ErrorReply::from(e), &super::request_id());
    }
    render_metrics(&app)
}

pub fn render_metrics(app: &App) -> Response {
    let text = app.metrics.map(|h| h.render()).unwrap_or_default();
    ([(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"))], text).into_response()
}

/// The separate metrics listener's routes: `/metrics` only, no key (the operator decides who
/// can reach that address).
pub fn metrics_router(app: Arc<App>) -> Router {
    Router::new()
        .route("/metrics", get(|State(app): State<Arc<App>>| async move { render_metrics(&app) }))
        .with_state(app)
}

async fn not_found(method: http::Method, uri: http::Uri) -> Response {
    let path = uri.path();
    let err = ClientFacingError::new(ErrorKind::NotFound, format!("Unknown path `{}`.", echo(path)));
    answer_unrouted(&method, path, err)
}

async fn method_not_allowed(method: http::Method, uri: http::Uri) -> Response {
    let err = ClientFacingError::new(ErrorKind::InvalidRequest, "Method not allowed on this path.")
        .with_status(StatusCode::METHOD_NOT_ALLOWED);
    answer_unrouted(&method, uri.path(), err)
}

/// A request no route takes: answered in the dialect its path suggests, with a request id, and
/// logged like every other request (the path bounded, since the client chose it).
fn answer_unrouted(method: &http::Method, path: &str, err: ClientFacingError) -> Response {
    let id = super::request_id();
    tracing::info!(
        request_id = %id,
        method = %method,
        path = %echo(path),
        status = err.status.as_u16(),
        outcome = "refused",
        "request finished"
    );
    error_response(dialect_for_path(path), ErrorReply::from(err), &id)
}
