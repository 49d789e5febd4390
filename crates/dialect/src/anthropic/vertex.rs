//! Anthropic models on Google Vertex AI: the Messages wire, with the model in the URL
//! (`…/publishers/anthropic/models/{model}:rawPredict` or `:streamRawPredict`), no `model` in the
//! body, and `anthropic_version: "vertex-2023-10-16"` instead of the header. Counting tokens is
//! the exception: one URL (`…/models/count-tokens:rawPredict`), the model in the body. Replies
//! and streams are native Anthropic; platform errors (auth, quota) come in Google's error shape,
//! read by [`crate::google`].

use serde_json::Value;

use super::error::error_type_for;
use super::Anthropic;
use crate::google;
use crate::{
    ChatRequest, ChatResponse, DecodeError, Dialect, Egress, EmbeddingRequest, EmbeddingResponse, EncodeError, Framing,
    Operation, StreamDecoder, UpstreamErrorBody,
};

/// The body-level API version Vertex requires for Anthropic models.
pub const VERTEX_ANTHROPIC_VERSION: &str = "vertex-2023-10-16";

pub struct AnthropicVertex;

impl Egress for AnthropicVertex {
    fn dialect(&self) -> Dialect {
        Dialect::AnthropicVertex
    }
    fn framing(&self) -> Framing {
        Framing::Sse
    }
    /// Relative to `…/v1/projects/{project}/locations/{location}`. The model is escaped as one
    /// segment, except for the `@` of Vertex's versioned ids (`claude-…@20250929`), which Google
    /// documents unescaped and which means nothing special in a path. Counting tokens has one
    /// endpoint for every Claude model, `count-tokens:rawPredict`; the model then goes in the
    /// body's `model`, as on Anthropic's own API. Embeddings never get here: the request
    /// encoder refuses them first.
    fn path(&self, model: &str, op: Operation) -> String {
        let method = match op {
            Operation::Chat { stream: true } => "streamRawPredict",
            Operation::Chat { stream: false } | Operation::Embeddings => "rawPredict",
            Operation::CountTokens => return "/publishers/anthropic/models/count-tokens:rawPredict".into(),
        };
        let model = crate::path::encode_segment(model, b"@");
        format!("/publishers/anthropic/models/{model}:{method}")
    }
    fn encode_request(&self, req: &ChatRequest, model: &str, stream: bool) -> Result<Vec<u8>, EncodeError> {
        let body = super::request::encode(req, model, stream, super::request::Target::Vertex)?;
        let Ok(Value::Object(mut obj)) = serde_json::from_slice::<Value>(&body) else {
            return Ok(body); // unreachable: the encoder writes an object
        };
        obj.remove("model");
        obj.insert("anthropic_version".into(), Value::String(VERTEX_ANTHROPIC_VERSION.into()));
        Ok(crate::json::to_body(&obj).unwrap_or(body))
    }
    fn decode_response(&self, body: &[u8]) -> Result<ChatResponse, DecodeError> {
        Anthropic.decode_response(body)
    }
    fn stream_decoder(&self) -> Box<dyn StreamDecoder + Send> {
        Anthropic.stream_decoder()
    }
    fn decode_error(&self, status: http::StatusCode, body: &[u8]) -> UpstreamErrorBody {
        google_error(body).map(UpstreamErrorBody::bounded).unwrap_or_else(|| Anthropic.decode_error(status, body))
    }
    fn encode_embedding_request(&self, req: &EmbeddingRequest, model: &str) -> Result<Vec<u8>, EncodeError> {
        Anthropic.encode_embedding_request(req, model)
    }
    fn decode_embedding_response(&self, body: &[u8]) -> Result<EmbeddingResponse, DecodeError> {
        Anthropic.decode_embedding_response(body)
    }
}

