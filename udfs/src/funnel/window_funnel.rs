//! `window_funnel`: the deepest step of a conversion funnel a group reached.
//!
//! # SQL signature
//!
//! ```text
//! window_funnel(window, [mode,] time, cond1, cond2, ..., condN) -> BIGINT
//!   window  INTERVAL (no months) | seconds (integer or float), constant
//!   mode    constant string of comma-separated modes, optional
//!   time    TIMESTAMP (any unit, with or without time zone) | DATE
//!   condK   BOOLEAN, N <= 32 steps (plus up to 32 exclusion conditions)
//! ```
//!
//! # Semantics (ClickHouse `windowFunnel`)
//!
//! Rows are ordered by time, and within one time by step number. A chain
//! starts at a row where `cond1` holds; step `k+1` extends a chain that reached
//! step `k` when its time is at most `window` after the chain's **first** step
//! (inclusive). Another `cond1` row restarts the level-1 chain, while chains
//! already deeper keep going. The result is the deepest step reached, 0 when
//! `cond1` never held. One row may satisfy several steps at once, unless a mode
//! forbids it. A NULL condition counts as FALSE; a row with a NULL time is
//! ignored. Ties are broken by step number, so the result never depends on
//! the order rows arrive in.
//!
//! Modes:
//! - `strict_order` — any row that matches no step, or a step whose previous
//!   step was not reached, ends the search.
//! - `strict_deduplication` — a step repeated (while already reached) ends the search.
//! - `strict_increase` — each step must be strictly later than the previous one.
//! - `strict_once` — a row counts for at most one step of a chain.
//! - `allow_reentry` (with `strict_order`) — a too-early later step is skipped
//!   instead of ending the search.
//! - `exclude a-b` (Trail) — **exclusion step**: the next *trailing* condition
//!   argument is an exclusion. An attempt (chain) in which a row matching it
//!   happens strictly after step `a` and strictly before step `b` (within the
//!   window) is discarded whole, its first steps included: a user whose only
//!   attempt contains the excluded event is dropped from the funnel (result 0),
//!   while another, clean attempt still counts. Several `exclude` tokens take
//!   the trailing conditions in order. See `udfs/README.md`.
//!
//! # Example
//!
//! ```sql
//! -- events(user_id, time, event_type):
//! --  u1 10:00 view, u1 10:10 cart, u1 10:20 buy
//! --  u2 10:00 view, u2 10:05 help, u2 10:10 cart, u2 10:20 buy
//! --  u3 10:00 view, u3 12:00 cart
//! SELECT user_id,
//!        window_funnel(INTERVAL '1 hour', time,
//!                      event_type = 'view', event_type = 'cart', event_type = 'buy') AS level,
//!        window_funnel(INTERVAL '1 hour', 'strict_order', time,
//!                      event_type = 'view', event_type = 'cart', event_type = 'buy') AS strict,
//!        window_funnel(INTERVAL '1 hour', 'exclude 1-3', time,
//!                      event_type = 'view', event_type = 'cart', event_type = 'buy',
//!                      event_type = 'help') AS no_help
//! FROM events GROUP BY user_id ORDER BY user_id;
//! -- +---------+-------+--------+---------+
//! -- | user_id | level | strict | no_help |
//! -- +---------+-------+--------+---------+
//! -- | u1      | 3     | 3      | 3       |
//! -- | u2      | 3     | 1      | 0       |
//! -- | u3      | 1     | 1      | 1       |
//! -- +---------+-------+--------+---------+
//! ```

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::AggregateOrderSensitivity;
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, GroupsAccumulator, Signature, Volatility,
};
use datafusion::scalar::ScalarValue;

use super::{coerce_funnel_args, funnel_spec, LevelFinalizer};
use crate::events::{events_state_fields, EventsAccumulator, EventsGroupsAccumulator};

const NAME: &str = "window_funnel";

/// The `window_funnel` aggregate function (see the module docs).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct WindowFunnel {
    signature: Signature,
}

impl Default for WindowFunnel {
    fn default() -> Self {
        Self::new()
    }
}

impl WindowFunnel {
    /// A new `window_funnel`.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    fn finalizer(
        args: &AccumulatorArgs,
    ) -> Result<(crate::events::EventsLayout, Arc<LevelFinalizer>)> {
        let (layout, spec) = funnel_spec(NAME, args)?;
        Ok((layout, Arc::new(LevelFinalizer { spec })))
    }
}

impl AggregateUDFImpl for WindowFunnel {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_funnel_args(NAME, arg_types)
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
