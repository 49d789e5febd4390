//! Google API errors: `{"error":{"code":429,"message":"…","status":"RESOURCE_EXHAUSTED","details":[…]}}`.

use serde_json::Value;

use crate::anthropic::google_status_kind;
use crate::{ErrorKind, UpstreamErrorBody};

pub fn decode(status: http::StatusCode, body: &[u8]) -> UpstreamErrorBody {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    // Some Google front ends wrap the error in a one-element array.
    let err = value.get("error").or_else(|| value.get(0).and_then(|v| v.get("error")));
    let Some(err) = err else {
        let text = String::from_utf8_lossy(body);
        let message = if text.trim().is_empty() {
            format!("upstream answered {status}")
        } else {
            text.chars().take(500).collect()
        };
        return UpstreamErrorBody { message, ..Default::default() };
    };
    let google_status = err.get("status").and_then(Value::as_str).map(str::to_owned);
    UpstreamErrorBody {
        message: err.get("message").and_then(Value::as_str).unwrap_or("upstream error").to_owned(),
        error_type: google_status.clone(),
        code: google_status,
        param: None,
    }
}

/// The kind of a Google status name (for mid-stream errors).
pub fn kind_for(status: Option<&str>, code: Option<u16>) -> ErrorKind {
    match status {
        Some(s) => google_status_kind(s),
        None => {
            code.and_then(|c| http::StatusCode::from_u16(c).ok()).map_or(ErrorKind::Upstream, ErrorKind::from_status)
        }
    }
}
