//! `timestamp_diff(a, b, part)` — BigQuery's `TIMESTAMP_DIFF`: the number of
//! whole `part`s from timestamp `b` to timestamp `a`, truncated toward zero.
//!
//! `TIMESTAMP_DIFF(a, b, HOUR)` is rewritten to `timestamp_diff(a, b, 'HOUR')`.
//! Parts: `MICROSECOND`, `MILLISECOND`, `SECOND`, `MINUTE`, `HOUR`, `DAY`
//! (24 hours). Dates are their UTC midnight. A NULL gives NULL.
//!
//! ```sql
//! SELECT TIMESTAMP_DIFF(TIMESTAMP '2024-01-01 10:59:00', TIMESTAMP '2024-01-01 09:00:00', HOUR); -- 1
//! ```

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use datafusion::common::{exec_err, plan_err, ScalarValue};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// `timestamp_diff(a, b, part)`: see the module documentation.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct TimestampDiff {
    signature: Signature,
}

impl Default for TimestampDiff {
    fn default() -> Self {
        Self {
            signature: Signature::any(3, Volatility::Immutable),
        }
    }
}

fn micros_per(part: &str) -> Result<i64> {
    Ok(match part.trim().to_ascii_uppercase().as_str() {
        "MICROSECOND" => 1,
        "MILLISECOND" => 1_000,
        "SECOND" => 1_000_000,
        "MINUTE" => 60_000_000,
        "HOUR" => 3_600_000_000,
        "DAY" => 86_400_000_000,
        _ => {
            return plan_err!(
                "TIMESTAMP_DIFF: unknown part {part}; use MICROSECOND, MILLISECOND, SECOND, MINUTE, HOUR or DAY"
            )
        }
    })
}

impl ScalarUDFImpl for TimestampDiff {
    fn name(&self) -> &str {
        "timestamp_diff"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        for t in &arg_types[..2] {
            if !matches!(
                t,
                DataType::Null
                    | DataType::Date32
                    | DataType::Date64
                    | DataType::Timestamp(..)
                    | DataType::Utf8
                    | DataType::Utf8View
                    | DataType::LargeUtf8
            ) {
                return plan_err!("TIMESTAMP_DIFF(a, b, part) takes timestamps, got {t}");
            }
        }
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let unit = match &args.args[2] {
            ColumnarValue::Scalar(
                ScalarValue::Utf8(Some(p))
                | ScalarValue::Utf8View(Some(p))
                | ScalarValue::LargeUtf8(Some(p)),
            ) => micros_per(p)?,
            _ => return exec_err!("TIMESTAMP_DIFF: the part must be a constant such as HOUR"),
        };
        let rows = args.number_rows;
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let a = cast(&args.args[0].to_array(rows)?, &utc)?;
        let b = cast(&args.args[1].to_array(rows)?, &utc)?;
        let (a, b) = (
            a.as_primitive::<TimestampMicrosecondType>(),
            b.as_primitive::<TimestampMicrosecondType>(),
        );
        let out: Int64Array = (0..a.len())
            .map(|i| {
                if a.is_null(i) || b.is_null(i) {
                    None
                } else {
                    a.value(i).checked_sub(b.value(i)).map(|d| d / unit)
                }
            })
            .collect();
        if all_scalar {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?));
        }
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}
