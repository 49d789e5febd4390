//! The official `openai` and `anthropic` SDKs against every provider kind: OpenAI, Azure
//! OpenAI, Anthropic, Bedrock, Gemini, and Anthropic and Gemini models on Vertex AI, each a fake speaking its own wire
//! protocol (tests/it/common/tool_turns.rs), through both ingress dialects, plain and streamed, with
//! a parallel tool-call round trip (tests/sdk/provider_matrix.py).

use serde_json::json;
use testkit::local_llm::python;
use testkit::{FakeUpstream, Gateway, Received, Reply};

use crate::common::scripted::run_sdk_script;
use crate::common::{tool_turns, MASTER_KEY, UPSTREAM_KEY};

const MODELS: [&str; 7] = [
    "openai/gpt-4o",
    "azure/prod-gpt4o",
    "anthropic/claude-sonnet-4-5",
    "vertex/claude-sonnet-4-5@20250929",
    "bedrock/eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "gemini/gemini-2.5-flash",
    "vertex/gemini-2.5-pro",
];

#[tokio::test]
async fn both_sdks_work_through_every_provider_kind() {
    let Some(python) = python() else { return };
    let openai = FakeUpstream::start(tool_turns::openai).await;
    let azure = FakeUpstream::start(tool_turns::openai).await;
    let claude = FakeUpstream::start(tool_turns::anthropic).await;
    let vertex = FakeUpstream::start(|req: &Received| {
        if req.uri == "/token" {
            Reply::json(json!({"access_token": "ya29.matrix", "expires_in": 3599, "token_type": "Bearer"}))
        } else if req.uri.contains("/publishers/google/") {
            tool_turns::gemini(req)
        } else {
            tool_turns::anthropic(req)
        }
    })
    .await;
    let bedrock = FakeUpstream::start(tool_turns::bedrock).await;
    let gemini = FakeUpstream::start(tool_turns::gemini).await;
    let toml = format!(
        r#"
master_key_env = "MASTER"
[providers.openai]
kind = "openai"
base_url = "{}"
api_key_env = "UP_KEY"
[providers.azure]
kind = "azure"
base_url = "{}"
api_key_env = "UP_KEY"
[providers.anthropic]
kind = "anthropic"
base_url = "{}"
api_key_env = "UP_KEY"
[providers.vertex]
kind = "vertex"
project = "p"
location = "us-east5"
base_url = "{vertex}"
token_url = "{vertex}/token"
[providers.bedrock]
kind = "bedrock"
region = "eu-west-1"
base_url = "{}"
api_key_env = "UP_KEY"
[providers.gemini]
kind = "gemini"
base_url = "{}/v1beta"
api_key_env = "UP_KEY"
"#,
        openai.v1(),
        azure.url(),
        claude.url(),
        bedrock.url(),
        gemini.url(),
        vertex = vertex.url(),
    );
    let key_file = format!("{}/tests/fixtures/vertex-service-account.json", env!("CARGO_MANIFEST_DIR"));
    let env = [("MASTER", MASTER_KEY), ("UP_KEY", UPSTREAM_KEY), ("GOOGLE_APPLICATION_CREDENTIALS", key_file.as_str())];
    let gw = Gateway::start_with_env(&toml, &env).await;
    let mut args = vec![gw.url(""), MASTER_KEY.to_owned()];
    args.extend(MODELS.iter().map(|m| (*m).to_owned()));
    let stdout = run_sdk_script(python, "provider_matrix.py", args).await;
    assert!(stdout.contains("28/28 checks passed"), "{stdout}");

    // Each provider got its own protocol: paths, and the tool results in its own shape.
    assert!(openai.received().iter().all(|r| r.uri == "/v1/chat/completions"));
    assert!(azure
        .received()
        .iter()
        .all(|r| r.uri.starts_with("/openai/deployments/prod-gpt4o/chat/completions?api-version=")));
    assert!(claude.received().iter().all(|r| r.uri == "/v1/messages"));
    let vertex_calls: Vec<Received> = vertex.received().into_iter().filter(|r| r.uri != "/token").collect();
    assert!(vertex_calls.iter().all(|r| r.uri.contains("/publishers/anthropic/models/claude-sonnet-4-5@20250929:")
        || r.uri.contains("/publishers/google/models/gemini-2.5-pro:")));
    assert!(bedrock
        .received()
        .iter()
        .all(|r| r.uri.starts_with("/model/eu.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse")));
    let bedrock_results =
        bedrock.received().iter().map(Received::json).find(|b| b.to_string().contains("toolResult")).unwrap();
    let turns = bedrock_results["messages"].as_array().unwrap();
    assert_eq!(turns[1]["content"][0]["toolUse"]["toolUseId"], "call_w1", "{bedrock_results}");
    assert_eq!(turns[2]["content"][1]["toolResult"]["toolUseId"], "call_t2", "{bedrock_results}");
    assert!(bedrock_results["toolConfig"]["tools"][0]["toolSpec"]["name"] == "get_weather");
    let gemini_calls = gemini.received();
    assert!(gemini_calls.iter().all(|r| r.uri.starts_with("/v1beta/models/gemini-2.5-flash:")));
    assert!(gemini_calls.iter().all(|r| r.header("x-goog-api-key") == Some(UPSTREAM_KEY)));
    let results = gemini_calls.iter().map(Received::json).find(|b| b.to_string().contains("functionResponse")).unwrap();
    let turns = results["contents"].as_array().unwrap();
    assert_eq!(turns[1]["role"], "model");
    assert_eq!(turns[1]["parts"][0]["functionCall"]["name"], "get_weather", "{results}");
    assert_eq!(turns[2]["parts"][1]["functionResponse"]["name"], "get_time", "{results}");
    assert!(vertex_calls
        .iter()
        .any(|r| r.uri.contains("/publishers/google/models/gemini-2.5-pro:streamGenerateContent?alt=sse")));
}
