//! L2-regularised logistic regression, fitted by Newton's method.
//!
//! The objective is scikit-learn's: `½‖w‖² + C Σᵢ sᵢ · logloss(yᵢ, σ(w·xᵢ + b))`
//! with an unpenalised intercept `b` and per-row weights `sᵢ` (sample
//! weight × class weight). Newton steps with a backtracking line search
//! converge to machine precision in a few iterations for the dozens of
//! features fathom's linear models see.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// How the classes are weighted.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ClassWeight {
    /// Every row counts once.
    #[default]
    None,
    /// Each class weighs `n / (2 · n_class)`, as scikit-learn's "balanced".
    Balanced,
    /// Positive rows weigh this much, negative rows 1.
    Positive(f64),
}

/// Settings of [`fit_logistic`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogisticParams {
    /// Inverse regularisation strength (larger = weaker penalty).
    pub c: f64,
    /// Class weighting.
    pub class_weight: ClassWeight,
    /// Most Newton iterations.
    pub max_iter: usize,
    /// Stop when the largest gradient entry is below this.
    pub tol: f64,
}

impl Default for LogisticParams {
    fn default() -> Self {
        LogisticParams {
            c: 1.0,
            class_weight: ClassWeight::None,
            max_iter: 100,
            tol: 1e-10,
        }
    }
}

/// A fitted logistic regression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticModel {
    /// One coefficient per feature.
    pub coef: Vec<f64>,
    /// The intercept.
    pub intercept: f64,
    /// Newton iterations used.
    pub iterations: usize,
}

impl LogisticModel {
    /// The log-odds of one row.
    pub fn decision(&self, row: &[f64]) -> f64 {
        self.intercept + self.coef.iter().zip(row).map(|(w, x)| w * x).sum::<f64>()
    }

    /// The probability of class 1 for one row.
    pub fn predict(&self, row: &[f64]) -> f64 {
        sigmoid(self.decision(row))
    }
}

/// Why a model could not be fitted.
#[derive(Debug, Error, PartialEq)]
pub enum LinearError {
    /// No rows.
    #[error("the training set is empty")]
    Empty,
    /// Columns of different lengths.
    #[error("feature {feature} has {found} rows but the label has {expected}")]
    Length {
        /// The feature index.
        feature: usize,
        /// Its length.
        found: usize,
        /// The label's length.
        expected: usize,
    },
    /// A label other than 0 or 1.
    #[error("label at row {row} is {value}; logistic regression needs labels 0 or 1")]
    Label {
        /// The row.
        row: usize,
        /// The value.
        value: f64,
    },
    /// Only one class present.
    #[error("every label is {0}; a classifier needs both classes in the training data")]
    SingleClass(f64),
    /// A feature value that is not finite.
    #[error(
        "feature {feature} row {row} is {value}; impute missing values and clip infinities before a linear model"
    )]
    NotFinite {
        /// The feature index.
        feature: usize,
        /// The row.
        row: usize,
        /// The value.
        value: f64,
    },
    /// A setting out of range.
    #[error("invalid setting: {0}")]
    Param(String),
}

/// Rows per parallel chunk when summing gradients.
const CHUNK: usize = 4096;

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        z.exp() / (1.0 + z.exp())
    }
}

