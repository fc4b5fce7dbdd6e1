//! Runs every `tests/slt/**/*.slt` file. Files under `slt/fixture/` run
//! against a Trail holding `testdata/fixture.ndjson` (answers worked out by
//! hand), under `slt/props/` against one holding
//! [`super::fixture::props_ndjson`]; all others against an empty Trail. `TRAIL_SLT=name` filters.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use datafusion::arrow::array::Array;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType, Runner};
use trail_engine::Trail;

struct TrailDb {
    trail: Trail,
}

#[async_trait]
impl AsyncDB for TrailDb {
    type Error = trail_engine::Error;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, Self::Error> {
        let df = self.trail.dataframe(sql).await?;
        let schema = df.schema().as_arrow().clone();
        let batches = df.collect().await?;
        if schema.fields().is_empty() {
            return Ok(DBOutput::StatementComplete(0));
        }
        let types = schema
            .fields()
            .iter()
            .map(|f| column_type(f.data_type()))
            .collect();
        let options = FormatOptions::default().with_null("NULL");
        let mut rows = Vec::new();
        for batch in &batches {
            let formatters = batch
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
                .collect::<Result<Vec<_>, _>>()
                .map_err(datafusion::error::DataFusionError::from)?;
            for row in 0..batch.num_rows() {
                rows.push(
                    formatters
                        .iter()
                        .zip(batch.columns())
                        .map(|(f, c)| {
                            let text = f.value(row).to_string();
                            if text.is_empty() && c.is_valid(row) {
                                "(empty)".to_string()
                            } else {
                                text
                            }
                        })
                        .collect(),
                );
            }
        }
        Ok(DBOutput::Rows { types, rows })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "trail"
    }
}

fn column_type(t: &DataType) -> DefaultColumnType {
    match t {
        t if t.is_integer() => DefaultColumnType::Integer,
        t if t.is_floating()
            || matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..)) =>
        {
            DefaultColumnType::FloatingPoint
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => DefaultColumnType::Text,
        DataType::Dictionary(_, v) => column_type(v),
        _ => DefaultColumnType::Any,
    }
}

fn slt_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            slt_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "slt") {
            out.push(path);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqllogictest_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let filter = std::env::var("TRAIL_SLT").unwrap_or_default();
    let mut files = Vec::new();
    slt_files(&root, &mut files);
    files.sort();
    assert!(!files.is_empty(), "no .slt files under {}", root.display());
    let mut failures = Vec::new();
    let mut ran = 0;
    for file in files
        .iter()
        .filter(|f| f.to_string_lossy().contains(&filter))
    {
        let in_dir = |name: &str| file.components().any(|c| c.as_os_str() == name);
        let (dir, trail) = if in_dir("fixture") {
            super::fixture::fixture_trail().await
        } else if in_dir("props") {
            super::fixture::props_trail().await
        } else {
            let dir = tempfile::tempdir().expect("tempdir");
            let trail = Trail::open(dir.path()).await.expect("open");
            (dir, trail)
        };
        let mut runner = Runner::new(move || {
            let trail = trail.clone();
            async move { Ok(TrailDb { trail }) }
        });
        runner.with_column_validator(sqllogictest::strict_column_validator);
        if let Err(err) = runner.run_file_async(file).await {
            failures.push(format!("{}\n{}", file.display(), err.display(true)));
        }
        drop(dir);
        ran += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(ran > 0 || !filter.is_empty(), "no .slt file ran");
}
