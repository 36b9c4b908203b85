//! Fitting the feature pipeline ([`fathom_model::pipeline::FeaturePipeline`])
//! on training rows only: every statistic the pipeline stores (imputation
//! values, clipping bounds, scaling, category levels, target means,
//! frequencies) comes from the rows passed as `train`, so nothing of the
//! validation or test rows leaks into the model.
//!
//! [`fit_pipeline`] fits a pipeline without labels. [`fit_pipeline_with_oof`]
//! also takes the labels, which target encoding needs, and returns the
//! training rows' out-of-fold encodings ([`TrainEncodings`]) that the model
//! must be fitted on:
//!
//! ```
//! use fathom_core::{Column, ColumnSpec, ColumnType, Frame, Role, Schema};
//! use fathom_learn::pipeline::{CategoricalEncoding, PipelineOptions, fit_pipeline_with_oof};
//!
//! let levels: Vec<&str> = (0..40).map(|i| ["a", "b", "c"][i % 3]).collect();
//! let y: Vec<f64> = (0..40).map(|i| f64::from(i % 3 == 0 || i % 7 == 0)).collect();
//! let frame = Frame::new(vec![Column::categorical("c", &levels), Column::numeric("y", y.clone())])?;
//! let schema = Schema::new(vec![
//!     ColumnSpec::new("c", ColumnType::Categorical, Role::Feature),
//!     ColumnSpec::new("y", ColumnType::Numeric, Role::Label),
//! ]);
//! let options = PipelineOptions {
//!     linear: true,
//!     seed: 7,
//!     linear_encoding: CategoricalEncoding::Target { smoothing: 1.0, folds: 4 },
//!     ..PipelineOptions::default()
//! };
//! let train: Vec<usize> = (0..30).collect();
//! let (pipeline, oof) = fit_pipeline_with_oof(&frame, &schema, &train, &y, &options)?;
//! // Features of every row as served, then the training rows' own
//! // out-of-fold values written over them before the model is fitted.
//! let mut x = pipeline.transform_frame(&frame);
//! oof.overwrite(&mut x, pipeline.width());
//! assert_eq!(pipeline.feature_names(), ["c__target"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod derived;
mod options;
mod target;

pub use options::{
    CategoricalEncoding, Clipping, DeriveOp, DerivedSpec, Imputation, MissingIndicator,
    PipelineOptions,
};
pub use target::{EncodedFeature, TrainEncodings};

use fathom_core::{Column, ColumnData, ColumnType, Frame, Role, Schema};
use fathom_model::pipeline::{FeaturePipeline, InputTransform, Levels};
use std::collections::{BTreeMap, BTreeSet};
use thiserror::Error;