/// log(1 + e^z) without overflow.
fn softplus(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

/// Fits on feature columns `x` (each of the label's length), labels `y` in
/// {0, 1} and optional sample weights.
pub fn fit_logistic(
    x: &[Vec<f64>],
    y: &[f64],
    weight: Option<&[f64]>,
    params: &LogisticParams,
) -> Result<LogisticModel, LinearError> {
    let n = y.len();
    if n == 0 {
        return Err(LinearError::Empty);
    }
    if !(params.c > 0.0 && params.c.is_finite()) {
        return Err(LinearError::Param(format!(
            "C is {}, it must be a positive number",
            params.c
        )));
    }
    for (j, col) in x.iter().enumerate() {
        if col.len() != n {
            return Err(LinearError::Length {
                feature: j,
                found: col.len(),
                expected: n,
            });
        }
        if let Some((i, &v)) = col.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(LinearError::NotFinite {
                feature: j,
                row: i,
                value: v,
            });
        }
    }
    if let Some((i, &v)) = y.iter().enumerate().find(|(_, v)| **v != 0.0 && **v != 1.0) {
        return Err(LinearError::Label { row: i, value: v });
    }
    let positives = y.iter().filter(|&&v| v == 1.0).count();
    if positives == 0 || positives == n {
        return Err(LinearError::SingleClass(y[0]));
    }
    let (wpos, wneg) = match params.class_weight {
        ClassWeight::None => (1.0, 1.0),
        ClassWeight::Balanced => (
            n as f64 / (2.0 * positives as f64),
            n as f64 / (2.0 * (n - positives) as f64),
        ),
        ClassWeight::Positive(p) if p > 0.0 && p.is_finite() => (p, 1.0),
        ClassWeight::Positive(p) => {
            return Err(LinearError::Param(format!(
                "positive class weight {p} must be a positive number"
            )));
        }
    };
    let s: Vec<f64> = (0..n)
        .map(|i| params.c * weight.map_or(1.0, |w| w[i]) * if y[i] == 1.0 { wpos } else { wneg })
        .collect();
    let d = x.len();
    let m = d + 1; // coefficients then intercept
    let mut beta = vec![0.0; m];
    let margins = |beta: &[f64]| -> Vec<f64> {
        (0..n)
            .map(|i| beta[d] + (0..d).map(|j| beta[j] * x[j][i]).sum::<f64>())
            .collect()
    };
    let objective = |beta: &[f64], z: &[f64]| -> f64 {
        0.5 * beta[..d].iter().map(|b| b * b).sum::<f64>()
            + (0..n)
                .map(|i| s[i] * (softplus(z[i]) - y[i] * z[i]))
                .sum::<f64>()
    };
    let mut z = margins(&beta);
    let mut f = objective(&beta, &z);
    let mut iterations = 0;
    while iterations < params.max_iter {
        iterations += 1;
        // Gradient and Hessian (lower triangle) summed over fixed row chunks
        // in parallel, then added in chunk order: the same result for any
        // thread count.
        use rayon::prelude::*;
        let partials: Vec<(Vec<f64>, Vec<f64>)> = (0..n.div_ceil(CHUNK))
            .into_par_iter()
            .map(|k| {
                let mut g = vec![0.0; m];
                let mut h = vec![0.0; m * m];
                let mut xi = vec![0.0; m];
                for i in k * CHUNK..((k + 1) * CHUNK).min(n) {
                    for (j, v) in xi[..d].iter_mut().enumerate() {
                        *v = x[j][i];
                    }
                    xi[d] = 1.0;
                    let p = sigmoid(z[i]);
                    let r = s[i] * (p - y[i]);
                    let hw = s[i] * p * (1.0 - p);
                    for a in 0..m {
                        g[a] += r * xi[a];
                        let ha = hw * xi[a];
                        if ha != 0.0 {
                            for (hab, xb) in h[a * m..a * m + a + 1].iter_mut().zip(&xi[..=a]) {
                                *hab += ha * xb;
                            }
                        }
                    }
                }
                (g, h)
            })
            .collect();
        let mut grad = vec![0.0; m];
        let mut hess = vec![0.0; m * m];
        for j in 0..d {
            grad[j] = beta[j];
            hess[j * m + j] = 1.0;
        }
        for (g, h) in &partials {
            grad.iter_mut().zip(g).for_each(|(a, b)| *a += b);
            hess.iter_mut().zip(h).for_each(|(a, b)| *a += b);
        }
        if grad.iter().all(|g| g.abs() < params.tol) {
            break;
        }
        for a in 0..m {
            for b in 0..a {
                hess[b * m + a] = hess[a * m + b];
            }
        }
        let step = solve_spd(&hess, &grad, m).ok_or_else(|| {
            LinearError::Param("the problem is numerically singular; scale the features".into())
        })?;
        let mut t = 1.0;
        loop {
            let trial: Vec<f64> = beta.iter().zip(&step).map(|(b, s)| b - t * s).collect();
            let zt = margins(&trial);
            let ft = objective(&trial, &zt);
            if ft <= f || t < 1e-12 {
                let moved = step.iter().map(|s| (t * s).abs()).fold(0.0, f64::max);
                beta = trial;
                z = zt;
                f = ft;
                if moved < 1e-15 {
                    iterations = params.max_iter;
                }
                break;
            }
            t *= 0.5;
        }
    }
    Ok(LogisticModel {
        coef: beta[..d].to_vec(),
        intercept: beta[d],
        iterations: iterations.min(params.max_iter),
    })
}

