//! A real upstream, not a fake: llama.cpp's own server with a real (tiny) model, reached through
//! the gateway for chat, streaming and embeddings, and found by zero-config discovery.
//! Skipped with a message where `scripts/setup-llm.sh` has not run; required under `CI=true`.

use serde_json::{json, Value};
use testkit::local_llm::{local_llm, LocalLlm, EMBEDDING_DIMS, MODEL};
use testkit::openai_wire::{sse_json, sse_payloads, streamed_text};
use testkit::{Gateway, GatewayProcess};

use crate::common::{client, post_json, MASTER_KEY};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

/// A gateway whose alias `local` (and `llama/<model>`) reaches the llama.cpp server.
async fn gateway(llm: &LocalLlm) -> Gateway {
    let toml = format!(
        r#"
master_key_env = "MASTER"
[providers.llama]
kind = "llamacpp"
base_url = "{}"
models = ["{MODEL}"]
[models.local]
deployments = [{{ provider = "llama", model = "{MODEL}" }}]
"#,
        llm.v1()
    );
    Gateway::start_with_env(&toml, &[("MASTER", crate::common::MASTER_KEY)]).await
}

fn ask(extra: Value) -> Value {
    let mut body = json!({
        "model": "local",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Name three colours."}
        ],
        "max_tokens": 16,
        "temperature": 0
    });
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    body
}

#[tokio::test]
async fn chat_through_the_gateway_gets_a_real_completion() {
    let Some(llm) = local_llm() else { return };
    let gw = gateway(llm).await;
    let (status, headers, body) = post_json(&gw, "/v1/chat/completions", &ask(json!({}))).await;
    assert_eq!(status, 200, "{body}");
    assert!(headers["content-type"].to_str().unwrap().starts_with("application/json"));
    assert_eq!(body["object"], "chat.completion");
    let choice = &body["choices"][0];
    assert_eq!(choice["message"]["role"], "assistant");
    let text = choice["message"]["content"].as_str().unwrap();
    assert!(!text.trim().is_empty(), "empty answer: {body}");
    assert!(matches!(choice["finish_reason"].as_str(), Some("stop" | "length")), "{body}");
    let usage = &body["usage"];
    assert!(usage["prompt_tokens"].as_u64().unwrap() > 5, "{usage}");
    let completion = usage["completion_tokens"].as_u64().unwrap();
    assert!((1..=16).contains(&completion), "max_tokens 16 was not honoured: {usage}");
    assert_eq!(usage["total_tokens"].as_u64().unwrap(), usage["prompt_tokens"].as_u64().unwrap() + completion);

    // Greedy decoding is deterministic: the same question through `provider/model` addressing
    // gets the same answer, so both paths reach the same real model.
    let (status, _, direct) =
        post_json(&gw, "/v1/chat/completions", &ask(json!({"model": format!("llama/{MODEL}")}))).await;
    assert_eq!(status, 200, "{direct}");
    assert_eq!(direct["choices"][0]["message"]["content"], choice["message"]["content"]);
}

#[tokio::test]
async fn streaming_arrives_in_chunks_and_ends_with_usage_when_asked() {
    let Some(llm) = local_llm() else { return };
    let gw = gateway(llm).await;
    let body = ask(json!({"stream": true, "stream_options": {"include_usage": true}}));
    let resp = client().post(gw.url("/v1/chat/completions")).bearer_auth(MASTER_KEY).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let text = resp.text().await.unwrap();

    assert_eq!(sse_payloads(&text).last().map(String::as_str), Some("[DONE]"), "{text}");
    let chunks = sse_json(&text);
    assert!(chunks.len() >= 3, "a 16-token answer came in {} chunks:\n{text}", chunks.len());
    assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk"), "{text}");
    let id = &chunks[0]["id"];
    assert!(chunks.iter().all(|c| &c["id"] == id), "chunk ids differ:\n{text}");
    assert!(!streamed_text(&text).trim().is_empty(), "{text}");
    let finish: Vec<&Value> =
        chunks.iter().map(|c| &c["choices"][0]["finish_reason"]).filter(|f| !f.is_null()).collect();
    assert_eq!(finish.len(), 1, "exactly one finish_reason:\n{text}");
    assert!(matches!(finish[0].as_str(), Some("stop" | "length")));

    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]), "usage chunk has no choices:\n{text}");
    let completion = last["usage"]["completion_tokens"].as_u64().unwrap();
    assert!((1..=16).contains(&completion), "{last}");
    assert!(last["usage"]["prompt_tokens"].as_u64().unwrap() > 5);
    // Only the final chunk carries usage.
    assert!(chunks[..chunks.len() - 1].iter().all(|c| c["usage"].is_null()), "{text}");
}

