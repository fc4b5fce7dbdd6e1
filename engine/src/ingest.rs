//! Import: messages in, one atomic Delta commit out.
//!
//! ```text
//! input ─► chunks of lines ─► parse (rayon) ─► identity (in order) ─► ids, dedupe,
//!          sessions ─► sorted batches ─► Parquet files (uncommitted) ─► commit
//! ```
//! Files are written chunk by chunk so an import of any size streams, but
//! they become visible in one commit at the end: a failed or killed import
//! leaves nothing half-visible, and everything acknowledged before it stays.

use std::collections::{HashMap, HashSet};
use std::io::BufRead;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::prelude::SessionContext;
use deltalake::kernel::transaction::CommitBuilder;
use deltalake::kernel::Action;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::DeltaTable;
use rayon::prelude::*;
use serde_json::Value;
use xxhash_rust::xxh3::{xxh3_128, xxh3_64};

use crate::error::{Error, Result};
use crate::event_batch::{build_batch, stored_schema, StoredEvent};

use crate::identity::Users;
use crate::layout::{PropertyLayout, EVENT_PREFIX};
use crate::message::{parse_message, Message, TrackEvent};
use crate::store::{Store, PARTITION_COLUMN};
use crate::time::date_of_micros;
use crate::users_table::users_batch;

/// A new session starts after more than this long without an event of the user.
pub const SESSION_GAP_MICROS: i64 = 30 * 60 * 1_000_000;
/// Lines parsed and written per chunk.
const CHUNK_LINES: usize = 256 * 1024;

/// Input formats of `trail import`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InputFormat {
    /// One JSON message a line.
    #[default]
    Ndjson,
    /// A header row naming message fields; `properties`, `traits`, `context` hold JSON.
    Csv,
    /// Columns named like message fields.
    Parquet,
}

impl InputFormat {
    /// The format a file name implies (`.csv`, `.parquet`, else NDJSON).
    pub fn from_path(path: &str) -> Self {
        let lower = path.to_ascii_lowercase();
        if lower.ends_with(".csv") {
            Self::Csv
        } else if lower.ends_with(".parquet") {
            Self::Parquet
        } else {
            Self::Ndjson
        }
    }
}

/// How to import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Rejected lines tolerated before the import fails (and commits nothing).
    pub max_errors: usize,
}

/// A rejected input line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// 1-based line (CSV: row after the header; Parquet: row) of the input.
    pub line: usize,
    pub reason: String,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// What an import did.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    /// Messages read (good and bad).
    pub messages: usize,
    /// Events written.
    pub events: usize,
    /// Events skipped because an event with the same id was already stored or imported.
    pub duplicates: usize,
    /// identify / alias / add_user_properties messages applied.
    pub user_updates: usize,
    /// Lines rejected (at most `max_errors`, or the import failed).
    pub rejected: Vec<Rejection>,
    /// The events table version this import created, if it wrote events.
    pub version: Option<i64>,
}

