//! Live performance from feedback labels: AUC-ROC, AUC-PR, precision,
//! recall, F1, Brier score and calibration over rolling windows of
//! predictions whose labels have arrived, compared with the model's holdout
//! figures. Read from the `[monitor.performance]` table of `fathom.toml`:
//!
//! ```toml
//! [monitor.performance]
//! windows = [{ last = 1000 }, { span = "14d" }]  # the first is the primary one
//! label_delay = "0s"      # predictions younger than this are pending
//! lookback = "14d"        # how far back `fathom monitor` reads labelled predictions
//! min_labels = 100        # fewer labels in a window: "insufficient labels"
//! min_positives = 5       # fewer positives (or negatives): no AUC
//! auc_alert = 0.65        # primary AUC-ROC below this: degraded
//! drop_tolerance = 0.05   # primary AUC-ROC this far below the holdout's: degraded
//! calibration_bins = 10   # equal-width bins of the calibration table
//! ```
//!
//! A window is `{ last = N }`, the N most recent labeled predictions by
//! prediction time, or `{ span = "14d" }`, the predictions of that span (a
//! whole number followed by `s`, `m`, `h` or `d`).
//!
//! Labels arrive late, and the windows say so explicitly. With `now` the
//! time of the computation and `cutoff = now − label_delay`:
//!
//! * a prediction made after `cutoff` is **pending**: its label may not
//!   have arrived yet, so it is left out of every window (and counted);
//! * a label counts once it has arrived (`label_time_ms ≤ now`); a
//!   prediction without one is unlabeled and lowers the label coverage;
//! * a `span` window covers the predictions of `(cutoff − span, cutoff]`.
//!
//! `lookback` is for the caller that gathers the outcomes from a log:
//! `fathom monitor` reads the answered predictions of the last
//! `lookback + label_delay` (or of its own window when that is longer) for
//! these windows, so a check over the last hour still measures the last
//! 1000 labelled predictions of the past two weeks, whose labels came days
//! later. `"0s"` keeps the measurement to the check's own window.
//!
//! The metrics are fathom-learn's, equal to scikit-learn's.

use crate::MonitorError;
use fathom_learn::metrics::{
    BinStrategy, CalibrationBin, Confusion, average_precision, brier_score, calibration_table,
    confusion_at, roc_auc,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

pub use crate::span::Span;

/// A window of predictions to measure over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "WindowTable", into = "WindowTable")]
pub enum Window {
    /// The most recent this-many labeled predictions, by prediction time
    /// (`{ last = 1000 }`).
    Last(u64),
    /// The predictions of this span, ending at the cutoff
    /// (`{ span = "14d" }`).
    Span(Span),
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Window::Last(n) => write!(f, "last {n} labeled"),
            Window::Span(s) => write!(f, "last {s}"),
        }
    }
}

/// The TOML table form of a [`Window`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WindowTable {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    span: Option<Span>,
}

impl TryFrom<WindowTable> for Window {
    type Error = String;
    fn try_from(t: WindowTable) -> Result<Window, String> {
        match (t.last, t.span) {
            (Some(n), None) => Ok(Window::Last(n)),
            (None, Some(s)) => Ok(Window::Span(s)),
            _ => Err(
                "a window is either { last = 1000 } (labeled predictions) or { span = \"14d\" } (a time span), one key"
                    .to_string(),
            ),
        }
    }
}

impl From<Window> for WindowTable {
    fn from(w: Window) -> WindowTable {
        match w {
            Window::Last(n) => WindowTable {
                last: Some(n),
                span: None,
            },
            Window::Span(s) => WindowTable {
                last: None,
                span: Some(s),
            },
        }
    }
}

/// Settings of the live-performance computation. Every field has a
/// default; see the [module documentation](self) for the TOML form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PerformanceConfig {
    /// The windows, the first being the primary one that decides
    /// degradation (default: the last 1000 labeled, and 14 days).
    pub windows: Vec<Window>,
    /// Predictions younger than this are pending (default `"0s"`).
    pub label_delay: Span,
    /// How far back (before `label_delay`) the outcomes for these windows
    /// are gathered (default `"14d"`; `"0s"`: the check's own window only).
    pub lookback: Span,
    /// A window with fewer labels reports "insufficient labels" (100).
    pub min_labels: u64,
    /// AUC-ROC needs this many positives and negatives, AUC-PR this many
    /// positives (5).
    pub min_positives: u64,
    /// The primary window's AUC-ROC below this is a degradation (0.65).
    pub auc_alert: f64,
    /// The primary window's AUC-ROC more than this below the model's
    /// holdout AUC-ROC is a degradation (0.05, in AUC points).
    pub drop_tolerance: f64,
    /// Equal-width bins of the calibration table (10).
    pub calibration_bins: usize,
}

