//! Argument handling shared by every function: constant arguments (windows,
//! gaps, modes, patterns), type coercion of the time column and of the
//! condition columns, and turning a batch of boolean conditions into one
//! bitmask per row.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use datafusion::common::{exec_err, plan_datafusion_err, plan_err, Result, ScalarValue};
use datafusion::physical_expr::expressions::Literal;
use datafusion::physical_expr::PhysicalExpr;

/// Microseconds in one second: every time is normalised to microseconds.
pub(crate) const MICROS_PER_SECOND: i64 = 1_000_000;

/// The value of constant argument `idx` (a window, a gap, a mode, a pattern).
pub(crate) fn literal_arg<'a>(
    exprs: &'a [Arc<dyn PhysicalExpr>],
    idx: usize,
    fname: &str,
    what: &str,
) -> Result<&'a ScalarValue> {
    let Some(expr) = exprs.get(idx) else {
        return plan_err!("{fname}: missing argument `{what}`");
    };
    match expr.downcast_ref::<Literal>() {
        Some(lit) => Ok(lit.value()),
        None => plan_err!("{fname}: `{what}` must be a constant, got {expr}"),
    }
}

/// A constant string argument (Utf8, LargeUtf8, Utf8View or a dictionary of them).
pub(crate) fn string_literal(value: &ScalarValue, fname: &str, what: &str) -> Result<String> {
    match value {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Ok(s.clone()),
        ScalarValue::Dictionary(_, inner) => string_literal(inner, fname, what),
        v if v.is_null() => plan_err!("{fname}: `{what}` must not be NULL"),
        v => plan_err!("{fname}: `{what}` must be a string, got {}", v.data_type()),
    }
}

/// True for the string types a constant mode or pattern may arrive as.
pub(crate) fn is_string_type(dt: &DataType) -> bool {
    match dt {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => is_string_type(v),
        _ => false,
    }
}

/// A constant duration (a funnel window, a session gap) in microseconds.
///
/// Accepts an INTERVAL without months (months have no fixed length), a
/// DURATION, or a number of seconds (integer or float). Must not be negative.
pub(crate) fn duration_micros(value: &ScalarValue, fname: &str, what: &str) -> Result<i64> {
    let overflow = || plan_datafusion_err!("{fname}: `{what}` {value} is too large");
    let micros: i64 = match value {
        v if v.is_null() => return plan_err!("{fname}: `{what}` must not be NULL"),
        ScalarValue::IntervalMonthDayNano(Some(v)) => {
            if v.months != 0 {
                return plan_err!(
                    "{fname}: `{what}` must be a fixed duration; an INTERVAL with months or years has none (use days)"
                );
            }
            (v.days as i64)
                .checked_mul(86_400 * MICROS_PER_SECOND)
                .and_then(|d| d.checked_add(v.nanoseconds / 1_000))
                .ok_or_else(overflow)?
        }
        ScalarValue::IntervalDayTime(Some(v)) => {
            v.days as i64 * 86_400 * MICROS_PER_SECOND + v.milliseconds as i64 * 1_000
        }
        ScalarValue::IntervalYearMonth(Some(_)) => {
            return plan_err!(
                "{fname}: `{what}` must be a fixed duration; an INTERVAL of months or years has none (use days)"
            )
        }
        ScalarValue::DurationSecond(Some(v)) => v.checked_mul(MICROS_PER_SECOND).ok_or_else(overflow)?,
        ScalarValue::DurationMillisecond(Some(v)) => v.checked_mul(1_000).ok_or_else(overflow)?,
        ScalarValue::DurationMicrosecond(Some(v)) => *v,
        ScalarValue::DurationNanosecond(Some(v)) => v / 1_000,
        ScalarValue::Float32(Some(v)) => float_seconds(*v as f64).ok_or_else(overflow)?,
        ScalarValue::Float64(Some(v)) => float_seconds(*v).ok_or_else(overflow)?,
        v if v.data_type().is_integer() => {
            let secs = v
                .cast_to(&DataType::Int64)
                .ok()
                .and_then(|s| match s {
                    ScalarValue::Int64(Some(s)) => Some(s),
                    _ => None,
                })
                .ok_or_else(overflow)?;
            secs.checked_mul(MICROS_PER_SECOND).ok_or_else(overflow)?
        }
        v => {
            return plan_err!(
                "{fname}: `{what}` must be an INTERVAL or a number of seconds, got {}",
                v.data_type()
            )
        }
    };
    if micros < 0 {
        return plan_err!("{fname}: `{what}` must not be negative");
    }
    Ok(micros)
}

fn float_seconds(v: f64) -> Option<i64> {
    let micros = (v * MICROS_PER_SECOND as f64).round();
    (micros.is_finite() && micros.abs() < i64::MAX as f64).then_some(micros as i64)
}

/// The type a duration argument is passed through as (no cast is needed: it is read as a literal).
pub(crate) fn coerce_duration(dt: &DataType, fname: &str, what: &str) -> Result<DataType> {
    match dt {
        DataType::Interval(_) | DataType::Duration(_) | DataType::Null => Ok(dt.clone()),
        dt if dt.is_integer() || dt.is_floating() => Ok(dt.clone()),
        dt => plan_err!("{fname}: `{what}` must be an INTERVAL or a number of seconds, got {dt}"),
    }
}

