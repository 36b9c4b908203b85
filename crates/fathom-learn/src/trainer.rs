//! Training a binary classifier end to end: split, fit the feature
//! pipeline on training rows, optionally select features, cross-validate
//! and search the candidates of the "start simple" ladder and their
//! ensembles, compare them, judge them on the held-out rows and package the
//! best as a [`ModelArtifact`].
//!
//! The recipe, for the final models and for every cross-validation fold
//! alike:
//!
//! 1. a stratified split holds out `test_fraction` of the rows as the test
//!    set, and `valid_fraction` of the rest as validation rows; the
//!    remaining rows are the fitting rows;
//! 2. the feature pipelines (native category codes for trees; one-hot,
//!    scaling and missing indicators for the linear model) are fitted on
//!    the fitting rows only;
//! 3. each candidate is fitted on the fitting rows (GBDT stops early on the
//!    validation rows), its decision threshold is the one with the highest
//!    F1 on the validation rows, and it is judged on the held-out rows.
//!
//! With cross-validation ([`CvConfig`]; also turned on by a search or by
//! the stacking candidate), the training part (fitting + validation rows,
//! never the test rows) is cut into stratified folds and the recipe is
//! repeated inside each fold; the best candidate is then the one with the
//! best mean of the ranking metric over the folds, and the test rows only
//! judge it. Without cross-validation, the best is the one with the
//! highest AUC-PR on the test rows.

use crate::candidates::{
    Fitted, Params, Prepared, Recipe, SelectionStep, fit, forest_params, params_for, prepare,
    threshold_on,
};
use crate::cv::{CvConfig, CvFold, CvSummary, FoldScore, Metric, cv_folds, fold_score};
use crate::ensemble::{
    ENSEMBLES, EnsembleConfig, EnsembleSummary, combine, fit_stacking, resolve_members, voting,
};
use crate::feature_selection::{SelectionConfig, SelectionReport};
use crate::gbdt::GbdtParams;
use crate::linear::LogisticParams;
use crate::metrics::{BinaryReport, binary_report};
use crate::pipeline::PipelineOptions;
use crate::progress::{Progress, Silent};
use crate::search::{self, SearchConfig, SearchError, SearchResult, Trial};
use crate::split::stratified_split;
use fathom_core::{Frame, Schema};
use fathom_model::artifact::{
    EnsembleMethod, Estimator, Lineage, Member, ModelArtifact, ReferenceHistogram,
};
use fathom_model::pipeline::FeaturePipeline;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Instant;
use thiserror::Error;

/// The candidates [`train_binary`] knows: the base candidates, then the
/// ensembles of base candidates.
pub const CANDIDATES: &[&str] = &[
    "baseline",
    "logistic",
    "random_forest",
    "gbdt",
    "voting",
    "stacking",
];

/// Fewest rows of each class [`train_binary`] accepts: enough that the
/// test and validation splits each hold some of both.
pub const MIN_PER_CLASS: usize = 10;

/// The candidates trained when the configuration names none.
pub const DEFAULT_CANDIDATES: &[&str] = &["baseline", "logistic", "random_forest", "gbdt"];

/// Seed offset of the validation split, so it draws from its own stream.
const VALID_SEED: u64 = 0x5eed;

/// Settings of a training run (`[train]` in `fathom.toml`). Cross-validation,
/// search and feature selection are off unless configured, so the default
/// run stays fast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Share of rows held out for the final comparison.
    pub test_fraction: f64,
    /// Share of the remaining rows used for early stopping and the threshold.
    pub valid_fraction: f64,
    /// Seed for splits and sampling.
    pub seed: u64,
    /// Candidates to train, from [`CANDIDATES`].
    pub candidates: Vec<String>,
    /// Settings of the GBDT candidate. Keys given in a file overlay
    /// [`default_gbdt`]'s values (not [`GbdtParams::default`]'s).
    #[serde(deserialize_with = "overlay_gbdt")]
    pub gbdt: GbdtParams,
    /// Settings of the logistic candidate.
    pub logistic: LogisticParams,
    /// Stratified k-fold cross-validation of every candidate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cv: Option<CvConfig>,
    /// Hyper-parameter search (needs cross-validation; turns it on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search: Option<SearchConfig>,
    /// Feature selection, reported and optionally applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feature_selection: Option<SelectionConfig>,
    /// Settings of the `voting` and `stacking` candidates.
    #[serde(skip_serializing_if = "is_default_ensemble")]
    pub ensemble: EnsembleConfig,
    /// How raw columns become features (`[features]` in `fathom.toml`).
    pub features: PipelineOptions,
}

