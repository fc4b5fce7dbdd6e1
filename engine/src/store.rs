//! The data directory: Delta Lake tables of Parquet files.
//!
//! ```text
//! DIR/events/   Delta table, partitioned by event_date (UTC), each file sorted
//!               by (user_id, time); promoted properties as typed columns
//! DIR/users/    Delta table, rewritten by every import that changes users:
//!               live and merged-away users, properties, last session
//! ```
//! Commit order makes an import atomic: the users table is committed first,
//! stamped (commit metadata `trail.events_version`) with the events version
//! the import is about to create; the events commit is the import's point of
//! no return. A users version whose stamp is ahead of the events table belongs
//! to an import that died in between, and is skipped when the store opens.

use std::num::NonZeroU64;
use std::path::{Path, PathBuf};

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use deltalake::kernel::transaction::CommitProperties;
use deltalake::protocol::SaveMode;
use deltalake::DeltaTable;
use url::Url;

use crate::error::{Error, Result};
use crate::event_batch::{CONTEXT_COLUMNS, EVENT_REST};

/// Name of the events table directory.
pub(crate) const EVENTS: &str = "events";
/// Name of the users table directory.
pub(crate) const USERS: &str = "users";
/// The partition column of the events table.
pub(crate) const PARTITION_COLUMN: &str = "event_date";
const STAMP_KEY: &str = "trail.events_version";

/// Files are written up to this size; compaction aims for it too.
pub(crate) const TARGET_FILE_SIZE: u64 = 128 * 1024 * 1024;

/// The data directory.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    root: PathBuf,
}

impl Store {
    /// The store rooted at `root` (created if missing).
    pub(crate) fn new(root: &Path) -> Result<Self> {
        std::fs::create_dir_all(root).map_err(|source| Error::Io {
            context: format!("creating data directory {}", root.display()),
            source,
        })?;
        let root = root.canonicalize().map_err(|source| Error::Io {
            context: format!("resolving data directory {}", root.display()),
            source,
        })?;
        Ok(Self { root })
    }

    /// The root directory.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    fn url(&self, table: &str) -> Result<Url> {
        let path = self.root.join(table);
        std::fs::create_dir_all(&path).map_err(|source| Error::Io {
            context: format!("creating table directory {}", path.display()),
            source,
        })?;
        Url::from_directory_path(&path)
            .map_err(|_| Error::Invalid(format!("not an absolute path: {}", path.display())))
    }

    /// Opens a table; `None` while nothing was ever committed to it.
    pub(crate) async fn open(&self, table: &str) -> Result<Option<DeltaTable>> {
        if !self.root.join(table).join("_delta_log").is_dir() {
            return Ok(None);
        }
        let table = DeltaTable::try_from_url(self.url(table)?).await?;
        Ok(table.version().is_some().then_some(table))
    }

    /// The events table and the users version consistent with it.
    pub(crate) async fn open_consistent(&self) -> Result<(Option<DeltaTable>, Option<DeltaTable>)> {
        let events = self.open(EVENTS).await?;
        let events_version = events
            .as_ref()
            .and_then(|t| t.version())
            .map_or(-1, |v| v as i64);
        let Some(mut users) = self.open(USERS).await? else {
            return Ok((events, None));
        };
        loop {
            let version = users.version().unwrap_or(0);
            let stamp = users_stamp(&self.root.join(USERS), version)?;
            if stamp <= events_version {
                return Ok((events, Some(users)));
            }
            if version == 0 {
                return Ok((events, None));
            }
            tracing::warn!(
                users_version = version,
                events_version,
                "skipping users version of an import that did not commit its events"
            );
            users.load_version(version - 1).await?;
        }
    }

    /// Creates the events table with the schema of `empty` (partitioned by `event_date`).
    pub(crate) async fn create_events(&self, empty: RecordBatch) -> Result<DeltaTable> {
        let table = DeltaTable::try_from_url(self.url(EVENTS)?).await?;
        Ok(table
            .write(vec![empty])
            .with_save_mode(SaveMode::ErrorIfExists)
            .with_partition_columns([PARTITION_COLUMN])
            .await?)
    }

    /// Replaces the users table, stamped with the events version it goes with.
    pub(crate) async fn write_users(
        &self,
        batches: Vec<RecordBatch>,
        events_version: i64,
    ) -> Result<DeltaTable> {
        let table = DeltaTable::try_from_url(self.url(USERS)?).await?;
        Ok(table
            .write(batches)
            .with_save_mode(SaveMode::Overwrite)
            // The promoted user-property columns follow the data, so the schema may change.
            .with_schema_mode(deltalake::operations::write::SchemaMode::Overwrite)
            .with_writer_properties(writer_properties())
            .with_commit_properties(
                CommitProperties::default()
                    .with_metadata([(STAMP_KEY.to_string(), serde_json::json!(events_version))]),
            )
            .await?)
    }

    /// Merges small files (Delta OPTIMIZE) and removes files no version needs.
    pub(crate) async fn compact(&self) -> Result<CompactReport> {
        let mut report = CompactReport::default();
        for name in [EVENTS, USERS] {
            let Some(table) = self.open(name).await? else {
                continue;
            };
            let (table, metrics) = table
                .optimize()
                .with_target_size(NonZeroU64::new(TARGET_FILE_SIZE).expect("non-zero"))
                .with_writer_properties(writer_properties())
                .await?;
            report.files_removed += metrics.num_files_removed;
            report.files_added += metrics.num_files_added;
            let (_, vacuum) = table
                .vacuum()
                .with_retention_period(chrono::Duration::zero())
                .with_enforce_retention_duration(false)
                .await?;
            report.files_deleted += vacuum.files_deleted.len() as u64;
        }
        Ok(report)
    }
}

