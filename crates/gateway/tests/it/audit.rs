//! The audit log: keys created, edited and revoked over the admin API (actor `master`) or the
//! command line (`cli`), and config reloads (`signal`), listed newest first by
//! `GET /admin/audit`. A key edit is checked as creation is; one refused is recorded nowhere;
//! one accepted limits the key's very next request.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use testkit::openai_wire as wire;
use testkit::{FakeUpstream, GatewayProcess, Reply};

use crate::common::{client, gateway_for, gateway_with, get_json, new_key, user, Running, MASTER_KEY};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");

async fn patch(gw: &impl Running, id: &str, body: &str) -> (u16, Value) {
    let resp = client()
        .patch(gw.url(&format!("/admin/keys/{id}")))
        .bearer_auth(MASTER_KEY)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn chat(gw: &impl Running, key: &str) -> u16 {
    let resp = client()
        .post(gw.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&json!({"model": "fast", "messages": user("hi")}))
        .send()
        .await
        .unwrap();
    resp.status().as_u16()
}

/// The events listed, as (actor, action, subject).
fn events(list: &Value) -> Vec<(String, String, String)> {
    let field = |e: &Value, k: &str| e[k].as_str().unwrap_or_else(|| panic!("no {k} in {e}")).to_owned();
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (field(e, "actor"), field(e, "action"), field(e, "subject")))
        .collect()
}

