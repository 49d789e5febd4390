//! Hostile upstreams: providers (or whatever answers at their address) that reset, talk
//! nonsense, drip, never end, or claim absurd usage. The client always gets an answer in its
//! dialect within the request's deadline, and the ledger stays summable.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use testkit::openai_wire::{self as wire, sse_json};
use testkit::{FakeUpstream, Gateway, HostileUpstream, Misbehaviour, Reply};

use super::{assert_anthropic_error, assert_openai_error, within};
use crate::common::{client, config_at, gateway_at, post, post_json, process_at, user, MASTER_KEY, UPSTREAM_KEY};

fn chat(stream: bool) -> Value {
    json!({"model": "fast", "messages": user("hi"), "stream": stream})
}

#[tokio::test]
async fn resets_garbage_and_html_are_502s_in_both_dialects() {
    for how in [Misbehaviour::Reset, Misbehaviour::Garbage, Misbehaviour::Html200] {
        let up = HostileUpstream::start(how.clone()).await;
        let gw = gateway_at(&up.v1(), "").await;
        for stream in [false, true] {
            let (status, _, body) =
                within(Duration::from_secs(10), "openai", post_json(&gw, "/v1/chat/completions", &chat(stream))).await;
            assert_eq!(status, 502, "{how:?} stream={stream}: {body}");
            assert_openai_error(&body, "server_error");
            let messages = json!({"model": "fast", "max_tokens": 10, "messages": user("hi"), "stream": stream});
            let (status, _, body) =
                within(Duration::from_secs(10), "anthropic", post_json(&gw, "/v1/messages", &messages)).await;
            assert_eq!(status, 502, "{how:?} stream={stream}: {body}");
            assert_anthropic_error(&body, "api_error");
        }
    }
}

#[tokio::test]
async fn regression_an_unreachable_upstream_is_a_502_on_the_messages_route() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}/v1", free.local_addr().unwrap());
    drop(free);
    let gw = gateway_at(&dead, "").await;
    let messages = json!({"model": "fast", "max_tokens": 10, "messages": user("hi")});
    let (status, _, body) = post_json(&gw, "/v1/messages", &messages).await;
    assert_eq!(status, 502, "{body}");
    assert_anthropic_error(&body, "api_error");
}