/// The GBDT candidate's defaults: binary objective, up to 300 rounds with
/// early stopping after 30 rounds without improvement on validation rows.
pub fn default_gbdt() -> GbdtParams {
    GbdtParams {
        objective: "binary".into(),
        num_rounds: 300,
        early_stopping_rounds: Some(30),
        ..GbdtParams::default()
    }
}

/// Reads `[train.gbdt]` as changes to [`default_gbdt`], so a file that
/// sets one key keeps the trainer's other defaults.
fn overlay_gbdt<'de, D: serde::Deserializer<'de>>(d: D) -> Result<GbdtParams, D::Error> {
    use serde::de::Error;
    let given = serde_json::Value::deserialize(d)?;
    let mut merged = serde_json::to_value(default_gbdt()).map_err(D::Error::custom)?;
    if let (Some(m), serde_json::Value::Object(g)) = (merged.as_object_mut(), given) {
        m.extend(g);
    }
    serde_json::from_value(merged).map_err(D::Error::custom)
}

impl TrainConfig {
    /// The `[features]` choices with the run's seed (for the out-of-fold
    /// target encoding's folds).
    pub fn pipeline_options(&self) -> PipelineOptions {
        PipelineOptions {
            seed: self.seed,
            ..self.features.clone()
        }
    }
}

fn is_default_ensemble(e: &EnsembleConfig) -> bool {
    *e == EnsembleConfig::default()
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            test_fraction: 0.2,
            valid_fraction: 0.2,
            seed: 42,
            candidates: DEFAULT_CANDIDATES.iter().map(|c| c.to_string()).collect(),
            gbdt: default_gbdt(),
            logistic: LogisticParams::default(),
            cv: None,
            search: None,
            feature_selection: None,
            ensemble: EnsembleConfig::default(),
            features: PipelineOptions::default(),
        }
    }
}

impl TrainConfig {
    /// The cross-validation that will run: the configured one, or the
    /// defaults when a search or the stacking candidate needs it.
    pub fn effective_cv(&self) -> Option<CvConfig> {
        self.cv.clone().or_else(|| {
            (self.search.is_some() || self.candidates.iter().any(|c| c == "stacking"))
                .then(CvConfig::default)
        })
    }
}

/// One candidate's figures.
#[derive(Debug, Clone, Serialize)]
pub struct CandidateResult {
    /// Candidate name.
    pub name: String,
    /// Metrics on the test rows at the threshold chosen on validation rows.
    pub report: BinaryReport,
    /// Training time in seconds of the final fit (for an ensemble, its
    /// members' fits plus its own).
    pub seconds: f64,
    /// Predicted scores on the test rows, in the order of
    /// [`TrainResult::test_labels`] (for curves in reports).
    #[serde(skip)]
    pub test_scores: Vec<f64>,
    /// Importance of each pipeline feature: total split gain for trees,
    /// |coefficient| for linear models, empty for the baseline and the
    /// ensembles.
    pub importance: Vec<(String, f64)>,
    /// Cross-validation figures, when cross-validation ran (for a searched
    /// candidate, those of its best trial).
    pub cv: Option<CvSummary>,
    /// Every trial of this candidate's search, when it was searched.
    pub search: Option<SearchResult>,
    /// What an ensemble candidate combined.
    pub ensemble: Option<EnsembleSummary>,
}

