//! The Responses API's stored responses: what a client asked to keep (`store`, on by default)
//! so a later request can continue it (`previous_response_id`) on any provider, and read or
//! delete it. Each is owned by the key that made it. The only place the gateway keeps prompts
//! and answers, and only because the client asked.
//!
//! Saving never waits on the database: a response is kept in memory at once (so the client's
//! next turn finds it even before it is written) and written in the background; reads look in
//! memory first, then read a whole conversation in one query, bounded by a timeout so a
//! database outage is a clear error, not a hang.

mod store;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

pub use store::{ResponseStore, MAX_TURNS};

/// One stored response: the request's own input items and the response object returned.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub id: String,
    /// The key id that made it; empty for the master key and unauthenticated local use.
    pub owner: String,
    pub created_ms: i64,
    pub previous_id: Option<String>,
    pub input_items: Vec<Value>,
    pub response: Value,
}

impl Stored {
    /// The items a later turn replays: this request's input, then its output.
    fn items(&self) -> impl Iterator<Item = &Value> {
        let output = self.response.get("output").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        self.input_items.iter().chain(output)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConversationError {
    #[error("storing responses is turned off on this gateway")]
    Disabled,
    #[error("no stored response with that id")]
    NotFound,
    #[error("the response store (its database) is unavailable")]
    Unavailable(#[source] Option<sqlx::Error>),
}

/// Recently saved responses, bounded by size, oldest out first.
#[derive(Default)]
struct Recent {
    by_id: HashMap<String, (Arc<Stored>, usize)>,
    order: VecDeque<String>,
    bytes: usize,
}

/// Memory kept for recently saved responses.
const RECENT_BYTES: usize = 32 * 1024 * 1024;
/// The longest the gateway waits for the database on a client's behalf: past it, the client
/// is told the store is unavailable (503) instead of being kept waiting.
const DB_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest wait between two tries of a write while the database is down.
const WRITE_RETRY_MAX: Duration = Duration::from_secs(2);
/// How long one response's write keeps being retried while the database is down before the
/// writer moves on (the response stays in memory meanwhile).
const WRITE_GIVE_UP: Duration = Duration::from_secs(60);

/// Responses waiting to be written; beyond this, a response is kept in memory only (and the
/// loss logged) rather than holding up a reply.
const WRITE_QUEUE: usize = 4096;

pub struct Conversations {
    enabled: bool,
    retention: Duration,
    db: Option<ResponseStore>,
    recent: Mutex<Recent>,
    /// To the one task that writes stored responses, in the order they were saved.
    writes: Option<tokio::sync::mpsc::Sender<Write>>,
}

impl Conversations {
    /// Without a database: responses are kept in memory only (unit tests, apps without a ledger).
    pub fn new(enabled: bool, retention: Duration, db: Option<ResponseStore>) -> Conversations {
        Conversations { enabled, retention, db, recent: Mutex::default(), writes: None }
    }

    /// With a database, and the task that writes to it and deletes what is past retention.
    pub fn start(enabled: bool, retention: Duration, db: ResponseStore) -> Arc<Conversations> {
        let (tx, rx) = tokio::sync::mpsc::channel(WRITE_QUEUE);
        let this =
            Conversations { enabled, retention, db: Some(db.clone()), recent: Mutex::default(), writes: Some(tx) };
        spawn_writer(db.clone(), rx);
        spawn_retention(db, retention);
        Arc::new(this)
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    fn recent(&self) -> std::sync::MutexGuard<'_, Recent> {
        self.recent.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn expired(&self, s: &Stored) -> bool {
        let cutoff =
            crate::keys::now_ms().saturating_sub(i64::try_from(self.retention.as_millis()).unwrap_or(i64::MAX));
        s.created_ms < cutoff
    }

    /// Keeps `s` in memory now and writes it to the database in the background. `response_json`
    /// is `s.response` as JSON text, which the caller has made anyway (it is the client's reply):
    /// each is serialized once.
    pub fn save(&self, s: Stored, response_json: String) {
        if !self.enabled {
            return;
        }
        let items_json = serde_json::to_string(&s.input_items).unwrap_or_else(|_| "[]".into());
        let size = response_json.len() + items_json.len();
        let s = Arc::new(s);
        {
            let mut recent = self.recent();
            recent.order.push_back(s.id.clone());
            recent.bytes += size;
            if let Some((_, old)) = recent.by_id.insert(s.id.clone(), (s.clone(), size)) {
                recent.bytes -= old;
            }
            // Deleted responses leave their ids behind in `order`; sweep them now and then.
            if recent.order.len() > 2 * recent.by_id.len() + 1024 {
                let Recent { by_id, order, .. } = &mut *recent;
                order.retain(|id| by_id.contains_key(id));
            }
            while recent.bytes > RECENT_BYTES {
                let Some(oldest) = recent.order.pop_front() else { break };
                if let Some((_, n)) = recent.by_id.remove(&oldest) {
                    recent.bytes -= n;
                }
            }
        }
        if let Some(writes) = &self.writes {
            let id = s.id.clone();
            if writes.try_send(Write { stored: s, items_json, response_json }).is_err() {
                tracing::warn!(response_id = %id, "the stored-response writer is behind; this response is kept in memory only");
            }
        }
    }

    fn in_memory(&self, id: &str) -> Option<Arc<Stored>> {
        self.recent().by_id.get(id).map(|(s, _)| s.clone())
    }

    async fn read_chain(&self, owner: &str, id: &str) -> Result<Vec<Stored>, ConversationError> {
        let Some(db) = &self.db else { return Ok(Vec::new()) };
        match tokio::time::timeout(DB_TIMEOUT, db.chain(owner, id)).await {
            Ok(Ok(rows)) => Ok(rows),
            Ok(Err(e)) => Err(ConversationError::Unavailable(Some(e))),
            Err(_) => Err(ConversationError::Unavailable(None)),
        }
    }

    /// The conversation `id` ends, oldest response first. Another owner's id is not found.
    pub async fn chain(&self, owner: &str, id: &str) -> Result<Vec<Arc<Stored>>, ConversationError> {
        if !self.enabled {
            return Err(ConversationError::Disabled);
        }
        let mut newest_first: Vec<Arc<Stored>> = Vec::new();
        let mut next = Some(id.to_owned());
        while let Some(current) = next.take() {
            if newest_first.len() as i64 >= MAX_TURNS {
                break;
            }
            match self.in_memory(&current) {
                Some(s) if s.owner == owner => {
                    next.clone_from(&s.previous_id);
                    newest_first.push(s);
                }
                Some(_) => break,
                None => {
                    let rows = self.read_chain(owner, &current).await?;
                    newest_first.extend(rows.into_iter().rev().map(Arc::new));
                }
            }
        }
        if newest_first.first().is_none_or(|s| s.id != id || self.expired(s)) {
            return Err(ConversationError::NotFound);
        }
        newest_first.reverse();
        Ok(newest_first)
    }

    /// The items a request continuing `id` replays before its own input, oldest first.
    pub async fn history(&self, owner: &str, id: &str) -> Result<Vec<Value>, ConversationError> {
        let chain = self.chain(owner, id).await?;
        Ok(chain.iter().flat_map(|s| s.items()).cloned().collect())
    }

    pub async fn get(&self, owner: &str, id: &str) -> Result<Arc<Stored>, ConversationError> {
        if !self.enabled {
            return Err(ConversationError::Disabled);
        }
        if let Some(s) = self.in_memory(id).filter(|s| s.owner == owner) {
            return if self.expired(&s) { Err(ConversationError::NotFound) } else { Ok(s) };
        }
        let Some(db) = &self.db else { return Err(ConversationError::NotFound) };
        let row = match tokio::time::timeout(DB_TIMEOUT, db.one(owner, id)).await {
            Ok(Ok(row)) => row,
            Ok(Err(e)) => return Err(ConversationError::Unavailable(Some(e))),
            Err(_) => return Err(ConversationError::Unavailable(None)),
        };
        match row {
            Some(s) if s.id == id && !self.expired(&s) => Ok(Arc::new(s)),
            _ => Err(ConversationError::NotFound),
        }
    }

    /// A stored item by its id: the gateway's item ids name the response they belong to
    /// (`msg_<hex>_<n>` is in `resp_<hex>`).
    pub async fn item(&self, owner: &str, item_id: &str) -> Result<Option<Value>, ConversationError> {
        let Some(response_id) = response_of_item(item_id) else { return Ok(None) };
        let s = match self.get(owner, &response_id).await {
            Ok(s) => s,
            Err(ConversationError::NotFound) => return Ok(None),
            Err(e) => return Err(e),
        };
        let found = s.items().find(|item| item.get("id").and_then(Value::as_str) == Some(item_id)).cloned();
        Ok(found)
    }

    pub async fn delete(&self, owner: &str, id: &str) -> Result<(), ConversationError> {
        if !self.enabled {
            return Err(ConversationError::Disabled);
        }
        let in_memory = {
            let mut recent = self.recent();
            match recent.by_id.get(id) {
                Some((s, _)) if s.owner == owner => {
                    if let Some((_, size)) = recent.by_id.remove(id) {
                        recent.bytes -= size;
                    }
                    true
                }
                _ => false,
            }
        };
        let in_db = match &self.db {
            Some(db) => match tokio::time::timeout(DB_TIMEOUT, db.delete(owner, id)).await {
                Ok(Ok(found)) => found,
                Ok(Err(e)) => return Err(ConversationError::Unavailable(Some(e))),
                Err(_) => return Err(ConversationError::Unavailable(None)),
            },
            None => false,
        };
        if in_memory || in_db {
            Ok(())
        } else {
            Err(ConversationError::NotFound)
        }
    }

    /// Forgets every response a key made (the key was deleted).
    pub async fn forget_owner(&self, owner: &str) -> Result<u64, ConversationError> {
        {
            let mut recent = self.recent();
            let gone: Vec<String> =
                recent.by_id.iter().filter(|(_, (s, _))| s.owner == owner).map(|(id, _)| id.clone()).collect();
            for id in gone {
                if let Some((_, size)) = recent.by_id.remove(&id) {
                    recent.bytes -= size;
                }
            }
        }
        let Some(db) = &self.db else { return Ok(0) };
        match tokio::time::timeout(DB_TIMEOUT, db.delete_owner(owner)).await {
            Ok(Ok(n)) => Ok(n),
            Ok(Err(e)) => Err(ConversationError::Unavailable(Some(e))),
            Err(_) => Err(ConversationError::Unavailable(None)),
        }
    }
}

/// Writes saved responses one after another, for the life of the runtime.
/// A saved response on its way to the database, with its JSON made once.
struct Write {
    stored: Arc<Stored>,
    items_json: String,
    response_json: String,
}

fn spawn_writer(db: ResponseStore, mut rx: tokio::sync::mpsc::Receiver<Write>) {
    #[expect(clippy::disallowed_methods, reason = "the one writer of stored responses; ends with the app")]
    tokio::spawn(async move {
        while let Some(w) = rx.recv().await {
            write_retrying(&db, &w).await;
        }
    });
}

/// Writes one response, retrying with capped back-off while the database is down (the insert
/// skips an id already stored, so a retry after a lost answer is harmless); gives up after
/// [`WRITE_GIVE_UP`], or at once if the database refuses the row itself.
async fn write_retrying(db: &ResponseStore, w: &Write) {
    let started = std::time::Instant::now();
    let mut wait = Duration::from_millis(100);
    loop {
        let e = match tokio::time::timeout(DB_TIMEOUT, db.insert(&w.stored, &w.items_json, &w.response_json)).await {
            Ok(Ok(())) => return,
            Ok(Err(e)) => Some(e),
            Err(_) => None,
        };
        let refused = e.as_ref().is_some_and(|e| db.0.refuses_rows(e));
        if refused || started.elapsed() >= WRITE_GIVE_UP {
            let error = e.map_or_else(|| "timed out".to_owned(), |e| crate::error::chain(&e));
            tracing::warn!(response_id = %w.stored.id, error = %error, "a stored response was not written to the database");
            return;
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(WRITE_RETRY_MAX);
    }
}

/// Deletes stored responses older than the retention period, hourly.
fn spawn_retention(db: ResponseStore, retention: Duration) {
    let retention = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    #[expect(clippy::disallowed_methods, reason = "background upkeep for the life of the runtime")]
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(3600));
        loop {
            every.tick().await;
            let before = crate::keys::now_ms().saturating_sub(retention);
            match db.delete_before(before).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "stored responses past their retention deleted"),
                Err(e) => tracing::warn!(error = %e, "stored responses past their retention could not be deleted"),
            }
        }
    });
}