/// Why a pipeline could not be fitted.
#[derive(Debug, Error, PartialEq)]
pub enum PipelineError {
    /// The contract declares no feature columns.
    #[error(
        "the schema contract declares no feature columns; give at least one column role = \"feature\""
    )]
    NoFeatures,
    /// A column the pipeline reads is not in the data.
    #[error("column '{0}' is not in the training data")]
    MissingColumn(String),
    /// No training rows.
    #[error("there are no training rows to fit the feature pipeline on")]
    NoRows,
    /// A training row index beyond the frame.
    #[error("training row index {row} is outside the frame of {rows} rows")]
    RowOutOfRange {
        /// The index.
        row: usize,
        /// Rows in the frame.
        rows: usize,
    },
    /// An option's value makes no sense.
    #[error("feature option {option}: {problem}")]
    BadOption {
        /// The option, as written in `[features]`.
        option: String,
        /// What is wrong and what would do.
        problem: String,
    },
    /// Target encoding was asked for without labels.
    #[error(
        "target encoding needs the labels of the training rows; fit with fit_pipeline_with_oof, or use linear_encoding = {{ method = \"one_hot\" }}"
    )]
    LabelsNeeded,
    /// The labels do not line up with the frame's rows.
    #[error("{labels} labels were given for a frame of {rows} rows; give one label per row")]
    LabelCount {
        /// Labels given.
        labels: usize,
        /// Rows in the frame.
        rows: usize,
    },
    /// A training row's label is not a number.
    #[error(
        "the label of row {row} is {value}; target encoding needs a number on every training row"
    )]
    BadLabel {
        /// The row (1-based).
        row: usize,
        /// Its value.
        value: f64,
    },
    /// A derived feature names a column the contract does not have.
    #[error(
        "derived feature '{feature}' reads column '{column}', which is not in the schema contract; the columns are: {}",
        known.join(", ")
    )]
    DerivedUnknownColumn {
        /// The derived feature.
        feature: String,
        /// The unknown column.
        column: String,
        /// The contract's columns.
        known: Vec<String>,
    },
    /// A derived feature reads a column of the wrong type.
    #[error(
        "derived feature '{feature}' ({op}) reads column '{column}', which is {found}; {op} takes {}",
        if *op == "frequency" { "a categorical column" } else { "numeric (or bool) columns" }
    )]
    DerivedColumnType {
        /// The derived feature.
        feature: String,
        /// Its operation.
        op: &'static str,
        /// The column.
        column: String,
        /// The column's type.
        found: ColumnType,
    },
    /// A derived feature reads the label.
    #[error(
        "derived feature '{feature}' reads the label column '{column}'; a feature computed from the label would leak it into the model"
    )]
    DerivedReadsLabel {
        /// The derived feature.
        feature: String,
        /// The label column.
        column: String,
    },
    /// A derived feature names the wrong number of columns.
    #[error(
        "derived feature '{feature}': {op} takes {expected} column(s) in `of`, but {found} are named"
    )]
    DerivedArity {
        /// The derived feature.
        feature: String,
        /// Its operation.
        op: &'static str,
        /// Columns it takes.
        expected: usize,
        /// Columns named.
        found: usize,
    },
    /// Two features would have the same name.
    #[error(
        "two features are named '{0}'; give the derived feature another name (feature names must be unique)"
    )]
    DuplicateFeature(String),
}

/// numpy's default (linear) quantile of sorted values.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// The fitted numeric steps of one numeric or derived feature.
struct NumericFit {
    impute: f64,
    clip: Option<(f64, f64)>,
    scale: Option<(f64, f64)>,
    indicator: bool,
}

/// Fits the numeric steps on the training rows' raw values (`None` =
/// missing, as the serving path reads it):
/// 1. clipping bounds from the finite values;
/// 2. the imputation value from the finite values after clipping;
/// 3. for linear models, mean and (population) standard deviation of the
///    column as the model sees it before scaling: present values clipped,
///    missing ones imputed;
/// 4. the missing indicator by [`MissingIndicator`].
fn fit_numeric(raw: &[Option<f64>], options: &PipelineOptions, allow_clip: bool) -> NumericFit {
    let any_missing = raw.iter().any(Option::is_none);
    let indicator = match options.missing_indicator {
        MissingIndicator::Never => false,
        MissingIndicator::Always => true,
        MissingIndicator::WhenMissing => any_missing,
        MissingIndicator::Auto => options.linear && any_missing,
    };
    let mut sorted: Vec<f64> = raw
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .collect();
    if sorted.is_empty() {
        let impute = match options.impute {
            Imputation::Constant { value } => value,
            _ => 0.0,
        };
        return NumericFit {
            impute,
            clip: None,
            scale: None,
            indicator,
        };
    }
    sorted.sort_by(f64::total_cmp);
    let clip = if allow_clip {
        match options.clip {
            Clipping::None => None,
            Clipping::Range => Some((sorted[0], sorted[sorted.len() - 1])),
            Clipping::Iqr { k } => {
                let (q1, q3) = (quantile(&sorted, 0.25), quantile(&sorted, 0.75));
                Some((q1 - k * (q3 - q1), q3 + k * (q3 - q1)))
            }
            Clipping::Quantiles { lo, hi } => Some((quantile(&sorted, lo), quantile(&sorted, hi))),
        }
    } else {
        None
    };
    let clipped = |v: f64| clip.map_or(v, |(lo, hi)| v.max(lo).min(hi));
    // Clipping is monotone, so the clipped values stay sorted.
    let kept: Vec<f64> = sorted.iter().map(|&v| clipped(v)).collect();
    let impute = match options.impute {
        Imputation::Median => quantile(&kept, 0.5),
        Imputation::Mean => kept.iter().sum::<f64>() / kept.len() as f64,
        Imputation::Constant { value } => value,
    };
    let scale = options.linear.then(|| {
        let seen: Vec<f64> = raw
            .iter()
            .map(|x| x.map_or(impute, clipped))
            .filter(|v| v.is_finite())
            .collect();
        let n = seen.len() as f64;
        let mean = seen.iter().sum::<f64>() / n;
        let var = seen.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
        let std = if var > 0.0 && var.is_finite() {
            var.sqrt()
        } else {
            1.0
        };
        (mean, std)
    });
    NumericFit {
        impute,
        clip,
        scale,
        indicator,
    }
}