/// The outcome of [`train_binary`].
#[derive(Debug, Clone)]
pub struct TrainResult {
    /// Every candidate, in the order configured.
    pub candidates: Vec<CandidateResult>,
    /// The winner.
    pub best: String,
    /// How the winner was chosen, e.g. "mean AUC-PR over 5 cross-validation
    /// folds" or "AUC-PR on held-out rows".
    pub ranked_by: String,
    /// Number of cross-validation folds, when cross-validation ran.
    pub cv_folds: Option<usize>,
    /// Feature selection's report, when it was configured.
    pub selection: Option<SelectionReport>,
    /// The winner, packaged.
    pub artifact: ModelArtifact,
    /// Labels of the test rows the candidates were compared on.
    pub test_labels: Vec<f64>,
    /// Those rows' positions in the training frame, in the same order (to
    /// score another model on the very same holdout).
    pub test_rows: Vec<usize>,
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
    #[error("unknown candidate '{0}'; the candidates are: {list}", list = CANDIDATES.join(", "))]
    UnknownCandidate(String),
    /// A candidate named twice.
    #[error("candidate '{0}' is listed twice; list each candidate once")]
    DuplicateCandidate(String),
    /// A class has fewer rows in the training part than there are folds.
    #[error(
        "cross-validation with {folds} folds needs at least {folds} rows of each class in the training part (the test rows are set aside first), but it has {negatives} row(s) labelled 0 and {positives} labelled 1; set [train.cv] folds to at most {} or gather more rows of the rare class",
        negatives.min(positives)
    )]
    TooFewRowsForFolds {
        /// Folds asked for.
        folds: usize,
        /// Rows labelled 0 in the training part.
        negatives: usize,
        /// Rows labelled 1 in the training part.
        positives: usize,
    },
    /// A search space problem.
    #[error(transparent)]
    Search(#[from] SearchError),
    /// An ensemble that cannot be built.
    #[error("ensemble: {problem}")]
    Ensemble {
        /// What is wrong.
        problem: String,
    },
    /// A setting out of range.
    #[error("invalid training setting {0}")]
    Setting(String),
    /// A step failed.
    #[error("{step}: {message}")]
    Step {
        /// The step.
        step: String,
        /// Its error.
        message: String,
    },
}

/// Wraps a step's error with the step's name.
pub(crate) fn step<E: std::fmt::Display>(name: &str) -> impl Fn(E) -> TrainError + '_ {
    move |e| TrainError::Step {
        step: name.to_string(),
        message: e.to_string(),
    }
}

/// Names the fold in a step's error.
fn in_fold(fold: usize, folds: usize) -> impl Fn(TrainError) -> TrainError {
    move |e| match e {
        TrainError::Step { step, message } => TrainError::Step {
            step: format!("cross-validation fold {}/{folds}, {step}", fold + 1),
            message,
        },
        other => other,
    }
}

/// Labels of `frame`'s label column as 0/1.
fn labels(frame: &Frame, schema: &Schema) -> Result<Vec<f64>, TrainError> {
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
    Ok(y)
}

/// What the configuration asks for, checked before any work.
struct Plan {
    /// Base candidates to fit: the listed ones in configured order, then
    /// ensemble members that are not listed.
    base: Vec<String>,
    /// Members of the ensembles (empty without ensembles).
    members: Vec<String>,
    /// Trials of each searched base candidate.
    trials: BTreeMap<String, Vec<BTreeMap<String, f64>>>,
    /// Cross-validation, if it runs.
    cv: Option<CvConfig>,
}

