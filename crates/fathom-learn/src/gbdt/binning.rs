//! Feature binning: raw values → small bin indices, stored column-major.
//!
//! * **Numeric** features get at most `max_bin` value bins from (a sample
//!   of) their finite values: one bin per distinct value when there are few,
//!   otherwise greedy quantile bins, each described by its real upper bound
//!   (midpoint to the next distinct value). A value `v` falls in the first
//!   bin whose upper bound is `>= v`, so "bin `<= t`" is exactly
//!   "`v <= upper[t]`", the test a tree applies to raw values. Non-finite
//!   values (`NaN`, `±inf`) are missing and go to an extra last bin.
//! * **Categorical** features get one bin per category, most frequent first,
//!   for at most `max_bin - 1` categories; rarer categories, codes
//!   `>= levels` and missing values share the last ("other") bin, which a
//!   split never sends left. So a categorical feature with 100k levels costs
//!   `max_bin` bins, not 100k.
//!
//! Bins are `u8` when `max_bin <= 255` (value bins + the missing bin fit in
//! 256), `u16` otherwise. `u8` bins can also be copied row by row
//! ([`BinnedData::row_major`]) for leaves whose rows are scattered.

use std::collections::HashMap;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use rayon::prelude::*;

use super::dataset::{Dataset, FeatureValues};

/// Rows sampled to find numeric bin bounds (as LightGBM's
/// `bin_construct_sample_cnt`).
pub const BIN_SAMPLE_ROWS: usize = 200_000;

/// Above this many levels, categorical codes are counted in a hash map
/// instead of a dense table.
const DENSE_CODE_LIMIT: u32 = 1 << 22;

/// Category code → bin lookup.
#[derive(Clone, Debug)]
enum CodeMap {
    /// `table[code]` = bin, `u32::MAX` = other.
    Dense(Vec<u32>),
    /// Kept codes only.
    Sparse(HashMap<u32, u32>),
}

/// How one feature's values map to bins.
#[derive(Clone, Debug)]
pub enum BinKind {
    /// Numeric: `upper[b]` is the upper bound of value bin `b` (the last is
    /// `f64::MAX`); the missing bin is `upper.len()`.
    Numeric {
        /// Upper bound of each value bin.
        upper: Vec<f64>,
    },
    /// Categorical: value bin `b` holds category code `codes[b]`; the last
    /// bin (`codes.len()`) holds rare, unseen and missing values.
    Categorical {
        /// Category code of each value bin.
        codes: Vec<u32>,
        /// Code → bin.
        map: CodeMapHandle,
    },
}

/// Opaque code → bin lookup of a categorical [`BinKind`].
#[derive(Clone, Debug)]
pub struct CodeMapHandle(CodeMap);

/// The bin mapping of one feature.
#[derive(Clone, Debug)]
pub struct BinMapper {
    /// Numeric bounds or categorical codes.
    pub kind: BinKind,
    /// Total number of bins, the missing/other bin included.
    pub num_bins: usize,
    /// `false` when no split on this feature can separate rows (constant,
    /// all missing, a single category): it is never split on.
    pub usable: bool,
}

impl BinMapper {
    /// Index of the missing (numeric) or other (categorical) bin: the last.
    pub fn missing_bin(&self) -> usize {
        self.num_bins - 1
    }

    /// Whether the feature is categorical.
    pub fn is_categorical(&self) -> bool {
        matches!(self.kind, BinKind::Categorical { .. })
    }

    /// Bin of a numeric value.
    #[inline]
    pub fn numeric_bin(upper: &[f64], v: f64) -> usize {
        if !v.is_finite() {
            return upper.len();
        }
        // The last bound is f64::MAX: every finite value is <= it.
        upper[..upper.len() - 1].partition_point(|&u| u < v)
    }

    /// Bin of a category code.
    #[inline]
    fn code_bin(map: &CodeMap, other: usize, code: u32) -> usize {
        let b = match map {
            CodeMap::Dense(t) => t.get(code as usize).copied().unwrap_or(u32::MAX),
            CodeMap::Sparse(m) => m.get(&code).copied().unwrap_or(u32::MAX),
        };
        if b == u32::MAX { other } else { b as usize }
    }

