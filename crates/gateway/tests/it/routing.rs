//! Routing against fault-injecting fake upstreams: fallback on 500/429/529/refused/hang, no
//! retry on 4xx or after a stream began, back-off and circuit breaking, retries that honour
//! Retry-After, deadlines, policy and capability filters, affinity, `auto`, weighted splits,
//! and `GET /health/deployments`. Each test asserts which deployments were tried, in order.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use testkit::openai_wire::{self as wire, sse_json, streamed_text};
use testkit::{FakeUpstream, Gateway, Received, Reply, StreamEnd};

use crate::common::{client, post, post_json, user, MASTER_KEY};

/// A gateway with providers `d1`.. over `ups` (each with the region in `regions`, if given),
/// and alias `m` over them with the alias settings `alias` and per-deployment settings `per`.
async fn gateway(ups: &[&FakeUpstream], alias: &str, per: &[&str]) -> Gateway {
    let mut toml = String::from("master_key_env = \"MASTER\"\n");
    for (i, up) in ups.iter().enumerate() {
        toml += &format!("[providers.d{n}]\nkind = \"openai_compatible\"\nbase_url = \"{}\"\n", up.v1(), n = i + 1);
    }
    let deployments: Vec<String> = (0..ups.len())
        .map(|i| {
            format!(
                "{{ provider = \"d{n}\", model = \"model-{n}\"{} }}",
                per.get(i).map_or(String::new(), |s| format!(", {s}")),
                n = i + 1
            )
        })
        .collect();
    toml += &format!("[models.m]\n{alias}\ndeployments = [{}]\n", deployments.join(", "));
    Gateway::start_with_env(&toml, &[("MASTER", MASTER_KEY)]).await
}

fn ok(model: &str) -> Reply {
    Reply::json(wire::completion(model, &format!("from {model}")))
}

async fn ask(gw: &Gateway) -> (u16, http::HeaderMap, Value) {
    post_json(gw, "/v1/chat/completions", &json!({"model": "m", "messages": user("hi")})).await
}

fn count(up: &FakeUpstream) -> usize {
    up.received().len()
}

#[tokio::test]
async fn a_500_falls_back_to_the_next_deployment() {
    let d1 = FakeUpstream::always(Reply::error(500, wire::error_body("boom", "server_error", None))).await;
    let d2 = FakeUpstream::always(ok("model-2")).await;
    let gw = gateway(&[&d1, &d2], "", &[]).await;
    let (status, headers, body) = ask(&gw).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], "from model-2");
    assert_eq!(headers["x-switchyard-attempts"], "2");
    assert_eq!(headers["x-switchyard-deployment"], "d2/model-2");
    assert_eq!((count(&d1), count(&d2)), (1, 1));
}

#[tokio::test]
async fn a_429_moves_on_and_keeps_the_deployment_out_for_its_retry_after() {
    let d1 = FakeUpstream::always(
        Reply::error(429, wire::error_body("slow down", "requests", Some("rate_limit_exceeded")))
            .with_header("retry-after", "30"),
    )
    .await;
    let d2 = FakeUpstream::always(ok("model-2")).await;
    let gw = gateway(&[&d1, &d2], "", &[]).await;
    for _ in 0..3 {
        let (status, _, body) = ask(&gw).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(count(&d1), 1, "after its 429, d1 is skipped until Retry-After passes");
    assert_eq!(count(&d2), 3);
    let health: Value =
        client().get(gw.url("/health/deployments")).bearer_auth(MASTER_KEY).send().await.unwrap().json().await.unwrap();
    let d1_state = health["deployments"].as_array().unwrap().iter().find(|d| d["deployment"] == "d1/model-1").unwrap();
    assert_eq!(d1_state["admits"], false, "{health}");
    assert!(d1_state["backoff_ms"].as_u64().unwrap() > 25_000, "{health}");
    assert_eq!(d1_state["circuit"], "closed", "a rate limit is not a failure");
}

#[tokio::test]
async fn overloaded_and_refused_connections_fall_back_too() {
    let d1 = FakeUpstream::always(Reply::error(
        529,
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    ))
    .await;
    let d3 = FakeUpstream::always(ok("model-3")).await;
    // d2 points at a port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let toml = format!(
        "[providers.d1]\nkind = \"openai_compatible\"\nbase_url = \"{}\"\n[providers.d2]\nkind = \"openai_compatible\"\nbase_url = \"http://127.0.0.1:{port}/v1\"\n[providers.d3]\nkind = \"openai_compatible\"\nbase_url = \"{}\"\n[models.m]\ndeployments = [{{ provider = \"d1\", model = \"a\" }}, {{ provider = \"d2\", model = \"b\" }}, {{ provider = \"d3\", model = \"model-3\" }}]\n",
        d1.v1(),
        d3.v1()
    );
    let gw = Gateway::start(&toml).await;
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": "m", "messages": user("hi")}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-switchyard-attempts"], "3");
    assert_eq!(resp.headers()["x-switchyard-deployment"], "d3/model-3");
}

