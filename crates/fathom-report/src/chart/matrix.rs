//! Heat-cell matrices: a small labelled grid of values, each cell shaded by
//! an intensity in [0, 1], e.g. a confusion matrix.

use super::{mix, open};
use crate::format::{escape, truncate_middle};
use std::fmt::Write;

/// One cell of a [`heat_cells`] matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixCell {
    /// The main figure, e.g. "1,234".
    pub text: String,
    /// A smaller second line, e.g. "97.1% of actual negatives" (may be empty).
    pub detail: String,
    /// Tooltip text.
    pub tooltip: String,
    /// Shade from 0 (lightest) to 1 (darkest); NaN counts as 0.
    pub intensity: f64,
}

/// What [`heat_cells`] draws: `cells[r][c]` for row label `rows[r]` and
/// column label `cols[c]` (missing cells are drawn blank).
#[derive(Debug, Clone, Copy)]
pub struct MatrixChart<'a> {
    /// The chart's accessible name.
    pub label: &'a str,
    /// Title of the row labels (left, rotated), e.g. "actual".
    pub row_title: &'a str,
    /// Title of the column labels (top), e.g. "predicted".
    pub col_title: &'a str,
    /// Row labels.
    pub rows: &'a [String],
    /// Column labels.
    pub cols: &'a [String],
    /// The cells, row by row.
    pub cells: &'a [Vec<MatrixCell>],
}

/// The sequential colour (near-white for 0 to dark blue for 1) of an
/// intensity, as `#rrggbb`.
pub fn sequential(t: f64) -> String {
    mix([241.0, 245.0, 250.0], [47.0, 93.0, 138.0], t)
}

/// A matrix of shaded cells with row and column labels and titles, the
/// figure and its detail in every cell, and a tooltip per cell.
pub fn heat_cells(chart: &MatrixChart<'_>) -> String {
    let (nr, nc) = (chart.rows.len(), chart.cols.len());
    let cell_w = (360.0 / nc.max(1) as f64).clamp(60.0, 170.0);
    let cell_h = (cell_w * 0.5).clamp(48.0, 80.0);
    let longest = chart
        .rows
        .iter()
        .map(|s| s.chars().count().min(20))
        .max()
        .unwrap_or(0) as f64;
    let left = 26.0 + (longest * 6.9 + 14.0).clamp(30.0, 160.0);
    let top = 48.0;
    let width = left + cell_w * nc as f64 + 12.0;
    let height = top + cell_h * nr as f64 + 10.0;
    let mut out = String::with_capacity(2048 + nr * nc * 400);
    open(&mut out, width, height, chart.label);
    let _ = write!(
        out,
        r#"<text x="{:.1}" y="16" class="axis-title" text-anchor="middle">{}</text><text transform="translate(14,{:.1}) rotate(-90)" class="axis-title" text-anchor="middle">{}</text>"#,
        left + cell_w * nc as f64 / 2.0,
        escape(chart.col_title),
        top + cell_h * nr as f64 / 2.0,
        escape(chart.row_title)
    );
    for (c, name) in chart.cols.iter().enumerate() {
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}" class="cat" text-anchor="middle"><title>{}</title>{}</text>"#,
            left + (c as f64 + 0.5) * cell_w,
            top - 10.0,
            escape(name),
            escape(&truncate_middle(name, 24))
        );
    }
    for (r, name) in chart.rows.iter().enumerate() {
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}" class="cat" text-anchor="end"><title>{}</title>{}</text>"#,
            left - 8.0,
            top + (r as f64 + 0.5) * cell_h + 4.0,
            escape(name),
            escape(&truncate_middle(name, 20))
        );
    }
    for r in 0..nr {
        for c in 0..nc {
            let (x, y) = (left + c as f64 * cell_w, top + r as f64 * cell_h);
            let Some(cell) = chart.cells.get(r).and_then(|row| row.get(c)) else {
                let _ = write!(
                    out,
                    r##"<rect class="cell" x="{x:.1}" y="{y:.1}" width="{cell_w:.1}" height="{cell_h:.1}" fill="#e4e7eb" stroke="#ffffff" stroke-width="2"/>"##
                );
                continue;
            };
            let t = if cell.intensity.is_finite() {
                cell.intensity.clamp(0.0, 1.0)
            } else {
                0.0
            };
            let ink = if t > 0.55 { "#ffffff" } else { "#1f2933" };
            let tip = escape(&cell.tooltip);
            let _ = write!(
                out,
                r##"<g><title>{tip}</title><rect class="cell" x="{x:.1}" y="{y:.1}" width="{cell_w:.1}" height="{cell_h:.1}" fill="{}" stroke="#ffffff" stroke-width="2"/><text x="{:.1}" y="{:.1}" text-anchor="middle" fill="{ink}" style="font-size:16px;font-weight:600">{}</text>"##,
                sequential(t),
                x + cell_w / 2.0,
                y + cell_h / 2.0 + if cell.detail.is_empty() { 5.0 } else { -1.0 },
                escape(&cell.text)
            );
            if !cell.detail.is_empty() {
                let _ = write!(
                    out,
                    r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="{ink}" style="font-size:11px">{}</text>"#,
                    x + cell_w / 2.0,
                    y + cell_h / 2.0 + 15.0,
                    escape(&cell.detail)
                );
            }
            out.push_str("</g>");
        }
    }
    out.push_str("</svg>");
    out
}
