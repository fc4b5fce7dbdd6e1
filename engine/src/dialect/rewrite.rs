//! The AST rewrite: BigQuery forms become SQL that DataFusion plans.
//!
//! Runs once per statement, after parsing and before planning. Everything
//! here is syntactic — the rewrites that need types (`/`, timestamp versus
//! date comparisons) live in [`super::planner`].
//!
//! | written (BigQuery)                     | planned as                                  |
//! |----------------------------------------|---------------------------------------------|
//! | `DATE_SUB(d, INTERVAL 7 DAY)`          | `d - INTERVAL 7 DAY` (also `DATE_ADD`, `TIMESTAMP_SUB/ADD`, `DATETIME_SUB/ADD`) |
//! | `DATE_DIFF(a, b, DAY)`                 | `date_diff(a, b, 'DAY')`                    |
//! | `TIMESTAMP_DIFF(a, b, HOUR)`           | `timestamp_diff(a, b, 'HOUR')`              |
//! | `DATE(ts)` / `DATE(ts, tz)` / `DATE(y, m, d)` | `CAST(ts AS DATE)` / `CAST(ts AT TIME ZONE tz AS DATE)` / `make_date(y, m, d)` |
//! | `DATE_TRUNC(d, MONTH)`                 | `date_trunc('MONTH', d)` (also `TIMESTAMP_TRUNC`, `DATETIME_TRUNC`) |
//! | `IF(c, a, b)`                          | `CASE WHEN c THEN a ELSE b END`             |
//! | `COUNTIF(c)`                           | `count(CASE WHEN c THEN 1 END)`             |
//! | `LOGICAL_AND(c)` / `LOGICAL_OR(c)`     | `bool_and(c)` / `bool_or(c)`                |
//! | `FORMAT_DATE(f, d)` / `FORMAT_TIMESTAMP(f, t)` | `to_char(d, f)`                     |
//! | `PARSE_DATE(f, s)`                     | `to_date(s, f)`                             |
//! | `IFNULL(a, b)`                         | `coalesce(a, b)` (any type)                 |
//! | `JSON_VALUE(j, '$.a.b[0]')` / `JSON_EXTRACT_SCALAR` | `trail_prop(j, 'a', 'b', 0)`   |
//! | `JSON_QUERY(j, '$.a')` / `JSON_EXTRACT` | `json_get_json(j, 'a')` (JSON text)        |
//! | `INT64(x)`, `FLOAT64(x)`, `BOOL(x)`, `STRING(x)`; `LAX_…` | `CAST(x AS …)`; `TRY_CAST` |
//! | `TIMESTAMP(x)`                         | `CAST(x AS TIMESTAMP WITH TIME ZONE)` (UTC) |
//! | `TIMESTAMP_SECONDS/MILLIS/MICROS(n)`, `UNIX_SECONDS(t)` | `to_timestamp_seconds/millis/micros(n)`, `to_unixtime(t)` |
//! | `APPROX_COUNT_DISTINCT(x)`             | `approx_distinct(x)`                        |
//! | `GENERATE_DATE_ARRAY(a, b [, i])`      | `generate_series(a, b, i)` (default 1 day)  |
//! | `EXTRACT(DAYOFWEEK FROM d)`            | `date_part('dow', d) + 1` (Sunday = 1); also `DAYOFYEAR`, `ISOWEEK`, `DATE` |
//! | `props->>'k' = 'v'` (sqlparser reads `props->>('k' = 'v')`) | `(props->>'k') = 'v'`, as PostgreSQL binds it |
//! | `SAFE_CAST(x AS T)`                    | `TRY_CAST(x AS T)`                          |
//! | `INT64`, `FLOAT64`, `JSON`, `BYTES` types | `BIGINT`, `DOUBLE`, `TEXT`, `BYTEA`      |
//! | `INTERVAL n DAY` with a non-literal `n` | `CAST(CAST(n AS TEXT) \|\| ' DAY' AS INTERVAL)` |
//! | `INTERVAL n QUARTER`                   | `INTERVAL 3n MONTH`                         |
//! | `` `project.dataset.table` ``          | `project.dataset.table`                     |
//! | `user_properties.plan_level`           | `trail_prop(user_properties, 'plan_level') AS plan_level` |
//!
//! JSON dot access is recognised by name: a compound identifier with a part
//! named `event_properties` or `user_properties` ([`JSON_COLUMNS`]) followed
//! by at least one more part, e.g. `e.user_properties.address.city`. What
//! comes before that part qualifies the column (`heap_export.events.`), what
//! comes after is the key path. Subscripts work too:
//! `event_properties.items[0]`, `event_properties['Plan Level']`. An unaliased
//! dot access in a SELECT list is named after its last key, as BigQuery names
//! it; in `GROUP BY` and `ORDER BY` the same expression matches that item.

