//! Direct decoding of Parquet column chunks into fathom's columns.
//!
//! A flat column chunk's pages (already decompressed by the parquet
//! crate's page reader) are decoded here straight into the final column's
//! slice: definition levels into validity bits, plain values copied,
//! dictionary indices translated into values or category codes, without
//! building Arrow arrays on the way. Anything not understood here
//! (another encoding, a nested or unusual column) is reported as
//! [`Unsupported`] and the caller decodes that chunk through the Arrow
//! reader instead, so the result never depends on which path ran.

use super::assemble::{PartColumn, Slot};
use super::hybrid_rle::{Hybrid, PageBits, StreamError};
use ahash::AHashMap;
use arrow_schema::{DataType, TimeUnit};
use parquet::basic::{ConvertedType, Encoding, LogicalType, TimeUnit as PqTimeUnit, Type};
use parquet::column::page::Page;
use parquet::schema::types::ColumnDescriptor;

/// Why a chunk was left to the general decoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Unsupported(pub(super) String);

impl From<StreamError> for Unsupported {
    fn from(e: StreamError) -> Self {
        Unsupported(e.0.to_string())
    }
}

fn unsupported<T>(why: impl Into<String>) -> Result<T, Unsupported> {
    Err(Unsupported(why.into()))
}

/// How a timestamp column's stored integers become microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TimeScale {
    Millis,
    Micros,
    Nanos,
}

impl TimeScale {
    #[inline]
    fn to_micros(self, x: i64) -> i64 {
        // The same conversions as the Arrow path's, so both agree on
        // every value, including the saturating ends.
        match self {
            TimeScale::Millis => x.saturating_mul(1_000),
            TimeScale::Micros => x,
            TimeScale::Nanos => x.div_euclid(1_000),
        }
    }
}

/// The order in which a text column's levels are numbered, which follows
/// the Arrow type the general path would read the column as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LevelOrder {
    /// A dictionary array: each chunk's dictionary as stored, codes equal
    /// to the stored indices.
    Stored,
    /// A string array: levels numbered in order of first appearance.
    FirstSeen,
}

/// What a column's chunks are decoded as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Plan {
    /// `DOUBLE` read as numbers.
    Float64,
    /// `FLOAT` read as numbers.
    Float32,
    /// `INT64` read as numbers.
    Int64,
    /// `INT32` read as numbers.
    Int32,
    /// `INT64` timestamps.
    Timestamp(TimeScale),
    /// `BOOLEAN`.
    Bool,
    /// `BYTE_ARRAY` text read as categories.
    Text(LevelOrder),
}

/// The plan for a column, or `None` if the fast path does not handle it.
/// `arrow` is the type the general path reads the column as; the plan is
/// only given where both paths are known to agree value for value.
pub(super) fn plan_for(descr: &ColumnDescriptor, arrow: &DataType) -> Option<Plan> {
    if descr.max_rep_level() != 0 || descr.max_def_level() > 1 || descr.path().parts().len() != 1 {
        return None;
    }
    let physical = descr.physical_type();
    Some(match (physical, arrow) {
        (Type::DOUBLE, DataType::Float64) => Plan::Float64,
        (Type::FLOAT, DataType::Float32) => Plan::Float32,
        (Type::INT64, DataType::Int64) => Plan::Int64,
        (Type::INT32, DataType::Int32) => Plan::Int32,
        (Type::INT64, DataType::Timestamp(unit, _)) => {
            let stored = match (descr.logical_type_ref(), descr.converted_type()) {
                (Some(LogicalType::Timestamp(t)), _) => match t.unit {
                    PqTimeUnit::MILLIS => TimeUnit::Millisecond,
                    PqTimeUnit::MICROS => TimeUnit::Microsecond,
                    PqTimeUnit::NANOS => TimeUnit::Nanosecond,
                },
                (None, ConvertedType::TIMESTAMP_MILLIS) => TimeUnit::Millisecond,
                (None, ConvertedType::TIMESTAMP_MICROS) => TimeUnit::Microsecond,
                _ => return None,
            };
            // Only when the stored unit is the unit read: otherwise the
            // general path rescales first.
            if stored != *unit {
                return None;
            }
            Plan::Timestamp(match unit {
                TimeUnit::Millisecond => TimeScale::Millis,
                TimeUnit::Microsecond => TimeScale::Micros,
                TimeUnit::Nanosecond => TimeScale::Nanos,
                TimeUnit::Second => return None,
            })
        }
        (Type::BOOLEAN, DataType::Boolean) => Plan::Bool,
        (Type::BYTE_ARRAY, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) => {
            Plan::Text(LevelOrder::FirstSeen)
        }
        (Type::BYTE_ARRAY, DataType::Dictionary(key, value))
            if matches!(
                **key,
                DataType::UInt32 | DataType::Int32 | DataType::UInt64 | DataType::Int64
            ) && matches!(**value, DataType::Utf8 | DataType::LargeUtf8) =>
        {
            Plan::Text(LevelOrder::Stored)
        }
        _ => return None,
    })
}

