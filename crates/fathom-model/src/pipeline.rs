//! The fitted feature pipeline: how raw input columns become the model's
//! numeric features. One function, [`FeaturePipeline::apply`], transforms
//! every value, whether it comes from a single request or a million-row
//! batch, so training and serving cannot drift apart.

use fathom_core::{ColumnData, Frame, time};
use serde::{Deserialize, Serialize};

/// One raw input value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// Absent or null.
    Missing,
    /// A number.
    Number(f64),
    /// A boolean.
    Bool(bool),
    /// A category level.
    Text(&'a str),
    /// Microseconds since the epoch, UTC.
    Time(i64),
}

/// How one input column becomes features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InputTransform {
    /// A number: impute, clip to the trained range, optionally standardise,
    /// optionally add a 0/1 "was missing" feature.
    Numeric {
        /// Input column.
        column: String,
        /// Value used for missing (the training median by default).
        impute: f64,
        /// Trained range values are clipped to.
        clip: Option<(f64, f64)>,
        /// `(mean, std)` to standardise with, for linear models.
        scale: Option<(f64, f64)>,
        /// Whether a missing-indicator feature follows.
        indicator: bool,
    },
    /// A boolean as 0/1, missing as `impute`.
    Bool {
        /// Input column.
        column: String,
        /// Value used for missing.
        impute: f64,
    },
    /// A category: its index among the trained levels, or the "other" code
    /// (`levels.len()`) for unseen or missing levels; one-hot for linear models.
    Categorical {
        /// Input column.
        column: String,
        /// Trained levels; code `i` is `levels[i]`.
        levels: Vec<String>,
        /// One feature per level (plus "other") instead of one code.
        one_hot: bool,
    },
    /// A timestamp expanded to hour, day of week (Monday 0), month (1–12)
    /// and is_weekend; missing gives NaN (trees) or 0 (linear).
    Timestamp {
        /// Input column.
        column: String,
        /// Missing value fill: NaN for trees, 0 for linear models.
        fill: f64,
    },
}

impl InputTransform {
    /// The input column.
    pub fn column(&self) -> &str {
        match self {
            InputTransform::Numeric { column, .. }
            | InputTransform::Bool { column, .. }
            | InputTransform::Categorical { column, .. }
            | InputTransform::Timestamp { column, .. } => column,
        }
    }

    /// The names of the features it produces.
    pub fn feature_names(&self) -> Vec<String> {
        match self {
            InputTransform::Numeric {
                column, indicator, ..
            } => {
                let mut v = vec![column.clone()];
                if *indicator {
                    v.push(format!("{column}__missing"));
                }
                v
            }
            InputTransform::Bool { column, .. } => vec![column.clone()],
            InputTransform::Categorical {
                column,
                levels,
                one_hot,
            } => {
                if *one_hot {
                    levels
                        .iter()
                        .map(|l| format!("{column}={l}"))
                        .chain([format!("{column}=__other")])
                        .collect()
                } else {
                    vec![column.clone()]
                }
            }
            InputTransform::Timestamp { column, .. } => {
                ["hour", "day_of_week", "month", "is_weekend"]
                    .iter()
                    .map(|p| format!("{column}__{p}"))
                    .collect()
            }
        }
    }

    /// Number of features produced.
    pub fn width(&self) -> usize {
        match self {
            InputTransform::Numeric { indicator, .. } => 1 + usize::from(*indicator),
            InputTransform::Bool { .. } => 1,
            InputTransform::Categorical {
                levels, one_hot, ..
            } => {
                if *one_hot {
                    levels.len() + 1
                } else {
                    1
                }
            }
            InputTransform::Timestamp { .. } => 4,
        }
    }
}

/// The fitted pipeline: one transform per input column, in feature order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct FeaturePipeline {
    /// The transforms.
    pub inputs: Vec<InputTransform>,
}

impl FeaturePipeline {
    /// Names of all output features, in order.
    pub fn feature_names(&self) -> Vec<String> {
        self.inputs
            .iter()
            .flat_map(InputTransform::feature_names)
            .collect()
    }

