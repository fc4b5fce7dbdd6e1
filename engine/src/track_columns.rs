//! Import lines parsed straight into Arrow columns, in the parse workers.
//!
//! A parse worker turns a run of input lines into one [`ParsedLines`]: its
//! tracks as the stored columns they fill themselves (event id, time, type,
//! properties, page/device/location), and what every line was, in order, so
//! the import can apply identify and user-property messages where they stand.
//! Each property object is tokenized once, for its promoted columns, its
//! residual JSON and (when the message brings no id) its content id; nothing
//! is allocated per event beyond the column bytes. The import then resolves
//! users and sessions over these columns and gathers each date's rows into a
//! stored file's batch with [`build_file_batch`].

use std::io::Write;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, StringArray, StringBuilder, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::datatypes::TimestampMicrosecondType;
use datafusion::arrow::record_batch::RecordBatch;
use xxhash_rust::xxh3::{xxh3_128, xxh3_64};

use crate::event_batch::CONTEXT_COLUMNS;
use crate::gather::Gather;
use crate::layout::{PropertyBuilders, PropertyLayout};
use crate::message::{parse_message_text, Message, ParsedMessage, TrackRef, UserKind, UserRef};
use crate::properties::{sorted_fields, write_canonical_fields, SortedFields};

/// What one input line was.
pub(crate) enum LineOutcome {
    /// The next row of [`ParsedLines::tracks`].
    Track,
    /// identify / alias / add_user_properties.
    User(Message),
    Rejected(String),
}

/// A run of parsed input lines.
pub(crate) struct ParsedLines {
    pub(crate) lines: Vec<LineOutcome>,
    pub(crate) tracks: TrackColumns,
}

/// Parses `lines` (each the text of one message, or why it could not be
/// read), promoting event properties as `layout` says.
pub(crate) fn parse_lines<'a>(
    lines: impl ExactSizeIterator<Item = Result<&'a str, String>>,
    layout: &PropertyLayout,
) -> ParsedLines {
    let mut tracks = TrackColumnsBuilder::new(layout, lines.len());
    let lines = lines
        .map(|line| match line.and_then(parse_message_text) {
            Ok(ParsedMessage::Track(t)) => {
                tracks.append(&t);
                LineOutcome::Track
            }
            Ok(ParsedMessage::User(m)) => LineOutcome::User(m),
            Err(reason) => LineOutcome::Rejected(reason),
        })
        .collect();
    ParsedLines {
        lines,
        tracks: tracks.finish(),
    }
}

/// The tracks of a run of lines, one row each.
pub(crate) struct TrackColumns {
    user_kinds: Vec<UserKind>,
    users: StringArray,
    /// `xxh3_128` of each event id, for deduplication.
    id_hashes: Vec<u128>,
    times: TimestampMicrosecondArray,
    /// Sessions the messages named (null where the import derives one).
    session_ids: StringArray,
    /// `event_id, time, event_type`, the promoted properties, the residual
    /// JSON and the page/device/location columns: the stored columns, in
    /// table order, minus `session_id`, `user_id` and `event_date`.
    stored: Vec<ArrayRef>,
}

impl TrackColumns {
    pub(crate) fn len(&self) -> usize {
        self.user_kinds.len()
    }

    /// The user a row's message named.
    pub(crate) fn user(&self, row: usize) -> (UserKind, &str) {
        (self.user_kinds[row], self.users.value(row))
    }

    pub(crate) fn id_hash(&self, row: usize) -> u128 {
        self.id_hashes[row]
    }

    pub(crate) fn time(&self, row: usize) -> i64 {
        self.times.value(row)
    }
}

/// The session a row's message named (null where the import derives one).
fn named_session(session_ids: &StringArray, row: usize) -> Option<&str> {
    session_ids.is_valid(row).then(|| session_ids.value(row))
}

