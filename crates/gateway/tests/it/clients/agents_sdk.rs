//! The OpenAI Agents SDK (Python) against the gateway's `/v1/responses` with the SDK's DEFAULT
//! model (the gateway has an alias of that name), routed to an OpenAI-compatible Chat
//! Completions deployment: an agent with one function tool, run plain (`Runner.run`) and
//! streamed (`Runner.run_streamed`), answers with the tool's result (tests/clients/agents_sdk.py).
//! The same agent on a Bedrock Converse deployment too.

use serde_json::Value;
use testkit::{FakeUpstream, Gateway};

use super::play::{self, Call, CALL_ID};
use super::{
    bodies, chat_gateway, chat_tool_names, clean_command, clients, driver, run, scratch, with_tool_result, Clients,
};
use crate::common::MASTER_KEY;

/// openai-agents 0.24.0's default model.
const DEFAULT_MODEL: &str = "gpt-5.6-luna";
const DEPLOYED: &str = "gpt-4o-mini-2024-07-18";
const RESULT: &str = "The weather in Paris is sunny-marker-42.";

/// Runs tests/clients/agents_sdk.py against `gw` and returns what it printed.
async fn run_agent(clients: &Clients, gw: &Gateway) -> Value {
    let home = scratch("agents-sdk");
    let mut cmd = clean_command(&clients.python(), &home);
    cmd.arg(driver("agents_sdk.py")).arg(gw.url("/v1")).arg(MASTER_KEY);
    let ran = run(cmd).await.success("agents_sdk.py");
    serde_json::from_str(ran.stdout.trim())
        .unwrap_or_else(|e| panic!("agents_sdk.py printed no JSON ({e}):\n{}\n{}", ran.stdout, ran.stderr))
}

/// Both runs answered with the tool's result, the streamed one through text deltas.
fn assert_answers(out: &Value) {
    assert_eq!(out["default_model"], DEFAULT_MODEL, "the pinned SDK's default model changed: alias it");
    let answer = play::answer(RESULT);
    assert_eq!(out["run"], answer.as_str(), "{out}");
    assert_eq!(out["streamed"], answer.as_str(), "{out}");
    assert_eq!(out["streamed_deltas"], answer.as_str(), "the streamed text arrived as deltas: {out}");
    assert_eq!(out["tool_calls"], serde_json::json!(["Paris", "Paris"]), "the tool ran once per run");
}

#[tokio::test]
async fn the_agents_sdk_default_model_calls_a_function_tool_plain_and_streamed() {
    let Some(clients) = clients() else { return };
    let up = FakeUpstream::start(play::chat(Call::Function {
        name: "get_weather",
        args: serde_json::json!({"city": "Paris"}),
    }))
    .await;
    let gw = chat_gateway(&up, &[(DEFAULT_MODEL, DEPLOYED)]).await;
    assert_answers(&run_agent(&clients, &gw).await);

    let all = bodies(&up);
    assert_eq!(all.len(), 4, "a tool call and an answer, for each run: {all:#?}");
    assert!(all.iter().all(|b| b["model"] == DEPLOYED));
    assert_eq!(all.iter().map(|b| b["stream"] == true).collect::<Vec<_>>(), [false, false, true, true]);
    assert_eq!(chat_tool_names(&all[0]), ["get_weather"]);
    for follow_up in [&all[1..2], &all[3..4]] {
        let (body, id, result) = with_tool_result(follow_up, play::chat_tool_result);
        assert_eq!((id.as_str(), result.as_str()), (CALL_ID, RESULT), "{body}");
        assert!(body["messages"].to_string().contains("Answer with the tool's result."), "instructions: {body}");
    }
    gw.stop().await;
}

#[tokio::test]
async fn the_agents_sdk_default_model_calls_a_function_tool_on_a_bedrock_deployment() {
    let Some(clients) = clients() else { return };
    let up = FakeUpstream::start(play::bedrock("get_weather", serde_json::json!({"city": "Paris"}))).await;
    let toml = format!(
        r#"
master_key_env = "MASTER"
[providers.aws]
kind = "bedrock"
region = "us-east-1"
base_url = "{}"
[models."{DEFAULT_MODEL}"]
deployments = [{{ provider = "aws", model = "us.anthropic.claude-haiku-4-5-20251001-v1:0" }}]
"#,
        up.url()
    );
    let env = [
        ("MASTER", MASTER_KEY),
        ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ];
    let gw = Gateway::start_with_env(&toml, &env).await;
    assert_answers(&run_agent(&clients, &gw).await);

    let received = up.received();
    let uris: Vec<&str> = received.iter().map(|r| r.uri.as_str()).collect();
    let model = "us.anthropic.claude-haiku-4-5-20251001-v1%3A0";
    let expected =
        ["converse", "converse", "converse-stream", "converse-stream"].map(|op| format!("/model/{model}/{op}"));
    assert_eq!(uris, expected);
    let all = bodies(&up);
    assert_eq!(all[0]["toolConfig"]["tools"][0]["toolSpec"]["name"], "get_weather", "{}", all[0]);
    assert_eq!(all[0]["system"][0]["text"], "Answer with the tool's result.", "{}", all[0]);
    for follow_up in [&all[1..2], &all[3..4]] {
        let (body, id, result) = with_tool_result(follow_up, play::bedrock_tool_result);
        assert_eq!((id.as_str(), result.as_str()), (CALL_ID, RESULT), "{body}");
    }
    gw.stop().await;
}
