//! Rows of a [`Frame`] as JSON request records, as a client would send
//! them: numbers, strings, booleans, RFC 3339 times, `null` for nulls.

use fathom_core::{ColumnData, Frame};
use serde_json::{Map, Value};

/// Row `row` of `frame` as a JSON object, leaving out `skip` (e.g. the label).
pub fn record_json(frame: &Frame, row: usize, skip: &[&str]) -> Map<String, Value> {
    let mut m = Map::new();
    for c in frame.columns() {
        if skip.contains(&c.name.as_str()) {
            continue;
        }
        let v = if !c.is_valid(row) {
            Value::Null
        } else {
            match &c.data {
                ColumnData::Numeric(v) => {
                    serde_json::Number::from_f64(v[row]).map_or(Value::Null, Value::Number)
                }
                ColumnData::Bool(v) => Value::Bool(v[row]),
                ColumnData::Categorical(_) | ColumnData::Timestamp(_) => {
                    Value::String(c.display_value(row))
                }
            }
        };
        m.insert(c.name.clone(), v);
    }
    m
}
