//! The HTML page of a whole monitoring check: the verdict and the policy's
//! decision first, then the alerts raised, data quality, live performance
//! (with a calibration chart), latency and the business KPI, and the drift
//! section of [`super::render`] — one self-contained file, inline SVG, no
//! scripts.

use super::{CSS, drift_sections};
use crate::check::CheckReport;
use crate::performance::WindowPerformance;
use fathom_report::format::{escape, fmt_count, fmt_num, fmt_pct};
use fathom_report::page::{Header, Page, Tile};
use std::fmt::Write;

const EXTRA_CSS: &str = r#"
.calibration{max-width:320px}
.action-none{color:#1d6b34}.action-investigate{color:#b7791f}.action-retrain{color:#a61b1b}
.sev-critical{color:#a61b1b;font-weight:600}.sev-warning{color:#b7791f;font-weight:600}.sev-info{color:#616e7c}
"#;

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "–".to_string(), fmt_num)
}

fn time(ms: i64) -> String {
    fathom_core::time::format_micros(ms.div_euclid(1000) * 1_000_000)
}

/// Renders a whole check as one HTML page.
pub fn render(report: &CheckReport) -> String {
    let d = &report.decision;
    let mut tiles = vec![
        Tile::new(d.action.name(), "decision"),
        Tile::new(
            report
                .drift
                .as_ref()
                .map_or("–".to_string(), |x| x.verdict.name().to_string()),
            "drift",
        ),
        Tile::new(
            report.quality.findings.len().to_string(),
            "quality findings",
        ),
        Tile::new(
            opt(report.performance.windows.first().and_then(|w| w.auc_roc)),
            "rolling AUC-ROC",
        ),
        Tile::new(report.firing.len().to_string(), "alerts firing"),
        Tile::new(fmt_count(report.predictions), "predictions"),
        Tile::new(fmt_count(report.labelled), "labelled"),
    ];
    if let Some(l) = &report.signals.latency {
        tiles.push(Tile::new(
            format!("{} ms", fmt_num(l.p95_ms)),
            "latency p95",
        ));
    }
    let mut page = Page::begin(
        &Header {
            title: format!("Monitoring check: {}@{}", report.model, report.version),
            source: format!(
                "Window {} ({} – {}) · reference: {}",
                report.window,
                time(report.from_ms),
                time(report.to_ms),
                report.reference
            ),
            tiles,
            notes: Vec::new(),
        },
        &format!("{CSS}{EXTRA_CSS}"),
    );

    page.heading("Decision", Some("what the drift policy concluded"));
    let _ = write!(
        page,
        r#"<p class="action-{a}"><strong>{a}</strong></p><ul>"#,
        a = d.action.name()
    );
    for r in &d.reasons {
        let _ = write!(page, "<li>{}</li>", escape(r));
    }
    page.push("</ul>");
    for r in &d.recommendations {
        let crate::policy::Recommendation::RevisitFeatures { features } = r;
        let _ = write!(
            page,
            "<p>Recommendation: revisit the features {} — they keep drifting.</p>",
            escape(&features.join(", "))
        );
    }

    page.heading(
        "Alerts",
        Some("raised at this check; firing ones stay until resolved"),
    );
    if report.notifications.is_empty() {
        let _ = write!(
            page,
            "<p>No new notification. Firing: {}.</p>",
            if report.firing.is_empty() {
                "none".to_string()
            } else {
                escape(&report.firing.join(", "))
            }
        );
    } else {
        let mut t = String::from(
            r#"<div class="panel"><table><tr><th class="l">kind</th><th class="l">severity</th><th class="l">alert</th><th>value</th><th class="l">condition</th><th class="l">team</th><th class="l">routes</th><th class="l">message</th></tr>"#,
        );
        for n in &report.notifications {
            let sev = format!("{:?}", n.severity).to_lowercase();
            let _ = write!(
                t,
                r#"<tr><td class="l">{}</td><td class="l sev-{sev}">{sev}</td><td class="l">{}</td><td>{}</td><td class="l">{}</td><td class="l">{}</td><td class="l">{}</td><td class="l">{}</td></tr>"#,
                n.kind.name(),
                escape(&n.key()),
                fmt_num(n.value),
                escape(&n.threshold),
                escape(&n.team),
                escape(&n.routes.join(", ")),
                escape(&n.message)
            );
        }
        t.push_str("</table></div>");
        page.push(&t);
    }

    quality_section(&mut page, report);
    performance_section(&mut page, report);
    signals_section(&mut page, report);

    match &report.drift {
        Some(drift) => drift_sections(&mut page, drift),
        None => {
            page.heading("Drift", None);
            page.note("No predictions in the window: nothing to compare.");
        }
    }
    page.finish("fathom monitoring check")
}