use std::ops::ControlFlow;

use datafusion::error::{DataFusionError, Result};
use datafusion::sql::sqlparser::ast::helpers::attached_token::AttachedToken;
use datafusion::sql::sqlparser::ast::{
    AccessExpr, BinaryOperator, CaseWhen, CastKind, CreateTable, DataType, DateTimeField,
    ExactNumberInfo, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList,
    FunctionArguments, Ident, ObjectName, ObjectNamePart, Select, SelectItem, Spanned, Statement,
    Subscript, TimezoneInfo, Value, ValueWithSpan, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::tokenizer::Span;

/// The JSON text columns that dot access (`user_properties.plan_level`)
/// reaches into.
pub const JSON_COLUMNS: [&str; 2] = ["event_properties", "user_properties"];

/// The scalar UDF that JSON dot access is rewritten to.
pub(crate) const TRAIL_PROP: &str = "trail_prop";

/// Rewrites one parsed statement in place.
pub(crate) fn rewrite_statement(statement: &mut Statement) -> Result<()> {
    match statement.visit(&mut Rewriter) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(err) => Err(err),
    }
}

struct Rewriter;

impl VisitorMut for Rewriter {
    type Break = DataFusionError;

    fn pre_visit_statement(&mut self, statement: &mut Statement) -> ControlFlow<Self::Break> {
        if let Statement::CreateTable(CreateTable { columns, .. }) = statement {
            for column in columns {
                rewrite_data_type(&mut column.data_type);
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<Self::Break> {
        // Runs before the expressions of this SELECT are rewritten, so the
        // dot access is still a compound identifier here. BigQuery allows two
        // result columns of one name, DataFusion does not: a dot access whose
        // name is taken keeps its expression name.
        let mut taken: Vec<String> = select
            .projection
            .iter()
            .filter_map(|item| match item {
                SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.to_lowercase()),
                SelectItem::UnnamedExpr(Expr::Identifier(id)) => Some(id.value.to_lowercase()),
                SelectItem::UnnamedExpr(Expr::CompoundIdentifier(ids))
                    if json_access_name(&Expr::CompoundIdentifier(ids.clone())).is_none() =>
                {
                    ids.last().map(|id| id.value.to_lowercase())
                }
                _ => None,
            })
            .collect();
        for item in &mut select.projection {
            if let SelectItem::UnnamedExpr(expr) = item {
                if let Some(alias) = json_access_name(expr) {
                    let name = alias.value.to_lowercase();
                    if taken.contains(&name) {
                        continue;
                    }
                    taken.push(name);
                    let expr = std::mem::replace(expr, Expr::value(Value::Null));
                    *item = SelectItem::ExprWithAlias { expr, alias };
                }
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, relation: &mut ObjectName) -> ControlFlow<Self::Break> {
        split_backtick_name(relation);
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<Self::Break> {
        match rewrite_expr(expr) {
            Ok(Some(new)) => {
                *expr = new;
                ControlFlow::Continue(())
            }
            Ok(None) => ControlFlow::Continue(()),
            Err(err) => ControlFlow::Break(err),
        }
    }
}

/// Whether `expr` is a call of `trail_prop` (a rewritten property access).
fn is_trail_prop_call(expr: &Expr) -> bool {
    matches!(expr, Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case(TRAIL_PROP))
}

/// The rewrite of one expression whose children are already rewritten, or
/// `None` to keep it.
fn rewrite_expr(expr: &mut Expr) -> Result<Option<Expr>> {
    match expr {
        Expr::BinaryOp { op, right, .. } if is_json_operator(op) && binds_looser(right) => {
            Ok(Some(reassociate_json_operator(expr)))
        }
        Expr::CompoundIdentifier(_) | Expr::CompoundFieldAccess { .. } => Ok(json_access(expr)),
        // A property BETWEEN bounds becomes two comparisons, so each reads the
        // property as the bounds' type (DataFusion's own BETWEEN coercion would
        // cast the text strictly and fail on `'200.5'` against integer bounds).
        Expr::Between {
            expr: subject,
            negated,
            low,
            high,
        } if is_trail_prop_call(subject) => {
            let compare = |op: BinaryOperator, bound: &Expr| Expr::BinaryOp {
                left: subject.clone(),
                op,
                right: Box::new(bound.clone()),
            };
            let (lo, hi, join) = if *negated {
                (BinaryOperator::Lt, BinaryOperator::Gt, BinaryOperator::Or)
            } else {
                (
                    BinaryOperator::GtEq,
                    BinaryOperator::LtEq,
                    BinaryOperator::And,
                )
            };
            Ok(Some(Expr::Nested(Box::new(Expr::BinaryOp {
                left: Box::new(compare(lo, low)),
                op: join,
                right: Box::new(compare(hi, high)),
            }))))
        }
        Expr::Function(function) => rewrite_function(function),
        Expr::Extract { field, expr, .. } => {
            // BigQuery's parts that DataFusion's date_part lacks or numbers
            // differently.
            let value = *expr.clone();
            Ok(match field {
                DateTimeField::DayOfWeek => Some(Expr::Nested(Box::new(Expr::BinaryOp {
                    left: Box::new(func("date_part", vec![string("dow"), value])),
                    op: BinaryOperator::Plus,
                    right: Box::new(number("1")),
                }))),
                DateTimeField::DayOfYear => Some(func("date_part", vec![string("doy"), value])),
                DateTimeField::IsoWeek => Some(func("date_part", vec![string("week"), value])),
                DateTimeField::Date => Some(cast(value, DataType::Date)),
                _ => None,
            })
        }
        Expr::Cast {
            kind, data_type, ..
        } => {
            if *kind == CastKind::SafeCast {
                *kind = CastKind::TryCast;
            }
            rewrite_data_type(data_type);
            Ok(None)
        }
        Expr::Interval(interval) => {
            if matches!(interval.leading_field, Some(DateTimeField::Quarter))
                && interval.last_field.is_none()
            {
                // Arrow has no quarters: n QUARTER is 3n MONTH.
                let months = match interval.value.as_ref() {
                    Expr::Value(ValueWithSpan {
                        value: Value::Number(n, _) | Value::SingleQuotedString(n),
                        ..
                    }) => n
                        .trim()
                        .parse::<i64>()
                        .ok()
                        .map(|n| number(&(n * 3).to_string())),
                    _ => None,
                };
                let months = months.unwrap_or_else(|| {
                    Expr::Nested(Box::new(Expr::BinaryOp {
                        left: interval.value.clone(),
                        op: BinaryOperator::Multiply,
                        right: Box::new(number("3")),
                    }))
                });
                *interval.value = months;
                interval.leading_field = Some(DateTimeField::Month);
                if is_interval_literal(&interval.value) {
                    return Ok(None);
                }
            }
            let Some(unit) = &interval.leading_field else {
                return Ok(None);
            };
            if interval.last_field.is_some() || is_interval_literal(&interval.value) {
                return Ok(None);
            }
            // `INTERVAL n DAY` with a computed `n`: DataFusion only takes
            // literals there, so build the interval from text at run time.
            // `||`, unlike concat(), keeps a NULL quantity NULL.
            let text = Expr::BinaryOp {
                left: Box::new(cast(*interval.value.clone(), DataType::Text)),
                op: BinaryOperator::StringConcat,
                right: Box::new(string(&format!(" {unit}"))),
            };
            Ok(Some(cast(
                text,
                DataType::Interval {
                    fields: None,
                    precision: None,
                },
            )))
        }
        _ => Ok(None),
    }
}

/// PostgreSQL's JSON operators (`->`, `->>`, `#>`, `#>>`, `@>`, `<@`).
fn is_json_operator(op: &BinaryOperator) -> bool {
    matches!(
        op,
        BinaryOperator::Arrow
            | BinaryOperator::LongArrow
            | BinaryOperator::HashArrow
            | BinaryOperator::HashLongArrow
            | BinaryOperator::AtArrow
            | BinaryOperator::ArrowAt
    )
}

/// Whether `right`, parsed as the right operand of a JSON operator, is a
/// comparison that PostgreSQL binds looser than that operator.
///
/// sqlparser's generic grammar ranks `->>` below `=`, `LIKE`, `IS`, `IN` and
/// `BETWEEN`, so `props->>'plan' = 'Pro'` parses as `props->>('plan' = 'Pro')`
/// — a JSON path with a boolean key, which means nothing. PostgreSQL reads
/// `(props->>'plan') = 'Pro'`; so do we. Parentheses written by the user are
/// kept (they are an `Expr::Nested`).
fn binds_looser(right: &Expr) -> bool {
    match right {
        Expr::BinaryOp { op, .. } => matches!(
            op,
            BinaryOperator::Eq
                | BinaryOperator::NotEq
                | BinaryOperator::Lt
                | BinaryOperator::LtEq
                | BinaryOperator::Gt
                | BinaryOperator::GtEq
                | BinaryOperator::Spaceship
        ),
        Expr::Like { .. }
        | Expr::ILike { .. }
        | Expr::SimilarTo { .. }
        | Expr::IsNull(_)
        | Expr::IsNotNull(_)
        | Expr::IsTrue(_)
        | Expr::IsFalse(_)
        | Expr::IsNotTrue(_)
        | Expr::IsNotFalse(_)
        | Expr::IsDistinctFrom(..)
        | Expr::IsNotDistinctFrom(..)
        | Expr::InList { .. }
        | Expr::InSubquery { .. }
        | Expr::Between { .. } => true,
        _ => false,
    }
}

/// `x ->> (k = v)` → `(x ->> k) = v`, for every comparison of [`binds_looser`].
fn reassociate_json_operator(expr: &mut Expr) -> Expr {
    let Expr::BinaryOp { left, op, right } = std::mem::replace(expr, Expr::value(Value::Null))
    else {
        unreachable!("checked by the caller")
    };
    let attach = |operand: Box<Expr>| -> Box<Expr> {
        Box::new(Expr::BinaryOp {
            left: left.clone(),
            op: op.clone(),
            right: operand,
        })
    };
    match *right {
        Expr::BinaryOp {
            left: key,
            op: comparison,
            right: value,
        } => Expr::BinaryOp {
            left: attach(key),
            op: comparison,
            right: value,
        },
        Expr::Like {
            negated,
            any,
            expr,
            pattern,
            escape_char,
        } => Expr::Like {
            negated,
            any,
            expr: attach(expr),
            pattern,
            escape_char,
        },
        Expr::ILike {
            negated,
            any,
            expr,
            pattern,
            escape_char,
        } => Expr::ILike {
            negated,
            any,
            expr: attach(expr),
            pattern,
            escape_char,
        },
        Expr::SimilarTo {
            negated,
            expr,
            pattern,
            escape_char,
        } => Expr::SimilarTo {
            negated,
            expr: attach(expr),
            pattern,
            escape_char,
        },
        Expr::IsNull(e) => Expr::IsNull(attach(e)),
        Expr::IsNotNull(e) => Expr::IsNotNull(attach(e)),
        Expr::IsTrue(e) => Expr::IsTrue(attach(e)),
        Expr::IsFalse(e) => Expr::IsFalse(attach(e)),
        Expr::IsNotTrue(e) => Expr::IsNotTrue(attach(e)),
        Expr::IsNotFalse(e) => Expr::IsNotFalse(attach(e)),
        Expr::IsDistinctFrom(a, b) => Expr::IsDistinctFrom(attach(a), b),
        Expr::IsNotDistinctFrom(a, b) => Expr::IsNotDistinctFrom(attach(a), b),
        Expr::InList {
            expr,
            list,
            negated,
        } => Expr::InList {
            expr: attach(expr),
            list,
            negated,
        },
        Expr::InSubquery {
            expr,
            subquery,
            negated,
        } => Expr::InSubquery {
            expr: attach(expr),
            subquery,
            negated,
        },
        Expr::Between {
            expr,
            negated,
            low,
            high,
        } => Expr::Between {
            expr: attach(expr),
            negated,
            low,
            high,
        },
        other => Expr::BinaryOp {
            left: left.clone(),
            op: op.clone(),
            right: Box::new(other),
        },
    }
}

fn is_interval_literal(value: &Expr) -> bool {
    match value {
        Expr::Value(_) => true,
        Expr::UnaryOp { expr, .. } | Expr::Nested(expr) => is_interval_literal(expr),
        Expr::BinaryOp { left, right, .. } => {
            is_interval_literal(left) && is_interval_literal(right)
        }
        _ => false,
    }
}

fn rewrite_function(function: &mut Function) -> Result<Option<Expr>> {
    let [ObjectNamePart::Identifier(name)] = function.name.0.as_slice() else {
        return Ok(None);
    };
    if name.quote_style.is_some() {
        return Ok(None);
    }
    let upper = name.value.to_ascii_uppercase();
    let span = function.span();
    match upper.as_str() {
        "DATE_SUB" | "DATE_ADD" | "TIMESTAMP_SUB" | "TIMESTAMP_ADD" | "DATETIME_SUB"
        | "DATETIME_ADD" => {
            let [date, interval] = args::<2>(function, &upper, "(date, INTERVAL n unit)", span)?;
            if !matches!(interval, Expr::Interval(_)) && !is_interval_cast(&interval) {
                return Err(error(
                    &format!("{upper} expects an INTERVAL as its second argument, e.g. {upper}(d, INTERVAL 7 DAY)"),
                    interval.span(),
                ));
            }
            // A string literal is a date (or timestamp) literal here, as in BigQuery.
            let date = match date {
                Expr::Value(v) if matches!(v.value, Value::SingleQuotedString(_)) => {
                    let to = if upper.starts_with("DATE_") {
                        DataType::Date
                    } else {
                        DataType::Timestamp(None, TimezoneInfo::None)
                    };
                    cast(Expr::Value(v), to)
                }
                other => other,
            };
            let op = if upper.ends_with("_SUB") {
                BinaryOperator::Minus
            } else {
                BinaryOperator::Plus
            };
            Ok(Some(Expr::Nested(Box::new(Expr::BinaryOp {
                left: Box::new(date),
                op,
                right: Box::new(interval),
            }))))
        }
        "DATE_DIFF" | "TIMESTAMP_DIFF" | "DATETIME_DIFF" => {
            let [a, b, part] = args::<3>(function, &upper, "(a, b, part)", span)?;
            let part = date_part(part, &upper)?;
            let udf = if upper == "TIMESTAMP_DIFF" {
                "timestamp_diff"
            } else {
                "date_diff"
            };
            Ok(Some(func(udf, vec![a, b, part])))
        }
        "DATE" => {
            let args = plain_args(function, &upper)?;
            match <[Expr; 1]>::try_from(args) {
                Ok([value]) => Ok(Some(func("utc_date", vec![value]))),
                Err(args) if args.len() == 2 => {
                    let [value, zone]: [Expr; 2] = args.try_into().expect("two arguments");
                    let local = Expr::AtTimeZone {
                        timestamp: Box::new(value),
                        time_zone: Box::new(zone),
                    };
                    Ok(Some(cast(local, DataType::Date)))
                }
                Err(args) if args.len() == 3 => Ok(Some(func("make_date", args))),
                Err(_) => Err(error(
                    "DATE expects DATE(timestamp), DATE(timestamp, time_zone) or DATE(year, month, day)",
                    span,
                )),
            }
        }
        "DATE_TRUNC" | "TIMESTAMP_TRUNC" | "DATETIME_TRUNC" => {
            // PostgreSQL's date_trunc('day', t) keeps its meaning; only the
            // BigQuery order with a bare part, DATE_TRUNC(t, MONTH), is rewritten.
            let is_bigquery_form = matches!(
                &function.args,
                FunctionArguments::List(list) if list.args.len() == 2
                    && matches!(&list.args[1], FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Identifier(id))) if id.quote_style.is_none())
            );
            if !is_bigquery_form {
                return Ok(None);
            }
            let [value, part] = args::<2>(function, &upper, "(timestamp, part)", span)?;
            let part = date_part(part, &upper)?;
            let truncated = func("date_trunc", vec![part, value]);
            if upper == "DATE_TRUNC" {
                // BigQuery's DATE_TRUNC returns a DATE; date_trunc a timestamp.
                return Ok(Some(cast(truncated, DataType::Date)));
            }
            Ok(Some(truncated))
        }
        "IFNULL" => {
            // COALESCE takes every type; DataFusion's ifnull (nvl) does not
            // take dates or timestamps.
            let [value, fallback] = args::<2>(function, &upper, "(value, fallback)", span)?;
            Ok(Some(func("coalesce", vec![value, fallback])))
        }
        "TIMESTAMP" => {
            let [value] = args::<1>(function, &upper, "(value)", span)?;
            Ok(Some(cast(
                value,
                DataType::Timestamp(None, TimezoneInfo::WithTimeZone),
            )))
        }
        "TIMESTAMP_SECONDS" | "TIMESTAMP_MILLIS" | "TIMESTAMP_MICROS" => {
            let [value] = args::<1>(function, &upper, "(n)", span)?;
            let to = match upper.as_str() {
                "TIMESTAMP_SECONDS" => "to_timestamp_seconds",
                "TIMESTAMP_MILLIS" => "to_timestamp_millis",
                _ => "to_timestamp_micros",
            };
            Ok(Some(func(to, vec![value])))
        }
        "UNIX_SECONDS" => {
            let [value] = args::<1>(function, &upper, "(timestamp)", span)?;
            Ok(Some(func("to_unixtime", vec![value])))
        }
        "APPROX_COUNT_DISTINCT" => {
            let mut renamed = function.clone();
            renamed.name = ObjectName::from(vec![Ident::new("approx_distinct")]);
            Ok(Some(Expr::Function(renamed)))
        }
        "GENERATE_DATE_ARRAY" => {
            let args = plain_args(function, &upper)?;
            let mut args = match args.len() {
                2 | 3 => args,
                n => {
                    return Err(error(
                        &format!("GENERATE_DATE_ARRAY(start, end [, INTERVAL n unit]) takes 2 or 3 arguments, got {n}"),
                        span,
                    ))
                }
            };
            if args.len() == 2 {
                args.push(Expr::Interval(datafusion::sql::sqlparser::ast::Interval {
                    value: Box::new(string("1 day")),
                    leading_field: None,
                    leading_precision: None,
                    last_field: None,
                    fractional_seconds_precision: None,
                }));
            }
            let args = args
                .into_iter()
                .enumerate()
                .map(|(i, a)| match a {
                    Expr::Value(v) if i < 2 && matches!(v.value, Value::SingleQuotedString(_)) => {
                        cast(Expr::Value(v), DataType::Date)
                    }
                    other => other,
                })
                .collect();
            Ok(Some(func("generate_series", args)))
        }
        "CURRENT_DATE" if matches!(&function.args, FunctionArguments::List(l) if l.args.len() == 1) =>
        {
            // CURRENT_DATE('America/New_York'): today in that time zone.
            let [zone] = args::<1>(function, &upper, "([time_zone])", span)?;
            let local = Expr::AtTimeZone {
                timestamp: Box::new(func("now", vec![])),
                time_zone: Box::new(zone),
            };
            Ok(Some(cast(local, DataType::Date)))
        }
        "JSON_VALUE" | "JSON_EXTRACT_SCALAR" | "JSON_QUERY" | "JSON_EXTRACT" => {
            // BigQuery's JSONPath functions over JSON text; the path must be
            // a literal ('$.a.b[0]', '$["key with space"]').
            let args = plain_args(function, &upper)?;
            let (json, path) = match <[Expr; 2]>::try_from(args) {
                Ok([json, path]) => (json, path),
                Err(args) if args.len() == 1 => {
                    (args.into_iter().next().expect("one argument"), string("$"))
                }
                Err(args) => {
                    return Err(error(
                        &format!(
                            "{upper}(json [, json_path]) takes 1 or 2 arguments, got {}",
                            args.len()
                        ),
                        span,
                    ))
                }
            };
            let Expr::Value(ValueWithSpan {
                value: Value::SingleQuotedString(text) | Value::DoubleQuotedString(text),
                ..
            }) = &path
            else {
                return Err(error(
                    &format!("{upper}: the JSON path must be a string literal such as '$.plan'"),
                    path.span(),
                ));
            };
            let steps = parse_json_path(text).ok_or_else(|| {
                error(&format!("{upper}: cannot read the JSON path {text:?}; use '$.key', '$.a.b', '$.list[0]' or '$[\"key\"]'"), path.span())
            })?;
            let scalar = matches!(upper.as_str(), "JSON_VALUE" | "JSON_EXTRACT_SCALAR");
            if steps.is_empty() {
                return Ok(Some(json));
            }
            let mut call = vec![json];
            call.extend(steps);
            Ok(Some(func(
                if scalar { TRAIL_PROP } else { "json_get_json" },
                call,
            )))
        }
        "INT64" | "FLOAT64" | "BOOL" | "STRING" | "LAX_INT64" | "LAX_FLOAT64" | "LAX_BOOL"
        | "LAX_STRING" => {
            // BigQuery's JSON conversions, over a property's text.
            let [value] = args::<1>(function, &upper, "(json)", span)?;
            let to = match upper.trim_start_matches("LAX_") {
                "INT64" => DataType::BigInt(None),
                "FLOAT64" => DataType::Double(ExactNumberInfo::None),
                "BOOL" => DataType::Boolean,
                _ => DataType::Text,
            };
            let mut converted = cast(value, to);
            if upper.starts_with("LAX_") {
                if let Expr::Cast { kind, .. } = &mut converted {
                    *kind = CastKind::TryCast;
                }
            }
            Ok(Some(converted))
        }
        "IF" => {
            let [condition, then, otherwise] =
                args::<3>(function, &upper, "(condition, then, else)", span)?;
            Ok(Some(case_when(condition, then, Some(otherwise))))
        }
        "COUNTIF" => {
            let [condition] = args::<1>(function, &upper, "(condition)", span)?;
            let mut count = function.clone();
            count.name = ObjectName::from(vec![Ident::new("count")]);
            set_args(&mut count, vec![case_when(condition, number("1"), None)]);
            Ok(Some(Expr::Function(count)))
        }
        "LOGICAL_AND" | "LOGICAL_OR" => {
            let mut renamed = function.clone();
            let to = if upper == "LOGICAL_AND" {
                "bool_and"
            } else {
                "bool_or"
            };
            renamed.name = ObjectName::from(vec![Ident::new(to)]);
            Ok(Some(Expr::Function(renamed)))
        }
        "FORMAT_DATE" | "FORMAT_TIMESTAMP" | "FORMAT_DATETIME" => {
            let [format, value] = args::<2>(function, &upper, "(format, value)", span)?;
            Ok(Some(func("to_char", vec![value, format])))
        }
        "PARSE_DATE" => {
            let [format, value] = args::<2>(function, &upper, "(format, string)", span)?;
            Ok(Some(func("to_date", vec![value, format])))
        }
        _ => Ok(None),
    }
}

/// A literal JSONPath (`$`, `.key`, `["key"]`, `['key']`, `[0]`) as the key
/// and index arguments of `trail_prop`.
fn parse_json_path(path: &str) -> Option<Vec<Expr>> {
    let mut rest = path.trim().strip_prefix('$')?;
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            let key = &after[..end];
            if key.is_empty() {
                return None;
            }
            steps.push(string(key));
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']')?;
            let inner = after[..end].trim();
            let quoted = inner
                .strip_prefix('"')
                .and_then(|k| k.strip_suffix('"'))
                .or_else(|| inner.strip_prefix('\'').and_then(|k| k.strip_suffix('\'')));
            match quoted {
                Some(key) => steps.push(string(key)),
                None => {
                    inner.parse::<u64>().ok()?;
                    steps.push(number(inner));
                }
            }
            rest = &after[end + 1..];
        } else {
            return None;
        }
    }
    Some(steps)
}

