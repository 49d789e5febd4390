//! What a Responses API request to a provider that cannot take all of it gets: hosted tools and
//! OpenAI-only items refused by name before any upstream is asked, OpenAI service hints dropped
//! and named in `x-switchyard-dropped`, malformed conversations refused with the path at fault.

use serde_json::{json, Value};
use testkit::{openai_wire, FakeUpstream, Reply};

use crate::common::{client, gateway_for, MASTER_KEY};

async fn post(gw: &testkit::Gateway, body: &Value) -> (u16, http::HeaderMap, Value) {
    let resp = client().post(gw.url("/v1/responses")).bearer_auth(MASTER_KEY).json(body).send().await.unwrap();
    let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
    (status, headers, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn openai_only_tools_and_items_are_refused_by_name_elsewhere() {
    let up = FakeUpstream::always(Reply::json(openai_wire::completion("m", "unused"))).await;
    let gw = gateway_for(&up).await;
    let hosted = json!({"model": "fast", "input": "news?", "tools": [{"type": "web_search"}]});
    let (status, _, body) = post(&gw, &hosted).await;
    assert_eq!(status, 400, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("web_search"), "the tool is named: {message}");
    let item = json!({"model": "fast", "input": [
        {"role": "user", "content": "hi"},
        {"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search", "query": "x"}},
    ]});
    let (status, _, body) = post(&gw, &item).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("web_search_call"), "{body}");
    assert!(up.received().is_empty(), "no upstream was asked");
}

#[tokio::test]
async fn openai_service_hints_are_dropped_and_named() {
    let up = FakeUpstream::always(Reply::json(openai_wire::completion("m", "hello"))).await;
    let gw = gateway_for(&up).await;
    let request = json!({
        "model": "fast", "input": "hi", "store": false,
        "include": ["reasoning.encrypted_content"], "prompt_cache_key": "session-1",
        "reasoning": {"effort": "low", "summary": "auto"},
    });
    let (status, headers, body) = post(&gw, &request).await;
    assert_eq!(status, 200, "{body}");
    let dropped = headers["x-switchyard-dropped"].to_str().unwrap();
    for hint in ["include", "prompt_cache_key", "reasoning.summary"] {
        assert!(dropped.split(',').any(|d| d == hint), "{hint} in {dropped}");
    }
    let sent = up.only_request().json();
    for field in ["include", "prompt_cache_key", "store", "reasoning"] {
        assert!(sent.get(field).is_none(), "{field} is not sent to a Chat Completions upstream: {sent}");
    }
}

#[tokio::test]
async fn malformed_conversations_are_refused_with_the_path_at_fault() {
    let up = FakeUpstream::always(Reply::json(openai_wire::completion("m", "unused"))).await;
    let gw = gateway_for(&up).await;
    let cases = [
        (json!([{"type": "function_call_output", "call_id": "call_nowhere", "output": "42"}]), "input[0].call_id"),
        (json!([{"role": "user", "content": "hi"}, {"type": "no_such_item"}]), "input[1]"),
        (json!([{"role": "user", "content": [{"type": "input_image", "image_url": "not a url"}]}]), "input[0]"),
        (json!([{"type": "item_reference", "id": "msg_0123abcd_0"}]), "input[0].id"),
        (json!(42), "input"),
    ];
    for (input, param) in cases {
        let (status, _, body) = post(&gw, &json!({"model": "fast", "input": input})).await;
        assert_eq!(status, 400, "{input}: {body}");
        let got = body["error"]["param"].as_str().unwrap_or_default();
        assert!(got.starts_with(param), "{input}: param {got}, expected {param}: {body}");
    }
    let (status, _, body) = post(&gw, &json!({"model": "fast", "input": "hi", "background": true})).await;
    assert_eq!(status, 400, "{body}");
    assert!(up.received().is_empty(), "no upstream was asked");
}

#[tokio::test]
async fn a_huge_input_array_is_answered_or_refused_quickly() {
    let up = FakeUpstream::always(Reply::json(openai_wire::completion("m", "ok"))).await;
    let gw = gateway_for(&up).await;
    let items: Vec<Value> = (0..50_000).map(|i| json!({"role": "user", "content": format!("turn {i}")})).collect();
    let started = std::time::Instant::now();
    let (status, _, body) = post(&gw, &json!({"model": "fast", "input": items})).await;
    assert_eq!(status, 200, "{body}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "took {:?}", started.elapsed());
    let sent = up.only_request().json();
    assert_eq!(sent["messages"].as_array().unwrap().len(), 50_000);
}
