//! Trail's behavioural SQL functions for DataFusion: sessions, funnels,
//! event sequences and retention, with ClickHouse's semantics.
//!
//! ```text
//!   sessionize(time, gap) OVER (PARTITION BY user ORDER BY time)   window  → session number
//!   window_funnel(window, [mode,] time, cond1..condN)              aggregate → deepest step
//!   funnel_step_times(window, [mode,] time, cond1..condN)          aggregate → step times
//!   sequence_match(pattern, time, cond1..condN)                    aggregate → bool
//!   sequence_count(pattern, time, cond1..condN)                    aggregate → count
//!   retention(cond1..condN)                                        aggregate → [bool; N]
//! ```
//!
//! Where it sits: the engine registers these on every `SessionContext`
//! ([`register_all`]); the storage layer uses `sessionize` to derive sessions.
//!
//! How the aggregates work: each group buffers one compact `(time µs,
//! condition bitmask)` pair per relevant row (module `events`), merges partial
//! states by concatenation, and sorts once at evaluation, so results do not
//! depend on the order rows arrive in. `retention` keeps a single bitmask per
//! group. All aggregates implement `GroupsAccumulator` (one group per user is
//! the normal case) as well as `Accumulator`.
//!
//! Conventions shared by every function:
//! - the time argument may be a TIMESTAMP of any unit, with or without a time
//!   zone, or a DATE; it is normalised to microseconds;
//! - durations (funnel windows, session gaps) are an INTERVAL without months
//!   or a number of seconds; sequence patterns count seconds (`(?t>=3600)`);
//! - a NULL condition is FALSE and a row with a NULL time is ignored.
//!   ClickHouse instead drops a row in which *any* argument is NULL; with
//!   Trail's sparse event properties that would silently drop a step's event
//!   because an unrelated condition was NULL.
//!
//! See `udfs/README.md` for the functions' reference, including funnel
//! exclusion steps (`'exclude a-b'`).

pub mod cohort;
pub mod funnel;
pub mod sequence;
pub mod session;

mod args;
mod events;

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::{AggregateUDF, WindowUDF};
use datafusion::prelude::SessionContext;

pub use cohort::retention::Retention;
pub use funnel::funnel_step_times::FunnelStepTimes;
pub use funnel::window_funnel::WindowFunnel;
pub use sequence::sequence_count::SequenceCount;
pub use sequence::sequence_match::SequenceMatch;
pub use session::sessionize::Sessionize;

/// Every function of this crate, for registering them somewhere else than a `SessionContext`.
#[derive(Debug, Clone)]
pub struct Functions {
    /// `window_funnel`, `funnel_step_times`, `sequence_match`, `sequence_count`, `retention`.
    pub aggregates: Vec<Arc<AggregateUDF>>,
    /// `sessionize`.
    pub windows: Vec<Arc<WindowUDF>>,
}

/// All of Trail's behavioural functions.
pub fn functions() -> Functions {
    Functions {
        aggregates: vec![
            Arc::new(AggregateUDF::from(WindowFunnel::new())),
            Arc::new(AggregateUDF::from(FunnelStepTimes::new())),
            Arc::new(AggregateUDF::from(SequenceMatch::new())),
            Arc::new(AggregateUDF::from(SequenceCount::new())),
            Arc::new(AggregateUDF::from(Retention::new())),
        ],
        windows: vec![Arc::new(WindowUDF::from(Sessionize::new()))],
    }
}

/// Registers every function on `ctx`.
pub fn register_all(ctx: &SessionContext) -> Result<()> {
    let Functions {
        aggregates,
        windows,
    } = functions();
    for udaf in aggregates {
        ctx.register_udaf(Arc::unwrap_or_clone(udaf));
    }
    for udwf in windows {
        ctx.register_udwf(Arc::unwrap_or_clone(udwf));
    }
    Ok(())
}

/// Registers every function on any [`FunctionRegistry`] (a `SessionState`, for instance).
pub fn register_all_in(registry: &mut dyn FunctionRegistry) -> Result<()> {
    let Functions {
        aggregates,
        windows,
    } = functions();
    for udaf in aggregates {
        registry.register_udaf(udaf)?;
    }
    for udwf in windows {
        registry.register_udwf(udwf)?;
    }
    Ok(())
}
