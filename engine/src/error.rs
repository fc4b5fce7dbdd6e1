//! The engine's error type.

use datafusion::error::DataFusionError;

/// Result alias for the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the engine can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A query failed to plan or run.
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
    /// Reading or writing the data directory failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}
