//! Special functions behind the p-values: the log-gamma function, the
//! regularised upper incomplete gamma function (the chi-squared survival
//! function) and the two-sided normal tail, plus compensated summation.

/// Lanczos coefficients (g = 7, nine terms), accurate to about 1e-15.
const LANCZOS: [f64; 9] = [
    0.999_999_999_999_809_9,
    676.520_368_121_885_1,
    -1_259.139_216_722_402_8,
    771.323_428_777_653_1,
    -176.615_029_162_140_6,
    12.507_343_278_686_905,
    -0.138_571_095_265_720_12,
    9.984_369_578_019_572e-6,
    1.505_632_735_149_311_6e-7,
];

/// `ln Γ(x)` for `x > 0`.
pub fn ln_gamma(x: f64) -> f64 {
    if x < 0.5 {
        // Reflection keeps the approximation in its accurate range.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = LANCZOS[0];
    for (i, &c) in LANCZOS.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    let t = x + 7.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The regularised upper incomplete gamma function `Q(a, x) = Γ(a, x) / Γ(a)`
/// for `a > 0`, `x ≥ 0`: a power series below `a + 1`, a continued
/// fraction (modified Lentz) above it.
pub fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    if x.is_infinite() {
        return 0.0;
    }
    let log_prefactor = a * x.ln() - x - ln_gamma(a);
    if x < a + 1.0 {
        let mut term = 1.0 / a;
        let mut sum = term;
        let mut ap = a;
        for _ in 0..10_000 {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term.abs() < sum.abs() * f64::EPSILON {
                break;
            }
        }
        (1.0 - sum * log_prefactor.exp()).clamp(0.0, 1.0)
    } else {
        const TINY: f64 = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / TINY;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..10_000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < TINY {
                d = TINY;
            }
            c = b + an / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            let delta = d * c;
            h *= delta;
            if (delta - 1.0).abs() < f64::EPSILON {
                break;
            }
        }
        (log_prefactor.exp() * h).clamp(0.0, 1.0)
    }
}

/// The survival function of the chi-squared distribution with `dof`
/// degrees of freedom: `P(X ≥ x)`.
pub fn chi2_sf(x: f64, dof: f64) -> f64 {
    gamma_q(dof / 2.0, x / 2.0)
}

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
