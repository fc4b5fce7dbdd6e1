//! Typed reads of stored properties.
//!
//! `event_properties` and `user_properties` are rebuilt per row from their
//! promoted typed columns (`ep__<key>`, `up__<key>`) and a residual JSON
//! column. The dialect turns `event_properties.cart_value` into
//! `trail_prop(event_properties, 'cart_value')` and `->>` into
//! `json_as_text`, and DataFusion moves such calls into a projection right
//! above the `events` scan. This rule rewrites that projection so a call
//! reads the stored column it needs instead of rebuilding and re-parsing the
//! whole object for every row:
//!
//! * a promoted key reads its typed column, falling back to the residual
//!   JSON only where the typed column is NULL (a value of another type);
//! * any other key reads the residual JSON alone — for `trail_prop` only
//!   when no promoted key matches it even under trail_prop's lenient key
//!   rule (`Plan_Level` finds `plan_level`), for exact-key `->>` when it is
//!   not a promoted key itself.
//!
//! User properties are those of the surviving user, carried through the
//! users lookup join of [`EventsTable`].

use std::any::Any;
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, Result};
use datafusion::datasource::{provider_as_source, source_as_provider};
use datafusion::functions::expr_fn::coalesce;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    cast, Expr, ExprSchemable, LogicalPlan, Projection, TableScanBuilder,
};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

use crate::catalog::{EventsTable, HiddenColumn, PropertySide};
use crate::dialect::key_may_match;
use crate::layout::PromotedKey;
use crate::users_table::USER_REST;

/// See the module documentation.
#[derive(Debug, Default)]
pub(crate) struct PromotedProperties;

/// The property-reading functions, and whether they match keys leniently.
const READERS: [(&str, bool); 2] = [("trail_prop", true), ("json_as_text", false)];

/// How one property read is answered from stored columns.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Read {
    /// From a promoted key's typed column, else from the residual JSON.
    Typed(PropertySide, String),
    /// The same call on the residual JSON.
    Rest(PropertySide),
}

impl Read {
    fn side(&self) -> PropertySide {
        match self {
            Self::Typed(side, _) | Self::Rest(side) => *side,
        }
    }
}

/// `trail_prop(<q>.event_properties, 'key', …)` or
/// `json_as_text(<q>.user_properties, 'key', …)`, and how `events` answers it.
fn classify(expr: &Expr, events: &EventsTable) -> Option<Read> {
    let Expr::ScalarFunction(f) = expr else {
        return None;
    };
    let (_, lenient) = READERS.iter().find(|(name, _)| *name == f.name())?;
    let [Expr::Column(object), Expr::Literal(key, _), path @ ..] = f.args.as_slice() else {
        return None;
    };
    let side = PropertySide::of_object_column(&object.name)?;
    let key = key.try_as_str().flatten()?;
    let promoted = events.layout(side).keys();
    if path.is_empty() && promoted.iter().any(|p| p.key == key) {
        return Some(Read::Typed(side, key.to_string()));
    }
    let reachable = |p: &PromotedKey| {
        if *lenient {
            key_may_match(&p.key, key)
        } else {
            p.key == key
        }
    };
    (!promoted.iter().any(reachable)).then_some(Read::Rest(side))
}

/// `call` answered from stored columns: the typed column of a promoted key
/// (`typed`), falling back to the same call on the residual JSON (`rest`),
/// cast back to the type `call` had.
fn read_expr(
    call: &ScalarFunction,
    read: &Read,
    typed: impl Fn(&str) -> Expr,
    rest: Expr,
    out_type: &DataType,
) -> Expr {
    let mut args = call.args.clone();
    args[0] = rest;
    let on_rest = cast(
        Expr::ScalarFunction(ScalarFunction::new_udf(call.func.clone(), args)),
        out_type.clone(),
    );
    match read {
        Read::Typed(_, key) => coalesce(vec![cast(typed(key), out_type.clone()), on_rest]),
        Read::Rest(_) => on_rest,
    }
}

