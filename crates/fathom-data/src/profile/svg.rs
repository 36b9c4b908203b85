//! Small inline-SVG chart builders for the report: histogram, horizontal bar
//! chart, correlation heat map. Each returns one `<svg>` element with a
//! `viewBox` (so CSS can scale it) and `<title>` tooltips on every mark.
//! All text passes through [`escape`].

use super::Histogram;
use super::format::{
    TickFormat, escape, fmt_compact, fmt_count, fmt_num, fmt_pct, fmt_time, nice_ticks,
    truncate_middle,
};
use fathom_core::time::format_micros;
use std::fmt::Write;

/// Width of the column-card charts, in SVG user units.
const W: f64 = 560.0;
const BAR: &str = "#4c78a8";
const BAR_MUTED: &str = "#b8c2cc";
const GRID: &str = "#e6e9ee";
const AXIS: &str = "#9aa5b1";
const REF: &str = "#c05621";

/// The x axis of a histogram: plain numbers or microseconds since the epoch.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Axis {
    /// Numeric values.
    Number,
    /// Microseconds since the epoch, labelled as dates.
    Time,
    /// Positive numbers on a log10 scale.
    Log,
}

fn open(out: &mut String, w: f64, h: f64, label: &str) {
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {w:.0} {h:.0}" width="{w:.0}" height="{h:.0}" role="img" aria-label="{}">"#,
        escape(label)
    );
}

