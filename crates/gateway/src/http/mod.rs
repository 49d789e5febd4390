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

/// A fresh id for a request, echoed as `x-request-id`.
pub fn request_id() -> String {
    // Time-ordered (UUIDv7: 48 bits of milliseconds, 74 random): ledger rows are written in
    // about this order, so the index on request ids grows at its end instead of touching a
    // random page per row.
    format!("req_{}", uuid::Uuid::now_v7().simple())
}

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

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_are_unique_and_in_the_order_they_were_made() {
        let ids: Vec<String> = (0..10_000).map(|_| super::request_id()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "each id sorts after the one before");
        assert!(ids.iter().all(|id| id.len() == 36 && id.starts_with("req_")), "{}", ids[0]);
    }
}