    /// Builds the mapper of one feature. `sample` are the (sorted) row
    /// indices used to find numeric bounds (`None` = all rows).
    fn fit(values: &FeatureValues, max_bin: usize, sample: Option<&[u32]>) -> BinMapper {
        match values {
            FeatureValues::Numeric(v) => {
                let any_missing = v.iter().any(|x| !x.is_finite());
                let mut vals: Vec<f64> = match sample {
                    Some(s) => s
                        .iter()
                        .map(|&i| v[i as usize])
                        .filter(|x| x.is_finite())
                        .collect(),
                    None => v.iter().copied().filter(|x| x.is_finite()).collect(),
                };
                vals.sort_unstable_by(f64::total_cmp);
                // Distinct values and counts (-0.0 and 0.0 are one value).
                let mut distinct: Vec<f64> = Vec::new();
                let mut counts: Vec<usize> = Vec::new();
                for x in vals {
                    match distinct.last() {
                        Some(&last) if last == x => *counts.last_mut().expect("parallel") += 1,
                        _ => {
                            distinct.push(x);
                            counts.push(1);
                        }
                    }
                }
                let upper = numeric_bounds(&distinct, &counts, max_bin);
                let usable = distinct.len() >= 2 || (distinct.len() == 1 && any_missing);
                BinMapper {
                    num_bins: upper.len() + 1,
                    kind: BinKind::Numeric { upper },
                    usable,
                }
            }
            FeatureValues::Categorical { codes, levels } => {
                let levels = *levels;
                let dense = levels <= DENSE_CODE_LIMIT;
                let mut counted: Vec<(u32, u64)> = if dense {
                    let mut c = vec![0u64; levels as usize];
                    for &code in codes {
                        if code < levels {
                            c[code as usize] += 1;
                        }
                    }
                    c.into_iter()
                        .enumerate()
                        .filter(|&(_, n)| n > 0)
                        .map(|(i, n)| (i as u32, n))
                        .collect()
                } else {
                    let mut m: HashMap<u32, u64> = HashMap::new();
                    for &code in codes {
                        if code < levels {
                            *m.entry(code).or_insert(0) += 1;
                        }
                    }
                    m.into_iter().collect()
                };
                // Most frequent first; ties by code for determinism.
                counted.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                counted.truncate(max_bin.saturating_sub(1).max(1));
                let kept: Vec<u32> = counted.iter().map(|&(c, _)| c).collect();
                let kept_rows: u64 = counted.iter().map(|&(_, n)| n).sum();
                let other_rows = codes.len() as u64 - kept_rows;
                let map = if dense {
                    let max = kept.iter().copied().max().map_or(0, |m| m as usize + 1);
                    let mut t = vec![u32::MAX; max];
                    for (b, &c) in kept.iter().enumerate() {
                        t[c as usize] = b as u32;
                    }
                    CodeMap::Dense(t)
                } else {
                    CodeMap::Sparse(
                        kept.iter()
                            .enumerate()
                            .map(|(b, &c)| (c, b as u32))
                            .collect(),
                    )
                };
                let usable = kept.len() >= 2 || (kept.len() == 1 && other_rows > 0);
                BinMapper {
                    num_bins: kept.len() + 1,
                    kind: BinKind::Categorical {
                        codes: kept,
                        map: CodeMapHandle(map),
                    },
                    usable,
                }
            }
        }
    }

    /// Bins a whole column with this mapper.
    fn bin_column(&self, values: &FeatureValues, wide: bool) -> BinColumn {
        let bins: Vec<u16> = match (&self.kind, values) {
            (BinKind::Numeric { upper }, FeatureValues::Numeric(v)) => v
                .iter()
                .map(|&x| Self::numeric_bin(upper, x) as u16)
                .collect(),
            (BinKind::Categorical { map, .. }, FeatureValues::Categorical { codes, levels }) => {
                let other = self.missing_bin();
                codes
                    .iter()
                    .map(|&c| {
                        if c >= *levels {
                            other as u16
                        } else {
                            Self::code_bin(&map.0, other, c) as u16
                        }
                    })
                    .collect()
            }
            // Kind mismatch (checked before binning): everything missing.
            _ => vec![self.missing_bin() as u16; values.len()],
        };
        if wide {
            BinColumn::U16(bins)
        } else {
            BinColumn::U8(bins.into_iter().map(|b| b as u8).collect())
        }
    }
}

/// Upper bounds of at most `max_bin` value bins over sorted distinct values
/// with their counts; the last bound is `f64::MAX`.
fn numeric_bounds(distinct: &[f64], counts: &[usize], max_bin: usize) -> Vec<f64> {
    let mid = |a: f64, b: f64| {
        let m = a / 2.0 + b / 2.0;
        // Keep a <= m < b so that a and b land in different bins.
        if m < b { m } else { a }
    };
    let mut upper = Vec::new();
    let d = distinct.len();
    if d <= max_bin {
        for i in 0..d.saturating_sub(1) {
            upper.push(mid(distinct[i], distinct[i + 1]));
        }
    } else {
        // Greedy equal-frequency bins; a value at least as frequent as the
        // target bin size gets a bin of its own.
        let total: usize = counts.iter().sum();
        let mut rest_rows = total;
        let mut rest_bins = max_bin;
        let mut acc = 0usize;
        for i in 0..d - 1 {
            acc += counts[i];
            rest_rows -= counts[i];
            if rest_bins <= 1 {
                break;
            }
            let target = (acc + rest_rows) as f64 / rest_bins as f64;
            if acc as f64 >= target || counts[i + 1] as f64 >= target {
                upper.push(mid(distinct[i], distinct[i + 1]));
                rest_bins -= 1;
                acc = 0;
            }
        }
    }
    upper.push(f64::MAX);
    upper
}

