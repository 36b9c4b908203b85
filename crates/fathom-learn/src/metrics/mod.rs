//! Evaluation metrics for binary classification and regression, numerically
//! equal to scikit-learn's (checked to 1e-9 relative on committed fixtures,
//! see `tests/fixtures/metrics/make_fixture.py`).
//!
//! Conventions shared by every function here:
//!
//! * Labels `y` are `f64` and must be exactly `0.0` or `1.0`; `1.0` is the
//!   positive class.
//! * Scores and probabilities must be finite (scikit-learn rejects NaN and
//!   infinities too). Probabilities (log-loss, Brier, calibration) must lie
//!   in `[0, 1]`.
//! * Sample weights `w` are optional; when given they must be finite and
//!   non-negative with a positive total. As in scikit-learn, zero-weight
//!   samples are dropped before curves are built, so they never create a
//!   threshold.
//! * A sample is predicted positive at threshold `t` when `score >= t`. This
//!   is the convention of scikit-learn's curves: the counts reported for a
//!   threshold taken from [`roc_curve`] or [`precision_recall_curve`] are
//!   exactly those of [`confusion_at`] at that threshold.
//! * Ratios that are undefined (0/0) are 0, like scikit-learn's
//!   `zero_division=0`.
//!
//! Modules: [`ranking`] (ROC/PR curves, AUC, average precision),
//! [`threshold`] (confusion counts and threshold choice), [`calibration`]
//! (log-loss, Brier score, calibration table), [`regression`] (MAE, RMSE,
//! R²) and [`report`] (serialisable bundles of the above).

pub mod calibration;
pub mod ranking;
pub mod regression;
pub mod report;
pub mod threshold;

#[cfg(test)]
mod tests;

pub use calibration::{BinStrategy, CalibrationBin, brier_score, calibration_table, log_loss};
pub use ranking::{Curve, PrCurve, average_precision, precision_recall_curve, roc_auc, roc_curve};
pub use regression::{RegressionReport, mae, r2, regression_report, rmse};
pub use report::{BinaryReport, binary_report};
pub use threshold::{Confusion, ThresholdChoice, ThresholdRule, choose_threshold, confusion_at};

/// Why a metric could not be computed. Each message says what was wrong and
/// what to do about it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MetricError {
    /// An input does not have one value per sample.
    #[error(
        "length mismatch: `{what}` has {got} values but `y` has {expected}; pass exactly one value per sample"
    )]
    LengthMismatch {
        /// Name of the offending input (`score`, `p`, `pred` or `w`).
        what: &'static str,
        /// Number of samples in `y`.
        expected: usize,
        /// Number of values in the offending input.
        got: usize,
    },
    /// No samples at all.
    #[error("empty input: {metric} needs at least one sample; evaluate on a non-empty set")]
    Empty {
        /// The metric that was asked for.
        metric: &'static str,
    },
    /// Only one class is present where both are needed.
    #[error(
        "only class {present} is present in `y` (after dropping zero-weight samples): {metric} needs {needs}; evaluate on a set that contains both classes (e.g. a stratified split)"
    )]
    SingleClass {
        /// The metric that was asked for.
        metric: &'static str,
        /// The one class that is present (0 or 1).
        present: u8,
        /// What the metric needs, e.g. "both a 0 and a 1 label".
        needs: &'static str,
    },
    /// A label is neither 0 nor 1.
    #[error(
        "label y[{index}] = {value} is not 0 or 1; encode the positive class as 1.0 and the negative class as 0.0"
    )]
    LabelNotBinary {
        /// Position of the first offending label.
        index: usize,
        /// Its value.
        value: f64,
    },
    /// A score, probability, target or prediction is NaN or infinite.
    #[error(
        "{what}[{index}] = {value} is not finite; drop or impute NaN and infinite values before computing metrics"
    )]
    NonFinite {
        /// Name of the offending input.
        what: &'static str,
        /// Position of the first offending value.
        index: usize,
        /// Its value.
        value: f64,
    },
    /// A probability lies outside `[0, 1]`.
    #[error(
        "p[{index}] = {value} is outside [0, 1]; pass probabilities (e.g. apply a sigmoid to raw margins)"
    )]
    ProbabilityOutOfRange {
        /// Position of the first offending value.
        index: usize,
        /// Its value.
        value: f64,
    },
    /// A sample weight is negative, NaN or infinite.
    #[error("weight w[{index}] = {value} is invalid; sample weights must be finite and >= 0")]
    InvalidWeight {
        /// Position of the first offending weight.
        index: usize,
        /// Its value.
        value: f64,
    },
    /// All sample weights are zero.
    #[error("sample weights sum to zero; give at least one sample a positive weight")]
    ZeroTotalWeight,
    /// A parameter (bin count, target rate) is out of its range.
    #[error("invalid parameter {name} = {value}: {expected}")]
    InvalidParameter {
        /// Parameter name.
        name: &'static str,
        /// Its value, as given.
        value: f64,
        /// What it must be.
        expected: &'static str,
    },
    /// No threshold satisfies a [`ThresholdRule`].
    #[error(
        "no threshold reaches {what} >= {target} (the best is {best}); lower the target or improve the model"
    )]
    TargetUnreachable {
        /// `precision` or `recall`.
        what: &'static str,
        /// The requested target.
        target: f64,
        /// The best value over all thresholds.
        best: f64,
    },
}

