//! The ledger: a row per attempt that reached a provider, with tokens, cost at list price (or
//! `unpriced`), status, latency, time to first token, stream and cancellation; written off the
//! request path; flushed at shutdown; at most one commit window lost to kill -9; PostgreSQL over
//! a real connection when `SWITCHYARD_TEST_POSTGRES` is set; `spend` by CLI and admin API.

use std::time::Duration;

use serde_json::json;
use sqlx::Row;
use testkit::openai_wire as wire;
use testkit::{FakeUpstream, Gateway, GatewayProcess, Reply};

use crate::common::{client, failover_config, get_json, post, post_json, user, MASTER_KEY};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

/// Replies by request: streams when asked, otherwise a completion with usage 12 + 5.
fn good(req: &testkit::Received) -> Reply {
    let body = req.json();
    let model = body["model"].as_str().unwrap_or("m").to_owned();
    if body["stream"] == true {
        Reply::sse_paced(Duration::from_millis(30), wire::text_stream(&model, &["a", "b", "c", "d", "e", "f"]))
    } else {
        Reply::json(wire::completion(&model, "ok"))
    }
}

async fn rows(url: &str) -> Vec<sqlx::any::AnyRow> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    sqlx::query(
        "SELECT request_id, alias, deployment, provider, model, input_tokens, output_tokens, cost_nanos, status, \
         outcome, latency_ms, ttft_ms, CAST(stream AS INTEGER) AS stream, CAST(cancelled AS INTEGER) AS cancelled \
         FROM ledger ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn every_attempt_gets_a_row_with_its_cost() {
    let flaky = FakeUpstream::always(Reply::error(500, wire::error_body("boom", "server_error", None))).await;
    let ok = FakeUpstream::start(good).await;
    let gw = Gateway::start_with_env(&failover_config(&flaky, &ok, None), &[("MASTER", MASTER_KEY)]).await;
    let (status, headers, _) =
        post_json(&gw, "/v1/chat/completions", &json!({"model": "priced", "messages": user("hi")})).await;
    assert_eq!(status, 200);
    // 12 prompt tokens at $2.50/M + 5 completion tokens at $10/M = $0.00008.
    assert_eq!(headers["x-switchyard-cost-usd"], "0.00008");
    let priced_id = headers["x-request-id"].to_str().unwrap().to_owned();
    let (_, headers, _) =
        post_json(&gw, "/v1/chat/completions", &json!({"model": "free", "messages": user("hi")})).await;
    assert!(headers.get("x-switchyard-cost-usd").is_none(), "no price, no cost header");
    let resp =
        post(&gw, "/v1/chat/completions", &json!({"model": "free", "messages": user("hi"), "stream": true})).await;
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap();
    let mut cut =
        post(&gw, "/v1/chat/completions", &json!({"model": "free", "messages": user("hi"), "stream": true})).await;
    assert!(cut.chunk().await.unwrap().is_some());
    drop(cut);
    // The cut stream's row is written once the gateway has seen the client go: the fifth.
    gw.wait_for_ledger_rows(5).await;
    let url = gw.database_url.clone();
    gw.stop().await; // flushes

    let rows = rows(&url).await;
    assert_eq!(rows.len(), 5, "500 + success for `priced`, then free, stream, cancelled stream");
    let get_s = |i: usize, c: &str| rows[i].try_get::<String, _>(c).unwrap();
    let get_i = |i: usize, c: &str| rows[i].try_get::<i64, _>(c).unwrap();
    let get_oi = |i: usize, c: &str| rows[i].try_get::<Option<i64>, _>(c).unwrap();
    let get_b = |i: usize, c: &str| get_i(i, c) != 0;
    assert_eq!((get_s(0, "request_id"), get_s(1, "request_id")), (priced_id.clone(), priced_id));
    assert_eq!((get_s(0, "deployment").as_str(), get_i(0, "status")), ("flaky/m1", 500));
    assert_eq!(get_oi(0, "cost_nanos"), None);
    assert_eq!((get_s(1, "deployment").as_str(), get_i(1, "status")), ("good/m2", 200));
    assert_eq!((get_i(1, "input_tokens"), get_i(1, "output_tokens")), (12, 5));
    assert_eq!(get_oi(1, "cost_nanos"), Some(80_000));
    assert_eq!((get_s(2, "alias").as_str(), get_oi(2, "cost_nanos")), ("free", None), "unpriced, not $0");
    assert!(get_b(3, "stream") && !get_b(3, "cancelled"));
    assert_eq!(get_i(3, "output_tokens"), 6, "usage from the stream's last event");
    assert!(get_oi(3, "ttft_ms").is_some());
    assert!(get_b(4, "stream") && get_b(4, "cancelled"));
    assert_eq!(get_s(4, "outcome"), "client_cancelled");
}

