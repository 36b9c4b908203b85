//! A streaming Parquet reader: row groups are decoded in parallel, one
//! batch per row group.

use super::assemble::{self, PartColumn, Slot, Store};
use super::{BadValues, ReadOptions, owned};
use crate::arrow_bridge::{column_type_of, from_arrow, validity_of};
use crate::error::{DataError, Result};
use arrow_array::cast::AsArray;
use arrow_array::types::{TimestampMicrosecondType, UInt32Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use fathom_core::{Bitmap, ColumnData, ColumnType, Frame};
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

    /// The record batches of one row group (usually one batch).
    fn group_batches(&self, group: usize, batch_rows: Option<usize>) -> Result<Vec<RecordBatch>> {
        // A handle of its own: clones of one handle share the file position,
        // which parallel row-group reads would race on.
        let file = File::open(&self.path).map_err(|e| DataError::io(&self.path, e))?;
        let rows = self.metadata.metadata().row_group(group).num_rows().max(1) as usize;
        let rows = batch_rows.map_or(rows, |b| b.min(rows));
        let reader =
            ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.metadata.clone())
                .with_row_groups(vec![group])
                .with_batch_size(rows)
                .build()
                .map_err(|e| parquet_error(&self.path, e))?;
        reader
            .map(|b| b.map_err(|e| parquet_error(&self.path, e)))
            .collect()
    }

    fn decode_group(&self, group: usize) -> Result<Frame> {
        let mut frames = Vec::new();
        for batch in self.group_batches(group, None)? {
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

impl ParquetReader {
    /// Reads the whole file into one frame: every column is allocated once
    /// at its full length and the row groups, decoded in parallel, are
    /// copied straight into their slices of it.
    pub fn read_all(self) -> Result<Frame> {
        let meta = self.metadata.metadata();
        let sizes: Vec<usize> = (0..self.groups)
            .map(|g| meta.row_group(g).num_rows().max(0) as usize)
            .collect();
        let total: usize = sizes.iter().sum();
        let mut stores: Vec<Store> = self
            .columns
            .par_iter()
            .map(|(_, ty)| Store::new(*ty, total))
            .collect();
        let slots = assemble::split_parts(&mut stores, &sizes);
        let found: Vec<Vec<PartColumn>> = slots
            .into_par_iter()
            .enumerate()
            .map(|(g, slots)| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    self.decode_group_into(g, sizes[g], slots)
                }))
                .unwrap_or_else(|_| {
                    Err(parquet_error(
                        &self.path,
                        format!("row group {g} could not be decoded"),
                    ))
                })
            })
            .collect::<Result<_>>()?;
        let names: Vec<String> = self.columns.iter().map(|(n, _)| n.clone()).collect();
        Ok(assemble::finish(&names, stores, found, &sizes)?)
    }

    fn decode_group_into(
        &self,
        group: usize,
        rows: usize,
        mut slots: Vec<Slot<'_>>,
    ) -> Result<Vec<PartColumn>> {
        let mut found: Vec<PartColumn> = slots
            .iter()
            .map(|_| PartColumn {
                validity: Bitmap::with_capacity(rows),
                dictionary: Vec::new(),
            })
            .collect();
        let mut at = 0;
        // Small batches keep the decoder's buffers in cache on their way
        // into the slots.
        for batch in self.group_batches(group, Some(16_384))? {
            let n = batch.num_rows();
            if at + n > rows {
                return Err(parquet_error(
                    &self.path,
                    format!("row group {group} holds more rows than its metadata says"),
                ));
            }
            for ((slot, pc), (field, array)) in slots
                .iter_mut()
                .zip(&mut found)
                .zip(batch.schema().fields().iter().zip(batch.columns()))
            {
                fill(slot, at, array.as_ref(), pc).ok_or_else(|| DataError::UnsupportedType {
                    path: self.path.clone(),
                    column: field.name().clone(),
                    found: field.data_type().to_string(),
                })?;
            }
            at += n;
        }
        if at != rows {
            return Err(parquet_error(
                &self.path,
                format!("row group {group} holds fewer rows than its metadata says"),
            ));
        }
        Ok(found)
    }
}

