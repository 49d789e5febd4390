//! Shutdown against a stream that would never end: the client is told, the row is recorded as
//! cut by shutdown, and rows left in a spill file are imported at the next start, once.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;
use testkit::{GatewayProcess, HostileUpstream, Misbehaviour};

use super::{within, BIN};
use crate::common::{client, user, MASTER_KEY};

async fn ledger_rows(url: &str, filter: &str) -> i64 {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let n = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM ledger {filter}")).fetch_one(&pool).await.unwrap();
    pool.close().await;
    n
}

fn entry(request_id: &str, at_unix_ms: i64) -> gateway::ledger::Entry {
    gateway::ledger::Entry {
        request_id: request_id.into(),
        at_unix_ms,
        alias: "fast".into(),
        deployment: "up/m".into(),
        provider: "up".into(),
        model: "m".into(),
        input_tokens: 10,
        output_tokens: 2,
        cost_nanos: Some(14_000),
        status: 200,
        outcome: "ok".into(),
        ..Default::default()
    }
}

fn stop(mut gw: GatewayProcess) {
    gw.signal("TERM");
    let status = gw.wait(Duration::from_secs(20)).expect("the gateway did not exit");
    assert!(status.success(), "exit status {status}; stderr:\n{}", gw.stderr());
}

#[tokio::test]
async fn regression_streams_cut_by_shutdown_end_with_an_error_and_are_recorded_once() {
    let up = HostileUpstream::start(Misbehaviour::EndlessStream { every: Duration::from_millis(30) }).await;
    let dir = std::env::temp_dir().join(format!("switchyard-shutdown-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db_path = dir.join("ledger.db");
    let _ = std::fs::remove_file(&db_path);
    let db = format!("sqlite://{}", db_path.display());
    let config = dir.join("switchyard.toml");
    std::fs::write(
        &config,
        format!(
            "master_key_env = \"MASTER\"\ndatabase_url = \"{db}\"\nshutdown_grace_secs = 1\n\
             [providers.up]\nkind = \"openai_compatible\"\nbase_url = \"{}\"\n\
             [models.fast]\ndeployments = [{{ provider = \"up\", model = \"m\" }}]\n",
            up.v1()
        ),
    )
    .unwrap();
    let args = ["--config", config.to_str().unwrap(), "--listen", "127.0.0.1:0"];
    let env = [("MASTER", MASTER_KEY)];

    let gw = GatewayProcess::serve(BIN, &args, &env);
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(MASTER_KEY)
        .json(&json!({"model": "fast", "messages": user("go on forever"), "stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("la "));
    gw.signal("TERM");
    let rest = within(Duration::from_secs(15), "the cut stream", async {
        let mut text = String::new();
        while let Some(Ok(chunk)) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        text
    })
    .await;
    let last = rest.trim_end().rsplit("\n\n").next().unwrap_or_default();
    assert!(last.contains("shutting down"), "the stream ended without saying why: {last}");
    assert!(!rest.contains("[DONE]"));
    let mut gw = gw;
    let status = gw.wait(Duration::from_secs(20)).expect("the gateway did not exit");
    assert!(status.success(), "{}", gw.stderr());
    assert_eq!(ledger_rows(&db, "WHERE outcome = 'shutdown' AND cancelled").await, 1);
    assert_eq!(ledger_rows(&db, "").await, 1);

    // Rows a run could not write: a spill file, and a file an earlier import was cut off in
    // (holding a row the ledger already has).
    let spill = format!("{}.spill.jsonl", db_path.display());
    let at = gateway::ledger::unix_ms_ago(Duration::ZERO);
    let lines: Vec<String> =
        ["spilled-1", "spilled-2"].iter().map(|id| serde_json::to_string(&entry(id, at)).unwrap()).collect();
    std::fs::write(&spill, format!("{}\n{{\"request_id\": \"cut-off-mid-wri", lines.join("\n"))).unwrap();
    let twice = serde_json::to_string(&entry("spilled-1", at)).unwrap();
    std::fs::write(format!("{spill}.importing"), format!("{twice}\n")).unwrap();

    stop(GatewayProcess::serve(BIN, &args, &env));
    assert_eq!(ledger_rows(&db, "WHERE request_id LIKE 'spilled-%'").await, 2, "each spilled row once");
    assert!(!std::path::Path::new(&spill).exists());
    assert!(!std::path::Path::new(&format!("{spill}.importing")).exists());
    stop(GatewayProcess::serve(BIN, &args, &env));
    assert_eq!(ledger_rows(&db, "").await, 3, "a second start imports nothing again");
}
