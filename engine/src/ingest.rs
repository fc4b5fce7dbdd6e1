//! Import: messages in, one atomic Delta commit out.
//!
//! ```text
//! reader thread:  input ─► chunks of lines ─► parse + content ids (rayon)
//!                                   │ (bounded channel: parsing overlaps the rest)
//! import task:    identity (in order) ─► dedupe, sessions ─► per-date batches (rayon)
//!                 ─► buffered per date ─► sorted Parquet files, dates in parallel
//!                 ─► one commit
//! ```
//! Batches are buffered per date up to [`FLUSH_BYTES`] and then written as one
//! file per date sorted by `(user_id, time)`, so an import of any size streams
//! in bounded memory. Files become visible in one commit at the end: a failed
//! or killed import leaves nothing half-visible, and everything acknowledged
//! before it stays.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, Write};
use std::sync::Arc;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;
use deltalake::kernel::transaction::CommitBuilder;
use deltalake::kernel::{Action, Add};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::DeltaTable;
use rayon::prelude::*;
use serde_json::Value;
use xxhash_rust::xxh3::{xxh3_128, xxh3_64, Xxh3};

use crate::error::{Error, Result};
use crate::event_batch::{build_batch, sort_for_file, stored_schema, StoredEvent};

use crate::id_set::IdSet;
use crate::identity::Users;
use crate::layout::{PropertyLayout, EVENT_PREFIX};
use crate::message::{parse_message, parse_message_json, Message, TrackEvent, UserRef};
use crate::store::{Store, PARTITION_COLUMN};
use crate::time::date_of_micros;
use crate::users_table::users_batch;

/// A new session starts after more than this long without an event of the user.
pub const SESSION_GAP_MICROS: i64 = 30 * 60 * 1_000_000;
/// Lines parsed per chunk.
const CHUNK_LINES: usize = 64 * 1024;
/// Parsed chunks the reader thread may run ahead of the import task.
const CHUNKS_AHEAD: usize = 2;
/// Arrow bytes buffered before the buffered dates are written out as files.
const FLUSH_BYTES: usize = 768 * 1024 * 1024;

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
        layout: None,
        schema: None,
        buffered: BTreeMap::new(),
        buffered_bytes: 0,
        adds: Vec::new(),
        seen: IdSet::default(),
        checked_dates: HashSet::new(),
        report: ImportReport::default(),
        max_errors: options.max_errors,
        users_changed: false,
    };
    let mut parsed_chunks = spawn_reader(input, format);
    let mut line_base = 0usize;
    while let Some(parsed) = parsed_chunks.recv().await {
        let parsed = parsed?;
        let lines = parsed.len();
        importer.apply_chunk(parsed, line_base).await?;
        line_base += lines;
        progress(line_base);
    }
    importer.commit().await
}

/// Reads and parses the input on a thread of its own, a few chunks ahead of
/// the import task, so parsing overlaps identity resolution and writing.
/// Dropping the receiver stops the thread at its next chunk.
fn spawn_reader(
    input: Box<dyn BufRead + Send>,
    format: InputFormat,
) -> tokio::sync::mpsc::Receiver<Result<Vec<Result<Message, String>>>> {
    let (tx, rx) = tokio::sync::mpsc::channel(CHUNKS_AHEAD);
    std::thread::spawn(move || {
        let mut chunks = match Chunks::new(input, format) {
            Ok(c) => c,
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        };
        loop {
            let next = chunks
                .next_chunk()
                .map(|lines| lines.map(|lines| lines.par_iter().map(parse_line).collect()));
            let (done, sent) = match next {
                Ok(Some(parsed)) => (false, tx.blocking_send(Ok(parsed))),
                Ok(None) => (true, Ok(())),
                Err(e) => (true, tx.blocking_send(Err(e))),
            };
            if done || sent.is_err() {
                return;
            }
        }
    });
    rx
}

