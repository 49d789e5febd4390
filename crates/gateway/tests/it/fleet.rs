//! Three `switchyard serve` replicas sharing a PostgreSQL and a Redis of the test's own, with
//! requests spread round-robin as a load balancer would: one budget and one rate limit hold for
//! the fleet as for one gateway, and a replica killed with SIGKILL leaves the others serving.
//! Runs where PostgreSQL's and Redis's programs are installed (`SWITCHYARD_TEST_POSTGRES` set).

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use testkit::openai_wire as wire;
use testkit::services::{OwnPostgres, OwnRedis};
use testkit::{FakeUpstream, GatewayProcess, Reply};

use crate::common::{client, new_key, MASTER_KEY};

struct Fleet {
    replicas: Vec<GatewayProcess>,
    pg: OwnPostgres,
    _redis: OwnRedis,
}

fn have_services() -> bool {
    let ok = std::env::var("SWITCHYARD_TEST_POSTGRES").is_ok();
    if !ok {
        eprintln!("skipped: set SWITCHYARD_TEST_POSTGRES (PostgreSQL and Redis installed) to run the fleet tests");
    }
    ok
}

/// `n` replicas of one config: the ledger in the test's PostgreSQL, limits and budgets in its
/// Redis, one provider at $1,000 per million tokens.
fn fleet(up: &FakeUpstream, n: usize) -> Fleet {
    let pg = OwnPostgres::started();
    let redis = OwnRedis::started();
    let toml = format!(
        r#"master_key_env = "MASTER"
database_url = "{}"
redis_url = "{}"
[providers.up]
kind = "openai_compatible"
base_url = "{}"
[models.fast]
deployments = [{{ provider = "up", model = "m", input_price = 1000.0, output_price = 1000.0 }}]
"#,
        pg.url(),
        redis.url(),
        up.v1()
    );
    let dir = std::env::temp_dir().join(format!("switchyard-fleet-{}-{}", std::process::id(), pg.port));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("fleet.toml");
    std::fs::write(&path, toml).unwrap();
    let replicas = (0..n)
        .map(|_| {
            GatewayProcess::serve(
                env!("CARGO_BIN_EXE_switchyard"),
                &["--config", path.to_str().unwrap(), "--listen", "127.0.0.1:0"],
                &[("MASTER", MASTER_KEY)],
            )
        })
        .collect();
    Fleet { replicas, pg, _redis: redis }
}

