//! Horizontal bar charts: one row per category.

use super::{BAR, BAR_MUTED, REF, W, open, text_width};
use crate::format::{escape, truncate_middle};
use std::fmt::Write;

/// One bar of [`hbar_chart`].
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
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

impl Bar {
    /// A bar in the standard colour whose tooltip is "label: annotation".
    pub fn new(label: impl Into<String>, value: f64, annotation: impl Into<String>) -> Self {
        let (label, annotation) = (label.into(), annotation.into());
        Bar {
            tooltip: format!("{label}: {annotation}"),
            label,
            value,
            annotation,
            muted: false,
        }
    }
}

/// A horizontal bar chart (one row per bar, label left, annotation right)
/// over `[0, domain_max]`, with an optional dashed reference line.
pub fn hbar_chart(
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
