//! Target encoding: the smoothed label mean of each category level
//! (the m-estimate), fitted on all training rows for serving, and the
//! training rows' own out-of-fold values for fitting the model.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

/// The training rows' out-of-fold target encodings, returned by
/// [`fit_pipeline_with_oof`](super::fit_pipeline_with_oof).
///
/// The fitted pipeline encodes a level with the label mean of *all*
/// training rows; a model fitted on those values would see each row's own
/// label inside its feature. So the training rows are split into seeded
/// folds and each row gets the encoding fitted on the other folds only
/// (its prior too). The trainer writes these values over the training rows'
/// features with [`overwrite`](Self::overwrite) before fitting the model;
/// validation, test and serving rows keep the pipeline's values.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TrainEncodings {
    /// The training rows (frame row indices), in the order given to the fit.
    pub rows: Vec<usize>,
    /// The fold of each training row, in the order of `rows` (empty when
    /// nothing is target encoded).
    pub folds: Vec<usize>,
    /// One entry per target-encoded feature.
    pub features: Vec<EncodedFeature>,
}

/// The out-of-fold values of one target-encoded feature.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedFeature {
    /// Position of the feature in the pipeline's feature vector.
    pub index: usize,
    /// The feature's name.
    pub name: String,
    /// One value per training row, in the order of [`TrainEncodings::rows`].
    pub values: Vec<f64>,
}

impl TrainEncodings {
    /// Whether there is nothing to overwrite.
    pub fn is_empty(&self) -> bool {
        self.features.is_empty()
    }

    /// Writes the out-of-fold values into `features`, a row-major matrix
    /// of the whole frame with `width` features per row (as
    /// [`FeaturePipeline::transform_frame`](fathom_model::pipeline::FeaturePipeline::transform_frame)
    /// returns it); other rows and features are left alone.
    ///
    /// `features` must hold every training row (`rows.len() × width` is
    /// not enough: the frame's row indices are used).
    pub fn overwrite(&self, features: &mut [f64], width: usize) {
        for f in &self.features {
            for (&r, &v) in self.rows.iter().zip(&f.values) {
                features[r * width + f.index] = v;
            }
        }
    }
}

/// `(sum_y + m·prior) / (n + m)`, or the prior when there is nothing to
/// weigh.
fn m_estimate(sum: f64, n: f64, m: f64, prior: f64) -> f64 {
    if n + m > 0.0 {
        (sum + m * prior) / (n + m)
    } else {
        prior
    }
}

/// Seeded folds for `n` rows: each row a fold in `0..folds`, the fold
/// sizes differing by at most one. Labels play no part, so changing a
/// label never moves a row to another fold.
pub(super) fn assign_folds(n: usize, folds: usize, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let keys: Vec<u64> = (0..n).map(|_| rng.next_u64()).collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&p| (keys[p], p));
    let mut fold_of = vec![0; n];
    for (rank, &p) in order.iter().enumerate() {
        fold_of[p] = rank % folds;
    }
    fold_of
}

/// Label sums and counts per level (plus totals) of some training rows.
#[derive(Clone)]
struct Tally {
    sum: Vec<f64>,
    count: Vec<f64>,
    total_sum: f64,
    total_count: f64,
}

impl Tally {
    fn new(levels: usize) -> Self {
        Tally {
            sum: vec![0.0; levels],
            count: vec![0.0; levels],
            total_sum: 0.0,
            total_count: 0.0,
        }
    }

    fn add(&mut self, code: Option<usize>, y: f64) {
        if let Some(c) = code {
            self.sum[c] += y;
            self.count[c] += 1.0;
        }
        self.total_sum += y;
        self.total_count += 1.0;
    }

    fn merge(&mut self, other: &Tally) {
        for (a, b) in self.sum.iter_mut().zip(&other.sum) {
            *a += b;
        }
        for (a, b) in self.count.iter_mut().zip(&other.count) {
            *a += b;
        }
        self.total_sum += other.total_sum;
        self.total_count += other.total_count;
    }

    fn prior(&self) -> f64 {
        if self.total_count > 0.0 {
            self.total_sum / self.total_count
        } else {
            0.0
        }
    }

    fn encode(&self, code: Option<usize>, m: f64) -> f64 {
        let prior = self.prior();
        match code {
            Some(c) => m_estimate(self.sum[c], self.count[c], m, prior),
            None => prior,
        }
    }
}

/// A fitted target encoding: what the pipeline stores, and the training
/// rows' out-of-fold values.
pub(super) struct TargetFit {
    /// `means[i]` encodes level `i`.
    pub means: Vec<f64>,
    /// The encoding of unseen and missing levels.
    pub prior: f64,
    /// Out-of-fold value of each training row.
    pub out_of_fold: Vec<f64>,
}

/// Fits the encoding of one column: `codes[p]` is training row `p`'s level
/// (`None`: missing or not a kept level), `y[p]` its label, `fold_of[p]`
/// its fold; `m` is the smoothing.
pub(super) fn fit_target(
    codes: &[Option<usize>],
    y: &[f64],
    levels: usize,
    m: f64,
    fold_of: &[usize],
    folds: usize,
) -> TargetFit {
    let mut per_fold = vec![Tally::new(levels); folds];
    for ((&code, &label), &f) in codes.iter().zip(y).zip(fold_of) {
        per_fold[f].add(code, label);
    }
    // Out of fold f: the tallies of the other folds, merged in fold order,
    // so a row's own label is never part of its value.
    let outside: Vec<Tally> = (0..folds)
        .map(|f| {
            let mut t = Tally::new(levels);
            for (g, tally) in per_fold.iter().enumerate() {
                if g != f {
                    t.merge(tally);
                }
            }
            t
        })
        .collect();
    let out_of_fold = codes
        .iter()
        .zip(fold_of)
        .map(|(&code, &f)| outside[f].encode(code, m))
        .collect();
    let mut all = Tally::new(levels);
    for tally in &per_fold {
        all.merge(tally);
    }
    TargetFit {
        means: (0..levels).map(|c| all.encode(Some(c), m)).collect(),
        prior: all.prior(),
        out_of_fold,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_are_balanced_and_seeded() {
        let a = assign_folds(103, 5, 7);
        let mut sizes = [0usize; 5];
        a.iter().for_each(|&f| sizes[f] += 1);
        assert!(sizes.iter().all(|&s| s == 20 || s == 21), "{sizes:?}");
        assert_eq!(a, assign_folds(103, 5, 7));
        assert_ne!(a, assign_folds(103, 5, 8));
    }

    #[test]
    fn m_estimate_by_hand() {
        // Level 0: labels 1, 1, 0; level 1: 0; one missing row with label 1.
        // prior = 3/5; level 0 with m = 2: (2 + 2·0.6) / (3 + 2) = 0.64.
        let codes = [Some(0), Some(0), Some(0), Some(1), None];
        let y = [1.0, 1.0, 0.0, 0.0, 1.0];
        let fit = fit_target(&codes, &y, 2, 2.0, &[0, 1, 0, 1, 0], 2);
        assert!((fit.prior - 0.6).abs() < 1e-15);
        assert!((fit.means[0] - 0.64).abs() < 1e-15);
        assert!((fit.means[1] - 1.2 / 3.0).abs() < 1e-15);
        // Row 0 (fold 0) sees fold 1 only: rows 1 and 3, prior 0.5,
        // level 0 there: one row with label 1 → (1 + 2·0.5) / (1 + 2).
        assert!((fit.out_of_fold[0] - 2.0 / 3.0).abs() < 1e-15);
    }
}
