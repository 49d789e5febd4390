//! Live config reload, as an operator meets it: the real binary reading its `--config` file
//! again on SIGHUP (or on a change, with `watch_config`), a stream in flight finishing on the
//! old config while the next request uses the new one, a bad file reported as `check` reports
//! it while the old config keeps serving, deployment health carried over, and settings that
//! need a restart kept with a warning.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{json, Value};
use testkit::openai_wire::{self as wire, streamed_text};
use testkit::{run_command, FakeUpstream, GatewayProcess, Reply};

use crate::common::{client, get_json, post, post_json, user, MASTER_KEY};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

/// A config file of its own for each test, rewritten in place as the test goes.
fn config_file(text: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!("switchyard-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("gateway-{}.toml", N.fetch_add(1, Ordering::Relaxed)));
    std::fs::write(&path, text).unwrap();
    path
}

fn start(path: &Path) -> GatewayProcess {
    GatewayProcess::serve(
        BIN,
        &["--config", path.to_str().unwrap(), "--listen", "127.0.0.1:0"],
        &[("MASTER", MASTER_KEY)],
    )
}

/// A provider `name` at `upstream` serving no model by name, and `models` (alias → the
/// deployments' `provider/model`).
fn providers(upstreams: &[(&str, &FakeUpstream)]) -> String {
    upstreams
        .iter()
        .map(|(name, up)| format!("[providers.{name}]\nkind = \"openai_compatible\"\nbase_url = \"{}\"\n", up.v1()))
        .collect()
}

fn models(aliases: &[(&str, &[&str])]) -> String {
    aliases
        .iter()
        .map(|(alias, targets)| {
            let deployments: Vec<String> = targets
                .iter()
                .map(|t| {
                    let (provider, model) = t.split_once('/').unwrap();
                    format!("{{ provider = \"{provider}\", model = \"{model}\" }}")
                })
                .collect();
            format!("[models.{alias}]\ndeployments = [{}]\n", deployments.join(", "))
        })
        .collect()
}

/// Rewrites the config, sends SIGHUP and waits for the `reloads`-th reload to be logged.
async fn reload(gw: &GatewayProcess, path: &Path, text: &str, reloads: usize) {
    std::fs::write(path, text).unwrap();
    gw.signal("HUP");
    reloaded(gw, reloads).await;
}

async fn reloaded(gw: &GatewayProcess, reloads: usize) {
    testkit::wait::until(&format!("reload #{reloads}"), async || {
        gw.stderr().matches("config reloaded").count() >= reloads
    })
    .await;
}

async fn health(gw: &GatewayProcess) -> Value {
    client().get(gw.url("/health")).send().await.unwrap().json().await.unwrap()
}

async fn aliases(gw: &GatewayProcess) -> Vec<String> {
    let list = get_json(gw, "/v1/models").await;
    list["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn sighup_swaps_the_config_while_a_stream_in_flight_finishes_on_the_old_one() {
    let old = FakeUpstream::always(Reply::sse_paced(
        Duration::from_millis(250),
        wire::text_stream("m", &["old", " config", " to", " the", " end"]),
    ))
    .await;
    let new = FakeUpstream::always(Reply::json(wire::completion("m", "new config"))).await;
    let head = "master_key_env = \"MASTER\"\n";
    let first = format!("{head}{}{}", providers(&[("a", &old)]), models(&[("fast", &["a/m"])]));
    let path = config_file(&first);
    let gw = start(&path);
    assert_eq!(health(&gw).await["config_version"], gateway::config::file::version_of(first.as_bytes()));
    // A keep-alive connection, open before the reload.
    let pooled = client();
    let listed = |c: &reqwest::Client| {
        let req = c.get(gw.url("/v1/models")).bearer_auth(MASTER_KEY);
        async move { req.send().await.unwrap().json::<Value>().await.unwrap()["data"].as_array().unwrap().len() }
    };
    assert_eq!(listed(&pooled).await, 1);

    let mut stream =
        post(&gw, "/v1/chat/completions", &json!({"model": "fast", "messages": user("hi"), "stream": true})).await;
    assert_eq!(stream.headers()["x-switchyard-provider"], "a");
    let mut body = String::from_utf8(stream.chunk().await.unwrap().unwrap().to_vec()).unwrap();

    let second = format!(
        "{head}{}{}",
        providers(&[("a", &old), ("b", &new)]),
        models(&[("fast", &["b/m"]), ("extra", &["b/m"])])
    );
    reload(&gw, &path, &second, 1).await;

    let (status, headers, reply) =
        post_json(&gw, "/v1/chat/completions", &json!({"model": "fast", "messages": user("next")})).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(headers["x-switchyard-provider"], "b");
    assert_eq!(reply["choices"][0]["message"]["content"], "new config");
    assert_eq!(listed(&pooled).await, 2, "the next request on an open connection sees the new config");
    let version = gateway::config::file::version_of(second.as_bytes());
    assert_eq!(health(&gw).await, json!({"status": "ok", "config_version": version}));

    while let Some(chunk) = stream.chunk().await.unwrap() {
        body.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert_eq!(streamed_text(&body), "old config to the end");
    assert!(body.ends_with("data: [DONE]\n\n"));
    assert_eq!((old.received().len(), new.received().len()), (1, 1));
    let log = gw.stderr();
    let line = log.lines().find(|l| l.contains("config reloaded")).unwrap();
    assert!(line.contains("signal") && line.contains(&version), "{line}");
}

#[tokio::test]
async fn a_bad_config_on_sighup_is_reported_as_check_reports_it_and_the_old_one_keeps_serving() {
    let up = FakeUpstream::always(Reply::json(wire::completion("m", "still the old config"))).await;
    let good = format!("master_key_env = \"MASTER\"\n{}{}", providers(&[("a", &up)]), models(&[("fast", &["a/m"])]));
    let path = config_file(&good);
    let gw = start(&path);
    let version = health(&gw).await["config_version"].clone();

    let bad = format!(
        "master_key_env = \"MASTER\"\n{}[providers.c]\nkind = \"openai\"\napi_key_env = \"SURELY_UNSET_VAR_XYZ\"\n{}",
        providers(&[("a", &up)]),
        models(&[("fast", &["a/m"]), ("ghost", &["b/x"])])
    );
    std::fs::write(&path, &bad).unwrap();
    let (status, _, check) =
        run_command(BIN, &["check", "--config", path.to_str().unwrap()], &[("MASTER", MASTER_KEY)]);
    assert!(!status.success());
    assert!(check.contains("SURELY_UNSET_VAR_XYZ") && check.contains("`b`"), "{check}");
    gw.signal("HUP");
    testkit::wait::until("the rejection", async || gw.stderr().contains("config reload rejected")).await;
    let log = gw.stderr();
    for line in check.lines() {
        assert!(log.contains(line), "the gateway's log lacks check's `{line}`:\n{log}");
    }
    assert!(!log.contains("config reloaded"), "{log}");

    let (status, _, reply) =
        post_json(&gw, "/v1/chat/completions", &json!({"model": "fast", "messages": user("hi")})).await;
    assert_eq!(status, 200);
    assert_eq!(reply["choices"][0]["message"]["content"], "still the old config");
    assert_eq!(health(&gw).await["config_version"], version);

    // Once fixed, the next SIGHUP takes it.
    let fixed = format!("{good}{}", models(&[("ghost", &["a/x"])]));
    reload(&gw, &path, &fixed, 1).await;
    assert_eq!(aliases(&gw).await, ["fast", "ghost"]);
}

#[tokio::test]
async fn deployment_health_is_carried_over_for_deployments_the_new_config_still_has() {
    let flaky = FakeUpstream::always(Reply::error(500, json!({"error": {"message": "down"}}))).await;
    let good = FakeUpstream::always(Reply::json(wire::completion("m", "ok"))).await;
    let head = "master_key_env = \"MASTER\"\n";
    let both = providers(&[("flaky", &flaky), ("good", &good)]);
    let first = format!("{head}{both}{}", models(&[("priced", &["flaky/m1", "good/m2"]), ("other", &["good/m3"])]));
    let path = config_file(&first);
    let gw = start(&path);
    for _ in 0..3 {
        let (status, headers, _) =
            post_json(&gw, "/v1/chat/completions", &json!({"model": "priced", "messages": user("hi")})).await;
        assert_eq!(status, 200);
        assert_eq!(headers["x-switchyard-provider"], "good");
    }
    let deployment = async |name: &str| {
        let all = get_json(&gw, "/health/deployments").await;
        all["deployments"].as_array().unwrap().iter().find(|d| d["deployment"] == name).cloned()
    };
    let tripped = deployment("flaky/m1").await.unwrap();
    assert_eq!((tripped["circuit"].as_str(), tripped["failures"].as_u64()), (Some("open"), Some(3)));

    // The alias `other` goes; `priced` stays, and a new alias shares its deployment.
    let second = format!("{head}{both}{}", models(&[("priced", &["flaky/m1", "good/m2"]), ("again", &["flaky/m1"])]));
    reload(&gw, &path, &second, 1).await;
    let kept = deployment("flaky/m1").await.unwrap();
    assert_eq!((kept["circuit"].as_str(), kept["failures"].as_u64()), (Some("open"), Some(3)), "{kept}");
    assert_eq!(deployment("good/m2").await.unwrap()["requests"], 3);
    assert!(deployment("good/m3").await.is_none(), "a deployment no longer configured is forgotten");
    // Still open: the next request goes straight to the good deployment.
    post_json(&gw, "/v1/chat/completions", &json!({"model": "priced", "messages": user("hi")})).await;
    assert_eq!(flaky.received().len(), 3);

    // A provider now at another address is another upstream: what was learnt of the old one
    // does not apply.
    let moved = format!(
        "{head}{}{}",
        providers(&[("flaky", &good), ("good", &good)]),
        models(&[("priced", &["flaky/m1", "good/m2"])])
    );
    reload(&gw, &path, &moved, 2).await;
    let fresh = deployment("flaky/m1").await.unwrap();
    assert_eq!((fresh["circuit"].as_str(), fresh["requests"].as_u64()), (Some("closed"), Some(0)), "{fresh}");
}

#[tokio::test]
async fn with_watch_config_a_changed_file_is_taken_without_a_signal() {
    let up = FakeUpstream::always(Reply::json(wire::completion("m", "x"))).await;
    let head = "master_key_env = \"MASTER\"\nwatch_config = true\n";
    let path = config_file(&format!("{head}{}{}", providers(&[("a", &up)]), models(&[("fast", &["a/m"])])));
    let gw = start(&path);
    assert!(gw.stderr().contains("read again on SIGHUP, and when it changes"), "{}", gw.stderr());
    let second = format!("{head}{}{}", providers(&[("a", &up)]), models(&[("fast", &["a/m"]), ("extra", &["a/m"])]));
    std::fs::write(&path, &second).unwrap();
    reloaded(&gw, 1).await;
    assert_eq!(aliases(&gw).await, ["extra", "fast"]);
    assert!(gw.stderr().lines().any(|l| l.contains("config reloaded") && l.contains("watch")), "{}", gw.stderr());

    // A broken save is reported and the running config stays; the next good one is taken.
    std::fs::write(&path, format!("{second}[models.broken]\n")).unwrap();
    testkit::wait::until("the rejection", async || gw.stderr().contains("config reload rejected")).await;
    assert!(gw.stderr().contains("missing field `deployments`"), "{}", gw.stderr());
    assert_eq!(aliases(&gw).await, ["extra", "fast"]);
    std::fs::write(&path, format!("{head}{}{}", providers(&[("a", &up)]), models(&[("fast", &["a/m"])]))).unwrap();
    reloaded(&gw, 2).await;
    assert_eq!(aliases(&gw).await, ["fast"]);
}

#[tokio::test]
async fn settings_that_need_a_restart_are_kept_with_a_warning() {
    let up = FakeUpstream::always(Reply::json(wire::completion("m", "x"))).await;
    let head = "master_key_env = \"MASTER\"\nlisten = \"127.0.0.1:1\"\n";
    let body = format!("{}{}", providers(&[("a", &up)]), models(&[("fast", &["a/m"])]));
    let path = config_file(&format!("{head}{body}"));
    let gw = start(&path);
    let changed = format!(
        "{head}database_url = \"sqlite://elsewhere.db\"\nmetrics_listen = \"127.0.0.1:9\"\nshutdown_grace_secs = 5\n{body}{}",
        models(&[("extra", &["a/m"])])
    );
    reload(&gw, &path, &changed, 1).await;
    let log = gw.stderr();
    let warned =
        |setting: &str| log.lines().any(|l| l.contains("takes effect at the next start") && l.contains(setting));
    assert!(warned("database_url") && warned("metrics_listen"), "{log}");
    // `--listen` overrides the file at start and on reload alike: no change to warn of.
    assert!(!warned("=\"listen\""), "{log}");
    // What can change did; the old ledger and the main port's /metrics are still in use.
    assert_eq!(aliases(&gw).await, ["extra", "fast"]);
    let metrics = client().get(gw.url("/metrics")).bearer_auth(MASTER_KEY).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
}

#[tokio::test]
async fn a_reload_that_would_drop_the_master_key_on_an_open_address_is_refused() {
    let up = FakeUpstream::always(Reply::json(wire::completion("m", "x"))).await;
    let body = format!("{}{}", providers(&[("a", &up)]), models(&[("fast", &["a/m"])]));
    let path = config_file(&format!("master_key_env = \"MASTER\"\n{body}"));
    let gw = GatewayProcess::serve(
        BIN,
        &["--config", path.to_str().unwrap(), "--listen", "0.0.0.0:0"],
        &[("MASTER", MASTER_KEY)],
    );
    std::fs::write(&path, &body).unwrap();
    gw.signal("HUP");
    testkit::wait::until("the rejection", async || gw.stderr().contains("config reload rejected")).await;
    assert!(gw.stderr().contains("sets no master key"), "{}", gw.stderr());
    let url = format!("http://127.0.0.1:{}/v1/models", gw.addr.port());
    assert_eq!(client().get(&url).send().await.unwrap().status(), 401);
}

#[tokio::test]
async fn sighup_without_a_config_file_is_logged_and_changes_nothing() {
    let up = FakeUpstream::always(Reply::json(wire::completion("gpt-4o-mini", "x"))).await;
    let gw = GatewayProcess::serve(
        BIN,
        &["--listen", "127.0.0.1:0"],
        &[("OPENAI_API_KEY", "sk-env-key-123456"), ("OPENAI_BASE_URL", &up.v1())],
    );
    let version = health(&gw).await["config_version"].clone();
    assert_eq!(version.as_str().map(str::len), Some(12));
    gw.signal("HUP");
    testkit::wait::until("the log line", async || gw.stderr().contains("started without --config")).await;
    assert_eq!(health(&gw).await, json!({"status": "ok", "config_version": version}));
}
