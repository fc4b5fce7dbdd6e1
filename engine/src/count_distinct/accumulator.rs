//! `trail_count_distinct(x)`: `COUNT(DISTINCT x)` as a columnar groups
//! accumulator.
//!
//! ```text
//! trail_count_distinct(x) -> BIGINT NOT NULL
//! ```
//! The number of different non-NULL values of `x` in the group; 0 for a
//! group (or an empty input) with none. It is not registered by name: the
//! rule of [`crate::multi_distinct`] puts it in place of `COUNT(DISTINCT x)`.
//!
//! ```sql
//! SELECT g, COUNT(DISTINCT x), COUNT(DISTINCT y)
//! FROM (VALUES ('a', 1, 'p'), ('a', 1, 'q'), ('a', 2, 'q'), ('b', NULL, NULL)) t(g, x, y) GROUP BY g;
//! -- a | 2 | 2
//! -- b | 0 | 0
//! ```
//!
//! Each value gets a dense `u32` id once ([`super::values`]). Which groups
//! have seen which ids is kept for all groups at once, in three parts:
//!
//! * a 64-bit word per group whose bit `i` says the group has seen id `i`,
//!   for the first 64 distinct values (a month's days, the event types);
//! * for every later id, the first group that saw it (a session id belongs
//!   to one user: most values are only ever seen by their first group);
//! * a flat hash set of `(group << 32) | id` for the other groups seeing
//!   one of those ids.
//!
//! A group's count goes up when a bit, a first group or an insert is new.
//! DataFusion's own distinct count keeps a hash set per group (millions of
//! small sets for a per-user query); a set of pairs alone would cost a
//! cache miss per row where a group's word or a new id's slot is at hand.
//!
//! The partial state is one list of the group's distinct values, which is
//! what DataFusion's `COUNT(DISTINCT)` passes too; merging inserts them
//! like input rows. [`super::SinglePhaseDistinctCount`] plans the aggregate
//! in one phase where it can, so the lists are built only when the plan must
//! keep two phases (or spills).

use std::mem::size_of;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, ListArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::filter;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{exec_err, Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::AggregateOrderSensitivity;
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility,
};
use hashbrown::HashSet;

use super::values::ValueIds;

/// The function's SQL name.
pub(crate) const NAME: &str = "trail_count_distinct";

/// The aggregate function (see the module documentation).
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct CountDistinct {
    signature: Signature,
}

impl CountDistinct {
    pub(crate) fn new() -> Self {
        Self {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }

    fn groups(args: &AccumulatorArgs) -> Result<DistinctCountGroups> {
        let [field] = args.expr_fields else {
            return exec_err!("{NAME} takes one argument");
        };
        DistinctCountGroups::try_new(field.data_type())
    }
}

fn list_item(data_type: &DataType) -> FieldRef {
    Arc::new(Field::new_list_field(data_type.clone(), true))
}

impl AggregateUDFImpl for CountDistinct {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn is_nullable(&self) -> bool {
        false
    }

    /// As `COUNT`: 0 where there is no input (e.g. a decorrelated scalar
    /// subquery with no matching row).
    fn default_value(&self, _data_type: &DataType) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(Some(0)))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let [value] = args.input_fields else {
            return exec_err!("{NAME} takes one argument");
        };
        Ok(vec![Arc::new(Field::new(
            format!("{}[distinct]", args.name),
            DataType::List(list_item(value.data_type())),
            true,
        ))])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(SingleGroup(Self::groups(&args)?)))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(Self::groups(&args)?))
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        AggregateOrderSensitivity::Insensitive
    }
}

/// Ids below this are bits of the group's word.
const WORD_IDS: u32 = u64::BITS;

/// No group (yet) in [`DistinctCountGroups::first`].
const NO_GROUP: u32 = u32::MAX;

/// The groups accumulator (see the module documentation).
#[derive(Debug)]
pub(crate) struct DistinctCountGroups {
    ids: ValueIds,
    /// Per group, bit `i` set if the group has seen id `i < 64`.
    words: Vec<u64>,
    /// Per id `64 + i`, the first group that saw it (or [`NO_GROUP`]).
    first: Vec<u32>,
    /// `(group << 32) | id` of every other (group, id >= 64) seen.
    seen: HashSet<u64>,
    /// The number of distinct values of each group.
    counts: Vec<i64>,
}

