//! Typed reads of promoted properties.
//!
//! The dialect turns `event_properties.cart_value` into
//! `trail_prop(event_properties, 'cart_value')`, and DataFusion moves such
//! calls into a projection right above the `events` scan. This rule rewrites
//! that projection: a promoted key is read from its typed column
//! (`ep__cart_value`), falling back to the residual JSON only where the
//! typed column is NULL (a value of another type), instead of rebuilding and
//! re-parsing the whole property object for every row.

use std::any::Any;
use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, Result};
use datafusion::datasource::{provider_as_source, source_as_provider};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    cast, Expr, ExprSchemable, LogicalPlan, Projection, TableScanBuilder,
};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

use crate::catalog::{EventsTable, HIDDEN_PREFIX, HIDDEN_REST};

/// See the module documentation.
#[derive(Debug, Default)]
pub(crate) struct PromotedProperties;

/// `trail_prop(<qualifier>.event_properties, '<key>')` → `key`.
fn property_key(expr: &Expr) -> Option<String> {
    let Expr::ScalarFunction(f) = expr else {
        return None;
    };
    if f.name() != "trail_prop" {
        return None;
    }
    match f.args.as_slice() {
        [Expr::Column(c), Expr::Literal(key, _)] if c.name == "event_properties" => {
            key.try_as_str().flatten().map(str::to_string)
        }
        _ => None,
    }
}

impl OptimizerRule for PromotedProperties {
    fn name(&self) -> &str {
        "trail_promoted_properties"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Projection(projection) = &plan else {
            return Ok(Transformed::no(plan));
        };
        let LogicalPlan::TableScan(scan) = projection.input.as_ref() else {
            return Ok(Transformed::no(plan));
        };
        let Ok(provider) = source_as_provider(&scan.source) else {
            return Ok(Transformed::no(plan));
        };
        let Some(events) = (provider.as_ref() as &dyn Any).downcast_ref::<EventsTable>() else {
            return Ok(Transformed::no(plan));
        };
        if events.has_hidden() {
            return Ok(Transformed::no(plan));
        }
        let mut keys: Vec<String> = Vec::new();
        for expr in &projection.expr {
            expr.apply(|e| {
                if let Some(k) = property_key(e).filter(|k| events.promoted(k)) {
                    if !keys.contains(&k) {
                        keys.push(k);
                    }
                }
                Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
            })?;
        }
        if keys.is_empty() {
            return Ok(Transformed::no(plan));
        }
        let widened = Arc::new(events.with_hidden_properties(keys.clone())?);
        let base = crate::catalog::EVENTS_COLUMNS.len();
        let mut indices = scan
            .projection
            .clone()
            .unwrap_or_else(|| (0..base).collect());
        indices.extend(base..base + keys.len() + 1);
        let new_scan = TableScanBuilder::new(scan.table_name.clone(), provider_as_source(widened))
            .with_projection(Some(indices))
            .with_filters(scan.filters.clone())
            .with_fetch(scan.fetch)
            .build()?;
        let qualifier = scan.table_name.clone();
        let input_schema = projection.input.schema().clone();
        let exprs = projection
            .expr
            .iter()
            .map(|expr| {
                let rewritten = expr.clone().transform_up(|e| {
                    let Some(key) = property_key(&e).filter(|k| keys.contains(k)) else {
                        return Ok(Transformed::no(e));
                    };
                    let out_type = e.get_type(&input_schema)?;
                    let Expr::ScalarFunction(f) = &e else {
                        unreachable!("matched above")
                    };
                    let typed = Expr::Column(Column::new(
                        Some(qualifier.clone()),
                        format!("{HIDDEN_PREFIX}{key}"),
                    ));
                    let rest = Expr::ScalarFunction(ScalarFunction::new_udf(
                        f.func.clone(),
                        vec![
                            Expr::Column(Column::new(Some(qualifier.clone()), HIDDEN_REST)),
                            f.args[1].clone(),
                        ],
                    ));
                    Ok(Transformed::yes(datafusion::functions::expr_fn::coalesce(
                        vec![cast(typed, out_type.clone()), cast(rest, out_type)],
                    )))
                })?;
                Ok(if rewritten.transformed {
                    // Keep the output name the parent plan refers to.
                    match rewritten.data {
                        aliased @ Expr::Alias(_) => aliased,
                        other => other.alias(expr.schema_name().to_string()),
                    }
                } else {
                    rewritten.data
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let new_plan = LogicalPlan::Projection(Projection::try_new(
            exprs,
            Arc::new(LogicalPlan::TableScan(new_scan)),
        )?);
        Ok(Transformed::yes(new_plan))
    }
}