#[tokio::test]
async fn streaming_without_include_usage_has_no_usage_chunk() {
    let Some(llm) = local_llm() else { return };
    let gw = gateway(llm).await;
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(MASTER_KEY)
        .json(&ask(json!({"stream": true})))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    let chunks = sse_json(&text);
    assert!(
        chunks.iter().all(|c| c["usage"].is_null() && c["choices"].as_array().is_some_and(|a| a.len() == 1)),
        "{text}"
    );
    assert!(!streamed_text(&text).trim().is_empty());
}

#[tokio::test]
async fn embeddings_as_floats_and_base64_agree() {
    let Some(llm) = local_llm() else { return };
    let gw = gateway(llm).await;
    let input = json!(["The sky is blue.", "Grass is green."]);
    let (status, _, floats) = post_json(&gw, "/v1/embeddings", &json!({"model": "local", "input": input})).await;
    assert_eq!(status, 200, "{floats}");
    assert_eq!(floats["object"], "list");
    let data = floats["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    for (i, item) in data.iter().enumerate() {
        assert_eq!(item["object"], "embedding");
        assert_eq!(item["index"], i);
        assert_eq!(item["embedding"].as_array().unwrap().len(), EMBEDDING_DIMS);
    }
    assert_ne!(data[0]["embedding"], data[1]["embedding"], "different texts, different vectors");
    assert!(floats["usage"]["prompt_tokens"].as_u64().unwrap() > 0, "{}", floats["usage"]);

    let (status, _, encoded) =
        post_json(&gw, "/v1/embeddings", &json!({"model": "local", "input": input, "encoding_format": "base64"})).await;
    assert_eq!(status, 200, "{encoded}");
    for (item, plain) in encoded["data"].as_array().unwrap().iter().zip(data) {
        let bytes = decode_base64(item["embedding"].as_str().unwrap());
        assert_eq!(bytes.len(), EMBEDDING_DIMS * 4, "little-endian f32s");
        let decoded: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        let plain: Vec<f64> = plain["embedding"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        for (a, b) in decoded.iter().zip(&plain) {
            assert!((f64::from(*a) - b).abs() < 1e-4, "base64 {a} vs float {b}");
        }
    }
}

#[tokio::test]
async fn zero_config_discovers_llamacpp_and_serves_its_model() {
    let Some(llm) = local_llm() else { return };
    let v1 = llm.v1();
    let gw = GatewayProcess::serve(BIN, &["--listen", "127.0.0.1:0"], &[("LLAMACPP_BASE_URL", &v1)]);
    let banner = gw.stderr();
    assert!(banner.contains(&format!("llamacpp at {v1} serving {MODEL}")), "{banner}");

    let models: Value = client().get(gw.url("/v1/models")).send().await.unwrap().json().await.unwrap();
    assert!(models["data"].as_array().unwrap().iter().any(|m| m["id"] == MODEL), "{models}");

    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .json(&json!({"model": MODEL, "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert!(!body["choices"][0]["message"]["content"].as_str().unwrap().is_empty(), "{body}");
}

fn decode_base64(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes().filter(|&c| c != b'=') {
        let v = ALPHABET.iter().position(|&a| a == c).unwrap_or_else(|| panic!("not base64: {c}"));
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}
