//! Import: messages in, one atomic Delta commit out.
//!
//! ```text
//! read thread:    input ─► chunks of lines (one ahead)
//! parse thread:   chunk ─► Arrow columns with content ids (rayon, pieces of a chunk)
//!                                   │ (bounded channel: parsing overlaps the rest)
//! import task:    identity (in order) ─► dedupe, sessions ─► per-date batches
//!                 gathered from the columns (rayon)
//!                 ─► buffered per date ─► sorted Parquet files, dates in parallel
//!                 ─► one commit
//! ```
//! Batches are buffered per date up to [`FLUSH_BYTES`] and then written as one
//! file per date sorted by `(user_id, time)`, so an import of any size streams
//! in bounded memory. Files become visible in one commit at the end: a failed
//! or killed import leaves nothing half-visible, and everything acknowledged
//! before it stays.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, Read};
use std::sync::{Arc, Mutex, PoisonError};

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::SessionContext;
use deltalake::kernel::scalars::ScalarExt;
use deltalake::kernel::transaction::CommitBuilder;
use deltalake::kernel::{Action, Add};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter, WriteMode};
use deltalake::DeltaTable;
use indexmap::IndexMap;
use rayon::prelude::*;
use serde_json::Value;
use xxhash_rust::xxh3::{xxh3_128, xxh3_64};

use crate::error::{Error, Result};
use crate::event_batch::stored_schema;

use crate::id_set::IdSet;
use crate::identity::Users;
use crate::layout::{PropertyLayout, EVENT_PREFIX};
use crate::message::{parse_message_text, Message, ParsedMessage, UserKind, UserRef};
use crate::properties::Properties;
use crate::store::{Store, PARTITION_COLUMN};
use crate::time::date_of_micros;
use crate::track_columns::{
    build_file_batch, parse_lines, HexId, KeptRow, LineOutcome, ParsedLines, StagedChunk,
};
use crate::users_table::users_batch;

/// A new session starts after more than this long without an event of the user.
pub const SESSION_GAP_MICROS: i64 = 30 * 60 * 1_000_000;
/// Lines parsed per chunk.
const CHUNK_LINES: usize = 64 * 1024;
/// Parsed chunks the parse thread may run ahead of the import task (the
/// read thread holds one more, unparsed).
const CHUNKS_AHEAD: usize = 1;
/// Arrow bytes buffered before the buffered dates are written out as files.
/// Batches are gathered at their exact size (they used to carry builder
/// slack, which counted against a budget of 768 MiB): 512 MiB holds about
/// the events that used to fit, and keeps a 100M-event import under 4 GiB.
const FLUSH_BYTES: usize = 512 * 1024 * 1024;

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
    import_sized(store, input, format, options, progress, Sizes::default()).await
}

/// How an import cuts its work: [`CHUNK_LINES`] and [`FLUSH_BYTES`] but in
/// the tests, which check with a few lines a chunk and a flush after every
/// chunk that what is stored does not depend on the chunks.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    chunk_lines: usize,
    flush_bytes: usize,
}

impl Default for Sizes {
    fn default() -> Self {
        Self {
            chunk_lines: CHUNK_LINES,
            flush_bytes: FLUSH_BYTES,
        }
    }
}

/// [`import`] with its work cut by `sizes`.
async fn import_sized(
    store: &Store,
    input: Box<dyn BufRead + Send>,
    format: InputFormat,
    options: &ImportOptions,
    progress: &(dyn Fn(usize) + Sync),
    sizes: Sizes,
) -> Result<ImportReport> {
    let (events_table, users_table) = store.open_consistent().await?;
    let users = match &users_table {
        Some(t) => crate::users_table::read_users(t).await?,
        None => Users::default(),
    };
    // Batches are built in exactly the table's Arrow schema (types,
    // nullability, order); a new table's layout is chosen by the reader.
    let schema = match &events_table {
        Some(table) => Some(RecordBatchWriter::for_table(table)?.arrow_schema()),
        None => None,
    };
    let layout = schema
        .as_ref()
        .map(|s| PropertyLayout::from_schema(EVENT_PREFIX, s));
    let mut importer = Importer {
        store,
        users,
        events_table,
        schema,
        buffered: BTreeMap::new(),
        buffered_bytes: 0,
        adds: Vec::new(),
        seen: IdSet::default(),
        checked_dates: HashSet::new(),
        report: ImportReport::default(),
        max_errors: options.max_errors,
        users_changed: false,
        line_base: 0,
        flush_bytes: sizes.flush_bytes,
    };
    let mut parsed_chunks = spawn_reader(input, format, layout, sizes.chunk_lines);
    while let Some(chunk) = parsed_chunks.recv().await {
        importer.apply_chunk(chunk?).await?;
        progress(importer.line_base);
    }
    importer.commit().await
}

/// One chunk of input lines, parsed in pieces (one per parse task).
struct ParsedChunk {
    /// The promoted event properties its tracks were built with.
    layout: Arc<PropertyLayout>,
    pieces: Vec<ParsedLines>,
}

