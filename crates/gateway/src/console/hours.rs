//! The console's hourly [`Slice`]s of the ledger, kept once an hour has settled
//! ([`SETTLE_MS`]): in memory, and in the database's `console_hours` table, so a chart over 30
//! days reads at most the last hour or two of rows, and a restarted gateway — or another
//! replica on the same database — starts from the kept hours instead of reading the rows again.
//! The first time, a background task reads the settled hours newest first ([`Hours::warm`]).
//!
//! Rows can arrive after their hour was kept: a spill file imported after a database outage,
//! rows queued while it was down. Every row written since the last look is checked for the hour
//! it belongs to ([`Hours::forget_late_rows`]), and a kept hour it lands in is dropped, here and
//! in the table, to be read again. How far the rows have been looked at is kept in the table
//! `console_checked`, so a restart picks up where the last look stopped.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use super::stats::{slices, Slice, HOUR_MS, KEEP_HOURS, SETTLE_MS};
use super::Db;
use crate::ledger::{on_pool, Store};

/// Ids just below the last one looked at are looked at again: PostgreSQL may commit rows of
/// concurrent writers out of id order.
const ID_MARGIN: i64 = 1_000;
/// Past this many new rows, the kept hours are dropped and read again instead.
const RECHECK_MAX: i64 = 5_000_000;
/// How long one page may spend reading past hours not kept yet (on a new ledger database, or
/// after late rows landed in them); the background fill reads the rest, and the page asks again.
pub const READ_BUDGET: std::time::Duration = std::time::Duration::from_millis(300);
/// The shape of a kept slice: rows of another shape are read again rather than trusted.
const FORMAT: i64 = 1;

/// The hourly slices, and whether the background fill has started.
#[derive(Debug, Default)]
pub struct Hours {
    kept: Mutex<BTreeMap<i64, Arc<Slice>>>,
    warming: AtomicBool,
    /// The last row id looked at for rows of kept hours written late (None: none kept yet).
    /// Held while an hour is read, so reading and looking never overlap.
    seen: tokio::sync::Mutex<Option<i64>>,
    /// The kept hours were loaded from the table (once per process).
    loaded: OnceCell<()>,
}

impl Hours {
    pub fn cached(&self, hour_ms: i64) -> Option<Arc<Slice>> {
        self.kept.lock().unwrap_or_else(|e| e.into_inner()).get(&hour_ms).cloned()
    }

    /// Loads (once) the hours kept in the table, and how far rows were looked at for them.
    pub async fn load(&self, db: &Db, now_ms: i64) -> Result<(), sqlx::Error> {
        self.loaded
            .get_or_try_init(|| async {
                // How far first, then the hours: an hour dropped in between is found again.
                let checked = checked_through(&db.write).await?;
                let oldest = now_ms - KEEP_HOURS * HOUR_MS;
                let sql = "DELETE FROM console_hours WHERE hour_ms < $1 OR format <> $2";
                on_pool!(&db.write, pool => sqlx::query(sql).bind(oldest).bind(FORMAT).execute(pool).await.map(|_| ())?);
                let sql = "SELECT hour_ms, slice FROM console_hours";
                let rows: Vec<(i64, String)> = on_pool!(&db.write, pool => sqlx::query_as(sql).fetch_all(pool).await?);
                let mut kept = BTreeMap::new();
                for (hour, text) in rows {
                    match serde_json::from_str::<Slice>(&text) {
                        Ok(s) if s.well_formed() => {
                            kept.insert(hour, Arc::new(s));
                        }
                        _ => tracing::debug!(hour, "console: a kept hour could not be read back; reading its rows again"),
                    }
                }
                if checked.is_some() {
                    *self.seen.lock().await = checked;
                    self.kept.lock().unwrap_or_else(|e| e.into_inner()).extend(kept);
                }
                Ok::<(), sqlx::Error>(())
            })
            .await
            .map(|_| ())
    }

