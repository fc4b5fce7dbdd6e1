//! Value ids for `trail_count_distinct`: every distinct value of one
//! aggregate's argument gets a `u32` id, numbered densely from 0 in the order
//! values first appear, so that "has group `g` seen value `v`" is a bit of a
//! per-group word for the first 64 values (dates of a month, event types)
//! and a lookup of one `u64` in a flat hash set beyond (see
//! [`super::accumulator`]).
//!
//! * Integers, dates, times and timestamps are interned by their bits.
//! * Strings and binary values (`Utf8`, `LargeUtf8`, `Utf8View` and the
//!   binary forms) are interned once into one byte arena.
//!
//! [`ValueIds::for_each`] walks a batch and hands each counted row's
//! `(group, id)` to the caller. Rows that repeat the previous counted row's
//! group and value are skipped before any hashing: the events are stored
//! sorted by user and time, so a user's session or day comes in runs.

use std::mem::size_of;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, GenericByteArray, LargeBinaryArray, PrimitiveArray,
};
use datafusion::arrow::buffer::{OffsetBuffer, ScalarBuffer};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    ArrowNativeType, ArrowPrimitiveType, ByteArrayType, ByteViewType, DataType, Date32Type,
    Date64Type, Int16Type, Int32Type, Int64Type, Int8Type, Time32MillisecondType, Time32SecondType,
    Time64MicrosecondType, Time64NanosecondType, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type,
    UInt64Type, UInt8Type,
};
use datafusion::common::{exec_err, HashMap, Result};
use hashbrown::HashTable;
use xxhash_rust::xxh3::xxh3_64;

/// Whether `trail_count_distinct` can take an argument of this type (the
/// types [`ValueIds`] has ids for; others keep DataFusion's aggregate).
pub(crate) fn supported(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Date32
            | DataType::Date64
            | DataType::Time32(_)
            | DataType::Time64(_)
            | DataType::Timestamp(_, _)
            | DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
    )
}

/// Calls `$body` with `$t` bound to the Arrow primitive type of `$dt`
/// (one of the primitive types [`supported`] accepts), else `$other`.
macro_rules! with_primitive_type {
    ($dt:expr, $t:ident => $body:expr, _ => $other:expr) => {
        match $dt {
            DataType::Int8 => {
                type $t = Int8Type;
                $body
            }
            DataType::Int16 => {
                type $t = Int16Type;
                $body
            }
            DataType::Int32 => {
                type $t = Int32Type;
                $body
            }
            DataType::Int64 => {
                type $t = Int64Type;
                $body
            }
            DataType::UInt8 => {
                type $t = UInt8Type;
                $body
            }
            DataType::UInt16 => {
                type $t = UInt16Type;
                $body
            }
            DataType::UInt32 => {
                type $t = UInt32Type;
                $body
            }
            DataType::UInt64 => {
                type $t = UInt64Type;
                $body
            }
            DataType::Date32 => {
                type $t = Date32Type;
                $body
            }
            DataType::Date64 => {
                type $t = Date64Type;
                $body
            }
            DataType::Time32(TimeUnit::Second) => {
                type $t = Time32SecondType;
                $body
            }
            DataType::Time32(TimeUnit::Millisecond) => {
                type $t = Time32MillisecondType;
                $body
            }
            DataType::Time64(TimeUnit::Microsecond) => {
                type $t = Time64MicrosecondType;
                $body
            }
            DataType::Time64(TimeUnit::Nanosecond) => {
                type $t = Time64NanosecondType;
                $body
            }
            DataType::Timestamp(TimeUnit::Second, _) => {
                type $t = TimestampSecondType;
                $body
            }
            DataType::Timestamp(TimeUnit::Millisecond, _) => {
                type $t = TimestampMillisecondType;
                $body
            }
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                type $t = TimestampMicrosecondType;
                $body
            }
            DataType::Timestamp(TimeUnit::Nanosecond, _) => {
                type $t = TimestampNanosecondType;
                $body
            }
            _ => $other,
        }
    };
}

