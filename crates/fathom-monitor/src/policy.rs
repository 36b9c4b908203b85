//! The drift policy as data: what to do about a monitoring run's findings.
//!
//! Given this run's drift finding, a performance drop (if labels showed
//! one) and the drifted features of earlier runs, [`decide`] writes a
//! [`Decision`] record that the pipeline acts on:
//!
//! | drift (warn or severe) | performance drop | action |
//! |---|---|---|
//! | no | no | `none` |
//! | warn | no | `investigate` (alert the owner) |
//! | severe | no | `investigate`; `retrain` when `retrain_on_severe_drift` is on (off by default) |
//! | yes | yes | `retrain`: drift and decay |
//! | no | yes | `retrain` when `retrain_on_performance_drop` (default): concept drift, performance dropped while the inputs did not move; else `investigate` |
//!
//! Beside the action, a feature that drifted in at least `repeat_count` of
//! the last `repeat_window` runs (this one included) gives the
//! recommendation `revisit_features`: a feature that keeps moving needs its
//! definition or source looked at, not another retraining.
//!
//! ```toml
//! [monitor.policy]
//! repeat_count = 3
//! repeat_window = 5
//! retrain_on_severe_drift = false
//! retrain_on_performance_drop = true
//! ```

use crate::{MonitorError, Verdict};
use fathom_report::format::{fmt_num, fmt_pct};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Settings of the drift policy (`[monitor.policy]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// A feature drifted in at least this many runs of the window is
    /// recommended for a revisit.
    pub repeat_count: usize,
    /// How many of the latest runs (this one included) are counted.
    pub repeat_window: usize,
    /// Severe drift alone is reason to retrain (off by default: drift
    /// without a performance drop is investigated, since a model may stay
    /// good on moved inputs, and retraining needs the evidence of a drop).
    pub retrain_on_severe_drift: bool,
    /// A performance drop without input drift (concept drift) is reason to
    /// retrain.
    pub retrain_on_performance_drop: bool,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            repeat_count: 3,
            repeat_window: 5,
            retrain_on_severe_drift: false,
            retrain_on_performance_drop: true,
        }
    }
}

impl PolicyConfig {
    /// Checks `1 ≤ repeat_count ≤ repeat_window ≤ 1000`.
    pub fn check(&self) -> Result<(), MonitorError> {
        if !(1 <= self.repeat_count
            && self.repeat_count <= self.repeat_window
            && self.repeat_window <= 1000)
        {
            return Err(MonitorError::Policy(format!(
                "repeat_count {} and repeat_window {} must satisfy 1 ≤ repeat_count ≤ repeat_window ≤ 1000 (e.g. 3 and 5)",
                self.repeat_count, self.repeat_window
            )));
        }
        Ok(())
    }
}

/// This run's drift, as the policy needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftFinding {
    /// The verdict from the share of drifted features.
    pub verdict: Verdict,
    /// The share of drifted features, 0 to 1.
    pub share: f64,
    /// The drifted features' names.
    pub drifted_features: Vec<String>,
}

/// A drop of a performance metric, found from labels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerformanceDrop {
    /// The metric, e.g. `auc_roc`.
    pub metric: String,
    /// Its value when the model was promoted (or another baseline).
    pub baseline: f64,
    /// Its value now.
    pub current: f64,
    /// What was measured, for people (e.g. "rolling AUC over 7 days"); may be empty.
    pub message: String,
}

/// The drifted features of an earlier run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PastFinding {
    /// When it ran (ms since the Unix epoch).
    pub time_ms: i64,
    /// The features that drifted then.
    pub drifted_features: Vec<String>,
}

/// What the policy decides on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyInput {
    /// The model's name.
    pub model: String,
    /// Its registered version, if any.
    pub version: Option<i64>,
    /// When this run happened (ms since the Unix epoch).
    pub time_ms: i64,
    /// This run's drift; `None` when drift was not measured.
    pub drift: Option<DriftFinding>,
    /// A performance drop, when labels show one.
    pub performance_drop: Option<PerformanceDrop>,
    /// Earlier runs, any order; runs at or after `time_ms` are ignored.
    pub history: Vec<PastFinding>,
}

/// What the pipeline does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Nothing to do.
    None,
    /// Alert the owner to look into it.
    Investigate,
    /// Train a new candidate on recent data.
    Retrain,
}

impl Action {
    /// `none`, `investigate` or `retrain`.
    pub fn name(self) -> &'static str {
        match self {
            Action::None => "none",
            Action::Investigate => "investigate",
            Action::Retrain => "retrain",
        }
    }
}

/// Advice carried beside the action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Recommendation {
    /// These features keep drifting: look at their definition and source.
    RevisitFeatures {
        /// The repeated features, most often drifted first.
        features: Vec<String>,
    },
}

/// A feature that drifted repeatedly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepeatedFeature {
    /// Its name.
    pub feature: String,
    /// In how many runs of the window it drifted.
    pub count: usize,
    /// How many runs the window held.
    pub window: usize,
}

/// The figures behind a decision.
#[derive(Default, Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// This run's drift verdict, if measured.
    pub drift_verdict: Option<Verdict>,
    /// This run's share of drifted features, if measured.
    pub drift_share: Option<f64>,
    /// This run's drifted features.
    pub drifted_features: Vec<String>,
    /// Features at or above `repeat_count` in the window, most first.
    pub repeated_features: Vec<RepeatedFeature>,
    /// The performance drop, if any.
    pub performance: Option<PerformanceDrop>,
}

/// The decision record: what to do, why, and the figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The model's name.
    pub model: String,
    /// Its registered version, if any.
    pub version: Option<i64>,
    /// When the run happened (ms since the Unix epoch).
    pub time_ms: i64,
    /// What the pipeline does.
    pub action: Action,
    /// Advice beside the action.
    pub recommendations: Vec<Recommendation>,
    /// Sentences for people, with the numbers.
    pub reasons: Vec<String>,
    /// The figures.
    pub evidence: Evidence,
}

impl Decision {
    /// Whether the pipeline should retrain.
    pub fn is_retrain(&self) -> bool {
        self.action == Action::Retrain
    }

    /// Whether someone should be told: an action or a recommendation.
    pub fn needs_attention(&self) -> bool {
        self.action != Action::None || !self.recommendations.is_empty()
    }

    /// The record as JSON (fields in declaration order).
    pub fn to_json(&self) -> Result<String, MonitorError> {
        serde_json::to_string_pretty(self).map_err(|e| MonitorError::Policy(e.to_string()))
    }
}

/// Applies the policy to one run's findings.
///
/// Fails on invalid settings, a drift share outside 0..1, or performance
/// figures that are not finite numbers.
pub fn decide(input: &PolicyInput, config: &PolicyConfig) -> Result<Decision, MonitorError> {
    config.check()?;
    let bad = |m: String| Err(MonitorError::Policy(m));
    if let Some(d) = &input.drift
        && !(0.0..=1.0).contains(&d.share)
    {
        return bad(format!(
            "model '{}': drift share {} is not between 0 and 1",
            input.model, d.share
        ));
    }
    if let Some(p) = &input.performance_drop
        && !(p.baseline.is_finite() && p.current.is_finite())
    {
        return bad(format!(
            "model '{}': performance drop of {} has baseline {} and current {}; both must be numbers",
            input.model, p.metric, p.baseline, p.current
        ));
    }

    let drifted = input
        .drift
        .as_ref()
        .is_some_and(|d| matches!(d.verdict, Verdict::Warn | Verdict::Severe));
    let severe = input
        .drift
        .as_ref()
        .is_some_and(|d| d.verdict == Verdict::Severe);
    let mut reasons = Vec::new();
    let action = match (&input.drift, &input.performance_drop) {
        (Some(d), Some(p)) if drifted => {
            reasons.push(format!(
                "Drift and decay: {} and {}.",
                drift_words(d),
                drop_words(p)
            ));
            Action::Retrain
        }
        (Some(d), None) if drifted => {
            if severe && config.retrain_on_severe_drift {
                reasons.push(format!(
                    "Severe input drift: {}; retrain on recent data.",
                    drift_words(d)
                ));
                Action::Retrain
            } else if severe {
                reasons.push(format!(
                    "Severe input drift: {}; performance has not dropped and retraining on drift alone is off (retrain_on_severe_drift = false), so investigate.",
                    drift_words(d)
                ));
                Action::Investigate
            } else {
                reasons.push(format!(
                    "Input drift (warn): {}; performance has not dropped, so investigate before retraining.",
                    drift_words(d)
                ));
                Action::Investigate
            }
        }
        (drift, Some(p)) => {
            let inputs = match drift {
                Some(d) if d.verdict == Verdict::NoData => {
                    "input drift had no data to compare".to_string()
                }
                Some(d) => format!("inputs did not move ({})", drift_words(d)),
                None => "input drift was not measured".to_string(),
            };
            if config.retrain_on_performance_drop {
                reasons.push(format!(
                    "Concept drift: performance dropped while {inputs}: {}.",
                    drop_words(p)
                ));
                Action::Retrain
            } else {
                reasons.push(format!(
                    "Concept drift: performance dropped while {inputs}: {}; retraining on a performance drop is off (retrain_on_performance_drop = false), so investigate.",
                    drop_words(p)
                ));
                Action::Investigate
            }
        }
        (Some(d), None) if d.verdict == Verdict::NoData => {
            reasons.push(
                "Input drift had no data to compare (no rows, or no feature with values on both sides); no performance drop.".to_string(),
            );
            Action::None
        }
        (Some(d), None) => {
            reasons.push(format!(
                "No input drift to act on: {}, below the warning share; no performance drop.",
                drift_words(d)
            ));
            Action::None
        }
        (None, None) => {
            reasons.push("Input drift was not measured and performance did not drop.".to_string());
            Action::None
        }
    };
    if let Some(p) = &input.performance_drop
        && !p.message.trim().is_empty()
    {
        reasons.push(p.message.trim().to_string());
    }

    let repeated = repeated_features(input, config);
    let mut recommendations = Vec::new();
    if !repeated.is_empty() {
        let list: Vec<String> = repeated
            .iter()
            .map(|r| format!("{} in {} of the last {} runs", r.feature, r.count, r.window))
            .collect();
        reasons.push(format!(
            "Repeated drift: {}; revisit these features (definition, source, whether the model needs them).",
            list.join(", ")
        ));
        recommendations.push(Recommendation::RevisitFeatures {
            features: repeated.iter().map(|r| r.feature.clone()).collect(),
        });
    }

    Ok(Decision {
        model: input.model.clone(),
        version: input.version,
        time_ms: input.time_ms,
        action,
        recommendations,
        reasons,
        evidence: Evidence {
            drift_verdict: input.drift.as_ref().map(|d| d.verdict),
            drift_share: input.drift.as_ref().map(|d| d.share),
            drifted_features: input
                .drift
                .as_ref()
                .map(|d| d.drifted_features.clone())
                .unwrap_or_default(),
            repeated_features: repeated,
            performance: input.performance_drop.clone(),
        },
    })
}

/// Features that drifted in at least `repeat_count` of the latest
/// `repeat_window` runs: this one (when drift was measured) and the most
/// recent earlier ones. Most often drifted first, then by name.
fn repeated_features(input: &PolicyInput, config: &PolicyConfig) -> Vec<RepeatedFeature> {
    let mut runs: Vec<BTreeSet<&str>> = Vec::new();
    if let Some(d) = &input.drift {
        runs.push(d.drifted_features.iter().map(String::as_str).collect());
    }
    let mut past: Vec<&PastFinding> = input
        .history
        .iter()
        .filter(|p| p.time_ms < input.time_ms)
        .collect();
    past.sort_by_key(|p| std::cmp::Reverse(p.time_ms));
    for p in past {
        if runs.len() >= config.repeat_window {
            break;
        }
        runs.push(p.drifted_features.iter().map(String::as_str).collect());
    }
    let window = runs.len();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for run in &runs {
        for f in run {
            *counts.entry(f).or_default() += 1;
        }
    }
    let mut out: Vec<RepeatedFeature> = counts
        .into_iter()
        .filter(|(_, c)| *c >= config.repeat_count)
        .map(|(f, count)| RepeatedFeature {
            feature: f.to_string(),
            count,
            window,
        })
        .collect();
    out.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.feature.cmp(&b.feature))
    });
    out
}

/// "18.2% of features drifted (amount, country)".
fn drift_words(d: &DriftFinding) -> String {
    let share = fmt_pct(d.share);
    if d.drifted_features.is_empty() {
        format!("{share} of features drifted")
    } else {
        format!(
            "{share} of features drifted ({})",
            d.drifted_features.join(", ")
        )
    }
}

/// "auc_roc went from 0.91 to 0.84 (−0.07)".
fn drop_words(p: &PerformanceDrop) -> String {
    format!(
        "{} went from {} to {} ({})",
        p.metric,
        fmt_num(p.baseline),
        fmt_num(p.current),
        signed(p.current - p.baseline)
    )
}

/// A difference with its sign: "+0.02", "−0.07".
fn signed(v: f64) -> String {
    // Rounded to the shown digits so that 0.84 − 0.91 reads −0.07.
    let r = (v * 1e6).round() / 1e6;
    if r < 0.0 {
        format!("−{}", fmt_num(-r))
    } else {
        format!("+{}", fmt_num(r))
    }
}