impl DistinctCountGroups {
    pub(crate) fn try_new(data_type: &DataType) -> Result<Self> {
        Ok(Self {
            ids: ValueIds::try_new(data_type)?,
            words: Vec::new(),
            first: Vec::new(),
            seen: HashSet::default(),
            counts: Vec::new(),
        })
    }

    /// Counts the rows of `values` that pass `filter` into their groups.
    fn add(
        &mut self,
        values: &dyn Array,
        groups: &[usize],
        filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        if total_num_groups > NO_GROUP as usize {
            return exec_err!("{NAME}: 2^32 - 1 groups or more");
        }
        self.counts.resize(total_num_groups, 0);
        self.words.resize(total_num_groups, 0);
        let Self {
            ids,
            words,
            first,
            seen,
            counts,
        } = self;
        ids.for_each(values, groups, filter, |group, id| {
            let new = if id < WORD_IDS {
                let word = &mut words[group];
                let bit = 1u64 << id;
                let new = *word & bit == 0;
                *word |= bit;
                new
            } else {
                let i = (id - WORD_IDS) as usize;
                if i >= first.len() {
                    // Ids are dense: usually one more.
                    first.resize(i + 1, NO_GROUP);
                }
                match first[i] {
                    g if g == group as u32 => false,
                    NO_GROUP => {
                        first[i] = group as u32;
                        true
                    }
                    _ => seen.insert(((group as u64) << 32) | u64::from(id)),
                }
            };
            counts[group] += i64::from(new);
        })
    }

    /// With every group emitted, the value ids are free to go: a spilling
    /// aggregate emits all its state and expects its memory back.
    fn forget_ids_if_empty(&mut self) {
        if self.counts.is_empty() {
            self.ids.clear();
            self.words = Vec::new();
            self.first = Vec::new();
            self.seen = HashSet::default();
        }
    }

    /// Removes the groups `emit_to` emits, renumbering the rest; with
    /// `out`, writes the removed groups' value ids into `out.1`, group `g`'s
    /// from position `out.0[g]` on.
    fn take_groups(&mut self, emit_to: EmitTo, mut out: Option<(&[i32], &mut [u32])>) {
        let emitted = match emit_to {
            EmitTo::All => self.counts.len(),
            EmitTo::First(n) => n,
        };
        let mut cursors: Vec<i32> = out
            .as_ref()
            .map(|(offsets, _)| offsets[..offsets.len() - 1].to_vec())
            .unwrap_or_default();
        let mut place = |group: usize, id: u32| {
            if let Some((_, ids)) = &mut out {
                let cursor = &mut cursors[group];
                ids[*cursor as usize] = id;
                *cursor += 1;
            }
        };
        for (group, word) in emit_to.take_needed(&mut self.words).into_iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                place(group, bits.trailing_zeros());
                bits &= bits - 1;
            }
        }
        for (i, first) in self.first.iter_mut().enumerate() {
            if *first == NO_GROUP {
                continue;
            }
            if (*first as usize) < emitted {
                place(*first as usize, i as u32 + WORD_IDS);
                *first = NO_GROUP;
            } else {
                *first -= emitted as u32;
            }
        }
        if emitted == self.counts.len() {
            for key in self.seen.drain() {
                place((key >> 32) as usize, key as u32);
            }
        } else {
            // Rare (ordered input, memory pressure): one pass over the set.
            let first_kept = emitted as u64;
            let shift = first_kept << 32;
            let mut rest = HashSet::with_capacity(self.seen.len());
            for key in self.seen.drain() {
                if key >> 32 < first_kept {
                    place((key >> 32) as usize, key as u32);
                } else {
                    rest.insert(key - shift);
                }
            }
            self.seen = rest;
        }
    }
}

