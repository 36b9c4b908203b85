//! Probabilistic metrics: log-loss, Brier score and the calibration
//! (reliability) table.

use serde::{Deserialize, Serialize};

use super::{
    MetricError, Sum, check_labels, check_lengths, check_probabilities, check_weights,
    weighted_mean,
};

/// Validates `y`, probabilities `p` and optional weights.
fn check_probabilistic(
    metric: &'static str,
    y: &[f64],
    p: &[f64],
    w: Option<&[f64]>,
) -> Result<(), MetricError> {
    let mut lengths = vec![("p", p.len())];
    if let Some(w) = w {
        lengths.push(("w", w.len()));
    }
    check_lengths(metric, y.len(), &lengths)?;
    check_labels(y)?;
    check_probabilities(p)?;
    check_weights(w)
}

/// Mean negative log-likelihood of the labels under probabilities `p` of the
/// positive class (natural log), as `sklearn.metrics.log_loss(y, p,
/// sample_weight=w, labels=[0, 1])`.
///
/// As in current scikit-learn (checked on 1.9.1), the probability given to the observed class
/// (`p` for 1, `1 − p` for 0) is clipped to `[ε, 1 − ε]` with
/// `ε = f64::EPSILON`, so a confident wrong prediction costs about 36.04
/// rather than infinity, and a perfect one costs `−ln(1 − ε) ≈ 2.2e-16`.
///
/// One class alone is fine (scikit-learn needs `labels=[0, 1]` for that).
/// Errors on `p` outside `[0, 1]` or non-finite, invalid labels, invalid
/// weights or mismatched lengths.
pub fn log_loss(y: &[f64], p: &[f64], w: Option<&[f64]>) -> Result<f64, MetricError> {
    check_probabilistic("log_loss", y, p, w)?;
    let eps = f64::EPSILON;
    let losses = y.iter().zip(p).map(|(&yi, &pi)| {
        // sklearn forms the two columns [1 - p, p], clips both, and takes the
        // log of the observed one.
        let q = if yi == 1.0 { pi } else { 1.0 - pi };
        -q.clamp(eps, 1.0 - eps).ln()
    });
    Ok(weighted_mean(losses, w))
}

/// Brier score: mean squared difference between the label and `p`, as
/// `sklearn.metrics.brier_score_loss(y, p, sample_weight=w)`.
///
/// Computed the way scikit-learn 1.9 does for binary input: half the mean
/// over samples of `(y − p)² + ((1 − y) − (1 − p))²`, which equals
/// `mean((y − p)²)` up to rounding. Errors as [`log_loss`] does.
pub fn brier_score(y: &[f64], p: &[f64], w: Option<&[f64]>) -> Result<f64, MetricError> {
    check_probabilistic("brier_score", y, p, w)?;
    let terms = y.iter().zip(p).map(|(&yi, &pi)| {
        let pos = yi - pi;
        let neg = (1.0 - yi) - (1.0 - pi);
        neg * neg + pos * pos
    });
    Ok(weighted_mean(terms, w) * 0.5)
}

/// How [`calibration_table`] places its bin edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BinStrategy {
    /// Equal-width bins over `[0, 1]` (edges `k / bins`, numpy's
    /// `linspace(0, 1, bins + 1)`).
    Uniform,
    /// Bins with (about) equal numbers of samples: edges are the
    /// `k / bins` quantiles of `p` with linear interpolation (numpy's
    /// default `percentile`). Tied probabilities can make edges coincide,
    /// leaving empty bins, which are dropped.
    Quantile,
}

/// One non-empty bin of a calibration table.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    /// Lower edge. A sample equal to an inner edge belongs to the bin below
    /// it, so bins are `(lower, upper]` except the first, which is
    /// `[lower, upper]`.
    pub lower: f64,
    /// Upper edge.
    pub upper: f64,
    /// Number of samples in the bin (at least 1).
    pub count: usize,
    /// Mean predicted probability in the bin (sklearn's `prob_pred`).
    pub mean_predicted: f64,
    /// Fraction of positives in the bin (sklearn's `prob_true`).
    pub fraction_positive: f64,
}

