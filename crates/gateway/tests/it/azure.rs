//! Azure OpenAI: deployment URLs with `api-version`, the versionless v1 API, the `api-key`
//! header, Azure's stream quirks, content filtering and its error shapes, and discovery.

use serde_json::{json, Value};
use testkit::openai_wire::{self as wire, data, streamed_text};
use testkit::{FakeUpstream, Gateway, GatewayProcess, Reply};

use crate::common::{client, post_json, user, MASTER_KEY};

const AZURE_KEY: &str = "azure-key-0123456789abcdef";
const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

async fn gateway(up: &FakeUpstream, api_version: &str) -> Gateway {
    let toml = format!(
        r#"
master_key_env = "MASTER"
[providers.az]
kind = "azure"
base_url = "{}"
api_key_env = "AZ_KEY"
api_version = "{api_version}"
region = "swedencentral"
[models.gpt4o]
deployments = [{{ provider = "az", model = "prod-gpt4o" }}]
[models.embed]
deployments = [{{ provider = "az", model = "emb-small" }}]
"#,
        up.url()
    );
    Gateway::start_with_env(&toml, &[("MASTER", MASTER_KEY), ("AZ_KEY", AZURE_KEY)]).await
}

#[tokio::test]
async fn classic_deployment_urls_carry_the_api_version_and_the_api_key_header() {
    let up = FakeUpstream::always(Reply::json(wire::completion("gpt-4o-2024-11-20", "Hej!"))).await;
    let gw = gateway(&up, "2024-10-21").await;
    let (status, headers, body) =
        post_json(&gw, "/v1/chat/completions", &json!({"model": "gpt4o", "messages": user("hi")})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], "Hej!");
    assert_eq!(headers["x-switchyard-deployment"], "az/prod-gpt4o");
    let got = up.only_request();
    assert_eq!(got.uri, "/openai/deployments/prod-gpt4o/chat/completions?api-version=2024-10-21");
    assert_eq!(got.header("api-key"), Some(AZURE_KEY));
    assert_eq!(got.header("authorization"), None, "Azure must not get both headers");
}

#[tokio::test]
async fn the_v1_api_uses_openai_paths_and_the_deployment_as_model() {
    let up = FakeUpstream::always(Reply::json(wire::completion("gpt-4o-2024-11-20", "ok"))).await;
    let gw = gateway(&up, "v1").await;
    let (status, _, body) =
        post_json(&gw, "/v1/chat/completions", &json!({"model": "gpt4o", "messages": user("hi")})).await;
    assert_eq!(status, 200, "{body}");
    let got = up.only_request();
    assert_eq!(got.uri, "/openai/v1/chat/completions");
    assert_eq!(got.json()["model"], "prod-gpt4o");
}

#[tokio::test]
async fn embeddings_go_to_the_deployment_embeddings_path() {
    let up = FakeUpstream::always(Reply::json(json!({
        "object": "list", "model": "text-embedding-3-small",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.25, -0.5]}],
        "usage": {"prompt_tokens": 3, "total_tokens": 3}
    })))
    .await;
    let gw = gateway(&up, "2024-10-21").await;
    let (status, _, body) = post_json(&gw, "/v1/embeddings", &json!({"model": "embed", "input": "abc"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"][0]["embedding"], json!([0.25, -0.5]));
    assert_eq!(up.only_request().uri, "/openai/deployments/emb-small/embeddings?api-version=2024-10-21");
}

#[tokio::test]
async fn azure_streams_open_with_a_filter_only_chunk_that_clients_never_see_as_a_reply() {
    // Azure's first chunk: no choices, empty id/model, prompt filter results.
    let filter_chunk = json!({
        "choices": [], "created": 0, "id": "", "model": "", "object": "",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {
            "hate": {"filtered": false, "severity": "safe"}, "jailbreak": {"filtered": false, "detected": false}}}]
    });
    let mut events = vec![data(&filter_chunk)];
    events.extend(wire::text_stream("gpt-4o-2024-11-20", &["Hel", "lo"]));
    let up = FakeUpstream::always(Reply::sse(events)).await;
    let gw = gateway(&up, "2024-10-21").await;
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(MASTER_KEY)
        .json(&json!({"model": "gpt4o", "messages": user("hi"), "stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert_eq!(streamed_text(&text), "Hello");
    let chunks = wire::sse_json(&text);
    assert!(chunks.iter().all(|c| c["id"] == "chatcmpl-fake123" && c["object"] == "chat.completion.chunk"), "{text}");
    assert!(text.ends_with("data: [DONE]\n\n"));
}

#[tokio::test]
async fn content_filtering_and_azure_error_shapes_reach_the_client() {
    let prompt_filtered = json!({"error": {
        "code": "content_filter", "status": 400, "param": "prompt",
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
        "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": {
            "hate": {"filtered": true, "severity": "high"}, "violence": {"filtered": false, "severity": "safe"}}}}});
    let mut output_filtered = wire::completion("gpt-4o-2024-11-20", "");
    output_filtered["choices"][0]["finish_reason"] = json!("content_filter");
    output_filtered["choices"][0]["content_filter_results"] = json!({"hate": {"filtered": true, "severity": "medium"}});
    let throttled = json!({"error": {"code": "429", "message": format!(
        "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded \
         token rate limit of your current tier. Please retry after 12 seconds. (key {AZURE_KEY})")}});
    let up = FakeUpstream::start(move |req| match req.json()["messages"][0]["content"].as_str().unwrap_or_default() {
        "bad prompt" => Reply::error(400, prompt_filtered.clone()),
        "bad answer" => Reply::json(output_filtered.clone()),
        _ => Reply::error(429, throttled.clone()).with_header("retry-after", "12"),
    })
    .await;
    let gw = gateway(&up, "2024-10-21").await;
    let ask = |text: &str| json!({"model": "gpt4o", "messages": user(text)});

    let (status, _, body) = post_json(&gw, "/v1/chat/completions", &ask("bad prompt")).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "content_filter", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("content management policy"), "{body}");

    let (status, _, body) = post_json(&gw, "/v1/chat/completions", &ask("bad answer")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["finish_reason"], "content_filter");

    let (status, headers, body) = post_json(&gw, "/v1/chat/completions", &ask("anything")).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(headers["retry-after"], "12");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("Please retry after 12 seconds"), "{body}");
    assert!(!message.contains(AZURE_KEY), "the provider key leaked: {body}");
}

