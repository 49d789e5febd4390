//! The Anthropic Messages ingress (`/v1/messages`): Anthropic-shaped clients reaching an
//! OpenAI-compatible upstream and an Anthropic upstream, streaming, errors in Anthropic's shape,
//! `anthropic-beta` passthrough and `count_tokens`.

use serde_json::{json, Value};
use testkit::anthropic_wire::{self as anthropic, sse_events};
use testkit::openai_wire as openai;
use testkit::{FakeUpstream, Gateway, Reply};

use crate::common::{client, MASTER_KEY, UPSTREAM_KEY};

const CLAUDE_KEY: &str = "sk-ant-upstream-secret-42";

/// `fast` → OpenAI-compatible `up`; `sonnet` → Anthropic `claude`.
async fn gateway(openai_up: &FakeUpstream, anthropic_up: &FakeUpstream) -> Gateway {
    let toml = format!(
        r#"
master_key_env = "MASTER"
[providers.up]
kind = "openai_compatible"
base_url = "{}"
api_key_env = "UP_KEY"
[providers.claude]
kind = "anthropic"
base_url = "{}"
api_key_env = "CLAUDE_KEY"
[models.fast]
deployments = [{{ provider = "up", model = "gpt-4o-mini" }}]
[models.sonnet]
deployments = [{{ provider = "claude", model = "claude-sonnet-4-5" }}]
"#,
        openai_up.v1(),
        anthropic_up.url()
    );
    Gateway::start_with_env(&toml, &[("MASTER", MASTER_KEY), ("UP_KEY", UPSTREAM_KEY), ("CLAUDE_KEY", CLAUDE_KEY)])
        .await
}

async fn unused() -> FakeUpstream {
    FakeUpstream::always(Reply::error(500, json!({"error": "not expected"}))).await
}

async fn send(gw: &Gateway, path: &str, headers: &[(&str, &str)], body: &Value) -> (u16, http::HeaderMap, String) {
    let mut req = client().post(gw.url(path)).header("x-api-key", MASTER_KEY).header("anthropic-version", "2023-06-01");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.json(body).send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.unwrap())
}

fn ask(model: &str) -> Value {
    json!({
        "model": model,
        "max_tokens": 256,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "Hello?"}]
    })
}

#[tokio::test]
async fn messages_reach_an_openai_compatible_upstream_and_answer_in_anthropic_shape() {
    let up = FakeUpstream::always(Reply::json(openai::completion("gpt-4o-mini", "Hi there."))).await;
    let gw = gateway(&up, &unused().await).await;
    let (status, headers, text) = send(&gw, "/v1/messages", &[], &ask("fast")).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(headers["x-switchyard-provider"], "up");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["type"], "message");
    assert_eq!(body["role"], "assistant");
    assert_eq!(body["content"], json!([{"type": "text", "text": "Hi there."}]));
    assert_eq!(body["stop_reason"], "end_turn");
    assert_eq!(body["usage"]["input_tokens"], 12);
    assert_eq!(body["usage"]["output_tokens"], 5);

    let sent = up.only_request().json();
    assert_eq!(sent["model"], "gpt-4o-mini");
    assert_eq!(sent["messages"][0], json!({"role": "system", "content": "Be brief."}));
    assert_eq!(sent["messages"][1]["role"], "user");
    assert_eq!(sent["max_completion_tokens"].as_u64().or(sent["max_tokens"].as_u64()), Some(256));
}

