//! Rewrites PostgreSQL catalog-query syntax into what DataFusion plans:
//! `pg_catalog.f()` → `f()`, `'t'::regclass` → `regclass_oid('t')`,
//! `OPERATOR(pg_catalog.~)` → `~`, `COLLATE pg_catalog.default` dropped,
//! unqualified `pg_class` → `pg_catalog.pg_class`.

use std::collections::HashSet;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    visit_expressions, visit_expressions_mut, visit_relations, visit_relations_mut, BinaryOperator,
    CastKind, DataType, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList,
    FunctionArguments, Ident, ObjectName, ObjectNamePart, Statement, Value,
};

use super::{INFORMATION_SCHEMA, PG_CATALOG};

fn parts(name: &ObjectName) -> Vec<String> {
    name.0
        .iter()
        .map(|p| match p {
            ObjectNamePart::Identifier(i) => i.value.to_ascii_lowercase(),
            other => other.to_string().to_ascii_lowercase(),
        })
        .collect()
}

fn is_system_relation(name: &ObjectName) -> bool {
    let p = parts(name);
    match p.as_slice() {
        [one] => one.starts_with("pg_"),
        [schema, _] | [_, schema, _] => schema == PG_CATALOG || schema == INFORMATION_SCHEMA,
        _ => false,
    }
}

