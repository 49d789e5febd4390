//! The semantic cache with real embeddings from llama.cpp's server (SmolLM2-135M, mean pooled):
//! a paraphrase finds the cached question, an unrelated question, another scope or another
//! system prompt does not, an embedding model named `provider/name:tag` works, and with
//! PostgreSQL (pgvector) two gateways share the index. Skipped with a message where the model
//! server is not installed (required under `CI=true`), and the shared index where
//! `SWITCHYARD_TEST_POSTGRES` is not set.
//!
//! The first tests drive the index directly; the rest go through the gateway, whose chat
//! upstream is a fake that counts its calls.
//!
//! The tiny model's vectors are all fairly close (unrelated questions around 0.75, a paraphrase
//! around 0.96), so the threshold here is 0.93: these tests check the mechanism, not the model.

use std::sync::Arc;
use std::time::{Duration, Instant};

use dialect::{ChatRequest, Dialect};
use gateway::cache::semantic::{Lookup, Probe, SemanticIndex};
use gateway::cache::{CacheKey, SemanticPolicy};
use gateway::App;
use serde_json::json;
use testkit::local_llm::{local_llm, LocalLlm, MODEL};
use testkit::openai_wire::completion;
use testkit::{FakeUpstream, Gateway, Reply};

use crate::common::{client, new_key, MASTER_KEY};

const QUESTION: &str = "What is the capital of France?";
const PARAPHRASE: &str = "What's the capital city of France?";
const UNRELATED: &str = "How do I bake sourdough bread at home?";
const THRESHOLD: f32 = 0.93;

/// An app whose alias `chat` reaches the model server, with `emb` (and `llama/<any model>`) for
/// embeddings, its ledger at `database_url` (closed with the writer, so no row is left to spill).
async fn app(llm: &LocalLlm, database_url: &str) -> (Arc<App>, gateway::ledger::Writer) {
    let toml = format!(
        r#"
database_url = "{database_url}"
[providers.llama]
kind = "llamacpp"
base_url = "{}"
models = ["{MODEL}", "nomic-embed-text:v1.5"]
[models.emb]
deployments = [{{ provider = "llama", model = "{MODEL}" }}]
[models.chat]
deployments = [{{ provider = "llama", model = "{MODEL}" }}]
[models.chat.cache]
semantic = {{ embedding_model = "emb", threshold = {THRESHOLD} }}
"#,
        llm.v1()
    );
    let config = gateway::Config::from_toml(&toml, &gateway::env::ProcessEnv).unwrap();
    let (app, writer) = App::open(config).await.unwrap();
    (Arc::new(app), writer)
}

fn policy(embedding_model: &str) -> SemanticPolicy {
    SemanticPolicy { embedding_model: embedding_model.into(), threshold: THRESHOLD }
}

fn ask(system: &str, question: &str) -> ChatRequest {
    let body = json!({"model": "chat", "max_tokens": 16, "messages": [
        {"role": "system", "content": system}, {"role": "user", "content": question}]});
    Dialect::OpenaiChat.ingress().unwrap().decode_request(body.to_string().as_bytes()).unwrap()
}

fn far_future() -> i64 {
    gateway::keys::now_ms() + 3_600_000
}

/// What the pipeline does: the question embedded through the gateway, then looked up.
async fn look(index: &SemanticIndex, app: &Arc<App>, p: &SemanticPolicy, scope: &str, req: &ChatRequest) -> Lookup {
    let Some(question) = SemanticIndex::question(p, req) else { return Lookup::Miss(None) };
    match gateway::pipeline::embed_question(app, &p.embedding_model, &question.text).await {
        Ok(vector) => index.lookup(p, scope, "chat", Probe { vector, context: question.context }).await,
        Err(_) => Lookup::Miss(None),
    }
}

async fn miss(index: &SemanticIndex, app: &Arc<App>, p: &SemanticPolicy, scope: &str, req: &ChatRequest) -> Probe {
    match look(index, app, p, scope, req).await {
        Lookup::Miss(Some(probe)) => probe,
        Lookup::Miss(None) => panic!("the question was not embedded"),
        Lookup::Hit { similarity, .. } => panic!("unexpected hit at {similarity}"),
    }
}

async fn hit(index: &SemanticIndex, app: &Arc<App>, p: &SemanticPolicy, scope: &str, req: &ChatRequest) -> CacheKey {
    match look(index, app, p, scope, req).await {
        Lookup::Hit { key, similarity, .. } => {
            assert!((THRESHOLD..=1.0001).contains(&similarity), "{similarity}");
            key
        }
        Lookup::Miss(_) => panic!("expected a hit"),
    }
}

