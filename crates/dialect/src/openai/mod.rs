//! OpenAI Chat Completions and Embeddings: serde structs and their mapping to canonical, both as
//! ingress (what OpenAI SDK clients send us) and egress (how we talk to OpenAI and every
//! OpenAI-compatible server: Azure, xAI, Mistral, Groq, vLLM, llama.cpp, Ollama, ...).
//! Sends nothing, reads no config.
//!
//! Upstream limits worth knowing: `stop` takes at most 4 strings; `stream_options` is refused
//! without `stream: true`; reasoning models refuse `max_tokens` in favour of
//! `max_completion_tokens`; tool-call `arguments` is a JSON *string* that may be invalid JSON.

mod embeddings;
mod error;
mod request;
mod response;
mod stream;
mod wire;

#[cfg(test)]
mod tests;

use crate::error::parse_json;
use crate::{
    ChatRequest, ChatResponse, ClientFacingError, DecodeError, Dialect, Egress, EmbeddingRequest, EmbeddingResponse,
    EncodeError, Framing, Ingress, Operation, ResponseMeta, StreamDecoder, StreamEncoder, UpstreamErrorBody,
};

pub use error::error_type_for;

/// The OpenAI Chat Completions dialect.
pub struct OpenAi;

impl Ingress for OpenAi {
    fn decode_request(&self, body: &[u8]) -> Result<ChatRequest, DecodeError> {
        request::decode(body)
    }
    fn encode_response(&self, resp: &ChatResponse) -> Vec<u8> {
        response::encode(resp)
    }
    fn stream_encoder(&self, meta: &ResponseMeta) -> Box<dyn StreamEncoder + Send> {
        Box::new(stream::ChunkEncoder::new(meta.include_usage))
    }
    fn encode_error(&self, err: &ClientFacingError) -> (http::StatusCode, Vec<u8>) {
        error::encode(err)
    }
    fn decode_embedding_request(&self, body: &[u8]) -> Result<EmbeddingRequest, DecodeError> {
        embeddings::decode_request(body)
    }
    fn encode_embedding_response(&self, resp: &EmbeddingResponse) -> Vec<u8> {
        embeddings::encode_response(resp)
    }
}

impl Egress for OpenAi {
    fn dialect(&self) -> Dialect {
        Dialect::OpenaiChat
    }
    fn framing(&self) -> Framing {
        Framing::Sse
    }
    /// Chat Completions has no count-tokens endpoint (OpenAI counts input tokens only on its
    /// Responses API, which this dialect does not speak), so that path is empty: see
    /// [`Egress::path`].
    fn path(&self, _model: &str, op: Operation) -> String {
        match op {
            Operation::Chat { .. } => "/chat/completions".into(),
            Operation::Embeddings => "/embeddings".into(),
            Operation::CountTokens => String::new(),
        }
    }
    fn encode_request(&self, req: &ChatRequest, model: &str, stream: bool) -> Result<Vec<u8>, EncodeError> {
        request::encode(req, model, stream)
    }
    fn decode_response(&self, body: &[u8]) -> Result<ChatResponse, DecodeError> {
        response::decode(body)
    }
    fn stream_decoder(&self) -> Box<dyn StreamDecoder + Send> {
        Box::new(stream::ChunkDecoder::default())
    }
    fn decode_error(&self, status: http::StatusCode, body: &[u8]) -> UpstreamErrorBody {
        error::decode(status, body).bounded()
    }
    fn encode_embedding_request(&self, req: &EmbeddingRequest, model: &str) -> Result<Vec<u8>, EncodeError> {
        embeddings::encode_request(req, model)
    }
    fn decode_embedding_response(&self, body: &[u8]) -> Result<EmbeddingResponse, DecodeError> {
        embeddings::decode_response(body)
    }
}

/// The reply id as Chat Completions clients expect it: `chatcmpl-…`. An upstream's id in another shape keeps
/// its characters behind the prefix, so logs on both sides still match.
pub(crate) fn completion_id(upstream_id: &str) -> std::borrow::Cow<'_, str> {
    if upstream_id.starts_with("chatcmpl-") {
        std::borrow::Cow::Borrowed(upstream_id)
    } else {
        std::borrow::Cow::Owned(format!("chatcmpl-{upstream_id}"))
    }
}
