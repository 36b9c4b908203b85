//! Text helpers for reports: HTML escaping, readable numbers (thousands
//! separators, SI suffixes on axes, sensible decimals), percentages, dates,
//! and "nice" axis ticks.

use fathom_core::time::format_micros;

/// Escapes text for HTML element content and attribute values (also valid
/// inside SVG).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters other than tab/newline have no business in a
            // report and some are invalid in HTML.
            c if c.is_control() && c != '\t' && c != '\n' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Shortens `s` to at most `max` characters by cutting out its middle
/// ("feature_wi…name_30"), which keeps names with a common prefix apart.
pub fn truncate_middle(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    let keep = max.saturating_sub(1);
    let tail = keep / 2;
    let head = keep - tail;
    let mut out: String = s.chars().take(head).collect();
    out.push('…');
    out.extend(s.chars().skip(n - tail));
    out
}

/// Inserts thousands separators into a plain decimal string such as
/// "-12345.678" (only the integer part is grouped).
fn group_thousands(s: &str) -> String {
    let (sign, rest) = match s.strip_prefix('-') {
        Some(r) => ("-", r),
        None => ("", s),
    };
    let (int, frac) = match rest.find('.') {
        Some(p) => rest.split_at(p),
        None => (rest, ""),
    };
    let mut grouped = String::with_capacity(int.len() + int.len() / 3);
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    format!("{sign}{grouped}{frac}")
}

/// Removes trailing zeros (and a trailing dot) after a decimal point.
fn trim_zeros(s: String) -> String {
    if !s.contains('.') {
        return s;
    }
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A count with thousands separators: 1234567 → "1,234,567".
pub fn fmt_count(n: u64) -> String {
    group_thousands(&n.to_string())
}

/// A statistic for a table: six significant digits, thousands separators,
/// no trailing zeros; scientific notation for very large or tiny magnitudes.
pub fn fmt_num(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "∞".into()
        } else {
            "−∞".into()
        };
    }
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-4..1e15).contains(&a) {
        return format!("{v:.3e}");
    }
    let digits = a.log10().floor() as i32;
    let decimals = (5 - digits).clamp(0, 8) as usize;
    let s = trim_zeros(format!("{v:.decimals$}"));
    if s == "-0" {
        return "0".into();
    }
    group_thousands(&s)
}

/// A compact axis label for a positive value on a log axis: SI suffixes from
/// a thousand up ("2.5k", "10M"), plain decimals below.
pub fn fmt_compact(v: f64) -> String {
    let a = v.abs();
    for (unit, suffix) in [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")] {
        if a >= unit && a < 1e15 {
            return format!("{}{suffix}", trim_zeros(format!("{:.2}", v / unit)));
        }
    }
    fmt_num(v)
}

/// A rate in [0, 1] as a percentage with one decimal ("12.3%"); tiny
/// non-zero rates show as "<0.1%".
pub fn fmt_pct(rate: f64) -> String {
    if !rate.is_finite() {
        return "–".into();
    }
    if rate > 0.0 && rate < 0.0005 {
        return "<0.1%".into();
    }
    if rate < 1.0 && rate > 0.9995 {
        return ">99.9%".into();
    }
    format!("{:.1}%", rate * 100.0)
}

/// An RFC 3339 instant shortened for display: "2024-03-05 14:30:00" (date
/// only at midnight).
pub fn fmt_time(micros: i64) -> String {
    let s = format_micros(micros);
    let s = s.trim_end_matches('Z');
    let s = s.split('.').next().unwrap_or(s);
    match s.strip_suffix("T00:00:00") {
        Some(date) => date.to_string(),
        None => s.replacen('T', " ", 1),
    }
}

/// A duration in microseconds as a short human string ("3.5 days").
pub fn fmt_duration(micros: i64) -> String {
    let secs = micros as f64 / 1e6;
    let (v, unit) = if secs < 120.0 {
        (secs, "seconds")
    } else if secs < 7200.0 {
        (secs / 60.0, "minutes")
    } else if secs < 172_800.0 {
        (secs / 3600.0, "hours")
    } else if secs < 2.0 * 365.25 * 86_400.0 {
        (secs / 86_400.0, "days")
    } else {
        (secs / (365.25 * 86_400.0), "years")
    };
    format!("{} {unit}", trim_zeros(format!("{v:.1}")))
}

