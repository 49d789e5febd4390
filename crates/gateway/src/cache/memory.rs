//! The cache's memory tier: sharded (no global lock on the request path), bounded by the
//! entries' size, least recently used out first.

use std::sync::Arc;

use quick_cache::sync::Cache;
use quick_cache::Weighter;

use super::{CacheKey, Entry};

#[derive(Clone)]
struct BySize;

impl Weighter<CacheKey, Arc<Entry>> for BySize {
    fn weight(&self, _key: &CacheKey, entry: &Arc<Entry>) -> u64 {
        entry.weight()
    }
}

pub(super) struct Memory(Cache<CacheKey, Arc<Entry>, BySize>);

/// The size of an average entry, to size the cache's tables.
const TYPICAL_ENTRY_BYTES: u64 = 4 * 1024;

impl Memory {
    pub fn new(bytes: u64) -> Memory {
        let items = usize::try_from((bytes / TYPICAL_ENTRY_BYTES).max(16)).unwrap_or(usize::MAX);
        Memory(Cache::with_weighter(items, bytes.max(1), BySize))
    }

    pub fn get(&self, key: &CacheKey) -> Option<Arc<Entry>> {
        self.0.get(key)
    }

    pub fn insert(&self, key: CacheKey, entry: Arc<Entry>) {
        self.0.insert(key, entry);
    }

    pub fn remove(&self, key: &CacheKey) {
        self.0.remove(key);
    }
}
