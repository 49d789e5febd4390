//! Hostile clients: requests shaped to reach what they should not, or to make the gateway
//! spend memory, headers or connections on them.

use std::time::Duration;

use serde_json::{json, Value};
use testkit::openai_wire as wire;
use testkit::{FakeUpstream, Gateway, Reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{assert_anthropic_error, assert_openai_error, within};
use crate::common::{
    client, gateway_for, gateway_with, post, post_json, process_for, process_with, user, MASTER_KEY, UPSTREAM_KEY,
};

fn gemini_reply(text: &str) -> Value {
    json!({"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}],
           "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1, "totalTokenCount": 4}})
}

#[tokio::test]
async fn regression_model_names_cannot_rewrite_the_provider_url() {
    let up = FakeUpstream::always(Reply::json(gemini_reply("ok"))).await;
    let toml = format!(
        r#"
master_key_env = "MASTER"
[providers.gem]
kind = "gemini"
base_url = "{}/v1beta"
api_key_env = "GEMINI_KEY"
models = ["*"]
"#,
        up.url()
    );
    let gw = Gateway::start_with_env(&toml, &[("MASTER", MASTER_KEY), ("GEMINI_KEY", UPSTREAM_KEY)]).await;
    for model in [
        "gem/../../admin/delete?x=",
        "../../admin/delete?x=",
        "gem/gemini-2.5-flash#frag",
        "gem/%2e%2e/%2E%2E/admin",
        "gem/a/b",
        "gem/line\nbreak",
        "gem/..",
    ] {
        let (status, _, body) =
            post_json(&gw, "/v1/chat/completions", &json!({"model": model, "messages": user("hi")})).await;
        assert_eq!(status, 400, "{model:?}: {body}");
        assert_openai_error(&body, "invalid_request_error");
        assert_eq!(body["error"]["param"], "model", "{body}");
    }
    assert!(up.received().is_empty(), "an unsafe model name reached the provider: {:?}", up.received());

    // A real id still works, and reaches exactly the documented path.
    let (status, _, body) =
        post_json(&gw, "/v1/chat/completions", &json!({"model": "gem/gemini-2.5-flash", "messages": user("hi")})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(up.only_request().uri, "/v1beta/models/gemini-2.5-flash:generateContent");
}

/// A gateway without a key, as the quick start runs it.
async fn open_gateway(up: &FakeUpstream, extra: &str) -> Gateway {
    let toml = format!(
        r#"
{extra}
[providers.up]
kind = "openai_compatible"
base_url = "{}"
models = ["*"]
"#,
        up.v1()
    );
    Gateway::start_with_env(&toml, &[("UNUSED", "")]).await
}

fn chat_body() -> String {
    json!({"model": "m", "messages": user("spend my credit")}).to_string()
}

#[tokio::test]
async fn regression_web_pages_cannot_use_an_open_loopback_gateway() {
    let up = FakeUpstream::always(Reply::json(wire::completion("m", "ok"))).await;
    let gw = open_gateway(&up, "").await;
    let url = gw.url("/v1/chat/completions");

    // A "simple" cross-site request needs no preflight: text/plain, or no type at all.
    for content_type in [Some("text/plain"), Some("application/x-www-form-urlencoded"), None] {
        let mut req = client().post(&url).body(chat_body());
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 415, "{content_type:?}");
        assert_openai_error(&resp.json().await.unwrap(), "invalid_request_error");
    }
    // DNS rebinding: the page's own host name, resolved to 127.0.0.1.
    let resp = client()
        .post(&url)
        .header("host", "attacker.example:4000")
        .header("content-type", "application/json")
        .body(chat_body())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_openai_error(&resp.json().await.unwrap(), "permission_error");
    // A page on another origin, even with a JSON body (preflighted or not).
    for (name, value) in [
        ("origin", "https://attacker.example"),
        // Sandboxed iframes and file:// pages send `Origin: null`.
        ("origin", "null"),
        ("origin", "https://127.0.0.1.attacker.example"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let resp = client()
            .post(&url)
            .header(name, value)
            .header("content-type", "application/json")
            .body(chat_body())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403, "{name}");
    }
    let preflight = client()
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "https://attacker.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 403);
    assert!(preflight.headers().get("access-control-allow-origin").is_none());
    assert!(up.received().is_empty(), "a cross-site request reached the provider");

    // What a local tool sends still works, by name or by address.
    for host in ["localhost:4000", "127.0.0.1", "[::1]:4000"] {
        let resp = client()
            .post(&url)
            .header("host", host)
            .header("content-type", "application/json; charset=utf-8")
            .body(chat_body())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{host}");
    }
}

#[tokio::test]
async fn http2_clients_are_checked_by_their_authority() {
    let up = FakeUpstream::always(Reply::json(wire::completion("m", "ok"))).await;
    let gw = open_gateway(&up, "").await;
    let h2 = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
    let ok = h2
        .post(gw.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(chat_body())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.version(), reqwest::Version::HTTP_2);
    assert_eq!(ok.status(), 200);
    // The same request addressed to another name (`:authority`, no Host header).
    let url = gw.url("/v1/chat/completions").replace("127.0.0.1", "attacker.localtest.invalid");
    let resolved = reqwest::Client::builder()
        .http2_prior_knowledge()
        .resolve("attacker.localtest.invalid", gw.addr)
        .build()
        .unwrap();
    let refused = resolved.post(url).header("content-type", "application/json").body(chat_body()).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(up.received().len(), 1);
}

#[tokio::test]
async fn cors_allowlisted_origins_get_a_proper_preflight_and_headers() {
    let up = FakeUpstream::always(Reply::json(wire::completion("m", "ok"))).await;
    let gw = gateway_with(&up, "[cors]\nallow_origins = [\"https://app.example\"]").await;
    let url = gw.url("/v1/chat/completions");
    let preflight = client()
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization, content-type, x-stainless-os")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    let h = preflight.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example");
    assert!(h["access-control-allow-methods"].to_str().unwrap().contains("POST"));
    assert_eq!(h["access-control-allow-headers"], "authorization, content-type, x-stainless-os");
    assert!(h.contains_key("access-control-max-age"));

    let resp = client()
        .post(&url)
        .bearer_auth(MASTER_KEY)
        .header("origin", "https://app.example")
        .json(&json!({"model": "fast", "messages": user("hi")}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["access-control-allow-origin"], "https://app.example");
    assert!(resp.headers()["access-control-expose-headers"].to_str().unwrap().contains("x-request-id"));

    let other = client()
        .post(&url)
        .bearer_auth(MASTER_KEY)
        .header("origin", "https://other.example")
        .json(&json!({"model": "fast", "messages": user("hi")}))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 403);
    assert_eq!(up.received().len(), 1);
}

#[tokio::test]
async fn regression_metrics_need_the_master_key_and_their_labels_are_not_client_chosen() {
    let up = FakeUpstream::always(Reply::json(wire::completion("m", "ok"))).await;
    // A process of its own: the metrics registry is one per process, and the other tests of
    // this binary fill it too, so its size would depend on which of them ran first.
    let gw = process_for(&up);
    // Distinct model names a client makes up, addressed directly (`up` serves any name).
    let names: Vec<String> = (0..300).map(|i| format!("made-up-model-{i:04}-{}", "x".repeat(180))).collect();
    for name in &names {
        let resp =
            post(&gw, "/v1/chat/completions", &json!({"model": format!("up/{name}"), "messages": user("hi")})).await;
        assert_eq!(resp.status(), 200);
    }
    let resp = client().get(gw.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    assert_openai_error(&resp.json().await.unwrap(), "invalid_request_error");
    let text = client().get(gw.url("/metrics")).bearer_auth(MASTER_KEY).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("switchyard_requests_total"), "{text}");
    assert!(!text.contains("made-up-model"), "a client-chosen name became a label");
    assert!(text.len() < 64 * 1024, "/metrics grew to {} bytes", text.len());
}

#[tokio::test]
async fn metrics_can_move_to_a_listener_of_their_own() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap();
    drop(free);
    let up = FakeUpstream::always(Reply::json(wire::completion("m", "ok"))).await;
    // A process of its own, so the series below can only come from this test's request.
    let gw = process_with(&up, &format!("metrics_listen = \"{addr}\""));
    assert_eq!(
        post(&gw, "/v1/chat/completions", &json!({"model": "fast", "messages": user("hi")})).await.status(),
        200
    );
    let main = client().get(gw.url("/metrics")).bearer_auth(MASTER_KEY).send().await.unwrap();
    assert_eq!(main.status(), 404);
    let mut text = String::new();
    for _ in 0..50 {
        if let Ok(resp) = client().get(format!("http://{addr}/metrics")).send().await {
            text = resp.text().await.unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(text.contains(r#"switchyard_requests_total{alias="fast",provider="up",status="200"}"#), "{text}");
}

#[tokio::test]
async fn regression_errors_and_headers_never_echo_client_input_in_full() {
    let up = FakeUpstream::always(Reply::json(wire::completion("m", "ok"))).await;
    let gw = gateway_for(&up).await;
    let huge = "m".repeat(1024 * 1024);
    let cases = [
        ("/v1/chat/completions", json!({"model": huge, "messages": user("hi")})),
        ("/v1/chat/completions", json!({"model": format!("up/{huge}"), "messages": user("hi")})),
        ("/v1/chat/completions", json!({"model": "fast", "messages": huge})),
        ("/v1/chat/completions", json!({"model": "fast", "messages": user("hi"), "temperature": huge})),
        ("/v1/embeddings", json!({"model": huge, "input": "x"})),
        ("/v1/messages", json!({"model": huge, "max_tokens": 5, "messages": user("hi")})),
        ("/v1/messages", json!({"model": "fast", "max_tokens": huge, "messages": user("hi")})),
    ];
    for (path, body) in cases {
        let resp = post(&gw, path, &body).await;
        let status = resp.status().as_u16();
        assert!((400..500).contains(&status), "{path}: {status}");
        let headers_len: usize = resp.headers().iter().map(|(k, v)| k.as_str().len() + v.len()).sum();
        assert!(headers_len < 2048, "{path}: {headers_len} bytes of headers");
        let text = resp.text().await.unwrap();
        assert!(text.len() < 4096, "{path}: a {} byte error", text.len());
        let err: Value = serde_json::from_str(&text).unwrap();
        assert!(err["error"]["message"].as_str().is_some(), "{err}");
    }
    let resp =
        client().get(gw.url(&format!("/v1/models/{}", "n".repeat(6000)))).bearer_auth(MASTER_KEY).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert!(resp.text().await.unwrap().len() < 4096);
    assert!(up.received().is_empty());
}

#[tokio::test]
async fn regression_virtual_keys_list_the_models_they_may_use() {
    let up = FakeUpstream::always(Reply::json(wire::completion("m", "ok"))).await;
    let gw = gateway_with(&up, "[models.other]\ndeployments = [{ provider = \"up\", model = \"o\" }]\n").await;
    let (_, key) = crate::common::new_key(&gw, json!({"name": "narrow", "models": ["fast"]})).await;
    let list: Value = client().get(gw.url("/v1/models")).bearer_auth(&key).send().await.unwrap().json().await.unwrap();
    let ids: Vec<&str> = list["data"].as_array().unwrap().iter().filter_map(|m| m["id"].as_str()).collect();
    assert_eq!(ids, ["fast"], "{list}");
    let one = client().get(gw.url("/v1/models/fast")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(one.status(), 200);
    let hidden = client().get(gw.url("/v1/models/other")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(hidden.status(), 404);
    let all: Value =
        client().get(gw.url("/v1/models")).bearer_auth(MASTER_KEY).send().await.unwrap().json().await.unwrap();
    assert_eq!(all["data"].as_array().unwrap().len(), 2, "{all}");
    let wrong = client().get(gw.url("/v1/models")).bearer_auth("sk-sy-not-a-key").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
}

#[tokio::test]
async fn regression_idle_connections_are_closed_and_every_refusal_is_json() {
    let up = FakeUpstream::always(Reply::json(wire::completion("m", "ok"))).await;
    let gw = gateway_with(&up, "[timeouts]\nclient_idle_ms = 300").await;

    // A connection that never sends a byte.
    let mut silent = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let mut buf = [0u8; 64];
    let n = within(Duration::from_secs(5), "silent connection", silent.read(&mut buf)).await;
    assert!(matches!(n, Ok(0) | Err(_)), "the gateway wrote to a silent connection: {n:?}");
    // A keep-alive connection left idle after one request.
    let mut idle = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n").await.unwrap();
    let closed = within(Duration::from_secs(5), "idle keep-alive connection", async {
        let mut all = Vec::new();
        loop {
            match idle.read(&mut buf).await {
                Ok(0) | Err(_) => return all,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(String::from_utf8_lossy(&closed).starts_with("HTTP/1.1 200"));

    let long_uri = gw.url(&format!("/v1/models?q={}", "a".repeat(10_000)));
    let resp = client().get(long_uri).bearer_auth(MASTER_KEY).send().await.unwrap();
    assert_eq!(resp.status(), 414);
    assert_openai_error(&resp.json().await.unwrap(), "invalid_request_error");

    let mut req = client().get(gw.url("/v1/models")).bearer_auth(MASTER_KEY);
    for i in 0..150 {
        req = req.header(format!("x-filler-{i}"), "v");
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 431);
    assert_openai_error(&resp.json().await.unwrap(), "invalid_request_error");

    let mut req = client().post(gw.url("/v1/messages")).bearer_auth(MASTER_KEY);
    for i in 0..150 {
        req = req.header(format!("x-filler-{i}"), "v");
    }
    let resp = req.json(&json!({})).send().await.unwrap();
    assert_eq!(resp.status(), 431);
    assert_anthropic_error(&resp.json().await.unwrap(), "invalid_request_error");

    let resp = client().get(gw.url("/v1/models/%ff%fe")).bearer_auth(MASTER_KEY).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert_openai_error(&resp.json().await.unwrap(), "invalid_request_error");

    let resp = client().get(gw.url("/no/such/path")).bearer_auth(MASTER_KEY).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert!(resp.headers()["x-request-id"].to_str().unwrap().starts_with("req_"));
    assert_openai_error(&resp.json().await.unwrap(), "invalid_request_error");
}