impl GroupsAccumulator for DistinctCountGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.add(
            values[0].as_ref(),
            group_indices,
            opt_filter,
            total_num_groups,
        )
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        self.take_groups(emit_to, None);
        let counts = emit_to.take_needed(&mut self.counts);
        self.forget_ids_if_empty();
        Ok(Arc::new(Int64Array::from(counts)))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let n = match emit_to {
            EmitTo::All => self.counts.len(),
            EmitTo::First(n) => n,
        };
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0i32);
        let mut total = 0usize;
        for &c in &self.counts[..n] {
            total += c as usize;
            let Ok(end) = i32::try_from(total) else {
                return exec_err!("{NAME}: a partial state of more than 2^31 values");
            };
            offsets.push(end);
        }
        let mut ids = vec![0u32; total];
        self.take_groups(emit_to, Some((&offsets, &mut ids)));
        emit_to.take_needed(&mut self.counts);
        let values = self.ids.values(ids)?;
        self.forget_ids_if_empty();
        let list = ListArray::try_new(
            list_item(self.ids.data_type()),
            OffsetBuffer::new(offsets.into()),
            values,
            None,
        )?;
        Ok(vec![Arc::new(list)])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        let lists = values[0].as_list::<i32>();
        let offsets = lists.value_offsets();
        let (start, end) = (offsets[0] as usize, offsets[offsets.len() - 1] as usize);
        let elements = lists.values().slice(start, end - start);
        // Each list element takes its row's group.
        let mut element_groups = Vec::with_capacity(end - start);
        for (row, &group) in group_indices.iter().enumerate() {
            let len = (offsets[row + 1] - offsets[row]) as usize;
            element_groups.extend(std::iter::repeat_n(group, len));
        }
        if lists.null_count() == 0 {
            return self.add(elements.as_ref(), &element_groups, None, total_num_groups);
        }
        // A NULL list (no state) counts nothing, whatever its offsets span.
        let valid: BooleanArray = (0..lists.len())
            .flat_map(|row| {
                let len = (offsets[row + 1] - offsets[row]) as usize;
                std::iter::repeat_n(Some(lists.is_valid(row)), len)
            })
            .collect();
        self.add(
            elements.as_ref(),
            &element_groups,
            Some(&valid),
            total_num_groups,
        )
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        // Each row becomes its own group: a list of its value, or empty.
        let values = &values[0];
        let counted: BooleanArray = (0..values.len())
            .map(|row| {
                Some(
                    values.is_valid(row)
                        && opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row)),
                )
            })
            .collect();
        let mut offsets = Vec::with_capacity(values.len() + 1);
        offsets.push(0i32);
        let mut end = 0i32;
        for keep in counted.values().iter() {
            end += i32::from(keep);
            offsets.push(end);
        }
        let kept = filter(values, &counted)?;
        let list = ListArray::try_new(
            list_item(self.ids.data_type()),
            OffsetBuffer::new(offsets.into()),
            kept,
            None,
        )?;
        Ok(vec![Arc::new(list)])
    }

    fn size(&self) -> usize {
        size_of::<Self>()
            + self.ids.size()
            + self.words.capacity() * size_of::<u64>()
            + self.first.capacity() * size_of::<u32>()
            + self.seen.capacity() * (size_of::<u64>() + 1)
            + self.counts.capacity() * size_of::<i64>()
    }
}

/// The accumulator without `GROUP BY`: the groups accumulator with one group.
#[derive(Debug)]
struct SingleGroup(DistinctCountGroups);

