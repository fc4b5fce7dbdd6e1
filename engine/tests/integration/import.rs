//! Import: message forms, rejections, idempotency, merges, sessions, layout.

use datafusion::physical_plan::displayable;
use trail_engine::{Error, ImportOptions, InputFormat, Trail};

use super::fixture::{fixture_trail, rows};

async fn empty_trail() -> (tempfile::TempDir, Trail) {
    let dir = tempfile::tempdir().expect("tempdir");
    let trail = Trail::open(dir.path()).await.expect("open");
    (dir, trail)
}

async fn import(
    trail: &Trail,
    text: &str,
    format: InputFormat,
    max_errors: usize,
) -> trail_engine::Result<trail_engine::ImportReport> {
    let input = Box::new(std::io::Cursor::new(text.as_bytes().to_vec()));
    trail
        .import(input, format, &ImportOptions { max_errors }, &|_| {})
        .await
}

#[tokio::test]
async fn events_columns_are_exactly_the_designed_ones() {
    let (_dir, trail) = fixture_trail().await;
    let expected = [
        "event_id",
        "session_id",
        "user_id",
        "time",
        "event_type",
        "event_properties",
        "user_properties",
        "page_url",
        "page_title",
        "referrer",
        "device_type",
        "browser",
        "platform",
        "country",
        "region",
        "city",
    ];
    for table in ["events", "heap_export.events", "public.events"] {
        let df = trail
            .dataframe(&format!("SELECT * FROM {table}"))
            .await
            .unwrap();
        let names: Vec<_> = df
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, expected, "{table}");
    }
    let (_dir, empty) = empty_trail().await;
    let df = empty.dataframe("SELECT * FROM events").await.unwrap();
    assert_eq!(df.schema().fields().len(), 16);
    assert_eq!(rows(&empty, "SELECT COUNT(*) FROM events").await, ["0"]);
}

