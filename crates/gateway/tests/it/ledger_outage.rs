//! The ledger through a database outage: requests keep flowing while PostgreSQL is stopped (or
//! SQLite cannot be written), rows wait in memory and then in the spill file, and once the
//! database answers they are all written, each exactly once and oldest first, without a
//! restart; a batch sent twice is written once; a database from before attempts were numbered
//! migrates. While the database is down, key management and stored responses answer with a
//! 503 saying so, instead of hanging. Tests with a PostgreSQL of their own run where
//! `SWITCHYARD_TEST_POSTGRES` is set (which says PostgreSQL's programs are installed).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gateway::ledger::{Entry, Ledger, Store, BATCH_MAX};
use serde_json::{json, Value};
use testkit::openai_wire as wire;
use testkit::services::OwnPostgres;
use testkit::{FakeUpstream, Reply};

use crate::common::{client, process_with, user, MASTER_KEY};

fn postgres_programs() -> bool {
    if std::env::var("SWITCHYARD_TEST_POSTGRES").is_err() {
        eprintln!("skipping: SWITCHYARD_TEST_POSTGRES is not set");
        return false;
    }
    true
}

/// Stops or starts the test's PostgreSQL off the async threads (pg_ctl blocks).
async fn with_pg(pg: OwnPostgres, f: fn(&mut OwnPostgres)) -> OwnPostgres {
    tokio::task::spawn_blocking(move || {
        let mut pg = pg;
        f(&mut pg);
        pg
    })
    .await
    .unwrap()
}

/// Rows, their request ids distinct, and the ids in the order the ledger holds them.
async fn ledger_ids(url: &str) -> (i64, i64, Vec<String>) {
    let store = Store::open(url).await.unwrap();
    let count = store.count().await.unwrap();
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await.unwrap();
    let distinct: i64 =
        sqlx::query_scalar("SELECT COUNT(DISTINCT request_id) FROM ledger").fetch_one(&pool).await.unwrap();
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT request_id FROM ledger ORDER BY id").fetch_all(&pool).await.unwrap();
    pool.close().await;
    (count, distinct, ids)
}

