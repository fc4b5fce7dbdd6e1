//! `trail_json_object`: puts a property object back together from its
//! promoted columns and its residual JSON, so `event_properties` and
//! `user_properties` read as the JSON objects that were imported.
//!
//! ```sql
//! trail_json_object(rest_json, 'key1', value1, 'key2', value2, …) → Utf8
//! SELECT trail_json_object('{"b":2}', 'a', 1);   -- {"a":1,"b":2}
//! ```
//! NULL values are left out; a NULL residual counts as `{}`.

use std::fmt::Write;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::common::{exec_err, plan_err, Result, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// The UDF's SQL name.
pub(crate) const NAME: &str = "trail_json_object";

/// See the module documentation.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct JsonObject {
    signature: Signature,
}

impl JsonObject {
    /// The UDF, ready to register.
    pub(crate) fn udf() -> ScalarUDF {
        ScalarUDF::new_from_impl(Self {
            signature: Signature::variadic_any(Volatility::Immutable),
        })
    }
}

impl ScalarUDFImpl for JsonObject {
    fn name(&self) -> &str {
        NAME
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        if args.len() % 2 != 1 {
            return plan_err!("{NAME} takes a residual JSON column and key/value pairs");
        }
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let rest = datafusion::arrow::compute::cast(&arrays[0], &DataType::Utf8)?;
        let rest = rest.as_string::<i32>();
        let mut keys = Vec::new();
        let mut values = Vec::new();
        for pair in arrays[1..].chunks(2) {
            let key = match ScalarValue::try_from_array(&pair[0], 0)? {
                ScalarValue::Utf8(Some(k)) | ScalarValue::Utf8View(Some(k)) => {
                    serde_json::Value::String(k).to_string()
                }
                other => return exec_err!("{NAME}: keys must be strings, got {other}"),
            };
            keys.push(key);
            values.push(normalize(&pair[1])?);
        }
        let mut out = StringBuilder::with_capacity(rows, rows * 32);
        let mut buf = String::new();
        for row in 0..rows {
            buf.clear();
            buf.push('{');
            for (key, value) in keys.iter().zip(&values) {
                if value.is_null(row) {
                    continue;
                }
                if buf.len() > 1 {
                    buf.push(',');
                }
                buf.push_str(key);
                buf.push(':');
                write_json_value(&mut buf, value, row);
            }
            if rest.is_valid(row) {
                let inner = rest.value(row).trim();
                let inner = inner
                    .strip_prefix('{')
                    .and_then(|s| s.strip_suffix('}'))
                    .unwrap_or("")
                    .trim();
                if !inner.is_empty() {
                    if buf.len() > 1 {
                        buf.push(',');
                    }
                    buf.push_str(inner);
                }
            }
            buf.push('}');
            out.append_value(&buf);
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// Dictionary and view strings become plain Utf8 so one writer handles them.
fn normalize(array: &ArrayRef) -> Result<ArrayRef> {
    Ok(match array.data_type() {
        DataType::Dictionary(_, v) if v.is_string() => {
            datafusion::arrow::compute::cast(array, &DataType::Utf8)?
        }
        DataType::Utf8View | DataType::LargeUtf8 => {
            datafusion::arrow::compute::cast(array, &DataType::Utf8)?
        }
        _ => array.clone(),
    })
}

fn write_json_value(buf: &mut String, array: &ArrayRef, row: usize) {
    match array.data_type() {
        DataType::Utf8 => {
            let s = array.as_string::<i32>().value(row);
            buf.push_str(&serde_json::Value::String(s.to_string()).to_string());
        }
        DataType::Int64 => {
            let _ = write!(buf, "{}", array.as_primitive::<Int64Type>().value(row));
        }
        DataType::Float64 => {
            let v = array.as_primitive::<Float64Type>().value(row);
            match serde_json::Number::from_f64(v) {
                Some(n) => buf.push_str(&serde_json::Value::Number(n).to_string()),
                None => buf.push_str("null"),
            }
        }
        DataType::Boolean => buf.push_str(if array.as_boolean().value(row) {
            "true"
        } else {
            "false"
        }),
        _ => match ScalarValue::try_from_array(array, row) {
            Ok(v) => buf.push_str(&serde_json::Value::String(v.to_string()).to_string()),
            Err(_) => buf.push_str("null"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    #[tokio::test]
    async fn rebuilds_objects() {
        let ctx = SessionContext::new();
        ctx.register_udf(JsonObject::udf());
        let batches = ctx
            .sql(
                r#"SELECT trail_json_object(r, 'a', a, 'b', b) AS j FROM (VALUES
                   ('{"c":"x"}', 1, 2.5), (NULL, NULL, NULL), ('{}', 3, NULL)) t(r, a, b)"#,
            )
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let j = batches[0].column(0).as_string::<i32>();
        assert_eq!(j.value(0), r#"{"a":1,"b":2.5,"c":"x"}"#);
        assert_eq!(j.value(1), "{}");
        assert_eq!(j.value(2), r#"{"a":3}"#);
    }
}
