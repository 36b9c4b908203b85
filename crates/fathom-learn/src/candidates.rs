//! Fitting one base candidate on one set of rows: shared by the final
//! training, every cross-validation fold and every search trial, so they
//! all follow the same recipe.

use crate::feature_selection::{FeatureColumn, SelectionConfig, SelectionReport, score_features};
use crate::gbdt::{self, Dataset, FeatureValues, GbdtParams};
use crate::linear::{LogisticParams, fit_logistic};
use crate::metrics::{ThresholdRule, choose_threshold};
use crate::pipeline::{PipelineOptions, fit_pipeline, fit_pipeline_with_oof};
use crate::search::{set_logistic_param, set_tree_param};
use crate::trainer::{TrainError, step};
use fathom_core::{Frame, Role, Schema};
use fathom_model::artifact::Estimator;
use fathom_model::pipeline::FeaturePipeline;
use std::collections::BTreeMap;

/// The settings one fit of a base candidate uses.
#[derive(Debug, Clone)]
pub(crate) enum Params {
    /// The base rate.
    Baseline,
    /// L2 logistic regression on the linear pipeline.
    Logistic(LogisticParams),
    /// Boosted trees or a forest on the tree pipeline.
    Trees(GbdtParams),
}

/// The random-forest candidate's settings.
pub(crate) fn forest_params(seed: u64) -> GbdtParams {
    GbdtParams {
        objective: "binary".into(),
        boosting: "rf".into(),
        num_rounds: 100,
        bagging_fraction: 0.632,
        bagging_freq: 1,
        feature_fraction: 0.6,
        seed,
        ..GbdtParams::default()
    }
}

/// The settings of base candidate `name`, with a search trial's values on top.
pub(crate) fn params_for(
    name: &str,
    gbdt: &GbdtParams,
    logistic: &LogisticParams,
    seed: u64,
    trial: Option<&BTreeMap<String, f64>>,
) -> Params {
    let empty = BTreeMap::new();
    let trial = trial.unwrap_or(&empty);
    match name {
        "logistic" => {
            let mut p = logistic.clone();
            trial
                .iter()
                .for_each(|(k, v)| set_logistic_param(&mut p, k, *v));
            Params::Logistic(p)
        }
        "gbdt" | "random_forest" => {
            let mut p = if name == "gbdt" {
                gbdt.clone()
            } else {
                forest_params(seed)
            };
            trial
                .iter()
                .for_each(|(k, v)| set_tree_param(&mut p, k, *v));
            Params::Trees(p)
        }
        _ => Params::Baseline,
    }
}

/// The feature pipelines fitted on one set of fitting rows, and every row
/// of the frame transformed by them.
pub(crate) struct Prepared {
    /// Pipeline for trees (native categorical codes).
    pub tree_pipe: FeaturePipeline,
    /// Pipeline for linear models (one-hot, scaling, indicators), if needed.
    pub lin_pipe: Option<FeaturePipeline>,
    /// All rows through `tree_pipe`, row-major.
    pub tree_x: Vec<f64>,
    /// All rows through `lin_pipe`, row-major (empty without it).
    pub lin_x: Vec<f64>,
    /// Feature selection's outcome, when it ran.
    pub selection: Option<SelectionReport>,
}

/// What [`prepare`] should do about feature selection.
pub(crate) struct SelectionStep<'a> {
    /// The settings.
    pub config: &'a SelectionConfig,
    /// The GBDT whose gain shares are the embedded method.
    pub gbdt: &'a GbdtParams,
}

/// How [`prepare`] fits the feature pipelines.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Recipe<'a> {
    /// The configured choices (`linear` is set per pipeline; `seed` is the run's).
    pub options: &'a PipelineOptions,
    /// Whether a linear model needs its own pipeline.
    pub linear: bool,
}

