//! Training a binary classifier end to end: split, fit the feature
//! pipeline on training rows, train each candidate of the "start simple"
//! ladder, compare them on the held-out rows and package the best as a
//! [`ModelArtifact`].

use crate::gbdt::{self, Dataset, FeatureValues, GbdtParams};
use crate::linear::{LogisticParams, fit_logistic};
use crate::metrics::{BinaryReport, ThresholdRule, binary_report, choose_threshold};
use crate::pipeline::{PipelineOptions, fit_pipeline};
use crate::split::stratified_split;
use fathom_core::{Frame, Schema};
use fathom_model::artifact::{Estimator, Lineage, ModelArtifact, ReferenceHistogram};
use fathom_model::pipeline::{FeaturePipeline, InputTransform};
use serde::Serialize;
use std::time::Instant;
use thiserror::Error;

/// The candidates [`train_binary`] knows.
pub const CANDIDATES: &[&str] = &["baseline", "logistic", "random_forest", "gbdt"];

/// Fewest rows of each class [`train_binary`] accepts: enough that the
/// test and validation splits each hold some of both.
pub const MIN_PER_CLASS: usize = 10;

/// Settings of a training run.
#[derive(Debug, Clone, Serialize)]
pub struct TrainConfig {
    /// Share of rows held out for the final comparison.
    pub test_fraction: f64,
    /// Share of the remaining rows used for early stopping and the threshold.
    pub valid_fraction: f64,
    /// Seed for splits and sampling.
    pub seed: u64,
    /// Candidates to train, from [`CANDIDATES`].
    pub candidates: Vec<String>,
    /// Settings of the GBDT candidate.
    pub gbdt: GbdtParams,
    /// Settings of the logistic candidate.
    pub logistic: LogisticParams,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            test_fraction: 0.2,
            valid_fraction: 0.2,
            seed: 42,
            candidates: CANDIDATES.iter().map(|c| c.to_string()).collect(),
            gbdt: GbdtParams {
                objective: "binary".into(),
                num_rounds: 300,
                early_stopping_rounds: Some(30),
                ..GbdtParams::default()
            },
            logistic: LogisticParams::default(),
        }
    }
}

/// One candidate's held-out figures.
#[derive(Debug, Clone, Serialize)]
pub struct CandidateResult {
    /// Candidate name.
    pub name: String,
    /// Metrics on the test rows at the threshold chosen on validation rows.
    pub report: BinaryReport,
    /// Training time in seconds.
    pub seconds: f64,
    /// Predicted scores on the test rows, in the order of
    /// [`TrainResult::test_labels`] (for curves in reports).
    #[serde(skip)]
    pub test_scores: Vec<f64>,
    /// Importance of each pipeline feature: total split gain for trees,
    /// |coefficient| for linear models, empty for the baseline.
    pub importance: Vec<(String, f64)>,
}

/// The outcome of [`train_binary`].
#[derive(Debug, Clone)]
pub struct TrainResult {
    /// Every candidate, in the order trained.
    pub candidates: Vec<CandidateResult>,
    /// The winner (highest AUC-PR on the test rows).
    pub best: String,
    /// The winner, packaged.
    pub artifact: ModelArtifact,
    /// Labels of the test rows the candidates were compared on.
    pub test_labels: Vec<f64>,
}

/// Why training failed.
#[derive(Debug, Error)]
pub enum TrainError {
    /// The contract has no label.
    #[error(
        "the schema contract declares no label column; mark one with role = \"label\" (or pass --label when inferring it)"
    )]
    NoLabel,
    /// The label column is absent, null or not 0/1.
    #[error("label column '{column}': {problem}")]
    BadLabel {
        /// The label column.
        column: String,
        /// What is wrong.
        problem: String,
    },
    /// Too few rows, or too few of one class, to train and evaluate.
    #[error(
        "label column '{column}' has {positives} positive and {negatives} negative rows; training needs at least {needed} of each class (the test and validation splits take their share): supply more data, or check the label column"
    )]
    TooFewRows {
        /// The label column.
        column: String,
        /// Rows labelled 1.
        positives: usize,
        /// Rows labelled 0.
        negatives: usize,
        /// The minimum per class.
        needed: usize,
    },
    /// An unknown candidate name.
    #[error("unknown candidate '{0}'; the candidates are: baseline, logistic, random_forest, gbdt")]
    UnknownCandidate(String),
    /// A step failed.
    #[error("{step}: {message}")]
    Step {
        /// The step.
        step: String,
        /// Its error.
        message: String,
    },
}

fn step<E: std::fmt::Display>(name: &str) -> impl Fn(E) -> TrainError + '_ {
    move |e| TrainError::Step {
        step: name.to_string(),
        message: e.to_string(),
    }
}

