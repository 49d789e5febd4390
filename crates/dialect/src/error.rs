//! Errors at the dialect boundary, and the dialect-neutral error a client is shown.

use serde::{Deserialize, Serialize};

/// Bytes that could not be read as the dialect they claim to be.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("the body is not valid JSON: {0}")]
    Json(String),
    #[error("{message}")]
    Invalid {
        message: String,
        /// The offending field, when one can be named.
        param: Option<String>,
    },
    #[error("the upstream stream ended before its end marker")]
    Truncated,
    #[error("malformed stream frame: {0}")]
    Framing(String),
}

/// Reads a JSON body, turning serde's message into one a client can act on.
pub(crate) fn parse_json<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> Result<T, DecodeError> {
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => DecodeError::invalid(e.to_string(), None),
        _ => DecodeError::Json(e.to_string()),
    })
}

/// A stream that ended properly but carried neither content nor a finish reason: a broken
/// upstream, to fail over from rather than pass on as an empty success.
pub(crate) fn empty_stream() -> DecodeError {
    DecodeError::invalid("the upstream's stream ended without any content or finish reason", None)
}

impl DecodeError {
    pub fn invalid(message: impl Into<String>, param: impl Into<Option<String>>) -> Self {
        DecodeError::Invalid { message: message.into(), param: param.into() }
    }
}

/// A canonical request that the target dialect cannot express.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EncodeError {
    #[error("`{field}` is not supported by {target}: {reason}")]
    Unsupported { field: String, target: &'static str, reason: String },
}

/// The kinds of failure a client can be told about; each dialect maps them to its own types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    InvalidRequest,
    Authentication,
    PermissionDenied,
    NotFound,
    RequestTooLarge,
    RateLimited,
    Timeout,
    Overloaded,
    Upstream,
    Internal,
}

impl ErrorKind {
    /// The HTTP status for this kind when nothing more specific is known.
    pub fn status(self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            ErrorKind::InvalidRequest => S::BAD_REQUEST,
            ErrorKind::Authentication => S::UNAUTHORIZED,
            ErrorKind::PermissionDenied => S::FORBIDDEN,
            ErrorKind::NotFound => S::NOT_FOUND,
            ErrorKind::RequestTooLarge => S::PAYLOAD_TOO_LARGE,
            ErrorKind::RateLimited => S::TOO_MANY_REQUESTS,
            ErrorKind::Timeout => S::GATEWAY_TIMEOUT,
            ErrorKind::Overloaded => S::SERVICE_UNAVAILABLE,
            ErrorKind::Upstream => S::BAD_GATEWAY,
            ErrorKind::Internal => S::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn from_status(status: http::StatusCode) -> Self {
        match status.as_u16() {
            400 | 409 | 422 => ErrorKind::InvalidRequest,
            401 => ErrorKind::Authentication,
            403 => ErrorKind::PermissionDenied,
            404 => ErrorKind::NotFound,
            408 | 504 => ErrorKind::Timeout,
            413 => ErrorKind::RequestTooLarge,
            429 => ErrorKind::RateLimited,
            503 | 529 => ErrorKind::Overloaded,
            502 => ErrorKind::Upstream,
            _ if status.is_client_error() => ErrorKind::InvalidRequest,
            _ => ErrorKind::Internal,
        }
    }
}

/// An error as shown to a client, before it is written in the client's dialect.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientFacingError {
    pub status: http::StatusCode,
    pub kind: ErrorKind,
    pub message: String,
    pub param: Option<String>,
    pub code: Option<String>,
    /// The error `type` string an upstream of the client's own dialect used, kept so a
    /// same-dialect error passes through unchanged.
    pub upstream_type: Option<String>,
}

impl ClientFacingError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ClientFacingError {
            status: kind.status(),
            kind,
            message: message.into(),
            param: None,
            code: None,
            upstream_type: None,
        }
    }

    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub fn with_status(mut self, status: http::StatusCode) -> Self {
        self.status = status;
        self
    }
}

impl From<DecodeError> for ClientFacingError {
    fn from(err: DecodeError) -> Self {
        let param = match &err {
            DecodeError::Invalid { param, .. } => param.clone(),
            _ => None,
        };
        let mut out = ClientFacingError::new(ErrorKind::InvalidRequest, err.to_string());
        out.param = param;
        out
    }
}

impl From<EncodeError> for ClientFacingError {
    fn from(err: EncodeError) -> Self {
        let EncodeError::Unsupported { field, .. } = &err;
        ClientFacingError::new(ErrorKind::InvalidRequest, err.to_string()).with_param(field.clone())
    }
}

/// What an upstream said when it failed, read from its error body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpstreamErrorBody {
    pub message: String,
    /// The upstream's own error type string (`invalid_request_error`, `overloaded_error`, ...).
    pub error_type: Option<String>,
    pub code: Option<String>,
    pub param: Option<String>,
}