/// One feature's bin indices, one per row.
#[derive(Clone, Debug)]
pub enum BinColumn {
    /// `max_bin <= 255`.
    U8(Vec<u8>),
    /// `max_bin > 255`.
    U16(Vec<u16>),
}

impl BinColumn {
    /// Bin of row `i`.
    #[inline]
    pub fn get(&self, i: usize) -> usize {
        match self {
            BinColumn::U8(v) => v[i] as usize,
            BinColumn::U16(v) => v[i] as usize,
        }
    }
}

/// A data set mapped to bins, column-major.
#[derive(Clone, Debug)]
pub struct BinnedData {
    /// One bin column per feature.
    pub columns: Vec<BinColumn>,
    /// Number of rows.
    pub num_rows: usize,
}

impl BinnedData {
    /// The bins again, row by row, when they are `u8` (`None` for `u16`).
    pub fn row_major(&self) -> Option<RowBins> {
        let narrow: Vec<&[u8]> = self
            .columns
            .iter()
            .map(|c| match c {
                BinColumn::U8(v) => Some(v.as_slice()),
                BinColumn::U16(_) => None,
            })
            .collect::<Option<_>>()?;
        Some(RowBins::from_columns(&narrow, self.num_rows))
    }
}

impl RowBins {
    /// `u8` columns of `num_rows` rows, row by row: column `f` is byte
    /// `f % 8` of word `f / 8`.
    pub fn from_columns(narrow: &[&[u8]], num_rows: usize) -> RowBins {
        let stride = narrow.len().div_ceil(8).max(1);
        let mut words = vec![[0u8; 8]; num_rows * stride];
        words
            .par_chunks_mut(ROW_BLOCK * stride)
            .enumerate()
            .for_each(|(b, block)| {
                let first = b * ROW_BLOCK;
                for (f, col) in narrow.iter().enumerate() {
                    let (w, at) = (f / 8, f % 8);
                    let rows = block.chunks_exact_mut(stride);
                    for (row, &bin) in rows.zip(&col[first..]) {
                        row[w][at] = bin;
                    }
                }
            });
        RowBins { stride, words }
    }
}

/// Rows per task when transposing bins to [`RowBins`].
const ROW_BLOCK: usize = 1 << 14;

/// `u8` bins stored row by row: row `r` is the `stride` 8-byte words
/// `words[r * stride..(r + 1) * stride]`, feature `f` being byte `f % 8` of
/// word `f / 8`. One row of a leaf is then one short run of memory instead
/// of one cache line per feature, which makes histograms of small leaves
/// (rows scattered over the data set) several times faster.
#[derive(Clone, Debug)]
pub struct RowBins {
    /// Words per row: the number of features divided by 8, rounded up.
    pub stride: usize,
    /// The words of all rows.
    pub words: Vec<[u8; 8]>,
}

/// The bin mappers of all features of a data set.
#[derive(Clone, Debug)]
pub struct BinMappers {
    /// One mapper per feature.
    pub mappers: Vec<BinMapper>,
    /// Whether bins are stored as `u16`.
    pub wide: bool,
}

impl BinMappers {
    /// Fits the mappers of all features of `data` (in parallel; the result
    /// does not depend on the thread count).
    pub fn fit(data: &Dataset, max_bin: usize, seed: u64) -> BinMappers {
        let n = data.num_rows();
        let sample = (n > BIN_SAMPLE_ROWS).then(|| sample_rows(n, BIN_SAMPLE_ROWS, seed));
        let mappers = data
            .features
            .par_iter()
            .map(|(_, f)| BinMapper::fit(f, max_bin, sample.as_deref()))
            .collect();
        BinMappers {
            mappers,
            wide: max_bin > 255,
        }
    }

    /// Bins every column of `data` (which must have the mappers' features).
    pub fn bin(&self, data: &Dataset) -> BinnedData {
        let columns = self
            .mappers
            .par_iter()
            .zip(data.features.par_iter())
            .map(|(m, (_, f))| m.bin_column(f, self.wide))
            .collect();
        BinnedData {
            columns,
            num_rows: data.num_rows(),
        }
    }
}