#[tokio::test]
async fn every_message_form_is_accepted() {
    let (_dir, trail) = empty_trail().await;
    let messages = r#"{"type":"track","user_id":"t1","event":"Trail Event","time":"2026-11-20T10:00:00.000Z","properties":{"plan":"pro"},"session_id":"s-1","event_id":"e-1","page_url":"https://a.io/x","page_title":"X","referrer":"https://r.io","device_type":"Desktop","browser":"Firefox","platform":"Linux","country":"DE","region":"Berlin","city":"Berlin"}
{"identity":"heap@example.com","event":"Heap Event","timestamp":"2026-11-20T11:00:00","idempotency_key":"e-2","properties":{"n":1}}
{"type":"track","userId":"seg-user","anonymousId":"seg-anon","event":"Segment Event","messageId":"e-3","timestamp":"2026-11-20T12:00:00Z","properties":{"v":2.5},"context":{"page":{"url":"https://s.io/p","title":"P","referrer":"https://g.com"},"userAgent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36","location":{"country":"FR","region":"IDF","city":"Paris"}}}
{"type":"page","anonymousId":"rud-anon","name":"Pricing","messageId":"e-4","timestamp":"2026-11-20T13:00:00Z","properties":{"url":"https://s.io/pricing"}}
{"type":"screen","anonymousId":"rud-anon","name":"Home","messageId":"e-5","timestamp":"2026-11-20T13:01:00Z"}
{"type":"identify","userId":"seg-user","anonymousId":"rud-anon","traits":{"plan_level":"Enterprise"}}
{"type":"alias","previousId":"old-anon","userId":"heap@example.com"}
{"type":"add_user_properties","user_id":"t1","properties":{"plan_level":"Pro"}}
{"identity":"heap@example.com","properties":{"plan_level":"Free"}}"#;
    let report = trail.import_str(messages).await.unwrap();
    assert_eq!(
        (report.messages, report.events, report.user_updates),
        (9, 5, 4),
        "{report:?}"
    );
    let got = rows(
        &trail,
        "SELECT event_id, user_id, event_type, session_id IS NOT NULL, page_url, page_title, referrer, device_type, browser, platform, country, region, city, \
         user_properties->>'plan_level' FROM events ORDER BY time",
    )
    .await;
    assert_eq!(
        got,
        [
            "e-1|t1|Trail Event|true|https://a.io/x|X|https://r.io|Desktop|Firefox|Linux|DE|Berlin|Berlin|Pro",
            "e-2|heap@example.com|Heap Event|true|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|Free",
            "e-3|seg-user|Segment Event|true|https://s.io/p|P|https://g.com|Desktop|Chrome|Windows|FR|IDF|Paris|Enterprise",
            // rud-anon identified as seg-user: merged, so its page and screen views are seg-user's.
            "e-4|seg-user|Page View|true|https://s.io/pricing|Pricing|NULL|NULL|NULL|NULL|NULL|NULL|NULL|Enterprise",
            "e-5|seg-user|Screen View|true|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|Enterprise",
        ]
    );
    assert_eq!(
        rows(
            &trail,
            "SELECT session_id FROM events WHERE event_id = 'e-1'"
        )
        .await,
        ["s-1"]
    );
    assert_eq!(
        rows(
            &trail,
            "SELECT from_user_id, to_user_id FROM user_migrations ORDER BY 1"
        )
        .await,
        ["old-anon|heap@example.com", "rud-anon|seg-user"]
    );
    assert_eq!(
        rows(&trail, "SELECT event_properties FROM events WHERE event_id IN ('e-1', 'e-3') ORDER BY event_id").await,
        [r#"{"plan":"pro"}"#, r#"{"v":2.5}"#]
    );
}

#[tokio::test]
async fn rejected_lines_are_reported_with_line_numbers() {
    let (_dir, trail) = empty_trail().await;
    let text = r#"{"type":"track","user_id":"a","event":"Ok","time":"2026-11-20T10:00:00Z"}
{"type":"track", nope
{"type":"track","event":"No User","time":"2026-11-20T10:00:00Z"}
{"type":"track","user_id":"a","event":"Bad Time","time":"last tuesday"}
{"type":"launch","user_id":"a"}
{"type":"track","user_id":"b","event":"Ok","time":"2026-11-20T11:00:00Z"}"#;
    // Default --max-errors 0: the import fails and nothing of it is visible.
    let err = import(&trail, text, InputFormat::Ndjson, 0)
        .await
        .unwrap_err();
    let Error::ImportFailed { rejected, .. } = err else {
        panic!("{err}")
    };
    assert_eq!(rejected[0].line, 2);
    assert!(
        rejected[0].reason.contains("bad JSON"),
        "{}",
        rejected[0].reason
    );
    assert_eq!(rows(&trail, "SELECT COUNT(*) FROM events").await, ["0"]);
    assert_eq!(rows(&trail, "SELECT COUNT(*) FROM users").await, ["0"]);

    let err = import(&trail, text, InputFormat::Ndjson, 3)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ImportFailed { .. }));
    assert_eq!(rows(&trail, "SELECT COUNT(*) FROM events").await, ["0"]);

    let report = import(&trail, text, InputFormat::Ndjson, 4).await.unwrap();
    let lines: Vec<_> = report.rejected.iter().map(|r| r.line).collect();
    assert_eq!(lines, [2, 3, 4, 5]);
    assert!(report.rejected[1].reason.contains("missing user"));
    assert!(report.rejected[2].reason.contains("bad timestamp"));
    assert!(report.rejected[3].reason.contains("unknown message type"));
    assert_eq!(report.events, 2);
    assert_eq!(
        rows(&trail, "SELECT user_id FROM events ORDER BY 1").await,
        ["a", "b"]
    );
}

