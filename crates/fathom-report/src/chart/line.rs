//! Line charts: several series over fixed x and y ranges, with gridlines,
//! ticks, axis titles, dashed reference lines and a legend below the plot.

use super::{AXIS, GRID, PALETTE, W, open};
use crate::format::{TickFormat, escape, nice_ticks};
use std::fmt::Write;

/// Most points drawn per series without markers; longer series are thinned
/// with [`downsample`] so that a report stays small.
pub const MAX_POINTS: usize = 400;

/// Colour of reference lines.
const REFERENCE: &str = "#7b8794";

/// One line of a [`line_chart`].
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text and tooltip of the line.
    pub name: String,
    /// `(x, y)` points in drawing order; non-finite points are skipped.
    pub points: Vec<(f64, f64)>,
    /// Drawn thicker and on top of the other series (e.g. the best model).
    pub emphasis: bool,
    /// Draws a dot per point, each with a tooltip; such series are not thinned.
    pub markers: bool,
    /// Tooltips of the dots, one per point (a missing one shows the coordinates).
    pub tooltips: Vec<String>,
}

impl Series {
    /// A plain line.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series {
            name: name.into(),
            points,
            emphasis: false,
            markers: false,
            tooltips: Vec::new(),
        }
    }
}

/// A dashed straight reference line of a [`line_chart`], e.g. the chance
/// diagonal of a ROC plot or the base rate of a precision–recall plot.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    /// Start, in data coordinates.
    pub from: (f64, f64),
    /// End, in data coordinates.
    pub to: (f64, f64),
    /// Legend text and tooltip.
    pub label: String,
}

/// What a [`line_chart`] draws.
#[derive(Debug, Clone, Copy)]
pub struct LineChart<'a> {
    /// The chart's accessible name.
    pub label: &'a str,
    /// Title under the x axis.
    pub x_title: &'a str,
    /// Title left of the y axis.
    pub y_title: &'a str,
    /// Shown x range (points outside are clamped to it).
    pub x_range: (f64, f64),
    /// Shown y range (points outside are clamped to it).
    pub y_range: (f64, f64),
    /// The series, coloured from [`PALETTE`](super::PALETTE) in this order.
    pub series: &'a [Series],
    /// Dashed reference lines, drawn under the series.
    pub references: &'a [Reference],
}

/// A usable axis range: finite with `lo < hi`, else `[0, 1]`.
fn range(r: (f64, f64)) -> (f64, f64) {
    if r.0.is_finite() && r.1.is_finite() && r.0 < r.1 {
        r
    } else {
        (0.0, 1.0)
    }
}

/// Thins a polyline to at most `max` points (at least 2 are kept when
/// `max < 2`): the first and last points stay, and an inner point is kept
/// once the path since the previous kept point is at least
/// `length / (max - 2)` long. Distances are Euclidean in the units of the
/// points, so pass coordinates in which distance is what the eye sees
/// (pixels). Curves keep their shape: every dropped point lies on a
/// stretch of path shorter than one step.
pub fn downsample(points: &[(f64, f64)], max: usize) -> Vec<(f64, f64)> {
    let max = max.max(2);
    if points.len() <= max {
        return points.to_vec();
    }
    let dist = |a: (f64, f64), b: (f64, f64)| (a.0 - b.0).hypot(a.1 - b.1);
    let total: f64 = points.windows(2).map(|w| dist(w[0], w[1])).sum();
    let (first, last) = (points[0], points[points.len() - 1]);
    if max == 2 || !(total.is_finite() && total > 0.0) {
        return vec![first, last];
    }
    let step = total / (max - 2) as f64;
    let mut out = Vec::with_capacity(max);
    out.push(first);
    let mut since = 0.0;
    for w in points[..points.len() - 1].windows(2) {
        since += dist(w[0], w[1]);
        if since >= step && out.len() < max - 1 {
            out.push(w[1]);
            since = 0.0;
        }
    }
    out.push(last);
    out
}