/// Compensated (Neumaier) sum: accurate to about one rounding of the exact
/// sum, independent of the order of the terms in all but adversarial cases.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sum {
    sum: f64,
    compensation: f64,
}

impl Sum {
    /// Adds one term.
    pub(crate) fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.compensation += (self.sum - t) + x;
        } else {
            self.compensation += (x - t) + self.sum;
        }
        self.sum = t;
    }

    /// The sum so far.
    pub(crate) fn value(&self) -> f64 {
        self.sum + self.compensation
    }
}

/// Compensated sum of an iterator of terms.
pub(crate) fn sum(terms: impl IntoIterator<Item = f64>) -> f64 {
    let mut s = Sum::default();
    for x in terms {
        s.add(x);
    }
    s.value()
}

/// `numerator / denominator`, or 0 when the denominator is 0 (sklearn's
/// `zero_division=0`).
pub(crate) fn ratio(numerator: f64, denominator: f64) -> f64 {
    if denominator == 0.0 {
        0.0
    } else {
        numerator / denominator
    }
}

/// Fails on empty `y` and on inputs whose length differs from `y`'s.
pub(crate) fn check_lengths(
    metric: &'static str,
    n: usize,
    others: &[(&'static str, usize)],
) -> Result<(), MetricError> {
    if n == 0 {
        return Err(MetricError::Empty { metric });
    }
    for &(what, got) in others {
        if got != n {
            return Err(MetricError::LengthMismatch {
                what,
                expected: n,
                got,
            });
        }
    }
    Ok(())
}

/// Fails on the first label that is not exactly 0.0 or 1.0.
pub(crate) fn check_labels(y: &[f64]) -> Result<(), MetricError> {
    match y.iter().position(|&v| v != 0.0 && v != 1.0) {
        Some(index) => Err(MetricError::LabelNotBinary {
            index,
            value: y[index],
        }),
        None => Ok(()),
    }
}

/// Fails on the first NaN or infinite value.
pub(crate) fn check_finite(what: &'static str, values: &[f64]) -> Result<(), MetricError> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(MetricError::NonFinite {
            what,
            index,
            value: values[index],
        }),
        None => Ok(()),
    }
}

/// Fails on the first non-finite value or value outside `[0, 1]`.
pub(crate) fn check_probabilities(p: &[f64]) -> Result<(), MetricError> {
    check_finite("p", p)?;
    match p.iter().position(|&v| !(0.0..=1.0).contains(&v)) {
        Some(index) => Err(MetricError::ProbabilityOutOfRange {
            index,
            value: p[index],
        }),
        None => Ok(()),
    }
}

/// Fails on a negative or non-finite weight, or weights summing to zero.
pub(crate) fn check_weights(w: Option<&[f64]>) -> Result<(), MetricError> {
    let Some(w) = w else { return Ok(()) };
    if let Some(index) = w.iter().position(|&v| !(v.is_finite() && v >= 0.0)) {
        return Err(MetricError::InvalidWeight {
            index,
            value: w[index],
        });
    }
    if w.iter().all(|&v| v == 0.0) {
        return Err(MetricError::ZeroTotalWeight);
    }
    Ok(())
}

/// Weighted mean of `values` (weights `w`, or 1), as `sum(v·w) / sum(w)`
/// with compensated sums (numpy's `average`).
pub(crate) fn weighted_mean(values: impl Iterator<Item = f64>, w: Option<&[f64]>) -> f64 {
    match w {
        None => {
            let mut n = 0usize;
            let s = sum(values.inspect(|_| n += 1));
            s / n as f64
        }
        Some(w) => sum(values.zip(w).map(|(v, &wi)| v * wi)) / sum(w.iter().copied()),
    }
}
