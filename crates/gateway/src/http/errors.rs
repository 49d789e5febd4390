//! Renders any failure as the client's dialect's error body. Rendering has no side effects.

use axum::body::Body;
use axum::response::Response;
use dialect::Dialect;
use http::{header, HeaderName, HeaderValue};

use crate::error::ErrorReply;

/// The dialect a path's errors are written in when no handler has decided: Anthropic's for
/// its routes, OpenAI's for everything else.
pub fn dialect_for_path(path: &str) -> Dialect {
    if path.starts_with("/v1/messages") {
        Dialect::Anthropic
    } else {
        Dialect::OpenaiChat
    }
}

/// Renders an error; the dialect's encoder bounds every string in it, so no error body grows
/// with what the client or the upstream sent.
pub fn error_response(dialect: Dialect, reply: ErrorReply, request_id: &str) -> Response {
    let reply = reply.for_ingress(dialect);
    let (status, body) = ingress_of(dialect).encode_error(&reply.error);
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert(HeaderName::from_static("x-request-id"), v);
    }
    for (k, v) in reply.headers {
        h.insert(k, v);
    }
    resp
}

/// The ingress of a dialect that has one; handlers exist only for those, so OpenAI's is only
/// a safe fallback.
pub fn ingress_of(d: Dialect) -> &'static dyn dialect::Ingress {
    d.ingress().unwrap_or(&dialect::openai::OpenAi)
}
