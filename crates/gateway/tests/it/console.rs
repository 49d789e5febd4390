//! The web console at `/ui`: sessions, CSRF and viewer keys over plain HTTP; its figures against
//! the ledger's; and the whole console in a real headless Chromium driven by
//! `tests/console/console.mjs` (playwright-core). The browser test runs when Chromium and the
//! script's node_modules are there (or `SWITCHYARD_BROWSER=1`), and fails under `CI=true` when
//! they are not. Setup: `apt-get install -y chromium` and
//! `npm ci --prefix crates/gateway/tests/console`.
//!
//! The load-time measurement on ten million rows is run by hand:
//! `cargo test --release -p gateway --test it console::load_times -- --ignored --nocapture`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gateway::ledger::{Entry, Store};
use serde_json::{json, Value};
use testkit::gateway::GatewayProcess;
use testkit::openai_wire as wire;
use testkit::{FakeUpstream, Gateway, Reply};

use crate::common::{failover_config, new_key, post_json, user, Running, MASTER_KEY};

/// A client that shows redirects instead of following them.
fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// A signed-in browser, as far as the server can tell: its cookie and CSRF token.
struct Session {
    cookie: String,
    csrf: String,
    role: String,
}

async fn sign_in(gw: &impl Running, key: &str) -> (u16, Option<Session>, reqwest::header::HeaderMap) {
    let resp = http().post(gw.url("/ui/api/session")).json(&json!({"key": key})).send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body: Value = resp.json().await.unwrap_or_default();
    let cookie = headers
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .map(|c| c.split(';').next().unwrap_or_default().to_owned());
    let session = cookie.map(|cookie| Session {
        cookie,
        csrf: body["csrf"].as_str().unwrap_or_default().to_owned(),
        role: body["role"].as_str().unwrap_or_default().to_owned(),
    });
    (status, session, headers)
}

impl Session {
    async fn get(&self, gw: &impl Running, path: &str) -> (u16, Value) {
        let resp = http().get(gw.url(path)).header("cookie", &self.cookie).send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or_default())
    }

    /// A state-changing call, with `csrf` as its token (None: without one).
    async fn send(
        &self,
        gw: &impl Running,
        method: &str,
        path: &str,
        body: &Value,
        csrf: Option<&str>,
    ) -> (u16, Value) {
        let mut req = http()
            .request(method.parse().unwrap(), gw.url(path))
            .header("cookie", &self.cookie)
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(token) = csrf {
            req = req.header("x-csrf-token", token);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or_default())
    }
}

async fn failover_gateway() -> (Gateway, FakeUpstream, FakeUpstream) {
    let flaky = FakeUpstream::always(Reply::error(500, wire::error_body("boom", "server_error", None))).await;
    let ok =
        FakeUpstream::start(|req| Reply::json(wire::completion(req.json()["model"].as_str().unwrap_or("m"), "ok")))
            .await;
    let gw = Gateway::start_with_env(&failover_config(&flaky, &ok, None), &[("MASTER", MASTER_KEY)]).await;
    (gw, flaky, ok)
}

