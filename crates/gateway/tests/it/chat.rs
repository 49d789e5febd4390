//! Chat completions through the gateway against a fake OpenAI upstream: what the client gets
//! and what the upstream received.

use std::time::{Duration, Instant};

use serde_json::json;
use testkit::openai_wire::{self as wire, data, sse_json, streamed_text};
use testkit::{FakeUpstream, Reply};

use crate::common::{gateway_for, gateway_with, post, post_json, user, UPSTREAM_KEY};

#[tokio::test]
async fn plain_completion_reaches_the_alias_deployment_with_the_provider_key() {
    let up = FakeUpstream::always(Reply::json(wire::completion("gpt-4o-mini-2024-07-18", "Hello there"))).await;
    let gw = gateway_for(&up).await;
    let (status, headers, body) = post_json(
        &gw,
        "/v1/chat/completions",
        &json!({
            "model": "fast",
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
            "temperature": 0.2, "top_p": 0.9, "seed": 7, "n": 1, "stop": ["\n\n"],
            "max_completion_tokens": 50, "logprobs": true, "top_logprobs": 2, "reasoning_effort": "low",
            "response_format": {"type": "json_schema", "json_schema": {"name": "r", "strict": true,
                "schema": {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}}},
            "user": "u-1", "metadata": {"team": "x"}
        }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["choices"][0]["message"]["content"], "Hello there");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(body["usage"]["prompt_tokens"], 12);
    assert_eq!(body["usage"]["total_tokens"], 17);
    assert_eq!(headers["x-switchyard-provider"], "up");
    assert_eq!(headers["x-switchyard-deployment"], "up/gpt-4o-mini-2024-07-18");
    assert_eq!(headers["x-switchyard-attempts"], "1");
    assert!(headers["x-request-id"].to_str().unwrap().starts_with("req_"));

    let got = up.only_request();
    assert_eq!(got.uri, "/v1/chat/completions");
    assert_eq!(got.header("authorization"), Some(format!("Bearer {UPSTREAM_KEY}").as_str()));
    let sent = got.json();
    assert_eq!(sent["model"], "gpt-4o-mini-2024-07-18", "the alias is replaced by the upstream id");
    assert_eq!(sent["messages"][0], json!({"role": "system", "content": "Be brief."}));
    assert_eq!(sent["seed"], 7);
    assert_eq!(sent["stop"], json!(["\n\n"]));
    assert_eq!(sent["max_completion_tokens"], 50);
    assert_eq!(sent["logprobs"], true);
    assert_eq!(sent["top_logprobs"], 2);
    // gpt-4o-mini does not reason (the catalog knows): the control is left out, not sent to fail.
    assert!(sent.get("reasoning_effort").is_none(), "{sent}");
    assert_eq!(sent["response_format"]["json_schema"]["schema"]["required"], json!(["a"]));
    assert_eq!(sent["user"], "u-1");
    assert_eq!(sent["metadata"], json!({"team": "x"}));
    assert!(sent.get("stream").is_none_or(|s| s == false));
}

#[tokio::test]
async fn unknown_fields_are_forwarded_to_openai_compatible_upstreams() {
    let up = FakeUpstream::always(Reply::json(wire::completion("m", "ok"))).await;
    let gw = gateway_for(&up).await;
    let (status, _, _) = post_json(
        &gw,
        "/v1/chat/completions",
        &json!({"model": "up/m", "messages": user("hi"), "min_p": 0.05, "repetition_penalty": 1.1,
                "chat_template_kwargs": {"enable_thinking": false}}),
    )
    .await;
    assert_eq!(status, 200);
    let sent = up.only_request().json();
    assert_eq!(sent["model"], "m", "provider/model addressing strips the provider");
    assert_eq!(sent["min_p"], 0.05);
    assert_eq!(sent["repetition_penalty"], 1.1);
    assert_eq!(sent["chat_template_kwargs"], json!({"enable_thinking": false}));
}

#[tokio::test]
async fn image_parts_reach_the_upstream_unchanged() {
    let up = FakeUpstream::always(Reply::json(wire::completion("m", "a cat"))).await;
    let gw = gateway_for(&up).await;
    let content = json!([
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    ]);
    let (status, _, body) = post_json(
        &gw,
        "/v1/chat/completions",
        &json!({"model": "fast", "messages": [{"role": "user", "content": content}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(up.only_request().json()["messages"][0]["content"], content);
}

#[tokio::test]
async fn parallel_tool_calls_and_tool_results_round_trip() {
    let reply = json!({
        "id": "chatcmpl-t", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": null,
            "tool_calls": [
                {"id": "call_a", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_b", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Rome\"}"}}
            ]}}],
        "usage": wire::usage(40, 20)
    });
    let up = FakeUpstream::always(Reply::json(reply)).await;
    let gw = gateway_for(&up).await;
    let tools = json!([{"type": "function", "function": {"name": "weather", "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]);
    let (status, _, body) = post_json(
        &gw,
        "/v1/chat/completions",
        &json!({"model": "fast", "messages": user("Weather in Paris and Rome?"), "tools": tools,
                "tool_choice": "auto", "parallel_tool_calls": true}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let calls = &body["choices"][0]["message"]["tool_calls"];
    assert_eq!(calls.as_array().unwrap().len(), 2);
    assert_eq!(calls[1]["id"], "call_b");
    assert_eq!(calls[1]["function"]["arguments"], "{\"city\":\"Rome\"}");
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
    let sent = up.only_request().json();
    assert_eq!(sent["tools"], tools);
    assert_eq!(sent["tool_choice"], "auto");
    assert_eq!(sent["parallel_tool_calls"], true);

    // Second turn: the assistant's calls and both results go back upstream, ids intact.
    let history = json!([
        {"role": "user", "content": "Weather in Paris and Rome?"},
        body["choices"][0]["message"].clone(),
        {"role": "tool", "tool_call_id": "call_a", "content": "18C"},
        {"role": "tool", "tool_call_id": "call_b", "content": "24C"}
    ]);
    let (status, _, _) =
        post_json(&gw, "/v1/chat/completions", &json!({"model": "fast", "messages": history, "tools": tools})).await;
    assert_eq!(status, 200);
    let sent = up.received()[1].json();
    assert_eq!(sent["messages"][1]["tool_calls"][0]["id"], "call_a");
    assert_eq!(sent["messages"][1]["tool_calls"][1]["function"]["arguments"], "{\"city\":\"Rome\"}");
    assert_eq!(sent["messages"][3], json!({"role": "tool", "tool_call_id": "call_b", "content": "24C"}));
}

#[tokio::test]
async fn stream_is_relayed_event_by_event_and_the_usage_chunk_only_when_asked() {
    let up = FakeUpstream::always(Reply::sse(wire::text_stream("m", &["Hel", "lo", " world"]))).await;
    let gw = gateway_for(&up).await;

    let resp =
        post(&gw, "/v1/chat/completions", &json!({"model": "fast", "messages": user("hi"), "stream": true})).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    // Proxies and caches in front of the gateway are told not to hold the stream back.
    assert_eq!(resp.headers()["cache-control"], "no-cache");
    assert_eq!(resp.headers()["x-accel-buffering"], "no");
    assert_eq!(resp.headers().get_all("content-type").iter().count(), 1);
    assert!(resp.headers().contains_key("x-request-id"), "{:?}", resp.headers());
    let body = resp.text().await.unwrap();
    assert_eq!(streamed_text(&body), "Hello world");
    assert!(body.ends_with("data: [DONE]\n\n"), "{body}");
    let chunks = sse_json(&body);
    assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk"));
    assert!(chunks.iter().all(|c| c.get("usage").is_none_or(|u| u.is_null())), "no usage chunk unless asked: {body}");
    assert_eq!(chunks.iter().filter(|c| c["choices"][0]["finish_reason"] == "stop").count(), 1);
    // The gateway always asks for usage so streams can be accounted.
    assert_eq!(up.received()[0].json()["stream_options"], json!({"include_usage": true}));

    let resp = post(
        &gw,
        "/v1/chat/completions",
        &json!({"model": "fast", "messages": user("hi"), "stream": true, "stream_options": {"include_usage": true}}),
    )
    .await;
    let chunks = sse_json(&resp.text().await.unwrap());
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["completion_tokens"], 3);
    assert_eq!(last["usage"]["prompt_tokens"], 12);
}

#[tokio::test]
async fn first_streamed_bytes_arrive_before_the_upstream_finishes() {
    let gap = Duration::from_millis(300);
    let up = FakeUpstream::always(Reply::sse_paced(gap, wire::text_stream("m", &["a", "b", "c"]))).await;
    let gw = gateway_for(&up).await;
    let started = Instant::now();
    let mut resp =
        post(&gw, "/v1/chat/completions", &json!({"model": "fast", "messages": user("hi"), "stream": true})).await;
    let first = resp.chunk().await.unwrap().unwrap();
    let first_at = started.elapsed();
    assert!(String::from_utf8_lossy(&first).starts_with("data: "), "{first:?}");
    assert!(first_at < gap, "first chunk took {first_at:?}; the stream is being buffered");
    let mut arrivals = vec![first_at];
    while let Some(_chunk) = resp.chunk().await.unwrap() {
        arrivals.push(started.elapsed());
    }
    // Six paced events after the first: the stream cannot have been relayed in one piece.
    assert!(arrivals.len() >= 4, "{arrivals:?}");
    assert!(started.elapsed() >= gap * 5);
}

#[tokio::test]
async fn streamed_parallel_tool_call_arguments_reassemble_into_valid_json() {
    let m = "m";
    let events = vec![
        data(&wire::chunk(m, json!({"role": "assistant", "content": null}), None)),
        data(&wire::chunk(
            m,
            json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
            "function": {"name": "lookup", "arguments": ""}}]}),
            None,
        )),
        data(&wire::chunk(m, json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"q\":"}}]}), None)),
        data(&wire::chunk(
            m,
            json!({"tool_calls": [{"index": 1, "id": "call_2", "type": "function",
            "function": {"name": "lookup", "arguments": "{\"q\""}}]}),
            None,
        )),
        data(&wire::chunk(m, json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"rust\"}"}}]}), None)),
        data(&wire::chunk(m, json!({"tool_calls": [{"index": 1, "function": {"arguments": ":\"go\"}"}}]}), None)),
        data(&wire::chunk(m, json!({}), Some("tool_calls"))),
        data(&wire::usage_chunk(m, 30, 12)),
        wire::DONE.to_owned(),
    ];
    let up = FakeUpstream::always(Reply::sse(events)).await;
    let gw = gateway_for(&up).await;
    let resp = post(
        &gw,
        "/v1/chat/completions",
        &json!({"model": "fast", "messages": user("q"), "stream": true,
        "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]}),
    )
    .await;
    let chunks = sse_json(&resp.text().await.unwrap());
    let mut calls: Vec<(String, String, String)> = vec![Default::default(); 2];
    for c in &chunks {
        for tc in c["choices"][0]["delta"]["tool_calls"].as_array().into_iter().flatten() {
            let i = tc["index"].as_u64().unwrap() as usize;
            if let Some(id) = tc["id"].as_str() {
                calls[i].0 = id.to_owned();
            }
            if let Some(name) = tc["function"]["name"].as_str() {
                calls[i].1 = name.to_owned();
            }
            calls[i].2.push_str(tc["function"]["arguments"].as_str().unwrap_or(""));
        }
    }
    assert_eq!(calls[0].0, "call_1");
    assert_eq!(calls[1].0, "call_2");
    assert_eq!(calls[0].1, "lookup");
    let a: serde_json::Value = serde_json::from_str(&calls[0].2).unwrap();
    let b: serde_json::Value = serde_json::from_str(&calls[1].2).unwrap();
    assert_eq!(a, json!({"q": "rust"}));
    assert_eq!(b, json!({"q": "go"}));
    assert!(chunks.iter().any(|c| c["choices"][0]["finish_reason"] == "tool_calls"));
}

#[tokio::test]
async fn a_hundred_concurrent_requests_get_their_own_answers() {
    let up = FakeUpstream::start(|req| {
        let body = req.json();
        let question = body["messages"][0]["content"].as_str().unwrap_or_default().to_owned();
        if body["stream"] == true {
            Reply::sse_paced(Duration::from_millis(5), wire::text_stream("m", &["echo:", &question]))
        } else {
            Reply::json(wire::completion("m", &format!("echo:{question}")))
        }
    })
    .await;
    let gw = gateway_for(&up).await;
    let tasks = (0..100).map(|i| {
        let gw = &gw;
        async move {
            let q = format!("question-{i}");
            let stream = i % 2 == 0;
            let resp =
                post(gw, "/v1/chat/completions", &json!({"model": "fast", "messages": user(&q), "stream": stream}))
                    .await;
            assert_eq!(resp.status(), 200);
            let text = resp.text().await.unwrap();
            let answer = if stream {
                streamed_text(&text)
            } else {
                serde_json::from_str::<serde_json::Value>(&text).unwrap()["choices"][0]["message"]["content"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            };
            assert_eq!(answer, format!("echo:{q}"));
        }
    });
    futures_util::future::join_all(tasks).await;
    assert_eq!(up.received().len(), 100);
}

#[tokio::test]
async fn embeddings_are_relayed() {
    let up = FakeUpstream::always(Reply::json(json!({
        "object": "list", "model": "text-embedding-3-small",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.1, -0.2]},
                 {"object": "embedding", "index": 1, "embedding": [0.3, 0.4]}],
        "usage": {"prompt_tokens": 4, "total_tokens": 4}
    })))
    .await;
    let gw = gateway_for(&up).await;
    let (status, headers, body) = post_json(
        &gw,
        "/v1/embeddings",
        &json!({"model": "up/text-embedding-3-small", "input": ["a", "b"], "dimensions": 2}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"][1]["embedding"], json!([0.3, 0.4]));
    assert_eq!(body["usage"]["prompt_tokens"], 4);
    assert_eq!(headers["x-switchyard-provider"], "up");
    let got = up.only_request();
    assert_eq!(got.uri, "/v1/embeddings");
    assert_eq!(got.json(), json!({"model": "text-embedding-3-small", "input": ["a", "b"], "dimensions": 2}));
}

#[tokio::test]
async fn reasoning_controls_reach_a_model_that_reasons_and_max_tokens_is_clamped_to_its_maximum() {
    let up = FakeUpstream::always(Reply::json(wire::completion("o4-mini", "ok"))).await;
    let alias = "[models.reasoner]\ndeployments = [{ provider = \"up\", model = \"o4-mini\", max_output = 100000 }]";
    let gw = gateway_with(&up, alias).await;
    let (status, _, body) = post_json(
        &gw,
        "/v1/chat/completions",
        &json!({"model": "reasoner", "messages": [{"role": "user", "content": "Hi"}],
                "reasoning_effort": "high", "max_completion_tokens": 500000}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let sent = up.only_request().json();
    assert_eq!(sent["reasoning_effort"], "high", "{sent}");
    assert_eq!(sent["max_completion_tokens"], 100000, "clamped to the model's maximum output: {sent}");
}
