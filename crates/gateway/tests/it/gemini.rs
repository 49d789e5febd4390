//! Google Gemini: the Gemini API with its key header, streams to OpenAI clients, embeddings
//! as the base64 the OpenAI SDK asks for, Google errors, Gemini models on Vertex AI, discovery.

use base64::Engine;
use serde_json::{json, Value};
use testkit::openai_wire::{sse_json, streamed_text};
use testkit::{FakeUpstream, Gateway, GatewayProcess, Received, Reply};

use crate::common::{client, post_json, tool_turns, user, MASTER_KEY};

const KEY: &str = "AIzaSyD-test-gemini-key-000000000";

async fn gateway(up: &FakeUpstream) -> Gateway {
    let toml = format!(
        r#"
master_key_env = "MASTER"
[providers.google]
kind = "gemini"
base_url = "{}/v1beta"
api_key_env = "GEMINI_KEY"
[models.flash]
deployments = [{{ provider = "google", model = "gemini-2.5-flash" }}]
[models.embed]
deployments = [{{ provider = "google", model = "gemini-embedding-001" }}]
"#,
        up.url()
    );
    Gateway::start_with_env(&toml, &[("MASTER", MASTER_KEY), ("GEMINI_KEY", KEY)]).await
}

#[tokio::test]
async fn chat_goes_to_generate_content_with_the_key_header() {
    let up = FakeUpstream::start(tool_turns::gemini).await;
    let gw = gateway(&up).await;
    let (status, _, body) = post_json(
        &gw,
        "/v1/chat/completions",
        &json!({"model": "flash", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
                "max_tokens": 64, "temperature": 0.3}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], tool_turns::HELLO);
    assert_eq!(body["model"], "gemini-2.5-flash");
    assert_eq!(body["usage"]["prompt_tokens"], 20);
    assert!(body["created"].as_u64().unwrap() > 1_700_000_000);
    let got = up.only_request();
    assert_eq!(got.uri, "/v1beta/models/gemini-2.5-flash:generateContent");
    assert_eq!(got.header("x-goog-api-key"), Some(KEY));
    assert_eq!(got.header("authorization"), None);
    let sent = got.json();
    assert_eq!(sent["systemInstruction"], json!({"parts": [{"text": "Be brief."}]}));
    assert_eq!(sent["contents"], json!([{"role": "user", "parts": [{"text": "Hi"}]}]));
    assert_eq!(sent["generationConfig"], json!({"maxOutputTokens": 64, "temperature": 0.3}));
}

