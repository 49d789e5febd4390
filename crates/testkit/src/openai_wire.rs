//! OpenAI Chat Completions bodies as an OpenAI upstream writes them, for fake replies.

use serde_json::{json, Value};

pub fn completion(model: &str, text: &str) -> Value {
    json!({
        "id": "chatcmpl-fake123",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "system_fingerprint": "fp_fake",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text, "refusal": null},
            "logprobs": null,
            "finish_reason": "stop"
        }],
        "usage": usage(12, 5)
    })
}

pub fn usage(prompt: u64, completion: u64) -> Value {
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0}
    })
}

/// One `chat.completion.chunk` with a single choice.
pub fn chunk(model: &str, delta: Value, finish_reason: Option<&str>) -> Value {
    json!({
        "id": "chatcmpl-fake123",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": model,
        "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}]
    })
}

/// The usage chunk OpenAI sends last when `stream_options.include_usage` is set.
pub fn usage_chunk(model: &str, prompt: u64, completion: u64) -> Value {
    json!({
        "id": "chatcmpl-fake123",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": model,
        "system_fingerprint": "fp_fake",
        "choices": [],
        "usage": usage(prompt, completion)
    })
}

/// One SSE event carrying `value`.
pub fn data(value: &Value) -> String {
    format!("data: {value}\n\n")
}

pub const DONE: &str = "data: [DONE]\n\n";

/// A whole text stream: role, one delta per piece, finish, usage, `[DONE]`.
pub fn text_stream(model: &str, pieces: &[&str]) -> Vec<String> {
    let mut out = vec![data(&chunk(model, json!({"role": "assistant", "content": ""}), None))];
    out.extend(pieces.iter().map(|p| data(&chunk(model, json!({"content": p}), None))));
    out.push(data(&chunk(model, json!({}), Some("stop"))));
    out.push(data(&usage_chunk(model, 12, pieces.len() as u64)));
    out.push(DONE.to_owned());
    out
}

pub fn error_body(message: &str, kind: &str, code: Option<&str>) -> Value {
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

/// Parses an SSE body into its `data:` payloads, `[DONE]` included as a string.
pub fn sse_payloads(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|event| {
            let data: Vec<&str> = event.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim_start).collect();
            (!data.is_empty()).then(|| data.join("\n"))
        })
        .collect()
}

/// The JSON chunks of an SSE body, without `[DONE]`.
pub fn sse_json(body: &str) -> Vec<Value> {
    sse_payloads(body)
        .into_iter()
        .filter(|d| d != "[DONE]")
        .map(|d| serde_json::from_str(&d).unwrap_or_else(|e| panic!("bad SSE JSON ({e}): {d}")))
        .collect()
}

/// The text a client reassembles from a stream's content deltas.
pub fn streamed_text(body: &str) -> String {
    sse_json(body)
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str().map(str::to_owned))
        .collect::<Vec<_>>()
        .concat()
}
