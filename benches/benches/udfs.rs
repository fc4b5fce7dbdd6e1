//! Criterion benches for Trail's behavioural functions, run as SQL through
//! DataFusion over generated events held in memory (sorted by user and time,
//! as the storage layer writes them), next to the baseline they are judged
//! against: `SELECT user_id, count(*) … GROUP BY user_id` over the same rows.
//!
//! ```text
//! cargo bench --workspace --bench udfs                      # 1M events
//! TRAIL_BENCH_EVENTS=10000000 cargo bench --workspace --bench udfs -- "count_by_user|window_funnel$"
//! ```
//!
//! Goal (issue 4): the funnel query costs at most 1.5× the plain count.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use datafusion::arrow::array::{
    ArrayRef, DictionaryArray, Int32Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Int32Type, Schema, TimeUnit};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use tokio::runtime::Runtime;

const EVENT_TYPES: [&str; 6] = ["view", "cart", "buy", "help", "other", "signup"];
const EVENTS_PER_USER: usize = 50;
const BATCH_ROWS: usize = 8192;

/// xorshift64*: deterministic and dependency free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `events` rows: user_id (Utf8), time (µs, UTC), event_type (dictionary, as Parquet hands it back).
fn generate(events: usize, partitions: usize) -> (Arc<Schema>, Vec<Vec<RecordBatch>>) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Utf8, false),
        Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new(
            "event_type",
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            true,
        ),
    ]));
    let dictionary: ArrayRef = Arc::new(StringArray::from(EVENT_TYPES.to_vec()));
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let users = events.div_ceil(EVENTS_PER_USER);
    let mut parts: Vec<Vec<RecordBatch>> = vec![Vec::new(); partitions];
    let (mut ids, mut times, mut types) = (Vec::new(), Vec::new(), Vec::new());
    let mut emitted = 0;
    for user in 0..users {
        let id = format!("user_{user:08}");
        let mut t = 1_709_251_200_000_000i64 + rng.below(7 * 86_400) as i64 * 1_000_000;
        for _ in 0..EVENTS_PER_USER.min(events - emitted) {
            t += match rng.below(10) {
                0..=5 => rng.below(120),
                6..=8 => rng.below(4 * 3600),
                _ => rng.below(3 * 86_400),
            } as i64
                * 1_000_000;
            ids.push(id.clone());
            times.push(t);
            types.push(match rng.below(100) {
                0..=39 => 0,
                40..=59 => 1,
                60..=69 => 2,
                70..=79 => 3,
                80..=97 => 4,
                _ => 5,
            });
            emitted += 1;
        }
        if ids.len() >= BATCH_ROWS || user + 1 == users {
            let keys = Int32Array::from(std::mem::take(&mut types));
            let batch = RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(StringArray::from(std::mem::take(&mut ids))),
                    Arc::new(
                        TimestampMicrosecondArray::from(std::mem::take(&mut times))
                            .with_timezone("UTC"),
                    ),
                    Arc::new(
                        DictionaryArray::<Int32Type>::try_new(keys, dictionary.clone())
                            .expect("dictionary"),
                    ),
                ],
            )
            .expect("batch");
            // whole users per partition, contiguous user ranges
            let part = (user * partitions / users).min(partitions - 1);
            parts[part].push(batch);
        }
    }
    (schema, parts)
}

fn context(events: usize) -> SessionContext {
    let partitions = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let (schema, parts) = generate(events, partitions);
    let ctx = SessionContext::new();
    trail_udfs::register_all(&ctx).expect("register");
    ctx.register_table(
        "events",
        Arc::new(MemTable::try_new(schema, parts).expect("memtable")),
    )
    .expect("register table");
    ctx
}

fn run(rt: &Runtime, ctx: &SessionContext, sql: &str) -> usize {
    rt.block_on(async {
        let batches = ctx
            .sql(sql)
            .await
            .expect("plan")
            .collect()
            .await
            .expect("run");
        batches.iter().map(|b| b.num_rows()).sum()
    })
}

const FUNNEL: &str = "event_type = 'view', event_type = 'cart', event_type = 'buy'";

fn queries() -> Vec<(&'static str, String)> {
    vec![
        ("count_by_user", "SELECT user_id, count(*) FROM events GROUP BY user_id".into()),
        ("window_funnel", format!("SELECT user_id, window_funnel(3600, time, {FUNNEL}) FROM events GROUP BY user_id")),
        (
            "window_funnel_strict_order",
            format!("SELECT user_id, window_funnel(3600, 'strict_order', time, {FUNNEL}) FROM events GROUP BY user_id"),
        ),
        (
            "window_funnel_strict_once",
            format!("SELECT user_id, window_funnel(3600, 'strict_once', time, {FUNNEL}) FROM events GROUP BY user_id"),
        ),
        (
            "window_funnel_exclude",
            format!(
                "SELECT user_id, window_funnel(3600, 'exclude 1-3', time, {FUNNEL}, event_type = 'help') FROM events GROUP BY user_id"
            ),
        ),
        (
            "funnel_step_times",
            format!("SELECT user_id, funnel_step_times(3600, time, {FUNNEL}) FROM events GROUP BY user_id"),
        ),
        (
            "sequence_match",
            format!("SELECT user_id, sequence_match('(?1).*(?2)(?t<=600)(?3)', time, {FUNNEL}) FROM events GROUP BY user_id"),
        ),
        (
            "sequence_count",
            format!("SELECT user_id, sequence_count('(?1).*(?3)', time, {FUNNEL}) FROM events GROUP BY user_id"),
        ),
        (
            "retention",
            "SELECT user_id, retention(event_type = 'signup', event_type = 'view', event_type = 'buy') FROM events GROUP BY user_id"
                .into(),
        ),
        (
            "sessionize",
            "SELECT max(s) FROM (SELECT sessionize(time, INTERVAL '30 minutes') OVER (PARTITION BY user_id ORDER BY time) AS s FROM events)"
                .into(),
        ),
    ]
}

fn bench_functions(c: &mut Criterion) {
    let events: usize = std::env::var("TRAIL_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let rt = Runtime::new().expect("runtime");
    let ctx = context(events);
    let mut group = c.benchmark_group(format!("udfs_{events}_events"));
    group.sample_size(10);
    group.throughput(Throughput::Elements(events as u64));
    for (name, sql) in queries() {
        group.bench_function(name, |b| b.iter(|| black_box(run(&rt, &ctx, &sql))));
    }
    group.finish();
}

criterion_group!(benches, bench_functions);
criterion_main!(benches);
