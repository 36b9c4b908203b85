//! A model version loaded for serving: its artifact compiled for scoring,
//! its request contract, and what it answers with.

use crate::contract::{ParsedRecord, RecordPlan, UnknownFields};
use fathom_model::artifact::{Estimator, ModelArtifact};
use fathom_model::pipeline::Value;
use fathom_model::predictor::Predictor;
use serde::Serialize;

/// One loaded model version.
#[derive(Debug)]
pub struct ServedModel {
    /// Registered model name.
    pub name: String,
    /// Version number.
    pub version: i64,
    /// SHA-256 of the artifact it was loaded from.
    pub sha256: String,
    /// The compiled model.
    pub predictor: Predictor,
    /// Its request contract.
    pub plan: RecordPlan,
    /// `binary` or `regression`.
    pub objective: &'static str,
}

/// One answer of one model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Answer {
    /// Probability of the positive class (binary) or the predicted value.
    pub score: f64,
    /// `score ≥ threshold` for binary models.
    pub decision: Option<bool>,
}

impl ServedModel {
    /// Compiles `artifact` for serving.
    pub fn new(
        name: &str,
        version: i64,
        sha256: &str,
        artifact: ModelArtifact,
        key: Option<&str>,
        unknown: UnknownFields,
    ) -> Result<Self, fathom_model::ModelError> {
        let objective = objective(&artifact);
        let plan = RecordPlan::new(&artifact, key, unknown);
        let predictor = Predictor::new(artifact)?;
        Ok(Self {
            name: name.to_string(),
            version,
            sha256: sha256.to_string(),
            predictor,
            plan,
            objective,
        })
    }

    /// The decision threshold.
    pub fn threshold(&self) -> f64 {
        self.predictor.artifact().threshold
    }

    /// Scores a parsed record (parsed with this model's [`plan`](Self::plan)).
    pub fn answer(&self, record: &ParsedRecord<'_>) -> Answer {
        let mut values: Vec<Value<'_>> = Vec::with_capacity(record.values.len());
        record.fill_row(&self.plan, &mut values);
        // One feature buffer per worker thread, reused by every request.
        let score = FEATURES.with_borrow_mut(|f| self.predictor.score_values(&values, f));
        self.answer_for(score)
    }

    /// Scores a parsed record like [`answer`](Self::answer), but reports a
    /// score that is not a finite number, or a panic of the scorer, as a
    /// failure instead of answering with it (or unwinding into the
    /// server): the caller answers with another version.
    pub fn try_answer(&self, record: &ParsedRecord<'_>) -> Result<Answer, ScoringFailed> {
        guarded(|| self.answer(record))
    }

    /// The answer for a score.
    pub fn answer_for(&self, score: f64) -> Answer {
        let decision = (self.objective == "binary").then(|| score >= self.threshold());
        Answer { score, decision }
    }
}

/// Why a version could not score a record.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum ScoringFailed {
    /// The scorer panicked (a bug in the model or the engine).
    #[error("its scorer failed (panicked)")]
    Panicked,
    /// The score is NaN or infinite.
    #[error("its score is not a finite number ({0})")]
    NotFinite(f64),
}

/// Runs a scorer, turning its panic or a score that is not a finite
/// number into a [`ScoringFailed`].
fn guarded(score: impl FnOnce() -> Answer) -> Result<Answer, ScoringFailed> {
    // The scorer holds no lock and leaves no shared state half updated
    // (its feature buffer is cleared before every use), so a panic in it
    // cannot leave anything observably broken.
    let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(score))
        .map_err(|_| ScoringFailed::Panicked)?;
    if answer.score.is_finite() {
        Ok(answer)
    } else {
        Err(ScoringFailed::NotFinite(answer.score))
    }
}

thread_local! {
    static FEATURES: std::cell::RefCell<Vec<f64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `binary` or `regression`, from the estimator.
pub fn objective(artifact: &ModelArtifact) -> &'static str {
    fn of(e: &Estimator) -> &'static str {
        match e {
            Estimator::Trees { ensemble } if ensemble.objective == "regression" => "regression",
            Estimator::Linear { objective, .. } if objective == "regression" => "regression",
            Estimator::Ensemble { members, .. } => {
                members.first().map_or("binary", |m| of(&m.estimator))
            }
            _ => "binary",
        }
    }
    of(&artifact.estimator)
}

#[cfg(test)]
mod tests {
    use super::{Answer, ScoringFailed, guarded};

    #[test]
    fn a_panicking_or_non_finite_scorer_is_a_failure_not_an_answer() {
        let answer = |score| Answer {
            score,
            decision: None,
        };
        assert_eq!(guarded(|| answer(0.25)), Ok(answer(0.25)));
        assert_eq!(guarded(|| panic!("a bug")), Err(ScoringFailed::Panicked));
        assert!(matches!(
            guarded(|| answer(f64::NAN)),
            Err(ScoringFailed::NotFinite(x)) if x.is_nan()
        ));
        assert_eq!(
            guarded(|| answer(f64::INFINITY)),
            Err(ScoringFailed::NotFinite(f64::INFINITY))
        );
    }
}
