//! `trail_ordered_array_agg(value, order_key)`: `ARRAY_AGG(value ORDER BY
//! order_key)` for an integer-like order key (timestamps, dates, integers),
//! computed columnar.
//!
//! Each input batch is kept as it arrived (the value and order-key arrays);
//! its rows become [`Run`]s: consecutive rows of one group whose keys do not
//! decrease (a user's events of one file, which is sorted by user and time),
//! one small record per run. At evaluation the runs are bucketed by group (a
//! counting sort) and each group's runs put in order by their first keys; a
//! group whose runs overlap has its rows sorted one by one. Either way the
//! order is the stable sort by key (ties keep their arrival order), and the
//! values are gathered into the list's child array with one `interleave`.
//! No per-row `ScalarValue`, no sort of the whole input by the order key.
//!
//! Partial states are two lists per group, the values and their order keys,
//! merged by concatenation; only the final evaluation sorts.

use std::mem::size_of;
use std::sync::Arc;

use datafusion::arrow::array::{
    new_empty_array, Array, ArrayRef, AsArray, BooleanArray, ListArray,
};
use datafusion::arrow::buffer::{NullBuffer, OffsetBuffer};
use datafusion::arrow::compute::{cast, filter, interleave};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type};
use datafusion::common::{exec_err, Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::AggregateOrderSensitivity;
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility,
};

pub(crate) const NAME: &str = "trail_ordered_array_agg";

/// Whether `ARRAY_AGG(… ORDER BY key)` with a key of this type can be
/// computed here: every value must map to an `i64` preserving order.
pub(crate) fn supported_order_key(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::Date32
            | DataType::Date64
            | DataType::Timestamp(_, _)
    )
}

/// The aggregate function (see the module documentation). Its direction and
/// null placement are part of the function, as `ORDER BY` is part of
/// `ARRAY_AGG`; `IGNORE NULLS` comes with the call.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct OrderedArrayAgg {
    signature: Signature,
    descending: bool,
    nulls_first: bool,
}

impl OrderedArrayAgg {
    pub(crate) fn new(descending: bool, nulls_first: bool) -> Self {
        Self {
            signature: Signature::any(2, Volatility::Immutable),
            descending,
            nulls_first,
        }
    }

    fn groups(&self, args: &AccumulatorArgs) -> Result<OrderedGroups> {
        let [value, key] = args.expr_fields else {
            return exec_err!("{NAME} takes a value and an order key");
        };
        if !supported_order_key(key.data_type()) {
            return exec_err!("{NAME}: unsupported order key type {}", key.data_type());
        }
        Ok(OrderedGroups {
            order: KeyOrder {
                descending: self.descending,
                nulls_first: self.nulls_first,
            },
            ignore_nulls: args.ignore_nulls,
            value_field: list_item(value.data_type()),
            key_field: list_item(key.data_type()),
            batches: Vec::new(),
            runs: Vec::new(),
            num_groups: 0,
        })
    }
}

fn list_item(data_type: &DataType) -> FieldRef {
    Arc::new(Field::new_list_field(data_type.clone(), true))
}

impl AggregateUDFImpl for OrderedArrayAgg {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(list_item(&arg_types[0])))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let [value, key] = args.input_fields else {
            return exec_err!("{NAME} takes a value and an order key");
        };
        let list = |name: &str, f: &FieldRef| {
            Arc::new(Field::new(
                format!("{}[{name}]", args.name),
                DataType::List(list_item(f.data_type())),
                true,
            ))
        };
        Ok(vec![list("values", value), list("keys", key)])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(SingleGroup(self.groups(&args)?)))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(self.groups(&args)?))
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        // The accumulator sorts by its key argument itself.
        AggregateOrderSensitivity::Insensitive
    }
}

