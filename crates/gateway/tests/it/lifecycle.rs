//! The gateway as an operator meets it: the real binary starting from a config or from the
//! environment, `check`, health and metrics, client disconnects and graceful shutdown.

use std::time::Duration;

use serde_json::{json, Value};
use testkit::openai_wire::{self as wire, streamed_text};
use testkit::{run_command, FakeUpstream, GatewayProcess, Reply, StreamEnd};

use crate::common::{client, gateway_for, post, user, MASTER_KEY};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

fn write_config(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("switchyard-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn a_client_that_leaves_mid_stream_cancels_the_upstream_request() {
    let events = wire::text_stream("m", &["a", "b", "c", "d", "e", "f"]);
    let up = FakeUpstream::always(Reply::sse_paced(Duration::from_millis(200), events).ending(StreamEnd::Hang)).await;
    let gw = gateway_for(&up).await;
    let mut resp =
        post(&gw, "/v1/chat/completions", &json!({"model": "fast", "messages": user("hi"), "stream": true})).await;
    assert!(resp.chunk().await.unwrap().is_some());
    drop(resp);
    up.wait_for("the upstream stream to be dropped", |u| u.streams_dropped() == 1).await;
    assert_eq!(up.streams_finished(), 0);
}

#[tokio::test]
async fn health_models_and_metrics() {
    let up = FakeUpstream::always(Reply::json(wire::completion("m", "x"))).await;
    let gw = gateway_for(&up).await;
    let resp = client().get(gw.url("/health")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    // Clients probe the root before they start.
    assert_eq!(client().get(gw.url("/")).send().await.unwrap().status(), 200);
    assert_eq!(client().head(gw.url("/")).send().await.unwrap().status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["status"], "ok");

    let models: Value =
        client().get(gw.url("/v1/models")).bearer_auth(MASTER_KEY).send().await.unwrap().json().await.unwrap();
    assert_eq!(models["object"], "list");
    assert_eq!(models["data"][0]["id"], "fast");
    assert_eq!(models["data"][0]["object"], "model");
    assert_eq!(models["data"][0]["owned_by"], "up");
    let one: Value =
        client().get(gw.url("/v1/models/fast")).bearer_auth(MASTER_KEY).send().await.unwrap().json().await.unwrap();
    assert_eq!(one["id"], "fast");

    let resp = post(&gw, "/v1/chat/completions", &json!({"model": "fast", "messages": user("hi")})).await;
    assert_eq!(resp.status(), 200);
    let resp = post(&gw, "/v1/chat/completions", &json!({"model": "fast", "messages": []})).await;
    assert_eq!(resp.status(), 400);
    // The metrics name aliases, providers and keys: they need the master key.
    assert_eq!(client().get(gw.url("/metrics")).send().await.unwrap().status(), 401);
    let text = client().get(gw.url("/metrics")).bearer_auth(MASTER_KEY).send().await.unwrap().text().await.unwrap();
    for needle in [
        r#"switchyard_requests_total{alias="fast",provider="up",status="200"}"#,
        r#"switchyard_request_duration_seconds_bucket{alias="fast",provider="up""#,
        r#"switchyard_tokens_total{alias="fast",provider="up",kind="input"}"#,
        r#"switchyard_upstream_attempts_total{provider="up",outcome="ok"}"#,
        "switchyard_request_errors_total{",
    ] {
        assert!(text.contains(needle), "metrics lack {needle}:\n{text}");
    }
}

#[tokio::test]
async fn zero_config_start_discovers_providers_from_the_sdk_environment_variables() {
    let up = FakeUpstream::always(Reply::json(wire::completion("gpt-4o-mini", "discovered"))).await;
    let v1 = up.v1();
    let gw = GatewayProcess::serve(
        BIN,
        &["--listen", "127.0.0.1:0"],
        &[("OPENAI_API_KEY", "sk-env-key-123456"), ("OPENAI_BASE_URL", &v1), ("XAI_API_KEY", "xai-key-123456")],
    );
    let log = gw.stderr();
    assert!(log.contains(&format!("found openai at {v1} (from OPENAI_API_KEY)")), "{log}");
    assert!(log.contains("found xai at https://api.x.ai/v1"), "{log}");
    assert!(log.contains("no master key set"), "{log}");
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": "gpt-4o-mini", "messages": user("hi")}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-switchyard-provider"], "openai");
    let got = up.only_request();
    assert_eq!(got.header("authorization"), Some("Bearer sk-env-key-123456"));
    assert_eq!(got.json()["model"], "gpt-4o-mini");
}

#[tokio::test]
async fn without_a_key_it_refuses_to_listen_beyond_loopback() {
    let (status, _, stderr) = run_command(BIN, &["serve", "--listen", "0.0.0.0:0"], &[]);
    assert!(!status.success());
    assert!(stderr.contains("refusing to listen on 0.0.0.0:0 without a key"), "{stderr}");
}

