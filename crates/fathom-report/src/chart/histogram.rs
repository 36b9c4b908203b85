//! Histograms: bars over bin edges on a numeric, log or time axis.

use super::{AXIS, BAR, GRID, REF, W, open, text_width};
use crate::format::{
    TickFormat, escape, fmt_compact, fmt_count, fmt_num, fmt_pct, fmt_time, nice_ticks,
};
use fathom_core::time::format_micros;
use std::fmt::Write;

/// The x axis of a histogram: plain numbers, positive numbers on a log
/// scale, or microseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// Numeric values.
    Number,
    /// Microseconds since the epoch, labelled as dates.
    Time,
    /// Positive numbers on a log10 scale.
    Log,
}

/// A value on a time axis, at a precision suited to the span of the axis.
fn time_label(micros: f64, span_micros: f64) -> String {
    let t = format_micros(micros as i64);
    let day = 86_400e6;
    if span_micros > 3.0 * 365.0 * day {
        t.chars().take(7).collect()
    } else if span_micros > 2.0 * day {
        t.chars().take(10).collect()
    } else {
        t.chars()
            .skip(5)
            .take(11)
            .collect::<String>()
            .replace('T', " ")
    }
}

/// Formats one histogram edge for a tooltip.
fn edge_text(v: f64, axis: Axis) -> String {
    match axis {
        Axis::Number | Axis::Log => fmt_num(v),
        Axis::Time => fmt_time(v as i64),
    }
}

