//! `ARRAY_AGG(x ORDER BY time)` without sorting the input.
//!
//! DataFusion plans an ordered `ARRAY_AGG` by sorting its whole input on the
//! order key and then keeps one `ScalarValue` per aggregated row, sorting
//! each group's rows again as it merges partial states. For the documented
//! conversion-paths query (one event sequence per user over millions of
//! events) that was most of the time and gigabytes of memory. This rule
//! replaces
//!
//! ```text
//! array_agg(x ORDER BY k [ASC|DESC] [NULLS FIRST|LAST]) [FILTER (…)] [IGNORE NULLS]
//! ```
//!
//! with `trail_ordered_array_agg(x, k)` (module [`accumulator`]) under the
//! same output name, when `k` is one integer-like key (timestamp, date,
//! integer) and the aggregate is not `DISTINCT`. Rows whose keys tie keep
//! the order they arrived in, as they do in an unstable sort; BigQuery leaves
//! that order unspecified too.

mod accumulator;

use std::sync::Arc;

use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::{Aggregate, AggregateUDF, Expr, ExprSchemable, LogicalPlan};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

pub(crate) use accumulator::NAME;
use accumulator::{supported_order_key, OrderedArrayAgg};

/// See the module documentation.
#[derive(Debug, Default)]
pub(crate) struct OrderedArrayAggRule;

/// The replacement of `expr` if it is an ordered `ARRAY_AGG` this module computes.
fn replacement(expr: &Expr, input: &DFSchema) -> Result<Option<Expr>> {
    // Parents refer to the aggregate's output by this name.
    let name = expr.schema_name().to_string();
    let inner = match expr {
        Expr::Alias(a) => a.expr.as_ref(),
        e => e,
    };
    let Expr::AggregateFunction(f) = inner else {
        return Ok(None);
    };
    let p = &f.params;
    if f.func.name() != "array_agg" || p.distinct || p.args.len() != 1 || p.order_by.len() != 1 {
        return Ok(None);
    }
    let key = &p.order_by[0];
    if !supported_order_key(&key.expr.get_type(input)?) {
        return Ok(None);
    }
    let udaf = AggregateUDF::from(OrderedArrayAgg::new(!key.asc, key.nulls_first));
    let call = Expr::AggregateFunction(AggregateFunction::new_udf(
        Arc::new(udaf),
        vec![p.args[0].clone(), key.expr.clone()],
        false,
        p.filter.clone(),
        vec![],
        p.null_treatment,
    ));
    Ok(Some(call.alias(name)))
}

impl OptimizerRule for OrderedArrayAggRule {
    fn name(&self) -> &str {
        "trail_ordered_array_agg"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Aggregate(agg) = &plan else {
            return Ok(Transformed::no(plan));
        };
        let mut changed = false;
        let mut aggr_expr = Vec::with_capacity(agg.aggr_expr.len());
        for e in &agg.aggr_expr {
            match replacement(e, agg.input.schema())? {
                Some(r) => {
                    changed = true;
                    aggr_expr.push(r);
                }
                None => aggr_expr.push(e.clone()),
            }
        }
        if !changed {
            return Ok(Transformed::no(plan));
        }
        let rewritten =
            Aggregate::try_new(Arc::clone(&agg.input), agg.group_expr.clone(), aggr_expr)?;
        Ok(Transformed::yes(LogicalPlan::Aggregate(rewritten)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    async fn optimized(sql: &str) -> String {
        let ctx = SessionContext::new();
        ctx.add_optimizer_rule(Arc::new(OrderedArrayAggRule));
        ctx.sql("CREATE TABLE t(u VARCHAR, e VARCHAR, ts TIMESTAMP, s VARCHAR) AS VALUES ('u', 'e', NULL, 's')")
            .await
            .unwrap();
        let plan = ctx.sql(sql).await.unwrap().into_optimized_plan().unwrap();
        let text = plan.display_indent().to_string();
        text
    }

    #[tokio::test]
    async fn replaces_array_agg_ordered_by_one_integer_like_key() {
        for rewritten in [
            "SELECT u, ARRAY_AGG(e ORDER BY ts) FROM t GROUP BY u",
            "SELECT u, ARRAY_AGG(e ORDER BY ts DESC NULLS LAST) FILTER (WHERE e <> 'x') FROM t GROUP BY u",
            "SELECT ARRAY_AGG(e ORDER BY CAST(ts AS DATE)) FROM t",
        ] {
            let plan = optimized(rewritten).await;
            assert!(plan.contains("trail_ordered_array_agg"), "{rewritten}\n{plan}");
        }
        for unchanged in [
            "SELECT u, ARRAY_AGG(e) FROM t GROUP BY u",
            "SELECT u, ARRAY_AGG(e ORDER BY s) FROM t GROUP BY u",
            "SELECT u, ARRAY_AGG(e ORDER BY ts, s) FROM t GROUP BY u",
            "SELECT u, ARRAY_AGG(DISTINCT e ORDER BY e) FROM t GROUP BY u",
        ] {
            let plan = optimized(unchanged).await;
            assert!(
                !plan.contains("trail_ordered_array_agg"),
                "{unchanged}\n{plan}"
            );
        }
    }
}
