//! Ranking metrics: ROC and precision–recall curves, ROC AUC and average
//! precision, computed exactly as scikit-learn does.
//!
//! All of them start from the same O(n log n) pass (`binary_counts`):
//! zero-weight samples are dropped, the rest are sorted by score descending
//! with a stable sort, and weighted true/false-positive counts are
//! accumulated in that order. Samples with equal scores form one group and
//! yield one point, which is what makes tied scores count as "half right"
//! in the AUC and makes average precision match scikit-learn. The
//! cumulative sums are plain running sums in the same order as numpy's
//! `cumsum`, so the curves (including which points `drop_intermediate`
//! removes) are bit-for-bit those of scikit-learn.

use super::{MetricError, Sum, check_finite, check_labels, check_lengths, check_weights};

/// A ROC curve as returned by `sklearn.metrics.roc_curve` with its default
/// `drop_intermediate=True`.
///
/// Points are in order of decreasing threshold. The first point is always
/// `(0, 0)` at threshold `+inf`. Points that lie on a straight line between
/// their neighbours (no corner in either the FP or the TP counts) are
/// dropped: they are never optimal and do not change the area.
/// `tpr[i]` and `fpr[i]` are the rates of samples with `score >= thresholds[i]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    /// False-positive rate, non-decreasing from 0 to 1.
    pub fpr: Vec<f64>,
    /// True-positive rate (recall), non-decreasing from 0 to 1.
    pub tpr: Vec<f64>,
    /// Decreasing thresholds; `thresholds[0]` is `f64::INFINITY`.
    pub thresholds: Vec<f64>,
}

/// A precision–recall curve as returned by
/// `sklearn.metrics.precision_recall_curve` (default
/// `drop_intermediate=False`).
///
/// `thresholds` are the distinct scores in increasing order; `precision[i]`
/// and `recall[i]` are those of predicting `score >= thresholds[i]`. Both
/// vectors have one more element than `thresholds`: a final point with
/// precision 1 and recall 0 that has no threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct PrCurve {
    /// Precision per threshold, then a final 1.
    pub precision: Vec<f64>,
    /// Recall per threshold (non-increasing), then a final 0.
    pub recall: Vec<f64>,
    /// Distinct scores, increasing.
    pub thresholds: Vec<f64>,
}

/// Cumulative weighted counts at each distinct score, in order of
/// decreasing score (scikit-learn's `confusion_matrix_at_thresholds`).
#[derive(Debug, Clone)]
pub(crate) struct Counts {
    /// Distinct scores, decreasing.
    pub(crate) thresholds: Vec<f64>,
    /// Weighted true positives with `score >= thresholds[i]`.
    pub(crate) tps: Vec<f64>,
    /// Weighted false positives with `score >= thresholds[i]`.
    pub(crate) fps: Vec<f64>,
}

impl Counts {
    /// Total positive weight.
    pub(crate) fn positives(&self) -> f64 {
        self.tps.last().copied().unwrap_or(0.0)
    }

    /// Total negative weight.
    pub(crate) fn negatives(&self) -> f64 {
        self.fps.last().copied().unwrap_or(0.0)
    }

    /// Fails unless both classes have positive weight.
    fn require_both(&self, metric: &'static str) -> Result<(), MetricError> {
        let needs = "both a 0 and a 1 label";
        if self.positives() <= 0.0 {
            return Err(MetricError::SingleClass {
                metric,
                present: 0,
                needs,
            });
        }
        if self.negatives() <= 0.0 {
            return Err(MetricError::SingleClass {
                metric,
                present: 1,
                needs,
            });
        }
        Ok(())
    }

    /// Fails unless the positive class has positive weight.
    pub(crate) fn require_positives(&self, metric: &'static str) -> Result<(), MetricError> {
        if self.positives() <= 0.0 {
            return Err(MetricError::SingleClass {
                metric,
                present: 0,
                needs: "at least one positive (1) label",
            });
        }
        Ok(())
    }
}

