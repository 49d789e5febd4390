//! The HTTP surface: routes, one handler module per client dialect, authentication, body
//! reading and error rendering. Handlers decode and hand over to [`crate::pipeline`].

pub mod admin;
pub mod anthropic;
pub mod auth;
pub mod body;
pub mod chat;
pub mod deployments;
pub mod errors;
pub mod guard;
pub mod openai;
pub mod render;
pub mod responses;
pub mod routes;

pub use routes::{metrics_router, router};

pub use crate::error::echo;

pub use crate::pipeline::request_id;

/// What every model endpoint does first: identify the caller, then read the body within the
/// size limit and the deadline.
pub async fn admit(
    app: &crate::app::App,
    headers: &http::HeaderMap,
    body: axum::body::Body,
) -> Result<(crate::keys::Caller, bytes::Bytes), dialect::ClientFacingError> {
    let caller = auth::identify(app, headers)?;
    Ok((caller, body::read(headers, body, app.config.max_body_bytes).await?))
}

/// A virtual key may only use the models its allowlist names.
pub fn check_model(caller: &crate::keys::Caller, model: &str) -> Result<(), dialect::ClientFacingError> {
    match caller.key() {
        Some(k) if !k.allows_model(model) => Err(dialect::ClientFacingError::new(
            dialect::ErrorKind::PermissionDenied,
            format!("This key may not use the model `{}`.", echo(model)),
        )
        .with_code("model_not_allowed")
        .with_param("model")),
        _ => Ok(()),
    }
}
