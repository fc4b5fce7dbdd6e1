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

pub mod dialect;
mod error;
mod trail;

pub use error::{Error, Result};
pub use trail::Trail;