/// Fits the pipelines on `fit_rows` (after feature selection, if asked,
/// on the same rows) and transforms the frame.
pub(crate) fn prepare(
    frame: &Frame,
    schema: &Schema,
    y: &[f64],
    fit_rows: &[usize],
    valid_rows: &[usize],
    recipe: Recipe<'_>,
    selection: Option<SelectionStep<'_>>,
) -> Result<Prepared, TrainError> {
    let tree_options = PipelineOptions {
        linear: false,
        ..recipe.options.clone()
    };
    let mut tree_pipe =
        fit_pipeline(frame, schema, fit_rows, &tree_options).map_err(step("feature pipeline"))?;
    let mut tree_x = tree_pipe.transform_frame(frame);
    let mut report = None;
    let mut schema_used = std::borrow::Cow::Borrowed(schema);
    if let Some(sel) = selection {
        let r = select(&tree_pipe, &tree_x, y, fit_rows, valid_rows, &sel)?;
        if !r.dropped.is_empty() {
            let mut reduced = schema.clone();
            for c in &mut reduced.columns {
                if r.dropped.contains(&c.name) {
                    c.role = Role::Ignore;
                }
            }
            tree_pipe = fit_pipeline(frame, &reduced, fit_rows, &tree_options)
                .map_err(step("feature pipeline"))?;
            tree_x = tree_pipe.transform_frame(frame);
            schema_used = std::borrow::Cow::Owned(reduced);
        }
        report = Some(r);
    }
    let (lin_pipe, lin_x) = if recipe.linear {
        let options = PipelineOptions {
            linear: true,
            ..recipe.options.clone()
        };
        // Target encodings of the fitting rows come out of fold, so a
        // row's own label never encodes it; other rows get the served values.
        let (p, oof) = fit_pipeline_with_oof(frame, &schema_used, fit_rows, y, &options)
            .map_err(step("feature pipeline"))?;
        let mut x = p.transform_frame(frame);
        oof.overwrite(&mut x, p.width());
        (Some(p), x)
    } else {
        (None, Vec::new())
    };
    Ok(Prepared {
        tree_pipe,
        lin_pipe,
        tree_x,
        lin_x,
        selection: report,
    })
}

/// Runs both selection methods on the fitting rows.
fn select(
    pipe: &FeaturePipeline,
    x: &[f64],
    y: &[f64],
    fit_rows: &[usize],
    valid_rows: &[usize],
    sel: &SelectionStep<'_>,
) -> Result<SelectionReport, TrainError> {
    let train_set = Dataset::from_pipeline_rows(pipe, x, fit_rows, y);
    let valid_set = Dataset::from_pipeline_rows(pipe, x, valid_rows, y);
    let valid = sel.gbdt.early_stopping_rounds.map(|_| &valid_set);
    let out = gbdt::train(sel.gbdt, &train_set, valid).map_err(step("feature selection"))?;
    let fit_y: Vec<f64> = fit_rows.iter().map(|&r| y[r]).collect();
    let columns: Vec<String> = pipe
        .inputs
        .iter()
        .flat_map(|t| std::iter::repeat_n(t.column().to_string(), t.width()))
        .collect();
    // Category codes as numbers, for the categorical features.
    let codes: Vec<Vec<f64>> = train_set
        .features
        .iter()
        .map(|(_, fv)| match fv {
            FeatureValues::Categorical { codes, .. } => {
                codes.iter().map(|&c| f64::from(c)).collect()
            }
            FeatureValues::Numeric(_) => Vec::new(),
        })
        .collect();
    let features: Vec<FeatureColumn<'_>> = train_set
        .features
        .iter()
        .zip(columns)
        .zip(&codes)
        .map(|(((name, fv), column), c)| FeatureColumn {
            feature: name.clone(),
            column,
            values: match fv {
                FeatureValues::Numeric(v) => v,
                FeatureValues::Categorical { .. } => c,
            },
            categorical: fv.is_categorical(),
        })
        .collect();
    Ok(score_features(
        sel.config,
        &features,
        &out.importance_gain,
        &fit_y,
    ))
}

