//! Hyper-parameter search over a declared space: grid (every combination)
//! or random (seeded samples), each trial scored by the mean of the ranking
//! metric over the cross-validation folds.
//!
//! A space is declared per candidate in `fathom.toml`:
//!
//! ```toml
//! [train.search]
//! method = "random"          # or "grid"
//! n_iter = 20                # random search: number of trials
//!
//! [train.search.space.gbdt]
//! num_leaves = { values = [15, 31, 63] }
//! learning_rate = { low = 0.01, high = 0.3, log = true }
//! min_data_in_leaf = { low = 5, high = 100 }
//!
//! [train.search.space.logistic]
//! c = { low = 0.001, high = 100.0, log = true }
//! ```
//!
//! Behaviour follows scikit-learn's `ParameterGrid` and `ParameterSampler`:
//! parameters are taken in name order; a grid varies the last name
//! fastest; a random search samples a list uniformly and a range uniformly
//! (or log-uniformly with `log = true`, for rates and penalties), and when
//! every parameter is a list it draws grid points without replacement (so
//! `n_iter` at least the grid size runs the whole grid once). Integer
//! parameters (`num_leaves`, …) are rounded. The trial with the best mean
//! wins (the earliest among exact ties); the candidate is then refitted
//! with it on all fitting rows and judged on the test rows like any other.

use crate::cv::{CvSummary, Metric};
use crate::gbdt::GbdtParams;
use crate::linear::LogisticParams;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use thiserror::Error;

/// Settings of a search (`[train.search]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchConfig {
    /// Grid or random.
    pub method: SearchMethod,
    /// Random search: trials per candidate.
    pub n_iter: usize,
    /// The space of each searched candidate, by candidate name.
    pub space: BTreeMap<String, SearchSpace>,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            method: SearchMethod::Random,
            n_iter: 10,
            space: BTreeMap::new(),
        }
    }
}

/// How trials are drawn from a space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SearchMethod {
    /// Every combination of the listed values.
    Grid,
    /// `n_iter` seeded samples.
    #[default]
    Random,
}

/// One candidate's space: parameter name → values or range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct SearchSpace {
    /// The parameters, in name order.
    pub params: BTreeMap<String, ParamSpec>,
}

/// The values one parameter may take: a list (`values = [...]`, for grid
/// and random search) or a range (`{ low, high, log }`, random search only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ParamSpec {
    /// The listed values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<f64>>,
    /// Lower end of the range (inclusive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub low: Option<f64>,
    /// Upper end of the range (inclusive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub high: Option<f64>,
    /// Sample the range log-uniformly (for rates and penalties; needs `low > 0`).
    pub log: bool,
}

impl ParamSpec {
    /// A list of values.
    pub fn values(values: &[f64]) -> Self {
        ParamSpec {
            values: Some(values.to_vec()),
            ..Default::default()
        }
    }

    /// A range, log-uniform when `log`.
    pub fn range(low: f64, high: f64, log: bool) -> Self {
        ParamSpec {
            low: Some(low),
            high: Some(high),
            log,
            ..Default::default()
        }
    }
}

/// One trial: the parameters it set and its cross-validation result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    /// Parameter values, by name.
    pub params: BTreeMap<String, f64>,
    /// Its folds and their mean ± standard deviation.
    pub cv: CvSummary,
}

/// A candidate's search: every trial and the winner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    /// Grid or random.
    pub method: SearchMethod,
    /// The metric trials were ranked by (mean over folds).
    pub metric: Metric,
    /// Every trial, in the order run.
    pub trials: Vec<Trial>,
    /// Index of the best trial in `trials`.
    pub best: usize,
}

impl SearchResult {
    /// The best trial.
    pub fn best_trial(&self) -> &Trial {
        &self.trials[self.best]
    }
}

