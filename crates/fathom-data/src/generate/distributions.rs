//! Small, self-contained samplers on top of ChaCha8.
//!
//! Every distribution is written here rather than taken from a crate so that
//! the generated data never changes with a dependency upgrade: the output is
//! a function of the ChaCha8 stream and of this file only.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

/// 2^-53: turns the top 53 bits of a `u64` into a float in `[0, 1)`.
const UNIT: f64 = 1.0 / (1u64 << 53) as f64;

/// The SplitMix64 finaliser: a fast, well-mixing bijection on `u64`.
#[inline]
pub(crate) fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A float in `[0, 1)` from the top 53 bits of `x`.
#[inline]
pub(crate) fn unit_f64(x: u64) -> f64 {
    (x >> 11) as f64 * UNIT
}

/// The logistic function.
#[inline]
pub(crate) fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Rounds a non-negative number to the nearest integer, halves up. (Cheaper
/// than `f64::round`, which is a library call on baseline x86-64.)
#[inline]
pub(crate) fn round0(x: f64) -> f64 {
    debug_assert!(x >= 0.0);
    ((x + 0.5) as i64) as f64
}

/// Rounds a non-negative number down to an integer.
#[inline]
pub(crate) fn floor0(x: f64) -> f64 {
    debug_assert!(x >= 0.0);
    (x as i64) as f64
}

/// Rounds a non-negative number to 1 decimal.
#[inline]
pub(crate) fn round1(x: f64) -> f64 {
    round0(x * 10.0) / 10.0
}

/// Rounds a non-negative number to 2 decimals (money).
#[inline]
pub(crate) fn round2(x: f64) -> f64 {
    round0(x * 100.0) / 100.0
}

/// Rounds a non-negative number to 4 decimals (scores).
#[inline]
pub(crate) fn round4(x: f64) -> f64 {
    round0(x * 10_000.0) / 10_000.0
}

/// The standard normal quantile function (Acklam's rational approximation,
/// relative error below 1.2e-9), for `p` in `(0, 1)`.
#[inline]
fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const P_LOW: f64 = 0.02425;
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < P_LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - P_LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// A categorical distribution over codes, built at compile time from
/// `(code, weight)` pairs; the weights need not sum to one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Table<const N: usize> {
    codes: [u32; N],
    cumulative: [f64; N],
}

impl<const N: usize> Table<N> {
    /// Normalises the weights into a cumulative table.
    pub(crate) const fn new(entries: [(u32, f64); N]) -> Self {
        let mut total = 0.0;
        let mut i = 0;
        while i < N {
            total += entries[i].1;
            i += 1;
        }
        let mut codes = [0u32; N];
        let mut cumulative = [0.0f64; N];
        let mut acc = 0.0;
        let mut i = 0;
        while i < N {
            acc += entries[i].1;
            codes[i] = entries[i].0;
            cumulative[i] = acc / total;
            i += 1;
        }
        Table { codes, cumulative }
    }

    /// The code whose cumulative bucket holds `u ∈ [0, 1)`.
    #[inline]
    pub(crate) fn lookup(&self, u: f64) -> u32 {
        for i in 0..N {
            if u < self.cumulative[i] {
                return self.codes[i];
            }
        }
        self.codes[N - 1]
    }
}

/// A seeded stream of random draws with the samplers the generator needs.
pub(crate) struct Sampler {
    rng: ChaCha8Rng,
}

impl Sampler {
    /// A sampler whose stream is fixed by `seed` alone.
    pub(crate) fn new(seed: u64) -> Self {
        Sampler {
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// 64 random bits.
    #[inline]
    pub(crate) fn bits(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// Uniform in `[0, 1)`.
    #[inline]
    pub(crate) fn uniform(&mut self) -> f64 {
        unit_f64(self.bits())
    }

    /// Uniform in `(0, 1]`, safe to take the logarithm of.
    #[inline]
    pub(crate) fn open_uniform(&mut self) -> f64 {
        ((self.bits() >> 11) + 1) as f64 * UNIT
    }

    /// Uniform in `[lo, hi)`.
    #[inline]
    pub(crate) fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Uniform integer in `[0, n)` (multiply-high; the bias is below 2^-40
    /// for any `n` the generator uses).
    #[inline]
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((self.bits() as u128 * n as u128) >> 64) as u64
    }

    /// `true` with probability `p`.
    #[inline]
    pub(crate) fn bernoulli(&mut self, p: f64) -> bool {
        self.uniform() < p
    }

    /// Uniform in the open interval `(0, 1)`.
    #[inline]
    fn strictly_inside(&mut self) -> f64 {
        ((self.bits() >> 11) as f64 + 0.5) * UNIT
    }

    /// Standard normal, by inversion: one draw, and no transcendental
    /// function outside the 5% tails.
    #[inline]
    pub(crate) fn normal(&mut self) -> f64 {
        normal_quantile(self.strictly_inside())
    }

    /// Cheap symmetric noise with mean 0 and variance 1 (triangular on
    /// `±√6`, the sum of two uniforms from one draw), for small jitter where
    /// the exact shape does not matter.
    #[inline]
    pub(crate) fn noise(&mut self) -> f64 {
        const SCALE: f64 = 1.0 / 4_294_967_296.0;
        let x = self.bits();
        let u = ((x & 0xFFFF_FFFF) + (x >> 32)) as f64 * SCALE;
        (u - 1.0) * 6.0f64.sqrt()
    }

    /// Lognormal with median `median` and log-scale spread `sigma`.
    #[inline]
    pub(crate) fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).exp()
    }

    /// Exponential with the given mean.
    #[inline]
    pub(crate) fn exponential(&mut self, mean: f64) -> f64 {
        -self.open_uniform().ln() * mean
    }

    /// Poisson with mean `lambda` (inversion by sequential search for means
    /// up to 30, a rounded normal approximation above).
    #[inline]
    pub(crate) fn poisson(&mut self, lambda: f64) -> u32 {
        if lambda <= 0.0 {
            return 0;
        }
        if lambda > 30.0 {
            let x = lambda + lambda.sqrt() * self.normal();
            return round0(x.max(0.0)) as u32;
        }
        self.poisson_from(lambda, (-lambda).exp())
    }

    /// Poisson with mean `lambda <= 30` whose `exp(-lambda)` is known.
    #[inline]
    pub(crate) fn poisson_from(&mut self, lambda: f64, exp_neg_lambda: f64) -> u32 {
        let u = self.uniform();
        let mut k = 0u32;
        let mut p = exp_neg_lambda;
        let mut cdf = p;
        // The bound only guards against rounding in the far tail.
        while u >= cdf && k < 200 {
            k += 1;
            p *= lambda / f64::from(k);
            cdf += p;
        }
        k
    }

    /// A code drawn from `table`.
    #[inline]
    pub(crate) fn pick<const N: usize>(&mut self, table: &Table<N>) -> u32 {
        table.lookup(self.uniform())
    }
}

/// A cheap hash-driven stream, used for per-card attributes that must be the
/// same in every chunk: its draws depend only on the seed and the card.
pub(crate) struct HashStream(u64);

impl HashStream {
    /// The stream for `key` under `seed`.
    #[inline]
    pub(crate) fn new(seed: u64, key: u64) -> Self {
        HashStream(splitmix64(seed ^ splitmix64(key ^ 0xC0FF_EE00_D15E_A5E5)))
    }