impl Default for PerformanceConfig {
    fn default() -> Self {
        PerformanceConfig {
            windows: vec![Window::Last(1000), Window::Span(Span::hours(14 * 24))],
            label_delay: Span::ZERO,
            lookback: Span::hours(14 * 24),
            min_labels: 100,
            min_positives: 5,
            auc_alert: 0.65,
            drop_tolerance: 0.05,
            calibration_bins: 10,
        }
    }
}

impl PerformanceConfig {
    /// Where the outcomes for these windows start, for a check of
    /// `[from_ms, to_ms]`: `lookback + label_delay` before `to_ms`, or
    /// `from_ms` when that is earlier or `lookback` is zero.
    pub fn outcomes_from(&self, from_ms: i64, to_ms: i64) -> i64 {
        if self.lookback.is_zero() {
            return from_ms;
        }
        let back = self.lookback.ms().saturating_add(self.label_delay.ms());
        from_ms.min(to_ms.saturating_sub(back))
    }

    /// Checks the settings: at least one window, each non-empty, AUC
    /// figures in `[0, 1]`, at least one calibration bin.
    pub fn check(&self) -> Result<(), MonitorError> {
        let bad = |detail: String| {
            Err(MonitorError::Settings {
                section: "performance",
                detail,
            })
        };
        if self.windows.is_empty() {
            return bad(
                "windows is empty; give at least one, e.g. windows = [{ last = 1000 }, { span = \"14d\" }]"
                    .into(),
            );
        }
        for w in &self.windows {
            match w {
                Window::Last(0) => {
                    return bad("a window { last = 0 } holds nothing; give a positive count".into());
                }
                Window::Span(s) if s.is_zero() => {
                    return bad(
                        "a window { span = \"0s\" } holds nothing; give a positive span".into(),
                    );
                }
                _ => {}
            }
        }
        if self.min_labels == 0 {
            return bad("min_labels is 0; it must be at least 1 (default 100)".into());
        }
        if !(0.0..=1.0).contains(&self.auc_alert) {
            return bad(format!(
                "auc_alert is {}; an AUC lies in [0, 1] (default 0.65)",
                self.auc_alert
            ));
        }
        if !(0.0..=1.0).contains(&self.drop_tolerance) {
            return bad(format!(
                "drop_tolerance is {}; it is in AUC points and must lie in [0, 1] (default 0.05)",
                self.drop_tolerance
            ));
        }
        if self.calibration_bins == 0 {
            return bad("calibration_bins is 0; it must be at least 1 (default 10)".into());
        }
        Ok(())
    }
}

/// One prediction with its label, if one has arrived: built from the
/// prediction log joined with the feedback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// The request id, for messages (may be empty).
    #[serde(default)]
    pub request_id: String,
    /// When the prediction was made, in milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// The model's score (a probability for the Brier score and the
    /// calibration table).
    pub score: f64,
    /// The decision that was logged; `score ≥ threshold` when absent.
    #[serde(default)]
    pub decision: Option<bool>,
    /// The label, 0 or 1, when feedback was received.
    #[serde(default)]
    pub label: Option<f64>,
    /// When the label arrived; a label without a time is taken as arrived.
    #[serde(default)]
    pub label_time_ms: Option<i64>,
}

/// Whether a window could be measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowStatus {
    /// Enough labels: the metrics are there.
    Ok,
    /// Fewer labels than `min_labels`: no metrics.
    InsufficientLabels,
    /// No predictions in the window.
    NoPredictions,
}

impl WindowStatus {
    /// The snake-case name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            WindowStatus::Ok => "ok",
            WindowStatus::InsufficientLabels => "insufficient_labels",
            WindowStatus::NoPredictions => "no_predictions",
        }
    }
}

/// A metric of a window next to the model's holdout figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineChange {
    /// The metric's name (`auc_roc`, `auc_pr`, `precision`, `recall`, `f1`,
    /// `brier`).
    pub metric: String,
    /// The holdout value.
    pub baseline: f64,
    /// The window's value.
    pub current: f64,
    /// How much worse the window is: `baseline − current`, or `current −
    /// baseline` for the Brier score (lower is better). Negative when
    /// better.
    pub drop: f64,
}

