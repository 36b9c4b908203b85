//! Numerically careful statistics: compensated sums, two-pass mean and
//! standard deviation, numpy-compatible quantiles and histograms, and the
//! pairwise-complete Pearson correlation used by `DataFrame.corr()`.
//!
//! Everything here works on finite `f64` values; the callers filter nulls,
//! NaN and infinities out before calling in.

use super::Histogram;

/// Neumaier's compensated sum (an improved Kahan sum): error independent of
/// the number of terms for all practical purposes.
pub(crate) fn neumaier_sum(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut sum = 0.0f64;
    let mut comp = 0.0f64;
    for x in values {
        let t = sum + x;
        if sum.abs() >= x.abs() {
            comp += (sum - t) + x;
        } else {
            comp += (x - t) + sum;
        }
        sum = t;
    }
    sum + comp
}

/// Mean of finite values: compensated sum divided by n, then one correction
/// pass (`mean += Σ(x - mean) / n`). Survives sums that overflow. `None` when
/// `values` is empty.
pub(crate) fn mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let mut m = neumaier_sum(values.iter().copied()) / n;
    if !m.is_finite() {
        // The sum overflowed although every value is finite: average x/n.
        m = neumaier_sum(values.iter().map(|&x| x / n));
    }
    let correction = neumaier_sum(values.iter().map(|&x| x - m)) / n;
    if correction.is_finite() {
        m += correction;
    }
    // Rounding can never legitimately push the mean outside the data.
    let (lo, hi) = min_max(values)?;
    Some(m.clamp(lo, hi))
}

/// Smallest and largest of `values` (`None` when empty).
pub(crate) fn min_max(values: &[f64]) -> Option<(f64, f64)> {
    let first = *values.first()?;
    Some(
        values
            .iter()
            .fold((first, first), |(lo, hi), &x| (lo.min(x), hi.max(x))),
    )
}

/// Sample standard deviation (ddof = 1) by the two-pass formula around
/// `mean`. 0 when fewer than two values (pandas would answer NaN; a profile
/// keeps every number finite so that it survives JSON).
pub(crate) fn sample_std(values: &[f64], mean: f64) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    let denom = (values.len() - 1) as f64;
    let ss = neumaier_sum(values.iter().map(|&x| (x - mean) * (x - mean)));
    let sd = (ss / denom).sqrt();
    if sd.is_finite() {
        return sd;
    }
    // Squares overflowed: rescale by the largest magnitude and retry.
    let scale = values.iter().fold(mean.abs(), |m, &x| m.max(x.abs()));
    if scale == 0.0 || !scale.is_finite() {
        return 0.0;
    }
    let ss = neumaier_sum(values.iter().map(|&x| {
        let d = x / scale - mean / scale;
        d * d
    }));
    let sd = scale * (ss / denom).sqrt();
    if sd.is_finite() { sd } else { f64::MAX }
}

/// Quantile `q` of ascending `sorted` values, linear interpolation at
/// position `q * (n - 1)` (numpy's default `method="linear"`, including its
/// symmetric lerp). `None` when empty.
pub(crate) fn quantile_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    let n = sorted.len();
    let last = *sorted.last()?;
    let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
    let lo = pos.floor();
    let i = lo as usize;
    if i + 1 >= n {
        return Some(last);
    }
    let t = pos - lo;
    let (a, b) = (sorted[i], sorted[i + 1]);
    let diff = b - a;
    let v = if !diff.is_finite() {
        a * (1.0 - t) + b * t
    } else if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    };
    Some(v)
}

/// Equal-width histogram of finite values, bin for bin what
/// `numpy.histogram(values, bins)` returns (edges `min + i·(max-min)/bins`,
/// last bin closed). A constant column gets one bin with both edges at the
/// value; an empty input gets no bins.
pub(crate) fn histogram(values: &[f64], bins: usize) -> Histogram {
    let Some((lo, hi)) = min_max(values) else {
        return Histogram::default();
    };
    if lo == hi {
        return Histogram {
            edges: vec![lo, hi],
            counts: vec![values.len() as u64],
        };
    }
    let bins = bins.max(1);
    // When hi - lo overflows, work on halves: halving is exact, so the
    // binning is the same as with unbounded range.
    let h = if (hi - lo).is_finite() { 1.0 } else { 0.5 };
    let (lo_h, hi_h) = (lo * h, hi * h);
    let step = (hi_h - lo_h) / bins as f64;
    let mut edges: Vec<f64> = (0..=bins).map(|i| (i as f64 * step + lo_h) / h).collect();
    edges[0] = lo;
    edges[bins] = hi;
    let norm = bins as f64 / (hi_h - lo_h);
    let mut counts = vec![0u64; bins];
    for &x in values {
        let f = (x * h - lo_h) * norm;
        let mut idx = if f >= 0.0 { (f as usize).min(bins) } else { 0 };
        if idx == bins {
            idx -= 1;
        }
        if x < edges[idx] && idx > 0 {
            idx -= 1;
        } else if idx + 1 < bins && x >= edges[idx + 1] {
            idx += 1;
        }
        counts[idx] += 1;
    }
    Histogram { edges, counts }
}

