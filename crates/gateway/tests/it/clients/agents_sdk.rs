//! The OpenAI Agents SDK (Python) against the gateway's `/v1/responses` with the SDK's DEFAULT
//! model (the gateway has an alias of that name), routed to an OpenAI-compatible Chat
//! Completions deployment: an agent with one function tool, run plain (`Runner.run`) and
//! streamed (`Runner.run_streamed`), answers with the tool's result (tests/clients/agents_sdk.py).

use serde_json::Value;
use testkit::FakeUpstream;

use super::play::{self, Call, CALL_ID};
use super::{bodies, chat_gateway, chat_tool_names, clean_command, clients, driver, run, scratch, with_tool_result};
use crate::common::MASTER_KEY;

/// openai-agents 0.24.0's default model.
const DEFAULT_MODEL: &str = "gpt-5.6-luna";
const DEPLOYED: &str = "gpt-4o-mini-2024-07-18";
const RESULT: &str = "The weather in Paris is sunny-marker-42.";

#[tokio::test]
async fn the_agents_sdk_default_model_calls_a_function_tool_plain_and_streamed() {
    let Some(clients) = clients() else { return };
    let up = FakeUpstream::start(play::chat(Call::Function {
        name: "get_weather",
        args: serde_json::json!({"city": "Paris"}),
    }))
    .await;
    let gw = chat_gateway(&up, &[(DEFAULT_MODEL, DEPLOYED)]).await;
    let home = scratch("agents-sdk");
    let mut cmd = clean_command(&clients.python(), &home);
    cmd.arg(driver("agents_sdk.py")).arg(gw.url("/v1")).arg(MASTER_KEY);
    let ran = run(cmd).await.success("agents_sdk.py");
    let out: Value = serde_json::from_str(ran.stdout.trim())
        .unwrap_or_else(|e| panic!("agents_sdk.py printed no JSON ({e}):\n{}\n{}", ran.stdout, ran.stderr));

    assert_eq!(out["default_model"], DEFAULT_MODEL, "the pinned SDK's default model changed: alias it");
    let answer = play::answer(RESULT);
    assert_eq!(out["run"], answer.as_str(), "{out}");
    assert_eq!(out["streamed"], answer.as_str(), "{out}");
    assert_eq!(out["streamed_deltas"], answer.as_str(), "the streamed text arrived as deltas: {out}");
    assert_eq!(out["tool_calls"], serde_json::json!(["Paris", "Paris"]), "the tool ran once per run");

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
