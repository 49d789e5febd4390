//! One OpenAI-format image request, sent to every provider kind: each receives the image in its
//! own shape, and a provider that cannot take an image URL refuses it with a 400 that names the
//! field instead of dropping it.

use serde_json::{json, Value};
use testkit::{FakeUpstream, Gateway};

use crate::common::{post_json, tool_turns, MASTER_KEY, UPSTREAM_KEY};

const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

struct Upstreams {
    openai: FakeUpstream,
    anthropic: FakeUpstream,
    bedrock: FakeUpstream,
    gemini: FakeUpstream,
}

async fn setup() -> (Gateway, Upstreams) {
    let ups = Upstreams {
        openai: FakeUpstream::start(tool_turns::openai).await,
        anthropic: FakeUpstream::start(tool_turns::anthropic).await,
        bedrock: FakeUpstream::start(tool_turns::bedrock).await,
        gemini: FakeUpstream::start(tool_turns::gemini).await,
    };
    let toml = format!(
        r#"
master_key_env = "MASTER"
[providers.openai]
kind = "openai"
base_url = "{}"
api_key_env = "K"
[providers.anthropic]
kind = "anthropic"
base_url = "{}"
api_key_env = "K"
[providers.bedrock]
kind = "bedrock"
region = "us-east-1"
base_url = "{}"
api_key_env = "K"
[providers.gemini]
kind = "gemini"
base_url = "{}"
api_key_env = "K"
"#,
        ups.openai.v1(),
        ups.anthropic.url(),
        ups.bedrock.url(),
        ups.gemini.url()
    );
    let gw = Gateway::start_with_env(&toml, &[("MASTER", MASTER_KEY), ("K", UPSTREAM_KEY)]).await;
    (gw, ups)
}

fn ask(model: &str, url: &str) -> Value {
    json!({"model": model, "max_tokens": 50, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": url}}]}]})
}

#[tokio::test]
async fn a_base64_image_reaches_every_provider_in_its_own_shape() {
    let (gw, ups) = setup().await;
    let data_url = format!("data:image/png;base64,{PNG}");
    for model in
        ["openai/gpt-4o", "anthropic/claude-sonnet-4-5", "bedrock/amazon.nova-pro-v1:0", "gemini/gemini-2.5-flash"]
    {
        let (status, _, body) = post_json(&gw, "/v1/chat/completions", &ask(model, &data_url)).await;
        assert_eq!(status, 200, "{model}: {body}");
        assert_eq!(body["choices"][0]["message"]["content"], tool_turns::HELLO, "{model}");
    }
    let openai = ups.openai.only_request().json();
    assert_eq!(openai["messages"][0]["content"][1], json!({"type": "image_url", "image_url": {"url": data_url}}));
    let anthropic = ups.anthropic.only_request().json();
    assert_eq!(
        anthropic["messages"][0]["content"][1],
        json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}})
    );
    let bedrock = ups.bedrock.only_request().json();
    assert_eq!(bedrock["messages"][0]["content"][1], json!({"image": {"format": "png", "source": {"bytes": PNG}}}));
    let gemini = ups.gemini.only_request().json();
    assert_eq!(gemini["contents"][0]["parts"][1], json!({"inlineData": {"mimeType": "image/png", "data": PNG}}));
}

#[tokio::test]
async fn image_urls_go_where_they_can_and_are_refused_by_name_where_they_cannot() {
    let (gw, ups) = setup().await;
    let url = "https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg";
    let (status, _, body) = post_json(&gw, "/v1/chat/completions", &ask("anthropic/claude-sonnet-4-5", url)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        ups.anthropic.only_request().json()["messages"][0]["content"][1]["source"],
        json!({"type": "url", "url": url})
    );
    let (status, _, body) = post_json(&gw, "/v1/chat/completions", &ask("gemini/gemini-2.5-flash", url)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        ups.gemini.only_request().json()["contents"][0]["parts"][1],
        json!({"fileData": {"mimeType": "image/jpeg", "fileUri": url}})
    );

    let (status, _, body) = post_json(&gw, "/v1/chat/completions", &ask("bedrock/amazon.nova-pro-v1:0", url)).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(body["error"]["param"].as_str().unwrap().contains("image_url"), "{body}");
    assert!(ups.bedrock.received().is_empty(), "nothing was sent to Bedrock");
}
