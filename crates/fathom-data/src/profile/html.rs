//! The self-contained HTML report: inline CSS, inline SVG, no scripts, no
//! external resources.

use super::format::{escape, fmt_count, fmt_duration, fmt_num, fmt_pct, fmt_time, truncate_middle};
use super::svg::{self, Axis, Bar};
use super::{ColumnProfile, Correlation, LabelSummary, Profile};
use fathom_core::ColumnType;
use std::fmt::Write;

/// Null rate above which a column is highlighted.
const NULL_WARN: f64 = 0.05;

const CSS: &str = r#"
:root{--bg:#f5f7fa;--card:#fff;--ink:#1f2933;--muted:#616e7c;--line:#e4e7eb;--head:#1f2d3d;
--accent:#4c78a8;--warn:#b7791f;--warnbg:#fff4e0}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue","Liberation Sans",Arial,sans-serif}
header{background:var(--head);color:#fff;padding:26px 0 30px}
.wrap{max-width:1240px;margin:0 auto;padding:0 24px}
header h1{margin:0 0 4px;font-size:24px;font-weight:600;letter-spacing:.2px}
header .src{color:#b8c4d0;font-size:13px;word-break:break-all}
.tiles{display:flex;flex-wrap:wrap;gap:12px;margin-top:18px}
.tile{background:rgba(255,255,255,.08);border:1px solid rgba(255,255,255,.14);border-radius:8px;padding:10px 16px;min-width:130px}
.tile .v{font-size:20px;font-weight:600;font-variant-numeric:tabular-nums}
.tile .k{font-size:12px;color:#b8c4d0;text-transform:uppercase;letter-spacing:.6px}
main{padding:8px 0 48px}
h2{font-size:18px;font-weight:600;margin:30px 0 12px;color:#323f4b}
h2 .sub{font-size:13px;font-weight:400;color:var(--muted);margin-left:8px}
.panel{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:4px 0;overflow-x:auto}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{padding:7px 12px;text-align:right;white-space:nowrap}
th{font-size:12px;font-weight:600;color:var(--muted);text-transform:uppercase;letter-spacing:.4px;border-bottom:1px solid var(--line)}
td{border-bottom:1px solid #f0f2f5}
tr:last-child td{border-bottom:0}
th.l,td.l{text-align:left}
td.name{max-width:280px;overflow:hidden;text-overflow:ellipsis}
td a{color:var(--ink);text-decoration:none;font-weight:500}
td a:hover{color:var(--accent);text-decoration:underline}
td.warn,dd.warn{color:var(--warn);font-weight:600}
td.warn{background:var(--warnbg)}
td.idx{color:#9aa5b1;width:1%}
.badge{display:inline-block;font-size:11px;font-weight:600;padding:1px 8px;border-radius:10px;text-transform:lowercase;letter-spacing:.3px}
.t-numeric{background:#e3ecf7;color:#2f5d8a}
.t-categorical{background:#efe7f6;color:#6b3fa0}
.t-bool{background:#e3f3ea;color:#276749}
.t-timestamp{background:#fdf0e1;color:#975a16}
.grid{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:16px}
.card{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:16px 18px 12px;min-width:0}
.card-head{display:flex;align-items:center;gap:10px;margin-bottom:10px}
.card-head h3{margin:0;font-size:16px;font-weight:600;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.card-head .badge{flex:none}
.card-head .flag{margin-left:auto;flex:none;font-size:12px;color:var(--warn);background:var(--warnbg);border-radius:10px;padding:1px 8px;font-weight:600}
dl.stats{display:grid;grid-template-columns:repeat(4,minmax(0,1fr));gap:6px 14px;margin:0 0 10px}
dl.stats div{min-width:0;border-left:2px solid var(--line);padding-left:8px}
dl.stats div.wide{grid-column:span 2}
dt{font-size:11px;color:var(--muted);text-transform:uppercase;letter-spacing:.4px}
dd{margin:0;font-weight:500;font-variant-numeric:tabular-nums;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
svg.chart{display:block;width:100%;height:auto;max-width:100%}
svg.chart text{font-family:inherit}
svg .tick{font-size:11px;fill:#616e7c}
svg .cat{font-size:12px;fill:#323f4b}
svg .cellv{font-size:10.5px}
svg .marker-text{fill:#c05621;font-weight:600}
svg .halo{paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
.corr .map svg.chart{width:auto;max-width:100%}
.caption{color:var(--muted);font-size:12px;margin:2px 0 0 52px}
svg rect.bar:hover,svg g.bin:hover rect.bar{fill:#2f5d8a}
svg rect.cell:hover{stroke:#1f2933;stroke-width:2}
.note{color:var(--muted);font-size:13px;margin:4px 0 0}
.empty{color:var(--muted);font-style:italic;padding:24px 0;text-align:center}
.warnbox{background:var(--warnbg);border:1px solid #f3d19c;color:#744210;border-radius:8px;padding:10px 14px;margin-top:20px}
.warnbox ul{margin:4px 0 0;padding-left:20px}
.corr{display:flex;gap:24px;align-items:flex-start;padding:16px 18px}
.corr .map{flex:1 1 auto;min-width:0;max-width:780px}
.corr .pairs{flex:0 0 360px}
.corr .pairs td.name{white-space:normal;max-width:none;word-break:break-word}
.corr .pairs h3{font-size:14px;margin:0 0 6px;font-weight:600}
.corr .pairs td{padding:5px 8px}
.pos{color:#b2182b}.neg{color:#2166ac}
footer{color:#9aa5b1;font-size:12px;text-align:center;padding:8px 0 28px}
"#;

/// Renders `profile` as one self-contained HTML page (inline CSS and SVG; no
/// script, font, stylesheet or image is fetched). All text from the data is
/// escaped.
pub fn render_html(profile: &Profile, title: &str) -> String {
    let mut out = String::with_capacity(64 * 1024 + profile.columns.len() * 12 * 1024);
    let title = escape(title);
    let _ = write!(
        out,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>{CSS}</style></head><body>
"#
    );
    header(&mut out, profile, &title);
    out.push_str("<main class=\"wrap\">\n");
    overview(&mut out, profile);
    columns(&mut out, profile);
    correlation(&mut out, &profile.correlation);
    if let Some(label) = &profile.label {
        label_section(&mut out, label, profile);
    }
    out.push_str(
        "</main><footer>Data profile generated by fathom · self-contained report, no external resources</footer>\n</body></html>\n",
    );
    out
}

fn type_badge(t: ColumnType) -> String {
    format!(r#"<span class="badge t-{0}">{0}</span>"#, t.name())
}

fn header(out: &mut String, p: &Profile, title: &str) {
    let cells = p.rows as f64 * p.columns.len() as f64;
    let nulls: u64 = p.columns.iter().map(|c| c.nulls).sum();
    let missing = if cells > 0.0 {
        nulls as f64 / cells
    } else {
        0.0
    };
    let count = |t: ColumnType| p.columns.iter().filter(|c| c.column_type == t).count();
    let _ = write!(
        out,
        r#"<header><div class="wrap"><h1>{title}</h1><div class="src">{}</div><div class="tiles">"#,
        match &p.source {
            Some(s) => format!("Source: {}", escape(s)),
            None => "Source: in-memory frame".to_string(),
        }
    );
    let mut tile = |v: String, k: &str| {
        let _ = write!(
            out,
            r#"<div class="tile"><div class="v">{v}</div><div class="k">{k}</div></div>"#
        );
    };
    tile(fmt_count(p.rows as u64), "rows");
    tile(fmt_count(p.columns.len() as u64), "columns");
    tile(fmt_pct(missing), "missing cells");
    for t in [
        ColumnType::Numeric,
        ColumnType::Categorical,
        ColumnType::Bool,
        ColumnType::Timestamp,
    ] {
        let n = count(t);
        if n > 0 {
            tile(n.to_string(), t.name());
        }
    }
    if let Some(l) = &p.label {
        tile(
            fmt_pct(l.positive_rate),
            &format!("{} rate", escape(&l.column)),
        );
    }
    out.push_str("</div>");
    if !p.warnings.is_empty() {
        out.push_str(r#"<div class="warnbox"><strong>Notes</strong><ul>"#);
        for w in &p.warnings {
            let _ = write!(out, "<li>{}</li>", escape(w));
        }
        out.push_str("</ul></div>");
    }
    out.push_str("</div></header>\n");
}

/// The true rate of a bool column, from its counts.
fn true_rate(c: &ColumnProfile) -> Option<f64> {
    let t = c.top.iter().find(|(k, _)| k == "true").map_or(0, |e| e.1);
    (c.count > 0).then(|| t as f64 / c.count as f64)
}

fn overview(out: &mut String, p: &Profile) {
    let _ = write!(
        out,
        r#"<h2>Overview<span class="sub">null rates above {:.0}% are highlighted</span></h2><div class="panel"><table><thead><tr><th class="l">#</th><th class="l">Column</th><th class="l">Type</th><th>Nulls</th><th>Distinct</th><th>Mean</th><th>Std</th><th>Min</th><th>Max</th></tr></thead><tbody>"#,
        NULL_WARN * 100.0
    );
    let dash = || "–".to_string();
    for (i, c) in p.columns.iter().enumerate() {
        let (mean, std, min, max) = match (&c.numeric, &c.timestamp, c.column_type) {
            (Some(n), _, _) => (
                fmt_num(n.mean),
                fmt_num(n.std),
                fmt_num(n.min),
                fmt_num(n.max),
            ),
            (_, Some(t), _) => (
                dash(),
                dash(),
                fmt_time(t.min_micros),
                fmt_time(t.max_micros),
            ),
            (_, _, ColumnType::Bool) => (
                true_rate(c).map_or_else(dash, fmt_num),
                dash(),
                dash(),
                dash(),
            ),
            _ => (dash(), dash(), dash(), dash()),
        };
        let warn = if c.null_rate > NULL_WARN {
            " class=\"warn\""
        } else {
            ""
        };
        let name = escape(&c.name);
        let _ = write!(
            out,
            r##"<tr><td class="l idx">{}</td><td class="l name"><a href="#col-{i}" title="{name}">{name}</a></td><td class="l">{}</td><td{warn} title="{} nulls">{}</td><td>{}</td><td>{mean}</td><td>{std}</td><td>{min}</td><td>{max}</td></tr>"##,
            i + 1,
            type_badge(c.column_type),
            fmt_count(c.nulls),
            fmt_pct(c.null_rate),
            fmt_count(c.distinct),
        );
    }
    out.push_str("</tbody></table></div>\n");
}

fn stat(out: &mut String, k: &str, v: &str, class: &str) {
    let (wide, dd) = match class {
        "wide" => (" class=\"wide\"", ""),
        "warn" => ("", " class=\"warn\""),
        _ => ("", ""),
    };
    let _ = write!(
        out,
        r#"<div{wide}><dt>{k}</dt><dd{dd} title="{v}">{v}</dd></div>"#
    );
}

fn columns(out: &mut String, p: &Profile) {
    out.push_str("<h2>Columns</h2><div class=\"grid\">\n");
    for (i, c) in p.columns.iter().enumerate() {
        let name = escape(&c.name);
        let _ = write!(
            out,
            r#"<article class="card" id="col-{i}"><div class="card-head"><h3 title="{name}">{name}</h3>{}"#,
            type_badge(c.column_type)
        );
        if c.null_rate > NULL_WARN {
            let _ = write!(
                out,
                r#"<span class="flag">{} null</span>"#,
                fmt_pct(c.null_rate)
            );
        }
        out.push_str("</div><dl class=\"stats\">");
        let missing_class = if c.null_rate > NULL_WARN { "warn" } else { "" };
        stat(out, "Count", &fmt_count(c.count), "");
        stat(
            out,
            "Nulls",
            &format!("{} ({})", fmt_count(c.nulls), fmt_pct(c.null_rate)),
            missing_class,
        );
        stat(out, "Distinct", &fmt_count(c.distinct), "");
        let chart = match c.column_type {
            ColumnType::Numeric => numeric_card(out, c),
            ColumnType::Categorical | ColumnType::Bool => category_card(out, c),
            ColumnType::Timestamp => timestamp_card(out, c),
        };
        out.push_str("</dl>");
        out.push_str(&chart);
        out.push_str("</article>\n");
    }
    out.push_str("</div>\n");
}

/// Writes the numeric stats and returns the chart.
fn numeric_card(out: &mut String, c: &ColumnProfile) -> String {
    let Some(n) = &c.numeric else {
        stat(out, "Infinities", &fmt_count(c.infinities), "");
        return r#"<div class="empty">no finite values</div>"#.to_string();
    };
    stat(out, "Zeros", &fmt_count(n.zeros), "");
    for (k, v) in [
        ("Mean", n.mean),
        ("Std", n.std),
        ("Min", n.min),
        ("Max", n.max),
        ("P01", n.p01),
        ("P05", n.p05),
        ("P25", n.p25),
        ("Median", n.p50),
        ("P75", n.p75),
        ("P95", n.p95),
        ("P99", n.p99),
    ] {
        stat(out, k, &fmt_num(v), "");
    }
    if c.infinities > 0 {
        stat(out, "Infinities", &fmt_count(c.infinities), "warn");
    }
    match &n.log_histogram {
        Some(h) => {
            let decades = (n.max / n.min).log10();
            let mut chart = svg::histogram_chart(
                h,
                Axis::Log,
                Some((n.p50, "median")),
                &format!("Histogram of {} (log scale)", c.name),
            );
            let _ = write!(
                chart,
                r#"<p class="caption">Log-scaled x axis: the values span {decades:.1} orders of magnitude and are right-skewed.</p>"#
            );
            chart
        }
        None => svg::histogram_chart(
            &n.histogram,
            Axis::Number,
            Some((n.p50, "median")),
            &format!("Histogram of {}", c.name),
        ),
    }
}

/// Writes the category stats and returns the bar chart of top categories.
fn category_card(out: &mut String, c: &ColumnProfile) -> String {
    let shown: u64 = c.top.iter().map(|e| e.1).sum();
    let other = c.count.saturating_sub(shown);
    let others = c.distinct.saturating_sub(c.top.len() as u64);
    if c.column_type == ColumnType::Bool {
        stat(
            out,
            "True rate",
            &true_rate(c).map_or_else(|| "–".to_string(), fmt_pct),
            "",
        );
    } else if let Some((top, n)) = c.top.first() {
        let share = if c.count > 0 {
            *n as f64 / c.count as f64
        } else {
            0.0
        };
        stat(out, "Most frequent", &escape(top), "wide");
        stat(out, "Its share", &fmt_pct(share), "");
        stat(out, "Top shown", &fmt_count(c.top.len() as u64), "");
    }
    if c.top.is_empty() {
        return r#"<div class="empty">no values</div>"#.to_string();
    }
    let total = c.count.max(1) as f64;
    let mut bars: Vec<Bar> = c
        .top
        .iter()
        .map(|(k, n)| Bar {
            label: k.clone(),
            value: *n as f64,
            annotation: format!("{} ({})", fmt_count(*n), fmt_pct(*n as f64 / total)),
            tooltip: format!("{k}: {} ({})", fmt_count(*n), fmt_pct(*n as f64 / total)),
            muted: false,
        })
        .collect();
    if other > 0 {
        let label = format!("other ({} values)", fmt_count(others));
        bars.push(Bar {
            annotation: format!("{} ({})", fmt_count(other), fmt_pct(other as f64 / total)),
            tooltip: format!(
                "{label}: {} ({})",
                fmt_count(other),
                fmt_pct(other as f64 / total)
            ),
            label,
            value: other as f64,
            muted: true,
        });
    }
    let max = bars.iter().fold(0.0f64, |m, b| m.max(b.value));
    svg::hbar_chart(&bars, max, None, &format!("Top categories of {}", c.name))
}

/// Writes the timestamp stats and returns the histogram over time.
fn timestamp_card(out: &mut String, c: &ColumnProfile) -> String {
    let Some(t) = &c.timestamp else {
        return r#"<div class="empty">no values</div>"#.to_string();
    };
    stat(
        out,
        "Span",
        &fmt_duration(t.max_micros.saturating_sub(t.min_micros)),
        "",
    );
    stat(out, "First", &fmt_time(t.min_micros), "wide");
    stat(out, "Last", &fmt_time(t.max_micros), "wide");
    svg::histogram_chart(
        &t.histogram,
        Axis::Time,
        None,
        &format!("Rows over time of {}", c.name),
    )
}

fn correlation(out: &mut String, corr: &Correlation) {
    let _ = write!(
        out,
        r#"<h2>Correlation<span class="sub">Pearson r over pairwise-complete rows; bool as 0/1</span></h2><div class="panel">"#
    );
    if corr.columns.len() < 2 {
        out.push_str(r#"<div class="empty">fewer than two numeric or bool columns</div></div>"#);
        return;
    }
    out.push_str(r#"<div class="corr"><div class="map">"#);
    out.push_str(&svg::heatmap(&corr.columns, &corr.matrix));
    if !corr.omitted.is_empty() {
        let _ = write!(
            out,
            r#"<p class="note">{} of {} numeric/bool columns shown; left out: {}</p>"#,
            corr.columns.len(),
            corr.columns.len() + corr.omitted.len(),
            escape(&corr.omitted.join(", "))
        );
    }
    out.push_str(r#"</div><div class="pairs"><h3>Strongest pairs</h3><table><thead><tr><th class="l">Pair</th><th>r</th></tr></thead><tbody>"#);
    let mut pairs: Vec<(usize, usize, f64)> = Vec::new();
    for (i, row) in corr.matrix.iter().enumerate() {
        for (j, r) in row.iter().enumerate().skip(i + 1) {
            if let Some(r) = r {
                pairs.push((i, j, *r));
            }
        }
    }
    pairs.sort_by(|a, b| {
        b.2.abs()
            .total_cmp(&a.2.abs())
            .then((a.0, a.1).cmp(&(b.0, b.1)))
    });
    if pairs.is_empty() {
        out.push_str(r#"<tr><td class="l" colspan="2">no defined pair</td></tr>"#);
    }
    for &(i, j, r) in pairs.iter().take(12) {
        let (a, b) = (
            corr.columns.get(i).map_or("", String::as_str),
            corr.columns.get(j).map_or("", String::as_str),
        );
        let _ = write!(
            out,
            r#"<tr><td class="l name" title="{}">{} × {}</td><td class="{}">{r:+.3}</td></tr>"#,
            escape(&format!("{a} × {b}")),
            escape(&truncate_middle(a, 17)),
            escape(&truncate_middle(b, 17)),
            if r >= 0.0 { "pos" } else { "neg" },
        );
    }
    out.push_str("</tbody></table></div></div></div>\n");
}

fn label_section(out: &mut String, label: &LabelSummary, p: &Profile) {
    let name = escape(&label.column);
    let _ = write!(
        out,
        r#"<h2>Label: {name}<span class="sub">positive rate {} · {} positives of {} labelled rows</span></h2>"#,
        fmt_pct(label.positive_rate),
        fmt_count(label.positives),
        fmt_count(label.count)
    );
    if label.by_column.is_empty() {
        out.push_str(
            r#"<div class="panel"><div class="empty">no categorical or bool column to break the label down by</div></div>"#,
        );
        return;
    }
    out.push_str("<div class=\"grid\">\n");
    let reference = format!("overall {}", fmt_pct(label.positive_rate));
    for rates in &label.by_column {
        let col = escape(&rates.column);
        let kind = p
            .column(&rates.column)
            .map_or(ColumnType::Categorical, |c| c.column_type);
        let _ = write!(
            out,
            r#"<article class="card"><div class="card-head"><h3 title="{col}">{name} rate by {col}</h3>{}</div>"#,
            type_badge(kind)
        );
        let bars: Vec<Bar> = rates
            .categories
            .iter()
            .map(|c| {
                let rate = c.rate.unwrap_or(0.0);
                let text = match c.rate {
                    Some(r) => format!("{} (n={})", fmt_pct(r), fmt_count(c.count)),
                    None => "no labelled rows".to_string(),
                };
                Bar {
                    label: c.category.clone(),
                    value: rate,
                    tooltip: format!(
                        "{}: {} positives of {} labelled rows{}",
                        c.category,
                        fmt_count(c.positives),
                        fmt_count(c.count),
                        c.rate
                            .map_or(String::new(), |r| format!(" = {}", fmt_pct(r)))
                    ),
                    annotation: text,
                    muted: c.count < 30,
                }
            })
            .collect();
        let max = bars
            .iter()
            .fold(label.positive_rate, |m, b| m.max(b.value))
            .max(1e-9);
        let domain = (max * 1.15).min(1.0);
        out.push_str(&svg::hbar_chart(
            &bars,
            domain,
            Some((label.positive_rate, &reference)),
            &format!("{} rate by {}", label.column, rates.column),
        ));
        if bars.iter().any(|b| b.muted) {
            out.push_str(r#"<p class="note">Grey bars: fewer than 30 labelled rows.</p>"#);
        }
        out.push_str("</article>\n");
    }
    out.push_str("</div>\n");
}
