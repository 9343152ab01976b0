//! Timestamp parsing for every form audit logs use.
//!
//! Every decoder turns its time field into milliseconds since the Unix epoch through this
//! module, so that all formats accept and reject the same things.
//! Accepted instants lie between [`MIN_TIME_MS`] and [`MAX_TIME_MS`] inclusive.

/// Earliest accepted instant, 1970-01-01T00:00:00Z.
pub const MIN_TIME_MS: i64 = 0;

/// Latest accepted instant, 9999-12-31T23:59:59.999Z.
pub const MAX_TIME_MS: i64 = 253_402_300_799_999;

/// Epoch numbers greater than this are milliseconds; others are seconds.
pub const EPOCH_MILLIS_THRESHOLD: u64 = 100_000_000_000;

const MS_PER_SECOND: i64 = 1000;
const SECONDS_PER_DAY: i64 = 86_400;

/// Why a time value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// A number that is negative, not finite, or beyond `u64`.
    #[error("time is not a usable number")]
    InvalidNumber,
    /// Not a timestamp, or outside the accepted range.
    #[error("time is not a valid timestamp in range")]
    InvalidTime,
}

/// Parses RFC 3339 (any fraction digits, `Z`, an offset, or no zone meaning UTC) into
/// milliseconds since the epoch; a leap second is clamped to the last millisecond before it.
///
/// The date and time may be separated by `T`, `t` or a space; offsets are written `+HH:MM`,
/// `+HHMM` or `+HH`.
/// Fraction digits beyond milliseconds are truncated.
pub fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let year = digits(bytes, 0, 4)?;
    let month = digits_after(bytes, 4, b'-', 2)?;
    let day = digits_after(bytes, 7, b'-', 2)?;
    if !matches!(bytes.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let hour = digits(bytes, 11, 2)?;
    let minute = digits_after(bytes, 13, b':', 2)?;
    let mut second = digits_after(bytes, 16, b':', 2)?;
    let (mut millis, zone_start) = fraction_millis(bytes, 19)?;
    let offset_seconds = zone_offset_seconds(bytes, zone_start)?;

    let valid = (1..=12).contains(&month)
        && day >= 1
        && day <= days_in_month(year, month)
        && hour <= 23
        && minute <= 59
        && second <= 60;
    if !valid {
        return None;
    }
    if second == 60 {
        second = 59;
        millis = 999;
    }

    let days = days_from_civil(year, month, day);
    let seconds = days * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second - offset_seconds;
    in_range(seconds * MS_PER_SECOND + millis)
}

/// Converts an epoch number to milliseconds: values above [`EPOCH_MILLIS_THRESHOLD`] are
/// milliseconds, others seconds.
pub fn epoch_to_ms(value: u64) -> Option<i64> {
    let value = i64::try_from(value).ok()?;
    if value > EPOCH_MILLIS_THRESHOLD as i64 {
        return in_range(value);
    }
    in_range(value.checked_mul(MS_PER_SECOND)?)
}

/// Converts a fractional epoch number to milliseconds, with the same threshold as
/// [`epoch_to_ms`]; sub-millisecond digits are truncated.
pub fn epoch_float_to_ms(value: f64) -> Result<i64, TimeError> {
    if !value.is_finite() || value < 0.0 || value >= u64::MAX as f64 {
        return Err(TimeError::InvalidNumber);
    }
    let millis = if value > EPOCH_MILLIS_THRESHOLD as f64 { value } else { value * 1000.0 };
    if millis > MAX_TIME_MS as f64 {
        return Err(TimeError::InvalidTime);
    }
    in_range(millis.trunc() as i64).ok_or(TimeError::InvalidTime)
}

/// Parses a time written as text: a JSON-style number (epoch seconds or milliseconds, see
/// [`epoch_to_ms`]) or an RFC 3339 timestamp (see [`parse_rfc3339_ms`]).
pub fn parse_time_text(text: &str) -> Result<i64, TimeError> {
    if is_plain_number(text) {
        if let Ok(value) = text.parse::<u64>() {
            return epoch_to_ms(value).ok_or(TimeError::InvalidTime);
        }
        if text.starts_with('-') {
            return Err(TimeError::InvalidNumber);
        }
        let value: f64 = text.parse().map_err(|_| TimeError::InvalidNumber)?;
        return epoch_float_to_ms(value);
    }
    parse_rfc3339_ms(text).ok_or(TimeError::InvalidTime)
}

