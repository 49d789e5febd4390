//! The official `anthropic` Python SDK against `/v1/messages` (tests/sdk/anthropic_conformance.py),
//! routed to a real llama.cpp model (OpenAI dialect), a scripted OpenAI-compatible upstream (tools,
//! errors) and a scripted Anthropic upstream (same-dialect passthrough, 529).

use serde_json::{json, Value};
use testkit::local_llm::{local_llm, python, MODEL};
use testkit::{FakeUpstream, Gateway, Received};

use crate::common::scripted::{anthropic_by_model, openai_by_model, run_sdk_script};
use crate::common::{MASTER_KEY, UPSTREAM_KEY};

#[tokio::test]
async fn the_official_anthropic_sdk_works_against_the_gateway() {
    let (Some(python), Some(llm)) = (python(), local_llm()) else { return };
    let openai_up = FakeUpstream::start(openai_by_model).await;
    let claude_up = FakeUpstream::start(anthropic_by_model).await;
    let toml = format!(
        r#"
master_key_env = "MASTER"
[providers.fake]
kind = "openai_compatible"
base_url = "{}"
api_key_env = "UP_KEY"
models = ["gpt-*"]
[providers.claude]
kind = "anthropic"
base_url = "{}"
api_key_env = "UP_KEY"
models = ["claude-*"]
[providers.llama]
kind = "llamacpp"
base_url = "{}"
models = ["{MODEL}"]
[models.local]
deployments = [{{ provider = "llama", model = "{MODEL}" }}]
"#,
        openai_up.v1(),
        claude_up.url(),
        llm.v1()
    );
    let gw = Gateway::start_with_env(&toml, &[("MASTER", MASTER_KEY), ("UP_KEY", UPSTREAM_KEY)]).await;
    let stdout = run_sdk_script(python, "anthropic_conformance.py", vec![gw.url(""), MASTER_KEY.into()]).await;
    assert!(stdout.contains("8/8 checks passed"), "{stdout}");

    // Anthropic tool results arrived upstream as OpenAI tool messages, matched by id.
    let bodies: Vec<Value> = openai_up.received().iter().map(Received::json).collect();
    let follow_up = bodies
        .iter()
        .find(|b| b["messages"].as_array().is_some_and(|m| m.iter().any(|m| m["role"] == "tool")))
        .unwrap();
    let msgs = follow_up["messages"].as_array().unwrap();
    let calls = &msgs[1]["tool_calls"];
    assert_eq!(calls[0]["function"]["name"], "get_weather", "{follow_up}");
    assert_eq!(msgs[2], json!({"role": "tool", "tool_call_id": calls[0]["id"], "content": "ok get_weather"}));
    assert_eq!(msgs[3]["tool_call_id"], calls[1]["id"]);
    assert_eq!(follow_up["tools"][0]["function"]["parameters"]["required"], json!(["city"]));
    // The scripted Anthropic upstream got the SDK's request with our credentials, not the client's.
    let claude = claude_up.received();
    assert!(claude.iter().all(|r| r.header("x-api-key") == Some(UPSTREAM_KEY)));
    assert!(claude.iter().all(|r| r.uri == "/v1/messages"));
}
