//! A streaming Parquet reader: each batch is one row group, and a whole
//! table is read straight into columns allocated once.
//!
//! Column chunks are decoded in parallel, each straight into its slice of
//! the final column by [`super::parquet_decode`] when it understands the
//! chunk (flat columns of the usual types, plain or dictionary pages, any
//! codec the parquet crate decompresses). Any other chunk is decoded
//! through the parquet crate's Arrow reader and copied over: both paths
//! give the same values, nulls and levels.

use super::assemble::{self, PartColumn, Slot, Store};
use super::parquet_decode::{self, Plan, Scratch};
use super::{BadValues, ReadOptions, owned};
use crate::arrow_bridge::{column_type_of, from_arrow, validity_of};
use crate::error::{DataError, Result};
use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{TimestampMicrosecondType, UInt32Type};
use arrow_schema::{DataType, TimeUnit};
use bytes::Bytes;
use fathom_core::{Bitmap, ColumnData, ColumnType, Frame};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ParquetRecordBatchReaderBuilder};
use parquet::file::reader::{ChunkReader, Length};
use parquet::file::serialized_reader::SerializedPageReader;
use rayon::prelude::*;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How a reader's column chunks were decoded so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DecodeReport {
    /// Chunks decoded straight into fathom's columns.
    pub direct: usize,
    /// Chunks decoded through the Arrow reader.
    pub general: usize,
}

/// Reads a Parquet file as a sequence of typed batches.
pub struct ParquetReader {
    path: PathBuf,
    metadata: ArrowReaderMetadata,
    columns: Vec<(String, ColumnType)>,
    /// The direct decoding of each column, where there is one.
    plans: Vec<Option<Plan>>,
    next_group: usize,
    groups: usize,
    total_rows: u64,
    bad: BadValues,
    failed: bool,
    direct: AtomicUsize,
    general: AtomicUsize,
}

fn parquet_error(path: &Path, e: impl std::fmt::Display) -> DataError {
    DataError::Parquet {
        path: owned(path),
        detail: e.to_string(),
    }
}

