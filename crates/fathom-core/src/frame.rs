use crate::{Bitmap, ColumnType, CoreError};
use std::collections::HashMap;
use std::sync::Arc;

/// Dictionary-encoded strings: `codes[i]` indexes `dictionary`.
#[derive(Debug, Clone, PartialEq)]
pub struct CategoricalData {
    /// One code per row; the code of a null row is 0 and means nothing.
    pub codes: Vec<u32>,
    /// The distinct levels, in order of first appearance. Shared between
    /// batches that were built against the same dictionary.
    pub dictionary: Arc<Vec<String>>,
}

impl CategoricalData {
    /// Encodes a list of strings.
    pub fn from_strings<S: AsRef<str>>(values: &[S]) -> Self {
        let mut index: HashMap<&str, u32> = HashMap::new();
        let mut dictionary = Vec::new();
        let mut codes = Vec::with_capacity(values.len());
        for v in values {
            let v = v.as_ref();
            let code = *index.entry(v).or_insert_with(|| {
                dictionary.push(v.to_string());
                (dictionary.len() - 1) as u32
            });
            codes.push(code);
        }
        CategoricalData {
            codes,
            dictionary: Arc::new(dictionary),
        }
    }

    /// The level of row `i`.
    #[inline]
    pub fn value(&self, i: usize) -> &str {
        &self.dictionary[self.codes[i] as usize]
    }
}

/// The values of a column, one vector per type.
///
/// A null row holds a placeholder: `NaN` for numeric, `0` / `false` / code 0
/// otherwise. Whether a row is null is told by [`Column::is_valid`].
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnData {
    /// Numbers.
    Numeric(Vec<f64>),
    /// Dictionary-encoded strings.
    Categorical(CategoricalData),
    /// Booleans.
    Bool(Vec<bool>),
    /// Microseconds since the Unix epoch, UTC.
    Timestamp(Vec<i64>),
}

impl ColumnData {
    /// The logical type of these values.
    pub fn column_type(&self) -> ColumnType {
        match self {
            ColumnData::Numeric(_) => ColumnType::Numeric,
            ColumnData::Categorical(_) => ColumnType::Categorical,
            ColumnData::Bool(_) => ColumnType::Bool,
            ColumnData::Timestamp(_) => ColumnType::Timestamp,
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            ColumnData::Numeric(v) => v.len(),
            ColumnData::Categorical(c) => c.codes.len(),
            ColumnData::Bool(v) => v.len(),
            ColumnData::Timestamp(v) => v.len(),
        }
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One named, typed column with optional nulls.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// The column name.
    pub name: String,
    /// The values.
    pub data: ColumnData,
    /// Which rows are present; `None` means every row is.
    pub validity: Option<Bitmap>,
}

impl Column {
    /// A column from values and an optional validity bitmap.
    pub fn new(name: impl Into<String>, data: ColumnData, validity: Option<Bitmap>) -> Self {
        let validity = validity.filter(|v| v.count_zeros() > 0);
        Column {
            name: name.into(),
            data,
            validity,
        }
    }

    /// A numeric column with no nulls other than `NaN`s, which become nulls.
    pub fn numeric(name: impl Into<String>, values: Vec<f64>) -> Self {
        let validity = if values.iter().any(|v| v.is_nan()) {
            Some(Bitmap::from_bools(
                &values.iter().map(|v| !v.is_nan()).collect::<Vec<_>>(),
            ))
        } else {
            None
        };
        Column::new(name, ColumnData::Numeric(values), validity)
    }

    /// A categorical column from strings.
    pub fn categorical<S: AsRef<str>>(name: impl Into<String>, values: &[S]) -> Self {
        Column::new(
            name,
            ColumnData::Categorical(CategoricalData::from_strings(values)),
            None,
        )
    }

    /// A boolean column.
    pub fn boolean(name: impl Into<String>, values: Vec<bool>) -> Self {
        Column::new(name, ColumnData::Bool(values), None)
    }

