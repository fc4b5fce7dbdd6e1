//! `funnel_step_times`: when each reached step of a conversion funnel happened.
//!
//! # SQL signature
//!
//! ```text
//! funnel_step_times(window, [mode,] time, cond1, cond2, ..., condN)
//!     -> LIST<TIMESTAMP>   (same unit-normalised type as `time`: microseconds, same time zone)
//! ```
//!
//! Arguments, modes and exclusion steps (`exclude a-b`) are exactly those of
//! [`window_funnel`](super::window_funnel).
//!
//! # Semantics
//!
//! Runs the `window_funnel` search and returns the chain that reached the
//! deepest step: element `k` is the time of step `k+1`, so the list has
//! `window_funnel(...)` elements (empty when step 1 never happened). With
//! the list, time to convert between any two steps is one subtraction. When
//! several chains reach the deepest step, the one found by the search is
//! returned: the first to complete the whole funnel, otherwise the latest to
//! reach the deepest step.
//!
//! # Example
//!
//! ```sql
//! -- events: u1 10:00 view, u1 10:10 cart, u1 10:20 buy; u3 10:00 view, u3 12:00 cart
//! SELECT user_id,
//!        funnel_step_times(INTERVAL '1 hour', time,
//!                          event_type = 'view', event_type = 'cart', event_type = 'buy') AS steps
//! FROM events GROUP BY user_id ORDER BY user_id;
//! -- +---------+------------------------------------------------------------------+
//! -- | user_id | steps                                                            |
//! -- +---------+------------------------------------------------------------------+
//! -- | u1      | [2024-01-01T10:00:00, 2024-01-01T10:10:00, 2024-01-01T10:20:00]  |
//! -- | u3      | [2024-01-01T10:00:00]                                            |
//! -- +---------+------------------------------------------------------------------+
//! -- time to convert from view to cart:  steps[2] - steps[1]
//! ```

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::AggregateOrderSensitivity;
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, GroupsAccumulator, Signature, Volatility,
};

use super::{coerce_funnel_args, funnel_spec, time_type, StepTimesFinalizer};
use crate::events::{
    events_state_fields, EventsAccumulator, EventsGroupsAccumulator, EventsLayout,
};

const NAME: &str = "funnel_step_times";

/// The `funnel_step_times` aggregate function (see the module docs).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FunnelStepTimes {
    signature: Signature,
}

impl Default for FunnelStepTimes {
    fn default() -> Self {
        Self::new()
    }
}

impl FunnelStepTimes {
    /// A new `funnel_step_times`.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }

    fn finalizer(args: &AccumulatorArgs) -> Result<(EventsLayout, Arc<StepTimesFinalizer>)> {
        let (layout, spec) = funnel_spec(NAME, args)?;
        let types: Vec<DataType> = args
            .expr_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        Ok((
            layout,
            Arc::new(StepTimesFinalizer {
                spec,
                time_type: time_type(NAME, &types)?,
            }),
        ))
    }
}

impl AggregateUDFImpl for FunnelStepTimes {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        coerce_funnel_args(NAME, arg_types)
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::List(Arc::new(Field::new_list_field(
            time_type(NAME, arg_types)?,
            false,
        ))))
    }

    fn is_nullable(&self) -> bool {
        false
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