/// Row-major features of `rows` as a GBDT dataset (categorical codes stay categorical).
fn dataset(pipeline: &FeaturePipeline, all: &[f64], rows: &[usize], y: &[f64]) -> Dataset {
    let width = pipeline.width();
    let mut features = Vec::with_capacity(width);
    let mut at = 0;
    let names = pipeline.feature_names();
    for t in &pipeline.inputs {
        for k in 0..t.width() {
            let j = at + k;
            let values: Vec<f64> = rows.iter().map(|&r| all[r * width + j]).collect();
            let fv = match t {
                InputTransform::Categorical {
                    levels,
                    one_hot: false,
                    ..
                } => FeatureValues::Categorical {
                    codes: values.iter().map(|&v| v as u32).collect(),
                    levels: levels.len() as u32 + 1,
                },
                _ => FeatureValues::Numeric(values),
            };
            features.push((names[j].clone(), fv));
        }
        at += t.width();
    }
    Dataset {
        features,
        label: rows.iter().map(|&r| y[r]).collect(),
        weight: None,
    }
}

fn rows_of(all: &[f64], width: usize, rows: &[usize]) -> Vec<Vec<f64>> {
    rows.iter()
        .map(|&r| all[r * width..(r + 1) * width].to_vec())
        .collect()
}