fn arg_expr(arg: &FunctionArg) -> Option<&Expr> {
    match arg {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
        _ => None,
    }
}

fn is_interval_cast(expr: &Expr) -> bool {
    matches!(
        expr,
        Expr::Cast {
            data_type: DataType::Interval { .. },
            ..
        }
    )
}

/// A date part written as a bare word (`DAY`, `WEEK(MONDAY)`) or a string,
/// as a string literal.
fn date_part(part: Expr, function: &str) -> Result<Expr> {
    match part {
        Expr::Identifier(id) => Ok(string(&id.value.to_ascii_uppercase())),
        Expr::Function(f) => {
            // WEEK(MONDAY) parses as a call.
            let name = f.name.to_string().to_ascii_uppercase();
            let arg = match &f.args {
                FunctionArguments::List(list) if list.args.len() == 1 => {
                    match arg_expr(&list.args[0]) {
                        Some(Expr::Identifier(id)) => id.value.to_ascii_uppercase(),
                        _ => return Err(bad_part(function, f.span())),
                    }
                }
                _ => return Err(bad_part(function, f.span())),
            };
            Ok(string(&format!("{name}({arg})")))
        }
        Expr::Value(v) if matches!(v.value, Value::SingleQuotedString(_)) => Ok(Expr::Value(v)),
        other => Err(bad_part(function, other.span())),
    }
}

