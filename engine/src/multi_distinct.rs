//! Several `COUNT(DISTINCT …)` in one grouped aggregate.
//!
//! DataFusion keeps a hash set per group per `COUNT(DISTINCT x)` (a
//! specialised accumulator exists only for integers), so the documented
//! engagement query — three distinct counts per user — spent its time and
//! memory on millions of tiny sets. When every distinct argument has a type
//! [`crate::count_distinct`] handles (integers, dates, times, timestamps,
//! strings, binary), this rule replaces each `COUNT(DISTINCT x)` with
//! `trail_count_distinct(x)` under the same name: one aggregate, one pass
//! over the input (see that module).
//!
//! Otherwise (say, a `COUNT(DISTINCT)` of floats or decimals) it rewrites
//!
//! ```text
//! Aggregate: groupBy=[g], aggr=[count(*), count(DISTINCT a), count(DISTINCT b)]
//!   input
//! ```
//! into
//! ```text
//! Projection: g, count(*), coalesce(da.n, 0), coalesce(db.n, 0)   -- the same names
//!   Left Join (null-safe on g)
//!     Left Join (null-safe on g)
//!       Aggregate: groupBy=[g], aggr=[count(*)]                     -- every group
//!         input
//!       Aggregate: groupBy=[g], aggr=[count(a) AS n]                -- da
//!         Aggregate: groupBy=[g, a]                                 -- (g, a) pairs
//!           Filter: a IS NOT NULL
//!             input
//!     … the same for b (db)
//! ```
//! Distinct pairs are rows of an ordinary hash aggregate, which is what
//! DuckDB and ClickHouse do; the input is evaluated once per branch, so
//! this form needs a deterministic input.
//!
//! Either way the rule applies only to grouped aggregates and when every
//! distinct aggregate is a plain `COUNT(DISTINCT x)` (no `FILTER`) over two
//! or more different arguments (a single one is DataFusion's
//! `SingleDistinctToGroupBy`).

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, NullEquality, Result, ScalarValue};
use datafusion::functions::core::expr_fn::coalesce;
use datafusion::functions_aggregate::count::count;
use datafusion::logical_expr::{
    col, Aggregate, Expr, ExprSchemable, JoinType, LogicalPlan, LogicalPlanBuilder,
};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

/// See the module documentation.
#[derive(Debug, Default)]
pub(crate) struct MultiDistinctCount;

/// The argument of a plain `COUNT(DISTINCT x)` (no `FILTER`, no `ORDER BY`).
pub(crate) fn distinct_count_arg(expr: &Expr) -> Option<&Expr> {
    let Expr::AggregateFunction(f) = unaliased(expr) else {
        return None;
    };
    let p = &f.params;
    let plain = p.distinct && p.filter.is_none() && p.order_by.is_empty() && p.args.len() == 1;
    (plain && f.func.name() == "count").then(|| &p.args[0])
}

fn is_distinct(expr: &Expr) -> bool {
    matches!(unaliased(expr), Expr::AggregateFunction(f) if f.params.distinct)
}

/// An aggregate under the alias type coercion may have given it (to keep
/// its name when it rewrote an argument or a `FILTER`).
fn unaliased(expr: &Expr) -> &Expr {
    match expr {
        Expr::Alias(a) => unaliased(&a.expr),
        e => e,
    }
}

/// Whether the plan or anything under it evaluates a volatile expression
/// (evaluated once per branch, it could differ between branches).
fn has_volatile(plan: &LogicalPlan) -> Result<bool> {
    plan.exists(|p| Ok(p.expressions().iter().any(|e| e.is_volatile())))
}