/// `resp_<hex>` for an item id `<prefix>_<hex>_<n>` the gateway gave; None for any other id.
pub fn response_of_item(item_id: &str) -> Option<String> {
    let (_, rest) = item_id.split_once('_')?;
    let (hex, _) = rest.split_once('_')?;
    (!hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| format!("resp_{hex}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(id: &str, owner: &str, previous: Option<&str>, text: &str) -> Stored {
        Stored {
            id: id.into(),
            owner: owner.into(),
            created_ms: crate::keys::now_ms(),
            previous_id: previous.map(Into::into),
            input_items: vec![serde_json::json!({"type": "message", "role": "user", "content": text})],
            response: serde_json::json!({"id": id, "output": [{"type": "message", "id": format!("msg_{id}"), "content": []}]}),
        }
    }

    fn save(c: &Conversations, s: Stored) {
        let json = s.response.to_string();
        c.save(s, json);
    }

    #[tokio::test]
    async fn a_conversation_is_read_back_in_order_and_only_by_its_owner() {
        let c = Conversations::new(true, Duration::from_secs(3600), None);
        save(&c, stored("resp_a", "k1", None, "one"));
        save(&c, stored("resp_b", "k1", Some("resp_a"), "two"));
        let items = c.history("k1", "resp_b").await.unwrap();
        let texts: Vec<&str> = items.iter().filter_map(|i| i["content"].as_str()).collect();
        assert_eq!(texts, ["one", "two"]);
        assert_eq!(items.len(), 4, "input and output of both turns");
        assert!(matches!(c.history("k2", "resp_b").await, Err(ConversationError::NotFound)));
        assert!(matches!(c.get("k2", "resp_a").await, Err(ConversationError::NotFound)));
        c.delete("k1", "resp_b").await.unwrap();
        assert!(matches!(c.get("k1", "resp_b").await, Err(ConversationError::NotFound)));
    }

    #[tokio::test]
    async fn turned_off_nothing_is_kept() {
        let c = Conversations::new(false, Duration::from_secs(3600), None);
        save(&c, stored("resp_a", "k1", None, "one"));
        assert!(matches!(c.history("k1", "resp_a").await, Err(ConversationError::Disabled)));
    }

    #[test]
    fn item_ids_name_their_response() {
        assert_eq!(response_of_item("msg_0af3_2").as_deref(), Some("resp_0af3"));
        assert_eq!(response_of_item("fc_0af3_i0").as_deref(), Some("resp_0af3"));
        assert_eq!(response_of_item("msg_zz_1"), None);
        assert_eq!(response_of_item("msg"), None);
    }
}