fn bad_part(function: &str, span: Span) -> DataFusionError {
    error(
        &format!("{function} expects a date part such as DAY, WEEK, MONTH or YEAR"),
        span,
    )
}

/// The positional arguments of a call, exactly `N` of them.
fn args<const N: usize>(
    function: &Function,
    name: &str,
    usage: &str,
    span: Span,
) -> Result<[Expr; N]> {
    let args = plain_args(function, name)?;
    let count = args.len();
    args.try_into().map_err(|_| {
        error(
            &format!(
                "{name}{usage} takes {N} argument{}, got {count}",
                if N == 1 { "" } else { "s" }
            ),
            span,
        )
    })
}

fn plain_args(function: &Function, name: &str) -> Result<Vec<Expr>> {
    let span = function.span();
    let FunctionArguments::List(list) = &function.args else {
        return Err(error(&format!("{name} needs an argument list"), span));
    };
    list.args
        .iter()
        .map(|arg| match arg {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Ok(e.clone()),
            _ => Err(error(
                &format!("{name} takes plain positional arguments"),
                span,
            )),
        })
        .collect()
}

fn set_args(function: &mut Function, args: Vec<Expr>) {
    let clauses = match &function.args {
        FunctionArguments::List(list) => list.clauses.clone(),
        _ => vec![],
    };
    function.args = FunctionArguments::List(FunctionArgumentList {
        duplicate_treatment: None,
        args: args
            .into_iter()
            .map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e)))
            .collect(),
        clauses,
    });
}