#[tokio::test]
async fn spend_by_model_from_the_cli_and_the_admin_api() {
    let flaky = FakeUpstream::always(Reply::error(500, wire::error_body("boom", "server_error", None))).await;
    let ok = FakeUpstream::start(good).await;
    let gw = Gateway::start_with_env(&failover_config(&flaky, &ok, None), &[("MASTER", MASTER_KEY)]).await;
    for _ in 0..3 {
        post_json(&gw, "/v1/chat/completions", &json!({"model": "priced", "messages": user("hi")})).await;
    }
    // Each request is two rows (flaky's 500, then good's answer), committed off the request path.
    gw.wait_for_ledger_rows(6).await;
    let spend = get_json(&gw, "/admin/spend?by=model&since=1h").await;
    let m2 = spend["data"].as_array().unwrap().iter().find(|r| r["group"] == "m2").unwrap();
    assert_eq!(m2["requests"], 3);
    assert!((m2["cost_usd"].as_f64().unwrap() - 0.00024).abs() < 1e-12, "{spend}");
    let bad = client().get(gw.url("/admin/spend?by=colour")).bearer_auth(MASTER_KEY).send().await.unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(client().get(gw.url("/admin/spend")).send().await.unwrap().status(), 401);
    let url = gw.database_url.clone();
    gw.stop().await;

    let (status, out, err) = testkit::run_command(
        BIN,
        &["spend", "--by", "provider", "--since", "7d"],
        &[("SWITCHYARD_DATABASE_URL", &url)],
    );
    assert!(status.success(), "{err}");
    let good_line = out.lines().find(|l| l.starts_with("good ")).unwrap_or_else(|| panic!("{out}"));
    let cols: Vec<&str> = good_line.split_whitespace().collect();
    assert_eq!(cols[1..], ["3", "36", "15", "0.000240", "0", "0.000000"], "nothing saved without a cache: {out}");
    let flaky_line = out.lines().find(|l| l.starts_with("flaky ")).unwrap();
    assert!(flaky_line.split_whitespace().nth(1) == Some("3"), "failed attempts are rows too: {out}");
}

