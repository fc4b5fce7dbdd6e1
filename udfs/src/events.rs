//! The per-group event buffer behind `window_funnel`, `funnel_step_times`,
//! `sequence_match` and `sequence_count`.
//!
//! Each group keeps only what the kernels need: one 16-byte [`Event`] —
//! `(time in µs, bitmask of the conditions that were TRUE)` — per row that
//! matched at least one condition (plus the non-matching rows when
//! `strict_order` needs them to break a chain). Rows are appended unsorted and
//! sorted once, at evaluation.
//!
//! ```text
//!  update_batch ──► masks per row ──► groups[g].push(Event{ts, mask})
//!  state        ──► (List<Int64> times, List<UInt64> masks) per group
//!  merge_batch  ──► groups[g].extend(...)
//!  evaluate     ──► EventsFinalizer::evaluate(&mut groups)  (sorts, runs the kernel)
//! ```

use std::fmt::Debug;
use std::mem::size_of;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int64Array, ListArray, UInt64Array,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type, UInt64Type};
use datafusion::common::{exec_err, Result, ScalarValue};
use datafusion::logical_expr::function::StateFieldsArgs;
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{Accumulator, EmitTo, GroupsAccumulator};

use crate::args::{condition_masks, time_array};

/// One row of a group: its time in microseconds and which conditions held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Event {
    /// Microseconds since the Unix epoch.
    pub(crate) ts: i64,
    /// Bit `k` set when condition `k` was TRUE.
    pub(crate) mask: u64,
}

/// Turns the buffered events of each group into the function's result.
pub(crate) trait EventsFinalizer: Debug + Send + Sync + 'static {
    /// Whether rows where no condition holds must be kept (strict_order).
    fn keep_unmatched(&self) -> bool;
    /// One output value per group, in group order. May reorder each group's events.
    fn evaluate(&self, groups: &mut [Vec<Event>]) -> Result<ArrayRef>;
}

/// Where the time and the conditions sit among the function's arguments.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EventsLayout {
    pub(crate) fname: &'static str,
    pub(crate) time_idx: usize,
    pub(crate) cond_start: usize,
}

impl EventsLayout {
    /// Calls `f(row, event)` for every row worth keeping.
    fn for_each_event(
        &self,
        values: &[ArrayRef],
        keep_unmatched: bool,
        opt_filter: Option<&BooleanArray>,
        mut f: impl FnMut(usize, Event),
    ) -> Result<()> {
        let times = time_array(&values[self.time_idx], self.fname)?;
        let n = times.len();
        let masks = condition_masks(&values[self.cond_start..], n, self.fname)?;
        let ts = times.values();
        for (row, &mask) in masks.iter().enumerate() {
            if (mask == 0 && !keep_unmatched) || times.is_null(row) {
                continue;
            }
            if let Some(filter) = opt_filter {
                if !filter.is_valid(row) || !filter.value(row) {
                    continue;
                }
            }
            f(row, Event { ts: ts[row], mask });
        }
        Ok(())
    }
}

/// The intermediate state: every buffered event, as two parallel lists.
pub(crate) fn events_state_fields(args: &StateFieldsArgs) -> Vec<FieldRef> {
    vec![
        Arc::new(Field::new(
            format_state_name(args.name, "times"),
            DataType::List(Arc::new(Field::new_list_field(DataType::Int64, false))),
            true,
        )),
        Arc::new(Field::new(
            format_state_name(args.name, "masks"),
            DataType::List(Arc::new(Field::new_list_field(DataType::UInt64, false))),
            true,
        )),
    ]
}

fn state_arrays<'a>(groups: impl Iterator<Item = &'a [Event]> + Clone) -> Vec<ArrayRef> {
    let total: usize = groups.clone().map(|g| g.len()).sum();
    let mut ts = Vec::with_capacity(total);
    let mut masks = Vec::with_capacity(total);
    let mut offsets = vec![0i32];
    for g in groups {
        ts.extend(g.iter().map(|e| e.ts));
        masks.extend(g.iter().map(|e| e.mask));
        offsets.push(ts.len() as i32);
    }
    let offsets = OffsetBuffer::new(offsets.into());
    let ts = ListArray::new(
        Arc::new(Field::new_list_field(DataType::Int64, false)),
        offsets.clone(),
        Arc::new(Int64Array::from(ts)),
        None,
    );
    let masks = ListArray::new(
        Arc::new(Field::new_list_field(DataType::UInt64, false)),
        offsets,
        Arc::new(UInt64Array::from(masks)),
        None,
    );
    vec![Arc::new(ts), Arc::new(masks)]
}

