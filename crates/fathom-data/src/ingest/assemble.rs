//! Whole-table assembly: every column allocated once at its final length,
//! split into disjoint per-part slices that parallel decoders fill in
//! place, then joined into one [`Frame`] without a second copy.

use ahash::AHashMap;
use fathom_core::{Bitmap, CategoricalData, Column, ColumnData, ColumnType, Frame};
use std::sync::Arc;

/// One column's values for the whole table.
pub(crate) enum Store {
    Numeric(Vec<f64>),
    Bool(Vec<bool>),
    Timestamp(Vec<i64>),
    Categorical(Vec<u32>),
}

/// One part's window into a [`Store`].
pub(crate) enum Slot<'a> {
    Numeric(&'a mut [f64]),
    Bool(&'a mut [bool]),
    Timestamp(&'a mut [i64]),
    Categorical(&'a mut [u32]),
}

/// What a part found besides its values: which rows are present and, for
/// a categorical column, the levels its codes point into.
pub(crate) struct PartColumn {
    pub(crate) validity: Bitmap,
    pub(crate) dictionary: Vec<String>,
}

fn split_sizes<'a, T>(mut rest: &'a mut [T], sizes: &[usize]) -> Vec<&'a mut [T]> {
    let mut out = Vec::with_capacity(sizes.len());
    for &n in sizes {
        let (head, tail) = std::mem::take(&mut rest).split_at_mut(n);
        out.push(head);
        rest = tail;
    }
    out
}

impl Store {
    /// A column of `rows` zeroes (the allocation is lazily paged in, so
    /// the parts fault their own pages on their own threads). The
    /// allocator touches a column's first page when allocating it, so
    /// callers allocate the columns of a table in parallel too.
    pub(crate) fn new(ty: ColumnType, rows: usize) -> Self {
        match ty {
            ColumnType::Numeric => Store::Numeric(vec![0.0; rows]),
            ColumnType::Bool => Store::Bool(vec![false; rows]),
            ColumnType::Timestamp => Store::Timestamp(vec![0; rows]),
            ColumnType::Categorical => Store::Categorical(vec![0; rows]),
        }
    }

    /// Rows held (filled or not).
    pub(crate) fn len(&self) -> usize {
        match self {
            Store::Numeric(v) => v.len(),
            Store::Bool(v) => v.len(),
            Store::Timestamp(v) => v.len(),
            Store::Categorical(v) => v.len(),
        }
    }

    /// Grows to at least `rows` rows (new rows zero).
    pub(crate) fn ensure(&mut self, rows: usize) {
        if rows <= self.len() {
            return;
        }
        match self {
            Store::Numeric(v) => v.resize(rows, 0.0),
            Store::Bool(v) => v.resize(rows, false),
            Store::Timestamp(v) => v.resize(rows, 0),
            Store::Categorical(v) => v.resize(rows, 0),
        }
    }

    /// Keeps the first `rows` rows.
    pub(crate) fn truncate(&mut self, rows: usize) {
        match self {
            Store::Numeric(v) => v.truncate(rows),
            Store::Bool(v) => v.truncate(rows),
            Store::Timestamp(v) => v.truncate(rows),
            Store::Categorical(v) => v.truncate(rows),
        }
    }

    /// Slices of consecutive `sizes` rows starting at row `at`.
    pub(crate) fn window(&mut self, at: usize, sizes: &[usize]) -> Vec<Slot<'_>> {
        let n: usize = sizes.iter().sum();
        match self {
            Store::Numeric(v) => split_sizes(&mut v[at..at + n], sizes)
                .into_iter()
                .map(Slot::Numeric)
                .collect(),
            Store::Bool(v) => split_sizes(&mut v[at..at + n], sizes)
                .into_iter()
                .map(Slot::Bool)
                .collect(),
            Store::Timestamp(v) => split_sizes(&mut v[at..at + n], sizes)
                .into_iter()
                .map(Slot::Timestamp)
                .collect(),
            Store::Categorical(v) => split_sizes(&mut v[at..at + n], sizes)
                .into_iter()
                .map(Slot::Categorical)
                .collect(),
        }
    }

    fn split(&mut self, sizes: &[usize]) -> Vec<Slot<'_>> {
        match self {
            Store::Numeric(v) => split_sizes(v, sizes)
                .into_iter()
                .map(Slot::Numeric)
                .collect(),
            Store::Bool(v) => split_sizes(v, sizes).into_iter().map(Slot::Bool).collect(),
            Store::Timestamp(v) => split_sizes(v, sizes)
                .into_iter()
                .map(Slot::Timestamp)
                .collect(),
            Store::Categorical(v) => split_sizes(v, sizes)
                .into_iter()
                .map(Slot::Categorical)
                .collect(),
        }
    }
}