/// The levels of a categorical column among the `train` rows with their
/// counts: the `max_levels` most frequent (ties by name), sorted by name.
/// Empty for a column of another type.
fn level_counts(column: &Column, train: &[usize], max_levels: usize) -> Vec<(String, usize)> {
    let ColumnData::Categorical(c) = &column.data else {
        return Vec::new();
    };
    let mut per_code = vec![0usize; c.dictionary.len()];
    for &i in train {
        if column.is_valid(i) {
            per_code[c.codes[i] as usize] += 1;
        }
    }
    // A dictionary may hold a level twice (after concatenation).
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for (code, &n) in per_code.iter().enumerate() {
        if n > 0 {
            *counts.entry(c.dictionary[code].as_str()).or_insert(0) += n;
        }
    }
    let mut by_count: Vec<(&str, usize)> = counts.into_iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    by_count.truncate(max_levels);
    by_count.sort_by(|a, b| a.0.cmp(b.0));
    by_count
        .into_iter()
        .map(|(l, n)| (l.to_string(), n))
        .collect()
}

/// Fits one transform per feature column of `schema`, then the declared
/// derived features, from the rows `train` of `frame` only.
///
/// Target encoding (`linear_encoding = target` with `linear`) needs labels:
/// use [`fit_pipeline_with_oof`].
pub fn fit_pipeline(
    frame: &Frame,
    schema: &Schema,
    train: &[usize],
    options: &PipelineOptions,
) -> Result<FeaturePipeline, PipelineError> {
    if options.target_encoding().is_some() {
        return Err(PipelineError::LabelsNeeded);
    }
    fit(frame, schema, train, None, options).map(|(p, _)| p)
}

/// Like [`fit_pipeline`], with `labels` (one per frame row; only the
/// training rows' are read) for target encoding. Besides the pipeline (whose
/// encodings are fitted on all training rows, for validation, test and
/// serving), it returns the training rows' out-of-fold encodings: write
/// them over the training rows' features with [`TrainEncodings::overwrite`]
/// before fitting the model, so no row's own label is part of its features.
/// The folds come from `options.seed`; without target encoding the
/// returned [`TrainEncodings`] is empty.
pub fn fit_pipeline_with_oof(
    frame: &Frame,
    schema: &Schema,
    train: &[usize],
    labels: &[f64],
    options: &PipelineOptions,
) -> Result<(FeaturePipeline, TrainEncodings), PipelineError> {
    if labels.len() != frame.num_rows() {
        return Err(PipelineError::LabelCount {
            labels: labels.len(),
            rows: frame.num_rows(),
        });
    }
    fit(frame, schema, train, Some(labels), options)
}