/// One fitted base candidate.
#[derive(Debug, Clone)]
pub(crate) struct Fitted {
    /// The pipeline it reads.
    pub pipeline: FeaturePipeline,
    /// The model.
    pub estimator: Estimator,
    /// Per pipeline feature: gain (trees), |coefficient| (linear), empty (baseline).
    pub importance: Vec<f64>,
    /// Whether it reads the linear pipeline's features.
    pub linear: bool,
}

impl Fitted {
    /// Scores of `rows` (frame row indices).
    pub fn scores(&self, prep: &Prepared, rows: &[usize]) -> Vec<f64> {
        let x = if self.linear {
            &prep.lin_x
        } else {
            &prep.tree_x
        };
        let w = self.pipeline.width();
        rows.iter()
            .map(|&r| self.estimator.predict(&x[r * w..(r + 1) * w]))
            .collect()
    }

    /// Row `r`'s features.
    pub fn features<'a>(&self, prep: &'a Prepared, r: usize) -> &'a [f64] {
        let x = if self.linear {
            &prep.lin_x
        } else {
            &prep.tree_x
        };
        let w = self.pipeline.width();
        &x[r * w..(r + 1) * w]
    }
}

/// Fits base candidate `name` on `fit_rows` (GBDT stops early on `valid_rows`).
pub(crate) fn fit(
    name: &str,
    params: &Params,
    prep: &Prepared,
    y: &[f64],
    fit_rows: &[usize],
    valid_rows: &[usize],
) -> Result<Fitted, TrainError> {
    match params {
        Params::Baseline => {
            let p = fit_rows.iter().map(|&r| y[r]).sum::<f64>() / fit_rows.len() as f64;
            Ok(Fitted {
                pipeline: prep.tree_pipe.clone(),
                estimator: Estimator::Constant { value: p },
                importance: Vec::new(),
                linear: false,
            })
        }
        Params::Logistic(lp) => {
            let pipe = prep.lin_pipe.as_ref().ok_or_else(|| TrainError::Step {
                step: name.to_string(),
                message: "internal error: the linear pipeline was not prepared; this is a bug, please report it".into(),
            })?;
            let w = pipe.width();
            let cols: Vec<Vec<f64>> = (0..w)
                .map(|j| fit_rows.iter().map(|&r| prep.lin_x[r * w + j]).collect())
                .collect();
            let fy: Vec<f64> = fit_rows.iter().map(|&r| y[r]).collect();
            let m = fit_logistic(&cols, &fy, None, lp).map_err(step(name))?;
            Ok(Fitted {
                pipeline: pipe.clone(),
                importance: m.coef.iter().map(|c| c.abs()).collect(),
                estimator: Estimator::Linear {
                    coef: m.coef,
                    intercept: m.intercept,
                    objective: "binary".into(),
                },
                linear: true,
            })
        }
        Params::Trees(gp) => {
            let train_set = Dataset::from_pipeline_rows(&prep.tree_pipe, &prep.tree_x, fit_rows, y);
            let valid_set = gp
                .early_stopping_rounds
                .map(|_| Dataset::from_pipeline_rows(&prep.tree_pipe, &prep.tree_x, valid_rows, y));
            let out = gbdt::train(gp, &train_set, valid_set.as_ref()).map_err(step(name))?;
            Ok(Fitted {
                pipeline: prep.tree_pipe.clone(),
                estimator: Estimator::Trees {
                    ensemble: out.ensemble,
                },
                importance: out.importance_gain,
                linear: false,
            })
        }
    }
}

/// The threshold with the highest F1 on `(y, scores)`, or 0.5 when there
/// is no positive to choose by.
pub(crate) fn threshold_on(y: &[f64], scores: &[f64]) -> f64 {
    choose_threshold(y, scores, ThresholdRule::MaxF1, None).map_or(0.5, |c| c.threshold)
}
