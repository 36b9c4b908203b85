//! Ensembles of the base candidates, trained and compared like any other
//! candidate:
//!
//! * `voting` — soft voting, the weighted mean of the members'
//!   probabilities (scikit-learn's `VotingClassifier(voting="soft")`);
//! * `stacking` — a logistic regression on the members' probabilities
//!   (scikit-learn's `StackingClassifier`, whose default final estimator is
//!   `LogisticRegression()` with `C = 1`), fitted on out-of-fold
//!   predictions: each training row's member probabilities come from the
//!   cross-validation fold that held it out, so the meta-model never sees
//!   a member's prediction on a row it was trained on. The members it
//!   serves with are then the ones fitted on all fitting rows.
//!
//! Stacking therefore always needs cross-validation; asking for it turns
//! cross-validation on with its defaults. Its own cross-validation figures
//! are those of the meta-model cross-validated on the out-of-fold
//! predictions (fold `k`'s meta-model is fitted on the other folds' rows),
//! not a full nested cross-validation, which would fit every member
//! `folds²` times.

use crate::linear::{LogisticParams, fit_logistic};
use crate::trainer::{CANDIDATES, TrainError};
use fathom_model::artifact::EnsembleMethod;
use serde::{Deserialize, Serialize};

/// The ensemble candidates.
pub const ENSEMBLES: &[&str] = &["voting", "stacking"];

/// Settings of the ensemble candidates (`[train.ensemble]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct EnsembleConfig {
    /// Base candidates to combine; empty means every trained base candidate
    /// except the baseline (which only shifts probabilities).
    pub members: Vec<String>,
    /// Soft-voting weights, one per member; empty means equal weights.
    pub weights: Vec<f64>,
    /// Stacking meta-model settings (scikit-learn's defaults: `C = 1`).
    pub meta: LogisticParams,
}

/// What an ensemble candidate combined, for reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnsembleSummary {
    /// Its members, in order.
    pub members: Vec<String>,
    /// Its weights or meta-model.
    pub method: EnsembleMethod,
}

/// The members an ensemble combines: the configured ones, or else every
/// listed base candidate (`listed`, in configured order) except the
/// baseline. A configured member need not be a listed candidate: it is then
/// trained for the ensemble but not compared itself (as scikit-learn's
/// ensembles fit their own estimators).
pub(crate) fn resolve_members(
    config: &EnsembleConfig,
    listed: &[String],
) -> Result<Vec<String>, TrainError> {
    let bad = |problem: String| TrainError::Ensemble { problem };
    let members: Vec<String> = if config.members.is_empty() {
        listed
            .iter()
            .filter(|c| *c != "baseline")
            .cloned()
            .collect()
    } else {
        config.members.clone()
    };
    for m in &members {
        if ENSEMBLES.contains(&m.as_str()) || !CANDIDATES.contains(&m.as_str()) {
            return Err(bad(format!(
                "member '{m}' is not a base candidate; members can be: baseline, logistic, random_forest, gbdt"
            )));
        }
        if members.iter().filter(|x| *x == m).count() > 1 {
            return Err(bad(format!("member '{m}' is listed twice")));
        }
    }
    if members.len() < 2 {
        return Err(bad(format!(
            "an ensemble needs at least two members, but it has {} ({}); list more base candidates, or name the members in [train.ensemble] members = [\"logistic\", \"gbdt\"]",
            members.len(),
            if members.is_empty() {
                "none".to_string()
            } else {
                members.join(", ")
            }
        )));
    }
    if !config.weights.is_empty() {
        if config.weights.len() != members.len() {
            return Err(bad(format!(
                "{} weight(s) for {} members ({}); give one weight per member",
                config.weights.len(),
                members.len(),
                members.join(", ")
            )));
        }
        if config.weights.iter().any(|w| !(w.is_finite() && *w >= 0.0))
            || config.weights.iter().sum::<f64>() <= 0.0
        {
            return Err(bad(format!(
                "weights {:?} must be finite, >= 0 and not all 0",
                config.weights
            )));
        }
    }
    Ok(members)
}

/// Soft voting with the configured weights (equal when none).
pub(crate) fn voting(config: &EnsembleConfig, members: usize) -> EnsembleMethod {
    EnsembleMethod::SoftVoting {
        weights: if config.weights.is_empty() {
            vec![1.0; members]
        } else {
            config.weights.clone()
        },
    }
}

/// Fits the stacking meta-model on member probabilities `member_scores`
/// (one vector per member, one value per row) and labels `y`.
pub(crate) fn fit_stacking(
    member_scores: &[Vec<f64>],
    y: &[f64],
    meta: &LogisticParams,
) -> Result<EnsembleMethod, TrainError> {
    let m = fit_logistic(member_scores, y, None, meta).map_err(|e| TrainError::Ensemble {
        problem: format!("stacking meta-model: {e}"),
    })?;
    Ok(EnsembleMethod::Stacking {
        coef: m.coef,
        intercept: m.intercept,
    })
}

/// Combines per-member score vectors row by row.
pub(crate) fn combine(method: &EnsembleMethod, member_scores: &[&[f64]]) -> Vec<f64> {
    let rows = member_scores.first().map_or(0, |s| s.len());
    (0..rows)
        .map(|r| method.combine(|k| member_scores[k][r]))
        .collect()
}
