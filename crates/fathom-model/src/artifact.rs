//! The model artifact: one file holding everything a deployed model is —
//! its input contract, fitted feature pipeline, estimator, decision
//! threshold, metrics, reference distributions for drift detection and
//! lineage — inside the checksummed [`container`](crate::container).

use crate::container;
use crate::error::ModelError;
use crate::pipeline::FeaturePipeline;
use crate::tree::Ensemble;
use fathom_core::Schema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The estimator inside an artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Estimator {
    /// Gradient-boosted trees or a random forest.
    Trees {
        /// The ensemble.
        ensemble: Ensemble,
    },
    /// A linear model on the pipeline's features: `σ(intercept + coef·x)` for binary.
    Linear {
        /// One coefficient per feature.
        coef: Vec<f64>,
        /// The intercept.
        intercept: f64,
        /// "binary" or "regression".
        objective: String,
    },
    /// A constant: the training base rate (binary) or mean (regression).
    Constant {
        /// The prediction.
        value: f64,
    },
    /// An ensemble of other estimators, each behind its own feature
    /// pipeline, whose outputs are combined by `method`.
    ///
    /// Its feature row is the members' feature rows one after another:
    /// member `k` reads the `members[k].pipeline.width()` features that
    /// follow those of members `0..k`. The artifact's top-level pipeline is
    /// the first member's; every member reads a subset of its input columns.
    Ensemble {
        /// The members, in the order their outputs are combined.
        members: Vec<Member>,
        /// How the members' outputs become one.
        method: EnsembleMethod,
    },
}

/// One member of an [`Estimator::Ensemble`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// The candidate it was trained as (e.g. "gbdt").
    pub name: String,
    /// Its own fitted feature pipeline.
    pub pipeline: FeaturePipeline,
    /// Its estimator (never itself an ensemble).
    pub estimator: Estimator,
}

/// How an [`Estimator::Ensemble`] combines its members' outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EnsembleMethod {
    /// Soft voting: the weighted mean of the members' probabilities,
    /// `Σ wₖ·pₖ / Σ wₖ` (scikit-learn's `VotingClassifier(voting="soft")`).
    SoftVoting {
        /// One non-negative weight per member (not necessarily summing to 1).
        weights: Vec<f64>,
    },
    /// Stacking: a logistic regression on the members' probabilities,
    /// `σ(intercept + Σ coefₖ·pₖ)` (scikit-learn's `StackingClassifier`
    /// with its default final estimator).
    Stacking {
        /// One coefficient per member.
        coef: Vec<f64>,
        /// The meta-model's intercept.
        intercept: f64,
    },
}

impl EnsembleMethod {
    /// Number of members it combines.
    pub fn len(&self) -> usize {
        match self {
            EnsembleMethod::SoftVoting { weights } => weights.len(),
            EnsembleMethod::Stacking { coef, .. } => coef.len(),
        }
    }

    /// Whether it combines no member.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Combines the members' outputs; `member_score(k)` is member `k`'s
    /// probability. Terms are added in member order, so training and
    /// serving get the same bits.
    #[inline]
    pub fn combine(&self, mut member_score: impl FnMut(usize) -> f64) -> f64 {
        match self {
            EnsembleMethod::SoftVoting { weights } => {
                let (mut num, mut den) = (0.0, 0.0);
                for (k, w) in weights.iter().enumerate() {
                    num += w * member_score(k);
                    den += w;
                }
                num / den
            }
            EnsembleMethod::Stacking { coef, intercept } => {
                let mut z = *intercept;
                for (k, c) in coef.iter().enumerate() {
                    z += c * member_score(k);
                }
                1.0 / (1.0 + (-z).exp())
            }
        }
    }
}