/// Reads the input on one thread and parses it on another, ahead of the
/// import task: reading (from a cold disk, a good part of an
/// import) overlaps parsing, and parsing overlaps identity resolution and
/// writing. Dropping the receiver stops both threads at their next chunk.
/// `layout` is the existing table's; without one the parser chooses it from
/// the first chunk that has tracks, as the new table's.
fn spawn_reader(
    input: Box<dyn BufRead + Send>,
    format: InputFormat,
    layout: Option<PropertyLayout>,
    chunk_lines: usize,
) -> tokio::sync::mpsc::Receiver<Result<ParsedChunk>> {
    // One raw chunk read ahead: enough to keep the disk busy while a chunk
    // is parsed, and only one chunk's bytes more in memory.
    let (raw_tx, raw_rx) = std::sync::mpsc::sync_channel::<Result<RawChunk>>(1);
    // Parsed chunks' line buffers go back to the reader to be filled again.
    let (spent_tx, spent_rx) = std::sync::mpsc::channel::<LineBuffers>();
    std::thread::spawn(move || {
        let mut chunks = match Chunks::new(input, format, spent_rx, chunk_lines) {
            Ok(c) => c,
            Err(e) => {
                let _ = raw_tx.send(Err(e));
                return;
            }
        };
        loop {
            let sent = match chunks.next_chunk() {
                Ok(Some(chunk)) => raw_tx.send(Ok(chunk)),
                Ok(None) => return,
                Err(e) => {
                    let _ = raw_tx.send(Err(e));
                    return;
                }
            };
            if sent.is_err() {
                return;
            }
        }
    });
    let (tx, rx) = tokio::sync::mpsc::channel(CHUNKS_AHEAD);
    std::thread::spawn(move || {
        let mut layout = layout.map(Arc::new);
        for chunk in raw_rx {
            let parsed = chunk.map(|chunk| {
                let chosen = match &layout {
                    Some(l) => l.clone(),
                    None => Arc::new(chunk.sample_layout()),
                };
                let parsed = chunk.parse(chosen.clone());
                if let RawChunk::Lines(buffers) = chunk {
                    // The reader may have stopped; the buffers are dropped then.
                    let _ = spent_tx.send(buffers);
                }
                // A new table's layout comes from the first chunk with tracks.
                if parsed.pieces.iter().any(|p| p.tracks.len() > 0) {
                    layout.get_or_insert(chosen);
                }
                parsed
            });
            let failed = parsed.is_err();
            if tx.blocking_send(parsed).is_err() || failed {
                return;
            }
        }
    });
    rx
}

/// Lines of the first chunk a new table's layout is chosen from.
const LAYOUT_SAMPLE: usize = 8192;

/// Lines parsed per piece: one rayon task, small enough to spread a chunk
/// over the cores.
const PIECE_LINES: usize = 4096;

/// One chunk of input records, unparsed.
enum RawChunk {
    /// NDJSON lines.
    Lines(LineBuffers),
    /// CSV and Parquet rows as message text, or why the row is bad.
    Records(Vec<Result<String, String>>),
}

impl RawChunk {
    fn len(&self) -> usize {
        match self {
            Self::Lines(lines) => lines.ends.len(),
            Self::Records(records) => records.len(),
        }
    }

    fn line(&self, i: usize) -> Result<&str, String> {
        match self {
            Self::Lines(lines) => std::str::from_utf8(&lines.bytes[lines.start(i)..lines.ends[i]])
                .map_err(|_| "not valid UTF-8".to_string()),
            Self::Records(records) => records[i].as_deref().map_err(Clone::clone),
        }
    }

    /// The layout a new table gets: chosen from the properties of tracks
    /// spread evenly over this chunk, at most [`LAYOUT_SAMPLE`] lines. The
    /// sample is parsed here and again to build the columns (which need the
    /// layout); parsing the whole first chunk twice was ~3 % of a 1M import
    /// in `perf`. Keys are promoted by their share of the objects, which a
    /// sample of thousands estimates well; a key that misses the cut keeps
    /// its values in the JSON rest, nothing is lost.
    fn sample_layout(&self) -> PropertyLayout {
        let stride = (self.len() / LAYOUT_SAMPLE).max(1);
        let sample: Vec<usize> = (0..self.len()).step_by(stride).collect();
        let objects: Vec<_> = sample
            .into_par_iter()
            .filter_map(|i| match parse_message_text(self.line(i).ok()?) {
                Ok(ParsedMessage::Track(t)) => {
                    Some(Properties::from_object_text(t.properties).to_map())
                }
                _ => None,
            })
            .collect();
        PropertyLayout::choose(EVENT_PREFIX, objects.iter())
    }

    /// Parses the chunk in pieces, in parallel.
    fn parse(&self, layout: Arc<PropertyLayout>) -> ParsedChunk {
        let starts: Vec<usize> = (0..self.len()).step_by(PIECE_LINES).collect();
        let pieces = starts
            .into_par_iter()
            .map(|start| {
                let end = (start + PIECE_LINES).min(self.len());
                match self.valid_lines(start..end) {
                    Some(lines) => parse_lines(lines, &layout),
                    None => parse_lines((start..end).map(|i| self.line(i)), &layout),
                }
            })
            .collect();
        ParsedChunk { layout, pieces }
    }

    /// NDJSON lines `range`, if they are all valid UTF-8: checked at once
    /// (SIMD), where checking line by line was ~2.5 % of a 1M import in
    /// `perf`. Lines split at the newlines of valid text are valid; where the
    /// text is not, each line is checked on its own, so that a bad one is
    /// rejected by its number.
    fn valid_lines(
        &self,
        range: std::ops::Range<usize>,
    ) -> Option<impl ExactSizeIterator<Item = Result<&str, String>> + '_> {
        let Self::Lines(lines) = self else {
            return None;
        };
        let base = lines.start(range.start);
        let text =
            simdutf8::basic::from_utf8(&lines.bytes[base..lines.ends[range.end - 1]]).ok()?;
        Some(range.map(move |i| Ok(&text[lines.start(i) - base..lines.ends[i] - base])))
    }
}

