//! Gradient-boosted decision trees: histogram-based, leaf-wise, LightGBM-style.
//!
//! [`train`] fits an [`Ensemble`](fathom_model::tree::Ensemble) of regression
//! trees on a [`Dataset`] of numeric and categorical features:
//!
//! 1. [`binning`] maps every feature to at most `max_bin` bins (quantiles
//!    for numeric features, one bin per frequent code for categorical ones)
//!    plus one bin for missing values, stored column-major as `u8` (`u16`
//!    when `max_bin > 255`), `u8` bins also row by row for small leaves;
//!    features with few bins are [`bundle`]d so that one histogram pass
//!    serves several of them;
//! 2. each round, the [`objective`] turns the current raw scores into
//!    gradients and hessians;
//! 3. the [`learner`] grows one tree leaf-wise: it always splits the leaf
//!    whose best split (found by [`split`] on the leaf's [`histogram`]s)
//!    gains most, building the smaller child's histograms and deriving the
//!    larger child's by subtraction;
//! 4. [`boosting`] runs the rounds with bagging, feature fraction and early
//!    stopping on a validation set, and sums split importances.
//!
//! The trees store real-valued thresholds (the upper bound of the split
//! bin), so prediction on raw `f64` rows needs no bin mapper.
//!
//! **Determinism.** The result depends only on the data and the parameters
//! (including `seed`), never on the number of threads: a feature's
//! histogram is the sum, in block order, of fixed blocks of a leaf's rows,
//! each accumulated by one task in row order (whichever layout it reads and
//! whichever group of features it is built with; a bundled feature's is
//! summed out of its bundle's, which is accumulated so); reductions over features
//! break ties by feature index; other sums run over fixed chunks added in
//! order; random draws come from ChaCha8 streams seeded per round.
//!
//! **Speed.** On 1M × 30 rows about half the time goes into histograms:
//! per tree the root's (every row, gradients and hessians only: its row
//! counts are kept from the first tree) and the smaller children's (about
//! as many row × feature updates again, counting). [`bundle`] cuts the
//! number of passes when features have few bins (on the fraud benchmark's
//! 29 features, 20 passes). The rest is partitioning leaves' rows (about
//! 15 %, bound by reading the split feature's bins at scattered rows),
//! gathering small leaves' rows (about 10 %) and the gradients, computed
//! in the same pass as the previous tree's score update (about 12 %). How
//! the [`learner`] reads bins for each leaf, and how [`workers`] keeps the
//! pool's threads at hand between the many short parallel steps of
//! leaf-wise growth, is documented there.

pub mod binning;
pub mod boosting;
pub mod bundle;
pub mod dataset;
pub mod histogram;
pub mod learner;
pub mod objective;
pub mod split;
pub mod workers;

pub use boosting::{TrainOutput, train};
pub use dataset::{Dataset, FeatureValues};

use serde::{Deserialize, Serialize};

/// Training parameters. [`Default`] gives LightGBM's defaults; names and
/// meanings follow LightGBM.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GbdtParams {
    /// Loss to minimise: "binary" (log loss, labels 0/1) or "regression" (L2).
    pub objective: String,
    /// "gbdt" (boosting) or "rf" (random forest: every tree is fitted to
    /// the gradients at the base score on its own row and feature sample,
    /// and the forest averages them; needs bagging or feature sampling).
    pub boosting: String,
    /// Number of boosting rounds (trees).
    pub num_rounds: usize,
    /// Shrinkage applied to every leaf value.
    pub learning_rate: f64,
    /// Maximum number of leaves per tree.
    pub num_leaves: usize,
    /// Maximum tree depth; `-1` (or any value `<= 0`) means no limit.
    pub max_depth: i32,
    /// Minimum number of training rows in a leaf.
    pub min_data_in_leaf: usize,
    /// Minimum sum of hessians in a leaf.
    pub min_sum_hessian_in_leaf: f64,
    /// L1 regularisation of leaf values.
    pub lambda_l1: f64,
    /// L2 regularisation of leaf values.
    pub lambda_l2: f64,
    /// Minimum gain for a split to be made.
    pub min_gain_to_split: f64,
    /// Fraction of features considered by each tree, in (0, 1].
    pub feature_fraction: f64,
    /// Fraction of rows used by each tree when bagging, in (0, 1].
    pub bagging_fraction: f64,
    /// Re-draw the bag every `bagging_freq` rounds; 0 disables bagging.
    pub bagging_freq: usize,
    /// Maximum number of bins per feature (missing values get one more).
    pub max_bin: usize,
    /// Weight multiplier of positive rows for "binary".
    pub scale_pos_weight: f64,
    /// Stop when the validation loss has not improved for this many rounds.
    pub early_stopping_rounds: Option<usize>,
    /// Seed of bagging and feature sampling.
    pub seed: u64,
    /// Maximum number of categories on the left side of a categorical split.
    pub max_cat_threshold: usize,
    /// Smoothing of the gradient/hessian ratio used to order categories;
    /// categories with fewer rows than this are not split on.
    pub cat_smooth: f64,
    /// Extra L2 regularisation for categorical splits.
    pub cat_l2: f64,
    /// Minimum number of rows per group of categories in a categorical split.
    pub min_data_per_group: usize,
    /// Categorical features with at most this many bins use one-vs-rest splits.
    pub max_cat_to_onehot: usize,
}