#[tokio::test]
async fn a_400_is_not_retried_elsewhere() {
    let d1 =
        FakeUpstream::always(Reply::error(400, wire::error_body("bad 'temperature'", "invalid_request_error", None)))
            .await;
    let d2 = FakeUpstream::always(ok("model-2")).await;
    let gw = gateway(&[&d1, &d2], "", &[]).await;
    let (status, _, body) = ask(&gw).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!((count(&d1), count(&d2)), (1, 0));
}

#[tokio::test]
async fn a_hang_past_the_first_token_timeout_moves_to_the_next_deployment() {
    let d1 = FakeUpstream::always(Reply::Hang).await;
    let d2 = FakeUpstream::always(Reply::sse(wire::text_stream("model-2", &["fast"]))).await;
    let gw = gateway(&[&d1, &d2], "ttft_timeout_ms = 300", &[]).await;
    let started = Instant::now();
    let resp = post(&gw, "/v1/chat/completions", &json!({"model": "m", "messages": user("hi"), "stream": true})).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-switchyard-deployment"], "d2/model-2");
    assert_eq!(streamed_text(&resp.text().await.unwrap()), "fast");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(3), "{took:?}");
    assert_eq!((count(&d1), count(&d2)), (1, 1));
}

#[tokio::test]
async fn once_a_stream_has_begun_a_failure_is_not_retried_silently() {
    let events = wire::text_stream("model-1", &["one ", "two ", "three"]);
    let d1 = FakeUpstream::always(
        Reply::sse_paced(Duration::from_millis(20), events.into_iter().take(3)).ending(StreamEnd::Abort),
    )
    .await;
    let d2 = FakeUpstream::always(ok("model-2")).await;
    let gw = gateway(&[&d1, &d2], "", &[]).await;
    let resp = post(&gw, "/v1/chat/completions", &json!({"model": "m", "messages": user("hi"), "stream": true})).await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    // What was sent before the cut arrives (the cut may swallow the last frame in flight).
    assert!(streamed_text(&text).starts_with("one "), "{text}");
    assert!(!text.contains("[DONE]"));
    assert!(sse_json(&text).last().unwrap()["error"]["message"].is_string(), "{text}");
    assert_eq!(count(&d2), 0, "no silent retry after bytes reached the client");
}

#[tokio::test]
async fn a_failing_deployment_is_cooled_down_after_three_failures() {
    let d1 = FakeUpstream::always(Reply::error(503, wire::error_body("down", "server_error", None))).await;
    let d2 = FakeUpstream::always(ok("model-2")).await;
    let gw = gateway(&[&d1, &d2], "", &[]).await;
    for _ in 0..8 {
        assert_eq!(ask(&gw).await.0, 200);
    }
    assert_eq!(count(&d1), 3, "the circuit opens after 3 consecutive failures");
    assert_eq!(count(&d2), 8);
    let health: Value =
        client().get(gw.url("/health/deployments")).bearer_auth(MASTER_KEY).send().await.unwrap().json().await.unwrap();
    let d1_state = health["deployments"].as_array().unwrap().iter().find(|d| d["deployment"] == "d1/model-1").unwrap();
    assert_eq!(d1_state["circuit"], "open", "{health}");
    assert_eq!(d1_state["failures"], 3);
    assert!(d1_state["error_rate"].as_f64().unwrap() > 0.3);
    let d2_state = health["deployments"].as_array().unwrap().iter().find(|d| d["deployment"] == "d2/model-2").unwrap();
    assert!(d2_state["latency_ms"].as_f64().unwrap() > 0.0);
    let anonymous = client().get(gw.url("/health/deployments")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn retries_wait_at_least_what_retry_after_asks() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let d1 = FakeUpstream::start(move |_: &Received| {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            Reply::error(429, wire::error_body("wait", "requests", None)).with_header("retry-after-ms", "400")
        } else {
            ok("model-1")
        }
    })
    .await;
    let gw = gateway(&[&d1], "retries = 2", &[]).await;
    let started = Instant::now();
    let (status, headers, body) = ask(&gw).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["x-switchyard-attempts"], "2");
    assert!(started.elapsed() >= Duration::from_millis(400), "{:?}", started.elapsed());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn the_total_deadline_ends_the_request_with_a_504() {
    let d1 = FakeUpstream::always(Reply::Hang).await;
    let gw = gateway(&[&d1], "timeout_ms = 400\nretries = 3", &[]).await;
    let started = Instant::now();
    let (status, _, body) = ask(&gw).await;
    assert_eq!(status, 504, "{body}");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
}

