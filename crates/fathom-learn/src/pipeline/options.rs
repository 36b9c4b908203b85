//! The choices a feature pipeline is fitted with: the `[features]` table
//! of `fathom.toml`.
//!
//! ```toml
//! [features]
//! impute = { method = "median" }          # median | mean | constant (value = …)
//! missing_indicator = "auto"              # auto | never | when_missing | always
//! clip = { method = "iqr", k = 1.5 }      # none | range | iqr (k) | quantiles (lo, hi)
//! max_levels = 1000
//! linear_encoding = { method = "target", smoothing = 10.0, folds = 5 }   # or one_hot
//!
//! [[features.derived]]
//! name = "amount_log"
//! op = "log1p"                            # log1p | ratio | difference | product | frequency
//! of = "amount"
//!
//! [[features.derived]]
//! name = "amount_to_avg"
//! op = "ratio"
//! of = ["amount", "avg_amount"]
//! ```

use super::PipelineError;
use serde::{Deserialize, Deserializer, Serialize};

/// Choices for [`fit_pipeline`](super::fit_pipeline) and
/// [`fit_pipeline_with_oof`](super::fit_pipeline_with_oof). Every field has
/// a default; `linear` and `seed` are set by the trainer, not the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineOptions {
    /// Prepare for a linear model: standardise numbers, one-hot or target
    /// encode categories, fill missing timestamps with 0; missing
    /// indicators by default. Trees get categorical codes and no scaling.
    #[serde(skip)]
    pub linear: bool,
    /// Seed of the out-of-fold target encoding's folds.
    #[serde(skip)]
    pub seed: u64,
    /// What replaces a missing number.
    pub impute: Imputation,
    /// When a numeric feature gets a 0/1 "was missing" companion.
    pub missing_indicator: MissingIndicator,
    /// Which bounds numbers are clipped to.
    pub clip: Clipping,
    /// Categories kept per column (most frequent first); the rest are "other".
    pub max_levels: usize,
    /// How categories become features for linear models (trees always use
    /// native categorical codes).
    pub linear_encoding: CategoricalEncoding,
    /// Features computed from other columns.
    pub derived: Vec<DerivedSpec>,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            linear: false,
            seed: 0,
            impute: Imputation::Median,
            missing_indicator: MissingIndicator::Auto,
            clip: Clipping::Range,
            max_levels: 1000,
            linear_encoding: CategoricalEncoding::OneHot,
            derived: Vec::new(),
        }
    }
}

/// What replaces a missing number; every statistic is taken over the
/// training rows' present values after clipping.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum Imputation {
    /// The median (numpy's linear interpolation between the middle two).
    Median,
    /// The mean.
    Mean,
    /// A fixed, finite value.
    Constant {
        /// The value.
        value: f64,
    },
}

/// When a numeric (or derived) feature gets a 0/1 "was missing" companion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissingIndicator {
    /// `when_missing` for linear models, `never` for trees.
    Auto,
    /// No indicator.
    Never,
    /// An indicator when some training row of the column is missing.
    WhenMissing,
    /// An indicator for every numeric feature.
    Always,
}

/// Which bounds present numbers are clipped to, fitted on training rows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum Clipping {
    /// No clipping.
    None,
    /// The training minimum and maximum.
    Range,
    /// Tukey's fences `[Q1 − k·IQR, Q3 + k·IQR]` (quartiles as numpy's
    /// linear percentile).
    Iqr {
        /// Fence width in IQRs (1.5 by default).
        #[serde(default = "default_iqr_k")]
        k: f64,
    },
    /// The training quantiles `lo` and `hi` (numpy's linear quantile).
    Quantiles {
        /// Lower quantile, in [0, 1).
        lo: f64,
        /// Upper quantile, in (lo, 1].
        hi: f64,
    },
}

fn default_iqr_k() -> f64 {
    1.5
}

/// How categories become features for linear models.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case", deny_unknown_fields)]
pub enum CategoricalEncoding {
    /// One 0/1 feature per kept level plus one for "other".
    OneHot,
    /// One feature: the m-estimate `(sum_y + m·prior) / (n + m)` of the
    /// label among training rows with the level; unseen and missing levels
    /// get the prior. Training rows get out-of-fold values.
    Target {
        /// `m`, the weight of the prior (10 by default).
        #[serde(default = "default_smoothing")]
        smoothing: f64,
        /// Folds for the training rows' out-of-fold values (5 by default).
        #[serde(default = "default_folds")]
        folds: usize,
    },
}

