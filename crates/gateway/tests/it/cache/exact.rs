//! The exact cache: a repeated request is answered without the upstream, whole and streamed,
//! in either client dialect; scoped by key; expired by TTL; skipped or refreshed as the client
//! asks; never holding a failed, cut or sampled reply; counted against the key's request rate
//! but not its budget; a ledger row with what it saved; shared through Redis.

use std::time::Duration;

use serde_json::{json, Value};
use sqlx::Row;
use testkit::openai_wire::{self as wire, streamed_text};
use testkit::{FakeUpstream, Gateway, Received, Reply};

use crate::common::{client, get_json, new_key, MASTER_KEY};

/// A question no other run of the suite asks, so a shared Redis never answers it from before.
fn fresh(question: &str) -> String {
    format!("{question} ({})", uuid::Uuid::new_v4().simple())
}

/// Answers with text and usage 12 + 5 (streamed when asked); `finish` says how it ends.
fn answering(text: &'static str) -> impl Fn(&Received) -> Reply + Send + Sync + 'static {
    move |req: &Received| {
        let body = req.json();
        let model = body["model"].as_str().unwrap_or("m").to_owned();
        if body["stream"] == true {
            Reply::sse(wire::text_stream(&model, &[&text[..text.len() / 2], &text[text.len() / 2..]]))
        } else {
            Reply::json(wire::completion(&model, text))
        }
    }
}

fn config(up: &FakeUpstream, cache: &str, extra: &str) -> String {
    format!(
        r#"master_key_env = "MASTER"
{extra}
[providers.up]
kind = "openai_compatible"
base_url = "{}"
models = ["*"]
[models.cached]
deployments = [{{ provider = "up", model = "m1", input_price = 2.5, output_price = 10.0 }}]
cache = {{ {cache} }}
[models.uncached]
deployments = [{{ provider = "up", model = "m1" }}]
"#,
        up.v1()
    )
}

async fn start(up: &FakeUpstream, cache: &str, extra: &str) -> Gateway {
    Gateway::start_with_env(&config(up, cache, extra), &[("MASTER", MASTER_KEY)]).await
}

async fn chat(gw: &Gateway, key: &str, body: &Value, headers: &[(&str, &str)]) -> (u16, http::HeaderMap, String) {
    let mut req = client().post(gw.url("/v1/chat/completions")).bearer_auth(key).json(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
    (status, headers, resp.text().await.unwrap())
}

fn ask(question: &str) -> Value {
    json!({"model": "cached", "messages": [{"role": "user", "content": question}]})
}

fn answer_of(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    v["choices"][0]["message"]["content"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_repeated_request_is_answered_from_the_cache_and_accounted() {
    let up = FakeUpstream::start(answering("Paris.")).await;
    let gw = start(&up, r#"ttl = "1h""#, "").await;
    let question = ask(&fresh("Capital of France?"));

    let (status, headers, body) = chat(&gw, MASTER_KEY, &question, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["x-switchyard-cache"], "miss");
    assert_eq!(answer_of(&body), "Paris.");
    let (status, headers, again) = chat(&gw, MASTER_KEY, &question, &[]).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(headers["x-switchyard-cache"], "hit");
    assert_eq!(headers["x-switchyard-cache-kind"], "exact");
    assert_eq!(headers["x-switchyard-provider"], "cache");
    assert_eq!(headers["x-switchyard-cost-usd"], "0");
    assert_eq!(answer_of(&again), "Paris.");
    assert_eq!(up.received().len(), 1, "the second request never reached the upstream");

    // Streamed, the same question is a hit too, replayed as chunks.
    let mut streamed = question.clone();
    streamed["stream"] = json!(true);
    let (status, headers, text) = chat(&gw, MASTER_KEY, &streamed, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-switchyard-cache"], "hit");
    assert_eq!(streamed_text(&text), "Paris.");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");

    // Asked by an Anthropic client, the same question is the same entry.
    let anthropic = json!({"model": "cached", "max_tokens": 1024,
        "messages": [{"role": "user", "content": question["messages"][0]["content"]}]});
    let openai_with_cap = json!({"model": "cached", "max_tokens": 1024, "messages": question["messages"]});
    let (_, headers, _) = chat(&gw, MASTER_KEY, &openai_with_cap, &[]).await;
    assert_eq!(headers["x-switchyard-cache"], "miss", "another max_tokens is another question");
    let resp = client().post(gw.url("/v1/messages")).bearer_auth(MASTER_KEY).json(&anthropic).send().await.unwrap();
    assert_eq!(resp.headers()["x-switchyard-cache"], "hit");
    let message: Value = resp.json().await.unwrap();
    assert_eq!(message["content"][0]["text"], "Paris.", "{message}");
    assert_eq!(up.received().len(), 2);

    // The ledger: one row that cost 2.5 × 12 + 10 × 5 per million, hit rows that cost nothing
    // and saved that much.
    gw.wait_for_ledger_rows(5).await;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&gw.database_url).await.unwrap();
    let rows = sqlx::query("SELECT deployment, cost_nanos, cache, saved_nanos FROM ledger ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    let hits: Vec<_> = rows.iter().filter(|r| r.get::<Option<String>, _>("cache").is_some()).collect();
    assert_eq!(hits.len(), 3, "three hits");
    for hit in &hits {
        assert_eq!(hit.get::<String, _>("deployment"), "cache");
        assert_eq!(hit.get::<Option<i64>, _>("cost_nanos"), Some(0));
        assert_eq!(hit.get::<Option<String>, _>("cache").as_deref(), Some("exact"));
        assert_eq!(hit.get::<Option<i64>, _>("saved_nanos"), Some(80_000));
    }
    let spend = get_json(&gw, "/admin/spend?by=model&since=1d").await;
    let saved: i64 = spend["data"].as_array().unwrap().iter().filter_map(|r| r["saved_nanos"].as_i64()).sum();
    assert_eq!(saved, 3 * 80_000, "{spend}");
}

#[tokio::test]
async fn a_streamed_miss_is_stored_once_whole_and_a_broken_one_never() {
    let broken = std::sync::atomic::AtomicBool::new(true);
    let up = FakeUpstream::start(move |req: &Received| {
        let model = req.json()["model"].as_str().unwrap_or("m").to_owned();
        if broken.swap(false, std::sync::atomic::Ordering::SeqCst) {
            // The first stream breaks after one delta: never cached.
            let first = wire::data(&wire::chunk(&model, json!({"content": "Par"}), None));
            Reply::sse_paced(Duration::from_millis(50), vec![first.clone(), first]).ending(testkit::StreamEnd::Abort)
        } else {
            Reply::sse(wire::text_stream(&model, &["Pa", "ris."]))
        }
    })
    .await;
    let gw = start(&up, r#"ttl = "1h""#, "").await;
    let mut question = ask(&fresh("Capital of France?"));
    question["stream"] = json!(true);
    let (status, headers, text) = chat(&gw, MASTER_KEY, &question, &[]).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(headers.get("x-switchyard-cache").map(|v| v.to_str().unwrap()), Some("miss"), "{text}");
    assert!(!text.contains("[DONE]"), "the stream broke: {text}");
    let (_, headers, text) = chat(&gw, MASTER_KEY, &question, &[]).await;
    assert_eq!(headers["x-switchyard-cache"], "miss", "the broken stream was not stored");
    assert_eq!(streamed_text(&text), "Paris.");
    let (_, headers, text) = chat(&gw, MASTER_KEY, &question, &[]).await;
    assert_eq!(headers["x-switchyard-cache"], "hit", "the whole one was");
    assert_eq!(streamed_text(&text), "Paris.");
    // Asked whole, the streamed entry answers too.
    question["stream"] = json!(false);
    let (_, headers, body) = chat(&gw, MASTER_KEY, &question, &[]).await;
    assert_eq!(headers["x-switchyard-cache"], "hit");
    assert_eq!(answer_of(&body), "Paris.");
    assert_eq!(up.received().len(), 2);
}

#[tokio::test]
async fn keys_never_share_entries_unless_the_scope_is_global() {
    for (scope, shared) in [("key", false), ("global", true)] {
        let up = FakeUpstream::start(answering("Paris.")).await;
        let gw = start(&up, &format!(r#"scope = "{scope}""#), "").await;
        let mut keys = Vec::new();
        for name in ["alice", "bob"] {
            keys.push(new_key(&gw, json!({"name": name})).await.1);
        }
        let question = ask(&fresh("Capital of France?"));
        let (_, first, _) = chat(&gw, &keys[0], &question, &[]).await;
        let (_, second, body) = chat(&gw, &keys[1], &question, &[]).await;
        assert_eq!(first["x-switchyard-cache"], "miss");
        let expected = if shared { "hit" } else { "miss" };
        assert_eq!(second["x-switchyard-cache"], expected, "scope {scope}");
        assert_eq!(answer_of(&body), "Paris.");
        assert_eq!(up.received().len(), if shared { 1 } else { 2 }, "scope {scope}");
    }
}

#[tokio::test]
async fn ttl_and_client_directives_decide_what_is_read_and_written() {
    let up = FakeUpstream::start(answering("Paris.")).await;
    let gw = start(&up, r#"ttl = "1h""#, "").await;
    let question = ask(&fresh("Capital of France?"));
    // no-store: neither read nor written.
    let (_, h, _) = chat(&gw, MASTER_KEY, &question, &[("cache-control", "no-store")]).await;
    assert_eq!(h["x-switchyard-cache"], "bypass");
    let (_, h, _) = chat(&gw, MASTER_KEY, &question, &[("x-switchyard-cache-ttl", "1")]).await;
    assert_eq!(h["x-switchyard-cache"], "miss", "no-store wrote nothing");
    let (_, h, _) = chat(&gw, MASTER_KEY, &question, &[]).await;
    assert_eq!(h["x-switchyard-cache"], "hit");
    // The client's one-second TTL runs out.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let (_, h, _) = chat(&gw, MASTER_KEY, &question, &[]).await;
    assert_eq!(h["x-switchyard-cache"], "miss", "expired");
    // no-cache: asks the upstream, and refreshes the entry.
    let (_, h, _) = chat(&gw, MASTER_KEY, &question, &[("cache-control", "no-cache")]).await;
    assert_eq!(h["x-switchyard-cache"], "bypass");
    let (_, h, _) = chat(&gw, MASTER_KEY, &question, &[]).await;
    assert_eq!(h["x-switchyard-cache"], "hit");
    assert_eq!(up.received().len(), 4);

    // Sampled requests are not cached unless the alias opts in; no cache on the alias, no header.
    let mut sampled = ask(&fresh("A poem?"));
    sampled["temperature"] = json!(0.9);
    for _ in 0..2 {
        let (_, h, _) = chat(&gw, MASTER_KEY, &sampled, &[]).await;
        assert_eq!(h["x-switchyard-cache"], "bypass");
    }
    let (_, h, _) =
        chat(&gw, MASTER_KEY, &json!({"model": "uncached", "messages": [{"role": "user", "content": "x"}]}), &[]).await;
    assert!(h.get("x-switchyard-cache").is_none());
}

#[tokio::test]
async fn replies_cut_by_max_tokens_or_failed_are_not_cached() {
    let up = FakeUpstream::start(|req: &Received| {
        let body = req.json();
        let text = body["messages"][0]["content"].as_str().unwrap_or_default().to_owned();
        if text.starts_with("fail") {
            return Reply::error(500, wire::error_body("boom", "server_error", None));
        }
        let mut done = wire::completion("m1", "Par");
        done["choices"][0]["finish_reason"] = json!("length");
        Reply::json(done)
    })
    .await;
    let gw = start(&up, r#"ttl = "1h""#, "").await;
    let cut = ask(&fresh("cut"));
    let failing = ask(&fresh("fail"));
    for _ in 0..2 {
        let (_, h, _) = chat(&gw, MASTER_KEY, &cut, &[]).await;
        assert_eq!(h["x-switchyard-cache"], "miss");
        let (status, _, _) = chat(&gw, MASTER_KEY, &failing, &[]).await;
        assert_eq!(status, 500);
    }
    assert_eq!(up.received().len(), 4, "every one reached the upstream");
    let gw = start(&up, r#"ttl = "1h", cache_truncated = true"#, "").await;
    let (_, h, _) = chat(&gw, MASTER_KEY, &cut, &[]).await;
    assert_eq!(h["x-switchyard-cache"], "miss");
    let (_, h, _) = chat(&gw, MASTER_KEY, &cut, &[]).await;
    assert_eq!(h["x-switchyard-cache"], "hit", "the alias opted in to truncated replies");
}

#[tokio::test]
async fn hits_count_against_the_request_rate_but_not_the_budget() {
    let up = FakeUpstream::start(answering("Paris.")).await;
    let gw = start(&up, r#"ttl = "1h""#, "").await;
    let spec = json!({"name": "metered", "rpm": 3, "budget_usd": 0.0001, "budget_period": "day"});
    let (_, key) = new_key(&gw, spec).await;
    let mut question = ask(&fresh("Capital of France?"));
    // A small cap keeps the budget hold (prompt and cap at list price) under the budget.
    question["max_tokens"] = json!(5);
    // One miss ($0.00008, within the budget), two hits that cost nothing, then the rate refuses.
    let (status, _, body) = chat(&gw, &key, &question, &[]).await;
    assert_eq!(status, 200, "{body}");
    for _ in 0..2 {
        let (status, h, body) = chat(&gw, &key, &question, &[]).await;
        assert_eq!((status, h["x-switchyard-cache"].to_str().unwrap()), (200, "hit"), "{body}");
    }
    let (status, _, body) = chat(&gw, &key, &question, &[]).await;
    assert_eq!(status, 429, "hits count against the request rate: {body}");
    assert_eq!(up.received().len(), 1);
}

#[tokio::test]
async fn replicas_sharing_redis_share_hits() {
    let Ok(redis) = std::env::var("SWITCHYARD_TEST_REDIS") else {
        eprintln!("skipping: SWITCHYARD_TEST_REDIS is not set");
        return;
    };
    let up = FakeUpstream::start(answering("Paris.")).await;
    let extra = format!("redis_url = \"{redis}\"");
    let one = start(&up, r#"ttl = "1h""#, &extra).await;
    let two = start(&up, r#"ttl = "1h""#, &extra).await;
    let question = ask(&fresh("Capital of France?"));
    let (_, h, _) = chat(&one, MASTER_KEY, &question, &[]).await;
    assert_eq!(h["x-switchyard-cache"], "miss");
    // The write to Redis is in the background; once it is there the other replica, which never
    // asked the upstream, answers from it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, h, body) = chat(&two, MASTER_KEY, &question, &[]).await;
    assert_eq!(h["x-switchyard-cache"], "hit");
    assert_eq!(answer_of(&body), "Paris.");
    assert_eq!(up.received().len(), 1, "only the first replica asked the upstream");
}

#[tokio::test]
async fn a_responses_api_client_hits_the_same_entry_as_a_chat_client() {
    let up = FakeUpstream::start(answering("Paris.")).await;
    let gw = start(&up, r#"ttl = "1h""#, "").await;
    let question = fresh("Capital of France?");
    let (_, h, _) = chat(&gw, MASTER_KEY, &ask(&question), &[]).await;
    assert_eq!(h["x-switchyard-cache"], "miss");
    for stream in [false, true] {
        let resp = client()
            .post(gw.url("/v1/responses"))
            .bearer_auth(MASTER_KEY)
            .json(&json!({"model": "cached", "input": question, "stream": stream}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["x-switchyard-cache"], "hit", "stream: {stream}");
        let text = resp.text().await.unwrap();
        if stream {
            let deltas: String = text
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .filter_map(|d| serde_json::from_str::<Value>(d).ok())
                .filter(|e| e["type"] == "response.output_text.delta")
                .filter_map(|e| e["delta"].as_str().map(str::to_owned))
                .collect();
            assert_eq!(deltas, "Paris.", "{text}");
            assert!(text.contains("response.completed"), "{text}");
        } else {
            let body: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(body["output_text"], "Paris.", "{body}");
        }
    }
    assert_eq!(up.received().len(), 1);
}

#[tokio::test]
async fn hits_do_not_count_against_tokens_per_minute() {
    let up = FakeUpstream::start(answering("Paris.")).await;
    let gw = start(&up, r#"ttl = "1h""#, "").await;
    let (_, key) = new_key(&gw, json!({"name": "tokens", "tpm": 100})).await;
    let with_cap = |q: &str| json!({"model": "cached", "max_tokens": 20, "messages": [{"role": "user", "content": q}]});
    let question = with_cap(&fresh("Capital of France?"));
    let (status, _, body) = chat(&gw, &key, &question, &[]).await;
    assert_eq!(status, 200, "{body}");
    // Ten hits: had they counted their tokens (about 40 each: the prompt estimate and the cap),
    // the minute's 100 would be gone after the second.
    for _ in 0..10 {
        let (status, h, body) = chat(&gw, &key, &question, &[]).await;
        assert_eq!((status, h["x-switchyard-cache"].to_str().unwrap()), (200, "hit"), "{body}");
    }
    let (status, _, body) = chat(&gw, &key, &with_cap(&fresh("Capital of Spain?")), &[]).await;
    assert_eq!(status, 200, "a second question still fits the minute's tokens: {body}");
    let (status, _, body) = chat(&gw, &key, &with_cap(&fresh("Capital of Italy?")), &[]).await;
    assert_eq!(status, 429, "a third does not: {body}");
}
