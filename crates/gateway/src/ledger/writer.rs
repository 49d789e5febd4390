//! The ledger's one writer task. It takes rows from the channel at all times, even while a
//! write is waiting on the database, so requests never wait; keeps them in memory, oldest
//! first, up to the buffer, then in the spill file (and every newer row behind them there, so
//! order holds); commits them in batches, retrying a database that is down with capped
//! back-off for as long as it takes; imports the spill file as soon as the database answers;
//! and sets aside, in the rejected-rows file, a row the database refuses while it answers, so
//! one bad row cannot hold up the rest. Rows are written once: the store skips a request's
//! attempt it already holds, so a batch whose commit answer was lost can be sent again.

use std::collections::VecDeque;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::spill::{self, SpillMsg, SpillReader};
use super::{Counters, Entry, Store, BATCH_MAX, COMMIT_WINDOW};

/// The wait after the first failed write, doubled after each further one up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// The longest wait between two tries while the database is down: how long after it is back
/// the rows may wait before they flow again.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// The longest one batch's write may take before it counts as failed (a database that hangs
/// rather than refusing connections).
const WRITE_LIMIT: Duration = Duration::from_secs(10);
/// At shutdown, how long the writer keeps trying a database that is down before it leaves the
/// rows still unwritten in the spill file for the next start.
pub const CLOSE_LIMIT: Duration = Duration::from_secs(5);

/// Room `pending` keeps once a backlog has drained: two batches.
const KEPT_ROOM: usize = 2 * BATCH_MAX;

/// What the writer is built from.
pub(super) struct Parts {
    pub store: Store,
    pub rx: mpsc::Receiver<Entry>,
    pub closed: oneshot::Receiver<()>,
    pub spill: std::sync::mpsc::Sender<SpillMsg>,
    pub spill_path: PathBuf,
    pub counters: Arc<Counters>,
    /// How many rows may wait in memory.
    pub buffer: usize,
}

pub(super) struct WriteLoop {
    store: Store,
    rx: mpsc::Receiver<Entry>,
    closed: oneshot::Receiver<()>,
    spill: std::sync::mpsc::Sender<SpillMsg>,
    spill_path: PathBuf,
    counters: Arc<Counters>,
    buffer: usize,
    /// Rows taken from the channel and not yet committed, oldest first.
    pending: VecDeque<Entry>,
    /// Rows of `pending` taken out for the write under way: they count against the buffer
    /// until written, since a failed write puts them back.
    in_flight: usize,
    /// Since when rows have been waiting in `pending`: a batch's commit window runs from its
    /// oldest row's arrival, so rows that came during the previous write do not wait again.
    waiting_since: Option<Instant>,
    /// Rows newer than every pending one are in the spill file, so each new row goes there
    /// too, behind them, until the file is imported.
    spilling: bool,
    /// The spill file cannot be imported by this run (it cannot be read or removed); it is
    /// left for the next start rather than imported again and again.
    import_blocked: bool,
    /// The channel is closed and empty.
    drained: bool,
    /// Set once close is asked: past it, with the database still down, rows not yet written
    /// are left in the spill file.
    give_up_at: Option<Instant>,
    /// Since when the database has failed every write; None while it answers.
    down_since: Option<Instant>,
    backoff: Duration,
}

/// Why a write did not go through.
#[derive(Debug, thiserror::Error)]
enum WriteError {
    #[error("the ledger database failed")]
    Database(#[from] sqlx::Error),
    #[error("the ledger database did not answer within {0:?}")]
    TimedOut(Duration),
}

/// The database is down: nothing more can be written now.
struct Down;

impl WriteLoop {
    pub fn new(p: Parts) -> WriteLoop {
        // A file a previous run left (or an import it did not finish) is written before any
        // new row.
        let spilling = p.spill_path.exists() || spill::importing(&p.spill_path).exists();
        WriteLoop {
            store: p.store,
            rx: p.rx,
            closed: p.closed,
            spill: p.spill,
            spill_path: p.spill_path,
            counters: p.counters,
            buffer: p.buffer,
            pending: VecDeque::new(),
            in_flight: 0,
            waiting_since: None,
            spilling,
            import_blocked: false,
            drained: false,
            give_up_at: None,
            down_since: None,
            backoff: FIRST_BACKOFF,
        }
    }