/// The performance of one window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowPerformance {
    /// The window.
    pub window: Window,
    /// Its name, e.g. `last 1000 labeled` or `last 14d`.
    pub name: String,
    /// Start of the window (ms): the earliest prediction time of a `last`
    /// window, `cutoff − span` (exclusive) of a `span` window.
    pub from_ms: Option<i64>,
    /// End of the window (ms): the latest prediction time of a `last`
    /// window, the cutoff of a `span` window.
    pub to_ms: Option<i64>,
    /// Predictions in the window, labeled or not.
    pub predictions: u64,
    /// Of which labeled.
    pub labeled: u64,
    /// `labeled / predictions`; absent without predictions.
    pub label_coverage: Option<f64>,
    /// Labeled positives.
    pub positives: u64,
    /// Area under the ROC curve.
    pub auc_roc: Option<f64>,
    /// Average precision (area under the precision–recall curve).
    pub auc_pr: Option<f64>,
    /// Precision of the decisions.
    pub precision: Option<f64>,
    /// Recall of the decisions.
    pub recall: Option<f64>,
    /// F1 of the decisions.
    pub f1: Option<f64>,
    /// Brier score of the scores (when they are probabilities).
    pub brier: Option<f64>,
    /// Confusion counts of the decisions.
    pub confusion: Option<Confusion>,
    /// Calibration table (equal-width bins, empty ones left out).
    pub calibration: Vec<CalibrationBin>,
    /// Whether the window could be measured.
    pub status: WindowStatus,
    /// Each metric next to the model's holdout figure, when it has one.
    pub vs_baseline: Vec<BaselineChange>,
    /// Why a figure is missing.
    pub notes: Vec<String>,
}

/// Live performance over every configured window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerformanceReport {
    /// The time of the computation (ms).
    pub now_ms: i64,
    /// `now − label_delay`: later predictions are pending.
    pub cutoff_ms: i64,
    /// The label delay applied.
    pub label_delay: Span,
    /// The decision threshold used where no decision was logged.
    pub threshold: f64,
    /// Predictions left out because their labels may not have arrived.
    pub pending_predictions: u64,
    /// Every window, the primary one first.
    pub windows: Vec<WindowPerformance>,
    /// Whether the primary window shows a degradation.
    pub degraded: bool,
    /// Why (or why not, or why it could not be judged).
    pub message: String,
}

impl PerformanceReport {
    /// Flat named values of the primary window for alert rules: `auc_roc`,
    /// `auc_pr`, `precision`, `recall`, `f1`, `brier`, `label_coverage`,
    /// `auc_roc_drop` (holdout − current) and `pending_predictions`. A value
    /// that could not be computed is left out.
    pub fn signals(&self) -> Vec<(String, f64)> {
        let mut out = Vec::new();
        if let Some(w) = self.windows.first() {
            for (name, v) in [
                ("auc_roc", w.auc_roc),
                ("auc_pr", w.auc_pr),
                ("precision", w.precision),
                ("recall", w.recall),
                ("f1", w.f1),
                ("brier", w.brier),
                ("label_coverage", w.label_coverage),
            ] {
                if let Some(v) = v {
                    out.push((name.to_string(), v));
                }
            }
            if let Some(c) = w.vs_baseline.iter().find(|c| c.metric == "auc_roc") {
                out.push(("auc_roc_drop".to_string(), c.drop));
            }
        }
        out.push((
            "pending_predictions".to_string(),
            self.pending_predictions as f64,
        ));
        out
    }
}