    /// Number of output features.
    pub fn width(&self) -> usize {
        self.inputs.iter().map(InputTransform::width).sum()
    }

    /// Transforms one value of input `index` into `out` (of that input's width).
    /// This is the only place values become features.
    pub fn apply(&self, index: usize, value: Value<'_>, out: &mut [f64]) {
        match &self.inputs[index] {
            InputTransform::Numeric {
                impute,
                clip,
                scale,
                indicator,
                ..
            } => {
                let (mut x, missing) = match value {
                    Value::Number(v) if !v.is_nan() => (v, false),
                    Value::Bool(b) => (f64::from(u8::from(b)), false),
                    _ => (*impute, true),
                };
                if let Some((lo, hi)) = clip {
                    x = x.clamp(*lo, *hi);
                }
                if let Some((mean, std)) = scale {
                    x = (x - mean) / std;
                }
                out[0] = x;
                if *indicator {
                    out[1] = f64::from(u8::from(missing));
                }
            }
            InputTransform::Bool { impute, .. } => {
                out[0] = match value {
                    Value::Bool(b) => f64::from(u8::from(b)),
                    Value::Number(v) if v == 0.0 || v == 1.0 => v,
                    _ => *impute,
                };
            }
            InputTransform::Categorical {
                levels, one_hot, ..
            } => {
                let code = match value {
                    Value::Text(s) => levels
                        .binary_search_by(|l| l.as_str().cmp(s))
                        .unwrap_or(levels.len()),
                    _ => levels.len(),
                };
                if *one_hot {
                    out.iter_mut().for_each(|o| *o = 0.0);
                    out[code] = 1.0;
                } else {
                    out[0] = code as f64;
                }
            }
            InputTransform::Timestamp { fill, .. } => match value {
                Value::Time(t) => {
                    let dow = time::day_of_week(t);
                    let (_, month, _) = time::civil_from_days(t.div_euclid(time::MICROS_PER_DAY));
                    out[0] = f64::from(time::hour_of_day(t));
                    out[1] = f64::from(dow);
                    out[2] = f64::from(month);
                    out[3] = f64::from(u8::from(dow >= 5));
                }
                _ => out[..4].iter_mut().for_each(|o| *o = *fill),
            },
        }
    }

    /// Transforms one row given as one value per input (in input order).
    pub fn transform_row(&self, values: &[Value<'_>], out: &mut [f64]) {
        let mut at = 0;
        for (i, t) in self.inputs.iter().enumerate() {
            let w = t.width();
            self.apply(
                i,
                values.get(i).copied().unwrap_or(Value::Missing),
                &mut out[at..at + w],
            );
            at += w;
        }
    }

    /// Transforms a frame into row-major features (`rows × width`). Columns
    /// the frame lacks are read as missing.
    pub fn transform_frame(&self, frame: &Frame) -> Vec<f64> {
        let width = self.width();
        let mut out = vec![0.0; frame.num_rows() * width];
        let columns: Vec<Option<&fathom_core::Column>> = self
            .inputs
            .iter()
            .map(|t| frame.column(t.column()))
            .collect();
        for (r, row_out) in out
            .chunks_mut(width.max(1))
            .enumerate()
            .take(frame.num_rows())
        {
            let mut at = 0;
            for (i, t) in self.inputs.iter().enumerate() {
                let w = t.width();
                self.apply(i, value_at(columns[i], r), &mut row_out[at..at + w]);
                at += w;
            }
        }
        out
    }
}

/// The value of row `r` of a column (missing for an absent column or a null).
pub fn value_at(column: Option<&fathom_core::Column>, r: usize) -> Value<'_> {
    let Some(c) = column else {
        return Value::Missing;
    };
    if !c.is_valid(r) {
        return Value::Missing;
    }
    match &c.data {
        ColumnData::Numeric(v) => Value::Number(v[r]),
        ColumnData::Bool(v) => Value::Bool(v[r]),
        ColumnData::Timestamp(v) => Value::Time(v[r]),
        ColumnData::Categorical(d) => Value::Text(d.value(r)),
    }
}