/// `k` distinct row indices out of `n`, sorted (Floyd's algorithm).
fn sample_rows(n: usize, k: usize, seed: u64) -> Vec<u32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xB15A_3B1E);
    let mut chosen = vec![false; n];
    for j in n - k..n {
        let t = (rng.next_u64() % (j as u64 + 1)) as usize;
        if chosen[t] {
            chosen[j] = true;
        } else {
            chosen[t] = true;
        }
    }
    (0..n as u32).filter(|&i| chosen[i as usize]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds(f: FeatureValues) -> Dataset {
        let n = f.len();
        Dataset {
            features: vec![("x".into(), f)],
            label: vec![0.0; n],
            weight: None,
        }
    }

    #[test]
    fn row_major_copy_holds_every_bin() {
        let n = 40_000u32;
        let columns: Vec<BinColumn> = (0..11u32)
            .map(|f| BinColumn::U8((0..n).map(|i| ((i * (f + 1) + f) % 251) as u8).collect()))
            .collect();
        let data = BinnedData {
            columns,
            num_rows: n as usize,
        };
        let rows = data.row_major().expect("u8 bins");
        assert_eq!((rows.stride, rows.words.len()), (2, 2 * n as usize));
        for r in [0, 1, 16_383, 16_384, 39_999] {
            for f in 0..11 {
                assert_eq!(
                    rows.words[r * 2 + f / 8][f % 8] as usize,
                    data.columns[f].get(r)
                );
            }
            // Padding bytes stay 0.
            assert_eq!(&rows.words[r * 2 + 1][3..], &[0; 5]);
        }
        let wide = BinnedData {
            columns: vec![BinColumn::U16(vec![300; 4])],
            num_rows: 4,
        };
        assert!(wide.row_major().is_none());
    }

    #[test]
    fn few_distinct_values_get_one_bin_each() {
        let d = ds(FeatureValues::Numeric(vec![
            3.0,
            1.0,
            2.0,
            f64::NAN,
            1.0,
            f64::INFINITY,
        ]));
        let m = BinMappers::fit(&d, 255, 0);
        let BinKind::Numeric { upper } = &m.mappers[0].kind else {
            panic!()
        };
        assert_eq!(upper, &vec![1.5, 2.5, f64::MAX]);
        let b = m.bin(&d);
        let bins: Vec<usize> = (0..6).map(|i| b.columns[0].get(i)).collect();
        assert_eq!(bins, vec![2, 0, 1, 3, 0, 3]);
        assert!(m.mappers[0].usable);
    }

    #[test]
    fn quantile_bins_are_capped_and_balanced() {
        let v: Vec<f64> = (0..10_000).map(|i| i as f64).collect();
        let d = ds(FeatureValues::Numeric(v));
        let m = BinMappers::fit(&d, 16, 0);
        assert_eq!(m.mappers[0].num_bins, 17);
        let b = m.bin(&d);
        let mut counts = vec![0; 17];
        for i in 0..10_000 {
            counts[b.columns[0].get(i)] += 1;
        }
        for &c in &counts[..16] {
            assert!((600..=650).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn constant_and_all_missing_features_are_unusable() {
        let m = BinMappers::fit(&ds(FeatureValues::Numeric(vec![2.0; 50])), 255, 0);
        assert!(!m.mappers[0].usable);
        let m = BinMappers::fit(&ds(FeatureValues::Numeric(vec![f64::NAN; 50])), 255, 0);
        assert!(!m.mappers[0].usable);
        let mut v = vec![2.0; 50];
        v[3] = f64::NAN;
        let m = BinMappers::fit(&ds(FeatureValues::Numeric(v)), 255, 0);
        assert!(m.mappers[0].usable, "present vs missing can be split");
    }

    #[test]
    fn many_categories_are_pooled() {
        let codes: Vec<u32> = (0..200_000u32)
            .map(|i| if i % 2 == 0 { i % 7 } else { i })
            .collect();
        let d = ds(FeatureValues::Categorical {
            codes,
            levels: 100_000_000,
        });
        let m = BinMappers::fit(&d, 255, 0);
        assert_eq!(m.mappers[0].num_bins, 255);
        let BinKind::Categorical { codes, .. } = &m.mappers[0].kind else {
            panic!()
        };
        let mut top: Vec<u32> = codes[..7].to_vec();
        top.sort_unstable();
        assert_eq!(top, vec![0, 1, 2, 3, 4, 5, 6]);
        let b = m.bin(&d);
        assert_eq!(codes[b.columns[0].get(0)], 0);
        assert_eq!(b.columns[0].get(199_999), 254);
    }
}