#[tokio::test]
async fn policy_keeps_requests_in_allowed_regions_whatever_they_ask() {
    let us = FakeUpstream::always(ok("us-model")).await;
    let eu = FakeUpstream::always(ok("eu-model")).await;
    let toml = format!(
        "[providers.us]\nkind = \"openai_compatible\"\nbase_url = \"{}\"\nregion = \"us-east-1\"\n[providers.eu]\nkind = \"openai_compatible\"\nbase_url = \"{}\"\nregion = \"eu-west-1\"\nzero_data_retention = true\n[models.m]\nallowed_regions = [\"eu-*\"]\ndeployments = [{{ provider = \"us\", model = \"us-model\" }}, {{ provider = \"eu\", model = \"eu-model\" }}]\n[models.open]\ndeployments = [{{ provider = \"us\", model = \"us-model\" }}, {{ provider = \"eu\", model = \"eu-model\" }}]\n",
        us.v1(),
        eu.v1()
    );
    let gw = Gateway::start(&toml).await;
    let send = |body: Value, headers: Vec<(&'static str, &'static str)>| {
        let mut req = client().post(gw.url("/v1/chat/completions")).json(&body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        async move {
            let resp = req.send().await.unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    for _ in 0..3 {
        let (status, body) = send(json!({"model": "m", "messages": user("hi")}), vec![]).await;
        assert_eq!(status, 200);
        assert_eq!(body["model"], "eu-model");
    }
    let (status, body) =
        send(json!({"model": "m", "messages": user("hi"), "provider": {"only": ["us"]}}), vec![]).await;
    assert_eq!(status, 400, "a request cannot widen its alias's policy: {body}");
    assert_eq!(body["error"]["code"], "no_eligible_deployment");
    assert!(body["error"]["message"].as_str().unwrap().contains("eu-*"), "{body}");
    // Counted as the client's error, under the alias it asked for.
    let metrics = client().get(gw.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"switchyard_request_errors_total{alias="m",provider="",kind="refused"}"#), "{metrics}");
    let (status, _) = send(json!({"model": "m", "messages": user("hi")}), vec![("x-switchyard-regions", "us-*")]).await;
    assert_eq!(status, 400);
    // A request may narrow an open alias: only EU, or only zero-data-retention providers.
    let (status, body) =
        send(json!({"model": "open", "messages": user("hi")}), vec![("x-switchyard-regions", "eu-*")]).await;
    assert_eq!((status, body["model"].as_str()), (200, Some("eu-model")));
    let (status, body) =
        send(json!({"model": "open", "messages": user("hi"), "provider": {"data_collection": "deny"}}), vec![]).await;
    assert_eq!((status, body["model"].as_str()), (200, Some("eu-model")));
    assert_eq!(count(&us), 0, "nothing ever reached the US provider");
    assert!(eu.received().iter().all(|r| r.json().get("provider").is_none()), "the routing object is not forwarded");
}

#[tokio::test]
async fn requests_go_only_where_they_can_be_served() {
    let small = FakeUpstream::always(ok("small")).await;
    let large = FakeUpstream::always(ok("large")).await;
    let gw =
        gateway(&[&small, &large], "", &["context_window = 1000, supports = [\"images\"]", "context_window = 128000"])
            .await;
    let short = json!({"model": "m", "messages": user("hi")});
    let long = json!({"model": "m", "messages": user(&"lorem ipsum dolor ".repeat(400))});
    let tools = json!({"model": "m", "messages": user("hi"),
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]});
    assert_eq!(post_json(&gw, "/v1/chat/completions", &short).await.2["model"], "small");
    assert_eq!(
        post_json(&gw, "/v1/chat/completions", &long).await.2["model"],
        "large",
        "too long for the small window"
    );
    assert_eq!(post_json(&gw, "/v1/chat/completions", &tools).await.2["model"], "large", "small has no tools");
    let huge = json!({"model": "m", "messages": user(&"lorem ipsum dolor ".repeat(40_000))});
    let (status, _, body) = post_json(&gw, "/v1/chat/completions", &huge).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "context_length_exceeded");
    assert_eq!((count(&small), count(&large)), (1, 2));
}

#[tokio::test]
async fn a_long_shared_prefix_sticks_to_the_deployment_that_served_it() {
    let a = FakeUpstream::always(ok("a")).await;
    let b = FakeUpstream::always(ok("b")).await;
    let gw = gateway(&[&a, &b], "strategy = \"weighted\"", &[]).await;
    let system = "You are a meticulous assistant. ".repeat(200);
    let mut served = std::collections::HashSet::new();
    for i in 0..12 {
        let body = json!({"model": "m", "messages": [
            {"role": "system", "content": system},
            {"role": "user", "content": format!("question {i}")}]});
        let (status, _, reply) = post_json(&gw, "/v1/chat/completions", &body).await;
        assert_eq!(status, 200);
        served.insert(reply["model"].as_str().unwrap().to_owned());
    }
    assert_eq!(served.len(), 1, "every request with the cached prefix went to one deployment");
    // Short prompts have nothing worth caching and spread by weight.
    let mut short_served = std::collections::HashSet::new();
    for _ in 0..30 {
        short_served.insert(ask(&gw).await.2["model"].as_str().unwrap().to_owned());
    }
    assert_eq!(short_served.len(), 2);
}

#[tokio::test]
async fn weights_split_traffic_in_proportion() {
    let heavy = FakeUpstream::always(ok("heavy")).await;
    let light = FakeUpstream::always(ok("light")).await;
    let gw = gateway(&[&heavy, &light], "strategy = \"weighted\"", &["weight = 3", "weight = 1"]).await;
    for _ in 0..400 {
        ask(&gw).await;
    }
    let ratio = count(&heavy) as f64 / count(&light) as f64;
    assert!((1.9..4.8).contains(&ratio), "3:1 weights gave {} vs {}", count(&heavy), count(&light));
}

#[tokio::test]
async fn auto_picks_the_cheapest_deployment_of_the_tier() {
    let cheap_small = FakeUpstream::always(ok("nano")).await;
    let mid = FakeUpstream::always(ok("mini")).await;
    let frontier = FakeUpstream::always(ok("big")).await;
    let toml = format!(
        "[providers.p1]\nkind = \"openai_compatible\"\nbase_url = \"{}\"\n[providers.p2]\nkind = \"openai_compatible\"\nbase_url = \"{}\"\n[providers.p3]\nkind = \"openai_compatible\"\nbase_url = \"{}\"\n[models.nano]\ndeployments = [{{ provider = \"p1\", model = \"nano\", input_price = 0.05, output_price = 0.4, tier = \"small\" }}]\n[models.mini]\ndeployments = [{{ provider = \"p2\", model = \"mini\", input_price = 0.4, output_price = 1.6, tier = \"standard\" }}]\n[models.big]\ndeployments = [{{ provider = \"p3\", model = \"big\", input_price = 2.0, output_price = 8.0, tier = \"frontier\" }}]\n",
        cheap_small.v1(),
        mid.v1(),
        frontier.v1()
    );
    let gw = Gateway::start(&toml).await;
    let ask_model = |model: &'static str| {
        let req = client().post(gw.url("/v1/chat/completions")).json(&json!({"model": model, "messages": user("hi")}));
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    assert_eq!(ask_model("auto").await["model"], "mini", "cheapest of standard or better");
    assert_eq!(ask_model("auto:small").await["model"], "nano");
    assert_eq!(ask_model("auto:frontier").await["model"], "big");
    let bad = ask_model("auto:galactic").await;
    assert_eq!(bad["error"]["param"], "model", "{bad}");
}

#[tokio::test]
async fn a_deployment_at_its_concurrency_cap_takes_no_more() {
    let slow =
        FakeUpstream::always(Reply::sse_paced(Duration::from_millis(300), wire::text_stream("model-1", &["a", "b"])))
            .await;
    let gw = gateway(&[&slow], "", &["max_concurrency = 1"]).await;
    let first = post(&gw, "/v1/chat/completions", &json!({"model": "m", "messages": user("hi"), "stream": true})).await;
    assert_eq!(first.status(), 200);
    let (status, headers, body) = ask(&gw).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "deployments_busy");
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(streamed_text(&first.text().await.unwrap()), "ab");
    let again = post(&gw, "/v1/chat/completions", &json!({"model": "m", "messages": user("hi"), "stream": true})).await;
    assert_eq!(again.status(), 200, "free again once the stream ended");
}