    /// A timestamp column (microseconds since the epoch).
    pub fn timestamp(name: impl Into<String>, values: Vec<i64>) -> Self {
        Column::new(name, ColumnData::Timestamp(values), None)
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The logical type.
    pub fn column_type(&self) -> ColumnType {
        self.data.column_type()
    }

    /// Whether row `i` holds a value (is not null).
    #[inline]
    pub fn is_valid(&self, i: usize) -> bool {
        self.validity.as_ref().is_none_or(|v| v.get(i))
    }

    /// Number of null rows.
    pub fn null_count(&self) -> usize {
        self.validity.as_ref().map_or(0, Bitmap::count_zeros)
    }

    /// Numeric value of row `i` if the column is numeric and the row is not null.
    #[inline]
    pub fn f64_at(&self, i: usize) -> Option<f64> {
        match &self.data {
            ColumnData::Numeric(v) if self.is_valid(i) => Some(v[i]),
            _ => None,
        }
    }

    /// A copy of rows `offset..offset + len`.
    pub fn slice(&self, offset: usize, len: usize) -> Column {
        let data = match &self.data {
            ColumnData::Numeric(v) => ColumnData::Numeric(v[offset..offset + len].to_vec()),
            ColumnData::Categorical(c) => ColumnData::Categorical(CategoricalData {
                codes: c.codes[offset..offset + len].to_vec(),
                dictionary: Arc::clone(&c.dictionary),
            }),
            ColumnData::Bool(v) => ColumnData::Bool(v[offset..offset + len].to_vec()),
            ColumnData::Timestamp(v) => ColumnData::Timestamp(v[offset..offset + len].to_vec()),
        };
        Column::new(
            self.name.clone(),
            data,
            self.validity.as_ref().map(|b| b.slice(offset, len)),
        )
    }

    /// Renders row `i` as text (empty for null), as CSV output would.
    pub fn display_value(&self, i: usize) -> String {
        if !self.is_valid(i) {
            return String::new();
        }
        match &self.data {
            ColumnData::Numeric(v) => format_f64(v[i]),
            ColumnData::Categorical(c) => c.value(i).to_string(),
            ColumnData::Bool(v) => v[i].to_string(),
            ColumnData::Timestamp(v) => crate::time::format_micros(v[i]),
        }
    }
}

/// Formats a number the shortest way that reads back to the same value.
pub(crate) fn format_f64(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// A columnar batch: named columns of equal length.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Frame {
    columns: Vec<Column>,
    num_rows: usize,
}

impl Frame {
    /// Builds a frame, checking that lengths agree and names are unique.
    pub fn new(columns: Vec<Column>) -> Result<Self, CoreError> {
        let num_rows = columns.first().map_or(0, Column::len);
        let mut seen = std::collections::HashSet::new();
        for c in &columns {
            if c.len() != num_rows {
                return Err(CoreError::RaggedFrame {
                    column: c.name.clone(),
                    expected: num_rows,
                    found: c.len(),
                });
            }
            if !seen.insert(c.name.as_str()) {
                return Err(CoreError::DuplicateColumn(c.name.clone()));
            }
        }
        Ok(Frame { columns, num_rows })
    }

    /// Number of rows.
    pub fn num_rows(&self) -> usize {
        self.num_rows
    }

    /// Number of columns.
    pub fn num_columns(&self) -> usize {
        self.columns.len()
    }

    /// The columns in order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// Takes the columns out of the frame.
    pub fn into_columns(self) -> Vec<Column> {
        self.columns
    }

    /// The column names in order.
    pub fn column_names(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.name.clone()).collect()
    }

    /// The column called `name`, if any.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The column called `name`, or an error that lists the valid names.
    pub fn require(&self, name: &str) -> Result<&Column, CoreError> {
        self.column(name).ok_or_else(|| CoreError::ColumnNotFound {
            name: name.to_string(),
            valid: self.column_names(),
        })
    }

    /// A copy of rows `offset..offset + len`.
    pub fn slice(&self, offset: usize, len: usize) -> Frame {
        Frame {
            columns: self.columns.iter().map(|c| c.slice(offset, len)).collect(),
            num_rows: len,
        }
    }