/// The ids of one argument's values (see the module documentation).
#[derive(Debug)]
pub(crate) struct ValueIds {
    data_type: DataType,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    /// Integers, dates, times, timestamps: `ids[bits]`, and `values[id]` back.
    Primitive {
        ids: HashMap<u64, u32>,
        values: Vec<u64>,
    },
    /// Strings or binary.
    Bytes(ByteInterner),
}

/// Whether a row counts: not NULL and not filtered out.
#[inline]
fn counted(array: &dyn Array, filter: Option<&BooleanArray>, row: usize) -> bool {
    array.is_valid(row) && filter.is_none_or(|f| f.is_valid(row) && f.value(row))
}

/// Whether every row counts (no NULLs, no filter): the common case then
/// skips the per-row checks.
#[inline]
fn all_counted(array: &dyn Array, filter: Option<&BooleanArray>) -> bool {
    array.null_count() == 0 && filter.is_none()
}

impl ValueIds {
    /// Ids for values of `data_type`, which must be [`supported`].
    pub(crate) fn try_new(data_type: &DataType) -> Result<Self> {
        if !supported(data_type) {
            return exec_err!("trail_count_distinct: unsupported argument type {data_type}");
        }
        let kind = if data_type.is_primitive() {
            Kind::Primitive {
                ids: HashMap::default(),
                values: Vec::new(),
            }
        } else {
            Kind::Bytes(ByteInterner::default())
        };
        Ok(Self {
            data_type: data_type.clone(),
            kind,
        })
    }

    /// Forgets every id (and frees the memory behind them), once no group
    /// refers to one.
    pub(crate) fn clear(&mut self) {
        self.kind = match self.kind {
            Kind::Primitive { .. } => Kind::Primitive {
                ids: HashMap::default(),
                values: Vec::new(),
            },
            Kind::Bytes(_) => Kind::Bytes(ByteInterner::default()),
        };
    }

    /// The argument's type.
    pub(crate) fn data_type(&self) -> &DataType {
        &self.data_type
    }

    /// Calls `f(group, id)` for the rows of `array` that count (not NULL,
    /// passing `filter`), `groups[row]` being the row's group; a row with
    /// the same group and value as the previous counted row may be skipped.
    pub(crate) fn for_each(
        &mut self,
        array: &dyn Array,
        groups: &[usize],
        filter: Option<&BooleanArray>,
        mut f: impl FnMut(usize, u32),
    ) -> Result<()> {
        if array.data_type() != &self.data_type {
            return exec_err!(
                "trail_count_distinct: expected {}, got {}",
                self.data_type,
                array.data_type()
            );
        }
        match &mut self.kind {
            Kind::Primitive { ids, values } => with_primitive_type!(&self.data_type,
                T => primitive_ids::<T>(array.as_primitive::<T>(), groups, filter, ids, values, &mut f),
                _ => unreachable!("a supported type with a width is primitive")),
            Kind::Bytes(interner) => match &self.data_type {
                DataType::Utf8 => bytes(array.as_string::<i32>(), groups, filter, interner, f),
                DataType::LargeUtf8 => bytes(array.as_string::<i64>(), groups, filter, interner, f),
                DataType::Binary => bytes(array.as_binary::<i32>(), groups, filter, interner, f),
                DataType::LargeBinary => {
                    bytes(array.as_binary::<i64>(), groups, filter, interner, f)
                }
                DataType::Utf8View => views(array.as_string_view(), groups, filter, interner, f),
                DataType::BinaryView => views(array.as_binary_view(), groups, filter, interner, f),
                other => unreachable!("{other} is not a byte type"),
            },
        }
        Ok(())
    }

    /// The values of `ids`, as an array of the argument's type.
    pub(crate) fn values(&self, ids: Vec<u32>) -> Result<ArrayRef> {
        match &self.kind {
            Kind::Primitive { values, .. } => Ok(with_primitive_type!(&self.data_type,
                T => primitive::<T>(
                    ids.into_iter().map(|id| values[id as usize] as usize),
                    &self.data_type,
                ),
                _ => unreachable!("a supported type with a width is primitive"))),
            Kind::Bytes(interner) => {
                let binary: ArrayRef = Arc::new(interner.binary(&ids));
                // Binary to the string types checks UTF-8 again; state is
                // only built when partial states or spills are needed.
                Ok(cast(&binary, &self.data_type)?)
            }
        }
    }

