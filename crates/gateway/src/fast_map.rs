//! The hash map of the maps read on every request (keys, limits, aliases, health): foldhash
//! instead of std's SipHash, which costs several times more per lookup on short string keys.
//! Seeded per process, so a caller cannot aim collisions at a known seed; the keys are ids,
//! alias names and key digests the gateway chose, not arbitrary client input.

pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