#[tokio::test]
async fn kill_9_loses_at_most_one_commit_window_and_sigterm_loses_nothing() {
    let ok = FakeUpstream::start(good).await;
    let flaky = FakeUpstream::start(good).await;
    let dir = std::env::temp_dir().join(format!("switchyard-crash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("switchyard.toml");
    for (name, signal, settle) in [("kill", "KILL", true), ("term", "TERM", false)] {
        let db = format!("sqlite://{}/{name}.db", dir.display());
        std::fs::write(&cfg, failover_config(&flaky, &ok, Some(&db))).unwrap();
        let mut gw = GatewayProcess::serve(BIN, &["--config", cfg.to_str().unwrap()], &[("MASTER", MASTER_KEY)]);
        let mut ids = Vec::new();
        for _ in 0..40 {
            let resp = client()
                .post(gw.url("/v1/chat/completions"))
                .bearer_auth(MASTER_KEY)
                .json(&json!({"model": "free", "messages": user("hi")}))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            ids.push(resp.headers()["x-request-id"].to_str().unwrap().to_owned());
        }
        if settle {
            // Everything committed (each row within one commit window) must survive kill -9.
            testkit::wait::ledger_rows(&db, 40).await;
        }
        gw.signal(signal);
        assert!(gw.wait(Duration::from_secs(10)).is_some());
        let rows = rows(&db).await;
        let got: Vec<String> = rows.iter().map(|r| r.try_get::<String, _>("request_id").unwrap()).collect();
        assert_eq!(got, ids, "{name}: every completed request exactly once, in order");
    }
}

#[tokio::test]
async fn postgres_holds_the_same_ledger() {
    let Ok(url) = std::env::var("SWITCHYARD_TEST_POSTGRES") else {
        eprintln!("skipping: SWITCHYARD_TEST_POSTGRES is not set");
        return;
    };
    let flaky = FakeUpstream::always(Reply::error(503, wire::error_body("down", "server_error", None))).await;
    let ok = FakeUpstream::start(good).await;
    let gw = Gateway::start_with_env(&failover_config(&flaky, &ok, Some(&url)), &[("MASTER", MASTER_KEY)]).await;
    let (status, headers, _) =
        post_json(&gw, "/v1/chat/completions", &json!({"model": "priced", "messages": user("hi")})).await;
    assert_eq!(status, 200);
    let id = headers["x-request-id"].to_str().unwrap().to_owned();
    gw.stop().await;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let found = sqlx::query("SELECT deployment, status, cost_nanos FROM ledger WHERE request_id = $1 ORDER BY id")
        .bind(&id)
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].try_get::<String, _>("deployment").unwrap(), "flaky/m1");
    assert_eq!(found[0].try_get::<i32, _>("status").unwrap(), 503);
    assert_eq!(found[1].try_get::<Option<i64>, _>("cost_nanos").unwrap(), Some(80_000));
}

