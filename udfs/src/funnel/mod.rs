//! Conversion funnels: `window_funnel` (deepest step reached) and
//! `funnel_step_times` (when each reached step happened). Both take the same
//! arguments and share one kernel (`kernel`).

pub mod funnel_step_times;
mod kernel;
pub mod window_funnel;

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, ListArray, TimestampMicrosecondArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{plan_err, Result};
use datafusion::logical_expr::function::AccumulatorArgs;

use crate::args::{
    coerce_condition, coerce_duration, coerce_time, duration_micros, is_string_type, literal_arg,
    string_literal,
};
use crate::events::{Event, EventsFinalizer, EventsLayout};
use kernel::{FunnelModes, FunnelScratch, FunnelSpec};

/// Index of the time argument: 2 when a mode string is passed, else 1.
fn time_index(arg_types: &[DataType]) -> usize {
    match arg_types.get(1) {
        Some(dt) if is_string_type(dt) => 2,
        _ => 1,
    }
}

/// `(window, [mode,] time, cond1, ..., condN)` → the types to cast to.
fn coerce_funnel_args(fname: &str, arg_types: &[DataType]) -> Result<Vec<DataType>> {
    let time_idx = time_index(arg_types);
    if arg_types.len() < time_idx + 2 {
        return plan_err!(
            "{fname} expects (window, [mode,] time, cond1, ..., condN), got {} argument(s)",
            arg_types.len()
        );
    }
    let conditions = arg_types.len() - time_idx - 1;
    if conditions > 64 {
        return plan_err!(
            "{fname}: at most 32 steps and 32 exclusions, got {conditions} conditions"
        );
    }
    let mut out = Vec::with_capacity(arg_types.len());
    out.push(coerce_duration(&arg_types[0], fname, "window")?);
    if time_idx == 2 {
        out.push(arg_types[1].clone());
    }
    out.push(coerce_time(&arg_types[time_idx], fname)?);
    for (k, dt) in arg_types[time_idx + 1..].iter().enumerate() {
        out.push(coerce_condition(dt, fname, k + 1)?);
    }
    Ok(out)
}

/// Reads the constant window and mode of a call and checks the steps.
fn funnel_spec(fname: &'static str, args: &AccumulatorArgs) -> Result<(EventsLayout, FunnelSpec)> {
    let types: Vec<DataType> = args
        .expr_fields
        .iter()
        .map(|f| f.data_type().clone())
        .collect();
    let time_idx = time_index(&types);
    let window = duration_micros(
        literal_arg(args.exprs, 0, fname, "window")?,
        fname,
        "window",
    )?;
    let modes = if time_idx == 2 {
        FunnelModes::parse(
            &string_literal(literal_arg(args.exprs, 1, fname, "mode")?, fname, "mode")?,
            fname,
        )?
    } else {
        FunnelModes::default()
    };
    let conditions = types.len() - time_idx - 1;
    let spec = FunnelSpec::new(window, conditions, modes, fname)?;
    Ok((
        EventsLayout {
            fname,
            time_idx,
            cond_start: time_idx + 1,
        },
        spec,
    ))
}

/// The coerced time type (microseconds, the input's time zone), for `funnel_step_times`' result.
fn time_type(fname: &str, arg_types: &[DataType]) -> Result<DataType> {
    match arg_types.get(time_index(arg_types)) {
        Some(dt) => coerce_time(dt, fname),
        None => plan_err!("{fname}: missing the time argument"),
    }
}

/// Finalizer of `window_funnel`: the level as Int64.
#[derive(Debug)]
struct LevelFinalizer {
    spec: FunnelSpec,
}

impl EventsFinalizer for LevelFinalizer {
    fn keep_unmatched(&self) -> bool {
        self.spec.modes.strict_order
    }

    fn evaluate(&self, groups: &mut [Vec<Event>]) -> Result<ArrayRef> {
        let mut scratch = FunnelScratch::default();
        let levels = groups
            .iter_mut()
            .map(|g| Ok(self.spec.evaluate(g, &mut scratch)?.level as i64))
            .collect::<Result<Vec<_>>>()?;
        Ok(Arc::new(Int64Array::from(levels)))
    }
}

/// Finalizer of `funnel_step_times`: the step times as a list of timestamps.
#[derive(Debug)]
struct StepTimesFinalizer {
    spec: FunnelSpec,
    time_type: DataType,
}

impl EventsFinalizer for StepTimesFinalizer {
    fn keep_unmatched(&self) -> bool {
        self.spec.modes.strict_order
    }

    fn evaluate(&self, groups: &mut [Vec<Event>]) -> Result<ArrayRef> {
        let mut scratch = FunnelScratch::default();
        let mut offsets = Vec::with_capacity(groups.len() + 1);
        offsets.push(0i32);
        let mut times = Vec::new();
        for g in groups.iter_mut() {
            let r = self.spec.evaluate(g, &mut scratch)?;
            times.extend_from_slice(r.step_times());
            offsets.push(times.len() as i32);
        }
        let values = TimestampMicrosecondArray::from(times).with_data_type(self.time_type.clone());
        Ok(Arc::new(ListArray::try_new(
            Arc::new(Field::new_list_field(self.time_type.clone(), false)),
            OffsetBuffer::new(offsets.into()),
            Arc::new(values),
            None,
        )?))
    }
}
