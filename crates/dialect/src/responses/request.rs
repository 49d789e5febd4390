//! Responses API request ⇄ canonical `ChatRequest`: decoding what Responses clients send to
//! `POST /v1/responses` (with the stored conversation it continues), and encoding what we send
//! to OpenAI's and Azure's `/responses`.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::{ChatRequest, DecodeError, EncodeError};

/// What the gateway keeps of a request besides the canonical one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Envelope {
    /// `store` as the client sent it (None: not sent; OpenAI's default is to store).
    pub store: Option<bool>,
    /// The stored response this one continues.
    pub previous_response_id: Option<String>,
    /// This request's own input items (not the history), a string input as one user message,
    /// each with an `id`: what `GET /v1/responses/{id}/input_items` lists and what a later
    /// `previous_response_id` replays.
    pub input_items: Vec<Value>,
    /// The request fields a response object repeats (see [`crate::ResponseMeta::echo`]).
    pub echo: Map<String, Value>,
}

/// Decodes a request. `history` is the stored conversation it continues (earlier input and
/// output items, oldest first), read as if the client had sent it before its own `input`;
/// `references` holds the stored items its `item_reference`s name (see [`referenced_ids`]).
pub fn decode_request(
    body: &[u8],
    history: &[Value],
    references: &HashMap<String, Value>,
) -> Result<(ChatRequest, Envelope), DecodeError> {
    let _ = (body, history, references);
    Err(DecodeError::invalid("the Responses API is not implemented yet", None))
}

/// The ids of the stored items a request's `item_reference`s name, for the gateway to read
/// before decoding. Cheap for the usual request, which has none.
pub fn referenced_ids(body: &[u8]) -> Vec<String> {
    let _ = body;
    Vec::new()
}

pub fn encode(req: &ChatRequest, model: &str, stream: bool) -> Result<Vec<u8>, EncodeError> {
    let _ = (req, model, stream);
    Err(EncodeError::Unsupported {
        field: "input".into(),
        target: "OpenAI Responses",
        reason: "not implemented yet".into(),
    })
}
