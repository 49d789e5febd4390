//! How the Responses API dialect refuses: decode errors in OpenAI's wording, each naming the
//! client's path (`input[3].call_id`), and encode errors naming what OpenAI's Responses API
//! cannot take. Shared by the request-side modules so none of them imports another for it.

use serde_json::Value;

use crate::{DecodeError, EncodeError};

pub(super) const TARGET: &str = "OpenAI Responses";

pub(super) fn invalid(message: String, param: String) -> DecodeError {
    DecodeError::invalid(message, Some(param))
}

/// What a value is, as OpenAI's type errors name it.
pub(super) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(super) fn wrong_type(param: String, expected: &str, got: &Value) -> DecodeError {
    let message = format!("Invalid type for '{param}': expected {expected}, but got {} instead.", type_name(got));
    invalid(message, param)
}

pub(super) fn missing(param: String) -> DecodeError {
    invalid(format!("Missing required parameter: '{param}'."), param)
}

pub(super) fn unsupported(field: impl Into<String>, reason: &str) -> EncodeError {
    EncodeError::Unsupported { field: field.into(), target: TARGET, reason: reason.to_owned() }
}
