//! Keys in the ledger's database (SQLite or PostgreSQL): one `keys` table, JSON text for lists.

use sqlx::Row;

use super::{KeyRecord, Period};
use crate::ledger::{on_pool, Store};

const MIGRATION: &str = "CREATE TABLE IF NOT EXISTS keys (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    owner TEXT,
    team TEXT,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT,
    revoked INTEGER NOT NULL DEFAULT 0,
    models TEXT NOT NULL,
    allowed_providers TEXT,
    allowed_regions TEXT,
    rpm BIGINT,
    tpm BIGINT,
    budget_nanos BIGINT,
    budget_period TEXT,
    viewer INTEGER NOT NULL DEFAULT 0,
    log_bodies INTEGER NOT NULL DEFAULT 0
)";

const SELECT: &str = "SELECT id, hash, name, owner, team, created_ms, expires_ms, revoked, models, \
    allowed_providers, allowed_regions, rpm, tpm, budget_nanos, budget_period, viewer, log_bodies FROM keys";

#[derive(Clone, Debug)]
pub struct KeyStore(pub Store);

impl KeyStore {
    pub async fn migrate(&self) -> Result<(), sqlx::Error> {
        on_pool!(&self.0, pool => { sqlx::query(MIGRATION).execute(pool).await?; });
        // Added after the table first shipped (the web console's viewer keys and body logging).
        for column in ["viewer", "log_bodies"] {
            match &self.0 {
                Store::Sqlite(pool) => {
                    let has: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pragma_table_info('keys') WHERE name = $1")
                        .bind(column)
                        .fetch_one(pool)
                        .await?;
                    if has == 0 {
                        let sql = format!("ALTER TABLE keys ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0");
                        sqlx::query(&sql).execute(pool).await?;
                    }
                }
                Store::Postgres(pool) => {
                    let sql = format!("ALTER TABLE keys ADD COLUMN IF NOT EXISTS {column} INTEGER NOT NULL DEFAULT 0");
                    sqlx::query(&sql).execute(pool).await?;
                }
            }
        }
        Ok(())
    }

    pub async fn insert(&self, k: &KeyRecord) -> Result<(), sqlx::Error> {
        let json = |v: &Option<Vec<String>>| v.as_ref().map(|v| serde_json::to_string(v).unwrap_or_default());
        let sql = "INSERT INTO keys (id, hash, name, owner, team, created_ms, expires_ms, revoked, models, \
            allowed_providers, allowed_regions, rpm, tpm, budget_nanos, budget_period, viewer, log_bodies) \
            VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9, $10, $11, $12, $13, $14, $15, $16)";
        on_pool!(&self.0, pool => sqlx::query(sql)
            .bind(&k.id)
            .bind(&k.hash)
            .bind(&k.name)
            .bind(&k.owner)
            .bind(&k.team)
            .bind(k.created_ms)
            .bind(k.expires_ms)
            .bind(serde_json::to_string(&k.models).unwrap_or_else(|_| "[]".into()))
            .bind(json(&k.allowed_providers))
            .bind(json(&k.allowed_regions))
            .bind(k.rpm.map(i64::from))
            .bind(k.tpm.map(|t| t as i64))
            .bind(k.budget_nanos)
            .bind(period_text(k.budget_period))
            .bind(i32::from(k.viewer))
            .bind(i32::from(k.log_bodies))
            .execute(pool)
            .await?
            .rows_affected());
        Ok(())
    }

    /// Marks a key revoked; false when no such key exists.
    pub async fn revoke(&self, id: &str) -> Result<bool, sqlx::Error> {
        let sql = "UPDATE keys SET revoked = 1 WHERE id = $1";
        let done = on_pool!(&self.0, pool => sqlx::query(sql).bind(id).execute(pool).await?.rows_affected());
        Ok(done > 0)
    }

    pub async fn all(&self) -> Result<Vec<KeyRecord>, sqlx::Error> {
        self.select(None).await
    }