#[tokio::test]
async fn streams_become_openai_chunks_with_usage_and_done() {
    let up = FakeUpstream::start(tool_turns::gemini).await;
    let gw = gateway(&up).await;
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(MASTER_KEY)
        .json(&json!({"model": "flash", "messages": user("Hi"), "stream": true, "stream_options": {"include_usage": true}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert_eq!(streamed_text(&text), tool_turns::HELLO);
    let chunks = sse_json(&text);
    assert_eq!(chunks.last().unwrap()["usage"]["total_tokens"], 28, "{text}");
    assert!(text.ends_with("data: [DONE]\n\n"));
    assert_eq!(up.only_request().uri, "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse");
}

#[tokio::test]
async fn a_gemini_stream_cut_before_its_finish_is_an_error_for_the_client() {
    let chunk = json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Par"}]}, "index": 0}],
                       "modelVersion": "gemini-2.5-flash", "responseId": "r1"});
    let up = FakeUpstream::always(Reply::sse([format!("data: {chunk}\r\n\r\n")])).await;
    let gw = gateway(&up).await;
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(MASTER_KEY)
        .json(&json!({"model": "flash", "messages": user("Hi"), "stream": true}))
        .send()
        .await
        .unwrap();
    let text = resp.text().await.unwrap();
    assert_eq!(streamed_text(&text), "Par");
    assert!(!text.contains("[DONE]"), "{text}");
    assert!(sse_json(&text).last().unwrap()["error"]["message"].as_str().unwrap().contains("closed the stream early"));
}

#[tokio::test]
async fn embeddings_come_back_as_base64_when_asked() {
    let up = FakeUpstream::always(Reply::json(
        json!({"embeddings": [{"values": [0.5, -0.25, 1.0]}, {"values": [0.0, 2.0, -1.0]}]}),
    ))
    .await;
    let gw = gateway(&up).await;
    let (status, _, body) = post_json(
        &gw,
        "/v1/embeddings",
        &json!({"model": "embed", "input": ["a", "b"], "encoding_format": "base64", "dimensions": 3}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let bytes =
        base64::engine::general_purpose::STANDARD.decode(body["data"][1]["embedding"].as_str().unwrap()).unwrap();
    let floats: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    assert_eq!(floats, vec![0.0, 2.0, -1.0]);
    let (_, _, plain) = post_json(&gw, "/v1/embeddings", &json!({"model": "embed", "input": ["a", "b"]})).await;
    assert_eq!(plain["data"][0]["embedding"], json!([0.5, -0.25, 1.0]));
    let got = up.received()[0].clone();
    assert_eq!(got.uri, "/v1beta/models/gemini-embedding-001:batchEmbedContents");
    assert_eq!(got.json()["requests"][0]["outputDimensionality"], 3);
}

#[tokio::test]
async fn google_errors_reach_the_client_with_their_status_and_message() {
    let up = FakeUpstream::always(Reply::error(
        429,
        json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED",
            "message": "You exceeded your current quota, please check your plan and billing details.",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}]}}),
    ))
    .await;
    let gw = gateway(&up).await;
    let (status, _, body) =
        post_json(&gw, "/v1/chat/completions", &json!({"model": "flash", "messages": user("Hi")})).await;
    assert_eq!(status, 429, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().starts_with("You exceeded your current quota"));
}

#[tokio::test]
async fn gemini_models_on_vertex_use_the_google_publisher_path() {
    let up = FakeUpstream::start(|req: &Received| {
        if req.uri == "/token" {
            Reply::json(json!({"access_token": "ya29.gemini", "expires_in": 3599}))
        } else {
            tool_turns::gemini(req)
        }
    })
    .await;
    let toml = format!(
        r#"
[providers.vertex]
kind = "vertex"
project = "proj-9"
location = "europe-west4"
base_url = "{0}"
token_url = "{0}/token"
"#,
        up.url()
    );
    let key_file = format!("{}/tests/fixtures/vertex-service-account.json", env!("CARGO_MANIFEST_DIR"));
    let gw = Gateway::start_with_env(&toml, &[("GOOGLE_APPLICATION_CREDENTIALS", key_file.as_str())]).await;
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": "vertex/gemini-2.5-pro", "messages": user("Hi")}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["choices"][0]["message"]["content"], tool_turns::HELLO);
    let call = up.received().into_iter().find(|r| r.uri != "/token").unwrap();
    assert_eq!(
        call.uri,
        "/v1/projects/proj-9/locations/europe-west4/publishers/google/models/gemini-2.5-pro:generateContent"
    );
    assert_eq!(call.header("authorization"), Some("Bearer ya29.gemini"));
}

#[tokio::test]
async fn zero_config_finds_gemini_from_google_api_key() {
    let up = FakeUpstream::start(tool_turns::gemini).await;
    let base = format!("{}/v1beta", up.url());
    let gw = GatewayProcess::serve(
        env!("CARGO_BIN_EXE_switchyard"),
        &["--listen", "127.0.0.1:0"],
        &[("GOOGLE_API_KEY", KEY), ("GEMINI_BASE_URL", &base)],
    );
    assert!(gw.stderr().contains(&format!("gemini at {base} (from GOOGLE_API_KEY)")), "{}", gw.stderr());
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": "gemini-2.5-flash", "messages": user("Hi")}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(up.only_request().header("x-goog-api-key"), Some(KEY));
}