/// Runs one import into `store`. `progress` is called with the number of
/// messages read so far.
pub(crate) async fn import(
    store: &Store,
    input: Box<dyn BufRead + Send>,
    format: InputFormat,
    options: &ImportOptions,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<ImportReport> {
    let (events_table, users_table) = store.open_consistent().await?;
    let users = match &users_table {
        Some(t) => crate::users_table::read_users(t).await?,
        None => Users::default(),
    };
    let mut importer = Importer {
        store,
        users,
        events_table,
        writer: None,
        layout: None,
        schema: None,
        seen: HashSet::new(),
        checked_dates: HashSet::new(),
        report: ImportReport::default(),
        max_errors: options.max_errors,
        users_changed: false,
    };
    let mut chunks = Chunks::new(input, format)?;
    let mut line_base = 0usize;
    while let Some(lines) = chunks.next_chunk()? {
        let parsed: Vec<Result<Message, String>> = lines
            .par_iter()
            .map(|line| match line {
                Line::Json(text) => serde_json::from_str::<Value>(text)
                    .map_err(|e| format!("bad JSON: {e}"))
                    .and_then(parse_message),
                Line::Value(v) => parse_message(v.clone()),
                Line::Error(e) => Err(e.clone()),
            })
            .collect();
        importer.apply_chunk(parsed, line_base).await?;
        line_base += lines.len();
        progress(line_base);
    }
    importer.commit().await
}

/// One input record, still unparsed.
enum Line {
    Json(String),
    Value(Value),
    Error(String),
}

/// Reads the input in chunks, whatever its format.
struct Chunks {
    source: ChunkSource,
}

enum ChunkSource {
    Ndjson(Box<dyn BufRead + Send>),
    Records(std::vec::IntoIter<Line>),
}

impl Chunks {
    fn new(mut input: Box<dyn BufRead + Send>, format: InputFormat) -> Result<Self> {
        let source = match format {
            InputFormat::Ndjson => ChunkSource::Ndjson(input),
            InputFormat::Csv => ChunkSource::Records(csv_records(input)?.into_iter()),
            InputFormat::Parquet => {
                let mut bytes = Vec::new();
                input
                    .read_to_end(&mut bytes)
                    .map_err(Error::io("reading Parquet input"))?;
                ChunkSource::Records(parquet_records(bytes)?.into_iter())
            }
        };
        Ok(Self { source })
    }

    fn next_chunk(&mut self) -> Result<Option<Vec<Line>>> {
        let mut lines = Vec::new();
        match &mut self.source {
            ChunkSource::Ndjson(input) => {
                let mut buf = Vec::new();
                while lines.len() < CHUNK_LINES {
                    buf.clear();
                    let n = input
                        .read_until(b'\n', &mut buf)
                        .map_err(Error::io("reading input"))?;
                    if n == 0 {
                        break;
                    }
                    lines.push(match String::from_utf8(std::mem::take(&mut buf)) {
                        Ok(s) => Line::Json(s),
                        Err(_) => Line::Error("not valid UTF-8".into()),
                    });
                }
            }
            ChunkSource::Records(records) => lines.extend(records.by_ref().take(CHUNK_LINES)),
        }
        Ok((!lines.is_empty()).then_some(lines))
    }
}

/// CSV rows as message objects: `properties`/`traits`/`context` columns hold
/// JSON; `properties.key` columns become keys of `properties`.
fn csv_records(input: Box<dyn BufRead + Send>) -> Result<Vec<Line>> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
    let headers = reader
        .headers()
        .map_err(|e| Error::Invalid(format!("CSV header: {e}")))?
        .clone();
    let mut out = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                out.push(Line::Error(format!("bad CSV row: {e}")));
                continue;
            }
        };
        let mut obj = serde_json::Map::new();
        let mut error = None;
        for (name, value) in headers.iter().zip(record.iter()) {
            if value.is_empty() {
                continue;
            }
            if let Some((parent, key)) = name.split_once('.') {
                let entry = obj
                    .entry(parent)
                    .or_insert_with(|| Value::Object(Default::default()));
                if let Value::Object(m) = entry {
                    m.insert(key.to_string(), Value::String(value.to_string()));
                }
            } else if matches!(name, "properties" | "traits" | "context") {
                match serde_json::from_str(value) {
                    Ok(v) => {
                        obj.insert(name.to_string(), v);
                    }
                    Err(e) => error = Some(format!("bad JSON in column \"{name}\": {e}")),
                }
            } else {
                obj.insert(name.to_string(), Value::String(value.to_string()));
            }
        }
        out.push(match error {
            Some(e) => Line::Error(e),
            None => Line::Value(Value::Object(obj)),
        });
    }
    Ok(out)
}

/// Parquet rows as message objects (via Arrow's JSON writer).
fn parquet_records(bytes: Vec<u8>) -> Result<Vec<Line>> {
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .and_then(|b| b.build())
        .map_err(|e| Error::Invalid(format!("Parquet input: {e}")))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| Error::Invalid(format!("Parquet input: {e}")))?;
        let mut writer = datafusion::arrow::json::LineDelimitedWriter::new(Vec::new());
        writer
            .write(&batch)
            .map_err(|e| Error::Invalid(format!("Parquet input: {e}")))?;
        writer
            .finish()
            .map_err(|e| Error::Invalid(format!("Parquet input: {e}")))?;
        for line in String::from_utf8_lossy(&writer.into_inner()).lines() {
            // JSON-typed text columns (properties, traits, context) are nested back.
            let mut v: Value = serde_json::from_str(line).unwrap_or(Value::Null);
            if let Value::Object(m) = &mut v {
                for key in ["properties", "traits", "context"] {
                    if let Some(Value::String(s)) = m.get(key) {
                        if let Ok(parsed) = serde_json::from_str::<Value>(s) {
                            m.insert(key.to_string(), parsed);
                        }
                    }
                }
            }
            out.push(Line::Value(v));
        }
    }
    Ok(out)
}

struct Importer<'a> {
    store: &'a Store,
    users: Users,
    events_table: Option<DeltaTable>,
    writer: Option<RecordBatchWriter>,
    layout: Option<PropertyLayout>,
    schema: Option<SchemaRef>,
    /// Hashes of every event id stored on the dates this import touches, and of those it imported.
    seen: HashSet<u128>,
    checked_dates: HashSet<i32>,
    report: ImportReport,
    max_errors: usize,
    users_changed: bool,
}

