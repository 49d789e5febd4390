//! Where ledger rows live: one SQLite file (WAL) by default, or PostgreSQL. Same table and
//! queries for both; migrations run at start (the audit log's and the console's tables too:
//! they live in the same database). A row is written at most once: a request's attempt is unique, and inserting it
//! again does nothing.

use std::collections::HashSet;
use std::str::FromStr;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use super::Entry;

/// An entry's columns, in the order rows are written and read.
pub(super) const COLUMNS: &str =
    "request_id, at_unix_ms, key_id, team, alias, deployment, provider, model, input_tokens, \
    output_tokens, cached_tokens, cache_write_tokens, reasoning_tokens, cost_nanos, status, outcome, latency_ms, \
    ttft_ms, stream, cancelled, cache, saved_nanos, attempt";

const MIGRATION: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS ledger (
        id BIGSERIAL_OR_INTEGER,
        request_id TEXT NOT NULL,
        at_unix_ms BIGINT NOT NULL,
        key_id TEXT,
        team TEXT,
        alias TEXT NOT NULL,
        deployment TEXT NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        input_tokens BIGINT NOT NULL,
        output_tokens BIGINT NOT NULL,
        cached_tokens BIGINT NOT NULL,
        cache_write_tokens BIGINT NOT NULL,
        reasoning_tokens BIGINT NOT NULL,
        cost_nanos BIGINT,
        status INTEGER NOT NULL,
        outcome TEXT NOT NULL,
        latency_ms BIGINT NOT NULL,
        ttft_ms BIGINT,
        stream BOOLEAN NOT NULL,
        cancelled BOOLEAN NOT NULL,
        cache TEXT,
        saved_nanos BIGINT,
        attempt INTEGER NOT NULL DEFAULT 0
    )",
    "CREATE INDEX IF NOT EXISTS ledger_at ON ledger (at_unix_ms)",
    "CREATE INDEX IF NOT EXISTS ledger_key_at ON ledger (key_id, at_unix_ms)",
    // Rows older than the retention period are folded into one row per day and group.
    "CREATE TABLE IF NOT EXISTS ledger_daily (
        day_ms BIGINT NOT NULL,
        key_id TEXT,
        team TEXT,
        alias TEXT NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        requests BIGINT NOT NULL,
        input_tokens BIGINT NOT NULL,
        output_tokens BIGINT NOT NULL,
        cost_nanos BIGINT NOT NULL,
        unpriced BIGINT NOT NULL,
        saved_nanos BIGINT NOT NULL DEFAULT 0
    )",
    "CREATE INDEX IF NOT EXISTS ledger_daily_day ON ledger_daily (day_ms)",
    // Days before `rolled_until` are in ledger_daily; spend reads them from there.
    "CREATE TABLE IF NOT EXISTS ledger_rollup (id INTEGER PRIMARY KEY, rolled_until BIGINT NOT NULL)",
    // Who changed what (keys, config): see `crate::audit`.
    "CREATE TABLE IF NOT EXISTS audit_log (
        id BIGSERIAL_OR_INTEGER,
        at_unix_ms BIGINT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        subject TEXT NOT NULL,
        detail TEXT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at_unix_ms)",
    // The console's: sessions by the hash of their token (see `crate::console::session`),
    // summaries of settled hours and how far rows were checked for them
    // (`crate::console::hours`), and request bodies for those who asked (`crate::console::bodies`).
    "CREATE TABLE IF NOT EXISTS console_sessions (
        token_hash TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        key_id TEXT,
        key_hash TEXT,
        master_hash TEXT,
        csrf TEXT NOT NULL,
        expires_ms BIGINT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS console_hours (
        hour_ms BIGINT PRIMARY KEY,
        format BIGINT NOT NULL,
        slice TEXT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS console_checked (
        id INTEGER PRIMARY KEY,
        through_row_id BIGINT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS request_bodies (
        request_id TEXT PRIMARY KEY,
        at_unix_ms BIGINT NOT NULL,
        because TEXT NOT NULL,
        prompt TEXT NOT NULL,
        completion TEXT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS request_bodies_at ON request_bodies (at_unix_ms)",
];

/// Indexes over columns of [`ADDED_COLUMNS`], made once those exist.
const AFTER_ADDED_COLUMNS: &[&str] = &[
    // A retried batch whose first commit went through writes nothing twice. Rows from before
    // attempts were numbered (0) may share a request id, so they are left out of the index.
    "CREATE UNIQUE INDEX IF NOT EXISTS ledger_request_attempt ON ledger (request_id, attempt) WHERE attempt > 0",
];

/// Columns added after the tables first shipped: added to a database made before them.
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    ("ledger", "cache", "TEXT"),
    ("ledger", "saved_nanos", "BIGINT"),
    ("ledger_daily", "saved_nanos", "BIGINT NOT NULL DEFAULT 0"),
    ("ledger", "attempt", "INTEGER NOT NULL DEFAULT 0"),
];

const DAY_MS: i64 = 86_400_000;
/// The longest a caller waits for a PostgreSQL connection.
const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);
/// The most rows one INSERT statement carries. A batch is written as statements of powers of
/// two up to this (37 rows: 32 + 4 + 1), so there are seven statement shapes: each is prepared
/// once and stays in the connection's statement cache, instead of one shape per batch size,
/// each a big prepared program, and a batch of a size not seen before paying for a prepare.
const ROWS_PER_STATEMENT: usize = 64;

