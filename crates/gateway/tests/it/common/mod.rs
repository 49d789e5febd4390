//! What the gateway's integration tests share: a config around fake upstreams (in-process, or the
//! real binary in a process of its own) and a client.

pub mod scripted;
pub mod tool_turns;

use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;
use testkit::{FakeUpstream, Gateway, GatewayProcess};

pub const UPSTREAM_KEY: &str = "sk-upstream-secret-0123456789";
pub const MASTER_KEY: &str = "sk-master-test";

/// A gateway with one OpenAI-compatible provider `up` serving every model name, the alias
/// `fast` → `up/gpt-4o-mini-2024-07-18`, and the master key [`MASTER_KEY`].
pub async fn gateway_for(upstream: &FakeUpstream) -> Gateway {
    gateway_with(upstream, "").await
}

/// Same as [`gateway_for`], with `extra` (top-level keys or whole tables) in the config.
pub async fn gateway_with(upstream: &FakeUpstream, extra: &str) -> Gateway {
    Gateway::start_with_env(&config_with(upstream, extra), &[("MASTER", MASTER_KEY), ("UP_KEY", UPSTREAM_KEY)]).await
}

/// A config whose one provider `up` (OpenAI-compatible, key in `UP_KEY`) is at `base_url`,
/// whatever answers there, with `extra` at the top; its alias `fast` serves upstream model `m`,
/// priced.
pub fn config_at(base_url: &str, extra: &str) -> String {
    one_provider(base_url, extra, r#"model = "m", input_price = 1.0, output_price = 2.0"#)
}

/// The gateway of [`config_at`], in-process.
pub async fn gateway_at(base_url: &str, extra: &str) -> Gateway {
    Gateway::start_with_env(&config_at(base_url, extra), &[("MASTER", MASTER_KEY), ("UP_KEY", UPSTREAM_KEY)]).await
}

/// The gateway of [`gateway_for`] as the real binary, in a process of its own: for what a
/// process holds once, such as the metrics registry, which every in-process gateway of this
/// test binary shares (so what it holds would depend on which other tests ran first).
pub fn process_for(upstream: &FakeUpstream) -> GatewayProcess {
    process_with(upstream, "")
}

/// Same as [`process_for`], with `extra` in the config, as in [`gateway_with`].
pub fn process_with(upstream: &FakeUpstream, extra: &str) -> GatewayProcess {
    process_of(&config_with(upstream, extra), &[])
}

/// The gateway of [`config_at`] as the real binary, with `env` added to its environment.
pub fn process_at(base_url: &str, extra: &str, env: &[(&str, &str)]) -> GatewayProcess {
    process_of(&config_at(base_url, extra), env)
}

/// The real binary serving `config` (written to a file of its own), its keys and `env` in its
/// environment.
fn process_of(config: &str, env: &[(&str, &str)]) -> GatewayProcess {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!("switchyard-process-for-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("gateway-{}.toml", N.fetch_add(1, Ordering::Relaxed)));
    std::fs::write(&path, config).unwrap();
    let mut vars = vec![("MASTER", MASTER_KEY), ("UP_KEY", UPSTREAM_KEY)];
    vars.extend_from_slice(env);
    GatewayProcess::serve(
        env!("CARGO_BIN_EXE_switchyard"),
        &["--config", path.to_str().unwrap(), "--listen", "127.0.0.1:0"],
        &vars,
    )
}

fn config_with(upstream: &FakeUpstream, extra: &str) -> String {
    one_provider(&upstream.v1(), extra, r#"model = "gpt-4o-mini-2024-07-18""#)
}

/// The provider `up` at `base_url` and the alias `fast` on its one deployment (`deployment`:
/// the model and any prices).
fn one_provider(base_url: &str, extra: &str, deployment: &str) -> String {
    format!(
        r#"
master_key_env = "MASTER"
{extra}
[providers.up]
kind = "openai_compatible"
base_url = "{base_url}"
api_key_env = "UP_KEY"
models = ["*"]
[models.fast]
deployments = [{{ provider = "up", {deployment} }}]
"#
    )
}

/// Two OpenAI-compatible providers, `flaky` and `good`, and the alias `priced` that tries
/// `flaky/m1` then `good/m2` at $2.50/$10 per million tokens (and `free` → `good/m3`, unpriced),
/// the master key [`MASTER_KEY`] from `MASTER`, the ledger at `database` when given.
pub fn failover_config(failing: &FakeUpstream, ok: &FakeUpstream, database: Option<&str>) -> String {
    let db = database.map_or(String::new(), |url| format!("database_url = \"{url}\"\n"));
    format!(
        r#"{db}master_key_env = "MASTER"
[providers.flaky]
kind = "openai_compatible"
base_url = "{}"
[providers.good]
kind = "openai_compatible"
base_url = "{}"
[models.priced]
deployments = [
  {{ provider = "flaky", model = "m1", input_price = 2.5, output_price = 10.0 }},
  {{ provider = "good", model = "m2", input_price = 2.5, output_price = 10.0 }},
]
[models.free]
deployments = [{{ provider = "good", model = "m3" }}]
"#,
        failing.v1(),
        ok.v1()
    )
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().build().unwrap()
}

/// A running gateway, in-process or as a child process: where to reach it.
pub trait Running {
    fn url(&self, path: &str) -> String;
}

impl Running for Gateway {
    fn url(&self, path: &str) -> String {
        Gateway::url(self, path)
    }
}

impl Running for GatewayProcess {
    fn url(&self, path: &str) -> String {
        GatewayProcess::url(self, path)
    }
}

pub async fn post(gw: &impl Running, path: &str, body: &Value) -> reqwest::Response {
    client().post(gw.url(path)).bearer_auth(MASTER_KEY).json(body).send().await.unwrap()
}

/// Posts and returns status, headers and the JSON body.
pub async fn post_json(gw: &impl Running, path: &str, body: &Value) -> (u16, reqwest::header::HeaderMap, Value) {
    let resp = post(gw, path, body).await;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("gateway sent non-JSON ({e}): {text}"));
    (status, headers, json)
}

/// A new virtual key made through the admin API with the master key: its id and its secret.
pub async fn new_key(gw: &impl Running, spec: Value) -> (String, String) {
    let resp = client().post(gw.url("/admin/keys")).bearer_auth(MASTER_KEY).json(&spec).send().await.unwrap();
    assert_eq!(resp.status(), 201);
    let body: Value = resp.json().await.unwrap();
    let field = |k: &str| body[k].as_str().unwrap_or_else(|| panic!("no {k} in {body}")).to_owned();
    (field("id"), field("key"))
}

/// A GET with the master key, as JSON (`/admin/spend?...`, `/v1/models`).
pub async fn get_json(gw: &impl Running, path: &str) -> Value {
    client().get(gw.url(path)).bearer_auth(MASTER_KEY).send().await.unwrap().json().await.unwrap()
}

pub fn user(text: &str) -> Value {
    serde_json::json!([{"role": "user", "content": text}])
}
