//! The engine's error type.

use datafusion::error::DataFusionError;

use crate::ingest::Rejection;

/// Result alias for the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the engine can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A query failed to plan or run.
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
    /// An Arrow kernel failed.
    #[error(transparent)]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    /// The Delta Lake log or its files could not be read or written.
    #[error("delta table: {0}")]
    Delta(#[from] deltalake::DeltaTableError),
    /// Reading or writing the data directory or an input failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// An import had more rejected lines than `--max-errors` allows; nothing of it was committed.
    #[error("import failed: {} rejected line(s) (more than --max-errors {max_errors}); nothing was imported. First: {}",
        .rejected.len(), .rejected.first().map(|r| r.to_string()).unwrap_or_default())]
    ImportFailed {
        max_errors: usize,
        rejected: Vec<Rejection>,
    },
    /// A caller passed something the engine cannot use.
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| Self::Io { context, source }
    }
}
