//! AWS Bedrock Runtime as an egress: Converse / ConverseStream for chat and InvokeModel with
//! the model's native body for embeddings (Titan, Cohere). Serde structs and their mapping to
//! canonical; sends nothing, reads no config. SigV4 or bearer signing, the region's host and the
//! `x-amzn-ErrorType` header belong to the gateway.
//!
//! Upstream limits worth knowing (protocols.md 5): the model id travels in the path, percent-
//! encoded as one segment (`:` → `%3A`, `/` → `%2F`); a conversation must start with a user turn
//! and alternate, so same-role neighbours are merged here; `inferenceConfig` holds only
//! `maxTokens`, `temperature`, `topP` and `stopSequences`, everything else is model-native and
//! goes to `additionalModelRequestFields`; images are bytes only (no URLs); `toolChoice` has no
//! "none", yet a conversation carrying `toolUse`/`toolResult` blocks must send a `toolConfig`;
//! there is one choice, no seed, no log-probabilities and no penalties. Streams are
//! `application/vnd.amazon.eventstream` ([`Framing::EventStream`]). Responses name neither an
//! id nor the model: both stay empty for the gateway to fill in.
//!
//! Known gaps: streamed `redactedContent` and citations have no canonical stream event and are
//! dropped; documents, video, audio and S3 sources are not produced (canonical has no shape for
//! them); embeddings are returned as floats whatever `encoding_format` asked.

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
    ChatRequest, ChatResponse, DecodeError, Dialect, Egress, EmbeddingRequest, EmbeddingResponse, EncodeError, Framing,
    Operation, StreamDecoder, UpstreamErrorBody,
};

/// Kept here too: this is where the helper was first public.
pub use crate::path::encode_path_segment;
pub use error::kind_for;

/// The Bedrock Converse dialect.
pub struct Bedrock;

impl Egress for Bedrock {
    fn dialect(&self) -> Dialect {
        Dialect::Bedrock
    }
    fn framing(&self) -> Framing {
        Framing::EventStream
    }
    /// The base URL is the regional endpoint, `https://bedrock-runtime.{region}.amazonaws.com`.
    fn path(&self, model: &str, op: Operation) -> String {
        let model = encode_path_segment(model);
        match op {
            Operation::Chat { stream: false } => format!("/model/{model}/converse"),
            Operation::Chat { stream: true } => format!("/model/{model}/converse-stream"),
            Operation::Embeddings => format!("/model/{model}/invoke"),
            Operation::CountTokens => format!("/model/{model}/count-tokens"),
        }
    }
    /// Converse and ConverseStream take the same body; the path alone says which is meant.
    fn encode_request(&self, req: &ChatRequest, model: &str, _stream: bool) -> Result<Vec<u8>, EncodeError> {
        request::encode(req, model)
    }
    fn decode_response(&self, body: &[u8]) -> Result<ChatResponse, DecodeError> {
        response::decode(body)
    }
    fn stream_decoder(&self) -> Box<dyn StreamDecoder + Send> {
        Box::new(stream::ConverseStreamDecoder::default())
    }
    fn decode_error(&self, status: http::StatusCode, body: &[u8]) -> UpstreamErrorBody {
        error::decode(status, body).bounded()
    }
    fn encode_embedding_request(&self, req: &EmbeddingRequest, model: &str) -> Result<Vec<u8>, EncodeError> {
        embeddings::encode(req, model)
    }
    fn decode_embedding_response(&self, body: &[u8]) -> Result<EmbeddingResponse, DecodeError> {
        embeddings::decode(body)
    }
    /// Another dialect's hints, except the cache markers on blocks and tools, which become
    /// `cachePoint`s; a top-level `cache_control` (Anthropic's automatic caching) has no
    /// Converse form and is dropped.
    fn dropped(&self, req: &ChatRequest) -> Vec<String> {
        let mut out = req.hint_paths.clone();
        if !req.hints.contains_key("cache_control") {
            out.retain(|p| p != "cache_control");
        }
        out
    }
}

const TARGET: &str = "Bedrock Converse";

fn unsupported(field: impl Into<String>, reason: &str) -> EncodeError {
    EncodeError::Unsupported { field: field.into(), target: TARGET, reason: reason.to_owned() }
}
