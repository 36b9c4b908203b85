//! Losses: gradients, hessians, initial score and evaluation loss.
//!
//! Objectives are looked up by name with [`by_name`]; [`NAMES`] lists them.

use std::sync::atomic::{AtomicU32, Ordering};

use rayon::prelude::*;

use super::{GbdtError, GbdtParams};

/// Names accepted by [`by_name`].
pub const NAMES: &[&str] = &["binary", "regression"];

/// Rows per task when computing gradients and losses. Fixed, so sums are
/// added in the same order whatever the thread count.
const CHUNK: usize = 8192;

/// A differentiable loss on raw scores.
pub trait Objective: Send + Sync {
    /// Registry name.
    fn name(&self) -> &'static str;
    /// Rejects labels this loss cannot use (`set` names the set).
    fn check_labels(
        &self,
        label: &[f64],
        set: &'static str,
        training: bool,
    ) -> Result<(), GbdtError>;
    /// The constant raw score that best fits the labels.
    fn init_score(&self, label: &[f64], weight: Option<&[f64]>) -> f64;
    /// Gradient and hessian of one row's loss at raw score `score`.
    fn grad_hess(&self, label: f64, score: f64) -> (f64, f64);
    /// Loss of one row at raw score `score` (unweighted).
    fn loss(&self, label: f64, score: f64) -> f64;

    /// Fills `out[i] = [gradient, hessian]` (times the row weight).
    fn gradients(
        &self,
        label: &[f64],
        weight: Option<&[f64]>,
        score: &[f64],
        out: &mut [[f32; 2]],
    ) {
        out.par_chunks_mut(CHUNK)
            .zip(score.par_chunks(CHUNK))
            .enumerate()
            .for_each(|(c, (o, s))| {
                let base = c * CHUNK;
                let label = &label[base..base + o.len()];
                let weight = weight.map(|w| &w[base..base + o.len()]);
                self.fill(label, weight, s, o);
            });
    }

    /// Adds the new tree's output to every row's score, `score[i] +=
    /// values[leaf[i]]`, and fills `out` with the gradients at the new
    /// scores, as [`Objective::gradients`] would after the update: the
    /// same numbers, in one pass over the rows.
    fn update_gradients(
        &self,
        label: &[f64],
        weight: Option<&[f64]>,
        score: &mut [f64],
        leaf: &[AtomicU32],
        values: &[f64],
        out: &mut [[f32; 2]],
    ) {
        out.par_chunks_mut(CHUNK)
            .zip(score.par_chunks_mut(CHUNK))
            .enumerate()
            .for_each(|(c, (o, s))| {
                let base = c * CHUNK;
                for (s, l) in s.iter_mut().zip(&leaf[base..base + o.len()]) {
                    *s += values[l.load(Ordering::Relaxed) as usize];
                }
                let label = &label[base..base + o.len()];
                let weight = weight.map(|w| &w[base..base + o.len()]);
                self.fill(label, weight, s, o);
            });
    }

    /// Gradients of one chunk of rows (all slices of one length).
    #[inline]
    fn fill(&self, label: &[f64], weight: Option<&[f64]>, score: &[f64], out: &mut [[f32; 2]]) {
        match weight {
            None => {
                for ((o, &y), &s) in out.iter_mut().zip(label).zip(score) {
                    let (g, h) = self.grad_hess(y, s);
                    *o = [g as f32, h as f32];
                }
            }
            Some(w) => {
                for (((o, &y), &s), &w) in out.iter_mut().zip(label).zip(score).zip(w) {
                    let (g, h) = self.grad_hess(y, s);
                    *o = [(g * w) as f32, (h * w) as f32];
                }
            }
        }
    }

    /// Weighted mean loss over a data set.
    fn mean_loss(&self, label: &[f64], weight: Option<&[f64]>, score: &[f64]) -> f64 {
        let parts: Vec<(f64, f64)> = label
            .par_chunks(CHUNK)
            .enumerate()
            .map(|(c, l)| {
                let base = c * CHUNK;
                let mut s = 0.0;
                let mut sw = 0.0;
                for (j, &y) in l.iter().enumerate() {
                    let i = base + j;
                    let w = weight.map_or(1.0, |w| w[i]);
                    s += w * self.loss(y, score[i]);
                    sw += w;
                }
                (s, sw)
            })
            .collect();
        let (s, sw) = parts.iter().fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
        if sw > 0.0 { s / sw } else { 0.0 }
    }
}

/// The objective called `name`, configured from `params`.
pub fn by_name(name: &str, params: &GbdtParams) -> Option<Box<dyn Objective>> {
    match name {
        "binary" => Some(Box::new(Binary {
            scale_pos_weight: params.scale_pos_weight,
        })),
        "regression" => Some(Box::new(Regression)),
        _ => None,
    }
}

fn weighted_mean(label: &[f64], weight: Option<&[f64]>) -> f64 {
    let (mut s, mut sw) = (0.0, 0.0);
    for (i, &y) in label.iter().enumerate() {
        let w = weight.map_or(1.0, |w| w[i]);
        s += w * y;
        sw += w;
    }
    if sw > 0.0 { s / sw } else { 0.0 }
}

/// Log loss for labels 0/1 on log-odds scores; positives weigh
/// `scale_pos_weight` times more in the gradients.
#[derive(Clone, Debug)]
pub struct Binary {
    /// Extra weight of positive rows.
    pub scale_pos_weight: f64,
}

