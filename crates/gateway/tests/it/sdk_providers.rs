//! The official `openai` and `anthropic` SDKs against every provider kind: OpenAI, Azure
//! OpenAI, Anthropic, Bedrock, Gemini, and Anthropic and Gemini models on Vertex AI, each a fake speaking its own wire
//! protocol (tests/it/common/tool_turns.rs), through both ingress dialects, plain and streamed, with
//! a parallel tool-call round trip (tests/sdk/provider_matrix.py); and the `openai` SDK's Responses API
//! through every kind, with stored conversations continued across kinds (tests/sdk/responses_matrix.py).

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

/// A fake upstream of every kind, each playing the tool conversation in its own protocol.
struct Upstreams {
    openai: FakeUpstream,
    azure: FakeUpstream,
    claude: FakeUpstream,
    vertex: FakeUpstream,
    bedrock: FakeUpstream,
    gemini: FakeUpstream,
}

/// A gateway in front of [`Upstreams`] (providers named as in [`MODELS`]), with `extra` in its config.
async fn every_kind(extra: &str) -> (Gateway, Upstreams) {
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
{extra}
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
    (gw, Upstreams { openai, azure, claude, vertex, bedrock, gemini })
}

#[tokio::test]
async fn both_sdks_work_through_every_provider_kind() {
    let Some(python) = python() else { return };
    let (gw, Upstreams { openai, azure, claude, vertex, bedrock, gemini }) = every_kind("").await;
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

#[tokio::test]
async fn the_responses_api_works_through_every_provider_kind() {
    let Some(python) = python() else { return };
    // `json` answers structured output for `responses.parse`, through Chat Completions.
    let json_up =
        FakeUpstream::always(Reply::json(testkit::openai_wire::completion("gpt-4o", r#"{"city": "Paris"}"#))).await;
    let extra = format!(
        "[providers.jsonup]\nkind = \"openai_compatible\"\nbase_url = \"{}\"\napi_key_env = \"UP_KEY\"\nmodels = [\"*\"]\n\
         [models.json]\ndeployments = [{{ provider = \"jsonup\", model = \"gpt-4o\" }}]\n",
        json_up.v1()
    );
    let (gw, ups) = every_kind(&extra).await;
    let (_, other_key) = crate::common::new_key(&gw, json!({"name": "someone-else"})).await;
    let mut args = vec![gw.url(""), MASTER_KEY.to_owned(), other_key];
    args.extend(MODELS.iter().map(|m| (*m).to_owned()));
    let stdout = run_sdk_script(python, "responses_matrix.py", args).await;
    assert!(stdout.contains("23/23 checks passed"), "{stdout}");

    // OpenAI and Azure got the Responses API itself, with store off (the gateway keeps state).
    let openai_calls = ups.openai.received();
    assert!(openai_calls.iter().all(|r| r.uri == "/v1/responses"), "{:?}", openai_calls.iter().map(|r| &r.uri));
    assert!(openai_calls
        .iter()
        .map(Received::json)
        .all(|b| b["store"] == false && b.get("previous_response_id").is_none()));
    assert!(ups.azure.received().iter().all(|r| r.uri == "/openai/v1/responses"));
    let outputs =
        openai_calls.iter().map(Received::json).find(|b| b.to_string().contains("function_call_output")).unwrap();
    let items = outputs["input"].as_array().unwrap();
    assert!(items.iter().any(|i| i["type"] == "function_call" && i["call_id"] == "call_w1"), "{outputs}");
    assert!(items.iter().any(|i| i["type"] == "function_call_output" && i["call_id"] == "call_t2"), "{outputs}");
    // Every other kind got its own protocol, tool results included.
    let bedrock = ups.bedrock.received().iter().map(Received::json).find(|b| b.to_string().contains("toolResult"));
    assert!(bedrock.is_some(), "Bedrock got the tool results as toolResult blocks");
    let gemini = ups.gemini.received().iter().map(Received::json).find(|b| b.to_string().contains("functionResponse"));
    assert!(gemini.is_some(), "Gemini got the tool results as functionResponse parts");
    assert!(ups.claude.received().iter().all(|r| r.uri == "/v1/messages"));
    // A conversation stored on one kind and continued on the next: the next provider got the
    // earlier turn, in its own protocol (the matrix continues each model on the one after it).
    let continued = ups.claude.received().iter().map(Received::json).any(|b| {
        let turns = b["messages"].as_array().map_or(0, Vec::len);
        turns == 3 && b.to_string().contains("And again?")
    });
    assert!(continued, "the Anthropic deployment got the stored turn before the new input");
    let _ = ups.vertex;
}
