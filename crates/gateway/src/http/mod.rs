//! The HTTP surface: routes, one handler module per client dialect, authentication, body
//! reading and error rendering. Handlers decode and hand over to [`crate::pipeline`].

pub mod admin;
pub mod anthropic;
pub mod auth;
pub mod body;
pub mod deployments;
pub mod errors;
pub mod openai;
pub mod routes;

pub use routes::router;

/// A fresh id for a request, echoed as `x-request-id`.
pub fn request_id() -> String {
    format!("req_{}", uuid::Uuid::new_v4().simple())
}

/// What every model endpoint does first: check the key, then read the body within the size
/// limit and the deadline.
pub async fn admit(
    app: &crate::app::App,
    headers: &http::HeaderMap,
    body: axum::body::Body,
) -> Result<bytes::Bytes, dialect::ClientFacingError> {
    auth::check(app.config.master_key.as_ref(), headers)?;
    body::read(headers, body, app.config.max_body_bytes).await
}
