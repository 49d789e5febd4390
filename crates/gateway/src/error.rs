//! The errors of the upstream boundary, with their classification, and the reply a client
//! gets for any failure.

use std::sync::Arc;

use dialect::{ClientFacingError, Dialect, EncodeError, ErrorKind, UpstreamErrorBody};
use http::{HeaderName, HeaderValue, StatusCode};

use crate::telemetry::Outcome;
use crate::upstream::auth::CredentialError;
use crate::upstream::events::StreamFailure;

/// Why a whole (unstreamed) reply could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BadReply {
    #[error("the reply is larger than the gateway accepts ({cap} bytes)")]
    TooLarge { cap: usize },
    #[error(transparent)]
    Decode(#[from] dialect::DecodeError),
}

/// An error and its sources, joined with `: ` — what a client or a log line is told.
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

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
    #[error("could not connect to `{provider}`")]
    Connect {
        provider: Arc<str>,
        #[source]
        source: crate::upstream::client::BoxError,
    },
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
    #[error("`{provider}` sent a response that could not be read")]
    BadResponse {
        provider: Arc<str>,
        #[source]
        source: BadReply,
    },
    #[error("`{provider}` broke off its stream before the first event")]
    StreamBroken {
        provider: Arc<str>,
        #[source]
        source: StreamFailure,
    },
    #[error("could not get credentials for `{provider}`")]
    Credentials {
        provider: Arc<str>,
        #[source]
        source: CredentialError,
    },
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
            Self::Status { .. } => Outcome::UpstreamError,
            Self::Encode(_) => Outcome::Refused,
            Self::BadResponse { .. } => Outcome::BadResponse,
            Self::StreamBroken { .. } => Outcome::StreamBroken,
            Self::Shutdown { .. } => Outcome::Shutdown,
        }
    }

    /// The status to record for a failed attempt, or None when it never reached the provider.
    pub fn reached_status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(status.as_u16()),
            Self::Timeout { .. } => Some(504),
            Self::Shutdown { .. } => Some(503),
            Self::BadResponse { .. } | Self::StreamBroken { .. } => Some(502),
            Self::Connect { .. } | Self::Credentials { .. } | Self::Encode(_) => None,
        }
    }

    /// What the client is told. The upstream's own error type travels with its dialect, so
    /// a client of the same dialect can be shown it (see [`ErrorReply::for_ingress`]).
    pub fn into_reply(self) -> ErrorReply {
        match self {
            Self::Status { dialect, status, body, headers, .. } => {
                let mut err = ClientFacingError::new(ErrorKind::from_status(status), body.message).with_status(status);
                err.param = body.param;
                err.code = body.code;
                err.upstream_type = body.error_type;
                ErrorReply { error: err, headers, upstream: Some(dialect) }
            }
            Self::Encode(e) => ErrorReply::from(ClientFacingError::from(e)),
            other @ (Self::Connect { .. }
            | Self::BadResponse { .. }
            | Self::StreamBroken { .. }
            | Self::Credentials { .. }) => ErrorReply::from(ClientFacingError::new(ErrorKind::Upstream, chain(&other))),
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
    /// The dialect of the upstream whose error this is; None: the gateway's own.
    pub upstream: Option<Dialect>,
}

impl ErrorReply {
    /// The error as a client of `ingress` sees it: an upstream's own error type only when the
    /// client speaks that upstream's dialect.
    pub fn for_ingress(mut self, ingress: Dialect) -> ErrorReply {
        if self.upstream.is_none_or(|d| d.wire_family() != ingress.wire_family()) {
            self.error.upstream_type = None;
        }
        self
    }
}

impl From<ClientFacingError> for ErrorReply {
    fn from(error: ClientFacingError) -> Self {
        ErrorReply { error, headers: Vec::new(), upstream: None }
    }
}

/// Removes a provider credential from text that is about to leave the gateway.
pub fn redact(text: &mut String, secret: &str) {
    if secret.len() >= 8 && text.contains(secret) {
        *text = text.replace(secret, "***");
    }
}

/// Client input as quoted in an error message: whole when short, else its start and how much
/// was left out, so an error is never larger than a few hundred bytes of what was sent.
pub fn echo(input: &str) -> std::borrow::Cow<'_, str> {
    dialect::truncate_for_echo(input, ECHO_MAX)
}

/// Most bytes of client input quoted back in an error message.
pub const ECHO_MAX: usize = 200;
