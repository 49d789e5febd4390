//! The HTTP surface: routes, one handler module per client dialect, authentication, body
//! reading and error rendering. Handlers decode and hand over to [`crate::pipeline`].

pub mod auth;
pub mod body;
pub mod errors;
pub mod openai;
pub mod routes;

pub use routes::router;

/// A fresh id for a request, echoed as `x-request-id`.
pub fn request_id() -> String {
    format!("req_{}", uuid::Uuid::new_v4().simple())
}
