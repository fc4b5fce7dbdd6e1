//! Queries under `--memory-limit` finish: they spill, or fail with
//! "resources exhausted", but never hang (engine/src/memory_pool.rs).

use std::time::Duration;

use trail_engine::{Trail, TrailOptions};

/// The reproduction of apache/datafusion#24883: a grouped distinct count on
/// two partitions with small batches under a 2 MiB limit. With DataFusion
/// 55.2's spilling repartition queues one of a few attempts parks every
/// worker forever; a healthy attempt takes well under a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grouped_distinct_count_under_a_small_limit_never_hangs() {
    let dir = tempfile::tempdir().unwrap();
    let options = TrailOptions {
        memory_limit: Some(2 << 20),
        target_partitions: Some(2),
    };
    let trail = Trail::open_with(dir.path(), options).await.unwrap();
    let ctx = trail.session();
    for sql in [
        "SET datafusion.execution.batch_size = 64",
        "CREATE TABLE t AS SELECT v % 13 AS g, md5(CAST(v % 337 AS VARCHAR)) AS trace_id \
         FROM generate_series(1, 40000) AS s(v)",
    ] {
        ctx.sql(sql).await.unwrap().collect().await.unwrap();
    }
    let query = "SELECT g, COUNT(DISTINCT trace_id) AS n FROM t GROUP BY g ORDER BY g";
    for attempt in 0..12 {
        let run = async { ctx.sql(query).await?.collect().await };
        let outcome = tokio::time::timeout(Duration::from_secs(20), run)
            .await
            .unwrap_or_else(|_| panic!("attempt {attempt} hung for 20 s"));
        match outcome {
            Ok(batches) => {
                let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
                assert_eq!(rows, 13, "attempt {attempt}");
                let counts =
                    datafusion::arrow::compute::concat_batches(&batches[0].schema(), &batches)
                        .unwrap();
                let n = counts
                    .column(1)
                    .as_any()
                    .downcast_ref::<datafusion::arrow::array::Int64Array>()
                    .unwrap();
                // Every g sees all 337 trace ids: 13 and 337 are coprime.
                assert!(n.iter().all(|c| c == Some(337)), "attempt {attempt}: {n:?}");
            }
            Err(e) => assert!(
                e.to_string().contains("Resources exhausted"),
                "attempt {attempt}: {e}"
            ),
        }
    }
}