/// Buffers reused from chunk to chunk on one thread.
#[derive(Default)]
pub(super) struct Scratch {
    bits: PageBits,
    indices: Vec<u32>,
}

/// A chunk's dictionary, its values already in the column's type.
enum Dictionary {
    None,
    Numeric(Vec<f64>),
    Timestamp(Vec<i64>),
    Bool(Vec<bool>),
    /// Text levels; for [`LevelOrder::FirstSeen`] the code each has been
    /// given (`u32::MAX` until it first appears).
    Text {
        levels: Vec<String>,
        codes: Vec<u32>,
    },
}

/// The state of one chunk's decoding.
struct Chunk<'s, 'o> {
    plan: Plan,
    optional: bool,
    slot: &'s mut Slot<'o>,
    part: &'s mut PartColumn,
    scratch: &'s mut Scratch,
    dictionary: Dictionary,
    /// First-seen numbering of text levels across plain and dictionary
    /// pages, and the levels in that order.
    seen: AHashMap<Vec<u8>, u32>,
    seen_levels: Vec<String>,
    /// Rows filled so far, and how many of them are not null.
    at: usize,
    present: usize,
}

/// Decodes one column chunk, whose pages `pages` yields, into `slot`
/// (the chunk's rows of the final column) and `part` (its validity and,
/// for text, its levels). `part` must start empty.
pub(super) fn decode_chunk(
    pages: impl Iterator<Item = parquet::errors::Result<Page>>,
    plan: Plan,
    descr: &ColumnDescriptor,
    slot: &mut Slot<'_>,
    part: &mut PartColumn,
    scratch: &mut Scratch,
) -> Result<(), Unsupported> {
    let rows = slot_len(slot);
    let mut chunk = Chunk {
        plan,
        optional: descr.max_def_level() == 1,
        slot,
        part,
        scratch,
        dictionary: Dictionary::None,
        seen: AHashMap::new(),
        seen_levels: Vec::new(),
        at: 0,
        present: 0,
    };
    for page in pages {
        let page = page.map_err(|e| Unsupported(e.to_string()))?;
        chunk.page(page)?;
    }
    if chunk.at != rows {
        return unsupported(format!(
            "{} rows in the pages, {rows} in the metadata",
            chunk.at
        ));
    }
    if let Plan::Text(order) = plan {
        chunk.part.dictionary = match (order, chunk.dictionary) {
            // Levels of a chunk with no value are not used: none, as on
            // the general path.
            (LevelOrder::Stored, Dictionary::Text { levels, .. }) if chunk.present > 0 => levels,
            (LevelOrder::Stored, _) => Vec::new(),
            (LevelOrder::FirstSeen, _) => chunk.seen_levels,
        };
    }
    Ok(())
}

fn slot_len(slot: &Slot<'_>) -> usize {
    match slot {
        Slot::Numeric(v) => v.len(),
        Slot::Bool(v) => v.len(),
        Slot::Timestamp(v) => v.len(),
        Slot::Categorical(v) => v.len(),
    }
}

/// Reads a little-endian `u32` at `at`.
fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Splits plain `BYTE_ARRAY` values: `n` length-prefixed byte strings.
fn plain_byte_arrays(
    data: &[u8],
    n: usize,
    mut each: impl FnMut(&[u8]) -> Result<(), Unsupported>,
) -> Result<(), Unsupported> {
    let mut pos = 0;
    for _ in 0..n {
        let len = le_u32(data, pos).ok_or_else(|| Unsupported("value past the page".into()))?;
        pos += 4;
        let value = data
            .get(pos..pos + len as usize)
            .ok_or_else(|| Unsupported("value past the page".into()))?;
        pos += len as usize;
        each(value)?;
    }
    Ok(())
}

/// `n` plain fixed-width values of `W` bytes.
fn plain_fixed<const W: usize>(data: &[u8], n: usize) -> Result<&[u8], Unsupported> {
    data.get(..n * W)
        .ok_or_else(|| Unsupported("values past the end of the page".into()))
}

