//! The [`Trail`] handle: one open data directory.

use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};
use serde_json::{json, Map, Value};

use crate::catalog::StoredTables;
use crate::error::{Error, Result};
use crate::ingest::{ImportOptions, ImportReport, InputFormat};
use crate::store::{CompactReport, Store};

/// Trail's defaults for DataFusion settings, each kept only where the
/// environment does not set the key (`DATAFUSION_<KEY>`, see
/// [`SessionConfig::from_env`]).
const TUNED_DEFAULTS: [(&str, usize); 3] = [
    // Partial aggregation is given up once its first rows show it barely
    // reduces them (DataFusion's probe waits for 100,000 rows per
    // partition): grouping 101K per-user event sequences, as the
    // conversion-paths query does, gains nothing from a partial phase that
    // never reaches that many rows.
    (
        "datafusion.execution.skip_partial_aggregation_probe_rows_threshold",
        20_000,
    ),
    // A hash join builds one table shared by every partition (CollectLeft)
    // up to 1M build rows / 64 MiB instead of DataFusion's 128K / 1 MiB. On
    // one machine a shared table costs the same memory as its partitioned
    // halves; partitioning instead hashes and moves every probe row to its
    // partition first. The conversion-paths query probes 10M events against
    // 478K purchasing sessions: ~15 % less CPU at 10M events.
    (
        "datafusion.optimizer.hash_join_single_partition_threshold_rows",
        1_000_000,
    ),
    (
        "datafusion.optimizer.hash_join_single_partition_threshold",
        64 << 20,
    ),
];

/// How to open a data directory.
#[derive(Debug, Clone, Default)]
pub struct TrailOptions {
    /// Memory DataFusion may use for query operators before spilling (and
    /// then failing with "resources exhausted"); `None` is unbounded.
    pub memory_limit: Option<usize>,
    /// Threads a query uses; defaults to the number of cores.
    pub target_partitions: Option<usize>,
}

/// One open Trail data directory: its tables, registered in a DataFusion
/// session with every Trail function and the Heap SQL dialect.
///
/// ```no_run
/// # async fn demo() -> trail_engine::Result<()> {
/// let trail = trail_engine::Trail::open("./trail-data").await?;
/// trail.track("u_1", "Signup Started", "2026-11-20T10:00:00Z", serde_json::json!({"plan": "pro"})).await?;
/// let batches = trail.sql("SELECT event_type, COUNT(*) FROM events GROUP BY 1").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Trail {
    store: Store,
    ctx: SessionContext,
}

impl std::fmt::Debug for Trail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trail")
            .field("dir", &self.store.root())
            .finish_non_exhaustive()
    }
}

impl Trail {
    /// Opens (creating if needed) the data directory `dir`.
    pub async fn open(dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(dir, TrailOptions::default()).await
    }