/// Measures the model on the labeled predictions of each window.
///
/// `now_ms` is the time of the computation, `threshold` the model's
/// decision threshold (used where no decision was logged), `baseline` the
/// model's holdout metrics by name (`auc_roc`, `auc_pr`, `precision`,
/// `recall`, `f1`, `brier`, as the trainer stores them). Errors on invalid
/// settings, a label other than 0/1, a non-finite score or threshold.
pub fn performance(
    outcomes: &[Outcome],
    now_ms: i64,
    threshold: f64,
    baseline: &BTreeMap<String, f64>,
    config: &PerformanceConfig,
) -> Result<PerformanceReport, MonitorError> {
    config.check()?;
    if !threshold.is_finite() {
        return Err(MonitorError::InvalidInput(format!(
            "the decision threshold is {threshold}; pass the model's threshold (a number in [0, 1])"
        )));
    }
    for (position, o) in outcomes.iter().enumerate() {
        if !o.score.is_finite() {
            return Err(MonitorError::ScoreNotFinite {
                position,
                request_id: o.request_id.clone(),
                value: o.score,
            });
        }
        if let Some(l) = o.label
            && l != 0.0
            && l != 1.0
        {
            return Err(MonitorError::LabelNotBinary {
                position,
                request_id: o.request_id.clone(),
                value: l,
            });
        }
    }
    let cutoff_ms = now_ms.saturating_sub(config.label_delay.ms());
    // Mature predictions in prediction-time order (ties in input order), so
    // the result does not depend on how the caller ordered them.
    let mut mature: Vec<&Outcome> = outcomes.iter().filter(|o| o.time_ms <= cutoff_ms).collect();
    mature.sort_by_key(|o| o.time_ms);
    let pending_predictions = (outcomes.len() - mature.len()) as u64;
    let rules = Rules {
        now_ms,
        threshold,
        baseline,
        config,
    };
    // Positions (in `mature`) of the predictions whose label has arrived.
    let labeled: Vec<usize> = (0..mature.len())
        .filter(|&i| rules.label(mature[i]).is_some())
        .collect();

    let windows: Vec<WindowPerformance> = config
        .windows
        .iter()
        .map(|&window| {
            let (rows, from_ms, to_ms): (Vec<&Outcome>, Option<i64>, Option<i64>) = match window {
                Window::Last(n) => {
                    let chosen = &labeled[labeled.len().saturating_sub(n as usize)..];
                    match (chosen.first(), chosen.last()) {
                        (Some(&a), Some(&b)) => {
                            // The chosen labeled ones and the unlabeled
                            // predictions made between them.
                            let rows = (a..=b)
                                .filter(|&i| {
                                    rules.label(mature[i]).is_none()
                                        || chosen.binary_search(&i).is_ok()
                                })
                                .map(|i| mature[i])
                                .collect();
                            (rows, Some(mature[a].time_ms), Some(mature[b].time_ms))
                        }
                        _ => (mature.clone(), None, None),
                    }
                }
                Window::Span(s) => {
                    let from = cutoff_ms.saturating_sub(s.ms());
                    let rows = mature
                        .iter()
                        .filter(|o| o.time_ms > from)
                        .copied()
                        .collect();
                    (rows, Some(from), Some(cutoff_ms))
                }
            };
            rules.measure(Selection {
                window,
                rows,
                from_ms,
                to_ms,
            })
        })
        .collect();

    let (degraded, message) = judge(windows.first(), baseline, config);
    Ok(PerformanceReport {
        now_ms,
        cutoff_ms,
        label_delay: config.label_delay,
        threshold,
        pending_predictions,
        windows,
        degraded,
        message,
    })
}

/// The predictions a window holds.
struct Selection<'a> {
    window: Window,
    rows: Vec<&'a Outcome>,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
}

/// What every window is measured with.
struct Rules<'a> {
    now_ms: i64,
    threshold: f64,
    baseline: &'a BTreeMap<String, f64>,
    config: &'a PerformanceConfig,
}