/// The time column is read as microseconds since the epoch: every timestamp
/// unit is cast to microseconds, keeping its time zone; dates become midnight UTC.
pub(crate) fn coerce_time(dt: &DataType, fname: &str) -> Result<DataType> {
    match dt {
        DataType::Timestamp(_, tz) => Ok(DataType::Timestamp(TimeUnit::Microsecond, tz.clone())),
        DataType::Date32 | DataType::Date64 | DataType::Null => {
            Ok(DataType::Timestamp(TimeUnit::Microsecond, None))
        }
        dt => plan_err!("{fname}: the time argument must be a TIMESTAMP or DATE, got {dt}"),
    }
}

/// Conditions are booleans; NULL literals and integers (ClickHouse's UInt8 conditions) are cast.
pub(crate) fn coerce_condition(dt: &DataType, fname: &str, position: usize) -> Result<DataType> {
    match dt {
        DataType::Boolean | DataType::Null => Ok(DataType::Boolean),
        dt if dt.is_integer() => Ok(DataType::Boolean),
        dt => plan_err!("{fname}: condition {position} must be BOOLEAN, got {dt}"),
    }
}

/// The time column after coercion: microsecond timestamps.
pub(crate) fn time_array<'a>(
    array: &'a ArrayRef,
    fname: &str,
) -> Result<&'a datafusion::arrow::array::PrimitiveArray<TimestampMicrosecondType>> {
    match array.data_type() {
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            Ok(array.as_primitive::<TimestampMicrosecondType>())
        }
        dt => exec_err!(
            "{fname}: expected a microsecond timestamp column, got {dt} (coercion was skipped)"
        ),
    }
}

/// One bitmask per row: bit `k` is set when condition `k` is TRUE. A NULL
/// condition counts as FALSE (see the crate docs for why).
pub(crate) fn condition_masks(
    conds: &[ArrayRef],
    num_rows: usize,
    fname: &str,
) -> Result<Vec<u64>> {
    if conds.len() > 64 {
        return exec_err!("{fname}: at most 64 conditions, got {}", conds.len());
    }
    let mut masks = vec![0u64; num_rows];
    for (k, cond) in conds.iter().enumerate() {
        let bit = 1u64 << k;
        let cond: &BooleanArray = match cond.data_type() {
            DataType::Boolean => cond.as_boolean(),
            DataType::Null => continue,
            dt => return exec_err!("{fname}: condition {} must be BOOLEAN, got {dt}", k + 1),
        };
        if cond.null_count() == 0 {
            for i in cond.values().set_indices() {
                masks[i] |= bit;
            }
        } else {
            for i in cond.values().set_indices() {
                if cond.is_valid(i) {
                    masks[i] |= bit;
                }
            }
        }
    }
    Ok(masks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::IntervalMonthDayNano;

    #[test]
    fn durations() {
        let f = |v: ScalarValue| duration_micros(&v, "f", "window");
        assert_eq!(f(ScalarValue::Int64(Some(3600))).unwrap(), 3_600_000_000);
        assert_eq!(f(ScalarValue::UInt8(Some(2))).unwrap(), 2_000_000);
        assert_eq!(f(ScalarValue::Float64(Some(0.5))).unwrap(), 500_000);
        let iv = IntervalMonthDayNano::new(0, 1, 3_600_000_000_000);
        assert_eq!(
            f(ScalarValue::IntervalMonthDayNano(Some(iv))).unwrap(),
            90_000_000_000
        );
        let months = IntervalMonthDayNano::new(1, 0, 0);
        assert!(f(ScalarValue::IntervalMonthDayNano(Some(months))).is_err());
        assert!(f(ScalarValue::Int64(Some(-1))).is_err());
        assert!(f(ScalarValue::Int64(None)).is_err());
        assert!(f(ScalarValue::Utf8(Some("1h".into()))).is_err());
    }

    #[test]
    fn masks_treat_null_as_false() {
        let a: ArrayRef = Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)]));
        let b: ArrayRef = Arc::new(BooleanArray::from(vec![Some(true), Some(true), None]));
        assert_eq!(
            condition_masks(&[a, b], 3, "f").unwrap(),
            vec![0b11, 0b10, 0]
        );
    }

    #[test]
    fn strings_in_every_encoding() {
        for v in [
            ScalarValue::Utf8(Some("x".into())),
            ScalarValue::Utf8View(Some("x".into())),
            ScalarValue::LargeUtf8(Some("x".into())),
            ScalarValue::Dictionary(
                Box::new(DataType::Int32),
                Box::new(ScalarValue::Utf8(Some("x".into()))),
            ),
        ] {
            assert_eq!(string_literal(&v, "f", "mode").unwrap(), "x");
            assert!(is_string_type(&v.data_type()));
        }
        assert!(string_literal(&ScalarValue::Utf8(None), "f", "mode").is_err());
    }
}
