//! Stratified k-fold cross-validation of the candidates: the settings, the
//! per-fold figures and their mean ± standard deviation.
//!
//! The folds are cut from the training part only (the rows left after the
//! test rows are held out), with [`stratified_kfold`](crate::split::stratified_kfold).
//! Each fold repeats the whole training recipe on its own rows: its
//! training rows are split again into fitting and validation rows (the
//! same `valid_fraction`), the feature pipeline is fitted on the fitting
//! rows only, GBDT stops early on the validation rows, the decision
//! threshold is the one with the highest F1 on the validation rows, and
//! the fold's held-out rows are scored with it. So no statistic of a
//! held-out fold reaches the model that scores it.

use crate::metrics::{BinaryReport, binary_report};
use crate::split::{SplitError, stratified_kfold, stratified_split};
use serde::{Deserialize, Serialize};

/// Seed offsets of the fold assignment and of each fold's validation split.
const FOLD_SEED: u64 = 0xc0ff_ee00;
const VALID_SEED: u64 = 0x5eed;

/// One fold's rows, as row indices of the frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CvFold {
    /// Rows the fold's pipeline and models are fitted on.
    pub fit: Vec<usize>,
    /// Rows for early stopping and the fold's threshold.
    pub valid: Vec<usize>,
    /// The held-out rows the fold is scored on.
    pub test: Vec<usize>,
    /// Positions of `test` in the training part (for out-of-fold predictions).
    pub test_positions: Vec<usize>,
    /// Positions of the fold's training rows (`fit` and `valid`) in the
    /// training part.
    pub train_positions: Vec<usize>,
}

/// Cuts the training part (`train_part`, frame row indices; `labels` are
/// the whole frame's) into `folds` stratified folds, and each fold's
/// training rows into fitting and validation rows (`valid_fraction`,
/// stratified). Seeded by `seed`; every row of the training part is held
/// out by exactly one fold.
pub fn cv_folds(
    labels: &[f64],
    train_part: &[usize],
    folds: usize,
    valid_fraction: f64,
    seed: u64,
) -> Result<Vec<CvFold>, SplitError> {
    let train_y: Vec<f64> = train_part.iter().map(|&r| labels[r]).collect();
    let splits = stratified_kfold(&train_y, folds, seed ^ FOLD_SEED)?;
    splits
        .into_iter()
        .enumerate()
        .map(|(k, split)| {
            let fold_train: Vec<usize> = split.train.iter().map(|&i| train_part[i]).collect();
            let fty: Vec<f64> = fold_train.iter().map(|&r| labels[r]).collect();
            let inner = stratified_split(
                &fty,
                valid_fraction,
                seed ^ VALID_SEED ^ (k as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            )?;
            Ok(CvFold {
                fit: inner.train.iter().map(|&i| fold_train[i]).collect(),
                valid: inner.test.iter().map(|&i| fold_train[i]).collect(),
                test: split.test.iter().map(|&i| train_part[i]).collect(),
                test_positions: split.test,
                train_positions: split.train,
            })
        })
        .collect()
}

/// Settings of cross-validation (`[train.cv]` in `fathom.toml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CvConfig {
    /// Number of folds (at least 2; every label value needs at least this
    /// many rows in the training part).
    pub folds: usize,
    /// The metric candidates and search trials are ranked by (its mean
    /// over the folds).
    pub metric: Metric,
}

impl Default for CvConfig {
    fn default() -> Self {
        CvConfig {
            folds: 5,
            metric: Metric::AucPr,
        }
    }
}

/// A metric candidates can be ranked by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Area under the ROC curve (higher is better).
    AucRoc,
    /// Average precision, the area under the precision–recall curve
    /// (higher is better; the default, as positives are rare).
    #[default]
    AucPr,
    /// Log-loss (lower is better).
    Logloss,
    /// F1 at the threshold chosen on validation rows (higher is better).
    F1,
}

impl Metric {
    /// Every metric, in display order.
    pub const ALL: [Metric; 4] = [Metric::AucRoc, Metric::AucPr, Metric::Logloss, Metric::F1];