fn special_type(dt: &DataType) -> Option<String> {
    match dt {
        DataType::Regclass => Some("regclass".to_owned()),
        DataType::Custom(name, _) => {
            let p = parts(name);
            let last = p.last()?.clone();
            match last.as_str() {
                "regclass" | "regtype" | "regproc" | "regprocedure" | "regnamespace"
                | "regrole" | "regoper" | "oid" | "xid" | "cid" | "name" | "char"
                | "int2vector" | "oidvector" | "sql_identifier" | "character_data"
                | "cardinal_number" | "yes_or_no" | "pg_node_tree" | "aclitem" | "anyarray" => {
                    Some(last)
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// `pg_catalog.int4` and friends as the plain SQL type.
fn builtin_type(dt: &DataType) -> Option<DataType> {
    let DataType::Custom(name, _) = dt else {
        return None;
    };
    let p = parts(name);
    if p.len() != 2 || p[0] != PG_CATALOG {
        return None;
    }
    Some(match p[1].as_str() {
        "text" | "varchar" | "bpchar" | "name" | "char" => DataType::Text,
        "int2" | "smallint" => DataType::SmallInt(None),
        "int4" | "integer" | "int" => DataType::Int(None),
        "int8" | "bigint" => DataType::BigInt(None),
        "bool" | "boolean" => DataType::Boolean,
        "float4" | "real" => DataType::Real,
        "float8" => DataType::DoublePrecision,
        "numeric" => DataType::Numeric(datafusion::sql::sqlparser::ast::ExactNumberInfo::None),
        "date" => DataType::Date,
        "timestamptz" => DataType::Timestamp(
            None,
            datafusion::sql::sqlparser::ast::TimezoneInfo::WithTimeZone,
        ),
        "timestamp" => {
            DataType::Timestamp(None, datafusion::sql::sqlparser::ast::TimezoneInfo::None)
        }
        _ => return None,
    })
}

/// Whether `stmt` reads the emulated catalog or calls an emulated function,
/// and so must be planned by the server rather than the engine's dialect.
pub(crate) fn is_catalog_query(stmt: &Statement, functions: &HashSet<String>) -> bool {
    let relations = visit_relations(stmt, |name| {
        if is_system_relation(name) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    if relations.is_break() {
        return true;
    }
    visit_expressions(stmt, |expr| {
        let hit = match expr {
            Expr::Function(f) => {
                let p = parts(&f.name);
                p.first().map(String::as_str) == Some(PG_CATALOG)
                    || p.last().is_some_and(|n| functions.contains(n))
            }
            Expr::Cast { data_type, .. } => {
                special_type(data_type).is_some() || builtin_type(data_type).is_some()
            }
            Expr::BinaryOp {
                op: BinaryOperator::PGCustomBinaryOperator(_),
                ..
            } => true,
            Expr::Collate { .. } => true,
            Expr::Like {
                escape_char: Some(_),
                ..
            }
            | Expr::ILike {
                escape_char: Some(_),
                ..
            } => true,
            _ => false,
        };
        if hit {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .is_break()
}

fn call(name: &str, arg: Expr) -> Expr {
    Expr::Function(Function {
        name: ObjectName(vec![ObjectNamePart::Identifier(Ident::new(name))]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))],
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

fn replace(text: Expr, from: Expr, to: Expr) -> Expr {
    Expr::Function(Function {
        name: ObjectName(vec![ObjectNamePart::Identifier(Ident::new("replace"))]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: [text, from, to]
                .into_iter()
                .map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e)))
                .collect(),
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
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

fn custom_operator(parts: &[String]) -> Option<BinaryOperator> {
    Some(match parts.last()?.as_str() {
        "~" => BinaryOperator::PGRegexMatch,
        "~*" => BinaryOperator::PGRegexIMatch,
        "!~" => BinaryOperator::PGRegexNotMatch,
        "!~*" => BinaryOperator::PGRegexNotIMatch,
        "~~" => BinaryOperator::PGLikeMatch,
        "!~~" => BinaryOperator::PGNotLikeMatch,
        "~~*" => BinaryOperator::PGILikeMatch,
        "=" => BinaryOperator::Eq,
        "<>" | "!=" => BinaryOperator::NotEq,
        "<" => BinaryOperator::Lt,
        ">" => BinaryOperator::Gt,
        "<=" => BinaryOperator::LtEq,
        ">=" => BinaryOperator::GtEq,
        "||" => BinaryOperator::StringConcat,
        "+" => BinaryOperator::Plus,
        "-" => BinaryOperator::Minus,
        _ => return None,
    })
}

/// Catalog tables that are always empty for Trail (no defaults, indexes,
/// constraints, comments, inheritance, policies, triggers, publications);
/// `pg_collation` answers only for columns whose collation differs from
/// their type's, which never happens here.
const EMPTY_TABLES: &[&str] = &[
    "pg_attrdef",
    "pg_description",
    "pg_constraint",
    "pg_index",
    "pg_inherits",
    "pg_policy",
    "pg_trigger",
    "pg_statistic_ext",
    "pg_rewrite",
    "pg_publication",
    "pg_publication_rel",
    "pg_publication_namespace",
    "pg_depend",
    "pg_collation",
    "pg_foreign_table",
    "pg_partitioned_table",
    "pg_sequence",
    "pg_shdescription",
    "pg_seclabel",
];

/// Whether every relation `query` reads is one of [`EMPTY_TABLES`], so a
/// (correlated) subquery over it is NULL and never needs decorrelating.
fn reads_only_empty_tables(query: &datafusion::sql::sqlparser::ast::Query) -> bool {
    // An inner join with an empty table is empty too; outer joins are not.
    let text = query.to_string().to_ascii_uppercase();
    if text.contains(" LEFT ") || text.contains(" RIGHT ") || text.contains(" FULL ") {
        return false;
    }
    visit_relations(query, |name| {
        let p = parts(name);
        if p.last().is_some_and(|n| EMPTY_TABLES.contains(&n.as_str())) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .is_break()
}

/// DataFusion needs a correlated scalar subquery to be aggregated; the
/// catalog's ones return at most one row, so `first_value(x)` is `x`.
fn aggregate_scalar_subquery(query: &mut datafusion::sql::sqlparser::ast::Query) {
    use datafusion::sql::sqlparser::ast::{GroupByExpr, SelectItem, SetExpr};
    let SetExpr::Select(select) = query.body.as_mut() else {
        return;
    };
    let no_group = matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty());
    if select.projection.len() != 1 || !no_group || query.limit_clause.is_some() {
        return;
    }
    const AGGREGATES: &[&str] = &[
        "count",
        "max",
        "min",
        "sum",
        "avg",
        "array_agg",
        "string_agg",
        "bool_and",
        "bool_or",
        "first_value",
        "last_value",
    ];
    let wrap = |e: &mut Expr| {
        if let Expr::Function(f) = e {
            if parts(&f.name)
                .last()
                .is_some_and(|n| AGGREGATES.contains(&n.as_str()))
            {
                return;
            }
        }
        *e = call("first_value", e.clone());
    };
    match &mut select.projection[0] {
        SelectItem::UnnamedExpr(e) => wrap(e),
        SelectItem::ExprWithAlias { expr, .. } => wrap(expr),
        _ => {}
    }
}

/// `ARRAY(SELECT e FROM … ORDER BY …)` (psql's `\d` footers) as the scalar
/// subquery `(SELECT array_agg(e ORDER BY …) FROM …)`, which DataFusion
/// plans and decorrelates. An empty input gives NULL rather than `{}`.
fn array_subquery(query: &datafusion::sql::sqlparser::ast::Query) -> Option<Expr> {
    use datafusion::sql::sqlparser::ast::{
        DuplicateTreatment, FunctionArgumentClause, GroupByExpr, OrderByKind, SelectItem, SetExpr,
    };
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    // `ARRAY(SELECT 'toast.' || x FROM unnest(tc.reloptions) x)` (`\d+`): the
    // emulated catalog's array columns (reloptions, relacl…) are all NULL.
    let unnests_only = !select.from.is_empty()
        && select.from.iter().all(|twj| {
            twj.joins.is_empty()
                && matches!(&twj.relation,
                    datafusion::sql::sqlparser::ast::TableFactor::Table { name, args: Some(_), .. }
                        if parts(name).last().map(String::as_str) == Some("unnest"))
        });
    if unnests_only {
        return Some(cast(
            Expr::Value(Value::Null.into()),
            DataType::Array(
                datafusion::sql::sqlparser::ast::ArrayElemTypeDef::SquareBracket(
                    Box::new(DataType::Text),
                    None,
                ),
            ),
        ));
    }
    let no_group = matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty());
    if select.projection.len() != 1
        || !no_group
        || select.having.is_some()
        || query.limit_clause.is_some()
        || query.with.is_some()
    {
        return None;
    }
    let item = match &select.projection[0] {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e.clone(),
        _ => return None,
    };
    let alias = match &select.projection[0] {
        SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.to_ascii_lowercase()),
        _ => None,
    };
    let mut order = Vec::new();
    if let Some(order_by) = &query.order_by {
        let OrderByKind::Expressions(exprs) = &order_by.kind else {
            return None;
        };
        for o in exprs {
            let mut o = o.clone();
            let positional =
                matches!(&o.expr, Expr::Value(v) if v.value == Value::Number("1".into(), false));
            let aliased = matches!(&o.expr, Expr::Identifier(i) if Some(i.value.to_ascii_lowercase()) == alias);
            if positional || aliased {
                o.expr = item.clone();
            }
            order.push(o);
        }
    }
    let distinct = select.distinct.is_some();
    let mut agg = Function {
        name: ObjectName(vec![ObjectNamePart::Identifier(Ident::new("array_agg"))]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: distinct.then_some(DuplicateTreatment::Distinct),
            args: vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(item))],
            clauses: if order.is_empty() {
                vec![]
            } else {
                vec![FunctionArgumentClause::OrderBy(order)]
            },
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    };
    if distinct {
        // DISTINCT with ORDER BY must order by the argument itself.
        if let FunctionArguments::List(list) = &mut agg.args {
            list.clauses.clear();
        }
    }
    let mut new_select = select.clone();
    new_select.distinct = None;
    new_select.projection = vec![SelectItem::UnnamedExpr(Expr::Function(agg))];
    let mut new_query = query.clone();
    new_query.order_by = None;
    new_query.body = Box::new(SetExpr::Select(new_select));
    Some(Expr::Subquery(Box::new(new_query)))
}

/// The text literal `'{0}'` (an `oid[]` in psql's `pol.polroles = '{0}'`)
/// as `make_array(0)`: DataFusion compares no list with a string.
fn int_array_literal(expr: &Expr) -> Option<Expr> {
    let Expr::Value(v) = expr else {
        return None;
    };
    let Value::SingleQuotedString(s) = &v.value else {
        return None;
    };
    let inner = s.strip_prefix('{')?.strip_suffix('}')?;
    let items: Vec<&str> = inner.split(',').map(str::trim).collect();
    let numeric = |i: &&str| {
        let digits = i.strip_prefix('-').unwrap_or(i);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    };
    if !items.iter().all(numeric) {
        return None;
    }
    Some(Expr::Function(Function {
        name: ObjectName(vec![ObjectNamePart::Identifier(Ident::new("make_array"))]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: items
                .iter()
                .map(|i| {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(cast(
                        Expr::Value(Value::Number((*i).to_owned(), false).into()),
                        DataType::BigInt(None),
                    )))
                })
                .collect(),
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    }))
}

fn is_empty_table(factor: &datafusion::sql::sqlparser::ast::TableFactor) -> bool {
    match factor {
        datafusion::sql::sqlparser::ast::TableFactor::Table { name, .. } => parts(name)
            .last()
            .is_some_and(|n| EMPTY_TABLES.contains(&n.as_str())),
        _ => false,
    }
}

/// Whether `select` has no rows because it reads one of [`EMPTY_TABLES`]
/// on a side that no outer join preserves.
fn select_is_empty(select: &datafusion::sql::sqlparser::ast::Select) -> bool {
    use datafusion::sql::sqlparser::ast::JoinOperator as J;
    select.from.iter().any(|twj| {
        let left_empty = is_empty_table(&twj.relation)
            && twj.joins.iter().all(|j| {
                matches!(
                    j.join_operator,
                    J::Join(_) | J::Inner(_) | J::Left(_) | J::LeftOuter(_) | J::CrossJoin(_)
                )
            });
        left_empty
            || twj.joins.iter().any(|j| {
                is_empty_table(&j.relation)
                    && matches!(
                        j.join_operator,
                        J::Join(_) | J::Inner(_) | J::Right(_) | J::RightOuter(_) | J::CrossJoin(_)
                    )
            })
    })
}

/// PostgreSQL allows `SELECT pubname, NULL, NULL` (psql's publication
/// footer); DataFusion wants unique names, so repeats get `?column?N`.
fn alias_duplicate_columns(select: &mut datafusion::sql::sqlparser::ast::Select) {
    use datafusion::sql::sqlparser::ast::SelectItem;
    let mut seen = HashSet::new();
    for (i, item) in select.projection.iter_mut().enumerate() {
        if let SelectItem::UnnamedExpr(e) = item {
            if matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) {
                continue;
            }
            if !seen.insert(e.to_string()) {
                *item = SelectItem::ExprWithAlias {
                    expr: e.clone(),
                    alias: Ident::with_quote('"', format!("?column?{}", i + 1)),
                };
            }
        }
    }
}

/// A query over an always-empty catalog table (psql's `\d` footers: policies,
/// statistics, publications…) never evaluates its select list: its
/// subqueries, which DataFusion may not decorrelate, become NULL.
fn null_subqueries_of_empty_select(stmt: &mut Statement) {
    use datafusion::sql::sqlparser::ast::SetExpr;
    fn walk(body: &mut SetExpr) {
        if let SetExpr::Select(select) = body {
            alias_duplicate_columns(select);
        }
        match body {
            SetExpr::SetOperation { left, right, .. } => {
                walk(left);
                walk(right);
            }
            SetExpr::Query(q) => walk(&mut q.body),
            SetExpr::Select(select) if select_is_empty(select) => {
                let _ = visit_expressions_mut(&mut select.projection, |expr| {
                    let is_subquery = match expr {
                        Expr::Subquery(_) => true,
                        Expr::Function(f) => matches!(f.args, FunctionArguments::Subquery(_)),
                        _ => false,
                    };
                    if is_subquery {
                        *expr = Expr::Value(Value::Null.into());
                    }
                    ControlFlow::<()>::Continue(())
                });
            }
            _ => {}
        }
    }
    if let Statement::Query(query) = stmt {
        walk(&mut query.body);
    }
}

/// Rewrites `stmt` in place for planning against the emulated catalog.
pub(crate) fn rewrite(stmt: &mut Statement) {
    null_subqueries_of_empty_select(stmt);
    let _ = visit_relations_mut(stmt, |name| {
        let p = parts(name);
        if p.len() == 1 && p[0].starts_with("pg_") {
            name.0
                .insert(0, ObjectNamePart::Identifier(Ident::new(PG_CATALOG)));
        }
        ControlFlow::<()>::Continue(())
    });
    let _ = visit_expressions_mut(stmt, |expr| {
        let replacement = match expr {
            Expr::Subquery(query) if reads_only_empty_tables(query) => Some(Expr::Value(
                datafusion::sql::sqlparser::ast::Value::Null.into(),
            )),
            Expr::Exists { subquery, negated } if reads_only_empty_tables(subquery) => Some(
                Expr::Value(datafusion::sql::sqlparser::ast::Value::Boolean(*negated).into()),
            ),
            Expr::Subquery(query) => {
                aggregate_scalar_subquery(query);
                None
            }
            Expr::Function(f) => match &f.args {
                FunctionArguments::Subquery(query)
                    if parts(&f.name).last().map(String::as_str) == Some("array") =>
                {
                    array_subquery(query)
                }
                _ => {
                    let p = parts(&f.name);
                    if p.len() == 2 && p[0] == PG_CATALOG {
                        f.name.0.remove(0);
                    }
                    None
                }
            },
            Expr::Collate { expr: inner, .. } => Some((**inner).clone()),
            Expr::Like {
                pattern,
                escape_char,
                ..
            }
            | Expr::ILike {
                pattern,
                escape_char,
                ..
            } => {
                // DataFusion only knows the backslash escape: translate the
                // pattern (SQLAlchemy's inspector uses ESCAPE '/').
                if let Some(esc) = escape_char.take() {
                    let esc = match &esc.value {
                        Value::SingleQuotedString(s) => s.clone(),
                        other => other.to_string(),
                    };
                    if esc != "\\" {
                        let lit =
                            |s: &str| Expr::Value(Value::SingleQuotedString(s.to_owned()).into());
                        let escaped = replace((**pattern).clone(), lit("\\"), lit("\\\\"));
                        **pattern = replace(escaped, lit(&esc), lit("\\"));
                    }
                }
                None
            }
            Expr::BinaryOp { left, op, right } => match op {
                BinaryOperator::PGCustomBinaryOperator(p) => {
                    let lowered: Vec<String> = p.iter().map(|s| s.to_ascii_lowercase()).collect();
                    custom_operator(&lowered).map(|op| Expr::BinaryOp {
                        left: left.clone(),
                        op,
                        right: right.clone(),
                    })
                }
                BinaryOperator::Eq | BinaryOperator::NotEq => {
                    match (int_array_literal(left), int_array_literal(right)) {
                        (Some(l), None) => Some(Expr::BinaryOp {
                            left: Box::new(l),
                            op: op.clone(),
                            right: right.clone(),
                        }),
                        (None, Some(r)) => Some(Expr::BinaryOp {
                            left: left.clone(),
                            op: op.clone(),
                            right: Box::new(r),
                        }),
                        _ => None,
                    }
                }
                _ => None,
            },
            Expr::Cast {
                expr: inner,
                data_type,
                ..
            } => match special_type(data_type).as_deref() {
                None if builtin_type(data_type).is_some() => Some(cast(
                    (**inner).clone(),
                    builtin_type(data_type).unwrap_or(DataType::Text),
                )),
                Some("regclass") => Some(call("regclass_oid", (**inner).clone())),
                Some("regtype") => Some(call("regtype_oid", (**inner).clone())),
                Some("oid" | "xid" | "cid" | "regnamespace" | "regrole" | "cardinal_number") => {
                    Some(cast((**inner).clone(), DataType::BigInt(None)))
                }
                Some("regproc" | "regprocedure" | "regoper") => {
                    if matches!(**inner, Expr::Value(_)) {
                        Some(cast((**inner).clone(), DataType::Text))
                    } else {
                        Some(cast((**inner).clone(), DataType::BigInt(None)))
                    }
                }
                Some(_) => Some(cast((**inner).clone(), DataType::Text)),
                None => None,
            },
            _ => None,
        };
        if let Some(new) = replacement {
            *expr = new;
        }
        ControlFlow::<()>::Continue(())
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn rewritten(sql: &str) -> String {
        let mut stmt = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0);
        rewrite(&mut stmt);
        stmt.to_string()
    }

    #[test]
    fn psql_describe_shapes() {
        let out = rewritten(
            "SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relname OPERATOR(pg_catalog.~) '^(events)$' COLLATE pg_catalog.default AND pg_catalog.pg_table_is_visible(c.oid)",
        );
        assert_eq!(
            out,
            "SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relname ~ '^(events)$' AND pg_table_is_visible(c.oid)"
        );
        assert_eq!(
            rewritten("SELECT 'events'::regclass, x::oid FROM pg_type"),
            "SELECT regclass_oid('events'), CAST(x AS BIGINT) FROM pg_catalog.pg_type"
        );
    }

    #[test]
    fn array_subquery_becomes_array_agg() {
        assert_eq!(
            rewritten("SELECT array_to_string(array(select rolname from pg_catalog.pg_roles r where r.oid = c.relowner order by 1),',') FROM pg_catalog.pg_class c"),
            "SELECT array_to_string((SELECT array_agg(rolname ORDER BY rolname) FROM pg_catalog.pg_roles r WHERE r.oid = c.relowner), ',') FROM pg_catalog.pg_class c"
        );
        // Over an always-empty table the select list is never evaluated.
        assert_eq!(
            rewritten("SELECT pol.polname, CASE WHEN pol.polroles = '{0}' THEN NULL ELSE array_to_string(array(select rolname from pg_catalog.pg_roles where oid = any (pol.polroles) order by 1),',') END FROM pg_catalog.pg_policy pol"),
            "SELECT pol.polname, CASE WHEN pol.polroles = make_array(CAST(0 AS BIGINT)) THEN NULL ELSE array_to_string(NULL, ',') END FROM pg_catalog.pg_policy pol"
        );
        // psql's `\\d+` reloptions and its publication footer's repeated NULLs.
        assert_eq!(
            rewritten("SELECT array_to_string(c.reloptions || array(select 'toast.' || x from pg_catalog.unnest(tc.reloptions) x), ', '), NULL, NULL FROM pg_catalog.pg_class c"),
            "SELECT array_to_string(c.reloptions || CAST(NULL AS TEXT[]), ', '), NULL, NULL AS \"?column?3\" FROM pg_catalog.pg_class c"
        );
    }

    #[test]
    fn detection() {
        let fs: HashSet<String> = ["version".to_owned()].into();
        let parse = |s: &str| {
            Parser::parse_sql(&PostgreSqlDialect {}, s)
                .unwrap()
                .remove(0)
        };
        assert!(is_catalog_query(&parse("SELECT version()"), &fs));
        assert!(is_catalog_query(
            &parse("SELECT * FROM information_schema.tables"),
            &fs
        ));
        assert!(!is_catalog_query(
            &parse("SELECT count(*) FROM events"),
            &fs
        ));
    }
}
