//! The promotion gate: the rules a version must meet before it gets a
//! guarded alias (by default `production`), and why it failed them.

use serde::{Deserialize, Serialize};

use crate::registry::ModelVersion;
use crate::tracking::MetricGoal;

/// The rules a candidate must meet to receive a gated alias.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PromotionPolicy {
    /// The deciding metric, as recorded on the version (e.g. `auc_pr`).
    /// Whether larger or smaller is better follows [`MetricGoal::of`].
    pub metric: String,
    /// How much worse than the current holder of the alias the candidate
    /// may be (AUC-PR ≥ production's − tolerance).
    pub tolerance: f64,
    /// An absolute bound the candidate must meet even without a current
    /// holder (a minimum when larger is better, else a maximum).
    pub threshold: Option<f64>,
    /// The candidate's input schema hash must equal the current holder's.
    pub require_same_schema: bool,
    /// Both must have been evaluated on the same holdout snapshot, so
    /// their metrics are comparable.
    pub require_same_holdout: bool,
    /// The aliases this policy guards.
    pub gated_aliases: Vec<String>,
}

impl Default for PromotionPolicy {
    fn default() -> Self {
        PromotionPolicy {
            metric: "auc_pr".into(),
            tolerance: 0.005,
            threshold: None,
            require_same_schema: true,
            require_same_holdout: true,
            gated_aliases: vec!["production".into()],
        }
    }
}

impl PromotionPolicy {
    /// Whether `alias` is guarded by this policy.
    pub fn guards(&self, alias: &str) -> bool {
        self.gated_aliases.iter().any(|a| a == alias)
    }

    /// Every rule `candidate` fails against the alias's current holder
    /// (`None` when the alias is new: only the metric's presence and the
    /// threshold apply).
    pub fn evaluate(
        &self,
        candidate: &ModelVersion,
        current: Option<&ModelVersion>,
    ) -> Vec<GateFailure> {
        let mut failures = Vec::new();
        let goal = MetricGoal::of(&self.metric);
        let cand_value = candidate.metrics.get(&self.metric).copied();
        match cand_value {
            None => failures.push(GateFailure::MetricMissing {
                metric: self.metric.clone(),
                version: candidate.version,
            }),
            Some(c) => {
                if let Some(limit) = self.threshold {
                    let ok = match goal {
                        MetricGoal::Maximize => c >= limit,
                        MetricGoal::Minimize => c <= limit,
                    };
                    if !ok {
                        failures.push(GateFailure::Threshold {
                            metric: self.metric.clone(),
                            candidate: c,
                            limit,
                            goal,
                        });
                    }
                }
                if let Some(p) = current.and_then(|cur| cur.metrics.get(&self.metric).copied()) {
                    let required = match goal {
                        MetricGoal::Maximize => p - self.tolerance,
                        MetricGoal::Minimize => p + self.tolerance,
                    };
                    let ok = match goal {
                        MetricGoal::Maximize => c >= required,
                        MetricGoal::Minimize => c <= required,
                    };
                    if !ok {
                        failures.push(GateFailure::WorseThanCurrent {
                            metric: self.metric.clone(),
                            candidate: c,
                            current: p,
                            current_version: current.map(|v| v.version).unwrap_or(0),
                            tolerance: self.tolerance,
                            required,
                            goal,
                        });
                    }
                }
            }
        }
        if let Some(cur) = current {
            if self.require_same_schema && cur.schema_hash != candidate.schema_hash {
                failures.push(GateFailure::SchemaMismatch {
                    candidate: candidate.schema_hash.clone(),
                    current: cur.schema_hash.clone(),
                    current_version: cur.version,
                });
            }
            let same_holdout = match (&candidate.holdout_snapshot, &cur.holdout_snapshot) {
                (Some(a), Some(b)) => a == b,
                _ => false,
            };
            if self.require_same_holdout && !same_holdout {
                failures.push(GateFailure::HoldoutMismatch {
                    candidate: candidate.holdout_snapshot.clone(),
                    current: cur.holdout_snapshot.clone(),
                    current_version: cur.version,
                });
            }
        }
        failures
    }
}

/// One rule of the promotion gate that a candidate failed, with its
/// numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum GateFailure {
    /// The candidate has no value for the deciding metric.
    MetricMissing {
        /// The metric.
        metric: String,
        /// The candidate version.
        version: i64,
    },
    /// The candidate misses the absolute threshold.
    Threshold {
        /// The metric.
        metric: String,
        /// The candidate's value.
        candidate: f64,
        /// The threshold.
        limit: f64,
        /// Whether larger or smaller is better.
        goal: MetricGoal,
    },
    /// The candidate is worse than the current holder by more than the
    /// tolerance.
    WorseThanCurrent {
        /// The metric.
        metric: String,
        /// The candidate's value.
        candidate: f64,
        /// The current holder's value.
        current: f64,
        /// The current holder's version.
        current_version: i64,
        /// The allowed shortfall.
        tolerance: f64,
        /// The value the candidate needed.
        required: f64,
        /// Whether larger or smaller is better.
        goal: MetricGoal,
    },
    /// The candidate expects different input columns than the current
    /// holder.
    SchemaMismatch {
        /// The candidate's schema hash.
        candidate: String,
        /// The current holder's schema hash.
        current: String,
        /// The current holder's version.
        current_version: i64,
    },
    /// The two were not evaluated on the same holdout snapshot, so their
    /// metrics are not comparable.
    HoldoutMismatch {
        /// The candidate's holdout snapshot.
        candidate: Option<String>,
        /// The current holder's holdout snapshot.
        current: Option<String>,
        /// The current holder's version.
        current_version: i64,
    },
}

impl std::fmt::Display for GateFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let short = |s: &str| s.chars().take(12).collect::<String>();
        match self {
            GateFailure::MetricMissing { metric, version } => {
                write!(
                    f,
                    "version {version} has no '{metric}' metric to judge it by"
                )
            }
            GateFailure::Threshold {
                metric,
                candidate,
                limit,
                goal,
            } => {
                let rel = if *goal == MetricGoal::Maximize {
                    "at least"
                } else {
                    "at most"
                };
                write!(f, "{metric} {candidate:.6} must be {rel} {limit:.6}")
            }
            GateFailure::WorseThanCurrent {
                metric,
                candidate,
                current,
                current_version,
                tolerance,
                required,
                goal,
            } => {
                let rel = if *goal == MetricGoal::Maximize {
                    "at least"
                } else {
                    "at most"
                };
                write!(
                    f,
                    "{metric} {candidate:.6} must be {rel} {required:.6} (version {current_version} has {current:.6}, tolerance {tolerance})"
                )
            }
            GateFailure::SchemaMismatch {
                candidate,
                current,
                current_version,
            } => write!(
                f,
                "input schema {} differs from version {current_version}'s {}",
                short(candidate),
                short(current)
            ),
            GateFailure::HoldoutMismatch {
                candidate,
                current,
                current_version,
            } => write!(
                f,
                "evaluated on holdout {} but version {current_version} on {}; metrics are only comparable on the same holdout snapshot",
                candidate
                    .as_deref()
                    .map(short)
                    .unwrap_or_else(|| "(none recorded)".into()),
                current
                    .as_deref()
                    .map(short)
                    .unwrap_or_else(|| "(none recorded)".into())
            ),
        }
    }
}