/// Whether `text` follows the JSON number grammar: `-?digits(.digits)?([eE][+-]?digits)?`.
pub(crate) fn is_plain_number(text: &str) -> bool {
    let bytes = text.strip_prefix('-').unwrap_or(text).as_bytes();
    let integer = bytes.iter().take_while(|byte| byte.is_ascii_digit()).count();
    if integer == 0 {
        return false;
    }
    let mut rest = bytes.get(integer..).unwrap_or_default();
    if let Some(after_dot) = rest.strip_prefix(b".") {
        let fraction = after_dot.iter().take_while(|byte| byte.is_ascii_digit()).count();
        if fraction == 0 {
            return false;
        }
        rest = after_dot.get(fraction..).unwrap_or_default();
    }
    if let Some(after_e) = rest.strip_prefix(b"e").or_else(|| rest.strip_prefix(b"E")) {
        let unsigned =
            after_e.strip_prefix(b"+").or_else(|| after_e.strip_prefix(b"-")).unwrap_or(after_e);
        let exponent = unsigned.iter().take_while(|byte| byte.is_ascii_digit()).count();
        return exponent > 0 && exponent == unsigned.len();
    }
    rest.is_empty()
}

fn in_range(millis: i64) -> Option<i64> {
    (MIN_TIME_MS..=MAX_TIME_MS).contains(&millis).then_some(millis)
}

/// `count` ASCII digits at `start` as a number.
fn digits(bytes: &[u8], start: usize, count: usize) -> Option<i64> {
    let slice = bytes.get(start..start.checked_add(count)?)?;
    slice.iter().try_fold(0i64, |total, byte| {
        byte.is_ascii_digit().then(|| total * 10 + i64::from(byte - b'0'))
    })
}

/// The separator `separator` at `at`, then `count` digits.
fn digits_after(bytes: &[u8], at: usize, separator: u8, count: usize) -> Option<i64> {
    (bytes.get(at) == Some(&separator)).then_some(())?;
    digits(bytes, at + 1, count)
}

/// An optional `.digits` fraction at `start`: its milliseconds and where the zone begins.
fn fraction_millis(bytes: &[u8], start: usize) -> Option<(i64, usize)> {
    if bytes.get(start) != Some(&b'.') {
        return Some((0, start));
    }
    let fraction = bytes.get(start + 1..)?;
    let count = fraction.iter().take_while(|byte| byte.is_ascii_digit()).count();
    if count == 0 {
        return None;
    }
    let millis = (0..3).fold(0i64, |total, index| {
        let digit = fraction.get(index).filter(|_| index < count).map_or(0, |byte| byte - b'0');
        total * 10 + i64::from(digit)
    });
    Some((millis, start + 1 + count))
}

