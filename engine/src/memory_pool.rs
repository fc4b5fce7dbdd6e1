//! The memory pool behind `--memory-limit`.
//!
//! A [`FairSpillPool`] of the given size, with one exception: the queues of
//! `RepartitionExec` are never refused memory. Refused, DataFusion 55.2 writes
//! the batch to a per-partition spill pool, and when two input tasks of one
//! repartition spill at once the reader can wait on an empty file while the
//! batch it needs sits in the next one — every worker parks and the query
//! never returns (apache/datafusion#24883, fixed upstream after 55.2; seen
//! here as the engagement query hanging at 0 % CPU under `--memory-limit
//! 50M`). Those queues are bounded anyway: a repartition stops pulling input
//! once every output channel holds a batch, so granting them is a few batches
//! per partition over the limit, while sorts and aggregates keep spilling
//! within their fair shares of it. The grants are still counted, so
//! unspillable consumers see less room.
//!
//! The pool is wrapped in a [`TrackConsumersPool`] so that "resources
//! exhausted" errors name the largest consumers.

use std::num::NonZeroUsize;
use std::sync::Arc;

use datafusion::common::Result;
use datafusion::execution::memory_pool::{
    FairSpillPool, MemoryLimit, MemoryPool, MemoryReservation, TrackConsumersPool,
};

/// The pool for a memory limit of `limit` bytes.
pub fn memory_pool(limit: usize) -> Arc<dyn MemoryPool> {
    Arc::new(TrackConsumersPool::new(
        RepartitionGrantingPool(FairSpillPool::new(limit)),
        NonZeroUsize::new(5).expect("non-zero"),
    ))
}

/// A fair spill pool that always grants repartition queues (see the module
/// docs for why).
#[derive(Debug)]
struct RepartitionGrantingPool(FairSpillPool);

/// DataFusion names a repartition's reservations `RepartitionExec[<output
/// partition>]`.
fn is_repartition_queue(reservation: &MemoryReservation) -> bool {
    reservation
        .consumer()
        .name()
        .starts_with("RepartitionExec[")
}

impl std::fmt::Display for RepartitionGrantingPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl MemoryPool for RepartitionGrantingPool {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn register(&self, consumer: &datafusion::execution::memory_pool::MemoryConsumer) {
        self.0.register(consumer)
    }

    fn unregister(&self, consumer: &datafusion::execution::memory_pool::MemoryConsumer) {
        self.0.unregister(consumer)
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.0.grow(reservation, additional)
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.0.shrink(reservation, shrink)
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        if is_repartition_queue(reservation) {
            self.0.grow(reservation, additional);
            return Ok(());
        }
        self.0.try_grow(reservation, additional)
    }

    fn reserved(&self) -> usize {
        self.0.reserved()
    }

    fn memory_limit(&self) -> MemoryLimit {
        self.0.memory_limit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::execution::memory_pool::MemoryConsumer;

    #[test]
    fn repartition_queues_are_granted_other_spillers_keep_their_share() {
        let pool = memory_pool(1000);
        let queue = MemoryConsumer::new("RepartitionExec[0]")
            .with_can_spill(true)
            .register(&pool);
        queue
            .try_grow(5000)
            .expect("a repartition queue is never refused");
        assert_eq!(pool.reserved(), 5000);

        // Two spillable consumers: the sorter's fair share is half the pool.
        let sort = MemoryConsumer::new("ExternalSorter[0]")
            .with_can_spill(true)
            .register(&pool);
        let err = sort.try_grow(600).expect_err("beyond the sorter's share");
        assert!(err.to_string().contains("RepartitionExec[0]"), "{err}");
        sort.try_grow(400).expect("within the sorter's share");

        // Unspillable consumers see the queue's grant as used room.
        let merge = MemoryConsumer::new("merge").register(&pool);
        merge.try_grow(10).expect_err("the pool is over its limit");
        drop(queue);
        merge
            .try_grow(10)
            .expect("room again once the queue drained");
    }
}