impl Accumulator for SingleGroup {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let groups = vec![0; values[0].len()];
        self.0.update_batch(values, &groups, None, 1)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let groups = vec![0; states[0].len()];
        self.0.merge_batch(states, &groups, 1)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        // `state` takes the values; put them back so that evaluating
        // afterwards still sees them.
        self.0.counts.resize(1, 0);
        self.0.words.resize(1, 0);
        let state = self.0.state(EmitTo::All)?;
        self.0.merge_batch(&state, &[0], 1)?;
        state
            .iter()
            .map(|array| ScalarValue::try_from_array(array, 0))
            .collect()
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(Some(
            self.0.counts.first().copied().unwrap_or(0),
        )))
    }

    fn size(&self) -> usize {
        size_of::<Self>() + self.0.size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{
        BinaryArray, Int64Array as I64, Int8Array, LargeStringArray, StringArray, StringViewArray,
        TimestampMicrosecondArray, UInt64Array,
    };

    /// Arrays of every kind of value id: narrow, wide and bytes, with
    /// NULLs, negative numbers, values past `i64::MAX` and strings longer
    /// than a view's 12 inline bytes.
    fn samples() -> Vec<ArrayRef> {
        let long = "a string longer than twelve bytes";
        vec![
            Arc::new(Int8Array::from(vec![
                Some(-1),
                Some(1),
                Some(-1),
                None,
                Some(127),
                Some(-128),
                Some(1),
                None,
            ])),
            Arc::new(I64::from(vec![
                Some(i64::MIN),
                Some(-1),
                Some(0),
                None,
                Some(i64::MAX),
                Some(-1),
                Some(0),
                Some(5),
            ])),
            Arc::new(UInt64Array::from(vec![
                Some(u64::MAX),
                Some(1),
                Some(u64::MAX),
                None,
                Some(1 << 63),
                Some(0),
                Some(0),
                Some(2),
            ])),
            Arc::new(
                TimestampMicrosecondArray::from(vec![
                    Some(1),
                    Some(2),
                    Some(1),
                    None,
                    Some(-5),
                    Some(2),
                    Some(3),
                    Some(1),
                ])
                .with_timezone("UTC"),
            ),
            Arc::new(StringArray::from(vec![
                Some("a"),
                Some(long),
                Some("a"),
                None,
                Some(""),
                Some(long),
                Some("b"),
                Some(""),
            ])),
            Arc::new(LargeStringArray::from(vec![
                Some("a"),
                Some(long),
                Some("a"),
                None,
                Some(""),
                Some(long),
                Some("b"),
                Some(""),
            ])),
            Arc::new(StringViewArray::from(vec![
                Some("a"),
                Some(long),
                Some("a"),
                None,
                Some(""),
                Some(long),
                Some("b"),
                Some(""),
            ])),
            Arc::new(BinaryArray::from(vec![
                Some(&b"x"[..]),
                Some(b"y"),
                Some(b"x"),
                None,
                Some(b""),
                Some(b"y"),
                Some(b"x"),
                Some(b""),
            ])),
        ]
    }

    /// Groups of the eight sample rows: group 2 gets only row 3, a NULL
    /// in every sample.
    const GROUPS: [usize; 8] = [0, 0, 1, 2, 1, 0, 1, 0];

    /// Distinct non-NULL values per group, counted the slow way.
    fn expected(values: &ArrayRef, groups: &[usize], filter: Option<&[bool]>) -> Vec<i64> {
        let n = groups.iter().max().map_or(0, |g| g + 1);
        let mut seen = vec![Vec::<ScalarValue>::new(); n];
        for (row, &g) in groups.iter().enumerate() {
            let v = ScalarValue::try_from_array(values, row).unwrap();
            if !v.is_null() && filter.is_none_or(|f| f[row]) && !seen[g].contains(&v) {
                seen[g].push(v);
            }
        }
        seen.iter().map(|s| s.len() as i64).collect()
    }

    fn counts(array: ArrayRef) -> Vec<i64> {
        array
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
            .values()
            .to_vec()
    }

    #[test]
    fn counts_distinct_non_null_values_per_group() {
        for values in samples() {
            let mut acc = DistinctCountGroups::try_new(values.data_type()).unwrap();
            // Twice: repeats across batches are not counted again.
            for _ in 0..2 {
                acc.update_batch(std::slice::from_ref(&values), &GROUPS, None, 3)
                    .unwrap();
            }
            let got = counts(acc.evaluate(EmitTo::All).unwrap());
            assert_eq!(
                got,
                expected(&values, &GROUPS, None),
                "{}",
                values.data_type()
            );
            assert_eq!(got[2], 0, "a group of NULLs counts 0");
        }
    }

    #[test]
    fn filter_excludes_rows() {
        let keep = [true, false, true, true, false, true, true, false];
        let filter = BooleanArray::from(keep.to_vec());
        for values in samples() {
            let mut acc = DistinctCountGroups::try_new(values.data_type()).unwrap();
            acc.update_batch(std::slice::from_ref(&values), &GROUPS, Some(&filter), 3)
                .unwrap();
            let got = counts(acc.evaluate(EmitTo::All).unwrap());
            assert_eq!(
                got,
                expected(&values, &GROUPS, Some(&keep)),
                "{}",
                values.data_type()
            );
        }
    }

    #[test]
    fn merged_partial_states_give_the_same_counts() {
        for values in samples() {
            let dt = values.data_type();
            // Rows 0..5 in one partial accumulator, 5..8 in another (groups
            // numbered differently there, as another partition would).
            let mut first = DistinctCountGroups::try_new(dt).unwrap();
            first
                .update_batch(&[values.slice(0, 5)], &GROUPS[..5], None, 3)
                .unwrap();
            let mut second = DistinctCountGroups::try_new(dt).unwrap();
            second
                .update_batch(&[values.slice(5, 3)], &[1, 0, 1], None, 2)
                .unwrap();
            let state_first = first.state(EmitTo::All).unwrap();
            let state_second = second.state(EmitTo::All).unwrap();
            assert_eq!(state_first[0].data_type(), &DataType::List(list_item(dt)));

            let mut last = DistinctCountGroups::try_new(dt).unwrap();
            last.merge_batch(&state_first, &[0, 1, 2], 3).unwrap();
            last.merge_batch(&state_second, &[1, 0], 3).unwrap();
            // Row-by-row conversion (skipped partial aggregation) merges too.
            let converted = last.convert_to_state(&[values.slice(0, 2)], None).unwrap();
            last.merge_batch(&converted, &[0, 0], 3).unwrap();
            let got = counts(last.evaluate(EmitTo::All).unwrap());
            assert_eq!(got, expected(&values, &GROUPS, None), "{dt}");
        }
    }

    #[test]
    fn past_64_values_per_argument() {
        // 300 distinct strings over 3 groups; ids beyond 63 live in the set.
        let rows: Vec<String> = (0..1200)
            .map(|i| format!("value {}", i * 7 % 300))
            .collect();
        let values: ArrayRef = Arc::new(StringArray::from(rows));
        let groups: Vec<usize> = (0..1200).map(|i| i % 3).collect();
        let mut direct = DistinctCountGroups::try_new(values.data_type()).unwrap();
        direct
            .update_batch(std::slice::from_ref(&values), &groups, None, 3)
            .unwrap();
        let want = expected(&values, &groups, None);
        assert_eq!(want, [100, 100, 100]);
        assert_eq!(counts(direct.evaluate(EmitTo::All).unwrap()), want);
        // The same through two partial states, the second in other groups.
        let mut first = DistinctCountGroups::try_new(values.data_type()).unwrap();
        first
            .update_batch(&[values.slice(0, 600)], &groups[..600], None, 3)
            .unwrap();
        let mut second = DistinctCountGroups::try_new(values.data_type()).unwrap();
        let flipped: Vec<usize> = groups[600..].iter().map(|g| 2 - g).collect();
        second
            .update_batch(&[values.slice(600, 600)], &flipped, None, 3)
            .unwrap();
        let mut last = DistinctCountGroups::try_new(values.data_type()).unwrap();
        last.merge_batch(&first.state(EmitTo::All).unwrap(), &[0, 1, 2], 3)
            .unwrap();
        last.merge_batch(&second.state(EmitTo::All).unwrap(), &[2, 1, 0], 3)
            .unwrap();
        assert_eq!(counts(last.evaluate(EmitTo::All).unwrap()), want);
        // Emitting group 0 first keeps groups 1 and 2 (now 0 and 1) whole.
        let mut emitting = DistinctCountGroups::try_new(values.data_type()).unwrap();
        emitting
            .update_batch(std::slice::from_ref(&values), &groups, None, 3)
            .unwrap();
        let state = emitting.state(EmitTo::First(1)).unwrap();
        assert_eq!(state[0].as_list::<i32>().value(0).len(), 100);
        // Row 0's value is new to the old group 1, row 1's is its own.
        emitting
            .update_batch(&[values.slice(0, 2)], &[0, 0], None, 2)
            .unwrap();
        assert_eq!(counts(emitting.evaluate(EmitTo::All).unwrap()), [101, 100]);
    }

    #[test]
    fn equal_views_of_one_array_share_an_id() {
        // `take` copies views: rows 0, 2, 4 have one view, rows 1, 3 another,
        // as Parquet dictionary pages decode.
        let base = StringViewArray::from(vec![
            "a value longer than twelve bytes, one",
            "a value longer than twelve bytes, two",
        ]);
        let indices = datafusion::arrow::array::UInt32Array::from(vec![0, 1, 0, 1, 0, 1]);
        let values = datafusion::arrow::compute::take(&base, &indices, None).unwrap();
        let mut acc = DistinctCountGroups::try_new(values.data_type()).unwrap();
        acc.update_batch(std::slice::from_ref(&values), &[0, 0, 1, 2, 0, 2], None, 3)
            .unwrap();
        let other = StringViewArray::from(vec!["a value longer than twelve bytes, two"]);
        acc.update_batch(&[Arc::new(other)], &[1], None, 3).unwrap();
        assert_eq!(counts(acc.evaluate(EmitTo::All).unwrap()), [2, 2, 1]);
    }

    #[test]
    fn converted_state_keeps_only_counted_rows() {
        let values: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), None, Some("b")]));
        let filter = BooleanArray::from(vec![true, true, false]);
        let acc = DistinctCountGroups::try_new(values.data_type()).unwrap();
        let state = acc.convert_to_state(&[values], Some(&filter)).unwrap();
        let lists = state[0].as_list::<i32>();
        assert_eq!(lists.value_offsets(), &[0, 1, 1, 1]);
        assert_eq!(lists.value(0).as_string::<i32>().value(0), "a");
    }

    #[test]
    fn emitting_the_first_groups_renumbers_the_rest() {
        let values: ArrayRef = Arc::new(StringViewArray::from(vec!["a", "b", "a", "c", "c", "d"]));
        let mut acc = DistinctCountGroups::try_new(values.data_type()).unwrap();
        acc.update_batch(std::slice::from_ref(&values), &[0, 0, 1, 1, 2, 2], None, 3)
            .unwrap();
        assert_eq!(counts(acc.evaluate(EmitTo::First(1)).unwrap()), vec![2]);
        // Old group 1 is now 0: "a" and "c" are already there.
        let more: ArrayRef = Arc::new(StringViewArray::from(vec!["a", "e", "d"]));
        acc.update_batch(&[more], &[0, 0, 1], None, 2).unwrap();
        let state = acc.state(EmitTo::First(1)).unwrap();
        let mut first: Vec<String> = state[0]
            .as_list::<i32>()
            .value(0)
            .as_string_view()
            .iter()
            .map(|v| v.unwrap().to_string())
            .collect();
        first.sort();
        assert_eq!(first, ["a", "c", "e"]);
        assert_eq!(counts(acc.evaluate(EmitTo::All).unwrap()), vec![2]);
    }

    /// A spilling aggregate emits all its state and then checks that its
    /// reservation shrank ("Decreasing allocation after spilling should
    /// succeed"); the value ids must go with the groups.
    #[test]
    fn emitting_every_group_frees_the_value_ids() {
        for values in samples() {
            let mut acc = DistinctCountGroups::try_new(values.data_type()).unwrap();
            let empty = acc.size();
            let many: ArrayRef =
                datafusion::arrow::compute::concat(&vec![values.as_ref(); 500]).unwrap();
            let groups: Vec<usize> = (0..many.len()).map(|i| i % 100).collect();
            acc.update_batch(&[many], &groups, None, 100).unwrap();
            assert!(acc.size() > empty, "{}", values.data_type());
            acc.state(EmitTo::All).unwrap();
            assert!(
                acc.size() <= empty,
                "{}: {} > {empty}",
                values.data_type(),
                acc.size()
            );
        }
    }

    #[test]
    fn without_group_by() {
        let mut acc = SingleGroup(DistinctCountGroups::try_new(&DataType::Utf8).unwrap());
        assert_eq!(acc.evaluate().unwrap(), ScalarValue::Int64(Some(0)));
        let values: ArrayRef = Arc::new(StringArray::from(vec![
            Some("a"),
            None,
            Some("a"),
            Some("b"),
        ]));
        acc.update_batch(&[values]).unwrap();
        let state = acc.state().unwrap();
        assert_eq!(acc.evaluate().unwrap(), ScalarValue::Int64(Some(2)));
        let mut other = SingleGroup(DistinctCountGroups::try_new(&DataType::Utf8).unwrap());
        let state: Vec<ArrayRef> = state.iter().map(|s| s.to_array().unwrap()).collect();
        other.merge_batch(&state).unwrap();
        assert_eq!(other.evaluate().unwrap(), ScalarValue::Int64(Some(2)));
    }
}
