//! Special functions behind the p-values: the log-gamma function and the
//! chi-squared survival function (from `fathom_core::special`), the
//! two-sided normal tail, and compensated summation.

pub use fathom_core::special::{chi2_sf, gamma_q, ln_gamma};

/// The two-sided tail of the standard normal distribution,
/// `P(|Z| ≥ |z|) = erfc(|z| / √2) = Q(1/2, z² / 2)`.
pub fn normal_two_sided(z: f64) -> f64 {
    if z.is_nan() {
        return f64::NAN;
    }
    gamma_q(0.5, z * z / 2.0)
}

/// A running sum with Neumaier's compensation: the result is close to the
/// correctly rounded sum whatever the order and magnitudes of the terms.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sum {
    sum: f64,
    compensation: f64,
}

impl Sum {
    /// Adds one term.
    #[inline]
    pub fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.compensation += (self.sum - t) + x;
        } else {
            self.compensation += (x - t) + self.sum;
        }
        self.sum = t;
    }

    /// The sum so far.
    #[inline]
    pub fn value(&self) -> f64 {
        self.sum + self.compensation
    }
}

/// The compensated sum of an iterator of terms.
pub fn sum(terms: impl IntoIterator<Item = f64>) -> f64 {
    let mut s = Sum::default();
    for t in terms {
        s.add(t);
    }
    s.value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_gamma_matches_factorials_and_half_integers() {
        let mut fact = 1.0f64;
        for n in 1..30u32 {
            fact *= f64::from(n);
            let got = ln_gamma(f64::from(n) + 1.0);
            assert!((got - fact.ln()).abs() < 1e-13 * fact.ln().max(1.0), "{n}");
        }
        // Γ(1/2) = √π.
        let half = ln_gamma(0.5);
        assert!((half - std::f64::consts::PI.sqrt().ln()).abs() < 1e-14);
    }

    #[test]
    fn normal_tail_at_textbook_points() {
        // P(|Z| ≥ 1.959963984540054) = 0.05, P(|Z| ≥ 0) = 1.
        assert!((normal_two_sided(1.959_963_984_540_054) - 0.05).abs() < 1e-14);
        assert_eq!(normal_two_sided(0.0), 1.0);
        // Chi-squared with 2 dof has survival e^{-x/2}.
        for x in [0.1, 1.0, 5.0, 30.0, 200.0] {
            let want = (-x / 2.0f64).exp();
            assert!((chi2_sf(x, 2.0) - want).abs() <= 1e-14 * want, "{x}");
        }
    }

    #[test]
    fn compensated_sum_keeps_small_terms() {
        let s = sum([1e16, 1.0, -1e16, 1.0]);
        assert_eq!(s, 2.0);
    }
}
