//! Virtual keys, limits and budgets: the admin API and CLI, revoked and expired keys, model
//! allowlists, RPM/TPM with OpenAI-style headers, budgets under concurrency and mid-stream,
//! malformed admin requests, and (with Redis and PostgreSQL) two gateway processes sharing one
//! limit, one key table and one ledger.

use std::time::Duration;

use serde_json::{json, Value};
use testkit::openai_wire as wire;
use testkit::{FakeUpstream, Gateway, GatewayProcess, Reply};

use crate::common::{client, new_key, MASTER_KEY};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

fn config(up: &FakeUpstream, extra: &str) -> String {
    format!(
        r#"master_key_env = "MASTER"
{extra}
[providers.up]
kind = "openai_compatible"
base_url = "{}"
[models.fast]
deployments = [{{ provider = "up", model = "m", input_price = 1000.0, output_price = 1000.0 }}]
[models.other]
deployments = [{{ provider = "up", model = "o" }}]
"#,
        up.v1()
    )
}

async fn answer(up_model: &str) -> FakeUpstream {
    let model = up_model.to_owned();
    FakeUpstream::start(move |req: &testkit::Received| {
        if req.json()["stream"] == true {
            Reply::sse_paced(Duration::from_millis(50), wire::text_stream(&model, &["a", "b", "c"]))
        } else {
            Reply::json(wire::completion(&model, "ok"))
        }
    })
    .await
}

async fn chat(base: &str, key: &str, model: &str) -> (u16, http::HeaderMap, Value) {
    let resp = client()
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10}))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn keys_are_shown_once_stored_hashed_and_can_be_revoked() {
    let up = answer("m").await;
    let gw = Gateway::start_with_env(&config(&up, ""), &[("MASTER", MASTER_KEY)]).await;
    let base = gw.url("");
    let (id, key) = new_key(&gw, json!({"name": "ci", "team": "platform", "models": ["fast"]})).await;
    assert!(key.starts_with("sk-sy-"));
    let (status, _, body) = chat(&base, &key, "fast").await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = chat(&base, &key, "other").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "model_not_allowed");

    let listed: Value =
        client().get(gw.url("/admin/keys")).bearer_auth(MASTER_KEY).send().await.unwrap().json().await.unwrap();
    let text = listed.to_string();
    assert!(text.contains(&id) && text.contains("platform"));
    assert!(!text.contains(&key) && !text.contains("hash"), "secrets never come back: {text}");

    let revoked = client().delete(gw.url(&format!("/admin/keys/{id}"))).bearer_auth(MASTER_KEY).send().await.unwrap();
    assert_eq!(revoked.status(), 200);
    let (status, _, body) = chat(&base, &key, "fast").await;
    assert_eq!(status, 401, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("revoked"));
    let (status, _, _) = chat(&base, "sk-sy-not-a-real-key", "fast").await;
    assert_eq!(status, 401);
    let url = gw.database_url.clone();
    gw.stop().await;

    // The ledger row names the key and its team.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let (key_id, team): (String, String) =
        sqlx::query_as("SELECT key_id, team FROM ledger WHERE key_id IS NOT NULL").fetch_one(&pool).await.unwrap();
    assert_eq!((key_id, team.as_str()), (id, "platform"));
}

#[tokio::test]
async fn expired_keys_stop_working() {
    let up = answer("m").await;
    let gw = Gateway::start_with_env(&config(&up, ""), &[("MASTER", MASTER_KEY)]).await;
    let (_, key) = new_key(&gw, json!({"name": "brief", "expires_in_days": 0.00001})).await;
    assert_eq!(chat(&gw.url(""), &key, "fast").await.0, 200);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let (status, _, body) = chat(&gw.url(""), &key, "fast").await;
    assert_eq!(status, 401);
    assert!(body["error"]["message"].as_str().unwrap().contains("expired"));
}

