//! The `trail` command line, end to end: the real binary on real data
//! directories, including crashes in the middle of an import.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TRAIL: &str = env!("CARGO_BIN_EXE_trail");

fn trail(args: &[&str]) -> std::process::Output {
    Command::new(TRAIL).args(args).output().expect("run trail")
}

fn ok(args: &[&str]) -> String {
    let out = trail(args);
    assert!(
        out.status.success(),
        "trail {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn gen(args: &[&str], path: &Path) {
    let mut full = vec![
        "gen",
        "--end",
        "2026-11-20",
        "--out",
        path.to_str().unwrap(),
    ];
    full.extend_from_slice(args);
    ok(&full);
}

fn sql(data: &Path, query: &str) -> String {
    ok(&[
        "sql",
        "--data",
        data.to_str().unwrap(),
        "--format",
        "csv",
        query,
    ])
}

#[test]
fn gen_is_deterministic_and_imports() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.ndjson"), dir.path().join("b.ndjson"));
    gen(&["--events", "1000", "--seed", "3"], &a);
    gen(&["--events", "1000", "--seed", "3"], &b);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let data = dir.path().join("data");
    let out = ok(&[
        "import",
        "--data",
        data.to_str().unwrap(),
        a.to_str().unwrap(),
    ]);
    assert!(out.contains("1000 events imported"), "{out}");
    assert_eq!(sql(&data, "SELECT COUNT(*) AS n FROM events"), "n\n1000\n");
}

#[test]
fn import_reports_rejected_lines_and_fails_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bad.ndjson");
    std::fs::write(
        &input,
        "{\"type\":\"track\",\"user_id\":\"a\",\"event\":\"E\",\"time\":\"2026-11-20T10:00:00Z\"}\n{oops\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let out = trail(&[
        "import",
        "--data",
        data.to_str().unwrap(),
        input.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 2: bad JSON"), "{stderr}");
    assert!(stderr.contains("nothing was imported"), "{stderr}");
    assert_eq!(sql(&data, "SELECT COUNT(*) AS n FROM events"), "n\n0\n");
    let out = ok(&[
        "import",
        "--data",
        data.to_str().unwrap(),
        "--max-errors",
        "1",
        input.to_str().unwrap(),
    ]);
    assert!(
        out.contains("1 events imported") && out.contains("1 rejected"),
        "{out}"
    );
}

/// Imports `first`, then crashes an import of `second`; returns the data dir.
fn acknowledged_then_crash(dir: &Path, crash: impl FnOnce(&Path, &Path)) -> std::path::PathBuf {
    let (first, second) = (dir.join("first.ndjson"), dir.join("second.ndjson"));
    gen(&["--users", "50", "--seed", "1"], &first);
    gen(&["--users", "4000", "--seed", "2"], &second);
    let data = dir.join("data");
    ok(&[
        "import",
        "--data",
        data.to_str().unwrap(),
        first.to_str().unwrap(),
    ]);
    crash(&data, &second);
    data
}

fn snapshot(data: &Path) -> (String, String) {
    (
        sql(data, "SELECT COUNT(*) AS n, COUNT(DISTINCT event_id) AS ids, MIN(event_id) AS lo, MAX(event_id) AS hi FROM events"),
        sql(data, "SELECT user_id, last_seen FROM users ORDER BY user_id"),
    )
}