/// `ORDER BY key [DESC] [NULLS FIRST|LAST]` as a map from a key to a
/// `(rank, value)` pair that sorts in the wanted order.
#[derive(Debug, Clone, Copy)]
struct KeyOrder {
    descending: bool,
    nulls_first: bool,
}

impl KeyOrder {
    fn sort_key(&self, key: Option<i64>) -> (u8, i64) {
        match key {
            // `!v` reverses the order of i64 without overflowing at i64::MIN.
            Some(v) => (1, if self.descending { !v } else { v }),
            None if self.nulls_first => (0, 0),
            None => (2, 0),
        }
    }
}

/// Consecutive rows of one batch in one group whose sort keys do not
/// decrease: `batches[batch]`, rows `start..start + len`. Event files are
/// sorted by `(user_id, time)`, so a user's events arrive in such runs and
/// the accumulator keeps one small record per run instead of one per row.
#[derive(Debug, Clone, Copy)]
struct Run {
    group: u32,
    batch: u32,
    start: u32,
    len: u32,
}

impl Run {
    fn rows(&self) -> std::ops::Range<usize> {
        self.start as usize..(self.start + self.len) as usize
    }
}

/// An input batch as it arrived: the values, their order keys, and the
/// keys as `i64` (what [`KeyOrder::sort_key`] ranks).
#[derive(Debug)]
struct Batch {
    values: ArrayRef,
    keys: ArrayRef,
    keys_i64: ArrayRef,
}

/// The groups accumulator (see the module documentation).
#[derive(Debug)]
pub(crate) struct OrderedGroups {
    order: KeyOrder,
    ignore_nulls: bool,
    value_field: FieldRef,
    key_field: FieldRef,
    batches: Vec<Batch>,
    runs: Vec<Run>,
    num_groups: usize,
}

impl OrderedGroups {
    /// The sort key of row `row` of `keys` (a batch's `keys_i64`).
    fn sort_key_of(&self, keys: &ArrayRef, row: usize) -> (u8, i64) {
        let keys = keys.as_primitive::<Int64Type>();
        self.order
            .sort_key(keys.is_valid(row).then(|| keys.value(row)))
    }

    /// The sort key of row `row` of `batches[batch]`.
    fn sort_key(&self, batches: &[Batch], batch: u32, row: usize) -> (u8, i64) {
        self.sort_key_of(&batches[batch as usize].keys_i64, row)
    }

    /// Keeps `values`/`keys` and adds each `(group, row)`, extending the
    /// last run while the rows follow it in the same group and keep their
    /// keys in order.
    fn add(
        &mut self,
        values: &ArrayRef,
        keys: &ArrayRef,
        rows: impl Iterator<Item = (usize, usize)>,
    ) -> Result<()> {
        let batch =
            u32::try_from(self.batches.len()).or_else(|_| exec_err!("{NAME}: too many batches"))?;
        let keys_i64 = cast(keys, &DataType::Int64)?;
        let before = self.runs.len();
        // The group, row and sort key of the last row added by this call.
        let mut last: Option<(usize, usize, (u8, i64))> = None;
        for (group, row) in rows {
            if self.ignore_nulls && values.is_null(row) {
                continue;
            }
            let key = self.sort_key_of(&keys_i64, row);
            match (last, self.runs.last_mut()) {
                (Some((g, r, k)), Some(run)) if g == group && r + 1 == row && k <= key => {
                    run.len += 1;
                }
                _ => self.runs.push(Run {
                    group: group as u32,
                    batch,
                    start: row as u32,
                    len: 1,
                }),
            }
            last = Some((group, row, key));
        }
        if self.runs.len() > before {
            self.batches.push(Batch {
                values: Arc::clone(values),
                keys: Arc::clone(keys),
                keys_i64,
            });
        }
        Ok(())
    }

