//! The ledger: one row per attempt that reached a provider, written off the request path.
//!
//! Requests hand rows to a bounded channel and never wait. One writer task ([`writer`]) commits
//! them in batches — whatever arrived within [`COMMIT_WINDOW`], up to [`BATCH_MAX`] rows — in a
//! single transaction (SQLite in WAL mode by default, PostgreSQL with
//! `database_url = "postgres://…"`). While the database is down the writer keeps retrying with
//! capped back-off; rows wait in memory (up to [`BUFFER`]) and then in a local JSON-lines spill
//! file, and once the database answers they are written, oldest first, the spill file imported
//! without a restart. Each row carries its request id and attempt number, and the database
//! skips a row it already holds, so a batch retried after a lost commit answer is written once.
//! Shutdown flushes everything (or, with the database still down, leaves it in the spill file
//! for the next start); after a kill -9 at most the rows of one commit window are lost.

/// Runs `$body` with `$pool` bound to the store's pool, whichever database it is: every
/// query written once for both.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            $crate::ledger::Store::Sqlite($pool) => $body,
            $crate::ledger::Store::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

mod queries;
mod spill;
mod store;
mod writer;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;

pub use queries::{DailyRow, LedgerRow, RowFilter, RowPage, StatRow, StatusFilter};
pub(crate) use store::{join_parts, lower_sqlite_workers, split_sum};
pub use store::{SpendBy, SpendRow, Store};

/// How long a row may wait in memory before its batch is committed.
pub const COMMIT_WINDOW: Duration = Duration::from_millis(25);
/// The most rows in one transaction.
pub const BATCH_MAX: usize = 1_000;
/// Rows held in memory while the database catches up or is down; beyond this they spill to
/// disk.
pub const BUFFER: usize = 50_000;
/// Rows handed over but not yet taken by the writer. The writer takes rows even while it waits
/// on the database, so this only fills if it cannot run at all.
const CHANNEL: usize = 16_384;

/// One attempt at one provider.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Entry {
    pub request_id: String,
    pub at_unix_ms: i64,
    pub key_id: Option<String>,
    pub team: Option<String>,
    pub alias: String,
    pub deployment: String,
    pub provider: String,
    pub model: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cached_tokens: i64,
    pub cache_write_tokens: i64,
    pub reasoning_tokens: i64,
    /// Cost in nano-dollars; None when the model has no price (the row is `unpriced`).
    pub cost_nanos: Option<i64>,
    pub status: i32,
    pub outcome: String,
    pub latency_ms: i64,
    pub ttft_ms: Option<i64>,
    pub stream: bool,
    pub cancelled: bool,
    /// `exact` or `semantic` for a reply given from the response cache; None otherwise.
    #[serde(default)]
    pub cache: Option<String>,
    /// For a cache hit: what the reply cost when a provider gave it.
    #[serde(default)]
    pub saved_nanos: Option<i64>,
    /// Which attempt of its request this row is: 1 for the first upstream attempt (and for a
    /// reply from the cache), 2 for the next (failover or retry), and so on. 0: not numbered
    /// (rows from before attempts were, or written by hand); those are never taken for repeats.
    #[serde(default)]
    pub attempt: i32,
}

#[derive(Debug, Default)]
pub struct Counters {
    /// Rows committed to the database.
    pub written: AtomicU64,
    /// Rows appended to the spill file.
    pub spilled: AtomicU64,
    /// Rows the database refused while answering, kept aside in the rejected-rows file.
    pub rejected: AtomicU64,
    /// A row went to the spill file from the request path (the channel was full), so the
    /// writer has a file to import even if it never spilled itself.
    overflowed: AtomicBool,
}

