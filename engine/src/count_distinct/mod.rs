//! Several `COUNT(DISTINCT …)` per group in one pass over the input.
//!
//! The documented engagement query counts three distinct things per user
//! (days, sessions, event types). DataFusion keeps a hash set per group per
//! distinct aggregate; [`crate::multi_distinct`] used to split the query
//! into one aggregate per argument joined on the group key, which reads the
//! events (and joins the users) once per argument. Instead, each plain
//! `COUNT(DISTINCT x)` of such an aggregate becomes
//! `trail_count_distinct(x)` ([`accumulator`]), a groups accumulator that
//! interns each value once ([`values`]) and records which groups saw which
//! value ids for all groups at once (a word of bits per group, the first
//! group of each value, a flat set of `(group, id)` pairs beyond), and the
//! aggregate stays one operator over one scan:
//!
//! ```text
//! Aggregate: groupBy=[user_id], aggr=[trail_count_distinct(utc_date(time)) AS count(DISTINCT …),
//!                                     trail_count_distinct(session_id) AS …, count(*), …]
//!   events
//! ```
//!
//! DataFusion plans a grouped aggregate in two phases: a partial aggregate
//! per input partition, a hash repartition on the group key, and a final
//! aggregate merging the partial states. For a distinct count the partial
//! state is the list of each group's distinct values, about as large as the
//! input when groups are users, and merging it re-inserts every value. So
//! [`SinglePhaseDistinctCount`] turns
//!
//! ```text
//! AggregateExec: mode=FinalPartitioned          AggregateExec: mode=SinglePartitioned
//!   RepartitionExec: Hash([g])           into     RepartitionExec: Hash([g])
//!     AggregateExec: mode=Partial                   input
//!       input
//! ```
//! when the aggregate holds a `trail_count_distinct` or a
//! `trail_ordered_array_agg` (whose partial state, every row's value and
//! order key, is as large as its input too): the input rows are
//! repartitioned by group key and each partition aggregates its own groups
//! completely, once. The cost is the repartitioning of raw rows, and that a
//! partition gets all rows of its groups, so very few groups use few cores.

mod accumulator;
pub(crate) mod keys;
mod values;

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::Result;
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::{AggregateUDF, Expr};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::{ExecutionPlan, Partitioning};

pub(crate) use values::supported;

/// `trail_count_distinct(arg)`, under the name `name` (the replaced
/// aggregate's, which the plan above refers to).
pub(crate) fn count_distinct(arg: Expr, name: String) -> Expr {
    let udaf = Arc::new(AggregateUDF::from(accumulator::CountDistinct::new()));
    Expr::AggregateFunction(AggregateFunction::new_udf(
        udaf,
        vec![arg],
        false,
        None,
        vec![],
        None,
    ))
    .alias(name)
}

/// See the module documentation.
#[derive(Debug, Default)]
pub(crate) struct SinglePhaseDistinctCount;

