//! Bedrock error bodies (`{"message":"..."}`, sometimes `Message`, with the exception name in
//! `__type` or `code` when the `x-amzn-ErrorType` header is not at hand) and the kind of failure
//! each exception names, for error responses and in-stream exception messages alike.

use serde_json::Value;

use crate::error::fallback_message;
use crate::{ErrorKind, UpstreamErrorBody};

/// The kind of failure a Bedrock exception names. Compared case-insensitively, so the stream's
/// union member names (`throttlingException`) and the shape names (`ThrottlingException`) both
/// match. Unknown names: [`ErrorKind::Upstream`].
pub fn kind_for(exception: &str) -> ErrorKind {
    match exception.to_ascii_lowercase().as_str() {
        "validationexception" | "conflictexception" => ErrorKind::InvalidRequest,
        "servicequotaexceededexception" | "throttlingexception" | "modelnotreadyexception" => ErrorKind::RateLimited,
        "accessdeniedexception" => ErrorKind::PermissionDenied,
        "unrecognizedclientexception" | "invalidsignatureexception" | "expiredtokenexception" => {
            ErrorKind::Authentication
        }
        "resourcenotfoundexception" => ErrorKind::NotFound,
        "modeltimeoutexception" => ErrorKind::Timeout,
        "serviceunavailableexception" => ErrorKind::Overloaded,
        // The model or the service failed: not the gateway's fault.
        _ => ErrorKind::Upstream,
    }
}

/// The exception Bedrock answers a status with, for bodies that do not name one.
fn exception_for_status(status: http::StatusCode) -> Option<&'static str> {
    Some(match status.as_u16() {
        400 => "ValidationException",
        403 => "AccessDeniedException",
        404 => "ResourceNotFoundException",
        408 => "ModelTimeoutException",
        424 => "ModelErrorException",
        429 => "ThrottlingException",
        500 => "InternalServerException",
        503 => "ServiceUnavailableException",
        _ => return None,
    })
}

/// `com.amazon.coral.validate#ValidationException:http://...` → `ValidationException`.
fn exception_name(raw: &str) -> &str {
    let name = raw.rsplit_once('#').map_or(raw, |(_, n)| n);
    name.split_once(':').map_or(name, |(n, _)| n).trim()
}

/// Reads Bedrock's error body. The exception name comes from the body's `__type` (or `code`)
/// and otherwise from the status; anything not JSON keeps a bounded piece of text.
pub fn decode(status: http::StatusCode, body: &[u8]) -> UpstreamErrorBody {
    let fallback_type = exception_for_status(status).map(str::to_owned);
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return UpstreamErrorBody {
            message: fallback_message(status, body),
            error_type: fallback_type,
            ..Default::default()
        };
    };
    let field = |k: &str| v.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    let message = field("message").or_else(|| field("Message")).map(str::to_owned);
    let error_type = field("__type").or_else(|| field("code")).map(|t| exception_name(t).to_owned()).or(fallback_type);
    UpstreamErrorBody {
        message: message.unwrap_or_else(|| fallback_message(status, body)),
        error_type,
        code: None,
        param: None,
    }
}
