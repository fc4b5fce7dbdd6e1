//! [`Snapshot`]: data a UDF was built over, compared by identity.
//!
//! The events view gives some functions a snapshot taken when the query is
//! planned (the users side, the merged user ids). Two such functions are the
//! same function only when they read the same snapshot, which DataFusion
//! learns through the UDF's `PartialEq` and `Hash`; holding the snapshot in
//! this wrapper lets those UDFs derive both.

use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

/// An `Arc` that is equal to, and hashes as, only itself (and its clones).
#[derive(Debug)]
pub(crate) struct Snapshot<T>(pub(crate) Arc<T>);

impl<T> Deref for Snapshot<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> PartialEq for Snapshot<T> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl<T> Eq for Snapshot<T> {}

impl<T> Hash for Snapshot<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.0).hash(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::hash_map::DefaultHasher;

    fn hash_of(s: &Snapshot<Vec<u8>>) -> u64 {
        let mut h = DefaultHasher::new();
        s.hash(&mut h);
        h.finish()
    }

    /// Equal contents are not enough: only the same allocation is equal.
    #[test]
    fn equal_only_to_the_same_allocation() {
        let a = Arc::new(vec![1u8]);
        let same = Snapshot(Arc::clone(&a));
        let also_same = Snapshot(a);
        let other = Snapshot(Arc::new(vec![1u8]));
        assert!(same == also_same);
        assert_eq!(hash_of(&same), hash_of(&also_same));
        assert!(same != other);
        assert_eq!(*other, vec![1u8]);
    }
}
