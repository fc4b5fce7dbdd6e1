//! `date_diff(a, b, part)` — BigQuery's `DATE_DIFF`: how many `part`
//! boundaries lie between date `b` and date `a` (`a - b`).
//!
//! `DATE_DIFF(a, b, DAY)` is rewritten to `date_diff(a, b, 'DAY')`. Parts:
//! `DAY`, `WEEK` (weeks starting on Sunday), `WEEK(MONDAY)` … `WEEK(SATURDAY)`,
//! `ISOWEEK`, `MONTH`, `QUARTER`, `YEAR`, `ISOYEAR`. Timestamps and strings
//! are taken as their UTC date. A NULL date gives NULL.
//!
//! ```sql
//! SELECT DATE_DIFF(DATE '2024-03-01', DATE '2024-02-28', DAY);   -- 2
//! SELECT DATE_DIFF(DATE '2024-01-01', DATE '2023-12-31', YEAR);  -- 1
//! SELECT DATE_DIFF(DATE '2024-01-07', DATE '2024-01-06', WEEK);  -- 1 (Saturday → Sunday)
//! ```

use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use datafusion::arrow::array::{Array, AsArray, Int64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Date32Type};
use datafusion::common::{exec_err, plan_err, ScalarValue};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// `date_diff(a, b, part)`: see the module documentation.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DateDiff {
    signature: Signature,
}

impl Default for DateDiff {
    fn default() -> Self {
        Self {
            signature: Signature::any(3, Volatility::Immutable),
        }
    }
}

/// A date part of `DATE_DIFF`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Part {
    Day,
    /// Weeks that start on this weekday, 0 = Sunday.
    Week(u32),
    IsoWeek,
    Month,
    Quarter,
    Year,
    IsoYear,
}

fn parse_part(part: &str) -> Result<Part> {
    let upper = part.trim().to_ascii_uppercase();
    let weekday = |name: &str| {
        [
            "SUNDAY",
            "MONDAY",
            "TUESDAY",
            "WEDNESDAY",
            "THURSDAY",
            "FRIDAY",
            "SATURDAY",
        ]
        .iter()
        .position(|d| *d == name)
        .map(|i| i as u32)
    };
    Ok(match upper.as_str() {
        "DAY" => Part::Day,
        "WEEK" => Part::Week(0),
        "ISOWEEK" => Part::IsoWeek,
        "MONTH" => Part::Month,
        "QUARTER" => Part::Quarter,
        "YEAR" => Part::Year,
        "ISOYEAR" => Part::IsoYear,
        other => match other
            .strip_prefix("WEEK(")
            .and_then(|rest| rest.strip_suffix(')'))
            .and_then(|d| weekday(d.trim()))
        {
            Some(day) => Part::Week(day),
            None => {
                return plan_err!(
                    "DATE_DIFF: unknown date part {part}; use DAY, WEEK, WEEK(MONDAY), ISOWEEK, MONTH, QUARTER, YEAR or ISOYEAR"
                )
            }
        },
    })
}

/// Days since 1970-01-01 → date.
fn date(days: i32) -> Option<NaiveDate> {
    NaiveDate::from_num_days_from_ce_opt(days.checked_add(719_163)?)
}

fn diff(a: i32, b: i32, part: Part) -> Option<i64> {
    let (a64, b64) = (i64::from(a), i64::from(b));
    Some(match part {
        Part::Day => a64 - b64,
        Part::Week(start) => {
            // 1970-01-01 was a Thursday (weekday 4 counting from Sunday).
            let index = |d: i64| (d + 4 - i64::from(start)).div_euclid(7);
            index(a64) - index(b64)
        }
        Part::IsoWeek => {
            let index = |d: i64| (d + 3).div_euclid(7);
            index(a64) - index(b64)
        }
        Part::Month | Part::Quarter | Part::Year | Part::IsoYear => {
            let (da, db) = (date(a)?, date(b)?);
            match part {
                Part::Month => {
                    i64::from(da.year() * 12 + da.month0() as i32)
                        - i64::from(db.year() * 12 + db.month0() as i32)
                }
                Part::Quarter => {
                    i64::from(da.year() * 4 + (da.month0() / 3) as i32)
                        - i64::from(db.year() * 4 + (db.month0() / 3) as i32)
                }
                Part::Year => i64::from(da.year() - db.year()),
                _ => i64::from(da.iso_week().year() - db.iso_week().year()),
            }
        }
    })
}

impl ScalarUDFImpl for DateDiff {
    fn name(&self) -> &str {
        "date_diff"
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
                return plan_err!("DATE_DIFF(a, b, part) takes dates, got {t}");
            }
        }
        if !matches!(
            arg_types[2],
            DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
        ) {
            return plan_err!("DATE_DIFF: the date part must be a word such as DAY");
        }
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let part = match &args.args[2] {
            ColumnarValue::Scalar(
                ScalarValue::Utf8(Some(p))
                | ScalarValue::Utf8View(Some(p))
                | ScalarValue::LargeUtf8(Some(p)),
            ) => parse_part(p)?,
            _ => return exec_err!("DATE_DIFF: the date part must be a constant such as DAY"),
        };
        let rows = args.number_rows;
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let a = cast(&args.args[0].to_array(rows)?, &DataType::Date32)?;
        let b = cast(&args.args[1].to_array(rows)?, &DataType::Date32)?;
        let (a, b) = (
            a.as_primitive::<Date32Type>(),
            b.as_primitive::<Date32Type>(),
        );
        let out: Int64Array = (0..a.len())
            .map(|i| {
                if a.is_null(i) || b.is_null(i) {
                    None
                } else {
                    diff(a.value(i), b.value(i), part)
                }
            })
            .collect();
        if all_scalar {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?));
        }
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(y: i32, m: u32, d: u32) -> i32 {
        (NaiveDate::from_ymd_opt(y, m, d).unwrap() - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap())
            .num_days() as i32
    }

    #[test]
    fn counts_boundaries() {
        let p = |s| parse_part(s).unwrap();
        assert_eq!(diff(days(2024, 3, 1), days(2024, 2, 28), p("DAY")), Some(2));
        assert_eq!(
            diff(days(2024, 2, 28), days(2024, 3, 1), p("day")),
            Some(-2)
        );
        // 2024-01-06 is a Saturday, 2024-01-07 a Sunday, 2024-01-08 a Monday.
        assert_eq!(diff(days(2024, 1, 7), days(2024, 1, 6), p("WEEK")), Some(1));
        assert_eq!(
            diff(days(2024, 1, 7), days(2024, 1, 6), p("WEEK(MONDAY)")),
            Some(0)
        );
        assert_eq!(
            diff(days(2024, 1, 8), days(2024, 1, 7), p("WEEK(MONDAY)")),
            Some(1)
        );
        assert_eq!(
            diff(days(2024, 1, 8), days(2024, 1, 7), p("ISOWEEK")),
            Some(1)
        );
        assert_eq!(
            diff(days(2024, 1, 1), days(2023, 12, 31), p("MONTH")),
            Some(1)
        );
        assert_eq!(
            diff(days(2024, 4, 1), days(2024, 3, 31), p("QUARTER")),
            Some(1)
        );
        assert_eq!(
            diff(days(2024, 1, 1), days(2023, 12, 31), p("YEAR")),
            Some(1)
        );
        // 2024-12-30 is in ISO year 2025.
        assert_eq!(
            diff(days(2024, 12, 30), days(2024, 12, 29), p("ISOYEAR")),
            Some(1)
        );
        assert!(parse_part("FORTNIGHT").is_err());
    }
}