/// The corners of a step line that holds each `y` until the next `x`
/// (matplotlib's `steps-post`): `(x0,y0) (x1,y0) (x1,y1) (x2,y1) …`. This is
/// how a precision–recall curve is drawn so that the area under it is the
/// average precision.
pub fn steps_post(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(points.len() * 2);
    for (i, &p) in points.iter().enumerate() {
        if i > 0 {
            out.push((p.0, points[i - 1].1));
        }
        out.push(p);
    }
    out
}

/// One legend entry's position.
struct LegendItem {
    x: f64,
    y: f64,
    text: String,
    colour: String,
    dashed: bool,
    bold: bool,
}

/// Legend entries flowed left to right in rows under the plot; returns the
/// items and the y below the last row.
fn layout_legend(
    chart: &LineChart<'_>,
    left: f64,
    right_edge: f64,
    y0: f64,
) -> (Vec<LegendItem>, f64) {
    let mut items = Vec::new();
    let (mut x, mut y) = (left, y0);
    let row_h = 18.0;
    let mut add = |text: &str, colour: String, dashed: bool, bold: bool| {
        let w = 30.0 + text.chars().count() as f64 * 6.9 + 16.0;
        if x > left && x + w > right_edge {
            x = left;
            y += row_h;
        }
        items.push(LegendItem {
            x,
            y,
            text: text.to_string(),
            colour,
            dashed,
            bold,
        });
        x += w;
    };
    for (i, s) in chart.series.iter().enumerate() {
        add(
            &s.name,
            PALETTE[i % PALETTE.len()].to_string(),
            false,
            s.emphasis,
        );
    }
    for r in chart.references {
        add(&r.label, REFERENCE.to_string(), true, false);
    }
    let bottom = if items.is_empty() { y0 - row_h } else { y };
    (items, bottom + row_h / 2.0)
}