fn plan(config: &TrainConfig) -> Result<Plan, TrainError> {
    for (i, c) in config.candidates.iter().enumerate() {
        if !CANDIDATES.contains(&c.as_str()) {
            return Err(TrainError::UnknownCandidate(c.clone()));
        }
        if config.candidates[..i].contains(c) {
            return Err(TrainError::DuplicateCandidate(c.clone()));
        }
    }
    if config.gbdt.objective != "binary" {
        return Err(TrainError::Setting(format!(
            "train.gbdt.objective = {:?}: this trainer fits a binary label; remove the key or set it to \"binary\"",
            config.gbdt.objective
        )));
    }
    if config.candidates.is_empty() {
        return Err(TrainError::Setting(format!(
            "candidates = []: name at least one of {}",
            CANDIDATES.join(", ")
        )));
    }
    let mut base: Vec<String> = config
        .candidates
        .iter()
        .filter(|c| !ENSEMBLES.contains(&c.as_str()))
        .cloned()
        .collect();
    let has_ensemble = base.len() < config.candidates.len();
    let members = if has_ensemble {
        resolve_members(&config.ensemble, &base)?
    } else {
        Vec::new()
    };
    // Members that are not candidates themselves are trained all the same.
    for m in &members {
        if !base.contains(m) {
            base.push(m.clone());
        }
    }
    if let Some(sel) = &config.feature_selection {
        sel.check().map_err(TrainError::Setting)?;
    }
    let trials = match &config.search {
        Some(s) => search::plan(
            s,
            &base,
            config.seed,
            &config.gbdt,
            &forest_params(config.seed),
            &config.logistic,
        )?,
        None => BTreeMap::new(),
    };
    let cv = config.effective_cv();
    if let Some(cv) = &cv
        && cv.folds < 2
    {
        return Err(TrainError::Setting(format!(
            "cv.folds = {}: cross-validation needs at least 2 folds (5 is usual)",
            cv.folds
        )));
    }
    Ok(Plan {
        base,
        members,
        trials,
        cv,
    })
}

/// One fit of one trial in one fold.
struct FoldRun {
    score: FoldScore,
    /// Scores on the fold's validation rows (kept for ensembles).
    valid: Vec<f64>,
    /// Scores on the fold's held-out rows (kept for ensembles).
    test: Vec<f64>,
}

/// One trial of one base candidate across the folds.
struct TrialRuns {
    params: BTreeMap<String, f64>,
    folds: Vec<FoldRun>,
}

/// One fold's rows and labels.
struct FoldRows {
    rows: CvFold,
    valid_y: Vec<f64>,
    test_y: Vec<f64>,
}

/// Cross-validates every trial of every base candidate.
#[allow(clippy::too_many_arguments)]
fn cross_validate(
    frame: &Frame,
    schema: &Schema,
    config: &TrainConfig,
    plan: &Plan,
    cv: &CvConfig,
    y: &[f64],
    train_part: &[usize],
    progress: &dyn Progress,
) -> Result<(Vec<Vec<TrialRuns>>, Vec<FoldRows>), TrainError> {
    let positives = train_part.iter().filter(|&&r| y[r] == 1.0).count();
    let negatives = train_part.len() - positives;
    if positives.min(negatives) < cv.folds {
        return Err(TrainError::TooFewRowsForFolds {
            folds: cv.folds,
            negatives,
            positives,
        });
    }
    let cv_rows = cv_folds(y, train_part, cv.folds, config.valid_fraction, config.seed)
        .map_err(step("cross-validation folds"))?;
    let keep_scores = !plan.members.is_empty();
    let need_linear = plan.base.iter().any(|c| c == "logistic");
    let mut runs: Vec<Vec<TrialRuns>> = plan
        .base
        .iter()
        .map(|name| {
            plan.trials
                .get(name)
                .cloned()
                .unwrap_or_else(|| vec![BTreeMap::new()])
                .into_iter()
                .map(|params| TrialRuns {
                    params,
                    folds: Vec::new(),
                })
                .collect()
        })
        .collect();
    let fits: usize = runs.iter().map(Vec::len).sum();
    progress.stage("cross-validation", (fits * cv.folds) as u64);
    let mut folds = Vec::with_capacity(cv.folds);
    for (k, rows) in cv_rows.into_iter().enumerate() {
        let wrap = in_fold(k, cv.folds);
        // Feature selection changes the model only when applied; then it
        // is part of the recipe each fold repeats.
        let selection = config
            .feature_selection
            .as_ref()
            .filter(|s| s.apply)
            .map(|s| SelectionStep {
                config: s,
                gbdt: &config.gbdt,
            });
        let prep = prepare(
            frame,
            schema,
            y,
            &rows.fit,
            &rows.valid,
            Recipe {
                options: &config.pipeline_options(),
                linear: need_linear,
            },
            selection,
        )
        .map_err(&wrap)?;
        let valid_y: Vec<f64> = rows.valid.iter().map(|&r| y[r]).collect();
        let test_y: Vec<f64> = rows.test.iter().map(|&r| y[r]).collect();
        for (name, trials) in plan.base.iter().zip(runs.iter_mut()) {
            let n_trials = trials.len();
            for (t, trial) in trials.iter_mut().enumerate() {
                progress.item(&if n_trials > 1 {
                    format!(
                        "fold {}/{} · {name} trial {}/{n_trials}",
                        k + 1,
                        cv.folds,
                        t + 1
                    )
                } else {
                    format!("fold {}/{} · {name}", k + 1, cv.folds)
                });
                let params = params_for(
                    name,
                    &config.gbdt,
                    &config.logistic,
                    config.seed,
                    Some(&trial.params),
                );
                let fitted = fit(name, &params, &prep, y, &rows.fit, &rows.valid).map_err(&wrap)?;
                let valid = fitted.scores(&prep, &rows.valid);
                let test = fitted.scores(&prep, &rows.test);
                let score = fold_score(&valid_y, &valid, &test_y, &test)
                    .map_err(step(name))
                    .map_err(&wrap)?;
                trial.folds.push(FoldRun {
                    score,
                    valid: if keep_scores { valid } else { Vec::new() },
                    test: if keep_scores { test } else { Vec::new() },
                });
                progress.inc(1);
            }
        }
        folds.push(FoldRows {
            rows,
            valid_y,
            test_y,
        });
    }
    Ok((runs, folds))
}