/// Waits until the ledger at `url` holds `rows` rows, for as long as `limit`.
async fn settle(url: &str, rows: i64, limit: Duration) {
    let store = Store::open(url).await.unwrap();
    let started = Instant::now();
    loop {
        let seen = store.count().await.unwrap();
        if seen >= rows {
            return;
        }
        assert!(started.elapsed() < limit, "the ledger holds {seen} of {rows} rows after {:?}", started.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_outage_under_load_loses_and_doubles_no_row() {
    if !postgres_programs() {
        return;
    }
    let pg = OwnPostgres::started();
    let url = pg.url();
    let up = FakeUpstream::always(Reply::json(wire::completion("m", "ok"))).await;
    let mut gw = process_with(&up, &format!("database_url = \"{url}\""));

    // 500 requests, one every 40 ms (20 s), at most 10 at once; PostgreSQL stopped for 10 s
    // from the fourth second.
    let outage = async move {
        tokio::time::sleep(Duration::from_secs(4)).await;
        let pg = with_pg(pg, OwnPostgres::stop).await;
        let stopped = Instant::now();
        tokio::time::sleep(Duration::from_secs(10)).await;
        let pg = with_pg(pg, OwnPostgres::start).await;
        (pg, stopped.elapsed())
    };
    let load = async {
        let limit = Arc::new(tokio::sync::Semaphore::new(10));
        let mut tick = tokio::time::interval(Duration::from_millis(40));
        let mut sent = tokio::task::JoinSet::new();
        for _ in 0..500 {
            tick.tick().await;
            let permit = limit.clone().acquire_owned().await.unwrap();
            let url = gw.url("/v1/chat/completions");
            sent.spawn(async move {
                let started = Instant::now();
                let resp = client()
                    .post(url)
                    .bearer_auth(MASTER_KEY)
                    .json(&json!({"model": "fast", "messages": user("hi")}))
                    .send()
                    .await
                    .unwrap();
                drop(permit);
                let id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
                (resp.status().as_u16(), id, started.elapsed())
            });
        }
        sent.join_all().await
    };
    let (sent, (pg, down_for)) = tokio::join!(load, outage);
    let mut answered = Vec::new();
    let mut slowest = Duration::ZERO;
    for (status, id, took) in sent {
        assert_eq!(status, 200, "request {id} failed during the outage");
        slowest = slowest.max(took);
        answered.push(id);
    }
    assert!(down_for >= Duration::from_secs(10), "PostgreSQL was down {down_for:?}");
    assert!(slowest < Duration::from_secs(2), "a request waited {slowest:?} on the ledger's database");
    assert_eq!(up.received().len(), 500, "every request reached the provider once");

    settle(&url, 500, Duration::from_secs(15)).await;
    gw.signal("TERM");
    assert!(gw.wait(Duration::from_secs(20)).is_some_and(|s| s.success()), "{}", gw.stderr());
    let (count, distinct, ids) = ledger_ids(&url).await;
    assert_eq!((count, distinct), (500, 500), "each row exactly once");
    let answered: HashSet<String> = answered.into_iter().collect();
    assert_eq!(ids.into_iter().collect::<HashSet<_>>(), answered, "the rows are the requests answered");
    assert!(gw.stderr().contains("the database answers again"), "{}", gw.stderr());
    drop(pg);
}

/// A row of request `n` (its only attempt), recorded at `at`.
fn row(n: usize, at: i64) -> Entry {
    Entry {
        request_id: format!("req_{n:06}"),
        at_unix_ms: at,
        alias: "a".into(),
        deployment: "p/m".into(),
        provider: "p".into(),
        model: "m".into(),
        input_tokens: 10,
        output_tokens: 5,
        cost_nanos: Some(1_000),
        status: 200,
        outcome: "ok".into(),
        attempt: 1,
        ..Default::default()
    }
}

fn record(ledger: &Ledger, rows: std::ops::Range<usize>) {
    let now = gateway::keys::now_ms();
    for n in rows {
        ledger.record(row(n, now));
    }
}

/// The ids `req_000000` … in order, as the ledger must hold them.
fn in_order(n: usize) -> Vec<String> {
    (0..n).map(|n| row(n, 0).request_id).collect()
}

fn spill_files(spill: &Path) -> [PathBuf; 2] {
    [spill.to_owned(), PathBuf::from(format!("{}.importing", spill.display()))]
}

async fn wait_for(what: impl Fn() -> String, limit: Duration, check: impl Fn() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < limit, "still waiting for {} after {:?}", what(), started.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Records rows into a ledger holding at most [`BATCH_MAX`] in memory while `outage` keeps
/// its database from being written, then checks every row is written once, in order, the
/// spill file imported without a restart.
async fn spill_and_import(url: &str, spill: &Path, down: impl AsyncFnOnce(), up: impl AsyncFnOnce()) {
    let (ledger, writer) = Ledger::start_bounded(url, spill.to_owned(), BATCH_MAX).await.unwrap();
    record(&ledger, 0..300);
    settle(url, 300, Duration::from_secs(10)).await;
    down().await;
    // 1,000 wait in memory, the other 2,500 in the spill file.
    record(&ledger, 300..3_800);
    let counters = ledger.counters.clone();
    let what = || format!("rows in the spill file ({counters:?})");
    wait_for(what, Duration::from_secs(10), || counters.spilled.load(Relaxed) >= 2_500).await;
    assert!(spill.exists());
    up().await;
    settle(url, 3_800, Duration::from_secs(20)).await;
    // New rows go on to the database as before.
    record(&ledger, 3_800..3_900);
    settle(url, 3_900, Duration::from_secs(10)).await;
    writer.close().await;
    let (count, distinct, ids) = ledger_ids(url).await;
    assert_eq!((count, distinct), (3_900, 3_900), "each row exactly once");
    assert_eq!(ids, in_order(3_900), "oldest first");
    for file in spill_files(spill) {
        assert!(!file.exists(), "{} was imported and removed", file.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_rows_spill_while_it_cannot_be_written_and_are_imported_once_it_can() {
    let url = testkit::gateway::fresh_sqlite_url();
    let spill = PathBuf::from(format!("{}.spill.jsonl", url.trim_start_matches("sqlite://")));
    // Another connection takes the table away (every write fails) and gives it back.
    let other = || async { sqlx::SqlitePool::connect(&format!("{url}?mode=rw")).await.unwrap() };
    spill_and_import(
        &url,
        &spill,
        async || {
            sqlx::query("ALTER TABLE ledger RENAME TO ledger_away").execute(&other().await).await.unwrap();
        },
        async || {
            sqlx::query("ALTER TABLE ledger_away RENAME TO ledger").execute(&other().await).await.unwrap();
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_rows_spill_while_it_is_down_and_are_imported_once_it_is_back() {
    if !postgres_programs() {
        return;
    }
    let pg = std::sync::Mutex::new(Some(OwnPostgres::started()));
    let url = pg.lock().unwrap().as_ref().unwrap().url();
    let dir = std::env::temp_dir().join(format!(
        "switchyard-outage-{}-{}",
        std::process::id(),
        testkit::services::spare_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let spill = dir.join("ledger.spill.jsonl");
    let flip = async |f: fn(&mut OwnPostgres)| {
        let taken = pg.lock().unwrap().take().unwrap();
        let back = with_pg(taken, f).await;
        *pg.lock().unwrap() = Some(back);
    };
    spill_and_import(&url, &spill, async || flip(OwnPostgres::stop).await, async || flip(OwnPostgres::start).await)
        .await;

    // Shut down while PostgreSQL is down: the rows not written are left in the spill file,
    // and the next start writes them, once.
    let (ledger, writer) = Ledger::start_bounded(&url, spill.clone(), BATCH_MAX).await.unwrap();
    flip(OwnPostgres::stop).await;
    record(&ledger, 3_900..4_000);
    let closing = Instant::now();
    writer.close().await;
    assert!(closing.elapsed() < Duration::from_secs(15), "closing took {:?}", closing.elapsed());
    let lines = std::fs::read_to_string(&spill).unwrap().lines().count();
    assert_eq!(lines, 100, "every unwritten row is in the spill file");
    flip(OwnPostgres::start).await;
    let (_ledger, writer) = Ledger::start_bounded(&url, spill.clone(), BATCH_MAX).await.unwrap();
    settle(&url, 4_000, Duration::from_secs(10)).await;
    writer.close().await;
    let (count, distinct, ids) = ledger_ids(&url).await;
    assert_eq!((count, distinct), (4_000, 4_000));
    assert_eq!(ids, in_order(4_000));
    assert!(!spill.exists());
}

#[tokio::test]
async fn a_batch_sent_twice_is_written_once() {
    let url = testkit::gateway::fresh_sqlite_url();
    let store = Store::open(&url).await.unwrap();
    let now = gateway::keys::now_ms();
    let mut batch: Vec<Entry> = (0..150).map(|n| row(n, now)).collect();
    // A failover's two attempts of one request are two rows.
    batch.push(Entry { attempt: 2, ..row(0, now) });
    assert_eq!(store.insert(&batch).await.unwrap(), 151);
    // The commit went through but its answer was lost: the writer sends the batch again.
    assert_eq!(store.insert(&batch).await.unwrap(), 0, "nothing is written twice");
    let mixed: Vec<Entry> = (140..160).map(|n| row(n, now)).collect();
    assert_eq!(store.insert(&mixed).await.unwrap(), 10, "only the rows not yet there");
    assert_eq!(store.count().await.unwrap(), 161);
    let spend = store.spend(gateway::ledger::SpendBy::Model, 0).await.unwrap();
    assert_eq!((spend[0].requests, spend[0].cost_nanos), (161, 161_000));
}

#[tokio::test]
async fn a_ledger_from_before_attempts_migrates_and_keeps_its_rows() {
    let url = testkit::gateway::fresh_sqlite_url();
    let pool = sqlx::SqlitePool::connect(&format!("{url}?mode=rwc")).await.unwrap();
    // The table as first shipped, holding a failover's two rows under one request id.
    sqlx::query(
        "CREATE TABLE ledger (id INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT NOT NULL, at_unix_ms BIGINT NOT \
         NULL, key_id TEXT, team TEXT, alias TEXT NOT NULL, deployment TEXT NOT NULL, provider TEXT NOT NULL, model \
         TEXT NOT NULL, input_tokens BIGINT NOT NULL, output_tokens BIGINT NOT NULL, cached_tokens BIGINT NOT NULL, \
         cache_write_tokens BIGINT NOT NULL, reasoning_tokens BIGINT NOT NULL, cost_nanos BIGINT, status INTEGER NOT \
         NULL, outcome TEXT NOT NULL, latency_ms BIGINT NOT NULL, ttft_ms BIGINT, stream BOOLEAN NOT NULL, cancelled \
         BOOLEAN NOT NULL)",
    )
    .execute(&pool)
    .await
    .unwrap();
    for (deployment, status, cost) in [("p/flaky", 500, None), ("p/m", 200, Some(2_000i64))] {
        sqlx::query(
            "INSERT INTO ledger (request_id, at_unix_ms, alias, deployment, provider, model, input_tokens, \
             output_tokens, cached_tokens, cache_write_tokens, reasoning_tokens, cost_nanos, status, outcome, \
             latency_ms, stream, cancelled) VALUES ('req_old', $1, 'a', $2, 'p', 'm', 10, 5, 0, 0, 0, $3, $4, 'ok', \
             3, 0, 0)",
        )
        .bind(gateway::keys::now_ms())
        .bind(deployment)
        .bind(cost)
        .bind(status)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;

    let store = Store::open(&url).await.unwrap();
    assert_eq!(store.count().await.unwrap(), 2, "old rows sharing a request id stay");
    let now = gateway::keys::now_ms();
    assert_eq!(store.insert(&[row(7, now), row(7, now)]).await.unwrap(), 1);
    let spend = store.spend(gateway::ledger::SpendBy::Model, 0).await.unwrap();
    assert_eq!((spend[0].requests, spend[0].cost_nanos), (3, 3_000));
    drop(store);
    // Opening it again migrates nothing twice.
    assert_eq!(Store::open(&url).await.unwrap().count().await.unwrap(), 3);
}

/// What a client sees from the admin API and stored responses while PostgreSQL is down: a 503
/// naming the database, within a few seconds; chat goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_stored_responses_answer_503_while_postgres_is_down() {
    if !postgres_programs() {
        return;
    }
    let pg = OwnPostgres::started();
    let up = FakeUpstream::always(Reply::json(wire::completion("m", "ok"))).await;
    let mut gw = process_with(&up, &format!("database_url = \"{}\"", pg.url()));
    let pg = with_pg(pg, OwnPostgres::stop).await;

    let timed = async |req: reqwest::RequestBuilder| {
        let started = Instant::now();
        let resp = req.bearer_auth(MASTER_KEY).send().await.unwrap();
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap();
        (status, body, started.elapsed())
    };
    let c = client();
    let cases = [
        ("create a key", c.post(gw.url("/admin/keys")).json(&json!({"name": "k"}))),
        ("edit a key", c.patch(gw.url("/admin/keys/key_0123456789ab")).json(&json!({"rpm": 5}))),
        ("revoke a key", c.delete(gw.url("/admin/keys/key_0123456789ab"))),
        ("list keys", c.get(gw.url("/admin/keys"))),
        ("read a stored response", c.get(gw.url("/v1/responses/resp_0123456789abcdef"))),
        ("delete a stored response", c.delete(gw.url("/v1/responses/resp_0123456789abcdef"))),
        (
            "continue a stored response",
            c.post(gw.url("/v1/responses"))
                .json(&json!({"model": "fast", "input": "hi", "previous_response_id": "resp_0123456789abcdef"})),
        ),
    ];
    // All at once: each waits out the database's deadline.
    let answers = futures_util::future::join_all(cases.into_iter().map(|(what, req)| async move {
        let (status, body, took) = timed(req).await;
        (what, status, body, took)
    }))
    .await;
    for (what, status, body, took) in answers {
        assert_eq!(status, 503, "{what}: {body}");
        assert!(took < Duration::from_secs(5), "{what} took {took:?}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("unavailable"), "{what}: {message}");
    }
    let (status, body, _) = timed(c.post(gw.url("/admin/keys")).json(&json!({"name": "k"}))).await;
    assert!(body["error"]["message"].as_str().unwrap().contains("database is unavailable"), "{status} {body}");
    let (status, _, took) =
        timed(c.post(gw.url("/v1/chat/completions")).json(&json!({"model": "fast", "messages": user("hi")}))).await;
    assert_eq!(status, 200);
    assert!(took < Duration::from_secs(1), "chat took {took:?}");

    let pg = with_pg(pg, OwnPostgres::start).await;
    // The pool connects again on the next call.
    let started = Instant::now();
    loop {
        let (status, body, _) = timed(c.post(gw.url("/admin/keys")).json(&json!({"name": "k"}))).await;
        if status == 201 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "still {status} {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    gw.signal("TERM");
    let stopping = Instant::now();
    assert!(gw.wait(Duration::from_secs(20)).is_some(), "{}", gw.stderr());
    eprintln!("stopped in {:?}", stopping.elapsed());
    drop(pg);
}

/// Not a test: how many ledger rows a kill -9 under steady load loses, against the requests
/// answered. Run by hand with
/// `cargo test -p gateway --test it ledger_outage::kill_9_figures -- --ignored --nocapture`
/// (PostgreSQL too when `SWITCHYARD_TEST_POSTGRES` is set).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a measurement, run by hand"]
async fn kill_9_figures() {
    let pg = std::env::var("SWITCHYARD_TEST_POSTGRES").is_ok().then(OwnPostgres::started);
    let mut targets = vec![("sqlite", testkit::gateway::fresh_sqlite_url())];
    if let Some(pg) = &pg {
        targets.push(("postgres", pg.url()));
    }
    for (name, url) in targets {
        for round in 0..3 {
            let up = FakeUpstream::always(Reply::json(wire::completion("m", "ok"))).await;
            let mut gw = process_with(&up, &format!("database_url = \"{url}\""));
            let before = Store::open(&url).await.unwrap().count().await.unwrap();
            let answered = Arc::new(std::sync::atomic::AtomicU64::new(0));
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let mut workers = tokio::task::JoinSet::new();
            for _ in 0..10 {
                let (answered, stop, target) = (answered.clone(), stop.clone(), gw.url("/v1/chat/completions"));
                workers.spawn(async move {
                    let c = client();
                    while !stop.load(Relaxed) {
                        let sent = c
                            .post(&target)
                            .bearer_auth(MASTER_KEY)
                            .json(&json!({"model": "fast", "messages": user("hi")}))
                            .send()
                            .await;
                        let Ok(r) = sent else { break };
                        if r.status() != 200 || r.bytes().await.is_err() {
                            break;
                        }
                        answered.fetch_add(1, Relaxed);
                    }
                });
            }
            tokio::time::sleep(Duration::from_millis(2_000 + 137 * round)).await;
            let killed_at = answered.load(Relaxed);
            let kill_ms = gateway::keys::now_ms();
            gw.signal("KILL");
            stop.store(true, Relaxed);
            workers.join_all().await;
            gw.wait(Duration::from_secs(10));
            let store = Store::open(&url).await.unwrap();
            let rows = store.count().await.unwrap() - before;
            sqlx::any::install_default_drivers();
            let pool = sqlx::AnyPool::connect(&url).await.unwrap();
            let newest: i64 = sqlx::query_scalar("SELECT MAX(at_unix_ms) FROM ledger").fetch_one(&pool).await.unwrap();
            let answered = answered.load(Relaxed);
            let received = up.received().len();
            let rate = answered as f64 / (2.0 + 0.137 * round as f64);
            eprintln!(
                "{name} round {round}: upstream received {received}, client got {answered} answers ({killed_at} when \
                 killed), ledger rows {rows}; lost vs answered {} (~{:.0} rows per 25 ms at {rate:.0}/s); the newest \
                 row written was made {} ms before the kill",
                answered as i64 - rows,
                rate * 0.025,
                kill_ms - newest
            );
        }
    }
}
