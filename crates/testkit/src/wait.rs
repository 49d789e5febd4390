//! Waiting on a signal instead of a guess: [`until`] polls a condition, [`ledger_rows`] a
//! ledger's committed rows, each at a short interval and bounded by [`LIMIT`], after which the
//! test fails naming what it waited for. Writes nothing; what a row holds is the test's to check.

use std::time::{Duration, Instant};

use gateway::ledger::Store;

/// How long a wait may take before it fails the test: far above what a healthy run needs,
/// so only a real stall trips it.
pub const LIMIT: Duration = Duration::from_secs(10);
/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(10);

/// Polls `check` until it returns true; fails the test, naming `what`, if it has not within
/// [`LIMIT`].
pub async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < LIMIT, "still waiting for {what} after {:?}", started.elapsed());
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until the ledger at `database_url` (SQLite or PostgreSQL, as in a config) holds at
/// least `rows` committed rows: rows are written off the request path, so a test that reads
/// them, or kills the process that writes them, waits here first.
pub async fn ledger_rows(database_url: &str, rows: i64) {
    let store = Store::open(database_url).await.unwrap_or_else(|e| panic!("opening the ledger at {database_url}: {e}"));
    store_rows(&store, rows).await;
}

/// [`ledger_rows`] on a store already open.
pub(crate) async fn store_rows(store: &Store, rows: i64) {
    let started = Instant::now();
    loop {
        let seen = store.count().await.unwrap_or_else(|e| panic!("counting ledger rows: {e}"));
        if seen >= rows {
            return;
        }
        assert!(started.elapsed() < LIMIT, "the ledger holds {seen} of {rows} rows after {:?}", started.elapsed());
        tokio::time::sleep(POLL).await;
    }
}
