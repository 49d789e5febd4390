//! Embeddings with `batchEmbedContents`: one request per input, floats back, no usage.

use serde::Deserialize;
use serde_json::json;

use crate::{
    DecodeError, Embedding, EmbeddingInput, EmbeddingRequest, EmbeddingResponse, EmbeddingVector, EncodeError,
};

pub fn encode_request(req: &EmbeddingRequest, model: &str) -> Result<Vec<u8>, EncodeError> {
    if let Some(field) = req.extra.keys().next() {
        return Err(EncodeError::Unsupported {
            field: field.clone(),
            target: "Google Gemini",
            reason: "the field has no Gemini equivalent".into(),
        });
    }
    let texts: Vec<&str> = match &req.input {
        EmbeddingInput::Text(t) => vec![t],
        EmbeddingInput::Texts(v) => v.iter().map(String::as_str).collect(),
        EmbeddingInput::Tokens(_) | EmbeddingInput::TokenBatches(_) => {
            return Err(EncodeError::Unsupported {
                field: "input".into(),
                target: "Google Gemini",
                reason: "Gemini embeds text, not token ids".into(),
            })
        }
    };
    let requests: Vec<_> = texts
        .into_iter()
        .map(|t| {
            let mut r = json!({"model": format!("models/{model}"), "content": {"parts": [{"text": t}]}});
            if let Some(d) = req.dimensions {
                r["outputDimensionality"] = json!(d);
            }
            r
        })
        .collect();
    Ok(json!({"requests": requests}).to_string().into_bytes())
}

#[derive(Deserialize)]
struct InBatch {
    #[serde(default)]
    embeddings: Vec<InValues>,
}

#[derive(Deserialize)]
struct InValues {
    #[serde(default)]
    values: Vec<f32>,
}

/// A reply without vectors, or with an empty one, is a broken upstream, not an empty result.
pub fn decode_response(body: &[u8]) -> Result<EmbeddingResponse, DecodeError> {
    let raw: InBatch = super::parse_json(body)?;
    if raw.embeddings.is_empty() {
        return Err(DecodeError::invalid("the upstream's embeddings reply has no `embeddings`", None));
    }
    if raw.embeddings.iter().any(|e| e.values.is_empty()) {
        return Err(DecodeError::invalid("the upstream's embeddings reply has an embedding without `values`", None));
    }
    Ok(EmbeddingResponse {
        model: String::new(),
        data: raw
            .embeddings
            .into_iter()
            .enumerate()
            .map(|(i, e)| Embedding { index: i as u32, vector: EmbeddingVector::Float(e.values) })
            .collect(),
        usage: None,
    })
}
