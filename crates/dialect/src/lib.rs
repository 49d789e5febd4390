//! Switchyard's dialects: the canonical types ([`canonical`]), each provider's wire format and its
//! mapping to canonical, the framing those wires use (SSE, AWS event stream), and the escaping
//! of model ids into URL paths ([`path`]). What several dialects share without belonging to one
//! vendor has its own module (`google`: Google Cloud's error body; `claude`: Claude's limits
//! wherever it is served), so no vendor folder imports another. Pure: no I/O, no config, no
//! runtime.

#![forbid(unsafe_code)]

pub mod anthropic;
pub mod assemble;
pub mod bedrock;
pub mod canonical;
mod claude;
pub mod error;
pub mod framing;
pub mod gemini;
mod google;
mod json;
pub mod openai;
pub mod path;
pub mod replay;
pub mod responses;
#[cfg(test)]
mod test_fixtures;

use serde::{Deserialize, Serialize};

pub use assemble::ReplyAssembler;
pub use canonical::*;
pub use error::{
    truncate_for_echo, ClientFacingError, DecodeError, EncodeError, ErrorKind, UpstreamErrorBody, MAX_ECHO_BYTES,
    MAX_ERROR_FIELD_BYTES, MAX_ERROR_MESSAGE_BYTES,
};
pub use framing::{Frame, Framing};
pub use path::{check_model_id, encode_path_segment, MAX_MODEL_ID_BYTES};
pub use replay::replay;

/// The wire formats Switchyard speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dialect {
    /// OpenAI Chat Completions, also spoken by every OpenAI-compatible server.
    OpenaiChat,
    /// The OpenAI Responses API (`POST /v1/responses`), spoken by OpenAI and Azure OpenAI.
    OpenaiResponses,
    /// Anthropic Messages (`POST /v1/messages`).
    Anthropic,
    /// Anthropic Messages on Google Vertex AI (`rawPredict`), egress only.
    AnthropicVertex,
    /// AWS Bedrock Runtime Converse (`POST /model/{model}/converse`); egress only.
    Bedrock,
    /// Google Gemini `generateContent` (Gemini API and Vertex AI); egress only.
    Gemini,
}

impl Dialect {
    pub fn egress(self) -> &'static dyn Egress {
        match self {
            Dialect::OpenaiChat => &openai::OpenAi,
            Dialect::OpenaiResponses => &responses::Responses,
            Dialect::Anthropic => &anthropic::Anthropic,
            Dialect::AnthropicVertex => &anthropic::AnthropicVertex,
            Dialect::Bedrock => &bedrock::Bedrock,
            Dialect::Gemini => &gemini::Gemini,
        }
    }

    pub fn ingress(self) -> Option<&'static dyn Ingress> {
        match self {
            Dialect::OpenaiChat => Some(&openai::OpenAi),
            Dialect::OpenaiResponses => Some(&responses::Responses),
            Dialect::Anthropic => Some(&anthropic::Anthropic),
            Dialect::AnthropicVertex | Dialect::Bedrock | Dialect::Gemini => None,
        }
    }

    /// The dialect whose error and reply shapes this one shares (a cloud's variant of a
    /// vendor's API answers in the vendor's shapes).
    pub fn wire_family(self) -> Dialect {
        match self {
            Dialect::AnthropicVertex => Dialect::Anthropic,
            other => other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::OpenaiChat => "openai_chat",
            Dialect::OpenaiResponses => "openai_responses",
            Dialect::Anthropic => "anthropic",
            Dialect::AnthropicVertex => "anthropic_vertex",
            Dialect::Bedrock => "bedrock",
            Dialect::Gemini => "gemini",
        }
    }
}

/// What an ingress needs besides the reply itself to write it.
#[derive(Debug, Clone, Default)]
pub struct ResponseMeta {
    /// Whether the client asked for a usage event at the end of its stream.
    pub include_usage: bool,
    /// The id the gateway gave the reply (the Responses API's `resp_…`, under which it is
    /// stored). None: the encoder uses the upstream's id.
    pub response_id: Option<String>,
    /// Request fields a reply object repeats back (the Responses API's `instructions`, `tools`,
    /// `temperature`, `previous_response_id`, ...), as the client's own dialect spells them.
    pub echo: serde_json::Map<String, serde_json::Value>,
    /// The dialect of the upstream that answered (the Responses API tags the reasoning it
    /// returns with it, see [`ChatRequest::reasoning_origin`]).
    pub upstream: Option<Dialect>,
}