impl Chunk<'_, '_> {
    fn page(&mut self, page: Page) -> Result<(), Unsupported> {
        match page {
            Page::DictionaryPage {
                buf,
                num_values,
                encoding,
                ..
            } => {
                if !matches!(encoding, Encoding::PLAIN | Encoding::PLAIN_DICTIONARY) {
                    return unsupported("dictionary page encoding");
                }
                if !matches!(self.dictionary, Dictionary::None) {
                    return unsupported("second dictionary page");
                }
                self.dictionary = self.read_dictionary(&buf, num_values as usize)?;
                Ok(())
            }
            Page::DataPage {
                buf,
                num_values,
                encoding,
                def_level_encoding,
                ..
            } => {
                let n = num_values as usize;
                let values = if self.optional {
                    if def_level_encoding != Encoding::RLE {
                        return unsupported("definition level encoding");
                    }
                    let len = le_u32(&buf, 0)
                        .ok_or_else(|| Unsupported("definition levels past the page".into()))?
                        as usize;
                    let levels = buf
                        .get(4..4 + len)
                        .ok_or_else(|| Unsupported("definition levels past the page".into()))?;
                    let present = self.levels(levels, n)?;
                    (&buf[4 + len..], present)
                } else {
                    (&buf[..], n)
                };
                self.values(values.0, encoding, n, values.1)
            }
            Page::DataPageV2 {
                buf,
                num_values,
                encoding,
                num_nulls,
                def_levels_byte_len,
                rep_levels_byte_len,
                ..
            } => {
                let n = num_values as usize;
                if rep_levels_byte_len != 0 {
                    return unsupported("repetition levels in a flat column");
                }
                let def_len = def_levels_byte_len as usize;
                let levels = buf
                    .get(..def_len)
                    .ok_or_else(|| Unsupported("definition levels past the page".into()))?;
                let present = if self.optional {
                    self.levels(levels, n)?
                } else {
                    n
                };
                if n - present != num_nulls as usize {
                    return unsupported("null count differs from the definition levels");
                }
                self.values(&buf[def_len..], encoding, n, present)
            }
        }
    }

    /// Decodes one page's definition levels into the scratch bits and the
    /// chunk's validity; returns how many values are present.
    fn levels(&mut self, levels: &[u8], n: usize) -> Result<usize, Unsupported> {
        let bits = &mut self.scratch.bits;
        bits.clear();
        let present = Hybrid::new(levels, 1)?.read_bits(n, bits)?;
        self.part.validity.extend_words(&bits.words, n);
        Ok(present)
    }

