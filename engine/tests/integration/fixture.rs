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

/// Messages for the typed-property-read tests (`slt/props/`), answers
/// worked out by hand there. Enough rows that a key can be promoted although
/// one value has another type (promotion wants 99% of one type):
///
/// * users `v00`..`v99`: `plan_level` `Free` (even) or `Pro` (odd), `seats`
///   = the number; one `Feature: Reports` event each, `usage_count` = the number;
/// * `odd`: `plan_level` 3 and `seats` "many" (other types: kept in the
///   residual JSON), event `usage_count` "lots" with `Search Term` "shoes";
/// * `ref`: `plan_level` `Team`, `Signup Source` `ad` (never promoted: the
///   name has a space); event `usage_count` 7, `Search Term` "hats", `nested`
///   `{"a":1}`;
/// * `late`: `plan_level` `Free`, `Signup Source` `organic`, `Coupon` `X`;
///   identifies as `ref` did, so it is merged into `ref`, which keeps its own
///   values and gains `Coupon`; one `Late Signup` event;
/// * `ghost`: one `Ghost` event, no properties at all.
pub(crate) fn props_ndjson() -> String {
    let mut lines = Vec::new();
    let track = |user: &str, event: &str, time: &str, props: &str| {
        format!(
            r#"{{"type":"track","user_id":"{user}","event":"{event}","time":"2025-01-02T{time}Z","properties":{props}}}"#
        )
    };
    let add = |user: &str, props: &str| {
        format!(r#"{{"type":"add_user_properties","user_id":"{user}","properties":{props}}}"#)
    };
    for i in 0..100 {
        let user = format!("v{i:02}");
        let plan = if i % 2 == 0 { "Free" } else { "Pro" };
        lines.push(add(
            &user,
            &format!(r#"{{"plan_level":"{plan}","seats":{i}}}"#),
        ));
        lines.push(track(
            &user,
            "Feature: Reports",
            "10:00:00",
            &format!(r#"{{"usage_count":{i}}}"#),
        ));
    }
    lines.push(add("odd", r#"{"plan_level":3,"seats":"many"}"#));
    lines.push(track(
        "odd",
        "Feature: Reports",
        "10:00:00",
        r#"{"usage_count":"lots","Search Term":"shoes"}"#,
    ));
    lines.push(add("ref", r#"{"plan_level":"Team","Signup Source":"ad"}"#));
    lines.push(r#"{"type":"identify","user_id":"ref","identity":"bob@example.com","time":"2025-01-02T09:00:00Z"}"#.to_string());
    lines.push(track(
        "ref",
        "Feature: Reports",
        "10:00:00",
        r#"{"usage_count":7,"Search Term":"hats","nested":{"a":1}}"#,
    ));
    lines.push(add(
        "late",
        r#"{"plan_level":"Free","Signup Source":"organic","Coupon":"X"}"#,
    ));
    lines.push(track(
        "late",
        "Late Signup",
        "10:30:00",
        r#"{"usage_count":1}"#,
    ));
    lines.push(r#"{"type":"identify","user_id":"late","identity":"bob@example.com","time":"2025-01-02T11:00:00Z"}"#.to_string());
    lines.push(track("ghost", "Ghost", "12:00:00", "{}"));
    lines.join("\n")
}

/// A Trail in a fresh temporary directory, with [`props_ndjson`] imported.
pub(crate) async fn props_trail() -> (tempfile::TempDir, Trail) {
    let dir = tempfile::tempdir().expect("tempdir");
    let trail = Trail::open(dir.path()).await.expect("open");
    let report = trail
        .import_str(&props_ndjson())
        .await
        .expect("import props fixture");
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