/// Calls `f(row, events)` for each row of a state batch.
fn for_each_state_row(
    states: &[ArrayRef],
    fname: &str,
    mut f: impl FnMut(usize, &[i64], &[u64]),
) -> Result<()> {
    let (Some(ts), Some(masks)) = (
        states[0].as_list_opt::<i32>(),
        states[1].as_list_opt::<i32>(),
    ) else {
        return exec_err!("{fname}: unexpected intermediate state types");
    };
    let ts_values = ts.values().as_primitive::<Int64Type>().values();
    let mask_values = masks.values().as_primitive::<UInt64Type>().values();
    let ts_offsets = ts.value_offsets();
    let mask_offsets = masks.value_offsets();
    for row in 0..ts.len() {
        if ts.is_null(row) {
            continue;
        }
        let (a, b) = (ts_offsets[row] as usize, ts_offsets[row + 1] as usize);
        let (c, d) = (mask_offsets[row] as usize, mask_offsets[row + 1] as usize);
        if b - a != d - c {
            return exec_err!("{fname}: corrupt intermediate state (lists of different lengths)");
        }
        f(row, &ts_values[a..b], &mask_values[c..d]);
    }
    Ok(())
}

/// [`GroupsAccumulator`] that buffers each group's events.
#[derive(Debug)]
pub(crate) struct EventsGroupsAccumulator<F: EventsFinalizer> {
    layout: EventsLayout,
    finalizer: Arc<F>,
    groups: Vec<Vec<Event>>,
    /// Sum of the capacities of the per-group buffers, in events.
    buffered: usize,
}

impl<F: EventsFinalizer> EventsGroupsAccumulator<F> {
    pub(crate) fn new(layout: EventsLayout, finalizer: Arc<F>) -> Self {
        Self {
            layout,
            finalizer,
            groups: Vec::new(),
            buffered: 0,
        }
    }

    fn take(&mut self, emit_to: EmitTo) -> Vec<Vec<Event>> {
        let taken = emit_to.take_needed(&mut self.groups);
        match emit_to {
            EmitTo::All => self.buffered = 0,
            EmitTo::First(_) => {
                let freed: usize = taken.iter().map(|g| g.capacity()).sum();
                self.buffered = self.buffered.saturating_sub(freed);
            }
        }
        taken
    }
}

impl<F: EventsFinalizer> GroupsAccumulator for EventsGroupsAccumulator<F> {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize_with(total_num_groups, Vec::new);
        let layout = self.layout;
        let keep = self.finalizer.keep_unmatched();
        let groups = &mut self.groups;
        let mut grown = 0usize;
        layout.for_each_event(values, keep, opt_filter, |row, ev| {
            let g = &mut groups[group_indices[row]];
            let before = g.capacity();
            g.push(ev);
            grown += g.capacity() - before;
        })?;
        self.buffered += grown;
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let mut taken = self.take(emit_to);
        self.finalizer.evaluate(&mut taken)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let taken = self.take(emit_to);
        Ok(state_arrays(taken.iter().map(|g| g.as_slice())))
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize_with(total_num_groups, Vec::new);
        let mut grown = 0usize;
        let groups = &mut self.groups;
        for_each_state_row(values, self.layout.fname, |row, ts, masks| {
            let g = &mut groups[group_indices[row]];
            let before = g.capacity();
            g.extend(ts.iter().zip(masks).map(|(&ts, &mask)| Event { ts, mask }));
            grown += g.capacity() - before;
        })?;
        self.buffered += grown;
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let n = values[self.layout.time_idx].len();
        let mut rows: Vec<Vec<Event>> = vec![Vec::new(); n];
        self.layout.for_each_event(
            values,
            self.finalizer.keep_unmatched(),
            opt_filter,
            |row, ev| rows[row].push(ev),
        )?;
        Ok(state_arrays(rows.iter().map(|g| g.as_slice())))
    }

    fn size(&self) -> usize {
        self.groups.capacity() * size_of::<Vec<Event>>() + self.buffered * size_of::<Event>()
    }
}