    /// The metric's name in configuration and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Metric::AucRoc => "auc_roc",
            Metric::AucPr => "auc_pr",
            Metric::Logloss => "logloss",
            Metric::F1 => "f1",
        }
    }

    /// The metric's name for people ("AUC-PR").
    pub fn label(self) -> &'static str {
        match self {
            Metric::AucRoc => "AUC-ROC",
            Metric::AucPr => "AUC-PR",
            Metric::Logloss => "log-loss",
            Metric::F1 => "F1",
        }
    }

    /// Whether larger values are better.
    pub fn higher_is_better(self) -> bool {
        !matches!(self, Metric::Logloss)
    }

    /// Whether `a` is strictly better than `b` (NaN is never better).
    pub fn better(self, a: f64, b: f64) -> bool {
        if a.is_nan() {
            return false;
        }
        if b.is_nan() {
            return true;
        }
        if self.higher_is_better() {
            a > b
        } else {
            a < b
        }
    }
}

/// The figures cross-validation reports for one fold (or their mean or
/// standard deviation).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CvMetrics {
    /// Area under the ROC curve.
    pub auc_roc: f64,
    /// Average precision.
    pub auc_pr: f64,
    /// Log-loss.
    pub logloss: f64,
    /// F1 at the fold's threshold.
    pub f1: f64,
}

impl CvMetrics {
    /// The value of `metric`.
    pub fn get(&self, metric: Metric) -> f64 {
        match metric {
            Metric::AucRoc => self.auc_roc,
            Metric::AucPr => self.auc_pr,
            Metric::Logloss => self.logloss,
            Metric::F1 => self.f1,
        }
    }

    fn from_fn(f: impl Fn(Metric) -> f64) -> Self {
        CvMetrics {
            auc_roc: f(Metric::AucRoc),
            auc_pr: f(Metric::AucPr),
            logloss: f(Metric::Logloss),
            f1: f(Metric::F1),
        }
    }
}

impl From<&BinaryReport> for CvMetrics {
    fn from(r: &BinaryReport) -> Self {
        CvMetrics {
            auc_roc: r.auc_roc,
            auc_pr: r.auc_pr,
            logloss: r.logloss,
            f1: r.f1,
        }
    }
}

/// One fold's result.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FoldScore {
    /// The threshold chosen on the fold's validation rows.
    pub threshold: f64,
    /// The figures on the fold's held-out rows.
    pub metrics: CvMetrics,
}

/// A candidate's cross-validation result: every fold, and the mean and
/// sample standard deviation over the folds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CvSummary {
    /// The folds, in fold order.
    pub folds: Vec<FoldScore>,
    /// Mean over the folds.
    pub mean: CvMetrics,
    /// Sample standard deviation over the folds (ddof = 1, as pandas'
    /// `std()`; scikit-learn's `cv_results_` report numpy's ddof = 0).
    pub std: CvMetrics,
}

impl CvSummary {
    /// Summarises fold results.
    pub fn from_folds(folds: Vec<FoldScore>) -> Self {
        let stat =
            |m: Metric| mean_std(&folds.iter().map(|f| f.metrics.get(m)).collect::<Vec<_>>());
        CvSummary {
            mean: CvMetrics::from_fn(|m| stat(m).0),
            std: CvMetrics::from_fn(|m| stat(m).1),
            folds,
        }
    }

    /// `"0.8123 ± 0.0110"` for `metric`.
    pub fn mean_std_text(&self, metric: Metric) -> String {
        format!("{:.4} ± {:.4}", self.mean.get(metric), self.std.get(metric))
    }
}

/// Mean and sample standard deviation (ddof = 1) of `values`; the standard
/// deviation is NaN for fewer than two values, as in pandas.
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, f64::NAN);
    }
    let ss: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
    (mean, (ss / (n - 1.0)).sqrt())
}

/// A fold's figures for labels `y` and scores: the threshold is chosen on
/// `(valid_y, valid_scores)` by maximum F1 (0.5 when the validation rows
/// have no positive), the metrics are taken on `(test_y, test_scores)`.
pub(crate) fn fold_score(
    valid_y: &[f64],
    valid_scores: &[f64],
    test_y: &[f64],
    test_scores: &[f64],
) -> Result<FoldScore, crate::metrics::MetricError> {
    let threshold = crate::candidates::threshold_on(valid_y, valid_scores);
    let report = binary_report(test_y, test_scores, threshold, None)?;
    Ok(FoldScore {
        threshold,
        metrics: CvMetrics::from(&report),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_direction() {
        assert!(Metric::AucPr.better(0.6, 0.5));
        assert!(Metric::Logloss.better(0.1, 0.2));
        assert!(!Metric::AucPr.better(f64::NAN, 0.1));
        assert!(Metric::F1.better(0.0, f64::NAN));
    }
}
