//! Serialisable bundles of metrics for a binary classifier.

use serde::{Deserialize, Serialize};

use super::ranking::{ap_from_counts, auc_from_counts, binary_counts};
use super::{Confusion, MetricError, brier_score, confusion_at, log_loss};

/// The standard metrics of a binary classifier that outputs probabilities,
/// with the threshold-dependent ones taken at [`BinaryReport::threshold`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BinaryReport {
    /// Decision threshold: `score >= threshold` is predicted positive.
    pub threshold: f64,
    /// Area under the ROC curve ([`roc_auc`](super::roc_auc)).
    pub auc_roc: f64,
    /// Average precision, the step-wise area under the PR curve
    /// ([`average_precision`](super::average_precision)).
    pub auc_pr: f64,
    /// Log-loss ([`log_loss`]).
    pub logloss: f64,
    /// Brier score ([`brier_score`]).
    pub brier: f64,
    /// Accuracy at the threshold.
    pub accuracy: f64,
    /// Precision at the threshold (0 when nothing is predicted positive).
    pub precision: f64,
    /// Recall at the threshold.
    pub recall: f64,
    /// F1 at the threshold.
    pub f1: f64,
    /// Weighted confusion counts at the threshold.
    pub confusion: Confusion,
}

/// Computes a [`BinaryReport`] for labels `y` and predicted probabilities
/// `score` of the positive class.
///
/// Errors when only one class is present (AUC is undefined), when a score
/// is outside `[0, 1]` (log-loss and Brier need probabilities: apply a
/// sigmoid to raw margins first), on a NaN threshold, and on invalid labels,
/// non-finite scores, invalid weights or mismatched lengths.
pub fn binary_report(
    y: &[f64],
    score: &[f64],
    threshold: f64,
    w: Option<&[f64]>,
) -> Result<BinaryReport, MetricError> {
    // One sort serves both ranking metrics.
    let counts = binary_counts("binary_report", y, score, w)?;
    let auc_roc = auc_from_counts(&counts, "binary_report")?;
    let auc_pr = ap_from_counts(&counts, "binary_report")?;
    let logloss = log_loss(y, score, w)?;
    let brier = brier_score(y, score, w)?;
    let confusion = confusion_at(y, score, threshold, w)?;
    Ok(BinaryReport {
        threshold,
        auc_roc,
        auc_pr,
        logloss,
        brier,
        accuracy: confusion.accuracy(),
        precision: confusion.precision(),
        recall: confusion.recall(),
        f1: confusion.f1(),
        confusion,
    })
}
