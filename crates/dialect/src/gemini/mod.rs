//! Google Gemini (`generateContent`, `streamGenerateContent?alt=sse`, `batchEmbedContents`), as
//! the Gemini API and Vertex AI speak it: serde structs and their mapping to canonical. Sends
//! nothing, reads no config; the key header (`x-goog-api-key`) or OAuth token and the URL prefix
//! (`…/v1beta` or Vertex's `…/publishers/google`) belong to the gateway.
//!
//! Upstream facts that shape the mapping (protocols.md 3): roles are `user` and `model`; tool
//! results are `functionResponse` parts in a user turn, matched to calls by function *name*
//! (`functionCall.id` is usually absent, so call ids are made up here and names found from
//! them on the way back); `functionResponse.response` must be an object; there is no
//! tool-calls finish reason (a reply that calls functions finishes `STOP`); usage reports
//! thoughts apart from candidates; streams are whole `GenerateContentResponse` chunks with
//! running usage totals and end at connection close, with no end marker. Thought signatures
//! (opaque, required back on Gemini 3 for multi-turn function calling) travel in canonical as
//! a signed, empty `Part::Reasoning` right before the part they belong to.
//!
//! Decisions: `parallel_tool_calls` and `user` have no equivalent and are ignored (neither
//! changes what a correct answer is); `reasoning_effort` becomes a `thinkingBudget`
//! (minimal 0, low 1,024, medium 8,192, high and above 24,576), adaptive thinking the dynamic
//! budget -1; mid-conversation system messages join `systemInstruction` in order (Gemini has
//! no system turn); `cache_control` markers are left out and named by `dropped`; an image URL goes as `fileData` when its
//! type shows in the URL (the Gemini API takes only Files-API URIs there, Vertex any URL), and is
//! refused otherwise; another dialect's unmodelled fields and `Part::Raw` are refused by name.

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

/// The placeholder Google documents for a function call whose thought signature is unknown
/// (history written by a client that cannot keep signatures).
pub const SKIP_SIGNATURE: &str = "skip_thought_signature_validator";

/// The Gemini dialect.
pub struct Gemini;

impl Egress for Gemini {
    fn dialect(&self) -> Dialect {
        Dialect::Gemini
    }
    fn framing(&self) -> Framing {
        Framing::Sse
    }
    /// Relative to `https://generativelanguage.googleapis.com/v1beta` (or Vertex's
    /// `…/locations/{l}/publishers/google`).
    /// The model is escaped as one segment, so a name cannot add segments, a query or a
    /// different method after `:`.
    fn path(&self, model: &str, op: Operation) -> String {
        let model = crate::path::encode_path_segment(model);
        match op {
            Operation::Chat { stream: false } => format!("/models/{model}:generateContent"),
            Operation::Chat { stream: true } => format!("/models/{model}:streamGenerateContent?alt=sse"),
            Operation::Embeddings => format!("/models/{model}:batchEmbedContents"),
            Operation::CountTokens => format!("/models/{model}:countTokens"),
        }
    }
    /// The model is in the path; streaming is chosen by the path alone.
    fn encode_request(&self, req: &ChatRequest, _model: &str, _stream: bool) -> Result<Vec<u8>, EncodeError> {
        request::encode(req)
    }
    fn decode_response(&self, body: &[u8]) -> Result<ChatResponse, DecodeError> {
        response::decode(body)
    }
    fn stream_decoder(&self) -> Box<dyn StreamDecoder + Send> {
        Box::<stream::ChunkDecoder>::default()
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
    fn dropped(&self, req: &ChatRequest) -> Vec<String> {
        request::dropped(req)
    }
}