/// "Nice" ticks (steps of 1, 2, 2.5 or 5 × 10^k) covering [lo, hi] with about
/// `target` intervals; returns the ticks inside the range and the step.
pub fn nice_ticks(lo: f64, hi: f64, target: usize) -> (Vec<f64>, f64) {
    if !lo.is_finite() || !hi.is_finite() || hi <= lo {
        return (if lo.is_finite() { vec![lo] } else { vec![] }, 0.0);
    }
    let raw = (hi - lo) / target.max(1) as f64;
    if !raw.is_finite() || raw <= 0.0 {
        return (vec![lo, hi], 0.0);
    }
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let mult = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 2.5 {
        2.5
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    let step = mult * mag;
    let start = (lo / step).ceil();
    let mut ticks = Vec::new();
    for k in 0..64 {
        let t = (start + k as f64) * step;
        if t > hi + step * 1e-9 {
            break;
        }
        ticks.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
    }
    (ticks, step)
}

/// How the ticks of one axis are written: a common unit (k, M, G, T) and a
/// fixed number of decimals derived from the tick step.
pub struct TickFormat {
    unit: f64,
    suffix: &'static str,
    decimals: usize,
    scientific: bool,
}

impl TickFormat {
    /// Chooses the format for `ticks` spaced `step` apart.
    pub fn new(ticks: &[f64], step: f64) -> Self {
        let max = ticks.iter().fold(0.0f64, |m, t| m.max(t.abs()));
        let (unit, suffix) = if max >= 1e12 {
            (1e12, "T")
        } else if max >= 1e9 {
            (1e9, "G")
        } else if max >= 1e6 {
            (1e6, "M")
        } else if max >= 1e4 {
            (1e3, "k")
        } else {
            (1.0, "")
        };
        let scientific = max >= 1e15 || (max > 0.0 && max < 1e-3);
        let s = step / unit;
        let decimals = if s > 0.0 && s.is_finite() {
            (0..=6)
                .find(|&d| {
                    let scaled = s * 10f64.powi(d as i32);
                    (scaled - scaled.round()).abs() < 1e-6 * scaled.max(1.0)
                })
                .unwrap_or(6)
        } else {
            0
        };
        TickFormat {
            unit,
            suffix,
            decimals,
            scientific,
        }
    }

    /// Formats one tick value.
    pub fn fmt(&self, v: f64) -> String {
        if self.scientific {
            return if v == 0.0 {
                "0".into()
            } else {
                format!("{v:.1e}")
            };
        }
        let d = self.decimals;
        let s = format!("{:.d$}", v / self.unit);
        let s = if s
            .trim_start_matches('-')
            .chars()
            .all(|c| c == '0' || c == '.')
        {
            "0".to_string()
        } else {
            group_thousands(&s)
        };
        format!("{s}{}", self.suffix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(fmt_count(1_234_567), "1,234,567");
        assert_eq!(fmt_count(12), "12");
        assert_eq!(fmt_num(51_859.525_549), "51,859.5");
        assert_eq!(fmt_num(61.293_151), "61.2932");
        assert_eq!(fmt_num(0.33), "0.33");
        assert_eq!(fmt_num(-1_000_000.0), "-1,000,000");
        assert_eq!(fmt_num(3.0), "3");
        assert_eq!(fmt_num(1e-7), "1.000e-7");
        assert_eq!(fmt_num(f64::INFINITY), "∞");
        assert_eq!(fmt_compact(2500.0), "2.5k");
        assert_eq!(fmt_compact(10_000_000.0), "10M");
        assert_eq!(fmt_compact(0.05), "0.05");
        assert_eq!(fmt_pct(0.1234), "12.3%");
        assert_eq!(fmt_pct(0.0001), "<0.1%");
        assert_eq!(fmt_pct(0.0), "0.0%");
    }

    #[test]
    fn ticks_are_nice_and_formatted_compactly() {
        let (t, step) = nice_ticks(0.0, 97.0, 5);
        assert_eq!(step, 20.0);
        assert_eq!(t, vec![0.0, 20.0, 40.0, 60.0, 80.0]);
        let f = TickFormat::new(&t, step);
        assert_eq!(f.fmt(40.0), "40");
        let (t, step) = nice_ticks(12_258.0, 97_176.0, 5);
        let f = TickFormat::new(&t, step);
        assert_eq!(
            t.iter().map(|&v| f.fmt(v)).collect::<Vec<_>>(),
            ["20k", "40k", "60k", "80k"]
        );
        let (t, step) = nice_ticks(0.0, 1.0, 4);
        let f = TickFormat::new(&t, step);
        assert_eq!(f.fmt(t[1]), "0.25");
        let (t, step) = nice_ticks(0.0, 3_500_000.0, 5);
        let f = TickFormat::new(&t, step);
        assert_eq!(f.fmt(t[1]), "1M");
        let (t, step) = nice_ticks(0.0, 1_200_000.0, 5);
        let f = TickFormat::new(&t, step);
        assert_eq!(f.fmt(t[1]), "0.25M");
        assert_eq!(nice_ticks(1.0, 1.0, 5).0, vec![1.0]);
    }

    #[test]
    fn escaping_and_truncation() {
        assert_eq!(
            escape("<a href=\"x\">O'Neil & co</a>"),
            "&lt;a href=&quot;x&quot;&gt;O&#39;Neil &amp; co&lt;/a&gt;"
        );
        assert_eq!(truncate_middle("ünïcödé-long", 5), "ün…ng");
        assert_eq!(truncate_middle("feature_long_name_30", 9), "feat…e_30");
        assert_eq!(truncate_middle("abc", 3), "abc");
        assert_eq!(truncate_middle("abcd", 1), "…");
        assert_eq!(fmt_time(0), "1970-01-01");
        assert_eq!(fmt_time(90_000_000_000), "1970-01-02 01:00:00");
        assert_eq!(fmt_duration(3 * 86_400_000_000), "3 days");
    }
}