/// Rows per Arrow batch on the general path: small batches keep the
/// decoder's buffers in cache on their way into the columns.
const GENERAL_BATCH_ROWS: usize = 16_384;

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
        let parquet_schema = metadata.metadata().file_metadata().schema_descr();
        // Direct decoding needs one flat leaf per field, in field order.
        let flat = parquet_schema.num_columns() == columns.len()
            && (0..columns.len()).all(|c| parquet_schema.get_column_root_idx(c) == c);
        let plans = metadata
            .schema()
            .fields()
            .iter()
            .enumerate()
            .map(|(c, field)| {
                flat.then(|| parquet_decode::plan_for(&parquet_schema.column(c), field.data_type()))
                    .flatten()
            })
            .collect();
        let groups = metadata.metadata().num_row_groups();
        let total_rows = metadata.metadata().file_metadata().num_rows().max(0) as u64;
        Ok(ParquetReader {
            path: owned(path),
            metadata,
            columns,
            plans,
            next_group: 0,
            groups,
            total_rows,
            bad: BadValues::default(),
            failed: false,
            direct: AtomicUsize::new(0),
            general: AtomicUsize::new(0),
        })
    }

    /// Decodes every column chunk through the Arrow reader, the general
    /// path that direct decoding must agree with.
    pub fn decode_generally(mut self) -> Self {
        self.plans.iter_mut().for_each(|p| *p = None);
        self
    }

    /// How the column chunks read so far were decoded.
    pub fn decode_report(&self) -> DecodeReport {
        DecodeReport {
            direct: self.direct.load(Ordering::Relaxed),
            general: self.general.load(Ordering::Relaxed),
        }
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

    /// Reads the whole file into one frame: every column is allocated once
    /// at its full length and the column chunks, decoded in parallel, land
    /// straight in their slices of it.
    pub fn read_all(&self) -> Result<Frame> {
        self.read_groups(0, self.groups)
    }

    /// Reads row groups `first..first + count` into one frame.
    fn read_groups(&self, first: usize, count: usize) -> Result<Frame> {
        let meta = self.metadata.metadata();
        let sizes: Vec<usize> = (first..first + count)
            .map(|g| meta.row_group(g).num_rows().max(0) as usize)
            .collect();
        let total: usize = sizes.iter().sum();
        let mut stores: Vec<Store> = self
            .columns
            .par_iter()
            .map(|(_, ty)| Store::new(*ty, total))
            .collect();
        let width = self.columns.len();
        let tasks: Vec<(usize, usize, Slot<'_>)> = assemble::split_parts(&mut stores, &sizes)
            .into_iter()
            .enumerate()
            .flat_map(|(p, slots)| slots.into_iter().enumerate().map(move |(c, s)| (p, c, s)))
            .collect();
        let found: Vec<PartColumn> = tasks
            .into_par_iter()
            .map_init(Scratch::default, |scratch, (p, c, mut slot)| {
                self.read_chunk(first + p, c, sizes[p], &mut slot, scratch)
            })
            .collect::<Result<_>>()?;
        let mut parts: Vec<Vec<PartColumn>> = Vec::with_capacity(sizes.len());
        let mut found = found.into_iter();
        for _ in 0..sizes.len() {
            parts.push(found.by_ref().take(width).collect());
        }
        let names: Vec<String> = self.columns.iter().map(|(n, _)| n.clone()).collect();
        Ok(assemble::finish(&names, stores, parts, &sizes)?)
    }

    /// Decodes column `c` of row group `group` (`rows` rows) into `slot`,
    /// directly when it can, else through the Arrow reader. The decoders
    /// are guarded: a corrupt file that makes one panic becomes an error
    /// naming the file, row group and column.
    fn read_chunk(
        &self,
        group: usize,
        c: usize,
        rows: usize,
        slot: &mut Slot<'_>,
        scratch: &mut Scratch,
    ) -> Result<PartColumn> {
        let fresh = || PartColumn {
            validity: Bitmap::with_capacity(rows),
            dictionary: Vec::new(),
        };
        let mut pc = fresh();
        if let Some(plan) = self.plans[c] {
            let direct = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.decode_direct(group, c, plan, slot, &mut pc, scratch)
            }));
            if matches!(direct, Ok(Ok(()))) {
                self.direct.fetch_add(1, Ordering::Relaxed);
                return Ok(pc);
            }
            // Whatever the direct decoder did not take, the general one
            // decodes (or explains) from scratch.
            pc = fresh();
        }
        self.general.fetch_add(1, Ordering::Relaxed);
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.decode_general(group, c, rows, slot, &mut pc)
        }))
        .unwrap_or_else(|_| {
            Err(self.chunk_error(group, c, "the column chunk could not be decoded"))
        })?;
        Ok(pc)
    }

    fn chunk_error(&self, group: usize, c: usize, e: impl std::fmt::Display) -> DataError {
        parquet_error(
            &self.path,
            format!("row group {group}, column {}: {e}", self.columns[c].0),
        )
    }

    /// Reads one column chunk's bytes and decodes its pages directly.
    fn decode_direct(
        &self,
        group: usize,
        c: usize,
        plan: Plan,
        slot: &mut Slot<'_>,
        pc: &mut PartColumn,
        scratch: &mut Scratch,
    ) -> std::result::Result<(), parquet_decode::Unsupported> {
        let unsupported = |e: &dyn std::fmt::Display| parquet_decode::Unsupported(e.to_string());
        let chunk = self.metadata.metadata().row_group(group).column(c);
        let (start, len) = chunk.byte_range();
        let mut file = File::open(&self.path).map_err(|e| unsupported(&e))?;
        file.seek(SeekFrom::Start(start))
            .map_err(|e| unsupported(&e))?;
        let len = usize::try_from(len).map_err(|e| unsupported(&e))?;
        let mut buf = Vec::with_capacity(len);
        file.take(len as u64)
            .read_to_end(&mut buf)
            .map_err(|e| unsupported(&e))?;
        if buf.len() != len {
            return Err(parquet_decode::Unsupported(
                "column chunk past the end of the file".into(),
            ));
        }
        let reader = Arc::new(ChunkBytes {
            start,
            bytes: Bytes::from(buf),
        });
        let rows = self.metadata.metadata().row_group(group).num_rows().max(0) as usize;
        let pages =
            SerializedPageReader::new(reader, chunk, rows, None).map_err(|e| unsupported(&e))?;
        parquet_decode::decode_chunk(pages, plan, chunk.column_descr(), slot, pc, scratch)
    }

    /// Decodes one column chunk through the Arrow reader.
    fn decode_general(
        &self,
        group: usize,
        c: usize,
        rows: usize,
        slot: &mut Slot<'_>,
        pc: &mut PartColumn,
    ) -> Result<()> {
        // A handle of its own: clones of one handle share the file position,
        // which parallel reads would race on.
        let file = File::open(&self.path).map_err(|e| DataError::io(&self.path, e))?;
        let mask =
            ProjectionMask::roots(self.metadata.metadata().file_metadata().schema_descr(), [c]);
        let reader =
            ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.metadata.clone())
                .with_row_groups(vec![group])
                .with_projection(mask)
                .with_batch_size(GENERAL_BATCH_ROWS.min(rows.max(1)))
                .build()
                .map_err(|e| self.chunk_error(group, c, e))?;
        let mut at = 0;
        for batch in reader {
            let batch = batch.map_err(|e| self.chunk_error(group, c, e))?;
            let n = batch.num_rows();
            if at + n > rows {
                return Err(self.chunk_error(group, c, "more rows than the metadata says"));
            }
            let array = batch.column(0);
            fill(slot, at, array.as_ref(), pc).ok_or_else(|| DataError::UnsupportedType {
                path: self.path.clone(),
                column: self.columns[c].0.clone(),
                found: array.data_type().to_string(),
            })?;
            at += n;
        }
        if at != rows {
            return Err(self.chunk_error(group, c, "fewer rows than the metadata says"));
        }
        Ok(())
    }
}