#[tokio::test]
async fn pages_need_a_session_and_changes_need_its_csrf_token() {
    let (gw, _flaky, _ok) = failover_gateway().await;
    let c = http();
    let resp = c.get(gw.url("/ui")).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    assert_eq!(resp.headers()["location"], "/ui/login");
    let login = c.get(gw.url("/ui/login")).send().await.unwrap();
    assert_eq!(login.status(), 200);
    let csp = login.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"), "{csp}");
    assert_eq!(c.get(gw.url("/ui/assets/login.js")).send().await.unwrap().status(), 200);
    assert_eq!(c.get(gw.url("/ui/assets/console.css")).send().await.unwrap().status(), 200);
    for path in ["/ui/assets/app.js", "/ui/api/overview", "/ui/api/keys", "/ui/api/requests", "/ui/api/deployments"] {
        assert_eq!(c.get(gw.url(path)).send().await.unwrap().status(), 401, "{path} without a session");
    }
    for path in ["/ui/assets/..%2F..%2Fetc%2Fpasswd", "/ui/assets/nope.js"] {
        assert_eq!(c.get(gw.url(path)).send().await.unwrap().status(), 404, "{path}");
    }

    // Wrong keys and bad bodies open nothing.
    let (_, plain_key) = new_key(&gw, json!({"name": "not-a-viewer"})).await;
    for bad in ["sk-wrong", "", plain_key.as_str(), &format!("{MASTER_KEY} ")[..MASTER_KEY.len() - 1]] {
        let (status, session, _) = sign_in(&gw, bad).await;
        assert_eq!((status, session.is_none()), (401, true), "{bad:?}");
    }
    let resp = c.post(gw.url("/ui/api/session")).header("content-type", "text/plain").body("key").send().await;
    assert_eq!(resp.unwrap().status(), 415, "not JSON: the gateway's guard");
    let resp = c.post(gw.url("/ui/api/session")).json(&json!({"secret": MASTER_KEY})).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let resp = c.post(gw.url("/ui/api/session")).json(&json!({"key": "x".repeat(10_000)})).send().await.unwrap();
    assert_eq!(resp.status(), 413);

    let (status, admin, headers) = sign_in(&gw, MASTER_KEY).await;
    assert_eq!(status, 200);
    let admin = admin.unwrap();
    assert_eq!(admin.role, "admin");
    let cookie = headers["set-cookie"].to_str().unwrap();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/ui", "Max-Age=43200"] {
        assert!(cookie.contains(part), "{part} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    assert!(!cookie.contains(MASTER_KEY));
    let page = c.get(gw.url("/ui")).header("cookie", &admin.cookie).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("/ui/assets/app.js"));

    // Every change needs the session's CSRF token.
    let spec = json!({"name": "from-the-console"});
    assert_eq!(admin.send(&gw, "POST", "/ui/api/keys", &spec, None).await.0, 403);
    assert_eq!(admin.send(&gw, "POST", "/ui/api/keys", &spec, Some("wrong")).await.0, 403);
    let (status, made) = admin.send(&gw, "POST", "/ui/api/keys", &spec, Some(&admin.csrf)).await;
    assert_eq!(status, 201, "{made}");
    let id = made["id"].as_str().unwrap().to_owned();
    assert!(made["key"].as_str().unwrap().starts_with("sk-sy-"));
    let patch = json!({"rpm": 5, "budget_usd": "2.5"});
    assert_eq!(admin.send(&gw, "PATCH", &format!("/ui/api/keys/{id}"), &patch, None).await.0, 403);
    let (status, edited) = admin.send(&gw, "PATCH", &format!("/ui/api/keys/{id}"), &patch, Some(&admin.csrf)).await;
    assert_eq!((status, &edited["rpm"]), (200, &json!(5)), "{edited}");
    let (status, listed) = admin.get(&gw, "/ui/api/keys?q=from-the").await;
    assert_eq!(status, 200);
    let key = &listed["keys"][0];
    assert_eq!(
        (&key["id"], &key["budget"]["limit_usd"], &key["budget"]["spent_usd"]),
        (&json!(id), &json!("2.5"), &json!("0"))
    );
    assert!(key.get("hash").is_none() && key.get("key").is_none(), "no secrets listed: {key}");
    assert_eq!(admin.send(&gw, "DELETE", &format!("/ui/api/keys/{id}"), &json!({}), None).await.0, 403);
    assert_eq!(admin.send(&gw, "DELETE", &format!("/ui/api/keys/{id}"), &json!({}), Some(&admin.csrf)).await.0, 200);
    assert_eq!(admin.send(&gw, "DELETE", "/ui/api/keys/key_nope", &json!({}), Some(&admin.csrf)).await.0, 404);

    // A viewer key signs in read-only, and its session ends with the key.
    let (viewer_id, viewer_key) = new_key(&gw, json!({"name": "looker", "viewer": true})).await;
    let (status, viewer, _) = sign_in(&gw, &viewer_key).await;
    assert_eq!(status, 200);
    let viewer = viewer.unwrap();
    assert_eq!(viewer.role, "viewer");
    assert_eq!(viewer.get(&gw, "/ui/api/overview?window=1h").await.0, 200);
    let (status, listed) = viewer.get(&gw, "/ui/api/keys").await;
    assert_eq!((status, &listed["can_edit"]), (200, &json!(false)));
    let (status, refused) = viewer.send(&gw, "POST", "/ui/api/keys", &spec, Some(&viewer.csrf)).await;
    assert_eq!((status, &refused["error"]["code"]), (403, &json!("read_only")));
    assert_eq!(
        viewer.send(&gw, "DELETE", &format!("/ui/api/keys/{viewer_id}"), &json!({}), Some(&viewer.csrf)).await.0,
        403
    );
    crate::common::client()
        .delete(gw.url(&format!("/admin/keys/{viewer_id}")))
        .bearer_auth(MASTER_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(viewer.get(&gw, "/ui/api/overview").await.0, 401, "a revoked viewer key's session ends");

    // Bad filters are refused by name.
    for (path, code) in [
        ("/ui/api/overview?window=2y", 400),
        ("/ui/api/requests?status=abc", 400),
        ("/ui/api/requests?status=99", 400),
        ("/ui/api/requests?since=yesterday", 400),
        ("/ui/api/requests?until=-5", 400),
        ("/ui/api/requests?cursor=garbage", 400),
        ("/ui/api/requests?cursor=1.x", 400),
        ("/ui/api/requests?limit=100000", 200),
        ("/ui/api/requests?alias=%27%3B%20DROP%20TABLE%20ledger%3B--", 200),
        ("/ui/api/requests/req_nope", 404),
        ("/ui/api/keys?offset=999999&limit=0", 200),
    ] {
        assert_eq!(admin.get(&gw, path).await.0, code, "{path}");
    }

    // A proxy that terminates TLS gets a Secure cookie; signing out ends the session.
    let resp = http()
        .post(gw.url("/ui/api/session"))
        .header("x-forwarded-proto", "https")
        .json(&json!({"key": MASTER_KEY}))
        .send()
        .await
        .unwrap();
    assert!(resp.headers()["set-cookie"].to_str().unwrap().contains("; Secure"));
    assert_eq!(admin.send(&gw, "DELETE", "/ui/api/session", &json!({}), None).await.0, 403);
    assert_eq!(admin.send(&gw, "DELETE", "/ui/api/session", &json!({}), Some(&admin.csrf)).await.0, 204);
    assert_eq!(admin.get(&gw, "/ui/api/session").await.0, 401);
    gw.stop().await;
}

/// `switchyard keys create --viewer` makes a key that signs in read-only.
#[tokio::test]
async fn a_viewer_key_made_by_the_command_line_signs_in() {
    let (gw, _flaky, _ok) = failover_gateway().await;
    let (status, out, err) = testkit::run_command(
        env!("CARGO_BIN_EXE_switchyard"),
        &["keys", "create", "--name", "cli-viewer", "--viewer"],
        &[("SWITCHYARD_DATABASE_URL", &gw.database_url)],
    );
    assert!(status.success(), "{err}");
    let secret = out.split('\t').nth(1).unwrap().trim().to_owned();
    // The gateway reads keys made elsewhere every 2 s.
    testkit::wait::until("the gateway to know the new key", async || {
        let resp = crate::common::client().get(gw.url("/v1/models")).bearer_auth(&secret).send().await.unwrap();
        resp.status() == 200
    })
    .await;
    let (status, session, _) = sign_in(&gw, &secret).await;
    assert_eq!((status, session.map(|s| s.role)), (200, Some("viewer".to_owned())));
    gw.stop().await;
}

/// Two replicas on one ledger database, and a restart: a session opened on one works on the
/// other and a sign-out on either ends it; the hours a replica read are kept in the database,
/// so a new process draws them without reading their rows, and a row that lands in a kept
/// hour late (a spill file imported) is counted by every process.
#[tokio::test]
async fn replicas_share_sessions_and_kept_hours_survive_a_restart() {
    let url = testkit::gateway::fresh_sqlite_url();
    let up = FakeUpstream::always(Reply::json(wire::completion("m", "ok"))).await;
    let dir = std::env::temp_dir().join(format!("switchyard-console-replicas-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("switchyard.toml");
    std::fs::write(&path, failover_config(&up, &up, Some(&url))).unwrap();
    let replica = || {
        GatewayProcess::serve(
            env!("CARGO_BIN_EXE_switchyard"),
            &["--config", path.to_str().unwrap(), "--listen", "127.0.0.1:0"],
            &[("MASTER", MASTER_KEY)],
        )
    };
    let (a, b) = (replica(), replica());

    let (_, session, _) = sign_in(&a, MASTER_KEY).await;
    let session = session.unwrap();
    assert_eq!(session.get(&b, "/ui/api/session").await.0, 200, "the other replica knows the session");
    assert_eq!(session.send(&b, "DELETE", "/ui/api/session", &json!({}), Some(&session.csrf)).await.0, 204);
    assert_eq!(session.get(&a, "/ui/api/session").await.0, 401, "signed out everywhere");

    // Three hours ago: settled, so kept once read.
    let store = Store::open(&url).await.unwrap();
    let now = gateway::keys::now_ms();
    let hour = (now - 3 * 3_600_000).div_euclid(3_600_000) * 3_600_000;
    let past = |n: i64, cost: i64| Entry {
        request_id: format!("req_past_{n}"),
        at_unix_ms: hour + n,
        alias: "smart".into(),
        deployment: "ok/m".into(),
        provider: "openai".into(),
        model: "m".into(),
        cost_nanos: Some(cost),
        status: 200,
        outcome: "ok".into(),
        latency_ms: 30,
        attempt: 1,
        ..Default::default()
    };
    store.insert(&(1..=4).map(|n| past(n, 1_000)).collect::<Vec<_>>()).await.unwrap();
    let (_, admin, _) = sign_in(&a, MASTER_KEY).await;
    let admin = admin.unwrap();
    let (status, day) = admin.get(&a, "/ui/api/overview?window=24h").await;
    assert_eq!((status, &day["totals"]["requests"], &day["totals"]["cost_nanos"]), (200, &json!(4), &json!(4_000)));
    drop((a, b));

    // The rows are gone (as retention would remove them); a new process still draws the hour,
    // from what the last one kept, and the session survived the restart.
    sqlx::query("DELETE FROM ledger WHERE request_id LIKE 'req_past_%'")
        .execute(&sqlx::SqlitePool::connect(&url).await.unwrap())
        .await
        .unwrap();
    let c = replica();
    let (status, day) = admin.get(&c, "/ui/api/overview?window=24h").await;
    assert_eq!((status, &day["totals"]["cost_nanos"], &day["pending_hours"]), (200, &json!(4_000), &json!(0)));
    // A late row for that hour: read again, with it.
    store.insert(&[past(50, 500)]).await.unwrap();
    let (_, day) = admin.get(&c, "/ui/api/overview?window=24h").await;
    assert_eq!((&day["totals"]["requests"], &day["totals"]["cost_nanos"]), (&json!(1), &json!(500)));
    drop(c);
    let _ = std::fs::remove_dir_all(dir);
}

/// The console on a PostgreSQL ledger that goes down: every console call answers 503 in a few
/// seconds (sessions are looked up there), and once it is back the same session works again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_database_that_goes_down_makes_the_console_say_so_then_recover() {
    if std::env::var("SWITCHYARD_TEST_POSTGRES").is_err() {
        eprintln!("skipping: SWITCHYARD_TEST_POSTGRES is not set");
        return;
    }
    let flip = async |pg: testkit::services::OwnPostgres, f: fn(&mut testkit::services::OwnPostgres)| {
        tokio::task::spawn_blocking(move || {
            let mut pg = pg;
            f(&mut pg);
            pg
        })
        .await
        .unwrap()
    };
    let pg = tokio::task::spawn_blocking(testkit::services::OwnPostgres::started).await.unwrap();
    let up = FakeUpstream::always(Reply::json(wire::completion("m", "ok"))).await;
    let gw = Gateway::start_with_env(&failover_config(&up, &up, Some(&pg.url())), &[("MASTER", MASTER_KEY)]).await;
    let (_, admin, _) = sign_in(&gw, MASTER_KEY).await;
    let admin = admin.unwrap();
    assert_eq!(admin.get(&gw, "/ui/api/overview?window=24h").await.0, 200);

    let pg = flip(pg, testkit::services::OwnPostgres::stop).await;
    for path in ["/ui/api/session", "/ui/api/overview?window=24h", "/ui/api/requests"] {
        let started = Instant::now();
        let (status, body) = admin.get(&gw, path).await;
        assert_eq!((status, body["error"]["code"].as_str()), (503, Some("database_unavailable")), "{path}: {body}");
        assert!(started.elapsed() < Duration::from_secs(8), "{path} took {:?}", started.elapsed());
    }
    let (status, _, _) = sign_in(&gw, MASTER_KEY).await;
    assert_eq!(status, 503, "a sign-in cannot be kept either");

    let pg = flip(pg, testkit::services::OwnPostgres::start).await;
    testkit::wait::until("the console to read the database again", async || {
        admin.get(&gw, "/ui/api/session").await.0 == 200
    })
    .await;
    assert_eq!(admin.get(&gw, "/ui/api/overview?window=24h").await.0, 200);
    gw.stop().await;
    drop(pg);
}

/// Requests to `priced` (each fails over from `flaky` to `good` until the circuit opens) and to
/// `free`; returns the request ids of `priced`.
async fn traffic(gw: &Gateway, priced: usize, free: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..priced {
        let (status, headers, _) =
            post_json(gw, "/v1/chat/completions", &json!({"model": "priced", "messages": user("hi")})).await;
        assert_eq!(status, 200);
        ids.push(headers["x-request-id"].to_str().unwrap().to_owned());
    }
    for _ in 0..free {
        let (status, ..) =
            post_json(gw, "/v1/chat/completions", &json!({"model": "free", "messages": user("hi")})).await;
        assert_eq!(status, 200);
    }
    ids
}

/// The ledger's own total cost and rows, read directly.
async fn ledger_totals(url: &str) -> (i64, i64) {
    let store = Store::open(url).await.unwrap();
    let spend = store.spend(gateway::ledger::SpendBy::Model, 0).await.unwrap();
    (spend.iter().map(|r| r.cost_nanos).sum(), spend.iter().map(|r| r.requests).sum())
}

#[tokio::test]
async fn the_console_reports_what_the_ledger_holds() {
    reports_what_the_ledger_holds(None).await;
}

/// The same figures from PostgreSQL, in a database of the test's own.
#[tokio::test]
async fn the_console_reports_what_a_postgres_ledger_holds() {
    let Ok(base) = std::env::var("SWITCHYARD_TEST_POSTGRES") else {
        eprintln!("skipping: SWITCHYARD_TEST_POSTGRES is not set");
        return;
    };
    let name = format!("sy_console_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(&base).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await.unwrap();
    let (server, _) = base.rsplit_once('/').unwrap();
    reports_what_the_ledger_holds(Some(&format!("{server}/{name}"))).await;
    let _ = sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&admin).await;
}

async fn reports_what_the_ledger_holds(database: Option<&str>) {
    let flaky = FakeUpstream::always(Reply::error(500, wire::error_body("boom", "server_error", None))).await;
    let ok =
        FakeUpstream::start(|req| Reply::json(wire::completion(req.json()["model"].as_str().unwrap_or("m"), "ok")))
            .await;
    let gw = Gateway::start_with_env(&failover_config(&flaky, &ok, database), &[("MASTER", MASTER_KEY)]).await;
    let ids = traffic(&gw, 5, 2).await;
    // Three failed attempts open flaky's circuit: 5 + 3 + 2 rows.
    gw.wait_for_ledger_rows(10).await;
    let (cost, rows) = ledger_totals(&gw.database_url).await;
    assert_eq!((cost, rows), (5 * 80_000, 10));
    let (_, admin, _) = sign_in(&gw, MASTER_KEY).await;
    let admin = admin.unwrap();
    for window in ["1h", "24h", "7d", "30d"] {
        let (status, o) = admin.get(&gw, &format!("/ui/api/overview?window={window}")).await;
        assert_eq!(status, 200, "{o}");
        let t = &o["totals"];
        assert_eq!(
            (&t["cost_nanos"], &t["cost_usd"], &t["requests"], &t["errors"]),
            (&json!(cost), &json!("0.0004"), &json!(rows), &json!(3)),
            "{window}: {t}"
        );
        let by_provider = &o["breakdown"]["provider"]["rows"];
        assert_eq!(by_provider[0]["group"], "good", "{window}: {by_provider}");
        assert_eq!(by_provider[0]["cost_usd"], "0.0004");
        let stacked: i64 = o["stacked"]["model"]["values"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|v| v.as_array().unwrap())
            .map(|v| v.as_i64().unwrap())
            .sum();
        assert_eq!(stacked, cost, "{window}: stacked spend adds up");
        assert!(t["latency_ms"]["p99"].is_number(), "{window}: {t}");
    }
    let (_, d) = admin.get(&gw, "/ui/api/deployments").await;
    let flaky = d["deployments"].as_array().unwrap().iter().find(|d| d["deployment"] == "flaky/m1").unwrap();
    assert_eq!(flaky["live"]["circuit"], "open", "{flaky}");
    let history_errors: i64 = flaky["history"].as_array().unwrap().iter().map(|h| h["errors"].as_i64().unwrap()).sum();
    assert_eq!(history_errors, 3);
    assert_eq!(flaky["aliases"], json!(["priced"]));

    // Filters, and keyset pages that neither skip nor repeat a row.
    let (_, page) = admin.get(&gw, "/ui/api/requests?provider=flaky").await;
    let rows_json = page["rows"].as_array().unwrap();
    assert_eq!(rows_json.len(), 3);
    assert!(rows_json.iter().all(|r| r["provider"] == "flaky" && r["status"] == 500 && r["why"].is_string()));
    let (_, page) = admin.get(&gw, "/ui/api/requests?status=error&alias=priced").await;
    assert_eq!(page["rows"].as_array().unwrap().len(), 3);
    let (_, page) = admin.get(&gw, "/ui/api/requests?alias=free&status=200").await;
    assert_eq!(page["rows"].as_array().unwrap().len(), 2);
    let (_, page) = admin.get(&gw, "/ui/api/requests?since=1000&until=2000").await;
    assert_eq!(page["rows"].as_array().unwrap().len(), 0, "a time range with nothing in it");
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, page) = admin.get(&gw, &format!("/ui/api/requests?limit=3&cursor={cursor}")).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(page["rows"].as_array().unwrap().iter().map(|r| r["id"].as_i64().unwrap()));
        match page["next"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    let mut sorted = seen.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    sorted.dedup();
    assert_eq!((seen.len(), &seen), (10, &sorted), "every row once, newest first");

    // One request's attempts, in order, with why the first moved on.
    let (status, detail) = admin.get(&gw, &format!("/ui/api/requests/{}", ids[0])).await;
    assert_eq!(status, 200, "{detail}");
    let attempts: Vec<_> = detail["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["attempt"].as_i64().unwrap(),
                a["deployment"].as_str().unwrap().to_owned(),
                a["status"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(attempts, [(1, "flaky/m1".to_owned(), 500), (2, "good/m2".to_owned(), 200)]);
    assert_eq!(detail["attempts"][0]["why"], "the provider answered with an error");
    assert_eq!(detail["cost_usd"], "0.00008");
    gw.stop().await;
}

/// Bodies are kept only for an alias or a key that asks, redacted and cut, and shown with the
/// request's attempts.
#[tokio::test]
async fn request_bodies_are_kept_only_when_asked_and_redacted() {
    let flaky = FakeUpstream::always(Reply::error(500, wire::error_body("boom", "server_error", None))).await;
    let ok = FakeUpstream::start(|req| {
        let model = req.json()["model"].as_str().unwrap_or("m").to_owned();
        if req.json()["stream"] == true {
            Reply::sse(wire::text_stream(&model, &["str", "eamed"]))
        } else {
            Reply::json(wire::completion(&model, "the answer"))
        }
    })
    .await;
    let toml = failover_config(&flaky, &ok, None)
        + "[models.logged]\nlog_bodies = true\ndeployments = [{ provider = \"good\", model = \"m4\" }]\n";
    let gw = Gateway::start_with_env(&toml, &[("MASTER", MASTER_KEY)]).await;
    let (_, logging_key) = new_key(&gw, json!({"name": "logs", "log_bodies": true})).await;
    let chat = |key: String, body: Value| {
        let url = gw.url("/v1/chat/completions");
        async move {
            let resp = crate::common::client().post(url).bearer_auth(key).json(&body).send().await.unwrap();
            assert_eq!(resp.status(), 200);
            let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
            resp.text().await.unwrap();
            id
        }
    };
    let secret = "sk-proj-abcdefghijklmnopqrstuvwxyz0123";
    let by_alias =
        chat(MASTER_KEY.into(), json!({"model": "logged", "messages": user(&format!("my key is {secret}"))})).await;
    let not_kept = chat(MASTER_KEY.into(), json!({"model": "free", "messages": user("private")})).await;
    let long = "x".repeat(40_000);
    let by_key = chat(logging_key, json!({"model": "free", "stream": true, "messages": user(&long)})).await;
    gw.wait_for_ledger_rows(3).await;
    let (_, admin, _) = sign_in(&gw, MASTER_KEY).await;
    let admin = admin.unwrap();
    let bodies = |id: String| {
        let (admin, gw) = (&admin, &gw);
        async move {
            let mut found = Value::Null;
            testkit::wait::until("the request's bodies", async || {
                found = admin.get(gw, &format!("/ui/api/requests/{id}")).await.1["bodies"].clone();
                !found.is_null()
            })
            .await;
            found
        }
    };
    let kept = bodies(by_alias.clone()).await;
    assert_eq!(kept["because"], "alias");
    let prompt = kept["prompt"].as_str().unwrap();
    assert!(prompt.contains("my key is [redacted]") && !prompt.contains(secret), "{prompt}");
    assert_eq!(kept["completion"], "the answer");
    let kept = bodies(by_key).await;
    assert_eq!((&kept["because"], &kept["completion"]), (&json!("key"), &json!("streamed")));
    let prompt = kept["prompt"].as_str().unwrap();
    assert!(prompt.len() <= 32 * 1024 && prompt.ends_with("…[truncated]"), "{}", prompt.len());
    let (status, detail) = admin.get(&gw, &format!("/ui/api/requests/{not_kept}")).await;
    assert_eq!((status, &detail["bodies"]), (200, &Value::Null), "not asked: not kept");
    let (_, viewer_key) = new_key(&gw, json!({"name": "looker", "viewer": true})).await;
    let (_, viewer, _) = sign_in(&gw, &viewer_key).await;
    let (status, detail) = viewer.unwrap().get(&gw, &format!("/ui/api/requests/{by_alias}")).await;
    assert_eq!((status, &detail["bodies"]), (200, &Value::Null), "a viewer sees no prompts");
    gw.stop().await;
}

// ---- the browser -----------------------------------------------------------------------------

fn console_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/console")
}

/// Chromium's path, if the browser test can run here; under `CI=true` its absence fails.
fn browser() -> Option<PathBuf> {
    let chromium =
        std::env::var_os("SWITCHYARD_CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    let modules = console_dir().join("node_modules/playwright-core");
    let asked = std::env::var("SWITCHYARD_BROWSER").is_ok_and(|v| v == "1");
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let have = chromium.exists() && modules.exists();
    if !have && (asked || ci) {
        panic!(
            "the console's browser test needs Chromium at {} (apt-get install -y chromium) and {} \
             (npm ci --prefix crates/gateway/tests/console)",
            chromium.display(),
            modules.display()
        );
    }
    if !have {
        eprintln!("skipped: no Chromium or no tests/console/node_modules (see console.rs)");
    }
    have.then_some(chromium)
}

/// Runs the browser script's `phase` and returns its report.
fn run_browser(chromium: &Path, phase: &str, env: &[(&str, String)]) -> Value {
    let out = std::process::Command::new("node")
        .arg(console_dir().join("console.mjs"))
        .env("SY_CHROMIUM", chromium)
        .env("SY_PHASE", phase)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "console.mjs {phase} failed:\n{stdout}\n{stderr}");
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("no report ({e}):\n{stdout}\n{stderr}"))
}

#[tokio::test]
async fn the_console_in_a_real_browser() {
    let Some(chromium) = browser() else { return };
    let (gw, _flaky, _ok) = failover_gateway().await;
    traffic(&gw, 4, 2).await;
    gw.wait_for_ledger_rows(9).await;
    let (cost, rows) = ledger_totals(&gw.database_url).await;
    let (_, viewer) = new_key(&gw, json!({"name": "watcher", "viewer": true})).await;
    let env = vec![("SY_URL", gw.url("")), ("SY_MASTER", MASTER_KEY.to_owned()), ("SY_VIEWER", viewer)];
    // Blocking: the browser talks to this test's gateway, which runs on the runtime's threads.
    let chromium2 = chromium.clone();
    let env2 = env.clone();
    let report = tokio::task::spawn_blocking(move || run_browser(&chromium2, "flows", &env2)).await.unwrap();

    assert_eq!(report["redirected_to"], "/ui/login", "{report}");
    assert_eq!(report["wrong_key"]["path"], "/ui/login");
    assert!(report["wrong_key"]["error"].as_str().unwrap().contains("master key"), "{report}");
    assert!(report["viewer_who"].as_str().unwrap().starts_with("viewer key_"), "{report}");
    assert_eq!((&report["viewer_has_create_form"], &report["viewer_post_status"]), (&json!(false), &json!(403)));
    assert_eq!(report["after_sign_out"], "/ui/login");
    assert_eq!(report["master_who"], "master key");
    let overview = &report["overview"];
    assert_eq!(overview["spend_usd"], gateway::money::NanoUsd(cost).to_string(), "{report}");
    assert_eq!(overview["spend_text"], format!("${}", gateway::money::NanoUsd(cost)));
    assert_eq!(overview["requests"], rows);
    assert_eq!(overview["charts"], 6);
    assert!(overview["breakdown_rows"].as_array().unwrap().iter().any(|m| m == "m2"), "{report}");
    let circuits: Vec<_> = report["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["deployment"].clone(), d["circuit"].clone()))
        .collect();
    assert!(circuits.contains(&(json!("flaky/m1"), json!("open"))), "{circuits:?}");
    assert_eq!(report["created"]["key_prefix"], "sk-sy-");
    assert_eq!(report["created_key_status"], 200);
    assert_eq!(report["revoked_key_status"], 401);
    assert_eq!(report["filtered_hash"], "#/requests?provider=flaky&since=24h");
    let filtered = report["filtered"].as_array().unwrap();
    assert_eq!(filtered.len(), 3, "{report}");
    assert!(filtered.iter().all(|r| r["provider"] == "flaky" && r["status"] == 500));
    let attempts = report["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{report}");
    assert_eq!(
        (&attempts[0]["deployment"], &attempts[0]["status"], &attempts[0]["outcome"]),
        (&json!("flaky/m1"), &json!(500), &json!("upstream_error"))
    );
    assert_eq!(
        (&attempts[1]["deployment"], &attempts[1]["status"], &attempts[1]["outcome"]),
        (&json!("good/m2"), &json!(200), &json!("ok"))
    );
    assert_eq!(report["page_errors"], json!([]), "no script errors in the page: {}", report["page_errors"]);

    // A day of varied traffic for the screenshot (written to the README's image when asked).
    let store = Store::open(&gw.database_url).await.unwrap();
    store.insert(&synthetic_rows(0, 4_000, 86_400_000, gateway::keys::now_ms())).await.unwrap();
    let png = std::env::var("SWITCHYARD_CONSOLE_SCREENSHOT").map_or_else(
        |_| std::env::temp_dir().join(format!("console-overview-{}.png", std::process::id())),
        PathBuf::from,
    );
    let mut env = env;
    env.push(("SY_SCREENSHOT", png.display().to_string()));
    let report = tokio::task::spawn_blocking(move || run_browser(&chromium, "screenshot", &env)).await.unwrap();
    assert_eq!(report["screenshot"], png.display().to_string());
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    gw.stop().await;
}

/// A GET with the session, timed; it must succeed.
async fn timed(admin: &Session, gw: &Gateway, path: &str) -> (Duration, Value) {
    let t = Instant::now();
    let (status, body) = admin.get(gw, path).await;
    assert_eq!(status, 200, "{path}: {body}");
    (t.elapsed(), body)
}

/// `count` rows, numbered from `first`, spread evenly over the `span_ms` before `now`: five
/// models on three providers, twenty keys in four teams, one attempt in fifty failed.
fn synthetic_rows(first: i64, count: i64, span_ms: i64, now: i64) -> Vec<Entry> {
    const MODELS: [(&str, &str, i64); 5] = [
        ("gpt-4.1", "openai", 8_000),
        ("claude-sonnet-4-5", "anthropic", 15_000),
        ("gemini-2.5-flash", "gemini", 2_500),
        ("llama-3.3-70b", "groq", 700),
        ("gpt-4.1-mini", "openai", 1_600),
    ];
    (first..first + count)
        .map(|n| {
            let (model, provider, nanos_per_token) = MODELS[(n % 5) as usize];
            let input = 200 + (n * 7919) % 3_000;
            let output = 50 + (n * 104_729) % 800;
            let failed = n % 50 == 7;
            let latency = 300 + (n * 31) % 2_500 + if n % 97 == 0 { 6_000 } else { 0 };
            let key = n % 20;
            Entry {
                request_id: format!("req_synthetic_{n}"),
                at_unix_ms: now - span_ms + (n - first) * span_ms / count.max(1),
                key_id: Some(format!("key_synthetic{key:02}")),
                team: Some(["search", "support", "platform", "research"][(key % 4) as usize].into()),
                alias: ["fast", "smart", "cheap"][(n % 3) as usize].into(),
                deployment: format!("{provider}/{model}"),
                provider: provider.into(),
                model: model.into(),
                input_tokens: if failed { 0 } else { input },
                output_tokens: if failed { 0 } else { output },
                cost_nanos: if failed { None } else { Some((input + 3 * output) * nanos_per_token / 10) },
                status: if failed { 500 } else { 200 },
                outcome: if failed { "upstream_error" } else { "ok" }.into(),
                latency_ms: latency,
                ttft_ms: (!failed).then_some(latency / 4),
                stream: n % 2 == 0,
                attempt: 1,
                ..Default::default()
            }
        })
        .collect()
}

/// Not a test: how fast the console's API answers over a ledger of ten million rows spread over
/// 30 days (about 3.9 requests a second), cold and warm. Run by hand:
/// `cargo test --release -p gateway --test it console::load_times -- --ignored --nocapture`
/// (`SWITCHYARD_BROWSER=1` also times each page in Chromium; `SWITCHYARD_CONSOLE_DB=sqlite://…`
/// names the ledger: filled if empty, reused as it is otherwise).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "ten million rows, run by hand in release"]
async fn load_times_on_ten_million_rows() {
    const ROWS: i64 = 10_000_000;
    const SPAN: i64 = 30 * 86_400_000;
    // A ledger made by an earlier run may be given again (making one takes minutes); an empty
    // one is filled.
    let url = std::env::var("SWITCHYARD_CONSOLE_DB").unwrap_or_else(|_| testkit::gateway::fresh_sqlite_url());
    let store = Store::open(&url).await.unwrap();
    if store.max_row_id().await.unwrap() == 0 {
        let now = gateway::keys::now_ms();
        let started = Instant::now();
        // In time order, as a gateway writes them: 10,000 rows at a time.
        for batch in 0..ROWS / 10_000 {
            let from = now - SPAN + batch * 10_000 * SPAN / ROWS;
            let rows = synthetic_rows(batch * 10_000, 10_000, 10_000 * SPAN / ROWS, from + 10_000 * SPAN / ROWS);
            store.insert(&rows).await.unwrap();
        }
        eprintln!("inserted {ROWS} rows in {:?} into {url}", started.elapsed());
        let t = Instant::now();
        store.compact(SPAN + 86_400_000, now).await.unwrap();
        eprintln!("daily rollups in {:?}", t.elapsed());
    }
    drop(store);
    let up = FakeUpstream::always(Reply::json(wire::completion("m", "ok"))).await;
    let gw = Gateway::start_with_env(&failover_config(&up, &up, Some(&url)), &[("MASTER", MASTER_KEY)]).await;
    let (_, admin, _) = sign_in(&gw, MASTER_KEY).await;
    let admin = admin.unwrap();
    let time = |label: String, took: Duration, extra: String| {
        eprintln!("{label:<48} {:>9.1} ms  {extra}", took.as_secs_f64() * 1e3)
    };
    for path in ["/ui/api/overview?window=1h", "/ui/api/overview?window=24h", "/ui/api/overview?window=24h"] {
        let (took, _) = timed(&admin, &gw, path).await;
        time(path.into(), took, String::new());
    }
    let (took, body) = timed(&admin, &gw, "/ui/api/overview?window=30d").await;
    time("/ui/api/overview?window=30d (cold)".into(), took, format!("pending hours: {}", body["pending_hours"]));
    let warm = Instant::now();
    loop {
        let (_, body) = timed(&admin, &gw, "/ui/api/overview?window=30d").await;
        if body["pending_hours"] == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    time("30 days of hours read in the background".into(), warm.elapsed(), String::new());
    for path in [
        "/ui/api/overview?window=1h",
        "/ui/api/overview?window=24h",
        "/ui/api/overview?window=7d",
        "/ui/api/overview?window=30d",
        "/ui/api/deployments",
        "/ui/api/keys",
        "/ui/api/requests",
    ] {
        let (took, body) = timed(&admin, &gw, path).await;
        let extra = body["totals"]["requests"].as_i64().map(|n| format!("{n} requests")).unwrap_or_default();
        time(format!("{path} (warm)"), took, extra);
    }
    let mut cursor = String::new();
    let t = Instant::now();
    for _ in 0..50 {
        let (_, page) = timed(&admin, &gw, &format!("/ui/api/requests?cursor={cursor}")).await;
        cursor = page["next"].as_str().unwrap().to_owned();
    }
    time("/ui/api/requests, pages 1 to 50 (each)".into(), t.elapsed() / 50, String::new());
    for filter in
        ["alias=smart", "key=key_synthetic07", "provider=groq&status=error", "team=research&since=30d", "status=503"]
    {
        let (took, page) = timed(&admin, &gw, &format!("/ui/api/requests?{filter}")).await;
        let extra = format!("{} rows, scan capped: {}", page["rows"].as_array().unwrap().len(), page["scan_capped"]);
        time(format!("/ui/api/requests?{filter}"), took, extra);
    }
    let (took, _) = timed(&admin, &gw, "/ui/api/requests/req_synthetic_4242").await;
    time("/ui/api/requests/{id}".into(), took, String::new());

    if std::env::var("SWITCHYARD_BROWSER").is_ok_and(|v| v == "1") {
        if let Some(chromium) = browser() {
            let (_, viewer) = new_key(&gw, json!({"name": "v", "viewer": true})).await;
            let png = std::env::temp_dir().join("console-10m.png").display().to_string();
            let env = vec![
                ("SY_URL", gw.url("")),
                ("SY_MASTER", MASTER_KEY.to_owned()),
                ("SY_VIEWER", viewer),
                ("SY_SCREENSHOT", png),
                ("SY_TIMINGS", "1".into()),
            ];
            let report = tokio::task::spawn_blocking(move || run_browser(&chromium, "screenshot", &env)).await.unwrap();
            eprintln!("in Chromium, ms from navigation to drawn: {}", report["timings_ms"]);
        }
    }
    gw.stop().await;
}
