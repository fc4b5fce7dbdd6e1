//! The rewrites that need types, done while DataFusion plans expressions.
//!
//! * `/` of two integers is floating point, as in BigQuery:
//!   `COUNT(*) / COUNT(DISTINCT user_id)` is `2.5`, not `2`. Every other
//!   division (floats, decimals, intervals) keeps DataFusion's meaning. This
//!   holds for PostgreSQL-form queries too — Trail has one `/`, and the
//!   documented queries depend on it; write `CAST(a / b AS BIGINT)` or
//!   `trunc(a / b)` for an integer quotient.
//! * A timestamp compared with a date compares with the date's midnight in
//!   the column's own type (`time >= DATE_SUB(CURRENT_DATE(), INTERVAL 30 DAY)`
//!   compares `time` with a UTC timestamp literal), so the timestamp column is
//!   never cast and its statistics keep pruning.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::DFSchema;
use datafusion::error::Result;
use datafusion::logical_expr::expr::Cast;
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion::logical_expr::{BinaryExpr, Expr, ExprSchemable, Operator};
use datafusion::sql::sqlparser::ast::BinaryOperator;

/// Plans BigQuery's `/` and timestamp-versus-date comparisons.
#[derive(Debug, Default)]
pub struct TrailExprPlanner;

impl ExprPlanner for TrailExprPlanner {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        schema: &DFSchema,
    ) -> Result<PlannerResult<RawBinaryExpr>> {
        let op = match expr.op {
            BinaryOperator::Divide => Operator::Divide,
            BinaryOperator::Eq => Operator::Eq,
            BinaryOperator::NotEq => Operator::NotEq,
            BinaryOperator::Lt => Operator::Lt,
            BinaryOperator::LtEq => Operator::LtEq,
            BinaryOperator::Gt => Operator::Gt,
            BinaryOperator::GtEq => Operator::GtEq,
            _ => return Ok(PlannerResult::Original(expr)),
        };
        // A type we cannot work out here (a placeholder, an outer column) is
        // left to DataFusion's own coercion.
        let (Ok(left), Ok(right)) = (expr.left.get_type(schema), expr.right.get_type(schema))
        else {
            return Ok(PlannerResult::Original(expr));
        };
        let RawBinaryExpr {
            left: l, right: r, ..
        } = &expr;
        let planned = match op {
            Operator::Divide if left.is_integer() && right.is_integer() => binary(
                cast(l.clone(), DataType::Float64),
                op,
                cast(r.clone(), DataType::Float64),
            ),
            Operator::Divide => return Ok(PlannerResult::Original(expr)),
            _ => match (&left, &right) {
                (DataType::Timestamp(..), DataType::Date32 | DataType::Date64) => {
                    binary(l.clone(), op, cast(r.clone(), left.clone()))
                }
                (DataType::Date32 | DataType::Date64, DataType::Timestamp(..)) => {
                    binary(cast(l.clone(), right.clone()), op, r.clone())
                }
                _ => return Ok(PlannerResult::Original(expr)),
            },
        };
        Ok(PlannerResult::Planned(planned))
    }
}

fn binary(left: Expr, op: Operator, right: Expr) -> Expr {
    Expr::BinaryExpr(BinaryExpr::new(Box::new(left), op, Box::new(right)))
}

fn cast(expr: Expr, data_type: DataType) -> Expr {
    Expr::Cast(Cast::new(Box::new(expr), data_type))
}