/// The statement sizes a batch of `rows` is written in: the largest power of two that fits
/// (at most [`ROWS_PER_STATEMENT`]), then the same for the rest.
fn statement_sizes(mut rows: usize) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        let size = match rows {
            0 => return None,
            n => (1 << n.ilog2()).min(ROWS_PER_STATEMENT),
        };
        rows -= size;
        Some(size)
    })
}

/// Binds one ledger row's columns, in [`COLUMNS`] order, to a query.
macro_rules! bind_entry {
    ($q:expr, $e:ident) => {
        $q.bind(&$e.request_id)
            .bind($e.at_unix_ms)
            .bind(&$e.key_id)
            .bind(&$e.team)
            .bind(&$e.alias)
            .bind(&$e.deployment)
            .bind(&$e.provider)
            .bind(&$e.model)
            .bind($e.input_tokens)
            .bind($e.output_tokens)
            .bind($e.cached_tokens)
            .bind($e.cache_write_tokens)
            .bind($e.reasoning_tokens)
            .bind($e.cost_nanos)
            .bind($e.status)
            .bind(&$e.outcome)
            .bind($e.latency_ms)
            .bind($e.ttft_ms)
            .bind($e.stream)
            .bind($e.cancelled)
            .bind(&$e.cache)
            .bind($e.saved_nanos)
            .bind($e.attempt)
    };
}

/// How many columns a ledger row binds.
const ROW_COLUMNS: usize = 23;

/// The INSERT of `rows` ledger rows (a power of two up to [`ROWS_PER_STATEMENT`]; another
/// count is rounded down to one), placeholders numbered (`$1`, PostgreSQL) or not (`?`,
/// SQLite). Each shape's text is made once per process.
fn insert_sql(rows: usize, numbered: bool) -> &'static str {
    const SHAPES_PER_KIND: usize = ROWS_PER_STATEMENT.ilog2() as usize + 1;
    static SHAPES: [[std::sync::OnceLock<String>; SHAPES_PER_KIND]; 2] =
        [const { [const { std::sync::OnceLock::new() }; SHAPES_PER_KIND] }; 2];
    let shape = rows.clamp(1, ROWS_PER_STATEMENT).ilog2() as usize;
    let rows = 1 << shape;
    SHAPES[usize::from(numbered)][shape].get_or_init(|| {
        let mut sql = format!("INSERT INTO ledger ({COLUMNS}) VALUES ");
        for row in 0..rows {
            sql.push_str(if row == 0 { "(" } else { ", (" });
            for column in 0..ROW_COLUMNS {
                if column > 0 {
                    sql.push_str(", ");
                }
                if numbered {
                    sql.push('$');
                    sql.push_str(itoa::Buffer::new().format(row * ROW_COLUMNS + column + 1));
                } else {
                    sql.push('?');
                }
            }
            sql.push(')');
        }
        sql.push_str(" ON CONFLICT DO NOTHING");
        sql
    })
}

/// What tells two ledger rows apart: request id, attempt time, deployment and status.
pub type RowIdentity = (String, i64, String, i32);

#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Lowers the priority of sqlx's SQLite worker threads (see [`crate::background`]); called
/// once a connection (and so its thread) exists.
pub(crate) fn lower_sqlite_workers() -> Result<(), sqlx::Error> {
    // Thread names are cut at 15 bytes: "sqlx-sqlite-worker-N" reads "sqlx-sqlite-wor".
    crate::background::lower_threads_named("sqlx-sqlite-wor");
    Ok(())
}

