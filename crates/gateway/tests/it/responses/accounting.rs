//! A Responses API request is routed, failed over, limited and accounted exactly as a chat
//! request: a ledger row per attempt with tokens and cost, the key's limits and budget.

use serde_json::{json, Value};
use sqlx::Row;
use testkit::openai_wire as wire;
use testkit::{FakeUpstream, Gateway, Reply};

use crate::common::{client, failover_config, new_key, MASTER_KEY};

#[tokio::test]
async fn a_responses_request_fails_over_and_is_in_the_ledger_with_its_cost() {
    let flaky = FakeUpstream::always(Reply::error(503, wire::error_body("down", "server_error", None))).await;
    let good = FakeUpstream::always(Reply::json(wire::completion("m2", "ok"))).await;
    let gw = Gateway::start_with_env(&failover_config(&flaky, &good, None), &[("MASTER", MASTER_KEY)]).await;
    let resp = client()
        .post(gw.url("/v1/responses"))
        .bearer_auth(MASTER_KEY)
        .json(&json!({"model": "priced", "input": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-switchyard-attempts"], "2");
    assert_eq!(resp.headers()["x-switchyard-provider"], "good");
    // 12 input tokens at $2.50/M and 5 output at $10/M: $0.00008.
    assert_eq!(resp.headers()["x-switchyard-cost-usd"], "0.00008");
    let request_id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["usage"]["input_tokens"], 12);

    gw.wait_for_ledger_rows(2).await;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&gw.database_url).await.unwrap();
    let rows = sqlx::query("SELECT request_id, alias, deployment, status, cost_nanos FROM ledger ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows
        .iter()
        .all(|r| r.get::<String, _>("request_id") == request_id && r.get::<String, _>("alias") == "priced"));
    assert_eq!(rows[0].get::<String, _>("deployment"), "flaky/m1");
    assert_eq!(rows[0].get::<i32, _>("status"), 503);
    assert_eq!(rows[1].get::<String, _>("deployment"), "good/m2");
    assert_eq!(rows[1].get::<Option<i64>, _>("cost_nanos"), Some(80_000));
}

#[tokio::test]
async fn a_keys_rate_limit_and_model_allowlist_apply_to_the_responses_api() {
    let flaky = FakeUpstream::always(Reply::json(wire::completion("m1", "ok"))).await;
    let good = FakeUpstream::always(Reply::json(wire::completion("m2", "ok"))).await;
    let gw = Gateway::start_with_env(&failover_config(&flaky, &good, None), &[("MASTER", MASTER_KEY)]).await;
    let spec = json!({"name": "limited", "rpm": 1, "models": ["priced"]});
    let (_, key) = new_key(&gw, spec).await;
    let key = key.as_str();
    let post = |model: &str| {
        client().post(gw.url("/v1/responses")).bearer_auth(key).json(&json!({"model": model, "input": "hi"})).send()
    };
    assert_eq!(post("priced").await.unwrap().status(), 200);
    let limited = post("priced").await.unwrap();
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limit_exceeded", "{body}");
    let other = post("someone-elses-model").await.unwrap();
    assert_eq!(other.status(), 403);
}
