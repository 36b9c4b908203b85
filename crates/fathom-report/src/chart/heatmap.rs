//! The correlation heat map: a square matrix of values in [-1, 1] on a
//! diverging colour scale.

use super::{AXIS, GRID, mix, open};
use crate::format::{escape, truncate_middle};
use std::fmt::Write;

/// The diverging colour (blue for -1, near-white for 0, red for +1) of a
/// correlation, as `#rrggbb`.
pub fn diverging(r: f64) -> String {
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
    mix(ca, cb, (r - a) / (b - a))
}

/// A correlation heat map of `names` × `names` (`matrix[i][j]`, `None` for
/// undefined), with row/column labels, cell values when cells are large
/// enough, a tooltip per cell and a vertical colour legend. One per page:
/// the legend's gradient has a fixed id.
pub fn heatmap(names: &[String], matrix: &[Vec<Option<f64>>]) -> String {
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