/// Copies one array into `slot[at..]`, recording its validity and (for
/// categorical columns) its dictionary in `pc`. `None` if the array's type
/// does not fit the slot.
fn fill(slot: &mut Slot<'_>, at: usize, array: &dyn Array, pc: &mut PartColumn) -> Option<()> {
    let n = array.len();
    let validity = validity_of(array);
    match (&mut *slot, array.data_type()) {
        (Slot::Numeric(out), DataType::Float64) => {
            let a = array.as_primitive::<arrow_array::types::Float64Type>();
            let out = &mut out[at..at + n];
            out.copy_from_slice(a.values());
            if let Some(v) = &validity {
                for (i, x) in out.iter_mut().enumerate() {
                    if !v.get(i) {
                        *x = f64::NAN;
                    }
                }
            }
        }
        (Slot::Timestamp(out), DataType::Timestamp(TimeUnit::Microsecond, _)) => {
            let a = array.as_primitive::<TimestampMicrosecondType>();
            out[at..at + n].copy_from_slice(a.values());
        }
        (Slot::Bool(out), DataType::Boolean) => {
            let a = array.as_boolean();
            for (o, b) in out[at..at + n].iter_mut().zip(a.values().iter()) {
                *o = b;
            }
        }
        (Slot::Categorical(out), DataType::Dictionary(k, _)) if **k == DataType::UInt32 => {
            let d = array.as_dictionary::<UInt32Type>();
            let values = d.values().as_string_opt::<i32>()?;
            let dict: Vec<String> = (0..values.len())
                .map(|i| {
                    if values.is_valid(i) {
                        values.value(i).to_string()
                    } else {
                        String::new()
                    }
                })
                .collect();
            let out = &mut out[at..at + n];
            out.copy_from_slice(d.keys().values());
            if let Some(v) = &validity {
                for (i, x) in out.iter_mut().enumerate() {
                    if !v.get(i) {
                        *x = 0;
                    }
                }
            }
            let remap = merge_into(&mut pc.dictionary, dict);
            if let Some(remap) = remap {
                for x in out.iter_mut() {
                    *x = remap.get(*x as usize).copied().unwrap_or(0);
                }
            }
        }
        _ => {
            // Other physical types go through the general conversion.
            let col = from_arrow("", array)?;
            match (&mut *slot, col.data) {
                (Slot::Numeric(out), ColumnData::Numeric(v)) => out[at..at + n].copy_from_slice(&v),
                (Slot::Bool(out), ColumnData::Bool(v)) => out[at..at + n].copy_from_slice(&v),
                (Slot::Timestamp(out), ColumnData::Timestamp(v)) => {
                    out[at..at + n].copy_from_slice(&v)
                }
                (Slot::Categorical(out), ColumnData::Categorical(c)) => {
                    let out = &mut out[at..at + n];
                    out.copy_from_slice(&c.codes);
                    let remap = merge_into(&mut pc.dictionary, c.dictionary.to_vec());
                    if let Some(remap) = remap {
                        for x in out.iter_mut() {
                            *x = remap.get(*x as usize).copied().unwrap_or(0);
                        }
                    }
                }
                _ => return None,
            }
        }
    }
    match validity {
        Some(v) => pc.validity.extend(&v),
        None => pc.validity.extend_constant(n, true),
    }
    Some(())
}

/// Merges a batch's dictionary into the group's; `None` when the batch's
/// codes are already right (the first batch, or the same levels).
fn merge_into(target: &mut Vec<String>, dict: Vec<String>) -> Option<Vec<u32>> {
    if target.is_empty() {
        *target = dict;
        return None;
    }
    if dict.len() <= target.len() && dict[..] == target[..dict.len()] {
        return None;
    }
    let mut index: ahash::AHashMap<String, u32> = target
        .iter()
        .enumerate()
        .map(|(i, s)| (s.clone(), i as u32))
        .collect();
    Some(
        dict.into_iter()
            .map(|s| match index.get(&s) {
                Some(&k) => k,
                None => {
                    let k = target.len() as u32;
                    target.push(s.clone());
                    index.insert(s, k);
                    k
                }
            })
            .collect(),
    )
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
