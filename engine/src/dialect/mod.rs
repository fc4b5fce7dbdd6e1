//! Heap/BigQuery and PostgreSQL SQL, rewritten for DataFusion.
//!
//! Heap documents its SQL in BigQuery's dialect; BI tools and people send
//! PostgreSQL's. Trail takes both, in one grammar:
//!
//! ```text
//!  SQL text ──► sqlparser (GenericDialect) ──► rewrite (AST) ──► DataFusion planner
//!                     │                           │                    │
//!               syntax errors with          DATE_SUB, IF, COUNTIF,   TrailExprPlanner:
//!               line and column             DATE(ts), dot access     `/` is floating point,
//!                                           into JSON, BigQuery      timestamp vs date
//!                                           types, …                 comparisons
//! ```
//!
//! * [`parse_one`] parses with sqlparser's `GenericDialect` — the dialect
//!   that accepts both BigQuery's forms (`INTERVAL 30 DAY`, `ARRAY_AGG(x
//!   ORDER BY y)`, backtick names) and PostgreSQL's (`::`, `->`, `->>`,
//!   `INTERVAL '30 days'`, `FILTER (WHERE …)`) — then rewrites the AST (see
//!   the table in `rewrite.rs`).
//! * [`register`] sets the session time zone to UTC and registers the
//!   functions the rewrite targets (`trail_prop`, `date_diff`,
//!   `timestamp_diff`, `safe_divide`), the `->`/`->>`/`json_get_*` functions
//!   of `datafusion-functions-json`, and [`TrailExprPlanner`].
//!
//! Choices that differ from one of the two dialects:
//! * `/` of two integers is floating point (BigQuery), also in PostgreSQL-form
//!   queries: `SELECT 7 / 2` is `3.5`.
//! * A dot access on `event_properties`/`user_properties` is JSON access
//!   (BigQuery's JSON type), never a struct field; keys match exactly first,
//!   then ignoring case and punctuation (see `trail_prop.rs`). Its value is
//!   text, read as a number, boolean, date or timestamp next to one
//!   (`event_properties.cart_value > 100`) — see `planner.rs`.
//! * `->>` binds tighter than `=`, `LIKE`, `IS`, `IN`, `BETWEEN`, as in
//!   PostgreSQL (sqlparser's generic grammar binds it looser).
//! * An unaliased dot access is named after its last key, unless another
//!   column of the SELECT list has that name (BigQuery allows duplicate
//!   names, DataFusion does not).

mod date_diff;
mod planner;
mod rewrite;
mod safe_divide;
mod timestamp_diff;
mod trail_prop;
mod utc_date;

use std::sync::Arc;

use datafusion::error::{DataFusionError, Result};
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::ScalarUDF;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

pub use date_diff::DateDiff;
pub use planner::TrailExprPlanner;
pub use rewrite::JSON_COLUMNS;
pub use safe_divide::SafeDivide;
pub use timestamp_diff::TimestampDiff;
pub(crate) use trail_prop::key_may_match;
pub use trail_prop::TrailProp;
pub use utc_date::UtcDate;

/// The session time zone: `now()` and `CURRENT_TIMESTAMP()` are UTC, and
/// dates are UTC dates.
pub const SESSION_TIME_ZONE: &str = "UTC";

/// The scalar functions the dialect adds.
pub fn functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        Arc::new(ScalarUDF::from(TrailProp::default())),
        Arc::new(ScalarUDF::from(DateDiff::default())),
        Arc::new(ScalarUDF::from(TimestampDiff::default())),
        Arc::new(ScalarUDF::from(SafeDivide::default())),
        Arc::new(ScalarUDF::from(UtcDate::default())),
    ]
}

/// Registers the dialect's functions and planner in `ctx`, and sets its time
/// zone to UTC.
pub fn register(ctx: &SessionContext) -> Result<()> {
    let state = ctx.state_ref();
    let mut state = state.write();
    datafusion_functions_json::register_all(&mut *state)?;
    for udf in functions() {
        state.register_udf(udf)?;
    }
    state.register_expr_planner(Arc::new(TrailExprPlanner))?;

    let options = state.config_mut().options_mut();
    options.execution.time_zone = Some(SESSION_TIME_ZONE.to_string());
    // Spans let DataFusion's planning errors say where in the text they are.
    options.sql_parser.collect_spans = true;
    // Functions such as now() read the time zone when they are created, so
    // renew them as `SET` does.
    let options = state.config().options().clone();
    let renewed: Vec<_> = state
        .scalar_functions()
        .values()
        .filter_map(|udf| udf.inner().with_updated_config(&options).map(Arc::new))
        .collect();
    for udf in renewed {
        state.register_udf(udf)?;
    }
    Ok(())
}

/// Parses exactly one statement and rewrites it for DataFusion.
///
/// A syntax error is a [`DataFusionError::SQL`] whose message ends with the
/// line and column; an error found while rewriting is a
/// [`DataFusionError::Plan`] that says `at line L, column C`.
pub fn parse_one(sql: &str) -> Result<Statement> {
    let mut statements = Parser::parse_sql(&GenericDialect {}, sql)
        .map_err(|e| DataFusionError::SQL(Box::new(e), None))?;
    if statements.len() != 1 {
        return Err(DataFusionError::Plan(format!(
            "expected exactly one SQL statement, got {}",
            statements.len()
        )));
    }
    let mut statement = statements.remove(0);
    rewrite::rewrite_statement(&mut statement)?;
    Ok(statement)
}

