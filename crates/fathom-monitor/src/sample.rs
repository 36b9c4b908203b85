//! The values of one column, made ready for the tests: numbers finite and
//! sorted (nulls, NaN and infinities left out, `-0.0` read as `0.0`),
//! categories and booleans as counts per level. Categorical columns are
//! counted through their dictionary codes, so the cost is one pass over the
//! codes whatever the strings.

use fathom_core::{Column, ColumnData};
use std::collections::HashMap;

/// Present, finite values of a numeric (or timestamp) column, ascending.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Numbers {
    /// The values, ascending.
    pub sorted: Vec<f64>,
    /// Rows without a usable value (null, NaN or infinite).
    pub missing: u64,
}

/// Counts per level of a categorical or boolean column.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LevelCounts {
    /// Count per level, by level name.
    pub counts: HashMap<String, u64>,
    /// Null rows.
    pub missing: u64,
}

/// Reads a numeric or timestamp column into [`Numbers`]; `None` for other types.
pub fn numbers(column: &Column) -> Option<Numbers> {
    let mut values: Vec<f64> = Vec::with_capacity(column.len());
    match &column.data {
        ColumnData::Numeric(v) => {
            for (i, &x) in v.iter().enumerate() {
                if x.is_finite() && column.is_valid(i) {
                    values.push(if x == 0.0 { 0.0 } else { x });
                }
            }
        }
        ColumnData::Timestamp(v) => {
            for (i, &x) in v.iter().enumerate() {
                if column.is_valid(i) {
                    values.push(x as f64);
                }
            }
        }
        _ => return None,
    }
    let missing = (column.len() - values.len()) as u64;
    sort_f64(&mut values);
    Some(Numbers {
        sorted: values,
        missing,
    })
}

/// Reads a categorical or boolean column into [`LevelCounts`]; `None` for
/// other types.
pub fn levels(column: &Column) -> Option<LevelCounts> {
    let mut out = LevelCounts::default();
    match &column.data {
        ColumnData::Categorical(c) => {
            let mut by_code = vec![0u64; c.dictionary.len()];
            for (i, &code) in c.codes.iter().enumerate() {
                if column.is_valid(i) {
                    if let Some(n) = by_code.get_mut(code as usize) {
                        *n += 1;
                    }
                } else {
                    out.missing += 1;
                }
            }
            for (level, n) in c.dictionary.iter().zip(by_code) {
                if n > 0 {
                    *out.counts.entry(level.clone()).or_default() += n;
                }
            }
        }
        ColumnData::Bool(v) => {
            let mut t = [0u64; 2];
            for (i, &b) in v.iter().enumerate() {
                if column.is_valid(i) {
                    t[usize::from(b)] += 1;
                } else {
                    out.missing += 1;
                }
            }
            for (name, n) in [("false", t[0]), ("true", t[1])] {
                if n > 0 {
                    out.counts.insert(name.to_string(), n);
                }
            }
        }
        _ => return None,
    }
    Some(out)
}

/// Distinct values and their counts of an ascending sample, as runs.
pub fn runs(sorted: &[f64]) -> Vec<(f64, u64)> {
    let mut out: Vec<(f64, u64)> = Vec::new();
    for &v in sorted {
        match out.last_mut() {
            Some((last, n)) if *last == v => *n += 1,
            _ => out.push((v, 1)),
        }
    }
    out
}

/// Number of distinct values in the union of two ascending samples.
pub fn distinct_union(a: &[f64], b: &[f64]) -> usize {
    let (mut i, mut j, mut n) = (0, 0, 0);
    while i < a.len() || j < b.len() {
        let v = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) => x.min(y),
            (Some(&x), None) => x,
            (None, Some(&y)) => y,
            (None, None) => break,
        };
        n += 1;
        while i < a.len() && a[i] <= v {
            i += 1;
        }
        while j < b.len() && b[j] <= v {
            j += 1;
        }
    }
    n
}

/// Below this many values a comparison sort is faster than radix passes.
const RADIX_MIN: usize = 4096;
/// Bits per radix digit: 2,048 buckets stay in the first-level cache.
const DIGIT_BITS: u32 = 11;

/// Sorts finite numbers ascending: an LSD radix sort over the bit patterns
/// (mapped so that integer order is numeric order), skipping the digits in
/// which all values agree.
pub fn sort_f64(values: &mut [f64]) {
    if values.len() < RADIX_MIN {
        values.sort_unstable_by(f64::total_cmp);
        return;
    }
    const SIGN: u64 = 1 << 63;
    let key = |v: f64| {
        let b = v.to_bits();
        if b & SIGN != 0 { !b } else { b | SIGN }
    };
    let mut keys: Vec<u64> = values.iter().map(|&v| key(v)).collect();
    let passes = 64u32.div_ceil(DIGIT_BITS) as usize;
    let buckets = 1usize << DIGIT_BITS;
    let mask = (buckets - 1) as u64;
    let mut hist = vec![0usize; passes * buckets];
    for &k in &keys {
        for p in 0..passes {
            hist[p * buckets + ((k >> (p as u32 * DIGIT_BITS)) & mask) as usize] += 1;
        }
    }
    let mut buf = vec![0u64; keys.len()];
    let n = keys.len();
    for p in 0..passes {
        let h = &mut hist[p * buckets..(p + 1) * buckets];
        if h.contains(&n) {
            continue;
        }
        let mut at = 0usize;
        for c in h.iter_mut() {
            let count = *c;
            *c = at;
            at += count;
        }
        let shift = p as u32 * DIGIT_BITS;
        for &k in &keys {
            let d = ((k >> shift) & mask) as usize;
            buf[h[d]] = k;
            h[d] += 1;
        }
        std::mem::swap(&mut keys, &mut buf);
    }
    for (v, k) in values.iter_mut().zip(keys) {
        let b = if k & SIGN != 0 { k & !SIGN } else { !k };
        *v = f64::from_bits(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn radix_sort_agrees_with_a_comparison_sort() {
        // A deterministic spread of signs, magnitudes and ties.
        let mut v: Vec<f64> = (0..20_000u64)
            .map(|i| {
                let x = ((i * 2_654_435_761) % 100_003) as f64 / 7.0 - 7_000.0;
                if i % 7 == 0 { x.round() } else { x * 1e-3 }
            })
            .collect();
        let mut want = v.clone();
        want.sort_by(f64::total_cmp);
        sort_f64(&mut v);
        assert_eq!(v, want);
    }

    #[test]
    fn nulls_and_non_finite_values_are_missing() {
        let c = Column::numeric("x", vec![3.0, f64::NAN, -0.0, f64::INFINITY, 1.0]);
        let n = numbers(&c).unwrap();
        assert_eq!(n.sorted, vec![0.0, 1.0, 3.0]);
        assert!(n.sorted[0].is_sign_positive());
        assert_eq!(n.missing, 2);
        assert_eq!(runs(&[1.0, 1.0, 2.0]), vec![(1.0, 2), (2.0, 1)]);
        assert_eq!(distinct_union(&[1.0, 2.0], &[2.0, 3.0]), 3);
    }
}