impl OptimizerRule for MultiDistinctCount {
    fn name(&self) -> &str {
        "trail_multi_distinct_count"
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
        let mut distinct_args: Vec<&Expr> = Vec::new();
        for e in &agg.aggr_expr {
            match distinct_count_arg(e) {
                Some(arg) if !distinct_args.contains(&arg) => distinct_args.push(arg),
                Some(_) => {}
                None if is_distinct(e) => return Ok(Transformed::no(plan)),
                None => {}
            }
        }
        let grouped = !agg.group_expr.is_empty()
            && agg
                .group_expr
                .iter()
                .all(|g| !matches!(g, Expr::GroupingSet(_)) && !g.is_volatile());
        if distinct_args.len() < 2 || !grouped {
            return Ok(Transformed::no(plan));
        }
        let input_schema = agg.input.schema();
        let mut one_pass = true;
        for arg in &distinct_args {
            one_pass &= crate::count_distinct::supported(&arg.get_type(input_schema)?);
        }
        if one_pass {
            let aggr_expr = agg
                .aggr_expr
                .iter()
                .map(|e| match distinct_count_arg(e) {
                    Some(arg) => crate::count_distinct::count_distinct(
                        arg.clone(),
                        e.schema_name().to_string(),
                    ),
                    None => e.clone(),
                })
                .collect();
            let rewritten =
                Aggregate::try_new(Arc::clone(&agg.input), agg.group_expr.clone(), aggr_expr)?;
            return Ok(Transformed::yes(LogicalPlan::Aggregate(rewritten)));
        }
        if has_volatile(&agg.input)? {
            return Ok(Transformed::no(plan));
        }
        // A plan the builder cannot express this way (say, one still holding
        // outer references of a subquery) keeps DataFusion's own aggregate.
        match split(agg, &distinct_args) {
            Ok(rewritten) => Ok(Transformed::yes(rewritten)),
            Err(_) => Ok(Transformed::no(plan)),
        }
    }
}

