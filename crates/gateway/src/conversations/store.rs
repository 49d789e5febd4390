//! Stored responses in the ledger's database (SQLite or PostgreSQL): one `responses` table,
//! items as JSON text. A conversation is read back in one query (a recursive walk of
//! `previous_id`), whatever its length.

use sqlx::Row;

use super::Stored;
use crate::ledger::{on_pool, Store};

const MIGRATION: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS responses (
        id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        created_ms BIGINT NOT NULL,
        previous_id TEXT,
        input_items TEXT NOT NULL,
        response TEXT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS responses_owner ON responses (owner)",
    "CREATE INDEX IF NOT EXISTS responses_created ON responses (created_ms)",
];

/// The longest conversation read back; older turns beyond it are left out.
pub const MAX_TURNS: i64 = 10_000;

#[derive(Clone, Debug)]
pub struct ResponseStore(pub Store);

impl ResponseStore {
    pub async fn migrate(&self) -> Result<(), sqlx::Error> {
        for statement in MIGRATION {
            on_pool!(&self.0, pool => { sqlx::query(statement).execute(pool).await?; });
        }
        Ok(())
    }

    /// `items_json` and `response_json` are `s`'s input items and response as JSON text.
    pub async fn insert(&self, s: &Stored, items_json: &str, response_json: &str) -> Result<(), sqlx::Error> {
        let sql = "INSERT INTO responses (id, owner, created_ms, previous_id, input_items, response) \
            VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING";
        on_pool!(&self.0, pool => sqlx::query(sql)
            .bind(&s.id)
            .bind(&s.owner)
            .bind(s.created_ms)
            .bind(&s.previous_id)
            .bind(items_json)
            .bind(response_json)
            .execute(pool)
            .await?
            .rows_affected());
        Ok(())
    }

    /// `id` and the responses it continues, oldest first, as far as they are `owner`'s.
    pub async fn chain(&self, owner: &str, id: &str) -> Result<Vec<Stored>, sqlx::Error> {
        self.chain_limited(owner, id, MAX_TURNS).await
    }

    async fn chain_limited(&self, owner: &str, id: &str, max_depth: i64) -> Result<Vec<Stored>, sqlx::Error> {
        let sql = "WITH RECURSIVE chain(id, owner, created_ms, previous_id, input_items, response, depth) AS (
                SELECT id, owner, created_ms, previous_id, input_items, response, 0 FROM responses
                WHERE id = $1 AND owner = $2
                UNION ALL
                SELECT r.id, r.owner, r.created_ms, r.previous_id, r.input_items, r.response, chain.depth + 1
                FROM responses r JOIN chain ON r.id = chain.previous_id
                WHERE r.owner = $2 AND chain.depth < $3
            )
            SELECT id, owner, created_ms, previous_id, input_items, response FROM chain ORDER BY depth DESC";
        on_pool!(&self.0, pool => {
            let rows = sqlx::query(sql).bind(id).bind(owner).bind(max_depth).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                let items: String = r.try_get("input_items")?;
                let response: String = r.try_get("response")?;
                out.push(Stored {
                    id: r.try_get("id")?,
                    owner: r.try_get("owner")?,
                    created_ms: r.try_get("created_ms")?,
                    previous_id: r.try_get("previous_id")?,
                    input_items: match serde_json::from_str(&items) {
                        Ok(serde_json::Value::Array(items)) => items,
                        _ => Vec::new(),
                    },
                    response: serde_json::from_str(&response).unwrap_or_default(),
                });
            }
            Ok(out)
        })
    }

    pub async fn one(&self, owner: &str, id: &str) -> Result<Option<Stored>, sqlx::Error> {
        Ok(self.chain_limited(owner, id, 0).await?.pop())
    }

    /// False when `owner` has no such response.
    pub async fn delete(&self, owner: &str, id: &str) -> Result<bool, sqlx::Error> {
        let sql = "DELETE FROM responses WHERE id = $1 AND owner = $2";
        Ok(on_pool!(&self.0, pool => sqlx::query(sql).bind(id).bind(owner).execute(pool).await?.rows_affected()) > 0)
    }

    pub async fn delete_owner(&self, owner: &str) -> Result<u64, sqlx::Error> {
        let sql = "DELETE FROM responses WHERE owner = $1";
        Ok(on_pool!(&self.0, pool => sqlx::query(sql).bind(owner).execute(pool).await?.rows_affected()))
    }

    pub async fn delete_before(&self, before_ms: i64) -> Result<u64, sqlx::Error> {
        let sql = "DELETE FROM responses WHERE created_ms < $1";
        Ok(on_pool!(&self.0, pool => sqlx::query(sql).bind(before_ms).execute(pool).await?.rows_affected()))
    }
}
