//! The Prometheus metrics of cost, budgets and the gateway's own overhead, from the real binary
//! (one metrics registry per process): the cost counters equal the ledger's sum for a key, the
//! budget gauges its spend and limit, the overhead histogram counts every request and
//! `x-switchyard-overhead-ms` is on whole replies; and every metric the Grafana dashboard
//! queries is one the gateway emits.

use std::collections::BTreeSet;

use serde_json::{json, Value};
use testkit::openai_wire as wire;
use testkit::{FakeUpstream, GatewayProcess, Reply};

use crate::common::{client, failover_config, get_json, new_key, user, MASTER_KEY};

/// Streams (usage 12 + 6) when asked, else a completion with usage 12 + 5.
fn good(req: &testkit::Received) -> Reply {
    let body = req.json();
    let model = body["model"].as_str().unwrap_or("m").to_owned();
    if body["stream"] == true {
        Reply::sse(wire::text_stream(&model, &["a", "b", "c", "d", "e", "f"]))
    } else {
        Reply::json(wire::completion(&model, "ok"))
    }
}

async fn metrics(gw: &GatewayProcess) -> String {
    client().get(gw.url("/metrics")).bearer_auth(MASTER_KEY).send().await.unwrap().text().await.unwrap()
}

/// The value of the series whose line starts with `series` (name and labels, exactly).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

