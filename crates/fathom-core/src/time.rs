//! Timestamps as microseconds since 1970-01-01T00:00:00Z, parsed and
//! formatted without allocation or time-zone databases.
//!
//! Accepted forms: `YYYY-MM-DD`, `YYYY-MM-DD hh:mm[:ss[.ffffff]]`, the same
//! with `T` instead of the space, optionally followed by `Z` or an offset
//! `±hh:mm` / `±hhmm`. Anything else is not a timestamp.
//!
//! ```
//! use fathom_core::time::{format_micros, parse_timestamp};
//! let t = parse_timestamp(b"2024-03-01T12:30:00Z").unwrap();
//! assert_eq!(format_micros(t), "2024-03-01T12:30:00Z");
//! assert_eq!(parse_timestamp(b"2024-03-01 14:30:00+02:00"), Some(t));
//! ```

/// Microseconds in a second.
pub const MICROS_PER_SECOND: i64 = 1_000_000;
/// Microseconds in a day.
pub const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year, month, day) of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn digits(s: &[u8], at: usize, n: usize) -> Option<u32> {
    let part = s.get(at..at + n)?;
    let mut v = 0u32;
    for &b in part {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(b - b'0');
    }
    Some(v)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

/// Parses a timestamp (see the module docs for the forms), returning
/// microseconds since the epoch in UTC.
pub fn parse_timestamp(s: &[u8]) -> Option<i64> {
    let s = s.trim_ascii();
    if s.len() < 10 || s[4] != b'-' || s[7] != b'-' {
        return None;
    }
    let year = i64::from(digits(s, 0, 4)?);
    let month = digits(s, 5, 2)?;
    let day = digits(s, 8, 2)?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let mut micros = days_from_civil(year, month, day) * MICROS_PER_DAY;
    if s.len() == 10 {
        return Some(micros);
    }
    if s[10] != b'T' && s[10] != b' ' {
        return None;
    }
    let hour = digits(s, 11, 2)?;
    if s.get(13) != Some(&b':') {
        return None;
    }
    let minute = digits(s, 14, 2)?;
    let mut pos = 16;
    let mut second = 0;
    let mut frac_micros = 0i64;
    if s.get(pos) == Some(&b':') {
        second = digits(s, pos + 1, 2)?;
        pos += 3;
        if s.get(pos) == Some(&b'.') {
            pos += 1;
            let start = pos;
            let mut scale = 100_000i64;
            while pos < s.len() && s[pos].is_ascii_digit() {
                frac_micros += i64::from(s[pos] - b'0') * scale;
                scale /= 10;
                pos += 1;
            }
            if pos == start {
                return None;
            }
        }
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    micros += (i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second))
        * MICROS_PER_SECOND
        + frac_micros;
    match &s[pos..] {
        b"" | b"Z" | b"z" => Some(micros),
        [sign @ (b'+' | b'-'), rest @ ..] => {
            let (oh, om) = match rest.len() {
                5 if rest[2] == b':' => (digits(rest, 0, 2)?, digits(rest, 3, 2)?),
                4 => (digits(rest, 0, 2)?, digits(rest, 2, 2)?),
                2 => (digits(rest, 0, 2)?, 0),
                _ => return None,
            };
            let offset = i64::from(oh * 3600 + om * 60) * MICROS_PER_SECOND;
            Some(if *sign == b'+' {
                micros - offset
            } else {
                micros + offset
            })
        }
        _ => None,
    }
}

/// Formats microseconds since the epoch as RFC 3339 in UTC, with a
/// fraction only when it is not zero.
pub fn format_micros(micros: i64) -> String {
    let mut out = String::with_capacity(27);
    write_micros(micros, &mut out);
    out
}

/// Appends the RFC 3339 form of `micros` to `out`.
pub fn write_micros(micros: i64, out: &mut String) {
    use std::fmt::Write;
    let days = micros.div_euclid(MICROS_PER_DAY);
    let rem = micros.rem_euclid(MICROS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let secs = rem / MICROS_PER_SECOND;
    let frac = rem % MICROS_PER_SECOND;
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    if frac != 0 {
        let _ = write!(out, ".{frac:06}");
    }
    out.push('Z');
}

/// Hour of day (0–23) in UTC.
pub fn hour_of_day(micros: i64) -> u32 {
    (micros.rem_euclid(MICROS_PER_DAY) / (3600 * MICROS_PER_SECOND)) as u32
}

/// Day of week in UTC, Monday = 0 … Sunday = 6.
pub fn day_of_week(micros: i64) -> u32 {
    // 1970-01-01 was a Thursday (3).
    ((micros.div_euclid(MICROS_PER_DAY) + 3).rem_euclid(7)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(parse_timestamp(b"1970-01-01"), Some(0));
        assert_eq!(
            parse_timestamp(b"2000-03-01T00:00:00Z"),
            Some(951_868_800 * MICROS_PER_SECOND)
        );
        assert_eq!(
            parse_timestamp(b"2024-02-29 23:59:59.5"),
            Some(1_709_251_199_500_000)
        );
        assert_eq!(parse_timestamp(b"1969-12-31T23:00:00-01:00"), Some(0));
        assert_eq!(
            format_micros(1_709_251_199_500_000),
            "2024-02-29T23:59:59.500000Z"
        );
        assert_eq!(format_micros(-MICROS_PER_DAY), "1969-12-31T00:00:00Z");
    }

    #[test]
    fn rejects_non_timestamps() {
        for bad in [
            &b"2023-02-29"[..],
            b"2024-13-01",
            b"12.5",
            b"2024-01-01T25:00",
            b"2024-01-01X",
            b"2024-01-01T10:00+1",
        ] {
            assert_eq!(
                parse_timestamp(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn round_trip_over_many_days() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
            if (0..=9999).contains(&y) {
                let t = days * MICROS_PER_DAY + 3_723_000_001;
                assert_eq!(parse_timestamp(format_micros(t).as_bytes()), Some(t));
            }
        }
        assert_eq!(day_of_week(0), 3);
        assert_eq!(
            hour_of_day(parse_timestamp(b"2024-05-05T17:10:00Z").unwrap()),
            17
        );
    }
}
