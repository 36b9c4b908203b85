//! The fitted feature pipeline: how raw input columns become the model's
//! numeric features. One function, [`FeaturePipeline::apply`], turns one
//! row's raw values into features, whether the row comes from a single
//! request or a million-row batch ([`FeaturePipeline::transform_frame`]
//! calls it for every row), so training and serving cannot drift apart.
//!
//! Features come in a fixed order: the features of each input in
//! [`FeaturePipeline::inputs`] order, then the derived features in
//! [`FeaturePipeline::derived`] order. Derived features read the *raw*
//! values of their source inputs (before imputation or clipping).

use fathom_core::{ColumnData, Frame, time};
use rayon::prelude::*;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::HashMap;
use std::ops::Deref;

/// Rows per parallel work unit in [`FeaturePipeline::transform_frame`].
const CHUNK_ROWS: usize = 4096;

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

impl Value<'_> {
    /// The value as a number: numbers other than NaN, and booleans as 0/1;
    /// anything else is missing.
    #[inline]
    pub fn number(self) -> Option<f64> {
        match self {
            Value::Number(v) if !v.is_nan() => Some(v),
            Value::Bool(b) => Some(f64::from(u8::from(b))),
            _ => None,
        }
    }
}

/// How one input column becomes features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InputTransform {
    /// A number: a present value is clipped to `clip`, a missing one is
    /// replaced by `impute` (not clipped); the result is standardised with
    /// `scale` when set; a 0/1 "was missing" feature follows when
    /// `indicator` is set.
    Numeric {
        /// Input column.
        column: String,
        /// Value used for missing (the training median by default).
        impute: f64,
        /// Bounds present values are clipped to (the trained range, or
        /// IQR or quantile fences).
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
        /// Trained levels, sorted; code `i` is `levels[i]`.
        levels: Levels,
        /// One feature per level (plus "other") instead of one code.
        one_hot: bool,
    },
    /// A category replaced by the smoothed mean of the label among training
    /// rows with that level; unseen and missing levels get `prior`.
    Target {
        /// Input column.
        column: String,
        /// Trained levels, sorted.
        levels: Levels,
        /// `means[i]` encodes `levels[i]`.
        means: Vec<f64>,
        /// The training label mean, for unseen and missing levels.
        prior: f64,
    },
    /// A timestamp expanded to hour, day of week (Monday 0), month (1–12)
    /// and is_weekend; missing gives NaN (trees) or 0 (linear).
    Timestamp {
        /// Input column.
        column: String,
        /// Missing value fill: NaN for trees, 0 for linear models.
        #[serde(with = "nan_as_null")]
        fill: f64,
    },
    /// A column read only as the source of derived features; it produces
    /// no feature of its own.
    Source {
        /// Input column.
        column: String,
    },
}

impl InputTransform {
    /// The input column.
    pub fn column(&self) -> &str {
        match self {
            InputTransform::Numeric { column, .. }
            | InputTransform::Bool { column, .. }
            | InputTransform::Categorical { column, .. }
            | InputTransform::Target { column, .. }
            | InputTransform::Timestamp { column, .. }
            | InputTransform::Source { column } => column,
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
            InputTransform::Target { column, .. } => vec![format!("{column}__target")],
            InputTransform::Timestamp { column, .. } => {
                ["hour", "day_of_week", "month", "is_weekend"]
                    .iter()
                    .map(|p| format!("{column}__{p}"))
                    .collect()
            }
            InputTransform::Source { .. } => Vec::new(),
        }
    }

    /// Number of features produced.
    pub fn width(&self) -> usize {
        match self {
            InputTransform::Numeric { indicator, .. } => 1 + usize::from(*indicator),
            InputTransform::Bool { .. } | InputTransform::Target { .. } => 1,
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
            InputTransform::Source { .. } => 0,
        }
    }

    /// Writes the features of one value into `out` (of [`width`](Self::width)).
    fn write(&self, value: Value<'_>, out: &mut [f64]) {
        match self {
            InputTransform::Numeric {
                impute,
                clip,
                scale,
                indicator,
                ..
            } => numeric_features(value.number(), *impute, *clip, *scale, *indicator, out),
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
                let code = level_index(levels, value).unwrap_or(levels.len());
                if *one_hot {
                    out.iter_mut().for_each(|o| *o = 0.0);
                    out[code] = 1.0;
                } else {
                    out[0] = code as f64;
                }
            }
            InputTransform::Target {
                levels,
                means,
                prior,
                ..
            } => {
                out[0] = level_index(levels, value)
                    .and_then(|i| means.get(i).copied())
                    .unwrap_or(*prior);
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
            InputTransform::Source { .. } => {}
        }
    }
}

