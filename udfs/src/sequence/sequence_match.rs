//! `sequence_match`: whether a group's events contain a pattern.
//!
//! # SQL signature
//!
//! ```text
//! sequence_match(pattern, time, cond1, cond2, ..., condN) -> BOOLEAN
//!   pattern  constant string, ClickHouse pattern syntax
//!   time     TIMESTAMP (any unit, with or without time zone) | DATE
//!   condK    BOOLEAN, 2 <= N <= 32
//! ```
//!
//! # Semantics (ClickHouse `sequenceMatch`)
//!
//! Only rows where at least one condition holds are events; they are ordered
//! by time. The pattern may match anywhere in that sequence:
//!
//! - `(?N)` an event where condition `N` holds;
//! - `.` any one event, `.*` any number of events;
//! - `(?t<=S)`, `(?t<S)`, `(?t>=S)`, `(?t>S)`, `(?t==S)` — the time since
//!   the previously matched event, in seconds.
//!
//! A NULL condition counts as FALSE and a row with a NULL time is ignored.
//! Events with the same time are ordered by which conditions they meet
//! (lowest condition first), so results never depend on arrival order;
//! ClickHouse keeps arrival order there.
//!
//! # Example
//!
//! ```sql
//! -- events: u1 10:00 view, u1 10:30 buy; u2 10:00 view, u2 12:00 buy; u3 10:00 buy
//! SELECT user_id,
//!        sequence_match('(?1).*(?2)', time, event_type = 'view', event_type = 'buy') AS bought,
//!        sequence_match('(?1)(?t<=3600)(?2)', time,
//!                       event_type = 'view', event_type = 'buy') AS within_hour
//! FROM events GROUP BY user_id ORDER BY user_id;
//! -- +---------+--------+-------------+
//! -- | user_id | bought | within_hour |
//! -- +---------+--------+-------------+
//! -- | u1      | true   | true        |
//! -- | u2      | true   | false       |
//! -- | u3      | false  | false       |
//! -- +---------+--------+-------------+
//! ```

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::AggregateOrderSensitivity;
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, GroupsAccumulator, Signature, Volatility,
};

use super::{coerce_sequence_args, sequence_pattern, MatchFinalizer};
use crate::events::{
    events_state_fields, EventsAccumulator, EventsGroupsAccumulator, EventsLayout,
};

const NAME: &str = "sequence_match";

/// The `sequence_match` aggregate function (see the module docs).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SequenceMatch {
    signature: Signature,
}

impl Default for SequenceMatch {
    fn default() -> Self {
        Self::new()
    }
}

impl SequenceMatch {
    /// A new `sequence_match`.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    fn finalizer(args: &AccumulatorArgs) -> Result<(EventsLayout, Arc<MatchFinalizer>)> {
        let (layout, pattern) = sequence_pattern(NAME, args)?;
        Ok((layout, Arc::new(MatchFinalizer { pattern })))
    }
}

impl AggregateUDFImpl for SequenceMatch {
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
        Ok(DataType::Boolean)
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn default_value(&self, _data_type: &DataType) -> Result<ScalarValue> {
        Ok(ScalarValue::Boolean(Some(false)))
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