    /// One key by id, revoked or not.
    pub async fn one(&self, id: &str) -> Result<Option<KeyRecord>, sqlx::Error> {
        Ok(self.select(Some(id)).await?.pop())
    }

    async fn select(&self, id: Option<&str>) -> Result<Vec<KeyRecord>, sqlx::Error> {
        let by_id = format!("{SELECT} WHERE id = $1");
        Ok(on_pool!(&self.0, pool => {
            let rows = match id {
                Some(id) => sqlx::query(&by_id).bind(id).fetch_all(pool).await?,
                None => sqlx::query(SELECT).fetch_all(pool).await?,
            };
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                let list = |c: &str| -> Result<Option<Vec<String>>, sqlx::Error> {
                    let text: Option<String> = r.try_get(c)?;
                    Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
                };
                let period: Option<String> = r.try_get("budget_period")?;
                out.push(KeyRecord {
                    id: r.try_get("id")?,
                    hash: r.try_get("hash")?,
                    name: r.try_get("name")?,
                    owner: r.try_get("owner")?,
                    team: r.try_get("team")?,
                    created_ms: r.try_get("created_ms")?,
                    expires_ms: r.try_get("expires_ms")?,
                    revoked: r.try_get::<i32, _>("revoked")? != 0,
                    models: list("models")?.unwrap_or_default(),
                    allowed_providers: list("allowed_providers")?,
                    allowed_regions: list("allowed_regions")?,
                    rpm: r.try_get::<Option<i64>, _>("rpm")?.and_then(|v| u32::try_from(v).ok()),
                    tpm: r.try_get::<Option<i64>, _>("tpm")?.and_then(|v| u64::try_from(v).ok()),
                    budget_nanos: r.try_get("budget_nanos")?,
                    budget_period: period.and_then(|p| serde_json::from_value::<Period>(serde_json::Value::String(p)).ok()),
                    viewer: r.try_get::<i32, _>("viewer")? != 0,
                    log_bodies: r.try_get::<i32, _>("log_bodies")? != 0,
                });
            }
            out
        }))
    }

    /// Writes a key's limits, models and expiry as `k` has them; false when no key with its id
    /// is active (none, or revoked).
    pub async fn update_limits(&self, k: &KeyRecord) -> Result<bool, sqlx::Error> {
        let sql = "UPDATE keys SET expires_ms = $2, models = $3, rpm = $4, tpm = $5, budget_nanos = $6, \
            budget_period = $7 WHERE id = $1 AND revoked = 0";
        let done = on_pool!(&self.0, pool => sqlx::query(sql)
            .bind(&k.id)
            .bind(k.expires_ms)
            .bind(serde_json::to_string(&k.models).unwrap_or_else(|_| "[]".into()))
            .bind(k.rpm.map(i64::from))
            .bind(k.tpm.map(|t| i64::try_from(t).unwrap_or(i64::MAX)))
            .bind(k.budget_nanos)
            .bind(period_text(k.budget_period))
            .execute(pool)
            .await?
            .rows_affected());
        Ok(done > 0)
    }

    /// What a key has spent since `since_ms`, in nano-dollars, from the ledger.
    pub async fn spent_since(&self, key_id: &str, since_ms: i64) -> Result<i64, sqlx::Error> {
        let sql = format!(
            "SELECT CAST(cost_hi AS BIGINT), CAST(cost_lo AS BIGINT) FROM (SELECT {} FROM ledger \
             WHERE key_id = $1 AND at_unix_ms >= $2) AS parts",
            crate::ledger::split_sum("cost_nanos", "cost")
        );
        let (hi, lo): (Option<i64>, Option<i64>) =
            on_pool!(&self.0, pool => sqlx::query_as(&sql).bind(key_id).bind(since_ms).fetch_one(pool).await?);
        Ok(crate::ledger::join_parts(hi, lo))
    }
}

/// A budget period as stored: `day`, `week`, `month`, `total`.
fn period_text(p: Option<Period>) -> Option<String> {
    serde_json::to_value(p?).ok().and_then(|v| v.as_str().map(str::to_owned))
}
