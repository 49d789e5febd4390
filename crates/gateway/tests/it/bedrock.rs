//! AWS Bedrock: SigV4-signed Converse requests (checked by recomputing the signature as AWS
//! does), Bedrock API keys, ConverseStream's binary event stream to SSE clients, exceptions in
//! and before the stream, and discovery from AWS's variables.

use ring::{digest, hmac};
use serde_json::{json, Value};
use testkit::bedrock_wire::{self as bedrock, event};
use testkit::openai_wire::{sse_json, sse_payloads, streamed_text};
use testkit::{FakeUpstream, Gateway, GatewayProcess, Received, Reply};

use crate::common::{client, post_json, user, MASTER_KEY};

const AKID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const SESSION: &str = "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN";
const PROFILE_ID: &str = "eu.anthropic.claude-3-5-haiku-20241022-v1:0";

async fn gateway(up: &FakeUpstream, auth: &str) -> Gateway {
    let toml = format!(
        r#"
master_key_env = "MASTER"
[providers.aws]
kind = "bedrock"
region = "eu-west-1"
base_url = "{}"
{auth}
[models.haiku]
deployments = [{{ provider = "aws", model = "{PROFILE_ID}" }}]
"#,
        up.url()
    );
    let env = [
        ("MASTER", MASTER_KEY),
        ("AWS_ACCESS_KEY_ID", AKID),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
        ("AWS_SESSION_TOKEN", SESSION),
        ("BEDROCK_KEY", "bedrock-api-key-abc123"),
    ];
    Gateway::start_with_env(&toml, &env).await
}

#[tokio::test]
async fn converse_requests_are_sigv4_signed_for_bedrock_and_answers_get_an_id_and_model() {
    let up = FakeUpstream::always(Reply::json(bedrock::converse("Bonjour."))).await;
    let gw = gateway(&up, "").await;
    let (status, headers, body) =
        post_json(&gw, "/v1/chat/completions", &json!({"model": "haiku", "messages": user("hi"), "max_tokens": 64}))
            .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], "Bonjour.");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(body["model"], PROFILE_ID, "Bedrock names no model: the deployment's is used");
    assert!(body["created"].as_u64().unwrap() > 1_700_000_000, "a real timestamp: {body}");
    assert_eq!(body["id"], format!("chatcmpl-{}", headers["x-request-id"].to_str().unwrap()));
    assert_eq!(body["usage"]["prompt_tokens_details"]["cached_tokens"], 1000, "{body}");

    let got = up.only_request();
    assert_eq!(got.uri, "/model/eu.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse");
    assert_eq!(got.header("x-amz-security-token"), Some(SESSION));
    verify_sigv4(&got, "eu-west-1");
    let sent = got.json();
    assert_eq!(sent["messages"], json!([{"role": "user", "content": [{"text": "hi"}]}]));
    assert_eq!(sent["inferenceConfig"]["maxTokens"], 64);
}

/// Recomputes the signature from what arrived, as Bedrock does (protocols.md 5.2): the path
/// is URI-encoded again in the canonical request, so `%3A` becomes `%253A`.
fn verify_sigv4(req: &Received, region: &str) {
    let auth = req.header("authorization").unwrap();
    let rest = auth.strip_prefix("AWS4-HMAC-SHA256 ").unwrap_or_else(|| panic!("not SigV4: {auth}"));
    let field = |name: &str| {
        rest.split(", ").find_map(|p| p.strip_prefix(&format!("{name}="))).unwrap_or_else(|| panic!("{name} missing"))
    };
    let (credential, signed_headers, signature) = (field("Credential"), field("SignedHeaders"), field("Signature"));
    let scope: Vec<&str> = credential.split('/').collect();
    assert_eq!(scope[0], AKID);
    assert_eq!(&scope[2..], [region, "bedrock", "aws4_request"], "signing name is `bedrock`");
    let names: Vec<&str> = signed_headers.split(';').collect();
    for needed in ["host", "x-amz-date", "x-amz-security-token", "content-type"] {
        assert!(names.contains(&needed), "{needed} is not signed: {signed_headers}");
    }
    let canonical_headers: String =
        names.iter().map(|n| format!("{n}:{}\n", req.header(n).unwrap_or_default().trim())).collect();
    let path = req.uri.split('?').next().unwrap().replace('%', "%25");
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let canonical = format!(
        "POST\n{path}\n\n{canonical_headers}\n{signed_headers}\n{}",
        hex(digest::digest(&digest::SHA256, &req.body).as_ref())
    );
    let date = req.header("x-amz-date").unwrap();
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{date}\n{}/{region}/bedrock/aws4_request\n{}",
        &date[..8],
        hex(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
    );
    let mac = |key: &[u8], data: &str| hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes());
    let k_date = mac(format!("AWS4{SECRET}").as_bytes(), &date[..8]);
    let k_region = mac(k_date.as_ref(), region);
    let k_service = mac(k_region.as_ref(), "bedrock");
    let k_signing = mac(k_service.as_ref(), "aws4_request");
    assert_eq!(
        hex(mac(k_signing.as_ref(), &to_sign).as_ref()),
        signature,
        "signature mismatch; canonical:\n{canonical}"
    );
}