impl Store {
    /// `sqlite://path` (created if missing), `sqlite::memory:`, or `postgres://…`.
    pub async fn open(url: &str) -> Result<Store, sqlx::Error> {
        let store = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            // While PostgreSQL is down a connection is retried until this passes: callers (the
            // admin API, stored responses) answer with an error instead of waiting 30 s.
            let options = PgPoolOptions::new().max_connections(4).acquire_timeout(ACQUIRE_TIMEOUT);
            Store::Postgres(options.connect(url).await?)
        } else {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                // Space freed by retention is returned to the file system, a little at a time.
                .auto_vacuum(sqlx::sqlite::SqliteAutoVacuum::Incremental)
                .journal_mode(SqliteJournalMode::Wal)
                // WAL with NORMAL is durable across process crashes; only an OS crash can lose
                // the last commits.
                .synchronous(SqliteSynchronous::Normal)
                // A multi-row INSERT into a table with a unique index keeps a statement journal,
                // by default in a temporary file opened, written and deleted for every batch:
                // in memory it costs no system calls.
                .pragma("temp_store", "memory")
                .busy_timeout(std::time::Duration::from_secs(5));
            // One writer connection: SQLite serializes writes anyway. Its worker thread (sqlx
            // runs one per connection) commits below the request path's priority.
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .after_connect(|_, _| Box::pin(async { lower_sqlite_workers() }))
                .connect_with(options)
                .await?;
            Store::Sqlite(pool)
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), sqlx::Error> {
        for statement in MIGRATION {
            match self {
                Store::Sqlite(pool) => {
                    let sql = statement.replace("BIGSERIAL_OR_INTEGER", "INTEGER PRIMARY KEY AUTOINCREMENT");
                    sqlx::query(&sql).execute(pool).await?;
                }
                Store::Postgres(pool) => {
                    let sql = statement.replace("BIGSERIAL_OR_INTEGER", "BIGSERIAL PRIMARY KEY");
                    sqlx::query(&sql).execute(pool).await?;
                }
            }
        }
        for (table, column, decl) in ADDED_COLUMNS {
            match self {
                Store::Sqlite(pool) => {
                    // SQLite has no `ADD COLUMN IF NOT EXISTS`.
                    let has: i64 = sqlx::query_scalar(&format!(
                        "SELECT COUNT(*) FROM pragma_table_info('{table}') WHERE name = '{column}'"
                    ))
                    .fetch_one(pool)
                    .await?;
                    if has == 0 {
                        sqlx::query(&format!("ALTER TABLE {table} ADD COLUMN {column} {decl}")).execute(pool).await?;
                    }
                }
                Store::Postgres(pool) => {
                    let sql = format!("ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {decl}");
                    sqlx::query(&sql).execute(pool).await?;
                }
            }
        }
        for statement in AFTER_ADDED_COLUMNS {
            match self {
                Store::Sqlite(pool) => {
                    sqlx::query(statement).execute(pool).await?;
                }
                Store::Postgres(pool) => {
                    sqlx::query(statement).execute(pool).await?;
                }
            }
        }
        Ok(())
    }

    /// True when `e` means the database answered and refused the rows themselves (a value it
    /// cannot store, a constraint), so sending them again cannot help; false for everything
    /// else — connections, time-outs, a full disk, locks, shutdown — which may pass.
    pub fn refuses_rows(&self, e: &sqlx::Error) -> bool {
        let db = match e {
            sqlx::Error::Encode(_) => return true,
            sqlx::Error::Database(db) => db,
            _ => return false,
        };
        if !matches!(db.kind(), sqlx::error::ErrorKind::Other) {
            // Unique, foreign key, not-null or check violation.
            return true;
        }
        let code = db.code().unwrap_or_default();
        match self {
            // Result codes: 18 TOOBIG, 20 MISMATCH (19 CONSTRAINT is covered by its kind). The
            // low byte is the primary code of an extended one.
            Store::Sqlite(_) => code.parse::<i32>().is_ok_and(|c| (18..=20).contains(&(c & 0xff))),
            // SQLSTATE class 22: data exception (a NUL in text, a value out of range); 23:
            // integrity constraint violation.
            Store::Postgres(_) => code.starts_with("22") || code.starts_with("23"),
        }
    }