#[tokio::test]
async fn the_request_after_the_rpm_limit_is_refused_with_openai_headers() {
    let up = answer("m").await;
    let gw = Gateway::start_with_env(&config(&up, ""), &[("MASTER", MASTER_KEY)]).await;
    let (_, key) = new_key(&gw, json!({"name": "rpm", "rpm": 3})).await;
    for remaining in ["2", "1", "0"] {
        let (status, headers, _) = chat(&gw.url(""), &key, "other").await;
        assert_eq!(status, 200);
        assert_eq!(headers["x-ratelimit-limit-requests"], "3");
        assert_eq!(headers["x-ratelimit-remaining-requests"], remaining);
    }
    let (status, headers, body) = chat(&gw.url(""), &key, "other").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=61).contains(&retry), "a slot frees within the sliding window: {retry}");
    assert_eq!(up.received().len(), 3, "the refused request never left");

    let (_, tight) = new_key(&gw, json!({"name": "tpm", "tpm": 100})).await;
    let (status, _, body) = chat(&gw.url(""), &tight, "other").await;
    assert_eq!(status, 200, "about 20 tokens fit: {body}");
    let big = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(&tight)
        .json(&json!({"model": "other", "messages": [{"role": "user", "content": "x".repeat(2000)}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), 429);
    assert_eq!(big.headers()["x-ratelimit-limit-tokens"], "100");
}

#[tokio::test]
async fn a_budget_is_not_overshot_by_more_than_one_estimate_under_concurrency() {
    let up = answer("m").await;
    let gw = Gateway::start_with_env(&config(&up, ""), &[("MASTER", MASTER_KEY)]).await;
    // $1,000 per million tokens: a request (~10 prompt + 10 output estimated, 12 + 5 billed)
    // costs ~$0.017-0.02; a $0.10 budget admits about five.
    let (id, key) = new_key(&gw, json!({"name": "budget", "budget_usd": 0.1, "budget_period": "day"})).await;
    let base = gw.url("");
    let results = futures_util::future::join_all((0..50).map(|_| chat(&base, &key, "fast"))).await;
    let ok = results.iter().filter(|r| r.0 == 200).count();
    let refused: Vec<&Value> = results.iter().filter(|r| r.0 == 429).map(|r| &r.2).collect();
    assert_eq!(ok + refused.len(), 50);
    assert!((4..=6).contains(&ok), "{ok} admitted");
    assert!(refused.iter().all(|b| b["error"]["code"] == "insufficient_quota"), "{refused:?}");
    let url = gw.database_url.clone();
    gw.stop().await;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let spent: i64 = sqlx::query_scalar("SELECT CAST(SUM(cost_nanos) AS BIGINT) FROM ledger WHERE key_id = $1")
        .bind(&id)
        .fetch_one(&pool)
        .await
        .unwrap();
    let one_estimate = 20_000_000 + 1_000_000; // ~21 tokens at $1,000/M
    assert!(spent <= 100_000_000 + one_estimate, "spent {spent} nano-dollars of a 100,000,000 budget");
}

#[tokio::test]
async fn a_stream_that_crosses_the_budget_completes_and_the_next_request_is_refused() {
    let up = answer("m").await;
    let gw = Gateway::start_with_env(&config(&up, ""), &[("MASTER", MASTER_KEY)]).await;
    let (_, key) = new_key(&gw, json!({"name": "stream-budget", "budget_usd": 0.021})).await;
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&json!({"model": "fast", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10, "stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "the stream in flight completes: {text}");
    // Billed 12 + 3 tokens at $1,000/M = $0.015; the next estimate (~$0.021) no longer fits.
    let (status, _, body) = chat(&gw.url(""), &key, "fast").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "insufficient_quota");
}

#[tokio::test]
async fn malformed_admin_requests_are_refused_clearly() {
    let up = answer("m").await;
    let gw = Gateway::start_with_env(&config(&up, ""), &[("MASTER", MASTER_KEY)]).await;
    let post = |body: String, key: &'static str| {
        let req =
            client().post(gw.url("/admin/keys")).bearer_auth(key).header("content-type", "application/json").body(body);
        async move {
            let resp = req.send().await.unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    let (s, b) = post(r#"{"name": "x", "colour": "red"}"#.into(), MASTER_KEY).await;
    assert_eq!(s, 400);
    assert!(b["error"]["message"].as_str().unwrap().contains("colour"), "{b}");
    let (s, b) = post(r#"{"name": ""}"#.into(), MASTER_KEY).await;
    assert_eq!(s, 400, "{b}");
    let (s, b) = post(r#"{"name": "x", "budget_usd": -5}"#.into(), MASTER_KEY).await;
    assert!(s == 400 && b["error"]["message"].as_str().unwrap().contains("budget_usd"), "{b}");
    let (s, _) = post(r#"{"name": "x", "rpm": "lots"}"#.into(), MASTER_KEY).await;
    assert_eq!(s, 400);
    let (s, _) = post("{not json".into(), MASTER_KEY).await;
    assert_eq!(s, 400);
    let (s, _) = post(r#"{"name": "x"}"#.into(), "sk-wrong").await;
    assert_eq!(s, 401);
    let (_, key) = new_key(&gw, json!({"name": "not-an-admin"})).await;
    let as_key = client().get(gw.url("/admin/keys")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(as_key.status(), 401, "a virtual key cannot manage keys");
    let missing = client().delete(gw.url("/admin/keys/key_nope")).bearer_auth(MASTER_KEY).send().await.unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn the_cli_creates_lists_and_revokes_keys() {
    let db = testkit::gateway::fresh_sqlite_url();
    let env = [("SWITCHYARD_DATABASE_URL", db.as_str())];
    let (status, out, err) = testkit::run_command(
        BIN,
        &["keys", "create", "--name", "cli", "--team", "data", "--rpm", "10", "--budget-usd", "5"],
        &env,
    );
    assert!(status.success(), "{err}");
    let (id, secret) = out.trim().split_once('\t').unwrap();
    assert!(secret.starts_with("sk-sy-"));
    let (_, list, _) = testkit::run_command(BIN, &["keys", "list"], &env);
    assert!(list.contains(id) && list.contains("active") && !list.contains(secret), "{list}");
    let (status, _, _) = testkit::run_command(BIN, &["keys", "revoke", id], &env);
    assert!(status.success());
    let (_, list, _) = testkit::run_command(BIN, &["keys", "list"], &env);
    assert!(list.contains("revoked"), "{list}");
    let (status, _, err) = testkit::run_command(
        BIN,
        &["keys", "create", "--name", "bad", "--period", "fortnight", "--budget-usd", "1"],
        &env,
    );
    assert!(!status.success() && err.contains("--period"), "{err}");
}

#[tokio::test]
async fn two_gateways_share_one_rpm_limit_one_key_table_and_one_ledger() {
    let (Ok(pg), Ok(redis)) = (std::env::var("SWITCHYARD_TEST_POSTGRES"), std::env::var("SWITCHYARD_TEST_REDIS"))
    else {
        eprintln!("skipping: SWITCHYARD_TEST_POSTGRES and SWITCHYARD_TEST_REDIS are not both set");
        return;
    };
    let up = answer("m").await;
    let dir = std::env::temp_dir().join(format!("switchyard-shared-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("switchyard.toml");
    std::fs::write(&cfg, config(&up, &format!("database_url = \"{pg}\"\nredis_url = \"{redis}\""))).unwrap();
    let a = GatewayProcess::serve(
        BIN,
        &["--config", cfg.to_str().unwrap(), "--listen", "127.0.0.1:0"],
        &[("MASTER", MASTER_KEY)],
    );
    let b = GatewayProcess::serve(
        BIN,
        &["--config", cfg.to_str().unwrap(), "--listen", "127.0.0.1:0"],
        &[("MASTER", MASTER_KEY)],
    );
    let (id, key) = new_key(&a, json!({"name": "shared", "rpm": 4})).await;
    // B learns of the key from the shared database within its refresh interval.
    let mut seen = false;
    for _ in 0..40 {
        if chat(&b.url(""), &key, "other").await.0 == 200 {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(seen, "gateway B never saw the key created on A");
    let statuses = [
        chat(&a.url(""), &key, "other").await.0,
        chat(&b.url(""), &key, "other").await.0,
        chat(&a.url(""), &key, "other").await.0,
        chat(&b.url(""), &key, "other").await.0,
    ];
    assert_eq!(statuses, [200, 200, 200, 429], "one limit of 4 per minute across both gateways");
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&pg).await.unwrap();
    let count = async || -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM ledger WHERE key_id = $1").bind(&id).fetch_one(&pool).await.unwrap()
    };
    // Each gateway commits its rows off the request path.
    testkit::wait::until("4 ledger rows for the shared key", async || count().await >= 4).await;
    assert_eq!(count().await, 4, "both gateways wrote to one ledger");
}

#[tokio::test]
async fn keys_of_one_team_share_the_teams_limit() {
    let up = answer("m").await;
    let gw = Gateway::start_with_env(&config(&up, "[teams.platform]\nrpm = 3"), &[("MASTER", MASTER_KEY)]).await;
    let base = gw.url("");
    let (_, a) = new_key(&gw, json!({"name": "a", "team": "platform"})).await;
    let (_, b) = new_key(&gw, json!({"name": "b", "team": "platform"})).await;
    let (_, solo) = new_key(&gw, json!({"name": "solo", "team": "research"})).await;
    assert_eq!(chat(&base, &a, "other").await.0, 200);
    assert_eq!(chat(&base, &b, "other").await.0, 200);
    assert_eq!(chat(&base, &a, "other").await.0, 200);
    let (status, headers, body) = chat(&base, &b, "other").await;
    assert_eq!(status, 429, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("team `platform`"), "{body}");
    assert_eq!(headers["x-ratelimit-limit-requests"], "3");
    assert_eq!(chat(&base, &solo, "other").await.0, 200, "other teams are not affected");
}
