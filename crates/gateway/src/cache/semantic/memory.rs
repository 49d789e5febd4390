//! The semantic index in memory: unit vectors per bucket (scope, alias and context), compared
//! by an exact scan. A bucket holds the questions asked with one system prompt and history, so
//! it is usually small; a scan of 100,000 576-wide vectors takes milliseconds (see the ignored
//! test `lookup_latency_with_100k_entries`). An approximate index (HNSW: `hnsw_rs`, `usearch`;
//! `instant-distance` builds only from a batch) would add a large dependency and does not
//! delete, which a cache with expiry and eviction needs on every insert, so it is left out.
//!
//! Sharded locks, none held across an await; lookups share a shard (read lock), and an insert
//! that would wait for a scan is queued and applied by the next call that gets the shard.
//! Bounded by vectors and by bytes; the oldest leave first, expired ones as their bucket is
//! written.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock, TryLockError};

use crate::cache::CacheKey;

/// The hash of (scope, alias, context): one bucket of comparable questions.
pub type BucketId = [u8; 32];

pub fn bucket_id(scope_id: &str, alias: &str, context: &[u8; 32]) -> BucketId {
    let mut hasher = ring::digest::Context::new(&ring::digest::SHA256);
    for piece in [scope_id.as_bytes(), b"\0", alias.as_bytes(), b"\0", context] {
        hasher.update(piece);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(hasher.finish().as_ref());
    out
}

const SHARDS: usize = 16;
/// Inserts waiting for a busy shard; beyond this they are dropped (the index is best effort).
const PENDING_PER_SHARD: usize = 4096;
/// What an item costs beside its vector.
const ITEM_OVERHEAD: usize = 64;

struct Item {
    seq: u64,
    key: CacheKey,
    expires_at_ms: i64,
}

/// Rows of one width, stored end to end so a scan reads memory in order.
struct Bucket {
    dims: usize,
    vectors: Vec<f32>,
    items: Vec<Item>,
}

impl Bucket {
    fn remove(&mut self, at: usize) {
        let last = self.items.len() - 1;
        if at != last {
            self.vectors.copy_within(last * self.dims..(last + 1) * self.dims, at * self.dims);
        }
        self.vectors.truncate(last * self.dims);
        self.items.swap_remove(at);
    }
}

#[derive(Default)]
struct Shard {
    buckets: HashMap<BucketId, Bucket>,
    /// Insertion order, for eviction; entries of items already removed are skipped.
    order: VecDeque<(BucketId, u64)>,
    len: usize,
    bytes: usize,
}

struct Pending {
    bucket: BucketId,
    vector: Vec<f32>,
    key: CacheKey,
    expires_at_ms: i64,
}

pub struct MemoryIndex {
    shards: Box<[RwLock<Shard>]>,
    pending: Box<[Mutex<Vec<Pending>>]>,
    seq: AtomicU64,
    /// Vectors and bytes in every shard: the bound is the process's, so one busy bucket may use
    /// all of it.
    len: AtomicUsize,
    bytes: AtomicUsize,
    max_len: usize,
    max_bytes: usize,
}

/// The default bounds: 100,000 vectors, and 256 MiB of them (about 44,000 OpenAI-sized ones).
/// Each of the shards may keep a sixteenth of them whatever the others hold.
pub const MAX_VECTORS: usize = 100_000;
pub const MAX_BYTES: usize = 256 << 20;

impl Default for MemoryIndex {
    fn default() -> Self {
        MemoryIndex::with_bounds(MAX_VECTORS, MAX_BYTES)
    }
}

impl MemoryIndex {
    pub fn with_bounds(max_vectors: usize, max_bytes: usize) -> MemoryIndex {
        MemoryIndex {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            pending: (0..SHARDS).map(|_| Mutex::default()).collect(),
            seq: AtomicU64::new(0),
            len: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            max_len: max_vectors.max(1),
            max_bytes: max_bytes.max(1),
        }
    }

    fn shard_of(bucket: &BucketId) -> usize {
        usize::from(bucket[0]) % SHARDS
    }

    /// The live item closest to `query` (a unit vector) in `bucket`, with its cosine similarity.
    pub fn nearest(&self, bucket: &BucketId, query: &[f32], now_ms: i64) -> Option<(CacheKey, f32)> {
        let s = Self::shard_of(bucket);
        self.apply_pending(s, now_ms);
        let shard = self.shards[s].read().unwrap_or_else(|e| e.into_inner());
        let b = shard.buckets.get(bucket).filter(|b| b.dims == query.len())?;
        let mut best: Option<(usize, f32)> = None;
        for (i, row) in b.vectors.chunks_exact(b.dims).enumerate() {
            if b.items[i].expires_at_ms <= now_ms {
                continue;
            }
            let similarity = dot(row, query);
            if best.is_none_or(|(_, s)| similarity > s) {
                best = Some((i, similarity));
            }
        }
        best.map(|(i, similarity)| (b.items[i].key, similarity))
    }

    /// Adds a unit vector to `bucket`. Never waits for a scan: a busy shard takes it later.
    pub fn insert(&self, bucket: BucketId, vector: Vec<f32>, key: CacheKey, expires_at_ms: i64, now_ms: i64) {
        let s = Self::shard_of(&bucket);
        {
            let mut pending = self.pending[s].lock().unwrap_or_else(|e| e.into_inner());
            if pending.len() >= PENDING_PER_SHARD {
                return;
            }
            pending.push(Pending { bucket, vector, key, expires_at_ms });
        }
        self.apply_pending(s, now_ms);
    }

    /// Vectors held, pending ones included.
    pub fn held(&self) -> usize {
        let pending: usize = self.pending.iter().map(|p| p.lock().unwrap_or_else(|e| e.into_inner()).len()).sum();
        self.len.load(Ordering::Relaxed) + pending
    }

    fn apply_pending(&self, s: usize, now_ms: i64) {
        if self.pending[s].lock().unwrap_or_else(|e| e.into_inner()).is_empty() {
            return;
        }
        let mut shard = match self.shards[s].try_write() {
            Ok(shard) => shard,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) => return,
        };
        let batch = std::mem::take(&mut *self.pending[s].lock().unwrap_or_else(|e| e.into_inner()));
        let (len_before, bytes_before) = (shard.len, shard.bytes);
        for p in batch {
            let seq = self.seq.fetch_add(1, Ordering::Relaxed);
            shard.add(p, seq, now_ms);
        }
        // What the other shards hold, as last counted: this shard gives up its oldest until the
        // process is within its bounds, but always keeps its fair share, so one busy bucket that
        // filled the process cannot lock every other bucket out (it shrinks on its next write;
        // until then the process may hold up to twice its bounds).
        let other_len = self.len.load(Ordering::Relaxed).saturating_sub(len_before);
        let other_bytes = self.bytes.load(Ordering::Relaxed).saturating_sub(bytes_before);
        let max_len = self.max_len.saturating_sub(other_len).max(self.max_len / SHARDS);
        let max_bytes = self.max_bytes.saturating_sub(other_bytes).max(self.max_bytes / SHARDS);
        shard.evict(max_len.max(1), max_bytes, now_ms);
        adjust(&self.len, len_before, shard.len);
        adjust(&self.bytes, bytes_before, shard.bytes);
    }
}

