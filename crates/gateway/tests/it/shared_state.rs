//! Limits shared through Redis survive Redis: the gateway starts while it is down, requests of
//! limited keys keep flowing (each replica counting on its own) with no wait beyond Redis's short
//! deadline, or are refused with a 503 when `on_shared_state_error = "deny"`; counting is shared
//! again once Redis is back. The Redis here is the test's own, on a spare port, so it can be
//! stopped and started (never the machine's).

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use testkit::openai_wire as wire;
use testkit::services::OwnRedis;
use testkit::{FakeUpstream, Gateway, Reply};

use crate::common::{client, new_key, MASTER_KEY};

/// How many requests Redis's sliding window holds for `key_id`.
fn windows_of(redis: &OwnRedis, key_id: &str) -> usize {
    let fields = redis.cli(&["hgetall", &format!("switchyard:{{{key_id}}}:window")]);
    let lines: Vec<&str> = fields.lines().collect();
    lines.chunks(2).filter(|f| f[0].starts_with("r:")).filter_map(|f| f.get(1)?.parse::<usize>().ok()).sum()
}

async fn gateway(up: &FakeUpstream, redis: &OwnRedis, on_error: &str) -> Gateway {
    let toml = format!(
        r#"master_key_env = "MASTER"
redis_url = "{}"
on_shared_state_error = "{on_error}"
[providers.up]
kind = "openai_compatible"
base_url = "{}"
models = ["*"]
[models.fast]
deployments = [{{ provider = "up", model = "m" }}]
"#,
        redis.url(),
        up.v1()
    );
    Gateway::start_with_env(&toml, &[("MASTER", MASTER_KEY)]).await
}

/// A key with limits (high enough never to be reached here).
async fn limited_key(gw: &Gateway) -> (String, String) {
    new_key(gw, json!({"name": "limited", "rpm": 1000, "tpm": 10_000_000})).await
}

/// Status and time of one chat request.
async fn ask(gw: &Gateway, key: &str) -> (u16, Duration, Value) {
    let started = Instant::now();
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({"model": "fast", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, started.elapsed(), body)
}

fn have_redis() -> bool {
    if std::env::var("SWITCHYARD_TEST_REDIS").is_err() {
        eprintln!("skipping: SWITCHYARD_TEST_REDIS is not set (these tests run their own redis-server)");
        return false;
    }
    true
}

#[tokio::test]
async fn limits_keep_counting_while_redis_is_down_and_share_again_when_it_is_back() {
    if !have_redis() {
        return;
    }
    let up = FakeUpstream::always(Reply::json(wire::completion("m", "ok"))).await;
    let mut redis = OwnRedis::new();
    // Redis is down at start: the gateway starts anyway.
    let gw = gateway(&up, &redis, "local").await;
    let (id, key) = limited_key(&gw).await;
    for _ in 0..20 {
        let (status, took, body) = ask(&gw, &key).await;
        assert_eq!(status, 200, "{body}");
        assert!(took < Duration::from_millis(900), "no request waits on a Redis that is down: {took:?}");
    }
    // Redis comes up: within the retry window, counting is shared again.
    redis.start();
    testkit::wait::until("limits counted in Redis again", async || {
        ask(&gw, &key).await;
        windows_of(&redis, &id) > 0
    })
    .await;
    // Redis goes away mid-load: requests keep flowing, bounded by the short deadline.
    redis.stop();
    let mut slowest = Duration::ZERO;
    for _ in 0..30 {
        let (status, took, body) = ask(&gw, &key).await;
        assert_eq!(status, 200, "{body}");
        slowest = slowest.max(took);
    }
    assert!(slowest < Duration::from_millis(900), "slowest request while Redis was down: {slowest:?}");
}

#[tokio::test]
async fn deny_refuses_limited_keys_while_redis_is_down() {
    if !have_redis() {
        return;
    }
    let up = FakeUpstream::always(Reply::json(wire::completion("m", "ok"))).await;
    let mut redis = OwnRedis::new();
    let gw = gateway(&up, &redis, "deny").await;
    let (_, key) = limited_key(&gw).await;
    let (status, took, body) = ask(&gw, &key).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "shared_state_unavailable", "{body}");
    assert!(took < Duration::from_millis(900), "{took:?}");
    let (status, _, body) = ask(&gw, MASTER_KEY).await;
    assert_eq!(status, 200, "a caller without limits is not refused: {body}");
    redis.start();
    testkit::wait::until("the limited key is admitted once Redis is back", async || ask(&gw, &key).await.0 == 200)
        .await;
}