    /// Bytes held, for the memory pool.
    pub(crate) fn size(&self) -> usize {
        size_of::<Self>()
            + match &self.kind {
                Kind::Primitive { ids, values } => {
                    ids.capacity() * (size_of::<(u64, u32)>() + 1)
                        + values.capacity() * size_of::<u64>()
                }
                Kind::Bytes(interner) => interner.size(),
            }
    }
}

/// The array of type `data_type` (`T`'s, with its parameters such as a time
/// zone) of the values whose bits are `bits`.
fn primitive<T: ArrowPrimitiveType>(
    bits: impl Iterator<Item = usize>,
    data_type: &DataType,
) -> ArrayRef {
    let values: ScalarBuffer<T::Native> = bits.map(T::Native::usize_as).collect();
    Arc::new(PrimitiveArray::<T>::new(values, None).with_data_type(data_type.clone()))
}

/// Primitive values, interned by their bits (sign-extended to 64: `as_usize`
/// and `usize_as` round-trip every type of at most 64 bits).
fn primitive_ids<T: ArrowPrimitiveType>(
    array: &PrimitiveArray<T>,
    groups: &[usize],
    filter: Option<&BooleanArray>,
    ids: &mut HashMap<u64, u32>,
    interned: &mut Vec<u64>,
    f: &mut impl FnMut(usize, u32),
) {
    let values = array.values();
    let dense = all_counted(array, filter);
    let mut previous: Option<(usize, u64, u32)> = None;
    for (row, &group) in groups.iter().enumerate() {
        if !dense && !counted(array, filter, row) {
            continue;
        }
        let bits = values[row].as_usize() as u64;
        let id = match previous {
            Some((g, b, _)) if g == group && b == bits => continue,
            Some((_, b, id)) if b == bits => id,
            _ => *ids.entry(bits).or_insert_with(|| {
                interned.push(bits);
                (interned.len() - 1) as u32
            }),
        };
        previous = Some((group, bits, id));
        f(group, id);
    }
}

/// `Utf8`, `LargeUtf8`, `Binary`, `LargeBinary`: interned bytes; a run of
/// the same value is recognised by comparing the bytes with the previous.
fn bytes<T: ByteArrayType>(
    array: &GenericByteArray<T>,
    groups: &[usize],
    filter: Option<&BooleanArray>,
    interner: &mut ByteInterner,
    mut f: impl FnMut(usize, u32),
) {
    let dense = all_counted(array, filter);
    let mut previous: Option<(usize, u32, &[u8])> = None;
    for (row, &group) in groups.iter().enumerate() {
        if !dense && !counted(array, filter, row) {
            continue;
        }
        let value: &[u8] = array.value(row).as_ref();
        let id = match previous {
            Some((g, _, v)) if g == group && v == value => continue,
            Some((_, id, v)) if v == value => id,
            _ => interner.intern(value),
        };
        previous = Some((group, id, value));
        f(group, id);
    }
}