#[tokio::test]
async fn a_bedrock_api_key_is_sent_as_bearer_without_signing() {
    let up = FakeUpstream::always(Reply::json(bedrock::converse("ok"))).await;
    let gw = gateway(&up, r#"api_key_env = "BEDROCK_KEY""#).await;
    let (status, _, body) =
        post_json(&gw, "/v1/chat/completions", &json!({"model": "haiku", "messages": user("hi")})).await;
    assert_eq!(status, 200, "{body}");
    let got = up.only_request();
    assert_eq!(got.header("authorization"), Some("Bearer bedrock-api-key-abc123"));
    assert_eq!(got.header("x-amz-date"), None);
}

#[tokio::test]
async fn converse_stream_frames_become_sse_chunks_with_tool_calls_that_reassemble() {
    let mut frames = vec![
        event("messageStart", json!({"role": "assistant"})),
        event("contentBlockDelta", json!({"contentBlockIndex": 0, "delta": {"text": "Let me check."}})),
        event("contentBlockStop", json!({"contentBlockIndex": 0})),
        event(
            "contentBlockStart",
            json!({"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "tooluse_Abc123", "name": "get_weather"}}}),
        ),
    ];
    for part in ["{\"ci", "ty\": \"Par", "is\"}"] {
        frames.push(event("contentBlockDelta", json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": part}}})));
    }
    frames.push(event("contentBlockStop", json!({"contentBlockIndex": 1})));
    frames.extend(bedrock::end("tool_use", 20));
    let up = FakeUpstream::always(Reply::event_stream(frames)).await;
    let gw = gateway(&up, "").await;
    let tools = json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]);
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(MASTER_KEY)
        .json(&json!({"model": "haiku", "messages": user("weather?"), "tools": tools, "stream": true,
                      "stream_options": {"include_usage": true}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert_eq!(streamed_text(&text), "Let me check.");
    let chunks = sse_json(&text);
    let args: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(serde_json::from_str::<Value>(&args).unwrap(), json!({"city": "Paris"}), "{text}");
    let start = chunks.iter().find(|c| !c["choices"][0]["delta"]["tool_calls"][0]["id"].is_null()).unwrap();
    assert_eq!(start["choices"][0]["delta"]["tool_calls"][0]["id"], "tooluse_Abc123");
    assert_eq!(start["choices"][0]["delta"]["tool_calls"][0]["function"]["name"], "get_weather");
    assert!(chunks.iter().any(|c| c["choices"][0]["finish_reason"] == "tool_calls"), "{text}");
    assert_eq!(chunks.last().unwrap()["usage"]["completion_tokens"], 20);
    assert!(chunks.iter().all(|c| c["model"] == PROFILE_ID));
    assert!(up.only_request().uri.ends_with("/converse-stream"));
    assert_eq!(sse_payloads(&text).last().unwrap(), "[DONE]");
}

#[tokio::test]
async fn an_exception_mid_stream_ends_the_client_stream_with_an_error_and_no_done() {
    let mut frames = bedrock::text_stream(&["Hel", "lo"]);
    frames.truncate(3);
    frames.push(bedrock::exception("throttlingException", "Too many tokens, please wait before trying again."));
    let up = FakeUpstream::always(Reply::event_stream(frames)).await;
    let gw = gateway(&up, "").await;
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(MASTER_KEY)
        .json(&json!({"model": "haiku", "messages": user("hi"), "stream": true}))
        .send()
        .await
        .unwrap();
    let text = resp.text().await.unwrap();
    assert_eq!(streamed_text(&text), "Hello");
    assert!(!text.contains("[DONE]"), "{text}");
    let last = sse_json(&text).pop().unwrap();
    assert!(last["error"]["message"].as_str().unwrap().contains("Too many tokens"), "{text}");
}

#[tokio::test]
async fn bedrock_errors_keep_their_status_and_message() {
    let up = FakeUpstream::always(
        Reply::error(429, json!({"message": "Too many requests, please wait before trying again."})).with_header(
            "x-amzn-ErrorType",
            "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/",
        ),
    )
    .await;
    let gw = gateway(&up, "").await;
    let (status, _, body) =
        post_json(&gw, "/v1/chat/completions", &json!({"model": "haiku", "messages": user("hi")})).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["message"], "Too many requests, please wait before trying again.");
    let resp = client()
        .post(gw.url("/v1/messages"))
        .header("x-api-key", MASTER_KEY)
        .json(&json!({"model": "haiku", "max_tokens": 10, "messages": user("hi")}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.json::<Value>().await.unwrap()["error"]["type"], "rate_limit_error");
}

#[tokio::test]
async fn anthropic_clients_keep_prompt_caching_on_bedrock() {
    let up = FakeUpstream::always(Reply::json(bedrock::converse("cached"))).await;
    let gw = gateway(&up, "").await;
    let resp = client()
        .post(gw.url("/v1/messages"))
        .header("x-api-key", MASTER_KEY)
        .json(&json!({"model": "haiku", "max_tokens": 100,
            "system": [{"type": "text", "text": "A long shared preamble.", "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": "Question?"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let reply: Value = resp.json().await.unwrap();
    assert_eq!(reply["content"][0]["text"], "cached");
    assert_eq!(reply["usage"]["cache_read_input_tokens"], 1000, "{reply}");
    assert!(reply["id"].as_str().unwrap().starts_with("msg_"));
    let sent = up.only_request().json();
    assert_eq!(sent["system"], json!([{"text": "A long shared preamble."}, {"cachePoint": {"type": "default"}}]));
}

#[tokio::test]
async fn zero_config_finds_bedrock_from_aws_variables() {
    let up = FakeUpstream::always(Reply::json(bedrock::converse("ok"))).await;
    let endpoint = up.url();
    let gw = GatewayProcess::serve(
        env!("CARGO_BIN_EXE_switchyard"),
        &["--listen", "127.0.0.1:0"],
        &[
            ("AWS_REGION", "us-west-2"),
            ("AWS_BEARER_TOKEN_BEDROCK", "bedrock-api-key-xyz"),
            ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", &endpoint),
        ],
    );
    assert!(gw.stderr().contains(&format!("bedrock at {endpoint} (from AWS_BEARER_TOKEN_BEDROCK)")), "{}", gw.stderr());
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "messages": user("hi")}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let got = up.only_request();
    assert_eq!(got.uri, "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/converse");
    assert_eq!(got.header("authorization"), Some("Bearer bedrock-api-key-xyz"));
}

#[tokio::test]
async fn titan_embeddings_go_through_invoke_model() {
    let up =
        FakeUpstream::always(Reply::json(json!({"embedding": [0.125, -0.5, 0.75], "inputTextTokenCount": 4}))).await;
    let gw = gateway(&up, "").await;
    let (status, _, body) = post_json(
        &gw,
        "/v1/embeddings",
        &json!({"model": "aws/amazon.titan-embed-text-v2:0", "input": "The sky is blue.", "dimensions": 256}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"][0]["embedding"], json!([0.125, -0.5, 0.75]));
    assert_eq!(body["usage"]["prompt_tokens"], 4);
    let got = up.only_request();
    assert_eq!(got.uri, "/model/amazon.titan-embed-text-v2%3A0/invoke");
    assert_eq!(got.json()["inputText"], "The sky is blue.");
    assert_eq!(got.json()["dimensions"], 256);
    verify_sigv4(&got, "eu-west-1");
}

#[tokio::test]
async fn a_named_profile_from_the_shared_credentials_file_signs_requests() {
    let dir = std::env::temp_dir().join(format!("switchyard-aws-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("credentials");
    std::fs::write(
        &file,
        format!("[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = nope\n\n[prod]\naws_access_key_id = {AKID}\naws_secret_access_key = {SECRET}\naws_session_token = {SESSION}\n"),
    )
    .unwrap();
    let up = FakeUpstream::always(Reply::json(bedrock::converse("ok"))).await;
    let toml = format!(
        "[providers.aws]\nkind = \"bedrock\"\nregion = \"ap-northeast-1\"\nbase_url = \"{}\"\nprofile = \"prod\"\n[models.m]\ndeployments = [{{ provider = \"aws\", model = \"anthropic.claude-3-haiku-20240307-v1:0\" }}]\n",
        up.url()
    );
    let gw = Gateway::start_with_env(&toml, &[("AWS_SHARED_CREDENTIALS_FILE", file.to_str().unwrap())]).await;
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": "m", "messages": user("hi")}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    verify_sigv4(&up.only_request(), "ap-northeast-1");

    let missing = "[providers.aws]\nkind = \"bedrock\"\nregion = \"us-east-1\"\nprofile = \"staging\"\n";
    let err =
        gateway::Config::from_toml(missing, &[("AWS_SHARED_CREDENTIALS_FILE", file.to_str().unwrap())]).unwrap_err();
    assert!(err.to_string().contains("line 2") && err.to_string().contains("no profile `staging`"), "{err}");
}
