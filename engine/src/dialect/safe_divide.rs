//! `safe_divide(a, b)` — BigQuery's `SAFE_DIVIDE`: `a / b` as FLOAT64, or
//! NULL where `b` is zero or the quotient is not finite.
//!
//! NUMERIC arguments are divided as FLOAT64 too.
//!
//! ```sql
//! SELECT SAFE_DIVIDE(3, 2);   -- 1.5
//! SELECT SAFE_DIVIDE(3, 0);   -- NULL
//! ```

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Float64Array};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::common::{plan_err, ScalarValue};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// `safe_divide(a, b)`: see the module documentation.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SafeDivide {
    signature: Signature,
}

impl Default for SafeDivide {
    fn default() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for SafeDivide {
    fn name(&self) -> &str {
        "safe_divide"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 2 {
            return plan_err!(
                "SAFE_DIVIDE(a, b) takes 2 arguments, got {}",
                arg_types.len()
            );
        }
        for t in arg_types {
            if !(t.is_numeric() || t.is_null()) {
                return plan_err!("SAFE_DIVIDE(a, b) takes numbers, got {t}");
            }
        }
        Ok(vec![DataType::Float64, DataType::Float64])
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let a = args.args[0].to_array(rows)?;
        let b = args.args[1].to_array(rows)?;
        let (a, b) = (
            a.as_primitive::<Float64Type>(),
            b.as_primitive::<Float64Type>(),
        );
        let out: Float64Array = (0..a.len())
            .map(|i| {
                if a.is_null(i) || b.is_null(i) || b.value(i) == 0.0 {
                    return None;
                }
                let q = a.value(i) / b.value(i);
                q.is_finite().then_some(q)
            })
            .collect();
        if all_scalar {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?));
        }
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}