/// Solves `A x = b` for symmetric positive-definite `A` (row-major, m × m) by Cholesky.
fn solve_spd(a: &[f64], b: &[f64], m: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; m * m];
    for i in 0..m {
        for j in 0..=i {
            let sum: f64 = (0..j).map(|k| l[i * m + k] * l[j * m + k]).sum();
            if i == j {
                let v = a[i * m + i] - sum;
                if v <= 0.0 || !v.is_finite() {
                    return None;
                }
                l[i * m + j] = v.sqrt();
            } else {
                l[i * m + j] = (a[i * m + j] - sum) / l[j * m + j];
            }
        }
    }
    let mut yv = vec![0.0; m];
    for i in 0..m {
        yv[i] = (b[i] - (0..i).map(|k| l[i * m + k] * yv[k]).sum::<f64>()) / l[i * m + i];
    }
    let mut xv = vec![0.0; m];
    for i in (0..m).rev() {
        xv[i] = (yv[i] - (i + 1..m).map(|k| l[k * m + i] * xv[k]).sum::<f64>()) / l[i * m + i];
    }
    Some(xv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_scikit_learn() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/linear/fixture.json"
        ))
        .unwrap();
        let fx: serde_json::Value = serde_json::from_str(&text).unwrap();
        let rows: Vec<Vec<f64>> = serde_json::from_value(fx["x"].clone()).unwrap();
        let y: Vec<f64> = serde_json::from_value(fx["y"].clone()).unwrap();
        let cols: Vec<Vec<f64>> = (0..rows[0].len())
            .map(|j| rows.iter().map(|r| r[j]).collect())
            .collect();
        for case in fx["cases"].as_array().unwrap() {
            let params = LogisticParams {
                c: case["C"].as_f64().unwrap(),
                class_weight: if case["class_weight"].is_null() {
                    ClassWeight::None
                } else {
                    ClassWeight::Balanced
                },
                ..LogisticParams::default()
            };
            let sw: Option<Vec<f64>> =
                serde_json::from_value(case["sample_weight"].clone()).unwrap();
            let m = fit_logistic(&cols, &y, sw.as_deref(), &params).unwrap();
            let expected: Vec<f64> = serde_json::from_value(case["coef"].clone()).unwrap();
            let name = case["name"].as_str().unwrap();
            // scikit-learn's lbfgs stops at its tolerance; Newton here converges fully.
            for (a, b) in m.coef.iter().zip(&expected) {
                assert!(
                    (a - b).abs() <= 1e-6 * b.abs().max(1.0),
                    "{name}: coef {a} vs {b}"
                );
            }
            let b = case["intercept"].as_f64().unwrap();
            assert!(
                (m.intercept - b).abs() <= 1e-6 * b.abs().max(1.0),
                "{name}: intercept {} vs {b}",
                m.intercept
            );
            assert!(m.iterations < 50, "{name}: {} iterations", m.iterations);
        }
    }

    #[test]
    fn bad_input_is_refused_with_advice() {
        let x = vec![vec![0.0, 1.0, 2.0]];
        let p = LogisticParams::default();
        assert_eq!(
            fit_logistic(&x, &[0.0, 0.0, 0.0], None, &p)
                .unwrap_err()
                .to_string(),
            "every label is 0; a classifier needs both classes in the training data"
        );
        assert_eq!(
            fit_logistic(&x, &[0.0, 2.0, 1.0], None, &p)
                .unwrap_err()
                .to_string(),
            "label at row 1 is 2; logistic regression needs labels 0 or 1"
        );
        let nan = vec![vec![0.0, f64::NAN, 2.0]];
        assert!(
            fit_logistic(&nan, &[0.0, 1.0, 1.0], None, &p)
                .unwrap_err()
                .to_string()
                .contains("impute missing values")
        );
        assert_eq!(
            fit_logistic(&[], &[], None, &p).unwrap_err(),
            LinearError::Empty
        );
        let bad_c = LogisticParams { c: 0.0, ..p };
        assert!(
            fit_logistic(&x, &[0.0, 1.0, 1.0], None, &bad_c)
                .unwrap_err()
                .to_string()
                .contains("C is 0")
        );
    }
}
