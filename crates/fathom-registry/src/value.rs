//! Values passed to and read from SQL, the same for every back end.

use crate::error::{RegistryError, Result};

/// A value bound to a statement parameter or read from a result column.
///
/// The store uses four types only, so the two back ends agree exactly:
/// 64-bit integers (ids, timestamps in microseconds, seeds), 64-bit
/// floats (metric values), text and null.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// SQL NULL.
    Null,
    /// A 64-bit integer.
    Int(i64),
    /// A 64-bit float.
    Real(f64),
    /// UTF-8 text.
    Text(String),
}

impl From<i64> for SqlValue {
    fn from(v: i64) -> Self {
        SqlValue::Int(v)
    }
}

impl From<f64> for SqlValue {
    fn from(v: f64) -> Self {
        SqlValue::Real(v)
    }
}

impl From<&str> for SqlValue {
    fn from(v: &str) -> Self {
        SqlValue::Text(v.to_owned())
    }
}

impl From<String> for SqlValue {
    fn from(v: String) -> Self {
        SqlValue::Text(v)
    }
}

impl From<&String> for SqlValue {
    fn from(v: &String) -> Self {
        SqlValue::Text(v.clone())
    }
}

impl<T: Into<SqlValue>> From<Option<T>> for SqlValue {
    fn from(v: Option<T>) -> Self {
        match v {
            Some(v) => v.into(),
            None => SqlValue::Null,
        }
    }
}

/// One result row: its values in column order.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub Vec<SqlValue>);

impl Row {
    fn get(&self, i: usize) -> Result<&SqlValue> {
        self.0
            .get(i)
            .ok_or_else(|| bug(format!("column {i} missing")))
    }

    /// Column `i` as an integer (error if null or another type).
    pub fn int(&self, i: usize) -> Result<i64> {
        self.opt_int(i)?
            .ok_or_else(|| bug(format!("column {i} is null, expected an integer")))
    }

    /// Column `i` as an optional integer.
    pub fn opt_int(&self, i: usize) -> Result<Option<i64>> {
        match self.get(i)? {
            SqlValue::Null => Ok(None),
            SqlValue::Int(v) => Ok(Some(*v)),
            other => Err(bug(format!("column {i} is {other:?}, expected an integer"))),
        }
    }

    /// Column `i` as a float (integers are widened).
    pub fn real(&self, i: usize) -> Result<f64> {
        self.opt_real(i)?
            .ok_or_else(|| bug(format!("column {i} is null, expected a number")))
    }

    /// Column `i` as an optional float.
    pub fn opt_real(&self, i: usize) -> Result<Option<f64>> {
        match self.get(i)? {
            SqlValue::Null => Ok(None),
            SqlValue::Real(v) => Ok(Some(*v)),
            SqlValue::Int(v) => Ok(Some(*v as f64)),
            other => Err(bug(format!("column {i} is {other:?}, expected a number"))),
        }
    }

    /// Column `i` as text (error if null or another type).
    pub fn text(&self, i: usize) -> Result<String> {
        self.opt_text(i)?
            .ok_or_else(|| bug(format!("column {i} is null, expected text")))
    }

    /// Column `i` as optional text.
    pub fn opt_text(&self, i: usize) -> Result<Option<String>> {
        match self.get(i)? {
            SqlValue::Null => Ok(None),
            SqlValue::Text(v) => Ok(Some(v.clone())),
            other => Err(bug(format!("column {i} is {other:?}, expected text"))),
        }
    }
}

fn bug(message: String) -> RegistryError {
    RegistryError::Database {
        location: "result row".into(),
        detail: format!("{message}; this is a bug in fathom, please report it"),
    }
}

/// Builds a parameter list: `params![a, b]` is `&[SqlValue::from(a), ...]`.
macro_rules! params {
    () => { &[] as &[$crate::value::SqlValue] };
    ($($v:expr),+ $(,)?) => { &[$($crate::value::SqlValue::from($v)),+] as &[$crate::value::SqlValue] };
}
pub(crate) use params;
