//! The OpenAI Responses API (`POST /v1/responses`): a third ingress dialect beside Chat
//! Completions and Anthropic Messages, and the egress Switchyard speaks to OpenAI and Azure
//! deployments when the client spoke it too, so nothing the client sent is lost on the way.
//! Sends nothing, reads no config, stores nothing: conversation state (`store`,
//! `previous_response_id`) is the gateway's; this module only decodes what the client sent and
//! hands back what the gateway needs to keep ([`request::Envelope`]).
//!
//! How the Responses API's shapes map to canonical (both directions keep to it):
//! - `instructions` and leading `system`/`developer` messages → `ChatRequest::system`; later
//!   ones → `Role::System` messages in place.
//! - `function_call` items → `Part::ToolCall` in an assistant message (`call_id` is the id);
//!   `function_call_output` → a `Role::Tool` message of one `Part::ToolResult`.
//! - `reasoning` items ↔ `Part::Reasoning`: the summary texts joined by blank lines are `text`;
//!   `encrypted_content` carries the part's `signature` and `redacted` as one opaque token
//!   ([`reasoning_token`]), so a thinking signature from Anthropic or Gemini survives a round
//!   trip through a Responses client and OpenAI's own encrypted reasoning reaches OpenAI again.
//! - Client-run tools ([`tools`]): `function` tools, freeform `custom` tools (canonically a
//!   function of one string, `input`) and `namespace` groups of both, flattened (a namespaced
//!   tool keeps its own name unless another has it: `<namespace>__<name>`); Codex's
//!   `additional_tools` input item adds its tools to them. Calls come back as `function_call`
//!   (with its `namespace`) or `custom_tool_call` items, named from the request's tools as the
//!   response object repeats them (`ResponseMeta::echo`). For the Responses API egress the
//!   client's `tools` and `additional_tools` items are kept whole in `hints`, sent as they came.
//! - Output items and tools only OpenAI can serve (hosted tools' calls: `web_search_call`, …)
//!   → `Part::Raw { dialect: OpenaiResponses }` / `StreamEvent::RawItem`, written back verbatim;
//!   hosted tools in `tools` → `extra["tools"]`, refused by name by any other egress.
//! - Fields that tune OpenAI's service without changing the answer (`include`,
//!   `prompt_cache_key`, `truncation`, `service_tier`, `reasoning.summary`, `reasoning.context`,
//!   `text.verbosity`, `metadata`, `safety_identifier`, `background: false`) →
//!   `ChatRequest::hints`.
//! - Item ids the gateway writes: `msg_`, `fc_`, `ctc_`, `rs_` + the response id's hex + `_` + the
//!   output index, so a stored response's items have stable, unique ids.

mod items;
mod params;
mod refuse;
mod request;
mod response;
mod stream;
mod tools;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod token_tests {
    use super::*;

    #[test]
    fn reasoning_tokens_round_trip_and_foreign_ones_are_openais() {
        let token = reasoning_token(Some(Dialect::Anthropic), Some("sig"), None).unwrap();
        let back = parse_reasoning_token(&token);
        assert_eq!(
            back,
            ReasoningToken { origin: Some(Dialect::Anthropic), signature: Some("sig".into()), redacted: None }
        );
        assert_eq!(reasoning_token(None, None, None), None);
        let foreign = parse_reasoning_token("gAAAAB-opaque");
        assert_eq!(foreign.origin, Some(Dialect::OpenaiResponses));
        assert_eq!(foreign.redacted.as_deref(), Some("gAAAAB-opaque"));
    }
}

use base64::Engine;

use crate::{
    ChatRequest, ChatResponse, ClientFacingError, DecodeError, Dialect, Egress, EmbeddingRequest, EmbeddingResponse,
    EncodeError, Framing, Ingress, Operation, ResponseMeta, StreamDecoder, StreamEncoder, UpstreamErrorBody,
};

pub use request::{decode_request, previous_response_id, referenced_ids, Envelope};
pub use response::response_object;

/// The OpenAI Responses API dialect.
pub struct Responses;