fn default_smoothing() -> f64 {
    10.0
}

fn default_folds() -> usize {
    5
}

/// A derived feature as declared by the user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DerivedSpec {
    /// The feature's name (must not clash with another feature's).
    pub name: String,
    /// The operation.
    pub op: DeriveOp,
    /// The source columns: one for `log1p` and `frequency`, two for the
    /// others (`a`, `b` in that order). One name or a list in TOML.
    #[serde(deserialize_with = "one_or_many")]
    pub of: Vec<String>,
}

/// The operations a derived feature can apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeriveOp {
    /// `sign(x)·ln(1 + |x|)` of a numeric column (`log1p` for x ≥ 0).
    #[serde(alias = "log")]
    Log1p,
    /// `a / b` of two numeric columns; missing when `b` is 0.
    Ratio,
    /// `a − b` of two numeric columns.
    Difference,
    /// `a · b` of two numeric columns.
    Product,
    /// The share of training rows with the level of a categorical column
    /// (unseen or missing: 0).
    Frequency,
}

impl DeriveOp {
    /// How many source columns it reads.
    pub fn arity(self) -> usize {
        match self {
            DeriveOp::Log1p | DeriveOp::Frequency => 1,
            DeriveOp::Ratio | DeriveOp::Difference | DeriveOp::Product => 2,
        }
    }

    /// Its name in configuration files.
    pub fn name(self) -> &'static str {
        match self {
            DeriveOp::Log1p => "log1p",
            DeriveOp::Ratio => "ratio",
            DeriveOp::Difference => "difference",
            DeriveOp::Product => "product",
            DeriveOp::Frequency => "frequency",
        }
    }
}

/// A column name or a list of them.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged, expecting = "a column name or a list of column names")]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

impl PipelineOptions {
    /// Checks every number for sense, naming the option at fault.
    pub fn check(&self) -> Result<(), PipelineError> {
        let bad = |option: &str, problem: String| {
            Err(PipelineError::BadOption {
                option: option.to_string(),
                problem,
            })
        };
        if let Imputation::Constant { value } = self.impute
            && !value.is_finite()
        {
            return bad(
                "impute.value",
                format!("{value} is not a finite number; give one such as 0 or -1"),
            );
        }
        match self.clip {
            Clipping::Iqr { k } if !(k.is_finite() && k >= 0.0) => {
                return bad(
                    "clip.k",
                    format!("{k} must be a finite number >= 0 (1.5 is usual, 3 for far outliers)"),
                );
            }
            Clipping::Quantiles { lo, hi } if !(0.0 <= lo && lo < hi && hi <= 1.0) => {
                return bad(
                    "clip.lo, clip.hi",
                    format!(
                        "({lo}, {hi}) must satisfy 0 <= lo < hi <= 1, e.g. lo = 0.01, hi = 0.99"
                    ),
                );
            }
            _ => {}
        }
        if self.max_levels == 0 {
            return bad(
                "max_levels",
                "0 keeps no category; give at least 1 (1000 by default)".into(),
            );
        }
        if let CategoricalEncoding::Target { smoothing, folds } = self.linear_encoding {
            if !(smoothing.is_finite() && smoothing >= 0.0) {
                return bad(
                    "linear_encoding.smoothing",
                    format!("{smoothing} must be a finite number >= 0 (10 by default)"),
                );
            }
            if folds < 2 {
                return bad(
                    "linear_encoding.folds",
                    format!(
                        "{folds} fold(s) cannot keep a row's own label out of its encoding; give at least 2 (5 by default)"
                    ),
                );
            }
        }
        Ok(())
    }

    /// Whether linear models get target-encoded categories (and so the fit
    /// needs labels).
    pub fn target_encoding(&self) -> Option<(f64, usize)> {
        match self.linear_encoding {
            CategoricalEncoding::Target { smoothing, folds } if self.linear => {
                Some((smoothing, folds))
            }
            _ => None,
        }
    }
}
