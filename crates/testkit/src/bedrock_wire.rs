//! Bedrock Converse bodies and ConverseStream event-stream frames (real CRCs) as Bedrock
//! writes them, for fake replies.

use dialect::framing::eventstream::{encode_event_frame, encode_exception_frame};
use serde_json::{json, Value};

pub fn converse(text: &str) -> Value {
    json!({
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 30, "outputTokens": 9, "totalTokens": 1039,
                  "cacheReadInputTokens": 1000, "cacheWriteInputTokens": 0},
        "metrics": {"latencyMs": 412}
    })
}

/// One event frame; Bedrock pads payloads with a `p` field of junk to hide their length.
pub fn event(event_type: &str, mut payload: Value) -> Vec<u8> {
    payload["p"] = json!("abcdefghijklmnopqrstu");
    encode_event_frame(event_type, payload.to_string().as_bytes())
}

pub fn exception(exception_type: &str, message: &str) -> Vec<u8> {
    encode_exception_frame(exception_type, json!({"message": message}).to_string().as_bytes())
}

/// A whole text stream: messageStart, one text block of `pieces`, messageStop, metadata.
pub fn text_stream(pieces: &[&str]) -> Vec<Vec<u8>> {
    let mut out = vec![event("messageStart", json!({"role": "assistant"}))];
    for p in pieces {
        out.push(event("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"text": p}})));
    }
    out.push(event("contentBlockStop", json!({"contentBlockIndex": 0})));
    out.extend(end("end_turn", pieces.len() as u64));
    out
}

/// messageStop and the metadata frame with usage.
pub fn end(stop_reason: &str, output_tokens: u64) -> Vec<Vec<u8>> {
    vec![
        event("messageStop", json!({"stopReason": stop_reason})),
        event(
            "metadata",
            json!({"usage": {"inputTokens": 25, "outputTokens": output_tokens, "totalTokens": 25 + output_tokens},
                   "metrics": {"latencyMs": 230}}),
        ),
    ]
}