/// [`Accumulator`] for one group (no GROUP BY, or use as a window function).
#[derive(Debug)]
pub(crate) struct EventsAccumulator<F: EventsFinalizer> {
    layout: EventsLayout,
    finalizer: Arc<F>,
    events: Vec<Event>,
}

impl<F: EventsFinalizer> EventsAccumulator<F> {
    pub(crate) fn new(layout: EventsLayout, finalizer: Arc<F>) -> Self {
        Self {
            layout,
            finalizer,
            events: Vec::new(),
        }
    }
}

impl<F: EventsFinalizer> Accumulator for EventsAccumulator<F> {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let events = &mut self.events;
        self.layout
            .for_each_event(values, self.finalizer.keep_unmatched(), None, |_, ev| {
                events.push(ev)
            })
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let array = self
            .finalizer
            .evaluate(std::slice::from_mut(&mut self.events))?;
        ScalarValue::try_from_array(&array, 0)
    }

    fn size(&self) -> usize {
        size_of::<Self>() + self.events.capacity() * size_of::<Event>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        state_arrays(std::iter::once(self.events.as_slice()))
            .into_iter()
            .map(|a| ScalarValue::try_from_array(&a, 0))
            .collect()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let events = &mut self.events;
        for_each_state_row(states, self.layout.fname, |_, ts, masks| {
            events.extend(ts.iter().zip(masks).map(|(&ts, &mask)| Event { ts, mask }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::TimestampMicrosecondArray;

    /// Counts events per group: enough to check buffering, state and merge.
    #[derive(Debug)]
    struct CountEvents;

    impl EventsFinalizer for CountEvents {
        fn keep_unmatched(&self) -> bool {
            false
        }
        fn evaluate(&self, groups: &mut [Vec<Event>]) -> Result<ArrayRef> {
            Ok(Arc::new(Int64Array::from_iter_values(
                groups.iter().map(|g| g.len() as i64),
            )))
        }
    }

    fn layout() -> EventsLayout {
        EventsLayout {
            fname: "test",
            time_idx: 0,
            cond_start: 1,
        }
    }

    fn input() -> Vec<ArrayRef> {
        vec![
            Arc::new(TimestampMicrosecondArray::from(vec![
                Some(1),
                Some(2),
                None,
                Some(4),
            ])),
            Arc::new(BooleanArray::from(vec![
                Some(true),
                Some(false),
                Some(true),
                None,
            ])),
            Arc::new(BooleanArray::from(vec![
                Some(false),
                Some(true),
                Some(true),
                Some(true),
            ])),
        ]
    }

    #[test]
    fn groups_state_merge_roundtrip() -> Result<()> {
        let mut acc = EventsGroupsAccumulator::new(layout(), Arc::new(CountEvents));
        acc.update_batch(&input(), &[0, 1, 0, 1], None, 2)?;
        let state = acc.state(EmitTo::All)?;
        let mut merged = EventsGroupsAccumulator::new(layout(), Arc::new(CountEvents));
        merged.merge_batch(&state, &[1, 1], 2)?;
        let converted = merged.convert_to_state(&input(), None)?;
        merged.merge_batch(&converted, &[0, 0, 0, 0], 2)?;
        let out = merged.evaluate(EmitTo::First(1))?;
        // row 2 has a NULL time and is dropped
        assert_eq!(out.as_primitive::<Int64Type>().values().as_ref(), &[3]);
        let out = merged.evaluate(EmitTo::All)?;
        assert_eq!(out.as_primitive::<Int64Type>().values().as_ref(), &[3]);
        Ok(())
    }

    #[test]
    fn accumulator_state_merge() -> Result<()> {
        let mut a = EventsAccumulator::new(layout(), Arc::new(CountEvents));
        a.update_batch(&input())?;
        let state: Vec<ArrayRef> = a.state()?.iter().map(|s| s.to_array().unwrap()).collect();
        let mut b = EventsAccumulator::new(layout(), Arc::new(CountEvents));
        b.merge_batch(&state)?;
        b.merge_batch(&state)?;
        assert_eq!(b.evaluate()?, ScalarValue::Int64(Some(6)));
        Ok(())
    }
}