/// How a derived feature's raw value is computed from the raw values of
/// other inputs (`of`, `a`, `b` index [`FeaturePipeline::inputs`]). A
/// result that is not a finite number is missing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Formula {
    /// `sign(x) · ln(1 + |x|)`: `log1p` for non-negative values, mirrored
    /// for negative ones so the sign survives.
    Log1p {
        /// The source input.
        of: usize,
    },
    /// `a / b`; missing when `b` is 0.
    Ratio {
        /// Numerator input.
        a: usize,
        /// Denominator input.
        b: usize,
    },
    /// `a − b`.
    Difference {
        /// Minuend input.
        a: usize,
        /// Subtrahend input.
        b: usize,
    },
    /// `a · b`.
    Product {
        /// First factor input.
        a: usize,
        /// Second factor input.
        b: usize,
    },
    /// The share of training rows that had the category level; unseen and
    /// missing levels give 0.
    Frequency {
        /// The source input (categorical).
        of: usize,
        /// Trained levels, sorted.
        levels: Levels,
        /// `shares[i]` is the share of training rows with `levels[i]`.
        shares: Vec<f64>,
    },
}

impl Formula {
    /// The raw value for one row of raw input values (`None` = missing).
    fn evaluate(&self, values: &[Value<'_>]) -> Option<f64> {
        let num = |i: usize| values.get(i).copied().and_then(Value::number);
        let result = match self {
            Formula::Log1p { of } => num(*of).map(|x| x.signum() * x.abs().ln_1p()),
            Formula::Ratio { a, b } => match (num(*a), num(*b)) {
                (Some(a), Some(b)) if b != 0.0 => Some(a / b),
                _ => None,
            },
            Formula::Difference { a, b } => Some(num(*a)? - num(*b)?),
            Formula::Product { a, b } => Some(num(*a)? * num(*b)?),
            Formula::Frequency { of, levels, shares } => {
                let value = values.get(*of).copied().unwrap_or(Value::Missing);
                Some(
                    level_index(levels, value)
                        .and_then(|i| shares.get(i).copied())
                        .unwrap_or(0.0),
                )
            }
        };
        result.filter(|v| v.is_finite())
    }

    /// The inputs it reads.
    pub fn sources(&self) -> Vec<usize> {
        match self {
            Formula::Log1p { of } | Formula::Frequency { of, .. } => vec![*of],
            Formula::Ratio { a, b } | Formula::Difference { a, b } | Formula::Product { a, b } => {
                vec![*a, *b]
            }
        }
    }
}

/// A feature computed from other inputs' raw values, then treated like a
/// numeric input: missing → `impute`, present → clipped, then standardised
/// (linear models), with an optional missing indicator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DerivedFeature {
    /// The feature's name.
    pub name: String,
    /// How its raw value is computed.
    pub formula: Formula,
    /// Value used when the formula gives no value.
    pub impute: f64,
    /// Bounds present values are clipped to.
    pub clip: Option<(f64, f64)>,
    /// `(mean, std)` to standardise with, for linear models.
    pub scale: Option<(f64, f64)>,
    /// Whether a missing-indicator feature follows.
    pub indicator: bool,
}

impl DerivedFeature {
    /// The raw (unimputed, unclipped) value for one row; the fitting code
    /// computes its statistics from these.
    pub fn raw_value(&self, values: &[Value<'_>]) -> Option<f64> {
        self.formula.evaluate(values)
    }

    /// The names of the features it produces.
    pub fn feature_names(&self) -> Vec<String> {
        let mut v = vec![self.name.clone()];
        if self.indicator {
            v.push(format!("{}__missing", self.name));
        }
        v
    }

    /// Number of features produced.
    pub fn width(&self) -> usize {
        1 + usize::from(self.indicator)
    }
}

/// Trained category levels in a fixed order, with a hash index so a
/// lookup costs the same for 10 levels or 100,000. Serialised as the plain
/// list of names.
#[derive(Clone, Default)]
pub struct Levels {
    names: Vec<String>,
    index: HashMap<Box<str>, u32>,
}

impl Levels {
    /// The levels `names`, in that order (the first of duplicates wins).
    pub fn new(names: Vec<String>) -> Self {
        let mut index = HashMap::with_capacity(names.len());
        for (i, n) in names.iter().enumerate() {
            index.entry(n.as_str().into()).or_insert(i as u32);
        }
        Levels { names, index }
    }

