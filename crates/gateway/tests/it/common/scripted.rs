//! Scripted upstreams for the SDK conformance tests: the reply depends on the model name.

use serde_json::json;
use testkit::openai_wire::{self as wire, chunk, data, DONE};
use testkit::{Received, Reply};

/// An OpenAI-compatible upstream that answers by model name: `gpt-tools` (two parallel tool
/// calls, streamed or not, then a text answer once tool results arrive), `gpt-json`,
/// `gpt-limited` (429, Retry-After 7), `gpt-badreq` (400 on `temperature`), anything else: text.
pub fn openai_by_model(req: &Received) -> Reply {
    let body = req.json();
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    let stream = body["stream"] == true;
    match model.as_str() {
        "gpt-tools" if body["messages"].as_array().is_some_and(|m| m.iter().any(|m| m["role"] == "tool")) => {
            Reply::json(wire::completion(&model, "It is 21C and 14:00 in Paris."))
        }
        "gpt-tools" if stream => Reply::sse(streamed_tool_calls(&model)),
        "gpt-tools" => Reply::json(json!({
            "id": "chatcmpl-tools", "object": "chat.completion", "created": 1_700_000_000, "model": model,
            "choices": [{"index": 0, "finish_reason": "tool_calls", "logprobs": null, "message": {
                "role": "assistant", "content": null, "refusal": null,
                "tool_calls": [
                    {"id": "call_w1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "call_t2", "type": "function", "function": {"name": "get_time", "arguments": "{\"city\":\"Paris\"}"}}
                ]}}],
            "usage": wire::usage(40, 30)
        })),
        "gpt-json" => Reply::json(wire::completion(&model, r#"{"city":"Paris","temp_c":21}"#)),
        "gpt-limited" => Reply::error(
            429,
            wire::error_body("Rate limit reached for requests", "requests", Some("rate_limit_exceeded")),
        )
        .with_header("retry-after", "7"),
        "gpt-badreq" => Reply::error(
            400,
            json!({"error": {"message": "Invalid value for 'temperature'.", "type": "invalid_request_error",
                             "param": "temperature", "code": "invalid_value"}}),
        ),
        _ => Reply::json(wire::completion(&model, "hello")),
    }
}

/// Two parallel tool calls whose arguments arrive in fragments, as OpenAI streams them.
fn streamed_tool_calls(model: &str) -> Vec<String> {
    let call = |index: u32, id: &str, name: &str| json!({"tool_calls": [{"index": index, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}]});
    let args = |index: u32, part: &str| json!({"tool_calls": [{"index": index, "function": {"arguments": part}}]});
    let mut out = vec![data(&chunk(model, json!({"role": "assistant", "content": null}), None))];
    for (i, id, name) in [(0, "call_w1", "get_weather"), (1, "call_t2", "get_time")] {
        out.push(data(&chunk(model, call(i, id, name), None)));
        for part in ["{\"ci", "ty\": \"Pa", "ris\"}"] {
            out.push(data(&chunk(model, args(i, part), None)));
        }
    }
    out.push(data(&chunk(model, json!({}), Some("tool_calls"))));
    out.push(data(&wire::usage_chunk(model, 40, 30)));
    out.push(DONE.to_owned());
    out
}

/// An Anthropic upstream that answers by model name: `claude-overloaded` (529), otherwise a
/// text answer, streamed when asked.
pub fn anthropic_by_model(req: &Received) -> Reply {
    use testkit::anthropic_wire as anthropic;
    let body = req.json();
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    match model.as_str() {
        "claude-overloaded" => {
            Reply::error(529, anthropic::error_body("overloaded_error", "Overloaded")).with_header("retry-after", "2")
        }
        _ if body["stream"] == true => Reply::sse(anthropic::text_stream(&model, &["Bon", "jour", "."])),
        _ => Reply::json(anthropic::message(&model, "Bonjour.")),
    }
}

/// Runs a Python SDK script from `tests/sdk/` with `args`; fails the test with its output
/// unless it exits 0. Returns its stdout.
pub async fn run_sdk_script(python: std::path::PathBuf, script: &str, args: Vec<String>) -> String {
    let path = testkit::local_llm::repo_root().join("crates/gateway/tests/sdk").join(script);
    let out = tokio::task::spawn_blocking(move || std::process::Command::new(python).arg(path).args(args).output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{script} failed:\n{stdout}\n{stderr}");
    stdout
}
