//! Embeddings through InvokeModel, in the model's native body. The family is chosen by the model
//! id (a geography prefix such as `us.` and ARNs naming the model are accepted):
//! - Titan (`amazon.titan-embed-*`): `{"inputText","dimensions"?}` → `{"embedding":[..],
//!   "inputTextTokenCount"}`. One input per request; more are refused (the gateway may fan
//!   out later).
//! - Cohere (`cohere.embed-*`): `{"texts":[..],"input_type":"search_document"}` →
//!   `{"id","embeddings":[[..]] | {"float":[[..]]},"texts"}`. Cohere reports tokens only in a
//!   response header, so its usage is None. `dimensions` is refused (v3 models have fixed sizes).
//!
//! Both refuse token-array input and any `extra` field. `user` is dropped; `encoding_format` is
//! not sent, and vectors come back as floats.

use serde::{Deserialize, Serialize};

use super::unsupported;
use crate::{
    DecodeError, Embedding, EmbeddingInput, EmbeddingRequest, EmbeddingResponse, EmbeddingVector, EncodeError, Usage,
};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TitanRequest<'a> {
    input_text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    dimensions: Option<u32>,
}

#[derive(Serialize)]
struct CohereRequest<'a> {
    texts: Vec<&'a str>,
    input_type: &'static str,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum InResponse {
    #[serde(rename_all = "camelCase")]
    Titan {
        embedding: Vec<f32>,
        input_text_token_count: Option<u64>,
    },
    Cohere {
        embeddings: CohereEmbeddings,
    },
}

#[derive(Deserialize)]
#[serde(untagged)]
enum CohereEmbeddings {
    Floats(Vec<Vec<f32>>),
    ByType { float: Vec<Vec<f32>> },
}

enum Family {
    Titan,
    Cohere,
}

fn family(model: &str) -> Option<Family> {
    if model.contains("amazon.titan-embed") {
        Some(Family::Titan)
    } else if model.contains("cohere.embed") {
        Some(Family::Cohere)
    } else {
        None
    }
}

fn texts(input: &EmbeddingInput) -> Result<Vec<&str>, EncodeError> {
    match input {
        EmbeddingInput::Text(t) => Ok(vec![t]),
        EmbeddingInput::Texts(ts) => Ok(ts.iter().map(String::as_str).collect()),
        EmbeddingInput::Tokens(_) | EmbeddingInput::TokenBatches(_) => {
            Err(unsupported("input", "Bedrock embedding models take text, not token arrays"))
        }
    }
}

pub fn encode(req: &EmbeddingRequest, model: &str) -> Result<Vec<u8>, EncodeError> {
    if let Some(field) = req.extra.keys().next() {
        return Err(unsupported(field.clone(), "the field has no equivalent in Bedrock embeddings"));
    }
    let Some(family) = family(model) else {
        return Err(unsupported(
            "model",
            &format!(
                "`{model}` is not a Bedrock embedding model this gateway speaks (amazon.titan-embed-*, cohere.embed-*)"
            ),
        ));
    };
    let texts = texts(&req.input)?;
    let body = match family {
        Family::Titan => {
            let [text] = texts.as_slice() else {
                return Err(unsupported(
                    "input",
                    &format!("Titan embeddings take one input per request, not {}", texts.len()),
                ));
            };
            serde_json::to_vec(&TitanRequest { input_text: text, dimensions: req.dimensions })
        }
        Family::Cohere => {
            if req.dimensions.is_some() {
                return Err(unsupported("dimensions", "Cohere embeddings on Bedrock have a fixed size"));
            }
            serde_json::to_vec(&CohereRequest { texts, input_type: "search_document" })
        }
    };
    body.map_err(|e| unsupported("request", &e.to_string()))
}

/// The family is told apart by the body's shape: Titan's `embedding`, Cohere's `embeddings`.
pub fn decode(body: &[u8]) -> Result<EmbeddingResponse, DecodeError> {
    let raw: InResponse = super::parse_json(body).map_err(|e| match e {
        DecodeError::Invalid { .. } => {
            DecodeError::invalid("neither a Titan (`embedding`) nor a Cohere (`embeddings`) embeddings body", None)
        }
        other => other,
    })?;
    let float = |index: usize, v: Vec<f32>| Embedding {
        index: u32::try_from(index).unwrap_or(u32::MAX),
        vector: EmbeddingVector::Float(v),
    };
    let response = match raw {
        InResponse::Titan { embedding, input_text_token_count } => EmbeddingResponse {
            model: String::new(),
            data: vec![float(0, embedding)],
            usage: input_text_token_count.map(|n| Usage { input_tokens: n, ..Usage::default() }),
        },
        InResponse::Cohere { embeddings } => {
            let (CohereEmbeddings::Floats(vs) | CohereEmbeddings::ByType { float: vs }) = embeddings;
            EmbeddingResponse {
                model: String::new(),
                data: vs.into_iter().enumerate().map(|(i, v)| float(i, v)).collect(),
                usage: None,
            }
        }
    };
    // A reply without vectors, or with an empty one, is a broken upstream, not an empty result.
    if response.data.is_empty() || response.data.iter().any(|e| crate::canonical::vector_is_empty(&e.vector)) {
        return Err(DecodeError::invalid("the upstream's embeddings reply has no vector", None));
    }
    Ok(response)
}
