//! OpenAI embeddings requests and responses ⇄ canonical.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::response::{decode_usage, encode_usage};
use super::wire::{InUsage, OutUsage};
use crate::{
    DecodeError, Dialect, Embedding, EmbeddingInput, EmbeddingRequest, EmbeddingResponse, EmbeddingVector, EncodeError,
};

#[derive(Deserialize)]
struct InEmbeddingRequest {
    model: String,
    input: EmbeddingInput,
    dimensions: Option<u32>,
    encoding_format: Option<String>,
    user: Option<String>,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

#[derive(Serialize)]
struct OutEmbeddingRequest<'a> {
    model: &'a str,
    input: &'a EmbeddingInput,
    #[serde(skip_serializing_if = "Option::is_none")]
    dimensions: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    encoding_format: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(flatten)]
    extra: &'a Map<String, Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InEmbeddingResponse {
    model: String,
    data: Vec<InEmbedding>,
    usage: Option<InUsage>,
}

#[derive(Deserialize)]
struct InEmbedding {
    #[serde(default)]
    index: u32,
    embedding: EmbeddingVector,
}

#[derive(Serialize)]
struct OutEmbeddingResponse<'a> {
    object: &'static str,
    data: Vec<OutEmbedding<'a>>,
    model: &'a str,
    usage: OutUsage,
}

#[derive(Serialize)]
struct OutEmbedding<'a> {
    object: &'static str,
    index: u32,
    embedding: &'a EmbeddingVector,
}

pub fn decode_request(body: &[u8]) -> Result<EmbeddingRequest, DecodeError> {
    let raw: InEmbeddingRequest = super::parse_json(body)?;
    let empty = match &raw.input {
        EmbeddingInput::Text(s) => s.is_empty(),
        EmbeddingInput::Texts(v) => v.is_empty() || v.iter().any(String::is_empty),
        EmbeddingInput::Tokens(v) => v.is_empty(),
        EmbeddingInput::TokenBatches(v) => v.is_empty() || v.iter().any(Vec::is_empty),
    };
    if empty {
        return Err(DecodeError::invalid("`input` must not be empty or contain empty strings", Some("input".into())));
    }
    Ok(EmbeddingRequest {
        model: raw.model,
        input: raw.input,
        dimensions: raw.dimensions,
        encoding_format: raw.encoding_format,
        user: raw.user,
        extra: raw.extra,
        extra_dialect: Some(Dialect::OpenaiChat),
    })
}

pub fn encode_request(req: &EmbeddingRequest, model: &str) -> Result<Vec<u8>, EncodeError> {
    if !req.extra.is_empty() && req.extra_dialect != Some(Dialect::OpenaiChat) {
        let field = req.extra.keys().next().cloned().unwrap_or_default();
        return Err(EncodeError::Unsupported {
            field,
            target: "OpenAI-compatible upstreams",
            reason: "the field has no equivalent in the OpenAI embeddings API".into(),
        });
    }
    let out = OutEmbeddingRequest {
        model,
        input: &req.input,
        dimensions: req.dimensions,
        encoding_format: req.encoding_format.as_deref(),
        user: req.user.as_deref(),
        extra: &req.extra,
    };
    Ok(serde_json::to_vec(&out).unwrap_or_default())
}

/// A reply without vectors is a broken upstream, not an empty result: every input gets one.
pub fn decode_response(body: &[u8]) -> Result<EmbeddingResponse, DecodeError> {
    let raw: InEmbeddingResponse = super::parse_json(body)?;
    if raw.data.is_empty() {
        return Err(DecodeError::invalid("the upstream's embeddings reply has no `data`", None));
    }
    if raw.data.iter().any(|e| crate::canonical::vector_is_empty(&e.embedding)) {
        return Err(DecodeError::invalid("the upstream's embeddings reply has an empty `embedding`", None));
    }
    Ok(EmbeddingResponse {
        model: raw.model,
        data: raw.data.into_iter().map(|e| Embedding { index: e.index, vector: e.embedding }).collect(),
        usage: raw.usage.map(decode_usage),
    })
}

pub fn encode_response(resp: &EmbeddingResponse) -> Vec<u8> {
    let usage = resp.usage.unwrap_or_default();
    let out = OutEmbeddingResponse {
        object: "list",
        data: resp
            .data
            .iter()
            .map(|e| OutEmbedding { object: "embedding", index: e.index, embedding: &e.vector })
            .collect(),
        model: &resp.model,
        usage: encode_usage(&usage),
    };
    serde_json::to_vec(&out).unwrap_or_default()
}