fn adjust(total: &AtomicUsize, before: usize, after: usize) {
    if after >= before {
        total.fetch_add(after - before, Ordering::Relaxed);
    } else {
        total.fetch_sub(before - after, Ordering::Relaxed);
    }
}

impl Shard {
    fn add(&mut self, p: Pending, seq: u64, now_ms: i64) {
        let dims = p.vector.len();
        let cost = dims * 4 + ITEM_OVERHEAD;
        let b = self.buckets.entry(p.bucket).or_insert_with(|| Bucket { dims, vectors: Vec::new(), items: Vec::new() });
        // Leaving: expired items, the same entry indexed before, and vectors of another width.
        let mut i = 0;
        while i < b.items.len() {
            let item = &b.items[i];
            if item.expires_at_ms <= now_ms || item.key == p.key || b.dims != dims {
                b.remove(i);
                self.len -= 1;
                self.bytes -= b.dims * 4 + ITEM_OVERHEAD;
            } else {
                i += 1;
            }
        }
        b.dims = dims;
        b.vectors.extend_from_slice(&p.vector);
        b.items.push(Item { seq, key: p.key, expires_at_ms: p.expires_at_ms });
        self.order.push_back((p.bucket, seq));
        self.len += 1;
        self.bytes += cost;
    }

    fn evict(&mut self, max_len: usize, max_bytes: usize, now_ms: i64) {
        while self.len > max_len || self.bytes > max_bytes {
            let Some((id, seq)) = self.order.pop_front() else { break };
            let Some(b) = self.buckets.get_mut(&id) else { continue };
            if let Some(at) = b.items.iter().position(|item| item.seq == seq) {
                b.remove(at);
                self.len -= 1;
                self.bytes -= b.dims * 4 + ITEM_OVERHEAD;
            }
            if b.items.is_empty() {
                self.buckets.remove(&id);
            }
        }
        // Items removed out of order leave their entries behind; rebuild the order now and then,
        // dropping every expired item on the way.
        if self.order.len() > 2 * self.len + 1024 {
            self.sweep(now_ms);
        }
    }