#[tokio::test]
async fn creating_editing_and_revoking_a_key_are_listed_newest_first() {
    let up = FakeUpstream::always(Reply::json(wire::completion("m", "ok"))).await;
    let gw = gateway_for(&up).await;
    let (id, key) = new_key(&gw, json!({"name": "audited", "rpm": 100})).await;

    // Each refused edit names what is wrong, changes nothing and records nothing.
    let refused = [
        (r#"{"rpm": 5, "colour": "red"}"#, "colour"),
        (r#"{"budget_usd": -1}"#, "budget_usd"),
        (r#"{"budget_usd": "0.0000000001"}"#, "budget_usd"),
        (r#"{"rpm": 0}"#, "rpm"),
        (r#"{"rpm": -3}"#, "rpm"),
        (r#"{"tpm": "lots"}"#, "tpm"),
        (r#"{"expires_in_days": 0}"#, "expires_in_days"),
        (r#"{"budget_period": "day"}"#, "budget_period"),
        (r#"{"budget_period": "fortnight", "budget_usd": 1}"#, "budget_period"),
        (r#"{"models": "gpt-*"}"#, "models"),
        (r#"{}"#, "at least one"),
        (r#"[1]"#, "invalid key edit"),
        (r#"{"rpm": 5"#, "invalid key edit"),
    ];
    for (body, names) in refused {
        let (status, reply) = patch(&gw, &id, body).await;
        assert_eq!(status, 400, "{body}: {reply}");
        assert_eq!(reply["error"]["type"], "invalid_request_error", "{body}: {reply}");
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(message.contains(names), "{body}: {message}");
    }
    let (status, reply) = patch(&gw, "key_000000000000", r#"{"rpm": 5}"#).await;
    assert_eq!((status, reply["error"]["type"].as_str()), (404, Some("invalid_request_error")), "{reply}");
    let unauthorized = client()
        .patch(gw.url(&format!("/admin/keys/{id}")))
        .bearer_auth(&key)
        .json(&json!({"rpm": 100000}))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), 401, "a virtual key cannot edit keys");

    let (status, reply) = patch(&gw, &id, r#"{"rpm": 1, "budget_usd": "5", "models": ["fast"]}"#).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!((reply["rpm"].as_u64(), reply["budget_nanos"].as_i64()), (Some(1), Some(5_000_000_000)));
    assert_eq!(reply["budget_period"], "month", "a new budget is monthly unless told");
    assert!(reply.get("hash").is_none() && reply.get("key").is_none(), "{reply}");
    // The limiter sees the new limit on the key's next request.
    assert_eq!(chat(&gw, &key).await, 200);
    assert_eq!(chat(&gw, &key).await, 429, "one request a minute now");
    // Setting what is already there records nothing.
    let (status, _) = patch(&gw, &id, r#"{"rpm": 1}"#).await;
    assert_eq!(status, 200);

    let revoked = client().delete(gw.url(&format!("/admin/keys/{id}"))).bearer_auth(MASTER_KEY).send().await.unwrap();
    assert_eq!(revoked.status(), 200);
    let (status, reply) = patch(&gw, &id, r#"{"rpm": 5}"#).await;
    assert_eq!(status, 400, "a revoked key cannot be edited: {reply}");

    let list = get_json(&gw, "/admin/audit").await;
    let master = |action: &str| ("master".to_owned(), action.to_owned(), id.clone());
    assert_eq!(events(&list), [master("key.revoke"), master("key.update"), master("key.create")], "{list}");
    let data = list["data"].as_array().unwrap();
    assert!(data[0]["id"].as_i64() > data[1]["id"].as_i64() && data[1]["id"].as_i64() > data[2]["id"].as_i64());
    let edit = &data[1]["detail"];
    assert_eq!(edit["rpm"], json!({"from": 100, "to": 1}), "{edit}");
    assert_eq!(edit["budget_nanos"], json!({"from": null, "to": 5_000_000_000i64}), "{edit}");
    assert_eq!(edit["models"], json!({"from": [], "to": ["fast"]}), "{edit}");
    assert!(edit.get("tpm").is_none(), "only what changed: {edit}");
    assert_eq!(data[2]["detail"]["name"], "audited");
    assert!(data[2]["detail"].get("key").is_none() && data[2]["detail"].get("hash").is_none(), "no secret");
    let now = gateway::keys::now_ms();
    assert!(data.iter().all(|e| (now - 60_000..=now).contains(&e["at_unix_ms"].as_i64().unwrap())));

    assert_eq!(events(&get_json(&gw, "/admin/audit?limit=1").await), [master("key.revoke")]);
    assert_eq!(events(&get_json(&gw, "/admin/audit?since=5m").await).len(), 3);
    let later = get_json(&gw, &format!("/admin/audit?since={}", now + 3_600_000)).await;
    assert_eq!(events(&later).len(), 0, "{later}");
    for bad in ["limit=0", "limit=1001", "limit=ten", "since=yesterday", "since=-5"] {
        let resp = client().get(gw.url(&format!("/admin/audit?{bad}"))).bearer_auth(MASTER_KEY).send().await.unwrap();
        assert_eq!(resp.status(), 400, "{bad}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["type"], "invalid_request_error", "{bad}: {body}");
    }
    let anonymous = client().get(gw.url("/admin/audit")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let by_key = client().get(gw.url("/admin/audit")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(by_key.status(), 401, "only the master key reads the audit log");
}

#[tokio::test]
async fn the_command_line_is_recorded_as_cli() {
    let url = testkit::gateway::fresh_sqlite_url();
    let (status, out, err) =
        testkit::gateway::run_command(BIN, &["keys", "create", "--name", "ops", "--database-url", &url], &[]);
    assert!(status.success(), "{err}");
    let id = out.split('\t').next().unwrap().to_owned();
    let (status, _, err) = testkit::gateway::run_command(BIN, &["keys", "revoke", &id, "--database-url", &url], &[]);
    assert!(status.success(), "{err}");
    let up = FakeUpstream::always(Reply::json(wire::completion("m", "ok"))).await;
    let gw = gateway_with(&up, &format!("database_url = \"{url}\"")).await;
    let list = get_json(&gw, "/admin/audit").await;
    let cli = |action: &str| ("cli".to_owned(), action.to_owned(), id.clone());
    assert_eq!(events(&list), [cli("key.revoke"), cli("key.create")], "{list}");
}

#[tokio::test]
async fn a_config_reload_is_recorded_with_its_version() {
    let up = FakeUpstream::always(Reply::json(wire::completion("m", "ok"))).await;
    let db = testkit::gateway::fresh_sqlite_url();
    let config = |extra: &str| {
        format!(
            "master_key_env = \"MASTER\"\ndatabase_url = \"{db}\"\n[providers.up]\nkind = \"openai_compatible\"\n\
             base_url = \"{}\"\nmodels = [\"*\"]\n[models.fast]\ndeployments = [{{ provider = \"up\", model = \"m\" }}]\n{extra}",
            up.v1()
        )
    };
    let path = std::path::PathBuf::from(format!("{}.toml", db.trim_start_matches("sqlite://")));
    std::fs::write(&path, config("")).unwrap();
    let gw = GatewayProcess::serve(
        BIN,
        &["--config", path.to_str().unwrap(), "--listen", "127.0.0.1:0"],
        &[("MASTER", MASTER_KEY)],
    );
    let before = get_json(&gw, "/health").await["config_version"].as_str().unwrap_or_default().to_owned();
    std::fs::write(&path, config("[models.also]\ndeployments = [{ provider = \"up\", model = \"m2\" }]\n")).unwrap();
    gw.signal("HUP");
    let started = Instant::now();
    let reload = loop {
        let list = get_json(&gw, "/admin/audit").await;
        if let Some(e) = list["data"].as_array().unwrap().iter().find(|e| e["action"] == "config.reload") {
            break e.clone();
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no reload recorded: {list}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!((reload["actor"].as_str(), reload["subject"].as_str()), (Some("signal"), Some("config")));
    let version = get_json(&gw, "/health").await["config_version"].as_str().unwrap_or_default().to_owned();
    assert_ne!(version, before);
    assert_eq!(reload["detail"], json!({"version": version, "previous_version": before}));
}