/// A chunk's NDJSON lines: their bytes back to back, and where each ends
/// (bytes past the last end are left from an earlier chunk, see
/// [`read_lines`]).
///
/// Buffers go round between the reader and the parser instead of being
/// allocated per chunk, whose tens of megabytes are first touched page by
/// page (faults under the reader were ~2 % of a 1M import's `perf` samples;
/// mimalloc already reused most freed chunks, and returning them removed
/// ~5 % of the import's page faults).
struct LineBuffers {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl LineBuffers {
    /// Where line `i` starts in `bytes`.
    fn start(&self, i: usize) -> usize {
        if i == 0 {
            0
        } else {
            self.ends[i - 1]
        }
    }
}

/// Reads the input in chunks, whatever its format.
struct Chunks {
    source: ChunkSource,
    /// Bytes of the last NDJSON chunk: a new buffer is sized from it.
    last_bytes: usize,
    /// Buffers of chunks already parsed, to be filled again.
    spent: std::sync::mpsc::Receiver<LineBuffers>,
    /// Bytes read after the last chunk's last line: the next chunk's start.
    carry: Vec<u8>,
    /// Lines a chunk ([`CHUNK_LINES`] but in tests).
    chunk_lines: usize,
}

enum ChunkSource {
    Ndjson(Box<dyn BufRead + Send>),
    Records(std::vec::IntoIter<Result<String, String>>),
}

impl Chunks {
    fn new(
        mut input: Box<dyn BufRead + Send>,
        format: InputFormat,
        spent: std::sync::mpsc::Receiver<LineBuffers>,
        chunk_lines: usize,
    ) -> Result<Self> {
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
        Ok(Self {
            source,
            last_bytes: 0,
            spent,
            carry: Vec::new(),
            chunk_lines,
        })
    }

    fn next_chunk(&mut self) -> Result<Option<RawChunk>> {
        let chunk = match &mut self.source {
            ChunkSource::Ndjson(input) => {
                // A parsed chunk's buffers, else new ones sized from the last
                // chunk so that reading rarely grows (and copies) them.
                let mut lines = match self.spent.try_recv() {
                    Ok(spent) => spent,
                    Err(_) => LineBuffers {
                        bytes: Vec::with_capacity(self.last_bytes + self.last_bytes / 8),
                        ends: Vec::with_capacity(self.chunk_lines),
                    },
                };
                read_lines(
                    input.as_mut(),
                    &mut self.carry,
                    &mut lines,
                    self.chunk_lines,
                )?;
                self.last_bytes = lines.ends.last().copied().unwrap_or(0);
                RawChunk::Lines(lines)
            }
            ChunkSource::Records(records) => {
                RawChunk::Records(records.by_ref().take(self.chunk_lines).collect())
            }
        };
        Ok((chunk.len() > 0).then_some(chunk))
    }
}

/// Bytes asked of the input per read: the most a chunk reads past its last
/// line, and carries over to the next.
const READ_BYTES: usize = 1 << 20;

/// Fills `lines` with up to `chunk_lines` lines (newlines kept; the last
/// line of the input may lack one): `carry` first, the bytes the last chunk
/// read after its last line, then what `input` gives; the bytes read after
/// this chunk's last line are left in `carry`.
///
/// The input is read straight into the chunk's buffer and only the line
/// ends are searched. Copying whole lines out of a reader's buffer was a
/// copy of the input, with the growth and first-touch faults of buffers
/// that size (~2 % of a 1M import's `perf` samples); reading line by line
/// (`read_until`) had copied every line on its own, ~5 %. A buffer keeps
/// the length it was filled to (bytes past its last line are stale, never
/// read), so that a recycled buffer is not zeroed again before each read.
fn read_lines(
    input: &mut dyn Read,
    carry: &mut Vec<u8>,
    lines: &mut LineBuffers,
    chunk_lines: usize,
) -> Result<()> {
    let (bytes, ends) = (&mut lines.bytes, &mut lines.ends);
    ends.clear();
    let mut filled = carry.len();
    if bytes.len() < filled {
        bytes.resize(filled, 0);
    }
    bytes[..filled].copy_from_slice(carry);
    carry.clear();
    let mut searched = 0;
    loop {
        for newline in memchr::memchr_iter(b'\n', &bytes[searched..filled]) {
            ends.push(searched + newline + 1);
            if ends.len() == chunk_lines {
                carry.extend_from_slice(&bytes[searched + newline + 1..filled]);
                return Ok(());
            }
        }
        searched = filled;
        if bytes.len() < filled + READ_BYTES {
            bytes.resize(filled + READ_BYTES, 0);
        }
        let read = loop {
            match input.read(&mut bytes[filled..filled + READ_BYTES]) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => break other.map_err(Error::io("reading input"))?,
            }
        };
        if read == 0 {
            // A last line without a newline: its bytes are in, its end is not.
            if filled > ends.last().copied().unwrap_or(0) {
                ends.push(filled);
            }
            return Ok(());
        }
        filled += read;
    }
}

/// CSV rows as message objects: `properties`/`traits`/`context` columns hold
/// JSON; `properties.key` columns become keys of `properties`.
fn csv_records(input: Box<dyn BufRead + Send>) -> Result<Vec<Result<String, String>>> {
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
                out.push(Err(format!("bad CSV row: {e}")));
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
            Some(e) => Err(e),
            None => Ok(Value::Object(obj).to_string()),
        });
    }
    Ok(out)
}

