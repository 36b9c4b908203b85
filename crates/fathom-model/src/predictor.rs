//! A loaded model ready to score: the artifact with its estimator compiled
//! (trees into a [`Scorer`]). Batch files and single requests go through
//! the same [`FeaturePipeline::apply`] and the same compiled estimator, so
//! a row scores identically either way. An ensemble's members each have
//! their own pipeline and compiled estimator, behind the same path.

use crate::ModelError;
use crate::artifact::{EnsembleMethod, Estimator, ModelArtifact};
use crate::pipeline::{FeaturePipeline, Value, value_at};
use crate::scorer::Scorer;
use fathom_core::{ColumnType, Frame};
use rayon::prelude::*;

/// Rows per parallel work unit in [`Predictor::score_frame`].
const CHUNK: usize = 4096;

/// An artifact compiled for scoring.
#[derive(Debug, Clone)]
pub struct Predictor {
    artifact: ModelArtifact,
    plan: Plan,
}

/// How the estimator is evaluated.
#[derive(Debug, Clone)]
enum Plan {
    /// One estimator on the artifact's pipeline; trees compiled.
    Single { scorer: Option<Scorer> },
    /// An ensemble: each member on its own pipeline.
    Members {
        members: Vec<CompiledMember>,
        method: EnsembleMethod,
        width: usize,
    },
}

/// One ensemble member ready to score.
#[derive(Debug, Clone)]
struct CompiledMember {
    pipeline: FeaturePipeline,
    estimator: Estimator,
    scorer: Option<Scorer>,
    /// Where its features start in the ensemble's feature row.
    offset: usize,
    width: usize,
    /// For each of its inputs, the index of the artifact pipeline's input
    /// with the same column; `None` when they are the same list.
    map: Option<Vec<usize>>,
}

fn compile_trees(estimator: &Estimator) -> Result<Option<Scorer>, ModelError> {
    match estimator {
        Estimator::Trees { ensemble } => Scorer::compile(ensemble)
            .map(Some)
            .ok_or_else(|| ModelError::Compile("the tree ensemble is malformed (a child out of range, a node reached twice, mismatched lengths) or too large to compile; retrain it or restore the file".into())),
        _ => Ok(None),
    }
}

impl Predictor {
    /// Compiles `artifact`'s estimator (for an ensemble, every member's).
    /// Fails if an ensemble is malformed: no members, a weight or
    /// coefficient count that differs from the member count, a member that
    /// is itself an ensemble, or a member reading a column the artifact's
    /// pipeline does not list.
    pub fn new(artifact: ModelArtifact) -> Result<Self, ModelError> {
        let plan = match &artifact.estimator {
            Estimator::Ensemble { members, method } => {
                if members.is_empty() || method.len() != members.len() {
                    return Err(ModelError::Compile(format!(
                        "the ensemble has {} member(s) but its combiner expects {}",
                        members.len(),
                        method.len()
                    )));
                }
                let top: Vec<&str> = artifact
                    .pipeline
                    .inputs
                    .iter()
                    .map(|t| t.column())
                    .collect();
                let mut compiled = Vec::with_capacity(members.len());
                let mut offset = 0;
                for m in members {
                    if matches!(m.estimator, Estimator::Ensemble { .. }) {
                        return Err(ModelError::Compile(format!(
                            "ensemble member '{}' is itself an ensemble, which is not supported",
                            m.name
                        )));
                    }
                    let cols: Vec<&str> = m.pipeline.inputs.iter().map(|t| t.column()).collect();
                    let map = if cols == top {
                        None
                    } else {
                        let mut map = Vec::with_capacity(cols.len());
                        for c in &cols {
                            let i = top.iter().position(|t| t == c).ok_or_else(|| {
                                ModelError::Compile(format!(
                                    "ensemble member '{}' reads column '{c}', which the model's pipeline does not list",
                                    m.name
                                ))
                            })?;
                            map.push(i);
                        }
                        Some(map)
                    };
                    let width = m.pipeline.width();
                    compiled.push(CompiledMember {
                        pipeline: m.pipeline.clone(),
                        estimator: m.estimator.clone(),
                        scorer: compile_trees(&m.estimator)?,
                        offset,
                        width,
                        map,
                    });
                    offset += width;
                }
                Plan::Members {
                    members: compiled,
                    method: method.clone(),
                    width: offset,
                }
            }
            other => Plan::Single {
                scorer: compile_trees(other)?,
            },
        };
        Ok(Predictor { artifact, plan })
    }