/// Approximate rendered width of `s` at font size 11 (for label placement).
fn text_width(s: &str) -> f64 {
    s.chars().count() as f64 * 6.3
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

/// A bar chart of a histogram, with y gridlines, readable axis labels, an
/// optional dashed marker (e.g. the median) and a tooltip per bar.
pub(crate) fn histogram_chart(
    h: &Histogram,
    axis: Axis,
    marker: Option<(f64, &str)>,
    label: &str,
) -> String {
    let height = 220.0;
    let (left, right, top, bottom) = (52.0, 16.0, 22.0, 30.0);
    let (pw, ph) = (W - left - right, height - top - bottom);
    let mut out = String::with_capacity(4096);
    open(&mut out, W, height, label);
    let bins = h.counts.len().min(h.edges.len().saturating_sub(1));
    let (Some(&lo), Some(&hi)) = (h.edges.first(), h.edges.get(bins)) else {
        out.push_str("</svg>");
        return out;
    };
    let total: u64 = h.counts.iter().sum();
    let max_count = h.counts.iter().copied().max().unwrap_or(0).max(1) as f64;
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
        let (a, b) = (h.edges[i], h.edges[i + 1]);
        let range = if a == b {
            edge_text(a, axis)
        } else {
            let close = if i + 1 == bins { "]" } else { ")" };
            format!("[{} – {}{close}", edge_text(a, axis), edge_text(b, axis))
        };
        escape(&format!("{range}: {} ({})", fmt_count(c), fmt_pct(pct)))
    };
    for (i, &c) in h.counts.iter().enumerate().take(bins) {
        let (x0, x1) = if constant {
            (left + pw * 0.4, left + pw * 0.6)
        } else {
            (sx(h.edges[i]), sx(h.edges[i + 1]))
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

/// One bar of [`hbar_chart`].
pub(crate) struct Bar {
    /// Category shown left of the bar (truncated; full text in the tooltip).
    pub label: String,
    /// Bar length in the units of the chart's domain.
    pub value: f64,
    /// Text right of the bar, e.g. "1,234 (12.3%)".
    pub annotation: String,
    /// Tooltip text.
    pub tooltip: String,
    /// Drawn in grey (e.g. the "other categories" bar).
    pub muted: bool,
}

/// A horizontal bar chart (one row per bar, label left, annotation right)
/// over `[0, domain_max]`, with an optional dashed reference line.
pub(crate) fn hbar_chart(
    bars: &[Bar],
    domain_max: f64,
    reference: Option<(f64, &str)>,
    label: &str,
) -> String {
    const LABEL_CHARS: usize = 22;
    let longest = bars
        .iter()
        .map(|b| b.label.chars().count().min(LABEL_CHARS))
        .max()
        .unwrap_or(0);
    let label_w = (longest as f64 * 6.9 + 16.0).clamp(48.0, 170.0);
    let (annot_w, row_h, bar_h) = (118.0, 22.0, 14.0);
    let top = if reference.is_some() { 22.0 } else { 6.0 };
    let height = top + row_h * bars.len().max(1) as f64 + 6.0;
    let maxw = W - label_w - annot_w;
    let domain = if domain_max.is_finite() && domain_max > 0.0 {
        domain_max
    } else {
        1.0
    };
    let sx = |v: f64| label_w + (v.max(0.0) / domain).min(1.0) * maxw;
    let mut out = String::with_capacity(2048);
    open(&mut out, W, height, label);
    let row_y = |i: usize| top + i as f64 * row_h;
    // Tracks and bars first, then the reference line, then the text on top.
    for (i, b) in bars.iter().enumerate() {
        let by = row_y(i) + (row_h - bar_h) / 2.0;
        let w = sx(b.value) - label_w;
        let w = if b.value > 0.0 { w.max(1.0) } else { 0.0 };
        let fill = if b.muted { BAR_MUTED } else { BAR };
        let tip = escape(&b.tooltip);
        let _ = write!(
            out,
            r##"<rect x="{label_w:.1}" y="{by:.1}" width="{maxw:.1}" height="{bar_h}" fill="#f1f3f6" rx="2"><title>{tip}</title></rect><rect class="bar" x="{label_w:.1}" y="{by:.1}" width="{w:.1}" height="{bar_h}" fill="{fill}" rx="2"><title>{tip}</title></rect>"##
        );
    }
    if let Some((v, name)) = reference
        && v.is_finite()
    {
        let x = sx(v);
        let t = escape(name);
        let half = text_width(name) / 2.0;
        let tx = x.clamp(half, W - half);
        let _ = write!(
            out,
            r#"<g class="marker"><title>{t}</title><line x1="{x:.1}" x2="{x:.1}" y1="{:.1}" y2="{:.1}" stroke="{REF}" stroke-width="1.5" stroke-dasharray="4 3"/><text x="{tx:.1}" y="{:.1}" class="tick marker-text" text-anchor="middle">{t}</text></g>"#,
            top - 4.0,
            height - 4.0,
            top - 8.0
        );
    }
    for (i, b) in bars.iter().enumerate() {
        let ty = row_y(i) + row_h / 2.0 + 4.0;
        let end = sx(b.value).max(label_w);
        let tip = escape(&b.tooltip);
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{ty:.1}" class="cat" text-anchor="end"><title>{tip}</title>{}</text><text x="{:.1}" y="{ty:.1}" class="tick halo">{}</text>"#,
            label_w - 8.0,
            escape(&truncate_middle(&b.label, LABEL_CHARS)),
            end + 6.0,
            escape(&b.annotation)
        );
    }
    out.push_str("</svg>");
    out
}

/// The diverging colour (blue for -1, near-white for 0, red for +1) of a
/// correlation, as `#rrggbb`.
pub(crate) fn diverging(r: f64) -> String {
    // ColorBrewer RdBu, 5 stops, from -1 to +1.
    const STOPS: [(f64, [f64; 3]); 5] = [
        (-1.0, [33.0, 102.0, 172.0]),
        (-0.5, [103.0, 169.0, 207.0]),
        (0.0, [247.0, 247.0, 247.0]),
        (0.5, [239.0, 138.0, 98.0]),
        (1.0, [178.0, 24.0, 43.0]),
    ];
    let r = if r.is_finite() {
        r.clamp(-1.0, 1.0)
    } else {
        0.0
    };
    let k = STOPS
        .windows(2)
        .position(|w| r <= w[1].0)
        .unwrap_or(STOPS.len() - 2);
    let ((a, ca), (b, cb)) = (STOPS[k], STOPS[k + 1]);
    let t = (r - a) / (b - a);
    let c: Vec<u8> = (0..3)
        .map(|i| (ca[i] + (cb[i] - ca[i]) * t).round().clamp(0.0, 255.0) as u8)
        .collect();
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

/// A correlation heat map with row/column labels, cell values when cells are
/// large enough, a tooltip per cell and a vertical colour legend.
pub(crate) fn heatmap(names: &[String], matrix: &[Vec<Option<f64>>]) -> String {
    let n = names.len();
    let cell = (600.0 / n.max(1) as f64).clamp(12.0, 60.0);
    let longest = names
        .iter()
        .map(|s| s.chars().count().min(20))
        .max()
        .unwrap_or(0) as f64;
    let left = (longest * 6.9 + 16.0).clamp(40.0, 156.0);
    let top = (longest * 6.9 * 0.72 + 20.0).clamp(30.0, 120.0);
    let value_font = (cell * 0.24).clamp(9.5, 13.0);
    let label_font = (cell * 0.6).clamp(8.0, 12.0);
    let grid = cell * n as f64;
    let legend_x = left + grid + 28.0;
    let legend_h = grid.max(160.0);
    let width = (legend_x + 60.0).max(left + grid + 96.0);
    let height = top + legend_h + 16.0;
    let mut out = String::with_capacity(1024 + n * n * 160);
    open(&mut out, width, height, "Correlation heat map");
    for (i, name) in names.iter().enumerate() {
        let c = left + (i as f64 + 0.5) * cell;
        let full = escape(name);
        let short = escape(&truncate_middle(name, 20));
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}" class="cat" style="font-size:{label_font:.1}px" text-anchor="end"><title>{full}</title>{short}</text><text transform="translate({:.1},{:.1}) rotate(-45)" class="cat" style="font-size:{label_font:.1}px"><title>{full}</title>{short}</text>"#,
            left - 8.0,
            top + (i as f64 + 0.5) * cell + label_font * 0.35,
            c + 3.0,
            top - 6.0,
        );
    }
    let show_values = cell >= 28.0;
    for i in 0..n {
        for j in 0..n {
            let r = matrix.get(i).and_then(|row| row.get(j)).copied().flatten();
            let (x, y) = (left + j as f64 * cell, top + i as f64 * cell);
            let (fill, tip) = match r {
                Some(r) => (
                    diverging(r),
                    format!("{} × {}: r = {r:.4}", names[i], names[j]),
                ),
                None => (
                    "#e4e7eb".to_string(),
                    format!("{} × {}: undefined", names[i], names[j]),
                ),
            };
            let _ = write!(
                out,
                r##"<rect class="cell" x="{x:.1}" y="{y:.1}" width="{cell:.1}" height="{cell:.1}" fill="{fill}" stroke="#ffffff" stroke-width="1"><title>{}</title></rect>"##,
                escape(&tip)
            );
            if show_values {
                let (text, ink) = match r {
                    Some(r) => (
                        format!("{r:.2}"),
                        if r.abs() > 0.55 { "#ffffff" } else { "#323f4b" },
                    ),
                    None => ("–".to_string(), "#7b8794"),
                };
                let _ = write!(
                    out,
                    r#"<text x="{:.1}" y="{:.1}" class="cellv" style="font-size:{value_font:.1}px" text-anchor="middle" fill="{ink}">{text}</text>"#,
                    x + cell / 2.0,
                    y + cell / 2.0 + value_font * 0.35
                );
            }
        }
    }
    // Legend: a vertical gradient from -1 (bottom) to +1 (top).
    let _ = write!(
        out,
        r#"<defs><linearGradient id="fathom-corr-scale" x1="0" y1="1" x2="0" y2="0">"#
    );
    for k in 0..=8 {
        let r = -1.0 + f64::from(k) * 0.25;
        let _ = write!(
            out,
            r#"<stop offset="{:.1}%" stop-color="{}"/>"#,
            f64::from(k) * 12.5,
            diverging(r)
        );
    }
    let _ = write!(
        out,
        r#"</linearGradient></defs><rect x="{legend_x:.1}" y="{top:.1}" width="14" height="{legend_h:.1}" fill="url(#fathom-corr-scale)" stroke="{GRID}"><title>Pearson r from -1 (blue) to +1 (red)</title></rect>"#
    );
    for k in 0..=4 {
        let r = 1.0 - f64::from(k) * 0.5;
        let y = top + legend_h * f64::from(k) / 4.0;
        let _ = write!(
            out,
            r#"<line x1="{:.1}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="{AXIS}"/><text x="{:.1}" y="{:.1}" class="tick">{}</text>"#,
            legend_x + 14.0,
            legend_x + 18.0,
            legend_x + 21.0,
            y + 4.0,
            if r == 0.0 {
                "0".to_string()
            } else {
                format!("{r:+.1}")
            }
        );
    }
    let _ = write!(
        out,
        r#"<text x="{:.1}" y="{:.1}" class="tick" text-anchor="middle">r</text>"#,
        legend_x + 7.0,
        top - 8.0
    );
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diverging_scale_endpoints() {
        assert_eq!(diverging(-1.0), "#2166ac");
        assert_eq!(diverging(0.0), "#f7f7f7");
        assert_eq!(diverging(1.0), "#b2182b");
        assert_eq!(diverging(f64::NAN), "#f7f7f7");
    }

    #[test]
    fn charts_escape_text_and_carry_tooltips() {
        let h = Histogram {
            edges: vec![0.0, 1.0, 2.0],
            counts: vec![3, 0],
        };
        let svg = histogram_chart(&h, Axis::Number, Some((0.5, "median")), "a<b");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("aria-label=\"a&lt;b\""));
        assert!(svg.contains("<title>[0 – 1): 3 (100.0%)</title>"), "{svg}");
        let bars = [Bar {
            label: "<script>".into(),
            value: 2.0,
            annotation: "2".into(),
            tooltip: "<script>: 2".into(),
            muted: false,
        }];
        let svg = hbar_chart(&bars, 2.0, Some((1.0, "overall")), "x");
        assert!(!svg.contains("<script>") && svg.contains("&lt;script&gt;"));
        let svg = heatmap(&["a&b".into()], &[vec![Some(1.0)]]);
        assert!(svg.contains("a&amp;b") && svg.contains("r = 1.0000"));
        // Degenerate inputs draw empty charts instead of panicking.
        let empty = histogram_chart(&Histogram::default(), Axis::Time, None, "e");
        assert!(empty.ends_with("</svg>"));
        assert!(hbar_chart(&[], f64::NAN, None, "e").ends_with("</svg>"));
        assert!(heatmap(&[], &[]).ends_with("</svg>"));
    }
}
