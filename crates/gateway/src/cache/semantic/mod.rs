//! The semantic cache: a question close enough in meaning to one already answered, in the same
//! scope, alias and conversation, gets the stored answer. The last user turn is embedded through
//! the embedding alias the operator names (by the pipeline, `pipeline/embed.rs`); the rest of the conversation and the
//! tools must match exactly (their hash is part of the lookup, [`question`]). Vectors are
//! compared by cosine similarity, in memory ([`memory`]) or in PostgreSQL with pgvector
//! ([`postgres`]). The index maps a question to the exact cache key its reply is stored under;
//! the entry itself lives in the exact cache.

pub mod memory;
mod postgres;
mod question;

use dialect::ChatRequest;

use super::{CacheKey, SemanticPolicy};
use memory::MemoryIndex;
use postgres::PgIndex;

/// What a lookup computed, kept to index the reply if it is stored (so the question is embedded
/// once).
#[derive(Debug, Clone)]
pub struct Probe {
    /// The question's embedding, scaled to length one.
    pub vector: Vec<f32>,
    /// The hash of everything but the last user turn, which must match exactly.
    pub context: [u8; 32],
}

/// The part of a request the semantic cache compares.
pub struct Question {
    /// The last user turn's text, embedded to compare by meaning.
    pub text: String,
    /// The hash of everything else, which must match exactly.
    pub context: [u8; 32],
}

pub enum Lookup {
    /// A stored entry close enough, under its exact cache key; the probe indexes the reply again
    /// if the entry has gone from the exact cache meanwhile.
    Hit { key: CacheKey, similarity: f32, probe: Probe },
    /// None close enough; the probe (if the question could be embedded) indexes the new reply.
    Miss(Option<Probe>),
}

enum Backend {
    Memory(MemoryIndex),
    Postgres(PgIndex),
}

/// The semantic index: in memory, or shared in PostgreSQL (pgvector) when the ledger is there.
pub struct SemanticIndex {
    backend: Backend,
}

impl Default for SemanticIndex {
    fn default() -> Self {
        SemanticIndex::in_memory(MemoryIndex::default())
    }
}

/// How long opening the shared index may take before the memory index is used instead.
const OPEN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

impl SemanticIndex {
    /// The index for this process: shared through `store` when it is PostgreSQL with pgvector,
    /// else in memory.
    pub async fn open(store: &crate::ledger::Store) -> SemanticIndex {
        let crate::ledger::Store::Postgres(pool) = store else { return SemanticIndex::default() };
        match tokio::time::timeout(OPEN_DEADLINE, PgIndex::open(pool)).await {
            Ok(Ok(index)) => SemanticIndex { backend: Backend::Postgres(index) },
            Ok(Err(e)) => {
                tracing::info!(error = %e, "the pgvector extension is not available; the semantic cache index is kept in memory, per replica");
                SemanticIndex::default()
            }
            Err(_) => {
                tracing::info!("preparing the semantic cache table timed out; the semantic cache index is kept in memory, per replica");
                SemanticIndex::default()
            }
        }
    }

    pub fn in_memory(index: MemoryIndex) -> SemanticIndex {
        SemanticIndex { backend: Backend::Memory(index) }
    }

    /// Whether the index is shared through PostgreSQL.
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// What of `req` is compared: the last user turn's text, to embed, and the hash of the rest.
    /// None: nothing to compare (no user turn last, no text, or too long).
    pub fn question(policy: &SemanticPolicy, req: &ChatRequest) -> Option<Question> {
        let (text, context) = question::split(req, &policy.embedding_model)?;
        Some(Question { text, context })
    }

    /// Looks for an entry close to `probe` (a question embedded by the caller) in `scope_id` and
    /// `alias`.
    pub async fn lookup(&self, policy: &SemanticPolicy, scope_id: &str, alias: &str, probe: Probe) -> Lookup {
        match self.nearest(scope_id, alias, &probe.context, &probe.vector, crate::keys::now_ms()).await {
            Err(()) => {
                count(alias, "error");
                Lookup::Miss(Some(probe))
            }
            Ok(Some((key, similarity))) if similarity >= policy.threshold => {
                count(alias, "hit");
                Lookup::Hit { key, similarity, probe }
            }
            Ok(_) => {
                count(alias, "miss");
                Lookup::Miss(Some(probe))
            }
        }
    }

    /// A question that could not be embedded, counted with the lookups.
    pub fn count_unembedded(alias: &str) {
        count(alias, "error");
    }

    /// The indexed question closest to `probe`, with its similarity, whatever the threshold.
    /// Err: the shared index failed (logged).
    pub async fn nearest(
        &self,
        scope_id: &str,
        alias: &str,
        context: &[u8; 32],
        vector: &[f32],
        now_ms: i64,
    ) -> Result<Option<(CacheKey, f32)>, ()> {
        match &self.backend {
            Backend::Memory(m) => Ok(m.nearest(&memory::bucket_id(scope_id, alias, context), vector, now_ms)),
            Backend::Postgres(pg) => pg.nearest(scope_id, alias, context, vector, now_ms).await,
        }
    }

    /// Indexes a stored reply's question under its exact cache key, until `expires_at_ms`.
    /// Never waits: a shared index is written in the background.
    pub fn remember(&self, scope_id: &str, alias: &str, probe: Probe, key: CacheKey, expires_at_ms: i64) {
        match &self.backend {
            Backend::Memory(m) => {
                let bucket = memory::bucket_id(scope_id, alias, &probe.context);
                m.insert(bucket, probe.vector, key, expires_at_ms, crate::keys::now_ms());
            }
            Backend::Postgres(pg) => pg.insert(postgres::Row {
                scope: scope_id.to_owned(),
                alias: alias.to_owned(),
                context: probe.context,
                vector: probe.vector,
                key,
                expires_at_ms,
            }),
        }
    }
}

/// One lookup that embedded a question: hit, miss, or error (no embedding, or the shared index
/// failed). The alias is a configured name, never the client's text.
fn count(alias: &str, result: &'static str) {
    metrics::counter!("switchyard_cache_semantic_lookups_total", "alias" => alias.to_owned(), "result" => result)
        .increment(1);
}