    /// The artifact.
    pub fn artifact(&self) -> &ModelArtifact {
        &self.artifact
    }

    /// Number of features a row has: the pipeline's width, or for an
    /// ensemble the sum of its members' widths.
    pub fn width(&self) -> usize {
        match &self.plan {
            Plan::Single { .. } => self.artifact.pipeline.width(),
            Plan::Members { width, .. } => *width,
        }
    }

    /// The model's output for one row of features (probability for binary
    /// models); for an ensemble, the members' features one after another.
    #[inline]
    pub fn score_features(&self, features: &[f64]) -> f64 {
        match &self.plan {
            Plan::Single { scorer: Some(s) } => s.predict(features),
            Plan::Single { scorer: None } => self.artifact.estimator.predict(features),
            Plan::Members {
                members, method, ..
            } => method.combine(|k| {
                let m = &members[k];
                let x = &features[m.offset..m.offset + m.width];
                match &m.scorer {
                    Some(s) => s.predict(x),
                    None => m.estimator.predict(x),
                }
            }),
        }
    }

    /// Transforms one record (one value per input of the artifact's
    /// pipeline) into `features` (of [`width`](Self::width)) and scores it:
    /// the one path shared by [`score_values`](Self::score_values) and
    /// [`score_frame`](Self::score_frame).
    #[inline]
    fn score_into(&self, values: &[Value<'_>], features: &mut [f64]) -> f64 {
        match &self.plan {
            Plan::Single { .. } => self.artifact.pipeline.transform_row(values, features),
            Plan::Members { members, .. } => {
                for m in members {
                    let out = &mut features[m.offset..m.offset + m.width];
                    match &m.map {
                        None => m.pipeline.transform_row(values, out),
                        Some(map) => {
                            let own: Vec<Value<'_>> = map
                                .iter()
                                .map(|&i| values.get(i).copied().unwrap_or(Value::Missing))
                                .collect();
                            m.pipeline.transform_row(&own, out);
                        }
                    }
                }
            }
        }
        self.score_features(features)
    }

    /// Scores one record given as one value per pipeline input (in the
    /// order of `artifact().pipeline.inputs`); `scratch` is reused between
    /// calls so the hot path does not allocate (an ensemble member whose
    /// inputs differ from the artifact pipeline's allocates one small list).
    pub fn score_values(&self, values: &[Value<'_>], scratch: &mut Vec<f64>) -> f64 {
        scratch.clear();
        scratch.resize(self.width(), 0.0);
        self.score_into(values, scratch)
    }

    /// Checks that `frame` can be scored: every input the pipeline (and,
    /// for an ensemble, every member's pipeline) reads is present with the
    /// contract's type (a file lacking a column is a mistake even when the
    /// column may hold nulls); all problems are reported at once.
    pub fn check_frame(&self, frame: &Frame) -> Result<(), ModelError> {
        let schema = &self.artifact.schema;
        let mut problems = Vec::new();
        let mut names: Vec<&str> = Vec::new();
        let member_inputs = match &self.plan {
            Plan::Members { members, .. } => members
                .iter()
                .flat_map(|m| m.pipeline.inputs.iter())
                .collect(),
            Plan::Single { .. } => Vec::new(),
        };
        for t in self.artifact.pipeline.inputs.iter().chain(member_inputs) {
            let name = t.column();
            if names.contains(&name) {
                continue;
            }
            names.push(name);
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
                    *o = self.score_into(&values, &mut features);
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
