//! A streaming Parquet reader: row groups are decoded in parallel, one
//! batch per row group.

use super::{BadValues, ReadOptions, owned};
use crate::arrow_bridge::{column_type_of, from_arrow};
use crate::error::{DataError, Result};
use fathom_core::{ColumnType, Frame};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ParquetRecordBatchReaderBuilder};
use rayon::prelude::*;
use std::collections::VecDeque;
use std::fs::File;
use std::path::{Path, PathBuf};

/// Reads a Parquet file as a sequence of typed batches.
pub struct ParquetReader {
    path: PathBuf,
    metadata: ArrowReaderMetadata,
    columns: Vec<(String, ColumnType)>,
    next_group: usize,
    groups: usize,
    total_rows: u64,
    pending: VecDeque<Frame>,
    bad: BadValues,
    failed: bool,
}

fn parquet_error(path: &Path, e: impl std::fmt::Display) -> DataError {
    DataError::Parquet {
        path: owned(path),
        detail: e.to_string(),
    }
}

impl ParquetReader {
    /// Opens `path` and reads its footer.
    pub fn open(path: &Path, _options: &ReadOptions) -> Result<Self> {
        let file = File::open(path).map_err(|e| DataError::io(path, e))?;
        if file.metadata().map_err(|e| DataError::io(path, e))?.len() == 0 {
            return Err(DataError::EmptyFile { path: owned(path) });
        }
        let metadata = ArrowReaderMetadata::load(&file, Default::default())
            .map_err(|e| parquet_error(path, e))?;
        let mut columns = Vec::new();
        for field in metadata.schema().fields() {
            let ty =
                column_type_of(field.data_type()).ok_or_else(|| DataError::UnsupportedType {
                    path: owned(path),
                    column: field.name().clone(),
                    found: field.data_type().to_string(),
                })?;
            columns.push((field.name().clone(), ty));
        }
        let groups = metadata.metadata().num_row_groups();
        let total_rows = metadata.metadata().file_metadata().num_rows().max(0) as u64;
        Ok(ParquetReader {
            path: owned(path),
            metadata,
            columns,
            next_group: 0,
            groups,
            total_rows,
            pending: VecDeque::new(),
            bad: BadValues::default(),
            failed: false,
        })
    }

    /// Column names and types.
    pub fn columns(&self) -> Vec<(String, ColumnType)> {
        self.columns.clone()
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Always empty: Parquet values are typed.
    pub fn bad_values(&self) -> &BadValues {
        &self.bad
    }

    /// Rows in the file.
    pub fn total_rows(&self) -> u64 {
        self.total_rows
    }

    /// Fraction of row groups read.
    pub fn progress(&self) -> f64 {
        if self.groups == 0 {
            1.0
        } else {
            self.next_group as f64 / self.groups as f64
        }
    }

    /// Decodes one row group. The decoder is guarded: a corrupt file that
    /// makes it panic becomes an error naming the file.
    fn read_group(&self, group: usize) -> Result<Frame> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.decode_group(group)))
            .unwrap_or_else(|_| {
                Err(parquet_error(
                    &self.path,
                    format!("row group {group} could not be decoded"),
                ))
            })
    }

    fn decode_group(&self, group: usize) -> Result<Frame> {
        // A handle of its own: clones of one handle share the file position,
        // which parallel row-group reads would race on.
        let file = File::open(&self.path).map_err(|e| DataError::io(&self.path, e))?;
        let rows = self.metadata.metadata().row_group(group).num_rows().max(1) as usize;
        let reader =
            ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.metadata.clone())
                .with_row_groups(vec![group])
                .with_batch_size(rows)
                .build()
                .map_err(|e| parquet_error(&self.path, e))?;
        let mut frames = Vec::new();
        for batch in reader {
            let batch = batch.map_err(|e| parquet_error(&self.path, e))?;
            let cols = batch
                .schema()
                .fields()
                .iter()
                .zip(batch.columns())
                .map(|(f, a)| {
                    from_arrow(f.name(), a.as_ref()).ok_or_else(|| DataError::UnsupportedType {
                        path: self.path.clone(),
                        column: f.name().clone(),
                        found: f.data_type().to_string(),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            frames.push(Frame::new(cols)?);
        }
        if frames.len() == 1 {
            return Ok(frames.pop().unwrap_or_default());
        }
        Ok(Frame::concat(&frames)?)
    }
}

impl Iterator for ParquetReader {
    type Item = Result<Frame>;
    fn next(&mut self) -> Option<Result<Frame>> {
        if let Some(f) = self.pending.pop_front() {
            return Some(Ok(f));
        }
        if self.failed || self.next_group >= self.groups {
            return None;
        }
        let end = (self.next_group + rayon::current_num_threads().max(1)).min(self.groups);
        let results: Vec<Result<Frame>> = (self.next_group..end)
            .into_par_iter()
            .map(|g| self.read_group(g))
            .collect();
        self.next_group = end;
        for r in results {
            match r {
                Ok(f) => self.pending.push_back(f),
                Err(e) => {
                    self.failed = true;
                    self.pending.clear();
                    return Some(Err(e));
                }
            }
        }
        self.pending.pop_front().map(Ok)
    }
}
