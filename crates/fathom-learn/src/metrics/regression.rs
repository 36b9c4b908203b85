//! Regression metrics: MAE, RMSE and R², as scikit-learn computes them.

use serde::{Deserialize, Serialize};

use super::{MetricError, check_finite, check_lengths, check_weights, sum, weighted_mean};

/// Validates targets `y`, predictions `pred` and optional weights.
fn check_regression(
    metric: &'static str,
    y: &[f64],
    pred: &[f64],
    w: Option<&[f64]>,
) -> Result<(), MetricError> {
    let mut lengths = vec![("pred", pred.len())];
    if let Some(w) = w {
        lengths.push(("w", w.len()));
    }
    check_lengths(metric, y.len(), &lengths)?;
    check_finite("y", y)?;
    check_finite("pred", pred)?;
    check_weights(w)
}

/// Mean absolute error, as `sklearn.metrics.mean_absolute_error(y, pred,
/// sample_weight=w)`.
///
/// Errors on empty or non-finite input, invalid weights or mismatched
/// lengths.
pub fn mae(y: &[f64], pred: &[f64], w: Option<&[f64]>) -> Result<f64, MetricError> {
    check_regression("mae", y, pred, w)?;
    Ok(weighted_mean(
        y.iter().zip(pred).map(|(&a, &b)| (b - a).abs()),
        w,
    ))
}

/// Root mean squared error, as `sklearn.metrics.root_mean_squared_error(y,
/// pred, sample_weight=w)`.
///
/// Errors as [`mae`] does.
pub fn rmse(y: &[f64], pred: &[f64], w: Option<&[f64]>) -> Result<f64, MetricError> {
    check_regression("rmse", y, pred, w)?;
    let mse = weighted_mean(y.iter().zip(pred).map(|(&a, &b)| (a - b) * (a - b)), w);
    Ok(mse.sqrt())
}

/// Coefficient of determination, as `sklearn.metrics.r2_score(y, pred,
/// sample_weight=w)` (default `force_finite=True`):
/// `1 − Σw(y − pred)² / Σw(y − ȳ)²`, with ȳ the weighted mean.
///
/// Special cases, as in scikit-learn:
/// * perfect predictions give 1.0, even when `y` is constant;
/// * constant `y` with imperfect predictions gives 0.0 (not −∞). Constancy
///   is detected exactly (all `y` with non-zero weight are equal), so a
///   constant like 0.1, whose floating-point mean is not exactly 0.1, is
///   still recognised (scikit-learn would get a tiny non-zero denominator
///   there and a huge negative score);
/// * fewer than two samples give NaN (scikit-learn warns that R² is not
///   well-defined).
///
/// Errors as [`mae`] does.
pub fn r2(y: &[f64], pred: &[f64], w: Option<&[f64]>) -> Result<f64, MetricError> {
    check_regression("r2", y, pred, w)?;
    if y.len() < 2 {
        return Ok(f64::NAN);
    }
    let weight = |i: usize| w.map_or(1.0, |w| w[i]);
    let squared = |d: f64| d * d;
    let numerator = sum((0..y.len()).map(|i| weight(i) * squared(y[i] - pred[i])));
    let mut weighted_y = (0..y.len()).filter(|&i| weight(i) != 0.0).map(|i| y[i]);
    let first = weighted_y.next();
    let constant = weighted_y.all(|v| Some(v) == first);
    let denominator = if constant {
        0.0
    } else {
        let mean = weighted_mean(y.iter().copied(), w);
        sum((0..y.len()).map(|i| weight(i) * squared(y[i] - mean)))
    };
    Ok(if numerator == 0.0 {
        1.0
    } else if denominator == 0.0 {
        0.0
    } else {
        1.0 - numerator / denominator
    })
}

/// MAE, RMSE and R² of one set of predictions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RegressionReport {
    /// Mean absolute error ([`mae`]).
    pub mae: f64,
    /// Root mean squared error ([`rmse`]).
    pub rmse: f64,
    /// Coefficient of determination ([`r2`]); NaN for fewer than two
    /// samples (which serde_json writes as `null`).
    pub r2: f64,
}

/// Computes a [`RegressionReport`]. Errors as [`mae`] does.
pub fn regression_report(
    y: &[f64],
    pred: &[f64],
    w: Option<&[f64]>,
) -> Result<RegressionReport, MetricError> {
    Ok(RegressionReport {
        mae: mae(y, pred, w)?,
        rmse: rmse(y, pred, w)?,
        r2: r2(y, pred, w)?,
    })
}
