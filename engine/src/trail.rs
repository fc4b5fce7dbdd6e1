//! The [`Trail`] handle: one open data directory.

use std::path::{Path, PathBuf};

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::{DataFrame, SessionContext};

use crate::Result;

/// One open Trail data directory: its tables, registered in a DataFusion
/// session with every Trail function and the Heap SQL dialect.
#[derive(Debug, Clone)]
pub struct Trail {
    dir: PathBuf,
    ctx: SessionContext,
}

impl Trail {
    /// Opens (creating if needed) the data directory `dir`.
    pub async fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let ctx = SessionContext::new();
        crate::dialect::register(&ctx)?;
        Ok(Self {
            dir: dir.as_ref().to_path_buf(),
            ctx,
        })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The DataFusion session with every table and function registered.
    pub fn session(&self) -> &SessionContext {
        &self.ctx
    }

    /// Plans one SQL statement (Heap/BigQuery or PostgreSQL dialect).
    pub async fn dataframe(&self, sql: &str) -> Result<DataFrame> {
        let statement = crate::dialect::parse_one(sql)?;
        let plan = self
            .ctx
            .state()
            .statement_to_plan(datafusion::sql::parser::Statement::Statement(Box::new(statement)))
            .await?;
        Ok(self.ctx.execute_logical_plan(plan).await?)
    }

    /// Runs one SQL statement and collects its result.
    pub async fn sql(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        Ok(self.dataframe(sql).await?.collect().await?)
    }
}