struct TrackColumnsBuilder {
    user_kinds: Vec<UserKind>,
    users: StringBuilder,
    id_hashes: Vec<u128>,
    times: Vec<i64>,
    session_ids: StringBuilder,
    event_ids: StringBuilder,
    event_types: StringBuilder,
    properties: PropertyBuilders,
    context: Vec<StringBuilder>,
    /// The text a content id is hashed from, reused from event to event.
    id_text: Vec<u8>,
}

impl TrackColumnsBuilder {
    fn new(layout: &PropertyLayout, capacity: usize) -> Self {
        Self {
            user_kinds: Vec::with_capacity(capacity),
            users: StringBuilder::with_capacity(capacity, capacity * 12),
            id_hashes: Vec::with_capacity(capacity),
            times: Vec::with_capacity(capacity),
            session_ids: StringBuilder::new(),
            id_text: Vec::with_capacity(256),
            event_ids: StringBuilder::with_capacity(capacity, capacity * 16),
            event_types: StringBuilder::with_capacity(capacity, capacity * 12),
            properties: layout.builders(capacity),
            context: CONTEXT_COLUMNS
                .iter()
                .map(|_| StringBuilder::with_capacity(capacity, capacity * 8))
                .collect(),
        }
    }

    fn append(&mut self, t: &TrackRef<'_>) {
        let fields = sorted_fields(t.properties);
        let derived;
        let event_id = match &t.event_id {
            Some(id) => id.as_ref(),
            None => {
                derived = content_id(
                    &mut self.id_text,
                    t.user_kind,
                    &t.user,
                    &t.event_type,
                    t.time,
                    &fields,
                );
                derived.as_str()
            }
        };
        self.id_hashes.push(xxh3_128(event_id.as_bytes()));
        self.event_ids.append_value(event_id);
        self.user_kinds.push(t.user_kind);
        self.users.append_value(&t.user);
        self.times.push(t.time);
        self.session_ids.append_option(t.session_id.as_deref());
        self.event_types.append_value(&t.event_type);
        self.properties.append_sorted(&fields);
        for (builder, value) in self.context.iter_mut().zip(&t.context) {
            builder.append_option(value.as_deref());
        }
    }

    fn finish(mut self) -> TrackColumns {
        let times = TimestampMicrosecondArray::from(self.times).with_timezone("UTC");
        let (promoted, rest) = self.properties.finish();
        let mut stored: Vec<ArrayRef> = vec![
            Arc::new(self.event_ids.finish()),
            Arc::new(times.clone()),
            Arc::new(self.event_types.finish()),
        ];
        stored.extend(promoted);
        stored.push(rest);
        stored.extend(
            self.context
                .iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef),
        );
        TrackColumns {
            user_kinds: self.user_kinds,
            users: self.users.finish(),
            id_hashes: self.id_hashes,
            times,
            session_ids: self.session_ids.finish(),
            stored,
        }
    }
}

/// A track kept for storing: where it was parsed, its user and its session.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeptRow {
    /// Index of its piece in the [`StagedChunk`].
    pub(crate) piece: u32,
    pub(crate) row: u32,
    /// Index into the chunk's resolved user ids.
    pub(crate) user: u32,
    /// Index into the derived session ids of the flush that writes the row
    /// (set then); `None`: the message named its session.
    pub(crate) session: Option<u32>,
}

/// A chunk's tracks kept until their files are written, with the user ids
/// its [`KeptRow`]s point at. Rows are copied once, from here
/// into their file's order ([`build_file_batch`]); gathering each date's
/// rows out of the pieces first was another full copy of cold memory.
pub(crate) struct StagedChunk {
    /// Per piece: the stored columns ([`TrackColumns`]' `stored`) and the
    /// sessions the messages named.
    pieces: Vec<(Vec<ArrayRef>, StringArray)>,
    user_ids: Vec<String>,
}