impl Estimator {
    /// The prediction for one row of pipeline features (for an
    /// [`Estimator::Ensemble`], its members' features one after another).
    pub fn predict(&self, features: &[f64]) -> f64 {
        match self {
            Estimator::Trees { ensemble } => ensemble.predict(features),
            Estimator::Linear {
                coef,
                intercept,
                objective,
            } => {
                let z = intercept + coef.iter().zip(features).map(|(w, x)| w * x).sum::<f64>();
                if objective == "binary" {
                    1.0 / (1.0 + (-z).exp())
                } else {
                    z
                }
            }
            Estimator::Constant { value } => *value,
            Estimator::Ensemble { members, method } => {
                let mut at = 0;
                // A malformed ensemble (more weights than members) gives
                // NaN; `Predictor::new` refuses it up front.
                method.combine(|k| {
                    let Some(m) = members.get(k) else {
                        return f64::NAN;
                    };
                    let w = m.pipeline.width();
                    let p = m.estimator.predict(features.get(at..at + w).unwrap_or(&[]));
                    at += w;
                    p
                })
            }
        }
    }
}

/// A histogram of one feature (or of the scores) on the training data,
/// the reference later data is compared with for drift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceHistogram {
    /// Feature name, or `__score` for the model's output.
    pub name: String,
    /// Bin edges (`counts.len() + 1` of them); values outside fall in the end bins.
    pub edges: Vec<f64>,
    /// Rows per bin.
    pub counts: Vec<u64>,
    /// Missing values.
    pub missing: u64,
}

impl ReferenceHistogram {
    /// A histogram with up to `bins` quantile bins of `values` (NaN = missing).
    pub fn from_values(name: &str, values: &[f64], bins: usize) -> Self {
        let mut present: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        let missing = (values.len() - present.len()) as u64;
        present.sort_by(f64::total_cmp);
        let mut edges: Vec<f64> = Vec::new();
        if !present.is_empty() {
            let bins = bins.max(1);
            for k in 0..=bins {
                let e = present[((present.len() - 1) * k) / bins];
                if edges.last() != Some(&e) {
                    edges.push(e);
                }
            }
            if edges.len() == 1 {
                edges.push(edges[0]);
            }
        }
        let mut counts = vec![0u64; edges.len().saturating_sub(1)];
        for v in &present {
            // The bin whose upper edge is the first at or above v.
            let i = edges
                .partition_point(|e| e < v)
                .saturating_sub(1)
                .min(counts.len().saturating_sub(1));
            if let Some(c) = counts.get_mut(i) {
                *c += 1;
            }
        }
        ReferenceHistogram {
            name: name.to_string(),
            edges,
            counts,
            missing,
        }
    }
}

/// Where a model came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Lineage {
    /// Content hash of the training data snapshot.
    pub data_snapshot: Option<String>,
    /// Hash of the schema contract.
    pub schema_hash: String,
    /// Random seed.
    pub seed: u64,
    /// Training parameters as given.
    pub params: serde_json::Value,
    /// fathom version that trained it.
    pub fathom_version: String,
    /// Source revision of fathom, when known.
    pub git_commit: Option<String>,
}

/// Everything a deployed model is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelArtifact {
    /// The input contract requests are checked against.
    pub schema: Schema,
    /// The fitted feature pipeline.
    pub pipeline: FeaturePipeline,
    /// The estimator.
    pub estimator: Estimator,
    /// Scores at or above this are positive (binary).
    pub threshold: f64,
    /// Holdout metrics by name; when the candidates were cross-validated,
    /// also `cv_<metric>_mean` and `cv_<metric>_std` (sample standard
    /// deviation over the folds).
    pub metrics: BTreeMap<String, f64>,
    /// Reference distributions of every feature and of the scores.
    pub reference: Vec<ReferenceHistogram>,
    /// Where it came from.
    pub lineage: Lineage,
}

impl ModelArtifact {
    /// The artifact file's bytes: the same model gives the same bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ModelError> {
        container::encode(self)
    }

    /// Reads an artifact, verifying its checksum; `source` names it in messages.
    pub fn from_bytes(bytes: &[u8], source: &str) -> Result<Self, ModelError> {
        container::decode(bytes, source)
    }

    /// Loads and verifies an artifact file.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let bytes = std::fs::read(path).map_err(|e| ModelError::Io {
            file: path.display().to_string(),
            detail: e.to_string(),
        })?;
        Self::from_bytes(&bytes, &path.display().to_string())
    }

    /// The SHA-256 of the artifact's bytes (what registries record).
    pub fn checksum(&self) -> Result<String, ModelError> {
        Ok(fathom_core::sha256_hex(&self.to_bytes()?))
    }
}