    /// Opens `dir` with options.
    pub async fn open_with(dir: impl AsRef<Path>, options: TrailOptions) -> Result<Self> {
        let store = Store::new(dir.as_ref())?;
        // DataFusion's own settings may be tuned with DATAFUSION_* variables
        // (DATAFUSION_EXECUTION_BATCH_SIZE=4096); Trail's below override them.
        let mut config = SessionConfig::from_env()
            .map_err(|e| Error::Invalid(format!("a DATAFUSION_* environment variable: {e}")))?
            .with_information_schema(true)
            .with_default_catalog_and_schema("datafusion", "public")
            .set_str("datafusion.execution.time_zone", "UTC")
            // The events table plans its inner scan (and users join) itself; dynamic
            // join filters built there must not meet the outer plan's join reordering.
            .set_bool("datafusion.optimizer.enable_dynamic_filter_pushdown", false);
        for (key, value) in TUNED_DEFAULTS {
            if std::env::var_os(key.to_uppercase().replace('.', "_")).is_none() {
                config = config.set_usize(key, value);
            }
        }
        if let Some(n) = options.target_partitions {
            config = config.with_target_partitions(n.max(1));
        }
        let mut runtime = RuntimeEnvBuilder::new();
        if let Some(limit) = options.memory_limit {
            runtime = runtime.with_memory_pool(crate::memory_pool::memory_pool(limit));
        }
        let state = datafusion::execution::session_state::SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime.build_arc()?)
            .with_default_features()
            .with_physical_optimizer_rule(Arc::new(crate::count_distinct::SinglePhaseDistinctCount))
            .with_physical_optimizer_rule(Arc::new(crate::scan_predicate::DedupScanPredicate))
            .build();
        let ctx = SessionContext::new_with_state(state);
        ctx.add_optimizer_rule(Arc::new(crate::promoted::PromotedProperties));
        // After the property reads (which skip a scan already widened) and
        // before distinct counts are grouped into one pass.
        ctx.add_optimizer_rule(Arc::new(crate::distinct_user::DistinctUserKey));
        ctx.add_optimizer_rule(Arc::new(crate::multi_distinct::MultiDistinctCount));
        ctx.add_optimizer_rule(Arc::new(crate::ordered_array_agg::OrderedArrayAggRule));
        ctx.add_optimizer_rule(Arc::new(crate::list_group_key::ListGroupKeys));
        ctx.register_udf(crate::json_object::JsonObject::udf());
        trail_udfs::register_all(&ctx)?;
        crate::dialect::register(&ctx)?;
        let trail = Self { store, ctx };
        trail.refresh().await?;
        Ok(trail)
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        self.store.root()
    }

    /// The DataFusion session with every table and function registered.
    pub fn session(&self) -> &SessionContext {
        &self.ctx
    }

    /// Re-reads the tables' latest committed versions (after an import by
    /// this or another process).
    pub async fn refresh(&self) -> Result<()> {
        let (events, users) = self.store.open_consistent().await?;
        let state = self.ctx.state();
        let mut stored = StoredTables::empty()?;
        if let Some(events) = events {
            events.update_datafusion_session(&state)?;
            stored.events = events.table_provider().await?;
        }
        if let Some(users) = users {
            users.update_datafusion_session(&state)?;
            stored.users = users.table_provider().await?;
            stored.merged = Arc::new(crate::canonical_user::MergedIds::load(&users).await?);
        }
        crate::catalog::register(&self.ctx, stored).await?;
        Ok(())
    }

    /// Plans one SQL statement (Heap/BigQuery or PostgreSQL dialect).
    pub async fn dataframe(&self, sql: &str) -> Result<DataFrame> {
        let statement = crate::dialect::parse_one(sql)?;
        let plan = self
            .ctx
            .state()
            .statement_to_plan(datafusion::sql::parser::Statement::Statement(Box::new(
                statement,
            )))
            .await?;
        Ok(self.ctx.execute_logical_plan(plan).await?)
    }

    /// Runs one SQL statement and collects its result.
    pub async fn sql(&self, sql: &str) -> Result<Vec<RecordBatch>> {
        Ok(self.dataframe(sql).await?.collect().await?)
    }

    /// Imports messages from `input`; durable and visible when it returns.
    /// `progress` is told how many messages were read so far.
    pub async fn import(
        &self,
        input: Box<dyn BufRead + Send>,
        format: InputFormat,
        options: &ImportOptions,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<ImportReport> {
        let _lock = self.lock()?;
        let report = crate::ingest::import(&self.store, input, format, options, progress).await?;
        self.refresh().await?;
        Ok(report)
    }

    /// Imports NDJSON text (one message a line).
    pub async fn import_str(&self, ndjson: &str) -> Result<ImportReport> {
        let input = Box::new(std::io::Cursor::new(ndjson.as_bytes().to_vec()));
        self.import(
            input,
            InputFormat::Ndjson,
            &ImportOptions::default(),
            &|_| {},
        )
        .await
    }

    /// Tracks one event (`time` as RFC 3339).
    pub async fn track(
        &self,
        user_id: &str,
        event: &str,
        time: &str,
        properties: Value,
    ) -> Result<ImportReport> {
        self.import_message(json!({"type": "track", "user_id": user_id, "event": event, "time": time, "properties": properties}))
            .await
    }

    /// Attaches `identity` to `user_id`, merging users as Heap does.
    pub async fn identify(&self, user_id: &str, identity: &str) -> Result<ImportReport> {
        self.import_message(json!({"type": "identify", "user_id": user_id, "identity": identity}))
            .await
    }

    /// Adds (or overwrites) properties of a user.
    pub async fn add_user_properties(
        &self,
        user_id: &str,
        properties: Map<String, Value>,
    ) -> Result<ImportReport> {
        self.import_message(
            json!({"type": "add_user_properties", "user_id": user_id, "properties": properties}),
        )
        .await
    }

    async fn import_message(&self, message: Value) -> Result<ImportReport> {
        let report = self.import_str(&message.to_string()).await?;
        if let Some(r) = report.rejected.first() {
            return Err(Error::Invalid(r.reason.clone()));
        }
        Ok(report)
    }

    /// Merges small files and removes unreferenced ones (`trail compact`).
    pub async fn compact(&self) -> Result<CompactReport> {
        let _lock = self.lock()?;
        let report = self.store.compact().await?;
        self.refresh().await?;
        Ok(report)
    }

    /// One writer at a time per data directory; the OS drops the lock if the process dies.
    fn lock(&self) -> Result<std::fs::File> {
        let path = self.store.root().join(".trail.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(Error::io(format!("opening {}", path.display())))?;
        file.lock()
            .map_err(Error::io(format!("locking {}", path.display())))?;
        Ok(file)
    }
}
