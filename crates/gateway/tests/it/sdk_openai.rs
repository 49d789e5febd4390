//! The official `openai` Python SDK against the gateway: chat, streaming, tools, structured
//! output, embeddings, models and the SDK's error classes (tests/sdk/openai_conformance.py).
//! Real model for chat and embeddings (llama.cpp), a scripted upstream for tools and errors.

use serde_json::{json, Value};
use testkit::local_llm::{local_llm, python, MODEL};
use testkit::{FakeUpstream, Gateway, Received};

use crate::common::scripted::{openai_by_model, run_sdk_script};
use crate::common::{MASTER_KEY, UPSTREAM_KEY};

#[tokio::test]
async fn the_official_openai_sdk_works_against_the_gateway() {
    let (Some(python), Some(llm)) = (python(), local_llm()) else { return };
    let up = FakeUpstream::start(openai_by_model).await;
    let toml = format!(
        r#"
master_key_env = "MASTER"
[providers.fake]
kind = "openai_compatible"
base_url = "{}"
api_key_env = "UP_KEY"
models = ["gpt-*"]
[providers.llama]
kind = "llamacpp"
base_url = "{}"
models = ["{MODEL}"]
[models.local]
deployments = [{{ provider = "llama", model = "{MODEL}" }}]
"#,
        up.v1(),
        llm.v1()
    );
    let gw = Gateway::start_with_env(&toml, &[("MASTER", MASTER_KEY), ("UP_KEY", UPSTREAM_KEY)]).await;
    let stdout = run_sdk_script(python, "openai_conformance.py", vec![gw.url("/v1"), MASTER_KEY.into()]).await;
    assert!(stdout.contains("12/12 checks passed"), "{stdout}");

    // What the scripted upstream saw from the SDK's requests.
    let received = up.received();
    let bodies: Vec<Value> = received.iter().map(Received::json).collect();
    assert!(received.iter().all(|r| r.header("authorization") == Some(&format!("Bearer {UPSTREAM_KEY}"))));
    let tools: Vec<&Value> = bodies.iter().filter(|b| b["model"] == "gpt-tools").collect();
    assert_eq!(tools.len(), 3, "tools, tool results, streamed tools");
    assert_eq!(tools[0]["parallel_tool_calls"], true);
    assert_eq!(tools[0]["tools"][0]["function"]["name"], "get_weather");
    let results = &tools[1]["messages"];
    assert_eq!(results[1]["tool_calls"][1]["id"], "call_t2", "{results}");
    assert_eq!(results[2], json!({"role": "tool", "tool_call_id": "call_w1", "content": "{\"ok\": \"get_weather\"}"}));
    assert_eq!(results[3]["tool_call_id"], "call_t2");
    let structured = bodies.iter().find(|b| b["model"] == "gpt-json").unwrap();
    assert_eq!(structured["response_format"]["type"], "json_schema");
    assert_eq!(structured["response_format"]["json_schema"]["name"], "Weather");
    assert_eq!(structured["response_format"]["json_schema"]["strict"], true);
}