#[tokio::test]
async fn check_points_at_the_line_of_each_mistake() {
    let good = write_config(
        "good.toml",
        "[providers.local]\nkind = \"openai_compatible\"\nbase_url = \"http://127.0.0.1:1/v1\"\n\n[models.m]\ndeployments = [{ provider = \"local\", model = \"x\" }]\n",
    );
    let (status, _, stderr) = run_command(BIN, &["check", "--config", good.to_str().unwrap()], &[]);
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("ok (1 providers, 1 models)"), "{stderr}");

    let typo = write_config(
        "typo.toml",
        "listen = \"127.0.0.1:4000\"\n\n[providers.a]\nkind = \"openai\"\nbase_ulr = \"x\"\n",
    );
    let (status, _, stderr) = run_command(BIN, &["check", "--config", typo.to_str().unwrap()], &[]);
    assert!(!status.success());
    assert!(stderr.contains("typo.toml:5:1"), "{stderr}");
    assert!(stderr.contains("base_ulr"), "{stderr}");

    let wrong = write_config(
        "wrong.toml",
        "[providers.a]\nkind = \"openai\"\napi_key_env = \"SURELY_UNSET_VAR_XYZ\"\n\n[models.m]\ndeployments = [{ provider = \"b\", model = \"x\" }]\n",
    );
    let (status, _, stderr) = run_command(BIN, &["check", "--config", wrong.to_str().unwrap()], &[]);
    assert!(!status.success());
    assert!(stderr.contains("wrong.toml:3:15") && stderr.contains("SURELY_UNSET_VAR_XYZ"), "{stderr}");
    assert!(stderr.contains("wrong.toml:6:") && stderr.contains("`b`"), "{stderr}");

    let kind = write_config("kind.toml", "[providers.a]\nkind = \"openia\"\n");
    let (_, _, stderr) = run_command(BIN, &["check", "--config", kind.to_str().unwrap()], &[]);
    assert!(stderr.contains("kind.toml:2:8") && stderr.contains("openia"), "{stderr}");
}

#[tokio::test]
async fn sigterm_lets_an_in_flight_stream_finish_then_exits_zero() {
    let events = wire::text_stream("m", &["slow", " but", " complete"]);
    let up = FakeUpstream::always(Reply::sse_paced(Duration::from_millis(150), events)).await;
    let config = write_config(
        "drain.toml",
        &format!(
            "listen = \"127.0.0.1:0\"\nshutdown_grace_secs = 10\n[providers.up]\nkind = \"openai_compatible\"\nbase_url = \"{}\"\nmodels = [\"*\"]\n",
            up.v1()
        ),
    );
    let mut gw = GatewayProcess::serve(BIN, &["--config", config.to_str().unwrap()], &[]);
    let mut resp = client()
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": "m", "messages": user("hi"), "stream": true}))
        .send()
        .await
        .unwrap();
    let mut body = String::from_utf8(resp.chunk().await.unwrap().unwrap().to_vec()).unwrap();
    gw.signal("TERM");
    tokio::time::sleep(Duration::from_millis(100)).await;
    // New connections are refused while the old stream drains.
    assert!(client().get(gw.url("/health")).send().await.is_err(), "still accepting after SIGTERM");
    while let Some(chunk) = resp.chunk().await.unwrap() {
        body.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert_eq!(streamed_text(&body), "slow but complete");
    assert!(body.ends_with("data: [DONE]\n\n"));
    let status = tokio::task::spawn_blocking(move || gw.wait(Duration::from_secs(10))).await.unwrap();
    assert_eq!(status.and_then(|s| s.code()), Some(0), "exit status {status:?}");
}

#[tokio::test]
async fn with_a_drain_delay_health_says_draining_while_requests_are_still_served_then_it_exits_zero() {
    let events = wire::text_stream("m", &["drained", " to", " the", " very", " end"]);
    let up = FakeUpstream::start(move |r| {
        if r.json()["stream"] == true {
            Reply::sse_paced(Duration::from_millis(300), events.clone())
        } else {
            Reply::json(wire::completion("m", "still served"))
        }
    })
    .await;
    let config = write_config(
        "drain-delay.toml",
        &format!(
            "listen = \"127.0.0.1:0\"\ndrain_delay_secs = 2\nshutdown_grace_secs = 10\n[providers.up]\nkind = \"openai_compatible\"\nbase_url = \"{}\"\nmodels = [\"*\"]\n",
            up.v1()
        ),
    );
    let mut gw = GatewayProcess::serve(BIN, &["--config", config.to_str().unwrap()], &[]);
    let health: Value = client().get(gw.url("/health")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok");
    let version = health["config_version"].as_str().unwrap().to_owned();
    assert_eq!(version.len(), 12, "{health}");

    let mut resp = client()
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": "m", "messages": user("hi"), "stream": true}))
        .send()
        .await
        .unwrap();
    let mut body = String::from_utf8(resp.chunk().await.unwrap().unwrap().to_vec()).unwrap();
    gw.signal("TERM");
    // Load balancers see the replica leave at once, on new connections and on the root path too.
    testkit::wait::until("health to say draining", async || {
        client().get(gw.url("/health")).send().await.is_ok_and(|r| r.status() == 503)
    })
    .await;
    let draining = client().get(gw.url("/")).send().await.unwrap();
    assert_eq!(draining.status(), 503);
    let draining: Value = draining.json().await.unwrap();
    assert_eq!(draining, json!({"status": "draining", "config_version": version}));
    // Requests that still arrive while endpoints update are served, not refused.
    let late = client()
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": "m", "messages": user("late")}))
        .send()
        .await
        .unwrap();
    assert_eq!(late.status(), 200);
    assert_eq!(late.json::<Value>().await.unwrap()["choices"][0]["message"]["content"], "still served");

    while let Some(chunk) = resp.chunk().await.unwrap() {
        body.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert_eq!(streamed_text(&body), "drained to the very end");
    assert!(body.ends_with("data: [DONE]\n\n"));
    let status = tokio::task::spawn_blocking(move || {
        let status = gw.wait(Duration::from_secs(15));
        (status, gw)
    })
    .await
    .unwrap();
    let (status, gw) = status;
    assert_eq!(status.and_then(|s| s.code()), Some(0), "exit status {status:?}; stderr:\n{}", gw.stderr());
    testkit::wait::until("the last log line", async || gw.stderr().contains("ledger flushed")).await;
    assert!(gw.stderr().contains("health says draining"), "{}", gw.stderr());
    // Once the delay is over the listener is closed.
    assert!(client().get(gw.url("/health")).send().await.is_err());
}