/// Vertex's platform error ([`google::Status`]) as an Anthropic error: the Anthropic type for
/// its status name's kind, the status name as the code. None when the body names no Google
/// status (then it is Anthropic's own, whose `error` has a `type` but no `status`).
fn google_error(body: &[u8]) -> Option<UpstreamErrorBody> {
    let err = google::Status::read(body)?;
    let status = err.status?;
    let error_type = error_type_for(google::status_kind(&status));
    let message = err.message.unwrap_or_else(|| status.clone());
    Some(UpstreamErrorBody { message, error_type: Some(error_type.into()), code: Some(status), param: None })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Message, Part, Role};

    fn request() -> ChatRequest {
        ChatRequest {
            model: "claude".into(),
            system: vec![Part::text("Be brief.")],
            messages: vec![Message {
                role: Role::User,
                content: vec![Part::text("Hi")],
                name: None,
                content_was_string: true,
            }],
            max_tokens: Some(100),
            ..Default::default()
        }
    }

    #[test]
    fn the_body_has_no_model_and_carries_the_vertex_version() {
        let body: Value = serde_json::from_slice(
            &AnthropicVertex.encode_request(&request(), "claude-sonnet-4-5@20250929", true).unwrap(),
        )
        .unwrap();
        assert!(body.get("model").is_none(), "{body}");
        assert_eq!(body["anthropic_version"], VERTEX_ANTHROPIC_VERSION);
        assert_eq!(body["stream"], true);
        assert_eq!(body["max_tokens"], 100);
        assert_eq!(body["system"], "Be brief.");
    }

    #[test]
    fn paths_name_the_model_and_the_method() {
        let m = "claude-sonnet-4-5@20250929";
        assert_eq!(
            AnthropicVertex.path(m, Operation::Chat { stream: false }),
            "/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict"
        );
        assert_eq!(
            AnthropicVertex.path(m, Operation::Chat { stream: true }),
            "/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict"
        );
        // One endpoint for every Claude model; the model travels in the body.
        for m in [m, "gem/../../admin/delete?x="] {
            assert_eq!(
                AnthropicVertex.path(m, Operation::CountTokens),
                "/publishers/anthropic/models/count-tokens:rawPredict"
            );
        }
    }

    #[test]
    fn a_google_platform_error_in_a_one_element_array_is_read_too() {
        let google = br#"[{"error":{"code":403,"message":"Permission denied on resource project p.","status":"PERMISSION_DENIED"}}]"#;
        let e = AnthropicVertex.decode_error(http::StatusCode::FORBIDDEN, google);
        assert_eq!(e.error_type.as_deref(), Some("permission_error"));
        assert_eq!(e.code.as_deref(), Some("PERMISSION_DENIED"));
        assert_eq!(e.message, "Permission denied on resource project p.");
    }

    #[test]
    fn google_platform_errors_and_anthropic_model_errors_both_decode() {
        let google = br#"{"error":{"code":429,"message":"Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model","status":"RESOURCE_EXHAUSTED"}}"#;
        let e = AnthropicVertex.decode_error(http::StatusCode::TOO_MANY_REQUESTS, google);
        assert_eq!(e.error_type.as_deref(), Some("rate_limit_error"));
        assert!(e.message.starts_with("Quota exceeded"));
        let anthropic = br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_vrtx_011"}"#;
        let e = AnthropicVertex.decode_error(http::StatusCode::from_u16(529).unwrap(), anthropic);
        assert_eq!(e.error_type.as_deref(), Some("overloaded_error"));
        assert_eq!(e.message, "Overloaded");
    }

    /// The model went into the URL unescaped, so a name could climb out of `/models/` and add
    /// a query.
    #[test]
    fn regression_a_model_name_cannot_leave_its_path_segment() {
        let path = AnthropicVertex.path("gem/../../admin/delete?x=", Operation::Chat { stream: true });
        assert_eq!(path, "/publishers/anthropic/models/gem%2F..%2F..%2Fadmin%2Fdelete%3Fx%3D:streamRawPredict");
        assert!(!path.contains('?') && !path.contains("/../"));
        assert_eq!(
            AnthropicVertex.path("claude:streamRawPredict#", Operation::Chat { stream: false }),
            "/publishers/anthropic/models/claude%3AstreamRawPredict%23:rawPredict"
        );
    }
}
