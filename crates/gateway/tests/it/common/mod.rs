//! What the gateway's integration tests share: a config around fake upstreams and a client.

pub mod scripted;
pub mod tool_turns;

use serde_json::Value;
use testkit::{FakeUpstream, Gateway};

pub const UPSTREAM_KEY: &str = "sk-upstream-secret-0123456789";
pub const MASTER_KEY: &str = "sk-master-test";

/// A gateway with one OpenAI-compatible provider `up` serving every model name, the alias
/// `fast` → `up/gpt-4o-mini-2024-07-18`, and the master key [`MASTER_KEY`].
pub async fn gateway_for(upstream: &FakeUpstream) -> Gateway {
    gateway_with(upstream, "").await
}

/// Same as [`gateway_for`], with `extra` (top-level keys or whole tables) in the config.
pub async fn gateway_with(upstream: &FakeUpstream, extra: &str) -> Gateway {
    let toml = format!(
        r#"
master_key_env = "MASTER"
{extra}
[providers.up]
kind = "openai_compatible"
base_url = "{}"
api_key_env = "UP_KEY"
models = ["*"]
[models.fast]
deployments = [{{ provider = "up", model = "gpt-4o-mini-2024-07-18" }}]
"#,
        upstream.v1()
    );
    Gateway::start_with_env(&toml, &[("MASTER", MASTER_KEY), ("UP_KEY", UPSTREAM_KEY)]).await
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().build().unwrap()
}

pub async fn post(gw: &Gateway, path: &str, body: &Value) -> reqwest::Response {
    client().post(gw.url(path)).bearer_auth(MASTER_KEY).json(body).send().await.unwrap()
}

/// Posts and returns status, headers and the JSON body.
pub async fn post_json(gw: &Gateway, path: &str, body: &Value) -> (u16, reqwest::header::HeaderMap, Value) {
    let resp = post(gw, path, body).await;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("gateway sent non-JSON ({e}): {text}"));
    (status, headers, json)
}

pub fn user(text: &str) -> Value {
    serde_json::json!([{"role": "user", "content": text}])
}
