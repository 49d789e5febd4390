//! The semantic index shared through PostgreSQL with pgvector, so every replica finds what any
//! of them indexed (the entries themselves are shared through Redis). One table, an index on
//! (scope, alias, context), and an exact nearest-neighbour query inside the bucket. Every
//! lookup has a short deadline — a slow or unreachable database is a miss — and writes go
//! through one background task. Vectors travel as text (`'[0.1,…]'::vector`).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgPool;
use sqlx::Row as _;

use crate::cache::CacheKey;

/// The longest a lookup waits for the database before it is a miss.
const LOOKUP_DEADLINE: Duration = Duration::from_millis(250);
const WRITE_DEADLINE: Duration = Duration::from_secs(2);
/// Rows waiting to be written; beyond this one is left out (the index is best effort).
const WRITE_QUEUE: usize = 1024;
/// How often expired rows are deleted.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

const MIGRATION: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS semantic_cache (
        scope TEXT NOT NULL,
        alias TEXT NOT NULL,
        context TEXT NOT NULL,
        embedding vector NOT NULL,
        entry_key TEXT NOT NULL,
        expires_ms BIGINT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS semantic_cache_bucket ON semantic_cache (scope, alias, context)",
    "CREATE INDEX IF NOT EXISTS semantic_cache_expires ON semantic_cache (expires_ms)",
];

pub struct Row {
    pub scope: String,
    pub alias: String,
    pub context: [u8; 32],
    pub vector: Vec<f32>,
    pub key: CacheKey,
    pub expires_at_ms: i64,
}

pub struct PgIndex {
    pool: PgPool,
    writes: tokio::sync::mpsc::Sender<Row>,
    /// Set once a failure is logged, cleared when the database answers again.
    failing: Arc<AtomicBool>,
}

impl PgIndex {
    /// Creates the extension (or finds it) and the table. Err: pgvector is not available.
    pub async fn open(pool: &PgPool) -> Result<PgIndex, sqlx::Error> {
        if let Err(e) = sqlx::query("CREATE EXTENSION IF NOT EXISTS vector").execute(pool).await {
            // Another replica may have created it at the same moment, or this role may not
            // create extensions that an administrator already did.
            let present: Option<i32> =
                sqlx::query_scalar("SELECT 1 FROM pg_extension WHERE extname = 'vector'").fetch_optional(pool).await?;
            if present.is_none() {
                return Err(e);
            }
        }
        for statement in MIGRATION {
            sqlx::query(statement).execute(pool).await?;
        }
        let (tx, rx) = tokio::sync::mpsc::channel(WRITE_QUEUE);
        let failing = Arc::new(AtomicBool::new(false));
        spawn_writer(pool.clone(), rx, failing.clone());
        Ok(PgIndex { pool: pool.clone(), writes: tx, failing })
    }

    /// The live row closest to `query` in the bucket, with its cosine similarity. Err: the
    /// database failed or was too slow.
    pub async fn nearest(
        &self,
        scope: &str,
        alias: &str,
        context: &[u8; 32],
        query: &[f32],
        now_ms: i64,
    ) -> Result<Option<(CacheKey, f32)>, ()> {
        let sql = "SELECT entry_key, embedding <=> $1::vector AS distance FROM semantic_cache
            WHERE scope = $2 AND alias = $3 AND context = $4 AND expires_ms > $5 AND vector_dims(embedding) = $6
            ORDER BY embedding <=> $1::vector LIMIT 1";
        let query = sqlx::query(sql)
            .bind(vector_text(query))
            .bind(scope)
            .bind(alias)
            .bind(hex(context))
            .bind(now_ms)
            .bind(i32::try_from(query.len()).unwrap_or(i32::MAX))
            .fetch_optional(&self.pool);
        let row = match tokio::time::timeout(LOOKUP_DEADLINE, query).await {
            Ok(Ok(row)) => row,
            Ok(Err(e)) => {
                note_failure(&self.failing, &format!("a semantic cache lookup in PostgreSQL failed ({e})"));
                return Err(());
            }
            Err(_) => {
                note_failure(&self.failing, "a semantic cache lookup in PostgreSQL timed out");
                return Err(());
            }
        };
        self.failing.store(false, Ordering::Relaxed);
        let Some(row) = row else { return Ok(None) };
        let (Ok(key), Ok(distance)) = (row.try_get::<String, _>("entry_key"), row.try_get::<f64, _>("distance")) else {
            return Ok(None);
        };
        let similarity = (1.0 - distance) as f32;
        Ok(parse_key(&key).filter(|_| similarity.is_finite()).map(|k| (k, similarity)))
    }