#[tokio::test]
async fn a_stream_from_an_openai_upstream_is_the_anthropic_event_sequence() {
    let up = FakeUpstream::always(Reply::sse(openai::text_stream("gpt-4o-mini", &["Hel", "lo", "!"]))).await;
    let gw = gateway(&up, &unused().await).await;
    let mut body = ask("fast");
    body["stream"] = json!(true);
    let (status, headers, text) = send(&gw, "/v1/messages", &[], &body).await;
    assert_eq!(status, 200, "{text}");
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let events = sse_events(&text);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    let deltas = names.iter().filter(|n| **n == "content_block_delta").count();
    assert_eq!(names.first(), Some(&"message_start"), "{text}");
    assert_eq!(names.last(), Some(&"message_stop"), "{text}");
    assert_eq!(deltas, 3, "{text}");
    for (name, data) in &events {
        assert_eq!(data["type"], name.as_str(), "event name and data type agree");
    }
    let streamed: String = events.iter().filter_map(|(_, d)| d["delta"]["text"].as_str()).collect::<Vec<_>>().concat();
    assert_eq!(streamed, "Hello!");
    let delta = events.iter().find(|(n, _)| n == "message_delta").unwrap();
    assert_eq!(delta.1["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta.1["usage"]["output_tokens"], 3);
    // The upstream was asked for usage even though Anthropic clients never ask.
    assert_eq!(up.only_request().json()["stream_options"]["include_usage"], true);
}

#[tokio::test]
async fn messages_reach_an_anthropic_upstream_with_its_headers_and_betas() {
    let claude = FakeUpstream::always(Reply::json(anthropic::message("claude-sonnet-4-5", "Bonjour."))).await;
    let gw = gateway(&unused().await, &claude).await;
    let mut body = ask("sonnet");
    body["system"] =
        json!([{"type": "text", "text": "Long shared instructions.", "cache_control": {"type": "ephemeral"}}]);
    body["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
    let betas = "prompt-caching-2024-07-31,interleaved-thinking-2025-05-14";
    let (status, _, text) = send(&gw, "/v1/messages", &[("anthropic-beta", betas)], &body).await;
    assert_eq!(status, 200, "{text}");
    let reply: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(reply["content"][0]["text"], "Bonjour.");

    let got = claude.only_request();
    assert_eq!(got.uri, "/v1/messages");
    assert_eq!(got.header("x-api-key"), Some(CLAUDE_KEY));
    assert_eq!(got.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(got.header("anthropic-beta"), Some(betas));
    assert_eq!(got.header("authorization"), None, "the gateway key never goes upstream");
    let sent = got.json();
    assert_eq!(sent["model"], "claude-sonnet-4-5");
    assert_eq!(sent["system"][0]["cache_control"], json!({"type": "ephemeral"}));
    assert_eq!(sent["thinking"], json!({"type": "enabled", "budget_tokens": 1024}));
    assert_eq!(sent["max_tokens"], 256);
}

#[tokio::test]
async fn errors_come_back_in_anthropic_shape_with_the_right_status() {
    let claude = FakeUpstream::always(
        Reply::error(529, anthropic::error_body("overloaded_error", "Overloaded")).with_header("retry-after", "3"),
    )
    .await;
    let gw = gateway(&unused().await, &claude).await;
    let check = |status: u16, text: &str, want_status: u16, want_type: &str| {
        assert_eq!(status, want_status, "{text}");
        let body: Value = serde_json::from_str(text).unwrap();
        assert_eq!(body["type"], "error", "{text}");
        assert_eq!(body["error"]["type"], want_type, "{text}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{text}");
    };

    let (s, h, t) = send(&gw, "/v1/messages", &[], &ask("sonnet")).await;
    check(s, &t, 529, "overloaded_error");
    assert_eq!(h["retry-after"], "3");

    let resp =
        client().post(gw.url("/v1/messages")).header("x-api-key", "wrong").json(&ask("sonnet")).send().await.unwrap();
    let s = resp.status().as_u16();
    check(s, &resp.text().await.unwrap(), 401, "authentication_error");

    let (s, _, t) = send(&gw, "/v1/messages", &[], &ask("no-such-model")).await;
    check(s, &t, 404, "not_found_error");

    let resp = client()
        .post(gw.url("/v1/messages"))
        .header("x-api-key", MASTER_KEY)
        .header("content-type", "application/json")
        .body(r#"{"model": "sonnet", "messages": [{"role": "user", "content": "hi"}"#)
        .send()
        .await
        .unwrap();
    let s = resp.status().as_u16();
    check(s, &resp.text().await.unwrap(), 400, "invalid_request_error");

    let mut no_max = ask("sonnet");
    no_max.as_object_mut().unwrap().remove("max_tokens");
    no_max["messages"] = json!([]);
    let (s, _, t) = send(&gw, "/v1/messages", &[], &no_max).await;
    check(s, &t, 400, "invalid_request_error");
    assert_eq!(claude.received().len(), 1, "only the first request reached the upstream");
}

#[tokio::test]
async fn count_tokens_estimates_and_grows_with_the_prompt() {
    let gw = gateway(&unused().await, &unused().await).await;
    let count =
        |text: String| json!({"model": "fast", "system": "Be brief.", "messages": [{"role": "user", "content": text}]});
    let (s, _, short) = send(&gw, "/v1/messages/count_tokens", &[], &count("Hello".into())).await;
    assert_eq!(s, 200, "{short}");
    let (_, _, long) = send(&gw, "/v1/messages/count_tokens", &[], &count("lorem ipsum ".repeat(400))).await;
    let short: Value = serde_json::from_str(&short).unwrap();
    let long: Value = serde_json::from_str(&long).unwrap();
    let (a, b) = (short["input_tokens"].as_u64().unwrap(), long["input_tokens"].as_u64().unwrap());
    assert!(a > 0 && a < 20, "{short}");
    assert!((1000..1500).contains(&b), "4,800 bytes of text ≈ 1,200 tokens: {long}");
    let (s, _, t) = send(
        &gw,
        "/v1/messages/count_tokens",
        &[],
        &json!({"model": "nope", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(s, 404, "{t}");
}

#[tokio::test]
async fn count_tokens_asks_anthropic_when_anthropic_serves_the_model() {
    let claude = FakeUpstream::always(Reply::json(json!({"input_tokens": 1234}))).await;
    let gw = gateway(&unused().await, &claude).await;
    let body = json!({"model": "sonnet", "system": "Be brief.", "messages": [{"role": "user", "content": "Hello"}],
                      "tools": [{"name": "f", "input_schema": {"type": "object"}}]});
    let (status, _, text) =
        send(&gw, "/v1/messages/count_tokens", &[("anthropic-beta", "token-counting-2024-11-01")], &body).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), json!({"input_tokens": 1234}));
    let got = claude.only_request();
    assert_eq!(got.uri, "/v1/messages/count_tokens");
    assert_eq!(got.header("x-api-key"), Some(CLAUDE_KEY));
    assert_eq!(got.header("anthropic-beta"), Some("token-counting-2024-11-01"));
    let sent = got.json();
    assert_eq!(sent["model"], "claude-sonnet-4-5");
    assert!(sent.get("max_tokens").is_none(), "{sent}");
    assert_eq!(sent["tools"][0]["name"], "f");
}

/// `response_format: json_object` from an OpenAI client to Claude: the model is made to answer
/// through one forced tool, and the client gets the JSON as the message text, whole or streamed.
#[tokio::test]
async fn json_object_reaches_claude_through_a_forced_tool() {
    let up = FakeUpstream::start(|req| {
        if req.json()["stream"] == true {
            let start = json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
                "model": "claude-sonnet-4-5", "content": [], "usage": {"input_tokens": 9, "output_tokens": 1}}});
            let block = json!({"type": "content_block_start", "index": 0,
                "content_block": {"type": "tool_use", "id": "toolu_1", "name": "json_output", "input": {}}});
            let delta = |part: &str| {
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": part}})
            };
            Reply::sse([
                anthropic::event("message_start", &start),
                anthropic::event("content_block_start", &block),
                anthropic::event("content_block_delta", &delta("{\"ok\": ")),
                anthropic::event("content_block_delta", &delta("true}")),
                anthropic::event("content_block_stop", &json!({"type": "content_block_stop", "index": 0})),
                anthropic::event("message_delta", &json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"},
                    "usage": {"output_tokens": 6}})),
                anthropic::event("message_stop", &json!({"type": "message_stop"})),
            ])
        } else {
            Reply::json(json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                "content": [{"type": "tool_use", "id": "toolu_1", "name": "json_output", "input": {"ok": true}}],
                "stop_reason": "tool_use", "usage": {"input_tokens": 9, "output_tokens": 6}}))
        }
    })
    .await;
    let gw = gateway(&unused().await, &up).await;
    let body = json!({"model": "sonnet", "messages": [{"role": "user", "content": "Is it ok? Answer in JSON."}],
        "response_format": {"type": "json_object"}});
    let resp = client().post(gw.url("/v1/chat/completions")).bearer_auth(MASTER_KEY).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let reply: Value = resp.json().await.unwrap();
    assert_eq!(reply["choices"][0]["finish_reason"], "stop", "{reply}");
    let text = reply["choices"][0]["message"]["content"].as_str().unwrap();
    assert_eq!(serde_json::from_str::<Value>(text).unwrap(), json!({"ok": true}));
    let sent = up.received()[0].json();
    assert_eq!(sent["tool_choice"], json!({"type": "tool", "name": "json_output"}));
    assert_eq!(sent["tools"][0]["input_schema"], json!({"type": "object"}));

    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let resp =
        client().post(gw.url("/v1/chat/completions")).bearer_auth(MASTER_KEY).json(&streamed).send().await.unwrap();
    let text = resp.text().await.unwrap();
    assert_eq!(serde_json::from_str::<Value>(&openai::streamed_text(&text)).unwrap(), json!({"ok": true}), "{text}");
    assert!(text.contains(r#""finish_reason":"stop""#), "{text}");
    assert!(!text.contains("tool_calls"), "{text}");
}