impl Rules<'_> {
    /// The label of `o` if it has arrived by now.
    fn label(&self, o: &Outcome) -> Option<f64> {
        o.label
            .filter(|_| o.label_time_ms.is_none_or(|t| t <= self.now_ms))
    }

    /// The metrics of one window's predictions.
    fn measure(&self, selection: Selection<'_>) -> WindowPerformance {
        let Selection {
            window,
            rows,
            from_ms,
            to_ms,
        } = selection;
        let (threshold, baseline, config) = (self.threshold, self.baseline, self.config);
        let mut y = Vec::new();
        let mut score = Vec::new();
        let mut decided = Vec::new();
        for o in &rows {
            if let Some(label) = self.label(o) {
                y.push(label);
                score.push(o.score);
                let positive = o.decision.unwrap_or(o.score >= threshold);
                decided.push(if positive { 1.0 } else { 0.0 });
            }
        }
        let predictions = rows.len() as u64;
        let labeled = y.len() as u64;
        let positives = y.iter().filter(|&&l| l == 1.0).count() as u64;
        let negatives = labeled - positives;
        let mut out = WindowPerformance {
            window,
            name: window.to_string(),
            from_ms,
            to_ms,
            predictions,
            labeled,
            label_coverage: (predictions > 0).then(|| labeled as f64 / predictions as f64),
            positives,
            auc_roc: None,
            auc_pr: None,
            precision: None,
            recall: None,
            f1: None,
            brier: None,
            confusion: None,
            calibration: Vec::new(),
            status: WindowStatus::Ok,
            vs_baseline: Vec::new(),
            notes: Vec::new(),
        };
        if predictions == 0 {
            out.status = WindowStatus::NoPredictions;
            out.notes
                .push("no predictions in the window; nothing measured".to_string());
            return out;
        }
        if labeled < config.min_labels {
            out.status = WindowStatus::InsufficientLabels;
            out.notes.push(format!(
                "{labeled} labeled predictions, fewer than min_labels = {}; no metrics",
                config.min_labels
            ));
            return out;
        }
        // The inputs were checked above (labels 0/1, finite scores), so the
        // metric functions below cannot fail on them; a failure leaves the
        // figure out with the reason.
        let note = out_note;
        let mut notes = Vec::new();
        match confusion_at(&y, &decided, 0.5, None) {
            Ok(c) => {
                out.precision = Some(c.precision());
                out.recall = Some(c.recall());
                out.f1 = Some(c.f1());
                out.confusion = Some(c);
            }
            Err(e) => notes.push(note("precision, recall and F1", &e)),
        }
        if positives >= config.min_positives && negatives >= config.min_positives {
            match roc_auc(&y, &score, None) {
                Ok(v) => out.auc_roc = Some(v),
                Err(e) => notes.push(note("AUC-ROC", &e)),
            }
        } else {
            notes.push(format!(
            "{positives} positives and {negatives} negatives; AUC-ROC needs min_positives = {} of each",
            config.min_positives
        ));
        }
        if positives >= config.min_positives {
            match average_precision(&y, &score, None) {
                Ok(v) => out.auc_pr = Some(v),
                Err(e) => notes.push(note("AUC-PR", &e)),
            }
        } else {
            notes.push(format!(
                "{positives} positives; AUC-PR needs min_positives = {}",
                config.min_positives
            ));
        }
        if score.iter().all(|p| (0.0..=1.0).contains(p)) {
            match brier_score(&y, &score, None) {
                Ok(v) => out.brier = Some(v),
                Err(e) => notes.push(note("Brier score", &e)),
            }
            match calibration_table(&y, &score, config.calibration_bins, BinStrategy::Uniform) {
                Ok(t) => out.calibration = t,
                Err(e) => notes.push(note("calibration", &e)),
            }
        } else {
            notes.push(
            "some scores lie outside [0, 1]; no Brier score or calibration (they need probabilities)"
                .to_string(),
        );
        }
        out.notes = notes;
        for (metric, current) in [
            ("auc_roc", out.auc_roc),
            ("auc_pr", out.auc_pr),
            ("precision", out.precision),
            ("recall", out.recall),
            ("f1", out.f1),
            ("brier", out.brier),
        ] {
            if let (Some(current), Some(&base)) = (current, baseline.get(metric))
                && base.is_finite()
            {
                let drop = if metric == "brier" {
                    current - base
                } else {
                    base - current
                };
                out.vs_baseline.push(BaselineChange {
                    metric: metric.to_string(),
                    baseline: base,
                    current,
                    drop,
                });
            }
        }
        out
    }
}

/// A note for a figure that could not be computed.
fn out_note(what: &str, e: &dyn fmt::Display) -> String {
    format!("{what} not computed: {e}")
}

/// Degradation of the primary window, and the sentence saying so.
fn judge(
    primary: Option<&WindowPerformance>,
    baseline: &BTreeMap<String, f64>,
    config: &PerformanceConfig,
) -> (bool, String) {
    let Some(w) = primary else {
        return (false, "no window configured".to_string());
    };
    let Some(auc) = w.auc_roc else {
        let why = match w.status {
            WindowStatus::NoPredictions => "no predictions".to_string(),
            WindowStatus::InsufficientLabels => format!(
                "{} labeled predictions, fewer than the {} needed",
                w.labeled, config.min_labels
            ),
            WindowStatus::Ok => format!(
                "{} positives of {} labels, AUC-ROC needs at least {} of each class",
                w.positives, w.labeled, config.min_positives
            ),
        };
        return (false, format!("{}: {why}; performance not judged", w.name));
    };
    let r = |v: f64| (v * 1e4).round() / 1e4;
    if auc < config.auc_alert {
        return (
            true,
            format!(
                "AUC-ROC {} over the {} predictions is below {}",
                r(auc),
                w.name,
                config.auc_alert
            ),
        );
    }
    if let Some(&base) = baseline.get("auc_roc")
        && base - auc > config.drop_tolerance
    {
        return (
            true,
            format!(
                "AUC-ROC {} over the {} predictions is {} below the holdout's {}, more than the tolerated {}",
                r(auc),
                w.name,
                r(base - auc),
                r(base),
                config.drop_tolerance
            ),
        );
    }
    (
        false,
        format!("AUC-ROC {} over the {} predictions: ok", r(auc), w.name),
    )
}
