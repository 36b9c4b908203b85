//! The sections of the training report, one function each, in page order.

use super::Context;
use fathom_learn::cv::Metric;
use fathom_learn::metrics::{BinStrategy, calibration_table};
use fathom_model::artifact::Estimator;
use fathom_report::chart::{
    Bar, LineChart, MatrixCell, MatrixChart, Reference, Series, hbar_chart, heat_cells, line_chart,
    steps_post,
};
use fathom_report::format::{escape, fmt_count, fmt_num, fmt_pct};
use fathom_report::page::Page;
use std::fmt::Write;

/// A section: writes its heading and content, or a one-line note when its
/// data is missing.
pub(crate) type Section = fn(&Context<'_>, &mut Page);

/// The sections, in page order. Adding a section is adding a function here.
pub(crate) const SECTIONS: &[Section] = &[
    summary,
    candidates,
    cross_validation,
    search,
    selection,
    curves,
    decision,
    importance,
    threshold_and_lineage,
];

/// Features shown in the importance chart.
const TOP_FEATURES: usize = 20;
/// Bins of the calibration plot.
const CALIBRATION_BINS: usize = 10;

/// Why the best candidate won, in one paragraph.
fn summary(ctx: &Context<'_>, page: &mut Page) {
    let r = ctx.input.result;
    page.heading("Summary", None);
    let Some(best) = ctx.best else {
        page.note("The training result names no best candidate; nothing to summarise.");
        return;
    };
    let runner_up = r
        .candidates
        .iter()
        .filter(|c| c.name != best.name)
        .max_by(|a, b| a.report.auc_pr.total_cmp(&b.report.auc_pr));
    let versus = runner_up.map_or(String::new(), |c| {
        format!(
            ", against {:.4} for the runner-up, <strong>{}</strong>",
            c.report.auc_pr,
            escape(&c.name)
        )
    });
    let _ = write!(
        page,
        r#"<div class="panel"><p class="lead">The best of {} candidates by {} is <strong>{}</strong>. Its AUC-PR (average precision) on the {} held-out test rows is <strong>{:.4}</strong>{versus}. AUC-PR decides because positives are rare ({} positives, {} of the test rows): it rewards ranking the few positives first, where AUC-ROC is dominated by the many easy negatives. Its AUC-ROC is {:.4}. At the decision threshold {:.4}, chosen on separate validation rows to maximise F1, it finds {} of the positives (recall) and {} of the rows it flags are positive (precision).</p></div>"#,
        r.candidates.len(),
        escape(&r.ranked_by),
        escape(&best.name),
        fmt_count(ctx.rows as u64),
        best.report.auc_pr,
        fmt_count(ctx.positives as u64),
        fmt_pct(ctx.base_rate),
        best.report.auc_roc,
        best.report.threshold,
        fmt_pct(best.report.recall),
        fmt_pct(best.report.precision),
    );
}

/// Every candidate's test metrics and training time; the best highlighted.
fn candidates(ctx: &Context<'_>, page: &mut Page) {
    let r = ctx.input.result;
    page.heading(
        "Candidates",
        Some("metrics on the held-out test rows; threshold-dependent ones at each candidate's own threshold"),
    );
    page.push(
        r#"<div class="panel"><table><thead><tr><th class="l">Candidate</th><th>AUC-ROC</th><th>AUC-PR</th><th>Log-loss</th><th>Brier</th><th>Accuracy</th><th>Precision</th><th>Recall</th><th>F1</th><th>Threshold</th><th>Train time</th></tr></thead><tbody>"#,
    );
    for c in &r.candidates {
        let m = &c.report;
        let is_best = c.name == r.best;
        let _ = write!(
            page,
            r#"<tr{}><td class="l">{}{}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.2}s</td></tr>"#,
            if is_best { r#" class="best""# } else { "" },
            if is_best { "★ " } else { "" },
            escape(&c.name),
            m.auc_roc,
            m.auc_pr,
            m.logloss,
            m.brier,
            m.accuracy,
            m.precision,
            m.recall,
            m.f1,
            m.threshold,
            c.seconds
        );
    }
    page.push("</tbody></table></div>\n");
}

/// Each candidate's cross-validation figures, mean ± sample std over folds.
fn cross_validation(ctx: &Context<'_>, page: &mut Page) {
    let r = ctx.input.result;
    let Some(folds) = r.cv_folds else {
        return;
    };
    page.heading(
        "Cross-validation",
        Some(&format!(
            "{folds} stratified folds of the training part; mean ± sample standard deviation over folds"
        )),
    );
    page.push(
        r#"<div class="panel"><table><thead><tr><th class="l">Candidate</th><th>AUC-ROC</th><th>AUC-PR</th><th>Log-loss</th><th>F1</th></tr></thead><tbody>"#,
    );
    for c in &r.candidates {
        let Some(cv) = &c.cv else { continue };
        let is_best = c.name == r.best;
        let _ = write!(
            page,
            r#"<tr{}><td class="l">{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            if is_best { r#" class="best""# } else { "" },
            if is_best { "★ " } else { "" },
            escape(&c.name),
            cv.mean_std_text(Metric::AucRoc),
            cv.mean_std_text(Metric::AucPr),
            cv.mean_std_text(Metric::Logloss),
            cv.mean_std_text(Metric::F1),
        );
    }
    page.push("</tbody></table></div>\n");
}

/// Every trial of each searched candidate.
fn search(ctx: &Context<'_>, page: &mut Page) {
    for c in &ctx.input.result.candidates {
        let Some(search) = &c.search else { continue };
        page.heading(
            &format!("Search of {}", c.name),
            Some(&format!(
                "{} trials ({:?}), ranked by the cross-validation mean of {:?}; the best was refitted on all training rows",
                search.trials.len(),
                search.method,
                search.metric
            )),
        );
        page.push(
            r#"<div class="panel"><table><thead><tr><th class="l">Trial</th><th class="l">Parameters</th><th>Mean ± std</th></tr></thead><tbody>"#,
        );
        for (i, t) in search.trials.iter().enumerate() {
            let params = t
                .params
                .iter()
                .map(|(k, v)| format!("{k} = {v}"))
                .collect::<Vec<_>>()
                .join(", ");
            let is_best = i == search.best;
            let _ = write!(
                page,
                r#"<tr{}><td class="l">{}{}</td><td class="l">{}</td><td>{}</td></tr>"#,
                if is_best { r#" class="best""# } else { "" },
                if is_best { "★ " } else { "" },
                i + 1,
                escape(&params),
                t.cv.mean_std_text(search.metric),
            );
        }
        page.push("</tbody></table></div>\n");
    }
}

/// Feature selection: both methods' scores per feature, and what was dropped.
fn selection(ctx: &Context<'_>, page: &mut Page) {
    let Some(sel) = &ctx.input.result.selection else {
        return;
    };
    page.heading(
        "Feature selection",
        Some("mutual information with the label (G-test p-value) and share of GBDT split gain, on the fitting rows"),
    );
    page.push(
        r#"<div class="panel"><table><thead><tr><th class="l">Feature</th><th>Mutual information (nats)</th><th>p-value</th><th>Gain share</th><th class="l">Weak by</th></tr></thead><tbody>"#,
    );
    for f in &sel.features {
        let weak = match (f.weak_by_mutual_info, f.weak_by_importance) {
            (true, true) => "both",
            (true, false) => "mutual information",
            (false, true) => "importance",
            (false, false) => "",
        };
        let _ = write!(
            page,
            r#"<tr><td class="l">{}</td><td>{:.5}</td><td>{:.3}</td><td>{:.3}</td><td class="l">{weak}</td></tr>"#,
            escape(&f.feature),
            f.mutual_info,
            f.p_value,
            f.importance_share,
        );
    }
    page.push("</tbody></table>");
    if sel.dropped.is_empty() {
        page.note(sel.note.as_deref().unwrap_or(
            "Reported only: no column was dropped (set apply = true under [train.feature_selection] to drop weak columns).",
        ));
    } else {
        page.note(&format!(
            "Dropped from the model: {}.",
            sel.dropped.join(", ")
        ));
    }
    page.push("</div>\n");
}

/// ROC and precision–recall curves of every candidate, overlaid.
fn curves(ctx: &Context<'_>, page: &mut Page) {
    let r = ctx.input.result;
    page.heading(
        "ROC and precision–recall curves",
        Some("all candidates on the test rows; the best drawn thicker"),
    );
    let mut roc = Vec::new();
    let mut pr = Vec::new();
    for (c, curves) in r.candidates.iter().zip(&ctx.curves) {
        let emphasis = c.name == r.best;
        if let Ok(curve) = &curves.roc {
            let mut s = Series::new(
                format!("{} (AUC {:.3})", c.name, c.report.auc_roc),
                curve
                    .fpr
                    .iter()
                    .copied()
                    .zip(curve.tpr.iter().copied())
                    .collect(),
            );
            s.emphasis = emphasis;
            roc.push(s);
        }
        if let Ok(curve) = &curves.pr {
            let points: Vec<(f64, f64)> = curve
                .recall
                .iter()
                .copied()
                .zip(curve.precision.iter().copied())
                .collect();
            let mut s = Series::new(
                format!("{} (AP {:.3})", c.name, c.report.auc_pr),
                steps_post(&points),
            );
            s.emphasis = emphasis;
            pr.push(s);
        }
    }
    if roc.is_empty() && pr.is_empty() {
        page.note("No curves: the test rows hold only one class.");
        return;
    }
    page.push(r#"<div class="grid"><article class="card"><h3>ROC curves</h3>"#);
    page.push(&line_chart(&LineChart {
        label: "ROC curves of all candidates",
        x_title: "false-positive rate",
        y_title: "true-positive rate (recall)",
        x_range: (0.0, 1.0),
        y_range: (0.0, 1.0),
        series: &roc,
        references: &[Reference {
            from: (0.0, 0.0),
            to: (1.0, 1.0),
            label: "chance".into(),
        }],
    }));
    page.push(r#"</article><article class="card"><h3>Precision–recall curves</h3>"#);
    page.push(&line_chart(&LineChart {
        label: "Precision-recall curves of all candidates",
        x_title: "recall",
        y_title: "precision",
        x_range: (0.0, 1.0),
        y_range: (0.0, 1.0),
        series: &pr,
        references: &[Reference {
            from: (0.0, ctx.base_rate),
            to: (1.0, ctx.base_rate),
            label: format!("no skill (base rate {})", fmt_pct(ctx.base_rate)),
        }],
    }));
    page.push("</article></div>\n");
}

/// The best candidate's confusion matrix at its threshold and its
/// calibration (reliability) plot.
fn decision(ctx: &Context<'_>, page: &mut Page) {
    let r = ctx.input.result;
    let Some(best) = ctx.best else {
        return;
    };
    page.heading(
        &format!("Decisions and calibration of {}", best.name),
        Some("test rows"),
    );
    page.push(r#"<div class="grid"><article class="card">"#);
    let m = &best.report;
    let c = m.confusion;
    let _ = write!(
        page,
        "<h3>Confusion matrix at threshold {:.4}</h3>",
        m.threshold
    );
    let (neg, pos) = (c.tn + c.fp, c.tp + c.fn_);
    let share = |v: f64, of: f64| if of > 0.0 { v / of } else { 0.0 };
    let cell = |v: f64, of: f64, what: &str, row: &str| MatrixCell {
        text: fmt_count(v.round() as u64),
        detail: format!("{} of {row}", fmt_pct(share(v, of))),
        tooltip: format!(
            "{what}: {} ({} of {row})",
            fmt_count(v.round() as u64),
            fmt_pct(share(v, of))
        ),
        intensity: share(v, of),
    };
    let rows = ["actual negative".to_string(), "actual positive".to_string()];
    let cols = [
        "predicted negative".to_string(),
        "predicted positive".to_string(),
    ];
    let cells = vec![
        vec![
            cell(c.tn, neg, "true negatives", "negatives"),
            cell(c.fp, neg, "false positives", "negatives"),
        ],
        vec![
            cell(c.fn_, pos, "false negatives", "positives"),
            cell(c.tp, pos, "true positives", "positives"),
        ],
    ];
    page.push(&heat_cells(&MatrixChart {
        label: "Confusion matrix of the best candidate",
        row_title: "actual",
        col_title: "predicted",
        rows: &rows,
        cols: &cols,
        cells: &cells,
    }));
    page.note(&format!(
        "Flags {} of the rows ({} of {}); precision {}, recall {}, F1 {:.4}. Shading: share of the actual class.",
        fmt_pct(share(c.tp + c.fp, c.total())),
        fmt_count((c.tp + c.fp).round() as u64),
        fmt_count(c.total().round() as u64),
        fmt_pct(m.precision),
        fmt_pct(m.recall),
        m.f1
    ));
    page.push(r#"</article><article class="card"><h3>Calibration (reliability diagram)</h3>"#);
    match calibration_table(
        &r.test_labels,
        &best.test_scores,
        CALIBRATION_BINS,
        BinStrategy::Uniform,
    ) {
        Ok(bins) => {
            let mut s = Series::new(
                format!("{} (Brier {:.4})", best.name, m.brier),
                bins.iter()
                    .map(|b| (b.mean_predicted, b.fraction_positive))
                    .collect(),
            );
            s.emphasis = true;
            s.markers = true;
            s.tooltips = bins
                .iter()
                .map(|b| {
                    format!(
                        "scores {}–{}: {} rows, mean score {:.4}, observed positive rate {:.4}",
                        fmt_num(b.lower),
                        fmt_num(b.upper),
                        fmt_count(b.count as u64),
                        b.mean_predicted,
                        b.fraction_positive
                    )
                })
                .collect();
            page.push(&line_chart(&LineChart {
                label: "Calibration of the best candidate",
                x_title: "mean predicted probability",
                y_title: "observed fraction of positives",
                x_range: (0.0, 1.0),
                y_range: (0.0, 1.0),
                series: &[s],
                references: &[Reference {
                    from: (0.0, 0.0),
                    to: (1.0, 1.0),
                    label: "perfectly calibrated".into(),
                }],
            }));
            page.note(&format!(
                "{CALIBRATION_BINS} equal-width bins of the predicted probability; empty bins are left out ({} shown). Points below the diagonal: the model over-estimates the risk.",
                bins.len()
            ));
        }
        Err(e) => page.note(&format!("No calibration plot: {e}")),
    }
    page.push("</article></div>\n");
}

/// The best candidate's most important features.
fn importance(ctx: &Context<'_>, page: &mut Page) {
    let r = ctx.input.result;
    let Some(best) = ctx.best else {
        return;
    };
    let what = match r.artifact.estimator {
        Estimator::Trees { .. } => "total split gain",
        Estimator::Linear { .. } => "|coefficient| on standardised features",
        Estimator::Constant { .. } | Estimator::Ensemble { .. } => "",
    };
    page.heading(
        &format!("Feature importance of {}", best.name),
        (!what.is_empty()).then_some(what),
    );
    let total: f64 = best
        .importance
        .iter()
        .map(|(_, v)| v.abs())
        .filter(|v| v.is_finite())
        .sum();
    if best.importance.is_empty() || total <= 0.0 {
        page.push(r#"<div class="panel">"#);
        let why = if matches!(r.artifact.estimator, Estimator::Ensemble { .. }) {
            "an ensemble combines its members' scores; see the members' own importance in their candidate runs"
        } else {
            "it does not use the features (the baseline predicts the training positive rate for every row)"
        };
        page.note(&format!("{} has no feature importance: {why}.", best.name));
        page.push("</div>\n");
        return;
    }
    let mut ranked: Vec<&(String, f64)> = best
        .importance
        .iter()
        .filter(|(_, v)| v.is_finite())
        .collect();
    ranked.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(&b.0)));
    let bars: Vec<Bar> = ranked
        .iter()
        .take(TOP_FEATURES)
        .map(|(name, v)| {
            let s = v.abs() / total;
            let mut b = Bar::new(name.clone(), s, fmt_pct(s));
            b.tooltip = format!("{name}: {} of the total ({})", fmt_pct(s), fmt_num(*v));
            b
        })
        .collect();
    let max = bars.iter().fold(0.0f64, |m, b| m.max(b.value));
    page.push(r#"<div class="card bars">"#);
    page.push(&hbar_chart(
        &bars,
        max,
        None,
        "Feature importance of the best candidate",
    ));
    page.note(&format!(
        "Top {} of {} features, as a share of the total importance.",
        bars.len(),
        best.importance.len()
    ));
    page.push("</div>\n");
}

/// The threshold rule and where the model came from.
fn threshold_and_lineage(ctx: &Context<'_>, page: &mut Page) {
    let r = ctx.input.result;
    let a = &r.artifact;
    let l = &a.lineage;
    page.heading("Threshold and lineage", None);
    let mut rows: Vec<(&str, String)> = vec![
        (
            "threshold",
            format!(
                "{} — a score at or above it is positive; chosen on validation rows (not the test rows) to maximise F1",
                a.threshold
            ),
        ),
        ("model file", ctx.input.model.display().to_string()),
        ("model sha256", ctx.input.model_checksum.to_string()),
        ("training data", ctx.input.data.display().to_string()),
        (
            "data snapshot",
            l.data_snapshot
                .clone()
                .unwrap_or_else(|| "– (not snapshotted)".into()),
        ),
        ("schema hash", l.schema_hash.clone()),
        ("seed", l.seed.to_string()),
        ("fathom version", l.fathom_version.clone()),
        (
            "source commit",
            l.git_commit.clone().unwrap_or_else(|| "–".into()),
        ),
    ];
    rows.push((
        "features",
        format!(
            "{} inputs → {} features",
            a.pipeline.inputs.len(),
            a.pipeline.width()
        ),
    ));
    page.push(r#"<div class="panel"><table class="kv"><tbody>"#);
    for (k, v) in rows {
        let _ = write!(
            page,
            r#"<tr><td class="k">{}</td><td class="v">{}</td></tr>"#,
            escape(k),
            escape(&v)
        );
    }
    let params = serde_json::to_string_pretty(&l.params).unwrap_or_default();
    let _ = write!(
        page,
        r#"<tr><td class="k">parameters</td><td class="v"><pre class="params">{}</pre></td></tr>"#,
        escape(&params)
    );
    page.push("</tbody></table></div>\n");
}