/// A line chart with a legend, gridlines at "nice" ticks, axis titles and
/// dashed reference lines. Series without markers are thinned to at most
/// [`MAX_POINTS`] points.
pub fn line_chart(chart: &LineChart<'_>) -> String {
    let (left, right, top) = (58.0, 16.0, 12.0);
    let (pw, ph) = (W - left - right, 300.0);
    let (x0, x1) = range(chart.x_range);
    let (y0, y1) = range(chart.y_range);
    let sx = |x: f64| left + (x.clamp(x0, x1) - x0) / (x1 - x0) * pw;
    let sy = |y: f64| top + ph - (y.clamp(y0, y1) - y0) / (y1 - y0) * ph;
    let base = top + ph;
    let (legend, legend_bottom) = layout_legend(chart, left, W - right, base + 56.0);
    let height = (legend_bottom + 6.0).max(base + 46.0);
    let mut out = String::with_capacity(8192);
    open(&mut out, W, height, chart.label);

    // Grid and ticks.
    let (yticks, ystep) = nice_ticks(y0, y1, 5);
    let yfmt = TickFormat::new(&yticks, ystep);
    for &t in &yticks {
        let y = sy(t);
        let _ = write!(
            out,
            r#"<line x1="{left}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="{GRID}"/><text x="{:.1}" y="{:.1}" class="tick" text-anchor="end">{}</text>"#,
            left + pw,
            left - 6.0,
            y + 4.0,
            escape(&yfmt.fmt(t))
        );
    }
    let (xticks, xstep) = nice_ticks(x0, x1, 5);
    let xfmt = TickFormat::new(&xticks, xstep);
    for &t in &xticks {
        let x = sx(t);
        let _ = write!(
            out,
            r#"<line x1="{x:.1}" x2="{x:.1}" y1="{top:.1}" y2="{base:.1}" stroke="{GRID}"/><line x1="{x:.1}" x2="{x:.1}" y1="{base:.1}" y2="{:.1}" stroke="{AXIS}"/><text x="{x:.1}" y="{:.1}" class="tick" text-anchor="middle">{}</text>"#,
            base + 4.0,
            base + 17.0,
            escape(&xfmt.fmt(t))
        );
    }
    let _ = write!(
        out,
        r#"<line x1="{left}" x2="{:.1}" y1="{base:.1}" y2="{base:.1}" stroke="{AXIS}"/><line x1="{left}" x2="{left}" y1="{top:.1}" y2="{base:.1}" stroke="{AXIS}"/>"#,
        left + pw
    );
    let _ = write!(
        out,
        r#"<text x="{:.1}" y="{:.1}" class="axis-title" text-anchor="middle">{}</text><text transform="translate(14,{:.1}) rotate(-90)" class="axis-title" text-anchor="middle">{}</text>"#,
        left + pw / 2.0,
        base + 36.0,
        escape(chart.x_title),
        top + ph / 2.0,
        escape(chart.y_title)
    );

    // Reference lines under the series.
    for r in chart.references {
        let (a, b) = (r.from, r.to);
        if ![a.0, a.1, b.0, b.1].iter().all(|v| v.is_finite()) {
            continue;
        }
        let _ = write!(
            out,
            r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{REFERENCE}" stroke-width="1.5" stroke-dasharray="5 4"><title>{}</title></line>"#,
            sx(a.0),
            sy(a.1),
            sx(b.0),
            sy(b.1),
            escape(&r.label)
        );
    }

    // Series: the emphasised ones last, so they are on top.
    let order = chart
        .series
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.emphasis)
        .chain(chart.series.iter().enumerate().filter(|(_, s)| s.emphasis));
    for (i, s) in order {
        let colour = PALETTE[i % PALETTE.len()];
        let name = escape(&s.name);
        let finite: Vec<(usize, (f64, f64))> = s
            .points
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, (x, y))| x.is_finite() && y.is_finite())
            .collect();
        let px: Vec<(f64, f64)> = finite.iter().map(|(_, (x, y))| (sx(*x), sy(*y))).collect();
        let drawn = if s.markers {
            px.clone()
        } else {
            downsample(&px, MAX_POINTS)
        };
        let width = if s.emphasis { 2.8 } else { 1.6 };
        let _ = write!(out, r#"<g class="series">"#);
        if drawn.len() >= 2 {
            let mut d = String::with_capacity(drawn.len() * 14);
            for (k, (x, y)) in drawn.iter().enumerate() {
                let _ = write!(d, "{}{x:.1},{y:.1}", if k == 0 { 'M' } else { 'L' });
            }
            let _ = write!(
                out,
                r#"<path d="{d}" fill="none" stroke="{colour}" stroke-width="{width}" stroke-linejoin="round" stroke-linecap="round"><title>{name}</title></path>"#
            );
        }
        if s.markers || drawn.len() == 1 {
            for (k, (x, y)) in px.iter().enumerate() {
                let (orig, (dx, dy)) = finite[k];
                let tip = s
                    .tooltips
                    .get(orig)
                    .cloned()
                    .unwrap_or_else(|| format!("{}: ({dx}, {dy})", s.name));
                let _ = write!(
                    out,
                    r##"<circle cx="{x:.1}" cy="{y:.1}" r="4" fill="{colour}" stroke="#ffffff" stroke-width="1.5"><title>{}</title></circle>"##,
                    escape(&tip)
                );
            }
        }
        out.push_str("</g>");
    }

    // Legend.
    for item in &legend {
        let y = item.y;
        let dash = if item.dashed {
            r#" stroke-dasharray="5 4""#
        } else {
            ""
        };
        let weight = if item.bold {
            r#" font-weight="600""#
        } else {
            ""
        };
        let _ = write!(
            out,
            r#"<line x1="{:.1}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="{}" stroke-width="3"{dash}/><text x="{:.1}" y="{:.1}" class="legend"{weight}>{}</text>"#,
            item.x,
            item.x + 24.0,
            item.colour,
            item.x + 30.0,
            y + 4.0,
            escape(&item.text)
        );
    }
    out.push_str("</svg>");
    out
}
