//! Anthropic Messages: serde structs and their mapping to canonical, both as ingress (what
//! Anthropic SDK clients send to `POST /v1/messages`) and egress (how we talk to
//! api.anthropic.com). Sends nothing, reads no config; headers (`x-api-key`,
//! `anthropic-version`, `anthropic-beta`) and URLs belong to the gateway.
//!
//! Upstream limits worth knowing: `max_tokens` is required (we default it to
//! [`DEFAULT_MAX_TOKENS`] when a client of another dialect set no cap); `temperature` is 0–1;
//! a thinking budget must be at least 1024 and below `max_tokens`, and thinking refuses forced
//! tool use and a modified `temperature`/`top_k`; signed `thinking`/`redacted_thinking` blocks
//! must be sent back unchanged in tool loops; tool input is a JSON *object*; every `tool_use`
//! needs its `tool_result` first in the next user turn. There is no `n`, `seed`, `logprobs`,
//! penalty or embeddings API.
//!
//! Known gaps, because canonical stream events have no slot for them: a streamed
//! `redacted_thinking` block, server-tool blocks and citations are not carried through a stream
//! (non-streamed replies keep server-tool blocks as `Part::Raw`).

mod error;
mod request;
mod response;
mod stream;
mod vertex;
mod wire;

#[cfg(test)]
mod tests;

use crate::error::parse_json;
use crate::{
    ChatRequest, ChatResponse, ClientFacingError, DecodeError, Dialect, Egress, EmbeddingRequest, EmbeddingResponse,
    EncodeError, Framing, Ingress, Operation, ResponseMeta, StreamDecoder, StreamEncoder, UpstreamErrorBody,
};

pub use error::{error_type_for, status_for};
pub use vertex::{AnthropicVertex, VERTEX_ANTHROPIC_VERSION};

/// Kept here for callers of this path; the mapping belongs to Google's error body, shared by
/// Gemini and Vertex.
pub use crate::google::status_kind as google_status_kind;

/// Claude's own limits, kept at this path for its callers (Bedrock serves Claude too, so they
/// live with the model family, not with Anthropic's wire).
pub use crate::claude::{DEFAULT_MAX_TOKENS, MIN_THINKING_BUDGET};

/// The Anthropic Messages dialect.
pub struct Anthropic;

impl Ingress for Anthropic {
    fn decode_request(&self, body: &[u8]) -> Result<ChatRequest, DecodeError> {
        request::decode(body)
    }
    fn encode_response(&self, resp: &ChatResponse) -> Vec<u8> {
        response::encode(resp)
    }
    fn stream_encoder(&self, _meta: &ResponseMeta) -> Box<dyn StreamEncoder + Send> {
        // Anthropic streams always carry usage, so `include_usage` does not apply.
        Box::new(stream::EventEncoder::default())
    }
    fn encode_error(&self, err: &ClientFacingError) -> (http::StatusCode, Vec<u8>) {
        error::encode(err)
    }
    /// Anthropic has no embeddings API, so there is no Anthropic-shaped embeddings request.
    fn decode_embedding_request(&self, _body: &[u8]) -> Result<EmbeddingRequest, DecodeError> {
        Err(DecodeError::invalid("the Anthropic API has no embeddings endpoint", None))
    }
    /// Never reached (no request decodes); empty.
    fn encode_embedding_response(&self, _resp: &EmbeddingResponse) -> Vec<u8> {
        Vec::new()
    }
}

impl Egress for Anthropic {
    fn dialect(&self) -> Dialect {
        Dialect::Anthropic
    }
    fn framing(&self) -> Framing {
        Framing::Sse
    }
    /// The base URL has no `/v1`, as the Anthropic SDKs write it. Embeddings never get here:
    /// the request encoder refuses them first.
    fn path(&self, _model: &str, op: Operation) -> String {
        match op {
            Operation::Chat { .. } | Operation::Embeddings => "/v1/messages".into(),
            Operation::CountTokens => "/v1/messages/count_tokens".into(),
        }
    }
    fn encode_request(&self, req: &ChatRequest, model: &str, stream: bool) -> Result<Vec<u8>, EncodeError> {
        request::encode(req, model, stream, request::Target::Anthropic)
    }
    fn decode_response(&self, body: &[u8]) -> Result<ChatResponse, DecodeError> {
        response::decode(body)
    }
    fn stream_decoder(&self) -> Box<dyn StreamDecoder + Send> {
        Box::new(stream::EventDecoder::default())
    }
    fn decode_error(&self, status: http::StatusCode, body: &[u8]) -> UpstreamErrorBody {
        error::decode(status, body).bounded()
    }
    fn encode_embedding_request(&self, _req: &EmbeddingRequest, _model: &str) -> Result<Vec<u8>, EncodeError> {
        Err(EncodeError::Unsupported {
            field: "embeddings".into(),
            target: "Anthropic",
            reason: "the Anthropic API has no embeddings endpoint".into(),
        })
    }
    fn decode_embedding_response(&self, _body: &[u8]) -> Result<EmbeddingResponse, DecodeError> {
        Err(DecodeError::invalid("the Anthropic API has no embeddings endpoint", None))
    }
}

/// The reply id as Messages clients expect it: `msg_…`. An upstream's id in another shape keeps
/// its characters behind the prefix, so logs on both sides still match.
pub(crate) fn message_id(upstream_id: &str) -> std::borrow::Cow<'_, str> {
    if upstream_id.starts_with("msg_") {
        std::borrow::Cow::Borrowed(upstream_id)
    } else {
        std::borrow::Cow::Owned(format!("msg_{upstream_id}"))
    }
}