fn quality_section(page: &mut Page, report: &CheckReport) {
    let q = &report.quality;
    page.heading(
        "Data quality",
        Some(&format!(
            "{} rows; freshness {}",
            fmt_count(q.rows),
            q.freshness_minutes
                .map_or("unknown".to_string(), |m| format!("{m:.1} min"))
        )),
    );
    if q.findings.is_empty() {
        page.push("<p>Every check passed.</p>");
    } else {
        page.push("<ul>");
        for f in &q.findings {
            let _ = write!(page, "<li>{}</li>", escape(&f.message));
        }
        page.push("</ul>");
    }
    for n in &q.notes {
        page.note(n);
    }
    let mut t = String::from(
        r#"<div class="panel"><table><tr><th class="l">feature</th><th>null rate</th><th>out of range</th><th>unseen categories</th></tr>"#,
    );
    for f in q.features.iter().filter(|f| f.checked) {
        let _ = write!(
            t,
            r#"<tr><td class="l name">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            escape(&f.name),
            f.null_rate.map_or("–".to_string(), fmt_pct),
            f.out_of_range_share.map_or("–".to_string(), fmt_pct),
            f.unseen_share.map_or("–".to_string(), fmt_pct),
        );
    }
    t.push_str("</table></div>");
    page.push(&t);
}

fn performance_section(page: &mut Page, report: &CheckReport) {
    let p = &report.performance;
    page.heading(
        "Live performance",
        Some(&format!(
            "from feedback labels; {} predictions younger than the label delay ({}) left out",
            fmt_count(p.pending_predictions),
            p.label_delay
        )),
    );
    let _ = write!(page, "<p>{}</p>", escape(&p.message));
    let mut t = String::from(
        r#"<div class="panel"><table><tr><th class="l">window</th><th>predictions</th><th>labelled</th><th>positives</th><th>AUC-ROC</th><th>AUC-PR</th><th>precision</th><th>recall</th><th>F1</th><th>Brier</th><th class="l">status</th></tr>"#,
    );
    for w in &p.windows {
        let _ = write!(
            t,
            r#"<tr><td class="l">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="l">{}</td></tr>"#,
            escape(&w.name),
            fmt_count(w.predictions),
            fmt_count(w.labeled),
            fmt_count(w.positives),
            opt(w.auc_roc),
            opt(w.auc_pr),
            opt(w.precision),
            opt(w.recall),
            opt(w.f1),
            opt(w.brier),
            w.status.name().replace('_', " ")
        );
    }
    t.push_str("</table></div>");
    page.push(&t);
    if let Some(w) = p.windows.first()
        && !w.vs_baseline.is_empty()
    {
        let mut t = String::from(
            r#"<div class="panel"><table><tr><th class="l">metric</th><th>holdout</th><th>now</th><th>drop</th></tr>"#,
        );
        for c in &w.vs_baseline {
            let _ = write!(
                t,
                r#"<tr><td class="l">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                escape(&c.metric),
                fmt_num(c.baseline),
                fmt_num(c.current),
                fmt_num(c.drop)
            );
        }
        t.push_str("</table></div>");
        page.push(&t);
    }
    if let Some(w) = p.windows.first().filter(|w| !w.calibration.is_empty()) {
        page.push(&format!(
            r#"<div class="card calibration"><div class="card-head"><h3>Calibration</h3></div><p class="stat">{}: mean score against the observed fraud rate per bin; on the diagonal when calibrated</p>{}</div>"#,
            escape(&w.name),
            calibration_chart(w)
        ));
    }
}