    /// The position of `level`, if it is one.
    #[inline]
    pub fn position(&self, level: &str) -> Option<usize> {
        self.index.get(level).map(|&i| i as usize)
    }
}

impl Deref for Levels {
    type Target = [String];

    fn deref(&self) -> &[String] {
        &self.names
    }
}

impl From<Vec<String>> for Levels {
    fn from(names: Vec<String>) -> Self {
        Levels::new(names)
    }
}

impl PartialEq for Levels {
    fn eq(&self, other: &Self) -> bool {
        self.names == other.names
    }
}

impl std::fmt::Debug for Levels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.names.fmt(f)
    }
}

impl Serialize for Levels {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.names.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Levels {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<String>::deserialize(d).map(Levels::new)
    }
}

/// The fitted pipeline: one transform per input column, then the derived
/// features, in feature order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct FeaturePipeline {
    /// The transforms; a row's raw values come one per input, in this order.
    pub inputs: Vec<InputTransform>,
    /// Features computed from the inputs' raw values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub derived: Vec<DerivedFeature>,
}

impl FeaturePipeline {
    /// Names of all output features, in order.
    pub fn feature_names(&self) -> Vec<String> {
        self.inputs
            .iter()
            .flat_map(InputTransform::feature_names)
            .chain(self.derived.iter().flat_map(DerivedFeature::feature_names))
            .collect()
    }

    /// Number of output features.
    pub fn width(&self) -> usize {
        self.inputs.iter().map(InputTransform::width).sum::<usize>()
            + self
                .derived
                .iter()
                .map(DerivedFeature::width)
                .sum::<usize>()
    }

    /// Transforms one row, given as one raw value per input (in
    /// [`inputs`](Self::inputs) order; absent trailing values are missing),
    /// into `out` (of [`width`](Self::width)). This is the only place
    /// values become features.
    pub fn apply(&self, values: &[Value<'_>], out: &mut [f64]) {
        let mut at = 0;
        for (i, t) in self.inputs.iter().enumerate() {
            let w = t.width();
            let value = values.get(i).copied().unwrap_or(Value::Missing);
            t.write(value, &mut out[at..at + w]);
            at += w;
        }
        for d in &self.derived {
            let w = d.width();
            numeric_features(
                d.raw_value(values),
                d.impute,
                d.clip,
                d.scale,
                d.indicator,
                &mut out[at..at + w],
            );
            at += w;
        }
    }

    /// Transforms one row given as one value per input (in input order):
    /// the same as [`apply`](Self::apply).
    #[inline]
    pub fn transform_row(&self, values: &[Value<'_>], out: &mut [f64]) {
        self.apply(values, out);
    }

    /// The frame column each input reads, in input order (`None` where
    /// the frame lacks it); [`value_at`] gives a row's raw value.
    pub fn input_columns<'f>(&self, frame: &'f Frame) -> Vec<Option<&'f fathom_core::Column>> {
        self.inputs
            .iter()
            .map(|t| frame.column(t.column()))
            .collect()
    }

    /// Transforms a frame into row-major features (`rows × width`) on all
    /// threads, each row through [`apply`](Self::apply). Columns the frame
    /// lacks are read as missing.
    pub fn transform_frame(&self, frame: &Frame) -> Vec<f64> {
        let width = self.width();
        let rows = frame.num_rows();
        let mut out = vec![0.0; rows * width];
        if width == 0 {
            return out;
        }
        let columns = self.input_columns(frame);
        out.par_chunks_mut(width * CHUNK_ROWS)
            .enumerate()
            .for_each(|(k, chunk)| {
                let mut values = Vec::with_capacity(columns.len());
                for (i, row_out) in chunk.chunks_mut(width).enumerate() {
                    let r = k * CHUNK_ROWS + i;
                    values.clear();
                    values.extend(columns.iter().map(|c| value_at(*c, r)));
                    self.apply(&values, row_out);
                }
            });
        out
    }
}