    /// Removes the first `emit_to` groups and returns where their rows are,
    /// group after group, in key order within each group when `sort` is set
    /// (ties in arrival order), else in arrival order. The remaining groups
    /// are renumbered from 0 and their rows compacted into one batch, so
    /// that emitting groups early (sorted input) frees the batches they used.
    fn take(&mut self, emit_to: EmitTo, sort: bool) -> Result<Taken> {
        let n = match emit_to {
            EmitTo::All => self.num_groups,
            EmitTo::First(n) => n.min(self.num_groups),
        };
        // Runs and rows per group; then the runs bucketed by group, each
        // bucket in arrival order.
        let mut runs_of = vec![0usize; n];
        let mut lengths = vec![0usize; n];
        for run in &self.runs {
            if (run.group as usize) < n {
                runs_of[run.group as usize] += 1;
                lengths[run.group as usize] += run.len as usize;
            }
        }
        let mut next: Vec<usize> = Vec::with_capacity(n);
        let mut total = 0;
        for &c in &runs_of {
            next.push(total);
            total += c;
        }
        let placeholder = Run {
            group: 0,
            batch: 0,
            start: 0,
            len: 0,
        };
        let mut bucketed = vec![placeholder; total];
        let mut kept = Vec::new();
        for run in self.runs.drain(..) {
            let g = run.group as usize;
            if g < n {
                bucketed[next[g]] = run;
                next[g] += 1;
            } else {
                kept.push(Run {
                    group: (g - n) as u32,
                    ..run
                });
            }
        }
        let batches = std::mem::take(&mut self.batches);
        let mut indices: Vec<(usize, usize)> = Vec::with_capacity(lengths.iter().sum());
        let mut start = 0;
        for &c in &runs_of {
            let runs = &bucketed[start..start + c];
            start += c;
            if sort {
                self.sort_group(&batches, runs, &mut indices);
            } else {
                indices.extend(run_indices(runs));
            }
        }
        self.num_groups -= n;
        if !kept.is_empty() {
            let rows: Vec<(usize, usize)> = run_indices(&kept).collect();
            let batch = Batch {
                values: gather(&batches, &rows, |b| &b.values, &self.value_field)?,
                keys: gather(&batches, &rows, |b| &b.keys, &self.key_field)?,
                keys_i64: gather(
                    &batches,
                    &rows,
                    |b| &b.keys_i64,
                    &list_item(&DataType::Int64),
                )?,
            };
            let mut offset = 0;
            for run in &mut kept {
                run.batch = 0;
                run.start = offset;
                offset += run.len;
            }
            self.batches.push(batch);
            self.runs = kept;
        }
        Ok(Taken {
            batches,
            indices,
            lengths,
        })
    }

    /// Appends the rows of one group's `runs` (in arrival order) to
    /// `indices` sorted by key, ties in arrival order. Runs from different
    /// batches (a user's days, in files read in any order) are put in order
    /// by their first keys; only when that cannot give the stable order
    /// (runs overlap) are the group's rows sorted one by one.
    fn sort_group(&self, batches: &[Batch], runs: &[Run], indices: &mut Vec<(usize, usize)>) {
        // One run is in order already: most groups of one file's batches.
        if runs.len() <= 1 {
            indices.extend(run_indices(runs));
            return;
        }
        let first = |run: &Run| self.sort_key(batches, run.batch, run.start as usize);
        let last = |run: &Run| self.sort_key(batches, run.batch, run.rows().end - 1);
        // (first key, arrival) for each run, sorted: stable in arrival.
        let mut order: Vec<((u8, i64), usize)> = runs
            .iter()
            .enumerate()
            .map(|(i, r)| (first(r), i))
            .collect();
        order.sort_unstable();
        // Concatenated in that order the rows are sorted by (key, arrival)
        // if each run ends before the next begins, or where they touch the
        // earlier arrival comes first: exactly the stable sort.
        let ordered = order.windows(2).all(|w| {
            let (end, begin) = (last(&runs[w[0].1]), w[1].0);
            end < begin || (end == begin && w[0].1 < w[1].1)
        });
        if ordered {
            indices.extend(order.iter().flat_map(|&(_, i)| run_indices(&runs[i..=i])));
            return;
        }
        let mut rows: Vec<((u8, i64), usize, usize)> = run_indices(runs)
            .map(|(batch, row)| (self.sort_key(batches, batch as u32, row), batch, row))
            .collect();
        rows.sort_by_key(|r| r.0);
        indices.extend(rows.into_iter().map(|(_, batch, row)| (batch, row)));
    }
}

