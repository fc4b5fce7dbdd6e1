//! The PostgreSQL system functions catalog queries call: `version()`,
//! `current_schema()`, `format_type()`, `pg_get_expr()`, privileges, …
//!
//! Most only have to answer plausibly for a read-only, single-user,
//! index-free database; each is one row of [`functions`].

use std::sync::Arc;

use datafusion::arrow::array::{
    new_null_array, Array, ArrayRef, AsArray, BooleanArray, Int32Array, Int64Array, ListBuilder,
    StringArray, StringBuilder, TimestampMicrosecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, TimeUnit};
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

use super::{regclass_oid, types};

type Body = dyn Fn(&[ArrayRef], usize) -> Result<ArrayRef> + Send + Sync;

/// One emulated function: a name, a return type and a body over arrays.
struct PgFunction {
    name: &'static str,
    signature: Signature,
    returns: DataType,
    body: Arc<Body>,
}

impl std::fmt::Debug for PgFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgFunction")
            .field("name", &self.name)
            .finish()
    }
}

impl PartialEq for PgFunction {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for PgFunction {}

impl std::hash::Hash for PgFunction {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state)
    }
}

impl ScalarUDFImpl for PgFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(self.returns.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if all_scalar { 1 } else { args.number_rows };
        let arrays = args
            .args
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<Result<Vec<_>>>()?;
        let out = (self.body)(&arrays, rows)?;
        if all_scalar {
            Ok(ColumnarValue::Scalar(
                datafusion::common::ScalarValue::try_from_array(&out, 0)?,
            ))
        } else {
            Ok(ColumnarValue::Array(out))
        }
    }
}

fn udf(
    name: &'static str,
    signature: Signature,
    returns: DataType,
    body: impl Fn(&[ArrayRef], usize) -> Result<ArrayRef> + Send + Sync + 'static,
) -> ScalarUDF {
    ScalarUDF::new_from_impl(PgFunction {
        name,
        signature,
        returns,
        body: Arc::new(body),
    })
}

fn any_args() -> Signature {
    Signature::variadic_any(Volatility::Stable)
}

fn no_args() -> Signature {
    Signature::nullary(Volatility::Stable)
}

fn constant_text(value: String) -> impl Fn(&[ArrayRef], usize) -> Result<ArrayRef> {
    move |_, rows| Ok(Arc::new(StringArray::from(vec![value.as_str(); rows])) as ArrayRef)
}

fn texts(array: &ArrayRef) -> Result<StringArray> {
    Ok(cast(array, &DataType::Utf8)?.as_string::<i32>().clone())
}

fn ints(array: &ArrayRef) -> Result<Int64Array> {
    Ok(cast(array, &DataType::Int64)?
        .as_primitive::<datafusion::arrow::datatypes::Int64Type>()
        .clone())
}

/// Maps the first argument's text through `f` (NULL stays NULL).
fn map_text(
    args: &[ArrayRef],
    rows: usize,
    f: impl Fn(&str) -> Option<String>,
) -> Result<ArrayRef> {
    let Some(first) = args.first() else {
        return Ok(new_null_array(&DataType::Utf8, rows));
    };
    let t = texts(first)?;
    Ok(Arc::new(
        t.iter().map(|v| v.and_then(&f)).collect::<StringArray>(),
    ))
}

/// Maps the first argument's integer through `f` (NULL stays NULL).
fn map_int<T>(
    args: &[ArrayRef],
    rows: usize,
    f: impl Fn(i64) -> Option<T>,
) -> Result<Vec<Option<T>>> {
    let Some(first) = args.first() else {
        return Ok((0..rows).map(|_| None).collect());
    };
    Ok(ints(first)?.iter().map(|v| v.and_then(&f)).collect())
}