    /// Drops the kept hours that rows written since the last look belong to: rows arrive late
    /// when a spill file is imported after a database outage. Reads only the rows written since.
    pub async fn forget_late_rows(&self, db: &Db) -> Result<(), sqlx::Error> {
        let mut seen = self.seen.lock().await;
        let Some(last) = *seen else { return Ok(()) };
        let newest = db.read.max_row_id().await?;
        if newest <= last {
            return Ok(());
        }
        // SQLite commits ids in order; PostgreSQL's concurrent writers may not.
        let margin = if matches!(db.read, Store::Postgres(_)) { ID_MARGIN } else { 0 };
        let settled = crate::keys::now_ms() - SETTLE_MS;
        let late = if newest - last > RECHECK_MAX {
            None
        } else {
            let hours = db.read.hours_written_between(last - margin, newest).await?;
            // Only settled hours are kept: rows of the others are not late.
            Some(hours.into_iter().filter(|&h| h + HOUR_MS <= settled))
        };
        match late {
            None => {
                on_pool!(&db.write, pool => sqlx::query("DELETE FROM console_hours").execute(pool).await.map(|_| ())?);
                self.kept.lock().unwrap_or_else(|e| e.into_inner()).clear();
                self.warming.store(false, Ordering::Relaxed);
            }
            Some(hours) => {
                for h in hours {
                    let sql = "DELETE FROM console_hours WHERE hour_ms = $1";
                    on_pool!(&db.write, pool => sqlx::query(sql).bind(h).execute(pool).await.map(|_| ())?);
                    self.kept.lock().unwrap_or_else(|e| e.into_inner()).remove(&h);
                }
            }
        }
        let sql = "UPDATE console_checked SET through_row_id = $1 WHERE id = 1 AND through_row_id < $1";
        on_pool!(&db.write, pool => sqlx::query(sql).bind(newest).execute(pool).await.map(|_| ())?);
        *seen = Some(newest);
        Ok(())
    }

    /// The hour starting at `hour_ms`: kept, or read (and kept once it has settled).
    pub async fn hour(&self, db: &Db, hour_ms: i64, now_ms: i64) -> Result<Arc<Slice>, sqlx::Error> {
        if let Some(s) = self.cached(hour_ms) {
            return Ok(s);
        }
        let mut seen = self.seen.lock().await;
        if let Some(s) = self.cached(hour_ms) {
            return Ok(s); // read by someone else while this waited
        }
        if seen.is_none() {
            // Rows written from here on are looked at by `forget_late_rows`; the first process
            // to keep an hour says so in the table, before it keeps any.
            let newest = db.read.max_row_id().await?;
            let sql = "INSERT INTO console_checked (id, through_row_id) VALUES (1, $1) ON CONFLICT DO NOTHING";
            on_pool!(&db.write, pool => sqlx::query(sql).bind(newest).execute(pool).await.map(|_| ())?);
            *seen = Some(checked_through(&db.write).await?.unwrap_or(newest).min(newest));
        }
        let slice = Arc::new(slices(&db.read, hour_ms, hour_ms + HOUR_MS, HOUR_MS).await?.pop().unwrap_or_default());
        if hour_ms + HOUR_MS + SETTLE_MS <= now_ms {
            let text = serde_json::to_string(&*slice).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
            let sql = "INSERT INTO console_hours (hour_ms, format, slice) VALUES ($1, $2, $3) \
                       ON CONFLICT (hour_ms) DO UPDATE SET format = excluded.format, slice = excluded.slice";
            on_pool!(&db.write, pool => sqlx::query(sql).bind(hour_ms).bind(FORMAT).bind(&text).execute(pool).await.map(|_| ())?);
            let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
            kept.insert(hour_ms, slice.clone());
            let oldest = now_ms - KEEP_HOURS * HOUR_MS;
            while kept.first_key_value().is_some_and(|(&h, _)| h < oldest) {
                kept.pop_first();
            }
        }
        drop(seen);
        Ok(slice)
    }

    /// Hourly slices of `[start, end)`, newest first: hours not kept yet are read while the
    /// deadline lasts, and counted as pending (and empty) after; hours to come are empty.
    pub async fn span(
        &self,
        db: &Db,
        start: i64,
        end: i64,
        now: i64,
        deadline: std::time::Instant,
    ) -> Result<(Vec<Arc<Slice>>, usize), sqlx::Error> {
        let n = usize::try_from((end - start) / HOUR_MS).unwrap_or(0);
        let empty = Arc::new(Slice::default());
        let mut out = vec![empty; n];
        let mut pending = 0;
        for (i, slot) in out.iter_mut().enumerate().rev() {
            let h = start + i as i64 * HOUR_MS;
            if h > now {
                continue;
            }
            if let Some(s) = self.cached(h) {
                *slot = s;
            } else if std::time::Instant::now() < deadline {
                *slot = self.hour(db, h, now).await?;
            } else {
                pending += 1;
            }
        }
        Ok((out, pending))
    }

    /// Starts (once) the task that reads every settled hour of the kept span, newest first.
    pub fn warm(self: &Arc<Self>, db: Db) {
        if self.warming.swap(true, Ordering::Relaxed) {
            return;
        }
        let hours = self.clone();
        #[expect(clippy::disallowed_methods, reason = "a one-off fill of the console's cache; ends on its own")]
        tokio::spawn(async move {
            let now = crate::keys::now_ms();
            let newest = (now - SETTLE_MS).div_euclid(HOUR_MS) * HOUR_MS - HOUR_MS;
            let started = std::time::Instant::now();
            for i in 0..KEEP_HOURS - 1 {
                let hour = newest - i * HOUR_MS;
                if hours.cached(hour).is_some() {
                    continue;
                }
                if let Err(e) = hours.hour(&db, hour, now).await {
                    tracing::warn!(error = %e, "console: could not read the ledger's past hours; charts will read them on demand");
                    hours.warming.store(false, Ordering::Relaxed);
                    return;
                }
            }
            tracing::debug!(elapsed_ms = started.elapsed().as_millis() as u64, "console: past hours read");
        });
    }
}

