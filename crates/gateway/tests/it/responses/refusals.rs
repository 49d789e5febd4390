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

#[tokio::test]
async fn bad_stored_response_requests_get_openai_errors() {
    let up = FakeUpstream::always(Reply::json(openai_wire::completion("m", "hello"))).await;
    let gw = gateway_for(&up).await;
    let (status, _, first) = post(
        &gw,
        &json!({"model": "fast", "input": [
        {"role": "user", "content": "one"}, {"role": "user", "content": "two"}, {"role": "user", "content": "three"}]}),
    )
    .await;
    assert_eq!(status, 200, "{first}");
    let id = first["id"].as_str().unwrap();
    let get = |path: String| {
        let req = client().get(gw.url(&path)).bearer_auth(MASTER_KEY);
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let kind = resp.headers()["content-type"].to_str().unwrap().to_owned();
            (status, kind, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    for (path, expected) in [
        (format!("/v1/responses/{id}/input_items?limit=abc"), 400),
        (format!("/v1/responses/{id}/input_items?order=sideways"), 400),
        ("/v1/responses/%FF%FE".to_owned(), 400),
        (format!("/v1/responses/{}", "x".repeat(5000)), 404),
    ] {
        let (status, kind, body) = get(path.clone()).await;
        assert_eq!((status, kind.as_str()), (expected, "application/json"), "{path}: {body}");
        assert_eq!(body["error"]["type"], "invalid_request_error", "{path}: {body}");
        assert!(body.to_string().len() < 4096, "the echo is bounded: {path}");
    }
    // Limits are clamped to 1–100; an unknown `after` is an empty page.
    let (_, _, one) = get(format!("/v1/responses/{id}/input_items?limit=0&order=asc")).await;
    assert_eq!(one["data"].as_array().unwrap().len(), 1, "{one}");
    assert_eq!(one["has_more"], true);
    let (_, _, after) =
        get(format!("/v1/responses/{id}/input_items?order=asc&after={}", one["last_id"].as_str().unwrap())).await;
    assert_eq!(after["data"].as_array().unwrap().len(), 2, "{after}");
    let (_, _, none) = get(format!("/v1/responses/{id}/input_items?after=msg_unknown")).await;
    assert_eq!(none["data"], json!([]));
    // A previous_response_id of the wrong type is refused by name, not ignored.
    let (status, _, body) = post(&gw, &json!({"model": "fast", "input": "x", "previous_response_id": 42})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["param"], "previous_response_id", "{body}");
}
