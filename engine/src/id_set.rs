//! The set of event-id hashes an import has seen, for deduplication.
//!
//! An import remembers the 128-bit hash of every event id it stores and of
//! every id already stored on the dates it touches: at 100 M events that is
//! the largest structure of an import. One hash table grows by doubling in
//! one step, briefly holding its old storage beside the new one, twice as
//! large; split into [`SHARDS`] tables that each double on their own, that
//! transient is a 256th as large. The keys are already uniform hashes, so
//! they are not hashed again (std's `HashSet` would SipHash each one).

use std::hash::{BuildHasher, Hasher};

/// Independent tables; a power of two, picked by the hash's top bits.
const SHARDS: usize = 256;

/// Hashes of event ids (`xxh3_128` of the id text).
pub(crate) struct IdSet {
    shards: Vec<hashbrown::HashSet<u128, KeyIsHash>>,
}

impl Default for IdSet {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| hashbrown::HashSet::with_hasher(KeyIsHash))
                .collect(),
        }
    }
}

impl IdSet {
    /// Adds `hash`; false if it was already there.
    pub(crate) fn insert(&mut self, hash: u128) -> bool {
        self.shards[(hash >> 120) as usize % SHARDS].insert(hash)
    }

    /// Hashes held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(hashbrown::HashSet::len).sum()
    }
}

/// Uses a key's low 64 bits as its hash: the keys are xxh3 outputs already.
#[derive(Clone, Copy, Default)]
struct KeyIsHash;

impl BuildHasher for KeyIsHash {
    type Hasher = LowBits;

    fn build_hasher(&self) -> LowBits {
        LowBits(0)
    }
}

struct LowBits(u64);

impl Hasher for LowBits {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u128(&mut self, n: u128) {
        self.0 = n as u64;
    }

    /// Only `u128` keys are hashed; other input is folded in, correct if slow.
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xxhash_rust::xxh3::xxh3_128;

    #[test]
    fn inserts_once() {
        let mut set = IdSet::default();
        for i in 0..10_000u32 {
            assert!(set.insert(xxh3_128(&i.to_le_bytes())));
        }
        for i in 0..10_000u32 {
            assert!(!set.insert(xxh3_128(&i.to_le_bytes())));
        }
        // Hashes equal in their low or top bits are still told apart.
        assert!(set.insert(1));
        assert!(set.insert(1 | (1 << 64)));
        assert!(set.insert(1 | (1 << 127)));
        assert!(!set.insert(1 | (1 << 64)));
        assert_eq!(set.len(), 10_003);
    }
}