    fn sweep(&mut self, now_ms: i64) {
        let mut order = Vec::with_capacity(self.len);
        let (mut len, mut bytes) = (0, 0);
        self.buckets.retain(|id, b| {
            let mut i = 0;
            while i < b.items.len() {
                if b.items[i].expires_at_ms <= now_ms {
                    b.remove(i);
                } else {
                    order.push((*id, b.items[i].seq));
                    i += 1;
                }
            }
            len += b.items.len();
            bytes += b.items.len() * (b.dims * 4 + ITEM_OVERHEAD);
            !b.items.is_empty()
        });
        order.sort_unstable_by_key(|&(_, seq)| seq);
        self.order = order.into();
        (self.len, self.bytes) = (len, bytes);
    }
}

/// The dot product, in eight lanes so the compiler vectorizes it.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            lanes[l] += x[l] * y[l];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// `v` scaled to length one, so a dot product is the cosine similarity. None: not a direction
/// (empty, zero, or not finite).
pub fn unit(mut v: Vec<f32>) -> Option<Vec<f32>> {
    let norm = dot(&v, &v).sqrt();
    if !norm.is_finite() || norm == 0.0 || v.iter().any(|x| !x.is_finite()) {
        return None;
    }
    v.iter_mut().for_each(|x| *x /= norm);
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> CacheKey {
        CacheKey([n; 32])
    }

    fn v(xs: &[f32]) -> Vec<f32> {
        unit(xs.to_vec()).unwrap()
    }

    #[test]
    fn cosine_of_unit_vectors() {
        let a = v(&[1.0, 0.0, 0.0]);
        assert!((dot(&a, &v(&[2.0, 0.0, 0.0])) - 1.0).abs() < 1e-6);
        assert!(dot(&a, &v(&[0.0, 3.0, 0.0])).abs() < 1e-6);
        assert!((dot(&a, &v(&[1.0, 1.0, 0.0])) - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
        let long: Vec<f32> = (0..577).map(|i| i as f32).collect();
        let exact: f32 = long.iter().map(|x| x * x).sum();
        assert!((dot(&long, &long) - exact).abs() / exact < 1e-5, "lanes and tail both count");
        assert!(unit(vec![0.0, 0.0]).is_none() && unit(vec![]).is_none() && unit(vec![f32::NAN, 1.0]).is_none());
    }

    #[test]
    fn buckets_never_share() {
        let index = MemoryIndex::default();
        let here = bucket_id("key:a", "fast", &[1; 32]);
        index.insert(here, v(&[1.0, 0.0]), key(1), 1_000, 0);
        assert_eq!(index.nearest(&here, &v(&[1.0, 0.1]), 0).map(|h| h.0), Some(key(1)));
        for other in [
            bucket_id("key:b", "fast", &[1; 32]),
            bucket_id("key:a", "slow", &[1; 32]),
            bucket_id("key:a", "fast", &[2; 32]),
        ] {
            assert!(index.nearest(&other, &v(&[1.0, 0.0]), 0).is_none());
        }
        assert!(index.nearest(&here, &[1.0, 0.0, 0.0], 0).is_none(), "another width never compares");
    }

    #[test]
    fn the_closest_live_item_wins_and_expired_ones_leave() {
        let index = MemoryIndex::default();
        let b = bucket_id("s", "a", &[0; 32]);
        index.insert(b, v(&[1.0, 0.0]), key(1), 100, 0);
        index.insert(b, v(&[1.0, 1.0]), key(2), 1_000, 0);
        assert_eq!(index.nearest(&b, &v(&[1.0, 0.05]), 50).unwrap().0, key(1));
        let (k, similarity) = index.nearest(&b, &v(&[1.0, 0.05]), 100).unwrap();
        assert_eq!(k, key(2), "expired at 100");
        assert!(similarity < 0.8);
        index.insert(b, v(&[0.0, 1.0]), key(3), 1_000, 200);
        assert_eq!(index.held(), 2, "the expired item left when its bucket was written");
        index.insert(b, v(&[0.0, 1.0]), key(3), 2_000, 300);
        assert_eq!(index.held(), 2, "the same entry again replaces itself");
        assert!(index.nearest(&b, &v(&[1.0, 0.0]), 5_000).is_none());
    }

    #[test]
    fn bounded_oldest_first() {
        let index = MemoryIndex::with_bounds(3, usize::MAX);
        let b = bucket_id("s", "a", &[0; 32]);
        for n in 0..10u8 {
            index.insert(b, v(&[1.0, f32::from(n)]), key(n), 1_000, 0);
        }
        assert_eq!(index.held(), 3);
        assert_eq!(index.nearest(&b, &v(&[1.0, 0.0]), 0).unwrap().0, key(7), "0..7 left first");
        let by_bytes = MemoryIndex::with_bounds(usize::MAX, 2 * (8 + ITEM_OVERHEAD));
        for n in 0..10u8 {
            by_bytes.insert(b, v(&[1.0, f32::from(n)]), key(n), 1_000, 0);
        }
        assert_eq!(by_bytes.held(), 2);
    }

    #[test]
    fn the_bound_is_the_process_s_whatever_the_shard() {
        let index = MemoryIndex::with_bounds(40, usize::MAX);
        for n in 0..200u32 {
            let b = bucket_id(&format!("key:{n}"), "a", &[0; 32]);
            index.insert(b, v(&[1.0, n as f32]), CacheKey([(n % 256) as u8; 32]), 1_000, 0);
        }
        assert!(index.held() <= 40, "{}", index.held());
        let one = MemoryIndex::with_bounds(40, usize::MAX);
        let b = bucket_id("s", "a", &[0; 32]);
        for n in 0..100u8 {
            one.insert(b, v(&[1.0, f32::from(n)]), key(n), 1_000, 0);
        }
        assert_eq!(one.held(), 40, "one bucket may use the whole bound");
        let other = bucket_id("t", "a", &[0; 32]);
        assert_ne!(MemoryIndex::shard_of(&b), MemoryIndex::shard_of(&other));
        one.insert(other, v(&[1.0, 0.0]), key(200), 1_000, 0);
        assert_eq!(
            one.nearest(&other, &v(&[1.0, 0.0]), 0).map(|h| h.0),
            Some(key(200)),
            "a full process takes a new bucket"
        );
        one.insert(b, v(&[1.0, 0.5]), key(201), 1_000, 0);
        assert_eq!(one.held(), 40, "and the busy bucket makes room");
    }

    #[test]
    fn stale_order_entries_are_swept() {
        let index = MemoryIndex::default();
        let b = bucket_id("s", "a", &[0; 32]);
        // The same entry over and over: one vector, and an order that does not grow forever.
        for t in 0..5_000 {
            index.insert(b, v(&[1.0, 0.0]), key(1), 1_000_000, t);
        }
        assert_eq!(index.held(), 1);
        let shard = index.shards[MemoryIndex::shard_of(&b)].read().unwrap();
        assert!(shard.order.len() <= 2 * shard.len + 1024);
    }

    /// `cargo test --release -p gateway --lib lookup_latency -- --ignored --nocapture`
    #[test]
    #[ignore = "a measurement, not a check"]
    fn lookup_latency_with_100k_entries() {
        const DIMS: usize = 576;
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut random = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        let index = MemoryIndex::default();
        let one = bucket_id("global", "chat", &[0; 32]);
        let started = std::time::Instant::now();
        for n in 0..MAX_VECTORS {
            let vector = unit((0..DIMS).map(|_| random()).collect()).unwrap();
            let mut k = [0u8; 32];
            k[..8].copy_from_slice(&(n as u64).to_le_bytes());
            index.insert(one, vector, CacheKey(k), i64::MAX, 0);
        }
        eprintln!("inserted {} vectors of {DIMS} in {:?}", index.held(), started.elapsed());
        let queries: Vec<Vec<f32>> = (0..20).map(|_| unit((0..DIMS).map(|_| random()).collect()).unwrap()).collect();
        let started = std::time::Instant::now();
        for q in &queries {
            assert!(index.nearest(&one, q, 0).is_some());
        }
        eprintln!("one bucket of {}: {:?} per lookup", index.held(), started.elapsed() / queries.len() as u32);
        let small = bucket_id("global", "chat", &[1; 32]);
        for n in 0..100u8 {
            index.insert(small, unit((0..DIMS).map(|_| random()).collect()).unwrap(), key(n), i64::MAX, 0);
        }
        let started = std::time::Instant::now();
        for q in &queries {
            assert!(index.nearest(&small, q, 0).is_some());
        }
        eprintln!("a bucket of 100 beside them: {:?} per lookup", started.elapsed() / queries.len() as u32);
    }
}
