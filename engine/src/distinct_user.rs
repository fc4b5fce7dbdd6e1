//! `COUNT(DISTINCT user_id)` over the events view, counted as numbers.
//!
//! The `user_id` of `events` is the surviving user's id. Counting distinct
//! ids hashes and compares every event's id text in a set per group: 417 ms
//! of CPU in the partial aggregate for the 3.4M feature events of the
//! documented feature-adoption query at 10M events (`EXPLAIN ANALYZE`).
//! The events view can find each event's users row (it does whenever it
//! reads user columns); numbering the surviving users once when that lookup
//! is built ([`crate::users_lookup`], `trail_user_key`) gives the same count
//! over `UInt32` keys `0..users`, which `trail_count_distinct_keys`
//! ([`crate::count_distinct::keys`]) counts in a bitmap per group where
//! groups have many users. Where the query reads no user columns the
//! rewrite adds that lookup (a search per run of equal ids in user-sorted
//! files); at 10M events that still took a grouped distinct count of all
//! events from 1.2–1.4 s to 0.7–1.0 s (`benches/compare/ANALYSIS.md`). This
//! rule rewrites
//!
//! ```text
//! Aggregate: aggr=[count(DISTINCT events.user_id)]
//!   Filter / Projection / SubqueryAlias            (user_id passed up)
//!     TableScan: events
//! ```
//! into
//! ```text
//! Aggregate: aggr=[trail_count_distinct_keys(events.__user_key) AS "count(DISTINCT events.user_id)"]
//!   Filter / Projection / SubqueryAlias            (and __user_key passed up)
//!     TableScan: events (also exposing __user_key)
//! ```
//! The key is one number per surviving user, the same for every id merged
//! into it, so the counts are the same; an event whose user has no users
//! row (which the import never writes) fails the query rather than being
//! skipped. Only a plain `COUNT(DISTINCT col)` (no `FILTER`, no `ORDER BY`)
//! whose column is the view's `user_id` passed up unchanged qualifies.

use std::any::Any;
use std::sync::Arc;

use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, Result};
use datafusion::datasource::{provider_as_source, source_as_provider};
use datafusion::logical_expr::{
    Aggregate, Expr, Filter, LogicalPlan, Projection, SubqueryAlias, TableScanBuilder,
};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

use crate::catalog::{EventsTable, USER_KEY};
use crate::count_distinct::keys::count_distinct_keys;
use crate::multi_distinct::distinct_count_arg;

/// See the module documentation.
#[derive(Debug, Default)]
pub(crate) struct DistinctUserKey;

/// The column of a plain `COUNT(DISTINCT col)`.
fn distinct_count_column(expr: &Expr) -> Option<&Column> {
    match distinct_count_arg(expr)? {
        Expr::Column(c) => Some(c),
        _ => None,
    }
}

/// `plan` also giving the events view's user key, when `column` of `plan`
/// is the view's `user_id` passed up unchanged; and the key's column.
fn with_user_key(plan: &LogicalPlan, column: &Column) -> Result<Option<(LogicalPlan, Column)>> {
    match plan {
        LogicalPlan::Filter(filter) => {
            let Some((input, key)) = with_user_key(&filter.input, column)? else {
                return Ok(None);
            };
            let filter = Filter::try_new(filter.predicate.clone(), Arc::new(input))?;
            Ok(Some((LogicalPlan::Filter(filter), key)))
        }
        LogicalPlan::Projection(projection) => {
            let Ok(index) = projection.schema.index_of_column(column) else {
                return Ok(None);
            };
            if projection.schema.has_column_with_unqualified_name(USER_KEY) {
                return Ok(None);
            }
            let source = match &projection.expr[index] {
                Expr::Column(c) => c,
                Expr::Alias(a) => match a.expr.as_ref() {
                    Expr::Column(c) => c,
                    _ => return Ok(None),
                },
                _ => return Ok(None),
            };
            let Some((input, key)) = with_user_key(&projection.input, source)? else {
                return Ok(None);
            };
            let mut exprs = projection.expr.clone();
            exprs.push(Expr::Column(key.clone()));
            let projection = Projection::try_new(exprs, Arc::new(input))?;
            Ok(Some((LogicalPlan::Projection(projection), key)))
        }
        LogicalPlan::SubqueryAlias(alias) => {
            let Ok(index) = alias.schema.index_of_column(column) else {
                return Ok(None);
            };
            let source = Column::from(alias.input.schema().qualified_field(index));
            let Some((input, _)) = with_user_key(&alias.input, &source)? else {
                return Ok(None);
            };
            let alias = SubqueryAlias::try_new(Arc::new(input), alias.alias.clone())?;
            let key = Column::new(Some(alias.alias.clone()), USER_KEY);
            Ok(Some((LogicalPlan::SubqueryAlias(alias), key)))
        }
        LogicalPlan::TableScan(scan) => {
            let Ok(provider) = source_as_provider(&scan.source) else {
                return Ok(None);
            };
            let Some(events) = (provider.as_ref() as &dyn Any).downcast_ref::<EventsTable>() else {
                return Ok(None);
            };
            let is_user_id = scan
                .projected_schema
                .index_of_column(column)
                .is_ok_and(|i| scan.projected_schema.field(i).name() == "user_id");
            if !is_user_id {
                return Ok(None);
            }
            let Some((widened, key_index)) = events.with_user_key()? else {
                return Ok(None);
            };
            let mut indices = scan
                .projection
                .clone()
                .unwrap_or_else(|| (0..provider.schema().fields().len()).collect());
            indices.push(key_index);
            let scan = TableScanBuilder::new(
                scan.table_name.clone(),
                provider_as_source(Arc::new(widened)),
            )
            .with_projection(Some(indices))
            .with_filters(scan.filters.clone())
            .with_fetch(scan.fetch)
            .build()?;
            let key = Column::new(Some(scan.table_name.clone()), USER_KEY);
            Ok(Some((LogicalPlan::TableScan(scan), key)))
        }
        _ => Ok(None),
    }
}

impl OptimizerRule for DistinctUserKey {
    fn name(&self) -> &str {
        "trail_distinct_user_key"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Aggregate(aggregate) = &plan else {
            return Ok(Transformed::no(plan));
        };
        // The first distinct count whose column is the events' user id.
        let mut found = None;
        for column in aggregate.aggr_expr.iter().filter_map(distinct_count_column) {
            if let Some((input, key)) = with_user_key(&aggregate.input, column)? {
                found = Some((column.clone(), input, key));
                break;
            }
        }
        let Some((column, input, key)) = found else {
            return Ok(Transformed::no(plan));
        };
        let aggr_expr = aggregate
            .aggr_expr
            .iter()
            .map(|expr| match distinct_count_column(expr) {
                // Under the output name the plan above refers to.
                Some(c) if *c == column => {
                    count_distinct_keys(Expr::Column(key.clone()), expr.schema_name().to_string())
                }
                _ => expr.clone(),
            })
            .collect();
        let aggregate =
            Aggregate::try_new(Arc::new(input), aggregate.group_expr.clone(), aggr_expr)?;
        Ok(Transformed::yes(LogicalPlan::Aggregate(aggregate)))
    }
}
