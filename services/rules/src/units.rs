//! Durations (`90s`, `1h30m`) and byte sizes (`10GiB`, `500MB`) as rules write them.

/// Milliseconds in one hour.
pub const HOUR_MS: i64 = 60 * 60 * 1000;

/// Longest duration a rule may name: ten years of 365 days.
pub const MAX_DURATION_MS: i64 = 3650 * 24 * HOUR_MS;

/// Duration units, largest first, with their length in milliseconds.
const DURATION_UNITS: [(&str, i64); 6] = [
    ("w", 7 * 24 * HOUR_MS),
    ("d", 24 * HOUR_MS),
    ("h", HOUR_MS),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
];

/// Parses a duration such as `90s`, `10m`, `2h`, `7d`, `1w` or `1h30m` into milliseconds.
///
/// Each part is whole digits and a unit (`w`, `d`, `h`, `m`, `s`, `ms`); units appear at most
/// once, largest first. The result is at most [`MAX_DURATION_MS`].
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let bad = |why: &str| format!("invalid duration `{text}`: {why}");
    if text.is_empty() {
        return Err(bad("empty"));
    }
    let mut rest = text;
    let mut total: i64 = 0;
    let mut last_unit = usize::MAX;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad("expected digits followed by a unit such as 90s, 10m, 2h, 7d, 1h30m"));
        }
        let (number, after) = rest.split_at(digits);
        let unit_len = after.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, after) = after.split_at(unit_len);
        if unit.is_empty() {
            return Err(bad("missing unit (ms, s, m, h, d or w)"));
        }
        let Some(position) = DURATION_UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(bad(&format!("unknown unit `{unit}` (expected ms, s, m, h, d or w)")));
        };
        if last_unit != usize::MAX && position <= last_unit {
            return Err(bad("units must appear once each, largest first"));
        }
        last_unit = position;
        let unit_ms = DURATION_UNITS.get(position).map_or(1, |(_, ms)| *ms);
        let part = number
            .parse::<i64>()
            .ok()
            .and_then(|value| value.checked_mul(unit_ms))
            .and_then(|value| total.checked_add(value));
        match part {
            Some(value) if value <= MAX_DURATION_MS => total = value,
            _ => return Err(bad("longer than 3650d")),
        }
        rest = after;
    }
    Ok(total)
}

/// Writes milliseconds back as the shortest duration text (`5400000` -> `1h30m`).
pub fn format_duration(mut ms: i64) -> String {
    if ms <= 0 {
        return "0s".to_string();
    }
    let mut text = String::new();
    for (unit, unit_ms) in DURATION_UNITS {
        let count = ms / unit_ms;
        if count > 0 {
            text.push_str(&count.to_string());
            text.push_str(unit);
            ms -= count * unit_ms;
        }
    }
    text
}

/// Byte-size units with their multiplier, matched case-insensitively.
const BYTE_UNITS: [(&str, f64); 11] = [
    ("b", 1.0),
    ("kb", 1e3),
    ("mb", 1e6),
    ("gb", 1e9),
    ("tb", 1e12),
    ("pb", 1e15),
    ("kib", 1024.0),
    ("mib", 1024.0 * 1024.0),
    ("gib", 1024.0 * 1024.0 * 1024.0),
    ("tib", 1024.0 * 1024.0 * 1024.0 * 1024.0),
    ("pib", 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0),
];

/// Parses a number with an optional byte unit: `500`, `1.5TB`, `10GiB`, `500 MB`.
///
/// Decimal units (`KB`, `MB`, `GB`, `TB`, `PB`) are powers of 1000, binary units (`KiB` to
/// `PiB`) powers of 1024; units are matched case-insensitively. Negative sizes are refused.
pub fn parse_bytes(text: &str) -> Result<f64, String> {
    let bad = |why: &str| format!("invalid size `{text}`: {why}");
    let trimmed = text.trim();
    let number_len = trimmed
        .bytes()
        .take_while(|byte| byte.is_ascii_digit() || *byte == b'.' || *byte == b'_')
        .count();
    let (number, unit) = trimmed.split_at(number_len);
    if number.is_empty() {
        return Err(bad("expected a number such as 500, 10GiB or 500MB"));
    }
    let value = number.replace('_', "").parse::<f64>().map_err(|_| bad("not a number"))?;
    let unit = unit.trim();
    let multiplier = if unit.is_empty() {
        1.0
    } else {
        match BYTE_UNITS.iter().find(|(name, _)| name.eq_ignore_ascii_case(unit)) {
            Some((_, multiplier)) => *multiplier,
            None => {
                return Err(bad(&format!(
                    "unknown unit `{unit}` (expected B, KB, MB, GB, TB, PB, KiB, MiB, GiB, \
                     TiB or PiB)"
                )))
            }
        }
    };
    let bytes = value * multiplier;
    if !bytes.is_finite() {
        return Err(bad("too large"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_combine_units() {
        assert_eq!(parse_duration("90s"), Ok(90_000));
        assert_eq!(parse_duration("10m"), Ok(600_000));
        assert_eq!(parse_duration("2h"), Ok(2 * HOUR_MS));
        assert_eq!(parse_duration("7d"), Ok(7 * 24 * HOUR_MS));
        assert_eq!(parse_duration("1w"), Ok(7 * 24 * HOUR_MS));
        assert_eq!(parse_duration("1h30m"), Ok(90 * 60_000));
        assert_eq!(parse_duration("1m500ms"), Ok(60_500));
        assert_eq!(parse_duration("0s"), Ok(0));
    }

    #[test]
    fn bad_durations_say_why() {
        for (text, why) in [
            ("", "empty"),
            ("30", "missing unit"),
            ("h", "expected digits"),
            ("5y", "unknown unit `y`"),
            ("30m1h", "largest first"),
            ("1h1h", "largest first"),
            ("-5m", "expected digits"),
            ("1.5h", "missing unit"),
            ("99999999999999999999s", "longer than"),
            ("3651d", "longer than"),
        ] {
            let error = parse_duration(text).unwrap_err();
            assert!(error.contains(why), "{text}: {error}");
        }
    }

    #[test]
    fn durations_format_back() {
        assert_eq!(format_duration(90 * 60_000), "1h30m");
        assert_eq!(format_duration(30 * 24 * HOUR_MS), "4w2d");
        assert_eq!(format_duration(1500), "1s500ms");
        assert_eq!(parse_duration(&format_duration(123_456_789)), Ok(123_456_789));
    }

    #[test]
    fn byte_sizes_use_decimal_and_binary_units() {
        assert_eq!(parse_bytes("500"), Ok(500.0));
        assert_eq!(parse_bytes("500MB"), Ok(500e6));
        assert_eq!(parse_bytes("10GiB"), Ok(10.0 * 1024.0 * 1024.0 * 1024.0));
        assert_eq!(parse_bytes("10 gib"), Ok(10.0 * 1024.0 * 1024.0 * 1024.0));
        assert_eq!(parse_bytes("1.5TB"), Ok(1.5e12));
        assert_eq!(parse_bytes("2KiB"), Ok(2048.0));
    }

    #[test]
    fn bad_byte_sizes_say_why() {
        assert!(parse_bytes("GiB").unwrap_err().contains("expected a number"));
        assert!(parse_bytes("10XB").unwrap_err().contains("unknown unit `XB`"));
        assert!(parse_bytes("-5GB").unwrap_err().contains("expected a number"));
        assert!(parse_bytes("1.2.3").unwrap_err().contains("not a number"));
    }
}