#[tokio::test]
async fn regression_a_dripping_upstream_cannot_outlast_the_deadline() {
    let every = Duration::from_millis(100);
    let json_drip = HostileUpstream::start(Misbehaviour::Drip { every, content_type: "application/json" }).await;
    let gw = gateway_at(&json_drip.v1(), "[timeouts]\ntotal_ms = 1500").await;
    let started = Instant::now();
    let (status, _, body) =
        within(Duration::from_secs(10), "drip", post_json(&gw, "/v1/chat/completions", &chat(false))).await;
    assert_eq!(status, 504, "{body}");
    assert_openai_error(&body, "timeout");
    assert!(started.elapsed() < Duration::from_secs(4), "took {:?}", started.elapsed());
    let messages = json!({"model": "fast", "max_tokens": 10, "messages": user("hi")});
    let (status, _, body) = within(Duration::from_secs(10), "drip", post_json(&gw, "/v1/messages", &messages)).await;
    assert_eq!(status, 504, "{body}");
    assert_anthropic_error(&body, "timeout_error");

    // A stream whose first event never completes meets the first-token limit.
    let sse_drip = HostileUpstream::start(Misbehaviour::Drip { every, content_type: "text/event-stream" }).await;
    let gw = gateway_at(&sse_drip.v1(), "[timeouts]\nfirst_token_ms = 1000").await;
    let started = Instant::now();
    let (status, _, body) =
        within(Duration::from_secs(10), "sse drip", post_json(&gw, "/v1/chat/completions", &chat(true))).await;
    assert_eq!(status, 504, "{body}");
    assert!(started.elapsed() < Duration::from_secs(4), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn regression_a_never_ending_stream_is_cut_at_the_deadline_with_an_error_event() {
    let up = HostileUpstream::start(Misbehaviour::EndlessStream { every: Duration::from_millis(20) }).await;
    let gw = gateway_at(&up.v1(), "[timeouts]\ntotal_ms = 1200").await;
    let started = Instant::now();
    let resp = post(&gw, "/v1/chat/completions", &chat(true)).await;
    assert_eq!(resp.status(), 200);
    let text = within(Duration::from_secs(10), "endless stream", resp.text()).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(4), "took {:?}", started.elapsed());
    let events = sse_json(&text);
    assert!(events.len() > 5, "{text}");
    let last = events.last().unwrap();
    assert!(last["error"]["message"].as_str().is_some_and(|m| m.contains("deadline")), "{last}");
    assert!(!text.contains("[DONE]"));
}

#[tokio::test]
async fn regression_a_huge_sse_line_is_refused_quickly_without_slowing_others() {
    let huge = HostileUpstream::start(Misbehaviour::HugeLine { bytes: 24 * 1024 * 1024 }).await;
    let ok = FakeUpstream::always(Reply::json(wire::completion("m", "ok"))).await;
    let toml = format!(
        "{}[providers.ok]\nkind = \"openai_compatible\"\nbase_url = \"{}\"\n[models.quick]\ndeployments = [{{ provider = \"ok\", model = \"q\" }}]\n",
        config_at(&huge.v1(), ""),
        ok.v1()
    );
    let gw = Gateway::start_with_env(&toml, &[("MASTER", MASTER_KEY), ("UP_KEY", UPSTREAM_KEY)]).await;
    let started = Instant::now();
    let slow = async {
        let body = chat(true);
        let a = post_json(&gw, "/v1/chat/completions", &body);
        let b = post_json(&gw, "/v1/chat/completions", &body);
        tokio::join!(a, b)
    };
    let quick = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let t = Instant::now();
        let (status, _, _) =
            post_json(&gw, "/v1/chat/completions", &json!({"model": "quick", "messages": user("hi")})).await;
        (status, t.elapsed())
    };
    let (((s1, _, b1), (s2, _, _)), (quick_status, quick_took)) =
        within(Duration::from_secs(30), "huge lines", async { tokio::join!(slow, quick) }).await;
    assert_eq!((s1, s2), (502, 502), "{b1}");
    assert!(b1["error"]["message"].as_str().unwrap().contains("line"), "{b1}");
    assert!(started.elapsed() < Duration::from_secs(15), "took {:?}", started.elapsed());
    assert_eq!(quick_status, 200);
    assert!(quick_took < Duration::from_secs(2), "an unrelated request took {quick_took:?}");
}

