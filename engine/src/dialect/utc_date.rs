//! `utc_date(value)` — BigQuery's one-argument `DATE(value)`: the UTC
//! calendar date of a timestamp (BigQuery's default time zone for `DATE` is
//! UTC, whatever zone the timestamp carries); a string or date is cast.
//!
//! A timestamp's date is computed with integer arithmetic on its epoch
//! value. `CAST(ts AS DATE)` gives the same answer for a UTC timestamp but
//! converts every row through the time-zone machinery, which made
//! `COUNT(DISTINCT DATE(time))` a hot spot of the documented queries.
//!
//! ```sql
//! SELECT DATE(TIMESTAMP '2024-01-01 23:30:00+00');  -- 2024-01-01
//! SELECT DATE('2024-05-06');                        -- 2024-05-06
//! ```

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Date32Array};
use datafusion::arrow::compute::{cast_with_options, CastOptions};
use datafusion::arrow::datatypes::{DataType, Int64Type, TimeUnit};
use datafusion::common::plan_err;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// `utc_date(value)`: see the module documentation.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct UtcDate {
    signature: Signature,
}

impl Default for UtcDate {
    fn default() -> Self {
        Self {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

/// Units of a timestamp per day.
fn units_per_day(unit: &TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => 86_400,
        TimeUnit::Millisecond => 86_400_000,
        TimeUnit::Microsecond => 86_400_000_000,
        TimeUnit::Nanosecond => 86_400_000_000_000,
    }
}

impl ScalarUDFImpl for UtcDate {
    fn name(&self) -> &str {
        "utc_date"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types {
            [_] => Ok(DataType::Date32),
            _ => plan_err!("DATE(value) takes 1 argument, got {}", arg_types.len()),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let values = args.args[0].to_array(args.number_rows)?;
        let dates = match values.data_type() {
            DataType::Timestamp(unit, _) => {
                let per_day = units_per_day(unit);
                // Same bits, read as plain integers: no time-zone conversion.
                let epoch = values
                    .to_data()
                    .into_builder()
                    .data_type(DataType::Int64)
                    .build()?;
                let epoch = datafusion::arrow::array::make_array(epoch);
                let days: Date32Array = epoch
                    .as_primitive::<Int64Type>()
                    .unary(|v| v.div_euclid(per_day) as i32);
                Arc::new(days)
            }
            _ => cast_with_options(
                &values,
                &DataType::Date32,
                &CastOptions {
                    safe: false,
                    ..Default::default()
                },
            )?,
        };
        Ok(ColumnarValue::Array(dates))
    }
}