/// Why the ledger could not start.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("opening the ledger database")]
    Database(#[from] sqlx::Error),
    #[error("starting the spill-file writer")]
    Spill(#[from] std::io::Error),
}

/// The request path's handle: cheap to clone, never blocks.
#[derive(Clone)]
pub struct Ledger {
    tx: mpsc::Sender<Entry>,
    spill: std::sync::mpsc::Sender<spill::SpillMsg>,
    pub counters: Arc<Counters>,
}

/// Owns the writer; [`Writer::close`] flushes every row before returning.
pub struct Writer {
    task: tokio::task::JoinHandle<()>,
    close: tokio::sync::oneshot::Sender<()>,
    pub store: Store,
}

impl Ledger {
    /// Opens (and migrates) the store and starts the writer. Rows a previous run could not
    /// write (a spill file) are imported first, each once.
    pub async fn start(database_url: &str, spill_path: PathBuf) -> Result<(Ledger, Writer), LedgerError> {
        Ledger::start_bounded(database_url, spill_path, BUFFER).await
    }

    /// [`Ledger::start`] holding at most `buffer` rows in memory while the database is down.
    pub async fn start_bounded(
        database_url: &str,
        spill_path: PathBuf,
        buffer: usize,
    ) -> Result<(Ledger, Writer), LedgerError> {
        let store = Store::open(database_url).await?;
        let counters = Arc::new(Counters::default());
        let (tx, rx) = mpsc::channel(CHANNEL);
        let (spill_tx, spill_rx) = std::sync::mpsc::channel();
        let spill_counters = counters.clone();
        let thread_path = spill_path.clone();
        // Detached: it ends when the last spill sender is gone.
        std::thread::Builder::new().name("ledger-spill".into()).spawn(move || {
            crate::background::lower_this_thread();
            spill::spill_loop(&thread_path, &spill_rx, &spill_counters);
        })?;
        let (close, closed) = tokio::sync::oneshot::channel();
        let write_loop = writer::WriteLoop::new(writer::Parts {
            store: store.clone(),
            rx,
            closed,
            spill: spill_tx.clone(),
            spill_path,
            counters: counters.clone(),
            buffer: buffer.max(BATCH_MAX),
        });
        #[expect(clippy::disallowed_methods, reason = "the one ledger writer, joined by Writer::close")]
        let task = tokio::spawn(write_loop.run());
        Ok((Ledger { tx, spill: spill_tx, counters }, Writer { task, close, store }))
    }

    pub fn record(&self, entry: Entry) {
        if let Err(e) = self.tx.try_send(entry) {
            let entry = match e {
                mpsc::error::TrySendError::Full(e) | mpsc::error::TrySendError::Closed(e) => e,
            };
            metrics::counter!("switchyard_ledger_spilled_total").increment(1);
            let _ = self.spill.send(spill::SpillMsg::Row(entry));
            // After the row is queued for the file: the import the flag asks for then reads it.
            self.counters.overflowed.store(true, Relaxed);
        }
    }
}

impl Writer {
    /// Stops taking rows (later ones spill to disk) and waits until every row already handed
    /// to the ledger is committed — or, if the database stays down past
    /// [`writer::CLOSE_LIMIT`], is in the spill file for the next start.
    pub async fn close(self) {
        let _ = self.close.send(());
        let _ = self.task.await;
    }
}

/// `30m`, `12h`, `7d`, `2w` → a duration.
pub fn parse_since(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = num.parse().ok()?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return None,
    };
    Some(Duration::from_secs(n.checked_mul(secs)?))
}

pub fn unix_ms_ago(window: Duration) -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    now.saturating_sub(window).as_millis() as i64
}

/// A plain-text table of spend rows, costs in dollars.
pub fn spend_table(rows: &[SpendRow]) -> String {
    let mut out = format!(
        "{:<48} {:>9} {:>13} {:>13} {:>14} {:>9} {:>14}\n",
        "group", "requests", "input_tok", "output_tok", "cost_usd", "unpriced", "saved_usd"
    );
    for r in rows {
        out += &format!(
            "{:<48} {:>9} {:>13} {:>13} {:>14} {:>9} {:>14}\n",
            r.group,
            r.requests,
            r.input_tokens,
            r.output_tokens,
            crate::money::NanoUsd(r.cost_nanos).rounded(6),
            r.unpriced,
            crate::money::NanoUsd(r.saved_nanos).rounded(6)
        );
    }
    out
}

/// Once an hour (and a minute after start), folds rows older than `keep` into daily rollups.
pub fn spawn_compaction(store: Store, keep: Duration) {
    #[expect(clippy::disallowed_methods, reason = "background upkeep for the life of the runtime")]
    tokio::spawn(async move {
        let mut wait = Duration::from_secs(60);
        loop {
            tokio::time::sleep(wait).await;
            wait = Duration::from_secs(3_600);
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            match store.compact(keep.as_millis() as i64, now.as_millis() as i64).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, "ledger: folded old rows into daily rollups"),
                Err(e) => tracing::warn!(error = %e, "ledger compaction failed; will retry"),
            }
        }
    });
}