    /// One transaction for the whole batch, written as statements of [`statement_sizes`], so
    /// the database prepares each statement shape once and reuses it. A row whose
    /// request id and attempt (numbered, > 0) the ledger already holds is skipped, so a batch
    /// may be sent again when its commit's answer was lost. Returns the rows written.
    pub async fn insert(&self, rows: &[Entry]) -> Result<u64, sqlx::Error> {
        let mut written = 0;
        let numbered = matches!(self, Store::Postgres(_));
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let mut rest = rows;
            for size in statement_sizes(rows.len()) {
                let (chunk, after) = rest.split_at(size);
                rest = after;
                let mut q = sqlx::query(insert_sql(size, numbered));
                for e in chunk {
                    q = bind_entry!(q, e);
                }
                written += q.persistent(true).execute(&mut *tx).await?.rows_affected();
            }
            tx.commit().await?;
        });
        Ok(written)
    }

    /// Daily upkeep: every whole day before today is summed into `ledger_daily` (once), and
    /// per-request rows older than `keep_ms` are deleted. Spend then reads whole days from the
    /// rollups and only today's rows from the ledger, so it stays fast however many rows there
    /// are. One transaction per day. Returns the rows deleted.
    pub async fn compact(&self, keep_ms: i64, now_ms: i64) -> Result<u64, sqlx::Error> {
        let today = now_ms - now_ms.rem_euclid(DAY_MS);
        let mut day = match self.rolled_until().await? {
            0 => match self.scalar_opt("SELECT MIN(at_unix_ms) FROM ledger").await? {
                Some(oldest) => oldest - oldest.rem_euclid(DAY_MS),
                None => today,
            },
            until => until,
        };
        let fold = "INSERT INTO ledger_daily (day_ms, key_id, team, alias, provider, model, requests, input_tokens, \
            output_tokens, cost_nanos, unpriced, saved_nanos) \
            SELECT $1, key_id, team, alias, provider, model, COUNT(*), SUM(input_tokens), SUM(output_tokens), \
            COALESCE(SUM(cost_nanos), 0), SUM(CASE WHEN cost_nanos IS NULL AND status < 400 THEN 1 ELSE 0 END), \
            COALESCE(SUM(saved_nanos), 0) \
            FROM ledger WHERE at_unix_ms >= $1 AND at_unix_ms < $2 GROUP BY key_id, team, alias, provider, model";
        let mark = "UPDATE ledger_rollup SET rolled_until = $1 WHERE id = 1";
        while day < today {
            let end = day + DAY_MS;
            match self {
                Store::Sqlite(pool) => {
                    let mut tx = pool.begin().await?;
                    sqlx::query(fold).bind(day).bind(end).execute(&mut *tx).await?;
                    sqlx::query(mark).bind(end).execute(&mut *tx).await?;
                    tx.commit().await?;
                }
                Store::Postgres(pool) => {
                    let mut tx = pool.begin().await?;
                    sqlx::query(fold).bind(day).bind(end).execute(&mut *tx).await?;
                    sqlx::query(mark).bind(end).execute(&mut *tx).await?;
                    tx.commit().await?;
                }
            }
            day = end;
        }
        // Only rolled-up days are deleted, and only past the retention period.
        let cutoff = (now_ms - keep_ms).min(today);
        let cutoff = cutoff - cutoff.rem_euclid(DAY_MS);
        let delete = "DELETE FROM ledger WHERE at_unix_ms < $1";
        let deleted = match self {
            Store::Sqlite(pool) => {
                let n = sqlx::query(delete).bind(cutoff).execute(pool).await?.rows_affected();
                sqlx::query("PRAGMA incremental_vacuum").execute(pool).await?;
                n
            }
            Store::Postgres(pool) => sqlx::query(delete).bind(cutoff).execute(pool).await?.rows_affected(),
        };
        Ok(deleted)
    }

    async fn rolled_until(&self) -> Result<i64, sqlx::Error> {
        let init = "INSERT INTO ledger_rollup (id, rolled_until) SELECT 1, 0 WHERE NOT EXISTS (SELECT 1 FROM ledger_rollup WHERE id = 1)";
        match self {
            Store::Sqlite(pool) => {
                sqlx::query(init).execute(pool).await?;
            }
            Store::Postgres(pool) => {
                sqlx::query(init).execute(pool).await?;
            }
        }
        Ok(self.scalar_opt("SELECT rolled_until FROM ledger_rollup WHERE id = 1").await?.unwrap_or(0))
    }

    async fn scalar_opt(&self, sql: &str) -> Result<Option<i64>, sqlx::Error> {
        Ok(match self {
            Store::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await?,
            Store::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await?,
        })
    }

    /// Spend grouped by one column since a time: `(group, requests, input, output, cost_nanos,
    /// unpriced rows)`, most expensive first.
    pub async fn spend(&self, by: SpendBy, since_unix_ms: i64) -> Result<Vec<SpendRow>, sqlx::Error> {
        let column = by.column();
        // Rolled-up whole days from their rollups (the day `since` falls in counts whole), the
        // rest from the ledger's own rows.
        let rolled = self.rolled_until().await?;
        // Every sum is taken in two parts, whole billions and the rest, and joined in i128:
        // no total of any number of rows can overflow a 64-bit SQL sum.
        let sql = format!(
            "SELECT grp, CAST(SUM(requests) AS BIGINT), \
             CAST(SUM(in_hi) AS BIGINT), CAST(SUM(in_lo) AS BIGINT), \
             CAST(SUM(out_hi) AS BIGINT), CAST(SUM(out_lo) AS BIGINT), \
             CAST(SUM(cost_hi) AS BIGINT), CAST(SUM(cost_lo) AS BIGINT), CAST(SUM(unpriced) AS BIGINT), \
             CAST(SUM(saved_hi) AS BIGINT), CAST(SUM(saved_lo) AS BIGINT) FROM ( \
               SELECT COALESCE({column}, '(none)') AS grp, COUNT(*) AS requests, \
               {ledger_parts}, \
               SUM(CASE WHEN cost_nanos IS NULL AND status < 400 THEN 1 ELSE 0 END) AS unpriced, {saved} \
               FROM ledger WHERE at_unix_ms >= $1 AND at_unix_ms >= $2 GROUP BY grp \
               UNION ALL \
               SELECT COALESCE({daily}, '(none)') AS grp, SUM(requests), {ledger_parts}, \
               SUM(unpriced), {saved} FROM ledger_daily \
               WHERE day_ms >= $1 - {DAY_MS} + 1 AND day_ms < $2 GROUP BY grp \
             ) AS parts GROUP BY grp",
            daily = if column == "deployment" { "provider" } else { column },
            ledger_parts = [("input_tokens", "in"), ("output_tokens", "out"), ("cost_nanos", "cost")]
                .iter()
                .map(|(col, name)| split_sum(col, name))
                .collect::<Vec<_>>()
                .join(", "),
            saved = split_sum("saved_nanos", "saved"),
        );
        type Parts = (
            String,
            i64,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            i64,
            Option<i64>,
            Option<i64>,
        );
        let rows: Vec<Parts> = match self {
            Store::Sqlite(pool) => sqlx::query_as(&sql).bind(since_unix_ms).bind(rolled).fetch_all(pool).await?,
            Store::Postgres(pool) => sqlx::query_as(&sql).bind(since_unix_ms).bind(rolled).fetch_all(pool).await?,
        };
        let mut out: Vec<SpendRow> = rows
            .into_iter()
            .map(|(group, requests, in_hi, in_lo, out_hi, out_lo, cost_hi, cost_lo, unpriced, saved_hi, saved_lo)| {
                SpendRow {
                    group,
                    requests,
                    input_tokens: join_parts(in_hi, in_lo),
                    output_tokens: join_parts(out_hi, out_lo),
                    cost_nanos: join_parts(cost_hi, cost_lo),
                    unpriced,
                    saved_nanos: join_parts(saved_hi, saved_lo),
                }
            })
            .collect();
        out.sort_by(|a, b| b.cost_nanos.cmp(&a.cost_nanos).then_with(|| a.group.cmp(&b.group)));
        Ok(out)
    }

    /// The identity (request id, attempt time, deployment, status) of every row written between
    /// two times, inclusive: what makes a spill-file import safe to repeat, in one query.
    pub async fn identities_between(&self, from_ms: i64, to_ms: i64) -> Result<HashSet<RowIdentity>, sqlx::Error> {
        let sql = "SELECT request_id, at_unix_ms, deployment, status FROM ledger \
                   WHERE at_unix_ms >= $1 AND at_unix_ms <= $2";
        let rows: Vec<RowIdentity> = match self {
            Store::Sqlite(pool) => sqlx::query_as(sql).bind(from_ms).bind(to_ms).fetch_all(pool).await?,
            Store::Postgres(pool) => sqlx::query_as(sql).bind(from_ms).bind(to_ms).fetch_all(pool).await?,
        };
        Ok(rows.into_iter().collect())
    }

    /// How many rows carry this request id (for crash tests and audits).
    pub async fn count(&self) -> Result<i64, sqlx::Error> {
        let sql = "SELECT COUNT(*) FROM ledger";
        Ok(match self {
            Store::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await?,
            Store::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await?,
        })
    }
}

