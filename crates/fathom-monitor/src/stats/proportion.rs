//! The two-sample z-test for a difference in proportions, with the pooled
//! proportion in the standard error.

use super::special::normal_two_sided;

/// The outcome of [`proportions_z`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZResult {
    /// `(p1 − p2) / sqrt(P(1 − P)(1/n1 + 1/n2))`, `P` the pooled share.
    pub statistic: f64,
    /// The two-sided p-value.
    pub p_value: f64,
}

/// Tests whether `k1` of `n1` and `k2` of `n2` come from one proportion.
/// When both samples hold one and the same value the answer is `z = 0`,
/// `p = 1`. `None` when a sample is empty.
pub fn proportions_z(k1: u64, n1: u64, k2: u64, n2: u64) -> Option<ZResult> {
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    let (p1, p2) = (k1 as f64 / n1f, k2 as f64 / n2f);
    let pooled = (p1 * n1f + p2 * n2f) / (n1f + n2f);
    let se = (pooled * (1.0 - pooled) * (1.0 / n1f + 1.0 / n2f)).sqrt();
    if se == 0.0 || se.is_nan() {
        return Some(ZResult {
            statistic: 0.0,
            p_value: 1.0,
        });
    }
    let z = (p1 - p2) / se;
    Some(ZResult {
        statistic: z,
        p_value: normal_two_sided(z).clamp(0.0, 1.0),
    })
}