/// The `(batch, row)` of every row of `runs`, in order.
fn run_indices(runs: &[Run]) -> impl Iterator<Item = (usize, usize)> + '_ {
    runs.iter()
        .flat_map(|run| run.rows().map(move |row| (run.batch as usize, row)))
}

/// Groups removed from the accumulator, ready to become lists.
struct Taken {
    batches: Vec<Batch>,
    /// Every row of every group, group after group.
    indices: Vec<(usize, usize)>,
    /// Rows per group.
    lengths: Vec<usize>,
}

impl Taken {
    /// One list per group of the column `column` picks from each batch; a
    /// group without rows is NULL, as `ARRAY_AGG` over no rows is.
    fn lists(&self, column: impl Fn(&Batch) -> &ArrayRef, item: &FieldRef) -> Result<ArrayRef> {
        let child = gather(&self.batches, &self.indices, column, item)?;
        let offsets = OffsetBuffer::<i32>::from_lengths(self.lengths.iter().copied());
        let nulls = self
            .lengths
            .contains(&0)
            .then(|| NullBuffer::from_iter(self.lengths.iter().map(|&c| c > 0)));
        Ok(Arc::new(ListArray::try_new(
            Arc::clone(item),
            offsets,
            child,
            nulls,
        )?))
    }
}

/// The rows `indices` point at, in that order, as one array.
fn gather(
    batches: &[Batch],
    indices: &[(usize, usize)],
    column: impl Fn(&Batch) -> &ArrayRef,
    item: &FieldRef,
) -> Result<ArrayRef> {
    if indices.is_empty() {
        return Ok(new_empty_array(item.data_type()));
    }
    let arrays: Vec<&dyn Array> = batches.iter().map(|b| column(b).as_ref()).collect();
    Ok(interleave(&arrays, indices)?)
}

/// Whether row `row` passes the aggregate's `FILTER (WHERE …)`.
fn passes(filter: Option<&BooleanArray>, row: usize) -> bool {
    filter.is_none_or(|f| f.is_valid(row) && f.value(row))
}

impl GroupsAccumulator for OrderedGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.num_groups = self.num_groups.max(total_num_groups);
        let rows = group_indices
            .iter()
            .enumerate()
            .filter(|&(row, _)| passes(opt_filter, row))
            .map(|(row, &g)| (g, row));
        self.add(&values[0], &values[1], rows)
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let taken = self.take(emit_to, true)?;
        taken.lists(|b| &b.values, &self.value_field)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        // The merge sorts; partial states keep their arrival order.
        let taken = self.take(emit_to, false)?;
        Ok(vec![
            taken.lists(|b| &b.values, &self.value_field)?,
            taken.lists(|b| &b.keys, &self.key_field)?,
        ])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.num_groups = self.num_groups.max(total_num_groups);
        let (Some(value_lists), Some(key_lists)) = (
            values[0].as_list_opt::<i32>(),
            values[1].as_list_opt::<i32>(),
        ) else {
            return exec_err!("{NAME}: a partial state is not two lists");
        };
        let offsets = value_lists.value_offsets();
        let rows = group_indices
            .iter()
            .enumerate()
            .filter(|&(row, _)| value_lists.is_valid(row))
            .flat_map(|(row, &g)| {
                let (start, end) = (offsets[row] as usize, offsets[row + 1] as usize);
                (start..end).map(move |child| (g, child))
            });
        self.add(value_lists.values(), key_lists.values(), rows)
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        // Each row is a group of its own: a one-element list, or NULL.
        let keep: BooleanArray = (0..values[0].len())
            .map(|row| {
                Some(passes(opt_filter, row) && !(self.ignore_nulls && values[0].is_null(row)))
            })
            .collect();
        let lengths = keep.values().iter().map(usize::from);
        let offsets = OffsetBuffer::<i32>::from_lengths(lengths);
        let nulls = NullBuffer::new(keep.values().clone());
        let list = |array: &ArrayRef, item: &FieldRef| -> Result<ArrayRef> {
            Ok(Arc::new(ListArray::try_new(
                Arc::clone(item),
                offsets.clone(),
                filter(array, &keep)?,
                Some(nulls.clone()),
            )?))
        };
        Ok(vec![
            list(&values[0], &self.value_field)?,
            list(&values[1], &self.key_field)?,
        ])
    }

    fn size(&self) -> usize {
        let arrays: usize = self
            .batches
            .iter()
            .map(|b| {
                b.values.get_array_memory_size()
                    + b.keys.get_array_memory_size()
                    + b.keys_i64.get_array_memory_size()
            })
            .sum();
        arrays + self.runs.capacity() * size_of::<Run>()
    }
}