#[tokio::test]
async fn catalog_prices_apply_and_config_entries_override_them() {
    let up = FakeUpstream::start(good).await;
    let toml = |extra: &str| {
        format!(
            "{extra}\n[providers.openai]\nkind = \"openai\"\nbase_url = \"{}\"\napi_key_env = \"K\"\n[models.m]\ndeployments = [{{ provider = \"openai\", model = \"gpt-4o-2024-11-20\" }}]\n",
            up.v1()
        )
    };
    // From the shipped catalog: 12 × $2.50 + 5 × $10 per million = $0.00008.
    let gw = Gateway::start_with_env(&toml(""), &[("K", "sk-x")]).await;
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": "m", "messages": user("hi")}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-switchyard-cost-usd"], "0.00008");
    gw.stop().await;

    let override_entry =
        "[[catalog]]\nkinds = [\"openai\"]\nmodel = \"gpt-4o\"\ninput = 1.0\noutput = 1.0\ncontext_window = 128000\n";
    let gw = Gateway::start_with_env(&toml(override_entry), &[("K", "sk-x")]).await;
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": "m", "messages": user("hi")}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-switchyard-cost-usd"], "0.000017", "17 tokens at $1 per million");
    gw.stop().await;

    let dir = std::env::temp_dir().join(format!("switchyard-catalog-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("switchyard.toml");
    std::fs::write(&cfg, toml(override_entry)).unwrap();
    let (status, out, err) =
        testkit::run_command(BIN, &["models", "--catalog", "--config", cfg.to_str().unwrap()], &[("K", "sk-x")]);
    assert!(status.success(), "{err}");
    assert!(out.starts_with("# list prices in USD per million tokens, as of 20"), "{out}");
    let line = out.lines().find(|l| l.starts_with("openai ") && l.split_whitespace().nth(1) == Some("gpt-4o")).unwrap();
    assert_eq!(line.split_whitespace().nth(2), Some("1"), "{line}");
    assert!(out.lines().any(|l| l.starts_with("azure ") && l.contains("gpt-4o ") && l.contains(" 2.5 ")), "{out}");
}

#[tokio::test]
async fn old_rows_fold_into_daily_rollups_and_spend_still_counts_them() {
    use gateway::ledger::{Entry, SpendBy, Store};
    let url = testkit::gateway::fresh_sqlite_url();
    let store = Store::open(&url).await.unwrap();
    let day = 86_400_000i64;
    let now = 1_763_510_400_000i64 + 12 * 3_600_000; // midday
    let row = |age_days: i64, model: &str, cost: Option<i64>| Entry {
        request_id: format!("req_{age_days}_{model}"),
        at_unix_ms: now - age_days * day,
        alias: "a".into(),
        deployment: format!("p/{model}"),
        provider: "p".into(),
        model: model.into(),
        input_tokens: 10,
        output_tokens: 5,
        cost_nanos: cost,
        status: 200,
        outcome: "ok".into(),
        ..Default::default()
    };
    let mut rows = Vec::new();
    for age in [40, 40, 35, 1] {
        rows.push(row(age, "m1", Some(1_000)));
    }
    rows.push(row(40, "m2", None));
    store.insert(&rows).await.unwrap();

    let folded = store.compact(30 * day, now).await.unwrap();
    assert_eq!(folded, 4, "rows older than 30 days are folded");
    assert_eq!(store.count().await.unwrap(), 1, "one recent row stays as it is");
    let spend = store.spend(SpendBy::Model, now - 60 * day).await.unwrap();
    let m1 = spend.iter().find(|r| r.group == "m1").unwrap();
    assert_eq!((m1.requests, m1.input_tokens, m1.cost_nanos), (4, 40, 4_000));
    let m2 = spend.iter().find(|r| r.group == "m2").unwrap();
    assert_eq!((m2.requests, m2.unpriced), (1, 1), "unpriced stays flagged after folding");
    let recent = store.spend(SpendBy::Model, now - 7 * day).await.unwrap();
    assert_eq!(recent.iter().map(|r| r.requests).sum::<i64>(), 1);
    assert_eq!(store.compact(30 * day, now).await.unwrap(), 0, "compaction is idempotent");
}

/// Not a test: how long spend takes over 10 million rows. Run by hand with
/// `cargo test --release -p gateway --test it ledger::spend_speed -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "a measurement, run by hand"]
async fn spend_speed_with_ten_million_rows() {
    use gateway::ledger::{Entry, SpendBy, Store};
    let url = testkit::gateway::fresh_sqlite_url();
    let store = Store::open(&url).await.unwrap();
    let now = gateway::keys::now_ms();
    let started = std::time::Instant::now();
    let models = ["gpt-4o", "claude-sonnet-4-5", "gemini-2.5-flash", "llama-3.3-70b", "o4-mini"];
    for batch in 0..10_000i64 {
        let rows: Vec<Entry> = (0..1_000i64)
            .map(|i| {
                let n = batch * 1_000 + i;
                Entry {
                    request_id: format!("req_{n}"),
                    at_unix_ms: now - (n % (30 * 86_400)) * 1_000, // spread over 30 days
                    key_id: Some(format!("key_{}", n % 50)),
                    alias: "a".into(),
                    deployment: "p/m".into(),
                    provider: "p".into(),
                    model: models[(n % 5) as usize].into(),
                    input_tokens: 1_000,
                    output_tokens: 200,
                    cost_nanos: Some(5_000_000),
                    status: 200,
                    outcome: "ok".into(),
                    ..Default::default()
                }
            })
            .collect();
        store.insert(&rows).await.unwrap();
    }
    println!("inserted 10,000,000 rows in {:?}", started.elapsed());
    let t = std::time::Instant::now();
    store.compact(90 * 86_400_000, now).await.unwrap();
    println!("first daily rollup of 30 days in {:?}", t.elapsed());
    for (by, days) in [(SpendBy::Model, 1), (SpendBy::Model, 7), (SpendBy::Key, 30)] {
        let t = std::time::Instant::now();
        let rows = store.spend(by, now - days * 86_400_000).await.unwrap();
        println!("spend by {by:?} over {days} day(s): {} groups in {:?}", rows.len(), t.elapsed());
    }
}