/// The index of the best summary by `metric` (the earliest among ties).
fn best_index(summaries: &[CvSummary], metric: Metric) -> usize {
    let mut best = 0;
    for (i, s) in summaries.iter().enumerate().skip(1) {
        if metric.better(s.mean.get(metric), summaries[best].mean.get(metric)) {
            best = i;
        }
    }
    best
}

/// A trained candidate, before packaging.
struct Trained {
    result: CandidateResult,
    model: Model,
    valid_scores: Vec<f64>,
}

/// A trained candidate's model.
enum Model {
    Base(Fitted),
    Ensemble(EnsembleMethod),
}

/// Trains every configured candidate on `frame` under `schema` and returns
/// the comparison and the best model.
pub fn train_binary(
    frame: &Frame,
    schema: &Schema,
    config: &TrainConfig,
) -> Result<TrainResult, TrainError> {
    train_binary_with_progress(frame, schema, config, &Silent)
}

/// [`train_binary`], reporting progress to `progress`: the stages are
/// "feature selection", "cross-validation" (one step per fit of a fold)
/// and "training" (one step per fitted candidate or ensemble member).
pub fn train_binary_with_progress(
    frame: &Frame,
    schema: &Schema,
    config: &TrainConfig,
    progress: &dyn Progress,
) -> Result<TrainResult, TrainError> {
    let plan = plan(config)?;
    let y = labels(frame, schema)?;
    let outer = stratified_split(&y, config.test_fraction, config.seed).map_err(step("split"))?;
    let train_y: Vec<f64> = outer.train.iter().map(|&r| y[r]).collect();
    let inner = stratified_split(&train_y, config.valid_fraction, config.seed ^ VALID_SEED)
        .map_err(step("validation split"))?;
    let fit_rows: Vec<usize> = inner.train.iter().map(|&i| outer.train[i]).collect();
    let valid_rows: Vec<usize> = inner.test.iter().map(|&i| outer.train[i]).collect();
    let test_y: Vec<f64> = outer.test.iter().map(|&r| y[r]).collect();
    let valid_y: Vec<f64> = valid_rows.iter().map(|&r| y[r]).collect();
    let need_linear = plan.base.iter().any(|c| c == "logistic");

    if config.feature_selection.is_some() {
        progress.stage("feature selection", 1);
    }
    let prep = prepare(
        frame,
        schema,
        &y,
        &fit_rows,
        &valid_rows,
        Recipe {
            options: &config.pipeline_options(),
            linear: need_linear,
        },
        config.feature_selection.as_ref().map(|s| SelectionStep {
            config: s,
            gbdt: &config.gbdt,
        }),
    )?;
    if config.feature_selection.is_some() {
        progress.inc(1);
    }

    // Cross-validation and search.
    let cv_out = match &plan.cv {
        Some(cv) => Some(cross_validate(
            frame,
            schema,
            config,
            &plan,
            cv,
            &y,
            &outer.train,
            progress,
        )?),
        None => None,
    };
    let metric = plan.cv.as_ref().map_or(Metric::AucPr, |c| c.metric);
    // Per base candidate: the chosen trial's index, its CV summary, the search.
    let mut chosen: Vec<(usize, Option<CvSummary>, Option<SearchResult>)> = Vec::new();
    for (ci, name) in plan.base.iter().enumerate() {
        let Some((runs, _)) = &cv_out else {
            chosen.push((0, None, None));
            continue;
        };
        let summaries: Vec<CvSummary> = runs[ci]
            .iter()
            .map(|t| CvSummary::from_folds(t.folds.iter().map(|f| f.score).collect()))
            .collect();
        let best = best_index(&summaries, metric);
        let search = plan.trials.contains_key(name).then(|| SearchResult {
            method: config.search.as_ref().map(|s| s.method).unwrap_or_default(),
            metric,
            trials: runs[ci]
                .iter()
                .zip(&summaries)
                .map(|(t, s)| Trial {
                    params: t.params.clone(),
                    cv: s.clone(),
                })
                .collect(),
            best,
        });
        chosen.push((best, Some(summaries[best].clone()), search));
    }

    // Final fits of the base candidates.
    let n_ensembles = config
        .candidates
        .iter()
        .filter(|c| ENSEMBLES.contains(&c.as_str()))
        .count();
    progress.stage("training", (plan.base.len() + n_ensembles) as u64);
    let mut trained: BTreeMap<String, Trained> = BTreeMap::new();
    for (ci, name) in plan.base.iter().enumerate() {
        progress.item(name);
        let t0 = Instant::now();
        let (best, cv, search) = chosen[ci].clone();
        let trial = cv_out.as_ref().map(|(runs, _)| &runs[ci][best].params);
        let params = params_for(name, &config.gbdt, &config.logistic, config.seed, trial);
        let fitted = fit(name, &params, &prep, &y, &fit_rows, &valid_rows)?;
        let seconds = t0.elapsed().as_secs_f64();
        let valid_scores = fitted.scores(&prep, &valid_rows);
        let test_scores = fitted.scores(&prep, &outer.test);
        let report = judge(&valid_y, &valid_scores, &test_y, &test_scores)?;
        let importance = if matches!(params, Params::Baseline) {
            Vec::new()
        } else {
            fitted
                .pipeline
                .feature_names()
                .into_iter()
                .zip(fitted.importance.iter().copied())
                .collect()
        };
        trained.insert(
            name.clone(),
            Trained {
                result: CandidateResult {
                    name: name.clone(),
                    report,
                    seconds,
                    test_scores,
                    importance,
                    cv,
                    search,
                    ensemble: None,
                },
                model: Model::Base(fitted),
                valid_scores,
            },
        );
        progress.inc(1);
    }

    // Ensembles of the final base candidates.
    let member_index: Vec<usize> = plan
        .members
        .iter()
        .map(|m| plan.base.iter().position(|b| b == m).unwrap_or(0))
        .collect();
    for name in config
        .candidates
        .iter()
        .filter(|c| ENSEMBLES.contains(&c.as_str()))
    {
        progress.item(name);
        let t0 = Instant::now();
        let member_runs: Option<Vec<&TrialRuns>> = cv_out.as_ref().map(|(runs, _)| {
            member_index
                .iter()
                .map(|&ci| &runs[ci][chosen[ci].0])
                .collect()
        });
        let method = if name == "voting" {
            voting(&config.ensemble, plan.members.len())
        } else {
            let (Some(runs), Some((_, folds))) = (&member_runs, &cv_out) else {
                return Err(TrainError::Ensemble {
                    problem: "internal error: stacking ran without cross-validation; this is a bug, please report it".into(),
                });
            };
            let oof = out_of_fold(runs, folds, outer.train.len());
            fit_stacking(&oof, &train_y, &config.ensemble.meta)?
        };
        // Cross-validation figures of the ensemble itself.
        let cv = match (&member_runs, &cv_out) {
            (Some(runs), Some((_, folds))) => {
                let oof = (name == "stacking").then(|| out_of_fold(runs, folds, outer.train.len()));
                let mut scores = Vec::with_capacity(folds.len());
                for (k, fold) in folds.iter().enumerate() {
                    let fold_method = match &oof {
                        Some(oof) => {
                            let rows = &fold.rows.train_positions;
                            let x: Vec<Vec<f64>> = oof
                                .iter()
                                .map(|m| rows.iter().map(|&p| m[p]).collect())
                                .collect();
                            let fy: Vec<f64> = rows.iter().map(|&p| train_y[p]).collect();
                            fit_stacking(&x, &fy, &config.ensemble.meta)
                                .map_err(in_fold(k, folds.len()))?
                        }
                        None => method.clone(),
                    };
                    let valid: Vec<&[f64]> =
                        runs.iter().map(|r| r.folds[k].valid.as_slice()).collect();
                    let test: Vec<&[f64]> =
                        runs.iter().map(|r| r.folds[k].test.as_slice()).collect();
                    scores.push(
                        fold_score(
                            &fold.valid_y,
                            &combine(&fold_method, &valid),
                            &fold.test_y,
                            &combine(&fold_method, &test),
                        )
                        .map_err(step(name))
                        .map_err(in_fold(k, folds.len()))?,
                    );
                }
                Some(CvSummary::from_folds(scores))
            }
            _ => None,
        };
        let member_results: Vec<&Trained> = plan.members.iter().map(|m| &trained[m]).collect();
        let valid: Vec<&[f64]> = member_results
            .iter()
            .map(|t| t.valid_scores.as_slice())
            .collect();
        let test: Vec<&[f64]> = member_results
            .iter()
            .map(|t| t.result.test_scores.as_slice())
            .collect();
        let valid_scores = combine(&method, &valid);
        let test_scores = combine(&method, &test);
        let report = judge(&valid_y, &valid_scores, &test_y, &test_scores)?;
        let seconds = t0.elapsed().as_secs_f64()
            + member_results.iter().map(|t| t.result.seconds).sum::<f64>();
        trained.insert(
            name.clone(),
            Trained {
                result: CandidateResult {
                    name: name.clone(),
                    report,
                    seconds,
                    test_scores,
                    importance: Vec::new(),
                    cv,
                    search: None,
                    ensemble: Some(EnsembleSummary {
                        members: plan.members.clone(),
                        method: method.clone(),
                    }),
                },
                model: Model::Ensemble(method),
                valid_scores,
            },
        );
        progress.inc(1);
    }

    // The winner.
    let order: Vec<&Trained> = config.candidates.iter().map(|c| &trained[c]).collect();
    let score_of = |t: &Trained| match &t.result.cv {
        Some(cv) if plan.cv.is_some() => cv.mean.get(metric),
        _ => t.result.report.auc_pr,
    };
    let rank_metric = if plan.cv.is_some() {
        metric
    } else {
        Metric::AucPr
    };
    let mut best = 0;
    for i in 1..order.len() {
        if rank_metric.better(score_of(order[i]), score_of(order[best])) {
            best = i;
        }
    }
    let ranked_by = match &plan.cv {
        Some(cv) => format!(
            "mean {} over {} cross-validation folds",
            metric.label(),
            cv.folds
        ),
        None => "AUC-PR on held-out rows".to_string(),
    };
    let winner = order[best];
    let artifact = package(schema, config, &prep, &trained, &plan, winner, &fit_rows)?;
    let candidates = config
        .candidates
        .iter()
        .filter_map(|c| trained.remove(c).map(|t| t.result))
        .collect();
    Ok(TrainResult {
        best: config.candidates[best].clone(),
        candidates,
        ranked_by,
        cv_folds: plan.cv.as_ref().map(|c| c.folds),
        selection: prep.selection.clone(),
        artifact,
        test_labels: test_y,
        test_rows: outer.test.clone(),
    })
}

