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
//! # Execution
//!
//! Ordered by its own time argument (`ORDER BY time [ASC]`), `sessionize`
//! is rewritten at planning into a streaming variant that numbers one row
//! at a time, so DataFusion runs it in the bounded window operator and holds
//! one partition (one user) at a time instead of its whole sorted input.
//! Any other window order keeps the whole-partition evaluation above.
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
use std::ops::Range;

use datafusion::common::{plan_err, Result, ScalarValue};
use datafusion::logical_expr::expr::WindowFunction;
use datafusion::logical_expr::function::{
    PartitionEvaluatorArgs, WindowFunctionSimplification, WindowUDFFieldArgs,
};
use datafusion::logical_expr::{
    Expr, PartitionEvaluator, Signature, Volatility, WindowFunctionDefinition, WindowUDF,
    WindowUDFImpl,
};

use crate::args::{coerce_duration, coerce_time, duration_micros, literal_arg, time_array};

const NAME: &str = "sessionize";

/// The `sessionize` window function (see the module docs).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Sessionize {
    signature: Signature,
    /// Whether rows are known to arrive in time order (the streaming variant).
    streaming: bool,
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
            streaming: false,
        }
    }

    /// The variant for a window ordered by the time argument.
    fn streaming() -> Self {
        Self {
            streaming: true,
            ..Self::new()
        }
    }
}

/// `e` without casts: time coercions (timestamp units and zones, DATE to
/// TIMESTAMP) keep the order of values, so a cast argument is still ordered
/// by the uncast column.
fn uncast(e: &Expr) -> &Expr {
    match e {
        Expr::Cast(c) => uncast(&c.expr),
        Expr::TryCast(c) => uncast(&c.expr),
        other => other,
    }
}

/// Whether the window is ordered by the time argument, ascending.
fn ordered_by_time(window: &WindowFunction) -> bool {
    let p = &window.params;
    match (p.args.first(), p.order_by.as_slice()) {
        (Some(time), [key]) => key.asc && uncast(&key.expr) == uncast(time),
        _ => false,
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
        Ok(Box::new(SessionizeEvaluator {
            gap,
            streaming: self.streaming,
            prev: None,
            session: 0,
        }))
    }

    fn simplify(&self) -> Option<WindowFunctionSimplification> {
        if self.streaming {
            return None;
        }
        Some(Box::new(|window, _| {
            if !ordered_by_time(&window) {
                return Ok(Expr::from(window));
            }
            let streaming = Arc::new(WindowUDF::from(Sessionize::streaming()));
            Ok(Expr::from(WindowFunction {
                fun: WindowFunctionDefinition::WindowUDF(streaming),
                params: window.params,
            }))
        }))
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
    /// Rows arrive in time order: evaluated one at a time (bounded execution).
    streaming: bool,
    /// The previous non-NULL time and its session, when streaming.
    prev: Option<i64>,
    session: i64,
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
    fn supports_bounded_execution(&self) -> bool {
        self.streaming
    }

    /// The session of row `range.start`, rows arriving in time order.
    fn evaluate(&mut self, values: &[ArrayRef], range: &Range<usize>) -> Result<ScalarValue> {
        let times = time_array(&values[0], NAME)?;
        let row = range.start;
        if times.is_null(row) {
            return Ok(ScalarValue::Int64(None));
        }
        let t = times.value(row);
        let gap = self.gap as i128;
        if self.prev.is_none_or(|p| t as i128 - p as i128 > gap) {
            self.session += 1;
        }
        self.prev = Some(t);
        Ok(ScalarValue::Int64(Some(self.session)))
    }

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

    /// The physical plan of `sql` over a small `ev(user_id, t)` table.
    async fn physical_plan(sql: &str) -> String {
        use datafusion::physical_plan::displayable;
        let ctx = datafusion::prelude::SessionContext::new();
        crate::register_all(&ctx).unwrap();
        ctx.sql(
            "CREATE TABLE ev(user_id VARCHAR, t TIMESTAMP) AS VALUES ('u', '2024-01-01T10:00:00')",
        )
        .await
        .unwrap();
        let plan = ctx
            .sql(sql)
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap();
        let text = displayable(plan.as_ref()).indent(true).to_string();
        text
    }

    #[tokio::test]
    async fn ordered_by_time_streams_one_partition_at_a_time() {
        for streaming in [
            "SELECT sessionize(t, 60) OVER (PARTITION BY user_id ORDER BY t) FROM ev",
            "SELECT sessionize(t, 60) OVER (PARTITION BY user_id ORDER BY t ASC NULLS FIRST) FROM ev",
            "SELECT sessionize(arrow_cast(t, 'Timestamp(Nanosecond, None)'), 60) \
             OVER (PARTITION BY user_id ORDER BY t) FROM ev",
        ] {
            let plan = physical_plan(streaming).await;
            assert!(plan.contains("BoundedWindowAggExec"), "{streaming}\n{plan}");
        }
        for whole in [
            "SELECT sessionize(t, 60) OVER (PARTITION BY user_id ORDER BY t DESC) FROM ev",
            "SELECT sessionize(t, 60) OVER (PARTITION BY user_id) FROM ev",
            "SELECT sessionize(t, 60) OVER (PARTITION BY user_id ORDER BY user_id) FROM ev",
        ] {
            let plan = physical_plan(whole).await;
            assert!(!plan.contains("BoundedWindowAggExec"), "{whole}\n{plan}");
        }
    }

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