    pub fn insert(&self, row: Row) {
        if self.writes.try_send(row).is_err() {
            note_failure(&self.failing, "the semantic cache writer is behind; a question is not indexed");
        }
    }
}

fn note_failure(failing: &AtomicBool, message: &str) {
    if !failing.swap(true, Ordering::Relaxed) {
        tracing::warn!("{message}; answering as a miss");
    }
}

fn spawn_writer(pool: PgPool, mut rx: tokio::sync::mpsc::Receiver<Row>, failing: Arc<AtomicBool>) {
    #[expect(clippy::disallowed_methods, reason = "the one writer of the shared semantic index; ends with the app")]
    tokio::spawn(async move {
        let mut sweep = tokio::time::interval(SWEEP_EVERY);
        loop {
            tokio::select! {
                row = rx.recv() => {
                    let Some(row) = row else { break };
                    match tokio::time::timeout(WRITE_DEADLINE, write(&pool, &row)).await {
                        Ok(Ok(())) => failing.store(false, Ordering::Relaxed),
                        Ok(Err(e)) => note_failure(&failing, &format!("a question was not indexed in PostgreSQL ({e})")),
                        Err(_) => note_failure(&failing, "indexing a question in PostgreSQL timed out"),
                    }
                }
                _ = sweep.tick() => {
                    let delete = sqlx::query("DELETE FROM semantic_cache WHERE expires_ms <= $1")
                        .bind(crate::keys::now_ms())
                        .execute(&pool);
                    if let Ok(Err(e)) = tokio::time::timeout(WRITE_DEADLINE * 5, delete).await {
                        tracing::debug!(error = %e, "expired semantic cache rows were not deleted");
                    }
                }
            }
        }
    });
}

/// One row, replacing the same entry indexed before (a refreshed reply).
async fn write(pool: &PgPool, row: &Row) -> Result<(), sqlx::Error> {
    let (context, key) = (hex(&row.context), row.key.hex());
    let sql =
        "WITH gone AS (DELETE FROM semantic_cache WHERE scope = $1 AND alias = $2 AND context = $3 AND entry_key = $5)
        INSERT INTO semantic_cache (scope, alias, context, embedding, entry_key, expires_ms)
        VALUES ($1, $2, $3, $4::vector, $5, $6)";
    sqlx::query(sql)
        .bind(&row.scope)
        .bind(&row.alias)
        .bind(&context)
        .bind(vector_text(&row.vector))
        .bind(&key)
        .bind(row.expires_at_ms)
        .execute(pool)
        .await
        .map(|_| ())
}

/// `[0.1,0.2,…]`: pgvector's text form. Each float in its shortest exact form.
pub fn vector_text(v: &[f32]) -> String {
    let mut out = String::with_capacity(v.len() * 12 + 2);
    out.push('[');
    for (i, x) in v.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{x}");
    }
    out.push(']');
    out
}

fn hex(bytes: &[u8; 32]) -> String {
    CacheKey(*bytes).hex()
}

fn parse_key(text: &str) -> Option<CacheKey> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(CacheKey(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_and_keys_as_text() {
        assert_eq!(vector_text(&[0.1, -2.0, 1e-8]), "[0.1,-2,0.00000001]");
        let key = CacheKey([0xab; 32]);
        assert_eq!(parse_key(&key.hex()), Some(key));
        assert_eq!(parse_key("zz"), None);
        assert_eq!(parse_key(&"g".repeat(64)), None);
    }
}
