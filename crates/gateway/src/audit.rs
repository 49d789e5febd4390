//! The audit log: who changed what — keys created, edited or revoked, the config reloaded — as
//! rows of `audit_log` in the ledger's database (the table is made with the ledger's, at
//! start). Recording never waits: an event goes to one background task that writes events in
//! order, retrying while the database is down. Listing them (`GET /admin/audit`) and deciding
//! what an event's detail says are the callers'.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};

use crate::keys::KeyRecord;
use crate::ledger::{on_pool, Store};

/// Who made a change.
pub mod actor {
    /// The admin API, with the master key.
    pub const MASTER: &str = "master";
    /// The `switchyard keys` command line.
    pub const CLI: &str = "cli";
    /// The process, on a signal (config reload).
    pub const SIGNAL: &str = "signal";
}

/// One change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// The row's id, in order of writing; 0 until written.
    pub id: i64,
    pub at_unix_ms: i64,
    pub actor: String,
    /// `key.create`, `key.update`, `key.revoke`, `config.reload`.
    pub action: String,
    /// What changed: a key id, or `config`.
    pub subject: String,
    /// Action-specific JSON: the new key's settings, the fields edited (`from`, `to`), the
    /// config version.
    pub detail: Value,
}

impl Event {
    pub fn new(actor: &str, action: &str, subject: &str, detail: Value) -> Event {
        Event {
            id: 0,
            at_unix_ms: crate::keys::now_ms(),
            actor: actor.to_owned(),
            action: action.to_owned(),
            subject: subject.to_owned(),
            detail,
        }
    }

    /// A key was made: its settings (never its secret or hash).
    pub fn key_created(actor: &str, key: &KeyRecord) -> Event {
        Event::new(actor, "key.create", &key.id, serde_json::to_value(key).unwrap_or_default())
    }

    /// A key's settings were edited; `changes` names each field with its `from` and `to`.
    pub fn key_updated(actor: &str, id: &str, changes: Value) -> Event {
        Event::new(actor, "key.update", id, changes)
    }

    pub fn key_revoked(actor: &str, id: &str, stored_responses_deleted: u64) -> Event {
        Event::new(actor, "key.revoke", id, json!({"stored_responses_deleted": stored_responses_deleted}))
    }

    /// The config was read again: `version` names the config now running, `previous` the one
    /// it replaced.
    pub fn config_reloaded(actor: &str, version: &str, previous: &str) -> Event {
        Event::new(actor, "config.reload", "config", json!({"version": version, "previous_version": previous}))
    }
}

/// Events waiting to be written; beyond this an event is logged and dropped rather than held.
const QUEUE: usize = 1024;
/// The longest wait between two tries while the database is down.
const RETRY_MAX: Duration = Duration::from_secs(2);
/// The longest one write may take.
const WRITE_LIMIT: Duration = Duration::from_secs(5);

/// The handle every recorder holds: cheap to clone, never blocks. The default one (an app
/// without a database) records nothing.
#[derive(Clone, Default)]
pub struct Audit {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    tx: mpsc::Sender<Event>,
    /// Events handed to the writer so far.
    queued: AtomicU64,
    /// Events the writer is done with (written, or given up) so far.
    done: watch::Receiver<u64>,
}

impl Audit {
    /// Starts the task that writes events to `store`, for the life of the runtime.
    pub fn start(store: Store) -> Audit {
        let (tx, rx) = mpsc::channel(QUEUE);
        let (done_tx, done) = watch::channel(0);
        #[expect(clippy::disallowed_methods, reason = "the one audit writer; ends when every handle is gone")]
        tokio::spawn(write_loop(store, rx, done_tx));
        Audit { inner: Some(Arc::new(Inner { tx, queued: AtomicU64::new(0), done })) }
    }

