//! Event-sequence patterns: `sequence_match` and `sequence_count`, with
//! ClickHouse's pattern syntax (`pattern`).

mod pattern;
pub mod sequence_count;
pub mod sequence_match;

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, Int64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{plan_err, Result};
use datafusion::logical_expr::function::AccumulatorArgs;

use crate::args::{coerce_condition, coerce_time, is_string_type, literal_arg, string_literal};
use crate::events::{Event, EventsFinalizer, EventsLayout};
use pattern::Pattern;

/// At most this many conditions (ClickHouse's limit too).
const MAX_CONDITIONS: usize = 32;

/// `(pattern, time, cond1, cond2, ...)` → the types to cast to.
fn coerce_sequence_args(fname: &str, arg_types: &[DataType]) -> Result<Vec<DataType>> {
    if arg_types.len() < 4 {
        return plan_err!(
            "{fname} expects (pattern, time, cond1, cond2, ...) with at least 2 conditions, got {} argument(s)",
            arg_types.len()
        );
    }
    if arg_types.len() - 2 > MAX_CONDITIONS {
        return plan_err!(
            "{fname}: at most {MAX_CONDITIONS} conditions, got {}",
            arg_types.len() - 2
        );
    }
    if !is_string_type(&arg_types[0]) {
        return plan_err!(
            "{fname}: the pattern must be a string, got {}",
            arg_types[0]
        );
    }
    let mut out = vec![arg_types[0].clone(), coerce_time(&arg_types[1], fname)?];
    for (k, dt) in arg_types[2..].iter().enumerate() {
        out.push(coerce_condition(dt, fname, k + 1)?);
    }
    Ok(out)
}

/// Reads and parses the constant pattern of a call.
fn sequence_pattern(
    fname: &'static str,
    args: &AccumulatorArgs,
) -> Result<(EventsLayout, Pattern)> {
    let text = string_literal(
        literal_arg(args.exprs, 0, fname, "pattern")?,
        fname,
        "pattern",
    )?;
    let pattern = Pattern::parse(&text, args.exprs.len() - 2, fname)?;
    Ok((
        EventsLayout {
            fname,
            time_idx: 1,
            cond_start: 2,
        },
        pattern,
    ))
}

/// Sorts a group's events by time (ties by condition bitmask, so the result
/// never depends on arrival order) and returns the conditions met at all.
fn prepare(events: &mut [Event]) -> u64 {
    events.sort_unstable();
    events.iter().fold(0, |m, e| m | e.mask)
}

/// Finalizer of `sequence_match`.
#[derive(Debug)]
struct MatchFinalizer {
    pattern: Pattern,
}

impl EventsFinalizer for MatchFinalizer {
    fn keep_unmatched(&self) -> bool {
        false
    }

    fn evaluate(&self, groups: &mut [Vec<Event>]) -> Result<ArrayRef> {
        let out = groups
            .iter_mut()
            .map(|g| {
                let met = prepare(g);
                if !self.pattern.could_match(met) {
                    return Ok(false);
                }
                self.pattern.matches(g)
            })
            .collect::<Result<Vec<bool>>>()?;
        Ok(Arc::new(BooleanArray::from(out)))
    }
}

/// Finalizer of `sequence_count`.
#[derive(Debug)]
struct CountFinalizer {
    pattern: Pattern,
}

impl EventsFinalizer for CountFinalizer {
    fn keep_unmatched(&self) -> bool {
        false
    }

    fn evaluate(&self, groups: &mut [Vec<Event>]) -> Result<ArrayRef> {
        let out = groups
            .iter_mut()
            .map(|g| {
                let met = prepare(g);
                if !self.pattern.could_match(met) {
                    return Ok(0);
                }
                Ok(self.pattern.count(g)? as i64)
            })
            .collect::<Result<Vec<i64>>>()?;
        Ok(Arc::new(Int64Array::from(out)))
    }
}