#[tokio::test]
async fn zero_config_finds_azure_from_its_sdk_variables() {
    let up = FakeUpstream::always(Reply::json(wire::completion("gpt-4o-2024-11-20", "ok"))).await;
    let endpoint = up.url();
    let gw = GatewayProcess::serve(
        BIN,
        &["--listen", "127.0.0.1:0"],
        &[
            ("AZURE_OPENAI_API_KEY", AZURE_KEY),
            ("AZURE_OPENAI_ENDPOINT", &endpoint),
            ("OPENAI_API_VERSION", "2025-04-01-preview"),
        ],
    );
    assert!(gw.stderr().contains(&format!("azure at {endpoint} (from AZURE_OPENAI_API_KEY)")), "{}", gw.stderr());
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": "azure/team-gpt4o", "messages": user("hi")}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "ok");
    let got = up.only_request();
    assert_eq!(got.uri, "/openai/deployments/team-gpt4o/chat/completions?api-version=2025-04-01-preview");
    assert_eq!(got.header("api-key"), Some(AZURE_KEY));
}

#[tokio::test]
async fn entra_id_client_credentials_replace_the_api_key() {
    let up = FakeUpstream::start(|req: &testkit::Received| {
        if req.uri.starts_with("/tenant-42/oauth2/v2.0/token") {
            Reply::json(json!({"token_type": "Bearer", "expires_in": 3599, "access_token": "eyJ0eXAi.entra.token"}))
        } else {
            Reply::json(wire::completion("gpt-4o-2024-11-20", "ok"))
        }
    })
    .await;
    let toml = format!(
        r#"
[providers.az]
kind = "azure"
base_url = "{0}"
auth = "entra"
[models.gpt4o]
deployments = [{{ provider = "az", model = "prod-gpt4o" }}]
"#,
        up.url()
    );
    let authority = up.url();
    let env = [
        ("AZURE_TENANT_ID", "tenant-42"),
        ("AZURE_CLIENT_ID", "app-id-1"),
        ("AZURE_CLIENT_SECRET", "app-secret-1"),
        ("AZURE_AUTHORITY_HOST", authority.as_str()),
    ];
    let gw = Gateway::start_with_env(&toml, &env).await;
    for _ in 0..2 {
        let resp = client()
            .post(gw.url("/v1/chat/completions"))
            .json(&json!({"model": "gpt4o", "messages": user("hi")}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    let received = up.received();
    assert_eq!(received.len(), 3, "one token request, then two calls with the cached token");
    let form = String::from_utf8(received[0].body.to_vec()).unwrap();
    assert_eq!(
        form,
        "grant_type=client_credentials&client_id=app-id-1&client_secret=app-secret-1&scope=https%3A%2F%2Fcognitiveservices.azure.com%2F.default"
    );
    for call in &received[1..] {
        assert_eq!(call.header("authorization"), Some("Bearer eyJ0eXAi.entra.token"));
        assert_eq!(call.header("api-key"), None);
    }
}