impl PhysicalOptimizerRule for SinglePhaseDistinctCount {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|plan| {
            Ok(match single_phase(&plan)? {
                Some(single) => Transformed::yes(single),
                None => Transformed::no(plan),
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "trail_single_phase_distinct_count"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// Aggregates whose partial state is about as large as their input.
const INPUT_SIZED_STATES: [&str; 2] = [accumulator::NAME, crate::ordered_array_agg::NAME];

/// The single-phase form of `plan` if it is a final aggregate of one of
/// [`INPUT_SIZED_STATES`] over a hash repartition of its partial aggregate.
fn single_phase(plan: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(last) = plan.downcast_ref::<AggregateExec>() else {
        return Ok(None);
    };
    let input_sized_state = last
        .aggr_expr()
        .iter()
        .any(|a| INPUT_SIZED_STATES.contains(&a.fun().name()));
    if *last.mode() != AggregateMode::FinalPartitioned || !input_sized_state {
        return Ok(None);
    }
    let Some(repartition) = last.input().downcast_ref::<RepartitionExec>() else {
        return Ok(None);
    };
    let Partitioning::Hash(_, partitions) = repartition.partitioning() else {
        return Ok(None);
    };
    let Some(partial) = repartition.input().downcast_ref::<AggregateExec>() else {
        return Ok(None);
    };
    let group_by = partial.group_expr();
    if *partial.mode() != AggregateMode::Partial
        || !group_by.is_single()
        || group_by.is_empty()
        || repartition.preserve_order()
    {
        return Ok(None);
    }
    // The partial aggregate's group expressions, evaluated on its input,
    // are what the final one's key columns hold.
    let by_key = Partitioning::Hash(group_by.input_exprs(), *partitions);
    let rows = Arc::new(RepartitionExec::try_new(
        Arc::clone(partial.input()),
        by_key,
    )?);
    let single = AggregateExec::try_new(
        AggregateMode::SinglePartitioned,
        group_by.clone(),
        partial.aggr_expr().to_vec(),
        partial.filter_expr().to_vec(),
        rows,
        partial.input_schema(),
    )?
    .with_limit_options(last.limit_options());
    Ok(Some(Arc::new(single)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::execution::session_state::SessionStateBuilder;
    use datafusion::prelude::{SessionConfig, SessionContext};

    /// A table with NULLs in every column, a NULL group key, a group of
    /// NULLs only, every kind of value id (narrow, wide, each string
    /// encoding, binary) and a float (not handled: the split remains), and
    /// runs of one value across consecutive rows of different groups.
    const TABLE: &str = "CREATE TABLE t AS SELECT
        CASE WHEN n % 97 = 0 THEN NULL ELSE n % 50 END AS g,
        CASE WHEN n % 50 = 7 THEN 'nulls only' ELSE 'mixed' END AS h,
        CASE WHEN n % 11 = 0 OR n % 50 = 7 THEN NULL ELSE CAST(n / 3 % 40 - 20 AS TINYINT) END AS i8,
        CASE WHEN n % 13 = 0 OR n % 50 = 7 THEN NULL ELSE n * 1000003 % 7919 - 4000 END AS i64,
        CASE WHEN n % 50 = 7 THEN NULL ELSE CAST(n % 23 AS BIGINT UNSIGNED) END AS u64,
        CASE WHEN n % 50 = 7 THEN NULL ELSE CAST(n % 31 AS INT) END AS i32,
        CASE WHEN n % 17 = 0 OR n % 50 = 7 THEN NULL ELSE DATE '2026-01-01' + CAST(n / 7 % 60 AS INT) END AS d,
        CASE WHEN n % 50 = 7 THEN NULL ELSE to_timestamp_micros(n / 5 % 300 * 1000000) END AS ts,
        CASE WHEN n % 19 = 0 OR n % 50 = 7 THEN NULL ELSE 'session-' || CAST(n / 4 % 500 AS VARCHAR) || '-with-a-long-suffix' END AS s,
        CASE WHEN n % 50 = 7 THEN NULL ELSE arrow_cast(CAST(n % 9 AS VARCHAR), 'Utf8View') END AS v,
        CASE WHEN n % 50 = 7 THEN NULL ELSE arrow_cast(CAST(n / 4 % 7 AS VARCHAR), 'Utf8View') END AS w,
        CASE WHEN n % 50 = 7 THEN NULL ELSE arrow_cast(CAST(n / 4 % 7 AS VARCHAR), 'Utf8') END AS s32,
        CASE WHEN n % 50 = 7 THEN NULL ELSE arrow_cast('large-' || CAST(n / 4 % 7 AS VARCHAR), 'LargeUtf8') END AS s64,
        CASE WHEN n % 50 = 7 THEN NULL ELSE CAST(CAST(n % 6 AS VARCHAR) AS BYTEA) END AS b,
        CASE WHEN n % 50 = 7 THEN NULL ELSE n % 4 * 0.5 END AS f
      FROM generate_series(1, 20000) AS r(n)";

    const QUERIES: &[&str] = &[
        "SELECT g, COUNT(*), COUNT(DISTINCT i8), COUNT(DISTINCT i64), COUNT(DISTINCT u64),
                COUNT(DISTINCT i32), COUNT(DISTINCT d), COUNT(DISTINCT ts), COUNT(DISTINCT s),
                COUNT(DISTINCT v), COUNT(DISTINCT b), SUM(i32)
         FROM t GROUP BY g ORDER BY g",
        "SELECT h, g % 3, COUNT(DISTINCT s), COUNT(DISTINCT d) * 10 + COUNT(DISTINCT v)
         FROM t GROUP BY h, g % 3 ORDER BY 1, 2",
        "SELECT g, COUNT(DISTINCT w), COUNT(DISTINCT s32), COUNT(DISTINCT s64), COUNT(DISTINCT i8)
         FROM t GROUP BY g ORDER BY g",
        "SELECT h, COUNT(DISTINCT i64), COUNT(DISTINCT s) FILTER (WHERE i8 > 0)
         FROM t GROUP BY h ORDER BY h",
        "SELECT h, COUNT(DISTINCT f), COUNT(DISTINCT s) FROM t GROUP BY h ORDER BY h",
        "SELECT g, COUNT(DISTINCT s), COUNT(DISTINCT d) FROM t WHERE g IS NULL OR g > 60 GROUP BY g",
        "SELECT COUNT(DISTINCT s), COUNT(DISTINCT d) FROM t",
    ];

    /// How the session plans the aggregate.
    #[derive(Debug, Clone, Copy)]
    enum Mode {
        /// DataFusion's own `COUNT(DISTINCT)`: the reference.
        DataFusion,
        /// `trail_count_distinct` in two phases (partial states merged).
        TwoPhase,
        /// Two phases where the partial phase gives up and converts rows
        /// to states directly.
        SkippedPartial,
        /// One phase over hash-partitioned rows.
        SinglePhase,
        /// One partition: DataFusion's single mode.
        OnePartition,
    }

    async fn run(mode: Mode, sql: &str) -> (String, String) {
        // Small batches: many per partition, so that states merge and the
        // skipped partial phase converts batches after its probe.
        let mut config = SessionConfig::new()
            .with_target_partitions(3)
            .with_batch_size(1000);
        if let Mode::SkippedPartial = mode {
            config = config
                .set_usize(
                    "datafusion.execution.skip_partial_aggregation_probe_rows_threshold",
                    10,
                )
                .set_str(
                    "datafusion.execution.skip_partial_aggregation_probe_ratio_threshold",
                    "0.0",
                );
        }
        if let Mode::OnePartition = mode {
            config = config.with_target_partitions(1);
        }
        let mut state = SessionStateBuilder::new()
            .with_config(config)
            .with_default_features();
        if let Mode::SinglePhase = mode {
            state = state.with_physical_optimizer_rule(Arc::new(SinglePhaseDistinctCount));
        }
        let ctx = SessionContext::new_with_state(state.build());
        if !matches!(mode, Mode::DataFusion) {
            ctx.add_optimizer_rule(Arc::new(crate::multi_distinct::MultiDistinctCount));
        }
        ctx.sql(TABLE).await.unwrap().collect().await.unwrap();
        let df = ctx.sql(sql).await.unwrap();
        let plan = df.clone().create_physical_plan().await.unwrap();
        let plan_text = datafusion::physical_plan::displayable(plan.as_ref())
            .indent(true)
            .to_string();
        let batches = df.collect().await.unwrap();
        (
            pretty_format_batches(&batches).unwrap().to_string(),
            plan_text,
        )
    }

    #[tokio::test]
    async fn agrees_with_datafusion_in_every_mode() {
        for sql in QUERIES {
            let (expected, _) = run(Mode::DataFusion, sql).await;
            for mode in [
                Mode::TwoPhase,
                Mode::SkippedPartial,
                Mode::SinglePhase,
                Mode::OnePartition,
            ] {
                let (got, plan) = run(mode, sql).await;
                assert_eq!(got, expected, "{mode:?}: {sql}\n{plan}");
            }
        }
    }

    #[tokio::test]
    async fn plans_one_phase_only_for_trail_count_distinct() {
        let (_, plan) = run(Mode::SinglePhase, QUERIES[0]).await;
        assert!(plan.contains("trail_count_distinct"), "{plan}");
        assert!(plan.contains("mode=SinglePartitioned"), "{plan}");
        assert!(!plan.contains("mode=Partial"), "{plan}");
        assert!(!plan.contains("HashJoinExec"), "{plan}");
        let (_, two) = run(Mode::TwoPhase, QUERIES[0]).await;
        assert!(two.contains("mode=Partial"), "{two}");
        // FILTER keeps DataFusion's aggregate; so do floats (split instead).
        for sql in [QUERIES[3], QUERIES[4]] {
            let (_, plan) = run(Mode::SinglePhase, sql).await;
            assert!(!plan.contains("trail_count_distinct"), "{sql}\n{plan}");
        }
    }
}