/// Why a search cannot run. Each message names the candidate and parameter.
#[derive(Debug, Error, PartialEq)]
pub enum SearchError {
    /// `[train.search]` declares no space.
    #[error(
        "the search declares no space; add e.g. [train.search.space.gbdt] with num_leaves = {{ values = [15, 31, 63] }}, or remove [train.search]"
    )]
    NoSpace,
    /// A space for a candidate that cannot be searched.
    #[error("candidate '{candidate}' has no parameters to search; spaces can be declared for: {}", SEARCHABLE.join(", "))]
    NotSearchable {
        /// The candidate.
        candidate: String,
    },
    /// A space for a candidate that is not trained.
    #[error(
        "a search space is declared for '{candidate}', but it is not among the candidates to train ({trained}); add it to the candidates or remove its space"
    )]
    NotTrained {
        /// The candidate.
        candidate: String,
        /// The candidates that are trained.
        trained: String,
    },
    /// A space without parameters.
    #[error(
        "the search space of '{candidate}' is empty; give at least one parameter, e.g. num_leaves = {{ values = [15, 31] }}"
    )]
    EmptySpace {
        /// The candidate.
        candidate: String,
    },
    /// A parameter the candidate does not have.
    #[error("'{candidate}' has no parameter '{name}' to search; its parameters are: {}", known.join(", "))]
    UnknownParameter {
        /// The candidate.
        candidate: String,
        /// The name given.
        name: String,
        /// The names it knows.
        known: Vec<&'static str>,
    },
    /// A malformed values list or range.
    #[error("search space {candidate}.{name}: {problem}")]
    BadSpec {
        /// The candidate.
        candidate: String,
        /// The parameter.
        name: String,
        /// What is wrong and what to write instead.
        problem: String,
    },
    /// Random search with no trials.
    #[error("n_iter = 0: random search needs at least one trial")]
    NoTrials,
    /// A trial's parameters are out of the candidate's range.
    #[error("search space of '{candidate}' yields an invalid trial ({params}): {problem}")]
    InvalidTrial {
        /// The candidate.
        candidate: String,
        /// The trial's parameters.
        params: String,
        /// The candidate's complaint.
        problem: String,
    },
}

/// Candidates with a space.
pub const SEARCHABLE: &[&str] = &["logistic", "random_forest", "gbdt"];

/// Parameters of the tree candidates: (name, integer).
const TREE_PARAMS: &[(&str, bool)] = &[
    ("bagging_fraction", false),
    ("bagging_freq", true),
    ("cat_l2", false),
    ("cat_smooth", false),
    ("feature_fraction", false),
    ("lambda_l1", false),
    ("lambda_l2", false),
    ("learning_rate", false),
    ("max_bin", true),
    ("max_cat_threshold", true),
    ("max_depth", true),
    ("min_data_in_leaf", true),
    ("min_data_per_group", true),
    ("min_gain_to_split", false),
    ("min_sum_hessian_in_leaf", false),
    ("num_leaves", true),
    ("num_rounds", true),
    ("scale_pos_weight", false),
];

/// Parameters of the logistic candidate.
const LOGISTIC_PARAMS: &[(&str, bool)] = &[("c", false), ("max_iter", true)];

/// The parameters `candidate` can search: (name, integer).
pub fn known_params(candidate: &str) -> Option<Vec<(&'static str, bool)>> {
    match candidate {
        "gbdt" => Some(TREE_PARAMS.to_vec()),
        // A forest does not shrink its trees.
        "random_forest" => Some(
            TREE_PARAMS
                .iter()
                .copied()
                .filter(|(n, _)| *n != "learning_rate")
                .collect(),
        ),
        "logistic" => Some(LOGISTIC_PARAMS.to_vec()),
        _ => None,
    }
}

/// Sets parameter `name` of a tree candidate's settings.
pub(crate) fn set_tree_param(p: &mut GbdtParams, name: &str, v: f64) {
    let u = v as usize;
    match name {
        "bagging_fraction" => p.bagging_fraction = v,
        "bagging_freq" => p.bagging_freq = u,
        "cat_l2" => p.cat_l2 = v,
        "cat_smooth" => p.cat_smooth = v,
        "feature_fraction" => p.feature_fraction = v,
        "lambda_l1" => p.lambda_l1 = v,
        "lambda_l2" => p.lambda_l2 = v,
        "learning_rate" => p.learning_rate = v,
        "max_bin" => p.max_bin = u,
        "max_cat_threshold" => p.max_cat_threshold = u,
        "max_depth" => p.max_depth = v as i32,
        "min_data_in_leaf" => p.min_data_in_leaf = u,
        "min_data_per_group" => p.min_data_per_group = u,
        "min_gain_to_split" => p.min_gain_to_split = v,
        "min_sum_hessian_in_leaf" => p.min_sum_hessian_in_leaf = v,
        "num_leaves" => p.num_leaves = u,
        "num_rounds" => p.num_rounds = u,
        "scale_pos_weight" => p.scale_pos_weight = v,
        _ => {}
    }
}