/// The position of a text value among `levels`.
#[inline]
fn level_index(levels: &Levels, value: Value<'_>) -> Option<usize> {
    match value {
        Value::Text(s) => levels.position(s),
        _ => None,
    }
}

/// The numeric steps shared by numeric inputs and derived features.
#[inline]
fn numeric_features(
    x: Option<f64>,
    impute: f64,
    clip: Option<(f64, f64)>,
    scale: Option<(f64, f64)>,
    indicator: bool,
    out: &mut [f64],
) {
    let v = match x {
        // max/min rather than clamp: never panics, whatever the bounds.
        Some(v) => clip.map_or(v, |(lo, hi)| v.max(lo).min(hi)),
        None => impute,
    };
    out[0] = scale.map_or(v, |(mean, std)| (v - mean) / std);
    if indicator {
        out[1] = f64::from(u8::from(x.is_none()));
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

/// Serde for an `f64` that may be NaN: JSON has no NaN, so it is written as
/// `null` and `null` reads back as NaN.
mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_nan() {
            s.serialize_none()
        } else {
            s.serialize_f64(*v)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_timestamp_fill_survives_json() {
        let p = FeaturePipeline {
            inputs: vec![InputTransform::Timestamp {
                column: "t".into(),
                fill: f64::NAN,
            }],
            derived: Vec::new(),
        };
        let json = serde_json::to_string(&p).unwrap();
        assert!(json.contains("\"fill\":null"), "{json}");
        let back: FeaturePipeline = serde_json::from_str(&json).unwrap();
        match &back.inputs[0] {
            InputTransform::Timestamp { fill, .. } => assert!(fill.is_nan()),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_pipeline_written_before_derived_features_still_loads() {
        let old = r#"{"inputs":[{"kind":"numeric","column":"x","impute":2.0,"clip":[0.0,10.0],"scale":null,"indicator":false},{"kind":"categorical","column":"c","levels":["a","b"],"one_hot":false}]}"#;
        let p: FeaturePipeline = serde_json::from_str(old).unwrap();
        assert!(p.derived.is_empty());
        let mut out = [0.0; 2];
        p.apply(&[Value::Number(12.0), Value::Text("b")], &mut out);
        assert_eq!(out, [10.0, 1.0]);
        p.apply(&[Value::Missing, Value::Text("z")], &mut out);
        assert_eq!(out, [2.0, 2.0]);
        // Without derived features the JSON is what it was.
        assert_eq!(serde_json::to_string(&p).unwrap(), old);
    }

    #[test]
    fn levels_keep_their_order_and_serialise_as_a_list() {
        let l = Levels::new(vec!["b".into(), "a".into(), "b".into()]);
        assert_eq!(
            (l.position("b"), l.position("a"), l.position("c")),
            (Some(0), Some(1), None)
        );
        assert_eq!(l.len(), 3);
        let json = serde_json::to_string(&l).unwrap();
        assert_eq!(json, r#"["b","a","b"]"#);
        assert_eq!(serde_json::from_str::<Levels>(&json).unwrap(), l);
    }

    #[test]
    fn formulas_by_hand() {
        let v = [Value::Number(-3.0), Value::Number(0.0), Value::Text("b")];
        let eval = |f: Formula| f.evaluate(&v);
        assert_eq!(eval(Formula::Log1p { of: 0 }), Some(-(4.0f64.ln())));
        assert_eq!(
            eval(Formula::Ratio { a: 0, b: 1 }),
            None,
            "x / 0 is missing"
        );
        assert_eq!(eval(Formula::Ratio { a: 1, b: 0 }), Some(-0.0));
        assert_eq!(eval(Formula::Difference { a: 0, b: 1 }), Some(-3.0));
        assert_eq!(
            eval(Formula::Product { a: 0, b: 2 }),
            None,
            "text is not a number"
        );
        let freq = |of| Formula::Frequency {
            of,
            levels: Levels::new(vec!["a".into(), "b".into()]),
            shares: vec![0.25, 0.5],
        };
        assert_eq!(eval(freq(2)), Some(0.5));
        assert_eq!(eval(freq(0)), Some(0.0), "not a level");
        assert_eq!(eval(freq(7)), Some(0.0), "no such input");
    }
}
