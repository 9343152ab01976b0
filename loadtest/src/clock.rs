//! Time arithmetic and RFC 3339 formatting, in UTC milliseconds since the epoch.

/// Milliseconds in a second.
pub const SECOND_MS: i64 = 1_000;
/// Milliseconds in a minute.
pub const MINUTE_MS: i64 = 60 * SECOND_MS;
/// Milliseconds in an hour.
pub const HOUR_MS: i64 = 60 * MINUTE_MS;
/// Milliseconds in a day.
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// The civil date (year, month, day) of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

/// Appends the time as RFC 3339 in UTC, with milliseconds when `millis` is set.
pub fn write_rfc3339(out: &mut String, time_ms: i64, millis: bool) {
    use std::fmt::Write;

    let days = time_ms.div_euclid(DAY_MS);
    let in_day = time_ms.rem_euclid(DAY_MS);
    let (year, month, day) = civil_from_days(days);
    let hour = in_day / HOUR_MS;
    let minute = in_day % HOUR_MS / MINUTE_MS;
    let second = in_day % MINUTE_MS / SECOND_MS;
    let _ = write!(out, "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}");
    if millis {
        let _ = write!(out, ".{:03}", in_day % SECOND_MS);
    }
    out.push('Z');
}

/// The time as RFC 3339 in UTC with whole seconds (`2026-11-02T09:00:00Z`).
pub fn rfc3339_seconds(time_ms: i64) -> String {
    let mut out = String::with_capacity(20);
    write_rfc3339(&mut out, time_ms, false);
    out
}

/// The time as RFC 3339 in UTC with milliseconds (`2026-11-02T09:00:00.250Z`).
pub fn rfc3339_millis(time_ms: i64) -> String {
    let mut out = String::with_capacity(24);
    write_rfc3339(&mut out, time_ms, true);
    out
}

/// The UTC date of the time (`2026-11-02`), for file names.
pub fn date(time_ms: i64) -> String {
    let (year, month, day) = civil_from_days(time_ms.div_euclid(DAY_MS));
    format!("{year:04}-{month:02}-{day:02}")
}

/// Local hour of day (0 to 23) at a fixed UTC offset.
pub fn local_hour(time_ms: i64, utc_offset_minutes: i32) -> u32 {
    let local = time_ms + i64::from(utc_offset_minutes) * MINUTE_MS;
    (local.rem_euclid(DAY_MS) / HOUR_MS) as u32
}

/// Whether the local day at a fixed UTC offset is a Saturday or a Sunday.
pub fn is_local_weekend(time_ms: i64, utc_offset_minutes: i32) -> bool {
    let local = time_ms + i64::from(utc_offset_minutes) * MINUTE_MS;
    // 1970-01-01 was a Thursday: day 0 has weekday index 3 when Monday is 0.
    let weekday = (local.div_euclid(DAY_MS) + 3).rem_euclid(7);
    weekday >= 5
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_match_chrono_for_many_instants() {
        for time_ms in [0_i64, 1_793_610_300_000, 951_782_400_123, 4_102_444_799_999, -86_400_001] {
            let expected = chrono::DateTime::from_timestamp_millis(time_ms)
                .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
            assert_eq!(Some(rfc3339_millis(time_ms)), expected);
        }
        assert_eq!(rfc3339_seconds(1_793_610_300_999), "2026-11-02T09:05:00Z");
        assert_eq!(date(1_793_610_300_999), "2026-11-02");
    }

    #[test]
    fn local_calendar_follows_the_offset() {
        // 2026-11-07 is a Saturday; 23:30 UTC on Friday the 6th is Saturday in UTC+1.
        let friday_late = 1_794_007_800_000;
        assert_eq!(rfc3339_seconds(friday_late), "2026-11-06T23:30:00Z");
        assert!(!is_local_weekend(friday_late, 0));
        assert!(is_local_weekend(friday_late, 60));
        assert_eq!(local_hour(friday_late, 60), 0);
        assert_eq!(local_hour(friday_late, -300), 18);
    }
}
