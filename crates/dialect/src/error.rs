//! Errors at the dialect boundary, and the dialect-neutral error a client is shown. Messages
//! may quote what a client or upstream sent (serde quotes the offending value, upstreams repeat
//! the model name); every such quote is cut to a bound here, so no error body grows with its
//! input.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// How much of one value a client sent an error message may repeat.
pub const MAX_ECHO_BYTES: usize = 512;

/// The longest message an error carries, its truncation marker aside.
pub const MAX_ERROR_MESSAGE_BYTES: usize = 2048;

/// The longest `param`, `code` or error type string an error carries, its marker aside.
pub const MAX_ERROR_FIELD_BYTES: usize = 256;

/// `s` cut to at most `max` bytes on a character boundary, with a marker saying how much went:
/// `…[truncated 1048576 bytes]`. Borrowed, unchanged, when it already fits.
pub fn truncate_for_echo(s: &str, max: usize) -> Cow<'_, str> {
    truncate_by(s, max, char::len_utf8)
}

/// Like [`truncate_for_echo`], but `max` bounds the text as written in a JSON string, where a
/// control character takes up to six bytes (`\u0000`): what an error body really costs.
pub(crate) fn truncate_for_json(s: &str, max: usize) -> Cow<'_, str> {
    truncate_by(s, max, json_len)
}

fn truncate_by(s: &str, max: usize, cost: impl Fn(char) -> usize) -> Cow<'_, str> {
    let mut used = 0;
    for (at, c) in s.char_indices() {
        used += cost(c);
        if used > max {
            return Cow::Owned(format!("{}…[truncated {} bytes]", &s[..at], s.len() - at));
        }
    }
    Cow::Borrowed(s)
}

/// Bytes `c` takes inside a JSON string.
fn json_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

/// serde's message for `e`, with the value it quotes cut to [`MAX_ECHO_BYTES`]. serde writes
/// `invalid type: string "…", expected a sequence at line 1 column 9`: the quoted value sits
/// before the last `, expected `, and what follows (what was wanted, and where) is kept.
pub(crate) fn json_error_message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    if full.len() <= MAX_ECHO_BYTES {
        return full;
    }
    match full.rfind(", expected ") {
        Some(at) => {
            let (quote, rest) = full.split_at(at);
            format!("{}{}", truncate_for_echo(quote, MAX_ECHO_BYTES), truncate_for_echo(rest, MAX_ECHO_BYTES))
        }
        None => truncate_for_echo(&full, MAX_ECHO_BYTES).into_owned(),
    }
}

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
    // One check of the whole body as UTF-8 costs less than serde_json checking every key and
    // string on its own; a body that fails it is read as bytes, for serde_json's own error.
    let parsed = match std::str::from_utf8(body) {
        Ok(text) => serde_json::from_str(text),
        Err(_) => serde_json::from_slice(body),
    };
    parsed.map_err(|e| match e.classify() {
        serde_json::error::Category::Data => DecodeError::invalid(json_error_message(&e), None),
        _ => DecodeError::Json(json_error_message(&e)),
    })
}

/// A stream that ended properly but carried neither content nor a finish reason: a broken
/// upstream, to fail over from rather than pass on as an empty success.
pub(crate) fn empty_stream() -> DecodeError {
    DecodeError::invalid("the upstream's stream ended without any content or finish reason", None)
}

impl DecodeError {
    /// The message and param are cut to [`MAX_ERROR_MESSAGE_BYTES`] and
    /// [`MAX_ERROR_FIELD_BYTES`]: they may quote what a client sent.
    pub fn invalid(message: impl Into<String>, param: impl Into<Option<String>>) -> Self {
        let message = bounded(message.into(), MAX_ERROR_MESSAGE_BYTES);
        let param = param.into().map(|p| bounded(p, MAX_ERROR_FIELD_BYTES));
        DecodeError::Invalid { message, param }
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
            DecodeError::Invalid { param, .. } => param.as_deref().map(|p| truncate_for_echo(p, MAX_ERROR_FIELD_BYTES)),
            _ => None,
        };
        let message = truncate_for_echo(&err.to_string(), MAX_ERROR_MESSAGE_BYTES).into_owned();
        let mut out = ClientFacingError::new(ErrorKind::InvalidRequest, message);
        out.param = param.map(Cow::into_owned);
        out
    }
}