/// `Utf8View`, `BinaryView`: within one array, equal views are equal values
/// (an inline value is all in its view; an equal view of a longer value
/// points at the same bytes). A small cache from views to ids spares the
/// hashing of values that recur in the batch: Parquet's dictionary pages
/// decode to views of one copy of each value, so every `Page View` of a
/// batch has one view. A run is recognised by an equal view or, for values
/// stored plainly (each row its own copy, as session ids), by an equal
/// length and prefix and then equal bytes.
fn views<T: ByteViewType + ?Sized>(
    array: &datafusion::arrow::array::GenericByteViewArray<T>,
    groups: &[usize],
    filter: Option<&BooleanArray>,
    interner: &mut ByteInterner,
    mut f: impl FnMut(usize, u32),
) {
    /// Slots of the cache, a power of two; a slot holds `(view, id + 1)`,
    /// `0` for empty. Only for this array: another has other buffers.
    const SLOTS: usize = 256;
    let mut cache = [(0u128, 0u32); SLOTS];
    let slot = |view: u128| {
        let folded = (view as u64) ^ ((view >> 64) as u64);
        (folded.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as usize % SLOTS
    };
    let raw = array.views();
    let dense = all_counted(array, filter);
    // The length and the first four bytes, the low half of a view.
    let head = |view: u128| view as u64;
    let same = |(v, r): (u128, usize), view: u128, row: usize| {
        v == view
            || (head(v) == head(view)
                && view as u32 > 12
                && AsRef::<[u8]>::as_ref(array.value(r)) == AsRef::<[u8]>::as_ref(array.value(row)))
    };
    // Group, view, row and id of the previous counted row.
    let mut previous: Option<(usize, u128, usize, u32)> = None;
    for (row, &group) in groups.iter().enumerate() {
        if !dense && !counted(array, filter, row) {
            continue;
        }
        let view = raw[row];
        let id = match previous {
            Some((g, v, r, id)) if same((v, r), view, row) => {
                if g == group {
                    continue;
                }
                id
            }
            _ => {
                let cached = &mut cache[slot(view)];
                if cached.1 != 0 && cached.0 == view {
                    cached.1 - 1
                } else {
                    let value: &[u8] = array.value(row).as_ref();
                    let id = interner.intern(value);
                    *cached = (view, id + 1);
                    id
                }
            }
        };
        previous = Some((group, view, row, id));
        f(group, id);
    }
}

/// Byte strings interned into one arena: id `i` is
/// `data[offsets[i]..offsets[i + 1]]`.
#[derive(Debug)]
struct ByteInterner {
    /// The interned values, hashed by their bytes. A slot holds where its
    /// bytes are, so that a lookup touches the slot and the bytes only.
    table: HashTable<Slot>,
    offsets: Vec<usize>,
    data: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    start: usize,
    len: u32,
    id: u32,
}

impl Default for ByteInterner {
    fn default() -> Self {
        Self {
            table: HashTable::new(),
            offsets: vec![0],
            data: Vec::new(),
        }
    }
}

impl ByteInterner {
    fn get(&self, id: u32) -> &[u8] {
        let id = id as usize;
        &self.data[self.offsets[id]..self.offsets[id + 1]]
    }

    /// The id of `value`, a new one if it was not seen before.
    fn intern(&mut self, value: &[u8]) -> u32 {
        let hash = xxh3_64(value);
        let Self {
            table,
            offsets,
            data,
        } = self;
        let bytes = |slot: &Slot| &data[slot.start..slot.start + slot.len as usize];
        if let Some(slot) = table.find(hash, |slot| {
            slot.len as usize == value.len() && bytes(slot) == value
        }) {
            return slot.id;
        }
        let slot = Slot {
            start: data.len(),
            len: value.len() as u32,
            id: (offsets.len() - 1) as u32,
        };
        data.extend_from_slice(value);
        offsets.push(data.len());
        // Growing rehashes the bytes again: amortised, and it keeps the
        // hashes out of the table and out of the lookups' cache lines.
        let data = &*data;
        table.insert_unique(hash, slot, |s| {
            xxh3_64(&data[s.start..s.start + s.len as usize])
        });
        slot.id
    }

    /// The values of `ids` as one binary array (64-bit offsets: a partial
    /// state of every group at once can pass 2 GiB).
    fn binary(&self, ids: &[u32]) -> LargeBinaryArray {
        let mut offsets = Vec::with_capacity(ids.len() + 1);
        offsets.push(0i64);
        let mut data = Vec::new();
        for &id in ids {
            data.extend_from_slice(self.get(id));
            offsets.push(data.len() as i64);
        }
        LargeBinaryArray::new(
            OffsetBuffer::new(ScalarBuffer::from(offsets)),
            data.into(),
            None,
        )
    }

    fn size(&self) -> usize {
        self.table.capacity() * (size_of::<Slot>() + 1)
            + self.offsets.capacity() * size_of::<usize>()
            + self.data.capacity()
    }
}
