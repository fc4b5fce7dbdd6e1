//! The one integration-test binary of `trail-udfs`.
//!
//! `slt` runs every `tests/slt/*.slt` file (one per function) against a
//! `SessionContext` with `trail_udfs::register_all`, under three plans: a
//! single partition; four partitions with tiny batches (partial states are
//! built and merged); and the same with partial aggregation skipped (rows are
//! turned straight into states). Run one file with
//! `TRAIL_SLT=window_funnel cargo test --workspace --test integration`.

#[path = "integration/slt.rs"]
mod slt;