/// Indexes QUESTION in `scope` and checks what finds it and what does not.
async fn paraphrases_hit_and_the_rest_misses(index: &SemanticIndex, app: &Arc<App>, p: &SemanticPolicy, scope: &str) {
    let system = "Answer in one word.";
    let probe = miss(index, app, p, scope, &ask(system, QUESTION)).await;
    assert_eq!(probe.vector.len(), testkit::local_llm::EMBEDDING_DIMS);
    let key = CacheKey([7; 32]);
    index.remember(scope, "chat", probe, key, far_future());
    let found = wait_for_hit(index, app, p, scope, &ask(system, QUESTION)).await;
    assert_eq!(found, key);
    assert_eq!(hit(index, app, p, scope, &ask(system, PARAPHRASE)).await, key, "a paraphrase");
    miss(index, app, p, scope, &ask(system, UNRELATED)).await;
    miss(index, app, p, &format!("{scope}-other"), &ask(system, PARAPHRASE)).await;
    miss(index, app, p, scope, &ask("Answer at length, in French.", QUESTION)).await;
}

/// A shared index is written in the background: the first lookup after `remember` may miss.
async fn wait_for_hit(
    index: &SemanticIndex,
    app: &Arc<App>,
    p: &SemanticPolicy,
    scope: &str,
    req: &ChatRequest,
) -> CacheKey {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        if let Lookup::Hit { key, .. } = look(index, app, p, scope, req).await {
            return key;
        }
        assert!(Instant::now() < until, "the remembered question is never found");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn fresh_scope() -> String {
    format!("key:semantic-{}", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn a_paraphrase_finds_the_cached_question_in_memory() {
    let Some(llm) = local_llm() else { return };
    let (app, writer) = app(llm, &testkit::gateway::fresh_sqlite_url()).await;
    let index = SemanticIndex::default();
    paraphrases_hit_and_the_rest_misses(&index, &app, &policy("emb"), &fresh_scope()).await;
    writer.close().await;
}

#[tokio::test]
async fn an_embedding_model_named_provider_slash_name_colon_tag() {
    let Some(llm) = local_llm() else { return };
    let (app, writer) = app(llm, &testkit::gateway::fresh_sqlite_url()).await;
    let index = SemanticIndex::default();
    paraphrases_hit_and_the_rest_misses(&index, &app, &policy("llama/nomic-embed-text:v1.5"), &fresh_scope()).await;
    writer.close().await;
}

#[tokio::test]
async fn a_failing_or_unknown_embedding_model_is_a_miss_without_a_probe() {
    let Some(llm) = local_llm() else { return };
    let (app, writer) = app(llm, &testkit::gateway::fresh_sqlite_url()).await;
    let index = SemanticIndex::default();
    let req = ask("s", QUESTION);
    assert!(matches!(look(&index, &app, &policy("no-such-model"), "key:", &req).await, Lookup::Miss(None)));
    let prefill = {
        let mut r = req.clone();
        r.messages.push(dialect::Message {
            role: dialect::Role::Assistant,
            content: vec![dialect::Part::Text { text: "Paris".into(), cache_control: None }],
            name: None,
            content_was_string: true,
        });
        r
    };
    assert!(matches!(look(&index, &app, &policy("emb"), "key:", &prefill).await, Lookup::Miss(None)));
    writer.close().await;
}

#[tokio::test]
async fn two_gateways_share_the_index_through_postgres() {
    let Some(llm) = local_llm() else { return };
    let Ok(url) = std::env::var("SWITCHYARD_TEST_POSTGRES") else {
        eprintln!("skipping: SWITCHYARD_TEST_POSTGRES is not set");
        return;
    };
    let ((a, a_writer), (b, b_writer)) = (app(llm, &url).await, app(llm, &url).await);
    assert!(
        a.cache.semantic.is_shared() && b.cache.semantic.is_shared(),
        "the pgvector extension is not available to {url} (.ci/run installs it)"
    );
    let p = policy("emb");
    let scope = fresh_scope();
    paraphrases_hit_and_the_rest_misses(&a.cache.semantic, &a, &p, &scope).await;
    let probe = miss(&b.cache.semantic, &b, &p, &scope, &ask("Be brief.", UNRELATED)).await;
    b.cache.semantic.remember(&scope, "chat", probe, CacheKey([9; 32]), far_future());
    let from_a = wait_for_hit(&a.cache.semantic, &a, &p, &scope, &ask("Be brief.", UNRELATED)).await;
    assert_eq!(from_a, CacheKey([9; 32]), "what one replica indexed, another finds");
    a_writer.close().await;
    b_writer.close().await;
}

/// A gateway whose alias `cached` (chat on the fake `up`) has a semantic cache measured by
/// `embedding_model` on the model server; `extra` goes at the top of the config.
async fn gateway(llm: &LocalLlm, up: &FakeUpstream, alias: &str, embedding_model: &str, extra: &str) -> Gateway {
    let toml = format!(
        r#"master_key_env = "MASTER"
{extra}
[providers.up]
kind = "openai_compatible"
base_url = "{}"
models = ["*"]
[providers.llama]
kind = "llamacpp"
base_url = "{}"
models = ["{MODEL}", "nomic-embed-text:v1.5"]
[models.emb]
deployments = [{{ provider = "llama", model = "{MODEL}" }}]
[models.{alias}]
deployments = [{{ provider = "up", model = "m1" }}]
cache = {{ ttl = "1h", semantic = {{ embedding_model = "{embedding_model}", threshold = {THRESHOLD} }} }}
"#,
        up.v1(),
        llm.v1()
    );
    Gateway::start_with_env(&toml, &[("MASTER", MASTER_KEY)]).await
}

async fn paris() -> FakeUpstream {
    FakeUpstream::always(Reply::json(completion("m1", "Paris."))).await
}

/// A system prompt no other run asks with, so a shared index or Redis never answers from before.
fn fresh_system() -> String {
    format!("Answer in one word. (run {})", uuid::Uuid::new_v4().simple())
}

async fn chat(gw: &Gateway, key: &str, alias: &str, system: &str, question: &str) -> http::HeaderMap {
    let body = json!({"model": alias, "max_tokens": 16, "messages": [
        {"role": "system", "content": system}, {"role": "user", "content": question}]});
    let resp = client().post(gw.url("/v1/chat/completions")).bearer_auth(key).json(&body).send().await.unwrap();
    let headers = resp.headers().clone();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "Paris.", "{text}");
    headers
}

fn similarity_of(h: &http::HeaderMap) -> f32 {
    h["x-switchyard-cache-similarity"].to_str().unwrap().parse().unwrap()
}

/// The paraphrase of a cached question is answered from it; an unrelated question, another
/// system prompt and another key (the alias's scope is the key) ask the upstream.
async fn through_the_gateway(embedding_model: &str) {
    let Some(llm) = local_llm() else { return };
    let up = paris().await;
    let gw = gateway(llm, &up, "cached", embedding_model, "").await;
    let system = fresh_system();
    let h = chat(&gw, MASTER_KEY, "cached", &system, QUESTION).await;
    assert_eq!(h["x-switchyard-cache"], "miss");
    let h = chat(&gw, MASTER_KEY, "cached", &system, PARAPHRASE).await;
    assert_eq!(h["x-switchyard-cache"], "hit");
    assert_eq!(h["x-switchyard-cache-kind"], "semantic");
    assert!((THRESHOLD..=1.0001).contains(&similarity_of(&h)), "{h:?}");
    assert_eq!(up.received().len(), 1, "the paraphrase never reached the upstream");
    for (key, system, question, what) in [
        (MASTER_KEY.to_owned(), system.clone(), UNRELATED, "an unrelated question"),
        (MASTER_KEY.to_owned(), fresh_system(), QUESTION, "another system prompt"),
        (new_key(&gw, json!({"name": "bob"})).await.1, system.clone(), PARAPHRASE, "another key"),
    ] {
        let calls = up.received().len();
        let h = chat(&gw, &key, "cached", &system, question).await;
        assert_eq!(h["x-switchyard-cache"], "miss", "{what}");
        assert_eq!(up.received().len(), calls + 1, "{what}");
    }
}

#[tokio::test]
async fn a_paraphrase_is_answered_from_the_cache() {
    through_the_gateway("emb").await;
}

#[tokio::test]
async fn a_paraphrase_is_answered_with_embeddings_from_provider_slash_name_colon_tag() {
    through_the_gateway("llama/nomic-embed-text:v1.5").await;
}

#[tokio::test]
async fn gateways_sharing_postgres_and_redis_share_semantic_hits() {
    let Some(llm) = local_llm() else { return };
    let (Ok(pg), Ok(redis)) = (std::env::var("SWITCHYARD_TEST_POSTGRES"), std::env::var("SWITCHYARD_TEST_REDIS"))
    else {
        eprintln!("skipping: SWITCHYARD_TEST_POSTGRES and SWITCHYARD_TEST_REDIS are not both set");
        return;
    };
    let up = paris().await;
    let alias = format!("cached_{}", uuid::Uuid::new_v4().simple());
    let extra = format!("database_url = \"{pg}\"\nredis_url = \"{redis}\"");
    let one = gateway(llm, &up, &alias, "emb", &extra).await;
    let two = gateway(llm, &up, &alias, "emb", &extra).await;
    let system = fresh_system();
    assert_eq!(chat(&one, MASTER_KEY, &alias, &system, QUESTION).await["x-switchyard-cache"], "miss");
    // Both writes are in the background: wait for the index row (Redis is written first).
    let pool = sqlx::PgPool::connect(&pg).await.unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM semantic_cache WHERE alias = $1")
            .bind(&alias)
            .fetch_one(&pool)
            .await
            .unwrap();
        if rows > 0 {
            break;
        }
        assert!(Instant::now() < until, "the question was never indexed in PostgreSQL (is pgvector installed?)");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let h = chat(&two, MASTER_KEY, &alias, &system, PARAPHRASE).await;
    assert_eq!(h["x-switchyard-cache"], "hit", "{h:?}");
    assert_eq!(h["x-switchyard-cache-kind"], "semantic");
    assert_eq!(up.received().len(), 1, "only the first gateway asked the upstream");
    let h = chat(&two, MASTER_KEY, &alias, &system, UNRELATED).await;
    assert_eq!(h["x-switchyard-cache"], "miss");
    one.stop().await;
    two.stop().await;
}
