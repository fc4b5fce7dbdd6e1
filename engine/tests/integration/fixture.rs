//! Test data: the hand-checked fixture and small helpers.

use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use trail_engine::Trail;

/// `testdata/fixture.ndjson` with its `{{D-n}}` placeholders turned into the
/// dates `n` days before today (UTC).
pub(crate) fn fixture_ndjson() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/fixture.ndjson");
    let text = std::fs::read_to_string(path).expect("read fixture");
    relative_dates(&text)
}

/// Replaces `{{D-n}}` with the date `n` days before today, UTC.
pub(crate) fn relative_dates(text: &str) -> String {
    let today = chrono::Utc::now().date_naive();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{D-") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").expect("closed placeholder") + start;
        let days: i64 = rest[start + 4..end].parse().expect("day offset");
        out.push_str(
            &(today - chrono::Duration::days(days))
                .format("%Y-%m-%d")
                .to_string(),
        );
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

/// A Trail in a fresh temporary directory, with the fixture imported.
pub(crate) async fn fixture_trail() -> (tempfile::TempDir, Trail) {
    let dir = tempfile::tempdir().expect("tempdir");
    let trail = Trail::open(dir.path()).await.expect("open");
    let report = trail
        .import_str(&fixture_ndjson())
        .await
        .expect("import fixture");
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    (dir, trail)
}

/// Runs a query and renders each row as its values joined by `|` (NULL as `NULL`).
pub(crate) async fn rows(trail: &Trail, sql: &str) -> Vec<String> {
    let batches = trail
        .sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let options = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for batch in &batches {
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).expect("formatter"))
            .collect();
        for row in 0..batch.num_rows() {
            out.push(
                formatters
                    .iter()
                    .map(|f| f.value(row).to_string())
                    .collect::<Vec<_>>()
                    .join("|"),
            );
        }
    }
    out
}