/// Mean predicted score against the observed positive rate per bin, with
/// the diagonal of perfect calibration.
fn calibration_chart(w: &WindowPerformance) -> String {
    let (size, pad) = (260.0, 34.0);
    let plot = size - 2.0 * pad;
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg class="chart" viewBox="0 0 {size} {size}" width="{size}" height="{size}" role="img" aria-label="calibration of {}"><rect x="{pad}" y="{pad}" width="{plot}" height="{plot}" fill="none" stroke="#9aa5b1"/><line x1="{pad}" y1="{:.1}" x2="{:.1}" y2="{pad}" stroke="#c3cad3" stroke-dasharray="4 3"/>"##,
        escape(&w.name),
        pad + plot,
        pad + plot
    );
    let x = |v: f64| pad + v.clamp(0.0, 1.0) * plot;
    let y = |v: f64| pad + plot - v.clamp(0.0, 1.0) * plot;
    let max_n = w
        .calibration
        .iter()
        .map(|b| b.count)
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    for b in &w.calibration {
        let r = 2.5 + 5.0 * (b.count as f64 / max_n).sqrt();
        let _ = write!(
            out,
            r##"<circle cx="{:.1}" cy="{:.1}" r="{r:.1}" fill="#4c78a8" fill-opacity="0.75"><title>{}</title></circle>"##,
            x(b.mean_predicted),
            y(b.fraction_positive),
            escape(&format!(
                "mean score {}, observed {} ({} rows)",
                fmt_num(b.mean_predicted),
                fmt_num(b.fraction_positive),
                fmt_count(b.count as u64)
            ))
        );
    }
    let _ = write!(
        out,
        r#"<text x="{:.1}" y="{:.1}" class="tick" text-anchor="middle">mean score</text><text x="12" y="{:.1}" class="tick" transform="rotate(-90 12 {:.1})" text-anchor="middle">observed rate</text></svg>"#,
        pad + plot / 2.0,
        size - 8.0,
        pad + plot / 2.0,
        pad + plot / 2.0
    );
    out
}

fn signals_section(page: &mut Page, report: &CheckReport) {
    let s = &report.signals;
    page.heading("System and business signals", None);
    let mut rows: Vec<(String, String)> = Vec::new();
    if let Some(l) = &s.latency {
        rows.push((
            "latency p50 / p95 / p99".into(),
            format!(
                "{} / {} / {} ms",
                fmt_num(l.p50_ms),
                fmt_num(l.p95_ms),
                fmt_num(l.p99_ms)
            ),
        ));
    }
    if let Some(r) = s.degraded_rate {
        rows.push(("degraded answers".into(), fmt_pct(r)));
    }
    if let Some(r) = s.error_rate {
        rows.push(("error rate".into(), fmt_pct(r)));
    }
    if let Some(r) = s.job_success_rate {
        rows.push(("job success rate".into(), fmt_pct(r)));
    }
    rows.push((
        s.kpi.name.clone(),
        format!(
            "{} (reference {}, change {})",
            s.kpi.value.map_or("–".to_string(), fmt_pct),
            s.kpi.baseline.map_or("–".to_string(), fmt_pct),
            s.kpi.relative_change.map_or("–".to_string(), fmt_pct)
        ),
    ));
    let mut t = String::from(r#"<div class="panel"><table>"#);
    for (k, v) in rows {
        let _ = write!(
            t,
            r#"<tr><td class="l">{}</td><td>{}</td></tr>"#,
            escape(&k),
            escape(&v)
        );
    }
    t.push_str("</table></div>");
    page.push(&t);
    for f in &s.findings {
        page.note(&f.message);
    }
    for n in &s.notes {
        page.note(n);
    }
}