#[tokio::test]
async fn reimporting_the_same_messages_does_not_duplicate() {
    let (_dir, trail) = fixture_trail().await;
    let before = rows(
        &trail,
        "SELECT COUNT(*), COUNT(DISTINCT event_id) FROM events",
    )
    .await;
    assert_eq!(before, ["17|17"]);
    let report = trail
        .import_str(&super::fixture::fixture_ndjson())
        .await
        .unwrap();
    assert_eq!((report.events, report.duplicates), (0, 17));
    assert_eq!(rows(&trail, "SELECT COUNT(*) FROM events").await, ["17"]);
    // Explicit ids dedupe too, also within one import.
    let twice = r#"{"type":"track","user_id":"z","event":"A","time":"2026-11-20T10:00:00Z","event_id":"same"}
{"type":"track","user_id":"z","event":"B","time":"2026-11-20T10:01:00Z","event_id":"same"}"#;
    let report = trail.import_str(twice).await.unwrap();
    assert_eq!((report.events, report.duplicates), (1, 1));
    assert_eq!(
        rows(
            &trail,
            "SELECT event_type FROM events WHERE event_id = 'same'"
        )
        .await,
        ["A"]
    );
}

#[tokio::test]
async fn identify_merges_two_users_into_one() {
    let (_dir, trail) = fixture_trail().await;
    assert_eq!(
        rows(
            &trail,
            "SELECT from_user_id, to_user_id FROM user_migrations"
        )
        .await,
        ["u3|u1"]
    );
    assert_eq!(
        rows(&trail, "SELECT COUNT(*) FROM events WHERE user_id = 'u3'").await,
        ["0"]
    );
    assert_eq!(
        rows(&trail, "SELECT user_id FROM users ORDER BY 1").await,
        ["u1", "u2", "u4"]
    );
    // u3's two events now belong to u1 and carry u1's current properties.
    assert_eq!(
        rows(&trail, "SELECT user_id, user_properties->>'plan_level' FROM events WHERE event_type = 'Feature: Export' ORDER BY time").await,
        ["u1|Pro", "u1|Pro"]
    );
    assert_eq!(
        rows(&trail, "SELECT identity FROM users WHERE user_id = 'u1'").await,
        ["alice@example.com"]
    );

    // A merge in a later import remaps events stored earlier.
    let (_dir, trail) = empty_trail().await;
    trail
        .import_str(
            r#"{"type":"track","user_id":"anon","event":"Visit","time":"2026-11-20T10:00:00Z"}"#,
        )
        .await
        .unwrap();
    trail.identify("known", "bob@example.com").await.unwrap();
    trail.identify("anon", "bob@example.com").await.unwrap();
    assert_eq!(rows(&trail, "SELECT user_id FROM events").await, ["known"]);
    assert_eq!(
        rows(&trail, "SELECT user_id, joindate FROM users").await,
        ["known|2026-11-20T10:00:00Z"]
    );
}

#[tokio::test]
async fn a_session_spans_two_imports() {
    let (_dir, trail) = empty_trail().await;
    trail
        .track("s", "A", "2026-11-20T10:00:00Z", serde_json::json!({}))
        .await
        .unwrap();
    trail
        .track("s", "B", "2026-11-20T10:25:00Z", serde_json::json!({}))
        .await
        .unwrap();
    // 30 minutes exactly still continues; more than 30 starts a new session.
    trail
        .track("s", "C", "2026-11-20T10:55:00Z", serde_json::json!({}))
        .await
        .unwrap();
    trail
        .track("s", "D", "2026-11-20T11:25:01Z", serde_json::json!({}))
        .await
        .unwrap();
    let sessions = rows(
        &trail,
        "SELECT event_type, session_id FROM events ORDER BY time",
    )
    .await;
    let ids: Vec<&str> = sessions
        .iter()
        .map(|r| r.split('|').nth(1).unwrap())
        .collect();
    assert_eq!(ids[0], ids[1]);
    assert_eq!(ids[1], ids[2]);
    assert_ne!(ids[2], ids[3]);
    // Stable from query to query, and one row per session in `sessions`.
    assert_eq!(
        rows(
            &trail,
            "SELECT event_type, session_id FROM events ORDER BY time"
        )
        .await,
        sessions
    );
    assert_eq!(
        rows(&trail, "SELECT event_count FROM sessions ORDER BY time").await,
        ["3", "1"]
    );
}

