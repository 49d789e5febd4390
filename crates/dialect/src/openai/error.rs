//! OpenAI error bodies: `{"error":{"message","type","param","code"}}`.

use serde_json::{json, Value};

use crate::error::{fallback_message, truncate_for_json, BoundedError, MAX_ERROR_MESSAGE_BYTES};
use crate::{ClientFacingError, ErrorKind, UpstreamErrorBody};

/// The `type` OpenAI itself uses for each kind of failure.
pub fn error_type_for(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidRequest | ErrorKind::NotFound | ErrorKind::RequestTooLarge | ErrorKind::Authentication => {
            "invalid_request_error"
        }
        ErrorKind::PermissionDenied => "permission_error",
        ErrorKind::RateLimited => "requests",
        ErrorKind::Timeout => "timeout",
        ErrorKind::Overloaded | ErrorKind::Upstream | ErrorKind::Internal => "server_error",
    }
}

/// Every string is cut to its bound, so the body stays small whatever the error quotes.
pub fn encode(err: &ClientFacingError) -> (http::StatusCode, Vec<u8>) {
    let bounded = BoundedError::of(err);
    let error_type = bounded.upstream_type.as_deref().unwrap_or_else(|| error_type_for(err.kind));
    let body = json!({"error": {
        "message": bounded.message,
        "type": error_type,
        "param": bounded.param,
        "code": bounded.code,
    }});
    (err.status, serde_json::to_vec(&body).unwrap_or_default())
}

/// An error in the middle of a stream, in the shape the SDKs read from a chunk.
pub fn stream_error_body(kind: ErrorKind, message: &str) -> Value {
    json!({"error": {
        "message": truncate_for_json(message, MAX_ERROR_MESSAGE_BYTES),
        "type": error_type_for(kind),
        "param": null,
        "code": null,
    }})
}

/// Reads the error shapes OpenAI and compatible servers use: the OpenAI object, a bare string
/// under `error`, or a top-level `message`/`detail`. Anything else keeps a bounded piece of text.
pub fn decode(status: http::StatusCode, body: &[u8]) -> UpstreamErrorBody {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    // `code` is a string at OpenAI, a number at some compatible servers.
    let code = |v: Option<&Value>| match v {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return UpstreamErrorBody { message: fallback_message(status, body), ..Default::default() };
    };
    let obj = match v.get("error") {
        Some(e @ Value::Object(_)) => e,
        Some(Value::String(s)) => return UpstreamErrorBody { message: s.clone(), ..Default::default() },
        _ => &v,
    };
    let message =
        text(obj.get("message")).or_else(|| text(obj.get("detail"))).unwrap_or_else(|| fallback_message(status, body));
    UpstreamErrorBody {
        message,
        error_type: text(obj.get("type")),
        code: code(obj.get("code")),
        param: text(obj.get("param")),
    }
}