/// One column chunk's bytes, addressed by file offset, for the parquet
/// crate's page reader.
struct ChunkBytes {
    start: u64,
    bytes: Bytes,
}

impl ChunkBytes {
    fn range(&self, start: u64, len: usize) -> parquet::errors::Result<std::ops::Range<usize>> {
        let from = start
            .checked_sub(self.start)
            .and_then(|s| usize::try_from(s).ok())
            .filter(|&s| s.checked_add(len).is_some_and(|e| e <= self.bytes.len()));
        from.map(|s| s..s + len).ok_or_else(|| {
            parquet::errors::ParquetError::EOF(format!(
                "{len} bytes at offset {start} are outside the column chunk"
            ))
        })
    }
}

impl Length for ChunkBytes {
    fn len(&self) -> u64 {
        self.start + self.bytes.len() as u64
    }
}

impl ChunkReader for ChunkBytes {
    type T = bytes::buf::Reader<Bytes>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        use bytes::Buf;
        let r = self.range(start, 0)?;
        Ok(self.bytes.slice(r.start..).reader())
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        Ok(self.bytes.slice(self.range(start, length)?))
    }
}

/// Copies one array into `slot[at..]`, recording its validity and (for
/// categorical columns) its dictionary in `pc`. `None` if the array's type
/// does not fit the slot.
fn fill(slot: &mut Slot<'_>, at: usize, array: &dyn Array, pc: &mut PartColumn) -> Option<()> {
    let n = array.len();
    let validity = validity_of(array);
    if let (Slot::Categorical(out), Some(v)) = (&mut *slot, &validity)
        && v.count_ones() == 0
    {
        // No level is used: Arrow may still list one (the empty string of
        // the null rows) when the chunk has no dictionary.
        column_type_of(array.data_type()).filter(|t| *t == ColumnType::Categorical)?;
        out[at..at + n].fill(0);
        pc.validity.extend(v);
        return Some(());
    }
    match (&mut *slot, array.data_type()) {
        (Slot::Numeric(out), DataType::Float64) => {
            let a = array.as_primitive::<arrow_array::types::Float64Type>();
            out[at..at + n].copy_from_slice(a.values());
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
        Some(v) => {
            clear_nulls(slot, at, &v);
            pc.validity.extend(&v);
        }
        None => pc.validity.extend_constant(n, true),
    }
    Some(())
}

/// Gives the null rows of `slot[at..]` the column's placeholder (`NaN`,
/// `0`, `false`, code 0): Arrow leaves whatever the decoder had there.
fn clear_nulls(slot: &mut Slot<'_>, at: usize, validity: &Bitmap) {
    fn clear<T: Copy>(out: &mut [T], validity: &Bitmap, fill: T) {
        for (i, x) in out.iter_mut().enumerate() {
            if !validity.get(i) {
                *x = fill;
            }
        }
    }
    let n = validity.len();
    match slot {
        Slot::Numeric(v) => clear(&mut v[at..at + n], validity, f64::NAN),
        Slot::Bool(v) => clear(&mut v[at..at + n], validity, false),
        Slot::Timestamp(v) => clear(&mut v[at..at + n], validity, 0),
        Slot::Categorical(v) => clear(&mut v[at..at + n], validity, 0),
    }
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
        if self.failed || self.next_group >= self.groups {
            return None;
        }
        let frame = self.read_groups(self.next_group, 1);
        self.next_group += 1;
        if frame.is_err() {
            self.failed = true;
        }
        Some(frame)
    }
}