fn quote_ident(name: &str) -> String {
    let plain = name
        .chars()
        .enumerate()
        .all(|(i, c)| c == '_' || c.is_ascii_lowercase() || (i > 0 && c.is_ascii_digit()));
    if plain && !name.is_empty() {
        name.to_owned()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// Every emulated function.
pub(crate) fn functions(
    database: String,
    catalog: Option<Arc<dyn datafusion::catalog::CatalogProvider>>,
) -> Vec<ScalarUDF> {
    let bool_const = |name: &'static str, value: bool| {
        udf(name, any_args(), DataType::Boolean, move |_, rows| {
            Ok(Arc::new(BooleanArray::from(vec![value; rows])) as ArrayRef)
        })
    };
    let null_text = |name: &'static str| {
        udf(name, any_args(), DataType::Utf8, |_, rows| {
            Ok(new_null_array(&DataType::Utf8, rows))
        })
    };
    let zero = |name: &'static str| {
        udf(name, any_args(), DataType::Int64, |_, rows| {
            Ok(Arc::new(Int64Array::from(vec![0; rows])) as ArrayRef)
        })
    };
    let pid = std::process::id() as i32;
    let started = chrono::Utc::now().timestamp_micros();
    vec![
        udf(
            "version",
            no_args(),
            DataType::Utf8,
            constant_text(crate::auth::version_string()),
        ),
        udf(
            "current_schema",
            no_args(),
            DataType::Utf8,
            constant_text("public".into()),
        ),
        udf(
            "current_database",
            no_args(),
            DataType::Utf8,
            constant_text(database),
        ),
        udf(
            "current_user",
            no_args(),
            DataType::Utf8,
            constant_text("trail".into()),
        ),
        udf(
            "session_user",
            no_args(),
            DataType::Utf8,
            constant_text("trail".into()),
        ),
        udf(
            "current_role",
            no_args(),
            DataType::Utf8,
            constant_text("trail".into()),
        ),
        udf(
            "pg_get_userbyid",
            any_args(),
            DataType::Utf8,
            constant_text("trail".into()),
        ),
        udf(
            "current_schemas",
            any_args(),
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            |args, rows| {
                let implicit = match args.first() {
                    Some(a) => cast(a, &DataType::Boolean)?.as_boolean().clone(),
                    None => BooleanArray::from(vec![false; rows]),
                };
                let mut b = ListBuilder::new(StringBuilder::new());
                for i in 0..rows {
                    if implicit.is_valid(i) && implicit.value(i) {
                        b.values().append_value("pg_catalog");
                    }
                    b.values().append_value("public");
                    b.append(true);
                }
                Ok(Arc::new(b.finish()) as ArrayRef)
            },
        ),
        udf(
            "pg_backend_pid",
            no_args(),
            DataType::Int32,
            move |_, rows| Ok(Arc::new(Int32Array::from(vec![pid; rows])) as ArrayRef),
        ),
        udf(
            "pg_postmaster_start_time",
            no_args(),
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            move |_, rows| {
                Ok(Arc::new(
                    TimestampMicrosecondArray::from(vec![started; rows]).with_timezone("UTC"),
                ) as ArrayRef)
            },
        ),
        udf("format_type", any_args(), DataType::Utf8, |args, rows| {
            let values = map_int(args, rows, |oid| Some(types::format_type(oid as u32)))?;
            Ok(Arc::new(StringArray::from(values)) as ArrayRef)
        }),
        // Defaults and expressions are stored as text already.
        udf("pg_get_expr", any_args(), DataType::Utf8, |args, rows| {
            map_text(args, rows, |s| Some(s.to_owned()))
        }),
        udf("regclass_oid", any_args(), DataType::Int64, |args, rows| {
            let Some(first) = args.first() else {
                return Ok(new_null_array(&DataType::Int64, rows));
            };
            if first.data_type().is_integer() {
                return Ok(cast(first, &DataType::Int64)?);
            }
            let t = texts(first)?;
            Ok(Arc::new(
                t.iter()
                    .map(|v| v.map(|n| regclass_oid(n) as i64))
                    .collect::<Int64Array>(),
            ) as ArrayRef)
        }),
        udf("to_regclass", any_args(), DataType::Int64, |args, rows| {
            let t = map_text(args, rows, |n| Some((regclass_oid(n) as i64).to_string()))?;
            Ok(cast(&t, &DataType::Int64)?)
        }),
        udf("regtype_oid", any_args(), DataType::Int64, |args, rows| {
            let Some(first) = args.first() else {
                return Ok(new_null_array(&DataType::Int64, rows));
            };
            if first.data_type().is_integer() {
                return Ok(cast(first, &DataType::Int64)?);
            }
            let t = texts(first)?;
            Ok(Arc::new(
                t.iter()
                    .map(|v| v.and_then(types::by_name).map(|t| t.oid as i64))
                    .collect::<Int64Array>(),
            ) as ArrayRef)
        }),
        udf("to_regtype", any_args(), DataType::Int64, |args, rows| {
            let Some(first) = args.first() else {
                return Ok(new_null_array(&DataType::Int64, rows));
            };
            let t = texts(first)?;
            Ok(Arc::new(
                t.iter()
                    .map(|v| v.and_then(types::by_name).map(|t| t.oid as i64))
                    .collect::<Int64Array>(),
            ) as ArrayRef)
        }),
        udf(
            "pg_encoding_to_char",
            any_args(),
            DataType::Utf8,
            constant_text("UTF8".into()),
        ),
        udf("quote_ident", any_args(), DataType::Utf8, |args, rows| {
            map_text(args, rows, |s| Some(quote_ident(s)))
        }),
        udf(
            "pg_size_pretty",
            any_args(),
            DataType::Utf8,
            |args, rows| {
                let values = map_int(args, rows, |n| Some(format!("{n} bytes")))?;
                Ok(Arc::new(StringArray::from(values)) as ArrayRef)
            },
        ),
        udf(
            "set_config",
            any_args(),
            DataType::Utf8,
            |args, rows| match args.get(1) {
                Some(v) => Ok(Arc::new(texts(v)?) as ArrayRef),
                None => Ok(new_null_array(&DataType::Utf8, rows)),
            },
        ),
        udf(
            "current_setting",
            any_args(),
            DataType::Utf8,
            |args, rows| {
                map_text(args, rows, |name| {
                    crate::session::default_setting(name).map(str::to_owned)
                })
            },
        ),
        udf("txid_current", no_args(), DataType::Int64, |_, rows| {
            Ok(Arc::new(Int64Array::from(vec![1; rows])) as ArrayRef)
        }),
        // Visible = in the search path (`public`, `pg_catalog`), like PostgreSQL.
        udf(
            "pg_table_is_visible",
            any_args(),
            DataType::Boolean,
            move |args, rows| {
                let visible: std::collections::HashSet<i64> = catalog
                    .as_ref()
                    .and_then(|c| c.schema("public"))
                    .map(|s| {
                        s.table_names()
                            .iter()
                            .map(|t| super::relation_oid("public", t) as i64)
                            .collect()
                    })
                    .unwrap_or_default();
                let values = map_int(args, rows, |oid| {
                    Some(oid < 100_000 || visible.contains(&oid))
                })?;
                Ok(Arc::new(BooleanArray::from(values)) as ArrayRef)
            },
        ),
        bool_const("pg_type_is_visible", true),
        bool_const("pg_function_is_visible", true),
        bool_const("has_table_privilege", true),
        bool_const("has_schema_privilege", true),
        bool_const("has_database_privilege", true),
        bool_const("has_column_privilege", true),
        bool_const("has_any_column_privilege", true),
        bool_const("has_function_privilege", true),
        bool_const("pg_has_role", true),
        bool_const("pg_is_in_recovery", false),
        bool_const("pg_relation_is_publishable", false),
        bool_const("pg_is_other_temp_schema", false),
        null_text("obj_description"),
        null_text("col_description"),
        null_text("shobj_description"),
        null_text("pg_get_indexdef"),
        null_text("pg_get_constraintdef"),
        null_text("pg_get_viewdef"),
        null_text("pg_get_triggerdef"),
        null_text("pg_get_partkeydef"),
        null_text("pg_get_serial_sequence"),
        null_text("pg_get_function_identity_arguments"),
        null_text("pg_get_function_arguments"),
        null_text("pg_get_function_result"),
        null_text("pg_get_statisticsobjdef_columns"),
        null_text("pg_tablespace_location"),
        zero("pg_relation_size"),
        zero("pg_total_relation_size"),
        zero("pg_table_size"),
        zero("pg_indexes_size"),
    ]
}

/// Registers every emulated function in `ctx`.
pub(crate) fn register(
    ctx: &SessionContext,
    database: &str,
    catalog: Option<Arc<dyn datafusion::catalog::CatalogProvider>>,
) {
    for f in functions(database.to_owned(), catalog) {
        ctx.register_udf(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("events"), "events");
        assert_eq!(quote_ident("Events"), "\"Events\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