/// A plan error that says where in the SQL text it is.
pub(crate) fn error(message: &str, span: Span) -> DataFusionError {
    if span.start.line == 0 {
        DataFusionError::Plan(message.to_string())
    } else {
        DataFusionError::Plan(format!(
            "{message} at line {}, column {}",
            span.start.line, span.start.column
        ))
    }
}

// ---- JSON dot access -------------------------------------------------------

/// One step of a JSON path.
enum PathStep {
    Key(Ident),
    Index(Box<Expr>),
}

/// Splits `ids` (and the access chain after them) into the JSON column's
/// identifiers and the path, when they are a JSON dot access.
fn split_json_access(expr: &Expr) -> Option<(Vec<Ident>, Vec<PathStep>)> {
    let (root, chain): (Vec<Ident>, &[AccessExpr]) = match expr {
        Expr::CompoundIdentifier(ids) => (ids.clone(), &[]),
        Expr::CompoundFieldAccess { root, access_chain } => match root.as_ref() {
            Expr::Identifier(id) => (vec![id.clone()], access_chain.as_slice()),
            Expr::CompoundIdentifier(ids) => (ids.clone(), access_chain.as_slice()),
            _ => return None,
        },
        _ => return None,
    };
    let column = root.iter().position(|id| {
        JSON_COLUMNS
            .iter()
            .any(|c| id.value.eq_ignore_ascii_case(c))
    })?;
    let mut path: Vec<PathStep> = root[column + 1..]
        .iter()
        .cloned()
        .map(PathStep::Key)
        .collect();
    for access in chain {
        match access {
            AccessExpr::Dot(Expr::Identifier(id)) => path.push(PathStep::Key(id.clone())),
            AccessExpr::Subscript(Subscript::Index { index }) => match index {
                Expr::Value(v) => match &v.value {
                    Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => {
                        path.push(PathStep::Key(Ident::with_quote('\'', s.clone())))
                    }
                    Value::Number(..) => path.push(PathStep::Index(Box::new(index.clone()))),
                    _ => return None,
                },
                _ => return None,
            },
            _ => return None,
        }
    }
    if path.is_empty() {
        return None;
    }
    Some((root[..=column].to_vec(), path))
}