    fn read_dictionary(&mut self, buf: &[u8], n: usize) -> Result<Dictionary, Unsupported> {
        Ok(match self.plan {
            Plan::Float64 => Dictionary::Numeric(
                plain_fixed::<8>(buf, n)?
                    .chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                    .collect(),
            ),
            Plan::Float32 => Dictionary::Numeric(
                plain_fixed::<4>(buf, n)?
                    .chunks_exact(4)
                    .map(|c| f64::from(f32::from_le_bytes(c.try_into().unwrap_or([0; 4]))))
                    .collect(),
            ),
            Plan::Int64 => Dictionary::Numeric(
                plain_fixed::<8>(buf, n)?
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f64)
                    .collect(),
            ),
            Plan::Int32 => Dictionary::Numeric(
                plain_fixed::<4>(buf, n)?
                    .chunks_exact(4)
                    .map(|c| f64::from(i32::from_le_bytes(c.try_into().unwrap_or([0; 4]))))
                    .collect(),
            ),
            Plan::Timestamp(scale) => Dictionary::Timestamp(
                plain_fixed::<8>(buf, n)?
                    .chunks_exact(8)
                    .map(|c| scale.to_micros(i64::from_le_bytes(c.try_into().unwrap_or([0; 8]))))
                    .collect(),
            ),
            Plan::Bool => {
                let bytes = buf
                    .get(..n.div_ceil(8))
                    .ok_or_else(|| Unsupported("dictionary past the page".into()))?;
                Dictionary::Bool((0..n).map(|i| bytes[i / 8] >> (i % 8) & 1 == 1).collect())
            }
            Plan::Text(_) => {
                let mut levels = Vec::with_capacity(n);
                plain_byte_arrays(buf, n, |v| {
                    let s = std::str::from_utf8(v).map_err(|_| Unsupported("not UTF-8".into()))?;
                    levels.push(s.to_string());
                    Ok(())
                })?;
                let codes = vec![u32::MAX; levels.len()];
                Dictionary::Text { levels, codes }
            }
        })
    }

    /// Decodes one page's `present` values, then spreads them over its
    /// `n` rows (nulls get the column's placeholder).
    fn values(
        &mut self,
        data: &[u8],
        encoding: Encoding,
        n: usize,
        present: usize,
    ) -> Result<(), Unsupported> {
        let at = self.at;
        if at + n > slot_len(self.slot) {
            return unsupported("more rows in the pages than in the metadata");
        }
        if !self.optional {
            self.part.validity.extend_constant(n, true);
        }
        match encoding {
            Encoding::PLAIN => self.plain(data, at, present)?,
            Encoding::PLAIN_DICTIONARY | Encoding::RLE_DICTIONARY => {
                self.indexed(data, at, present)?
            }
            Encoding::RLE if self.plan == Plan::Bool => self.run_length_bools(data, at, present)?,
            _ => return unsupported(format!("value encoding {encoding}")),
        }
        if present < n {
            let bits = &self.scratch.bits;
            match &mut *self.slot {
                Slot::Numeric(v) => spread(&mut v[at..at + n], present, bits, f64::NAN),
                Slot::Timestamp(v) => spread(&mut v[at..at + n], present, bits, 0),
                Slot::Bool(v) => spread(&mut v[at..at + n], present, bits, false),
                Slot::Categorical(v) => spread(&mut v[at..at + n], present, bits, 0),
            }
        }
        self.at += n;
        self.present += present;
        Ok(())
    }

    /// Plain values into rows `at..at + k`.
    fn plain(&mut self, data: &[u8], at: usize, k: usize) -> Result<(), Unsupported> {
        match (self.plan, &mut *self.slot) {
            (Plan::Float64, Slot::Numeric(v)) => {
                let src = plain_fixed::<8>(data, k)?;
                for (o, c) in v[at..at + k].iter_mut().zip(src.chunks_exact(8)) {
                    *o = f64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
                }
            }
            (Plan::Float32, Slot::Numeric(v)) => {
                let src = plain_fixed::<4>(data, k)?;
                for (o, c) in v[at..at + k].iter_mut().zip(src.chunks_exact(4)) {
                    *o = f64::from(f32::from_le_bytes(c.try_into().unwrap_or([0; 4])));
                }
            }
            (Plan::Int64, Slot::Numeric(v)) => {
                let src = plain_fixed::<8>(data, k)?;
                for (o, c) in v[at..at + k].iter_mut().zip(src.chunks_exact(8)) {
                    *o = i64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f64;
                }
            }
            (Plan::Int32, Slot::Numeric(v)) => {
                let src = plain_fixed::<4>(data, k)?;
                for (o, c) in v[at..at + k].iter_mut().zip(src.chunks_exact(4)) {
                    *o = f64::from(i32::from_le_bytes(c.try_into().unwrap_or([0; 4])));
                }
            }
            (Plan::Timestamp(scale), Slot::Timestamp(v)) => {
                let src = plain_fixed::<8>(data, k)?;
                for (o, c) in v[at..at + k].iter_mut().zip(src.chunks_exact(8)) {
                    *o = scale.to_micros(i64::from_le_bytes(c.try_into().unwrap_or([0; 8])));
                }
            }
            (Plan::Bool, Slot::Bool(v)) => {
                let bytes = data
                    .get(..k.div_ceil(8))
                    .ok_or_else(|| Unsupported("values past the end of the page".into()))?;
                for (i, o) in v[at..at + k].iter_mut().enumerate() {
                    *o = bytes[i / 8] >> (i % 8) & 1 == 1;
                }
            }
            (Plan::Text(LevelOrder::FirstSeen), Slot::Categorical(v)) => {
                let (seen, seen_levels) = (&mut self.seen, &mut self.seen_levels);
                let out = &mut v[at..at + k];
                let mut i = 0;
                plain_byte_arrays(data, k, |value| {
                    let code = match seen.get(value) {
                        Some(&c) => c,
                        None => {
                            let s = std::str::from_utf8(value)
                                .map_err(|_| Unsupported("not UTF-8".into()))?;
                            let c = seen.len() as u32;
                            seen.insert(value.to_vec(), c);
                            seen_levels.push(s.to_string());
                            c
                        }
                    };
                    out[i] = code;
                    i += 1;
                    Ok(())
                })?;
            }
            _ => return unsupported("plain values of this column type"),
        }
        Ok(())
    }

    /// Run-length encoded booleans (a 4-byte length, then a hybrid stream
    /// of width 1) into rows `at..at + k`.
    fn run_length_bools(&mut self, data: &[u8], at: usize, k: usize) -> Result<(), Unsupported> {
        let len = le_u32(data, 0)
            .ok_or_else(|| Unsupported("values past the end of the page".into()))?
            as usize;
        let stream = data
            .get(4..4 + len)
            .ok_or_else(|| Unsupported("values past the end of the page".into()))?;
        let values = &mut self.scratch.indices;
        values.clear();
        values.resize(k, 0);
        let max = Hybrid::new(stream, 1)?.read_u32(values)?;
        if max > 1 {
            return unsupported("boolean above 1");
        }
        if let Slot::Bool(v) = &mut *self.slot {
            for (o, &b) in v[at..at + k].iter_mut().zip(values.iter()) {
                *o = b == 1;
            }
        }
        Ok(())
    }

    /// Dictionary-indexed values into rows `at..at + k`.
    fn indexed(&mut self, data: &[u8], at: usize, k: usize) -> Result<(), Unsupported> {
        let Some((&width, stream)) = data.split_first() else {
            if k == 0 {
                return Ok(());
            }
            return unsupported("empty dictionary-indexed page");
        };
        let mut hybrid = Hybrid::new(stream, width)?;
        let entries = match &self.dictionary {
            Dictionary::None => return unsupported("dictionary-indexed page without a dictionary"),
            Dictionary::Numeric(d) => d.len(),
            Dictionary::Timestamp(d) => d.len(),
            Dictionary::Bool(d) => d.len(),
            Dictionary::Text { levels, .. } => levels.len(),
        };
        if k == 0 {
            return Ok(());
        }
        // Stored-order text codes are the indices themselves.
        if let (Plan::Text(LevelOrder::Stored), Slot::Categorical(v)) = (self.plan, &mut *self.slot)
        {
            let max = hybrid.read_u32(&mut v[at..at + k])?;
            if max as usize >= entries {
                return unsupported("dictionary index out of range");
            }
            return Ok(());
        }
        let idx = &mut self.scratch.indices;
        idx.clear();
        idx.resize(k, 0);
        let max = hybrid.read_u32(idx)?;
        if max as usize >= entries {
            return unsupported("dictionary index out of range");
        }
        match (&mut self.dictionary, &mut *self.slot) {
            (Dictionary::Numeric(d), Slot::Numeric(v)) => gather(&mut v[at..at + k], idx, d),
            (Dictionary::Timestamp(d), Slot::Timestamp(v)) => gather(&mut v[at..at + k], idx, d),
            (Dictionary::Bool(d), Slot::Bool(v)) => gather(&mut v[at..at + k], idx, d),
            (Dictionary::Text { levels, codes }, Slot::Categorical(v)) => {
                for (o, &i) in v[at..at + k].iter_mut().zip(idx.iter()) {
                    let code = &mut codes[i as usize];
                    if *code == u32::MAX {
                        let level = &levels[i as usize];
                        *code = match self.seen.get(level.as_bytes()) {
                            Some(&c) => c,
                            None => {
                                let c = self.seen.len() as u32;
                                self.seen.insert(level.as_bytes().to_vec(), c);
                                self.seen_levels.push(level.clone());
                                c
                            }
                        };
                    }
                    *o = *code;
                }
            }
            _ => return unsupported("dictionary of another type"),
        }
        Ok(())
    }
}

/// `out[i] = dict[idx[i]]`; every index already checked against the
/// dictionary's length.
fn gather<T: Copy + Default>(out: &mut [T], idx: &[u32], dict: &[T]) {
    for (o, &i) in out.iter_mut().zip(idx) {
        *o = dict.get(i as usize).copied().unwrap_or_default();
    }
}

/// Moves the `present` values packed at the front of `out` to the rows
/// whose bit is set, filling the others with `fill`. Works from the back,
/// so no value is overwritten before it is moved: row `i` takes value
/// `k - 1`, and `k - 1 <= i` has not been written yet.
fn spread<T: Copy>(out: &mut [T], present: usize, bits: &PageBits, fill: T) {
    let mut k = present;
    for i in (0..out.len()).rev() {
        if k == i + 1 {
            // As many values left as rows: every row below is present and
            // its value already in place.
            return;
        }
        let set = bits.get(i);
        let value = if k > 0 { out[k - 1] } else { fill };
        // Without a branch on the bit, which is as good as random.
        out[i] = if set { value } else { fill };
        k -= usize::from(set);
    }
}
