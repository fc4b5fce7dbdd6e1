//! Plans read only what a query needs: property reads go to stored columns
//! instead of rebuilding the JSON object (engine/src/promoted.rs), a filter on
//! one user reads that user's stored ids (engine/src/user_filter.rs). Their
//! answers are checked in `slt/props/` and `slt/fixture/`.

use datafusion::physical_plan::displayable;
use trail_engine::Trail;

use super::fixture::{fixture_trail, props_trail};

/// The physical plan of `sql`, as indented text.
async fn physical_plan(trail: &Trail, sql: &str) -> String {
    let plan = trail
        .dataframe(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .create_physical_plan()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let text = displayable(plan.as_ref()).indent(true).to_string();
    text
}

#[tokio::test]
async fn property_reads_use_stored_columns() {
    let (_dir, trail) = props_trail().await;
    let feature_adoption = include_str!("../../../testdata/seed_queries/feature_adoption.sql");
    for (sql, columns) in [
        (
            feature_adoption,
            &["up__plan_level", "user_properties_rest"][..],
        ),
        (
            "SELECT user_properties.coupon, user_properties->>'Coupon' FROM events",
            &["user_properties_rest"],
        ),
        (
            "SELECT COUNT(*) FROM events WHERE event_properties->>'Search Term' = 'shoes'",
            &["event_properties_rest"],
        ),
        (
            "SELECT event_properties.search_term, event_properties->>'usage_count' FROM events",
            &["ep__usage_count", "event_properties_rest"],
        ),
    ] {
        let plan = physical_plan(&trail, sql).await;
        assert!(
            !plan.contains("trail_json_object"),
            "{sql}\nrebuilds a JSON object:\n{plan}"
        );
        for column in columns {
            assert!(
                plan.contains(column),
                "{sql}\ndoes not read {column}:\n{plan}"
            );
        }
    }
}

#[tokio::test]
async fn keys_a_promoted_key_may_answer_still_read_the_whole_object() {
    let (_dir, trail) = props_trail().await;
    // trail_prop's lenient match finds `usage_count` for `Usage_Count`, in
    // the typed column or the residual JSON: only the whole object is safe.
    let plan = physical_plan(&trail, "SELECT event_properties.Usage_Count FROM events").await;
    assert!(plan.contains("trail_json_object"), "{plan}");
}

#[tokio::test]
async fn user_properties_without_merges_read_stored_columns() {
    // No user was merged: the users lookup is a plain scan of the users table.
    let dir = tempfile::tempdir().expect("tempdir");
    let trail = Trail::open(dir.path()).await.expect("open");
    let ndjson = [
        r#"{"type":"add_user_properties","user_id":"u1","properties":{"plan_level":"Pro"}}"#,
        r#"{"type":"add_user_properties","user_id":"u2","properties":{"plan_level":"Free","Signup Source":"ad"}}"#,
        r#"{"type":"track","user_id":"u1","event":"A","time":"2025-01-02T10:00:00Z"}"#,
        r#"{"type":"track","user_id":"u2","event":"A","time":"2025-01-02T10:00:00Z"}"#,
        r#"{"type":"track","user_id":"u3","event":"A","time":"2025-01-02T10:00:00Z"}"#,
    ]
    .join("\n");
    trail.import_str(&ndjson).await.expect("import");
    let sql = "SELECT user_id, user_properties.plan_level, user_properties.signup_source, \
               user_properties->>'Signup Source' FROM events ORDER BY user_id";
    let plan = physical_plan(&trail, sql).await;
    assert!(!plan.contains("trail_json_object"), "{plan}");
    assert!(plan.contains("up__plan_level"), "{plan}");
    // Each read is evaluated once per user, on the users side
    // (engine/src/users_lookup.rs): event rows get its value by their
    // user's row, not the user's residual JSON, and no join.
    assert!(!plan.contains("__up_rest"), "{plan}");
    assert!(!plan.contains("HashJoinExec"), "{plan}");
    assert!(plan.contains("trail_user_row(user_id"), "{plan}");
    assert!(
        plan.lines()
            .any(|l| l.contains("trail_user_column[")
                && l.contains("trail_prop(u.user_properties_rest")),
        "{plan}"
    );
    assert_eq!(
        super::fixture::rows(&trail, sql).await,
        ["u1|Pro|NULL|NULL", "u2|Free|ad|ad", "u3|NULL|NULL|NULL"]
    );
}

/// The fixture merges u3 into u1: a filter on u1 reads the stored events of
/// u1 and u3 only; on u2 (no merges), those of u2.
#[tokio::test]
async fn a_user_filter_reads_only_that_users_stored_ids() {
    let (_dir, trail) = fixture_trail().await;
    for (sql, ids) in [
        (
            "SELECT COUNT(*) FROM events WHERE user_id = 'u1'",
            &["u1", "u3"][..],
        ),
        (
            "SELECT event_type FROM events WHERE 'u2' = user_id",
            &["u2"],
        ),
        (
            "SELECT COUNT(*) FROM events WHERE user_id IN ('u1', 'u4')",
            &["u1", "u3", "u4"],
        ),
    ] {
        let plan = physical_plan(&trail, sql).await;
        let guarantee = plan
            .lines()
            .filter(|l| l.contains("DataSourceExec") && l.contains("event_date="))
            .find_map(|l| l.split("required_guarantees=[user_id in (").nth(1))
            .and_then(|rest| rest.split(')').next())
            .unwrap_or_else(|| panic!("{sql}: the events scan has no user_id guarantee\n{plan}"));
        let mut found: Vec<&str> = guarantee.split(", ").collect();
        found.sort();
        assert_eq!(found, ids, "{sql}\n{plan}");
    }
}

/// The documented engagement query counts three distinct things per user in
/// one aggregate over one scan of the events (engine/src/count_distinct/):
/// no per-argument branches joined on the user, no partial/final split.
/// Its answer is checked in `slt/fixture/seed_queries.slt`.
#[tokio::test]
async fn distinct_counts_per_user_are_one_single_phase_aggregate() {
    let (_dir, trail) = fixture_trail().await;
    let engagement = include_str!("../../../testdata/seed_queries/engagement.sql");
    let plan = physical_plan(&trail, engagement).await;
    let aggregates: Vec<&str> = plan
        .lines()
        .filter(|l| l.contains("AggregateExec"))
        .collect();
    assert_eq!(aggregates.len(), 1, "{plan}");
    assert!(aggregates[0].contains("mode=SinglePartitioned"), "{plan}");
    assert_eq!(
        aggregates[0].matches("trail_count_distinct(").count(),
        3,
        "{plan}"
    );
    let event_scans = plan
        .lines()
        .filter(|l| l.contains("DataSourceExec") && l.contains("event_date="))
        .count();
    assert_eq!(event_scans, 1, "{plan}");
    // No join: merged ids are mapped without one (canonical_user.rs).
    let joins = plan.lines().filter(|l| l.contains("HashJoinExec")).count();
    assert_eq!(joins, 0, "{plan}");
}

/// The conversion-paths query's per-user `ARRAY_AGG(event_type ORDER BY
/// time)` is aggregated once, over events partitioned by user, instead of
/// building every row into partial states and merging them.
#[tokio::test]
async fn ordered_array_agg_per_user_is_single_phase() {
    let (_dir, trail) = fixture_trail().await;
    let conversion_paths = include_str!("../../../testdata/seed_queries/conversion_paths.sql");
    let plan = physical_plan(&trail, conversion_paths).await;
    let ordered: Vec<&str> = plan
        .lines()
        .filter(|l| l.contains("AggregateExec") && l.contains("trail_ordered_array_agg"))
        .collect();
    assert_eq!(ordered.len(), 1, "{plan}");
    assert!(ordered[0].contains("mode=SinglePartitioned"), "{plan}");
}

/// Every filter pushed into the events scan appears once in its Parquet
/// predicate (engine/src/scan_predicate.rs): DataFusion appends pushed-down
/// filters to the Delta scan's own predicate, which already holds them.
#[tokio::test]
async fn scan_predicates_hold_each_filter_once() {
    let (_dir, trail) = fixture_trail().await;
    let feature_adoption = include_str!("../../../testdata/seed_queries/feature_adoption.sql");
    for sql in [
        "SELECT COUNT(*) FROM events WHERE event_type LIKE 'Feature:%'",
        feature_adoption,
    ] {
        let plan = physical_plan(&trail, sql).await;
        let scans: Vec<&str> = plan
            .lines()
            .filter(|l| l.contains("DataSourceExec") && l.contains("event_type"))
            .collect();
        assert!(!scans.is_empty(), "{plan}");
        for scan in scans {
            let predicate = scan
                .split(", predicate=")
                .nth(1)
                .and_then(|p| p.split(", pruning_predicate=").next())
                .unwrap_or_else(|| panic!("no predicate in {scan}"));
            assert_eq!(
                predicate.matches("LIKE Feature:%").count(),
                1,
                "{predicate}"
            );
        }
    }
}

/// With users merged, a query that reads `user_id` but no user property maps
/// the stored ids through the small map of merged-away ids
/// (engine/src/canonical_user.rs) instead of joining every event to the
/// users; one that reads a user property gets the survivor's id with it from
/// the users side (engine/src/users_lookup.rs). The answers are checked in
/// `slt/fixture/` and `import.rs` (merges).
#[tokio::test]
async fn merged_user_ids_are_mapped_without_a_users_join() {
    let (_dir, trail) = fixture_trail().await;
    let conversion_paths = include_str!("../../../testdata/seed_queries/conversion_paths.sql");
    for sql in [
        "SELECT user_id, COUNT(*) FROM events GROUP BY user_id",
        conversion_paths,
    ] {
        let plan = physical_plan(&trail, sql).await;
        assert!(plan.contains("trail_canonical_user_id"), "{plan}");
        assert!(!plan.contains("merged_into"), "{plan}");
    }
    let plan = physical_plan(
        &trail,
        "SELECT user_id, user_properties->>'plan_level' FROM events",
    )
    .await;
    assert!(plan.contains("trail_user_row(user_id"), "{plan}");
    assert!(!plan.contains("trail_canonical_user_id"), "{plan}");
    assert!(!plan.contains("HashJoinExec"), "{plan}");
}

/// `DATE(time) op D` is `event_date op D` row for row (every row's date
/// partition is the UTC date of its `time`), so such a filter is answered by
/// the date partitions alone and the scan decodes no `time` for it. Events
/// one microsecond either side of midnight check that no row moves across
/// the boundary; a filter on the timestamp itself still reads `time`.
#[tokio::test]
async fn date_filters_on_time_are_answered_by_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let trail = Trail::open(dir.path()).await.unwrap();
    let times = [
        "2024-03-09T23:59:59.999999Z",
        "2024-03-10T00:00:00Z",
        "2024-03-10T23:59:59.999999Z",
        "2024-03-11T00:00:00Z",
    ];
    let ndjson: String = times
        .iter()
        .map(|t| {
            format!("{{\"type\":\"track\",\"user_id\":\"u\",\"event\":\"e\",\"time\":\"{t}\"}}\n")
        })
        .collect();
    trail.import_str(&ndjson).await.unwrap();
    for (filter, expected, reads_time) in [
        ("DATE(time) >= DATE '2024-03-10'", 3, false),
        ("DATE(time) > DATE '2024-03-10'", 1, false),
        ("DATE(time) = DATE '2024-03-10'", 2, false),
        ("DATE(time) < DATE '2024-03-10'", 1, false),
        ("DATE(time) <= DATE '2024-03-10'", 3, false),
        ("DATE '2024-03-10' <= DATE(time)", 3, false),
        ("CAST(time AS DATE) >= DATE '2024-03-10'", 3, false),
        (
            "DATE(time) >= DATE_SUB(DATE '2024-03-11', INTERVAL 1 DAY)",
            3,
            false,
        ),
        ("time >= TIMESTAMP '2024-03-10 00:00:00+00'", 3, true),
        ("time > TIMESTAMP '2024-03-10 23:59:59.999999+00'", 1, true),
    ] {
        let sql = format!("SELECT COUNT(event_type) FROM events WHERE {filter}");
        let batches = trail.sql(&sql).await.unwrap();
        let count = batches[0]
            .column(0)
            .as_any()
            .downcast_ref::<datafusion::arrow::array::Int64Array>()
            .unwrap()
            .value(0);
        assert_eq!(count, expected, "{sql}");
        let plan = physical_plan(&trail, &sql).await;
        let scan = plan
            .lines()
            .find(|l| l.contains("DataSourceExec"))
            .unwrap_or_else(|| panic!("{sql}: no scan\n{plan}"));
        let projection = scan
            .split("projection=[")
            .nth(1)
            .and_then(|rest| rest.split(']').next())
            .unwrap_or_else(|| panic!("{sql}: no scan projection\n{plan}"));
        let read = projection.split(", ").any(|c| c == "time");
        assert_eq!(read, reads_time, "{sql}\n{plan}");
    }
}

/// `COUNT(DISTINCT user_id)` counts the users' numbers, not their id text
/// (engine/src/distinct_user.rs); `slt/fixture/distinct_users.slt` checks
/// the answers. (A lone ungrouped one is DataFusion's `GROUP BY user_id`
/// rewrite already.)
#[tokio::test]
async fn distinct_user_counts_count_user_keys() {
    let (_dir, trail) = fixture_trail().await;
    let feature_adoption = include_str!("../../../testdata/seed_queries/feature_adoption.sql");
    for sql in [
        feature_adoption,
        "SELECT e.event_type, COUNT(DISTINCT e.user_id), COUNT(*) FROM events e GROUP BY 1",
        "SELECT event_type, COUNT(DISTINCT session_id), COUNT(DISTINCT user_id) FROM events GROUP BY 1",
    ] {
        let plan = physical_plan(&trail, sql).await;
        assert!(
            plan.contains("trail_user_key(") && plan.contains("trail_count_distinct_keys("),
            "{sql}\ndoes not count user keys:\n{plan}"
        );
    }
}