/// `user_properties.plan_level` → `trail_prop(user_properties, 'plan_level')`.
fn json_access(expr: &Expr) -> Option<Expr> {
    let (column, path) = split_json_access(expr)?;
    let column = if column.len() == 1 {
        Expr::Identifier(column.into_iter().next().expect("one identifier"))
    } else {
        Expr::CompoundIdentifier(column)
    };
    let mut args = vec![column];
    args.extend(path.into_iter().map(|step| match step {
        PathStep::Key(id) => string(&id.value),
        PathStep::Index(index) => *index,
    }));
    Some(func(TRAIL_PROP, args))
}

/// The name BigQuery gives an unaliased JSON dot access: its last key.
fn json_access_name(expr: &Expr) -> Option<Ident> {
    let (_, path) = split_json_access(expr)?;
    match path.last()? {
        PathStep::Key(id) if id.quote_style != Some('\'') => Some(id.clone()),
        _ => None,
    }
}

// ---- names and types -------------------------------------------------------

/// `` `project.dataset.table` `` (one BigQuery identifier) → three parts.
fn split_backtick_name(name: &mut ObjectName) {
    let mut parts = Vec::with_capacity(name.0.len());
    let mut changed = false;
    for part in &name.0 {
        match part {
            ObjectNamePart::Identifier(id)
                if id.quote_style == Some('`') && id.value.contains('.') =>
            {
                changed = true;
                parts.extend(
                    id.value
                        .split('.')
                        .map(|p| ObjectNamePart::Identifier(Ident::with_quote('`', p.to_string()))),
                );
            }
            other => parts.push(other.clone()),
        }
    }
    if changed {
        name.0 = parts;
    }
}