/// Sets parameter `name` of the logistic candidate's settings.
pub(crate) fn set_logistic_param(p: &mut LogisticParams, name: &str, v: f64) {
    match name {
        "c" => p.c = v,
        "max_iter" => p.max_iter = v as usize,
        _ => {}
    }
}

fn format_params(params: &BTreeMap<String, f64>) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{k} = {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks every trial of `candidate` against its settings' ranges, before
/// any training runs.
pub(crate) fn check_trials(
    candidate: &str,
    trials: &[BTreeMap<String, f64>],
    tree_base: &GbdtParams,
    logistic_base: &LogisticParams,
) -> Result<(), SearchError> {
    for t in trials {
        let problem = if candidate == "logistic" {
            let mut p = logistic_base.clone();
            t.iter()
                .for_each(|(k, v)| set_logistic_param(&mut p, k, *v));
            (!(p.c.is_finite() && p.c > 0.0))
                .then(|| format!("c = {}: must be a positive number", p.c))
                .or_else(|| (p.max_iter == 0).then(|| "max_iter = 0: must be >= 1".to_string()))
        } else {
            let mut p = tree_base.clone();
            t.iter().for_each(|(k, v)| set_tree_param(&mut p, k, *v));
            p.validate().err().map(|e| e.to_string())
        };
        if let Some(problem) = problem {
            return Err(SearchError::InvalidTrial {
                candidate: candidate.to_string(),
                params: format_params(t),
                problem,
            });
        }
    }
    Ok(())
}

/// Uniform in [0, 1).
fn unit(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Uniform in `0..n` (n > 0), without modulo bias.
fn below(rng: &mut ChaCha8Rng, n: usize) -> usize {
    let bound = n as u64;
    let zone = u64::MAX - u64::MAX % bound;
    loop {
        let x = rng.next_u64();
        if x < zone {
            return (x % bound) as usize;
        }
    }
}

/// A stable 64-bit hash of a name (FNV-1a), to give each candidate its own
/// random stream.
fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Checks one parameter's declaration.
fn check_spec(
    candidate: &str,
    name: &str,
    integer: bool,
    spec: &ParamSpec,
    method: SearchMethod,
) -> Result<(), SearchError> {
    let bad = |problem: String| SearchError::BadSpec {
        candidate: candidate.to_string(),
        name: name.to_string(),
        problem,
    };
    let is_int = |v: f64| v.fract() == 0.0;
    match (&spec.values, spec.low, spec.high) {
        (Some(values), None, None) => {
            if spec.log {
                return Err(bad(
                    "log = true applies to a range { low, high }, not to values".into(),
                ));
            }
            if values.is_empty() {
                return Err(bad("values = [] is empty; list at least one value".into()));
            }
            if let Some(v) = values.iter().find(|v| !v.is_finite()) {
                return Err(bad(format!("value {v} is not a finite number")));
            }
            if integer && let Some(v) = values.iter().find(|v| !is_int(**v)) {
                return Err(bad(format!("value {v} is not a whole number")));
            }
            Ok(())
        }
        (None, Some(low), Some(high)) => {
            if method == SearchMethod::Grid {
                return Err(bad(
                    "grid search needs values = [...]; a range { low, high } can only be sampled by random search (method = \"random\")".into(),
                ));
            }
            if !(low.is_finite() && high.is_finite() && low <= high) {
                return Err(bad(format!(
                    "range low = {low}, high = {high}: need finite numbers with low <= high"
                )));
            }
            if spec.log && low <= 0.0 {
                return Err(bad(format!(
                    "log = true needs low > 0, got low = {low}"
                )));
            }
            if integer && !(is_int(low) && is_int(high)) {
                return Err(bad(format!(
                    "range low = {low}, high = {high}: this parameter is a whole number, so give whole bounds"
                )));
            }
            Ok(())
        }
        _ => Err(bad(
            "give either values = [...] or a range { low = ..., high = ... } (optionally log = true)".into(),
        )),
    }
}

/// One draw from a range.
fn sample_range(rng: &mut ChaCha8Rng, low: f64, high: f64, log: bool, integer: bool) -> f64 {
    let u = unit(rng);
    if log {
        let v = (low.ln() + u * (high.ln() - low.ln())).exp();
        if integer {
            v.round().clamp(low, high)
        } else {
            v.clamp(low, high)
        }
    } else if integer {
        (low + (u * (high - low + 1.0)).floor()).min(high)
    } else {
        low + u * (high - low)
    }
}

/// The trials of one candidate's space: every grid combination, or
/// `n_iter` random samples seeded by `seed` and the candidate's name.
/// Errors name the candidate and parameter (unknown names list the known
/// ones).
pub fn trials(
    candidate: &str,
    space: &SearchSpace,
    method: SearchMethod,
    n_iter: usize,
    seed: u64,
) -> Result<Vec<BTreeMap<String, f64>>, SearchError> {
    let known = known_params(candidate).ok_or_else(|| SearchError::NotSearchable {
        candidate: candidate.to_string(),
    })?;
    if space.params.is_empty() {
        return Err(SearchError::EmptySpace {
            candidate: candidate.to_string(),
        });
    }
    let mut specs: Vec<(&str, bool, &ParamSpec)> = Vec::new();
    for (name, spec) in &space.params {
        let Some(&(_, integer)) = known.iter().find(|(n, _)| n == name) else {
            return Err(SearchError::UnknownParameter {
                candidate: candidate.to_string(),
                name: name.clone(),
                known: known.iter().map(|(n, _)| *n).collect(),
            });
        };
        check_spec(candidate, name, integer, spec, method)?;
        specs.push((name.as_str(), integer, spec));
    }
    let all_lists = specs.iter().all(|(_, _, s)| s.values.is_some());
    let grid = || -> Vec<BTreeMap<String, f64>> {
        // Odometer over the lists, last name fastest.
        let lists: Vec<&Vec<f64>> = specs
            .iter()
            .map(|(_, _, s)| s.values.as_ref().expect("grid parameters are lists"))
            .collect();
        let total: usize = lists.iter().map(|l| l.len()).product();
        (0..total)
            .map(|mut i| {
                let mut idx = vec![0; lists.len()];
                for (j, l) in lists.iter().enumerate().rev() {
                    idx[j] = i % l.len();
                    i /= l.len();
                }
                specs
                    .iter()
                    .zip(&idx)
                    .zip(&lists)
                    .map(|(((n, _, _), &k), l)| (n.to_string(), l[k]))
                    .collect()
            })
            .collect()
    };
    match method {
        SearchMethod::Grid => Ok(grid()),
        SearchMethod::Random => {
            if n_iter == 0 {
                return Err(SearchError::NoTrials);
            }
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ name_hash(candidate));
            if all_lists {
                // Without replacement: a seeded partial shuffle of the grid.
                let mut points = grid();
                let take = n_iter.min(points.len());
                for i in 0..take {
                    let j = i + below(&mut rng, points.len() - i);
                    points.swap(i, j);
                }
                points.truncate(take);
                return Ok(points);
            }
            Ok((0..n_iter)
                .map(|_| {
                    specs
                        .iter()
                        .map(|(n, integer, s)| {
                            let v = match (&s.values, s.low, s.high) {
                                (Some(values), _, _) => values[below(&mut rng, values.len())],
                                (None, Some(lo), Some(hi)) => {
                                    sample_range(&mut rng, lo, hi, s.log, *integer)
                                }
                                _ => f64::NAN,
                            };
                            (n.to_string(), v)
                        })
                        .collect()
                })
                .collect())
        }
    }
}

/// Checks a search configuration against the candidates to train and
/// returns each searched candidate's trials.
pub(crate) fn plan(
    config: &SearchConfig,
    trained: &[String],
    seed: u64,
    tree_base: &GbdtParams,
    forest_base: &GbdtParams,
    logistic_base: &LogisticParams,
) -> Result<BTreeMap<String, Vec<BTreeMap<String, f64>>>, SearchError> {
    if config.space.is_empty() {
        return Err(SearchError::NoSpace);
    }
    let mut out = BTreeMap::new();
    for (candidate, space) in &config.space {
        if known_params(candidate).is_none() {
            return Err(SearchError::NotSearchable {
                candidate: candidate.clone(),
            });
        }
        if !trained.contains(candidate) {
            return Err(SearchError::NotTrained {
                candidate: candidate.clone(),
                trained: trained.join(", "),
            });
        }
        let t = trials(candidate, space, config.method, config.n_iter, seed)?;
        let base = if candidate == "random_forest" {
            forest_base
        } else {
            tree_base
        };
        check_trials(candidate, &t, base, logistic_base)?;
        out.insert(candidate.clone(), t);
    }
    Ok(out)
}