#[tokio::test]
async fn cost_budget_and_overhead_metrics_match_the_ledger() {
    let flaky = FakeUpstream::always(Reply::error(500, wire::error_body("boom", "server_error", None))).await;
    let ok = FakeUpstream::start(good).await;
    let dir = std::env::temp_dir().join(format!("switchyard-metrics-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("gateway.toml");
    std::fs::write(&path, failover_config(&flaky, &ok, None)).unwrap();
    let gw = GatewayProcess::serve(
        env!("CARGO_BIN_EXE_switchyard"),
        &["--config", path.to_str().unwrap(), "--listen", "127.0.0.1:0"],
        &[("MASTER", MASTER_KEY)],
    );
    let (id, key) = new_key(&gw, json!({"name": "metered", "team": "platform", "budget_usd": 1})).await;
    let ask = |stream: bool| json!({"model": "priced", "messages": user("hi"), "stream": stream});
    let send = |secret: &str, body: Value| {
        client().post(gw.url("/v1/chat/completions")).bearer_auth(secret.to_owned()).json(&body).send()
    };

    // Three whole replies and a stream with the key, one whole reply without: each tries
    // `flaky` (500) first, then `good`.
    for _ in 0..3 {
        let started = std::time::Instant::now();
        let resp = send(&key, ask(false)).await.unwrap();
        let elapsed = started.elapsed();
        assert_eq!(resp.status(), 200);
        let overhead = resp.headers()["x-switchyard-overhead-ms"].to_str().unwrap().to_owned();
        let (whole, decimals) = overhead.split_once('.').unwrap();
        assert_eq!(decimals.len(), 3, "{overhead}");
        let ms: f64 = overhead.parse().unwrap();
        assert!(ms > 0.0 && ms < 50.0, "{overhead} ms ({whole} whole)");
        assert!(ms < elapsed.as_secs_f64() * 1e3, "less than the whole request's {elapsed:?}");
        resp.text().await.unwrap();
    }
    let resp = send(&key, ask(true)).await.unwrap();
    assert!(resp.headers().get("x-switchyard-overhead-ms").is_none());
    assert_eq!(wire::streamed_text(&resp.text().await.unwrap()), "abcdef");
    assert_eq!(send(MASTER_KEY, ask(false)).await.unwrap().status(), 200);
    // A request refused before routing is counted too, under `unrouted`.
    assert_eq!(send(&key, json!({"model": "priced", "messages": []})).await.unwrap().status(), 400);
    // 3 × (12 × $2.50/M + 5 × $10/M) + (12 × $2.50/M + 6 × $10/M), exactly; rows are written
    // off the request path, and failed attempts (how many depends on `flaky`'s health) cost nothing.
    let mut spend = Value::Null;
    let ledger = |spend: &Value, group: &str| {
        let rows = spend["data"].as_array().unwrap();
        rows.iter().find(|r| r["group"] == group).map_or(0, |r| r["cost_nanos"].as_i64().unwrap())
    };
    testkit::wait::until("the ledger's rows", async || {
        spend = get_json(&gw, "/admin/spend?by=key&since=1d").await;
        ledger(&spend, &id) == 3 * 80_000 + 90_000 && ledger(&spend, "(none)") == 80_000
    })
    .await;

    let series = |name: &str, key: &str, team: &str| {
        format!(r#"{name}{{alias="priced",provider="good",model="m2",key="{key}",team="{team}"}}"#)
    };
    let mut text = metrics(&gw).await;
    let overhead_count = r#"switchyard_overhead_seconds_count{route="/v1/chat/completions",alias="priced"}"#;
    // The stream's request is over when its finalizer drops, just after its last byte.
    testkit::wait::until("every request's overhead", async || {
        text = metrics(&gw).await;
        value(&text, overhead_count) == Some(5.0)
    })
    .await;
    let nanos = value(&text, &series("switchyard_cost_nanos_total", &id, "platform")).unwrap();
    assert_eq!(nanos, ledger(&spend, &id) as f64, "{text}");
    let dollars = value(&text, &series("switchyard_cost_usd_total", &id, "platform")).unwrap();
    assert!((dollars - 0.00033).abs() < 1e-12, "{dollars}");
    assert_eq!(value(&text, &series("switchyard_cost_nanos_total", "", "")), Some(80_000.0), "no key: key=\"\"");
    assert!(!text.contains(r#"provider="flaky",model="m1""#), "failed attempts cost nothing: {text}");
    assert_eq!(value(&text, &format!(r#"switchyard_budget_limit_usd{{key="{id}"}}"#)), Some(1.0));
    let spent = value(&text, &format!(r#"switchyard_budget_spent_usd{{key="{id}"}}"#)).unwrap();
    assert!((spent - 0.00033).abs() < 1e-12, "{spent}");
    assert!(
        text.contains(r#"switchyard_overhead_seconds_bucket{route="/v1/chat/completions",alias="priced",le="0.001"}"#)
    );
    assert_eq!(
        value(&text, r#"switchyard_overhead_seconds_count{route="/v1/chat/completions",alias="unrouted"}"#),
        None
    );
    let ttft = r#"switchyard_time_to_first_token_seconds_count{alias="priced",provider="good"}"#;
    assert_eq!(value(&text, ttft), Some(1.0));
    // Only keys' ids and configured names are labels: the key's secret never is.
    assert!(!text.contains(&key));
    dashboard_metrics_are_emitted(&text);
}

/// Every metric the dashboard queries is one the gateway emits: named in its source (some
/// only appear after a failure, such as a spilled ledger row), and present in `live`, the
/// metrics after ordinary traffic, unless it counts failures or the response cache (which
/// this config does not turn on).
fn dashboard_metrics_are_emitted(live: &str) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dashboard = std::fs::read_to_string(root.join("../../deploy/grafana/switchyard.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&dashboard).unwrap();
    let mut queried = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap();
            queried.extend(names(expr));
        }
    }
    assert!(queried.len() >= 10, "{queried:?}");
    let mut source = String::new();
    read_sources(&root.join("src"), &mut source);
    let emitted = names(&source);
    for name in &queried {
        assert!(emitted.contains(name), "the dashboard queries {name}, which the gateway never emits");
        let not_live = ["switchyard_ledger_", "switchyard_shared_state_", "switchyard_cache_"];
        if !not_live.iter().any(|p| name.starts_with(p)) {
            assert!(
                live.contains(&format!("{name}{{")) || live.contains(&format!("{name}_")),
                "{name} not in /metrics"
            );
        }
    }
}

/// `switchyard_*` metric names in `text`, histogram series suffixes taken off.
fn names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices("switchyard_") {
        if text[..i].chars().next_back().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let name: String = text[i..].chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
        let base = ["_bucket", "_count", "_sum"].iter().find_map(|s| name.strip_suffix(s)).unwrap_or(&name);
        out.insert(base.to_owned());
    }
    out
}

fn read_sources(dir: &std::path::Path, out: &mut String) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            read_sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push_str(&std::fs::read_to_string(&path).unwrap());
            out.push('\n');
        }
    }
}

#[test]
fn the_dashboard_is_valid_grafana_json() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("../../deploy/grafana/switchyard.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(dashboard["uid"], "switchyard");
    let panels = dashboard["panels"].as_array().unwrap();
    let mut ids = BTreeSet::new();
    for p in panels {
        assert!(ids.insert(p["id"].as_i64().unwrap()), "panel ids are unique");
        assert!(p["gridPos"]["w"].as_i64().is_some(), "{p}");
        for t in p["targets"].as_array().into_iter().flatten() {
            assert_eq!(t["datasource"]["uid"], "${datasource}", "{t}");
        }
    }
}