/// Parquet rows as message objects (via Arrow's JSON writer).
fn parquet_records(bytes: Vec<u8>) -> Result<Vec<Result<String, String>>> {
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
            out.push(Ok(v.to_string()));
        }
    }
    Ok(out)
}

struct Importer<'a> {
    store: &'a Store,
    users: Users,
    events_table: Option<DeltaTable>,
    schema: Option<SchemaRef>,
    /// Rows not yet written, by date (days since the epoch).
    buffered: BTreeMap<i32, Vec<StagedRows>>,
    buffered_bytes: usize,
    /// Files written (not yet committed).
    adds: Vec<Add>,
    /// Hashes of every event id stored on the dates this import touches, and of those it imported.
    seen: IdSet,
    checked_dates: HashSet<i32>,
    report: ImportReport,
    max_errors: usize,
    users_changed: bool,
    /// Input lines read before the current chunk.
    line_base: usize,
    /// Buffered bytes that make a flush ([`FLUSH_BYTES`] but in tests).
    flush_bytes: usize,
}

/// One chunk's kept rows of one date.
type StagedRows = (Arc<StagedChunk>, Vec<KeptRow>);
/// A date (days since the epoch) and its rows, from every chunk.
type DateRows = (i32, Vec<StagedRows>);

/// A chunk's tracks after identity and deduplication.
#[derive(Default)]
struct ResolvedTracks {
    /// The surviving user ids the rows point at.
    user_ids: Vec<String>,
    by_date: BTreeMap<i32, Vec<KeptRow>>,
}

