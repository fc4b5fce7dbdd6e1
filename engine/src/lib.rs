//! # trail-engine
//!
//! The embedded core of Trail: where events enter, where they are stored, and
//! where SQL over them is planned.
//!
//! ```text
//!  messages (NDJSON/CSV/Parquet) ──► message ──► ingest ──► store (Delta Lake)
//!                                        │                      │
//!                                    identity, sessions         ▼
//!  SQL (Heap/BigQuery or PostgreSQL) ──► dialect ──► catalog ──► DataFusion
//! ```
//!
//! Open a data directory with [`Trail::open`], import messages with
//! [`Trail::import`] (or the single-call [`Trail::track`], [`Trail::identify`],
//! [`Trail::add_user_properties`]) and query with [`Trail::sql`].

mod canonical_user;
pub mod catalog;
mod count_distinct;
pub mod dialect;
mod distinct_user;
mod error;
mod event_batch;
mod gather;
pub mod generator;
mod id_runs;
mod id_set;
mod identity;
pub mod ingest;
mod json_object;
mod json_scan;
mod layout;
mod list_group_key;
mod memory_pool;
pub mod message;
mod multi_distinct;
mod ordered_array_agg;
mod promoted;
mod properties;
mod raw_json;
mod read_ahead;
mod scan_predicate;
mod snapshot;
mod store;
mod time;
mod track_columns;
mod trail;
mod user_filter;
mod users_lookup;
mod users_table;

pub use error::{Error, Result};
pub use ingest::{ImportOptions, ImportReport, InputFormat, Rejection};
pub use memory_pool::memory_pool;
pub use properties::Properties;
pub use read_ahead::ReadAhead;
pub use store::CompactReport;
pub use trail::{Trail, TrailOptions};
