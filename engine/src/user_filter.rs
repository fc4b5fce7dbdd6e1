//! A filter on one user's id, pushed down to the stored events when users
//! have been merged.
//!
//! `events.user_id` is the *surviving* id: the stored id mapped through
//! `users.merged_into`. So `WHERE user_id = 'u1'` cannot simply filter the
//! stored column — u1's events may be stored under the ids merged into it —
//! and without help every event is read and joined to the users before the
//! filter keeps one user's rows. This module looks the ids up first: the
//! stored ids whose survivor is `u1` (a few rows of the small users table),
//! and gives the events scan `user_id IN (u1, those ids)`. The files are
//! sorted by user id, so Parquet statistics skip nearly everything else; the
//! original filter still runs above the join.

use std::sync::Arc;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::Session;
use datafusion::common::{Column, Result, ScalarValue};
use datafusion::datasource::{provider_as_source, TableProvider};
use datafusion::functions::expr_fn::coalesce;
use datafusion::logical_expr::utils::split_binary;
use datafusion::logical_expr::{col, lit, BinaryExpr, Expr, LogicalPlanBuilder, Operator};
use datafusion::physical_plan::collect;

/// Beyond this many stored ids the lookup is not worth an IN list; the
/// filter then runs above the join only.
const MAX_IDS: usize = 1000;

/// The user ids of a filter `user_id = 'x'`, `user_id IN ('x', 'y')` or
/// `user_id = 'x' OR user_id = 'y'` (what DataFusion makes of a short IN list).
pub(crate) fn user_literals(filter: &Expr) -> Option<Vec<ScalarValue>> {
    let is_user_id = |e: &Expr| matches!(e, Expr::Column(c) if c.name == "user_id");
    let text = |e: &Expr| match e {
        Expr::Literal(v, _) if !v.is_null() && v.data_type().is_string() => Some(v.clone()),
        _ => None,
    };
    if let Expr::InList(list) = filter {
        return match !list.negated && is_user_id(&list.expr) {
            true => list.list.iter().map(text).collect(),
            false => None,
        };
    }
    split_binary(filter, Operator::Or)
        .into_iter()
        .map(|term| match term {
            Expr::BinaryExpr(BinaryExpr {
                left,
                op: Operator::Eq,
                right,
            }) => match (is_user_id(left.as_ref()), is_user_id(right.as_ref())) {
                (true, false) => text(right),
                (false, true) => text(left),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// `e.user_id IN (…)`: `literals` and every stored id whose survivor is one
/// of them, or `None` when there are too many to list.
pub(crate) async fn stored_ids_filter(
    state: &dyn Session,
    users: Arc<dyn TableProvider>,
    literals: Vec<ScalarValue>,
) -> Result<Option<Expr>> {
    let targets: Vec<Expr> = literals.into_iter().map(lit).collect();
    let plan = LogicalPlanBuilder::scan("r", provider_as_source(users), None)?
        .filter(
            coalesce(vec![col("r.merged_into"), col("r.user_id")]).in_list(targets.clone(), false),
        )?
        .project(vec![col("r.user_id")])?
        .build()?;
    let batches = collect(state.create_physical_plan(&plan).await?, state.task_ctx()).await?;
    let mut ids = targets;
    for batch in &batches {
        let column = cast(batch.column(0), &DataType::Utf8)?;
        for id in column.as_string::<i32>().iter().flatten() {
            ids.push(lit(id));
        }
    }
    if ids.len() > MAX_IDS {
        return Ok(None);
    }
    Ok(Some(
        Expr::Column(Column::new(Some("e"), "user_id")).in_list(ids, false),
    ))
}
