//! Logged inputs as a typed [`Frame`], for drift and quality monitoring.

use crate::error::Result;
use crate::record::PredictionRecord;
use fathom_core::{Bitmap, CategoricalData, Column, ColumnData, ColumnType, Frame, Role, Schema};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// The inputs of `records` as typed columns: one per schema column except
/// the label, in schema order, one row per record.
///
/// A value that is missing, `null`, or not of the column's type is a null,
/// so data-quality checks see it as one:
///
/// * numeric: a JSON number;
/// * bool: `true`/`false`, or the numbers 0 and 1;
/// * categorical: a string, or a number or bool as its JSON text (a
///   hashed field is its hex digest);
/// * timestamp: a string in a form [`fathom_core::time::parse_timestamp`]
///   reads.
///
/// Inputs that are not a JSON object (logged as `null`) give a row of nulls.
pub fn inputs_frame(records: &[PredictionRecord], schema: &Schema) -> Result<Frame> {
    let specs: Vec<_> = schema
        .columns
        .iter()
        .filter(|c| c.role != Role::Label)
        .collect();
    let mut builders: Vec<Builder> = specs
        .iter()
        .map(|s| Builder::new(s.column_type, records.len()))
        .collect();
    let empty = Map::new();
    for rec in records {
        let parsed = serde_json::from_slice::<Value>(&rec.inputs).ok();
        let object = match &parsed {
            Some(Value::Object(m)) => m,
            _ => &empty,
        };
        for (spec, b) in specs.iter().zip(&mut builders) {
            b.push(object.get(&spec.name));
        }
    }
    let columns = specs
        .iter()
        .zip(builders)
        .map(|(spec, b)| b.finish(&spec.name))
        .collect();
    Ok(Frame::new(columns)?)
}

enum Values {
    Numeric(Vec<f64>),
    Bool(Vec<bool>),
    Categorical(Vec<u32>, HashMap<String, u32>, Vec<String>),
    Timestamp(Vec<i64>),
}

struct Builder {
    values: Values,
    valid: Bitmap,
}

impl Builder {
    fn new(t: ColumnType, rows: usize) -> Builder {
        let values = match t {
            ColumnType::Numeric => Values::Numeric(Vec::with_capacity(rows)),
            ColumnType::Bool => Values::Bool(Vec::with_capacity(rows)),
            ColumnType::Categorical => {
                Values::Categorical(Vec::with_capacity(rows), HashMap::new(), Vec::new())
            }
            ColumnType::Timestamp => Values::Timestamp(Vec::with_capacity(rows)),
        };
        Builder {
            values,
            valid: Bitmap::with_capacity(rows),
        }
    }

    fn push(&mut self, v: Option<&Value>) {
        let present = match (&mut self.values, v) {
            (Values::Numeric(out), Some(Value::Number(n))) => {
                match n.as_f64().filter(|x| x.is_finite()) {
                    Some(x) => {
                        out.push(x);
                        true
                    }
                    None => {
                        out.push(f64::NAN);
                        false
                    }
                }
            }
            (Values::Numeric(out), _) => {
                out.push(f64::NAN);
                false
            }
            (Values::Bool(out), Some(Value::Bool(b))) => {
                out.push(*b);
                true
            }
            (Values::Bool(out), Some(Value::Number(n))) if matches!(n.as_f64(), Some(x) if x == 0.0 || x == 1.0) =>
            {
                out.push(n.as_f64() == Some(1.0));
                true
            }
            (Values::Bool(out), _) => {
                out.push(false);
                false
            }
            (Values::Categorical(codes, index, dict), v) => {
                let text = match v {
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(Value::Number(n)) => Some(n.to_string()),
                    Some(Value::Bool(b)) => Some(b.to_string()),
                    _ => None,
                };
                match text {
                    Some(t) => {
                        let code = *index.entry(t).or_insert_with_key(|t| {
                            dict.push(t.clone());
                            (dict.len() - 1) as u32
                        });
                        codes.push(code);
                        true
                    }
                    None => {
                        codes.push(0);
                        false
                    }
                }
            }
            (Values::Timestamp(out), v) => {
                let micros = match v {
                    Some(Value::String(s)) => fathom_core::time::parse_timestamp(s.as_bytes()),
                    _ => None,
                };
                out.push(micros.unwrap_or(0));
                micros.is_some()
            }
        };
        self.valid.push(present);
    }

    fn finish(self, name: &str) -> Column {
        let data = match self.values {
            Values::Numeric(v) => ColumnData::Numeric(v),
            Values::Bool(v) => ColumnData::Bool(v),
            Values::Categorical(codes, _, dict) => ColumnData::Categorical(CategoricalData {
                codes,
                dictionary: Arc::new(dict),
            }),
            Values::Timestamp(v) => ColumnData::Timestamp(v),
        };
        Column::new(name, data, Some(self.valid))
    }
}
