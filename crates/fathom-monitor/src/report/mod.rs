//! The HTML drift report: one self-contained file (inline CSS and SVG, no
//! scripts, nothing fetched) with the verdict, a table of every feature's
//! test, statistic, p-value, threshold and outcome, prediction and label
//! drift, and per-feature charts of the reference against the current
//! distribution (overlaid bins for numbers, grouped bars for levels).
//! [`check`] renders a whole monitoring check on the same pattern.

pub mod check;

use crate::drift::{Chart, DriftReport, FeatureDrift, Verdict};
use fathom_report::format::{escape, fmt_count, fmt_num, fmt_pct, truncate_middle};
use fathom_report::page::{Header, Page, Tile};
use std::fmt::Write;

/// Colour of the reference side.
const REFERENCE: &str = "#4c78a8";
/// Colour of the current side.
const CURRENT: &str = "#f58518";

pub(crate) const CSS: &str = r#"
.badge.drift{background:#fde2e1;color:#a61b1b}.badge.stable{background:#e3f4e8;color:#1d6b34}
.badge.untested{background:#eef0f3;color:#616e7c}
.verdict-none{color:#1d6b34}.verdict-warn{color:#b7791f}.verdict-severe{color:#a61b1b}.verdict-no_data{color:#52606d}
.legend-key{display:inline-block;width:10px;height:10px;border-radius:2px;margin:0 4px 0 10px;vertical-align:middle}
.stat{color:var(--muted);font-size:12px;margin:0 0 6px}
"#;

/// Renders `report` as an HTML page; `reference` and `current` name the
/// two data sets in the header (plain text).
pub fn render(report: &DriftReport, reference: &str, current: &str) -> String {
    let verdict = report.verdict;
    let mut tiles = vec![
        Tile::new(verdict.name(), "verdict"),
        Tile::new(fmt_pct(report.share_drifted), "features drifted"),
        Tile::new(
            format!("{} / {}", report.drifted, report.tested),
            "drifted / tested",
        ),
        Tile::new(fmt_count(report.reference_rows), "reference rows"),
        Tile::new(fmt_count(report.current_rows), "current rows"),
    ];
    if let Some(p) = &report.prediction {
        tiles.push(Tile::new(
            if p.drifted { "drift" } else { "stable" },
            "prediction",
        ));
    }
    let mut page = Page::begin(
        &Header {
            title: "Data drift report".into(),
            source: format!("Reference: {reference} · current: {current}"),
            tiles,
            notes: report.notes.clone(),
        },
        CSS,
    );
    drift_sections(&mut page, report);
    page.finish("fathom drift report")
}

/// The drift part of a page: the verdict, the feature table, prediction
/// and label drift, and one chart per feature.
pub(crate) fn drift_sections(page: &mut Page, report: &DriftReport) {
    let verdict = report.verdict;
    page.heading(
        "Verdict",
        Some(&format!(
            "warn at {} drifted, severe at {}",
            fmt_pct(report.warn_share),
            fmt_pct(report.severe_share)
        )),
    );
    let _ = write!(
        page,
        r#"<p class="verdict-{}"><strong>{}</strong>: {} of {} tested features drifted ({}).</p>"#,
        verdict.name(),
        match verdict {
            Verdict::NoDrift => "No drift",
            Verdict::Warn => "Warning",
            Verdict::Severe => "Severe drift",
            Verdict::NoData => "No data to compare",
        },
        report.drifted,
        report.tested,
        fmt_pct(report.share_drifted)
    );
    page.heading("Features", Some("sorted as in the schema"));
    page.push(&table(&report.features));
    let extra: Vec<&FeatureDrift> = report
        .prediction
        .iter()
        .chain(report.label.iter())
        .collect();
    if !extra.is_empty() {
        page.heading("Prediction and label", Some("not counted in the share"));
        page.push(&table(
            &extra.iter().map(|f| (*f).clone()).collect::<Vec<_>>(),
        ));
    }
    page.heading("Distributions", Some("share of present values per bin"));
    let _ = write!(
        page,
        r#"<p class="note"><span class="legend-key" style="background:{REFERENCE}"></span>reference<span class="legend-key" style="background:{CURRENT}"></span>current</p><div class="grid">"#
    );
    for f in extra.into_iter().chain(report.features.iter()) {
        page.push(&card(f));
    }
    page.push("</div>");
}

fn badge(f: &FeatureDrift) -> &'static str {
    match (f.test, f.drifted) {
        (None, _) => r#"<span class="badge untested">not tested</span>"#,
        (Some(_), true) => r#"<span class="badge drift">drift</span>"#,
        (Some(_), false) => r#"<span class="badge stable">stable</span>"#,
    }
}

fn table(features: &[FeatureDrift]) -> String {
    let mut out = String::from(
        r#"<div class="panel"><table><tr><th class="l">feature</th><th class="l">type</th><th class="l">test</th><th>statistic</th><th>p-value</th><th>threshold</th><th>missing (ref / cur)</th><th class="l">drift</th></tr>"#,
    );
    for f in features {
        let opt = |v: Option<f64>| v.map_or_else(|| "–".to_string(), fmt_num);
        let missing = |s: &crate::Summary| {
            let rows = s.values + s.missing;
            if rows == 0 {
                "–".to_string()
            } else {
                fmt_pct(s.missing as f64 / rows as f64)
            }
        };
        let _ = write!(
            out,
            r##"<tr><td class="l name"><a href="#f-{id}">{name}</a></td><td class="l">{ty}</td><td class="l">{test}</td><td>{stat}</td><td>{p}</td><td>{th}</td><td>{mr} / {mc}</td><td class="l">{badge}</td></tr>"##,
            id = anchor(&f.name),
            name = escape(&f.name),
            ty = f.column_type,
            test = f.test.map_or("–", |t| t.name()),
            stat = opt(f.statistic),
            p = opt(f.p_value),
            th = if f.test.is_some() {
                fmt_num(f.threshold)
            } else {
                "–".into()
            },
            mr = missing(&f.reference_summary),
            mc = missing(&f.current_summary),
            badge = badge(f),
        );
    }
    out.push_str("</table></div>");
    out
}

/// An id for `name` made of safe characters only.
fn anchor(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

fn card(f: &FeatureDrift) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<div class="card" id="f-{}"><div class="card-head"><h3>{}</h3>{}</div>"#,
        anchor(&f.name),
        escape(&f.name),
        badge(f)
    );
    let stat = match (f.test, f.statistic) {
        (Some(t), Some(s)) => {
            let p = f
                .p_value
                .map(|p| format!(", p = {}", fmt_num(p)))
                .unwrap_or_default();
            format!(
                "{} = {}{p} (threshold {})",
                t.name(),
                fmt_num(s),
                fmt_num(f.threshold)
            )
        }
        _ => f.note.clone().unwrap_or_default(),
    };
    let _ = write!(out, r#"<p class="stat">{}</p>"#, escape(&stat));
    let shares = |c: &[u64]| -> Vec<f64> {
        let n = c.iter().sum::<u64>().max(1) as f64;
        c.iter().map(|&x| x as f64 / n).collect()
    };
    let (r, c) = (
        shares(&f.reference_summary.counts),
        shares(&f.current_summary.counts),
    );
    let labels: Vec<String> = match &f.chart {
        Chart::Levels { levels } => levels.clone(),
        Chart::Histogram { edges } => edges
            .windows(2)
            .map(|w| format!("[{} – {})", fmt_num(w[0]), fmt_num(w[1])))
            .collect(),
    };
    let axis: Vec<(usize, String)> = match &f.chart {
        Chart::Levels { levels } => levels
            .iter()
            .enumerate()
            .map(|(i, l)| (i, truncate_middle(l, 10)))
            .collect(),
        Chart::Histogram { edges } => {
            let bins = edges.len().saturating_sub(1);
            [0, bins / 2, bins.saturating_sub(1)]
                .into_iter()
                .map(|i| (i, fmt_num(edges[i])))
                .collect()
        }
    };
    out.push_str(&comparison_chart(&labels, &r, &c, &axis, &f.name));
    out.push_str("</div>");
    out
}

/// Grouped bars: per bin, the reference share and the current share side
/// by side, with a tooltip on each; `axis` lists the bins to label.
pub fn comparison_chart(
    labels: &[String],
    reference: &[f64],
    current: &[f64],
    axis: &[(usize, String)],
    title: &str,
) -> String {
    let (w, h) = (560.0, 220.0);
    let (left, right, top, bottom) = (44.0, 10.0, 12.0, 34.0);
    let (pw, ph) = (w - left - right, h - top - bottom);
    let bins = labels.len().min(reference.len()).min(current.len());
    let mut out = String::with_capacity(4096);
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {w:.0} {h:.0}" width="{w:.0}" height="{h:.0}" role="img" aria-label="{}">"#,
        escape(&format!("{title}: reference and current distributions"))
    );
    let max = reference
        .iter()
        .chain(current)
        .copied()
        .fold(0.0f64, f64::max)
        .max(1e-12);
    for k in 0..=4 {
        let v = max * f64::from(k) / 4.0;
        let y = top + ph - v / max * ph;
        let _ = write!(
            out,
            r##"<line x1="{left}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#e6e9ee"/><text x="{:.1}" y="{:.1}" class="tick" text-anchor="end">{}</text>"##,
            left + pw,
            left - 6.0,
            y + 4.0,
            fmt_pct(v)
        );
    }
    if bins > 0 {
        let slot = pw / bins as f64;
        let bar = (slot * 0.42).max(0.5);
        for i in 0..bins {
            let x0 = left + slot * i as f64 + slot * 0.08;
            for (k, (share, colour, side)) in [
                (reference[i], REFERENCE, "reference"),
                (current[i], CURRENT, "current"),
            ]
            .into_iter()
            .enumerate()
            {
                let bh = if share > 0.0 {
                    (share / max * ph).max(1.0)
                } else {
                    0.0
                };
                let _ = write!(
                    out,
                    r#"<rect class="bar" x="{:.1}" y="{:.1}" width="{bar:.1}" height="{bh:.1}" fill="{colour}"><title>{}</title></rect>"#,
                    x0 + bar * k as f64,
                    top + ph - bh,
                    escape(&format!("{} — {side}: {}", labels[i], fmt_pct(share)))
                );
            }
        }
        for (i, text) in axis.iter().filter(|(i, _)| *i < bins) {
            let x = left + slot * (*i as f64 + 0.5);
            let _ = write!(
                out,
                r#"<text x="{x:.1}" y="{:.1}" class="tick" text-anchor="middle">{}</text>"#,
                top + ph + 16.0,
                escape(text)
            );
        }
    }
    let _ = write!(
        out,
        r##"<line x1="{left}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#9aa5b1"/></svg>"##,
        left + pw,
        top + ph,
        top + ph
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DriftConfig, drift};
    use fathom_core::{Column, ColumnSpec, ColumnType, Frame, Role, Schema};

    #[test]
    fn page_holds_the_table_charts_and_escaped_names() {
        let schema = Schema::new(vec![
            ColumnSpec::new("x<1>", ColumnType::Numeric, Role::Feature),
            ColumnSpec::new("c", ColumnType::Categorical, Role::Feature),
        ]);
        let frame = |shift: f64, levels: &[&str]| {
            Frame::new(vec![
                Column::numeric("x<1>", (0..200).map(|i| f64::from(i) + shift).collect()),
                Column::categorical(
                    "c",
                    &(0..200)
                        .map(|i| levels[i % levels.len()])
                        .collect::<Vec<_>>(),
                ),
            ])
            .unwrap()
        };
        let report = drift(
            &frame(0.0, &["a", "b"]),
            &frame(80.0, &["a", "b", "<z>"]),
            &schema,
            &DriftConfig::default(),
        )
        .unwrap();
        let html = render(&report, "train.parquet", "window <1>");
        assert!(html.contains("x&lt;1&gt;") && !html.contains("x<1>"));
        assert!(html.contains("window &lt;1&gt;"));
        assert!(html.contains("<td class=\"l\">ks</td>"));
        assert!(html.contains("<td class=\"l\">chisquare</td>"));
        assert_eq!(html.matches("<svg").count(), 2);
        assert_eq!(html.matches("<svg").count(), html.matches("</svg>").count());
        assert!(!html.contains("<script") && !html.contains("http"));
        assert!(html.contains("verdict-severe"));
    }
}