/// One column prepared for the correlation matrix: the values with NaN where
/// the row is missing (null, NaN or infinite).
pub(crate) struct CorrInput {
    pub values: Vec<f64>,
    /// Whether every row is present (enables the fast path).
    pub complete: bool,
    /// Mean over all present rows (used by the fast path).
    pub mean: f64,
    /// Σ(x - mean)² over all present rows.
    pub ss: f64,
    /// Number of present rows.
    pub n: usize,
}

impl CorrInput {
    /// Prepares a column; NaN marks a missing row.
    pub(crate) fn new(values: Vec<f64>) -> Self {
        let present: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
        let n = present.len();
        let m = mean(&present).unwrap_or(0.0);
        let ss = neumaier_sum(present.iter().map(|&x| (x - m) * (x - m)));
        CorrInput {
            complete: n == values.len(),
            values,
            mean: m,
            ss,
            n,
        }
    }
}

/// Pearson r of two prepared columns over the rows present in both (pandas'
/// pairwise-complete `corr()`). `None` with fewer than two such rows or when
/// either side is constant over them. Clamped to [-1, 1].
pub(crate) fn pearson(a: &CorrInput, b: &CorrInput) -> Option<f64> {
    let r = if a.complete && b.complete {
        if a.n < 2 {
            return None;
        }
        let sxy = neumaier_sum(
            a.values
                .iter()
                .zip(&b.values)
                .map(|(&x, &y)| (x - a.mean) * (y - b.mean)),
        );
        sxy / (a.ss.sqrt() * b.ss.sqrt())
    } else {
        let (xs, ys): (Vec<f64>, Vec<f64>) = a
            .values
            .iter()
            .zip(&b.values)
            .filter(|(x, y)| !x.is_nan() && !y.is_nan())
            .map(|(&x, &y)| (x, y))
            .unzip();
        if xs.len() < 2 {
            return None;
        }
        let (mx, my) = (mean(&xs)?, mean(&ys)?);
        let sxy = neumaier_sum(xs.iter().zip(&ys).map(|(&x, &y)| (x - mx) * (y - my)));
        let sxx = neumaier_sum(xs.iter().map(|&x| (x - mx) * (x - mx)));
        let syy = neumaier_sum(ys.iter().map(|&y| (y - my) * (y - my)));
        sxy / (sxx.sqrt() * syy.sqrt())
    };
    r.is_finite().then(|| r.clamp(-1.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compensated_sum_and_mean_are_accurate() {
        let v = [1e16, 1.0, -1e16, 1.0];
        assert_eq!(neumaier_sum(v), 2.0);
        let big = vec![1.0e308; 4];
        assert_eq!(mean(&big), Some(1.0e308));
        assert_eq!(sample_std(&big, 1.0e308), 0.0);
        let wide = [-1.5e308, 1.5e308];
        let m = mean(&wide).unwrap();
        assert_eq!(m, 0.0);
        let sd = sample_std(&wide, m);
        assert!(sd.is_finite() && sd >= 1.5e308, "{sd}");
        assert_eq!(mean(&[]), None);
    }

    #[test]
    fn quantiles_match_numpy_linear() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile_sorted(&v, 0.5), Some(2.5));
        assert_eq!(quantile_sorted(&v, 0.25), Some(1.75));
        assert_eq!(quantile_sorted(&v, 1.0), Some(4.0));
        assert_eq!(quantile_sorted(&v, 0.0), Some(1.0));
        assert_eq!(quantile_sorted(&[7.0], 0.99), Some(7.0));
        assert_eq!(quantile_sorted(&[], 0.5), None);
    }

    #[test]
    fn histogram_matches_numpy_edges_and_closed_last_bin() {
        // numpy.histogram([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], bins=5)
        let v: Vec<f64> = (0..=10).map(f64::from).collect();
        let h = histogram(&v, 5);
        assert_eq!(h.edges, vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(h.counts, vec![2, 2, 2, 2, 3]);
        let wide = histogram(&[-1.0e308, 0.0, 1.0e308], 2);
        assert_eq!(wide.counts, vec![1, 2]);
        assert_eq!(histogram(&[], 3), Histogram::default());
        let one = histogram(&[4.0, 4.0], 10);
        assert_eq!((one.edges, one.counts), (vec![4.0, 4.0], vec![2]));
    }

    #[test]
    fn pearson_pairwise_complete() {
        let a = CorrInput::new(vec![1.0, 2.0, 3.0, f64::NAN, 5.0]);
        let b = CorrInput::new(vec![2.0, 4.0, 6.0, 8.0, f64::NAN]);
        let r = pearson(&a, &b).unwrap();
        assert!((r - 1.0).abs() < 1e-15);
        let c = CorrInput::new(vec![3.0; 5]);
        assert_eq!(pearson(&a, &c), None);
        let d = CorrInput::new(vec![f64::NAN, f64::NAN, 1.0, 2.0, f64::NAN]);
        assert_eq!(pearson(&a, &d), None);
    }
}