/// Splits every column into per-part slices: `result[part][column]`.
pub(crate) fn split_parts<'a>(stores: &'a mut [Store], sizes: &[usize]) -> Vec<Vec<Slot<'a>>> {
    transpose(stores.iter_mut().map(|s| s.split(sizes)), sizes.len())
}

/// Per-part slices of rows `at..` of every column: `result[part][column]`.
pub(crate) fn window_parts<'a>(
    stores: &'a mut [Store],
    at: usize,
    sizes: &[usize],
) -> Vec<Vec<Slot<'a>>> {
    transpose(stores.iter_mut().map(|s| s.window(at, sizes)), sizes.len())
}

fn transpose<'a>(columns: impl Iterator<Item = Vec<Slot<'a>>>, parts: usize) -> Vec<Vec<Slot<'a>>> {
    let mut out: Vec<Vec<Slot<'a>>> = (0..parts).map(|_| Vec::new()).collect();
    for col in columns {
        for (part, slot) in out.iter_mut().zip(col) {
            part.push(slot);
        }
    }
    out
}

/// Joins the filled columns into a frame. `parts[p][c]` is what part `p`
/// found for column `c`; `sizes[p]` its row count. Dictionaries are merged
/// in part order (levels in order of first appearance, as
/// [`Frame::concat`] does), remapping the codes of parts whose levels
/// differ from the first part's.
pub(crate) fn finish(
    names: &[String],
    stores: Vec<Store>,
    parts: Vec<Vec<PartColumn>>,
    sizes: &[usize],
) -> Result<Frame, fathom_core::CoreError> {
    let total: usize = sizes.iter().sum();
    let mut per_column: Vec<Vec<PartColumn>> = (0..names.len()).map(|_| Vec::new()).collect();
    for part in parts {
        for (c, pc) in part.into_iter().enumerate() {
            per_column[c].push(pc);
        }
    }
    use rayon::prelude::*;
    let columns: Vec<Column> = stores
        .into_par_iter()
        .zip(per_column.into_par_iter())
        .zip(names.par_iter())
        .map(|((store, found), name)| {
            let mut validity = Bitmap::with_capacity(total);
            for pc in &found {
                validity.extend(&pc.validity);
            }
            let data = match store {
                Store::Numeric(v) => ColumnData::Numeric(v),
                Store::Bool(v) => ColumnData::Bool(v),
                Store::Timestamp(v) => ColumnData::Timestamp(v),
                Store::Categorical(mut codes) => {
                    let dictionary = merge_dictionaries(&mut codes, found, sizes);
                    ColumnData::Categorical(CategoricalData {
                        codes,
                        dictionary: Arc::new(dictionary),
                    })
                }
            };
            Column::new(name.clone(), data, Some(validity))
        })
        .collect();
    Frame::new(columns)
}

fn merge_dictionaries(codes: &mut [u32], found: Vec<PartColumn>, sizes: &[usize]) -> Vec<String> {
    let mut found = found.into_iter();
    let Some(first) = found.next() else {
        return Vec::new();
    };
    let mut dictionary = first.dictionary;
    let mut index: Option<AHashMap<String, u32>> = None;
    let mut offset = sizes.first().copied().unwrap_or(0);
    for (pc, &n) in found.zip(&sizes[1..]) {
        let range = offset..offset + n;
        offset += n;
        if pc.dictionary.len() <= dictionary.len()
            && pc.dictionary[..] == dictionary[..pc.dictionary.len()]
        {
            continue;
        }
        let index = index.get_or_insert_with(|| {
            dictionary
                .iter()
                .enumerate()
                .map(|(i, s)| (s.clone(), i as u32))
                .collect()
        });
        let remap: Vec<u32> = pc
            .dictionary
            .into_iter()
            .map(|s| match index.get(&s) {
                Some(&k) => k,
                None => {
                    let k = dictionary.len() as u32;
                    dictionary.push(s.clone());
                    index.insert(s, k);
                    k
                }
            })
            .collect();
        for k in &mut codes[range] {
            *k = remap.get(*k as usize).copied().unwrap_or(0);
        }
    }
    dictionary
}