impl Importer<'_> {
    async fn apply_chunk(&mut self, mut chunk: ParsedChunk) -> Result<()> {
        // The users each track resolved to when its line was applied.
        let mut resolved: Vec<String> = Vec::new();
        let mut user_of_row: Vec<Vec<u32>> = Vec::with_capacity(chunk.pieces.len());
        for piece in &mut chunk.pieces {
            let lines = std::mem::take(&mut piece.lines);
            let mut users = Vec::with_capacity(piece.tracks.len());
            // The previous track's user, while no other message came between:
            // a run of one user's events resolves once.
            let mut previous: Option<(UserKind, usize)> = None;
            for line in lines {
                self.report.messages += 1;
                self.line_base += 1;
                match line {
                    LineOutcome::Rejected(reason) => {
                        self.report.rejected.push(Rejection {
                            line: self.line_base,
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
                    LineOutcome::Track => {
                        let row = users.len();
                        let (kind, name) = piece.tracks.user(row);
                        let same = previous.is_some_and(|(k, prev)| {
                            k == kind && piece.tracks.user(prev).1 == name
                        });
                        if !same {
                            resolved.push(self.users.resolve_name(kind, name));
                        }
                        users.push(resolved.len() as u32 - 1);
                        previous = Some((kind, row));
                    }
                    LineOutcome::User(message) => {
                        self.apply_user_message(message);
                        previous = None;
                    }
                }
            }
            user_of_row.push(users);
        }
        if resolved.is_empty() {
            return Ok(());
        }
        self.users_changed = true;
        let tracks = self.resolve(&chunk, resolved, user_of_row).await?;
        if tracks.by_date.is_empty() {
            return Ok(());
        }
        self.stage(chunk, tracks).await?;
        if self.buffered_bytes >= self.flush_bytes {
            self.flush().await?;
        }
        Ok(())
    }

    fn apply_user_message(&mut self, message: Message) {
        match message {
            Message::Identify {
                user,
                identity,
                time,
                traits,
            } => {
                let id = self.users.identify(&user, &identity, time);
                if !traits.is_empty() {
                    self.users.add_properties(&UserRef::Id(id.clone()), &traits);
                }
                if let Some(t) = time {
                    self.users.touch(&id, t);
                }
            }
            Message::AddUserProperties { user, properties } => {
                self.users.add_properties(&user, &properties);
            }
            // Parse workers keep tracks in columns.
            Message::Track(_) => unreachable!("tracks are parsed into columns"),
        }
        self.report.user_updates += 1;
        self.users_changed = true;
    }

    /// Maps the chunk's tracks to their surviving users, drops duplicates
    /// and sorts the rows into dates (their sessions are derived when they
    /// are written, [`Self::assign_sessions`]).
    async fn resolve(
        &mut self,
        chunk: &ParsedChunk,
        resolved: Vec<String>,
        user_of_row: Vec<Vec<u32>>,
    ) -> Result<ResolvedTracks> {
        let pieces = &chunk.pieces;
        let dates: HashSet<i32> = pieces
            .iter()
            .flat_map(|p| (0..p.tracks.len()).map(|row| date_of_micros(p.tracks.time(row))))
            .collect();
        self.load_stored_ids(dates).await?;
        // Re-resolved: an identify later in the chunk may have merged a user.
        // foldhash: one lookup per user of the chunk.
        let mut out = ResolvedTracks::default();
        let mut index: hashbrown::HashMap<&str, u32> = hashbrown::HashMap::new();
        let user_of_resolved: Vec<u32> = resolved
            .iter()
            .map(|r| {
                let canonical = self.users.canonical_ref(r);
                *index.entry(canonical).or_insert_with(|| {
                    out.user_ids.push(canonical.to_string());
                    out.user_ids.len() as u32 - 1
                })
            })
            .collect();
        drop(index);
        // (user, time, piece, row) of each new event; sorted stably, so
        // events at the same time keep their input order.
        let mut events: Vec<(u32, i64, u32, u32)> = Vec::new();
        for (p, piece) in pieces.iter().enumerate() {
            for (row, resolved) in user_of_row[p].iter().enumerate() {
                if !self.seen.insert(piece.tracks.id_hash(row)) {
                    self.report.duplicates += 1;
                    continue;
                }
                let user = user_of_resolved[*resolved as usize];
                events.push((user, piece.tracks.time(row), p as u32, row as u32));
            }
        }
        events.sort_by_key(|&(user, time, _, _)| (user, time));
        self.report.events += events.len();
        for run in events.chunk_by(|a, b| a.0 == b.0) {
            self.stage_user_events(run, &mut out);
        }
        Ok(out)
    }

    /// Files one user's new events (in time order) by date and widens the
    /// user's first and last seen.
    fn stage_user_events(&mut self, run: &[(u32, i64, u32, u32)], out: &mut ResolvedTracks) {
        let user = run[0].0;
        let record = self
            .users
            .get_mut(&out.user_ids[user as usize])
            .expect("resolved users exist");
        let (first, last) = (run[0].1, run[run.len() - 1].1);
        record.joindate = Some(record.joindate.map_or(first, |j| j.min(first)));
        record.last_seen = Some(record.last_seen.map_or(last, |l| l.max(last)));
        for &(_, time, piece, row) in run {
            out.by_date
                .entry(date_of_micros(time))
                .or_default()
                .push(KeptRow {
                    piece,
                    row,
                    user,
                    session: None,
                });
        }
    }

    /// Derives the session of every buffered row whose message named none,
    /// and returns the derived ids the rows now point at.
    ///
    /// Each user's buffered events are sessionized at once, in time order,
    /// whichever chunks they came in: deriving them chunk by chunk had made
    /// an event that arrived after the user's later events (a merged user's,
    /// or any late one) a session of its own when a chunk boundary fell
    /// between them. A user is the one its rows' user survives as now. The
    /// user's last written event (from earlier flushes and imports), and
    /// that of each user merged into it, take their places among the times,
    /// so their sessions go on for the events around them; earlier written
    /// events are not read again, so an event joins a written session only
    /// through one of those last events.
    fn assign_sessions(&mut self, dates: &mut [DateRows]) -> Vec<String> {
        // (user, time, date, part, kept row) of every buffered row; sorted,
        // equal times keep the input order (parts are in chunk order, a
        // part's rows in input order within a user).
        let rows = dates
            .iter()
            .flat_map(|(_, parts)| parts.iter().map(|(_, rows)| rows.len()))
            .sum();
        let mut keys: Vec<(u32, i64, u32, u32, u32)> = Vec::with_capacity(rows);
        let mut users: Vec<String> = Vec::new();
        let mut index: hashbrown::HashMap<&str, u32> = hashbrown::HashMap::new();
        for (d, (_, parts)) in dates.iter().enumerate() {
            for (p, (chunk, rows)) in parts.iter().enumerate() {
                chunk.visit_rows(
                    rows,
                    |user_id| {
                        let canonical = self.users.canonical_ref(user_id);
                        *index.entry(canonical).or_insert_with(|| {
                            users.push(canonical.to_string());
                            users.len() as u32 - 1
                        })
                    },
                    |k, user, time| keys.push((user, time, d as u32, p as u32, k as u32)),
                );
            }
        }
        drop(index);
        // The positions make every key distinct: the unstable sort is exact.
        keys.par_sort_unstable();
        let mut sessions = Vec::new();
        for run in keys.chunk_by(|a, b| a.0 == b.0) {
            let user_id = users[run[0].0 as usize].as_str();
            // The run's times with the user's last written events (its own
            // and its merged users') among them, each before events at its time.
            let seeds = self.users.seeds(user_id);
            let mut times: Vec<Option<i64>> = Vec::with_capacity(run.len() + seeds.len());
            let (mut seed_at, mut event_at) = (Vec::new(), Vec::with_capacity(run.len()));
            let mut next_seed = seeds.iter().map(|(t, _)| *t).peekable();
            for key in run {
                while let Some(t) = next_seed.next_if(|t| *t <= key.1) {
                    seed_at.push(times.len());
                    times.push(Some(t));
                }
                event_at.push(times.len());
                times.push(Some(key.1));
            }
            for t in next_seed {
                seed_at.push(times.len());
                times.push(Some(t));
            }
            // The same kernel as SQL's `sessionize`.
            let numbers =
                trail_udfs::session::sessionize::session_numbers(&times, SESSION_GAP_MICROS);
            // A session that holds written events goes on under the id of
            // the latest of them.
            let continued = |number: Option<i64>| {
                seed_at
                    .iter()
                    .zip(&seeds)
                    .rev()
                    .find(|(at, _)| numbers[**at] == number)
                    .map(|(_, (_, id))| id)
            };
            // Numbers rise along the run: one derived id at a time, made at
            // the session's first row that names none.
            let mut current: Option<(Option<i64>, u32)> = None;
            for (i, &(_, time, d, p, k)) in run.iter().enumerate() {
                let number = numbers[event_at[i]];
                let (chunk, rows) = &mut dates[d as usize].1[p as usize];
                let row = &mut rows[k as usize];
                if chunk.named_session(row).is_some() {
                    continue;
                }
                let session = match current {
                    Some((n, session)) if n == number => session,
                    _ => {
                        sessions.push(match continued(number) {
                            Some(stored) => stored.clone(),
                            None => session_id(user_id, time),
                        });
                        let session = sessions.len() as u32 - 1;
                        current = Some((number, session));
                        session
                    }
                };
                row.session = Some(session);
            }
            // The latest event: of those at the latest time, the last in the
            // input (chunk, then line). Among ties the sort follows the rows
            // as staged, user by user, which is not the input's order when
            // two of the chunk's users merged later.
            let last = run[run.len() - 1].1;
            let &(_, _, d, p, k) = run[run.partition_point(|key| key.1 < last)..]
                .iter()
                .max_by_key(|&&(_, _, d, p, k)| {
                    let row = &dates[d as usize].1[p as usize].1[k as usize];
                    (p, row.piece, row.row)
                })
                .expect("runs are not empty");
            let record = self.users.get_mut(user_id).expect("surviving users exist");
            if record.last_event_time.is_none_or(|t| last >= t) {
                let (chunk, rows) = &dates[d as usize].1[p as usize];
                record.last_event_time = Some(last);
                record.last_session_id = Some(
                    chunk
                        .session_id(&rows[k as usize], &sessions)
                        .unwrap_or_default()
                        .to_string(),
                );
            }
        }
        sessions
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

    /// Buffers the chunk's kept rows by date; they are copied into their
    /// files' order when the dates are written.
    async fn stage(&mut self, chunk: ParsedChunk, tracks: ResolvedTracks) -> Result<()> {
        if self.schema.is_none() {
            // The first import creates the table, promoting what the reader chose.
            let schema = stored_schema(&chunk.layout);
            let empty = RecordBatch::new_empty(schema);
            let table = self.store.create_events(empty).await?;
            self.schema = Some(RecordBatchWriter::for_table(&table)?.arrow_schema());
            self.events_table = Some(table);
        }
        let staged = Arc::new(StagedChunk::new(
            chunk.pieces.into_iter().map(|p| p.tracks).collect(),
            tracks.user_ids,
        ));
        self.buffered_bytes += staged.memory_size();
        for (date, rows) in tracks.by_date {
            self.buffered
                .entry(date)
                .or_default()
                .push((staged.clone(), rows));
        }
        Ok(())
    }

    /// Derives the buffered rows' sessions and writes every buffered date as
    /// one file sorted by `(user_id, time)`, spreading the dates over the
    /// runtime's threads.
    async fn flush(&mut self) -> Result<()> {
        let (Some(table), Some(schema)) = (self.events_table.clone(), self.schema.clone()) else {
            return Ok(());
        };
        let mut dates: Vec<DateRows> = std::mem::take(&mut self.buffered).into_iter().collect();
        self.buffered_bytes = 0;
        let sessions = Arc::new(self.assign_sessions(&mut dates));
        let dates = Arc::new(Mutex::new(largest_last(dates)));
        let tasks: Vec<_> = (0..file_writers())
            .map(|_| {
                let (table, schema) = (table.clone(), schema.clone());
                tokio::spawn(write_files(table, schema, sessions.clone(), dates.clone()))
            })
            .collect();
        for task in tasks {
            let adds = task
                .await
                .map_err(|e| Error::Invalid(format!("writing event files: {e}")))??;
            self.adds.extend(adds);
        }
        Ok(())
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

/// The buffered dates, the one with the most rows last: writers take dates
/// from the end, the largest first, and each takes the next as soon as it is
/// done, so they finish within about one small date of each other. (Dealing
/// the dates out by row counts up front left one writer running alone for
/// ~5 % of a 1M import: a date's cost is not exactly its rows.)
fn largest_last(mut dates: Vec<DateRows>) -> Vec<DateRows> {
    let rows = |parts: &[StagedRows]| parts.iter().map(|(_, rows)| rows.len()).sum::<usize>();
    dates.sort_by_key(|(_, parts)| rows(parts));
    dates
}

/// Takes dates off `dates` until none is left, writes each one's rows as a
/// sorted Parquet file (uncommitted) and returns their add actions.
/// `sessions`: the derived session ids the rows point at.
async fn write_files(
    table: DeltaTable,
    schema: SchemaRef,
    sessions: Arc<Vec<String>>,
    dates: Arc<Mutex<Vec<DateRows>>>,
) -> Result<Vec<Add>> {
    let mut writer = RecordBatchWriter::for_table(&table)?
        .with_writer_properties(crate::store::writer_properties())
        .with_target_file_size(crate::store::TARGET_FILE_SIZE);
    let mut adds = Vec::new();
    loop {
        // Taken in a statement of its own: the lock is not held while writing.
        let next = dates.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let Some((date, parts)) = next else { break };
        let batch = build_file_batch(&schema, &parts, &sessions, date)?;
        drop(parts);
        // Every row has that date: naming its partition spares deltalake's
        // per-row split of the batch (a full copy).
        let partition = batch.column(schema.index_of(PARTITION_COLUMN)?);
        let date = ScalarExt::from_array(partition.as_ref(), 0)
            .ok_or_else(|| Error::Invalid("a buffered date without rows".into()))?;
        let partition_values = IndexMap::from([(PARTITION_COLUMN.to_string(), date)]);
        writer
            .write_partition(batch, &partition_values, WriteMode::Default)
            .await?;
        // Each date is its own file, finished now so memory holds one at a time.
        adds.extend(writer.flush().await?);
    }
    Ok(adds)
}

/// A derived session's id: stable, from its user and start time (the hash
/// of `user_id`, a 0x1f byte and `start` in decimal).
fn session_id(user_id: &str, start: i64) -> String {
    // Hashed off the stack: `format!` was a fifth of deriving the sessions.
    let mut text = [0u8; 256];
    let mut decimal = itoa::Buffer::new();
    let start = decimal.format(start).as_bytes();
    let len = user_id.len() + 1 + start.len();
    let hash = if len <= text.len() {
        text[..user_id.len()].copy_from_slice(user_id.as_bytes());
        text[user_id.len()] = 0x1f;
        text[user_id.len() + 1..len].copy_from_slice(start);
        xxh3_64(&text[..len])
    } else {
        xxh3_64(&[user_id.as_bytes(), &[0x1f], start].concat())
    };
    HexId::new(hash).as_str().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    /// Gives at most `most` bytes a read, as a pipe or a slow file may.
    struct Trickle<'a> {
        text: &'a [u8],
        most: usize,
    }

    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.most).min(self.text.len());
            buf[..n].copy_from_slice(&self.text[..n]);
            self.text = &self.text[n..];
            Ok(n)
        }
    }

    /// Lines come out whole and in order however the reads cut them (a read
    /// smaller than a line, ending exactly at a newline, or a last line
    /// without one), into fresh or reused buffers, and a chunk stops at
    /// [`CHUNK_LINES`] lines with the next line left for the next chunk.
    #[test]
    fn chunks_hold_whole_lines_whatever_the_reads() {
        let mut lines: Vec<String> = (0..CHUNK_LINES + 3)
            .map(|i| format!("line {i} {}", "x".repeat(i % 23)))
            .collect();
        lines.push("last, without a newline".to_string());
        let text = lines.join("\n");
        for most in [1, 2, 7, 64, 1 << 20] {
            let trickle = Trickle {
                text: text.as_bytes(),
                most,
            };
            let mut input = BufReader::with_capacity(8, trickle);
            let (mut read, mut sizes, mut carry) = (Vec::new(), Vec::new(), Vec::new());
            let mut buffers = LineBuffers {
                bytes: Vec::new(),
                ends: Vec::new(),
            };
            loop {
                if most == 7 {
                    // Fresh buffers every chunk; the others reuse theirs.
                    buffers.bytes = Vec::new();
                }
                read_lines(&mut input, &mut carry, &mut buffers, CHUNK_LINES).unwrap();
                if buffers.ends.is_empty() {
                    break;
                }
                sizes.push(buffers.ends.len());
                for i in 0..buffers.ends.len() {
                    let line = &buffers.bytes[buffers.start(i)..buffers.ends[i]];
                    let line = std::str::from_utf8(line).unwrap();
                    read.push(line.trim_end_matches('\n').to_string());
                }
            }
            assert_eq!(read, lines, "{most} bytes a read");
            assert_eq!(sizes, [CHUNK_LINES, 4], "{most} bytes a read");
            assert!(carry.is_empty());
        }
    }

    /// Imports `ndjson` into a new store, its work cut by `sizes`, and
    /// returns every stored `(event_id, user_id, session_id)`, sorted.
    async fn sessions_after_import(ndjson: &str, sizes: Sizes) -> Vec<[String; 3]> {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path()).unwrap();
        let input = Box::new(std::io::Cursor::new(ndjson.as_bytes().to_vec()));
        let options = ImportOptions::default();
        import_sized(&store, input, InputFormat::Ndjson, &options, &|_| {}, sizes)
            .await
            .unwrap();
        let trail = crate::Trail::open(dir.path()).await.unwrap();
        let batches = trail
            .sql("SELECT event_id, user_id, session_id FROM events ORDER BY event_id")
            .await
            .unwrap();
        let mut rows = Vec::new();
        for batch in batches {
            let column = |i: usize| {
                datafusion::arrow::compute::cast(
                    batch.column(i),
                    &datafusion::arrow::datatypes::DataType::Utf8,
                )
                .unwrap()
            };
            let (ids, users, sessions) = (column(0), column(1), column(2));
            for row in 0..batch.num_rows() {
                let text = |a: &datafusion::arrow::array::ArrayRef| {
                    a.as_string::<i32>().value(row).to_string()
                };
                rows.push([text(&ids), text(&users), text(&sessions)]);
            }
        }
        rows
    }

    /// A merged user's late events: `w` (alice) at 10:00 and 10:50, the
    /// anonymous `a` at 10:20, then `a` identifies as alice (merged into
    /// `w`) and has an event at 10:30. Gaps of 20, 10 and 20 minutes: one
    /// session of `w`, named by `w` and 10:00, however the lines are cut into
    /// chunks. (Chunk by chunk, a cut after the third line had given `a`'s
    /// 10:20 and the 10:30 event sessions of their own, and split `w`'s.)
    #[tokio::test]
    async fn a_merged_users_late_events_join_the_session_around_them() {
        let lines = [
            r#"{"type":"identify","user_id":"w","identity":"alice","time":"2026-11-20T09:00:00Z"}"#,
            r#"{"type":"track","user_id":"w","event":"E","event_id":"e1","time":"2026-11-20T10:00:00Z"}"#,
            r#"{"type":"track","user_id":"w","event":"E","event_id":"e2","time":"2026-11-20T10:50:00Z"}"#,
            r#"{"type":"track","user_id":"a","event":"E","event_id":"e3","time":"2026-11-20T10:20:00Z"}"#,
            r#"{"type":"identify","user_id":"a","identity":"alice","time":"2026-11-20T10:25:00Z"}"#,
            r#"{"type":"track","user_id":"a","event":"E","event_id":"e4","time":"2026-11-20T10:30:00Z"}"#,
        ];
        let ndjson = lines.join("\n");
        let start = crate::time::parse_timestamp_micros("2026-11-20T10:00:00Z").unwrap();
        let session = session_id("w", start);
        // The id's definition, as it was first written.
        assert_eq!(
            session,
            HexId::new(xxh3_64(format!("w\u{1f}{start}").as_bytes())).as_str()
        );
        for chunk_lines in [1, 2, 3, 4, 5, CHUNK_LINES] {
            let sizes = Sizes {
                chunk_lines,
                ..Sizes::default()
            };
            let rows = sessions_after_import(&ndjson, sizes).await;
            let expected: Vec<[String; 3]> = ["e1", "e2", "e3", "e4"]
                .map(|e| [e.to_string(), "w".to_string(), session.clone()])
                .into();
            assert_eq!(rows, expected, "chunks of {chunk_lines} lines");
        }
    }

    /// `trail gen`'s NDJSON for 6,000 events.
    fn generated(seed: u64) -> String {
        let options = crate::generator::GenOptions {
            users: 0,
            events: Some(6_000),
            days: 30,
            seed,
            end_micros: crate::time::parse_timestamp_micros("2026-11-20T00:00:00Z").unwrap(),
        };
        let mut ndjson = Vec::new();
        crate::generator::generate(&options, &mut ndjson, &|_| {}).unwrap();
        String::from_utf8(ndjson).unwrap()
    }

    /// Generated data (merges of anonymous users into identified ones, their
    /// events arriving user by user) stores the same users and sessions
    /// whatever the chunk size, down to chunks smaller than a user's events.
    #[tokio::test]
    async fn sessions_do_not_depend_on_chunk_boundaries() {
        let ndjson = generated(7);
        let whole = sessions_after_import(&ndjson, Sizes::default()).await;
        assert_eq!(whole.len(), 6_000);
        let sessions: HashSet<&str> = whole.iter().map(|r| r[2].as_str()).collect();
        assert!(sessions.len() > 100, "{} sessions", sessions.len());
        for chunk_lines in [4096, 1000, 97, 7] {
            let sizes = Sizes {
                chunk_lines,
                ..Sizes::default()
            };
            let chunked = sessions_after_import(&ndjson, sizes).await;
            assert!(
                whole == chunked,
                "chunks of {chunk_lines} lines store other sessions"
            );
        }
    }

    /// When every user's events arrive in time order, a flush after every
    /// chunk (each user's last written event seeding the next flush) stores
    /// the sessions of one flush for the whole input. The input: generated
    /// tracks, sorted by time, without the identifies (no merges).
    #[tokio::test]
    async fn sessions_continue_across_flushes() {
        let mut tracks: Vec<(String, &str)> = Vec::new();
        let ndjson = generated(11);
        for line in ndjson.lines() {
            let message: Value = serde_json::from_str(line).unwrap();
            if message["type"] == "track" {
                tracks.push((message["time"].as_str().unwrap().to_string(), line));
            }
        }
        tracks.sort_by(|a, b| a.0.cmp(&b.0));
        let in_order: Vec<&str> = tracks.iter().map(|t| t.1).collect();
        let in_order = in_order.join("\n");
        let once = sessions_after_import(&in_order, Sizes::default()).await;
        let sessions: HashSet<&str> = once.iter().map(|r| r[2].as_str()).collect();
        assert!(sessions.len() > 100, "{} sessions", sessions.len());
        for chunk_lines in [1000, 97] {
            let sizes = Sizes {
                chunk_lines,
                flush_bytes: 1,
            };
            let flushed = sessions_after_import(&in_order, sizes).await;
            assert!(
                once == flushed,
                "a flush every {chunk_lines} lines stores other sessions"
            );
        }
    }

    /// A line that is not UTF-8 is rejected on its own, by its number, in
    /// whichever piece it falls; the lines around it, multibyte text
    /// included, are parsed as tracks.
    #[test]
    fn a_line_that_is_not_utf8_is_rejected_alone() {
        let bad = PIECE_LINES + 5;
        let mut bytes = Vec::new();
        let mut ends = Vec::new();
        for i in 0..PIECE_LINES + 10 {
            if i == bad {
                bytes.extend_from_slice(b"{\"type\":\"track\",\"event\":\"\xff\"}\n");
            } else {
                let line = format!(
                    r#"{{"type":"track","user_id":"u{i}","event":"Café {i}","time":"2026-11-01T00:00:00Z"}}"#
                );
                bytes.extend_from_slice(line.as_bytes());
                bytes.push(b'\n');
            }
            ends.push(bytes.len());
        }
        let chunk = RawChunk::Lines(LineBuffers { bytes, ends });
        let parsed = chunk.parse(Arc::new(chunk.sample_layout()));
        let outcomes: Vec<&LineOutcome> = parsed.pieces.iter().flat_map(|p| &p.lines).collect();
        assert_eq!(outcomes.len(), PIECE_LINES + 10);
        for (i, outcome) in outcomes.iter().enumerate() {
            match outcome {
                LineOutcome::Rejected(reason) => {
                    assert_eq!((i, reason.as_str()), (bad, "not valid UTF-8"))
                }
                _ => assert!(
                    i != bad && matches!(outcome, LineOutcome::Track),
                    "line {i}"
                ),
            }
        }
        let tracks: usize = parsed.pieces.iter().map(|p| p.tracks.len()).sum();
        assert_eq!(tracks, PIECE_LINES + 9);
    }
}