    /// Hands `event` to the writer; never waits.
    pub fn record(&self, event: Event) {
        let Some(inner) = &self.inner else { return };
        match inner.tx.try_send(event) {
            Ok(()) => {
                inner.queued.fetch_add(1, Relaxed);
            }
            Err(e) => {
                let event = match e {
                    mpsc::error::TrySendError::Full(e) | mpsc::error::TrySendError::Closed(e) => e,
                };
                tracing::error!(action = %event.action, subject = %event.subject, actor = %event.actor,
                    "audit: the writer is behind; this event is not recorded");
            }
        }
    }

    /// Records a config reload: `actor` is [`actor::SIGNAL`] for SIGHUP (or who else asked),
    /// `version` the config now running, `previous` the one it replaced.
    pub fn config_reloaded(&self, actor: &str, version: &str, previous: &str) {
        self.record(Event::config_reloaded(actor, version, previous));
    }

    /// Waits, at most `limit`, until every event recorded before the call is written (or
    /// given up): a listing right after a change shows it.
    pub async fn settled(&self, limit: Duration) {
        let Some(inner) = &self.inner else { return };
        let target = inner.queued.load(Relaxed);
        let mut done = inner.done.clone();
        let _ = tokio::time::timeout(limit, done.wait_for(|n| *n >= target)).await;
    }
}

/// Writes events one after another, each retried with capped back-off while the database is
/// down; one the database refuses is logged and dropped.
async fn write_loop(store: Store, mut rx: mpsc::Receiver<Event>, done: watch::Sender<u64>) {
    let mut count = 0;
    while let Some(event) = rx.recv().await {
        let mut wait = Duration::from_millis(50);
        let mut failing = false;
        loop {
            let error = match tokio::time::timeout(WRITE_LIMIT, insert(&store, &event)).await {
                Ok(Ok(())) => break,
                Ok(Err(e)) => {
                    if store.refuses_rows(&e) {
                        tracing::error!(action = %event.action, subject = %event.subject,
                            error = %crate::error::chain(&e), "audit: the database refuses this event; not recorded");
                        break;
                    }
                    crate::error::chain(&e)
                }
                Err(_) => format!("no answer within {WRITE_LIMIT:?}"),
            };
            if !failing {
                tracing::warn!(error = %error, "audit: the database cannot be written; retrying until it answers");
                failing = true;
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(RETRY_MAX);
        }
        count += 1;
        done.send_replace(count);
    }
}

/// Writes one event now (the command line, which has no background task to wait for).
pub async fn insert(store: &Store, e: &Event) -> Result<(), sqlx::Error> {
    let sql = "INSERT INTO audit_log (at_unix_ms, actor, action, subject, detail) VALUES ($1, $2, $3, $4, $5)";
    let detail = e.detail.to_string();
    on_pool!(store, pool => sqlx::query(sql)
        .bind(e.at_unix_ms)
        .bind(&e.actor)
        .bind(&e.action)
        .bind(&e.subject)
        .bind(&detail)
        .execute(pool)
        .await?
        .rows_affected());
    Ok(())
}

/// At most `limit` events recorded at or after `since_unix_ms`, newest first.
pub async fn list(store: &Store, since_unix_ms: i64, limit: i64) -> Result<Vec<Event>, sqlx::Error> {
    let sql = "SELECT id, at_unix_ms, actor, action, subject, detail FROM audit_log \
               WHERE at_unix_ms >= $1 ORDER BY id DESC LIMIT $2";
    type Row = (i64, i64, String, String, String, String);
    let rows: Vec<Row> =
        on_pool!(store, pool => sqlx::query_as(sql).bind(since_unix_ms).bind(limit).fetch_all(pool).await?);
    Ok(rows
        .into_iter()
        .map(|(id, at_unix_ms, actor, action, subject, detail)| Event {
            id,
            at_unix_ms,
            actor,
            action,
            subject,
            // Written as JSON by this module; anything else is shown as the text it is.
            detail: serde_json::from_str(&detail).unwrap_or(Value::String(detail)),
        })
        .collect())
}