/// A user's last stored event takes its place among a later import's
/// times, so the events around it join its session; a message's own
/// `session_id` is kept, and becomes the one a later event continues. Each
/// line of the comments is an import; times on 2026-11-20.
#[tokio::test]
async fn later_imports_continue_the_session_of_the_last_stored_event() {
    let (_dir, trail) = empty_trail().await;
    let import = |events: &[(&str, &str, Option<&str>)]| {
        let lines: Vec<String> = events
            .iter()
            .map(|(id, time, session)| {
                let session = session.map_or("null".to_string(), |s| format!("\"{s}\""));
                format!(
                    r#"{{"type":"track","user_id":"u","event":"E","event_id":"{id}","time":"2026-11-20T{time}:00Z","session_id":{session}}}"#
                )
            })
            .collect();
        let trail = trail.clone();
        async move { trail.import_str(&lines.join("\n")).await.unwrap() }
    };
    // 10:00, 11:00: two sessions (60 minutes apart).
    import(&[("e1", "10:00", None), ("e2", "11:00", None)]).await;
    // 10:45 and 11:20 join the stored 11:00 session (the seed sits between
    // them), 11:10 keeps the session it names, 13:00 starts one; 10:05 is
    // older than the stored last event and 40 minutes before 10:45: a
    // session of its own (10:00's is not read again).
    import(&[
        ("e3", "10:45", None),
        ("e4", "11:10", Some("given")),
        ("e5", "11:20", None),
        ("e6", "13:00", None),
        ("e7", "10:05", None),
    ])
    .await;
    // 09:00 is before everything: its own session, and 13:00 stays the last.
    import(&[("e8", "09:00", None)]).await;
    // 13:20 continues 13:00's session.
    import(&[("e9", "13:20", None)]).await;
    // 14:00 names its session, which 14:10 then continues.
    import(&[("e10", "14:00", Some("named"))]).await;
    import(&[("e11", "14:10", None)]).await;
    let session: std::collections::HashMap<String, String> = rows(
        &trail,
        "SELECT event_id, session_id FROM events ORDER BY event_id",
    )
    .await
    .iter()
    .map(|r| {
        let (id, session) = r.split_once('|').unwrap();
        (id.to_string(), session.to_string())
    })
    .collect();
    let of = |id: &str| session[id].as_str();
    assert_eq!(session.len(), 11);
    assert_ne!(of("e1"), of("e2"));
    assert_eq!([of("e3"), of("e5")], [of("e2"), of("e2")]);
    assert_eq!(of("e4"), "given");
    assert_eq!(of("e9"), of("e6"));
    assert_eq!([of("e10"), of("e11")], ["named", "named"]);
    let distinct: std::collections::HashSet<&str> =
        ["e1", "e2", "e6", "e7", "e8", "e10"].map(of).into();
    assert_eq!(distinct.len(), 6, "{session:?}");
}

