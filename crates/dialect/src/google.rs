//! Google Cloud's error body, the JSON form of `google.rpc.Status`:
//! `{"error":{"code":429,"message":"…","status":"RESOURCE_EXHAUSTED","details":[…]}}`, and the
//! kind of failure each canonical status name means. Gemini (on the Gemini API and on Vertex AI)
//! answers every failure in it, mid-stream ones included; Vertex AI answers its own platform
//! failures (auth, quota) in it whatever the publisher, so Anthropic on Vertex reads it too.
//! Belongs to neither vendor: what a dialect reports such an error as (its error type, its
//! code) and what it does with a body in another shape are left to the dialect.

use serde::Deserialize;
use serde_json::Value;

use crate::ErrorKind;

/// The `error` object of a Google error body.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Status {
    /// The HTTP status as a number. None: absent.
    pub code: Option<u16>,
    /// None: absent.
    pub message: Option<String>,
    /// The canonical status name (`RESOURCE_EXHAUSTED`). None: absent.
    pub status: Option<String>,
}

impl Status {
    /// The `error` object of an error body, also when a Google front end wraps the body in a
    /// one-element array. A field of the wrong type reads as absent, so an odd body still
    /// yields what it holds. None: the body is not JSON or has no `error`.
    pub(crate) fn read(body: &[u8]) -> Option<Status> {
        let value: Value = serde_json::from_slice(body).ok()?;
        let err = value.get("error").or_else(|| value.get(0).and_then(|v| v.get("error")))?;
        let text = |k: &str| err.get(k).and_then(Value::as_str).map(str::to_owned);
        Some(Status {
            code: err.get("code").and_then(Value::as_u64).and_then(|c| u16::try_from(c).ok()),
            message: text("message"),
            status: text("status"),
        })
    }

    /// The kind of failure: the status name's, else the numeric code's, else
    /// [`ErrorKind::Upstream`].
    pub(crate) fn kind(&self) -> ErrorKind {
        match &self.status {
            Some(s) => status_kind(s),
            None => self
                .code
                .and_then(|c| http::StatusCode::from_u16(c).ok())
                .map_or(ErrorKind::Upstream, ErrorKind::from_status),
        }
    }
}

/// The kind of failure a Google canonical status name means. Unknown names:
/// [`ErrorKind::Internal`].
pub fn status_kind(status: &str) -> ErrorKind {
    match status {
        "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE" => ErrorKind::InvalidRequest,
        "UNAUTHENTICATED" => ErrorKind::Authentication,
        "PERMISSION_DENIED" => ErrorKind::PermissionDenied,
        "NOT_FOUND" => ErrorKind::NotFound,
        "RESOURCE_EXHAUSTED" => ErrorKind::RateLimited,
        "UNAVAILABLE" => ErrorKind::Overloaded,
        "DEADLINE_EXCEEDED" => ErrorKind::Timeout,
        _ => ErrorKind::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_object_is_read_bare_or_wrapped_in_an_array() {
        let bare = br#"{"error":{"code":429,"message":"Quota exceeded.","status":"RESOURCE_EXHAUSTED","details":[]}}"#;
        let wrapped = br#"[{"error":{"code":429,"message":"Quota exceeded.","status":"RESOURCE_EXHAUSTED"}}]"#;
        for body in [&bare[..], &wrapped[..]] {
            let s = Status::read(body).unwrap();
            assert_eq!(s.code, Some(429));
            assert_eq!(s.message.as_deref(), Some("Quota exceeded."));
            assert_eq!(s.status.as_deref(), Some("RESOURCE_EXHAUSTED"));
            assert_eq!(s.kind(), ErrorKind::RateLimited);
        }
    }

    #[test]
    fn odd_fields_read_as_absent_and_other_shapes_as_none() {
        let s = Status::read(br#"{"error":{"code":"429","message":7,"status":null}}"#).unwrap();
        assert!(s.code.is_none() && s.message.is_none() && s.status.is_none());
        assert_eq!(s.kind(), ErrorKind::Upstream);
        assert!(Status::read(b"<html>bad gateway</html>").is_none());
        assert!(Status::read(br#"{"message":"no error object"}"#).is_none());
    }

    #[test]
    fn the_kind_comes_from_the_status_name_then_the_code() {
        let by_code = Status { code: Some(503), ..Status::default() };
        assert_eq!(by_code.kind(), ErrorKind::from_status(http::StatusCode::SERVICE_UNAVAILABLE));
        let by_name = Status { code: Some(500), status: Some("DEADLINE_EXCEEDED".into()), ..Status::default() };
        assert_eq!(by_name.kind(), ErrorKind::Timeout);
        assert_eq!(status_kind("SOMETHING_NEW"), ErrorKind::Internal);
    }
}