/// BigQuery type names DataFusion does not know.
fn rewrite_data_type(data_type: &mut DataType) {
    let new = match data_type {
        DataType::Int64 => DataType::BigInt(None),
        DataType::Float64 => DataType::Double(ExactNumberInfo::None),
        DataType::JSON | DataType::JSONB => DataType::Text,
        DataType::Bytes(_) => DataType::Bytea,
        DataType::Array(_) => return,
        _ => return,
    };
    *data_type = new;
}

// ---- AST builders ------------------------------------------------------------

fn func(name: &str, args: Vec<Expr>) -> Expr {
    let mut function = Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::None,
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    };
    set_args(&mut function, args);
    Expr::Function(function)
}

fn cast(expr: Expr, data_type: DataType) -> Expr {
    Expr::Cast {
        kind: CastKind::Cast,
        expr: Box::new(expr),
        data_type,
        array: false,
        format: None,
    }
}

fn string(s: &str) -> Expr {
    Expr::value(Value::SingleQuotedString(s.to_string()))
}

fn number(n: &str) -> Expr {
    Expr::value(Value::Number(n.to_string(), false))
}

fn case_when(condition: Expr, then: Expr, otherwise: Option<Expr>) -> Expr {
    Expr::Case {
        case_token: AttachedToken::empty(),
        end_token: AttachedToken::empty(),
        operand: None,
        conditions: vec![CaseWhen {
            condition,
            result: then,
        }],
        else_result: otherwise.map(Box::new),
    }
}
