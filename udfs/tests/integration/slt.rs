//! sqllogictest harness: `tests/slt/*.slt`, filtered by `TRAIL_SLT` (a substring of the file name).

use std::path::PathBuf;

use async_trait::async_trait;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::error::DataFusionError;
use datafusion::prelude::{SessionConfig, SessionContext};
use sqllogictest::{DBOutput, DefaultColumnType};

/// How a file is planned: the same answers are expected under each.
#[derive(Debug, Clone, Copy)]
enum Plan {
    SinglePartition,
    PartialAndMerge,
    SkipPartialAggregation,
}

impl Plan {
    fn context(self) -> SessionContext {
        let config = match self {
            Plan::SinglePartition => SessionConfig::new().with_target_partitions(1),
            Plan::PartialAndMerge => SessionConfig::new()
                .with_target_partitions(4)
                .with_batch_size(2),
            Plan::SkipPartialAggregation => SessionConfig::new()
                .with_target_partitions(4)
                .with_batch_size(2)
                .set_usize(
                    "datafusion.execution.skip_partial_aggregation_probe_rows_threshold",
                    1,
                )
                .set_str(
                    "datafusion.execution.skip_partial_aggregation_probe_ratio_threshold",
                    "0.0",
                ),
        };
        let ctx = SessionContext::new_with_config(config);
        trail_udfs::register_all(&ctx).expect("register");
        ctx
    }
}

struct TrailDb {
    ctx: SessionContext,
}

fn column_type(dt: &DataType) -> DefaultColumnType {
    match dt {
        dt if dt.is_integer() => DefaultColumnType::Integer,
        dt if dt.is_floating() => DefaultColumnType::FloatingPoint,
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => DefaultColumnType::Text,
        _ => DefaultColumnType::Any,
    }
}

#[async_trait]
impl sqllogictest::AsyncDB for TrailDb {
    type Error = DataFusionError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, DataFusionError> {
        let df = self.ctx.sql(sql).await?;
        let schema = df.schema().as_arrow().clone();
        let batches = df.collect().await?;
        if schema.fields().is_empty() {
            return Ok(DBOutput::StatementComplete(0));
        }
        let options = FormatOptions::default().with_null("NULL");
        let mut rows = Vec::new();
        for batch in &batches {
            let formatters = batch
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
                .collect::<Result<Vec<_>, _>>()?;
            for row in 0..batch.num_rows() {
                rows.push(
                    formatters
                        .iter()
                        .map(|f| f.value(row).to_string())
                        .collect(),
                );
            }
        }
        let types = schema
            .fields()
            .iter()
            .map(|f| column_type(f.data_type()))
            .collect();
        Ok(DBOutput::Rows { types, rows })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "trail"
    }
}

fn slt_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let filter = std::env::var("TRAIL_SLT").unwrap_or_default();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/slt")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.contains(&filter))
        })
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqllogictest_files() {
    let files = slt_files();
    assert!(!files.is_empty(), "no .slt file matches TRAIL_SLT");
    let mut failures = Vec::new();
    for file in &files {
        for plan in [
            Plan::SinglePartition,
            Plan::PartialAndMerge,
            Plan::SkipPartialAggregation,
        ] {
            let mut runner = sqllogictest::Runner::new(move || async move {
                Ok(TrailDb {
                    ctx: plan.context(),
                })
            });
            if let Err(e) = runner.run_file_async(file).await {
                failures.push(format!("{} [{plan:?}]: {e}", file.display()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
