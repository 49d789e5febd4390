//! The official `openai` Python SDK against the gateway: chat, streaming, tools, structured
//! output, embeddings, models and the SDK's error classes (tests/sdk/openai_conformance.py).
//! Real model for chat and embeddings (llama.cpp), a scripted upstream for tools and errors.
#![allow(clippy::unwrap_used, clippy::panic, reason = "test helpers fail the test loudly")]

mod common;

use common::{MASTER_KEY, UPSTREAM_KEY};
use serde_json::{json, Value};
use testkit::local_llm::{local_llm, python, repo_root, MODEL};
use testkit::openai_wire::{self as wire, chunk, data, DONE};
use testkit::{FakeUpstream, Gateway, Received, Reply};

/// Answers by the model name the gateway sent upstream.
fn scripted(req: &Received) -> Reply {
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

#[tokio::test]
async fn the_official_openai_sdk_works_against_the_gateway() {
    let (Some(python), Some(llm)) = (python(), local_llm()) else { return };
    let up = FakeUpstream::start(scripted).await;
    let toml = format!(
        r#"
master_key_env = "MASTER"
[providers.fake]
kind = "openai_compatible"
base_url = "{}"
api_key_env = "UP_KEY"
models = ["gpt-*"]
[providers.llama]
kind = "llamacpp"
base_url = "{}"
models = ["{MODEL}"]
[models.local]
deployments = [{{ provider = "llama", model = "{MODEL}" }}]
"#,
        up.v1(),
        llm.v1()
    );
    let gw = Gateway::start_with_env(&toml, &[("MASTER", MASTER_KEY), ("UP_KEY", UPSTREAM_KEY)]).await;
    let script = repo_root().join("crates/gateway/tests/sdk/openai_conformance.py");
    let base = gw.url("/v1");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python).arg(script).arg(base).arg(MASTER_KEY).output().unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "SDK checks failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("12/12 checks passed"), "{stdout}");

    // What the scripted upstream saw from the SDK's requests.
    let received = up.received();
    let bodies: Vec<Value> = received.iter().map(Received::json).collect();
    assert!(received.iter().all(|r| r.header("authorization") == Some(&format!("Bearer {UPSTREAM_KEY}"))));
    let tools: Vec<&Value> = bodies.iter().filter(|b| b["model"] == "gpt-tools").collect();
    assert_eq!(tools.len(), 3, "tools, tool results, streamed tools");
    assert_eq!(tools[0]["parallel_tool_calls"], true);
    assert_eq!(tools[0]["tools"][0]["function"]["name"], "get_weather");
    let results = &tools[1]["messages"];
    assert_eq!(results[1]["tool_calls"][1]["id"], "call_t2", "{results}");
    assert_eq!(results[2], json!({"role": "tool", "tool_call_id": "call_w1", "content": "{\"ok\": \"get_weather\"}"}));
    assert_eq!(results[3]["tool_call_id"], "call_t2");
    let structured = bodies.iter().find(|b| b["model"] == "gpt-json").unwrap();
    assert_eq!(structured["response_format"]["type"], "json_schema");
    assert_eq!(structured["response_format"]["json_schema"]["name"], "Weather");
    assert_eq!(structured["response_format"]["json_schema"]["strict"], true);
}
