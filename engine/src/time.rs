//! Timestamps: parsing message times and the UTC date partitions.

use chrono::{DateTime, NaiveDate, NaiveDateTime};

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Parses an RFC 3339 / ISO 8601 timestamp into microseconds since the epoch.
/// A time without a zone is UTC; a bare date is its midnight UTC.
pub(crate) fn parse_timestamp_micros(s: &str) -> Option<i64> {
    if let Some(micros) = parse_utc_fixed(s) {
        return Some(micros);
    }
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

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, the form nearly every message's time
/// has, read by position; `None` for anything else (left to chrono's
/// parsers, which agree wherever this reads a time: test
/// `fixed_form_agrees_with_rfc3339`). Parsing with chrono's general RFC 3339
/// parser was ~2.5 % of a 1M import's CPU in `perf`.
fn parse_utc_fixed(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if b.len() < 20 || b.last() != Some(&b'Z') || separators.iter().any(|&(i, c)| b[i] != c) {
        return None;
    }
    let number = |digits: &[u8]| {
        digits.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let fraction = &b[19..b.len() - 1];
    let micros = match fraction {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            let nanos = number(digits)? * 10u32.pow(9 - digits.len() as u32);
            i64::from(nanos / 1000)
        }
        _ => return None,
    };
    // Validated by chrono: a day past the month's end, hour 24 or a leap
    // second give `None` (and chrono's full parser decides).
    let time = NaiveDate::from_ymd_opt(
        number(&b[0..4])? as i32,
        number(&b[5..7])?,
        number(&b[8..10])?,
    )?
    .and_hms_opt(
        number(&b[11..13])?,
        number(&b[14..16])?,
        number(&b[17..19])?,
    )?;
    Some(time.and_utc().timestamp_micros() + micros)
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

    /// Wherever the fixed-form reader gives a time, it is chrono's RFC 3339
    /// reading of the same text: random fields (some out of range: month 13,
    /// February 30th, hour 24, second 60) and fractions of 0 to 10 digits.
    #[test]
    fn fixed_form_agrees_with_rfc3339() {
        let mut seed = 11u64;
        let mut next = move |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        let mut read = 0;
        for _ in 0..20_000 {
            let digits = next(11) as usize;
            let fraction: String = (0..digits)
                .map(|_| char::from(b'0' + next(10) as u8))
                .collect();
            let text = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{}{}Z",
                1900 + next(200),
                next(14),
                next(32),
                next(25),
                next(60),
                next(61),
                if digits > 0 { "." } else { "" },
                fraction
            );
            let fixed = parse_utc_fixed(&text);
            let general = DateTime::parse_from_rfc3339(&text)
                .ok()
                .map(|t| t.timestamp_micros());
            if fixed.is_some() {
                read += 1;
                assert_eq!(fixed, general, "{text}");
            }
        }
        // Most of the random texts are valid times the fast path reads.
        assert!(read > 10_000, "{read}");
        assert_eq!(
            parse_utc_fixed("2026-11-20T10:00:00.5Z"),
            Some(1_795_168_800_500_000)
        );
        assert_eq!(parse_utc_fixed("2026-11-20 10:00:00Z"), None);
        assert_eq!(parse_utc_fixed("2026-11-20T10:00:00+00:00"), None);
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