impl Objective for Binary {
    fn name(&self) -> &'static str {
        "binary"
    }

    fn check_labels(
        &self,
        label: &[f64],
        set: &'static str,
        training: bool,
    ) -> Result<(), GbdtError> {
        let _ = set;
        if let Some((row, &value)) = label
            .iter()
            .enumerate()
            .find(|(_, v)| **v != 0.0 && **v != 1.0)
        {
            return Err(GbdtError::LabelNotBinary { row, value });
        }
        if training
            && let Some(&first) = label.first()
            && label.iter().all(|&v| v == first)
        {
            return Err(GbdtError::SingleClass(first));
        }
        Ok(())
    }

    /// Log-odds of the weighted positive rate (as LightGBM, without
    /// `scale_pos_weight`).
    fn init_score(&self, label: &[f64], weight: Option<&[f64]>) -> f64 {
        let p = weighted_mean(label, weight).clamp(1e-15, 1.0 - 1e-15);
        (p / (1.0 - p)).ln()
    }

    #[inline]
    fn grad_hess(&self, label: f64, score: f64) -> (f64, f64) {
        let p = 1.0 / (1.0 + (-score).exp());
        let w = if label > 0.5 {
            self.scale_pos_weight
        } else {
            1.0
        };
        ((p - label) * w, (p * (1.0 - p)).max(1e-16) * w)
    }

    fn loss(&self, label: f64, score: f64) -> f64 {
        // log(1 + e^-s) for y = 1, log(1 + e^s) for y = 0, computed stably.
        let z = if label > 0.5 { -score } else { score };
        if z > 0.0 {
            z + (-z).exp().ln_1p()
        } else {
            z.exp().ln_1p()
        }
    }
}

/// Squared error; the evaluation loss is the mean squared error.
#[derive(Clone, Debug)]
pub struct Regression;

impl Objective for Regression {
    fn name(&self) -> &'static str {
        "regression"
    }

    fn check_labels(
        &self,
        _label: &[f64],
        _set: &'static str,
        _training: bool,
    ) -> Result<(), GbdtError> {
        Ok(())
    }

    fn init_score(&self, label: &[f64], weight: Option<&[f64]>) -> f64 {
        weighted_mean(label, weight)
    }

    #[inline]
    fn grad_hess(&self, label: f64, score: f64) -> (f64, f64) {
        (score - label, 1.0)
    }

    fn loss(&self, label: f64, score: f64) -> f64 {
        (score - label) * (score - label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_gradients_and_loss() {
        let o = Binary {
            scale_pos_weight: 2.0,
        };
        let (g, h) = o.grad_hess(1.0, 0.0);
        assert_eq!((g, h), (-1.0, 0.5));
        assert!((o.loss(1.0, 0.0) - 2f64.ln()).abs() < 1e-12);
        assert!(o.loss(0.0, 800.0).is_finite());
        assert!((o.init_score(&[1.0, 0.0, 0.0, 0.0], None) - (1.0f64 / 3.0).ln()).abs() < 1e-12);
        assert!(matches!(
            o.check_labels(&[0.0, 2.0], "training", true),
            Err(GbdtError::LabelNotBinary { row: 1, .. })
        ));
        assert_eq!(
            o.check_labels(&[1.0, 1.0], "training", true),
            Err(GbdtError::SingleClass(1.0))
        );
        assert!(by_name("nope", &GbdtParams::default()).is_none());
    }

    #[test]
    fn update_and_gradients_in_one_pass_equal_the_two_passes() {
        // Three chunks, the last partial; with and without weights.
        let n = 2 * CHUNK + 100;
        let label: Vec<f64> = (0..n).map(|i| (i % 7 == 0) as u8 as f64).collect();
        let weight: Vec<f64> = (0..n).map(|i| 0.5 + (i % 3) as f64).collect();
        let score: Vec<f64> = (0..n).map(|i| (i % 101) as f64 / 10.0 - 5.0).collect();
        let leaf: Vec<AtomicU32> = (0..n).map(|i| AtomicU32::new((i % 5) as u32)).collect();
        let values = [0.25, -0.5, 0.125, 1.0, -2.0];
        let objectives: [Box<dyn Objective>; 2] = [
            Box::new(Binary {
                scale_pos_weight: 3.0,
            }),
            Box::new(Regression),
        ];
        for o in &objectives {
            for w in [None, Some(weight.as_slice())] {
                let mut two = score.clone();
                for (s, l) in two.iter_mut().zip(&leaf) {
                    *s += values[l.load(Ordering::Relaxed) as usize];
                }
                let mut want = vec![[0f32; 2]; n];
                o.gradients(&label, w, &two, &mut want);
                let mut one = score.clone();
                let mut got = vec![[0f32; 2]; n];
                o.update_gradients(&label, w, &mut one, &leaf, &values, &mut got);
                assert_eq!(one, two, "{}", o.name());
                assert_eq!(got, want, "{}", o.name());
                // And the gradients are the per-row formula's.
                let (g, h) = o.grad_hess(label[n - 1], two[n - 1]);
                let wn = w.map_or(1.0, |w| w[n - 1]);
                assert_eq!(got[n - 1], [(g * wn) as f32, (h * wn) as f32]);
            }
        }
    }
}