/// The zone at `start` (nothing, `Z`, or an offset) in seconds east of UTC, if it ends the text.
fn zone_offset_seconds(bytes: &[u8], start: usize) -> Option<i64> {
    let sign = match bytes.get(start) {
        None => return Some(0),
        Some(b'Z' | b'z') => return (bytes.len() == start + 1).then_some(0),
        Some(b'+') => 1,
        Some(b'-') => -1,
        Some(_) => return None,
    };
    let hours = digits(bytes, start + 1, 2)?;
    let minutes_at = match bytes.get(start + 3) {
        None => None,
        Some(b':') => Some(start + 4),
        Some(_) => Some(start + 3),
    };
    let minutes = match minutes_at {
        None => 0,
        Some(at) => {
            (bytes.len() == at + 2).then_some(())?;
            digits(bytes, at, 2)?
        }
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some(sign * (hours * 3600 + minutes * 60))
}

fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, NaiveDate};
    use proptest::prelude::*;

    fn utc_ms(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text).unwrap().timestamp_millis()
    }

    #[test]
    fn rfc3339_accepts_every_fraction_length_and_truncates_past_milliseconds() {
        let base = utc_ms("2026-11-02T09:00:00Z");
        let cases = [
            ("2026-11-02T09:00:00Z", base),
            ("2026-11-02T09:00:00.1Z", base + 100),
            ("2026-11-02T09:00:00.12Z", base + 120),
            ("2026-11-02T09:00:00.123Z", base + 123),
            ("2026-11-02T09:00:00.123456Z", base + 123),
            ("2026-11-02T09:00:00.123456789Z", base + 123),
            ("2026-11-02T09:00:00.1234567891234Z", base + 123),
            ("2026-11-02T09:00:00.999999999999Z", base + 999),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_rfc3339_ms(text), Some(expected), "{text}");
        }
    }

    #[test]
    fn rfc3339_zones_are_z_offsets_or_absent_meaning_utc() {
        let base = utc_ms("2026-11-02T09:00:00Z");
        let cases = [
            ("2026-11-02T09:00:00z", base),
            ("2026-11-02T09:00:00", base),
            ("2026-11-02 09:00:00", base),
            ("2026-11-02t09:00:00.5", base + 500),
            ("2026-11-02T10:00:00+01:00", base),
            ("2026-11-02T10:30:00+0130", base),
            ("2026-11-02T07:00:00-02", base),
            ("2026-11-02T04:15:00-04:45", base),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_rfc3339_ms(text), Some(expected), "{text}");
        }
    }

    #[test]
    fn leap_second_is_clamped_to_the_last_millisecond_of_the_minute() {
        let expected = utc_ms("2016-12-31T23:59:59.999Z");
        assert_eq!(parse_rfc3339_ms("2016-12-31T23:59:60Z"), Some(expected));
        assert_eq!(parse_rfc3339_ms("2016-12-31T23:59:60.5Z"), Some(expected));
        assert_eq!(parse_rfc3339_ms("2017-01-01T00:59:60+01:00"), Some(expected));
    }

    #[test]
    fn garbage_and_impossible_dates_are_refused() {
        let cases = [
            "",
            "yesterday",
            "2026-11-02",
            "2026-11-02T09:00",
            "2026-13-02T09:00:00Z",
            "2026-02-29T09:00:00Z",
            "2026-11-31T09:00:00Z",
            "2026-11-02T24:00:00Z",
            "2026-11-02T09:60:00Z",
            "2026-11-02T09:00:61Z",
            "2026-11-02T09:00:00.Z",
            "2026-11-02T09:00:00ZZ",
            "2026-11-02T09:00:00+25:00",
            "2026-11-02T09:00:00+01:0",
            "2026-11-02T09:00:00 UTC",
            "２０２６-11-02T09:00:00Z",
            "+2026-11-02T09:00:00Z",
        ];
        for text in cases {
            assert_eq!(parse_rfc3339_ms(text), None, "{text}");
        }
        assert_eq!(parse_rfc3339_ms("2024-02-29T00:00:00Z"), Some(utc_ms("2024-02-29T00:00:00Z")));
    }

    #[test]
    fn years_outside_1970_to_9999_are_refused() {
        assert_eq!(parse_rfc3339_ms("1969-12-31T23:59:59Z"), None);
        assert_eq!(parse_rfc3339_ms("0000-01-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:30:00+01:00"), None);
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339_ms("9999-12-31T23:59:59.999Z"), Some(MAX_TIME_MS));
        assert_eq!(parse_rfc3339_ms("9999-12-31T23:59:59-01:00"), None);
        assert_eq!(parse_time_text("10000-01-01T00:00:00Z"), Err(TimeError::InvalidTime));
    }

    #[test]
    fn epoch_numbers_above_ten_to_the_eleven_are_milliseconds() {
        assert_eq!(epoch_to_ms(1_793_610_300), Some(1_793_610_300_000));
        assert_eq!(epoch_to_ms(1_793_610_300_000), Some(1_793_610_300_000));
        assert_eq!(epoch_to_ms(EPOCH_MILLIS_THRESHOLD), Some(100_000_000_000_000));
        assert_eq!(epoch_to_ms(EPOCH_MILLIS_THRESHOLD + 1), Some(100_000_000_001));
        assert_eq!(epoch_to_ms(0), Some(0));
        assert_eq!(epoch_to_ms(u64::MAX), None);
        assert_eq!(epoch_to_ms(MAX_TIME_MS as u64 + 1), None);
        assert_eq!(epoch_float_to_ms(1_793_610_300.25), Ok(1_793_610_300_250));
        assert_eq!(epoch_float_to_ms(1_793_610_300_000.9), Ok(1_793_610_300_000));
        assert_eq!(epoch_float_to_ms(-1.0), Err(TimeError::InvalidNumber));
        assert_eq!(epoch_float_to_ms(f64::NAN), Err(TimeError::InvalidNumber));
        assert_eq!(epoch_float_to_ms(1e30), Err(TimeError::InvalidNumber));
        assert_eq!(epoch_float_to_ms(1e17), Err(TimeError::InvalidTime));
    }

    #[test]
    fn time_text_may_be_digits_or_rfc3339() {
        assert_eq!(parse_time_text("1793610300"), Ok(1_793_610_300_000));
        assert_eq!(parse_time_text("1793610300000"), Ok(1_793_610_300_000));
        assert_eq!(parse_time_text("1793610300.5"), Ok(1_793_610_300_500));
        assert_eq!(parse_time_text("2026-11-02T09:00:00Z"), Ok(utc_ms("2026-11-02T09:00:00Z")));
        assert_eq!(parse_time_text("-5"), Err(TimeError::InvalidNumber));
        assert_eq!(parse_time_text("99999999999999999999999"), Err(TimeError::InvalidNumber));
        assert_eq!(parse_time_text("NaN"), Err(TimeError::InvalidTime));
        assert_eq!(parse_time_text("inf"), Err(TimeError::InvalidTime));
    }

    #[test]
    fn plain_number_grammar_matches_json() {
        for text in ["0", "12", "-3", "1.5", "1e9", "1E+9", "2.5e-3"] {
            assert!(is_plain_number(text), "{text}");
        }
        for text in ["", "-", "1.", ".5", "1e", "1e+", "2026-11-02", "0x10", "1 ", "NaN"] {
            assert!(!is_plain_number(text), "{text}");
        }
    }

    proptest! {
        #[test]
        fn generated_rfc3339_round_trips(
            days in 0i64..2_932_896,
            second_of_day in 0i64..86_400,
            nanos in 0u32..1_000_000_000,
            fraction_digits in 0usize..13,
            offset_minutes in -(23 * 60 + 59)..=(23 * 60 + 59i64),
            zone in 0u8..3,
        ) {
            let date = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()
                + chrono::Duration::days(days);
            let time = date.and_hms_opt(0, 0, 0).unwrap()
                + chrono::Duration::seconds(second_of_day);
            let digits = format!("{nanos:09}000");
            let fraction = if fraction_digits == 0 {
                String::new()
            } else {
                format!(".{}", &digits[..fraction_digits])
            };
            let (zone_text, offset) = match zone {
                0 => ("Z".to_owned(), 0),
                1 => (String::new(), 0),
                _ => {
                    let sign = if offset_minutes < 0 { '-' } else { '+' };
                    let abs = offset_minutes.abs();
                    (format!("{sign}{:02}:{:02}", abs / 60, abs % 60), offset_minutes * 60)
                }
            };
            let text = format!("{}{fraction}{zone_text}", time.format("%Y-%m-%dT%H:%M:%S"));
            let kept_millis = if fraction_digits == 0 {
                0
            } else {
                let kept = &digits[..fraction_digits.min(3)];
                kept.parse::<i64>().unwrap() * 10i64.pow(3 - fraction_digits.min(3) as u32)
            };
            let expected = (time.and_utc().timestamp() - offset) * 1000 + kept_millis;
            let parsed = parse_rfc3339_ms(&text);
            if (MIN_TIME_MS..=MAX_TIME_MS).contains(&expected) {
                prop_assert_eq!(parsed, Some(expected), "{}", text);
            } else {
                prop_assert_eq!(parsed, None, "{}", text);
            }
        }

        #[test]
        fn time_parsing_never_panics(text in ".{0,64}") {
            let _ = parse_time_text(&text);
        }
    }
}