#[tokio::test]
async fn regression_a_huge_reply_is_a_502_and_memory_stays_bounded() {
    let up = HostileUpstream::start(Misbehaviour::HugeBody { bytes: 200 * 1024 * 1024 }).await;
    let gw = process_at(&up.v1(), "max_response_bytes = 8388608", &[]);
    let before = gw.rss_kib();
    let url = gw.url("/v1/chat/completions");
    let one = || async {
        let resp = client().post(&url).bearer_auth(MASTER_KEY).json(&chat(false)).send().await.unwrap();
        (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
    };
    let (a, b, c) = within(Duration::from_secs(30), "huge replies", async { tokio::join!(one(), one(), one()) }).await;
    for (status, body) in [a, b, c] {
        assert_eq!(status, 502, "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("larger than"), "{body}");
    }
    let after = gw.rss_kib();
    assert!(before > 0, "resident memory could not be read from /proc");
    assert!(after < before + 150 * 1024, "resident memory went from {before} KiB to {after} KiB");
}

#[tokio::test]
async fn regression_absurd_usage_is_clamped_flagged_and_spend_still_sums() {
    let absurd = json!({"id": "x", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": i64::MAX, "completion_tokens": i64::MAX, "total_tokens": i64::MAX}});
    let up = FakeUpstream::start(move |req| {
        if String::from_utf8_lossy(&req.body).contains("sane") {
            Reply::json(wire::completion("m", "ok"))
        } else {
            Reply::json(absurd.clone())
        }
    })
    .await;
    let gw = gateway_at(&up.v1(), "").await;
    for _ in 0..3 {
        let (status, _, body) = post_json(&gw, "/v1/chat/completions", &chat(false)).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, _, _) =
        post_json(&gw, "/v1/chat/completions", &json!({"model": "fast", "messages": user("sane")})).await;
    assert_eq!(status, 200);
    let url = gw.database_url.clone();

    // Rows already stored with absurd figures (from before the clamp) do not break the sums.
    let store = gateway::ledger::Store::open(&url).await.unwrap();
    let poisoned: Vec<gateway::ledger::Entry> = (0..50)
        .map(|i| gateway::ledger::Entry {
            request_id: format!("poison-{i}"),
            at_unix_ms: gateway::ledger::unix_ms_ago(Duration::ZERO),
            alias: "fast".into(),
            deployment: "up/m".into(),
            provider: "up".into(),
            model: "m".into(),
            input_tokens: i64::MAX,
            output_tokens: i64::MAX,
            cost_nanos: Some(i64::MAX),
            status: 200,
            outcome: "ok".into(),
            ..Default::default()
        })
        .collect();
    store.insert(&poisoned).await.unwrap();
    let spend = store.spend(gateway::ledger::SpendBy::Alias, 0).await.unwrap();
    assert_eq!(spend[0].group, "fast");
    assert_eq!(spend[0].cost_nanos, i64::MAX, "the sum saturates instead of failing");
    let resp = client().get(gw.url("/admin/spend?by=alias&since=1d")).bearer_auth(MASTER_KEY).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["data"][0]["group"], "fast", "{body}");
    gw.stop().await;

    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let flagged: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ledger WHERE outcome = 'implausible_usage'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(flagged, 3, "each absurd reply is flagged, the sane one is not");
    let most: i64 = sqlx::query_scalar("SELECT MAX(input_tokens) FROM ledger WHERE request_id NOT LIKE 'poison-%'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(most, 100_000_000);
    pool.close().await;
}

#[tokio::test]
async fn regression_replies_without_a_choice_are_502s_naming_the_provider() {
    for shape in [json!({}), json!({"choices": []}), json!({"id": "x", "choices": null})] {
        let up = FakeUpstream::always(Reply::json(shape.clone())).await;
        let gw = gateway_at(&up.v1(), "").await;
        let (status, _, body) = post_json(&gw, "/v1/chat/completions", &chat(false)).await;
        assert_eq!(status, 502, "{shape}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("`up`"), "{body}");
        let messages = json!({"model": "fast", "max_tokens": 10, "messages": user("hi")});
        let (status, _, body) = post_json(&gw, "/v1/messages", &messages).await;
        assert_eq!(status, 502, "{shape}: {body}");
        assert_anthropic_error(&body, "api_error");
    }
}

#[tokio::test]
async fn regression_gemini_without_candidates_is_a_502_unless_it_says_why() {
    let up = FakeUpstream::start(|req| {
        if String::from_utf8_lossy(&req.body).contains("blocked") {
            Reply::json(json!({"promptFeedback": {"blockReason": "SAFETY"},
                "usageMetadata": {"promptTokenCount": 4, "totalTokenCount": 4}}))
        } else {
            Reply::json(json!({"usageMetadata": {"promptTokenCount": 4, "totalTokenCount": 4}}))
        }
    })
    .await;
    let toml = format!(
        "master_key_env = \"MASTER\"\n[providers.gem]\nkind = \"gemini\"\nbase_url = \"{}/v1beta\"\napi_key_env = \"UP_KEY\"\n[models.flash]\ndeployments = [{{ provider = \"gem\", model = \"gemini-2.5-flash\" }}]\n",
        up.url()
    );
    let gw = Gateway::start_with_env(&toml, &[("MASTER", MASTER_KEY), ("UP_KEY", UPSTREAM_KEY)]).await;
    let (status, _, body) =
        post_json(&gw, "/v1/chat/completions", &json!({"model": "flash", "messages": user("hi")})).await;
    assert_eq!(status, 502, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("`gem`"), "{body}");
    let (status, _, body) =
        post_json(&gw, "/v1/chat/completions", &json!({"model": "flash", "messages": user("blocked")})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["finish_reason"], "content_filter", "{body}");
}