impl Importer<'_> {
    async fn apply_chunk(
        &mut self,
        parsed: Vec<Result<Message, String>>,
        line_base: usize,
    ) -> Result<()> {
        let mut tracks = Vec::new();
        for (i, message) in parsed.into_iter().enumerate() {
            self.report.messages += 1;
            match message {
                Err(reason) => {
                    self.report.rejected.push(Rejection {
                        line: line_base + i + 1,
                        reason,
                    });
                    if self.report.rejected.len() > self.max_errors {
                        return Err(Error::ImportFailed {
                            max_errors: self.max_errors,
                            rejected: std::mem::take(&mut self.report.rejected),
                        });
                    }
                }
                // Resolved in message order, so an identify later in the input
                // sees the users the earlier events created.
                Ok(Message::Track(t)) => tracks.push((self.users.resolve(&t.user), *t)),
                Ok(Message::Identify {
                    user,
                    identity,
                    time,
                    traits,
                }) => {
                    let id = self.users.identify(&user, &identity, time);
                    if !traits.is_empty() {
                        self.users
                            .add_properties(&crate::message::UserRef::Id(id.clone()), &traits);
                    }
                    if let Some(t) = time {
                        self.users.touch(&id, t);
                    }
                    self.report.user_updates += 1;
                    self.users_changed = true;
                }
                Ok(Message::AddUserProperties { user, properties }) => {
                    self.users.add_properties(&user, &properties);
                    self.report.user_updates += 1;
                    self.users_changed = true;
                }
            }
        }
        if tracks.is_empty() {
            return Ok(());
        }
        self.users_changed = true;
        let events = self.resolve(tracks).await?;
        if events.is_empty() {
            return Ok(());
        }
        self.write(events).await
    }

    /// Resolves users, assigns ids and sessions, drops duplicates.
    async fn resolve(&mut self, tracks: Vec<(String, TrackEvent)>) -> Result<Vec<StoredEvent>> {
        let dates: HashSet<i32> = tracks.iter().map(|(_, t)| date_of_micros(t.time)).collect();
        self.load_stored_ids(dates).await?;
        let mut by_user: HashMap<String, Vec<(String, TrackEvent)>> = HashMap::new();
        for (resolved, track) in tracks {
            let user_id = self.users.canonical(&resolved);
            let event_id = track.event_id.clone().unwrap_or_else(|| content_id(&track));
            if !self.seen.insert(xxh3_128(event_id.as_bytes())) {
                self.report.duplicates += 1;
                continue;
            }
            by_user.entry(user_id).or_default().push((event_id, track));
        }
        let mut out = Vec::with_capacity(by_user.values().map(Vec::len).sum());
        for (user_id, mut events) in by_user {
            events.sort_by_key(|(_, t)| t.time);
            let record = self.users.get_mut(&user_id).expect("resolved users exist");
            // The user's stored last event seeds the gaps, so a session spans
            // imports (events older than it are sessionized among themselves).
            let seed = record
                .last_event_time
                .zip(record.last_session_id.clone())
                .filter(|(t, _)| events.first().is_some_and(|(_, e)| e.time >= *t));
            let times: Vec<Option<i64>> = seed
                .iter()
                .map(|(t, _)| Some(*t))
                .chain(events.iter().map(|(_, e)| Some(e.time)))
                .collect();
            // The same kernel as SQL's `sessionize`.
            let numbers =
                trail_udfs::session::sessionize::session_numbers(&times, SESSION_GAP_MICROS);
            let mut ids: HashMap<i64, String> = HashMap::new();
            if let (Some((_, stored)), Some(Some(n))) = (&seed, numbers.first()) {
                ids.insert(*n, stored.clone());
            }
            let offset = usize::from(seed.is_some());
            for (i, (event_id, track)) in events.into_iter().enumerate() {
                let derived = numbers[i + offset].unwrap_or_default();
                let session_id = match &track.session_id {
                    Some(s) => s.clone(),
                    None => ids
                        .entry(derived)
                        .or_insert_with(|| session_id(&user_id, track.time))
                        .clone(),
                };
                record.joindate = Some(record.joindate.map_or(track.time, |j| j.min(track.time)));
                record.last_seen = Some(record.last_seen.map_or(track.time, |l| l.max(track.time)));
                if record.last_event_time.is_none_or(|t| track.time >= t) {
                    record.last_event_time = Some(track.time);
                    record.last_session_id = Some(session_id.clone());
                }
                out.push(StoredEvent {
                    event_id,
                    session_id,
                    user_id: user_id.clone(),
                    track,
                });
            }
        }
        Ok(out)
    }

    /// Remembers the ids already stored on `dates`, so re-imports do not duplicate.
    async fn load_stored_ids(&mut self, dates: HashSet<i32>) -> Result<()> {
        let new: Vec<i32> = dates
            .into_iter()
            .filter(|d| self.checked_dates.insert(*d))
            .collect();
        let Some(table) = &self.events_table else {
            return Ok(());
        };
        if new.is_empty() {
            return Ok(());
        }
        let ctx = SessionContext::new();
        table.update_datafusion_session(&ctx.state())?;
        ctx.register_table("stored", table.table_provider().await?)?;
        let list = new
            .iter()
            .map(|d| format!("CAST({d} AS DATE)"))
            .collect::<Vec<_>>()
            .join(", ");
        let batches = ctx
            .sql(&format!(
                "SELECT event_id FROM stored WHERE {PARTITION_COLUMN} IN ({list})"
            ))
            .await?
            .collect()
            .await?;
        for batch in batches {
            let ids = datafusion::arrow::compute::cast(
                batch.column(0),
                &datafusion::arrow::datatypes::DataType::Utf8,
            )?;
            for id in ids.as_string::<i32>().iter().flatten() {
                self.seen.insert(xxh3_128(id.as_bytes()));
            }
        }
        Ok(())
    }

    async fn write(&mut self, events: Vec<StoredEvent>) -> Result<()> {
        if self.writer.is_none() {
            let table = match self.events_table.take() {
                Some(t) => t,
                None => self.create_events_table(&events).await?,
            };
            let writer = RecordBatchWriter::for_table(&table)?
                .with_writer_properties(crate::store::writer_properties())
                .with_target_file_size(crate::store::TARGET_FILE_SIZE);
            // Build batches in exactly the table's Arrow schema (types, nullability, order).
            let schema = writer.arrow_schema();
            self.layout = Some(PropertyLayout::from_schema(EVENT_PREFIX, &schema));
            self.schema = Some(schema);
            self.writer = Some(writer);
            self.events_table = Some(table);
        }
        let (Some(writer), Some(layout), Some(schema)) =
            (&mut self.writer, &self.layout, &self.schema)
        else {
            unreachable!("writer initialised above");
        };
        self.report.events += events.len();
        let batch = build_batch(schema, layout, events)?;
        writer.write(batch).await?;
        Ok(())
    }

    /// The first import chooses the promoted event properties from its data.
    async fn create_events_table(&self, sample: &[StoredEvent]) -> Result<DeltaTable> {
        let layout =
            PropertyLayout::choose(EVENT_PREFIX, sample.iter().map(|e| &e.track.properties));
        let schema = stored_schema(&layout);
        let empty = datafusion::arrow::record_batch::RecordBatch::new_empty(schema);
        self.store.create_events(empty).await
    }

    async fn commit(mut self) -> Result<ImportReport> {
        let adds = match &mut self.writer {
            Some(w) => w.flush().await?,
            None => Vec::new(),
        };
        let current = self
            .events_table
            .as_ref()
            .and_then(|t| t.version())
            .map_or(-1, |v| v as i64);
        let next = if adds.is_empty() {
            current
        } else {
            current + 1
        };
        if self.users_changed {
            self.store
                .write_users(vec![users_batch(&self.users)?], next)
                .await?;
        }
        // Fault injection for the crash tests: die in the window between the
        // users commit and the events commit, the worst moment to die.
        if std::env::var_os("TRAIL_TEST_CRASH_BEFORE_EVENTS_COMMIT").is_some() {
            std::process::abort();
        }
        if !adds.is_empty() {
            let table = self
                .events_table
                .as_ref()
                .expect("a writer implies a table");
            let operation = DeltaOperation::Write {
                mode: SaveMode::Append,
                partition_by: Some(vec![PARTITION_COLUMN.to_string()]),
                predicate: None,
            };
            let finalized = CommitBuilder::default()
                .with_actions(adds.into_iter().map(Action::Add).collect())
                .build(Some(table.snapshot()?), table.log_store(), operation)
                .await?;
            self.report.version = Some(finalized.version() as i64);
        }
        Ok(self.report)
    }
}

/// The id of an event that came without one: a hash of what it says.
/// It hashes the user as the message named it, so a re-import after a merge
/// still recognises the event.
fn content_id(t: &TrackEvent) -> String {
    let props = serde_json::to_string(&t.properties).unwrap_or_default();
    let key = format!(
        "{:?}\u{1f}{}\u{1f}{}\u{1f}{props}",
        t.user, t.event_type, t.time
    );
    format!("{:016x}", xxh3_64(key.as_bytes()))
}

/// A derived session's id: stable, from its user and start time.
fn session_id(user_id: &str, start: i64) -> String {
    format!(
        "{:016x}",
        xxh3_64(format!("{user_id}\u{1f}{start}").as_bytes())
    )
}
