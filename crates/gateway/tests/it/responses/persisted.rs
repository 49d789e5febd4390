//! Stored responses outlive the gateway process: written to the ledger's database (SQLite by
//! default, PostgreSQL when `SWITCHYARD_TEST_POSTGRES` is set) and read back as one chain after a
//! restart, when nothing is left in memory.

use serde_json::{json, Value};
use testkit::{openai_wire, FakeUpstream, Gateway, Reply};

use crate::common::{client, MASTER_KEY, UPSTREAM_KEY};

fn config(chat: &FakeUpstream, database_url: &str) -> String {
    format!(
        r#"
master_key_env = "MASTER"
database_url = "{database_url}"
[providers.chat]
kind = "openai_compatible"
base_url = "{}"
api_key_env = "UP_KEY"
models = ["*"]
[models.small]
deployments = [{{ provider = "chat", model = "gpt-4o-mini" }}]
"#,
        chat.v1()
    )
}

async fn post(gw: &Gateway, body: Value) -> Value {
    let resp = client().post(gw.url("/v1/responses")).bearer_auth(MASTER_KEY).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

async fn a_conversation_survives_a_restart(database_url: &str) {
    let chat = FakeUpstream::always(Reply::json(openai_wire::completion("gpt-4o-mini", "noted"))).await;
    let env = [("MASTER", MASTER_KEY), ("UP_KEY", UPSTREAM_KEY)];
    let gw = Gateway::start_with_env(&config(&chat, database_url), &env).await;
    let mut previous: Option<String> = None;
    for turn in ["one", "two", "three"] {
        let mut body = json!({"model": "small", "input": turn});
        if let Some(id) = &previous {
            body["previous_response_id"] = json!(id);
        }
        previous = Some(post(&gw, body).await["id"].as_str().unwrap().to_owned());
    }
    // Writes are in the background; give them a moment before the process goes.
    let last = previous.clone().unwrap();
    testkit::wait::until("stored responses written", async || stored_rows(database_url, &last).await).await;
    gw.stop().await;

    let gw = Gateway::start_with_env(&config(&chat, database_url), &env).await;
    post(&gw, json!({"model": "small", "input": "four", "previous_response_id": previous})).await;
    let sent = chat.received().last().unwrap().json();
    let users: Vec<&str> = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "user")
        .filter_map(|m| m["content"].as_str().or_else(|| m["content"][0]["text"].as_str()))
        .collect();
    assert_eq!(users, ["one", "two", "three", "four"], "the whole chain, oldest first: {sent}");
    let assistants = sent["messages"].as_array().unwrap().iter().filter(|m| m["role"] == "assistant").count();
    assert_eq!(assistants, 3);
    gw.stop().await;
}

/// Whether the response is in the database (not only in the gateway's memory).
async fn stored_rows(database_url: &str, id: &str) -> bool {
    sqlx::any::install_default_drivers();
    let Ok(pool) = sqlx::AnyPool::connect(database_url).await else { return false };
    let found = sqlx::query("SELECT id FROM responses WHERE id = $1").bind(id).fetch_optional(&pool).await;
    pool.close().await;
    matches!(found, Ok(Some(_)))
}

#[tokio::test]
async fn sqlite_keeps_conversations_across_restarts() {
    a_conversation_survives_a_restart(&testkit::gateway::fresh_sqlite_url()).await;
}

#[tokio::test]
async fn postgres_keeps_conversations_across_restarts() {
    let Ok(url) = std::env::var("SWITCHYARD_TEST_POSTGRES") else {
        eprintln!("skipping: SWITCHYARD_TEST_POSTGRES is not set");
        return;
    };
    a_conversation_survives_a_restart(&url).await;
}
