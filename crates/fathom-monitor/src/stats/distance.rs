//! Distances between two samples: the first Wasserstein distance (exact,
//! from sorted samples, as SciPy's `wasserstein_distance`), its version
//! normed by the reference's standard deviation, shares per bin, the
//! population stability index and the Jensen–Shannon distance (as SciPy's
//! `jensenshannon`, natural logarithm).

use super::special::{Sum, sum};

/// `∫ |F_a − F_b|` for ascending, NaN-free, non-empty samples.
pub fn wasserstein(a: &[f64], b: &[f64]) -> f64 {
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j) = (0usize, 0usize);
    let mut total = Sum::default();
    let mut prev: Option<(f64, f64)> = None; // (value, |F_a − F_b| at it)
    while i < a.len() || j < b.len() {
        let v = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) => x.min(y),
            (Some(&x), None) => x,
            (None, Some(&y)) => y,
            (None, None) => break,
        };
        if let Some((pv, gap)) = prev {
            total.add(gap * (v - pv));
        }
        while i < a.len() && a[i] <= v {
            i += 1;
        }
        while j < b.len() && b[j] <= v {
            j += 1;
        }
        prev = Some((v, (i as f64 / n1 - j as f64 / n2).abs()));
    }
    total.value()
}

/// The population standard deviation (divisor `n`), by two passes.
pub fn std_population(x: &[f64]) -> f64 {
    if x.is_empty() {
        return f64::NAN;
    }
    let n = x.len() as f64;
    let mean = sum(x.iter().copied()) / n;
    (sum(x.iter().map(|v| (v - mean) * (v - mean))) / n).sqrt()
}

/// The Wasserstein distance divided by the reference's standard deviation
/// (at least 0.001), a scale-free measure in units of that deviation.
pub fn wasserstein_normed(reference: &[f64], current: &[f64]) -> f64 {
    wasserstein(reference, current) / std_population(reference).max(0.001)
}

/// Counts of an ascending sample in `edges.len() − 1` bins `[e_i, e_{i+1})`,
/// the last one closed; values outside are not counted.
pub fn bin_counts(sorted: &[f64], edges: &[f64]) -> Vec<u64> {
    let Some(&last) = edges.last() else {
        return Vec::new();
    };
    let mut cum: Vec<usize> = edges[..edges.len() - 1]
        .iter()
        .map(|e| sorted.partition_point(|v| v < e))
        .collect();
    cum.push(sorted.partition_point(|v| *v <= last));
    cum.windows(2).map(|w| (w[1] - w[0]) as u64).collect()
}

/// `bins + 1` equal-width edges from `lo` to `hi` (`i·step + lo`, the last
/// exactly `hi`); a constant range is widened by ½ on both sides.
pub fn equal_width_edges(lo: f64, hi: f64, bins: usize) -> Vec<f64> {
    let (lo, hi) = if lo == hi {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo, hi)
    };
    let bins = bins.max(1);
    let step = (hi - lo) / bins as f64;
    let mut edges: Vec<f64> = (0..=bins).map(|i| i as f64 * step + lo).collect();
    edges[bins] = hi;
    edges
}

/// Shares of the reference and the current sample per bin, with empty bins
/// given a small share so that logarithms stay finite: the smallest
/// non-zero share divided by a million when it is at most 1e-4, else 1e-4.
pub fn shares_filled(reference: &[u64], current: &[u64]) -> (Vec<f64>, Vec<f64>) {
    let share = |c: &[u64]| -> Vec<f64> {
        let n: u64 = c.iter().sum();
        let mut v: Vec<f64> = c.iter().map(|&x| x as f64 / n as f64).collect();
        let smallest = v
            .iter()
            .copied()
            .filter(|s| *s != 0.0)
            .fold(f64::INFINITY, f64::min);
        if smallest.is_finite() {
            let fill = if smallest <= 1e-4 {
                smallest / 1e6
            } else {
                1e-4
            };
            v.iter_mut().filter(|s| **s == 0.0).for_each(|s| *s = fill);
        }
        v
    };
    (share(reference), share(current))
}

/// The population stability index `Σ (r − c) ln(r / c)` of two share vectors.
pub fn psi(reference: &[f64], current: &[f64]) -> f64 {
    sum(reference
        .iter()
        .zip(current)
        .map(|(r, c)| (r - c) * (r / c).ln()))
}

/// The Jensen–Shannon distance (the square root of the divergence, natural
/// logarithm) of two non-negative weight vectors, each normalised first.
pub fn jensenshannon(p: &[f64], q: &[f64]) -> f64 {
    let (sp, sq) = (sum(p.iter().copied()), sum(q.iter().copied()));
    let rel_entr = |x: f64, y: f64| -> f64 {
        if x > 0.0 && y > 0.0 {
            x * (x / y).ln()
        } else if x == 0.0 && y >= 0.0 {
            0.0
        } else {
            f64::INFINITY
        }
    };
    let (mut left, mut right) = (Sum::default(), Sum::default());
    for (a, b) in p.iter().zip(q) {
        let (a, b) = (a / sp, b / sq);
        let m = (a + b) / 2.0;
        left.add(rel_entr(a, m));
        right.add(rel_entr(b, m));
    }
    ((left.value() + right.value()) / 2.0).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wasserstein_of_shifted_point_masses() {
        // Moving every unit of mass by 2 costs 2.
        assert!((wasserstein(&[0.0, 1.0], &[2.0, 3.0]) - 2.0).abs() < 1e-15);
        assert_eq!(wasserstein(&[1.0, 1.0], &[1.0]), 0.0);
    }

    #[test]
    fn bins_are_half_open_but_the_last() {
        let edges = equal_width_edges(0.0, 4.0, 4);
        assert_eq!(edges, vec![0.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(
            bin_counts(&[0.0, 1.0, 1.5, 4.0, 5.0], &edges),
            vec![1, 2, 0, 1]
        );
    }

    #[test]
    fn js_of_disjoint_and_equal_distributions() {
        // Disjoint supports: divergence ln 2.
        let d = jensenshannon(&[1.0, 0.0], &[0.0, 1.0]);
        assert!((d - 2f64.ln().sqrt()).abs() < 1e-15);
        assert_eq!(jensenshannon(&[2.0, 3.0], &[4.0, 6.0]), 0.0);
    }
}