    /// Concatenates frames with the same column names and types, merging
    /// categorical dictionaries.
    pub fn concat(frames: &[Frame]) -> Result<Frame, CoreError> {
        let Some(first) = frames.first() else {
            return Ok(Frame::default());
        };
        use rayon::prelude::*;
        let columns = first
            .columns
            .par_iter()
            .enumerate()
            .map(|(ci, col0)| {
                let parts: Vec<&Column> = frames
                    .iter()
                    .map(|f| {
                        f.columns
                            .get(ci)
                            .filter(|c| {
                                c.name == col0.name && c.column_type() == col0.column_type()
                            })
                            .ok_or_else(|| CoreError::ColumnNotFound {
                                name: col0.name.clone(),
                                valid: f.column_names(),
                            })
                    })
                    .collect::<Result<_, _>>()?;
                Ok(concat_columns(&parts))
            })
            .collect::<Result<Vec<Column>, CoreError>>()?;
        Frame::new(columns)
    }
}

fn concat_columns(parts: &[&Column]) -> Column {
    let total: usize = parts.iter().map(|c| c.len()).sum();
    let any_null = parts.iter().any(|c| c.validity.is_some());
    let validity = any_null.then(|| {
        let mut b = Bitmap::with_capacity(total);
        for p in parts {
            match &p.validity {
                Some(v) => b.extend(v),
                None => b.extend_constant(p.len(), true),
            }
        }
        b
    });
    let data = match &parts[0].data {
        ColumnData::Numeric(_) => {
            let mut out = Vec::with_capacity(total);
            for p in parts {
                if let ColumnData::Numeric(v) = &p.data {
                    out.extend_from_slice(v);
                }
            }
            ColumnData::Numeric(out)
        }
        ColumnData::Bool(_) => {
            let mut out = Vec::with_capacity(total);
            for p in parts {
                if let ColumnData::Bool(v) = &p.data {
                    out.extend_from_slice(v);
                }
            }
            ColumnData::Bool(out)
        }
        ColumnData::Timestamp(_) => {
            let mut out = Vec::with_capacity(total);
            for p in parts {
                if let ColumnData::Timestamp(v) = &p.data {
                    out.extend_from_slice(v);
                }
            }
            ColumnData::Timestamp(out)
        }
        ColumnData::Categorical(first) => {
            let mut dictionary: Vec<String> = first.dictionary.as_ref().clone();
            let mut index: HashMap<String, u32> = dictionary
                .iter()
                .enumerate()
                .map(|(i, s)| (s.clone(), i as u32))
                .collect();
            let mut codes = Vec::with_capacity(total);
            for p in parts {
                let ColumnData::Categorical(c) = &p.data else {
                    unreachable!("types checked by Frame::concat")
                };
                if Arc::ptr_eq(&c.dictionary, &first.dictionary) {
                    codes.extend_from_slice(&c.codes);
                    continue;
                }
                let remap: Vec<u32> = c
                    .dictionary
                    .iter()
                    .map(|s| {
                        *index.entry(s.clone()).or_insert_with(|| {
                            dictionary.push(s.clone());
                            (dictionary.len() - 1) as u32
                        })
                    })
                    .collect();
                codes.extend(
                    c.codes
                        .iter()
                        .map(|&k| remap.get(k as usize).copied().unwrap_or(0)),
                );
            }
            ColumnData::Categorical(CategoricalData {
                codes,
                dictionary: Arc::new(dictionary),
            })
        }
    };
    Column::new(parts[0].name.clone(), data, validity)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ragged_and_duplicate_columns_are_refused() {
        let err = Frame::new(vec![
            Column::numeric("a", vec![1.0, 2.0]),
            Column::numeric("b", vec![1.0]),
        ])
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("column 'b' has 1 rows but the frame has 2")
        );
        let err = Frame::new(vec![
            Column::numeric("a", vec![1.0]),
            Column::numeric("a", vec![1.0]),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("'a' appears twice"));
    }

    #[test]
    fn nan_becomes_null_and_concat_merges_dictionaries() {
        let a = Frame::new(vec![
            Column::numeric("x", vec![1.0, f64::NAN]),
            Column::categorical("c", &["red", "blue"]),
        ])
        .unwrap();
        let b = Frame::new(vec![
            Column::numeric("x", vec![3.0]),
            Column::categorical("c", &["green"]),
        ])
        .unwrap();
        assert_eq!(a.column("x").unwrap().null_count(), 1);
        let all = Frame::concat(&[a, b]).unwrap();
        assert_eq!(all.num_rows(), 3);
        let c = all.column("c").unwrap();
        assert_eq!(
            (c.display_value(0), c.display_value(2)),
            ("red".into(), "green".into())
        );
        assert_eq!(all.column("x").unwrap().display_value(1), "");
        let err = all.require("nope").unwrap_err().to_string();
        assert!(err.contains("the columns are: x, c"), "{err}");
    }
}
