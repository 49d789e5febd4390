//! The cache's shared tier: Redis, when `redis_url` is set, so every replica answers from what
//! any of them stored. Every call has a short deadline: a Redis that is down or slow makes a
//! miss, never an error or a wait, and writes go through one background task.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;

use super::{CacheKey, Entry};

/// The longest a lookup waits for Redis before it is a miss.
const LOOKUP_DEADLINE: Duration = Duration::from_millis(100);
/// Entries waiting to be written; beyond this one is left out (the cache is best effort).
const WRITE_QUEUE: usize = 1024;

pub struct SharedStore {
    conn: redis::aio::ConnectionManager,
    writes: tokio::sync::mpsc::Sender<(CacheKey, Arc<Entry>, Duration)>,
    /// Set once a failure is logged, cleared when Redis answers again: one line per outage.
    failing: Arc<AtomicBool>,
}

fn redis_key(key: &CacheKey) -> String {
    format!("switchyard:cache:{}", key.hex())
}

impl SharedStore {
    /// Connects without waiting for Redis to answer: the connection is made on first use.
    pub fn open(url: &str) -> Result<SharedStore, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(Duration::from_millis(500)))
            .set_number_of_retries(1);
        let conn = redis::aio::ConnectionManager::new_lazy_with_config(client, config)?;
        let (tx, rx) = tokio::sync::mpsc::channel(WRITE_QUEUE);
        let failing = Arc::new(AtomicBool::new(false));
        spawn_writer(conn.clone(), rx, failing.clone());
        Ok(SharedStore { conn, writes: tx, failing })
    }

    pub async fn get(&self, key: &CacheKey) -> Option<Entry> {
        let mut conn = self.conn.clone();
        let got: Result<Option<Vec<u8>>, _> =
            match tokio::time::timeout(LOOKUP_DEADLINE, conn.get(redis_key(key))).await {
                Ok(result) => result,
                Err(_) => {
                    note_failure(&self.failing, "a cache lookup in Redis timed out; answering as a miss");
                    return None;
                }
            };
        match got {
            Ok(bytes) => {
                self.failing.store(false, Ordering::Relaxed);
                serde_json::from_slice(&bytes?).ok()
            }
            Err(e) => {
                note_failure(&self.failing, &format!("a cache lookup in Redis failed ({e}); answering as a miss"));
                None
            }
        }
    }

    pub fn put(&self, key: CacheKey, entry: Arc<Entry>, ttl: Duration) {
        if self.writes.try_send((key, entry, ttl)).is_err() {
            note_failure(&self.failing, "the Redis cache writer is behind; an entry is kept in this replica only");
        }
    }
}

fn note_failure(failing: &AtomicBool, message: &str) {
    metrics::counter!("switchyard_cache_shared_errors_total").increment(1);
    if !failing.swap(true, Ordering::Relaxed) {
        tracing::warn!("{message}");
    }
}

fn spawn_writer(
    conn: redis::aio::ConnectionManager,
    mut rx: tokio::sync::mpsc::Receiver<(CacheKey, Arc<Entry>, Duration)>,
    failing: Arc<AtomicBool>,
) {
    #[expect(clippy::disallowed_methods, reason = "the one writer of shared cache entries; ends with the app")]
    tokio::spawn(async move {
        while let Some((key, entry, ttl)) = rx.recv().await {
            let Ok(bytes) = serde_json::to_vec(&*entry) else { continue };
            let mut conn = conn.clone();
            let set = conn.set_ex::<_, _, ()>(redis_key(&key), bytes, ttl.as_secs().max(1));
            match tokio::time::timeout(Duration::from_secs(1), set).await {
                Ok(Ok(())) => failing.store(false, Ordering::Relaxed),
                Ok(Err(e)) => note_failure(&failing, &format!("a cache entry was not written to Redis ({e})")),
                Err(_) => note_failure(&failing, "writing a cache entry to Redis timed out"),
            }
        }
    });
}