    pub async fn run(mut self) {
        loop {
            if self.counters.overflowed.swap(false, Relaxed) {
                // Rows went to the spill file from the request path: they come after the
                // ones in memory, and so does every new row until they are imported.
                self.spilling = true;
            }
            if !self.pending.is_empty() {
                self.commit_pending().await;
            } else if self.spilling && !self.import_blocked {
                self.import().await;
            } else if self.drained {
                break;
            } else {
                self.wait_for_row().await;
            }
            if self.down_since.is_some() && self.give_up_at.is_some_and(|t| Instant::now() >= t) {
                self.leave_in_spill_file();
                break;
            }
        }
        // Every row sent to the spill thread is on disk before the process may exit.
        let (tx, rx) = oneshot::channel();
        if self.spill.send(SpillMsg::Sync(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// Waits for `work`, taking rows from the channel (and a request to close) meanwhile.
    /// `work` must not borrow the writer.
    async fn receiving<F: Future>(&mut self, work: F) -> F::Output {
        tokio::pin!(work);
        loop {
            tokio::select! {
                biased;
                out = &mut work => return out,
                _ = &mut self.closed, if self.give_up_at.is_none() => self.begin_close(),
                row = self.rx.recv(), if !self.drained => self.received(row),
            }
        }
    }

    async fn wait_for_row(&mut self) {
        tokio::select! {
            _ = &mut self.closed, if self.give_up_at.is_none() => self.begin_close(),
            row = self.rx.recv(), if !self.drained => self.received(row),
            else => {}
        }
    }

    fn begin_close(&mut self) {
        // No new rows (they spill from the request path); those queued are still taken.
        self.rx.close();
        self.give_up_at = Some(Instant::now() + CLOSE_LIMIT);
    }

    fn received(&mut self, row: Option<Entry>) {
        match row {
            Some(row) => self.take(row),
            None => self.drained = true,
        }
    }

    fn take(&mut self, row: Entry) {
        if !self.spilling && self.pending.len() + self.in_flight < self.buffer {
            self.waiting_since.get_or_insert_with(Instant::now);
            self.pending.push_back(row);
            return;
        }
        if !self.spilling {
            tracing::warn!(
                rows = self.pending.len(),
                file = %self.spill_path.display(),
                "ledger: rows waiting in memory reached the limit; newer rows wait in the spill file"
            );
            self.spilling = true;
        }
        metrics::counter!("switchyard_ledger_spilled_total").increment(1);
        let _ = self.spill.send(SpillMsg::Row(row));
    }

    async fn commit_pending(&mut self) {
        // Let a batch gather, unless one is full, the database is down (each retry takes what
        // has come meanwhile) or the channel is closed.
        if self.pending.len() < BATCH_MAX && self.down_since.is_none() && !self.drained {
            let waited = self.waiting_since.map_or(Duration::ZERO, |t| t.elapsed());
            self.receiving(tokio::time::sleep(COMMIT_WINDOW.saturating_sub(waited))).await;
        }
        let n = self.pending.len().min(BATCH_MAX);
        let batch: Vec<Entry> = self.pending.drain(..n).collect();
        // Rows arriving during the write start the next window; rows left over (a backlog)
        // have waited long enough already.
        let oldest = self.waiting_since;
        if self.pending.is_empty() {
            self.waiting_since = None;
        }
        self.in_flight = batch.len();
        let result = self.commit(batch).await;
        self.in_flight = 0;
        let failed = result.is_err();
        if let Err(unwritten) = result {
            for row in unwritten.into_iter().rev() {
                self.pending.push_front(row);
            }
            self.waiting_since = oldest;
        }
        metrics::gauge!("switchyard_ledger_rows_waiting").set(self.pending.len() as f64);
        if failed {
            self.back_off().await;
        } else {
            hand_back_room(&mut self.pending);
        }
    }

    /// Writes `batch`; on an outage, gives back the rows not written.
    async fn commit(&mut self, batch: Vec<Entry>) -> Result<(), Vec<Entry>> {
        let err = match self.write(&batch).await {
            Ok(written) => {
                self.answered(written, batch.len());
                return Ok(());
            }
            Err(e) => e,
        };
        if !self.refuses_rows(&err) {
            self.went_down(&err);
            return Err(batch);
        }
        // The database answers but refuses something in the batch: row by row, so only the
        // rows it refuses are set aside.
        let mut rows = batch.into_iter();
        while let Some(row) = rows.next() {
            match self.write(std::slice::from_ref(&row)).await {
                Ok(written) => self.answered(written, 1),
                Err(e) if self.refuses_rows(&e) => self.reject(row, &e),
                Err(e) => {
                    self.went_down(&e);
                    return Err(std::iter::once(row).chain(rows).collect());
                }
            }
        }
        Ok(())
    }

    async fn write(&mut self, rows: &[Entry]) -> Result<u64, WriteError> {
        let store = self.store.clone();
        let insert = async move {
            match tokio::time::timeout(WRITE_LIMIT, store.insert(rows)).await {
                Ok(done) => done.map_err(WriteError::from),
                Err(_) => Err(WriteError::TimedOut(WRITE_LIMIT)),
            }
        };
        self.receiving(insert).await
    }

    fn refuses_rows(&self, e: &WriteError) -> bool {
        match e {
            WriteError::Database(e) => self.store.refuses_rows(e),
            WriteError::TimedOut(_) => false,
        }
    }

    fn answered(&mut self, written: u64, sent: usize) {
        self.counters.written.fetch_add(written, Relaxed);
        let repeats = (sent as u64).saturating_sub(written);
        if repeats > 0 {
            // A batch whose earlier commit went through though its answer was lost.
            metrics::counter!("switchyard_ledger_repeats_skipped_total").increment(repeats);
        }
        if let Some(since) = self.down_since.take() {
            tracing::info!(
                down_for = ?since.elapsed(),
                waiting_in_memory = self.pending.len(),
                spill_file = self.spilling,
                "ledger: the database answers again; writing the rows that waited"
            );
        }
        self.backoff = FIRST_BACKOFF;
    }

    fn went_down(&mut self, e: &WriteError) {
        metrics::counter!("switchyard_ledger_write_failures_total").increment(1);
        if self.down_since.is_none() {
            self.down_since = Some(Instant::now());
            tracing::error!(
                error = %crate::error::chain(e),
                "ledger: the database cannot be written; rows wait in memory, then in the spill file, and are \
                 written once it answers"
            );
        } else {
            tracing::debug!(error = %crate::error::chain(e), "ledger: the database still cannot be written");
        }
    }

    fn reject(&mut self, row: Entry, e: &WriteError) {
        tracing::error!(
            request_id = %row.request_id,
            error = %crate::error::chain(e),
            file = %self.spill_path.display(),
            "ledger: the database refuses this row; it is kept in the rejected-rows file beside the spill file"
        );
        metrics::counter!("switchyard_ledger_rejected_total").increment(1);
        let _ = self.spill.send(SpillMsg::Rejected(row));
    }

    async fn back_off(&mut self) {
        let mut wait = self.backoff;
        if let Some(until) = self.give_up_at {
            wait = wait.min(until.saturating_duration_since(Instant::now()));
        }
        self.receiving(tokio::time::sleep(wait)).await;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    /// Imports the spill file, then whatever was spilled meanwhile, until none is left; then
    /// rows wait in memory again.
    async fn import(&mut self) {
        loop {
            let (tx, rx) = oneshot::channel();
            if self.spill.send(SpillMsg::TakeFile(tx)).is_err() {
                self.spilling = false;
                return;
            }
            // Not taking rows meanwhile (the answer is quick): once it says no file is left,
            // no row can have gone to a new one, and new rows wait in memory again.
            if !rx.await.unwrap_or(false) {
                self.spilling = false;
                return;
            }
            if self.import_file().await.is_err() {
                self.back_off().await;
                return;
            }
            if self.import_blocked {
                return;
            }
        }
    }

    /// Writes the rows of the file moved aside that the ledger does not hold yet, then removes
    /// it. Cut off by an outage, it is read again from its start later: rows already written
    /// are skipped.
    async fn import_file(&mut self) -> Result<(), Down> {
        let aside = spill::importing(&self.spill_path);
        let Some(mut reader) = self.receiving(SpillReader::open(aside.clone())).await else {
            return self.block_import("cannot open the file moved aside to import it");
        };
        let mut imported = 0;
        loop {
            let chunk = match self.receiving(reader.next_chunk(BATCH_MAX)).await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "ledger: reading the spill file failed");
                    return self.block_import("cannot read the file moved aside to import it");
                }
            };
            let fresh = self.without_unnumbered_repeats(chunk).await?;
            imported += fresh.len();
            if self.commit(fresh).await.is_err() {
                return Err(Down);
            }
        }
        if !self.receiving(spill::remove(aside)).await {
            return self.block_import("cannot remove the file it imported");
        }
        tracing::info!(rows = imported, unreadable = reader.unreadable, "ledger: imported the rows of the spill file");
        Ok(())
    }

    fn block_import(&mut self, why: &str) -> Result<(), Down> {
        tracing::error!(
            file = %spill::importing(&self.spill_path).display(),
            "ledger: {why}; the spill file is left for the next start"
        );
        self.import_blocked = true;
        self.spilling = false;
        Ok(())
    }

    /// Drops the rows without an attempt number (written by an older version) that the ledger
    /// already holds: those the unique index cannot tell apart.
    async fn without_unnumbered_repeats(&mut self, rows: Vec<Entry>) -> Result<Vec<Entry>, Down> {
        let unnumbered = rows.iter().filter(|r| r.attempt <= 0).map(|r| r.at_unix_ms);
        let Some((from, to)) = unnumbered.fold(None, |span: Option<(i64, i64)>, at| {
            Some(span.map_or((at, at), |(lo, hi)| (lo.min(at), hi.max(at))))
        }) else {
            return Ok(rows);
        };
        let store = self.store.clone();
        let present = match self.receiving(async move { store.identities_between(from, to).await }).await {
            Ok(present) => present,
            Err(e) => {
                self.went_down(&WriteError::Database(e));
                return Err(Down);
            }
        };
        Ok(rows
            .into_iter()
            .filter(|r| {
                r.attempt > 0
                    || !present.contains(&(r.request_id.clone(), r.at_unix_ms, r.deployment.clone(), r.status))
            })
            .collect())
    }

    /// Shutdown with the database still down: every row not yet written goes to the spill
    /// file, for the next start.
    fn leave_in_spill_file(&mut self) {
        let mut rows = 0;
        for row in self.pending.drain(..) {
            let _ = self.spill.send(SpillMsg::Row(row));
            rows += 1;
        }
        while let Ok(row) = self.rx.try_recv() {
            let _ = self.spill.send(SpillMsg::Row(row));
            rows += 1;
        }
        tracing::error!(
            rows,
            file = %self.spill_path.display(),
            "ledger: the database is still down at shutdown; the rows not yet written are left in the spill file \
             and written at the next start"
        );
    }
}

/// A backlog (the database down for a while, a burst the database cannot keep up with) grows
/// `pending` up to the buffer: ~17 MB of room at 50,000 rows. Once fewer than a batch wait,
/// the room beyond [`KEPT_ROOM`] goes back to the allocator instead of being kept for good.
fn hand_back_room(pending: &mut VecDeque<Entry>) {
    if pending.capacity() > 2 * KEPT_ROOM && pending.len() < BATCH_MAX {
        pending.shrink_to(KEPT_ROOM);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::BUFFER;

    #[test]
    fn a_drained_backlog_gives_its_room_back_and_a_live_one_keeps_it() {
        let mut pending: VecDeque<Entry> = (0..BUFFER).map(|_| Entry::default()).collect();
        let grown = pending.capacity();
        pending.drain(..BUFFER - BATCH_MAX);
        hand_back_room(&mut pending);
        assert_eq!(pending.capacity(), grown, "a backlog of a full batch is still being written");
        pending.drain(..1);
        hand_back_room(&mut pending);
        assert!(pending.capacity() <= 2 * KEPT_ROOM, "kept {} of {grown}", pending.capacity());
        assert_eq!(pending.len(), BATCH_MAX - 1, "no row is lost");
        let steady = pending.capacity();
        hand_back_room(&mut pending);
        assert_eq!(pending.capacity(), steady, "steady state: nothing reallocated");
    }
}
