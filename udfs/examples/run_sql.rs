//! Runs one SQL query over a Parquet file registered as table `events`, with
//! Trail's behavioural functions, and prints the result as CSV (header first).
//!
//! ```text
//! cargo build --workspace --all-targets
//! target/debug/examples/run_sql events.parquet \
//!   "SELECT user_id, window_funnel(3600, time, event_type = 'view', event_type = 'buy') FROM events GROUP BY user_id"
//! ```
//!
//! Used by the differential test against ClickHouse (`tests/chdb/`). Lists
//! print as `[a, b]`, NULL as an empty field, timestamps as RFC 3339.

use std::io::Write;

use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::error::Result;
use datafusion::prelude::{ParquetReadOptions, SessionContext};

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(file), Some(sql)) = (args.next(), args.next()) else {
        eprintln!("usage: run_sql FILE.parquet \"SQL\"");
        std::process::exit(2);
    };
    let ctx = SessionContext::new();
    trail_udfs::register_all(&ctx)?;
    ctx.register_parquet("events", &file, ParquetReadOptions::default())
        .await?;
    // TRAIL_REPEAT=n runs the query n times and reports the fastest on stderr (for benchmarks).
    let repeat: usize = std::env::var("TRAIL_REPEAT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let mut best = std::time::Duration::MAX;
    let mut result = None;
    for _ in 0..repeat.max(1) {
        let start = std::time::Instant::now();
        let df = ctx.sql(&sql).await?;
        let schema = df.schema().as_arrow().clone();
        let batches = df.collect().await?;
        best = best.min(start.elapsed());
        result = Some((schema, batches));
    }
    if repeat > 1 {
        eprintln!("best of {repeat}: {:.3} s", best.as_secs_f64());
    }
    let (schema, batches) = result.expect("ran at least once");

    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let header: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| csv_field(f.name()))
        .collect();
    writeln!(out, "{}", header.join(","))?;
    let options = FormatOptions::default();
    for batch in &batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = formatters
                .iter()
                .map(|f| csv_field(&f.value(row).to_string()))
                .collect();
            writeln!(out, "{}", cells.join(","))?;
        }
    }
    out.flush()?;
    Ok(())
}