impl StagedChunk {
    pub(crate) fn new(pieces: Vec<TrackColumns>, user_ids: Vec<String>) -> Self {
        Self {
            pieces: pieces
                .into_iter()
                .map(|t| (t.stored, t.session_ids))
                .collect(),
            user_ids,
        }
    }

    /// Bytes of column data held, for the import's flush budget: the values
    /// in use, not the builders' spare capacity (allocated, never written).
    pub(crate) fn memory_size(&self) -> usize {
        let strings = |v: &[String]| v.iter().map(String::len).sum::<usize>();
        self.pieces
            .iter()
            .flat_map(|(stored, sessions)| {
                stored
                    .iter()
                    .map(|a| a.to_data())
                    .chain(std::iter::once(sessions.to_data()))
            })
            .map(|data| data.get_slice_memory_size().unwrap_or_default())
            .sum::<usize>()
            + strings(&self.user_ids)
    }

    fn event_id(&self, r: &KeptRow) -> &str {
        self.pieces[r.piece as usize].0[0]
            .as_string::<i32>()
            .value(r.row as usize)
    }

    /// The user the row was resolved to when its chunk was applied.
    pub(crate) fn user_id(&self, r: &KeptRow) -> &str {
        &self.user_ids[r.user as usize]
    }

    /// Calls `visit(k, user, time)` for each of `rows` (staged from this
    /// chunk), in order, where `user` is what `user_of` gives for the row's
    /// user id. Rows are staged user by user, so `user_of` (a hash lookup)
    /// runs once a run of one user's rows; the times are read as slices, not
    /// downcast row by row.
    pub(crate) fn visit_rows<'a>(
        &'a self,
        rows: &[KeptRow],
        mut user_of: impl FnMut(&'a str) -> u32,
        mut visit: impl FnMut(usize, u32, i64),
    ) {
        let times: Vec<&[i64]> = self
            .pieces
            .iter()
            .map(|(stored, _)| {
                stored[1]
                    .as_primitive::<TimestampMicrosecondType>()
                    .values()
                    .as_ref()
            })
            .collect();
        let mut previous: Option<(u32, u32)> = None;
        for (k, r) in rows.iter().enumerate() {
            let user = match previous {
                Some((staged, user)) if staged == r.user => user,
                _ => {
                    let user = user_of(self.user_id(r));
                    previous = Some((r.user, user));
                    user
                }
            };
            visit(k, user, times[r.piece as usize][r.row as usize]);
        }
    }

    /// The session the row's message named, if any.
    pub(crate) fn named_session(&self, r: &KeptRow) -> Option<&str> {
        named_session(&self.pieces[r.piece as usize].1, r.row as usize)
    }

    /// The row's session: derived (an index into `derived`) or named.
    pub(crate) fn session_id<'a>(&'a self, r: &KeptRow, derived: &'a [String]) -> Option<&'a str> {
        match r.session {
            Some(s) => Some(&derived[s as usize]),
            None => self.named_session(r),
        }
    }
}

