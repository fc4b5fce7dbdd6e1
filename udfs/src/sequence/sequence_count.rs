//! `sequence_count`: how many times a pattern occurs in a group's events.
//!
//! # SQL signature
//!
//! ```text
//! sequence_count(pattern, time, cond1, cond2, ..., condN) -> BIGINT
//!   pattern  constant string, ClickHouse pattern syntax
//!   time     TIMESTAMP (any unit, with or without time zone) | DATE
//!   condK    BOOLEAN, 2 <= N <= 32
//! ```
//!
//! # Semantics (ClickHouse `sequenceCount`)
//!
//! Only rows where at least one condition holds are events; they are ordered
//! by time. The pattern may match anywhere in that sequence:
//!
//! - `(?N)` an event where condition `N` holds;
//! - `.` any one event, `.*` any number of events;
//! - `(?t<=S)`, `(?t<S)`, `(?t>=S)`, `(?t>S)`, `(?t==S)` — the time since
//!   the previously matched event, in seconds.
//!
//! Counts non-overlapping matches, scanning left to right: after a match the
//! search resumes at the event following the match. The pattern language and
//! event rules are those of [`sequence_match`](super::sequence_match): only
//! rows where a condition holds are events, a NULL condition is FALSE, a NULL
//! time drops the row, and ties in time are ordered by the conditions met.
//!
//! # Example
//!
//! ```sql
//! -- events: u1 10:00 view, 10:01 buy, 10:02 view, 10:03 view, 10:04 buy; u2 10:00 buy
//! SELECT user_id,
//!        sequence_count('(?1)(?2)', time, event_type = 'view', event_type = 'buy') AS adjacent,
//!        sequence_count('(?1)(?t>60)(?2)', time,
//!                       event_type = 'view', event_type = 'buy') AS slow
//! FROM events GROUP BY user_id ORDER BY user_id;
//! -- +---------+----------+------+
//! -- | user_id | adjacent | slow |
//! -- +---------+----------+------+
//! -- | u1      | 2        | 1    |
//! -- | u2      | 0        | 0    |
//! -- +---------+----------+------+
//! ```

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::AggregateOrderSensitivity;
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, GroupsAccumulator, Signature, Volatility,
};

use super::{coerce_sequence_args, sequence_pattern, CountFinalizer};
use crate::events::{
    events_state_fields, EventsAccumulator, EventsGroupsAccumulator, EventsLayout,
};

const NAME: &str = "sequence_count";

/// The `sequence_count` aggregate function (see the module docs).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SequenceCount {
    signature: Signature,
}

impl Default for SequenceCount {
    fn default() -> Self {
        Self::new()
    }
}

impl SequenceCount {
    /// A new `sequence_count`.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    fn finalizer(args: &AccumulatorArgs) -> Result<(EventsLayout, Arc<CountFinalizer>)> {
        let (layout, pattern) = sequence_pattern(NAME, args)?;
        Ok((layout, Arc::new(CountFinalizer { pattern })))
    }
}

impl AggregateUDFImpl for SequenceCount {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_sequence_args(NAME, arg_types)
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn default_value(&self, _data_type: &DataType) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(Some(0)))
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let (layout, finalizer) = Self::finalizer(&args)?;
        Ok(Box::new(EventsAccumulator::new(layout, finalizer)))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(events_state_fields(&args))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        let (layout, finalizer) = Self::finalizer(&args)?;
        Ok(Box::new(EventsGroupsAccumulator::new(layout, finalizer)))
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        AggregateOrderSensitivity::Insensitive
    }
}