/// Parses one input record. Tracks without an id get their content id here,
/// where it is computed in parallel.
fn parse_line(line: &Line) -> Result<Message, String> {
    let mut message = match line {
        Line::Json(text) => parse_message_json(text),
        Line::Value(v) => parse_message(v.clone()),
        Line::Error(e) => Err(e.clone()),
    }?;
    if let Message::Track(t) = &mut message {
        if t.event_id.is_none() {
            t.event_id = Some(content_id(t));
        }
    }
    Ok(message)
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
                // Each line becomes its own String: sized from the last line,
                // so reading it rarely grows (and copies) the buffer.
                let mut capacity = 512;
                while lines.len() < CHUNK_LINES {
                    let mut buf = Vec::with_capacity(capacity);
                    let n = input
                        .read_until(b'\n', &mut buf)
                        .map_err(Error::io("reading input"))?;
                    if n == 0 {
                        break;
                    }
                    capacity = n + n / 4;
                    lines.push(match String::from_utf8(buf) {
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
    layout: Option<PropertyLayout>,
    schema: Option<SchemaRef>,
    /// Batches not yet written, by date (days since the epoch).
    buffered: BTreeMap<i32, Vec<RecordBatch>>,
    buffered_bytes: usize,
    /// Files written (not yet committed).
    adds: Vec<Add>,
    /// Hashes of every event id stored on the dates this import touches, and of those it imported.
    seen: IdSet,
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
                Ok(Message::Track(t)) => tracks.push((self.users.resolve(&t.user), t)),
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
        self.stage(events).await?;
        if self.buffered_bytes >= FLUSH_BYTES {
            self.flush().await?;
        }
        Ok(())
    }

    /// Resolves users, assigns ids and sessions, drops duplicates.
    async fn resolve(
        &mut self,
        tracks: Vec<(String, Box<TrackEvent>)>,
    ) -> Result<Vec<StoredEvent>> {
        let dates: HashSet<i32> = tracks.iter().map(|(_, t)| date_of_micros(t.time)).collect();
        self.load_stored_ids(dates).await?;
        type UserEvents = Vec<(String, Box<TrackEvent>)>;
        // foldhash: one lookup per event.
        let mut by_user: hashbrown::HashMap<String, UserEvents> = hashbrown::HashMap::new();
        for (resolved, mut track) in tracks {
            // Re-resolved: an identify later in the chunk may have merged the user.
            let user_id = match self.users.canonical_ref(&resolved) {
                same if same == resolved => resolved,
                merged => merged.to_string(),
            };
            // `parse_line` fills in content ids; the fallback only guards the invariant.
            let event_id = match track.event_id.take() {
                Some(id) => id,
                None => content_id(&track),
            };
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
            let user_id: Arc<str> = user_id.into();
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
            let mut ids: HashMap<i64, Arc<str>> = HashMap::new();
            if let (Some((_, stored)), Some(Some(n))) = (&seed, numbers.first()) {
                ids.insert(*n, stored.as_str().into());
            }
            let offset = usize::from(seed.is_some());
            let mut latest_session = None;
            for (i, (event_id, track)) in events.into_iter().enumerate() {
                let derived = numbers[i + offset].unwrap_or_default();
                let session_id: Arc<str> = match &track.session_id {
                    Some(s) => s.as_str().into(),
                    None => ids
                        .entry(derived)
                        .or_insert_with(|| session_id(&user_id, track.time).into())
                        .clone(),
                };
                record.joindate = Some(record.joindate.map_or(track.time, |j| j.min(track.time)));
                record.last_seen = Some(record.last_seen.map_or(track.time, |l| l.max(track.time)));
                if record.last_event_time.is_none_or(|t| track.time >= t) {
                    record.last_event_time = Some(track.time);
                    latest_session = Some(session_id.clone());
                }
                out.push(StoredEvent {
                    event_id,
                    session_id,
                    user_id: user_id.clone(),
                    track,
                });
            }
            if let Some(session) = latest_session {
                record.last_session_id = Some(session.to_string());
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

    /// Builds the events into per-date batches (dates in parallel) and buffers them.
    async fn stage(&mut self, events: Vec<StoredEvent>) -> Result<()> {
        if self.schema.is_none() {
            let table = match self.events_table.take() {
                Some(t) => t,
                None => self.create_events_table(&events).await?,
            };
            // Build batches in exactly the table's Arrow schema (types, nullability, order).
            let schema = RecordBatchWriter::for_table(&table)?.arrow_schema();
            self.layout = Some(PropertyLayout::from_schema(EVENT_PREFIX, &schema));
            self.schema = Some(schema);
            self.events_table = Some(table);
        }
        let (Some(layout), Some(schema)) = (&self.layout, &self.schema) else {
            unreachable!("schema initialised above");
        };
        self.report.events += events.len();
        let mut by_date: BTreeMap<i32, Vec<StoredEvent>> = BTreeMap::new();
        for e in events {
            by_date
                .entry(date_of_micros(e.track.time))
                .or_default()
                .push(e);
        }
        let built: Vec<(i32, RecordBatch)> = by_date
            .into_par_iter()
            .map(|(date, events)| Ok((date, build_batch(schema, layout, &events)?)))
            .collect::<datafusion::error::Result<_>>()?;
        for (date, batch) in built {
            self.buffered_bytes += batch.get_array_memory_size();
            self.buffered.entry(date).or_default().push(batch);
        }
        Ok(())
    }

    /// Writes every buffered date as one file sorted by `(user_id, time)`,
    /// spreading the dates over the runtime's threads.
    async fn flush(&mut self) -> Result<()> {
        let (Some(table), Some(schema)) = (&self.events_table, &self.schema) else {
            return Ok(());
        };
        let buffered = std::mem::take(&mut self.buffered);
        self.buffered_bytes = 0;
        let tasks: Vec<_> = balance(buffered, file_writers())
            .into_iter()
            .map(|dates| tokio::spawn(write_files(table.clone(), schema.clone(), dates)))
            .collect();
        for task in tasks {
            let adds = task
                .await
                .map_err(|e| Error::Invalid(format!("writing event files: {e}")))??;
            self.adds.extend(adds);
        }
        Ok(())
    }

    /// The first import chooses the promoted event properties from its data.
    async fn create_events_table(&self, sample: &[StoredEvent]) -> Result<DeltaTable> {
        let objects: Vec<_> = sample.iter().map(|e| e.track.properties.to_map()).collect();
        let layout = PropertyLayout::choose(EVENT_PREFIX, objects.iter());
        let schema = stored_schema(&layout);
        let empty = datafusion::arrow::record_batch::RecordBatch::new_empty(schema);
        self.store.create_events(empty).await
    }

    async fn commit(mut self) -> Result<ImportReport> {
        // Every event is deduplicated by now: the id hashes (the largest
        // structure of a large import) go before the last files and the
        // users table are written.
        self.seen = IdSet::default();
        self.flush().await?;
        let adds = std::mem::take(&mut self.adds);
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

/// Parallel file writers: one per core (encoding Parquet is CPU-bound).
fn file_writers() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

/// Deals dates out to `n` writers, largest first to the least loaded, so
/// the writers finish at about the same time.
fn balance(buffered: BTreeMap<i32, Vec<RecordBatch>>, n: usize) -> Vec<Vec<Vec<RecordBatch>>> {
    let rows = |batches: &[RecordBatch]| batches.iter().map(RecordBatch::num_rows).sum::<usize>();
    let mut dates: Vec<Vec<RecordBatch>> = buffered.into_values().collect();
    dates.sort_by_key(|b| std::cmp::Reverse(rows(b)));
    let mut groups: Vec<(usize, Vec<Vec<RecordBatch>>)> =
        (0..n.max(1)).map(|_| (0, Vec::new())).collect();
    for date in dates {
        let least = groups
            .iter_mut()
            .min_by_key(|(load, _)| *load)
            .expect("at least one group");
        least.0 += rows(&date);
        least.1.push(date);
    }
    groups
        .into_iter()
        .map(|(_, dates)| dates)
        .filter(|d| !d.is_empty())
        .collect()
}

/// Writes each date's batches as sorted Parquet files (uncommitted) and
/// returns their add actions.
async fn write_files(
    table: DeltaTable,
    schema: SchemaRef,
    dates: Vec<Vec<RecordBatch>>,
) -> Result<Vec<Add>> {
    let mut writer = RecordBatchWriter::for_table(&table)?
        .with_writer_properties(crate::store::writer_properties())
        .with_target_file_size(crate::store::TARGET_FILE_SIZE);
    let mut adds = Vec::new();
    for batches in dates {
        writer.write(sort_for_file(&schema, &batches)?).await?;
        // Each date is its own file, finished now so memory holds one at a time.
        adds.extend(writer.flush().await?);
    }
    Ok(adds)
}

/// Streams bytes into an xxh3 hash, so hashing needs no intermediate string.
struct HashWriter(Xxh3);

impl Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The id of an event that came without one: a hash of what it says.
/// It hashes the user as the message named it, so a re-import after a merge
/// still recognises the event.
fn content_id(t: &TrackEvent) -> String {
    let mut hash = HashWriter(Xxh3::new());
    // Writes to a hasher cannot fail. The user is hashed as its `Debug` text
    // (`Id("u1")`), written directly when that text is the id between quotes.
    let (variant, name) = match &t.user {
        UserRef::Id(name) => ("Id", name),
        UserRef::Identity(name) => ("Identity", name),
    };
    let plain = |b: u8| (b' '..=b'~').contains(&b) && !matches!(b, b'"' | b'\\' | b'\'');
    if name.bytes().all(plain) {
        hash.0.update(variant.as_bytes());
        hash.0.update(b"(\"");
        hash.0.update(name.as_bytes());
        hash.0.update(b"\")");
    } else {
        let _ = write!(hash, "{:?}", t.user);
    }
    let mut time = itoa::Buffer::new();
    for part in [t.event_type.as_str(), time.format(t.time)] {
        hash.0.update("\u{1f}".as_bytes());
        hash.0.update(part.as_bytes());
    }
    hash.0.update("\u{1f}".as_bytes());
    // The text of the parsed object, as ids have always been computed.
    let _ = t.properties.write_canonical(&mut hash);
    format!("{:016x}", hash.0.digest())
}

/// A derived session's id: stable, from its user and start time.
fn session_id(user_id: &str, start: i64) -> String {
    format!(
        "{:016x}",
        xxh3_64(format!("{user_id}\u{1f}{start}").as_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Content ids are stored: a re-import deduplicates against ids computed
    /// by earlier versions, so the id of a message never changes. The value
    /// was computed before property objects were kept as text.
    #[test]
    fn content_ids_are_stable_across_versions() {
        let line = r#"{"type":"track","user_id":"u1","event":"Add to Cart","time":"2026-11-20T10:00:00Z","properties":{"quantity":4, "cart_value":235.890, "tags":["a","b"],"note":"caf\u00e9"}}"#;
        let Ok(Message::Track(t)) = parse_message_json(line) else {
            panic!("a track")
        };
        assert_eq!(content_id(&t), "dcc53a9bc804d7cf");
    }

    /// The user goes into the hash as its `Debug` text, whether or not it
    /// takes the direct path.
    #[test]
    fn content_ids_hash_the_users_debug_text() {
        let line = r#"{"type":"track","user_id":"u1","event":"A","time":"2026-11-20T10:00:00Z","properties":{"k":1}}"#;
        let Ok(Message::Track(mut t)) = parse_message_json(line) else {
            panic!("a track")
        };
        for user in [
            UserRef::Id("plain user@x.com".into()),
            UserRef::Identity("with \"quote\"".into()),
            UserRef::Id("it's".into()),
            UserRef::Identity("caf\u{e9}\n".into()),
        ] {
            t.user = user;
            let mut hash = HashWriter(Xxh3::new());
            write!(
                hash,
                "{:?}\u{1f}{}\u{1f}{}\u{1f}",
                t.user, t.event_type, t.time
            )
            .unwrap();
            t.properties.write_canonical(&mut hash).unwrap();
            assert_eq!(
                content_id(&t),
                format!("{:016x}", hash.0.digest()),
                "{:?}",
                t.user
            );
        }
    }
}
