//! Anthropic error bodies: `{"type":"error","error":{"type","message"},"request_id"?}`, and the
//! status each error type travels with. Statuses follow the API (protocols.md 7.7): 529 for
//! overload, 500 `api_error` for our own internal failures, 502 `api_error` for an upstream's.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{fallback_message, truncate_for_json, BoundedError, MAX_ERROR_FIELD_BYTES, MAX_ERROR_MESSAGE_BYTES};
use crate::{ClientFacingError, ErrorKind, UpstreamErrorBody};

/// The `error.type` Anthropic itself uses for each kind of failure.
pub fn error_type_for(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidRequest => "invalid_request_error",
        ErrorKind::Authentication => "authentication_error",
        ErrorKind::PermissionDenied => "permission_error",
        ErrorKind::NotFound => "not_found_error",
        ErrorKind::RequestTooLarge => "request_too_large",
        ErrorKind::RateLimited => "rate_limit_error",
        ErrorKind::Timeout => "timeout_error",
        ErrorKind::Overloaded => "overloaded_error",
        ErrorKind::Upstream | ErrorKind::Internal => "api_error",
    }
}

/// The status Anthropic answers with for each kind of failure.
pub fn status_for(kind: ErrorKind) -> http::StatusCode {
    use http::StatusCode as S;
    match kind {
        ErrorKind::InvalidRequest => S::BAD_REQUEST,
        ErrorKind::Authentication => S::UNAUTHORIZED,
        ErrorKind::PermissionDenied => S::FORBIDDEN,
        ErrorKind::NotFound => S::NOT_FOUND,
        ErrorKind::RequestTooLarge => S::PAYLOAD_TOO_LARGE,
        ErrorKind::RateLimited => S::TOO_MANY_REQUESTS,
        ErrorKind::Timeout => S::GATEWAY_TIMEOUT,
        // 529 is Anthropic's own "overloaded" status; it is a valid code, so this cannot fail.
        ErrorKind::Overloaded => S::from_u16(529).unwrap_or(S::SERVICE_UNAVAILABLE),
        // Anthropic has no type of its own for a bad gateway; `api_error` travels with 502.
        ErrorKind::Upstream => S::BAD_GATEWAY,
        ErrorKind::Internal => S::INTERNAL_SERVER_ERROR,
    }
}

/// The kind of failure an Anthropic `error.type` names (used for mid-stream `error` events).
pub fn kind_for(error_type: &str) -> ErrorKind {
    match error_type {
        "invalid_request_error" => ErrorKind::InvalidRequest,
        "authentication_error" => ErrorKind::Authentication,
        // Anthropic's 402: no credit. Not retryable, nearest to a refusal of access.
        "permission_error" | "billing_error" => ErrorKind::PermissionDenied,
        "not_found_error" => ErrorKind::NotFound,
        "request_too_large" => ErrorKind::RequestTooLarge,
        "rate_limit_error" => ErrorKind::RateLimited,
        "timeout_error" => ErrorKind::Timeout,
        "overloaded_error" => ErrorKind::Overloaded,
        _ => ErrorKind::Upstream,
    }
}

#[derive(Serialize)]
pub struct OutErrorBody<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub error: OutError<'a>,
}

#[derive(Serialize)]
pub struct OutError<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub message: &'a str,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct InError {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub message: Option<String>,
}

/// A same-dialect upstream error keeps its type and status; anything else gets the type and
/// status Anthropic itself would use for its kind.
pub fn encode(err: &ClientFacingError) -> (http::StatusCode, Vec<u8>) {
    let bounded = BoundedError::of(err);
    let (status, error_type) = match bounded.upstream_type.as_deref() {
        Some(t) => (err.status, t),
        // A status chosen for this error (414, 415, 431, ...) stands; otherwise Anthropic's own.
        None if err.status != err.kind.status() => (err.status, error_type_for(err.kind)),
        None => (status_for(err.kind), error_type_for(err.kind)),
    };
    (status, body(error_type, &bounded.message))
}

/// Both strings are cut to their bounds, so the body stays small whatever the error quotes.
pub fn body(error_type: &str, message: &str) -> Vec<u8> {
    let error_type = truncate_for_json(error_type, MAX_ERROR_FIELD_BYTES);
    let message = truncate_for_json(message, MAX_ERROR_MESSAGE_BYTES);
    let body = OutErrorBody { kind: "error", error: OutError { kind: &error_type, message: &message } };
    serde_json::to_vec(&body).unwrap_or_default()
}

/// Reads Anthropic's error body. Vertex answers platform failures (auth, quota) in Google's
/// format `{"error":{"code","message","status"}}`; its message is kept but its `status` is not
/// reported as an Anthropic error type. Anything else keeps a bounded piece of text.
pub fn decode(status: http::StatusCode, body: &[u8]) -> UpstreamErrorBody {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return UpstreamErrorBody { message: fallback_message(status, body), ..Default::default() };
    };
    let error = v.get("error");
    let message = error
        .and_then(|e| e.get("message"))
        .or_else(|| v.get("message"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| fallback_message(status, body));
    // Google's shape has a numeric `code` and a `status`; Anthropic's has neither.
    let anthropic_shaped = v.get("type").and_then(Value::as_str) == Some("error")
        || error.is_some_and(|e| e.get("status").is_none() && e.get("code").is_none());
    let error_type = error.and_then(|e| e.get("type")).and_then(Value::as_str).filter(|_| anthropic_shaped);
    UpstreamErrorBody { message, error_type: error_type.map(str::to_owned), code: None, param: None }
}