/// A merged user's late event continues that user's own written session,
/// though the survivor's last written event is later: `a` at 10:00 and `w`
/// (alice) at 12:00 are written; then `a` identifies as alice and has an
/// event at 10:10. Once with the merge and the event in one import (the
/// merge carries `a`'s last event), once in two (`a`'s stored record
/// carries it into the third import).
#[tokio::test]
async fn a_merged_users_late_event_continues_its_own_written_session() {
    let track = |user: &str, id: &str, time: &str| {
        format!(
            r#"{{"type":"track","user_id":"{user}","event":"E","event_id":"{id}","time":"2026-11-20T{time}:00Z"}}"#
        )
    };
    let owner =
        r#"{"type":"identify","user_id":"w","identity":"alice","time":"2026-11-20T09:00:00Z"}"#;
    let identify =
        r#"{"type":"identify","user_id":"a","identity":"alice","time":"2026-11-20T12:30:00Z"}"#;
    let first = [
        owner.to_string(),
        track("a", "e1", "10:00"),
        track("w", "e2", "12:00"),
    ];
    let late = track("a", "e3", "10:10");
    let together = vec![vec![identify.to_string(), late.clone()]];
    let apart = vec![vec![identify.to_string()], vec![late.clone()]];
    for later in [together, apart] {
        let (_dir, trail) = empty_trail().await;
        trail.import_str(&first.join("\n")).await.unwrap();
        for import in &later {
            trail.import_str(&import.join("\n")).await.unwrap();
        }
        let sessions = rows(
            &trail,
            "SELECT event_id, user_id, session_id FROM events ORDER BY event_id",
        )
        .await;
        let session = |i: usize| sessions[i].rsplit('|').next().unwrap();
        assert!(sessions.iter().all(|r| r.contains("|w|")), "{sessions:?}");
        assert_eq!(session(2), session(0), "{} imports after", later.len());
        assert_ne!(session(1), session(0), "{} imports after", later.len());
    }
}