/// The hidden columns that answer one read. Event reads use the stored
/// columns of the events scan; a user read becomes a column of its own,
/// computed per user in the users lookup (`reads_so_far` numbers its name).
fn hidden_columns(
    call: &ScalarFunction,
    read: &Read,
    events: &EventsTable,
    out_type: &DataType,
    reads_so_far: usize,
) -> Vec<HiddenColumn> {
    match read.side() {
        PropertySide::Event => {
            let mut columns = vec![HiddenColumn::Event { key: None }];
            if let Read::Typed(_, key) = read {
                columns.insert(
                    0,
                    HiddenColumn::Event {
                        key: Some(key.clone()),
                    },
                );
            }
            columns
        }
        PropertySide::User => {
            let layout = events.layout(PropertySide::User);
            let expr = read_expr(
                call,
                read,
                |key| col_unqualified(&layout.column_name(key)),
                col_unqualified(USER_REST),
                out_type,
            );
            vec![HiddenColumn::UserRead {
                name: format!("__up_read{reads_so_far}"),
                expr,
                data_type: out_type.clone(),
            }]
        }
    }
}

fn col_unqualified(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

/// Whether two hidden columns answer the same thing (user reads by what
/// they compute, whatever they were named).
fn same_column(a: &HiddenColumn, b: &HiddenColumn) -> bool {
    match (a, b) {
        (
            HiddenColumn::UserRead {
                expr: e1,
                data_type: t1,
                ..
            },
            HiddenColumn::UserRead {
                expr: e2,
                data_type: t2,
                ..
            },
        ) => e1 == e2 && t1 == t2,
        _ => a == b,
    }
}

impl OptimizerRule for PromotedProperties {
    fn name(&self) -> &str {
        "trail_promoted_properties"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
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
        let input_schema = projection.input.schema().clone();
        // Each read with the hidden columns that answer it, in visiting order.
        let answers = |e: &Expr, hidden: &[HiddenColumn]| -> Result<Option<Vec<HiddenColumn>>> {
            let Some(read) = classify(e, events) else {
                return Ok(None);
            };
            let Expr::ScalarFunction(call) = e else {
                unreachable!("classify matched a function call")
            };
            let out_type = e.get_type(&input_schema)?;
            let reads = hidden
                .iter()
                .filter(|h| matches!(h, HiddenColumn::UserRead { .. }))
                .count();
            Ok(Some(hidden_columns(call, &read, events, &out_type, reads)))
        };
        let mut hidden: Vec<HiddenColumn> = Vec::new();
        for expr in &projection.expr {
            expr.apply(|e| {
                for column in answers(e, &hidden)?.into_iter().flatten() {
                    if !hidden.iter().any(|h| same_column(h, &column)) {
                        hidden.push(column);
                    }
                }
                Ok(TreeNodeRecursion::Continue)
            })?;
        }
        if hidden.is_empty() {
            return Ok(Transformed::no(plan));
        }
        let base = crate::catalog::EVENTS_COLUMNS.len();
        let widened = Arc::new(events.with_hidden_properties(hidden.clone())?);
        let mut indices = scan
            .projection
            .clone()
            .unwrap_or_else(|| (0..base).collect());
        indices.extend(base..base + hidden.len());
        let new_scan = TableScanBuilder::new(scan.table_name.clone(), provider_as_source(widened))
            .with_projection(Some(indices))
            .with_filters(scan.filters.clone())
            .with_fetch(scan.fetch)
            .build()?;
        let qualifier = scan.table_name.clone();
        let column = |name: String| Expr::Column(Column::new(Some(qualifier.clone()), name));
        let exprs = projection
            .expr
            .iter()
            .map(|expr| {
                let rewritten = expr.clone().transform_up(|e| {
                    let Some(read) = classify(&e, events) else {
                        return Ok(Transformed::no(e));
                    };
                    let Expr::ScalarFunction(call) = &e else {
                        unreachable!("classify matched a function call")
                    };
                    let out_type = e.get_type(&input_schema)?;
                    Ok(Transformed::yes(match read.side() {
                        PropertySide::Event => read_expr(
                            call,
                            &read,
                            |key| {
                                column(
                                    HiddenColumn::Event {
                                        key: Some(key.to_string()),
                                    }
                                    .name(),
                                )
                            },
                            column(HiddenColumn::Event { key: None }.name()),
                            &out_type,
                        ),
                        PropertySide::User => {
                            let wanted = hidden_columns(call, &read, events, &out_type, 0);
                            let found = hidden
                                .iter()
                                .find(|h| wanted.iter().any(|w| same_column(h, w)))
                                .expect("every read's column was collected above");
                            column(found.name())
                        }
                    }))
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