/// What `trail compact` did.
#[derive(Debug, Default, Clone, Copy)]
pub struct CompactReport {
    /// Small files merged away.
    pub files_removed: u64,
    /// Files written by the merge.
    pub files_added: u64,
    /// Unreferenced files deleted from disk.
    pub files_deleted: u64,
}

/// The `trail.events_version` stamp of one users commit, read from its log entry.
fn users_stamp(users_dir: &Path, version: u64) -> Result<i64> {
    let path = users_dir
        .join("_delta_log")
        .join(format!("{version:020}.json"));
    let text =
        std::fs::read_to_string(&path).map_err(Error::io(format!("reading {}", path.display())))?;
    Ok(text
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find_map(|action| action.get("commitInfo")?.get(STAMP_KEY)?.as_i64())
        .unwrap_or(-1))
}

/// How every events and users file is encoded.
///
/// zstd level 1: on the generated 1M events it wrote slightly smaller files
/// than level 3 (24.0 vs 24.2 bytes/event), and it is the cheaper level.
/// `event_id` is unique per row, so a dictionary for it is built only to be
/// thrown away at the page limit; without one the same events took 22.6
/// bytes/event. (Import times on this machine vary by ±10 % run to run, so
/// neither setting's CPU saving was measured alone.)
///
/// No min/max statistics for the string columns in [`UNPRUNED_COLUMNS`]:
/// the writer compares every value with the page's minimum and maximum,
/// and files sorted by `(user_id, time)` hold the whole range of such a
/// column in every row group, so no filter could skip one by them.
pub(crate) fn writer_properties() -> WriterProperties {
    let builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).expect("valid level"),
        ))
        .set_column_dictionary_enabled("event_id".into(), false)
        .set_max_row_group_row_count(Some(1 << 20));
    UNPRUNED_COLUMNS
        .iter()
        .chain(&CONTEXT_COLUMNS)
        .fold(builder, |b, column| {
            b.set_column_statistics_enabled((*column).into(), EnabledStatistics::None)
        })
        .build()
}

/// Event columns unique or nearly so per event or session, or JSON text:
/// written without statistics (with the page/device/location columns).
const UNPRUNED_COLUMNS: [&str; 3] = ["event_id", "session_id", EVENT_REST];

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::parquet::schema::types::ColumnPath;

    /// Columns filters prune by keep their statistics; the unique ids, the
    /// JSON rest and the page/device/location columns have none.
    #[test]
    fn statistics_only_where_they_can_prune() {
        let props = writer_properties();
        let enabled = |c: &str| props.statistics_enabled(&ColumnPath::from(c));
        for kept in ["user_id", "time", "event_type", "ep__plan", "up__plan"] {
            assert_eq!(enabled(kept), EnabledStatistics::Page, "{kept}");
        }
        for dropped in ["event_id", "session_id", EVENT_REST, "page_url", "city"] {
            assert_eq!(enabled(dropped), EnabledStatistics::None, "{dropped}");
        }
    }
}
