//! Stored conversations: a response continued on another provider kind, read back, listed,
//! deleted; another key's ids not found; storage turned off.

use serde_json::{json, Value};
use testkit::{anthropic_wire, openai_wire, FakeUpstream, Gateway, Received, Reply};

use crate::common::{client, new_key, MASTER_KEY, UPSTREAM_KEY};

const CHAT_TEXT: &str = "Paris is the capital of France.";
const CLAUDE_TEXT: &str = "Rome is the capital of Italy.";

fn config(openai: &FakeUpstream, anthropic: &FakeUpstream, extra: &str) -> String {
    format!(
        r#"
master_key_env = "MASTER"
{extra}
[providers.chat]
kind = "openai_compatible"
base_url = "{}"
api_key_env = "UP_KEY"
models = ["*"]
[providers.claude]
kind = "anthropic"
base_url = "{}"
api_key_env = "UP_KEY"
models = ["*"]
[models.small]
deployments = [{{ provider = "chat", model = "gpt-4o-mini" }}]
[models.sonnet]
deployments = [{{ provider = "claude", model = "claude-sonnet-4-5" }}]
"#,
        openai.v1(),
        anthropic.url()
    )
}

async fn upstreams() -> (FakeUpstream, FakeUpstream) {
    let chat = FakeUpstream::start(|req: &Received| {
        if req.json()["stream"] == true {
            Reply::sse(openai_wire::text_stream("gpt-4o-mini", &["Paris is ", "the capital ", "of France."]))
        } else {
            Reply::json(openai_wire::completion("gpt-4o-mini", CHAT_TEXT))
        }
    })
    .await;
    let claude = FakeUpstream::always(Reply::json(anthropic_wire::message("claude-sonnet-4-5", CLAUDE_TEXT))).await;
    (chat, claude)
}

async fn start(chat: &FakeUpstream, claude: &FakeUpstream, extra: &str) -> Gateway {
    Gateway::start_with_env(&config(chat, claude, extra), &[("MASTER", MASTER_KEY), ("UP_KEY", UPSTREAM_KEY)]).await
}