impl Ingress for Responses {
    fn decode_request(&self, body: &[u8]) -> Result<ChatRequest, DecodeError> {
        request::decode_request(body, &[], &std::collections::HashMap::new()).map(|(req, _)| req)
    }
    fn encode_response(&self, resp: &ChatResponse) -> Vec<u8> {
        response::encode(resp, &ResponseMeta::default())
    }
    fn encode_response_with(&self, resp: &ChatResponse, meta: &ResponseMeta) -> Vec<u8> {
        response::encode(resp, meta)
    }
    fn stream_encoder(&self, meta: &ResponseMeta) -> Box<dyn StreamEncoder + Send> {
        Box::new(stream::EventEncoder::new(meta))
    }
    /// Errors over HTTP have Chat Completions' shape.
    fn encode_error(&self, err: &ClientFacingError) -> (http::StatusCode, Vec<u8>) {
        crate::openai::OpenAi.encode_error(err)
    }
    fn decode_embedding_request(&self, body: &[u8]) -> Result<EmbeddingRequest, DecodeError> {
        crate::openai::OpenAi.decode_embedding_request(body)
    }
    fn encode_embedding_response(&self, resp: &EmbeddingResponse) -> Vec<u8> {
        crate::openai::OpenAi.encode_embedding_response(resp)
    }
}

impl Egress for Responses {
    fn dialect(&self) -> Dialect {
        Dialect::OpenaiResponses
    }
    fn framing(&self) -> Framing {
        Framing::Sse
    }
    /// OpenAI counts input tokens at `/responses/input_tokens`.
    fn path(&self, _model: &str, op: Operation) -> String {
        match op {
            Operation::Chat { .. } => "/responses".into(),
            Operation::Embeddings => "/embeddings".into(),
            Operation::CountTokens => "/responses/input_tokens".into(),
        }
    }
    fn encode_request(&self, req: &ChatRequest, model: &str, stream: bool) -> Result<Vec<u8>, EncodeError> {
        request::encode(req, model, stream)
    }
    fn decode_response(&self, body: &[u8]) -> Result<ChatResponse, DecodeError> {
        response::decode(body)
    }
    fn stream_decoder(&self) -> Box<dyn StreamDecoder + Send> {
        Box::new(stream::EventDecoder::default())
    }
    /// Errors over HTTP have Chat Completions' shape.
    fn decode_error(&self, status: http::StatusCode, body: &[u8]) -> UpstreamErrorBody {
        crate::openai::OpenAi.decode_error(status, body)
    }
    fn encode_embedding_request(&self, req: &EmbeddingRequest, model: &str) -> Result<Vec<u8>, EncodeError> {
        crate::openai::OpenAi.encode_embedding_request(req, model)
    }
    fn decode_embedding_response(&self, body: &[u8]) -> Result<EmbeddingResponse, DecodeError> {
        crate::openai::OpenAi.decode_embedding_response(body)
    }
}

/// The prefix of an `encrypted_content` the gateway wrote.
const TOKEN_PREFIX: &str = "swy1.";

/// A reasoning part's signature and encrypted reasoning, and the dialect of the upstream that
/// wrote them, as one `encrypted_content` value. A part with neither has no token.
pub(crate) fn reasoning_token(
    origin: Option<Dialect>,
    signature: Option<&str>,
    redacted: Option<&str>,
) -> Option<String> {
    if signature.is_none() && redacted.is_none() {
        return None;
    }
    let inner = serde_json::json!({ "d": origin, "s": signature, "r": redacted });
    Some(format!("{TOKEN_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(inner.to_string())))
}

/// A reasoning item's `encrypted_content`, read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReasoningToken {
    pub origin: Option<Dialect>,
    pub signature: Option<String>,
    pub redacted: Option<String>,
}

/// The origin, signature and encrypted reasoning in an `encrypted_content`. A value the gateway
/// did not write (sent by a client that talked to OpenAI directly) is OpenAI's encrypted
/// reasoning.
pub(crate) fn parse_reasoning_token(token: &str) -> ReasoningToken {
    let decoded = token
        .strip_prefix(TOKEN_PREFIX)
        .and_then(|b64| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(b64).ok())
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok());
    match decoded {
        Some(v) => {
            let field = |k: &str| v.get(k).and_then(serde_json::Value::as_str).map(str::to_owned);
            ReasoningToken {
                origin: v.get("d").and_then(|d| serde_json::from_value(d.clone()).ok()),
                signature: field("s"),
                redacted: field("r"),
            }
        }
        None => {
            ReasoningToken { origin: Some(Dialect::OpenaiResponses), signature: None, redacted: Some(token.to_owned()) }
        }
    }
}