/// The position (line, column; both from 1) in the SQL text that `err` is
/// about, when it knows one.
pub fn error_position(err: &DataFusionError) -> Option<(u64, u64)> {
    if let Some(diagnostic) = err.diagnostic() {
        if let Some(span) = &diagnostic.span {
            return Some((span.start.line, span.start.column));
        }
    }
    // sqlparser's messages ("at Line: 2, Column: 10") and ours ("at line 2,
    // column 10") end with the position.
    let text = err.to_string();
    let at = text
        .rfind(" at Line: ")
        .or_else(|| text.rfind(" at line "))?;
    let rest = &text[at..];
    let mut numbers = rest
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u64>().ok());
    let line = numbers.next()??;
    let column = numbers.next()??;
    let shape_ok = rest.contains("Column: ") || rest.contains("column ");
    shape_ok.then_some((line, column))
}

/// `err` with the line of `sql` it is about and a caret under the column, for
/// people reading it in a terminal:
///
/// ```text
/// Schema error: No field named t.b. Did you mean 't.a'?
/// LINE 2: FROM t WHERE t.b > 1
///                      ^
/// ```
pub fn describe_error(sql: &str, err: &DataFusionError) -> String {
    let message = err.to_string();
    let Some((line, column)) = error_position(err) else {
        return message;
    };
    let Some(text) = sql.lines().nth(line.saturating_sub(1) as usize) else {
        return message;
    };
    let prefix = format!("LINE {line}: ");
    let pad: String = text
        .chars()
        .take(column.saturating_sub(1) as usize)
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    format!(
        "{message}\n{prefix}{text}\n{}{pad}^",
        " ".repeat(prefix.len())
    )
}

/// The 1-based character offset in `sql` that `err` is about — what a
/// PostgreSQL `ErrorResponse` carries in its position field.
pub fn error_offset(sql: &str, err: &DataFusionError) -> Option<usize> {
    let (line, column) = error_position(err)?;
    let before: usize = sql
        .split_inclusive('\n')
        .take(line.checked_sub(1)? as usize)
        .map(|l| l.chars().count())
        .sum();
    Some(before + column as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_error(sql: &str) -> DataFusionError {
        parse_one(sql).expect_err("should not parse")
    }

    #[test]
    fn syntax_errors_say_where() {
        let sql = "SELECT 1\nFROM t x garbage";
        let err = parse_error(sql);
        assert_eq!(error_position(&err), Some((2, 10)));
        assert_eq!(error_offset(sql, &err), Some(19));
        assert!(describe_error(sql, &err).ends_with("LINE 2: FROM t x garbage\n                 ^"));
    }

    #[test]
    fn no_position_is_made_up() {
        let err =
            DataFusionError::Plan("No field named pipeline. Valid fields are t.a1, t.b2".into());
        assert_eq!(error_position(&err), None);
        assert_eq!(
            describe_error("SELECT pipeline FROM t", &err),
            err.to_string()
        );
    }

    #[test]
    fn rewrite_errors_say_where() {
        let err = parse_error("SELECT\n  IF(true, 1)");
        assert!(err.to_string().contains("at line 2, column 3"), "{err}");
        assert_eq!(error_position(&err), Some((2, 3)));
    }

    #[test]
    fn rewrites_documented_forms() {
        let sql = |s: &str| parse_one(s).unwrap().to_string();
        assert_eq!(
            sql("SELECT user_properties.plan_level FROM heap_export.events GROUP BY user_properties.plan_level"),
            "SELECT trail_prop(user_properties, 'plan_level') AS plan_level FROM heap_export.events GROUP BY trail_prop(user_properties, 'plan_level')"
        );
        assert_eq!(
            sql("SELECT e.user_properties.a.b, heap_export.events.event_properties.x FROM t"),
            "SELECT trail_prop(e.user_properties, 'a', 'b') AS b, trail_prop(heap_export.events.event_properties, 'x') AS x FROM t"
        );
        assert_eq!(
            sql("SELECT 1 FROM t WHERE DATE(time) >= DATE_SUB(CURRENT_DATE(), INTERVAL 30 DAY)"),
            "SELECT 1 FROM t WHERE utc_date(time) >= (CURRENT_DATE() - INTERVAL 30 DAY)"
        );
        assert_eq!(
            sql("SELECT MAX(IF(a = 1, 1, 0)), COUNTIF(b) FROM t"),
            "SELECT MAX(CASE WHEN a = 1 THEN 1 ELSE 0 END), count(CASE WHEN b THEN 1 END) FROM t"
        );
        assert_eq!(
            sql("SELECT p->>'k' = 'v' FROM t"),
            "SELECT p ->> 'k' = 'v' FROM t"
        );
        assert_eq!(
            sql("SELECT * FROM `proj.heap_export.events`"),
            "SELECT * FROM `proj`.`heap_export`.`events`"
        );
    }

    #[test]
    fn never_panics_on_odd_input() {
        for sql in ["", ";", "SELECT", "SELECT DATE()", "SELECT IF()", "SELECT COUNTIF()", "SELECT DATE_DIFF(a, b, c + 1)",
            "SELECT user_properties.", "SELECT event_properties[1]", "SELECT DATE_SUB", "SELECT DATE_TRUNC(x)", "SELECT JSON_VALUE(j, '$[')", "SELECT JSON_VALUE(j, '$.')", "SELECT JSON_VALUE(j, '$[\"a')", "SELECT JSON_VALUE(j, '$[-1]')", "SELECT JSON_QUERY()", "SELECT INT64()", "SELECT ((((((((((((((((((((((((((((((((((((((((((((((((((((((((((1))))))))))))))))))))))))))))))))))))))))))))))))))))))))))"] {
            let _ = parse_one(sql);
        }
    }
}