    /// 64 pseudo-random bits.
    #[inline]
    pub(crate) fn bits(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        splitmix64(self.0)
    }

    /// Uniform in `[0, 1)`.
    #[inline]
    pub(crate) fn uniform(&mut self) -> f64 {
        unit_f64(self.bits())
    }

    /// An approximately standard normal value (Irwin–Hall sum of four
    /// 16-bit uniforms, rescaled to unit variance): cheap and bounded.
    #[inline]
    pub(crate) fn normalish(&mut self) -> f64 {
        let x = self.bits();
        let sum: u64 = (x & 0xFFFF) + (x >> 16 & 0xFFFF) + (x >> 32 & 0xFFFF) + (x >> 48);
        // Four uniforms on [0, 1): mean 2, variance 4/12.
        (sum as f64 / 65_536.0 - 2.0) * 3.0f64.sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samplers_have_the_right_moments() {
        let mut s = Sampler::new(7);
        let n = 200_000;
        let mean = |f: &mut dyn FnMut() -> f64| (0..n).map(|_| f()).sum::<f64>() / n as f64;
        assert!((mean(&mut || s.uniform()) - 0.5).abs() < 0.01);
        assert!(mean(&mut || s.normal()).abs() < 0.01);
        assert!((mean(&mut || s.normal().powi(2)) - 1.0).abs() < 0.02);
        assert!((mean(&mut || s.exponential(3.0)) - 3.0).abs() < 0.05);
        assert!((mean(&mut || f64::from(s.poisson(2.5))) - 2.5).abs() < 0.03);
        assert!((mean(&mut || f64::from(s.poisson(50.0))) - 50.0).abs() < 0.1);
        assert!((mean(&mut || f64::from(u8::from(s.bernoulli(0.2)))) - 0.2).abs() < 0.01);
        assert!((mean(&mut || s.lognormal(10.0, 0.5).ln()) - 10f64.ln()).abs() < 0.01);
        assert!(mean(&mut || s.noise()).abs() < 0.01);
        assert!((mean(&mut || s.noise().powi(2)) - 1.0).abs() < 0.02);
        let mut h = HashStream::new(1, 2);
        let hm = (0..n).map(|_| h.normalish()).sum::<f64>() / n as f64;
        assert!(hm.abs() < 0.01);
    }

    #[test]
    fn tables_follow_their_weights() {
        const T: Table<3> = Table::new([(5, 1.0), (9, 2.0), (2, 1.0)]);
        let mut s = Sampler::new(1);
        let mut counts = [0usize; 10];
        for _ in 0..40_000 {
            counts[s.pick(&T) as usize] += 1;
        }
        assert!((counts[9] as f64 / 40_000.0 - 0.5).abs() < 0.02);
        assert!((counts[5] as f64 / 40_000.0 - 0.25).abs() < 0.02);
        assert_eq!(
            counts.iter().sum::<usize>(),
            counts[2] + counts[5] + counts[9]
        );
        assert_eq!(T.lookup(0.999_999_999), 2);
    }

    #[test]
    fn streams_are_reproducible() {
        let a: Vec<u64> = {
            let mut s = Sampler::new(42);
            (0..4).map(|_| s.bits()).collect()
        };
        let mut s = Sampler::new(42);
        assert_eq!(a, (0..4).map(|_| s.bits()).collect::<Vec<_>>());
        assert_ne!(splitmix64(1), splitmix64(2));
    }
}
