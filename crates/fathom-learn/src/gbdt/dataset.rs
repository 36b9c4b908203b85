//! Training input: named feature columns, a label and optional row weights.

use super::GbdtError;
use fathom_model::pipeline::{FeaturePipeline, InputTransform};

/// The values of one feature column.
#[derive(Clone, Debug, PartialEq)]
pub enum FeatureValues {
    /// Real values; `NaN` means missing.
    Numeric(Vec<f64>),
    /// Category codes in `0..levels`; `u32::MAX` means missing. A code
    /// `>= levels` is treated as missing too.
    Categorical {
        /// One code per row.
        codes: Vec<u32>,
        /// Number of distinct levels the codes are drawn from.
        levels: u32,
    },
}

impl FeatureValues {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            FeatureValues::Numeric(v) => v.len(),
            FeatureValues::Categorical { codes, .. } => codes.len(),
        }
    }

    /// Whether the column has no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the column is categorical.
    pub fn is_categorical(&self) -> bool {
        matches!(self, FeatureValues::Categorical { .. })
    }

    /// Row `i` as the raw `f64` a tree reads (`NaN` for missing; a code as
    /// `f64` for categorical columns).
    pub fn value_f64(&self, i: usize) -> f64 {
        match self {
            FeatureValues::Numeric(v) => v[i],
            FeatureValues::Categorical { codes, levels } => {
                let c = codes[i];
                if c >= *levels { f64::NAN } else { c as f64 }
            }
        }
    }
}

/// A labelled data set, column-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Feature columns `(name, values)`, in model feature order.
    pub features: Vec<(String, FeatureValues)>,
    /// One label per row.
    pub label: Vec<f64>,
    /// Optional non-negative row weights (default 1).
    pub weight: Option<Vec<f64>>,
}

impl Dataset {
    /// The rows `rows` of a row-major feature matrix made by `pipeline`
    /// (`x.len() == all rows × pipeline.width()`), labelled from `y`
    /// (indexed like the matrix). Categorical inputs encoded as codes stay
    /// categorical (their level count includes the "other" code); every
    /// other feature is numeric.
    pub fn from_pipeline_rows(
        pipeline: &FeaturePipeline,
        x: &[f64],
        rows: &[usize],
        y: &[f64],
    ) -> Dataset {
        let width = pipeline.width();
        let names = pipeline.feature_names();
        let mut features = Vec::with_capacity(width);
        let mut at = 0;
        for t in &pipeline.inputs {
            for j in at..at + t.width() {
                let values = rows.iter().map(|&r| x[r * width + j]);
                let fv = match t {
                    InputTransform::Categorical {
                        levels,
                        one_hot: false,
                        ..
                    } => FeatureValues::Categorical {
                        codes: values.map(|v| v as u32).collect(),
                        levels: levels.len() as u32 + 1,
                    },
                    _ => FeatureValues::Numeric(values.collect()),
                };
                features.push((names[j].clone(), fv));
            }
            at += t.width();
        }
        Dataset {
            features,
            label: rows.iter().map(|&r| y[r]).collect(),
            weight: None,
        }
    }

    /// Number of rows (the label's length).
    pub fn num_rows(&self) -> usize {
        self.label.len()
    }

    /// Number of feature columns.
    pub fn num_features(&self) -> usize {
        self.features.len()
    }

    /// Row `i` as raw `f64` feature values, as [`Tree::predict_row`]
    /// (fathom_model) reads them.
    ///
    /// [`Tree::predict_row`]: fathom_model::tree::Tree::predict_row
    pub fn row(&self, i: usize) -> Vec<f64> {
        self.features.iter().map(|(_, f)| f.value_f64(i)).collect()
    }

    /// Checks lengths, labels and weights; `set` names the set in errors.
    pub(crate) fn check(&self, set: &'static str) -> Result<(), GbdtError> {
        let n = self.label.len();
        for (name, f) in &self.features {
            if f.len() != n {
                return Err(GbdtError::LengthMismatch {
                    set,
                    column: name.clone(),
                    len: f.len(),
                    expected: n,
                });
            }
        }
        if let Some((row, &value)) = self.label.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(GbdtError::NonFiniteLabel { set, row, value });
        }
        if let Some(w) = &self.weight {
            if w.len() != n {
                return Err(GbdtError::LengthMismatch {
                    set,
                    column: "weight".into(),
                    len: w.len(),
                    expected: n,
                });
            }
            if let Some((row, v)) = w
                .iter()
                .enumerate()
                .find(|(_, v)| !(v.is_finite() && **v >= 0.0))
            {
                return Err(GbdtError::InvalidWeight {
                    set,
                    what: format!("row {row} has weight {v}; weights must be finite and >= 0"),
                });
            }
            if n > 0 && w.iter().sum::<f64>() <= 0.0 {
                return Err(GbdtError::InvalidWeight {
                    set,
                    what: "all weights are 0; give some rows a positive weight".into(),
                });
            }
        }
        Ok(())
    }
}
