//! Reading CSV and Parquet files into typed [`Frame`] batches.
//!
//! Files are read in batches, so a file larger than memory can be
//! validated or profiled batch by batch; [`read_frame`] reads the whole
//! table straight into columns allocated once, without building batches.
//! CSV column types come from a schema contract when one is given and are
//! inferred otherwise.

mod assemble;
mod csv;
mod hybrid_rle;
mod infer;
mod parquet;
mod parquet_decode;
mod records;
mod split;
pub(crate) mod tokens;

pub use self::csv::CsvReader;
pub use self::infer::infer_csv_types;
pub use self::parquet::{DecodeReport, ParquetReader};

use crate::error::{DataError, Result};
use fathom_core::{ColumnType, Frame, Schema};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// File formats fathom reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// Comma- (or tab-, for `.tsv`) separated text with a header line.
    Csv,
    /// Apache Parquet.
    Parquet,
}

impl FileFormat {
    /// The format named by a file's extension.
    pub fn from_path(path: &Path) -> Result<Self> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("csv" | "tsv" | "txt") => Ok(FileFormat::Csv),
            Some("parquet" | "pq") => Ok(FileFormat::Parquet),
            _ => Err(DataError::UnknownFormat {
                path: path.to_path_buf(),
            }),
        }
    }
}

/// What to do with a value that does not parse as its column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BadValuePolicy {
    /// Stop with an error naming the file, row and column.
    #[default]
    Fail,
    /// Read the value as null and record it (see [`BadValues`]); used by
    /// validation, which reports every such value as a type mismatch.
    RecordAsNull,
}

/// Options for reading a file.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Column types to read with; columns the schema does not name are inferred.
    pub schema: Option<Schema>,
    /// What to do with values that do not parse.
    pub bad_values: BadValuePolicy,
    /// How many leading rows CSV type inference looks at (all of them,
    /// however many bytes they take, up to 64 MiB).
    pub infer_rows: usize,
    /// Bytes of CSV parsed per step (split across threads).
    pub window_bytes: usize,
    /// Field delimiter for CSV; `None` picks tab for `.tsv` and comma otherwise.
    pub delimiter: Option<u8>,
    /// Whether the CSV file starts with a header line.
    pub has_header: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            schema: None,
            bad_values: BadValuePolicy::Fail,
            infer_rows: 20_000,
            window_bytes: 4 << 20,
            delimiter: None,
            has_header: true,
        }
    }
}

/// Values that did not parse, per column, when reading with
/// [`BadValuePolicy::RecordAsNull`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BadValues {
    /// Column name → (expected type, count, first few examples as (row, text)).
    pub columns: BTreeMap<String, BadColumn>,
}

/// Bad values of one column.
#[derive(Debug, Clone, PartialEq)]
pub struct BadColumn {
    /// The type the values should have had.
    pub expected: ColumnType,
    /// How many values did not parse.
    pub count: u64,
    /// The first few, as (1-based row, cell text).
    pub examples: Vec<(u64, String)>,
}

impl BadValues {
    /// Records one bad value.
    pub fn record(&mut self, column: &str, expected: ColumnType, row: u64, cell: String) {
        let entry = self.columns.entry(column.to_string()).or_insert(BadColumn {
            expected,
            count: 0,
            examples: Vec::new(),
        });
        entry.count += 1;
        if entry.examples.len() < 5 {
            entry.examples.push((row, cell));
        }
    }

    /// Merges another set (rows already global).
    pub fn merge(&mut self, other: BadValues) {
        for (name, col) in other.columns {
            let entry = self.columns.entry(name).or_insert(BadColumn {
                expected: col.expected,
                count: 0,
                examples: Vec::new(),
            });
            entry.count += col.count;
            for ex in col.examples {
                if entry.examples.len() < 5 {
                    entry.examples.push(ex);
                }
            }
        }
    }
}

/// A reader over either format, yielding batches.
pub enum BatchReader {
    /// A CSV file.
    Csv(CsvReader),
    /// A Parquet file.
    Parquet(ParquetReader),
}

impl BatchReader {
    /// The column names and types the batches will have.
    pub fn columns(&self) -> Vec<(String, ColumnType)> {
        match self {
            BatchReader::Csv(r) => r.columns(),
            BatchReader::Parquet(r) => r.columns(),
        }
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        match self {
            BatchReader::Csv(r) => r.path(),
            BatchReader::Parquet(r) => r.path(),
        }
    }

    /// Values read as null because they did not parse (with
    /// [`BadValuePolicy::RecordAsNull`]).
    pub fn bad_values(&self) -> &BadValues {
        match self {
            BatchReader::Csv(r) => r.bad_values(),
            BatchReader::Parquet(r) => r.bad_values(),
        }
    }

    /// Total rows if the format knows it up front (Parquet does).
    pub fn total_rows(&self) -> Option<u64> {
        match self {
            BatchReader::Csv(_) => None,
            BatchReader::Parquet(r) => Some(r.total_rows()),
        }
    }

    /// Fraction of the input consumed so far, for progress bars.
    pub fn progress(&self) -> f64 {
        match self {
            BatchReader::Csv(r) => r.progress(),
            BatchReader::Parquet(r) => r.progress(),
        }
    }
}

impl Iterator for BatchReader {
    type Item = Result<Frame>;
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            BatchReader::Csv(r) => r.next(),
            BatchReader::Parquet(r) => r.next(),
        }
    }
}

/// Opens a CSV or Parquet file (chosen by extension) for batch reading.
pub fn open(path: impl AsRef<Path>, options: &ReadOptions) -> Result<BatchReader> {
    let path = path.as_ref();
    match FileFormat::from_path(path)? {
        FileFormat::Csv => Ok(BatchReader::Csv(CsvReader::open(path, options)?)),
        FileFormat::Parquet => Ok(BatchReader::Parquet(ParquetReader::open(path, options)?)),
    }
}

/// Reads a whole file into one frame: the same table as the batches of
/// [`open`] concatenated, with every column allocated once.
pub fn read_frame(path: impl AsRef<Path>, options: &ReadOptions) -> Result<Frame> {
    let reader = open(path, options)?;
    match reader {
        BatchReader::Parquet(r) => r.read_all(),
        BatchReader::Csv(r) => r.read_all(),
    }
}

/// A frame with the given columns and no rows.
pub(crate) fn empty_frame(columns: &[(String, ColumnType)]) -> Frame {
    use fathom_core::{CategoricalData, Column, ColumnData};
    let cols = columns
        .iter()
        .map(|(name, ty)| {
            let data = match ty {
                ColumnType::Numeric => ColumnData::Numeric(Vec::new()),
                ColumnType::Bool => ColumnData::Bool(Vec::new()),
                ColumnType::Timestamp => ColumnData::Timestamp(Vec::new()),
                ColumnType::Categorical => {
                    ColumnData::Categorical(CategoricalData::from_strings::<&str>(&[]))
                }
            };
            Column::new(name.clone(), data, None)
        })
        .collect();
    Frame::new(cols).unwrap_or_default()
}

/// A path for messages.
pub(crate) fn owned(path: &Path) -> PathBuf {
    path.to_path_buf()
}