impl From<EncodeError> for ClientFacingError {
    fn from(err: EncodeError) -> Self {
        // `field` can be a client's own key, carried in `extra`.
        let EncodeError::Unsupported { field, .. } = &err;
        let message = truncate_for_echo(&err.to_string(), MAX_ERROR_MESSAGE_BYTES).into_owned();
        ClientFacingError::new(ErrorKind::InvalidRequest, message)
            .with_param(truncate_for_echo(field, MAX_ERROR_FIELD_BYTES).into_owned())
    }
}

/// `s`, cut as [`truncate_for_echo`] cuts it, reusing the allocation when it fits.
fn bounded(s: String, max: usize) -> String {
    match truncate_for_echo(&s, max) {
        Cow::Borrowed(_) => s,
        Cow::Owned(cut) => cut,
    }
}

/// What an upstream said when it failed, read from its error body. Every dialect's
/// `decode_error` cuts its strings to [`MAX_ERROR_MESSAGE_BYTES`] and [`MAX_ERROR_FIELD_BYTES`]:
/// upstreams repeat what they were sent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpstreamErrorBody {
    pub message: String,
    /// The upstream's own error type string (`invalid_request_error`, `overloaded_error`, ...).
    pub error_type: Option<String>,
    pub code: Option<String>,
    pub param: Option<String>,
}

impl UpstreamErrorBody {
    /// The same body with each string cut to its bound.
    pub(crate) fn bounded(self) -> Self {
        let field = |f: Option<String>| f.map(|f| bounded(f, MAX_ERROR_FIELD_BYTES));
        UpstreamErrorBody {
            message: bounded(self.message, MAX_ERROR_MESSAGE_BYTES),
            error_type: field(self.error_type),
            code: field(self.code),
            param: field(self.param),
        }
    }
}

/// The message for an error body that names none (not JSON, or JSON without a message field):
/// the status and the body's first 200 characters, trimmed, so the operator still sees what
/// came back. The OpenAI, Anthropic and Bedrock `decode_error`s fall back to this (Gemini keeps
/// its own, longer cut of a body that is not in Google's shape).
pub(crate) fn fallback_message(status: http::StatusCode, body: &[u8]) -> String {
    let snippet: String = String::from_utf8_lossy(body).chars().take(200).collect();
    let snippet = snippet.trim();
    if snippet.is_empty() {
        format!("upstream answered {status}")
    } else {
        format!("upstream answered {status}: {snippet}")
    }
}

/// A client-facing error's strings cut to what an error body may carry, measured as written
/// in JSON. Every ingress's `encode_error` writes through this, whoever built the error.
pub(crate) struct BoundedError<'a> {
    pub message: Cow<'a, str>,
    pub param: Option<Cow<'a, str>>,
    pub code: Option<Cow<'a, str>>,
    pub upstream_type: Option<Cow<'a, str>>,
}