/// The base of a split sum: whole billions and the remainder are summed apart.
const SPLIT: i64 = 1_000_000_000;

/// `SUM(col / 1e9) AS name_hi, SUM(col % 1e9) AS name_lo`: each part stays far below the
/// 64-bit limit for any number of rows a database can hold.
pub(crate) fn split_sum(column: &str, name: &str) -> String {
    format!("COALESCE(SUM({column} / {SPLIT}), 0) AS {name}_hi, COALESCE(SUM({column} % {SPLIT}), 0) AS {name}_lo")
}

/// Joins a split sum exactly, saturating at the 64-bit limit rather than failing.
pub(crate) fn join_parts(hi: Option<i64>, lo: Option<i64>) -> i64 {
    let total = i128::from(hi.unwrap_or(0)) * i128::from(SPLIT) + i128::from(lo.unwrap_or(0));
    i64::try_from(total).unwrap_or(if total < 0 { i64::MIN } else { i64::MAX })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpendBy {
    Key,
    Team,
    Model,
    Provider,
    Alias,
}

impl SpendBy {
    pub fn parse(s: &str) -> Option<SpendBy> {
        Some(match s {
            "key" => SpendBy::Key,
            "team" => SpendBy::Team,
            "model" => SpendBy::Model,
            "provider" => SpendBy::Provider,
            "alias" => SpendBy::Alias,
            _ => return None,
        })
    }

    fn column(self) -> &'static str {
        match self {
            SpendBy::Key => "key_id",
            SpendBy::Team => "team",
            SpendBy::Model => "model",
            SpendBy::Provider => "provider",
            SpendBy::Alias => "alias",
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SpendRow {
    pub group: String,
    pub requests: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_nanos: i64,
    pub unpriced: i64,
    /// What cache hits saved: what their replies cost when a provider gave them.
    pub saved_nanos: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_insert_shape_is_written_once_with_a_placeholder_per_column() {
        let sqlite = insert_sql(4, false);
        assert_eq!(sqlite.matches('?').count(), 4 * ROW_COLUMNS);
        assert_eq!(COLUMNS.split(',').count(), ROW_COLUMNS);
        assert!(sqlite.ends_with(") ON CONFLICT DO NOTHING"), "{sqlite}");
        let postgres = insert_sql(2, true);
        assert!(postgres.contains("($24, $25,") && postgres.contains(", $46) ON CONFLICT"), "{postgres}");
        assert!(!postgres.contains("$47"));
        // Made once: the same text is handed out again, not a new copy.
        assert!(std::ptr::eq(insert_sql(4, false), sqlite));
        assert_eq!(insert_sql(ROWS_PER_STATEMENT, false).matches('?').count(), ROWS_PER_STATEMENT * ROW_COLUMNS);
        // A count between powers of two is the shape below it, never more placeholders than rows.
        assert!(std::ptr::eq(insert_sql(7, false), sqlite));
        assert!(std::ptr::eq(insert_sql(1000, false), insert_sql(ROWS_PER_STATEMENT, false)));
    }

    #[test]
    fn a_batch_is_written_in_powers_of_two_largest_first_and_nothing_is_left_out() {
        assert_eq!(statement_sizes(37).collect::<Vec<_>>(), [32, 4, 1]);
        assert_eq!(statement_sizes(64).collect::<Vec<_>>(), [64]);
        assert_eq!(statement_sizes(200).collect::<Vec<_>>(), [64, 64, 64, 8]);
        assert_eq!(statement_sizes(0).count(), 0);
        for rows in 0..=1_000 {
            let sizes: Vec<usize> = statement_sizes(rows).collect();
            assert_eq!(sizes.iter().sum::<usize>(), rows);
            assert!(sizes.iter().all(|s| s.is_power_of_two() && *s <= ROWS_PER_STATEMENT), "{rows}: {sizes:?}");
            assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{rows}: {sizes:?}");
        }
    }
}
