//! Anthropic Messages bodies and SSE streams as the Anthropic API writes them, for fake replies.

use serde_json::{json, Value};

pub fn message(model: &str, text: &str) -> Value {
    json!({
        "id": "msg_01FakeXyz",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": null,
        "usage": {"input_tokens": 21, "output_tokens": 7, "cache_creation_input_tokens": 0,
                  "cache_read_input_tokens": 0, "service_tier": "standard"}
    })
}

/// One SSE event with its `event:` name, as Anthropic frames them.
pub fn event(name: &str, data: &Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

/// A whole text stream: message_start, one text block in `pieces`, message_delta, message_stop.
pub fn text_stream(model: &str, pieces: &[&str]) -> Vec<String> {
    let mut out = vec![
        event(
            "message_start",
            &json!({"type": "message_start", "message": {"id": "msg_01FakeXyz", "type": "message",
                "role": "assistant", "model": model, "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 21, "output_tokens": 1, "cache_creation_input_tokens": 0,
                          "cache_read_input_tokens": 0}}}),
        ),
        event(
            "content_block_start",
            &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        event("ping", &json!({"type": "ping"})),
    ];
    for p in pieces {
        out.push(event(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}),
        ));
    }
    out.push(event("content_block_stop", &json!({"type": "content_block_stop", "index": 0})));
    out.push(event(
        "message_delta",
        &json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                "usage": {"output_tokens": pieces.len()}}),
    ));
    out.push(event("message_stop", &json!({"type": "message_stop"})));
    out
}

pub fn error_body(kind: &str, message: &str) -> Value {
    json!({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_011FakeAnthropic"})
}

/// `(event name, data)` of each event in an SSE body.
pub fn sse_events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let name = e.lines().find_map(|l| l.strip_prefix("event:")).unwrap_or_default().trim().to_owned();
            let data: String = e.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim_start).collect();
            let data = serde_json::from_str(&data).unwrap_or_else(|err| panic!("bad SSE JSON ({err}): {data}"));
            (name, data)
        })
        .collect()
}
