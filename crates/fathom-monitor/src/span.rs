//! Lengths of time as written in `fathom.toml` and on the command line: a
//! whole number and a unit, `0s`, `45s`, `30m`, `1h`, `2d`.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

const SECOND: i64 = 1_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// A length of time in milliseconds, written `30m`, `1h`, `0s`, `2d`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span {
    ms: i64,
}

impl Span {
    /// No time at all (`0s`).
    pub const ZERO: Span = Span { ms: 0 };

    /// A span of `ms` milliseconds; negative values count as zero.
    pub fn from_ms(ms: i64) -> Span {
        Span { ms: ms.max(0) }
    }

    /// A span of whole seconds.
    pub fn seconds(s: i64) -> Span {
        Span::from_ms(s.saturating_mul(SECOND))
    }

    /// A span of whole minutes.
    pub fn minutes(m: i64) -> Span {
        Span::from_ms(m.saturating_mul(MINUTE))
    }

    /// A span of whole hours.
    pub fn hours(h: i64) -> Span {
        Span::from_ms(h.saturating_mul(HOUR))
    }

    /// The length in milliseconds.
    pub fn ms(self) -> i64 {
        self.ms
    }

    /// Reads a whole number followed by `s`, `m`, `h` or `d` (`"0s"` is
    /// zero); the error says how to write it.
    pub fn parse(text: &str) -> Result<Span, String> {
        text.parse()
    }

    /// Whether it is `0s`.
    pub fn is_zero(self) -> bool {
        self.ms == 0
    }
}

impl FromStr for Span {
    type Err = String;

    /// Parses a whole number followed by `s`, `m`, `h` or `d`; the error
    /// says how to write it.
    fn from_str(text: &str) -> Result<Span, String> {
        let t = text.trim();
        let advice = "write a whole number followed by s, m, h or d (e.g. 0s, 30m, 1h, 2d)";
        let unit = match t.chars().last() {
            Some('s') => SECOND,
            Some('m') => MINUTE,
            Some('h') => HOUR,
            Some('d') => DAY,
            _ => return Err(format!("duration \"{text}\" is not understood; {advice}")),
        };
        let digits = t[..t.len() - 1].trim();
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("duration \"{text}\" is not understood; {advice}"));
        }
        digits
            .parse::<i64>()
            .ok()
            .and_then(|n| n.checked_mul(unit))
            .map(Span::from_ms)
            .ok_or_else(|| format!("duration \"{text}\" is too long"))
    }
}

impl fmt::Display for Span {
    /// The largest unit that divides it exactly: `90m`, `2h`, `0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.ms;
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, suffix) in [(DAY, "d"), (HOUR, "h"), (MINUTE, "m"), (SECOND, "s")] {
            if ms % unit == 0 {
                return write!(f, "{}{suffix}", ms / unit);
            }
        }
        // Spans made from milliseconds: shown in seconds, rounded down.
        write!(f, "{}s", ms / SECOND)
    }
}

impl Serialize for Span {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Span, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// An elapsed time for messages: the two largest units, `4h 10m`, `45s`,
/// `2d 3h`.
pub fn human(ms: i64) -> String {
    let ms = ms.max(0);
    let parts = [
        (ms / DAY, "d"),
        (ms % DAY / HOUR, "h"),
        (ms % HOUR / MINUTE, "m"),
        (ms % MINUTE / SECOND, "s"),
    ];
    let Some(first) = parts.iter().position(|(n, _)| *n > 0) else {
        return "0s".into();
    };
    parts[first..]
        .iter()
        .take(2)
        .filter(|(n, _)| *n > 0)
        .map(|(n, u)| format!("{n}{u}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_the_units() {
        for (text, ms) in [
            ("0s", 0),
            ("45s", 45_000),
            ("30m", 1_800_000),
            ("1h", 3_600_000),
            ("2d", 172_800_000),
            (" 90m ", 5_400_000),
        ] {
            assert_eq!(text.parse::<Span>().unwrap().ms(), ms, "{text}");
        }
        assert_eq!(Span::minutes(90).to_string(), "90m");
        assert_eq!(Span::minutes(120).to_string(), "2h");
        assert_eq!(Span::ZERO.to_string(), "0s");
        for bad in ["", "30", "m", "1.5h", "-1h", "30x", "1 h 2"] {
            let err = bad.parse::<Span>().unwrap_err();
            assert!(err.contains("e.g. 0s, 30m"), "{bad}: {err}");
        }
        assert!(
            "99999999999999999d"
                .parse::<Span>()
                .unwrap_err()
                .contains("too long")
        );
    }

    #[test]
    fn human_keeps_two_units() {
        assert_eq!(human(0), "0s");
        assert_eq!(human(45_000), "45s");
        assert_eq!(human(4 * HOUR + 10 * MINUTE + 5 * SECOND), "4h 10m");
        assert_eq!(human(2 * DAY + 30 * MINUTE), "2d");
        assert_eq!(human(HOUR + 30 * SECOND), "1h");
    }
}