impl Fleet {
    /// A key made on the first replica, once every replica knows it (they reload keys from the
    /// database every two seconds).
    async fn key(&self, spec: Value) -> (String, String) {
        let (id, key) = new_key(&self.replicas[0], spec).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        for r in &self.replicas {
            loop {
                let resp = client().get(r.url("/v1/models")).bearer_auth(&key).send().await.unwrap();
                if resp.status() == 200 {
                    break;
                }
                assert!(Instant::now() < deadline, "replica {} never saw the key", r.addr);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        (id, key)
    }

    /// `count` chat requests at once, the i-th to replica i mod n: each one's status.
    async fn burst(&self, key: &str, count: usize) -> Vec<u16> {
        let urls: Vec<String> = self.replicas.iter().map(|r| r.url("/v1/chat/completions")).collect();
        let sends = (0..count).map(|i| {
            let url = urls[i % urls.len()].clone();
            async move { chat(&url, key).await.map_or(0, |(status, _)| status) }
        });
        futures_util::future::join_all(sends).await
    }

    fn ledger_spend(&self, key_id: &str) -> (i64, i64) {
        let row = self
            .pg
            .psql(&format!("SELECT COUNT(*), COALESCE(SUM(cost_nanos), 0) FROM ledger WHERE key_id = '{key_id}'"));
        let (count, sum) = row.split_once('|').unwrap();
        (count.parse().unwrap(), sum.parse().unwrap())
    }

    /// Waits until the ledger holds `rows` rows of the key (the writers commit within 25 ms).
    async fn ledger_settles(&self, key_id: &str, rows: i64) -> i64 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (count, sum) = self.ledger_spend(key_id);
            if count >= rows {
                return sum;
            }
            assert!(Instant::now() < deadline, "{count} of {rows} ledger rows");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn chat(url: &str, key: &str) -> Result<(u16, Value), reqwest::Error> {
    let resp = client()
        .post(url)
        .bearer_auth(key)
        .json(&json!({"model": "fast", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10}))
        .send()
        .await?;
    let status = resp.status().as_u16();
    Ok((status, resp.json().await.unwrap_or(Value::Null)))
}

async fn upstream() -> FakeUpstream {
    FakeUpstream::start(|_| Reply::json(wire::completion("m", "ok"))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_spend_one_budget_together() {
    if !have_services() {
        return;
    }
    let up = upstream().await;
    let fleet = fleet(&up, 3);
    // A request is estimated at ~$0.02 (its prompt and its 10-token cap at $1,000/M) and billed
    // ~$0.017: a $0.10 budget admits five. Each replica on its own would admit five.
    let (id, key) = fleet.key(json!({"name": "fleet-budget", "budget_usd": 0.1, "budget_period": "day"})).await;
    let statuses = fleet.burst(&key, 150).await;
    let ok = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(ok + statuses.iter().filter(|s| **s == 429).count(), 150, "{statuses:?}");
    let spent = fleet.ledger_settles(&id, ok as i64).await;
    let one_estimate = 21_000_000;
    assert!(spent <= 100_000_000 + one_estimate, "the fleet spent {spent} nano-dollars of a 100,000,000 budget");
    assert!((4..=6).contains(&ok), "{ok} admitted by three replicas together");
    assert_eq!(up.received().len(), ok, "every admitted request reached the provider, and no other");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_admit_one_rate_limit_together() {
    if !have_services() {
        return;
    }
    let up = upstream().await;
    let fleet = fleet(&up, 3);
    let (_, key) = fleet.key(json!({"name": "fleet-rpm", "rpm": 60})).await;
    let statuses = fleet.burst(&key, 150).await;
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 60, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 90);
    // A little later, in what a fixed window would call a new minute for some of them, the
    // sliding window is still full on every replica.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert!(fleet.burst(&key, 3).await.iter().all(|s| *s == 429));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_killed_under_load_leaves_the_others_answering_everything() {
    if !have_services() {
        return;
    }
    let up = upstream().await;
    let fleet = fleet(&up, 3);
    let (id, key) = fleet.key(json!({"name": "fleet-kill", "rpm": 100_000, "budget_usd": 1000})).await;
    let urls: Vec<String> = fleet.replicas.iter().map(|r| r.url("/v1/chat/completions")).collect();
    let load = {
        let (urls, key) = (urls.clone(), key.clone());
        async move {
            let mut answered = [0usize; 3];
            let mut failed = [0usize; 3];
            let until = Instant::now() + Duration::from_secs(3);
            let mut i = 0;
            while Instant::now() < until {
                let round = (0..6).map(|j| {
                    let n = (i + j) % 3;
                    let (url, key) = (urls[n].clone(), key.clone());
                    async move { (n, chat(&url, &key).await) }
                });
                for (n, result) in futures_util::future::join_all(round).await {
                    match result {
                        Ok((200, _)) => answered[n] += 1,
                        _ => failed[n] += 1,
                    }
                }
                i += 6;
            }
            (answered, failed)
        }
    };
    let kill = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        fleet.replicas[0].signal("KILL");
    };
    let ((answered, failed), ()) = tokio::join!(load, kill);
    assert!(answered[0] > 0, "the first replica served before it was killed");
    assert!(failed[0] > 0, "requests to the killed replica fail (a load balancer takes it out)");
    assert_eq!((failed[1], failed[2]), (0, 0), "the others answered everything sent to them: {answered:?}");
    assert!(answered[1] > 10 && answered[2] > 10, "{answered:?}");
    // Every request the survivors answered is in the ledger; the killed one lost at most the
    // rows of its last commit window.
    let survivors = (answered[1] + answered[2]) as i64;
    fleet.ledger_settles(&id, survivors).await;
    let rows = fleet.ledger_spend(&id).0;
    let upstream_saw = up.received().len() as i64;
    assert!(rows <= upstream_saw, "no row without a request");
    eprintln!("killed replica: answered {}, ledger rows lost {}", answered[0], upstream_saw - rows);
}