/// Threshold on the validation rows, metrics on the test rows.
fn judge(
    valid_y: &[f64],
    valid_scores: &[f64],
    test_y: &[f64],
    test_scores: &[f64],
) -> Result<BinaryReport, TrainError> {
    let threshold = threshold_on(valid_y, valid_scores);
    binary_report(test_y, test_scores, threshold, None).map_err(step("evaluation"))
}

/// Each member's out-of-fold probability of every training-part row: the
/// fold that held a row out predicted it.
fn out_of_fold(runs: &[&TrialRuns], folds: &[FoldRows], rows: usize) -> Vec<Vec<f64>> {
    runs.iter()
        .map(|r| {
            let mut oof = vec![f64::NAN; rows];
            for (fold, run) in folds.iter().zip(&r.folds) {
                for (&p, &s) in fold.rows.test_positions.iter().zip(&run.test) {
                    oof[p] = s;
                }
            }
            oof
        })
        .collect()
}

/// Packages the winner with its reference histograms and lineage.
#[allow(clippy::too_many_arguments)]
fn package(
    schema: &Schema,
    config: &TrainConfig,
    prep: &Prepared,
    trained: &BTreeMap<String, Trained>,
    plan: &Plan,
    winner: &Trained,
    fit_rows: &[usize],
) -> Result<ModelArtifact, TrainError> {
    let base_of = |name: &str| -> Result<&Fitted, TrainError> {
        match trained.get(name).map(|t| &t.model) {
            Some(Model::Base(f)) => Ok(f),
            _ => Err(TrainError::Ensemble {
                problem: format!(
                    "internal error: member '{name}' was not trained; this is a bug, please report it"
                ),
            }),
        }
    };
    // The pipeline whose features the reference describes, and the scores.
    let (pipeline, estimator, first, fit_scores): (FeaturePipeline, Estimator, &Fitted, Vec<f64>) =
        match &winner.model {
            Model::Base(f) => (
                f.pipeline.clone(),
                f.estimator.clone(),
                f,
                f.scores(prep, fit_rows),
            ),
            Model::Ensemble(method) => {
                let fitted: Vec<&Fitted> = plan
                    .members
                    .iter()
                    .map(|m| base_of(m))
                    .collect::<Result<_, _>>()?;
                let member_scores: Vec<Vec<f64>> =
                    fitted.iter().map(|f| f.scores(prep, fit_rows)).collect();
                let refs: Vec<&[f64]> = member_scores.iter().map(Vec::as_slice).collect();
                let members = plan
                    .members
                    .iter()
                    .zip(&fitted)
                    .map(|(name, f)| Member {
                        name: name.clone(),
                        pipeline: f.pipeline.clone(),
                        estimator: f.estimator.clone(),
                    })
                    .collect();
                (
                    fitted[0].pipeline.clone(),
                    Estimator::Ensemble {
                        members,
                        method: method.clone(),
                    },
                    fitted[0],
                    combine(method, &refs),
                )
            }
        };
    let names = pipeline.feature_names();
    let mut reference: Vec<ReferenceHistogram> = (0..pipeline.width())
        .map(|j| {
            let values: Vec<f64> = fit_rows
                .iter()
                .map(|&r| first.features(prep, r)[j])
                .collect();
            ReferenceHistogram::from_values(&names[j], &values, 20)
        })
        .collect();
    reference.push(ReferenceHistogram::from_values("__score", &fit_scores, 20));
    let r = &winner.result.report;
    let mut metrics: BTreeMap<String, f64> = [
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
    if let Some(cv) = &winner.result.cv {
        for m in Metric::ALL {
            metrics.insert(format!("cv_{}_mean", m.name()), cv.mean.get(m));
            metrics.insert(format!("cv_{}_std", m.name()), cv.std.get(m));
        }
    }
    Ok(ModelArtifact {
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
    })
}
