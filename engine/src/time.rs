//! Timestamps: parsing message times and the UTC date partitions.

use chrono::{DateTime, NaiveDate, NaiveDateTime};

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Parses an RFC 3339 / ISO 8601 timestamp into microseconds since the epoch.
/// A time without a zone is UTC; a bare date is its midnight UTC.
pub(crate) fn parse_timestamp_micros(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_micros());
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f%#z",
        "%Y-%m-%d %H:%M:%S%.f UTC",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Some(t.and_utc().timestamp_micros());
        }
        if let Ok(t) = DateTime::parse_from_str(s, format) {
            return Some(t.timestamp_micros());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_micros())
}

/// The UTC date (days since the epoch, Arrow `Date32`) of a timestamp.
pub(crate) fn date_of_micros(micros: i64) -> i32 {
    micros.div_euclid(MICROS_PER_DAY) as i32
}

/// Formats microseconds as RFC 3339 with millisecond precision, `Z` suffix.
pub(crate) fn format_micros(micros: i64) -> String {
    DateTime::from_timestamp_micros(micros)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_accepted_forms() {
        let ten = 1_795_168_800_000_000;
        assert_eq!(parse_timestamp_micros("2026-11-20T10:00:00Z"), Some(ten));
        assert_eq!(
            parse_timestamp_micros("2026-11-20T10:00:00.000Z"),
            Some(ten)
        );
        assert_eq!(
            parse_timestamp_micros("2026-11-20T11:00:00+01:00"),
            Some(ten)
        );
        assert_eq!(parse_timestamp_micros("2026-11-20T10:00:00"), Some(ten));
        assert_eq!(parse_timestamp_micros("2026-11-20 10:00:00"), Some(ten));
        assert_eq!(
            parse_timestamp_micros("2026-11-20"),
            Some(ten - 36_000_000_000)
        );
        assert_eq!(parse_timestamp_micros("20 Nov 2026"), None);
        assert_eq!(parse_timestamp_micros("2026-13-40"), None);
    }

    #[test]
    fn dates_are_utc_days() {
        assert_eq!(date_of_micros(0), 0);
        assert_eq!(date_of_micros(-1), -1);
        assert_eq!(
            format_micros(1_795_168_800_000_000),
            "2026-11-20T10:00:00.000Z"
        );
    }
}
