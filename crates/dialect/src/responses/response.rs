//! Responses API response object ⇄ canonical `ChatResponse`: encoding the `response` object a
//! Responses client gets, and decoding the one OpenAI and Azure return.

use serde_json::Value;

use crate::{ChatResponse, DecodeError, ResponseMeta};

/// The `response` object of a whole reply (also the payload of a stream's terminal event and
/// what the gateway stores).
pub fn response_object(resp: &ChatResponse, meta: &ResponseMeta) -> Value {
    let _ = (resp, meta);
    Value::Null
}

pub fn encode(resp: &ChatResponse, meta: &ResponseMeta) -> Vec<u8> {
    serde_json::to_vec(&response_object(resp, meta)).unwrap_or_default()
}

pub fn decode(body: &[u8]) -> Result<ChatResponse, DecodeError> {
    let _ = body;
    Err(DecodeError::invalid("the Responses API is not implemented yet", None))
}