/// What clients speak to us.
pub trait Ingress: Sync {
    fn decode_request(&self, body: &[u8]) -> Result<ChatRequest, DecodeError>;
    fn encode_response(&self, resp: &ChatResponse) -> Vec<u8>;
    /// The reply with what only the gateway knows (its id for the reply, request fields to
    /// repeat). Dialects whose replies repeat nothing of the request need not override it.
    fn encode_response_with(&self, resp: &ChatResponse, _meta: &ResponseMeta) -> Vec<u8> {
        self.encode_response(resp)
    }
    fn stream_encoder(&self, meta: &ResponseMeta) -> Box<dyn StreamEncoder + Send>;
    fn encode_error(&self, err: &ClientFacingError) -> (http::StatusCode, Vec<u8>);
    fn decode_embedding_request(&self, body: &[u8]) -> Result<EmbeddingRequest, DecodeError>;
    fn encode_embedding_response(&self, resp: &EmbeddingResponse) -> Vec<u8>;
}

/// What a request to an upstream asks for; the dialect turns it into a URL path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Chat {
        stream: bool,
    },
    Embeddings,
    /// Count a request's input tokens without running the model. The body is the provider's
    /// own count-tokens body (Anthropic's `count_tokens`, Gemini's `countTokens`, Bedrock's
    /// `CountTokens` input); no `encode_*` method writes it. OpenAI Chat has no such endpoint,
    /// so its path is empty (see [`Egress::path`]).
    CountTokens,
}

/// What we speak to upstreams.
pub trait Egress: Sync {
    fn dialect(&self) -> Dialect;
    fn framing(&self) -> Framing;
    /// The path (and query, if any) appended to the provider's base URL. Some dialects put
    /// the model and the streaming choice in the URL rather than the body. Empty: the
    /// dialect's API has no endpoint for `op` and no encoder refuses it first
    /// ([`Operation::CountTokens`] on OpenAI Chat); such a request must not be sent, since the
    /// base URL alone names no operation.
    fn path(&self, model: &str, op: Operation) -> String;
    /// `model` is the upstream's own model id. A streamed request always asks the upstream
    /// for usage, whatever the client asked, so every stream can be billed.
    fn encode_request(&self, req: &ChatRequest, model: &str, stream: bool) -> Result<Vec<u8>, EncodeError>;
    fn decode_response(&self, body: &[u8]) -> Result<ChatResponse, DecodeError>;
    fn stream_decoder(&self) -> Box<dyn StreamDecoder + Send>;
    fn decode_error(&self, status: http::StatusCode, body: &[u8]) -> UpstreamErrorBody;
    fn encode_embedding_request(&self, req: &EmbeddingRequest, model: &str) -> Result<Vec<u8>, EncodeError>;
    fn decode_embedding_response(&self, body: &[u8]) -> Result<EmbeddingResponse, DecodeError>;
    /// The client's paths of what this egress leaves out of `req` without changing the answer
    /// (hints for another dialect's service), for the reply to name. Hints reach an egress of
    /// their own wire family; every other drops them all.
    fn dropped(&self, req: &ChatRequest) -> Vec<String> {
        match req.extra_dialect {
            Some(from) if from.wire_family() == self.dialect().wire_family() => Vec::new(),
            _ => req.hint_paths.clone(),
        }
    }
}

/// Sans-IO stream decoding: frames in, zero or more canonical events out.
pub trait StreamDecoder {
    fn feed(&mut self, frame: &Frame) -> Result<Vec<StreamEvent>, DecodeError>;
    /// The upstream closed its stream. Errors if it closed before the dialect's end marker.
    fn finish(&mut self) -> Result<Vec<StreamEvent>, DecodeError>;
}

/// Writes canonical events as the client's wire bytes.
pub trait StreamEncoder {
    fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>);
    /// The stream ended normally.
    fn finish(&mut self, out: &mut Vec<u8>);
    /// After `finish`: the whole reply as one object, for dialects whose replies can be
    /// retrieved later (the Responses API's stored `response`). None for the others.
    fn completed(&mut self) -> Option<serde_json::Value> {
        None
    }
}