/// The calibration (reliability) table: per bin of predicted probability,
/// the mean prediction and the observed fraction of positives, as
/// `sklearn.calibration.calibration_curve(y, p, n_bins=bins,
/// strategy=...)`, whose `prob_pred` / `prob_true` are
/// [`CalibrationBin::mean_predicted`] / [`CalibrationBin::fraction_positive`].
///
/// Bins are assigned exactly as scikit-learn does (same edges, a sample on
/// an inner edge goes to the lower bin) and empty bins are dropped, so the
/// table may have fewer than `bins` rows. Unweighted, like scikit-learn's.
/// One class alone is fine. Errors when `bins` is 0, on `p` outside
/// `[0, 1]` or non-finite, invalid labels or mismatched lengths.
pub fn calibration_table(
    y: &[f64],
    p: &[f64],
    bins: usize,
    strategy: BinStrategy,
) -> Result<Vec<CalibrationBin>, MetricError> {
    check_probabilistic("calibration_table", y, p, None)?;
    if bins == 0 {
        return Err(MetricError::InvalidParameter {
            name: "bins",
            value: 0.0,
            expected: "must be at least 1",
        });
    }
    let edges = match strategy {
        BinStrategy::Uniform => uniform_edges(bins),
        BinStrategy::Quantile => quantile_edges(p, bins),
    };
    let inner = &edges[1..bins];
    let mut count = vec![0usize; bins];
    let mut predicted = vec![Sum::default(); bins];
    let mut positive = vec![Sum::default(); bins];
    for (&yi, &pi) in y.iter().zip(p) {
        // numpy's searchsorted(inner, p, side="left").
        let k = inner.partition_point(|&e| e < pi);
        count[k] += 1;
        predicted[k].add(pi);
        positive[k].add(yi);
    }
    Ok((0..bins)
        .filter(|&k| count[k] > 0)
        .map(|k| CalibrationBin {
            lower: edges[k],
            upper: edges[k + 1],
            count: count[k],
            mean_predicted: predicted[k].value() / count[k] as f64,
            fraction_positive: positive[k].value() / count[k] as f64,
        })
        .collect())
}

/// numpy's `linspace(0, 1, bins + 1)`: `k · (1 / bins)`, last exactly 1.
fn linspace01(bins: usize) -> Vec<f64> {
    let step = 1.0 / bins as f64;
    let mut edges: Vec<f64> = (0..=bins).map(|k| k as f64 * step + 0.0).collect();
    edges[bins] = 1.0;
    edges
}

/// Edges of [`BinStrategy::Uniform`].
fn uniform_edges(bins: usize) -> Vec<f64> {
    linspace01(bins)
}

/// Edges of [`BinStrategy::Quantile`]: numpy's
/// `percentile(p, linspace(0, 1, bins + 1) * 100)`, reproduced operation by
/// operation (the `* 100 / 100` round trip and numpy's two-sided linear
/// interpolation) so that an edge equal to a sample is bit-identical.
fn quantile_edges(p: &[f64], bins: usize) -> Vec<f64> {
    let mut sorted = p.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let last = (n - 1) as f64;
    linspace01(bins)
        .into_iter()
        .map(|q| {
            let q = q * 100.0 / 100.0;
            let virtual_index = last * q;
            if virtual_index >= last {
                return sorted[n - 1];
            }
            let below = virtual_index.floor();
            let gamma = virtual_index - below;
            // `below` is in [0, n - 2] here, so the cast is exact.
            let i = below as usize;
            let (a, b) = (sorted[i], sorted[i + 1]);
            let diff = b - a;
            if gamma >= 0.5 {
                b - diff * (1.0 - gamma)
            } else {
                a + diff * gamma
            }
        })
        .collect()
}