async fn post(gw: &Gateway, key: &str, body: Value) -> (u16, Value) {
    let resp = client().post(gw.url("/v1/responses")).bearer_auth(key).json(&body).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn get(gw: &Gateway, key: &str, path: &str) -> (u16, Value) {
    let resp = client().get(gw.url(path)).bearer_auth(key).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn output_text(response: &Value) -> String {
    response["output"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|item| item["type"] == "message")
        .flat_map(|item| item["content"].as_array().cloned().unwrap_or_default())
        .filter_map(|part| part["text"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_stored_response_is_continued_on_another_provider_kind_read_back_and_deleted() {
    let (chat, claude) = upstreams().await;
    let gw = start(&chat, &claude, "").await;

    let (status, first) = post(
        &gw,
        MASTER_KEY,
        json!({"model": "small", "instructions": "Answer in one sentence.", "input": "What is the capital of France?"}),
    )
    .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["object"], "response");
    assert_eq!(first["status"], "completed");
    assert_eq!(first["store"], true);
    assert_eq!(first["instructions"], "Answer in one sentence.");
    assert_eq!(output_text(&first), CHAT_TEXT);
    assert_eq!(first["usage"]["input_tokens"], 12);
    assert_eq!(first["usage"]["output_tokens"], 5);
    let first_id = first["id"].as_str().unwrap().to_owned();
    assert!(first_id.starts_with("resp_"), "{first_id}");
    let sent = chat.only_request().json();
    assert_eq!(sent["messages"][0], json!({"role": "system", "content": "Answer in one sentence."}), "{sent}");
    assert_eq!(sent["messages"][1]["content"], "What is the capital of France?");

    // The next turn goes to an Anthropic deployment, which gets the whole conversation.
    let (status, second) =
        post(&gw, MASTER_KEY, json!({"model": "sonnet", "previous_response_id": first_id, "input": "And of Italy?"}))
            .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(output_text(&second), CLAUDE_TEXT);
    assert_eq!(second["previous_response_id"], first_id.as_str());
    let sent = claude.only_request().json();
    let messages = sent["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3, "{sent}");
    assert_eq!(messages[0]["role"], "user");
    assert_eq!(messages[1]["role"], "assistant");
    assert!(sent.to_string().contains(CHAT_TEXT), "the first answer is replayed: {sent}");
    assert!(sent.get("system").is_none(), "instructions are not carried over to the next turn: {sent}");
    let second_id = second["id"].as_str().unwrap().to_owned();

    // A third turn continues the chain of two.
    let (status, _) =
        post(&gw, MASTER_KEY, json!({"model": "small", "previous_response_id": second_id, "input": "Thanks."})).await;
    assert_eq!(status, 200);
    let third = chat.received().last().unwrap().json();
    let roles: Vec<&str> = third["messages"].as_array().unwrap().iter().filter_map(|m| m["role"].as_str()).collect();
    assert_eq!(roles, ["user", "assistant", "user", "assistant", "user"], "{third}");

    // Read back: the same object, and the input items with ids.
    let (status, stored) = get(&gw, MASTER_KEY, &format!("/v1/responses/{first_id}")).await;
    assert_eq!(status, 200);
    assert_eq!(stored, first);
    let (status, items) = get(&gw, MASTER_KEY, &format!("/v1/responses/{second_id}/input_items")).await;
    assert_eq!(status, 200, "{items}");
    assert_eq!(items["object"], "list");
    assert_eq!(items["data"][0]["role"], "user");
    assert_eq!(items["data"][0]["content"][0]["text"], "And of Italy?");
    assert!(items["data"][0]["id"].as_str().is_some_and(|id| id.starts_with("msg_")), "{items}");
    assert_eq!(items["has_more"], false);

    // Deleted: gone for reading and for continuing.
    let deleted = client().delete(gw.url(&format!("/v1/responses/{first_id}"))).bearer_auth(MASTER_KEY).send().await;
    let deleted: Value = deleted.unwrap().json().await.unwrap();
    assert_eq!(deleted, json!({"id": first_id, "object": "response.deleted", "deleted": true}));
    let (status, body) = get(&gw, MASTER_KEY, &format!("/v1/responses/{first_id}")).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) =
        post(&gw, MASTER_KEY, json!({"model": "small", "previous_response_id": first_id, "input": "Again?"})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["param"], "previous_response_id");
    assert!(body["error"]["message"].as_str().unwrap().contains("not found"), "{body}");
}

#[tokio::test]
async fn another_key_cannot_read_continue_or_delete_a_stored_response() {
    let (chat, claude) = upstreams().await;
    let gw = start(&chat, &claude, "").await;
    let (alice_id, alice) = new_key(&gw, json!({"name": "alice"})).await;
    let (_, bob) = new_key(&gw, json!({"name": "bob"})).await;
    let (status, mine) = post(&gw, &alice, json!({"model": "small", "input": "hello"})).await;
    assert_eq!(status, 200, "{mine}");
    let id = mine["id"].as_str().unwrap().to_owned();

    for key in [bob.as_str(), MASTER_KEY] {
        let (status, body) = get(&gw, key, &format!("/v1/responses/{id}")).await;
        assert_eq!(status, 404, "{body}");
        assert_eq!(body["error"]["type"], "invalid_request_error");
        let (status, _) = get(&gw, key, &format!("/v1/responses/{id}/input_items")).await;
        assert_eq!(status, 404);
        let (status, body) = post(&gw, key, json!({"model": "small", "previous_response_id": id, "input": "x"})).await;
        assert_eq!(status, 400, "{body}");
        let deleted = client().delete(gw.url(&format!("/v1/responses/{id}"))).bearer_auth(key).send().await.unwrap();
        assert_eq!(deleted.status(), 404);
    }
    let (status, _) = get(&gw, &alice, &format!("/v1/responses/{id}")).await;
    assert_eq!(status, 200, "still there for its owner");

    // Deleting the key deletes what it stored.
    let revoked = client().delete(gw.url(&format!("/admin/keys/{alice_id}"))).bearer_auth(MASTER_KEY).send().await;
    let revoked: Value = revoked.unwrap().json().await.unwrap();
    assert_eq!(revoked["stored_responses_deleted"], 1, "{revoked}");
}

#[tokio::test]
async fn a_streamed_response_is_stored_once_it_ends_and_can_be_continued() {
    let (chat, claude) = upstreams().await;
    let gw = start(&chat, &claude, "").await;
    let resp = client()
        .post(gw.url("/v1/responses"))
        .bearer_auth(MASTER_KEY)
        .json(&json!({"model": "small", "input": "Capital of France?", "stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let text = resp.text().await.unwrap();
    let events: Vec<Value> =
        text.lines().filter_map(|l| l.strip_prefix("data: ")).map(|d| serde_json::from_str(d).unwrap()).collect();
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types.first(), Some(&"response.created"), "{text}");
    assert_eq!(types.last(), Some(&"response.completed"), "{text}");
    assert!(types.contains(&"response.output_text.delta"), "{text}");
    let numbers: Vec<u64> = events.iter().filter_map(|e| e["sequence_number"].as_u64()).collect();
    assert_eq!(numbers, (0..events.len() as u64).collect::<Vec<_>>(), "sequence numbers count from 0");
    let completed = events.last().unwrap()["response"].clone();
    assert_eq!(output_text(&completed), CHAT_TEXT);
    let id = completed["id"].as_str().unwrap().to_owned();

    let (status, stored) = get(&gw, MASTER_KEY, &format!("/v1/responses/{id}")).await;
    assert_eq!(status, 200, "{stored}");
    assert_eq!(output_text(&stored), CHAT_TEXT);
    let (status, next) =
        post(&gw, MASTER_KEY, json!({"model": "sonnet", "previous_response_id": id, "input": "And Italy?"})).await;
    assert_eq!(status, 200, "{next}");
    assert!(claude.only_request().json().to_string().contains(CHAT_TEXT));
}

#[tokio::test]
async fn storage_turned_off_ignores_store_and_refuses_previous_response_id() {
    let (chat, claude) = upstreams().await;
    let gw = start(&chat, &claude, "[responses]\nstore = false").await;
    let (status, first) = post(&gw, MASTER_KEY, json!({"model": "small", "input": "hi", "store": true})).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["store"], false, "the reply says it was not stored");
    let id = first["id"].as_str().unwrap();
    let (status, _) = get(&gw, MASTER_KEY, &format!("/v1/responses/{id}")).await;
    assert_eq!(status, 404);
    let (status, body) =
        post(&gw, MASTER_KEY, json!({"model": "small", "previous_response_id": id, "input": "again"})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["param"], "previous_response_id");
    assert!(body["error"]["message"].as_str().unwrap().contains("does not store"), "{body}");

    // `store: false` from the client: answered, never kept.
    let gw = start(&chat, &claude, "").await;
    let (_, unstored) = post(&gw, MASTER_KEY, json!({"model": "small", "input": "hi", "store": false})).await;
    assert_eq!(unstored["store"], false);
    let (status, _) = get(&gw, MASTER_KEY, &format!("/v1/responses/{}", unstored["id"].as_str().unwrap())).await;
    assert_eq!(status, 404);
}
