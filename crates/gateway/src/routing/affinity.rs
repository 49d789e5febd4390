//! Prompt-cache affinity. Providers bill a cached prompt prefix at a fraction of the price, but
//! only on the replica that saw it; so a request whose long prefix (system prompt and history)
//! was served recently prefers the deployment that served it, while it is healthy. Only a hash
//! of the prefix is kept, never the prompt. Sharded maps with bounded size: no global lock.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;

use dialect::{ChatRequest, Part};

use super::estimate;
use crate::routing::Deployment;

/// Prefixes shorter than this are not cached by providers (Anthropic and OpenAI start at
/// 1,024 tokens), so they get no affinity.
pub const MIN_PREFIX_TOKENS: u64 = 1_024;
/// How long an entry is trusted: provider caches live minutes.
const TTL_MS: u64 = 10 * 60 * 1000;
const SHARDS: usize = 16;
const SHARD_CAPACITY: usize = 8_192;

#[derive(Default)]
pub struct Affinity {
    shards: [Mutex<HashMap<u64, (String, u64)>>; SHARDS],
}

impl std::fmt::Debug for Affinity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Affinity")
    }
}

impl Affinity {
    /// The key of everything before the last message, if that prefix is long enough to be
    /// cached upstream.
    pub fn key(&self, req: &ChatRequest) -> Option<u64> {
        let history = req.messages.len().checked_sub(1)?;
        if estimate::prefix_tokens(req) < MIN_PREFIX_TOKENS {
            return None;
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        req.model.hash(&mut h);
        for part in req.system.iter().chain(req.messages[..history].iter().flat_map(|m| &m.content)) {
            hash_part(part, &mut h);
        }
        Some(h.finish())
    }

    /// Moves the deployment that last served `key` to the front, if it is among `candidates`
    /// and its health admits a request now.
    pub fn prefer(&self, key: u64, candidates: &mut [Deployment], now_ms: u64) {
        let shard = self.shards[(key as usize) % SHARDS].lock().unwrap_or_else(|e| e.into_inner());
        let Some((label, at)) = shard.get(&key) else { return };
        if now_ms.saturating_sub(*at) > TTL_MS {
            return;
        }
        if let Some(i) = candidates.iter().position(|d| d.label() == *label && d.health.admits(now_ms)) {
            candidates[..=i].rotate_right(1);
        }
    }

    pub fn record(&self, key: u64, served_by: &Deployment, now_ms: u64) {
        let mut shard = self.shards[(key as usize) % SHARDS].lock().unwrap_or_else(|e| e.into_inner());
        if shard.len() >= SHARD_CAPACITY {
            shard.retain(|_, (_, at)| now_ms.saturating_sub(*at) <= TTL_MS);
            if shard.len() >= SHARD_CAPACITY {
                shard.clear();
            }
        }
        shard.insert(key, (served_by.label().to_owned(), now_ms));
    }
}

fn hash_part(part: &Part, h: &mut impl Hasher) {
    match part {
        Part::Text { text, .. } | Part::Refusal { text } | Part::Reasoning { text, .. } => text.hash(h),
        Part::ToolCall { id, name, arguments } => (id, name, arguments).hash(h),
        Part::ToolResult { tool_call_id, content, .. } => {
            tool_call_id.hash(h);
            for p in content {
                hash_part(p, h);
            }
        }
        Part::Image { source, .. } => format!("{source:?}").hash(h),
        Part::Raw { value, .. } => value.to_string().hash(h),
    }
}