impl<'a> BoundedError<'a> {
    pub(crate) fn of(err: &'a ClientFacingError) -> Self {
        let field = |f: &'a Option<String>| f.as_deref().map(|f| truncate_for_json(f, MAX_ERROR_FIELD_BYTES));
        BoundedError {
            message: truncate_for_json(&err.message, MAX_ERROR_MESSAGE_BYTES),
            param: field(&err.param),
            code: field(&err.code),
            upstream_type: field(&err.upstream_type),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::Dialect;

    #[test]
    fn a_body_reads_the_same_as_text_or_as_bytes_and_invalid_utf8_is_a_json_error_with_its_place() {
        #[derive(Debug, PartialEq, serde::Deserialize)]
        struct Body {
            text: String,
            n: u32,
        }
        let read: Body = parse_json(r#"{"text": "caf\u00e9 😀 \"q\"", "n": 7, "more": [1]}"#.as_bytes()).unwrap();
        assert_eq!(read, Body { text: "café 😀 \"q\"".into(), n: 7 });
        match parse_json::<Body>(b"{\"text\": \"ok\xff\", \"n\": 1}") {
            Err(DecodeError::Json(message)) => assert!(message.contains("line 1 column 13"), "{message}"),
            other => panic!("{other:?}"),
        }
        match parse_json::<Body>(br#"{"text": "ok", "n": "seven"}"#) {
            Err(DecodeError::Invalid { message, .. }) => assert!(message.contains("invalid type"), "{message}"),
            other => panic!("{other:?}"),
        }
    }

    const MB: usize = 1024 * 1024;

    #[test]
    fn truncation_cuts_on_a_char_boundary_and_says_how_much_went() {
        assert_eq!(truncate_for_echo("short", 5), "short");
        assert!(matches!(truncate_for_echo("short", 5), Cow::Borrowed(_)));
        assert_eq!(truncate_for_echo("abcdef", 3), "abc…[truncated 3 bytes]");
        // `é` is two bytes: a cut inside it backs off to before it.
        assert_eq!(truncate_for_echo("aé", 2), "a…[truncated 2 bytes]");
        assert_eq!(truncate_for_echo("é", 0), "…[truncated 2 bytes]");
        let big = "x".repeat(MB);
        assert_eq!(truncate_for_echo(&big, 512), format!("{}…[truncated {} bytes]", "x".repeat(512), MB - 512));
        // Measured as JSON, a control character costs six bytes.
        assert_eq!(truncate_for_json("\u{1}\u{1}a", 12), "\u{1}\u{1}…[truncated 1 bytes]");
    }

    /// A 1 MB value where another type belongs, in each field a client can get wrong that way,
    /// and a 1 MB value in a field whose errors quote it.
    #[test]
    fn regression_wrong_typed_huge_values_are_not_echoed_whole() {
        let digits = "1".repeat(MB);
        let text = "y".repeat(MB);
        let user = json!([{"role": "user", "content": "hi"}]);
        let common = [
            format!(r#"{{"model": {digits}, "max_tokens": 5, "messages": {user}}}"#),
            format!(r#"{{"model": "m", "max_tokens": {digits}0, "messages": {user}}}"#),
            json!({"model": "m", "max_tokens": 5, "messages": text}).to_string(),
            json!({"model": [text], "max_tokens": 5, "messages": user}).to_string(),
            json!({"model": {text.clone(): text}, "max_tokens": 5, "messages": user}).to_string(),
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": text, "content": "hi"}]}).to_string(),
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": 5, "x": text}]}).to_string(),
        ];
        let openai_only = [
            json!({"model": "m", "messages": user, "tools": [{"type": text}]}).to_string(),
            json!({"model": "m", "messages": user, "stop": {text.clone(): 1}}).to_string(),
            json!({"model": "m", "messages": user, "reasoning_effort": [text]}).to_string(),
        ];
        let anthropic_only = [
            json!({"model": "m", "max_tokens": 5, "messages": user, "stop_sequences": text}).to_string(),
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": 7, "t": text}]}]})
                .to_string(),
            json!({"model": "m", "max_tokens": 5, "messages": user, "thinking": [text]}).to_string(),
        ];
        for (dialect, own) in [(Dialect::OpenaiChat, openai_only), (Dialect::Anthropic, anthropic_only)] {
            let Some(ingress) = dialect.ingress() else { unreachable!() };
            for body in common.iter().chain(&own) {
                let Err(err) = ingress.decode_request(body.as_bytes()) else {
                    unreachable!("{dialect:?} accepted {body:.80}")
                };
                let (status, out) = ingress.encode_error(&ClientFacingError::from(err));
                assert_eq!(status, http::StatusCode::BAD_REQUEST);
                assert!(out.len() < 4096, "{dialect:?}: a {} byte error body for {body:.80}", out.len());
                let v: serde_json::Value = serde_json::from_slice(&out).unwrap_or_default();
                assert!(v["error"]["message"].is_string(), "{dialect:?}: {v}");
            }
        }
    }

    #[test]
    fn regression_serde_messages_keep_what_was_expected_and_where() {
        let body = json!({"model": "m", "messages": "z".repeat(MB)}).to_string();
        let err = crate::Dialect::OpenaiChat.ingress().map(|i| i.decode_request(body.as_bytes()));
        let Some(Err(DecodeError::Invalid { message, .. })) = err else { unreachable!("{err:?}") };
        assert!(message.len() < 1200, "{}", message.len());
        assert!(message.starts_with("invalid type: string \"zzz"), "{message}");
        assert!(message.contains("[truncated "), "{message}");
        assert!(message.contains(", expected a sequence at line 1 column"), "{message}");
    }

    /// Errors the gateway builds itself ("The model `<30 MB name>` does not exist") and errors
    /// an upstream sent are cut when written, in both client dialects.
    #[test]
    fn regression_every_error_body_is_bounded() {
        let name = "n\u{0}\"".repeat(MB);
        let err = ClientFacingError::new(ErrorKind::NotFound, format!("The model `{name}` does not exist"))
            .with_param(name.clone())
            .with_code(name.clone());
        let mut same_dialect = err.clone();
        same_dialect.upstream_type = Some(name.clone());
        for dialect in [Dialect::OpenaiChat, Dialect::OpenaiResponses, Dialect::Anthropic] {
            let Some(ingress) = dialect.ingress() else { unreachable!() };
            for err in [&err, &same_dialect] {
                let (_, out) = ingress.encode_error(err);
                assert!(out.len() < 4096, "{dialect:?}: {} bytes", out.len());
            }
        }
        let upstream = json!({"error": {"message": name, "type": name, "code": name, "param": name}}).to_string();
        for dialect in [
            Dialect::OpenaiChat,
            Dialect::OpenaiResponses,
            Dialect::Anthropic,
            Dialect::AnthropicVertex,
            Dialect::Gemini,
            Dialect::Bedrock,
        ] {
            let got = dialect.egress().decode_error(http::StatusCode::NOT_FOUND, upstream.as_bytes());
            assert!(got.message.len() <= MAX_ERROR_MESSAGE_BYTES + 40, "{dialect:?}");
            for field in [&got.error_type, &got.code, &got.param].into_iter().flatten() {
                assert!(field.len() <= MAX_ERROR_FIELD_BYTES + 40, "{dialect:?}");
            }
        }
        let encode = EncodeError::Unsupported { field: name.clone(), target: "X", reason: name.clone() };
        let from = ClientFacingError::from(encode);
        assert!(from.message.len() <= MAX_ERROR_MESSAGE_BYTES + 40);
        assert!(from.param.map_or(0, |p| p.len()) <= MAX_ERROR_FIELD_BYTES + 40);
    }

    #[test]
    fn regression_in_stream_error_events_are_bounded() {
        let event = crate::StreamEvent::Error {
            error: crate::StreamError { kind: ErrorKind::Upstream, message: "\u{1}".repeat(MB) },
        };
        for dialect in [Dialect::OpenaiChat, Dialect::OpenaiResponses, Dialect::Anthropic] {
            let Some(ingress) = dialect.ingress() else { unreachable!() };
            let mut enc = ingress.stream_encoder(&crate::ResponseMeta::default());
            let mut out = Vec::new();
            enc.encode(&event, &mut out);
            assert!(out.len() < 4096, "{dialect:?}: {} bytes", out.len());
        }
    }
}