/// Trains every configured candidate on `frame` under `schema` and returns
/// the comparison and the best model.
pub fn train_binary(
    frame: &Frame,
    schema: &Schema,
    config: &TrainConfig,
) -> Result<TrainResult, TrainError> {
    for c in &config.candidates {
        if !CANDIDATES.contains(&c.as_str()) {
            return Err(TrainError::UnknownCandidate(c.clone()));
        }
    }
    let label = schema.label().ok_or(TrainError::NoLabel)?;
    let col = frame
        .column(&label.name)
        .ok_or_else(|| TrainError::BadLabel {
            column: label.name.clone(),
            problem: "not in the data".into(),
        })?;
    let bad = |p: String| TrainError::BadLabel {
        column: label.name.clone(),
        problem: p,
    };
    let mut y = Vec::with_capacity(frame.num_rows());
    for r in 0..frame.num_rows() {
        let v = match &col.data {
            _ if !col.is_valid(r) => {
                return Err(bad(format!(
                    "row {} is null; every training row needs a label",
                    r + 1
                )));
            }
            fathom_core::ColumnData::Numeric(v) => v[r],
            fathom_core::ColumnData::Bool(v) => f64::from(u8::from(v[r])),
            _ => return Err(bad("a label must be numeric 0/1 or bool".into())),
        };
        if v != 0.0 && v != 1.0 {
            return Err(bad(format!(
                "row {} is {v}; a binary label must be 0 or 1",
                r + 1
            )));
        }
        y.push(v);
    }
    let positives = y.iter().filter(|&&v| v == 1.0).count();
    let negatives = y.len() - positives;
    if positives.min(negatives) < MIN_PER_CLASS {
        return Err(TrainError::TooFewRows {
            column: label.name.clone(),
            positives,
            negatives,
            needed: MIN_PER_CLASS,
        });
    }
    let outer = stratified_split(&y, config.test_fraction, config.seed).map_err(step("split"))?;
    let train_y: Vec<f64> = outer.train.iter().map(|&r| y[r]).collect();
    let inner = stratified_split(&train_y, config.valid_fraction, config.seed ^ 0x5eed)
        .map_err(step("validation split"))?;
    let fit_rows: Vec<usize> = inner.train.iter().map(|&i| outer.train[i]).collect();
    let valid_rows: Vec<usize> = inner.test.iter().map(|&i| outer.train[i]).collect();
    let test_y: Vec<f64> = outer.test.iter().map(|&r| y[r]).collect();
    let valid_y: Vec<f64> = valid_rows.iter().map(|&r| y[r]).collect();

    let tree_pipe = fit_pipeline(frame, schema, &fit_rows, &PipelineOptions::default())
        .map_err(step("feature pipeline"))?;
    let lin_pipe = fit_pipeline(
        frame,
        schema,
        &fit_rows,
        &PipelineOptions {
            linear: true,
            ..Default::default()
        },
    )
    .map_err(step("feature pipeline"))?;
    let tree_x = tree_pipe.transform_frame(frame);
    let lin_x = lin_pipe.transform_frame(frame);

    let mut results = Vec::new();
    let mut models: Vec<(FeaturePipeline, Estimator)> = Vec::new();
    for name in &config.candidates {
        let t0 = Instant::now();
        let mut importance: Vec<f64> = Vec::new();
        let (pipe, estimator) = match name.as_str() {
            "baseline" => {
                let p = fit_rows.iter().map(|&r| y[r]).sum::<f64>() / fit_rows.len() as f64;
                (tree_pipe.clone(), Estimator::Constant { value: p })
            }
            "logistic" => {
                let w = lin_pipe.width();
                let cols: Vec<Vec<f64>> = (0..w)
                    .map(|j| fit_rows.iter().map(|&r| lin_x[r * w + j]).collect())
                    .collect();
                let fy: Vec<f64> = fit_rows.iter().map(|&r| y[r]).collect();
                let m =
                    fit_logistic(&cols, &fy, None, &config.logistic).map_err(step("logistic"))?;
                importance = m.coef.iter().map(|c| c.abs()).collect();
                (
                    lin_pipe.clone(),
                    Estimator::Linear {
                        coef: m.coef,
                        intercept: m.intercept,
                        objective: "binary".into(),
                    },
                )
            }
            "random_forest" | "gbdt" => {
                let params = if name == "gbdt" {
                    config.gbdt.clone()
                } else {
                    GbdtParams {
                        objective: "binary".into(),
                        boosting: "rf".into(),
                        num_rounds: 100,
                        bagging_fraction: 0.632,
                        bagging_freq: 1,
                        feature_fraction: 0.6,
                        seed: config.seed,
                        ..GbdtParams::default()
                    }
                };
                let train_set = dataset(&tree_pipe, &tree_x, &fit_rows, &y);
                let valid_set = dataset(&tree_pipe, &tree_x, &valid_rows, &y);
                let valid = params.early_stopping_rounds.map(|_| &valid_set);
                let out = gbdt::train(&params, &train_set, valid).map_err(step(name))?;
                importance = out.importance_gain.clone();
                (
                    tree_pipe.clone(),
                    Estimator::Trees {
                        ensemble: out.ensemble,
                    },
                )
            }
            other => return Err(TrainError::UnknownCandidate(other.to_string())),
        };
        let seconds = t0.elapsed().as_secs_f64();
        let x = if matches!(estimator, Estimator::Linear { .. }) {
            &lin_x
        } else {
            &tree_x
        };
        let w = pipe.width();
        let score = |rows: &[usize]| -> Vec<f64> {
            rows_of(x, w, rows)
                .iter()
                .map(|r| estimator.predict(r))
                .collect()
        };
        let valid_scores = score(&valid_rows);
        let threshold = choose_threshold(&valid_y, &valid_scores, ThresholdRule::MaxF1, None)
            .map_or(0.5, |c| c.threshold);
        let test_scores = score(&outer.test);
        let report =
            binary_report(&test_y, &test_scores, threshold, None).map_err(step("evaluation"))?;
        let names = pipe.feature_names();
        results.push(CandidateResult {
            name: name.clone(),
            report,
            seconds,
            test_scores,
            importance: names.into_iter().zip(importance).collect(),
        });
        models.push((pipe, estimator));
    }
    let best_index = (0..results.len())
        .max_by(|&a, &b| {
            results[a]
                .report
                .auc_pr
                .total_cmp(&results[b].report.auc_pr)
                .then(b.cmp(&a))
        })
        .ok_or_else(|| TrainError::Step {
            step: "candidates".into(),
            message: "no candidate was configured".into(),
        })?;
    let (pipeline, estimator) = models.swap_remove(best_index);
    let best = &results[best_index];
    let x = if matches!(estimator, Estimator::Linear { .. }) {
        &lin_x
    } else {
        &tree_x
    };
    let w = pipeline.width();
    let names = pipeline.feature_names();
    let mut reference: Vec<ReferenceHistogram> = (0..w)
        .map(|j| {
            ReferenceHistogram::from_values(
                &names[j],
                &fit_rows.iter().map(|&r| x[r * w + j]).collect::<Vec<_>>(),
                20,
            )
        })
        .collect();
    let fit_scores: Vec<f64> = rows_of(x, w, &fit_rows)
        .iter()
        .map(|r| estimator.predict(r))
        .collect();
    reference.push(ReferenceHistogram::from_values("__score", &fit_scores, 20));
    let r = &best.report;
    let metrics = [
        ("auc_roc", r.auc_roc),
        ("auc_pr", r.auc_pr),
        ("logloss", r.logloss),
        ("brier", r.brier),
        ("precision", r.precision),
        ("recall", r.recall),
        ("f1", r.f1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let artifact = ModelArtifact {
        schema: schema.clone(),
        pipeline,
        estimator,
        threshold: r.threshold,
        metrics,
        reference,
        lineage: Lineage {
            data_snapshot: None,
            schema_hash: schema.hash(),
            seed: config.seed,
            params: serde_json::to_value(config).unwrap_or_default(),
            fathom_version: env!("CARGO_PKG_VERSION").to_string(),
            git_commit: option_env!("FATHOM_GIT_COMMIT").map(str::to_string),
        },
    };
    Ok(TrainResult {
        best: best.name.clone(),
        candidates: results,
        artifact,
        test_labels: test_y,
    })
}