/// Builds the plan of the module documentation for `agg`.
fn split(agg: &Aggregate, distinct_args: &[&Expr]) -> Result<LogicalPlan> {
    let input = Arc::clone(&agg.input);
    let groups = agg.group_expr.len();
    let others: Vec<Expr> = agg
        .aggr_expr
        .iter()
        .filter(|e| distinct_count_arg(e).is_none())
        .cloned()
        .collect();
    let base = LogicalPlanBuilder::from(Arc::clone(&input))
        .aggregate(agg.group_expr.clone(), others.clone())?
        .alias("__trail_groups")?
        .build()?;
    let key_columns = |plan: &LogicalPlan| -> Vec<Column> {
        (0..groups)
            .map(|i| Column::from(plan.schema().qualified_field(i)))
            .collect()
    };
    let base_keys = key_columns(&base);
    let mut joined = LogicalPlanBuilder::from(base.clone());
    let mut counts = Vec::new();
    for (i, arg) in distinct_args.iter().enumerate() {
        let name = format!("__trail_distinct_{i}");
        let mut group_and_arg = agg.group_expr.clone();
        group_and_arg.push((*arg).clone().alias("__trail_value"));
        let pairs = LogicalPlanBuilder::from(Arc::clone(&input))
            .filter((*arg).clone().is_not_null())?
            .aggregate(group_and_arg, Vec::<Expr>::new())?
            .build()?;
        let pair_keys: Vec<Expr> = key_columns(&pairs).into_iter().map(Expr::Column).collect();
        let branch = LogicalPlanBuilder::from(pairs)
            .aggregate(
                pair_keys,
                [count(col("__trail_value")).alias("__trail_count")],
            )?
            .alias(name.as_str())?
            .build()?;
        let branch_keys = key_columns(&branch);
        counts.push(Column::new(Some(name.as_str()), "__trail_count"));
        joined = joined.join_detailed(
            branch,
            JoinType::Left,
            (base_keys.clone(), branch_keys),
            None,
            NullEquality::NullEqualsNull,
        )?;
    }
    // The original output, column for column, under the original names.
    let base_schema = base.schema();
    let mut other_index = groups;
    let projection: Vec<Expr> = agg
        .schema
        .iter()
        .enumerate()
        .map(|(i, (qualifier, field))| {
            let value = if i < groups {
                Expr::Column(base_keys[i].clone())
            } else {
                let aggregate = &agg.aggr_expr[i - groups];
                match distinct_count_arg(aggregate) {
                    Some(arg) => {
                        let branch = distinct_args
                            .iter()
                            .position(|a| *a == arg)
                            .expect("every distinct argument has a branch");
                        coalesce(vec![
                            Expr::Column(counts[branch].clone()),
                            Expr::Literal(ScalarValue::Int64(Some(0)), None),
                        ])
                    }
                    None => {
                        let column = Column::from(base_schema.qualified_field(other_index));
                        other_index += 1;
                        Expr::Column(column)
                    }
                }
            };
            value.alias_qualified(qualifier.cloned(), field.name())
        })
        .collect();
    joined.project(projection)?.build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::logical_expr::{lit, ExprFunctionExt};
    use datafusion::prelude::SessionContext;

    async fn optimized(sql: &str) -> String {
        let ctx = SessionContext::new();
        ctx.add_optimizer_rule(Arc::new(MultiDistinctCount));
        ctx.sql(
            "CREATE TABLE t(g VARCHAR, a VARCHAR, b INT, f DOUBLE) AS VALUES ('x', 'p', 1, 0.5)",
        )
        .await
        .unwrap();
        let plan = ctx.sql(sql).await.unwrap().into_optimized_plan().unwrap();
        let text = plan.display_indent().to_string();
        text
    }

    #[tokio::test]
    async fn replaces_distinct_counts_splits_other_types_and_leaves_the_rest() {
        let one_pass =
            optimized("SELECT g, COUNT(*), COUNT(DISTINCT a), COUNT(DISTINCT b) FROM t GROUP BY g")
                .await;
        assert!(one_pass.contains("trail_count_distinct(t.a)"), "{one_pass}");
        assert!(one_pass.contains("trail_count_distinct(t.b)"), "{one_pass}");
        assert!(!one_pass.contains("Join"), "{one_pass}");
        // A float argument: one aggregate per argument, joined.
        let split =
            optimized("SELECT g, COUNT(*), COUNT(DISTINCT a), COUNT(DISTINCT f) FROM t GROUP BY g")
                .await;
        assert!(split.contains("__trail_distinct_1"), "{split}");
        assert!(!split.contains("trail_count_distinct"), "{split}");
        let distinct_aggregates = split
            .lines()
            .filter(|l| l.contains("Aggregate:") && l.contains("DISTINCT"))
            .count();
        assert_eq!(distinct_aggregates, 0, "{split}");
        for unchanged in [
            "SELECT g, COUNT(DISTINCT a) FROM t GROUP BY g",
            "SELECT COUNT(DISTINCT a), COUNT(DISTINCT b) FROM t",
            "SELECT g, COUNT(DISTINCT a), SUM(DISTINCT b) FROM t GROUP BY g",
            "SELECT g, COUNT(DISTINCT a), COUNT(DISTINCT b) FILTER (WHERE b > 1) FROM t GROUP BY g",
            // The filtered count is aliased by type coercion (`b > 1` widened).
            "SELECT g, COUNT(DISTINCT a), COUNT(DISTINCT f), COUNT(DISTINCT b) FILTER (WHERE b > 1) \
             FROM t GROUP BY g",
            "SELECT g, COUNT(DISTINCT a), COUNT(DISTINCT f) FROM t WHERE random() < 2 GROUP BY g",
        ] {
            let plan = optimized(unchanged).await;
            assert!(!plan.contains("__trail_distinct"), "{unchanged}\n{plan}");
            assert!(
                !plan.contains("trail_count_distinct"),
                "{unchanged}\n{plan}"
            );
        }
    }

    #[test]
    fn only_plain_distinct_counts_are_split() {
        let plain = count(col("a")).distinct().build().unwrap();
        assert!(distinct_count_arg(&plain).is_some());
        let filtered = count(col("a"))
            .distinct()
            .filter(col("b").gt(lit(1)))
            .build()
            .unwrap();
        assert!(distinct_count_arg(&filtered).is_none());
        assert!(distinct_count_arg(&count(col("a"))).is_none());
    }
}
