//! A question's embedding for the semantic cache, asked through the gateway's own embeddings
//! pipeline: the embedding alias is routed, failed over and ledgered like any client's
//! embedding, on any provider kind.

use std::sync::Arc;

use base64::Engine;
use dialect::{EmbeddingInput, EmbeddingRequest, EmbeddingVector};

use crate::app::App;
use crate::keys::Caller;
use crate::routing::filter::Narrowing;
use crate::upstream::Forwarded;

/// Why a question has no embedding. Never the chat request's error: a lookup without one is a
/// miss.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("the embedding model answered {status}: {message}")]
    Refused { status: http::StatusCode, message: String },
    #[error("the embedding reply held no usable vector")]
    NoVector,
}

/// The unit vector of `text` under the alias (or `provider/model`) `model`.
pub async fn embed(app: &Arc<App>, model: &str, text: &str) -> Result<Vec<f32>, EmbedError> {
    let req = EmbeddingRequest {
        model: model.to_owned(),
        input: EmbeddingInput::Text(text.to_owned()),
        ..EmbeddingRequest::default()
    };
    let request_id = super::request_id();
    let (caller, endpoint, forwarded) = (&Caller::Master, "/v1/embeddings", Forwarded::default());
    let reply = super::embeddings(app.clone(), req, Narrowing::default(), caller, request_id, endpoint, forwarded)
        .await
        .map_err(|e| EmbedError::Refused { status: e.error.status, message: e.error.message.clone() })?;
    let vector = match reply.body.data.into_iter().next().map(|e| e.vector) {
        Some(EmbeddingVector::Float(v)) => v,
        Some(EmbeddingVector::Base64(b)) => from_base64(&b).ok_or(EmbedError::NoVector)?,
        None => return Err(EmbedError::NoVector),
    };
    crate::cache::semantic::memory::unit(vector).ok_or(EmbedError::NoVector)
}

/// Little-endian float32s, as a provider that answers in base64 sends them.
fn from_base64(text: &str) -> Option<Vec<f32>> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(text).ok()?;
    if bytes.len() % 4 != 0 {
        return None;
    }
    Some(bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_vectors_are_read() {
        let bytes: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|f| f.to_le_bytes()).collect();
        let text = base64::engine::general_purpose::STANDARD.encode(bytes);
        assert_eq!(from_base64(&text), Some(vec![1.5, -2.0]));
        assert_eq!(from_base64("AAA="), None);
    }
}