impl Default for GbdtParams {
    fn default() -> Self {
        GbdtParams {
            objective: "regression".into(),
            boosting: "gbdt".into(),
            num_rounds: 100,
            learning_rate: 0.1,
            num_leaves: 31,
            max_depth: -1,
            min_data_in_leaf: 20,
            min_sum_hessian_in_leaf: 1e-3,
            lambda_l1: 0.0,
            lambda_l2: 0.0,
            min_gain_to_split: 0.0,
            feature_fraction: 1.0,
            bagging_fraction: 1.0,
            bagging_freq: 0,
            max_bin: 255,
            scale_pos_weight: 1.0,
            early_stopping_rounds: None,
            seed: 0,
            max_cat_threshold: 32,
            cat_smooth: 10.0,
            cat_l2: 10.0,
            min_data_per_group: 100,
            max_cat_to_onehot: 4,
        }
    }
}

impl GbdtParams {
    /// Checks every parameter's range.
    pub fn validate(&self) -> Result<(), GbdtError> {
        fn bad(what: String) -> Result<(), GbdtError> {
            Err(GbdtError::InvalidParam(what))
        }
        let finite_nonneg = |name: &str, v: f64| -> Result<(), GbdtError> {
            if !(v.is_finite() && v >= 0.0) {
                return bad(format!("{name} = {v}: must be a finite number >= 0"));
            }
            Ok(())
        };
        if objective::by_name(&self.objective, self).is_none() {
            return bad(format!(
                "objective = {:?}: unknown; use one of {:?}",
                self.objective,
                objective::NAMES
            ));
        }
        match self.boosting.as_str() {
            "gbdt" => {}
            "rf" => {
                let bagging = self.bagging_freq > 0 && self.bagging_fraction < 1.0;
                if !bagging && self.feature_fraction >= 1.0 {
                    return bad("boosting = \"rf\" needs bagging (bagging_fraction < 1 with bagging_freq >= 1) or feature_fraction < 1, or every tree would be the same".into());
                }
            }
            other => {
                return bad(format!(
                    "boosting = {other:?}: unknown; use \"gbdt\" or \"rf\""
                ));
            }
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad(format!(
                "learning_rate = {}: must be > 0 (typically 0.01 to 0.3)",
                self.learning_rate
            ));
        }
        if self.num_leaves < 2 || self.num_leaves > 131_072 {
            return bad(format!(
                "num_leaves = {}: must be between 2 and 131072",
                self.num_leaves
            ));
        }
        if self.max_bin < 2 || self.max_bin > 65_535 {
            return bad(format!(
                "max_bin = {}: must be between 2 and 65535",
                self.max_bin
            ));
        }
        for (name, v) in [
            ("feature_fraction", self.feature_fraction),
            ("bagging_fraction", self.bagging_fraction),
        ] {
            if !(v > 0.0 && v <= 1.0) {
                return bad(format!("{name} = {v}: must be in (0, 1]"));
            }
        }
        finite_nonneg("min_sum_hessian_in_leaf", self.min_sum_hessian_in_leaf)?;
        finite_nonneg("lambda_l1", self.lambda_l1)?;
        finite_nonneg("lambda_l2", self.lambda_l2)?;
        finite_nonneg("min_gain_to_split", self.min_gain_to_split)?;
        finite_nonneg("cat_smooth", self.cat_smooth)?;
        finite_nonneg("cat_l2", self.cat_l2)?;
        if !(self.scale_pos_weight.is_finite() && self.scale_pos_weight > 0.0) {
            return bad(format!(
                "scale_pos_weight = {}: must be > 0",
                self.scale_pos_weight
            ));
        }
        if self.max_cat_threshold == 0 {
            return bad("max_cat_threshold = 0: must be >= 1".into());
        }
        if self.early_stopping_rounds == Some(0) {
            return bad("early_stopping_rounds = 0: must be >= 1, or unset".into());
        }
        Ok(())
    }
}

/// Why training could not run. Each message says what is wrong and what to do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GbdtError {
    /// The training set has no rows.
    #[error("the training set is empty: provide at least one row")]
    EmptyTrainingSet,
    /// Row indices are 32-bit.
    #[error("the training set has {0} rows, more than 4,294,967,294: train on a sample")]
    TooManyRows(usize),
    /// The training set has no feature column.
    #[error("the training set has no feature: provide at least one feature column")]
    NoFeatures,
    /// "binary" needs both classes.
    #[error(
        "the binary objective needs both classes, but every label is {0}: check the label column or the filter that produced the data"
    )]
    SingleClass(f64),
    /// "binary" needs labels 0 or 1.
    #[error(
        "the binary objective needs labels 0 or 1, but row {row} has label {value}: recode the target to 0/1"
    )]
    LabelNotBinary {
        /// First offending row.
        row: usize,
        /// Its label.
        value: f64,
    },
    /// Labels must be finite.
    #[error(
        "{set} label at row {row} is {value}: labels must be finite; drop or impute those rows"
    )]
    NonFiniteLabel {
        /// "training" or "validation".
        set: &'static str,
        /// First offending row.
        row: usize,
        /// Its label.
        value: f64,
    },
    /// Weights must be finite and non-negative, with a positive sum.
    #[error("{set} weights are invalid: {what}")]
    InvalidWeight {
        /// "training" or "validation".
        set: &'static str,
        /// What is wrong.
        what: String,
    },
    /// A column's length differs from the label's.
    #[error(
        "{set} column {column:?} has {len} values but the label has {expected}: all columns must have one value per row"
    )]
    LengthMismatch {
        /// "training" or "validation".
        set: &'static str,
        /// Offending column ("weight" for the weights).
        column: String,
        /// Its length.
        len: usize,
        /// The label's length.
        expected: usize,
    },
    /// The validation set does not have the training set's features.
    #[error(
        "validation set does not match the training set: {0}; give it the same feature columns in the same order"
    )]
    ValidationMismatch(String),
    /// A parameter is out of range.
    #[error("invalid GBDT parameter {0}")]
    InvalidParam(String),
}