/// A bar chart of a histogram (`counts[i]` rows in `[edges[i], edges[i+1])`,
/// the last bin closed), with y gridlines, readable axis labels, an
/// optional dashed marker (e.g. the median) and a tooltip per bar. Extra
/// counts or edges beyond the shorter of the two are ignored.
pub fn histogram_chart(
    edges: &[f64],
    counts: &[u64],
    axis: Axis,
    marker: Option<(f64, &str)>,
    label: &str,
) -> String {
    let height = 220.0;
    let (left, right, top, bottom) = (52.0, 16.0, 22.0, 30.0);
    let (pw, ph) = (W - left - right, height - top - bottom);
    let mut out = String::with_capacity(4096);
    open(&mut out, W, height, label);
    let bins = counts.len().min(edges.len().saturating_sub(1));
    let (Some(&lo), Some(&hi)) = (edges.first(), edges.get(bins)) else {
        out.push_str("</svg>");
        return out;
    };
    let total: u64 = counts.iter().sum();
    let max_count = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let (mut yticks, mut ystep) = nice_ticks(0.0, max_count, 4);
    if ystep < 1.0 {
        ystep = 1.0;
        yticks = (0..=max_count as u64).map(|v| v as f64).collect();
    }
    let ymax = match yticks.last() {
        Some(&t) if t >= max_count => t,
        Some(&t) => t + ystep,
        None => max_count,
    };
    let sy = |c: f64| top + ph - c / ymax * ph;
    let yfmt = TickFormat::new(&yticks, ystep);
    for &t in &yticks {
        let y = sy(t);
        let _ = write!(
            out,
            r#"<line x1="{left}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="{GRID}"/><text x="{:.1}" y="{:.1}" class="tick" text-anchor="end">{}</text>"#,
            left + pw,
            left - 6.0,
            y + 4.0,
            yfmt.fmt(t)
        );
    }
    let log = axis == Axis::Log && lo > 0.0;
    let tf = |v: f64| if log { v.log10() } else { v };
    // Also true when an edge is NaN, which a well-formed histogram never has.
    let constant = tf(hi).partial_cmp(&tf(lo)) != Some(std::cmp::Ordering::Greater);
    let (tlo, thi) = (tf(lo), tf(hi));
    let sx = |v: f64| {
        if constant {
            left + pw / 2.0
        } else {
            left + (tf(v) - tlo) / (thi - tlo) * pw
        }
    };
    let bar_title = |i: usize, c: u64| {
        let pct = if total > 0 {
            c as f64 / total as f64
        } else {
            0.0
        };
        let (a, b) = (edges[i], edges[i + 1]);
        let range = if a == b {
            edge_text(a, axis)
        } else {
            let close = if i + 1 == bins { "]" } else { ")" };
            format!("[{} – {}{close}", edge_text(a, axis), edge_text(b, axis))
        };
        escape(&format!("{range}: {} ({})", fmt_count(c), fmt_pct(pct)))
    };
    for (i, &c) in counts.iter().enumerate().take(bins) {
        let (x0, x1) = if constant {
            (left + pw * 0.4, left + pw * 0.6)
        } else {
            (sx(edges[i]), sx(edges[i + 1]))
        };
        let w = (x1 - x0 - 1.0).max(1.0);
        let bh = if c > 0 {
            (c as f64 / ymax * ph).max(1.0)
        } else {
            0.0
        };
        // An invisible full-height target makes tooltips reachable on tiny bars.
        let _ = write!(
            out,
            r#"<g class="bin"><rect x="{:.1}" y="{top:.1}" width="{:.1}" height="{ph:.1}" fill="transparent"><title>{t}</title></rect><rect class="bar" x="{:.1}" y="{:.1}" width="{w:.1}" height="{bh:.1}" fill="{BAR}"><title>{t}</title></rect></g>"#,
            x0,
            (x1 - x0).max(1.0),
            x0 + 0.5,
            top + ph - bh,
            t = bar_title(i, c)
        );
    }
    // Baseline.
    let _ = write!(
        out,
        r#"<line x1="{left}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="{AXIS}"/>"#,
        left + pw,
        top + ph,
        top + ph
    );
    // X ticks.
    let base = top + ph;
    let mut xlabels: Vec<(f64, String)> = Vec::new();
    if constant {
        xlabels.push((lo, edge_text(lo, axis)));
    } else {
        match axis {
            Axis::Number => {
                let (ticks, step) = nice_ticks(lo, hi, 5);
                let f = TickFormat::new(&ticks, step);
                xlabels.extend(ticks.iter().map(|&t| (t, f.fmt(t))));
            }
            Axis::Log => xlabels.extend(log_ticks(lo, hi).into_iter().map(|t| (t, fmt_compact(t)))),
            Axis::Time => {
                let span = hi - lo;
                xlabels.extend((0..5).map(|k| {
                    let t = lo + span * f64::from(k) / 4.0;
                    (t, time_label(t, span))
                }));
            }
        }
    }
    for (v, text) in xlabels {
        let x = sx(v);
        let half = text_width(&text) / 2.0;
        let tx = x.clamp(left + half - 8.0, W - right - half + 8.0);
        let _ = write!(
            out,
            r#"<line x1="{x:.1}" x2="{x:.1}" y1="{base:.1}" y2="{:.1}" stroke="{AXIS}"/><text x="{tx:.1}" y="{:.1}" class="tick" text-anchor="middle">{}</text>"#,
            base + 4.0,
            base + 17.0,
            escape(&text)
        );
    }
    if let Some((v, name)) = marker
        && v.is_finite()
        && (constant || (lo..=hi).contains(&v))
    {
        let x = sx(v);
        let text = format!("{name} {}", edge_text(v, axis));
        let half = text_width(&text) / 2.0;
        let tx = x.clamp(left + half, W - right - half);
        let _ = write!(
            out,
            r#"<g class="marker"><title>{t}</title><line x1="{x:.1}" x2="{x:.1}" y1="{:.1}" y2="{base:.1}" stroke="{REF}" stroke-width="1.5" stroke-dasharray="4 3"/><text x="{tx:.1}" y="{:.1}" class="tick marker-text" text-anchor="middle">{t}</text></g>"#,
            top - 4.0,
            top - 8.0,
            t = escape(&text)
        );
    }
    out.push_str("</svg>");
    out
}

/// Ticks for a log axis over [lo, hi] (lo > 0): the powers of ten inside,
/// plus 2× and 5× multiples when there are fewer than three of them.
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (a, b) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let mut ticks: Vec<f64> = (a..=b)
        .map(|k| 10f64.powi(k))
        .filter(|t| (lo..=hi).contains(t))
        .collect();
    if ticks.len() < 3 {
        ticks = (a..=b)
            .flat_map(|k| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(k)))
            .filter(|t| (lo..=hi).contains(t))
            .collect();
    }
    ticks.truncate(12);
    ticks
}
