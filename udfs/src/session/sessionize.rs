//! `sessionize`: number each event's session within its partition.
//!
//! # SQL signature
//!
//! ```text
//! sessionize(time, gap) OVER (PARTITION BY user_id ORDER BY time) -> BIGINT
//!   time  TIMESTAMP (any unit, with or without time zone) | DATE
//!   gap   constant INTERVAL (no months) | seconds (integer or float), >= 0
//! ```
//!
//! # Semantics
//!
//! Within each partition, events are taken in time order; the first starts
//! session 1 and every event more than `gap` after the previous event
//! (strictly: a gap of exactly `gap` stays in the session) starts the next
//! session. Events at the same time share a session. A row with a NULL time
//! gets NULL and does not affect the others. The numbering is computed from
//! the times themselves, so it is right even when the window's `ORDER BY` is
//! missing or different (rows already in time order take a single pass).
//!
//! # Example
//!
//! ```sql
//! -- events: u1 10:00, 10:20, 11:00, 11:05; u2 09:00
//! SELECT user_id, time,
//!        sessionize(time, INTERVAL '30 minutes')
//!          OVER (PARTITION BY user_id ORDER BY time) AS session
//! FROM events ORDER BY user_id, time;
//! -- +---------+---------------------+---------+
//! -- | user_id | time                | session |
//! -- +---------+---------------------+---------+
//! -- | u1      | 2024-01-01T10:00:00 | 1       |
//! -- | u1      | 2024-01-01T10:20:00 | 1       |
//! -- | u1      | 2024-01-01T11:00:00 | 2       |
//! -- | u1      | 2024-01-01T11:05:00 | 2       |
//! -- | u2      | 2024-01-01T09:00:00 | 1       |
//! -- +---------+---------------------+---------+
//! ```

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Int64Array};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{plan_err, Result};
use datafusion::logical_expr::function::{PartitionEvaluatorArgs, WindowUDFFieldArgs};
use datafusion::logical_expr::{PartitionEvaluator, Signature, Volatility, WindowUDFImpl};

use crate::args::{coerce_duration, coerce_time, duration_micros, literal_arg, time_array};

const NAME: &str = "sessionize";

/// The `sessionize` window function (see the module docs).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Sessionize {
    signature: Signature,
}

impl Default for Sessionize {
    fn default() -> Self {
        Self::new()
    }
}

impl Sessionize {
    /// A new `sessionize`.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl WindowUDFImpl for Sessionize {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        match arg_types {
            [time, gap] => Ok(vec![
                coerce_time(time, NAME)?,
                coerce_duration(gap, NAME, "gap")?,
            ]),
            _ => plan_err!(
                "{NAME} expects (time, gap), got {} argument(s)",
                arg_types.len()
            ),
        }
    }

    fn partition_evaluator(
        &self,
        args: PartitionEvaluatorArgs,
    ) -> Result<Box<dyn PartitionEvaluator>> {
        let gap = duration_micros(
            literal_arg(args.input_exprs(), 1, NAME, "gap")?,
            NAME,
            "gap",
        )?;
        Ok(Box::new(SessionizeEvaluator { gap }))
    }

    fn field(&self, field_args: WindowUDFFieldArgs) -> Result<FieldRef> {
        Ok(Arc::new(Field::new(
            field_args.name(),
            DataType::Int64,
            true,
        )))
    }
}

#[derive(Debug)]
struct SessionizeEvaluator {
    /// Microseconds.
    gap: i64,
}

/// Session numbers (1-based) for one partition's `times` (µs since the epoch,
/// `None` = NULL), in input order; `gap` in µs. The kernel of `sessionize`,
/// for Rust callers that derive sessions without SQL (the storage layer).
pub fn session_numbers(times: &[Option<i64>], gap: i64) -> Vec<Option<i64>> {
    let starts_new = |prev: i64, t: i64| (t as i128 - prev as i128) > gap as i128;
    let sorted = times.iter().flatten().is_sorted();
    let mut out = vec![None; times.len()];
    let mut session = 0i64;
    let mut prev: Option<i64> = None;
    let mut assign = |row: usize, t: i64| {
        if prev.is_none_or(|p| starts_new(p, t)) {
            session += 1;
        }
        prev = Some(t);
        out[row] = Some(session);
    };
    if sorted {
        for (row, t) in times.iter().enumerate() {
            if let Some(t) = *t {
                assign(row, t);
            }
        }
    } else {
        let mut order: Vec<(i64, usize)> = times
            .iter()
            .enumerate()
            .filter_map(|(r, t)| t.map(|t| (t, r)))
            .collect();
        order.sort_unstable();
        for (t, row) in order {
            assign(row, t);
        }
    }
    out
}

impl PartitionEvaluator for SessionizeEvaluator {
    fn evaluate_all(&mut self, values: &[ArrayRef], num_rows: usize) -> Result<ArrayRef> {
        let times = time_array(&values[0], NAME)?;
        let times: Vec<Option<i64>> = if times.null_count() == 0 {
            times.values().iter().map(|&t| Some(t)).collect()
        } else {
            times.iter().collect()
        };
        debug_assert_eq!(times.len(), num_rows);
        Ok(Arc::new(Int64Array::from(session_numbers(
            &times, self.gap,
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    #[test]
    fn gaps_strictly_exceeded() {
        let t = [
            Some(0),
            Some(30 * S),
            Some(61 * S),
            Some(61 * S),
            Some(200 * S),
        ];
        assert_eq!(
            session_numbers(&t, 30 * S),
            vec![Some(1), Some(1), Some(2), Some(2), Some(3)]
        );
        assert_eq!(
            session_numbers(&t, 0),
            vec![Some(1), Some(2), Some(3), Some(3), Some(4)]
        );
    }

    #[test]
    fn nulls_and_unsorted_input() {
        let t = [Some(200 * S), None, Some(0), Some(10 * S)];
        assert_eq!(
            session_numbers(&t, 30 * S),
            vec![Some(2), None, Some(1), Some(1)]
        );
        assert_eq!(session_numbers(&[], S), vec![]);
        assert_eq!(session_numbers(&[None], S), vec![None]);
    }

    #[test]
    fn extreme_times_do_not_overflow() {
        let t = [Some(i64::MIN), Some(i64::MAX)];
        assert_eq!(session_numbers(&t, S), vec![Some(1), Some(2)]);
    }
}
