//! The set of event-id hashes an import has seen, for deduplication.
//!
//! An import remembers the 128-bit hash of every event id it stores and of
//! every id already stored on the dates it touches: at 100 M events that is
//! the largest structure of an import. One hash table grows by doubling in
//! one step, briefly holding its old storage beside the new one, twice as
//! large; split into [`SHARDS`] tables that each double on their own, that
//! transient is a 256th as large. The keys are already uniform hashes, so
//! they are not hashed again (std's `HashSet` would SipHash each one).
//!
//! A table holds 80 bits of each hash ([`Key`], 10 bytes, not 16: at 100M
//! events that is 0.8 GB less); the shard stands for 8 more. Two different
//! ids are taken for one only if 88 bits of their hashes agree: among 100M
//! ids, a chance of about 10^-11 (n² / 2^89).

use std::hash::{BuildHasher, Hasher};

/// Independent tables; a power of two, picked by the hash's top bits.
const SHARDS: usize = 256;

/// Hashes of event ids (`xxh3_128` of the id text).
pub(crate) struct IdSet {
    shards: Vec<hashbrown::HashSet<Key, KeyIsHash>>,
}

/// The low 80 bits of a hash, in 2-byte words so that a key takes 10 bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Key([u16; 5]);

impl Key {
    fn of(hash: u128) -> Self {
        Self(std::array::from_fn(|i| (hash >> (16 * i)) as u16))
    }
}

impl std::hash::Hash for Key {
    /// The low 64 bits: hash bits already, used as they are by [`KeyIsHash`].
    fn hash<H: Hasher>(&self, state: &mut H) {
        let low = (0..4).fold(0u64, |acc, i| acc | (u64::from(self.0[i]) << (16 * i)));
        state.write_u64(low);
    }
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
        self.shards[(hash >> 120) as usize % SHARDS].insert(Key::of(hash))
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

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    /// Only [`Key`]s are hashed; other input is folded in, correct if slow.
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
        assert!(set.insert(1 | (1 << 79)));
        // Bits 80 to 119 are not kept (see the module documentation).
        assert!(!set.insert(1 | (1 << 100)));
        assert_eq!(set.len(), 10_004);
    }
}
