//! The response cache: a reply a provider already gave, given again without asking it. Opt-in
//! per alias (`[models.<alias>.cache]`), scoped to the key, the team or everyone, keyed on the
//! canonical request without what does not change the answer ([`key`]), so the same question
//! in either client dialect shares an entry. Entries live in memory (bounded by bytes, least
//! recently used out) and, when `redis_url` is set, in Redis too, so every replica shares them.
//! What a client may ask (`Cache-Control`, `x-switchyard-cache-ttl`) is in [`control`]. Only a
//! whole, successful reply is ever stored.

pub mod control;
pub mod key;
mod memory;
pub mod semantic;
mod shared;

use std::sync::Arc;
use std::time::Duration;

use dialect::{ChatRequest, ChatResponse, FinishReason};
use serde::{Deserialize, Serialize};

pub use key::CacheKey;
use memory::Memory;
pub use shared::SharedStore;

/// An alias's cache settings.
#[derive(Debug, Clone, PartialEq)]
pub struct CachePolicy {
    /// How long an entry is kept, and the most a client may ask for.
    pub ttl: Duration,
    pub scope: Scope,
    /// Also cache replies cut short by `max_tokens`.
    pub cache_truncated: bool,
    /// Also cache requests that ask for randomness (`temperature` above 0, `n` above 1).
    pub cache_sampled: bool,
    pub semantic: Option<SemanticPolicy>,
}

/// Who shares an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    /// Only the key that made it (the master key and unauthenticated local use share one scope).
    #[default]
    Key,
    /// Every key of the same team (a key without a team is its own team).
    Team,
    /// Everyone who may use the alias.
    Global,
}

impl Scope {
    pub fn parse(s: &str) -> Option<Scope> {
        Some(match s {
            "key" => Scope::Key,
            "team" => Scope::Team,
            "global" => Scope::Global,
            _ => return None,
        })
    }
}

/// A semantic cache: a question close enough in meaning to a cached one gets its answer.
#[derive(Debug, Clone, PartialEq)]
pub struct SemanticPolicy {
    /// The alias whose embeddings measure closeness.
    pub embedding_model: String,
    /// Cosine similarity at or above which a cached answer is given.
    pub threshold: f32,
}

/// What kind of hit answered a request, as the ledger and the reply header name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HitKind {
    Exact,
    Semantic,
}

impl HitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HitKind::Exact => "exact",
            HitKind::Semantic => "semantic",
        }
    }
}

/// A stored reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub response: ChatResponse,
    /// What the reply cost when a provider gave it: what each hit saves. None: unpriced.
    pub cost_nanos: Option<i64>,
    /// Unix milliseconds after which the entry is not given.
    pub expires_at_ms: i64,
}

impl Entry {
    /// The stored size, for the memory bound.
    fn weight(&self) -> u64 {
        let text: usize = self
            .response
            .choices
            .iter()
            .flat_map(|c| &c.content)
            .map(|p| match p {
                dialect::Part::Text { text, .. }
                | dialect::Part::Reasoning { text, .. }
                | dialect::Part::Refusal { text } => text.len(),
                dialect::Part::ToolCall { arguments, name, id } => arguments.len() + name.len() + id.len(),
                _ => 256,
            })
            .sum();
        (text + self.response.id.len() + self.response.model.len() + 256) as u64
    }
}

/// Whether a request may be answered from the cache, and its reply stored, under `policy`.
pub fn cacheable_request(req: &ChatRequest, policy: &CachePolicy) -> bool {
    let sampled = req.n.is_some_and(|n| n > 1) || req.temperature.is_some_and(|t| t > 0.0);
    !sampled || policy.cache_sampled
}

/// Whether a reply may be stored: finished normally (or cut by `max_tokens` when the alias
/// says so), never an error or a content-filter stop.
pub fn cacheable_reply(resp: &ChatResponse, policy: &CachePolicy) -> bool {
    !resp.choices.is_empty()
        && resp.choices.iter().all(|c| match c.finish_reason {
            Some(FinishReason::Stop | FinishReason::StopSequence | FinishReason::ToolCalls) => true,
            Some(FinishReason::Length) => policy.cache_truncated,
            Some(FinishReason::ContentFilter | FinishReason::Error) | None => false,
        })
}

/// The cache every alias with a policy uses: memory, and Redis when configured.
pub struct ResponseCache {
    memory: Memory,
    shared: Option<SharedStore>,
    pub semantic: semantic::SemanticIndex,
}

impl ResponseCache {
    pub fn new(memory_bytes: u64, shared: Option<SharedStore>) -> ResponseCache {
        ResponseCache { memory: Memory::new(memory_bytes), shared, semantic: semantic::SemanticIndex::default() }
    }

    pub fn with_semantic(self, semantic: semantic::SemanticIndex) -> ResponseCache {
        ResponseCache { semantic, ..self }
    }

    /// The live entry under `key`: memory first, then the shared store (whose hit is kept in
    /// memory too). A shared store that fails or is slow is a miss, never an error.
    pub async fn get(&self, key: &CacheKey, now_ms: i64) -> Option<Arc<Entry>> {
        if let Some(entry) = self.memory.get(key) {
            if entry.expires_at_ms > now_ms {
                return Some(entry);
            }
            self.memory.remove(key);
        }
        let shared = self.shared.as_ref()?;
        let entry = Arc::new(shared.get(key).await?);
        if entry.expires_at_ms <= now_ms {
            return None;
        }
        self.memory.insert(*key, entry.clone());
        Some(entry)
    }

    /// Stores `entry` under `key`; the shared store is written in the background.
    pub fn put(&self, key: CacheKey, entry: Entry, now_ms: i64) {
        let ttl_ms = entry.expires_at_ms.saturating_sub(now_ms);
        if ttl_ms <= 0 {
            return;
        }
        let entry = Arc::new(entry);
        self.memory.insert(key, entry.clone());
        if let Some(shared) = &self.shared {
            shared.put(key, entry, Duration::from_millis(ttl_ms as u64));
        }
    }
}