/// [`Accumulator`] for an aggregate without GROUP BY: one group.
#[derive(Debug)]
struct SingleGroup(OrderedGroups);

impl SingleGroup {
    fn one(arrays: Vec<ArrayRef>) -> Result<Vec<ScalarValue>> {
        arrays
            .iter()
            .map(|a| ScalarValue::try_from_array(a, 0))
            .collect()
    }
}

impl Accumulator for SingleGroup {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let zeros = vec![0; values[0].len()];
        self.0.update_batch(values, &zeros, None, 1)
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.0.num_groups = 1;
        let list = self.0.evaluate(EmitTo::All)?;
        ScalarValue::try_from_array(&list, 0)
    }

    fn size(&self) -> usize {
        size_of::<Self>() + self.0.size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.0.num_groups = 1;
        Self::one(self.0.state(EmitTo::All)?)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let zeros = vec![0; states[0].len()];
        self.0.merge_batch(states, &zeros, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};

    /// xorshift: deterministic test data.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    fn accumulator(descending: bool, nulls_first: bool, ignore_nulls: bool) -> OrderedGroups {
        OrderedGroups {
            order: KeyOrder {
                descending,
                nulls_first,
            },
            ignore_nulls,
            value_field: list_item(&DataType::Utf8),
            key_field: list_item(&DataType::Int64),
            batches: Vec::new(),
            runs: Vec::new(),
            num_groups: 0,
        }
    }

    /// One input batch: values naming their row, keys with ties and NULLs,
    /// group indices in runs (a user's rows together) and scattered.
    struct Input {
        values: ArrayRef,
        keys: ArrayRef,
        groups: Vec<usize>,
        filter: Option<BooleanArray>,
    }

    fn input(rng: &mut Rng, batch: usize, groups: usize) -> Input {
        let len = 1 + rng.below(60) as usize;
        let mut group_of = Vec::with_capacity(len);
        let mut key = rng.below(20) as i64;
        let mut keys = Vec::with_capacity(len);
        while group_of.len() < len {
            let g = rng.below(groups as u64) as usize;
            for _ in 0..1 + rng.below(6) {
                group_of.push(g);
                // Mostly rising within a run, sometimes a tie or a step back.
                key += rng.below(4) as i64 - 1;
                keys.push((rng.below(10) > 0).then_some(key));
            }
        }
        group_of.truncate(len);
        keys.truncate(len);
        let values: StringArray = (0..len)
            .map(|row| (rng.below(12) > 0).then(|| format!("b{batch}r{row}")))
            .collect();
        let filter =
            (rng.below(3) == 0).then(|| (0..len).map(|_| Some(rng.below(4) > 0)).collect());
        Input {
            values: Arc::new(values),
            keys: Arc::new(Int64Array::from(keys)),
            groups: group_of,
            filter,
        }
    }

    /// What `ARRAY_AGG(value ORDER BY key)` must give for each group: its
    /// rows stably sorted by key (ties in arrival order); NULL for none.
    fn expected(
        order: KeyOrder,
        rows: &[Vec<(Option<i64>, Option<String>)>],
    ) -> Vec<Option<Vec<Option<String>>>> {
        rows.iter()
            .map(|group| {
                let mut sorted = group.clone();
                sorted.sort_by_key(|(k, _)| order.sort_key(*k));
                (!sorted.is_empty()).then(|| sorted.into_iter().map(|(_, v)| v).collect())
            })
            .collect()
    }

    fn lists(array: &ArrayRef) -> Vec<Option<Vec<Option<String>>>> {
        array
            .as_list::<i32>()
            .iter()
            .map(|list| {
                list.map(|l| {
                    l.as_string::<i32>()
                        .iter()
                        .map(|v| v.map(str::to_string))
                        .collect()
                })
            })
            .collect()
    }

    /// Random batches in every order and NULL placement, with FILTER and
    /// IGNORE NULLS, some groups emitted early (`EmitTo::First`), and
    /// partial states merged into a second accumulator: every list is the
    /// stable sort of its group's rows.
    #[test]
    fn lists_are_the_stable_sort_of_each_group() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for case in 0..200 {
            let (descending, nulls_first, ignore_nulls) =
                (case % 2 == 1, case % 4 >= 2, case % 8 >= 4);
            let mut acc = accumulator(descending, nulls_first, ignore_nulls);
            let groups = 1 + rng.below(12) as usize;
            // Each group's rows in arrival order, as (key, value).
            let mut rows: Vec<Vec<(Option<i64>, Option<String>)>> = vec![Vec::new(); groups];
            let mut emitted: Vec<Option<Vec<Option<String>>>> = Vec::new();
            let mut want: Vec<Option<Vec<Option<String>>>> = Vec::new();
            for batch in 0..1 + rng.below(8) as usize {
                let inp = input(&mut rng, batch, rows.len());
                let (values, keys) = (
                    inp.values.as_string::<i32>(),
                    inp.keys.as_primitive::<Int64Type>(),
                );
                for (row, &g) in inp.groups.iter().enumerate() {
                    let kept =
                        passes(inp.filter.as_ref(), row) && !(ignore_nulls && values.is_null(row));
                    if kept {
                        rows[g].push((
                            keys.is_valid(row).then(|| keys.value(row)),
                            values.is_valid(row).then(|| values.value(row).to_string()),
                        ));
                    }
                }
                acc.update_batch(
                    &[inp.values.clone(), inp.keys.clone()],
                    &inp.groups,
                    inp.filter.as_ref(),
                    rows.len(),
                )
                .unwrap();
                if rng.below(4) == 0 && rows.len() > 1 {
                    let n = 1 + rng.below(rows.len() as u64 - 1) as usize;
                    emitted.extend(lists(&acc.evaluate(EmitTo::First(n)).unwrap()));
                    want.extend(expected(acc.order, &rows[..n]));
                    rows.drain(..n);
                }
            }
            if rng.below(2) == 0 {
                // Through a partial state: lists in arrival order, merged.
                let state = acc.state(EmitTo::All).unwrap();
                let mut merged = accumulator(descending, nulls_first, ignore_nulls);
                let all: Vec<usize> = (0..rows.len()).collect();
                merged.merge_batch(&state, &all, rows.len()).unwrap();
                acc = merged;
            }
            emitted.extend(lists(&acc.evaluate(EmitTo::All).unwrap()));
            want.extend(expected(acc.order, &rows));
            assert_eq!(emitted, want, "case {case}");
        }
    }
}