#[test]
fn kill_9_during_import_loses_nothing_acknowledged_and_exposes_nothing_half_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut before = None;
    let data = acknowledged_then_crash(dir.path(), |data, second| {
        before = Some(snapshot(data));
        let mut child = Command::new(TRAIL)
            .args([
                "import",
                "--data",
                data.to_str().unwrap(),
                second.to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill it once it has written Parquet files but before it can commit.
        let events = data.join("events");
        let files = |p: &Path| walk(p).len();
        let initial = files(&events);
        let started = Instant::now();
        while files(&events) == initial && started.elapsed() < Duration::from_secs(120) {
            assert!(
                child.try_wait().unwrap().is_none(),
                "import finished before it could be killed"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        assert!(
            files(&events) > initial,
            "the import wrote no files before the kill"
        );
    });
    assert_eq!(snapshot(&data), before.unwrap());
    // The same import run again completes and every event is there once.
    let second = dir.path().join("second.ndjson");
    ok(&[
        "import",
        "--data",
        data.to_str().unwrap(),
        second.to_str().unwrap(),
    ]);
    let counts = sql(
        &data,
        "SELECT COUNT(*) = COUNT(DISTINCT event_id) AS unique_ids FROM events",
    );
    assert_eq!(counts, "unique_ids\ntrue\n");
}

#[test]
fn crash_between_users_and_events_commit_is_invisible() {
    let dir = tempfile::tempdir().unwrap();
    let mut before = None;
    let data = acknowledged_then_crash(dir.path(), |data, _| {
        before = Some(snapshot(data));
        let small = data.parent().unwrap().join("small.ndjson");
        std::fs::write(
            &small,
            "{\"type\":\"track\",\"user_id\":\"ghost\",\"event\":\"E\",\"time\":\"2026-11-20T10:00:00Z\"}\n",
        )
        .unwrap();
        let out = Command::new(TRAIL)
            .args([
                "import",
                "--data",
                data.to_str().unwrap(),
                small.to_str().unwrap(),
            ])
            .env("TRAIL_TEST_CRASH_BEFORE_EVENTS_COMMIT", "1")
            .output()
            .unwrap();
        assert!(!out.status.success(), "the fault injection did not fire");
    });
    // The users version the dead import committed is skipped: no ghost user.
    assert_eq!(snapshot(&data), before.unwrap());
    assert_eq!(
        sql(
            &data,
            "SELECT COUNT(*) AS n FROM users WHERE user_id = 'ghost'"
        ),
        "n\n0\n"
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn compact_merges_small_imports_without_changing_answers() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    for seed in 0..6 {
        let f = dir.path().join(format!("{seed}.ndjson"));
        gen(
            &["--users", "20", "--days", "3", "--seed", &seed.to_string()],
            &f,
        );
        ok(&[
            "import",
            "--data",
            data.to_str().unwrap(),
            f.to_str().unwrap(),
        ]);
    }
    let query = "SELECT event_type, COUNT(*) AS n, COUNT(DISTINCT user_id) AS u FROM events GROUP BY 1 ORDER BY 1";
    let before = sql(&data, query);
    let files_before = walk(&data.join("events")).len();
    let out = ok(&["compact", "--data", data.to_str().unwrap()]);
    assert!(out.contains("compacted"), "{out}");
    let files_after = walk(&data.join("events")).len();
    assert!(
        files_after < files_before,
        "{files_before} -> {files_after}"
    );
    assert!(
        files_after <= 4,
        "one file per date partition expected, got {files_after}"
    );
    assert_eq!(sql(&data, query), before);
}

#[test]
fn help_everywhere() {
    for sub in ["serve", "import", "sql", "gen", "compact"] {
        let out = ok(&[sub, "--help"]);
        assert!(out.contains("Usage"), "{sub}");
    }
}

/// DataFusion settings come from `DATAFUSION_*` variables; a bad value
/// names the variable family instead of starting with defaults.
#[test]
fn datafusion_settings_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let show = |value: &str| {
        Command::new(TRAIL)
            .args(["sql", "--data", data, "--format", "csv"])
            .arg("SHOW datafusion.execution.batch_size")
            .env("DATAFUSION_EXECUTION_BATCH_SIZE", value)
            .output()
            .unwrap()
    };
    let out = show("77");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(",77"));
    let bad = show("many");
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success());
    assert!(
        err.contains("DATAFUSION_") && err.contains("batch_size"),
        "{err}"
    );
}

/// `--memory-limit` (and `TRAIL_MEMORY_LIMIT`) bounds a query: a hash join
/// whose build side cannot spill fails under a tiny limit, and runs without.
#[test]
fn sql_memory_limit_bounds_the_query() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let join = "SELECT COUNT(*) AS n FROM generate_series(1, 200000) a \
                JOIN generate_series(1, 200000) b ON a.value = b.value";
    let unbounded = ok(&["sql", "--data", data, "--format", "csv", join]);
    assert_eq!(unbounded.trim(), "n\n200000");
    let limited = trail(&["sql", "--data", data, "--memory-limit", "64K", join]);
    let err = String::from_utf8_lossy(&limited.stderr);
    assert!(!limited.status.success(), "ran under 64K: {err}");
    assert!(err.contains("Resources exhausted"), "{err}");
    let from_env = Command::new(TRAIL)
        .args(["sql", "--data", data, join])
        .env("TRAIL_MEMORY_LIMIT", "64K")
        .output()
        .unwrap();
    assert!(!from_env.status.success(), "TRAIL_MEMORY_LIMIT was ignored");
}

/// CSV cells hold a nested value (an `ARRAY_AGG` list, a struct) as its
/// JSON text; Arrow's CSV writer alone rejects them.
#[test]
fn csv_writes_nested_values_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let query = "SELECT k, ARRAY_AGG(v ORDER BY v) AS vs, \
                 NAMED_STRUCT('n', k, 'tag', 'x,\"y\"', 'none', CAST(NULL AS INT)) AS s \
                 FROM (VALUES (1, 'b'), (1, 'a'), (2, NULL)) AS t(k, v) GROUP BY k ORDER BY k";
    assert_eq!(
        sql(dir.path(), query),
        "k,vs,s\n\
         1,\"[\"\"a\"\",\"\"b\"\"]\",\"{\"\"n\"\":1,\"\"tag\"\":\"\"x,\\\"\"y\\\"\"\"\",\"\"none\"\":null}\"\n\
         2,[null],\"{\"\"n\"\":2,\"\"tag\"\":\"\"x,\\\"\"y\\\"\"\"\",\"\"none\"\":null}\"\n"
    );
}
