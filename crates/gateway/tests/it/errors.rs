//! Every failure reaches the client as OpenAI error JSON with the right status: bad input,
//! auth, unknown models, and upstreams that refuse, break, hang or talk nonsense.

use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};
use testkit::openai_wire::{self as wire, sse_json};
use testkit::{FakeUpstream, Reply, StreamEnd};

use crate::common::{client, gateway_for, gateway_with, post, post_json, user, MASTER_KEY, UPSTREAM_KEY};

async fn raw_post(gw: &testkit::Gateway, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(MASTER_KEY)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

fn assert_openai_error(body: &Value, kind: &str) {
    assert_eq!(body["error"]["type"], kind, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
}

#[tokio::test]
async fn malformed_requests_are_400_and_never_reach_the_upstream() {
    let up = FakeUpstream::always(Reply::json(wire::completion("m", "x"))).await;
    let gw = gateway_for(&up).await;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated JSON", br#"{"model": "fast", "messages": [{"role": "user", "con"#.to_vec()),
        ("not JSON", b"model=fast".to_vec()),
        ("empty body", Vec::new()),
        ("JSON array", b"[1,2]".to_vec()),
        ("messages of the wrong type", br#"{"model": "fast", "messages": "hi"}"#.to_vec()),
        (
            "temperature as a string",
            br#"{"model": "fast", "messages": [{"role":"user","content":"x"}], "temperature": "hot"}"#.to_vec(),
        ),
        ("no model", br#"{"messages": [{"role":"user","content":"x"}]}"#.to_vec()),
        ("empty messages", br#"{"model": "fast", "messages": []}"#.to_vec()),
        ("unknown role", br#"{"model": "fast", "messages": [{"role":"wizard","content":"x"}]}"#.to_vec()),
        (
            "invalid UTF-8",
            b"{\"model\": \"fast\", \"messages\": [{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}".to_vec(),
        ),
    ];
    for (what, body) in cases {
        let (status, err) = raw_post(&gw, body).await;
        assert_eq!(status, 400, "{what}: {err}");
        assert_openai_error(&err, "invalid_request_error");
    }
    assert!(up.received().is_empty());
}

#[tokio::test]
async fn unknown_model_is_404_model_not_found() {
    let up = FakeUpstream::always(Reply::json(wire::completion("m", "x"))).await;
    // No catch-all pattern here: only aliases and `provider/model` resolve.
    let toml =
        format!("[providers.up]\nkind = \"openai_compatible\"\nbase_url = \"{}\"\nmodels = [\"gpt-*\"]\n", up.v1());
    let gw = testkit::Gateway::start_with_env(&toml, &[("X", "y")]).await;
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": "claude-9", "messages": user("hi")}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert_openai_error(&body, "invalid_request_error");
    assert_eq!(body["error"]["code"], "model_not_found");
    assert!(body["error"]["message"].as_str().unwrap().contains("claude-9"));
    for model in ["nope/gpt-4o", "up/"] {
        let resp = client()
            .post(gw.url("/v1/chat/completions"))
            .json(&json!({"model": model, "messages": user("hi")}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 404, "{model}");
    }
    let resp = client().get(gw.url("/v1/models/claude-9")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert!(up.received().is_empty());
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let up = FakeUpstream::always(Reply::json(wire::completion("m", "x"))).await;
    let gw = gateway_with(&up, "max_body_bytes = 10000").await;
    let big = json!({"model": "fast", "messages": user(&"x".repeat(20_000))}).to_string();
    let (status, err) = raw_post(&gw, big.clone()).await;
    assert_eq!(status, 413, "{err}");
    assert_openai_error(&err, "invalid_request_error");
    // Without a Content-Length (chunked), the limit still holds.
    let chunks = futures_util::stream::iter(
        big.into_bytes().chunks(1000).map(|c| Ok::<_, std::io::Error>(Bytes::copy_from_slice(c))).collect::<Vec<_>>(),
    );
    let (status, _) = raw_post(&gw, reqwest::Body::wrap_stream(chunks)).await;
    assert_eq!(status, 413);
    assert!(up.received().is_empty());
}

#[tokio::test]
async fn missing_or_wrong_key_is_401() {
    let up = FakeUpstream::always(Reply::json(wire::completion("m", "x"))).await;
    let gw = gateway_for(&up).await;
    let body = json!({"model": "fast", "messages": user("hi")});
    let url = gw.url("/v1/chat/completions");
    for req in [
        client().post(&url).json(&body),
        client().post(&url).bearer_auth("sk-wrong").json(&body),
        client().post(&url).header("x-api-key", "sk-master-tes").json(&body),
        client().post(&url).header("authorization", format!("Basic {MASTER_KEY}")).json(&body),
    ] {
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 401);
        let err: Value = resp.json().await.unwrap();
        // OpenAI's own 401 says `invalid_request_error` with code `invalid_api_key`.
        assert_openai_error(&err, "invalid_request_error");
        assert_eq!(err["error"]["code"], "invalid_api_key");
    }
    let resp = client().get(gw.url("/v1/models")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let resp = client().post(&url).header("x-api-key", MASTER_KEY).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 200, "x-api-key is accepted too");
    assert_eq!(up.received().len(), 1);
}

#[tokio::test]
async fn upstream_errors_pass_through_with_status_type_and_retry_after_but_not_the_key() {
    let up = FakeUpstream::start(|req| {
        let body = req.json();
        match body["messages"][0]["content"].as_str().unwrap_or_default() {
            "limit" => Reply::error(429, wire::error_body("Rate limit reached for gpt-4o-mini", "requests", Some("rate_limit_exceeded")))
                .with_header("retry-after", "7")
                .with_header("x-ratelimit-remaining-requests", "0"),
            "key" => Reply::error(
                401,
                wire::error_body(&format!("Incorrect API key provided: {UPSTREAM_KEY}."), "invalid_request_error", Some("invalid_api_key")),
            ),
            _ => Reply::error(400, json!({"error": {"message": "'messages.0.content' is too long", "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}})),
        }
    })
    .await;
    let gw = gateway_for(&up).await;
    let resp = post(&gw, "/v1/chat/completions", &json!({"model": "fast", "messages": user("limit")})).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");
    assert_eq!(resp.headers()["x-ratelimit-remaining-requests"], "0");
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["type"], "requests");
    assert_eq!(err["error"]["code"], "rate_limit_exceeded");
    assert_eq!(err["error"]["message"], "Rate limit reached for gpt-4o-mini");

    let (status, _, err) =
        post_json(&gw, "/v1/chat/completions", &json!({"model": "fast", "messages": user("key")})).await;
    assert_eq!(status, 401);
    let text = err.to_string();
    assert!(!text.contains(UPSTREAM_KEY), "the provider key leaked: {text}");
    assert!(text.contains("Incorrect API key provided"));

    let (status, _, err) =
        post_json(&gw, "/v1/chat/completions", &json!({"model": "fast", "messages": user("long")})).await;
    assert_eq!(status, 400);
    assert_eq!(err["error"]["param"], "messages");
    assert_eq!(err["error"]["code"], "context_length_exceeded");
}

#[tokio::test]
async fn an_upstream_speaking_garbage_is_a_502_not_a_panic() {
    let up = FakeUpstream::start(|req| {
        let stream = req.json()["stream"] == true;
        let body = Bytes::from_static(b"<html>502 Bad Gateway</html>");
        if stream {
            Reply::Stream {
                status: 200,
                content_type: "text/event-stream".into(),
                events: vec![(Duration::ZERO, Bytes::from_static(b"data: {not json\n\n"))],
                end: StreamEnd::Close,
            }
        } else {
            Reply::Raw { status: 200, content_type: "text/html".into(), body }
        }
    })
    .await;
    let gw = gateway_for(&up).await;
    for stream in [false, true] {
        let (status, _, err) =
            post_json(&gw, "/v1/chat/completions", &json!({"model": "fast", "messages": user("hi"), "stream": stream}))
                .await;
        assert_eq!(status, 502, "stream={stream}: {err}");
        assert!(err["error"]["message"].as_str().unwrap().contains("`up`"), "{err}");
    }
    // Garbage in an error reply still gives the upstream's status.
    let up = FakeUpstream::always(Reply::Raw {
        status: 503,
        content_type: "text/plain".into(),
        body: Bytes::from_static(b"upstream connect error"),
    })
    .await;
    let gw = gateway_for(&up).await;
    let (status, _, err) =
        post_json(&gw, "/v1/chat/completions", &json!({"model": "fast", "messages": user("hi")})).await;
    assert_eq!(status, 503, "{err}");
    assert!(err["error"]["message"].as_str().unwrap().contains("upstream connect error"), "{err}");
}

#[tokio::test]
async fn a_stream_cut_mid_way_ends_with_an_error_event_not_silence() {
    let events = wire::text_stream("m", &["one", "two", "three"]);
    for end in [StreamEnd::Abort, StreamEnd::Close] {
        // The first three events, then the connection ends before finish and [DONE].
        let gap = Duration::from_millis(20);
        let up = FakeUpstream::always(Reply::sse_paced(gap, events[..3].to_vec()).ending(end)).await;
        let gw = gateway_for(&up).await;
        let resp =
            post(&gw, "/v1/chat/completions", &json!({"model": "fast", "messages": user("hi"), "stream": true})).await;
        assert_eq!(resp.status(), 200);
        let body = resp.text().await.unwrap();
        assert!(!body.contains("[DONE]"), "{end:?}: a broken stream must not look complete: {body}");
        let chunks = sse_json(&body);
        assert_eq!(chunks[1]["choices"][0]["delta"]["content"], "one");
        let last = chunks.last().unwrap();
        assert!(last["error"]["message"].as_str().is_some_and(|m| m.contains("upstream")), "{end:?}: {body}");
    }
}

#[tokio::test]
async fn an_upstream_that_never_answers_times_out_with_504() {
    let up = FakeUpstream::always(Reply::Hang).await;
    let gw = gateway_with(&up, "[timeouts]\nread_ms = 300").await;
    let started = std::time::Instant::now();
    let (status, _, err) =
        post_json(&gw, "/v1/chat/completions", &json!({"model": "fast", "messages": user("hi")})).await;
    assert_eq!(status, 504, "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));

    // A stream that goes silent after its first event ends with an error event.
    let up =
        FakeUpstream::always(Reply::sse(wire::text_stream("m", &["a"])[..2].to_vec()).ending(StreamEnd::Hang)).await;
    let gw = gateway_with(&up, "[timeouts]\nread_ms = 300").await;
    let resp =
        post(&gw, "/v1/chat/completions", &json!({"model": "fast", "messages": user("hi"), "stream": true})).await;
    let body = resp.text().await.unwrap();
    let last = sse_json(&body).pop().unwrap();
    assert!(last["error"]["message"].is_string(), "{body}");
}

#[tokio::test]
async fn a_refused_connection_is_502_and_the_next_deployment_is_tried() {
    let good = FakeUpstream::always(Reply::json(wire::completion("m", "from the backup"))).await;
    let failing = FakeUpstream::always(Reply::error(500, wire::error_body("boom", "server_error", None))).await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let toml = format!(
        r#"
[providers.dead]
kind = "openai_compatible"
base_url = "http://{closed}/v1"
[providers.failing]
kind = "openai_compatible"
base_url = "{}"
[providers.good]
kind = "openai_compatible"
base_url = "{}"
[models.resilient]
deployments = [{{ provider = "dead", model = "a" }}, {{ provider = "failing", model = "b" }}, {{ provider = "good", model = "c" }}]
[models.doomed]
deployments = [{{ provider = "dead", model = "a" }}]
"#,
        failing.v1(),
        good.v1()
    );
    let gw = testkit::Gateway::start_with_env(&toml, &[("X", "y")]).await;
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": "resilient", "messages": user("hi")}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-switchyard-provider"], "good");
    assert_eq!(resp.headers()["x-switchyard-attempts"], "3");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "from the backup");
    assert_eq!(failing.only_request().json()["model"], "b");
    assert_eq!(good.only_request().json()["model"], "c");

    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": "doomed", "messages": user("hi")}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 502);
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("could not connect"), "{body}");
}

#[tokio::test]
async fn unknown_paths_and_methods_get_json_errors() {
    let up = FakeUpstream::always(Reply::json(wire::completion("m", "x"))).await;
    let gw = gateway_for(&up).await;
    let resp = client().get(gw.url("/v1/nothing")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert_openai_error(&resp.json().await.unwrap(), "invalid_request_error");
    let resp = client().get(gw.url("/v1/chat/completions")).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    assert_openai_error(&resp.json().await.unwrap(), "invalid_request_error");
}