fn fit(
    frame: &Frame,
    schema: &Schema,
    train: &[usize],
    labels: Option<&[f64]>,
    options: &PipelineOptions,
) -> Result<(FeaturePipeline, TrainEncodings), PipelineError> {
    options.check()?;
    if train.is_empty() {
        return Err(PipelineError::NoRows);
    }
    if let Some(&row) = train.iter().find(|&&r| r >= frame.num_rows()) {
        return Err(PipelineError::RowOutOfRange {
            row,
            rows: frame.num_rows(),
        });
    }
    let features: Vec<_> = schema
        .columns
        .iter()
        .filter(|c| c.role == Role::Feature)
        .collect();
    if features.is_empty() {
        return Err(PipelineError::NoFeatures);
    }
    // Target encoding: the training rows' labels and folds.
    let target = match (options.target_encoding(), labels) {
        (Some((m, folds)), Some(labels)) => {
            let y: Vec<f64> = train.iter().map(|&r| labels[r]).collect();
            if let Some(p) = y.iter().position(|v| !v.is_finite()) {
                return Err(PipelineError::BadLabel {
                    row: train[p] + 1,
                    value: y[p],
                });
            }
            if train.len() < folds {
                return Err(PipelineError::BadOption {
                    option: "linear_encoding.folds".into(),
                    problem: format!(
                        "{folds} folds need at least {folds} training rows, there are {}",
                        train.len()
                    ),
                });
            }
            let fold_of = target::assign_folds(train.len(), folds, options.seed);
            Some((m, folds, y, fold_of))
        }
        (Some(_), None) => return Err(PipelineError::LabelsNeeded),
        _ => None,
    };

    let mut inputs = Vec::with_capacity(features.len());
    let mut encodings = TrainEncodings {
        rows: train.to_vec(),
        ..TrainEncodings::default()
    };
    let mut at = 0;
    for spec in features {
        let col = frame
            .column(&spec.name)
            .ok_or_else(|| PipelineError::MissingColumn(spec.name.clone()))?;
        let column = spec.name.clone();
        let transform = match &col.data {
            ColumnData::Numeric(v) => {
                let raw: Vec<Option<f64>> = train
                    .iter()
                    .map(|&i| (col.is_valid(i) && !v[i].is_nan()).then_some(v[i]))
                    .collect();
                let fit = fit_numeric(&raw, options, true);
                InputTransform::Numeric {
                    column,
                    impute: fit.impute,
                    clip: fit.clip,
                    scale: fit.scale,
                    indicator: fit.indicator,
                }
            }
            ColumnData::Bool(v) => {
                let (t, n) = train
                    .iter()
                    .filter(|&&i| col.is_valid(i))
                    .fold((0usize, 0usize), |(t, n), &i| {
                        (t + usize::from(v[i]), n + 1)
                    });
                InputTransform::Bool {
                    column,
                    impute: if 2 * t > n { 1.0 } else { 0.0 },
                }
            }
            ColumnData::Categorical(c) => {
                let levels = Levels::new(
                    level_counts(col, train, options.max_levels)
                        .into_iter()
                        .map(|(l, _)| l)
                        .collect(),
                );
                match &target {
                    Some((m, folds, y, fold_of)) => {
                        let code_of: Vec<Option<usize>> =
                            c.dictionary.iter().map(|l| levels.position(l)).collect();
                        let codes: Vec<Option<usize>> = train
                            .iter()
                            .map(|&i| {
                                if col.is_valid(i) {
                                    code_of[c.codes[i] as usize]
                                } else {
                                    None
                                }
                            })
                            .collect();
                        let fit = target::fit_target(&codes, y, levels.len(), *m, fold_of, *folds);
                        encodings.features.push(EncodedFeature {
                            index: at,
                            name: format!("{column}__target"),
                            values: fit.out_of_fold,
                        });
                        InputTransform::Target {
                            column,
                            levels,
                            means: fit.means,
                            prior: fit.prior,
                        }
                    }
                    None => InputTransform::Categorical {
                        column,
                        levels,
                        one_hot: options.linear,
                    },
                }
            }
            ColumnData::Timestamp(_) => InputTransform::Timestamp {
                column,
                fill: if options.linear { 0.0 } else { f64::NAN },
            },
        };
        at += transform.width();
        inputs.push(transform);
    }
    let derived = derived::fit_derived(frame, schema, train, options, &mut inputs)?;
    let pipeline = FeaturePipeline { inputs, derived };
    let mut seen = BTreeSet::new();
    for name in pipeline.feature_names() {
        if !seen.insert(name.clone()) {
            return Err(PipelineError::DuplicateFeature(name));
        }
    }
    if let Some((.., fold_of)) = target
        && !encodings.features.is_empty()
    {
        encodings.folds = fold_of;
    }
    if encodings.features.is_empty() {
        encodings = TrainEncodings::default();
    }
    Ok((pipeline, encodings))
}
