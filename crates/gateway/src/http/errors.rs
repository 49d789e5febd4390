//! Renders any failure as the client's dialect's error body. Rendering has no side effects.

use axum::body::Body;
use axum::response::Response;
use dialect::Dialect;
use http::{header, HeaderName, HeaderValue};

use crate::error::ErrorReply;
use crate::pipeline::ingress_of;

/// The dialect a path's errors are written in when no handler has decided: Anthropic's for
/// its routes, OpenAI's for everything else.
pub fn dialect_for_path(path: &str) -> Dialect {
    if path.starts_with("/v1/messages") {
        Dialect::Anthropic
    } else {
        Dialect::OpenaiChat
    }
}

/// Longest error message sent; anything longer is cut (it can only be quoted input).
const MAX_MESSAGE: usize = 2_048;

pub fn error_response(dialect: Dialect, mut reply: ErrorReply, request_id: &str) -> Response {
    if reply.error.message.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !reply.error.message.is_char_boundary(end) {
            end -= 1;
        }
        reply.error.message.truncate(end);
        reply.error.message.push_str("…[truncated]");
    }
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
