//! Confusion counts at a threshold and choice of a decision threshold.

use serde::{Deserialize, Serialize};

use super::ranking::{binary_counts, pr_from_counts};
use super::{MetricError, Sum, check_finite, check_labels, check_lengths, check_weights, ratio};

/// Weighted confusion counts of a binary decision (plain counts when no
/// weights are given).
///
/// The derived rates follow scikit-learn with `zero_division=0`: a rate
/// whose denominator is 0 is 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Confusion {
    /// True positives: label 1, predicted 1.
    pub tp: f64,
    /// False positives: label 0, predicted 1.
    pub fp: f64,
    /// True negatives: label 0, predicted 0.
    pub tn: f64,
    /// False negatives: label 1, predicted 0 (`fn` in JSON).
    #[serde(rename = "fn")]
    pub fn_: f64,
}

impl Confusion {
    /// Total weight (number of samples when unweighted).
    pub fn total(&self) -> f64 {
        self.tp + self.fp + self.tn + self.fn_
    }

    /// (tp + tn) / total.
    pub fn accuracy(&self) -> f64 {
        ratio(self.tp + self.tn, self.total())
    }

    /// tp / (tp + fp); 0 when nothing is predicted positive.
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    /// tp / (tp + fn); 0 when there is no positive sample.
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    /// 2·tp / (2·tp + fp + fn), the harmonic mean of precision and recall
    /// (computed as scikit-learn does); 0 when tp + fp + fn = 0.
    pub fn f1(&self) -> f64 {
        ratio(2.0 * self.tp, (self.tp + self.fn_) + (self.tp + self.fp))
    }

    /// tn / (tn + fp), the true-negative rate; 0 when there is no negative
    /// sample.
    pub fn specificity(&self) -> f64 {
        ratio(self.tn, self.tn + self.fp)
    }
}

/// Confusion counts when samples with `score >= threshold` are predicted
/// positive — the convention of scikit-learn's curves, so a threshold taken
/// from [`roc_curve`](super::roc_curve) or
/// [`precision_recall_curve`](super::precision_recall_curve) reproduces that
/// curve's point. Equals `sklearn.metrics.confusion_matrix(y, score >=
/// threshold, sample_weight=w)`.
///
/// One class alone is fine. Errors on a NaN threshold, invalid labels,
/// non-finite scores, invalid weights or mismatched lengths.
pub fn confusion_at(
    y: &[f64],
    score: &[f64],
    threshold: f64,
    w: Option<&[f64]>,
) -> Result<Confusion, MetricError> {
    let mut lengths = vec![("score", score.len())];
    if let Some(w) = w {
        lengths.push(("w", w.len()));
    }
    check_lengths("confusion_at", y.len(), &lengths)?;
    check_labels(y)?;
    check_finite("score", score)?;
    check_weights(w)?;
    if threshold.is_nan() {
        return Err(MetricError::InvalidParameter {
            name: "threshold",
            value: threshold,
            expected: "a number (not NaN)",
        });
    }
    let (mut tp, mut fp, mut tn, mut fn_) = (
        Sum::default(),
        Sum::default(),
        Sum::default(),
        Sum::default(),
    );
    for i in 0..y.len() {
        let wi = w.map_or(1.0, |w| w[i]);
        match (y[i] == 1.0, score[i] >= threshold) {
            (true, true) => tp.add(wi),
            (false, true) => fp.add(wi),
            (false, false) => tn.add(wi),
            (true, false) => fn_.add(wi),
        }
    }
    Ok(Confusion {
        tp: tp.value(),
        fp: fp.value(),
        tn: tn.value(),
        fn_: fn_.value(),
    })
}

/// How [`choose_threshold`] picks a threshold among the
/// precision–recall curve's thresholds (the distinct scores).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum ThresholdRule {
    /// The threshold with the highest F1; among exact ties, the highest
    /// threshold (fewest predicted positives).
    MaxF1,
    /// The lowest threshold whose precision is at least the target in
    /// (0, 1], i.e. the highest recall subject to that precision.
    TargetPrecision(f64),
    /// The highest threshold whose recall is at least the target in (0, 1],
    /// i.e. the fewest predicted positives that still reach that recall.
    TargetRecall(f64),
}

/// A chosen threshold and the precision, recall and F1 of predicting
/// `score >= threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ThresholdChoice {
    /// The chosen threshold: one of the scores.
    pub threshold: f64,
    /// Precision at the threshold.
    pub precision: f64,
    /// Recall at the threshold.
    pub recall: f64,
    /// F1 at the threshold, as 2PR / (P + R) (0 when P + R = 0).
    pub f1: f64,
}

/// Chooses a decision threshold by `rule` over the thresholds of
/// [`precision_recall_curve`](super::precision_recall_curve).
///
/// Errors when there is no positive sample, when a target is not in (0, 1],
/// when no threshold reaches a precision target
/// ([`MetricError::TargetUnreachable`]), and on invalid labels, non-finite
/// scores, invalid weights or mismatched lengths.
pub fn choose_threshold(
    y: &[f64],
    score: &[f64],
    rule: ThresholdRule,
    w: Option<&[f64]>,
) -> Result<ThresholdChoice, MetricError> {
    if let ThresholdRule::TargetPrecision(t) | ThresholdRule::TargetRecall(t) = rule
        && !(t > 0.0 && t <= 1.0)
    {
        let name = match rule {
            ThresholdRule::TargetPrecision(_) => "target precision",
            _ => "target recall",
        };
        return Err(MetricError::InvalidParameter {
            name,
            value: t,
            expected: "must be in (0, 1]",
        });
    }
    let counts = binary_counts("choose_threshold", y, score, w)?;
    counts.require_positives("choose_threshold")?;
    let curve = pr_from_counts(&counts);
    let n = curve.thresholds.len();
    let (p, r) = (&curve.precision, &curve.recall);
    let f1 = |i: usize| ratio(2.0 * p[i] * r[i], p[i] + r[i]);
    let index = match rule {
        ThresholdRule::MaxF1 => {
            // `>=` while walking up the thresholds: ties go to the highest.
            let mut best = 0;
            for i in 1..n {
                if f1(i) >= f1(best) {
                    best = i;
                }
            }
            best
        }
        ThresholdRule::TargetPrecision(target) => {
            (0..n)
                .find(|&i| p[i] >= target)
                .ok_or_else(|| MetricError::TargetUnreachable {
                    what: "precision",
                    target,
                    best: p[..n].iter().copied().fold(0.0, f64::max),
                })?
        }
        ThresholdRule::TargetRecall(target) => {
            (0..n).rev().find(|&i| r[i] >= target).ok_or_else(|| {
                MetricError::TargetUnreachable {
                    what: "recall",
                    target,
                    best: r[..n].iter().copied().fold(0.0, f64::max),
                }
            })?
        }
    };
    Ok(ThresholdChoice {
        threshold: curve.thresholds[index],
        precision: p[index],
        recall: r[index],
        f1: f1(index),
    })
}