/// Validates the inputs of a ranking metric and computes [`Counts`].
pub(crate) fn binary_counts(
    metric: &'static str,
    y: &[f64],
    score: &[f64],
    w: Option<&[f64]>,
) -> Result<Counts, MetricError> {
    let mut lengths = vec![("score", score.len())];
    if let Some(w) = w {
        lengths.push(("w", w.len()));
    }
    check_lengths(metric, y.len(), &lengths)?;
    check_labels(y)?;
    check_finite("score", score)?;
    check_weights(w)?;

    let weight = |i: usize| w.map_or(1.0, |w| w[i]);
    // Zero-weight samples must not create thresholds (sklearn drops them).
    let mut order: Vec<usize> = (0..y.len()).filter(|&i| weight(i) != 0.0).collect();
    // Stable sort by score, descending: ties keep their input order. NaN was
    // rejected above, so `partial_cmp` always succeeds.
    order.sort_by(|&a, &b| {
        score[b]
            .partial_cmp(&score[a])
            .unwrap_or(std::cmp::Ordering::Equal)
    });

    let mut counts = Counts {
        thresholds: Vec::new(),
        tps: Vec::new(),
        fps: Vec::new(),
    };
    // Plain running sums, in numpy's cumsum order (see the module docs).
    let (mut tp, mut fp) = (0.0_f64, 0.0_f64);
    for (k, &i) in order.iter().enumerate() {
        if y[i] == 1.0 {
            tp += weight(i);
        } else {
            fp += weight(i);
        }
        let last_of_group = order.get(k + 1).is_none_or(|&next| score[next] != score[i]);
        if last_of_group {
            counts.thresholds.push(score[i]);
            counts.tps.push(tp);
            counts.fps.push(fp);
        }
    }
    Ok(counts)
}

/// The ROC curve, as `sklearn.metrics.roc_curve(y, score, sample_weight=w)`
/// with its default `drop_intermediate=True` (see [`Curve`]).
///
/// Errors when either class is absent, on invalid labels, non-finite
/// scores, invalid weights or mismatched lengths.
pub fn roc_curve(y: &[f64], score: &[f64], w: Option<&[f64]>) -> Result<Curve, MetricError> {
    let counts = binary_counts("roc_curve", y, score, w)?;
    counts.require_both("roc_curve")?;
    Ok(roc_from_counts(&counts))
}

/// Builds the ROC curve from counts of which both classes are non-empty.
fn roc_from_counts(counts: &Counts) -> Curve {
    let Counts {
        thresholds,
        tps,
        fps,
    } = counts;
    let n = thresholds.len();
    // Keep the ends and every point with a corner: numpy's
    // `diff(x, 2) != 0`, computed with the same operations.
    let corner = |x: &[f64], i: usize| (x[i + 1] - x[i]) - (x[i] - x[i - 1]) != 0.0;
    let keep: Vec<usize> = if n > 2 {
        (0..n)
            .filter(|&i| i == 0 || i == n - 1 || corner(fps, i) || corner(tps, i))
            .collect()
    } else {
        (0..n).collect()
    };
    let (p, q) = (counts.positives(), counts.negatives());
    let mut curve = Curve {
        fpr: Vec::with_capacity(keep.len() + 1),
        tpr: Vec::with_capacity(keep.len() + 1),
        thresholds: Vec::with_capacity(keep.len() + 1),
    };
    curve.fpr.push(0.0);
    curve.tpr.push(0.0);
    curve.thresholds.push(f64::INFINITY);
    for i in keep {
        curve.fpr.push(fps[i] / q);
        curve.tpr.push(tps[i] / p);
        curve.thresholds.push(thresholds[i]);
    }
    curve
}