#[tokio::test]
async fn csv_and_parquet_inputs() {
    let (_dir, trail) = empty_trail().await;
    let csv = "type,user_id,event,time,properties,country\n\
               track,c1,Signup Started,2026-11-20T10:00:00Z,\"{\"\"plan\"\":\"\"pro\"\"}\",DE\n\
               track,c2,Signup Started,2026-11-20 11:00:00,,US\n\
               track,,Signup Started,2026-11-20 11:00:00,,US\n";
    let report = import(&trail, csv, InputFormat::Csv, 1).await.unwrap();
    assert_eq!(report.events, 2);
    assert_eq!(report.rejected[0].line, 3);
    assert_eq!(
        rows(
            &trail,
            "SELECT user_id, country, event_properties FROM events ORDER BY 1"
        )
        .await,
        [r#"c1|DE|{"plan":"pro"}"#, "c2|US|{}"]
    );

    // Parquet: columns named like message fields.
    use datafusion::arrow::array::StringArray;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;
    let schema = Arc::new(Schema::new(vec![
        Field::new("type", DataType::Utf8, false),
        Field::new("user_id", DataType::Utf8, false),
        Field::new("event", DataType::Utf8, false),
        Field::new("time", DataType::Utf8, false),
        Field::new("properties", DataType::Utf8, true),
    ]));
    let batch = datafusion::arrow::record_batch::RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec!["track", "track"])),
            Arc::new(StringArray::from(vec!["p1", "p2"])),
            Arc::new(StringArray::from(vec!["Purchase", "Purchase"])),
            Arc::new(StringArray::from(vec![
                "2026-11-21T10:00:00Z",
                "2026-11-21T10:00:01Z",
            ])),
            Arc::new(StringArray::from(vec![Some(r#"{"amount":10.5}"#), None])),
        ],
    )
    .unwrap();
    let mut bytes = Vec::new();
    let mut writer =
        datafusion::parquet::arrow::ArrowWriter::try_new(&mut bytes, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let input = Box::new(std::io::Cursor::new(bytes));
    let report = trail
        .import(
            input,
            InputFormat::Parquet,
            &ImportOptions::default(),
            &|_| {},
        )
        .await
        .unwrap();
    assert_eq!(report.events, 2);
    assert_eq!(
        rows(&trail, "SELECT user_id, event_properties->>'amount' FROM events WHERE event_type = 'Purchase' ORDER BY 1").await,
        ["p1|10.5", "p2|NULL"]
    );
}

/// Files a query's physical plan reads.
async fn files_scanned(trail: &Trail, sql: &str) -> usize {
    let plan = trail
        .dataframe(sql)
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap();
    let text = displayable(plan.as_ref()).indent(true).to_string();
    text.matches(".parquet").count()
}

#[tokio::test]
async fn date_filters_prune_partitions() {
    let (_dir, trail) = empty_trail().await;
    let mut text = String::new();
    for day in 0..10 {
        text.push_str(&format!(
            "{{\"type\":\"track\",\"user_id\":\"u{day}\",\"event\":\"E\",\"time\":\"{{{{D-{day}}}}}T12:00:00Z\"}}\n"
        ));
    }
    trail
        .import_str(&super::fixture::relative_dates(&text))
        .await
        .unwrap();
    let all = files_scanned(&trail, "SELECT event_type FROM events").await;
    assert_eq!(all, 10, "one file per date partition");
    for (sql, expected) in [
        ("SELECT event_type FROM events WHERE DATE(time) >= DATE_SUB(CURRENT_DATE(), INTERVAL 3 DAY)", 4),
        ("SELECT event_type FROM events WHERE time >= DATE_SUB(CURRENT_DATE(), INTERVAL 3 DAY)", 4),
        ("SELECT event_type FROM heap_export.events WHERE DATE(time) = CURRENT_DATE()", 1),
        ("SELECT event_type FROM events WHERE DATE(time) <= DATE_SUB(CURRENT_DATE(), INTERVAL 8 DAY)", 2),
        ("SELECT event_type FROM events WHERE time < CURRENT_DATE() - INTERVAL '8 days'", 1),
    ] {
        assert_eq!(files_scanned(&trail, sql).await, expected, "{sql}");
    }
    assert_eq!(
        rows(&trail, "SELECT COUNT(*) FROM events WHERE DATE(time) >= DATE_SUB(CURRENT_DATE(), INTERVAL 3 DAY)").await,
        ["4"]
    );
}

#[tokio::test]
async fn promoted_properties_are_typed_columns_and_survive_reopen() {
    let (dir, trail) = fixture_trail().await;
    // usage_count is an integer in every Feature event: promoted, and typed.
    assert_eq!(
        rows(
            &trail,
            "SELECT SUM(CAST(event_properties->>'usage_count' AS BIGINT)) FROM events"
        )
        .await,
        ["21"]
    );
    drop(trail);
    let reopened = Trail::open(dir.path()).await.unwrap();
    assert_eq!(
        rows(
            &reopened,
            "SELECT event_properties FROM events WHERE event_type = 'Purchase' ORDER BY time"
        )
        .await,
        [
            r#"{"amount":12.25,"currency":"EUR"}"#,
            r#"{"amount":49.5,"currency":"USD"}"#
        ]
    );
}

#[tokio::test]
async fn property_filters_use_statistics_of_promoted_columns() {
    let (_dir, trail) = empty_trail().await;
    let mut text = String::new();
    // One file per day; each day's cart values lie in their own range.
    for (day, base) in [(1, 10), (2, 200), (3, 500)] {
        for i in 0..5 {
            text.push_str(&format!(
                "{{\"type\":\"track\",\"user_id\":\"u{i}\",\"event\":\"Add to Cart\",\"time\":\"{{{{D-{day}}}}}T1{i}:00:00Z\",\"properties\":{{\"cart_value\":{base}.5,\"sku\":\"s{base}\"}}}}\n"
            ));
        }
    }
    trail
        .import_str(&super::fixture::relative_dates(&text))
        .await
        .unwrap();
    assert_eq!(
        files_scanned(&trail, "SELECT event_type FROM events").await,
        3
    );
    for (sql, files, count) in [
        ("SELECT event_type FROM events WHERE event_properties.cart_value > 300", 1, "5"),
        ("SELECT event_type FROM events WHERE event_properties.cart_value BETWEEN 100 AND 300", 1, "5"),
        ("SELECT event_type FROM events WHERE event_properties.sku = 's10'", 1, "5"),
        ("SELECT event_type FROM events WHERE event_properties->>'sku' = 's200' AND event_properties.cart_value < 1000", 3, "5"),
    ] {
        assert_eq!(files_scanned(&trail, sql).await, files, "{sql}");
        let counted = sql.replace("SELECT event_type FROM", "SELECT COUNT(*) FROM");
        assert_eq!(rows(&trail, &counted).await, [count], "{sql}");
    }
    // A value of another type than its column lives in the JSON rest, and is still found.
    trail
        .import_str(&super::fixture::relative_dates(
            "{\"type\":\"track\",\"user_id\":\"x\",\"event\":\"Add to Cart\",\"time\":\"{{D-2}}T09:00:00Z\",\"properties\":{\"cart_value\":\"900\"}}",
        ))
        .await
        .unwrap();
    assert_eq!(
        rows(
            &trail,
            "SELECT user_id FROM events WHERE event_properties.cart_value > 800"
        )
        .await,
        ["x"]
    );
}

#[tokio::test]
async fn promoted_properties_are_read_from_their_typed_columns() {
    let (_dir, trail) = fixture_trail().await;
    let sql = "SELECT event_properties.usage_count, COUNT(*) FROM events GROUP BY 1";
    let plan = trail
        .dataframe(sql)
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap();
    let text = displayable(plan.as_ref()).indent(true).to_string();
    assert!(text.contains("ep__usage_count"), "{text}");
    assert!(
        !text.contains("trail_json_object"),
        "the JSON object is rebuilt: {text}"
    );
    // `->>` reads the typed column too, and answers the same.
    let typed = rows(
        &trail,
        "SELECT event_properties.usage_count AS v, COUNT(*) FROM events GROUP BY 1 ORDER BY 1",
    )
    .await;
    let json = rows(
        &trail,
        "SELECT event_properties->>'usage_count' AS v, COUNT(*) FROM events GROUP BY 1 ORDER BY 1",
    )
    .await;
    assert_eq!(typed, json);
    assert_eq!(typed, ["1|2", "2|1", "3|1", "5|1", "9|1", "NULL|11"]);
}

/// Every Parquet file under `dir/events`, with its partition directory.
fn event_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for partition in std::fs::read_dir(dir.join("events")).unwrap() {
        let partition = partition.unwrap().path();
        if !partition.is_dir() || partition.ends_with("_delta_log") {
            continue;
        }
        for file in std::fs::read_dir(&partition).unwrap() {
            files.push(file.unwrap().path());
        }
    }
    files.sort();
    files
}

#[tokio::test]
async fn an_import_writes_one_file_per_date_sorted_by_user_and_time() {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::TimestampMicrosecondType;
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    let (dir, trail) = empty_trail().await;
    // Users and times interleaved and out of order, over two dates.
    let mut lines = Vec::new();
    for i in 0..200u32 {
        let user = format!("u{}", (i * 7) % 13);
        let day = 20 + (i % 2);
        let minute = (i * 37) % 60;
        let hour = (i * 11) % 24;
        lines.push(format!(
            r#"{{"type":"track","user_id":"{user}","event":"E{i}","time":"2026-11-{day}T{hour:02}:{minute:02}:00Z"}}"#
        ));
    }
    let report = trail.import_str(&lines.join("\n")).await.unwrap();
    assert_eq!(report.events, 200);
    let files = event_files(dir.path());
    assert_eq!(files.len(), 2, "{files:?}");
    let mut total = 0;
    for file in files {
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&file).unwrap())
            .unwrap()
            .build()
            .unwrap();
        let mut keys = Vec::new();
        for batch in reader {
            let batch = batch.unwrap();
            let users = batch.column_by_name("user_id").unwrap().as_string::<i32>();
            let times = batch
                .column_by_name("time")
                .unwrap()
                .as_primitive::<TimestampMicrosecondType>();
            for row in 0..batch.num_rows() {
                keys.push((users.value(row).to_string(), times.value(row)));
            }
        }
        total += keys.len();
        assert!(
            keys.windows(2).all(|w| w[0] <= w[1]),
            "{file:?} is not sorted"
        );
    }
    assert_eq!(total, 200);
}
