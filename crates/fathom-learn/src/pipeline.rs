//! Fitting the feature pipeline ([`fathom_model::pipeline::FeaturePipeline`])
//! on training rows only.

use fathom_core::{ColumnData, Frame, Role, Schema};
use fathom_model::pipeline::{FeaturePipeline, InputTransform};
use std::collections::BTreeMap;
use thiserror::Error;

/// Choices for [`fit_pipeline`].
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineOptions {
    /// Prepare for a linear model: standardise numbers, one-hot categories,
    /// add missing indicators, fill missing timestamps with 0.
    pub linear: bool,
    /// Clip numbers to the range seen in training.
    pub clip: bool,
    /// Categories kept per column (most frequent first); the rest are "other".
    pub max_levels: usize,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            linear: false,
            clip: true,
            max_levels: 1000,
        }
    }
}

/// Why a pipeline could not be fitted.
#[derive(Debug, Error, PartialEq)]
pub enum PipelineError {
    /// The contract declares no feature columns.
    #[error(
        "the schema contract declares no feature columns; give at least one column role = \"feature\""
    )]
    NoFeatures,
    /// A feature column is not in the data.
    #[error("feature column '{0}' is not in the training data")]
    MissingColumn(String),
    /// No training rows.
    #[error("there are no training rows to fit the feature pipeline on")]
    NoRows,
}

/// numpy's default (linear) quantile of sorted values.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Fits one transform per feature column of `schema`, from the rows
/// `train` of `frame` only, so no statistic of validation or test rows can
/// leak into the model.
pub fn fit_pipeline(
    frame: &Frame,
    schema: &Schema,
    train: &[usize],
    options: &PipelineOptions,
) -> Result<FeaturePipeline, PipelineError> {
    if train.is_empty() {
        return Err(PipelineError::NoRows);
    }
    let features: Vec<_> = schema
        .columns
        .iter()
        .filter(|c| c.role == Role::Feature)
        .collect();
    if features.is_empty() {
        return Err(PipelineError::NoFeatures);
    }
    let mut inputs = Vec::with_capacity(features.len());
    for spec in features {
        let col = frame
            .column(&spec.name)
            .ok_or_else(|| PipelineError::MissingColumn(spec.name.clone()))?;
        let column = spec.name.clone();
        let transform = match &col.data {
            ColumnData::Numeric(v) => {
                let mut vals: Vec<f64> = train
                    .iter()
                    .filter(|&&i| col.is_valid(i) && v[i].is_finite())
                    .map(|&i| v[i])
                    .collect();
                vals.sort_by(f64::total_cmp);
                let (impute, clip, scale) = if vals.is_empty() {
                    (0.0, None, None)
                } else {
                    let n = vals.len() as f64;
                    let mean = vals.iter().sum::<f64>() / n;
                    let var = vals.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
                    let std = if var > 0.0 { var.sqrt() } else { 1.0 };
                    let clip = options.clip.then(|| (vals[0], vals[vals.len() - 1]));
                    (
                        quantile(&vals, 0.5),
                        clip,
                        options.linear.then_some((mean, std)),
                    )
                };
                InputTransform::Numeric {
                    column,
                    impute,
                    clip,
                    scale,
                    indicator: options.linear && col.null_count() > 0,
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
                let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
                for &i in train {
                    if col.is_valid(i) {
                        *counts.entry(c.value(i)).or_insert(0) += 1;
                    }
                }
                let mut by_count: Vec<(&str, usize)> = counts.into_iter().collect();
                by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
                by_count.truncate(options.max_levels);
                let mut levels: Vec<String> =
                    by_count.into_iter().map(|(l, _)| l.to_string()).collect();
                levels.sort();
                InputTransform::Categorical {
                    column,
                    levels,
                    one_hot: options.linear,
                }
            }
            ColumnData::Timestamp(_) => InputTransform::Timestamp {
                column,
                fill: if options.linear { 0.0 } else { f64::NAN },
            },
        };
        inputs.push(transform);
    }
    Ok(FeaturePipeline { inputs })
}
