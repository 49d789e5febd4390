//! The Vercel AI SDK (`ai` + `@ai-sdk/openai`, on Node 22) against the gateway: the default
//! OpenAI provider speaks the Responses API, routed to an OpenAI-compatible Chat Completions
//! deployment; `generateText` and `streamText` with one tool make the round trip
//! (`stopWhen: stepCountIs(3)`) and answer with the tool's result (tests/clients/vercel_ai.mjs).

use serde_json::{json, Value};
use testkit::FakeUpstream;

use super::play::{self, Call, CALL_ID};
use super::{bodies, chat_gateway, chat_tool_names, clean_command, clients, driver, run, scratch, with_tool_result};
use crate::common::MASTER_KEY;

const DEPLOYED: &str = "gpt-4o-mini-2024-07-18";
const RESULT: &str = "The weather in Paris is sunny-marker-42.";

#[tokio::test]
async fn the_vercel_ai_sdk_generates_and_streams_text_with_a_tool_round_trip() {
    let Some(clients) = clients() else { return };
    let up =
        FakeUpstream::start(play::chat(Call::Function { name: "get_weather", args: json!({"city": "Paris"}) })).await;
    let gw = chat_gateway(&up, &[("gpt-4o", DEPLOYED)]).await;
    // Node resolves `ai` from the script's own directory: run a copy next to the installed
    // node_modules' link.
    let dir = scratch("vercel-ai");
    std::fs::copy(driver("vercel_ai.mjs"), dir.join("vercel_ai.mjs")).unwrap();
    std::os::unix::fs::symlink(clients.node_modules(), dir.join("node_modules")).unwrap();
    let mut cmd = clean_command(&clients.node(), &dir);
    cmd.arg(dir.join("vercel_ai.mjs")).arg(gw.url("/v1")).arg(MASTER_KEY).arg("gpt-4o");
    let ran = run(cmd).await.success("vercel_ai.mjs");
    let out: Value = serde_json::from_str(ran.stdout.trim())
        .unwrap_or_else(|e| panic!("vercel_ai.mjs printed no JSON ({e}):\n{}\n{}", ran.stdout, ran.stderr));

    let answer = play::answer(RESULT);
    for call in ["generate", "stream"] {
        assert_eq!(out[call]["text"], answer.as_str(), "{call}: {out}");
        assert_eq!(out[call]["steps"], 2, "a tool step, then the answer: {out}");
        assert_eq!(out[call]["toolResults"], json!([RESULT]), "{out}");
    }
    assert_eq!(out["stream"]["deltas"], answer.as_str(), "the streamed text arrived as deltas: {out}");

    let all = bodies(&up);
    assert_eq!(all.len(), 4, "a tool call and an answer, for each call: {all:#?}");
    assert!(all.iter().all(|b| b["model"] == DEPLOYED));
    assert_eq!(all.iter().map(|b| b["stream"] == true).collect::<Vec<_>>(), [false, false, true, true]);
    assert_eq!(chat_tool_names(&all[0]), ["get_weather"]);
    for follow_up in [&all[1..2], &all[3..4]] {
        let (body, id, result) = with_tool_result(follow_up, play::chat_tool_result);
        assert_eq!((id.as_str(), result.as_str()), (CALL_ID, RESULT), "{body}");
    }
    gw.stop().await;
}
