//! The errors of the upstream boundary, with their classification, and the reply a client
//! gets for any failure.

use std::sync::Arc;

use dialect::{ClientFacingError, Dialect, EncodeError, ErrorKind, UpstreamErrorBody};
use http::{HeaderName, HeaderValue, StatusCode};

use crate::telemetry::Outcome;

/// Headers of an upstream error reply that a client's retry logic reads.
pub const PASSTHROUGH_ERROR_HEADERS: [&str; 9] = [
    "retry-after",
    "retry-after-ms",
    "x-should-retry",
    "x-ratelimit-limit-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-requests",
    "x-ratelimit-reset-tokens",
];

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("could not connect to `{provider}`: {detail}")]
    Connect { provider: Arc<str>, detail: String },
    #[error("`{provider}` did not answer in time")]
    Timeout { provider: Arc<str> },
    #[error("`{provider}` answered {status}: {}", body.message)]
    Status {
        provider: Arc<str>,
        dialect: Dialect,
        status: StatusCode,
        body: UpstreamErrorBody,
        headers: Vec<(HeaderName, HeaderValue)>,
    },
    #[error("`{provider}` sent a response that could not be read: {detail}")]
    BadResponse { provider: Arc<str>, detail: String },
    #[error("`{provider}` broke off its stream before the first event: {detail}")]
    StreamBroken { provider: Arc<str>, detail: String },
    #[error("could not get credentials for `{provider}`: {detail}")]
    Credentials { provider: Arc<str>, detail: String },
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error("the gateway shut down while `{provider}` was answering")]
    Shutdown { provider: Arc<str> },
}

impl UpstreamError {
    /// Whether the next candidate may be tried. A request the upstream refused as invalid
    /// would be refused everywhere; an outage or a rate limit is local to one upstream.
    pub fn retryable(&self) -> bool {
        match self {
            Self::Connect { .. }
            | Self::Timeout { .. }
            | Self::BadResponse { .. }
            | Self::StreamBroken { .. }
            | Self::Credentials { .. } => true,
            Self::Status { status, .. } => {
                status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS || status.as_u16() == 408
            }
            // Another candidate may speak a dialect that can express the request.
            Self::Encode(_) => true,
            Self::Shutdown { .. } => false,
        }
    }

    pub fn outcome(&self) -> Outcome {
        match self {
            Self::Connect { .. } | Self::Credentials { .. } => Outcome::ConnectError,
            Self::Timeout { .. } => Outcome::Timeout,
            Self::Status { .. } | Self::Encode(_) => Outcome::UpstreamError,
            Self::BadResponse { .. } => Outcome::BadResponse,
            Self::StreamBroken { .. } => Outcome::StreamBroken,
            Self::Shutdown { .. } => Outcome::Shutdown,
        }
    }

    /// What the client is told. Same-dialect errors keep the upstream's own type and code.
    pub fn into_reply(self, ingress: Dialect) -> ErrorReply {
        match self {
            Self::Status { dialect, status, body, headers, .. } => {
                let mut err = ClientFacingError::new(ErrorKind::from_status(status), body.message).with_status(status);
                err.param = body.param;
                err.code = body.code;
                if dialect.wire_family() == ingress.wire_family() {
                    err.upstream_type = body.error_type;
                }
                ErrorReply { error: err, headers }
            }
            Self::Encode(e) => ErrorReply::from(ClientFacingError::from(e)),
            other @ (Self::Connect { .. }
            | Self::BadResponse { .. }
            | Self::StreamBroken { .. }
            | Self::Credentials { .. }) => {
                ErrorReply::from(ClientFacingError::new(ErrorKind::Upstream, other.to_string()))
            }
            other @ Self::Timeout { .. } => {
                ErrorReply::from(ClientFacingError::new(ErrorKind::Timeout, other.to_string()))
            }
            Self::Shutdown { .. } => ErrorReply::from(ClientFacingError::new(
                ErrorKind::Overloaded,
                "The gateway is shutting down; retry the request.",
            )),
        }
    }
}

/// An error on its way to a client, with any headers it carries (Retry-After, ...).
#[derive(Debug)]
pub struct ErrorReply {
    pub error: ClientFacingError,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl From<ClientFacingError> for ErrorReply {
    fn from(error: ClientFacingError) -> Self {
        ErrorReply { error, headers: Vec::new() }
    }
}

/// Removes a provider credential from text that is about to leave the gateway.
pub fn redact(text: &mut String, secret: &str) {
    if secret.len() >= 8 && text.contains(secret) {
        *text = text.replace(secret, "***");
    }
}
