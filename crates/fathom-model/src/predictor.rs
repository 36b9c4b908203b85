//! A loaded model ready to score: the artifact with its estimator compiled
//! (trees into a [`Scorer`]). Batch files and single requests go through
//! the same [`FeaturePipeline::apply`] and the same compiled estimator, so
//! a row scores identically either way.

use crate::ModelError;
use crate::artifact::{Estimator, ModelArtifact};
use crate::pipeline::{Value, value_at};
use crate::scorer::Scorer;
use fathom_core::{ColumnType, Frame};
use rayon::prelude::*;

/// Rows per parallel work unit in [`Predictor::score_frame`].
const CHUNK: usize = 4096;

/// An artifact compiled for scoring.
#[derive(Debug, Clone)]
pub struct Predictor {
    artifact: ModelArtifact,
    scorer: Option<Scorer>,
}

impl Predictor {
    /// Compiles `artifact`'s estimator.
    pub fn new(artifact: ModelArtifact) -> Result<Self, ModelError> {
        let scorer = match &artifact.estimator {
            Estimator::Trees { ensemble } => Some(Scorer::compile(ensemble).ok_or_else(|| {
                ModelError::Compile("the tree ensemble is too large to compile".into())
            })?),
            _ => None,
        };
        Ok(Predictor { artifact, scorer })
    }

    /// The artifact.
    pub fn artifact(&self) -> &ModelArtifact {
        &self.artifact
    }

    /// Number of pipeline features a row has.
    pub fn width(&self) -> usize {
        self.artifact.pipeline.width()
    }

    /// The model's output for one row of pipeline features
    /// (probability for binary models).
    #[inline]
    pub fn score_features(&self, features: &[f64]) -> f64 {
        match &self.scorer {
            Some(s) => s.predict(features),
            None => self.artifact.estimator.predict(features),
        }
    }

    /// Scores one record given as one value per pipeline input (in the
    /// order of `artifact().pipeline.inputs`); `scratch` is reused between
    /// calls so the hot path does not allocate.
    pub fn score_values(&self, values: &[Value<'_>], scratch: &mut Vec<f64>) -> f64 {
        scratch.clear();
        scratch.resize(self.width(), 0.0);
        self.artifact.pipeline.transform_row(values, scratch);
        self.score_features(scratch)
    }

    /// Checks that `frame` can be scored: every input the pipeline reads is
    /// present with the contract's type (a file lacking a column is a
    /// mistake even when the column may hold nulls); all problems are
    /// reported at once.
    pub fn check_frame(&self, frame: &Frame) -> Result<(), ModelError> {
        let schema = &self.artifact.schema;
        let mut problems = Vec::new();
        for t in &self.artifact.pipeline.inputs {
            let name = t.column();
            let spec = schema.column(name);
            let expected = spec.map(|s| s.column_type);
            match (frame.column(name), expected) {
                (None, _) => problems.push(format!(
                    "column '{name}' is missing{}",
                    expected.map_or(String::new(), |t| format!(" (expected {})", t.name()))
                )),
                (Some(c), Some(t)) if !compatible(c.column_type(), t) => problems.push(format!(
                    "column '{name}' is {} but the model expects {}",
                    c.column_type().name(),
                    t.name()
                )),
                _ => {}
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ModelError::InputMismatch { problems })
        }
    }

    /// Scores every row of `frame` on all threads, after [`check_frame`](Self::check_frame).
    /// The result does not depend on the thread count.
    pub fn score_frame(&self, frame: &Frame) -> Result<Vec<f64>, ModelError> {
        self.check_frame(frame)?;
        let inputs = &self.artifact.pipeline.inputs;
        let columns: Vec<_> = inputs.iter().map(|t| frame.column(t.column())).collect();
        let width = self.width();
        let mut out = vec![0.0; frame.num_rows()];
        out.par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(k, chunk)| {
                let mut values = Vec::with_capacity(inputs.len());
                let mut features = vec![0.0; width];
                for (i, o) in chunk.iter_mut().enumerate() {
                    let r = k * CHUNK + i;
                    values.clear();
                    values.extend(columns.iter().map(|c| value_at(*c, r)));
                    self.artifact.pipeline.transform_row(&values, &mut features);
                    *o = self.score_features(&features);
                }
            });
        Ok(out)
    }
}

/// Whether data of type `found` can feed an input declared `expected`
/// (bools and numbers stand in for each other as 0/1).
fn compatible(found: ColumnType, expected: ColumnType) -> bool {
    use ColumnType::{Bool, Numeric};
    found == expected || matches!((found, expected), (Bool, Numeric) | (Numeric, Bool))
}
