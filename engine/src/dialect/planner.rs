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
//! * A JSON property (`event_properties.cart_value`, text) next to a number,
//!   boolean, date or timestamp is read as that type — FLOAT64 for numbers —
//!   and text that is not one reads as NULL: `event_properties.cart_value >
//!   100`, `user_properties.MRR * 12`, `SUM(event_properties.cart_value)`.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::DFSchema;
use datafusion::error::Result;
use datafusion::logical_expr::expr::{Cast, TryCast};
use datafusion::logical_expr::planner::{
    ExprPlanner, PlannerResult, RawAggregateExpr, RawBinaryExpr,
};
use datafusion::logical_expr::{BinaryExpr, Expr, ExprSchemable, Operator};
use datafusion::sql::sqlparser::ast::BinaryOperator;

/// Plans BigQuery's `/` and timestamp-versus-date comparisons.
#[derive(Debug, Default)]
pub struct TrailExprPlanner;

impl ExprPlanner for TrailExprPlanner {
    fn plan_aggregate(
        &self,
        mut expr: RawAggregateExpr,
    ) -> Result<PlannerResult<RawAggregateExpr>> {
        // SUM(event_properties.cart_value): sums and averages of a JSON
        // property add up its numbers.
        if matches!(
            expr.func.name(),
            "sum" | "avg" | "stddev" | "var" | "median"
        ) {
            for arg in &mut expr.args {
                if is_property(arg) {
                    *arg = try_cast(arg.clone(), DataType::Float64);
                }
            }
        }
        Ok(PlannerResult::Original(expr))
    }

    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        schema: &DFSchema,
    ) -> Result<PlannerResult<RawBinaryExpr>> {
        let op = match expr.op {
            BinaryOperator::Divide => Operator::Divide,
            BinaryOperator::Plus => Operator::Plus,
            BinaryOperator::Minus => Operator::Minus,
            BinaryOperator::Multiply => Operator::Multiply,
            BinaryOperator::Modulo => Operator::Modulo,
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
        // A JSON property met by a typed operand takes that operand's type.
        let property_type = |property: &Expr, other: &Expr, other_type: &DataType| {
            (is_property(property) && !is_property(other))
                .then(|| property_target(other_type))
                .flatten()
        };
        let arithmetic = matches!(
            op,
            Operator::Plus
                | Operator::Minus
                | Operator::Multiply
                | Operator::Divide
                | Operator::Modulo
        );
        if arithmetic && is_property(&expr.left) && is_property(&expr.right) {
            // Arithmetic on two properties is arithmetic on their numbers.
            let left = try_cast(expr.left.clone(), DataType::Float64);
            let right = try_cast(expr.right.clone(), DataType::Float64);
            return Ok(PlannerResult::Planned(binary(left, op, right)));
        }
        if let Some(t) = property_type(&expr.left, &expr.right, &right) {
            let left = try_cast(expr.left.clone(), t.clone());
            return self.plan_binary_op(RawBinaryExpr { left, ..expr }, schema);
        }
        if let Some(t) = property_type(&expr.right, &expr.left, &left) {
            let right = try_cast(expr.right.clone(), t.clone());
            return self.plan_binary_op(RawBinaryExpr { right, ..expr }, schema);
        }
        if matches!(
            op,
            Operator::Plus | Operator::Minus | Operator::Multiply | Operator::Modulo
        ) {
            return Ok(PlannerResult::Original(expr));
        }
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

/// Whether `expr` is a JSON property (`trail_prop(...)`, what
/// `event_properties.key` becomes), whose value is text.
fn is_property(expr: &Expr) -> bool {
    matches!(expr, Expr::ScalarFunction(f) if f.name() == "trail_prop")
}

/// The type a property's text is read as next to an operand of type `other`:
/// numbers as FLOAT64, booleans, dates and timestamps as themselves. Text
/// that is not of that type reads as NULL.
fn property_target(other: &DataType) -> Option<DataType> {
    match other {
        t if t.is_numeric() => Some(DataType::Float64),
        DataType::Boolean | DataType::Date32 | DataType::Date64 | DataType::Timestamp(..) => {
            Some(other.clone())
        }
        _ => None,
    }
}

fn try_cast(expr: Expr, data_type: DataType) -> Expr {
    Expr::TryCast(TryCast::new(Box::new(expr), data_type))
}

fn binary(left: Expr, op: Operator, right: Expr) -> Expr {
    Expr::BinaryExpr(BinaryExpr::new(Box::new(left), op, Box::new(right)))
}

fn cast(expr: Expr, data_type: DataType) -> Expr {
    Expr::Cast(Cast::new(Box::new(expr), data_type))
}