/// How far rows were looked at for the kept hours; None before any hour was kept.
async fn checked_through(store: &Store) -> Result<Option<i64>, sqlx::Error> {
    let sql = "SELECT through_row_id FROM console_checked WHERE id = 1";
    Ok(on_pool!(store, pool => sqlx::query_scalar(sql).fetch_optional(pool).await?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Entry;

    fn row(id: &str, at_unix_ms: i64, cost_nanos: i64) -> Entry {
        Entry {
            request_id: id.into(),
            at_unix_ms,
            alias: "a".into(),
            deployment: "p/m".into(),
            provider: "p".into(),
            model: "m".into(),
            cost_nanos: Some(cost_nanos),
            status: 200,
            outcome: "ok".into(),
            latency_ms: 40,
            attempt: 1,
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn kept_hours_outlive_the_process_and_late_rows_drop_them() {
        let path = std::env::temp_dir().join(format!("sy-hours-{}.db", std::process::id()));
        kept_hours_outlive_the_process(&format!("sqlite://{}", path.display())).await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }

    #[tokio::test]
    async fn kept_hours_outlive_the_process_on_postgres() {
        let Ok(base) = std::env::var("SWITCHYARD_TEST_POSTGRES") else {
            eprintln!("skipping: SWITCHYARD_TEST_POSTGRES is not set");
            return;
        };
        let name = format!("sy_hours_{}_{}", std::process::id(), crate::keys::now_ms());
        let admin = sqlx::PgPool::connect(&base).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await.unwrap();
        let (server, _) = base.rsplit_once('/').unwrap();
        kept_hours_outlive_the_process(&format!("{server}/{name}")).await;
        let _ = sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)")).execute(&admin).await;
    }

    async fn kept_hours_outlive_the_process(url: &str) {
        let store = Store::open(url).await.unwrap();
        let db = Db { read: store.clone(), write: store.clone() };
        let now = crate::keys::now_ms();
        let hour = (now - 3 * HOUR_MS).div_euclid(HOUR_MS) * HOUR_MS;
        store.insert(&[row("r1", hour + 10, 7), row("r2", hour + 20, 11)]).await.unwrap();

        let first = Hours::default();
        first.load(&db, now).await.unwrap();
        assert_eq!(first.hour(&db, hour, now).await.unwrap().cost_nanos, 18);

        // A new process: the hour comes from the table, not from the rows.
        let second = Hours::default();
        second.load(&db, now).await.unwrap();
        let kept = second.cached(hour).expect("kept across processes");
        assert_eq!((kept.requests, kept.cost_nanos), (2, 18));

        // A row of that hour written now (a spill file imported): the hour is read again,
        // by this process and by the next.
        store.insert(&[row("r3", hour + 30, 100)]).await.unwrap();
        second.forget_late_rows(&db).await.unwrap();
        assert!(second.cached(hour).is_none());
        let third = Hours::default();
        third.load(&db, now).await.unwrap();
        assert!(third.cached(hour).is_none(), "dropped from the table too");
        assert_eq!(third.hour(&db, hour, now).await.unwrap().cost_nanos, 118);

        // A kept hour of another shape is read again rather than trusted.
        let sql = "UPDATE console_hours SET slice = '{\"requests\": 1}'";
        on_pool!(&store, pool => sqlx::query(sql).execute(pool).await.map(|_| ())).unwrap();
        let fourth = Hours::default();
        fourth.load(&db, now).await.unwrap();
        assert!(fourth.cached(hour).is_none());
        assert_eq!(fourth.hour(&db, hour, now).await.unwrap().requests, 3);
        if let Store::Postgres(pool) = store {
            pool.close().await;
        }
    }

    #[tokio::test]
    async fn an_hour_not_yet_settled_is_not_kept() {
        let store = Store::open("sqlite::memory:").await.unwrap();
        let db = Db { read: store.clone(), write: store.clone() };
        let now = crate::keys::now_ms();
        let hour = now.div_euclid(HOUR_MS) * HOUR_MS;
        store.insert(&[row("r1", hour + 1, 5)]).await.unwrap();
        let hours = Hours::default();
        hours.load(&db, now).await.unwrap();
        assert_eq!(hours.hour(&db, hour, now).await.unwrap().cost_nanos, 5);
        assert!(hours.cached(hour).is_none());
        store.insert(&[row("r2", hour + 2, 6)]).await.unwrap();
        assert_eq!(hours.hour(&db, hour, now).await.unwrap().cost_nanos, 11, "read afresh");
    }
}
