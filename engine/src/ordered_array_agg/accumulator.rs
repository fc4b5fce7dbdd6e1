//! `trail_ordered_array_agg(value, order_key)`: `ARRAY_AGG(value ORDER BY
//! order_key)` for an integer-like order key (timestamps, dates, integers),
//! computed columnar.
//!
//! Each input batch is kept as it arrived (the value and order-key arrays);
//! a row becomes one small [`Entry`]: its group, where it lives, and its
//! order key folded into a sortable `(rank, i64)`. At evaluation the entries
//! are bucketed by group (a counting sort), each group's few rows are sorted
//! by key (stable, so ties keep their arrival order), and the values are
//! gathered into the list's child array with one `interleave`. No per-row
//! `ScalarValue`, no sort of the whole input by the order key.
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
            entries: Vec::new(),
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

/// One aggregated row: its group, where its value and key live
/// (`batches[batch]`, row `row`), and its sort key.
#[derive(Debug, Clone, Copy)]
struct Entry {
    group: u32,
    batch: u32,
    row: u32,
    rank: u8,
    key: i64,
}

/// An input batch as it arrived: the values and their order keys.
#[derive(Debug)]
struct Batch {
    values: ArrayRef,
    keys: ArrayRef,
}

/// The groups accumulator (see the module documentation).
#[derive(Debug)]
pub(crate) struct OrderedGroups {
    order: KeyOrder,
    ignore_nulls: bool,
    value_field: FieldRef,
    key_field: FieldRef,
    batches: Vec<Batch>,
    entries: Vec<Entry>,
    num_groups: usize,
}

impl OrderedGroups {
    /// Keeps `values`/`keys` and adds an entry for each `(group, row)`.
    fn add(
        &mut self,
        values: &ArrayRef,
        keys: &ArrayRef,
        rows: impl Iterator<Item = (usize, usize)>,
    ) -> Result<()> {
        let batch =
            u32::try_from(self.batches.len()).or_else(|_| exec_err!("{NAME}: too many batches"))?;
        let as_i64 = cast(keys, &DataType::Int64)?;
        let as_i64 = as_i64.as_primitive::<Int64Type>();
        let before = self.entries.len();
        for (group, row) in rows {
            if self.ignore_nulls && values.is_null(row) {
                continue;
            }
            let (rank, key) = self
                .order
                .sort_key(as_i64.is_valid(row).then(|| as_i64.value(row)));
            self.entries.push(Entry {
                group: group as u32,
                batch,
                row: row as u32,
                rank,
                key,
            });
        }
        if self.entries.len() > before {
            self.batches.push(Batch {
                values: Arc::clone(values),
                keys: Arc::clone(keys),
            });
        }
        Ok(())
    }

    /// Removes the entries of the first `emit_to` groups and returns them
    /// bucketed by group (`counts[g]` entries for group `g`), sorted by key
    /// within each group when `sort` is set. The remaining groups are
    /// renumbered from 0 and their rows compacted into one batch, so that
    /// emitting groups early (sorted input) frees the batches they used.
    fn take(&mut self, emit_to: EmitTo, sort: bool) -> Result<Taken> {
        let n = match emit_to {
            EmitTo::All => self.num_groups,
            EmitTo::First(n) => n.min(self.num_groups),
        };
        let mut counts = vec![0usize; n];
        for e in &self.entries {
            if (e.group as usize) < n {
                counts[e.group as usize] += 1;
            }
        }
        let mut next: Vec<usize> = Vec::with_capacity(n);
        let mut total = 0;
        for &c in &counts {
            next.push(total);
            total += c;
        }
        let placeholder = Entry {
            group: 0,
            batch: 0,
            row: 0,
            rank: 0,
            key: 0,
        };
        let mut ordered = vec![placeholder; total];
        let mut kept = Vec::new();
        for e in self.entries.drain(..) {
            let g = e.group as usize;
            if g < n {
                ordered[next[g]] = e;
                next[g] += 1;
            } else {
                kept.push(Entry {
                    group: (g - n) as u32,
                    ..e
                });
            }
        }
        if sort {
            let mut start = 0;
            for &c in &counts {
                ordered[start..start + c].sort_by_key(|e| (e.rank, e.key));
                start += c;
            }
        }
        let batches = std::mem::take(&mut self.batches);
        self.num_groups -= n;
        if !kept.is_empty() {
            let values = gather(&batches, &kept, |b| &b.values, &self.value_field)?;
            let keys = gather(&batches, &kept, |b| &b.keys, &self.key_field)?;
            for (i, e) in kept.iter_mut().enumerate() {
                e.batch = 0;
                e.row = i as u32;
            }
            self.batches.push(Batch { values, keys });
            self.entries = kept;
        }
        Ok(Taken {
            batches,
            ordered,
            counts,
        })
    }
}

/// Groups removed from the accumulator, ready to become lists.
struct Taken {
    batches: Vec<Batch>,
    ordered: Vec<Entry>,
    counts: Vec<usize>,
}

impl Taken {
    /// One list per group of the column `column` picks from each batch; a
    /// group without rows is NULL, as `ARRAY_AGG` over no rows is.
    fn lists(&self, column: impl Fn(&Batch) -> &ArrayRef, item: &FieldRef) -> Result<ArrayRef> {
        let child = gather(&self.batches, &self.ordered, column, item)?;
        let offsets = OffsetBuffer::<i32>::from_lengths(self.counts.iter().copied());
        let nulls = self
            .counts
            .contains(&0)
            .then(|| NullBuffer::from_iter(self.counts.iter().map(|&c| c > 0)));
        Ok(Arc::new(ListArray::try_new(
            Arc::clone(item),
            offsets,
            child,
            nulls,
        )?))
    }
}

/// The rows `entries` point at, in that order, as one array.
fn gather(
    batches: &[Batch],
    entries: &[Entry],
    column: impl Fn(&Batch) -> &ArrayRef,
    item: &FieldRef,
) -> Result<ArrayRef> {
    if entries.is_empty() {
        return Ok(new_empty_array(item.data_type()));
    }
    let arrays: Vec<&dyn Array> = batches.iter().map(|b| column(b).as_ref()).collect();
    let indices: Vec<(usize, usize)> = entries
        .iter()
        .map(|e| (e.batch as usize, e.row as usize))
        .collect();
    Ok(interleave(&arrays, &indices)?)
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
            .map(|b| b.values.get_array_memory_size() + b.keys.get_array_memory_size())
            .sum();
        arrays + self.entries.capacity() * size_of::<Entry>()
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
