//! Renders any failure as the client's dialect's error body. Rendering has no side effects.

use axum::body::Body;
use axum::response::Response;
use dialect::Dialect;
use http::{header, HeaderName, HeaderValue};

use crate::error::ErrorReply;
use crate::pipeline::ingress_of;

pub fn error_response(dialect: Dialect, reply: ErrorReply, request_id: &str) -> Response {
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
