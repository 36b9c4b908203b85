//! Pearson's chi-squared test of homogeneity on the 2 × k table of level
//! counts (reference row, current row), as SciPy's `chi2_contingency`
//! with its defaults: Yates' continuity correction when the table has one
//! degree of freedom.

use super::special::{Sum, chi2_sf};

/// The outcome of [`chi2_contingency`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Chi2Result {
    /// The chi-squared statistic.
    pub statistic: f64,
    /// Its p-value.
    pub p_value: f64,
    /// Degrees of freedom: the number of levels seen, minus one.
    pub dof: usize,
}

/// The test on two rows of counts per level; levels with no count in
/// either row are left out. `None` when a row sums to zero.
pub fn chi2_contingency(reference: &[u64], current: &[u64]) -> Option<Chi2Result> {
    let cols: Vec<(f64, f64)> = reference
        .iter()
        .zip(current)
        .filter(|(a, b)| **a + **b > 0)
        .map(|(&a, &b)| (a as f64, b as f64))
        .collect();
    let row = [
        cols.iter().map(|c| c.0).sum::<f64>(),
        cols.iter().map(|c| c.1).sum::<f64>(),
    ];
    if row[0] == 0.0 || row[1] == 0.0 {
        return None;
    }
    let dof = cols.len().saturating_sub(1);
    if dof == 0 {
        return Some(Chi2Result {
            statistic: 0.0,
            p_value: 1.0,
            dof,
        });
    }
    let total = row[0] + row[1];
    let mut stat = Sum::default();
    for (r, row_sum) in row.iter().enumerate() {
        for &(a, b) in &cols {
            let observed = if r == 0 { a } else { b };
            let expected = row_sum * (a + b) / total;
            let mut observed = observed;
            if dof == 1 {
                // Yates: move each count half a unit towards its expectation.
                let diff = expected - observed;
                observed += diff.abs().min(0.5).copysign(diff);
            }
            let dev = observed - expected;
            stat.add(dev * dev / expected);
        }
    }
    let statistic = stat.value();
    Some(Chi2Result {
        statistic,
        p_value: chi2_sf(statistic, dof as f64),
        dof,
    })
}
