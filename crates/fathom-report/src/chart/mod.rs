//! Inline-SVG chart builders. Each returns one `<svg class="chart">`
//! element with a `viewBox` (so CSS can scale it), an `aria-label`, and a
//! `<title>` tooltip on every mark. All text passes through
//! [`escape`](crate::format::escape); degenerate input (no data, NaN, a
//! constant range) draws an empty or flat chart instead of panicking.
//!
//! * [`histogram_chart`]: bars over bin edges (numbers, dates or a log axis).
//! * [`hbar_chart`]: one horizontal bar per category, with annotations.
//! * [`heatmap`]: a correlation matrix on a diverging scale with a legend.
//! * [`heat_cells`]: a small labelled matrix of counts (a confusion matrix).
//! * [`line_chart`]: several series with a legend, axes, axis titles and
//!   dashed reference lines (a diagonal, a base rate); long series are
//!   thinned with [`downsample`].

mod bars;
mod heatmap;
mod histogram;
mod line;
mod matrix;

pub use bars::{Bar, hbar_chart};
pub use heatmap::{diverging, heatmap};
pub use histogram::{Axis, histogram_chart};
pub use line::{LineChart, MAX_POINTS, Reference, Series, downsample, line_chart, steps_post};
pub use matrix::{MatrixCell, MatrixChart, heat_cells, sequential};

use crate::format::escape;
use std::fmt::Write;

/// Width of a standard chart, in SVG user units.
pub(crate) const W: f64 = 560.0;
pub(crate) const BAR: &str = "#4c78a8";
pub(crate) const BAR_MUTED: &str = "#b8c2cc";
pub(crate) const GRID: &str = "#e6e9ee";
pub(crate) const AXIS: &str = "#9aa5b1";
pub(crate) const REF: &str = "#c05621";

/// Colours of successive series (Tableau 10), readable on white and
/// distinguishable from each other.
pub const PALETTE: [&str; 10] = [
    "#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#eeca3b", "#9d755d",
    "#ff9da6", "#bab0ac",
];

/// Opens an `<svg>` element of `w` × `h` user units labelled `label`.
pub(crate) fn open(out: &mut String, w: f64, h: f64, label: &str) {
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {w:.0} {h:.0}" width="{w:.0}" height="{h:.0}" role="img" aria-label="{}">"#,
        escape(label)
    );
}

/// Approximate rendered width of `s` at font size 11 (for label placement).
pub(crate) fn text_width(s: &str) -> f64 {
    s.chars().count() as f64 * 6.3
}

/// Linear interpolation between two `#rrggbb`-style RGB triples, as `#rrggbb`.
pub(crate) fn mix(a: [f64; 3], b: [f64; 3], t: f64) -> String {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let c: Vec<u8> = (0..3)
        .map(|i| (a[i] + (b[i] - a[i]) * t).round().clamp(0.0, 255.0) as u8)
        .collect();
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

#[cfg(test)]
mod tests;