/// Area under the ROC curve, as `sklearn.metrics.roc_auc_score(y, score,
/// sample_weight=w)` for binary `y`.
///
/// The trapezoidal area of [`roc_curve`]; a group of tied scores is one
/// diagonal step, so ties count half. Errors when only one class is present
/// (scikit-learn warns and returns NaN), on invalid labels, non-finite
/// scores, invalid weights or mismatched lengths.
pub fn roc_auc(y: &[f64], score: &[f64], w: Option<&[f64]>) -> Result<f64, MetricError> {
    let counts = binary_counts("roc_auc", y, score, w)?;
    auc_from_counts(&counts, "roc_auc")
}

/// ROC AUC from counts; fails unless both classes are present.
pub(crate) fn auc_from_counts(counts: &Counts, metric: &'static str) -> Result<f64, MetricError> {
    counts.require_both(metric)?;
    let curve = roc_from_counts(counts);
    let (x, t) = (&curve.fpr, &curve.tpr);
    // numpy's trapezoid, term by term with the same operations.
    let mut area = Sum::default();
    for i in 0..x.len() - 1 {
        area.add((x[i + 1] - x[i]) * (t[i + 1] + t[i]) / 2.0);
    }
    Ok(area.value())
}

/// The precision–recall curve, as
/// `sklearn.metrics.precision_recall_curve(y, score, sample_weight=w)`
/// (see [`PrCurve`]).
///
/// Errors when there is no positive sample (scikit-learn warns and sets
/// recall to 1), on invalid labels, non-finite scores, invalid weights or
/// mismatched lengths. All-positive `y` is fine.
pub fn precision_recall_curve(
    y: &[f64],
    score: &[f64],
    w: Option<&[f64]>,
) -> Result<PrCurve, MetricError> {
    let counts = binary_counts("precision_recall_curve", y, score, w)?;
    counts.require_positives("precision_recall_curve")?;
    Ok(pr_from_counts(&counts))
}

/// Builds the PR curve from counts with positive weight.
pub(crate) fn pr_from_counts(counts: &Counts) -> PrCurve {
    let p = counts.positives();
    let n = counts.thresholds.len();
    let mut curve = PrCurve {
        precision: Vec::with_capacity(n + 1),
        recall: Vec::with_capacity(n + 1),
        thresholds: Vec::with_capacity(n),
    };
    for i in (0..n).rev() {
        let (tp, fp) = (counts.tps[i], counts.fps[i]);
        // Every group has positive weight, so tp + fp > 0.
        curve.precision.push(super::ratio(tp, tp + fp));
        curve.recall.push(tp / p);
        curve.thresholds.push(counts.thresholds[i]);
    }
    curve.precision.push(1.0);
    curve.recall.push(0.0);
    curve
}

/// Average precision, as `sklearn.metrics.average_precision_score(y, score,
/// sample_weight=w)` for binary `y`.
///
/// The step-wise (not interpolated) area under the PR curve:
/// `Σ (R[i] − R[i+1]) · P[i]` over [`precision_recall_curve`]'s points, so a
/// group of tied scores enters once with its pooled precision. Errors as
/// [`precision_recall_curve`] does.
pub fn average_precision(y: &[f64], score: &[f64], w: Option<&[f64]>) -> Result<f64, MetricError> {
    let counts = binary_counts("average_precision", y, score, w)?;
    ap_from_counts(&counts, "average_precision")
}

/// Average precision from counts; fails unless positives are present.
pub(crate) fn ap_from_counts(counts: &Counts, metric: &'static str) -> Result<f64, MetricError> {
    counts.require_positives(metric)?;
    let curve = pr_from_counts(counts);
    let (r, p) = (&curve.recall, &curve.precision);
    let mut ap = Sum::default();
    for i in 0..r.len() - 1 {
        ap.add((r[i] - r[i + 1]) * p[i]);
    }
    // sklearn clips a rounding -0.0 to 0.
    Ok(ap.value().max(0.0))
}
