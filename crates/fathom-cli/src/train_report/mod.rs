//! The training report: one self-contained HTML page (inline CSS and SVG,
//! no scripts, nothing fetched) that `fathom train` writes beside the model
//! as `<model stem>.report.html`.
//!
//! The page is a list of sections, each one function of
//! `(&Context, &mut Page)` in [`sections`], run in the order of
//! [`sections::SECTIONS`]. A section whose data is missing (the baseline has
//! no feature importance, a test set with one class has no curves) writes
//! a one-line note instead of a chart. To add a section — cross-validation
//! folds or search results once the training result carries them — write
//! one such function and list it in `SECTIONS`.

mod sections;

use fathom_learn::metrics::{Curve, PrCurve, precision_recall_curve, roc_curve};
use fathom_learn::trainer::{CandidateResult, TrainResult};
use fathom_report::format::{fmt_count, fmt_pct};
use fathom_report::page::{Header, Page, Tile};
use std::path::Path;

/// What the report is about.
#[derive(Debug, Clone, Copy)]
pub struct ReportInput<'a> {
    /// The training run.
    pub result: &'a TrainResult,
    /// The training data file.
    pub data: &'a Path,
    /// The model file written.
    pub model: &'a Path,
    /// SHA-256 of the model file.
    pub model_checksum: &'a str,
}

/// The curves of one candidate on the test rows, or why there are none.
pub(crate) struct Curves {
    /// ROC curve.
    pub(crate) roc: Result<Curve, String>,
    /// Precision–recall curve.
    pub(crate) pr: Result<PrCurve, String>,
}

/// The input plus what several sections share, computed once.
pub(crate) struct Context<'a> {
    /// The input.
    pub(crate) input: ReportInput<'a>,
    /// The winning candidate (absent only if the result is inconsistent).
    pub(crate) best: Option<&'a CandidateResult>,
    /// Test rows.
    pub(crate) rows: usize,
    /// Positive test rows.
    pub(crate) positives: usize,
    /// Share of positive test rows (the precision of a random ranking).
    pub(crate) base_rate: f64,
    /// One entry per candidate, in the order of `result.candidates`.
    pub(crate) curves: Vec<Curves>,
}

impl<'a> Context<'a> {
    fn new(input: ReportInput<'a>) -> Self {
        let r = input.result;
        let y = &r.test_labels;
        let positives = y.iter().filter(|&&v| v == 1.0).count();
        let curves = r
            .candidates
            .iter()
            .map(|c| Curves {
                roc: roc_curve(y, &c.test_scores, None).map_err(|e| e.to_string()),
                pr: precision_recall_curve(y, &c.test_scores, None).map_err(|e| e.to_string()),
            })
            .collect();
        Context {
            input,
            best: r.candidates.iter().find(|c| c.name == r.best),
            rows: y.len(),
            positives,
            base_rate: if y.is_empty() {
                0.0
            } else {
                positives as f64 / y.len() as f64
            },
            curves,
        }
    }
}

/// Rules of the training report on top of the shared style sheet.
const CSS: &str = r#"
tr.best td{background:#eef4fb;font-weight:600}
.lead{padding:14px 18px;margin:0;font-size:15px;line-height:1.55}
.lead strong{color:#1f2d3d}
.card h3{margin:0 0 8px;font-size:15px;font-weight:600}
.card.bars svg.chart{max-width:760px}
.card .note{margin:6px 0 0}
table.kv td.k{color:var(--muted);text-align:left;width:1%}
table.kv td.v{text-align:left;white-space:normal;word-break:break-word}
pre.params{margin:0;font:12px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;white-space:pre-wrap;word-break:break-word;max-height:360px;overflow:auto}
"#;

fn header(ctx: &Context<'_>) -> Header {
    let name = |p: &Path| {
        p.file_name().map_or_else(
            || p.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    };
    let r = ctx.input.result;
    let mut tiles = vec![Tile::new(r.best.clone(), "best candidate")];
    if let Some(b) = ctx.best {
        tiles.push(Tile::new(format!("{:.4}", b.report.auc_pr), "AUC-PR"));
        tiles.push(Tile::new(format!("{:.4}", b.report.auc_roc), "AUC-ROC"));
        tiles.push(Tile::new(format!("{:.4}", b.report.threshold), "threshold"));
    }
    tiles.push(Tile::new(fmt_count(ctx.rows as u64), "test rows"));
    tiles.push(Tile::new(fmt_pct(ctx.base_rate), "positive rate"));
    let mut notes = Vec::new();
    for (c, curves) in r.candidates.iter().zip(&ctx.curves) {
        if let Err(e) = &curves.roc {
            notes.push(format!("{}: no curves on the test rows ({e})", c.name));
        }
    }
    Header {
        title: format!("Training report: {}", name(ctx.input.model)),
        source: format!(
            "Data: {} · model: {}",
            ctx.input.data.display(),
            ctx.input.model.display()
        ),
        tiles,
        notes,
    }
}

/// Renders the report.
pub fn render(input: ReportInput<'_>) -> String {
    let ctx = Context::new(input);
    let mut page = Page::begin(&header(&ctx), CSS);
    for section in sections::SECTIONS {
        section(&ctx, &mut page);
    }
    page.finish("Training report generated by fathom · self-contained, no external resources")
}

/// Where the report of a model written to `model` goes: beside it, named
/// `<model stem>.report.html`.
pub fn report_path(model: &Path) -> std::path::PathBuf {
    let stem = model
        .file_stem()
        .map_or_else(|| "model".into(), |s| s.to_string_lossy().into_owned());
    model.with_file_name(format!("{stem}.report.html"))
}