/// One date's kept rows of several chunks as one batch of the stored
/// `schema`, sorted by `(user_id, time, event_id)`: the order every stored
/// file keeps, which makes per-user scans and funnels read runs instead of
/// scattered rows.
///
/// The users are ranked once (a file holds far fewer users than rows), so
/// the sort compares integers and reaches the event id's text only on a tie
/// of user and time. Sorted so, a user's rows stay in input order, and the
/// columns are copied a run of rows at a time ([`Gather`]).
pub(crate) fn build_file_batch(
    schema: &SchemaRef,
    parts: &[(Arc<StagedChunk>, Vec<KeptRow>)],
    sessions: &[String],
    date: i32,
) -> datafusion::error::Result<RecordBatch> {
    // (user, time, part, kept row): the user first by first appearance, then by rank.
    let mut keys: Vec<(u32, i64, u32, u32)> =
        Vec::with_capacity(parts.iter().map(|(_, rows)| rows.len()).sum());
    let mut rank_of: hashbrown::HashMap<&str, u32> = hashbrown::HashMap::new();
    for (p, (chunk, rows)) in parts.iter().enumerate() {
        chunk.visit_rows(
            rows,
            |user_id| {
                let next = rank_of.len() as u32;
                *rank_of.entry(user_id).or_insert(next)
            },
            |k, user, time| keys.push((user, time, p as u32, k as u32)),
        );
    }
    let mut by_name: Vec<(&str, u32)> = rank_of.into_iter().collect();
    by_name.sort_unstable();
    let mut rank = vec![0u32; by_name.len()];
    for (sorted, (_, first_seen)) in by_name.iter().enumerate() {
        rank[*first_seen as usize] = sorted as u32;
    }
    for key in &mut keys {
        key.0 = rank[key.0 as usize];
    }
    let kept = |&(_, _, p, k): &(u32, i64, u32, u32)| {
        let (chunk, rows) = &parts[p as usize];
        (chunk.as_ref(), &rows[k as usize])
    };
    let event_id = |key: &(u32, i64, u32, u32)| {
        let (chunk, r) = kept(key);
        chunk.event_id(r)
    };
    keys.sort_unstable_by(|a, b| {
        (a.0, a.1)
            .cmp(&(b.0, b.1))
            .then_with(|| event_id(a).cmp(event_id(b)))
    });

    // The pieces of every part, numbered in one sequence for the gather.
    let mut first_piece = Vec::with_capacity(parts.len());
    let mut pieces: Vec<&[ArrayRef]> = Vec::new();
    for (chunk, _) in parts {
        first_piece.push(pieces.len());
        pieces.extend(chunk.pieces.iter().map(|(stored, _)| stored.as_slice()));
    }
    let mut session_id = StringBuilder::with_capacity(keys.len(), keys.len() * 16);
    let mut user_id = StringBuilder::with_capacity(keys.len(), keys.len() * 12);
    let mut indices = Vec::with_capacity(keys.len());
    for key in &keys {
        let (chunk, r) = kept(key);
        user_id.append_value(chunk.user_id(r));
        session_id.append_option(chunk.session_id(r, sessions));
        indices.push((
            first_piece[key.2 as usize] + r.piece as usize,
            r.row as usize,
        ));
    }
    let order = Gather::new(indices);
    let gather = |column: usize| -> datafusion::error::Result<ArrayRef> {
        let arrays: Vec<&dyn Array> = pieces.iter().map(|p| p[column].as_ref()).collect();
        Ok(order.gather(&arrays)?)
    };
    let own_columns = pieces.first().map_or(0, |p| p.len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(own_columns + 3);
    columns.push(gather(0)?);
    columns.push(Arc::new(session_id.finish()));
    columns.push(Arc::new(user_id.finish()));
    for column in 1..own_columns {
        columns.push(gather(column)?);
    }
    columns.push(Arc::new(Date32Array::from_value(date, keys.len())));
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// The id of an event that came without one: a hash of what it says (the
/// user as the message named it, so a re-import after a merge still
/// recognises the event; its type; its time; its properties' canonical text).
/// Ids are stored, and re-imports deduplicate against them, so this must
/// never change.
///
/// The text is written into `text` (a buffer reused from event to event) and
/// hashed at once: xxh3 over the whole text gives the same hash as fed in
/// pieces, and its one-shot form costs less than a dozen small updates.
fn content_id(
    text: &mut Vec<u8>,
    kind: UserKind,
    user: &str,
    event_type: &str,
    time: i64,
    properties: &SortedFields<'_>,
) -> HexId {
    text.clear();
    // Writes to a Vec cannot fail. The user is hashed as the `Debug` text of
    // its `UserRef` (`Id("u1")`), written directly when that text is the
    // name between quotes.
    let plain = |b: u8| (b' '..=b'~').contains(&b) && !matches!(b, b'"' | b'\\' | b'\'');
    if user.bytes().all(plain) {
        let variant = match kind {
            UserKind::Id => "Id",
            UserKind::Identity => "Identity",
        };
        text.extend_from_slice(variant.as_bytes());
        text.extend_from_slice(b"(\"");
        text.extend_from_slice(user.as_bytes());
        text.extend_from_slice(b"\")");
    } else {
        let _ = write!(text, "{:?}", UserRef::new(kind, user.to_string()));
    }
    let mut number = itoa::Buffer::new();
    for part in [event_type, number.format(time)] {
        text.extend_from_slice("\u{1f}".as_bytes());
        text.extend_from_slice(part.as_bytes());
    }
    text.extend_from_slice("\u{1f}".as_bytes());
    let _ = write_canonical_fields(properties, text);
    HexId::new(xxh3_64(text))
}

/// A 64-bit hash as the 16 lowercase hex digits of `format!("{:016x}")`,
/// without formatting machinery or an allocation (a derived id is made for
/// nearly every event of a typical import).
pub(crate) struct HexId([u8; 16]);

impl HexId {
    pub(crate) fn new(value: u64) -> Self {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut text = [0u8; 16];
        for (i, digit) in text.iter_mut().enumerate() {
            *digit = DIGITS[(value >> (60 - 4 * i)) as usize & 0xf];
        }
        Self(text)
    }

    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("hex digits are ASCII")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::AsArray;
    use serde_json::{Map, Value};

    fn parse_one(line: &str) -> ParsedLines {
        parse_lines(
            std::iter::once(Ok(line)),
            &PropertyLayout::choose(
                crate::layout::EVENT_PREFIX,
                std::iter::empty::<Map<String, Value>>(),
            ),
        )
    }

    fn event_id(parsed: &ParsedLines) -> String {
        parsed.tracks.stored[0]
            .as_string::<i32>()
            .value(0)
            .to_string()
    }

    /// Content ids are stored: a re-import deduplicates against ids computed
    /// by earlier versions, so the id of a message never changes. The value
    /// was computed before property objects were kept as text.
    #[test]
    fn content_ids_are_stable_across_versions() {
        let line = r#"{"type":"track","user_id":"u1","event":"Add to Cart","time":"2026-11-20T10:00:00Z","properties":{"quantity":4, "cart_value":235.890, "tags":["a","b"],"note":"caf\u00e9"}}"#;
        assert_eq!(event_id(&parse_one(line)), "dcc53a9bc804d7cf");
    }

    /// The user goes into the hash as its `Debug` text, whether or not it
    /// takes the direct path.
    #[test]
    fn content_ids_hash_the_users_debug_text() {
        for user in [
            UserRef::Id("plain user@x.com".into()),
            UserRef::Identity("with \"quote\"".into()),
            UserRef::Id("it's".into()),
            UserRef::Identity("caf\u{e9}\n".into()),
        ] {
            let (key, name) = match &user {
                UserRef::Id(name) => ("user_id", name),
                UserRef::Identity(name) => ("identity", name),
            };
            let line = serde_json::json!({"type": "track", key: name, "event": "A",
                "time": "2026-11-20T10:00:00Z", "properties": {"k": 1}})
            .to_string();
            let text = format!("{user:?}\u{1f}A\u{1f}1795168800000000\u{1f}{{\"k\":1}}");
            assert_eq!(
                event_id(&parse_one(&line)),
                format!("{:016x}", xxh3_64(text.as_bytes())),
                "{user:?}"
            );
        }
    }

    /// The flush budget counts the column bytes in use, not the builders'
    /// spare capacity (counting that made a 10M import flush a third more
    /// often, 8 files a date instead of 6).
    #[test]
    fn staged_chunks_count_the_bytes_in_use() {
        let layout = PropertyLayout::choose(
            crate::layout::EVENT_PREFIX,
            std::iter::empty::<Map<String, Value>>(),
        );
        let lines: Vec<String> = (0..100)
            .map(|i| format!(r#"{{"type":"track","user_id":"u{i}","event":"E","time":"2026-11-20T10:00:00Z","properties":{{"k":{i}}}}}"#))
            .collect();
        let tracks = parse_lines(lines.iter().map(|l| Ok(l.as_str())), &layout).tracks;
        let exact: usize = tracks
            .stored
            .iter()
            .chain(std::iter::once(
                &(Arc::new(tracks.session_ids.clone()) as ArrayRef),
            ))
            .map(|a| {
                let copy = datafusion::arrow::compute::concat(&[a.as_ref()]).unwrap();
                copy.to_data().get_slice_memory_size().unwrap()
            })
            .sum();
        let held: usize = tracks
            .stored
            .iter()
            .map(|a| a.get_array_memory_size())
            .sum();
        let staged = StagedChunk::new(vec![tracks], vec!["u".into()]);
        // The columns' exact bytes, and the one-byte user id "u".
        assert_eq!(staged.memory_size(), exact + 1);
        assert!(
            held > 2 * exact,
            "the builders' capacity ({held}) is spare here"
        );
    }

    /// Hex ids are `format!("{:016x}")`'s text, leading zeros included.
    #[test]
    fn hex_ids_are_sixteen_lowercase_digits() {
        let mut value = 0x9e37_79b9_7f4a_7c15u64;
        for shift in 0..64 {
            for v in [value >> shift, u64::MAX >> shift, 1 << shift] {
                assert_eq!(HexId::new(v).as_str(), format!("{v:016x}"));
            }
            value = value.rotate_left(7) ^ shift;
        }
    }

    /// A file's batch takes its rows from several chunks' pieces, sorted by
    /// `(user_id, time, event_id)` by bytes whatever order they were staged
    /// in, each value in its own named column: the user and session ids
    /// resolved for it (a derived session or the one its message named), and
    /// its own event id, time, type, properties and page columns.
    #[test]
    fn file_batches_sort_and_gather_rows_into_their_columns() {
        let layout = PropertyLayout::choose(
            crate::layout::EVENT_PREFIX,
            std::iter::empty::<Map<String, Value>>(),
        );
        let track = |id: &str, minute: u32, session: &str| {
            format!(
                r#"{{"type":"track","user_id":"x","event":"E{id}","event_id":"{id}","session_id":{session},"time":"2026-11-20T10:{minute:02}:00Z","properties":{{"k":"{id}"}},"country":"C{id}"}}"#
            )
        };
        let piece =
            |lines: &[String]| parse_lines(lines.iter().map(|l| Ok(l.as_str())), &layout).tracks;
        let kept = |piece, row, user, session| KeptRow {
            piece,
            row,
            user,
            session,
        };
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // Chunk one: users "zed" and "b"; chunk two: "b" and "a".
        let one = Arc::new(StagedChunk::new(
            vec![
                piece(&[track("e2", 5, "null"), track("e1", 7, "\"given\"")]),
                piece(&[track("e9", 5, "null")]),
            ],
            strings(&["zed", "b"]),
        ));
        let two = Arc::new(StagedChunk::new(
            vec![piece(&[
                track("e0", 7, "null"),
                track("e5", 9, "null"),
                track("e3", 3, "null"),
            ])],
            strings(&["a", "b"]),
        ));
        let schema = crate::event_batch::stored_schema(&layout);
        let batch = build_file_batch(
            &schema,
            &[
                (
                    one,
                    vec![
                        kept(1, 0, 0, Some(0)),
                        kept(0, 1, 1, None),
                        kept(0, 0, 0, Some(0)),
                    ],
                ),
                (
                    two,
                    vec![
                        kept(0, 0, 1, Some(1)),
                        kept(0, 2, 1, Some(1)),
                        kept(0, 1, 0, Some(2)),
                    ],
                ),
            ],
            &strings(&["s-zed", "s-b", "s-a"]),
            20_412,
        )
        .unwrap();
        let text = |name: &str| -> Vec<Option<String>> {
            batch
                .column(schema.index_of(name).unwrap())
                .as_string::<i32>()
                .iter()
                .map(|v| v.map(str::to_string))
                .collect()
        };
        let some = |v: &[&str]| v.iter().map(|s| Some(s.to_string())).collect::<Vec<_>>();
        // a@9; b@3, b@7 e0, b@7 e1; zed@5 e2, zed@5 e9
        assert_eq!(
            text("event_id"),
            some(&["e5", "e3", "e0", "e1", "e2", "e9"])
        );
        assert_eq!(text("user_id"), some(&["a", "b", "b", "b", "zed", "zed"]));
        assert_eq!(
            text("session_id"),
            some(&["s-a", "s-b", "s-b", "given", "s-zed", "s-zed"])
        );
        assert_eq!(
            text("event_type"),
            some(&["Ee5", "Ee3", "Ee0", "Ee1", "Ee2", "Ee9"])
        );
        assert_eq!(
            text("event_properties_rest"),
            some(&[
                r#"{"k":"e5"}"#,
                r#"{"k":"e3"}"#,
                r#"{"k":"e0"}"#,
                r#"{"k":"e1"}"#,
                r#"{"k":"e2"}"#,
                r#"{"k":"e9"}"#
            ])
        );
        assert_eq!(
            text("country"),
            some(&["Ce5", "Ce3", "Ce0", "Ce1", "Ce2", "Ce9"])
        );
        let dates = batch.column(schema.index_of("event_date").unwrap());
        assert_eq!(
            dates
                .as_primitive::<datafusion::arrow::datatypes::Date32Type>()
                .values()
                .to_vec(),
            vec![20_412; 6]
        );
    }

    /// Lines keep their order and kind; tracks fill one row each, a given
    /// id is kept, and a rejected line says why.
    #[test]
    fn lines_keep_their_order_and_outcome() {
        let lines = [
            Ok(
                r#"{"type":"track","user_id":"u1","event":"A","time":"2026-11-20T10:00:00Z","event_id":"e1","session_id":"s1"}"#,
            ),
            Ok(r#"{"type":"identify","user_id":"u1","identity":"a@x.com"}"#),
            Ok("{not json"),
            Err("not valid UTF-8".to_string()),
            Ok(r#"{"identity":"a@x.com","event":"B","timestamp":"2026-11-20T11:00:00Z"}"#),
        ];
        let parsed = parse_lines(
            lines.into_iter(),
            &PropertyLayout::choose(
                crate::layout::EVENT_PREFIX,
                std::iter::empty::<Map<String, Value>>(),
            ),
        );
        let kinds: Vec<&str> = parsed
            .lines
            .iter()
            .map(|l| match l {
                LineOutcome::Track => "track",
                LineOutcome::User(_) => "user",
                LineOutcome::Rejected(r) if r.starts_with("bad JSON") => "bad json",
                LineOutcome::Rejected(r) => r,
            })
            .collect();
        assert_eq!(
            kinds,
            ["track", "user", "bad json", "not valid UTF-8", "track"]
        );
        let t = &parsed.tracks;
        assert_eq!(t.len(), 2);
        assert_eq!(t.user(0), (UserKind::Id, "u1"));
        assert_eq!(t.user(1), (UserKind::Identity, "a@x.com"));
        assert_eq!(
            (
                named_session(&t.session_ids, 0),
                named_session(&t.session_ids, 1)
            ),
            (Some("s1"), None)
        );
        assert_eq!(t.time(1) - t.time(0), 3_600_000_000);
        assert_eq!(t.id_hash(0), xxh3_128(b"e1"));
        assert_eq!(t.stored[0].as_string::<i32>().value(0), "e1");
        assert_eq!(t.stored[2].as_string::<i32>().value(1), "B");
    }
}
